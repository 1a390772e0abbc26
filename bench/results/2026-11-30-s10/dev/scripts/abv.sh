#!/bin/bash
# abv.sh ROUNDS SETS...: alternating rounds over the variants in $VARIANTS ("name=libdir[@config] ...",
# libdir under this folder; config: a ksa-bench --config override); writes $OUT/abv.jsonl and prints
# min over rounds per variant, and the ratio to the first variant
D=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH=$D/core
export KSA_TUNE_CACHE=${KSA_TUNE_CACHE:-off}
R=${1:-2}; shift
B=$D/bin/ksa-bench
J=$OUT/abv.jsonl
run() { # tag plugin-dir config sets...
  local tag=$1 pl=$2 cf=$3; shift 3
  local cfa=(); [ -n "$cf" ] && cfa=(--config "$cf")
  for set in "$@"; do
    case $set in
      adec) for s in 1,1,32768 64,1,32768; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape $s,32,8,128 --mode anchor --phase decode --dtype bf16 "${cfa[@]}" --tag $tag --out $J --append; done ;;
      adec1) for s in 1,1,8192 1,1,32768 2,1,32768; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape $s,32,8,128 --mode anchor --phase decode --dtype bf16 "${cfa[@]}" --tag $tag --out $J --append; done ;;
      adec64) KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape 64,1,32768,32,8,128 --mode anchor --phase decode --dtype bf16 "${cfa[@]}" --tag $tag --out $J --append ;;
      adec16) for s in 16,1,8192 16,1,32768 64,1,8192; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape $s,32,8,128 --mode anchor --phase decode --dtype bf16 "${cfa[@]}" --tag $tag --out $J --append; done ;;
      dec) for s in 1,1,8192 1,1,32768 16,1,8192 16,1,32768 64,1,8192 64,1,32768; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape $s,32,8,128 --mode dense --phase decode --dtype bf16 "${cfa[@]}" --tag $tag --out $J --append; done ;;
      rdec1) for s in 1,1,8192 1,1,32768; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape $s,32,8,128 --mode reuse --phase decode --dtype f16 "${cfa[@]}" --tag $tag --out $J --append; done ;;
      dec1) for s in 1,1,8192 1,1,32768; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape $s,32,8,128 --mode dense --phase decode --dtype f16 "${cfa[@]}" --tag $tag --out $J --append; done ;;
      rdec16) for s in 16,1,8192 16,1,32768 64,1,32768; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape $s,32,8,128 --mode reuse --phase decode --dtype f16 "${cfa[@]}" --tag $tag --out $J --append; done ;;
      dec16) for s in 16,1,8192 16,1,32768; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape $s,32,8,128 --mode dense --phase decode --dtype f16 "${cfa[@]}" --tag $tag --out $J --append; done ;;
      hd) for m in dense anchor reuse; do for dd in 64 256; do
             KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape 16,1,32768,32,8,$dd --mode $m --phase decode --dtype bf16 "${cfa[@]}" --tag $tag --out $J --append; done; done ;;
      anchor) KSA_PLUGIN_PATH=$pl $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode anchor --phase prefill --dtype bf16 "${cfa[@]}" --tag $tag --out $J --append --repeats 3 ;;
    esac
  done
}
for r in $(seq $R); do
  for v in $VARIANTS; do
    name=${v%%=*}; rest=${v#*=}; lib=${rest%%@*}; cf=""; [[ $rest == *@* ]] && cf=${rest#*@}
    run $name $D/$lib "$cf" "$@"
  done
done 2>>$OUT/abv.err
python3 - $J "$VARIANTS" <<'PY'
import json,sys,collections
names=[v.split('=')[0] for v in sys.argv[2].split()]
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    try: r=json.loads(l)
    except: continue
    if r.get('status')!='ok': continue
    s=r['shape']; k=(r['mode'],r['phase'],s['B'],s['Lk'],r['dtype'])
    d[k+(r['tag'],)].append(r['median_ms'])
for k in sorted(set(k[:-1] for k in d)):
    base=min(d.get(k+(names[0],),[float('nan')]))
    row=' '.join('%s %.4f(%.3f)'%(n,min(d[k+(n,)]),min(d[k+(n,)])/base) for n in names if d.get(k+(n,)))
    print('%-6s %-7s B%-3d Lk%-6d %-4s %s'%(k+(row,)))
PY
