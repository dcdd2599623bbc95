/* The MLP, written once for any float type. Included by mlp_f32.c and mlp_f64.c after they
 * define:
 *   real         float or double
 *   SFX(name)    name##_f32 or name##_f64 (the public suffix)
 *   MLP_FN(name) vg_mlp_f32_##name or vg_mlp_f64_##name
 *   MODEL_FN(name) vg_model_f32_##name or vg_model_f64_##name (nn/model_impl.h, nn/mlp_model_impl.h)
 *   GEMM         cblas_sgemm or cblas_dgemm
 *   EXP, EXPM1, TANH, ERF   the math functions of that type
 *   VG_MLP_FLOAT_KERNELS  (float only) the dense products use nn/gemm.h's kernel, not GEMM, and
 *                the libm-bound activations nn/act_avx512.h's vector forms on AVX-512 CPUs
 * Kernels come in pairs, forward and backward side by side, arguments ordered outputs, inputs,
 * sizes; backward adds into parameter gradients. The model is stated in include/vgsweep/nn.h
 * and docs/MODEL.md. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "vgsweep/targets.h"
#include "vgsweep/model.h"
#include "vgsweep/nn.h"
#include "vgsweep/settings.h"
#ifdef VG_MLP_FLOAT_KERNELS
#include "nn/act_avx512.h"
#include "nn/gemm.h"
#include "vgsweep/team.h"
#endif

#define MLP SFX(vg_mlp)

/* SELU's constants (Klambauer et al. 2017), as torch.nn.SELU. */
#define VG_SELU_LAMBDA 1.0507009873554804934193349852946
#define VG_SELU_ALPHA 1.6732632423543772848170429916717

/* ---------------------------------------------------------------- activations */

void SFX(vg_act_forward)(real *a, const real *u, int64_t n, int activation, double param) {
    const real p = (real)param;
#ifdef VG_MLP_FLOAT_KERNELS
    if (vg__act_avx512_handles(activation)) {
        vg__act_forward_avx512(a, u, n, activation, p);
        return;
    }
#endif
    switch (activation) {
    case VG_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) a[i] = (real)1 / ((real)1 + EXP(-u[i]));
        break;
    case VG_ACT_TANH:
        for (int64_t i = 0; i < n; i++) a[i] = TANH(u[i]);
        break;
    case VG_ACT_RELU:
        for (int64_t i = 0; i < n; i++) a[i] = u[i] > 0 ? u[i] : 0;
        break;
    case VG_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) a[i] = u[i] > 0 ? u[i] : p * u[i];
        break;
    case VG_ACT_ELU: /* z > 0 ? z : alpha (e^z - 1) */
        for (int64_t i = 0; i < n; i++) a[i] = u[i] > 0 ? u[i] : p * EXPM1(u[i]);
        break;
    case VG_ACT_SELU: { /* lambda (z > 0 ? z : alpha (e^z - 1)) */
        const real l = (real)VG_SELU_LAMBDA, la = (real)(VG_SELU_LAMBDA * VG_SELU_ALPHA);
        for (int64_t i = 0; i < n; i++) a[i] = u[i] > 0 ? l * u[i] : la * EXPM1(u[i]);
        break;
    }
    case VG_ACT_GELU: { /* z Phi(z), the exact (erf) form, as torch.nn.GELU() */
        const real r = (real)0.70710678118654752440;
        for (int64_t i = 0; i < n; i++) a[i] = (real)0.5 * u[i] * ((real)1 + ERF(u[i] * r));
        break;
    }
    case VG_ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++) a[i] = u[i] / ((real)1 + (u[i] < 0 ? -u[i] : u[i]));
        break;
    case VG_ACT_SWISH: /* z sigmoid(z), torch.nn.SiLU */
        for (int64_t i = 0; i < n; i++) a[i] = u[i] / ((real)1 + EXP(-u[i]));
        break;
    case VG_ACT_LINEAR:
    default:
        if (a != u) memcpy(a, u, (size_t)n * sizeof *a);
    }
}

