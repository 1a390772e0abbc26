#!/bin/bash
# tenth session, device call 4: lib_pg2 = lib_pg with the next chunk's page read after this chunk's copies are issued;
# GPU tests + sanitizers on lib_pg2, ksa-bench A/B head vs pg2, peer_torch paged (16, 64) and contiguous decode head vs pg vs pg2, the host floor
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_pg2 KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
for t in test_cuda test_cuda_graph; do
  s=$(date +%s); timeout 200 .carry/devbin/bin/$t > $OUT/gpu/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s"; grep -E "PASSED|FAILED|ERROR|LINE" $OUT/gpu/$t.log | head -8
done
s=$(date +%s); timeout 200 .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid|PASS" $OUT/gpu/test_backends.log | head -6
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode*' timeout 150 compute-sanitizer --tool memcheck .carry/devbin/bin/test_cuda > $OUT/gpu/memcheck-decode.log 2>&1; echo "memcheck decode rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-decode.log | head -4
s=$(date +%s); KSA_TEST_FILTER='test_lengths_clamped*' timeout 100 compute-sanitizer --tool memcheck .carry/devbin/bin/test_cuda > $OUT/gpu/memcheck-clamped.log 2>&1; echo "memcheck clamped rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-clamped.log | head -4
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode*' timeout 150 compute-sanitizer --tool racecheck .carry/devbin/bin/test_cuda > $OUT/gpu/racecheck-decode.log 2>&1; echo "racecheck decode rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|RACECHECK SUMMARY" $OUT/gpu/racecheck-decode.log | head -4
s=$(date +%s); KSA_TEST_QUICK=1 timeout 200 compute-sanitizer --tool memcheck .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/memcheck-backends.log 2>&1; echo "memcheck backends rc=$? $(( $(date +%s)-s )) s"; grep -E "ktest grid|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-backends.log | head -4
s=$(date +%s); KSA_TEST_FILTER='test_graph_*' timeout 150 compute-sanitizer --tool memcheck .carry/devbin/bin/test_cuda_graph > $OUT/gpu/memcheck-graph.log 2>&1; echo "memcheck graph rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-graph.log | head -3
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
mkdir -p $OUT/peer; s=$(date +%s)
VARIANTS="head=lib_head pg2=lib_pg2" bash .carry/devbin/abv.sh 3 rdec1 rdec16 dec1 dec16 adec1 adec16
echo "abv $(( $(date +%s)-s )) s"
P="/opt/torch/.venv/bin/python3 bench/peer_torch.py --device cuda --dtype bf16 --repeats 15"
export KSA_LIBRARY=$R/.carry/devbin/core/libksa.so
S="--shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --shape 16,1,32768,32,8,128"
mkdir -p $OUT/peer; s=$(date +%s)
for r in 1 2; do for v in head pg pg2; do
  KSA_PLUGIN_PATH=$R/.carry/devbin/lib_$v $P $S --page-size 16 --out $OUT/peer/p16-$v.jsonl --append > /dev/null 2>&1; echo "p16 $v rc=$?"
  KSA_PLUGIN_PATH=$R/.carry/devbin/lib_$v $P $S --page-size 64 --out $OUT/peer/p64-$v.jsonl --append > /dev/null 2>&1; echo "p64 $v rc=$?"
  KSA_PLUGIN_PATH=$R/.carry/devbin/lib_$v $P $S --out $OUT/peer/contig-$v.jsonl --append > /dev/null 2>&1; echo "contig $v rc=$?"
done; done
echo "peer runs $(( $(date +%s)-s )) s"
/opt/torch/.venv/bin/python3 - $OUT <<'PY'
import json,sys,glob,os,collections
t=collections.defaultdict(list)
for f in sorted(glob.glob(sys.argv[1]+"/peer/*.jsonl")):
    for l in open(f):
        r=json.loads(l)
        if r.get("backend","").startswith("torch") or r.get("status")!="ok": continue
        s=r["shape"]; t[(os.path.basename(f)[:-6], r["mode"], s["B"], s["Lk"])].append(r["median_ms"]*1e3)
for k in sorted(t): print(*k, " ".join(f"{x:.1f}" for x in t[k]), f"min {min(t[k]):.1f}")
PY
(cd $OUT && tar czf peer.tar.gz peer && rm -rf peer)
# the host's submission floor: decode calls too small for the device to matter
for m in dense reuse; do KSA_PLUGIN_PATH=$R/.carry/devbin/lib_pg2 .carry/devbin/bin/ksa-bench --device cuda:0 --shape 1,1,512,32,8,128 --mode $m --phase decode --dtype f16 --out $OUT/floor.jsonl --append > /dev/null 2>&1; done
python3 -c "
import json
for l in open('$OUT/floor.jsonl'):
    r=json.loads(l); print('floor',r['mode'],r['shape']['Lk'],'median_us %.2f host_us %.2f resolve_us %.2f'%(r['median_ms']*1e3,r['host_ms']*1e3,r['resolve_ms']*1e3))
"
