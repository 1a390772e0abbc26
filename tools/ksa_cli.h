/* ksa_cli.h: strict parsing of the command-line tools' numeric options, header only (ksa-tune,
 * ksa-calibrate, ksa-bench, ksa-demo). The whole argument must be a number inside the option's
 * range; otherwise a sentence naming the program, the option, the range and the value goes to
 * stderr and the function returns 0, so the caller exits with its usage status (2) before doing
 * anything. atoi/atof would take "abc" as 0 and "-1" as a valid number. */
#ifndef KSA_CLI_H
#define KSA_CLI_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* *out = value, a whole number in lo..hi; 1 on success, 0 after the sentence */
static inline int ksa_cli_int(const char *prog, const char *option, const char *value, int64_t lo, int64_t hi,
                              int32_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = value ? strtoll(value, &end, 10) : 0;
    if (!value || end == value || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "%s: %s must be a whole number in %lld..%lld, not '%s'\n", prog, option, (long long)lo,
                (long long)hi, value ? value : "");
        return 0;
    }
    *out = (int32_t)v;
    return 1;
}

enum { KSA_CLI_CLOSED = 0, KSA_CLI_LO_OPEN = 1, KSA_CLI_HI_OPEN = 2 };

/* *out = value, a finite number in the interval lo..hi, each end included unless `open` says
 * otherwise (KSA_CLI_LO_OPEN, KSA_CLI_HI_OPEN); 1 on success, 0 after the sentence */
static inline int ksa_cli_double(const char *prog, const char *option, const char *value, double lo, double hi, int open,
                                 double *out)
{
    char *end = NULL;
    errno = 0;
    double v = value ? strtod(value, &end) : 0;
    int lo_ok = (open & KSA_CLI_LO_OPEN) ? v > lo : v >= lo;
    int hi_ok = (open & KSA_CLI_HI_OPEN) ? v < hi : v <= hi;
    if (!value || end == value || *end || errno || !isfinite(v) || !lo_ok || !hi_ok) {
        fprintf(stderr, "%s: %s must be a number in %c%g, %g%c, not '%s'\n", prog, option,
                (open & KSA_CLI_LO_OPEN) ? '(' : '[', lo, hi, (open & KSA_CLI_HI_OPEN) ? ')' : ']', value ? value : "");
        return 0;
    }
    *out = v;
    return 1;
}

#endif /* KSA_CLI_H */