void SFX(vg_act_backward)(real *du, const real *da, const real *u, const real *a, int64_t n,
                          int activation, double param) {
    const real p = (real)param;
#ifdef VG_MLP_FLOAT_KERNELS
    if (vg__act_avx512_handles(activation)) {
        vg__act_backward_avx512(du, da, u, a, n, activation, p);
        return;
    }
#endif
    switch (activation) {
    case VG_ACT_SIGMOID: /* phi' = a (1 - a) */
        for (int64_t i = 0; i < n; i++) du[i] = da[i] * a[i] * ((real)1 - a[i]);
        break;
    case VG_ACT_TANH: /* phi' = 1 - a^2 */
        for (int64_t i = 0; i < n; i++) du[i] = da[i] * ((real)1 - a[i] * a[i]);
        break;
    /* da is read whatever the sign: read only where u > 0, it became a masked load the
     * compiler spilled around (8 % of a D = 50, W = 64 ReLU step; a blend now) */
    case VG_ACT_RELU: /* phi' = [z > 0] (0 at z = 0, as PyTorch) */
        for (int64_t i = 0; i < n; i++) {
            real g = da[i];
            du[i] = u[i] > 0 ? g : 0;
        }
        break;
    case VG_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) {
            real g = da[i];
            du[i] = u[i] > 0 ? g : p * g;
        }
        break;
    case VG_ACT_ELU: /* for z <= 0: alpha e^z = a + alpha */
        for (int64_t i = 0; i < n; i++) du[i] = u[i] > 0 ? da[i] : da[i] * (a[i] + p);
        break;
    case VG_ACT_SELU: { /* for z <= 0: lambda alpha e^z = a + lambda alpha */
        const real l = (real)VG_SELU_LAMBDA, la = (real)(VG_SELU_LAMBDA * VG_SELU_ALPHA);
        for (int64_t i = 0; i < n; i++) du[i] = u[i] > 0 ? l * da[i] : da[i] * (a[i] + la);
        break;
    }
    case VG_ACT_GELU: { /* Phi(z) + z phi(z) */
        const real r = (real)0.70710678118654752440, c = (real)0.39894228040143267794;
        for (int64_t i = 0; i < n; i++) {
            real cdf = (real)0.5 * ((real)1 + ERF(u[i] * r));
            real pdf = c * EXP((real)-0.5 * u[i] * u[i]);
            du[i] = da[i] * (cdf + u[i] * pdf);
        }
        break;
    }
    case VG_ACT_SOFTSIGN: /* 1 / (1 + |z|)^2 */
        for (int64_t i = 0; i < n; i++) {
            real d = (real)1 + (u[i] < 0 ? -u[i] : u[i]);
            du[i] = da[i] / (d * d);
        }
        break;
    case VG_ACT_SWISH: /* s + a (1 - s), s = sigmoid(z) */
        for (int64_t i = 0; i < n; i++) {
            real s = (real)1 / ((real)1 + EXP(-u[i]));
            du[i] = da[i] * (s + a[i] * ((real)1 - s));
        }
        break;
    case VG_ACT_LINEAR:
    default:
        if (du != da) memcpy(du, da, (size_t)n * sizeof *du);
    }
}

/* ---------------------------------------------------------------- shared element-wise work */

#ifdef VG_MLP_FLOAT_KERNELS
/* An activation over n elements, in chunks a team's helpers may take (vgsweep/team.h). Every
 * element is computed by the same instructions wherever a chunk starts: chunks start at
 * multiples of 16 elements, where the AVX-512 forms' vectors start too, and the scalar forms
 * are element by element (no contraction in ISO C). */
#define VG_ACT_CHUNK 16384       /* elements per chunk, a multiple of 16 */
#define VG_ACT_SHARE_MIN 65536   /* fewer elements stay on the caller */

typedef struct {
    real *out;
    const real *in, *u, *a;
    int64_t n;
    int activation, backward;
    double param;
} SFX(vg__act_job);

static void SFX(act_chunk)(void *arg, int item, int helper) {
    (void)helper;
    const SFX(vg__act_job) *j = arg;
    int64_t i0 = (int64_t)item * VG_ACT_CHUNK, len = j->n - i0 < VG_ACT_CHUNK ? j->n - i0 : VG_ACT_CHUNK;
    if (j->backward)
        SFX(vg_act_backward)(j->out + i0, j->in + i0, j->u + i0, j->a + i0, len, j->activation,
                             j->param);
    else
        SFX(vg_act_forward)(j->out + i0, j->in + i0, len, j->activation, j->param);
}

/* vg_act_forward, or with du and a: vg_act_backward(du = out, da = in, u, a). */
static void SFX(act_shared)(real *out, const real *in, const real *u, const real *a, int64_t n,
                            int activation, double param, int backward) {
    if (n < VG_ACT_SHARE_MIN || !vg_team_has_helpers()) {
        if (backward) SFX(vg_act_backward)(out, in, u, a, n, activation, param);
        else SFX(vg_act_forward)(out, in, n, activation, param);
        return;
    }
    SFX(vg__act_job) j = {out, in, u, a, n, activation, backward, param};
    vg_team_for((int)((n + VG_ACT_CHUNK - 1) / VG_ACT_CHUNK), SFX(act_chunk), &j);
}
#else
static void SFX(act_shared)(real *out, const real *in, const real *u, const real *a, int64_t n,
                            int activation, double param, int backward) {
    if (backward) SFX(vg_act_backward)(out, in, u, a, n, activation, param);
    else SFX(vg_act_forward)(out, in, n, activation, param);
}
#endif

/* ---------------------------------------------------------------- dense */

/* C (M, N) = [C +] op(A) op(B) [+ bias] (see nn/gemm.h): the float core runs its own kernel
 * (AVX-512 when the CPU has it), the double one BLAS. work: the arena's gemm scratch. */
