/* Per-run random numbers: xoshiro256** seeded through splitmix64. There is no global RNG: every
 * run owns one, seeded from the sweep seed and the run id, so results never depend on the
 * thread, the MPI rank or the order in which runs finish. Normal deviates use Box-Muller with
 * no cached second value, so the stream is a pure function of the seed and the call sequence. */
#ifndef VGSWEEP_RNG_H
#define VGSWEEP_RNG_H

#include <stdint.h>

typedef struct vg_rng {
    uint64_t s[4];
} vg_rng;

uint64_t vg_splitmix64(uint64_t *state);
/* 64-bit FNV-1a of bytes, used for run ids and seed derivation. */
uint64_t vg_hash64(const void *bytes, uint64_t n, uint64_t basis);
/* Mixes two 64-bit values into a well-distributed seed (sweep seed x run-id hash). */
uint64_t vg_seed_mix(uint64_t a, uint64_t b);

void vg_rng_seed(vg_rng *rng, uint64_t seed);
uint64_t vg_rng_u64(vg_rng *rng);
double vg_rng_uniform(vg_rng *rng);                 /* [0, 1), 53 random bits */
double vg_rng_uniform_range(vg_rng *rng, double lo, double hi);
double vg_rng_normal(vg_rng *rng);                  /* N(0, 1) */
/* n draws of N(0, 1), two per pair of uniforms (Marsaglia's polar method): the fast way to
 * fill many, e.g. a data set. Its own sequence, not that of n calls of vg_rng_normal. */
void vg_rng_normals(vg_rng *rng, double *out, int64_t n);
uint64_t vg_rng_below(vg_rng *rng, uint64_t bound); /* uniform integer in [0, bound), unbiased */
void vg_rng_shuffle_i32(vg_rng *rng, int32_t *items, int64_t n); /* Fisher-Yates */

#endif
