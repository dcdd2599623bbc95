#include "vgsweep/rng.h"

#include <math.h>

uint64_t vg_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t vg_hash64(const void *bytes, uint64_t n, uint64_t basis) {
    const unsigned char *p = bytes;
    uint64_t h = basis ? basis : 0xcbf29ce484222325ULL;
    for (uint64_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV's low bits mix poorly; one splitmix round fixes that for short ids. */
    return vg_splitmix64(&h);
}

uint64_t vg_seed_mix(uint64_t a, uint64_t b) {
    uint64_t s = a ^ 0x5851f42d4c957f2dULL;
    uint64_t x = vg_splitmix64(&s);
    s = x ^ b;
    return vg_splitmix64(&s);
}

static inline uint64_t vg__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void vg_rng_seed(vg_rng *rng, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = vg_splitmix64(&sm);
}

uint64_t vg_rng_u64(vg_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = vg__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = vg__rotl(s[3], 45);
    return result;
}

double vg_rng_uniform(vg_rng *rng) { return (double)(vg_rng_u64(rng) >> 11) * 0x1.0p-53; }

double vg_rng_uniform_range(vg_rng *rng, double lo, double hi) {
    return lo + (hi - lo) * vg_rng_uniform(rng);
}

double vg_rng_normal(vg_rng *rng) {
    /* Box-Muller; u1 in (0, 1] so log() is finite. */
    double u1 = 1.0 - vg_rng_uniform(rng);
    double u2 = vg_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

void vg_rng_normals(vg_rng *rng, double *out, int64_t n) {
    for (int64_t i = 0; i < n; i += 2) {
        double u, v, s;
        do { /* a uniform point in the unit disc, not its centre */
            u = 2 * vg_rng_uniform(rng) - 1;
            v = 2 * vg_rng_uniform(rng) - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double f = sqrt(-2 * log(s) / s);
        out[i] = u * f;
        if (i + 1 < n) out[i + 1] = v * f;
    }
}

uint64_t vg_rng_below(vg_rng *rng, uint64_t bound) {
    if (bound <= 1) return 0;
    uint64_t threshold = (0 - bound) % bound; /* 2^64 mod bound: reject to stay unbiased */
    for (;;) {
        uint64_t r = vg_rng_u64(rng);
        if (r >= threshold) return r % bound;
    }
}

void vg_rng_shuffle_i32(vg_rng *rng, int32_t *items, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)vg_rng_below(rng, (uint64_t)i + 1);
        int32_t t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
}