static void SFX(gemm)(int ta, int tb, int M, int N, int K, const real *A, int lda, const real *B,
                      int ldb, int accumulate, const real *bias, real *C, int ldc, real *work) {
#ifdef VG_MLP_FLOAT_KERNELS
    vg__sgemm(ta, tb, M, N, K, A, lda, B, ldb, accumulate, bias, C, ldc, work);
#else
    (void)work;
    if (!accumulate)
        for (int r = 0; r < M; r++) {
            if (bias) memcpy(C + (int64_t)r * ldc, bias, (size_t)N * sizeof *C);
            else memset(C + (int64_t)r * ldc, 0, (size_t)N * sizeof *C);
        }
    GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1,
         A, lda, B, ldb, 1, C, ldc);
#endif
}

/* out (B, OC) = inp (B, C) W^T + b, with W (OC, C), b (OC). */
static void SFX(dense_forward)(real *out, const real *inp, const real *W, const real *b, int B,
                               int C, int OC, real *work) {
    SFX(gemm)(0, 1, B, OC, C, inp, C, W, C, 0, b, out, OC, work);
}

/* dW (OC, C) += dout^T inp (= when overwrite); db (OC) += column sums of dout; dinp (B, C) =
 * dout W (overwritten; NULL to skip: the first layer needs no input gradient). */
static void SFX(dense_backward)(real *dinp, real *dW, real *db, const real *dout, const real *inp,
                                const real *W, int B, int C, int OC, int overwrite, real *work) {
    SFX(gemm)(1, 0, OC, C, B, dout, OC, inp, C, !overwrite, NULL, dW, C, work);
    for (int r = 0; r < B; r++) {
        const real *row = dout + (int64_t)r * OC;
        for (int o = 0; o < OC; o++) db[o] += row[o];
    }
    if (dinp) SFX(gemm)(0, 0, B, C, OC, dout, OC, W, C, 0, NULL, dinp, C, work);
}

/* ---------------------------------------------------------------- batch norm (per feature) */

/* Training/probe: mean and biased variance over the B rows of z (B, N); out = gamma xhat + beta.
 * Eval: the running statistics instead. Training also moves the running statistics toward the
 * batch's (unbiased variance, as torch.nn.BatchNorm1d). mean (N) is scratch. */
static void SFX(batchnorm_forward)(real *restrict out, real *restrict xhat, real *restrict rstd,
                                   real *restrict mean, real *run_mean, real *run_var,
                                   const real *restrict z, const real *restrict gamma,
                                   const real *restrict beta, int B, int N, vg_pass pass,
                                   double momentum, double eps) {
    if (pass == VG_PASS_EVAL) {
        for (int j = 0; j < N; j++) {
            mean[j] = run_mean[j];
            rstd[j] = (real)(1.0 / sqrt((double)run_var[j] + eps));
        }
    } else {
        for (int j = 0; j < N; j++) mean[j] = 0, rstd[j] = 0;
        for (int r = 0; r < B; r++)
            for (int j = 0; j < N; j++) mean[j] += z[(int64_t)r * N + j];
        for (int j = 0; j < N; j++) mean[j] /= (real)B;
        for (int r = 0; r < B; r++)
            for (int j = 0; j < N; j++) {
                real d = z[(int64_t)r * N + j] - mean[j];
                rstd[j] += d * d; /* sum of squares, for now */
            }
        for (int j = 0; j < N; j++) {
            double var = (double)rstd[j] / B;
            if (pass == VG_PASS_TRAIN) {
                run_mean[j] = (real)((1 - momentum) * run_mean[j] + momentum * mean[j]);
                if (B > 1)
                    run_var[j] = (real)((1 - momentum) * run_var[j] + momentum * var * B / (B - 1));
            }
            rstd[j] = (real)(1.0 / sqrt(var + eps));
        }
    }
    for (int r = 0; r < B; r++)
        for (int j = 0; j < N; j++) {
            int64_t i = (int64_t)r * N + j;
            xhat[i] = (z[i] - mean[j]) * rstd[j];
            out[i] = gamma[j] * xhat[i] + beta[j];
        }
}

/* dz = rstd / B (B dxhat - sum dxhat - xhat sum(dxhat xhat)), dxhat = dout gamma;
 * dgamma += sum dout xhat; dbeta += sum dout (sums over rows). s1, s2 (N) are scratch. */
static void SFX(batchnorm_backward)(real *restrict dz, real *restrict dgamma,
                                    real *restrict dbeta, real *restrict s1, real *restrict s2,
                                    const real *restrict dout, const real *restrict xhat,
                                    const real *restrict rstd, const real *restrict gamma, int B,
                                    int N) {
    for (int j = 0; j < N; j++) s1[j] = 0, s2[j] = 0;
    for (int r = 0; r < B; r++)
        for (int j = 0; j < N; j++) {
            int64_t i = (int64_t)r * N + j;
            s1[j] += dout[i];
            s2[j] += dout[i] * xhat[i];
        }
    for (int j = 0; j < N; j++) dbeta[j] += s1[j], dgamma[j] += s2[j];
    for (int r = 0; r < B; r++)
        for (int j = 0; j < N; j++) {
            int64_t i = (int64_t)r * N + j;
            /* with dxhat = gamma dout, both sums carry the factor gamma */
            dz[i] = gamma[j] * rstd[j] / (real)B * ((real)B * dout[i] - s1[j] - xhat[i] * s2[j]);
        }
}

/* ---------------------------------------------------------------- layer norm (per row) */

