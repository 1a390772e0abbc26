#!/bin/bash
# s19 call 6 (after the final run): dense decode B1/B2 contiguous and in pages of 16, Lk8K/Lk32K, the
# built-in against affine-copy configurations (32-key chunks over two pages of 16, 8 or 16 splits in
# their cluster, 2 or 3 buffers), three rounds, plugin of 3756bee (lib_new)
D=$PWD/.carry/devbin
tar xJf $D/lib_new.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new KSA_LIBRARY=$D/core/libksa.so
PY=/opt/torch/.venv/bin/python3
C=";decode_kernel=3,decode_chunk=32,decode_splits=8,decode_cluster=2,decode_stages=3;decode_kernel=3,decode_chunk=32,decode_splits=16,decode_cluster=2,decode_stages=2;decode_kernel=3,decode_chunk=32,decode_splits=16,decode_cluster=2,decode_stages=3;decode_kernel=3,decode_chunk=16,decode_splits=16,decode_cluster=2,decode_stages=3;decode_kernel=3,decode_chunk=16,decode_splits=8,decode_cluster=2,decode_stages=3"
for round in 1 2 3; do for B in 1 2; do
  TAG=r$round BATCH=$B MODES=dense PAGES=0,16 LKS=8192,32768 CONFIGS="$C" timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(7))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    cont=min(d.get((k[0],k[1],k[2],0,'built-in'),[float('nan')]))
    print('%s %-6s Lk%-6d p%-3d '%k + ' | '.join('%s %.1f-%.1f (%.3f of contiguous built-in)'%(x[4].replace('decode_','').replace('kernel=3,',''),min(d[x]),max(d[x]),min(d[x])/cont) for x in sorted(d) if x[:4]==k))
PY
grep -i error $OUT/paged.txt | head -3
