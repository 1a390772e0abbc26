/* fake_backend.h: a test-only backend for the autotuner tests. Host memory; computes with the
 * reference and takes a set time per configuration (fake_times), either sleeping or, with
 * fake_simulate_time(1), advancing a simulated clock that the tuner reads instead of the real one,
 * so the tuner's measurements are exact and do not depend on the machine's load. Optional noise:
 * each call's time times (1 + u), u from a seeded pseudo-random sequence. One planted
 * configuration (block=64) is the fastest but writes a wrong output, so the tuner must reject it. */
#ifndef KSA_TEST_FAKE_BACKEND_H
#define KSA_TEST_FAKE_BACKEND_H

#include "ksa_internal.h"

/* The time of a call in ms; fake_timing_reset() restores the defaults given here. */
typedef struct fake_timing {
    double builtin_ms;       /* no configuration (the built-in heuristic): 8 */
    double block_ms[3];      /* block = 16, 32, 64: 2, 8, 0 (64 is the planted wrong one) */
    double unroll2_extra_ms; /* added for unroll=2: 1 */
    double noise;            /* 0: no noise; else each call's time times (1 + u), u uniform in [-noise, noise] */
    uint64_t noise_seed;     /* the sequence of u restarts from it at fake_timing_reset and when it changes */
} fake_timing;
extern fake_timing fake_times;
void fake_timing_reset(void);

/* 1: calls do not sleep but advance a simulated clock, installed as the tuner's call clock
 * (ksa_tune_set_clock); 0 (the default): calls sleep and the tuner reads the real clock. */
void fake_simulate_time(int on);
/* Simulated clock only: what each stream synchronisation adds (ms; default 0), like a GPU's launch
 * and synchronisation latency. */
extern double fake_sync_ms;
/* Simulated clock only: what a fill of 64 MiB or more adds (ms; default 0); such fills write nothing. */
extern double fake_fill_ms;
/* 1: the backend says its tensors are not host memory (host_memory 0), as a GPU backend does, so
 * the tuner times short calls back to back; 0 (the default): host memory. Memory stays malloc'd. */
void fake_set_queued(int on);
/* Calls the fake backend has run (attention calls that reached the timing). */
extern int64_t fake_calls;

/* Behaviour switch: 0 = block=16 is the honest winner; 1 = the built-in is fastest (0 ms, every
 * configuration 4 ms slower than in fake_times). */
extern int fake_builtin_fastest;
/* 1: block=16 becomes slow (12 ms) when the longest key length is <= 70 (a config that wins at the
 * top of a length bucket and loses at its bottom). */
extern int fake_small_penalty;
/* 1: the combination block=16,unroll=2 is refused with KSA_STATUS_UNSUPPORTED (an invalid
 * combination of otherwise valid values). */
extern int fake_refuse_combo;
/* Configuration the last attention call received (count 0 = built-in). */
extern int32_t fake_last_config[KSA_MAX_TUNABLES];
extern int32_t fake_last_config_count;

/* A device on the fake backend (lives as long as the test program). */
ksa_device fake_device(void);

/* A fresh temporary folder under $TMPDIR (or /tmp) for a test program, and its removal. */
int atest_make_tmpdir(char *buf, size_t len, const char *tag);
int atest_remove_tmpdir(const char *dir);

#endif