static void SFX(layernorm_forward)(real *out, real *xhat, real *rstd, const real *z,
                                   const real *gamma, const real *beta, int B, int N, double eps) {
    for (int r = 0; r < B; r++) {
        const real *zr = z + (int64_t)r * N;
        double mean = 0, var = 0;
        for (int j = 0; j < N; j++) mean += zr[j];
        mean /= N;
        for (int j = 0; j < N; j++) var += (zr[j] - mean) * (zr[j] - mean);
        var /= N;
        rstd[r] = (real)(1.0 / sqrt(var + eps));
        real *xr = xhat + (int64_t)r * N, *o = out + (int64_t)r * N;
        for (int j = 0; j < N; j++) {
            xr[j] = (real)(zr[j] - mean) * rstd[r];
            o[j] = gamma[j] * xr[j] + beta[j];
        }
    }
}

/* dz = rstd / N (N dxhat - sum dxhat - xhat sum(dxhat xhat)), dxhat = dout gamma, sums over a
 * row's N features; dgamma, dbeta accumulate over rows. */
static void SFX(layernorm_backward)(real *dz, real *dgamma, real *dbeta, const real *dout,
                                    const real *xhat, const real *rstd, const real *gamma, int B,
                                    int N) {
    for (int r = 0; r < B; r++) {
        const real *d = dout + (int64_t)r * N, *x = xhat + (int64_t)r * N;
        real *o = dz + (int64_t)r * N;
        real s1 = 0, s2 = 0;
        for (int j = 0; j < N; j++) {
            real dx = d[j] * gamma[j];
            s1 += dx;
            s2 += dx * x[j];
            dgamma[j] += d[j] * x[j];
            dbeta[j] += d[j];
        }
        for (int j = 0; j < N; j++)
            o[j] = rstd[r] / (real)N * ((real)N * d[j] * gamma[j] - s1 - x[j] * s2);
    }
}

/* ---------------------------------------------------------------- losses */

/* Softmax cross-entropy. probs (B, V) = softmax(logits); returns the summed (not mean) loss over
 * rows with labels y (NULL: 0) and adds correct argmax predictions to *n_correct. */
static double SFX(softmax_xent_forward)(real *probs, const real *logits, const int32_t *y, int B,
                                        int V, int64_t *n_correct) {
    double loss_sum = 0;
    for (int r = 0; r < B; r++) {
        const real *lg = logits + (int64_t)r * V;
        real *p = probs + (int64_t)r * V;
        real maxv = lg[0];
        int argmax = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > maxv) maxv = lg[v], argmax = v;
        double sum = 0;
        for (int v = 0; v < V; v++) {
            p[v] = EXP(lg[v] - maxv);
            sum += p[v];
        }
        for (int v = 0; v < V; v++) p[v] = (real)(p[v] / sum);
        if (y) {
            /* log p_y from the logits, not from the rounded probability */
            loss_sum += -((double)lg[y[r]] - (double)maxv - log(sum));
            if (n_correct && argmax == y[r]) (*n_correct)++;
        }
        /* a NaN logit makes every comparison false; the loss turns NaN and the run stops */
    }
    return loss_sum;
}

/* dlogits (B, V) = (probs - onehot(y)) / B: the gradient of the batch-mean loss. */
static void SFX(softmax_xent_backward)(real *dlogits, const real *probs, const int32_t *y, int B,
                                       int V) {
    real inv_b = (real)1 / (real)B;
    for (int r = 0; r < B; r++) {
        const real *p = probs + (int64_t)r * V;
        real *d = dlogits + (int64_t)r * V;
        for (int v = 0; v < V; v++) d[v] = p[v] * inv_b;
        d[y[r]] -= inv_b;
    }
}

/* Mean squared error of the logits to one-hot targets, averaged over classes (torch's
 * MSELoss(reduction="mean") over a (B, V) batch, once divided by B by the caller). Returns the
 * sum over rows of each row's mean. */
static double SFX(mse_forward)(const real *logits, const int32_t *y, int B, int V,
                               int64_t *n_correct) {
    double loss_sum = 0;
    for (int r = 0; r < B; r++) {
        const real *lg = logits + (int64_t)r * V;
        int argmax = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > lg[argmax]) argmax = v;
        if (!y) continue;
        double s = 0;
        for (int v = 0; v < V; v++) {
            double d = (double)lg[v] - (v == y[r]);
            s += d * d;
        }
        loss_sum += s / V;
        if (n_correct && argmax == y[r]) (*n_correct)++;
    }
    return loss_sum;
}

/* dlogits = 2 (logits - onehot) / (B V). */
static void SFX(mse_backward)(real *dlogits, const real *logits, const int32_t *y, int B, int V) {
    real c = (real)2 / ((real)B * (real)V);
    for (int r = 0; r < B; r++)
        for (int v = 0; v < V; v++) {
            int64_t i = (int64_t)r * V + v;
            dlogits[i] = c * (logits[i] - (real)(v == y[r]));
        }
}

/* Mean squared error of the outputs to real targets t (B, V): the sum over rows of each row's
 * mean (divided by B by the caller: torch's MSELoss(reduction="mean")). */
