"""test_ksa.py: the ksa Python package with NumPy arrays on the reference and cpu devices.

Dense attention is checked against an independent NumPy float64 implementation; the cpu device
against the reference device (tolerances of ksa.TOLERANCE, which mirror the library's) and,
with KSA_CHECK=1, by the library's own cross-check; ANCHOR / REUSE index sets must match the
reference's; a schedule step must match on both devices; bad input must raise KsaError with a
sentence and leave the output untouched; and libksa must be found without any setting.
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ksa
from ksa import TOLERANCE, _library

DEVICES = ("reference", "cpu")


@pytest.fixture(scope="module")
def ctx():
    c = ksa.Context()
    yield c
    c.close()


def rand(rng, shape, dtype=np.float32):
    """uniform in [-1, 1], never exactly zero"""
    x = rng.uniform(-1.0, 1.0, shape)
    x[np.abs(x) < 1e-3] = 1e-3
    return x.astype(dtype)


def numpy_attention(q, k, v, scale=None):
    """float64 causal attention, ends of queries and keys aligned; returns (o, lse [B, Hq, Lq])"""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    b, lq, hq, d = q.shape
    lk, hkv = k.shape[1], k.shape[2]
    g = hq // hkv
    scale = scale or 1.0 / np.sqrt(d)
    o = np.empty_like(q)
    lse = np.empty((b, hq, lq))
    pos = lk - lq + np.arange(lq)
    mask = np.arange(lk)[None, :] <= pos[:, None]
    for bi in range(b):
        for h in range(hq):
            s = scale * q[bi, :, h, :] @ k[bi, :, h // g, :].T
            s = np.where(mask, s, -np.inf)
            m = s.max(axis=1, keepdims=True)
            p = np.exp(s - m)
            z = p.sum(axis=1, keepdims=True)
            o[bi, :, h, :] = (p / z) @ v[bi, :, h // g, :]
            lse[bi, h, :] = (m + np.log(z))[:, 0]
    return o, lse


def assert_close(got, want, dtype_name, what):
    atol, rtol = TOLERANCE[dtype_name]
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert np.all(np.isfinite(got)), f"{what}: non-finite values (poison left or overflow)"
    err = np.abs(got - want) - (atol + rtol * np.abs(want))
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= 0, f"{what}: |{got[worst]} - {want[worst]}| exceeds the {dtype_name} tolerance at {worst}"


def bf16_bits(x):
    """float32 array -> uint16 bf16 bits (round to nearest even)"""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def as_bf16(a):
    """a uint16 array as a ksa bf16 tensor description"""
    return (a.ctypes.data, ksa.DTYPE_BF16, a.shape, tuple(s // 2 for s in a.strides))


# ------------------------------------------------------------------ finding libksa
def test_finds_libksa_by_itself():
    assert not os.environ.get("KSA_LIBRARY"), "this test checks the search; ctest runs it with KSA_LIBRARY empty"
    path, how = ksa.library_path()
    assert os.path.isfile(path), path
    assert "libksa.so" in os.path.basename(path)
    print(f"libksa: {path} ({how})")
    assert ksa.version().startswith("0.")


def test_source_tree_search_skips_sanitizer_builds(tmp_path):
    for name in ("build", "build-asan", "build-gpu"):
        (tmp_path / name / "lib").mkdir(parents=True)
        (tmp_path / name / "lib" / "libksa.so").write_bytes(b"")
    os.utime(tmp_path / "build" / "lib", (1, 1))  # older: listed after build-gpu
    found = _library.build_tree_candidates(str(tmp_path))
    assert found == [str(tmp_path / "build-gpu" / "lib" / "libksa.so"), str(tmp_path / "build" / "lib" / "libksa.so")]


def test_ksa_library_override_must_exist():
    env = dict(os.environ, KSA_LIBRARY="/nonexistent/libksa.so")
    r = subprocess.run([sys.executable, "-c", "import ksa; ksa.load_library()"], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "KSA_LIBRARY=/nonexistent/libksa.so: no such file" in r.stderr


def test_devices(ctx):
    names = ctx.device_names()
    assert "reference" in names and "cpu" in names, names
    dev = ctx.open("cpu")
    assert dev.kind == "cpu" and dev.host_memory and dev.compute_units > 0


# ------------------------------------------------------------------ dense against NumPy
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype_name", ["f32", "f16"])
@pytest.mark.parametrize("lq,lk", [(45, 45), (13, 70), (1, 90)])
def test_dense_matches_numpy(ctx, device, dtype_name, lq, lk):
    rng = np.random.default_rng(1000 + lq + lk)
    dt = np.float32 if dtype_name == "f32" else np.float16
    q, k, v = rand(rng, (2, lq, 4, 32), dt), rand(rng, (2, lk, 2, 32), dt), rand(rng, (2, lk, 2, 32), dt)
    o = np.full_like(q, np.nan)
    lse = np.full((2, 4, lq), np.nan, np.float32)
    dev = ctx.open(device)
    dev.attention(q, k, v, o, phase=ksa.PHASE_DECODE if lq == 1 else ksa.PHASE_PREFILL, lse=lse)
    want_o, want_lse = numpy_attention(q, k, v)
    assert_close(o, want_o, dtype_name, f"{device} dense o")
    assert_close(lse, want_lse, "f32", f"{device} dense lse")


@pytest.mark.parametrize("device", DEVICES)
def test_dense_bf16_strided_view(ctx, device):
    """bf16 through an explicit description, and q/o as a non-contiguous [B, L, H, D] view"""
    rng = np.random.default_rng(7)
    qf = rand(rng, (1, 4, 40, 64))            # torch-like [B, H, L, D] ...
    kf, vf = rand(rng, (1, 40, 1, 64)), rand(rng, (1, 40, 1, 64))
    qb = bf16_bits(qf).transpose(0, 2, 1, 3)  # ... seen as [B, L, H, D]
    kb, vb = bf16_bits(kf), bf16_bits(vf)
    ob = np.full((1, 40, 4, 64), 0xFFFF, np.uint16)  # NaN bit pattern
    ctx.open(device).attention(as_bf16(qb), as_bf16(kb), as_bf16(vb), as_bf16(ob))
    want, _ = numpy_attention(bf16_value(qb), bf16_value(kb), bf16_value(vb))
    assert_close(bf16_value(ob), want, "bf16", f"{device} bf16 dense")


# ------------------------------------------------------------------ cpu against the reference
def run_anchor(dev, q, k, v, phase, **topk):
    b, hkv = q.shape[0], k.shape[2]
    params = dev.params(ksa.MODE_ANCHOR, phase, **topk)
    tiles, slots = dev.index_shape(params, dev.tensors(q, k, v, np.empty_like(q)))
    shape = (b, hkv, slots) if phase == ksa.PHASE_DECODE else (b, hkv, tiles, slots)
    idx = np.full(shape, -7, np.int32)
    cnt = np.full(shape[:-1], -7, np.int32)
    o = np.full_like(q, np.nan)
    dev.attention(q, k, v, o, mode=ksa.MODE_ANCHOR, phase=phase, indices=idx, counts=cnt, **topk)
    return o, idx, cnt


def index_sets(idx, cnt):
    flat_i = idx.reshape(-1, idx.shape[-1])
    return [tuple(sorted(row[:c])) for row, c in zip(flat_i, cnt.reshape(-1))]


@pytest.mark.parametrize("phase", [ksa.PHASE_PREFILL, ksa.PHASE_DECODE])
def test_anchor_and_reuse_cpu_match_reference(ctx, phase, monkeypatch):
    rng = np.random.default_rng(31 + phase)
    lq = 1 if phase == ksa.PHASE_DECODE else 96
    q, k, v = rand(rng, (2, lq, 8, 32)), rand(rng, (2, 160, 2, 32)), rand(rng, (2, 160, 2, 32))
    topk = dict(fraction=0.3, min_k=16, round_multiple=8, tile_size=16)
    ref, cpu = ctx.open("reference"), ctx.open("cpu")
    o_ref, i_ref, c_ref = run_anchor(ref, q, k, v, phase, **topk)
    monkeypatch.setenv("KSA_CHECK", "1")  # the library cross-checks each cpu call with its own tolerances
    o_cpu, i_cpu, c_cpu = run_anchor(cpu, q, k, v, phase, **topk)
    assert (c_ref >= 1).all() and (c_ref == c_cpu).all()
    assert index_sets(i_ref, c_ref) == index_sets(i_cpu, c_cpu)
    assert_close(o_cpu, o_ref, "f32", "anchor o, cpu vs reference")
    # a reuse layer with another layer's q/k/v and a head map that swaps the two KV heads
    q2, k2, v2 = rand(rng, q.shape), rand(rng, k.shape), rand(rng, v.shape)
    head_map = np.array([1, 0], np.int32)
    outs = []
    for dev in (ref, cpu):
        o2 = np.full_like(q2, np.nan)
        dev.attention(q2, k2, v2, o2, mode=ksa.MODE_REUSE, phase=phase, indices=i_ref, counts=c_ref, head_map=head_map,
                      **topk)
        outs.append(o2)
    assert_close(outs[1], outs[0], "f32", "reuse o, cpu vs reference")
    # reusing the anchor's own sets with its own q/k/v (identity map) gives the anchor's sparse output
    o3 = np.full_like(q, np.nan)
    ref.attention(q, k, v, o3, mode=ksa.MODE_REUSE, phase=phase, indices=i_ref, counts=c_ref, **topk)
    assert_close(o3, o_ref, "f32", "reuse of the anchor's own sets vs the anchor's output")


def test_schedule_step_cpu_matches_reference(ctx):
    rng = np.random.default_rng(5)
    layers, hkv = 4, 2
    data = [(rand(rng, (1, 64, 4, 32)), rand(rng, (1, 64, hkv, 32)), rand(rng, (1, 64, hkv, 32))) for _ in range(layers)]
    results = {}
    for name in DEVICES:
        dev = ctx.open(name)
        sched = ksa.Schedule(dev, layers, hkv, fraction=0.3, min_k=16, round_multiple=8, tile_size=16)
        sched.set_kascade([0, 2], [[0, 1], [1, 0], [0, 1], [1, 1]])
        q0, k0, v0 = data[0]
        sched.plan(ksa.PHASE_PREFILL, q0, k0, v0, np.empty_like(q0))
        outs = []
        for layer, (q, k, v) in enumerate(data):
            o = np.full_like(q, np.nan)
            sched.run_layer(layer, q, k, v, o)
            outs.append(o)
        results[name] = outs
    want0, _ = numpy_attention(*data[0])
    assert_close(results["reference"][0], want0, "f32", "schedule layer 0 (dense output) vs NumPy")
    for layer in range(layers):
        assert_close(results["cpu"][layer], results["reference"][layer], "f32", f"schedule layer {layer}, cpu vs reference")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("device", DEVICES)
def test_bad_input_raises_and_writes_nothing(ctx, device):
    rng = np.random.default_rng(9)
    q, k, v = rand(rng, (1, 16, 4, 32)), rand(rng, (1, 16, 2, 32)), rand(rng, (1, 16, 2, 32))
    o = np.full((1, 16, 4, 16), 123.0, np.float32)  # wrong head_dim
    with pytest.raises(ksa.KsaError) as e:
        ctx.open(device).attention(q, k, v, o)
    assert e.value.status == 1  # KSA_STATUS_INVALID_ARGUMENT
    assert "o" in str(e.value) and "KSA_STATUS_INVALID_ARGUMENT" in str(e.value)
    assert (o == 123.0).all()
    with pytest.raises(ksa.KsaError) as e:
        ctx.open("no-such-device:3")
    assert e.value.status == 5  # KSA_STATUS_NOT_FOUND


# ------------------------------------------------------------------ host bounds of the device lengths
@pytest.mark.parametrize("device", DEVICES)
def test_length_bounds(ctx, device):
    """params max_seqlen_k (a host bound of seq_lens_k): the same answer as without it, the index
    shape sized by the bound, and a length above the bound refused by name with o untouched"""
    rng = np.random.default_rng(31)
    cap = 300
    q, k, v = rand(rng, (2, 1, 4, 32)), rand(rng, (2, cap, 2, 32)), rand(rng, (2, cap, 2, 32))
    lens = np.array([cap, 211], np.int32)
    dev = ctx.open(device)
    o_free, o_bound = np.full_like(q, np.nan), np.full_like(q, np.nan)
    dev.attention(q, k, v, o_free, phase=ksa.PHASE_DECODE, seq_lens_k=lens)
    dev.attention(q, k, v, o_bound, phase=ksa.PHASE_DECODE, seq_lens_k=lens, max_seqlen_k=cap)
    assert_close(o_bound, o_free, "f32", f"{device} bounded decode")
    want, _ = numpy_attention(q[1:], k[1:, :211], v[1:, :211])
    assert_close(o_bound[1:], want, "f32", f"{device} bounded decode, short sequence")
    # the index shape follows the bound, not the longest sequence
    short = np.array([211, 180], np.int32)
    tens = dev.tensors(q, k, v, o_free, seq_lens_k=short)
    budget = dict(fraction=0.5, min_k=8, round_multiple=1)
    _, slots_free = dev.index_shape(dev.params(ksa.MODE_ANCHOR, ksa.PHASE_DECODE, **budget), tens)
    _, slots_bound = dev.index_shape(dev.params(ksa.MODE_ANCHOR, ksa.PHASE_DECODE, max_seqlen_k=cap, **budget), tens)
    assert slots_bound > slots_free, (slots_free, slots_bound)
    o = np.full_like(q, 7.0)
    with pytest.raises(ksa.KsaError) as e:
        dev.attention(q, k, v, o, phase=ksa.PHASE_DECODE, seq_lens_k=lens, max_seqlen_k=250)
    assert e.value.status == 1 and "params.max_seqlen_k = 250" in str(e.value)
    assert (o == 7.0).all()


OMP_INFO = "ATen/Parallel:\n\tat::get_num_threads() : 16\nOpenMP 201511 (a.k.a. OpenMP 4.5)\nATen parallel backend: OpenMP\n"


@pytest.mark.parametrize("env, says", [
    ({}, "up to 1.5x"),                                   # libgomp's default: spin, then sleep
    ({"OMP_WAIT_POLICY": "active"}, "up to 2x"),          # never sleep
    ({"OMP_WAIT_POLICY": "Passive"}, None),
    ({"GOMP_SPINCOUNT": "0"}, None),
    ({"GOMP_SPINCOUNT": "300000"}, "up to 1.5x"),         # a long spin is the default's problem
    ({"KMP_BLOCKTIME": "0"}, None),
])
def test_openmp_wait_advice(env, says):
    msg = ksa.openmp_wait_advice(OMP_INFO, 16, env)
    if says is None:
        assert msg is None, msg
    else:
        assert msg and says in msg and "OMP_WAIT_POLICY=PASSIVE" in msg, msg
    # nothing to say without OpenMP threads that could spin
    assert ksa.openmp_wait_advice(OMP_INFO, 1, env) is None
    assert ksa.openmp_wait_advice(OMP_INFO.replace("OpenMP\n", "native thread pool\n"), 16, env) is None


def test_cpu_open_warns_once_about_torch_openmp(monkeypatch):
    """Opening a CPU device in a process with torch loaded warns once, and only then."""
    class FakeTorch:  # what _advise_openmp_wait reads of torch
        class __config__:  # noqa: N801
            @staticmethod
            def parallel_info():
                return OMP_INFO

        @staticmethod
        def get_num_threads():
            return 16
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("KMP_BLOCKTIME", raising=False)
    monkeypatch.setattr(ksa, "_openmp_advice_given", False)
    monkeypatch.setitem(sys.modules, "torch", FakeTorch)
    c = ksa.Context()
    try:
        with pytest.warns(ksa.OpenMPWaitWarning, match="OMP_WAIT_POLICY=PASSIVE"):
            c.open("cpu")
        c2 = ksa.Context()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            c2.open("cpu")  # once per process
            c2.open("reference")
        c2.close()
    finally:
        c.close()
    monkeypatch.setattr(ksa, "_openmp_advice_given", False)
    monkeypatch.delitem(sys.modules, "torch")
    c3 = ksa.Context()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c3.open("cpu")  # no torch loaded: nothing to say
    c3.close()
