/* The checkpoint statistics kernels of src/train/stats.h against their definitions:
 *  - the histogram's bit-level binning (exponent table + threshold) gives the bin of the double
 *    formula floor((log10|x| + 20) / 0.5) on every float tested: 4 million random bit patterns,
 *    4 million random magnitudes across the histogram's range, every threshold and its
 *    neighbours (± 1 and 2 ulp, both signs), zeros, subnormals, infinities and NaNs. (Once, all
 *    2^32 patterns were checked: no difference.) The histogram of an array equals the
 *    formula's counts, NaN dropped;
 *  - the activation statistics: mean and standard deviation within 1e-12 of a long double
 *    two-pass reference (relative; the mean relative to the mean of |a|, its natural scale
 *    when the mean cancels), the saturated and dead fractions exact, on shapes that are not
 *    multiples of the vector width, and bit-identical on a second call. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/stats.h"
#include "vg_test.h"
#include "vgsweep/rng.h"

static float float_of(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static long n_bin_checks = 0, n_bin_mismatch = 0;

/* One float: table bin against the formula (NaN: the table's VG_HIST_BINS). */
static void check_bin(const vg__hist_table *t, uint32_t bits) {
    int ref = vg__hist_bin_ref(float_of(bits));
    uint32_t want = ref < 0 ? VG_HIST_BINS : (uint32_t)ref, got = vg__hist_bin_bits(t, bits);
    n_bin_checks++;
    if (got != want && n_bin_mismatch++ < 10)
        fprintf(stderr, "bits 0x%08x (%.9g): table bin %u, formula %d\n", bits, float_of(bits),
                got, ref);
}

static void test_bins(void) {
    const vg__hist_table *t = vg__hist_table_get();
    VG_CHECK(t == vg__hist_table_get()); /* built once */
    vg_rng rng;
    vg_rng_seed(&rng, 12345);
    /* random bit patterns: all exponents alike, so mostly outside the histogram's range */
    for (int i = 0; i < 4000000; i++) check_bin(t, (uint32_t)vg_rng_u64(&rng));
    /* random magnitudes, log-uniform over [1e-22, 1e7): every bin and edge region */
    for (int i = 0; i < 4000000; i++) {
        float v = (float)pow(10.0, vg_rng_uniform_range(&rng, -22, 7));
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        check_bin(t, bits ^ ((uint32_t)(vg_rng_u64(&rng) & 1) << 31));
    }
    /* every threshold and its neighbours, and every exponent's ends */
    int edges = 0;
    for (uint32_t e = 0; e < 256; e++) {
        for (uint32_t sign = 0; sign <= 1; sign++) {
            uint32_t s = sign << 31, lo = e << 23, hi = lo | 0x7FFFFFu;
            check_bin(t, s | lo);
            check_bin(t, s | hi);
            if (t->threshold[e] == 0xFFFFFFFFu) continue;
            for (int d = -2; d <= 2; d++) check_bin(t, s | (uint32_t)((int64_t)t->threshold[e] + d));
        }
        if (e == 255) continue;
        /* bins rise by one at each edge: inside an exponent, or where one starts (1.0) */
        if (t->threshold[e] != 0xFFFFFFFFu) {
            edges++;
            VG_CHECK_INT_EQ(vg__hist_bin_bits(t, t->threshold[e]),
                            vg__hist_bin_bits(t, t->threshold[e] - 1) + 1);
        }
        if (e > 0) {
            int rise = (int)vg__hist_bin_bits(t, e << 23) - (int)vg__hist_bin_bits(t, (e << 23) - 1);
            VG_CHECK_MSG(rise == 0 || rise == 1, "exponent %u: bins rise by %d", e, rise);
            edges += rise;
        }
    }
    VG_CHECK_INT_EQ(edges, VG_HIST_BINS - 1); /* the 51 edges between bins 0 .. 51 */
    VG_CHECK_INT_EQ(vg__hist_bin_bits(t, 0x3F800000u), vg__hist_bin_ref(1.0f)); /* 1.0: an edge */
    static const uint32_t special[] = {
        0x00000000u, 0x80000000u, 0x00000001u, 0x007FFFFFu, 0x00800000u, /* zeros, subnormals */
        0x7F7FFFFFu, 0x7F800000u, 0xFF800000u,                           /* FLT_MAX, +-inf */
        0x7F800001u, 0x7FC00000u, 0xFFC00000u, 0x7FFFFFFFu, 0xFFFFFFFFu, /* NaNs */
    };
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) check_bin(t, special[i]);
    VG_CHECK_INT_EQ(vg__hist_bin_bits(t, 0x80000000u), 0);
    VG_CHECK_INT_EQ(vg__hist_bin_bits(t, 0xFF800000u), VG_HIST_BINS - 1);
    VG_CHECK_INT_EQ(vg__hist_bin_bits(t, 0x7FC00000u), VG_HIST_BINS);
    VG_CHECK_MSG(n_bin_mismatch == 0, "%ld of %ld floats binned unlike the formula",
                 n_bin_mismatch, n_bin_checks);
    printf("bins: %ld floats, %ld differ from the formula\n", n_bin_checks, n_bin_mismatch);
}

