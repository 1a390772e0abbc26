/* amx_probe.h: AMX-BF16 rate probes for ksa-cpu-bench (amx_probe.c): the tile unit's rate with
 * operands in L1, and a plain 2x2-tiled GEMM streaming from L2. TFLOP/s over `threads` threads
 * running at once for about `seconds`; -1 where AMX is not usable or a thread could not run. */
#ifndef KSA_BENCH_AMX_PROBE_H
#define KSA_BENCH_AMX_PROBE_H

double amx_probe_tile_peak_tflops(int threads, double seconds);
double amx_probe_gemm_tflops(int threads, double seconds);
/* tdpbf16ps alone, no operand loads: the multiply rate */
double amx_probe_dp_only_tflops(int threads, double seconds);
/* the multiply-only loop (tile_loop 0) or the tile-peak loop (1) alone on each of logical CPUs
 * 0 .. ncpus - 1 in turn, about `seconds` each: tflops[cpu]; returns ncpus, or -1 where AMX is not
 * usable or a thread could not run */
int amx_probe_solo_tflops(int ncpus, int tile_loop, double seconds, double *tflops);

#endif
