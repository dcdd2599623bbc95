/* The float matrix products of the training core (gemm.h). The nets vanishing-gradient studies
 * use are narrow (widths 32..1024) with batches of 32..256: products too small for a BLAS's
 * per-call overhead and blocking to pay, yet every step is made of them. This is a
 * register-blocked AVX-512 kernel in the BLIS manner, reduced to what such shapes need:
 *
 *   for each panel of NR = 32 columns of C and each KC-deep slice of K:
 *       pack op(B)'s (KC, NR) block contiguously (zero-padded; transposed when trans_b)
 *       for each MR = 8 rows of C: an 8 x 32 tile of C lives in 16 zmm registers, and every
 *           k costs 2 vector loads of B, 8 broadcasts of A and 16 FMAs
 *
 * op(A) is read in place (8 row pointers, or one pointer when trans_a), except a transposed
 * op(A) with rows far apart, packed whole first; packing goes into the caller's scratch.
 * Edges: columns by masks, rows by repeating the last row (its results are not stored). On a
 * CPU without AVX-512, and on every other architecture (arm64: the kernel is compiled only where
 * CMake found the x86-64 AVX-512 intrinsics, VG_HAVE_AVX512), every call goes to cblas_sgemm. */
#include "nn/gemm.h"

#include <cblas.h>
#include <stdint.h>
#include <string.h>

#include "vgsweep/team.h"
#include "vgsweep/nn.h"

#if defined(VG_HAVE_AVX512) && defined(__x86_64__)
#define VG__AVX512 1
#include <immintrin.h>
#else
#define VG__AVX512 0
#endif

#define MR 8
#define NR 32
#define KC 256

/* A transposed op(A) is packed whole (see sgemm_avx512) when it has at most this many floats
 * (1 MiB: W = 2048 at batch 128); larger ones are read in place. */
#define APACK_FLOATS ((int64_t)1 << 18)

/* floats of op(A) (M, K) packed into MR-wide tiles */
static int64_t vg__apack_floats(int M, int K) { return (int64_t)((M + MR - 1) / MR) * MR * K; }

/* a (KC, NR) panel and a packed op(A), each aligned to 64 bytes */
int64_t vg__sgemm_work_floats(int max_m, int max_k) {
    int64_t apack = vg__apack_floats(max_m, max_k);
    return (int64_t)KC * NR + (apack < APACK_FLOATS ? apack : APACK_FLOATS) + 16;
}

#if VG__AVX512
/* ------------------------------------------------------------------ packing op(A) */

/* dst = op(A) for op(A)(i, k) = A[k lda + i] (M, K), as MR-wide tiles: tile t holds
 * op(A)(t MR + r, k) at dst[t K MR + k MR + r]. Rows of A are read once, a line (two tiles)
 * at a time. Columns past M in the last tile are not written (the kernel never reads them). */
__attribute__((target("avx512f"))) static void pack_a_cols(float *dst, const float *A, int lda,
                                                           int M, int K) {
    int64_t tile = (int64_t)K * MR;
    for (int i0 = 0; i0 < M; i0 += 2 * MR) {
        int n = M - i0 < 2 * MR ? M - i0 : 2 * MR;
        __mmask16 mask = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
        float *d0 = dst + (int64_t)(i0 / MR) * tile, *d1 = d0 + tile;
        const float *s = A + i0;
        if (n > MR) {
            for (int k = 0; k < K; k++, s += lda) {
                __m512 v = _mm512_maskz_loadu_ps(mask, s);
                _mm256_store_ps(d0 + k * MR, _mm512_castps512_ps256(v));
                __m256d hi = _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1);
                _mm256_store_ps(d1 + k * MR, _mm256_castpd_ps(hi));
            }
        } else {
            for (int k = 0; k < K; k++, s += lda)
                _mm256_store_ps(d0 + k * MR,
                                _mm512_castps512_ps256(_mm512_maskz_loadu_ps(mask, s)));
        }
    }
}

/* ------------------------------------------------------------------ packing op(B) */

