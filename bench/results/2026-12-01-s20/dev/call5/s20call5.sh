#!/bin/bash
# s20 call 5: overlap.cu (built here: nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -std=c++17 -I backends/cuda):
# wgmma products and ex2 exponentials alone and together, cycles per SM
D=$PWD/.carry/devbin
nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv
$D/bin/overlap
