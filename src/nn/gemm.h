/* The float matrix products of the training core: an AVX-512 register-blocked kernel for the
 * small and medium shapes of narrow nets (every dense product of a step), chosen at run time
 * when the CPU has AVX-512, else cblas_sgemm. Internal to src/nn. */
#ifndef VGSWEEP_NN_GEMM_H
#define VGSWEEP_NN_GEMM_H

#include <stdint.h>

/* C (M, N) = [C +] op(A) op(B) [+ bias], row-major with leading dimensions lda, ldb, ldc:
 *   op(A)(i, k) = trans_a ? A[k lda + i] : A[i lda + k]      (M, K)
 *   op(B)(k, j) = trans_b ? B[j ldb + k] : B[k ldb + j]      (K, N)
 * accumulate: add into C (bias must be NULL); else overwrite C, adding bias (N) to every row
 * when given. work: vg__sgemm_work_floats(M, K) floats of scratch or more, the caller's (no
 * allocation here). The summation order depends on nothing but the shapes: deterministic. */
void vg__sgemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, int accumulate, const float *bias, float *C, int ldc,
               float *work);

/* Scratch vg__sgemm needs for products of up to max_m rows and depth max_k (a packed panel of
 * op(B), and a packed op(A) when transposed): one buffer sized by the largest serves all. */
int64_t vg__sgemm_work_floats(int max_m, int max_k);

/* Which kernel runs: "avx512" or "blas". */
const char *vg__sgemm_kernel_name(void);

#endif
