#!/bin/bash
# s27 call 3 (after the final run): P3's two times in five alternating rounds (anchor and dense prefill,
# B1 L32K Hq32/Hkv8 D128 bf16 and f16) with HEAD's plugin (lib_lse), and the SM clock and board power
# sampled by nvidia-smi while each runs, to see whether the anchor call runs at lower clocks than
# its kernels do one at a time under Nsight Compute
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_lse.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_lse
B=$D/bin/ksa-bench
J=$OUT/p3.jsonl
for round in 1 2 3 4 5; do for dt in bf16 f16; do for mode in anchor dense; do
  timeout 30 $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode $mode --phase prefill --dtype $dt --max-measure-ms 700 \
    --tag r$round --out $J --append > /dev/null 2>> $L/bench.err
done; done; done
for mode in anchor dense; do
  nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu --format=csv,noheader,nounits -lms 100 > $L/smi_$mode.csv &
  P=$!
  timeout 30 $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode $mode --phase prefill --dtype bf16 --max-measure-ms 3000 --repeats 30 > /dev/null 2>> $L/bench.err
  kill $P; wait $P 2>/dev/null
  python3 - $L/smi_$mode.csv $mode <<'PY'
import sys, statistics
rows = [[float(x) for x in l.split(',')] for l in open(sys.argv[1]) if l.strip() and 'N/A' not in l]
busy = [r for r in rows if r[1] > 250]
if busy:
    print(sys.argv[2], 'samples', len(busy), 'SM clock MHz median %.0f (min %.0f max %.0f)' % (statistics.median(r[0] for r in busy), min(r[0] for r in busy), max(r[0] for r in busy)),
          'power W median %.0f (max %.0f)' % (statistics.median(r[1] for r in busy), max(r[1] for r in busy)), 'temp C max %.0f' % max(r[2] for r in busy))
else:
    print(sys.argv[2], 'no busy samples of', len(rows))
PY
done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(dict)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    r[(d["dtype"], d["tag"])][d["mode"]] = d["median_ms"]
for dt in ("bf16", "f16"):
    ratios = []
    for t in sorted(k[1] for k in r if k[0] == dt):
        x = r[(dt, t)]
        if "anchor" in x and "dense" in x:
            ratios.append(x["anchor"] / x["dense"])
            print(f"{dt} {t}: anchor {x['anchor']:.3f} dense {x['dense']:.3f} ratio {x['anchor'] / x['dense']:.3f}")
    if ratios: print(f"{dt}: P3 ratio median {sorted(ratios)[len(ratios) // 2]:.3f} (min {min(ratios):.3f} max {max(ratios):.3f})")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
