/* amx_tilecfg.h: loading an AMX tile configuration (palette 1, LDTILECFG's 64-byte layout), shared by
 * the cpu backend's AMX kernels, tests/cpu and ksa-cpu-bench's AMX probe. x86-64 with GCC or Clang. */
#ifndef KSA_AMX_TILECFG_H
#define KSA_AMX_TILECFG_H

#include <stdint.h>
#include <string.h>

typedef struct ksa_amx_tilecfg {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} ksa_amx_tilecfg;

/* this thread's tiles 0-7 each `rows` rows of `colsb` bytes, tiles 8-15 unused. LDTILECFG is issued
 * with the whole structure as its memory operand: GCC 12's _tile_loadconfig names only its first 8
 * bytes, so GCC may drop the stores of the rest (it did in tests/cpu, and the instruction then
 * faulted on the stack's old bytes). */
static inline void ksa_amx_configure_tiles(int rows, int colsb)
{
    ksa_amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = (uint16_t)colsb;
        cfg.rows[t] = (uint8_t)rows;
    }
    __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

#endif /* KSA_AMX_TILECFG_H */