static double SFX(mse_real_forward)(const real *out, const real *t, int B, int V) {
    double loss_sum = 0;
    for (int r = 0; r < B; r++) {
        double s = 0;
        for (int v = 0; v < V; v++) {
            double d = (double)out[(int64_t)r * V + v] - (double)t[(int64_t)r * V + v];
            s += d * d;
        }
        loss_sum += s / V;
    }
    return loss_sum;
}

/* dout = 2 (out - t) / (B V). */
static void SFX(mse_real_backward)(real *dout, const real *out, const real *t, int B, int V) {
    real c = (real)2 / ((real)B * (real)V);
    for (int64_t i = 0; i < (int64_t)B * V; i++) dout[i] = c * (out[i] - t[i]);
}

/* ---------------------------------------------------------------- model */

/* Parameters, gradients and activations start on a cache line (64 bytes, one AVX-512 vector):
 * with malloc's 16-byte alignment every row of every matrix straddled a line, so each vector
 * load of the matrix kernel touched two (W = 1024, 20 layers: the weight-gradient product
 * 150 -> 170 GFLOP/s aligned). Rows stay aligned whenever a layer's width is a multiple
 * of 16. Freed with free(). */
#ifdef VG_MLP_FLOAT_KERNELS
/* Zeroing a new net's megabytes is mostly the kernel faulting their pages in: shared with the
 * calling thread's helpers (vgsweep/team.h) a MiB each when it has any (W = 1024, 8 layers:
 * ~4 % of a 2-epoch run on its owner). */
#define VG_ZERO_CHUNK ((size_t)1 << 20)

typedef struct {
    char *p;
    size_t bytes;
} vg__zero_job;

static void vg__zero_chunk(void *arg, int item, int helper) {
    (void)helper;
    const vg__zero_job *j = arg;
    size_t at = (size_t)item * VG_ZERO_CHUNK;
    memset(j->p + at, 0, j->bytes - at < VG_ZERO_CHUNK ? j->bytes - at : VG_ZERO_CHUNK);
}

static void vg__zero(void *p, size_t bytes) {
    size_t chunks = (bytes + VG_ZERO_CHUNK - 1) / VG_ZERO_CHUNK;
    vg__zero_job j = {p, bytes};
    if (chunks > 1 && chunks <= VG_TEAM_MAX_ITEMS && vg_team_has_helpers())
        vg_team_for((int)chunks, vg__zero_chunk, &j);
    else
        memset(p, 0, bytes);
}
#else
static void vg__zero(void *p, size_t bytes) { memset(p, 0, bytes); }
#endif

static void *vg__alloc_lines(size_t bytes, int zero) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p && zero) vg__zero(p, rounded);
    return p;
}

/* Hands out consecutive pieces of one allocation; with base == NULL it only counts. */
typedef struct {
    real *base;
    int64_t used;
} SFX(vg__carver);

static real *SFX(carve)(SFX(vg__carver) *c, int64_t n) {
    real *p = c->base ? c->base + c->used : NULL;
    c->used += n;
    return p;
}

/* Lays out the activation arena (twice: once to count, once to assign). */
static void SFX(layout_arena)(MLP *m, SFX(vg__carver) *c) {
    const vg_mlp_shape *s = &m->shape;
    int64_t B = s->max_batch;
    int L = m->n_layers, normed = s->norm != VG_NORM_NONE;
    for (int l = 0; l < L; l++) {
        int64_t n = B * m->fan_out[l];
        int hidden = l < L - 1;
        m->z[l] = SFX(carve)(c, n);
        m->dz[l] = SFX(carve)(c, n);
        m->a[l] = SFX(carve)(c, n);
        m->u[l] = m->z[l];
        m->h[l] = m->a[l];
        m->xhat[l] = NULL;
        m->rstd[l] = NULL;
        if (hidden && normed) {
            m->u[l] = SFX(carve)(c, n);
            m->xhat[l] = SFX(carve)(c, n);
            m->rstd[l] = SFX(carve)(c, B > m->fan_out[l] ? B : m->fan_out[l]);
        }
        if (hidden && m->block_start[l] >= 0) m->h[l] = SFX(carve)(c, n);
    }
    m->grad_h = SFX(carve)(c, B * m->max_fan);
    m->grad_skip = SFX(carve)(c, B * s->width);
    m->grad_u = SFX(carve)(c, B * (s->width > m->max_fan ? s->width : m->max_fan));
    m->scratch = SFX(carve)(c, 2 * (int64_t)m->max_fan);
#ifdef VG_MLP_FLOAT_KERNELS
    /* its largest transposed product: a weight gradient, (fan_out, batch) */
    m->gemm_work = SFX(carve)(c, vg__sgemm_work_floats(m->max_fan, (int)B));
#else
    m->gemm_work = NULL;
#endif
}

