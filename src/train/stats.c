/* The per-checkpoint statistics kernels (stats.h): cheap, vectorizable, and dependent on
 * nothing but their inputs. */
#include "train/stats.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ histogram */

int vg__hist_bin_ref(float x) {
    float v = x < 0 ? -x : x;
    if (!(v == v)) return -1; /* NaN: no bin */
    if (v == 0) return 0;
    double e = floor((log10((double)v) - VG_HIST_LO) / VG_HIST_STEP);
    return e < 0 ? 0 : e >= VG_HIST_BINS - 2 ? VG_HIST_BINS - 1 : 1 + (int)e;
}

static float vg__float_of(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static vg__hist_table vg__table;
static pthread_once_t vg__table_once = PTHREAD_ONCE_INIT;

static void vg__table_build(void) {
    for (uint32_t e = 0; e < 255; e++) {
        uint32_t lo = e << 23, hi = lo | 0x7FFFFFu;
        int b_lo = vg__hist_bin_ref(vg__float_of(lo)), b_hi = vg__hist_bin_ref(vg__float_of(hi));
        vg__table.base[e] = (uint32_t)b_lo;
        vg__table.threshold[e] = 0xFFFFFFFFu;
        if (b_hi == b_lo) continue;
        /* the smallest pattern of the exponent in a higher bin: ref(first) > b_lo, and every
         * pattern below it (from lo) is in b_lo (the formula is monotone: tests/test_stats.c) */
        uint32_t below = lo, first = hi;
        while (first - below > 1) {
            uint32_t mid = below + (first - below) / 2;
            if (vg__hist_bin_ref(vg__float_of(mid)) > b_lo) first = mid;
            else below = mid;
        }
        vg__table.threshold[e] = first;
        /* b_hi == b_lo + 1: log10(2) < VG_HIST_STEP, so an exponent never spans three bins */
        if (b_hi != b_lo + 1) abort();
    }
    /* exponent 255: infinity in the top bin, NaN (any larger pattern) one past the bins */
    vg__table.base[255] = VG_HIST_BINS - 1;
    vg__table.threshold[255] = 0x7F800001u;
}

const vg__hist_table *vg__hist_table_get(void) {
    pthread_once(&vg__table_once, vg__table_build);
    return &vg__table;
}

#define VG__HIST_CHUNK 256 /* bins computed (vectorized) per block, then counted */
#define VG__HIST_WAYS 4    /* interleaved count arrays: repeated bins do not serialize */

double vg__histogram(int64_t *bins, const float *g, int64_t n) {
    const vg__hist_table *t = vg__hist_table_get();
    int64_t count[VG__HIST_WAYS][VG_HIST_BINS + 1];
    uint32_t idx[VG__HIST_CHUNK];
    /* the sum of squares as vg__sum_squares (train.c) adds it: 8 lanes over the first
     * n - n % 8 values, then the rest, then the lanes */
    double lane[8] = {0}, rest = 0;
    const int64_t n8 = n - n % 8;
    memset(count, 0, sizeof count);
    for (int64_t start = 0; start < n; start += VG__HIST_CHUNK) {
        int m = n - start < VG__HIST_CHUNK ? (int)(n - start) : VG__HIST_CHUNK;
        const float *x = g + start;
        for (int i = 0; i < m; i++) {
            uint32_t bits;
            memcpy(&bits, &x[i], sizeof bits);
            idx[i] = vg__hist_bin_bits(t, bits);
        }
        /* start is a multiple of 8: lane j holds the values at i = j (mod 8) */
        int m8 = n8 - start < m ? (int)(n8 - start) : m;
        for (int i = 0; i < m8; i += 8)
            for (int j = 0; j < 8; j++) lane[j] += (double)x[i + j] * x[i + j];
        for (int i = m8; i < m; i++) rest += (double)x[i] * x[i];
        int i = 0;
        for (; i + VG__HIST_WAYS <= m; i += VG__HIST_WAYS)
            for (int w = 0; w < VG__HIST_WAYS; w++) count[w][idx[i + w]]++;
        for (; i < m; i++) count[0][idx[i]]++;
    }
    for (int b = 0; b < VG_HIST_BINS; b++) /* count[.][VG_HIST_BINS]: NaN, dropped */
        for (int w = 0; w < VG__HIST_WAYS; w++) bins[b] += count[w][b];
    for (int j = 0; j < 8; j++) rest += lane[j];
    return rest;
}

/* ------------------------------------------------------------------ activations */

vg__act_stats vg__activation_stats(const float *restrict a, const float *restrict d, int rows,
                                   int cols, float threshold, double *restrict col,
                                   unsigned char *restrict alive) {
    const int64_t n = (int64_t)rows * cols;
    int64_t saturated = 0;
    /* pass 1: column sums of a, saturated entries, units alive on some row */
    for (int j = 0; j < cols; j++) col[j] = 0, alive[j] = 0;
    for (int r = 0; r < rows; r++) {
        const float *ar = a + (int64_t)r * cols, *dr = d + (int64_t)r * cols;
        for (int j = 0; j < cols; j++) {
            col[j] += (double)ar[j];
            alive[j] |= dr[j] >= threshold;
            saturated += dr[j] < threshold;
        }
    }
    double sum = 0;
    int64_t dead = 0;
    for (int j = 0; j < cols; j++) sum += col[j], dead += !alive[j];
    const double mean = sum / (double)n;
    /* pass 2: the centred squares (two passes: no cancellation when |mean| >> std) */
    for (int j = 0; j < cols; j++) col[j] = 0;
    for (int r = 0; r < rows; r++) {
        const float *ar = a + (int64_t)r * cols;
        for (int j = 0; j < cols; j++) {
            double x = (double)ar[j] - mean;
            col[j] += x * x;
        }
    }
    double sq = 0;
    for (int j = 0; j < cols; j++) sq += col[j];
    vg__act_stats s = {mean, sqrt(sq / (double)n), (double)saturated / (double)n,
                       (double)dead / cols};
    return s;
}
