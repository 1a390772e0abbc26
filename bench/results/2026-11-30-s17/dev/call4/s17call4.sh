#!/bin/bash
# s17 call 4: dense decode B1/B2 in pages by the affine paged copies (configurations) against the built-in (lib_a3)
D=$PWD/.carry/devbin
R=$PWD
tar xJf $D/lib_a3.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so KSA_PLUGIN_PATH=$D/lib_a3
C=";decode_kernel=3,decode_chunk=16;decode_kernel=3,decode_chunk=16,decode_splits=8,decode_cluster=2;decode_kernel=3,decode_chunk=16,decode_splits=16,decode_cluster=2;decode_kernel=3,decode_chunk=16,decode_stages=3,decode_splits=16,decode_cluster=2;decode_kernel=3,decode_chunk=32,decode_stages=3,decode_splits=16,decode_cluster=2"
for round in 1 2 3; do for B in 1 2; do
  TAG=new BATCH=$B MODES=dense PAGES=0,16,64 LKS=8192,32768 CONFIGS="$C" timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(7))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    base=d.get(k+('built-in',),[float('nan')])
    cs=[(x[4].replace('decode_',''),min(d[x]),max(d[x])) for x in d if x[:4]==k]
    print('%s %-6s Lk%-6d p%-3d '%k + ' | '.join('%s %.1f-%.1f (%.3f)'%(c,t,u,t/min(base)) for c,t,u in cs))
PY
grep -i error $OUT/paged.txt | head -3