vg_status MLP_FN(create)(MLP *m, const vg_mlp_shape *shape, vg_error *err) {
    memset(m, 0, sizeof *m);
    int real_targets = shape->target_kind == VG_TARGET_REAL;
    if (shape->target_kind == VG_TARGET_STEP_CLASS)
        return vg_error_set(err, VG_ECONFIG, "an MLP scores one target per sample: targets per "
                                             "time step need a recurrent model");
    if (real_targets && shape->loss != VG_LOSS_MSE)
        return vg_error_set(err, VG_ECONFIG, "real-valued targets need train.loss: mse");
    if (shape->depth < 1 || shape->width < 1 || shape->n_inputs < 1 ||
        shape->n_outputs < (real_targets ? 1 : 2) || shape->max_batch < 1 || shape->skip_every < 0)
        return vg_error_set(err, VG_EINTERNAL, "invalid net shape");
    m->shape = *shape;
    int L = m->n_layers = shape->depth + 1;
    int normed = shape->norm != VG_NORM_NONE, batchnorm = shape->norm == VG_NORM_BATCH;
    m->fan_in = calloc((size_t)L, sizeof *m->fan_in);
    m->fan_out = calloc((size_t)L, sizeof *m->fan_out);
    m->block_start = calloc((size_t)L, sizeof *m->block_start);
    m->param_offset = calloc((size_t)L + 1, sizeof *m->param_offset);
    const int n_views = 18;
    real **views = calloc((size_t)L * n_views, sizeof *views);
    if (!m->fan_in || !m->fan_out || !m->block_start || !m->param_offset || !views) goto oom;
    real ***slots[] = {&m->W,  &m->b,    &m->gamma, &m->beta, &m->dW,   &m->db,
                       &m->dgamma, &m->dbeta, &m->running_mean, &m->running_var, &m->z,
                       &m->xhat, &m->u, &m->a, &m->h, &m->rstd, &m->dz, NULL};
    for (int i = 0; slots[i]; i++) *slots[i] = views + (int64_t)i * L;

    int k = shape->skip_every;
    m->max_fan = shape->n_inputs;
    for (int l = 0; l < L; l++) {
        vg_mlp_layer_fans(shape, l, &m->fan_in[l], &m->fan_out[l]);
        if (m->fan_out[l] > m->max_fan) m->max_fan = m->fan_out[l];
        /* blocks over hidden layers 1..depth-1 (0-based): [1, k], [k+1, 2k], ... complete only */
        m->block_start[l] = -1;
        if (k > 0 && l >= 1 && l < L - 1 && l % k == 0 && l - k + 1 >= 1)
            m->block_start[l] = l - k + 1;
        int64_t n = (int64_t)m->fan_out[l] * (m->fan_in[l] + 1);
        if (normed && l < L - 1) n += 2 * (int64_t)m->fan_out[l];
        m->param_offset[l + 1] = m->param_offset[l] + n;
    }
    m->n_params = m->param_offset[L];
    m->params = vg__alloc_lines((size_t)m->n_params * sizeof(real), 0);
    m->grads = vg__alloc_lines((size_t)m->n_params * sizeof(real), 1);
    if (batchnorm) m->running = malloc((size_t)(2 * shape->depth * shape->width) * sizeof(real));
    SFX(vg__carver) count = {NULL, 0};
    SFX(layout_arena)(m, &count);
    m->arena = vg__alloc_lines((size_t)count.used * sizeof(real), 0);
    if (!m->params || !m->grads || !m->arena || (batchnorm && !m->running)) goto oom;
    SFX(vg__carver) assign = {m->arena, 0};
    SFX(layout_arena)(m, &assign);

    real *run = m->running;
    for (int l = 0; l < L; l++) {
        real *p = m->params + m->param_offset[l], *g = m->grads + m->param_offset[l];
        int64_t w = (int64_t)m->fan_out[l] * m->fan_in[l];
        int fo = m->fan_out[l];
        m->W[l] = p, m->dW[l] = g, p += w, g += w;
        m->b[l] = p, m->db[l] = g, p += fo, g += fo;
        if (normed && l < L - 1) {
            m->gamma[l] = p, m->dgamma[l] = g, p += fo, g += fo;
            m->beta[l] = p, m->dbeta[l] = g;
        }
        if (batchnorm && l < L - 1) {
            m->running_mean[l] = run, run += fo;
            m->running_var[l] = run, run += fo;
        }
    }
    vg__zero(m->params, (size_t)m->n_params * sizeof(real));
    return VG_OK;
oom:
    if (!m->W) free(views);
    MLP_FN(free)(m);
    return vg_error_set(err, VG_ENOMEM, "out of memory for a net of depth %d, width %d",
                        shape->depth, shape->width);
}

