#!/usr/bin/env bash
# Forty-ninth session, call 4 (the machine of call 3 still warm, its build-cpu-dev reused): call 3's
# bf16 rounds without block_k 512, plus sub_rows 32, for dense, anchor and reuse; then the probe.
B=$PWD/build-cpu-dev; ls $B/bin/ksa-cpu-bench >/dev/null && for m in dense anchor reuse; do KSA_CPU_ISA=amx timeout 100 $B/bin/ksa-cpu-bench --ab "sub_rows=16;sub_rows=32;block_k=128;block_q=32;block_q=128" --mode $m --rounds 11 2>/dev/null; done; timeout 30 $B/bin/ksa-cpu-bench --probe 2>/dev/null | head -1
