/* The per-checkpoint statistics kernels of a run (stats.c): the histogram of log10|g| and the
 * activation statistics. Internal to src/train; tests/test_stats.c includes it to check them
 * against their reference formulas. */
#ifndef VGSWEEP_TRAIN_STATS_H
#define VGSWEEP_TRAIN_STATS_H

#include <stdint.h>

/* Histogram of log10|g|: bin 0 is [-inf, -20) (exact zeros included), bins 1..50 are
 * [-20 + 0.5 (i-1), -20 + 0.5 i), bin 51 is [5, +inf]. NaN has no bin. */
#define VG_HIST_LO (-20.0)
#define VG_HIST_STEP 0.5
#define VG_HIST_BINS 52

/* The definition of a float's bin, in double precision:
 * floor((log10(|x|) - VG_HIST_LO) / VG_HIST_STEP), clamped to the bins; -1 for NaN. */
int vg__hist_bin_ref(float x);

/* The same bin from the float's bits: |x|'s biased exponent e spans log10(2) < 0.5 decades, so
 * it meets at most two bins: bin = base[e] + (|x|'s bits >= threshold[e]) (threshold
 * 0xFFFFFFFF: one bin). Built once, by binary search over the bit patterns with
 * vg__hist_bin_ref itself, so the two agree on every float (tests/test_stats.c). NaN gets
 * bin VG_HIST_BINS, which the histogram drops. */
typedef struct vg__hist_table {
    uint32_t base[256];
    uint32_t threshold[256];
} vg__hist_table;

/* The table, built at the first call (thread-safe). */
const vg__hist_table *vg__hist_table_get(void);

static inline uint32_t vg__hist_bin_bits(const vg__hist_table *t, uint32_t bits) {
    uint32_t m = bits & 0x7FFFFFFFu, e = m >> 23;
    return t->base[e] + (m >= t->threshold[e]);
}

/* Adds the counts of g's n values to bins (VG_HIST_BINS). Returns their sum of squares, in
 * double, summed as train.c's vg__sum_squares sums it (the same bits): one pass for both. */
double vg__histogram(int64_t *bins, const float *g, int64_t n);

/* Statistics of one hidden layer's activations on the probe batch. */
typedef struct vg__act_stats {
    double mean, std;  /* of a over all entries (std: population, two-pass in double) */
    double saturated;  /* fraction of entries with d < threshold */
    double dead;       /* fraction of columns (units) with d < threshold on every row */
} vg__act_stats;

/* a, d (rows, cols) row-major: the activations phi(u) and phi'(u). col (cols) doubles and
 * alive (cols) bytes are scratch. Sums run in double in a fixed order (per column over the
 * rows, then over the columns), so the result depends only on the data. rows, cols >= 1. */
vg__act_stats vg__activation_stats(const float *a, const float *d, int rows, int cols,
                                   float threshold, double *col, unsigned char *alive);

#endif