void MLP_FN(free)(MLP *m) {
    free(m->fan_in);
    free(m->fan_out);
    free(m->block_start);
    free(m->param_offset);
    free(m->W); /* the block holding all per-layer views */
    free(m->params);
    free(m->grads);
    free(m->running);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

/* W (rows, cols) = gain times a (semi-)orthogonal matrix: orthonormal rows when rows <= cols,
 * orthonormal columns otherwise. Modified Gram-Schmidt, run twice for accuracy, on the
 * columns of a normal matrix of shape (max, min), with the sign convention of
 * torch.nn.init.orthogonal_ (the QR factor times sign(diag R)). */
static void SFX(orthogonal_fill)(real *W, int rows, int cols, double gain, vg_rng *rng) {
    int tall = rows >= cols;
    int n = tall ? rows : cols, k = tall ? cols : rows; /* Q is (n, k) */
    double *q = malloc((size_t)n * k * sizeof *q);
    if (!q) { /* init cannot fail; fall back to a scaled normal (never seen in practice) */
        for (int64_t i = 0; i < (int64_t)rows * cols; i++)
            W[i] = (real)(gain * vg_rng_normal(rng) / sqrt((double)n));
        return;
    }
    for (int64_t i = 0; i < (int64_t)n * k; i++) q[i] = vg_rng_normal(rng);
    for (int j = 0; j < k; j++) {
        double rjj_sign = 1;
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < j; i++) {
                double dot = 0;
                for (int r = 0; r < n; r++) dot += q[(int64_t)r * k + i] * q[(int64_t)r * k + j];
                for (int r = 0; r < n; r++) q[(int64_t)r * k + j] -= dot * q[(int64_t)r * k + i];
            }
        }
        double norm = 0;
        for (int r = 0; r < n; r++) norm += q[(int64_t)r * k + j] * q[(int64_t)r * k + j];
        norm = sqrt(norm);
        (void)rjj_sign; /* Gram-Schmidt's R has a positive diagonal: no sign flip needed */
        for (int r = 0; r < n; r++) q[(int64_t)r * k + j] /= norm > 0 ? norm : 1;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            W[(int64_t)r * cols + c] =
                (real)(gain * (tall ? q[(int64_t)r * k + c] : q[(int64_t)c * k + r]));
    free(q);
}

void MLP_FN(init)(MLP *m, const vg_init_spec *init, vg_rng *rng) {
    const double g = init->gain > 0 ? init->gain : 1;
    for (int l = 0; l < m->n_layers; l++) {
        int fi = m->fan_in[l], fo = m->fan_out[l];
        int64_t n = (int64_t)fi * fo;
        real *W = m->W[l];
        double limit = 0, std = 0; /* one of them set: uniform or normal */
        switch (init->kind) {
        case VG_INIT_STANDARD: limit = 1.0 / sqrt((double)fi); break; /* Glorot & Bengio's */
        case VG_INIT_UNIFORM: limit = init->limit; break;
        case VG_INIT_XAVIER_UNIFORM: limit = sqrt(6.0 / (double)(fi + fo)); break;
        case VG_INIT_HE_UNIFORM: limit = sqrt(6.0 / (double)fi); break;
        case VG_INIT_NORMAL: std = init->std; break;
        case VG_INIT_XAVIER_NORMAL: std = sqrt(2.0 / (double)(fi + fo)); break;
        case VG_INIT_HE_NORMAL: std = sqrt(2.0 / (double)fi); break;
        case VG_INIT_LECUN_NORMAL: std = sqrt(1.0 / (double)fi); break;
        case VG_INIT_ORTHOGONAL: break;
        }
        if (init->kind == VG_INIT_ORTHOGONAL)
            SFX(orthogonal_fill)(W, fo, fi, g, rng);
        else if (limit > 0)
            for (int64_t i = 0; i < n; i++) W[i] = (real)(g * vg_rng_uniform_range(rng, -limit, limit));
        else
            for (int64_t i = 0; i < n; i++) W[i] = (real)(g * std * vg_rng_normal(rng));
        for (int o = 0; o < fo; o++) m->b[l][o] = (real)init->bias;
        if (m->gamma[l])
            for (int o = 0; o < fo; o++) m->gamma[l][o] = 1, m->beta[l][o] = 0;
        if (m->running_mean[l])
            for (int o = 0; o < fo; o++) m->running_mean[l][o] = 0, m->running_var[l][o] = 1;
    }
}

/* y: class labels, t: real targets (one of them, or neither). */
static double SFX(forward_impl)(MLP *m, const real *x, const int32_t *y, const real *t, int B,
                                vg_pass pass, int64_t *n_correct) {
    const vg_mlp_shape *s = &m->shape;
    int L = m->n_layers;
    double param = vg_act_param(s);
    m->batch = B;
    const real *inp = x;
    for (int l = 0; l < L; l++) {
        int fo = m->fan_out[l];
        int64_t n = (int64_t)B * fo;
        SFX(dense_forward)(m->z[l], inp, m->W[l], m->b[l], B, m->fan_in[l], fo, m->gemm_work);
        if (l == L - 1) break;
        if (s->norm == VG_NORM_BATCH)
            SFX(batchnorm_forward)(m->u[l], m->xhat[l], m->rstd[l], m->scratch, m->running_mean[l],
                                   m->running_var[l], m->z[l], m->gamma[l], m->beta[l], B, fo,
                                   pass, s->norm_momentum, s->norm_eps);
        else if (s->norm == VG_NORM_LAYER)
            SFX(layernorm_forward)(m->u[l], m->xhat[l], m->rstd[l], m->z[l], m->gamma[l],
                                   m->beta[l], B, fo, s->norm_eps);
        SFX(act_shared)(m->a[l], m->u[l], NULL, NULL, n, s->activation, param, 0);
        int start = m->block_start[l];
        if (start >= 0) { /* h_l = h_{start-1} + scale a_l */
            const real *r = m->h[start - 1], *a = m->a[l];
            real *h = m->h[l], sc = (real)s->skip_scale;
            for (int64_t i = 0; i < n; i++) h[i] = r[i] + sc * a[i];
        }
        inp = m->h[l];
    }
    int V = m->fan_out[L - 1];
    double loss_sum = t ? SFX(mse_real_forward)(m->z[L - 1], t, B, V)
                      : s->loss == VG_LOSS_MSE
                          ? SFX(mse_forward)(m->z[L - 1], y, B, V, n_correct)
                          : SFX(softmax_xent_forward)(m->a[L - 1], m->z[L - 1], y, B, V, n_correct);
    return loss_sum / B;
}

