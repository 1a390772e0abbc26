#!/usr/bin/env python3
"""tp_torch.py: Kascade under tensor parallelism with torch.distributed, one process per GPU.

A slice of a model's layers (anchors and reuse layers of a shipped head-map table, made
shard-consistent, or a schedule file from `ksa-calibrate --shards N`) runs on N ranks, each on its
contiguous block of KV heads (and their query heads) through ksa.RankSchedule
(ksa_schedule_set_head_range), as vLLM/SGLang shard attention heads. Attention needs no
communication under a shard-consistent plan: the outputs are gathered here only to check them.

Checks: (1) every layer's gathered output of the N ranks against the same slice run on one device
(all heads, one schedule), within the library's bf16/f16/f32 tolerance (bitwise equality is
reported), and each anchor's index sets gathered from the ranks against the one-device run's;
(2) a short-sequence pass of every rank's slice with KSA_CHECK=1, so each ksa call is compared
with the scalar reference on the same inputs (tie-tolerant, docs/SEMANTICS.md). Times: median
per layer on one device and on N (the slowest rank), CUDA events.

  PYTHONPATH=python python3 examples/tp_torch.py --build build-device            # 2 GPUs, NCCL
  PYTHONPATH=python python3 examples/tp_torch.py --build build --cpu             # 2 processes, gloo, cpu
  torchrun --nproc-per-node 2 examples/tp_torch.py --build build-device          # also works

Exit status: 0 all checks passed, 1 a check failed, 77 torch (or a GPU for the NCCL run) missing.
"""
import argparse
import json
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_PLAN = os.path.join(ROOT, "tests", "data", "Meta-Llama-3.1-8B-Instruct_layers_0_2_8_13_14.npy")
SKIP = 77


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="build folder holding lib/libksa.so")
    p.add_argument("--cpu", action="store_true", help="gloo backend and ksa's cpu device instead of NCCL and GPUs")
    p.add_argument("--world", type=int, default=2, help="ranks (tensor-parallel size)")
    p.add_argument("--plan", default=DEFAULT_PLAN, help="head-map .npy table or schedule file")
    p.add_argument("--layers", type=int, default=None, help="layers 0..N-1 of the plan (default 8; cpu 6)")
    p.add_argument("--phases", default="prefill,decode")
    p.add_argument("--seq-len", type=int, default=None, help="prefill Lq = Lk (default 32768; cpu 512)")
    p.add_argument("--decode-len", type=int, default=None, help="decode Lk (default 32768; cpu 1024)")
    p.add_argument("--decode-batch", type=int, default=None, help="decode batch (default 16; cpu 2)")
    p.add_argument("--decode-splits", type=int, default=8, choices=(1, 2, 4, 8, 16, 32, 64),
                   help="GPU decode splits, the same on one GPU and the ranks (default 8)")
    p.add_argument("--hq", type=int, default=None, help="query heads (default 32; cpu 16)")
    p.add_argument("--head-dim", type=int, default=None, help="head dim (default 128; cpu 64)")
    p.add_argument("--dtype", default=None, choices=["bf16", "f16", "f32"], help="default bf16; cpu f32")
    p.add_argument("--iters", type=int, default=None, help="timed passes (default 10; cpu 2)")
    p.add_argument("--check-len", type=int, default=None, help="sequence length of the KSA_CHECK pass (default 512; cpu 256)")
    p.add_argument("--out", default=None, help="folder for tp_torch.jsonl (default: print only)")
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args(argv)
    cpu = a.cpu
    defaults = {"layers": (8, 6), "seq_len": (32768, 512), "decode_len": (32768, 1024), "decode_batch": (16, 2),
                "hq": (32, 16), "head_dim": (128, 64), "dtype": ("bf16", "f32"), "iters": (10, 2), "check_len": (512, 256)}
    for k, (gpu_v, cpu_v) in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, cpu_v if cpu else gpu_v)
    return a