static void test_histogram(void) {
    vg_rng rng;
    vg_rng_seed(&rng, 99);
    for (int n = 0; n <= 1031; n += n < 20 ? 1 : 97) {
        float *g = malloc((size_t)(n ? n : 1) * sizeof(float));
        int64_t want[VG_HIST_BINS] = {0}, got[VG_HIST_BINS] = {0};
        for (int i = 0; i < n; i++) {
            uint64_t r = vg_rng_u64(&rng);
            if (r % 23 == 0 && n % 2) g[i] = NAN; /* NaN-free when n is even: exact sums */
            else if (r % 19 == 0) g[i] = 0;
            else g[i] = (float)(pow(10.0, vg_rng_uniform_range(&rng, -25, 8)) * (r & 1 ? -1 : 1));
            int b = vg__hist_bin_ref(g[i]);
            if (b >= 0) want[b]++;
        }
        got[7] = 5; /* the histogram adds to what is there */
        want[7] += 5;
        /* the sum of squares, in train.c's order: 8 lanes, the rest, then the lanes */
        double lane[8] = {0}, want_sq = 0;
        int i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) lane[j] += (double)g[i + j] * g[i + j];
        for (; i < n; i++) want_sq += (double)g[i] * g[i];
        for (int j = 0; j < 8; j++) want_sq += lane[j];
        double got_sq = vg__histogram(got, g, n);
        VG_CHECK_MSG(memcmp(got, want, sizeof got) == 0, "histogram of %d values", n);
        VG_CHECK_MSG(memcmp(&got_sq, &want_sq, sizeof got_sq) == 0 ||
                         (isnan(got_sq) && isnan(want_sq)),
                     "sum of squares of %d values: %.17g, want %.17g", n, got_sq, want_sq);
        free(g);
    }
}

/* The reference: long double, two passes, in the plain order. */
static void reference(const float *a, const float *d, int rows, int cols, float thr,
                      long double *mean, long double *mean_abs, long double *std,
                      int64_t *saturated, int64_t *dead) {
    int64_t n = (int64_t)rows * cols;
    long double s = 0, sa = 0, q = 0;
    for (int64_t i = 0; i < n; i++) s += a[i], sa += fabsl((long double)a[i]);
    *mean = s / n, *mean_abs = sa / n;
    for (int64_t i = 0; i < n; i++) q += (a[i] - *mean) * (a[i] - *mean);
    *std = sqrtl(q / n);
    *saturated = *dead = 0;
    for (int64_t i = 0; i < n; i++) *saturated += d[i] < thr;
    for (int j = 0; j < cols; j++) {
        int alive = 0;
        for (int r = 0; r < rows; r++) alive |= d[(int64_t)r * cols + j] >= thr;
        *dead += !alive;
    }
}

static void test_activation_stats(void) {
    vg_rng rng;
    vg_rng_seed(&rng, 7);
    static const int shapes[][2] = {{1, 1}, {1, 17}, {3, 1}, {128, 64}, {37, 33}, {512, 100},
                                    {64, 1024}};
    double worst_mean = 0, worst_std = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int kind = 0; kind < 4; kind++) {
            int rows = shapes[s][0], cols = shapes[s][1];
            int64_t n = (int64_t)rows * cols;
            float *a = malloc((size_t)n * sizeof(float)), *d = malloc((size_t)n * sizeof(float));
            double *col = malloc((size_t)cols * sizeof(double));
            unsigned char *alive = malloc((size_t)cols);
            /* kinds: sigmoid-like (mean 0.5, small spread), tanh-like (mean ~0, cancels),
             * relu-like (zeros, some dead units), huge offset (|mean| >> std) */
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < cols; j++) {
                    double z = vg_rng_normal(&rng);
                    float v, dv;
                    switch (kind) {
                    case 0: v = (float)(0.5 + 1e-3 * z), dv = v * (1 - v); break;
                    case 1: v = (float)tanh(z), dv = 1 - v * v; break;
                    case 2:
                        v = j % 5 == 0 || z < 0 ? 0 : (float)z;
                        dv = v > 0 ? 1.0f : 0.0f;
                        break;
                    default: v = (float)(1e4 + 1e-2 * z), dv = (float)vg_rng_uniform(&rng); break;
                    }
                    a[(int64_t)r * cols + j] = v, d[(int64_t)r * cols + j] = dv;
                }
            float thr = kind == 0 ? 0.2499f : 0.05f;
            long double mean, mean_abs, std;
            int64_t saturated, dead;
            reference(a, d, rows, cols, thr, &mean, &mean_abs, &std, &saturated, &dead);
            vg__act_stats st = vg__activation_stats(a, d, rows, cols, thr, col, alive);
            vg__act_stats again = vg__activation_stats(a, d, rows, cols, thr, col, alive);
            double em = mean_abs > 0 ? (double)(fabsl(st.mean - mean) / mean_abs) : fabs(st.mean);
            double es = std > 0 ? (double)(fabsl(st.std - std) / std) : fabs(st.std);
            if (em > worst_mean) worst_mean = em;
            if (es > worst_std) worst_std = es;
            VG_CHECK_MSG(em <= 1e-12, "shape %dx%d kind %d: mean %.17g vs %.17Lg", rows, cols,
                         kind, st.mean, mean);
            VG_CHECK_MSG(es <= 1e-12, "shape %dx%d kind %d: std %.17g vs %.17Lg", rows, cols,
                         kind, st.std, std);
            VG_CHECK_MSG(st.saturated == (double)saturated / n, "shape %dx%d kind %d: saturated",
                         rows, cols, kind);
            VG_CHECK_MSG(st.dead == (double)dead / cols, "shape %dx%d kind %d: dead %g vs %g",
                         rows, cols, kind, st.dead, (double)dead / cols);
            VG_CHECK(memcmp(&st, &again, sizeof st) == 0);
            free(a), free(d), free(col), free(alive);
        }
    printf("activation statistics: worst relative error mean %.3g, std %.3g\n", worst_mean,
           worst_std);
}

int main(void) {
    test_bins();
    test_histogram();
    test_activation_stats();
    return vg_test_finish("test_stats");
}
