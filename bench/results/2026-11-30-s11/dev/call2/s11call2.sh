#!/bin/bash
# eleventh session, device call 2: ksa-topk-bench (the anchor decode's Top-k vs CUB), built here with CCCL 3.5
cd "$(dirname "$0")/../.."
mkdir -p $OUT/gpu
timeout 200 .carry/devbin/bin/ksa-topk-bench --reps 20 > $OUT/gpu/topk.jsonl 2> $OUT/gpu/topk.err; echo "rc=$?"
cat $OUT/gpu/topk.err | head -5
python3 - $OUT/gpu/topk.jsonl <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for key in sorted({(r["scores"], r["batch"], r["n"]) for r in rows}):
    got = [r for r in rows if (r["scores"], r["batch"], r["n"]) == key]
    print("topk %s B%d n%d: " % key + ", ".join("%s %.1f us (%d/%d agree)" % (r["method"], r["us"], r["lists_agreeing_with_ksa"], r["lists"]) for r in got if r["us"] > 0))
PY
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