/* dst (kc, NR) = op(B)(k0.., j0..) for op(B)(k, j) = B[k ldb + j]; columns past n are 0. */
__attribute__((target("avx512f"))) static void pack_b_rows(float *dst, const float *B, int ldb,
                                                           int kc, int n) {
    __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
    __mmask16 m1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
    for (int k = 0; k < kc; k++) {
        const float *s = B + (int64_t)k * ldb;
        _mm512_store_ps(dst + k * NR, _mm512_maskz_loadu_ps(m0, s));
        _mm512_store_ps(dst + k * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
    }
}

/* 8 x 8 transpose of rows r[0..7] (AVX). */
#define VG__TRANSPOSE8(r)                                                                     \
    do {                                                                                      \
        __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);      \
        __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);      \
        __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);      \
        __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);      \
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);    \
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);    \
        __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);    \
        __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);    \
        r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);                                          \
        r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);                                          \
        r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);                                          \
        r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);                                          \
        r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);                                          \
        r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);                                          \
        r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);                                          \
        r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);                                          \
    } while (0)

/* dst (kc, NR) = op(B)(k, j) = B[j ldb + k] (a transpose); columns past n are 0. */
__attribute__((target("avx512f"))) static void pack_b_cols(float *dst, const float *B, int ldb,
                                                           int kc, int n) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        int k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(B + (int64_t)(j + i) * ldb + k);
            VG__TRANSPOSE8(r);
            for (int i = 0; i < 8; i++) _mm256_store_ps(dst + (k + i) * NR + j, r[i]);
        }
        for (; k < kc; k++)
            for (int i = 0; i < 8; i++) dst[k * NR + j + i] = B[(int64_t)(j + i) * ldb + k];
    }
    for (; j < NR; j++)
        for (int k = 0; k < kc; k++) dst[k * NR + j] = j < n ? B[(int64_t)j * ldb + k] : 0;
}

/* ------------------------------------------------------------------ the 8 x 32 kernel */

/* c (m <= MR, n <= NR; ldc) = [c +] sum_k a(r, k) bp(k, :) [+ bias]; bp(k, :) at bp + k bs:
 * a packed (kc, NR) panel (bs = NR) or op(B) in place. a(r, k) is read as ar[r][k * acs]. */
#define VG__KERNEL_LOOP(LOAD_A)                                                               \
    for (int k = 0; k < kc; k++) {                                                            \
        __m512 b0 = _mm512_loadu_ps(bp + k * bs), b1 = _mm512_loadu_ps(bp + k * bs + 16);     \
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {                                \
            __m512 av = _mm512_set1_ps(LOAD_A);                                               \
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);                                       \
            acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);                                       \
        }                                                                                     \
    }

__attribute__((target("avx512f"))) static void kernel(int kc, const float *a, int64_t ars,
                                                      int64_t acs, int m, const float *bp,
                                                      int64_t bs, float *c, int64_t ldc, int n,
                                                      int accumulate, const float *bias) {
    __m512 acc0[MR], acc1[MR];
    _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    /* Ask for the C tile now; it is written (and read, when accumulating) after the k loop,
     * which hides the miss: a wide layer's weight gradient is megabytes, out of cache from one
     * step to the next (W = 1024, 20 layers: dW ~110 -> ~160 GFLOP/s with this) */
    _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {
        if (r >= m) break;
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + n - 1), _MM_HINT_T0);
    }
    if (acs == 1) { /* op(A) rows contiguous: 8 row pointers */
        const float *ar[MR];
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) ar[r] = a + (r < m ? r : m - 1) * ars;
        VG__KERNEL_LOOP(ar[r][k])
    } else if (ars == 1 && m == MR) { /* op(A) columns contiguous: one pointer */
        const float *p = a;
        for (int k = 0; k < kc; k++, p += acs) {
            __m512 b0 = _mm512_loadu_ps(bp + k * bs), b1 = _mm512_loadu_ps(bp + k * bs + 16);
            _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {
                __m512 av = _mm512_set1_ps(p[r]);
                acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
                acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
            }
        }
    } else {
        const float *ar[MR];
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) ar[r] = a + (r < m ? r : m - 1) * ars;
        VG__KERNEL_LOOP(ar[r][k * acs])
    }
    __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
    __mmask16 m1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) bias0 = _mm512_maskz_loadu_ps(m0, bias), bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) {
        if (r >= m) break;
        float *cr = c + r * ldc;
        __m512 v0 = acc0[r], v1 = acc1[r];
        if (accumulate) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
        } else {
            v0 = _mm512_add_ps(v0, bias0);
            v1 = _mm512_add_ps(v1, bias1);
        }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}

