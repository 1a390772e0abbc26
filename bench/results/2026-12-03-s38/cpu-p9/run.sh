# call 6 (carry .carry/cuda): P9 on the lent Xeon, which the thirty-seventh session's full run had no
# time for: the CPU backend built alone (CUDA, HIP, OpenCL off), then bench/device-run.sh's cputune
# stage verbatim in substance: ksa-tune on cpu (bf16, threads frozen at the default) over the prefill
# shape B1 Hq32/Hkv8 D128 L4096 and the decode shapes B1 / B16 Lk32K, then --compare (interleaved
# rounds, noise bands) for the same shapes.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
cmake -S . -B /tmp/bc -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 &&
  ninja -C /tmp/bc ksa-tune >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)" >>$S
C=$OUT/tune-cache-xeon.txt
X="--device cpu --dtype bf16 --quiet --cache $C"
PRE="--op dense.prefill,anchor.prefill,reuse.prefill --shape B=1,Hq=32,Hkv=8,D=128,L=4096"
DEC="--op dense.decode,anchor.decode,reuse.decode --shape B=1,Hq=32,Hkv=8,D=128,Lk=32768 --shape B=16,Hq=32,Hkv=8,D=128,Lk=32768"
T=$OUT/tune-xeon.txt
{
  timeout 50 /tmp/bc/bin/ksa-tune $X $PRE --freeze threads --budget 40
  timeout 50 /tmp/bc/bin/ksa-tune $X $DEC --freeze threads --budget 40
} >$T 2>&1
echo "tune rc=$? ($(($(date +%s)-t0)) s)" >>$S
{
  timeout 75 /tmp/bc/bin/ksa-tune $X $PRE --compare --json
  timeout 75 /tmp/bc/bin/ksa-tune $X $DEC --compare --json
} >$OUT/tune-compare.jsonl 2>>$T
echo "compare rc=$? ($(($(date +%s)-t0)) s)" >>$S
python3 - $OUT/tune-compare.jsonl >>$S 2>&1 <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("measure") != "P9": continue
    print(r["op"], "B%s L%s" % (r.get("B"), r.get("Lk")), "builtin %.3f ms tuned %.3f ms ratio %.3f band %.3f-%.3f" % (
        r["builtin_ms"], r["tuned_ms"], r.get("ratio", 0), r.get("ratio_low", 0), r.get("ratio_high", 0)), r.get("source"), r.get("config"))
PY
tail -5 $T >>$S
cat $S
