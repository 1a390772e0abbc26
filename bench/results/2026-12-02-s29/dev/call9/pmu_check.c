/* pmu_check.c (s29 call 9): does the lent machine's VM give a process hardware counters through
 * perf_event_open (no perf tool there)? Counts cycles, instructions and L1D read misses of a loop. */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int open_counter(uint32_t type, uint64_t config)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = type;
    a.config = config;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

int main(void)
{
    const char *names[3] = {"cycles", "instructions", "L1D read misses"};
    int fd[3] = {open_counter(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES),
                 open_counter(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS),
                 open_counter(PERF_TYPE_HW_CACHE, PERF_COUNT_HW_CACHE_L1D | (PERF_COUNT_HW_CACHE_OP_READ << 8) |
                                                      (PERF_COUNT_HW_CACHE_RESULT_MISS << 16))};
    size_t n = 64u << 20;
    volatile char *buf = malloc(n);
    for (int i = 0; i < 3; i++)
        if (fd[i] >= 0) ioctl(fd[i], PERF_EVENT_IOC_ENABLE, 0);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i += 64) sum += (uint64_t)(buf[i] = (char)i);
    for (int i = 0; i < 3; i++) {
        if (fd[i] < 0) {
            perror(names[i]);
            continue;
        }
        ioctl(fd[i], PERF_EVENT_IOC_DISABLE, 0);
        uint64_t v = 0;
        if (read(fd[i], &v, sizeof v) != (ssize_t)sizeof v) v = 0;
        printf("%s: %llu\n", names[i], (unsigned long long)v);
    }
    printf("(sum %llu)\n", (unsigned long long)sum);
    return 0;
}