/* ------------------------------------------------------------------ driver */

/* One product, as the panels of NR columns of C see it. */
typedef struct {
    int trans_b, M, N, K, lda, ldb, accumulate, ldc;
    int64_t ars, acs, a_tile; /* a_tile: floats from one packed op(A) tile to the next; 0: op(A)
                                 read in place */
    const float *A, *B, *bias, *apack;
    float *C, *work;
} vg__product;

/* Columns [j0, j0 + NR) of C, every k and every row: what no other panel reads or writes.
 * work: a (KC, NR) panel of scratch, 64-byte aligned. step: the panel this thread computes
 * after this one, in columns (NR; -NR on a helper of a shared product, vgsweep/team.h). */
__attribute__((target("avx512f"))) static void panel(const vg__product *p, int j0, float *work,
                                                     int step) {
    const int N = p->N, K = p->K, M = p->M, ldb = p->ldb, trans_b = p->trans_b;
    const float *B = p->B;
    int n = N - j0 < NR ? N - j0 : NR;
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        /* op(B) rows are read in place when whole and close together (a long stride
         * would map them onto few cache sets): packing then buys nothing */
        const float *bp = work;
        int64_t bs = NR;
        if (!trans_b && n == NR && ldb <= 512)
            bp = B + (int64_t)k0 * ldb + j0, bs = ldb;
        else if (trans_b)
            pack_b_cols(work, B + (int64_t)j0 * ldb + k0, ldb, kc, n);
        else
            pack_b_rows(work, B + (int64_t)k0 * ldb + j0, ldb, kc, n);
        int acc = p->accumulate || k0 > 0;
        const float *bb = k0 == 0 && p->bias ? p->bias + j0 : NULL;
        /* rows of the next panel to pack, when it comes from op(B) rows a long stride
         * apart: the hardware prefetchers do not see them coming, so the kernels below
         * ask for them, a share each (W = 1024, 20 layers: dX ~135 -> ~145 GFLOP/s) */
        const float *next = NULL;
        int next_rows = 0, next_n = 0, tiles = (M + MR - 1) / MR;
        if (!trans_b && bp == work) {
            int nk0 = k0 + KC < K ? k0 + KC : 0, nj0 = k0 + KC < K ? j0 : j0 + step;
            if (nj0 >= 0 && nj0 < N) {
                next = B + (int64_t)nk0 * ldb + nj0;
                next_rows = K - nk0 < KC ? K - nk0 : KC;
                next_n = N - nj0 < NR ? N - nj0 : NR;
            }
        }
        for (int i0 = 0; i0 < M; i0 += MR) {
            int m = M - i0 < MR ? M - i0 : MR;
            if (next) {
                int t = i0 / MR, r0 = next_rows * t / tiles, r1 = next_rows * (t + 1) / tiles;
                for (int r = r0; r < r1; r++) {
                    _mm_prefetch((const char *)(next + (int64_t)r * ldb), _MM_HINT_T0);
                    _mm_prefetch((const char *)(next + (int64_t)r * ldb + next_n - 1), _MM_HINT_T0);
                }
            }
            const float *a = p->a_tile ? p->apack + (i0 / MR) * p->a_tile + k0 * MR
                                       : p->A + i0 * p->ars + k0 * p->acs;
            kernel(kc, a, p->ars, p->acs, m, bp, bs, p->C + (int64_t)i0 * p->ldc + j0, p->ldc, n,
                   acc, bb);
        }
    }
}

/* A helper's (KC, NR) panel of scratch (its owner uses the arena's). */
static _Thread_local _Alignas(64) float vg__helper_panel[KC * NR];

/* Panel `item` of a shared product, on whichever thread takes it. */
static void panel_item(void *arg, int item, int helper) {
    const vg__product *p = arg;
    panel(p, item * NR, helper ? vg__helper_panel : p->work, helper ? -NR : NR);
}

