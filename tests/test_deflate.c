/* The record's zlib stream for shuffled float32 chunks (src/record/deflate.c) against zlib's
 * own inflate: every stream must decompress to its input, for gradient-like planes and for the
 * edge cases of the coder (one symbol, all 256, skew deep enough to need length limiting,
 * planes too random to shrink, stored blocks longer than 64 KiB); and vg_adler32 must be
 * zlib's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "record/deflate.h"
#include "vg_test.h"
#include "vgsweep/rng.h"

static vg_deflater deflater;

static void shuffle4(unsigned char *dst, const unsigned char *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[4 * i], dst[n + i] = src[4 * i + 1];
        dst[2 * n + i] = src[4 * i + 2], dst[3 * n + i] = src[4 * i + 3];
    }
}

/* Compresses n bytes of s, inflates them back with zlib; returns the stream length. */
static size_t roundtrip(const unsigned char *s, size_t n, const char *what) {
    unsigned char *d = malloc(vg_deflate_bound(n)), *u = malloc(n + 16);
    size_t len = vg_deflate_shuffled(&deflater, d, s, n);
    uLongf ul = (uLongf)n + 16;
    int rc = uncompress(u, &ul, d, (uLong)len);
    VG_CHECK_MSG(len <= vg_deflate_bound(n) && rc == Z_OK && ul == n && memcmp(u, s, n) == 0 &&
                     vg_adler32(s, n) == (uint32_t)adler32(1L, s, (uInt)n),
                 "%s, %zu bytes: stream %zu bytes, inflate %d, %lu bytes back", what, n, len, rc,
                 (unsigned long)ul);
    free(d);
    free(u);
    return len;
}

int main(void) {
    vg_rng rng;
    vg_rng_seed(&rng, 42);
    size_t cap = (size_t)4 << 20;
    unsigned char *s = malloc(cap), *plane;
    float *g = malloc(cap);

    /* gradient-like: normal values over several decades, some exact zeros */
    size_t n = 64 * 64, total = 0;
    for (int r = 0; r < 50; r++) {
        for (size_t i = 0; i < n; i++)
            g[i] = vg_rng_uniform(&rng) < 0.05 ? 0.0f
                   : (float)(vg_rng_normal(&rng) * pow(10.0, -8 + 6 * vg_rng_uniform(&rng)));
        shuffle4(s, (const unsigned char *)g, n);
        total += roundtrip(s, 4 * n, "gradient-like");
    }
    printf("gradient-like 64x64 slots: stream %.3f of the raw bytes\n", total / (50.0 * 4 * n));
    VG_CHECK_MSG(total <= 0.95 * 50 * 4 * n, "the exponent plane did not shrink");

    const size_t sizes[] = {4, 8, 12, 40, 4096, 65535 * 4 + 4, 65536 * 4, (size_t)1 << 20, cap};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t m = sizes[k];
        plane = s + m / 4 * 3;
        for (int mode = 0; mode < 5; mode++) {
            for (size_t i = 0; i < m; i++) s[i] = (unsigned char)vg_rng_uniform_range(&rng, 0, 256);
            size_t top = m - m / 4 * 3;
            for (size_t i = 0; i < top; i++) {
                switch (mode) {
                case 0: plane[i] = 0; break;                                      /* one symbol */
                case 1: plane[i] = (unsigned char)i; break;                       /* all 256 */
                case 2: plane[i] = (unsigned char)vg_rng_uniform_range(&rng, 0, 256); break;
                case 3: plane[i] = (unsigned char)vg_rng_uniform_range(&rng, 60, 63); break;
                case 4: { /* geometric: long codes */
                    int v = 0;
                    while (v < 255 && vg_rng_uniform(&rng) < 0.5) v++;
                    plane[i] = (unsigned char)v;
                }
                }
            }
            roundtrip(s, m, "edge case");
        }
    }
    /* dead units: half the rows of a 64x64 gradient exactly zero; and a tensor all zeros:
     * their planes are mostly runs, which must shrink far below the stored size */
    {
        for (size_t i = 0; i < n; i++)
            g[i] = (i / 64) % 2 ? 0.0f : (float)(vg_rng_normal(&rng) * 1e-3);
        shuffle4(s, (const unsigned char *)g, n);
        size_t half = roundtrip(s, 4 * n, "half the rows zero");
        memset(g, 0, 4 * n);
        shuffle4(s, (const unsigned char *)g, n);
        size_t zero = roundtrip(s, 4 * n, "all zeros");
        printf("half the rows zero: %.3f of the raw bytes; all zeros: %.4f\n", half / (4.0 * n),
               zero / (4.0 * n));
        VG_CHECK_MSG(half <= 0.6 * 4 * n && zero <= 0.01 * 4 * n,
                     "runs of zeros did not shrink (%zu, %zu bytes)", half, zero);
    }
    /* Fibonacci counts: an unlimited Huffman code would be ~30 bits deep */
    {
        size_t m = cap, at = m / 4 * 3;
        uint64_t fib[32] = {1, 1};
        for (int i = 2; i < 32; i++) fib[i] = fib[i - 1] + fib[i - 2];
        for (int sym = 0; sym < 32 && at < m; sym++)
            for (uint64_t c = 0; c < fib[sym] && at < m; c++) s[at++] = (unsigned char)sym;
        while (at < m) s[at++] = 31;
        roundtrip(s, m, "Fibonacci skew");
    }
    /* Adler-32 at its largest sums: every byte 255, over more than one reduction of its
     * lanes, from a start that is not 1, and every length up to 100 */
    {
        memset(s, 255, cap);
        for (size_t m = 0; m <= cap; m = m < 100 ? m + 1 : m * 3 + 7) {
            VG_CHECK_MSG(vg_adler32_update(0xFFF0FFF0u, s, m) == (uint32_t)adler32(0xFFF0FFF0uL, s, (uInt)m),
                         "Adler-32 of %zu bytes of 255", m);
        }
    }
    vg_deflater_free(&deflater);
    free(s);
    free(g);
    return vg_test_finish("test_deflate");
}