double MLP_FN(forward)(MLP *m, const real *x, const int32_t *y, int B, vg_pass pass,
                       int64_t *n_correct) {
    return SFX(forward_impl)(m, x, y, NULL, B, pass, n_correct);
}

double MLP_FN(forward_real)(MLP *m, const real *x, const real *t, int B, vg_pass pass) {
    return SFX(forward_impl)(m, x, NULL, t, B, pass, NULL);
}

void MLP_FN(zero_grad)(MLP *m) { memset(m->grads, 0, (size_t)m->n_params * sizeof(real)); }

/* overwrite: the gradients are written, not added (zero_grad + backward without the pass that
 * zeroes them): each layer's dW by its product, its smaller b, gamma, beta zeroed first. */
static void SFX(backward_impl)(MLP *m, const real *x, const int32_t *y, const real *t,
                               int overwrite) {
    const vg_mlp_shape *s = &m->shape;
    int L = m->n_layers, B = m->batch, k = s->skip_every;
    double param = vg_act_param(s);
    int V = m->fan_out[L - 1];
    if (t)
        SFX(mse_real_backward)(m->dz[L - 1], m->z[L - 1], t, B, V);
    else if (s->loss == VG_LOSS_MSE)
        SFX(mse_backward)(m->dz[L - 1], m->z[L - 1], y, B, V);
    else
        SFX(softmax_xent_backward)(m->dz[L - 1], m->a[L - 1], y, B, V);

    real *G = m->grad_h; /* dloss/dh of the layer being processed */
    for (int l = L - 1; l >= 0; l--) {
        int fo = m->fan_out[l];
        int64_t n = (int64_t)B * fo;
        if (overwrite) /* b, then gamma, beta: the rest of layer l's gradients after dW */
            memset(m->db[l], 0, (size_t)(m->grads + m->param_offset[l + 1] - m->db[l]) * sizeof(real));
        if (l < L - 1) { /* hidden: from dloss/dh_l (in G) to dloss/dz_l */
            const real *da = G;
            if (m->block_start[l] >= 0) { /* the shortcut carries G to h_{start-1} unchanged */
                real sc = (real)s->skip_scale;
                memcpy(m->grad_skip, G, (size_t)n * sizeof(real));
                for (int64_t i = 0; i < n; i++) m->grad_u[i] = sc * G[i];
                da = m->grad_u;
            }
            real *du = s->norm == VG_NORM_NONE ? m->dz[l] : m->grad_u;
            SFX(act_shared)(du, da, m->u[l], m->a[l], n, s->activation, param, 1);
            if (s->norm == VG_NORM_BATCH)
                SFX(batchnorm_backward)(m->dz[l], m->dgamma[l], m->dbeta[l], m->scratch,
                                        m->scratch + m->max_fan, du, m->xhat[l], m->rstd[l],
                                        m->gamma[l], B, fo);
            else if (s->norm == VG_NORM_LAYER)
                SFX(layernorm_backward)(m->dz[l], m->dgamma[l], m->dbeta[l], du, m->xhat[l],
                                        m->rstd[l], m->gamma[l], B, fo);
        }
        const real *inp = l == 0 ? x : m->h[l - 1];
        SFX(dense_backward)(l == 0 ? NULL : G, m->dW[l], m->db[l], m->dz[l], inp, m->W[l], B,
                            m->fan_in[l], fo, overwrite, m->gemm_work);
        /* layer l opens a block ending at l + k - 1: add the shortcut's gradient to h_{l-1} */
        if (k > 0 && l >= 1 && l + k - 1 < L - 1 && m->block_start[l + k - 1] == l) {
            int64_t nin = (int64_t)B * m->fan_in[l];
            for (int64_t i = 0; i < nin; i++) G[i] += m->grad_skip[i];
        }
    }
}

void MLP_FN(backward)(MLP *m, const real *x, const int32_t *y) {
    SFX(backward_impl)(m, x, y, NULL, 0);
}

void MLP_FN(backward_set)(MLP *m, const real *x, const int32_t *y) {
    SFX(backward_impl)(m, x, y, NULL, 1);
}

void MLP_FN(backward_set_real)(MLP *m, const real *x, const real *t) {
    SFX(backward_impl)(m, x, NULL, t, 1);
}

