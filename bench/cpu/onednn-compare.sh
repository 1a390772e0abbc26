#!/usr/bin/env bash
# onednn-compare.sh: the measurement behind NOTES-cpu.md "oneDNN": dense causal prefill B1 Hq8 Hkv2 D128
# at L 1024 and 2048, bf16 and f32, ksa CPU backend (best level, or KSA_CPU_ISA) vs the oneDNN dense
# baseline (ksa-cpu-bench --compare) at several query block sizes, and once vs the reference.
# Each configuration runs ROUNDS times (interleaved, so load drifts hit all alike); prints the median ms.
# Usage: bench/cpu/onednn-compare.sh BUILD_DIR [ROUNDS]   (raw JSON lines go to BUILD_DIR/onednn-compare.jsonl)
set -euo pipefail
build=${1:?usage: onednn-compare.sh BUILD_DIR [ROUNDS]}
rounds=${2:-5}
bench="$build/bin/ksa-cpu-bench"
log="$build/onednn-compare.jsonl"
: > "$log"
for round in $(seq "$rounds"); do
  for L in 1024 2048; do
    for dt in bf16 f32; do
      for bq in 64 128 256 100000; do
        "$bench" --compare --L "$L" --dtype "$dt" --block-q "$bq" --reps 5 2>/dev/null |
          sed "s/^{/{\"round\":$round,\"threads\":\"${KSA_NUM_THREADS:-all}\",/" >> "$log"
      done
    done
  done
done
# the reference once per shape (slow: ~0.5 s per call at L 2048)
for L in 1024 2048; do
  for dt in bf16 f32; do
    "$bench" --compare --L "$L" --dtype "$dt" --reps 3 --reference --no-onednn 2>/dev/null | sed 's/^{/{"round":0,/' >> "$log"
  done
done
python3 - "$log" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    key = (r["L"], r["dtype"], r["impl"], r.get("block_q", ""))
    groups.setdefault(key, []).append(r)
print(f"{'L':>5} {'dtype':>5} {'impl':>10} {'block_q':>7} {'n':>3} {'median ms':>10} {'min':>8} {'max':>8} {'TFLOP/s':>8}  max|diff| vs ksa")
for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], str(k[3]))):
    g = groups[key]
    ms = [r["ms"] for r in g]
    med = statistics.median(ms)
    tf = statistics.median([r["tflops"] for r in g])
    diffs = [v for r in g for k, v in r.items() if k.startswith("max_abs_diff")]
    d = f"{max(diffs):.3g}" if diffs else "-"
    print(f"{key[0]:>5} {key[1]:>5} {key[2]:>10} {str(key[3]):>7} {len(g):>3} {med:>10.2f} {min(ms):>8.2f} {max(ms):>8.2f} {tf:>8.3f}  {d}")
EOF
