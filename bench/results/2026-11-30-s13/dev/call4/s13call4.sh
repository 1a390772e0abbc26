#!/bin/bash
# s13 call 4: ncu of dense decode B16 Lk8K bf16, ksa's kernel and cuDNN's, same sections; the new test
D=$PWD/.carry/devbin
R=$PWD
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$D/lib_new
SEC="--section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats --section WarpStateStats --section SchedulerStats"
timeout 150 ncu -k regex:kc_mma_decode -s 3 -c 2 $SEC --csv --page details $D/bin/ksa-bench --device cuda:0 --shape 16,1,8192,32,8,128 --mode dense --phase decode --dtype bf16 --repeats 3 > $OUT/ncu-ksa.csv 2>$OUT/ncu-ksa.err
echo "ksa ncu rc=$?"
timeout 150 ncu -k regex:'cudnn|sdpa|fmha|flash' -s 5 -c 2 $SEC --csv --page details /opt/torch/.venv/bin/python3 $D/hp/cudnn_dec.py 16 8192 > $OUT/ncu-cudnn.csv 2>$OUT/ncu-cudnn.err
echo "cudnn ncu rc=$?"
python3 - $OUT/ncu-ksa.csv $OUT/ncu-cudnn.csv <<'PY' | tee $OUT/compare.txt
import csv,sys
want=["Duration","DRAM Throughput","Memory Throughput","L2 Hit Rate","L1/TEX Hit Rate","Achieved Occupancy","Theoretical Occupancy","Registers Per Thread","Block Size","Grid Size","Dynamic Shared Memory Per Block","Issue Slots Busy","No Eligible","Warp Cycles Per Issued Instruction","Active Warps Per Scheduler","Eligible Warps Per Scheduler","Mem Busy","Max Bandwidth","Waves Per SM","Executed Ipc Active"]
for f in sys.argv[1:]:
    rows=[r for r in csv.reader(open(f)) if len(r)>10]
    if not rows: print(f, "no rows"); continue
    h=rows[0]; i_k=h.index("Kernel Name"); i_m=h.index("Metric Name"); i_v=h.index("Metric Value"); i_u=h.index("Metric Unit"); i_id=h.index("ID")
    seen={}
    for r in rows[1:]:
        if r[i_m] in want: seen.setdefault((r[i_id],r[i_k][:70]),[]).append("%s=%s %s"%(r[i_m],r[i_v],r[i_u]))
    for (id_,k),v in seen.items(): print(f.split('/')[-1], id_, k); print("   " + "\n   ".join(v))
PY
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
KSA_TEST_FILTER='test_plan*' timeout 60 $D/bin/test_cuda > $OUT/test_plan.log 2>&1; echo "test_plan rc=$?"; grep -E 'PASSED|FAILED|OK|SKIP' $OUT/test_plan.log | head
