# cudnn_dec.py B LK: torch SDPA (cuDNN backend) decode, bf16, Hq32/Hkv8/D128, token-major K/V as peer_torch passes them
import sys, torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
B, Lk = int(sys.argv[1]), int(sys.argv[2])
g = torch.Generator(device="cuda").manual_seed(1)
def rnd(*s): return (torch.rand(*s, device="cuda", generator=g, dtype=torch.float32) * 2 - 1).to(torch.bfloat16)
q = rnd(B, 1, 32, 128).transpose(1, 2); k = rnd(B, Lk, 8, 128).transpose(1, 2); v = rnd(B, Lk, 8, 128).transpose(1, 2)
with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    for i in range(20):
        o = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
torch.cuda.synchronize(); print("ok", o.shape)