# ------------------------------------------------------------------ the plan, made shard-consistent
def shard_plan(plan, num_layers, world):
    """Anchors below num_layers and head maps whose entries stay in their head's shard of
    Hkv / world KV heads. A plan calibrated with --shards world is kept as it is; entries of an
    unsharded table that leave the shard fall back to the identity (the head reuses its own anchor
    head's indices): without statistics there is nothing better to pick; `ksa-calibrate --shards`
    chooses them from coverage. Returns (anchors, head_maps, entries changed)."""
    h = plan["num_kv_heads"]
    if h % world:
        raise SystemExit(f"tp_torch: {h} KV heads are not divisible by {world} ranks")
    size = h // world
    anchors = [a for a in plan["anchors"] if a < num_layers]
    maps, changed = [], 0
    for row in plan["head_maps"][:num_layers]:
        new = []
        for g, m in enumerate(row):
            keep = m // size == g // size
            changed += not keep
            new.append(m if keep else g)
        maps.append(new)
    return anchors, maps, changed


# ------------------------------------------------------------------ one rank
def log(rank, *a):
    if rank == 0:
        print(*a, flush=True)


def worker(rank, args, port, init_method=None):
    import torch
    import torch.distributed as dist
    import ksa

    world = args.world
    init = init_method or f"tcp://127.0.0.1:{port}"
    if args.cpu:
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
        tdev = torch.device("cpu")
    else:
        torch.cuda.set_device(rank)
        tdev = torch.device("cuda", rank)
        dist.init_process_group("nccl", init_method=init, rank=rank, world_size=world, device_id=tdev)
    tdtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
    bits = torch.uint8  # collectives move raw bytes (a type NCCL and gloo both carry)
    atol, rtol = ksa.TOLERANCE[args.dtype]  # the library's per-dtype tolerances
    ctx = ksa.Context()
    kdev = ctx.open("cpu" if args.cpu else f"cuda:{rank}")
    plan = ksa.load_plan(args.plan)
    hkv, hq, d, n_layers = plan["num_kv_heads"], args.hq, args.head_dim, min(args.layers, plan["num_layers"])
    if hq % hkv:
        raise SystemExit(f"tp_torch: --hq {hq} is not a multiple of the plan's {hkv} KV heads")
    group = hq // hkv
    anchors, maps, changed = shard_plan(plan, n_layers, world)
    count = hkv // world
    offset = rank * count
    kinds = ["anchor" if l in anchors else "reuse" for l in range(n_layers)]
    log(rank, f"tp_torch: {world} ranks ({'gloo, cpu' if args.cpu else 'NCCL, ' + torch.cuda.get_device_name(0)}), "
              f"torch {torch.__version__}, ksa {ksa.version()}")
    log(rank, f"plan: {os.path.basename(args.plan)} ({plan['num_shards']} shard(s) in the file), layers 0..{n_layers - 1}, "
              f"anchors {anchors}; {changed} head-map entries left their shard of {count} KV heads and fell back to the identity")
    log(rank, f"heads: Hq {hq} / Hkv {hkv}, D {d}, {args.dtype}; rank r runs KV heads [r*{count}, (r+1)*{count}) "
              f"and query heads [r*{count * group}, (r+1)*{count * group})")

    def sync():
        if not args.cpu:
            torch.cuda.synchronize()

    def shared_random(shape, seed):
        """The same random tensor on every rank: made on rank 0, broadcast."""
        x = torch.empty(shape, dtype=tdtype, device=tdev)
        if rank == 0:
            gen = torch.Generator(device=tdev)
            gen.manual_seed(seed)
            x.copy_(torch.randn(shape, generator=gen, device=tdev, dtype=torch.float32))
        dist.broadcast(x.view(bits), src=0)
        return x

    def make_layers(batch, lq, lk, seed):
        """Per layer: full q/k/v on rank 0 (for the one-device run), the rank's own heads everywhere."""
        full, mine = [], []
        for l in range(n_layers):
            q = shared_random((batch, lq, hq, d), seed + 3 * l)
            k = shared_random((batch, lk, hkv, d), seed + 3 * l + 1)
            v = shared_random((batch, lk, hkv, d), seed + 3 * l + 2)
            mine.append((q[:, :, offset * group:(offset + count) * group].contiguous(),
                         k[:, :, offset:offset + count].contiguous(), v[:, :, offset:offset + count].contiguous()))
            full.append((q, k, v) if rank == 0 else None)
        return full, mine

    def run(schedule, layers, phase, outs, states=None, times=None):
        """One pass over the layers (one step: plan, then every layer in order); outputs into outs,
        index states after anchors into states, per-layer times into times. Each layer's call is
        resolved before its timing starts, so a time is the library's call, not Python's."""
        q0, k0, _ = layers[0]
        schedule.plan(phase, q0, k0)
        calls = [schedule.prepare_layer(l, q, k, v, outs[l]) for l, (q, k, v) in enumerate(layers)]
        for l, call in enumerate(calls):
            if times is None:
                call()
            elif args.cpu:
                t0 = time.perf_counter()
                call()
                times[l].append(time.perf_counter() - t0)
            else:
                ev = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                ev[0].record()
                call()
                ev[1].record()
                times[l].append(ev)
            if states is not None and kinds[l] == "anchor":
                sync()
                states[l] = schedule.index_state()
        sync()

    def timed(schedule, layers, phase, together):
        """Median milliseconds per layer; together: every rank runs it (start each pass at a barrier)."""
        samples = [[] for _ in range(n_layers)]
        outs = [torch.empty_like(q) for q, _, _ in layers]
        run(schedule, layers, phase, outs)  # warm-up (tuning lookups, first touch)
        for _ in range(args.iters):
            if together:
                dist.barrier()
            run(schedule, layers, phase, outs, times=samples)
        ms = []
        for s in samples:
            ms.append(statistics.median([1e3 * x for x in s] if args.cpu else [a.elapsed_time(b) for a, b in s]))
        return ms

    def measure(layers, phase, off, cnt, together):
        """A schedule over KV heads [off, off + cnt): one untimed pass into poisoned outputs, keeping
        the index state after each anchor, then the timed passes. (outputs, states, ms per layer)."""
        sched = ksa.RankSchedule(kdev, n_layers, hkv, off, cnt, **topk)
        sched.set_kascade(anchors, maps)
        outs = [torch.full_like(q, float("nan")) for q, _, _ in layers]
        states = {}
        run(sched, layers, phase, outs, states=states)
        return outs, states, timed(sched, layers, phase, together)

    def state_tensor(state):
        (ishape, idata), (cshape, cdata) = state
        idx = torch.frombuffer(idata, dtype=torch.int32).reshape(ishape).to(tdev)
        cnt = torch.frombuffer(cdata, dtype=torch.int32).reshape(cshape).to(tdev)
        if len(ishape) == 3:  # decode: one set per (batch, head)
            idx, cnt = idx.unsqueeze(2), cnt.unsqueeze(2)
        slots = torch.arange(idx.shape[-1], device=tdev)
        big = torch.iinfo(torch.int32).max
        sets = torch.where(slots < cnt.unsqueeze(-1), idx, torch.full_like(idx, big)).sort(dim=-1).values
        return sets, cnt

    topk = {}
    failures = []
    records = []
    for phase_name in [p for p in args.phases.split(",") if p]:
        phase = {"prefill": ksa.PHASE_PREFILL, "decode": ksa.PHASE_DECODE}[phase_name]
        # the GPU decode's default split count follows the number of KV heads a device runs, and
        # another split order rounds differently (and can swap near-tied index entries): pinned,
        # each head's arithmetic is the same on one GPU and on the ranks
        ksa.set_config_override(f"decode_splits={args.decode_splits}" if phase_name == "decode" and not args.cpu else None)
        if phase_name == "prefill":
            batch, lq, lk = 1, args.seq_len, args.seq_len
        else:
            batch, lq, lk = args.decode_batch, 1, args.decode_len
        shape = f"B{batch} Lq{lq} Lk{lk} Hq{hq}/Hkv{hkv} D{d} {args.dtype}"
        log(rank, f"\n== {phase_name}: {shape}")
        full, mine = make_layers(batch, lq, lk, args.seed + (0 if phase_name == "prefill" else 1000))

        # ---- N ranks: each its heads
        outs, states, tp_ms = measure(mine, phase, offset, count, together=True)
        t = torch.tensor(tp_ms, dtype=torch.float64, device=tdev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)  # a TP layer lasts as long as its slowest rank
        tp_ms = t.tolist()

        # ---- the outputs gathered: heads of rank r at [r*count*G, (r+1)*count*G)
        gathered = []
        gather_ms = []
        for o in outs:
            parts = [torch.empty_like(o) for _ in range(world)]
            sync()
            t0 = time.perf_counter()
            dist.all_gather([x.view(bits) for x in parts], o.view(bits))
            sync()
            gather_ms.append(1e3 * (time.perf_counter() - t0))
            gathered.append(torch.cat(parts, dim=2) if rank == 0 else None)
        state_sets = {}
        for l, st in states.items():
            sets, cnt = state_tensor(st)
            parts_s = [torch.empty_like(sets) for _ in range(world)]
            parts_c = [torch.empty_like(cnt) for _ in range(world)]
            dist.all_gather(parts_s, sets)
            dist.all_gather(parts_c, cnt)
            state_sets[l] = (torch.cat(parts_s, dim=1), torch.cat(parts_c, dim=1)) if rank == 0 else None

        # ---- one device, all heads (rank 0), the same layers
        one_ms = [0.0] * n_layers
        if rank == 0:
            fouts, fstates, one_ms = measure(full, phase, 0, hkv, together=False)  # every head: a plain schedule
            for l in range(n_layers):
                a, b = gathered[l].float(), fouts[l].float()
                diff = (a - b).abs()
                bad = (diff > atol + rtol * b.abs()) | torch.isnan(a) | torch.isnan(b)
                n_bad = int(bad.sum())
                bitwise = torch.equal(gathered[l].view(bits), fouts[l].view(bits))
                rec = {"phase": phase_name, "layer": l, "kind": kinds[l], "shape": shape, "world": world,
                       "device": "cpu" if args.cpu else torch.cuda.get_device_name(0),
                       "ms_1": round(one_ms[l], 4), "ms_tp": round(tp_ms[l], 4),
                       "speedup": round(one_ms[l] / tp_ms[l], 3) if tp_ms[l] > 0 else None,
                       "gather_ms": round(gather_ms[l], 4), "max_abs_diff": float(diff.max()),
                       "outside_tolerance": n_bad, "bitwise_equal": bitwise}
                if n_bad:
                    failures.append(f"{phase_name} layer {l}: {n_bad} output elements of the {world} ranks differ from "
                                    f"the one-device run beyond the {args.dtype} tolerance (max |diff| {float(diff.max()):.3g})")
                if l in state_sets:
                    ts, tc = state_sets[l]
                    fsets, fcnt = state_tensor(fstates[l])
                    same_cnt = bool(torch.equal(tc, fcnt))
                    set_eq = (ts == fsets).all(dim=-1)
                    n_sets, n_diff = set_eq.numel(), int((~set_eq).sum())
                    entry_diff = int((ts != fsets).sum())
                    entries = int(fcnt.sum())
                    rec.update({"index_sets": n_sets, "index_sets_differing": n_diff, "counts_equal": same_cnt})
                    # ties may legitimately swap where the one-device run sums in another order:
                    # allow 0.1% of the selected entries, never a different count
                    if not same_cnt or entry_diff > max(1, entries // 1000):
                        failures.append(f"{phase_name} anchor layer {l}: index sets of the ranks differ from the "
                                        f"one-device run ({n_diff} of {n_sets} sets, counts equal: {same_cnt})")
                records.append(rec)
            print(f"{'layer':>5} {'kind':>6} {'1 dev ms':>9} {f'{world} dev ms':>9} {'speedup':>7} {'gather ms':>9} "
                  f"{'max|diff|':>9} {'bitwise':>7} {'index sets':>10}")
            for r in records:
                if r["phase"] != phase_name:
                    continue
                sets = (f"{r['index_sets'] - r['index_sets_differing']}/{r['index_sets']}" if "index_sets" in r else "")
                print(f"{r['layer']:>5} {r['kind']:>6} {r['ms_1']:>9.3f} {r['ms_tp']:>9.3f} {r['speedup'] or 0:>6.2f}x "
                      f"{r['gather_ms']:>9.3f} {r['max_abs_diff']:>9.2e} {'yes' if r['bitwise_equal'] else 'no':>7} {sets:>10}")
            tot1, totn = sum(one_ms), sum(tp_ms)
            print(f"total {n_layers} layers: 1 device {tot1:.3f} ms, {world} devices {totn:.3f} ms ({tot1 / totn:.2f}x); "
                  f"per layer {tot1 / n_layers:.3f} vs {totn / n_layers:.3f} ms", flush=True)
            records.append({"phase": phase_name, "layer": "all", "shape": shape, "world": world,
                            "ms_1": round(tot1, 4), "ms_tp": round(totn, 4),
                            "ms_1_per_layer": round(tot1 / n_layers, 4), "ms_tp_per_layer": round(totn / n_layers, 4)})
        del full, mine, outs, gathered
        dist.barrier()

    # ---- every rank's slice against the reference, call by call (KSA_CHECK), at a short length
    ck = args.check_len
    ksa.set_config_override(None)
    log(rank, f"\n== KSA_CHECK pass: prefill B1 L{ck} and decode B2 Lk{ck}, each rank's heads, every call against the reference")
    os.environ["KSA_CHECK"] = "1"  # read by libksa at each call
    try:
        for phase, (batch, lq, lk) in ((ksa.PHASE_PREFILL, (1, ck, ck)), (ksa.PHASE_DECODE, (2, 1, ck))):
            _, small = make_layers(batch, lq, lk, args.seed + 77 + phase)
            rs = ksa.RankSchedule(kdev, n_layers, hkv, offset, count, **topk)
            rs.set_kascade(anchors, maps)
            try:
                run(rs, small, phase, [torch.empty_like(q) for q, _, _ in small])
            except ksa.KsaError as e:
                failures.append(f"rank {rank}: KSA_CHECK: {e}")
            del rs
    finally:
        os.environ.pop("KSA_CHECK", None)
    ok = torch.tensor([0 if any(f.startswith(f"rank {rank}:") for f in failures) else 1], device=tdev)
    dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    if rank != 0 and failures:
        for f in failures:
            print(f"tp_torch: FAIL: {f}", flush=True)
    if rank == 0:
        if int(ok) == 0 and not any(f.startswith("rank") for f in failures):
            failures.append("KSA_CHECK failed on another rank (its lines above)")
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, "tp_torch.jsonl"), "w") as f:
                for r in records:
                    f.write(json.dumps(r) + "\n")
            print(f"wrote {os.path.join(args.out, 'tp_torch.jsonl')}")
        for f in failures:
            print(f"tp_torch: FAIL: {f}", flush=True)
        print("tp_torch: PASS" if not failures else f"tp_torch: {len(failures)} check(s) failed", flush=True)
    dist.barrier()
    dist.destroy_process_group()
    ctx.close()
    return 0 if not failures and int(ok) == 1 else 1


