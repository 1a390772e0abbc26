"""peer_sdpa.py: the peer for the CUDA backend's timing points, measured in the same device-dev.sh
call: PyTorch SDPA with the cuDNN backend (and the flash backend) on the P1/P2 shapes, plus the
device-to-device copy bandwidth that P4 is judged against. One JSON object per line."""
import json
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


def time_ms(fn, reps=10):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2]


def sdpa_prefill(L, hq=32, hkv=8, d=128, dtype=torch.float16):
    q = torch.randn(1, L, hq, d, device="cuda", dtype=dtype).transpose(1, 2)
    k = torch.randn(1, L, hkv, d, device="cuda", dtype=dtype)
    v = torch.randn(1, L, hkv, d, device="cuda", dtype=dtype)
    k = k.repeat_interleave(hq // hkv, dim=2).transpose(1, 2)
    v = v.repeat_interleave(hq // hkv, dim=2).transpose(1, 2)
    flops = 4.0 * hq * L * L * d / 2
    for name, be in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
        try:
            with sdpa_kernel([be]):
                ms = time_ms(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True))
            print(json.dumps({"peer": "torch_sdpa_" + name, "op": "prefill", "dtype": str(dtype).split(".")[-1],
                              "L": L, "Hq": hq, "Hkv": hkv, "D": d, "ms": round(ms, 4),
                              "tflops": round(flops / ms / 1e9, 1)}), flush=True)
        except Exception as e:  # a backend that refuses the shape is reported, not fatal
            print(json.dumps({"peer": "torch_sdpa_" + name, "op": "prefill", "L": L, "error": str(e)[:200]}), flush=True)


def copy_bandwidth():
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    ms = time_ms(lambda: b.copy_(a), 20)
    print(json.dumps({"peer": "device_copy", "bytes_moved": 2 * n, "ms": round(ms, 4),
                      "GBps_read_plus_write": round(2 * n / ms / 1e6, 1)}), flush=True)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__}), flush=True)
    copy_bandwidth()
    for dt in (torch.float16, torch.bfloat16):
        sdpa_prefill(4096 if quick else 16384, dtype=dt)
    if not quick:
        sdpa_prefill(32768)
        sdpa_prefill(8192, d=64)
        sdpa_prefill(8192, d=256)
        sdpa_prefill(8192, hkv=32)