/* Products with fewer multiply-adds than this stay on their caller even when it has helpers:
 * waking one and waiting for it costs microseconds. */
#define SHARE_MIN_FMAS ((int64_t)1 << 20)

__attribute__((target("avx512f"))) static void sgemm_avx512(int trans_a, int trans_b, int M,
                                                            int N, int K, const float *A, int lda,
                                                            const float *B, int ldb,
                                                            int accumulate, const float *bias,
                                                            float *C, int ldc, float *work) {
    work = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    if (K == 0) { /* C = [C] + bias */
        for (int i = 0; i < M && !accumulate; i++)
            for (int j = 0; j < N; j++) C[(int64_t)i * ldc + j] = bias ? bias[j] : 0;
        return;
    }
    vg__product p = {.trans_b = trans_b, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb,
                     .accumulate = accumulate, .ldc = ldc, .ars = trans_a ? 1 : lda,
                     .acs = trans_a ? lda : 1, .A = A, .B = B, .bias = bias, .C = C,
                     .work = work};
    /* Transposed, op(A) is read MR floats from each of K rows lda apart per tile, again by
     * every panel of C. Rows far apart share few cache sets and evict each other before the
     * next panel comes: packed once into tiles instead (the weight gradient at W = 1024
     * ~180 -> ~210 GFLOP/s, 2048 +11 %, 768 +4 %; no gain at 512 and 256, a loss at 64). */
    /* The panels are independent and each is computed by the same instructions whichever
     * thread runs it: shared with the caller's helpers (vgsweep/team.h) when it has any and
     * the product is worth it, the results are the same bits as serially. */
    int panels = (N + NR - 1) / NR;
    int shared = panels > 1 && (int64_t)M * N * K >= SHARE_MIN_FMAS && vg_team_has_helpers();
    if (trans_a && lda > 512 && N > NR && vg__apack_floats(M, K) <= APACK_FLOATS) {
        float *apack = work + KC * NR;
        p.apack = apack, p.a_tile = (int64_t)K * MR;
        /* on the caller even when it has helpers: shared, it would save ~1 % of the
         * product (a weight gradient's op(A) at W = 1024 is 0.5 MB, ~2 % of it) but put a
         * barrier, the helpers' arrival, on the owner's path, long when a helper is
         * descheduled (a shared machine) */
        pack_a_cols(apack, A, lda, M, K);
        p.ars = 1, p.acs = MR;
    }
    if (shared) {
        vg_team_for(panels, panel_item, &p);
        return;
    }
    for (int j0 = 0; j0 < N; j0 += NR) panel(&p, j0, work, NR);
}

/* libgcc fills the CPU model before main; reading it is a load and a test. */
static int vg__use_avx512(void) { return __builtin_cpu_supports("avx512f"); }
#else
static int vg__use_avx512(void) { return 0; }
static void sgemm_avx512(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, int accumulate, const float *bias, float *C,
                         int ldc, float *work) {
    (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B;
    (void)ldb, (void)accumulate, (void)bias, (void)C, (void)ldc, (void)work;
}
#endif

const char *vg__sgemm_kernel_name(void) { return vg__use_avx512() ? "avx512" : "blas"; }

/* The activations (act_avx512.c) take their AVX-512 forms on the same condition. */
const char *vg_nn_kernel_path(void) { return vg__use_avx512() ? "avx512" : "generic"; }

void vg__sgemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, int accumulate, const float *bias, float *C, int ldc,
               float *work) {
    if (M <= 0 || N <= 0) return;
    if (vg__use_avx512()) {
        sgemm_avx512(trans_a, trans_b, M, N, K, A, lda, B, ldb, accumulate, bias, C, ldc, work);
        return;
    }
    if (!accumulate)
        for (int i = 0; i < M; i++) {
            float *row = C + (int64_t)i * ldc;
            if (bias) memcpy(row, bias, (size_t)N * sizeof *row);
            else memset(row, 0, (size_t)N * sizeof *row);
        }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1, A, lda, B, ldb, 1, C, ldc);
}
