/* fake_backend.h: a test-only backend for the autotuner tests. Host memory; computes with the
 * reference but sleeps per configuration so timing is predictable, and one planted configuration
 * (block=64) is the fastest but writes a wrong output, so the tuner must reject it. */
#ifndef KSA_TEST_FAKE_BACKEND_H
#define KSA_TEST_FAKE_BACKEND_H

#include "ksa_internal.h"

/* Behaviour switch: 0 = block=16 is the honest winner; 1 = the built-in is fastest. */
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
