/* ksa_half.h: portable scalar conversions between float32 and the 16-bit storage types (IEEE f16
 * and bfloat16), round-to-nearest-even, NaN and infinity preserved. Used by the reference, the
 * portable CPU level, dispatch's cross-check and the tests. */
#ifndef KSA_HALF_H
#define KSA_HALF_H

#include <stdint.h>
#include <string.h>

static inline float ksa_bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t ksa_f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float ksa_bf16_to_f32(uint16_t h) { return ksa_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t ksa_f32_to_bf16(float f)
{
    uint32_t u = ksa_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float ksa_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    return ksa_bits_to_f32(u);
}

static inline uint16_t ksa_f32_to_f16(float f)
{
    uint32_t u = ksa_f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* overflow (incl. rounding up) -> inf */
    if (absu < 0x38800000u) { /* below the smallest normal: subnormal or zero */
        if (absu < 0x33000000u) return (uint16_t)sign; /* rounds to zero */
        uint32_t exp = absu >> 23;
        uint32_t man = (absu & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - exp; /* 14 .. 24 */
        uint32_t half = 1u << (shift - 1);
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t r = man >> shift;
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = absu - 0x38000000u; /* rebias exponent by (127 - 15) << 23 */
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

#endif /* KSA_HALF_H */