def _entry(rank, args, port):
    """mp.spawn's target: a failing rank makes the launcher fail."""
    if worker(rank, args, port) != 0:
        sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None):
    args = parse_args(argv)
    # the lent machines forbid NVLink multicast (NVLS) and symmetric-memory multicast
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
    lib = os.path.join(os.path.abspath(args.build), "lib", "libksa.so")
    if "KSA_LIBRARY" not in os.environ and os.path.exists(lib):
        os.environ["KSA_LIBRARY"] = lib
    if args.cpu:
        os.environ.setdefault("KSA_NUM_THREADS", "1")  # ranks share the machine's cores
    try:
        import torch
        import torch.multiprocessing as mp
    except ImportError:
        print("tp_torch: torch is not installed; skipped", flush=True)
        return SKIP
    if not args.cpu and torch.cuda.device_count() < args.world:
        print(f"tp_torch: {args.world} GPUs needed, {torch.cuda.device_count()} found; skipped (--cpu runs on the cpu device)")
        return SKIP
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun
        args.world = int(os.environ["WORLD_SIZE"])
        return worker(int(os.environ["RANK"]), args, None, init_method="env://")
    port = free_port()
    try:
        mp.spawn(_entry, args=(args, port), nprocs=args.world, join=True)
    except Exception as e:  # a rank exited non-zero (its messages are above)
        print(f"tp_torch: a rank failed: {str(e).strip() or type(e).__name__}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
