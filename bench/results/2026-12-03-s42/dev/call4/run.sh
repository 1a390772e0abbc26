# call 4 (CPU only; nothing carried): does the lent Xeon's preference for sub_rows 16 in dense
# prefill (its tuner's choice in 8 of 26 runs, 1.05-1.15x) hold at one thread too, and which phases
# move? ksa-cpu-bench --ab (interleaved rounds, sub_rows 32 = built-in first) at 16, 4 and 1
# threads, then KSA_CPU_PROFILE's phase ticks for each setting at 16 and 1 threads.
set -u
t0=$(date +%s)
B=/tmp/build-cpu
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_OPENCL=OFF -DKSA_WITH_HIP=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B -j16 ksa-cpu-bench >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
for t in 16 4 1; do
  r=5; [ $t = 1 ] && r=3
  KSA_NUM_THREADS=$t timeout 120 $B/bin/ksa-cpu-bench --ab "sub_rows=32;sub_rows=16" --mode dense --rounds $r --L 4096 \
    2>>$OUT/err.log | sed "s/^/threads=$t /" | tee -a $OUT/ab.jsonl | cut -c1-220
  echo "ab threads=$t ($(($(date +%s)-t0)) s)"
done
for t in 16 1; do
  for c in sub_rows=32 sub_rows=16; do
    KSA_NUM_THREADS=$t KSA_CPU_PROFILE=1 KSA_CPU_BENCH_CONFIG=$c timeout 120 $B/bin/ksa-cpu-bench --dense --reps 3 \
      2>>$OUT/err.log | grep -E '"profile"|"prefill"' | sed "s/^/threads=$t $c /" | tee -a $OUT/profile.jsonl | cut -c1-260
  done
  echo "profile threads=$t ($(($(date +%s)-t0)) s)"
done
echo "done ($(($(date +%s)-t0)) s)"
