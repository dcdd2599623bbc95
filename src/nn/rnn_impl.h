/* The recurrent nets, written once for any float type (include/vgsweep/rnn.h states the model).
 * Included by rnn_f32.c and rnn_f64.c after they define:
 *   real           float or double
 *   SFX(name)      name##_f32 or name##_f64
 *   RNN_FN(name)   vg_rnn_f32_##name or vg_rnn_f64_##name
 *   GEMM           cblas_sgemm or cblas_dgemm
 *   EXP, TANH      the math functions of that type
 *   VG_RNN_FLOAT_KERNELS  (float only) products through nn/gemm.h's kernel
 *
 * Where the time goes (item 9 of issue #20), and how it is kept small:
 *   - the input projection is one product per chunk of steps (chunk_steps: ~512 rows),
 *     (TC B, in) x (in, G H), just before the chunk's steps; only the recurrent product
 *     (B, H) x (H, G H) is left per step, reading W_hh^T (transposed once) in place;
 *   - the weight gradients are one product each per chunk as the backward loop leaves it:
 *     dW_ih += dpre^T (G H, TC B) x input (TC B, in), dW_hh += dpre^T x [h_t .. h_{t+TC-1}],
 *     while the chunk is in the cache; this is why every buffer is time-major (T, B, .) with
 *     h_0 stored in slot 0;
 *   - the gates' nonlinearities run through vg_act_forward (AVX-512 sigmoid, tanh) and the
 *     products of a cell are one fused loop per step. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "vgsweep/targets.h"
#include "vgsweep/nn.h"
#include "vgsweep/rnn.h"
#include "vgsweep/settings.h"
#ifdef VG_RNN_FLOAT_KERNELS
#include "nn/gemm.h"
#endif

#define RNN SFX(vg_rnn)

/* C (M, N) = [C +] op(A) op(B) [+ bias], as nn/gemm.h's vg__sgemm. */
static void SFX(rgemm)(int ta, int tb, int M, int N, int K, const real *A, int lda,
                       const real *B, int ldb, int accumulate, const real *bias, real *C, int ldc,
                       real *work) {
#ifdef VG_RNN_FLOAT_KERNELS
    vg__sgemm(ta, tb, M, N, K, A, lda, B, ldb, accumulate, bias, C, ldc, work);
#else
    (void)work;
    if (!accumulate)
        for (int r = 0; r < M; r++) {
            if (bias) memcpy(C + (int64_t)r * ldc, bias, (size_t)N * sizeof *C);
            else memset(C + (int64_t)r * ldc, 0, (size_t)N * sizeof *C);
        }
    if (K > 0)
        GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
             K, 1, A, lda, B, ldb, 1, C, ldc);
#endif
}

/* The same product for the long shapes of a sequence (T B rows): the float kernel packs a
 * transposed op(A) only when it is small (nn/gemm.c), and streams a tall op(A) once per panel
 * of 32 columns; both lose the cache at T B = 6,400 rows (dW_hh 60 -> ~100 GFLOP/s chunked on
 * an EPYC core). So a transposed A is taken KC rows of depth at a time (accumulating), and a
 * tall one in blocks of rows that stay in the cache across panels. The summation order depends
 * on the shapes only: still deterministic. Double: straight to BLAS. */
static void SFX(big_gemm)(int ta, int tb, int M, int N, int K, const real *A, int lda,
                          const real *B, int ldb, const real *bias, real *C, int ldc, real *work) {
#ifdef VG_RNN_FLOAT_KERNELS
    if (ta) {
        int kc = (1 << 18) / (M > 1 ? M : 1);
        if (kc < 64) kc = 64;
        for (int k0 = 0; k0 < K || k0 == 0; k0 += kc) {
            int kk = K - k0 < kc ? K - k0 : kc;
            vg__sgemm(1, tb, M, N, kk, A + (int64_t)k0 * lda, lda,
                      tb ? B + k0 : B + (int64_t)k0 * ldb, ldb, k0 > 0, k0 > 0 ? NULL : bias, C,
                      ldc, work);
            if (K == 0) break;
        }
        return;
    }
    int mc = (1 << 16) / (K > 1 ? K : 1);
    mc = mc < 64 ? 64 : mc / 8 * 8;
    for (int m0 = 0; m0 < M; m0 += mc) {
        int mm = M - m0 < mc ? M - m0 : mc;
        vg__sgemm(0, tb, mm, N, K, A + (int64_t)m0 * lda, lda, B, ldb, 0, bias,
                  C + (int64_t)m0 * ldc, ldc, work);
    }
#else
    SFX(rgemm)(ta, tb, M, N, K, A, lda, B, ldb, 0, bias, C, ldc, work);
#endif
}

/* Steps per chunk of the input projection (forward) and of the weight gradients (backward):
 * about VG_RNN_CHUNK_ROWS rows of B, so a chunk's pre-activations and states are still in the
 * cache when the product that reads them runs (hidden 128, batch 64, T = 400, one core of an
 * EPYC: 256 rows 3,510 RNN sequences/s, 512 3,600, 1,024 3,560, 4,096 2,330; LSTM 834, 834, 846,
 * 624). */
#define VG_RNN_CHUNK_ROWS 512
static int SFX(chunk_steps)(int B) {
    int tc = VG_RNN_CHUNK_ROWS / (B > 0 ? B : 1);
    return tc < 1 ? 1 : tc;
}

/* out (N) += column sums of A (R, N) */
static void SFX(colsum_add)(real *restrict out, const real *restrict A, int64_t R, int N) {
    for (int64_t r = 0; r < R; r++) {
        const real *a = A + r * N;
        for (int j = 0; j < N; j++) out[j] += a[j];
    }
}

/* out (N) = column sums of A (R, N) */
static void SFX(colsum)(real *restrict out, const real *restrict A, int64_t R, int N) {
    memset(out, 0, (size_t)N * sizeof *out);
    for (int64_t r = 0; r < R; r++) {
        const real *a = A + r * N;
        for (int j = 0; j < N; j++) out[j] += a[j];
    }
}

static void *SFX(alloc_lines)(size_t bytes) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p) memset(p, 0, rounded);
    return p;
}

typedef struct {
    real *base;
    int64_t used;
} SFX(rcarver);

/* consecutive pieces of one allocation, each starting on a cache line; base NULL: count only */
static real *SFX(rcarve)(SFX(rcarver) *c, int64_t n) {
    real *p = c->base ? c->base + c->used : NULL;
    int64_t per_line = 64 / (int64_t)sizeof(real);
    c->used += (n + per_line - 1) / per_line * per_line;
    return p;
}

static void SFX(layout)(RNN *m, SFX(rcarver) *c) {
    const vg_rnn_shape *s = &m->shape;
    int64_t B = s->max_batch, T = s->steps, H = s->hidden, GH = (int64_t)m->gates * H;
    int64_t To = s->target == VG_TARGET_STEP_CLASS ? T : 1, V = s->n_outputs;
    m->x_tm = SFX(rcarve)(c, T * B * s->n_inputs);
    for (int l = 0; l < s->depth; l++) {
        m->W_hhT[l] = SFX(rcarve)(c, H * GH);
        m->gate[l] = SFX(rcarve)(c, T * B * GH);
        m->hs[l] = SFX(rcarve)(c, (T + 1) * B * H);
        m->dpre[l] = SFX(rcarve)(c, T * B * GH);
        m->cs[l] = m->tc[l] = m->hn[l] = NULL;
        m->dhp[l] = m->dpre[l];
        if (s->cell == VG_CELL_LSTM) {
            m->cs[l] = SFX(rcarve)(c, (T + 1) * B * H);
            m->tc[l] = SFX(rcarve)(c, T * B * H);
        }
        if (s->cell == VG_CELL_GRU) {
            m->hn[l] = SFX(rcarve)(c, T * B * H);
            m->dhp[l] = SFX(rcarve)(c, T * B * GH);
        }
    }
    m->logits = SFX(rcarve)(c, To * B * V);
    m->probs = SFX(rcarve)(c, To * B * V);
    m->dlogits = SFX(rcarve)(c, To * B * V);
    m->dseq = SFX(rcarve)(c, T * B * H);
    m->dh = SFX(rcarve)(c, B * H);
    m->dc = SFX(rcarve)(c, B * H);
    m->step_buf = SFX(rcarve)(c, GH > B * H ? GH : B * H); /* the summed bias, per layer */
    m->hp = SFX(rcarve)(c, B * GH);
#ifdef VG_RNN_FLOAT_KERNELS
    {
        int maxm = (int)(GH > V ? GH : V), maxk = (int)(T * B);
        if (maxm < H) maxm = (int)H;
        m->gemm_work = SFX(rcarve)(c, vg__sgemm_work_floats(maxm, maxk));
    }
#else
    m->gemm_work = NULL;
#endif
}

vg_status RNN_FN(create)(RNN *m, const vg_rnn_shape *shape, vg_error *err) {
    memset(m, 0, sizeof *m);
    const vg_rnn_shape *s = shape;
    if (s->cell < 0 || s->cell >= VG_CELL_COUNT || s->depth < 1 || s->hidden < 1 ||
        s->n_inputs < 1 || s->n_outputs < 1 || s->steps < 1 || s->max_batch < 1 || s->bptt < 0 ||
        (s->target != VG_TARGET_REAL && s->n_outputs < 2) ||
        (s->target == VG_TARGET_REAL && s->loss != VG_LOSS_MSE))
        return vg_error_set(err, VG_EINTERNAL, "invalid recurrent net shape");
    m->shape = *s;
    m->gates = vg_cell_gates(s->cell);
    int D = s->depth, H = s->hidden, GH = m->gates * H;
    m->n_layers = D + 1;
    m->fan_in = calloc((size_t)D, sizeof *m->fan_in);
    m->param_offset = calloc((size_t)D + 2, sizeof *m->param_offset);
    enum { N_VIEWS = 16 };
    real **views = calloc((size_t)D * N_VIEWS, sizeof *views);
    m->stats.grad_h2 = calloc((size_t)D * s->steps, sizeof(double));
    m->stats.saturated = calloc((size_t)D * m->gates, sizeof(double));
    if (s->cell == VG_CELL_LSTM) m->stats.grad_c2 = calloc((size_t)D * s->steps, sizeof(double));
    if (!m->fan_in || !m->param_offset || !views || !m->stats.grad_h2 || !m->stats.saturated ||
        (s->cell == VG_CELL_LSTM && !m->stats.grad_c2)) {
        free(views);
        goto oom;
    }
    real ***slots[] = {&m->W_ih, &m->W_hh, &m->b_ih, &m->b_hh, &m->dW_ih, &m->dW_hh,
                       &m->db_ih, &m->db_hh, &m->gate, &m->hs, &m->cs, &m->tc, &m->hn,
                       &m->dpre, &m->dhp, &m->W_hhT, NULL};
    for (int i = 0; slots[i]; i++) *slots[i] = views + (int64_t)i * D;
    for (int l = 0; l < D; l++) {
        m->fan_in[l] = l == 0 ? s->n_inputs : H;
        int64_t n = (int64_t)GH * (m->fan_in[l] + H + 2);
        m->param_offset[l + 1] = m->param_offset[l] + n;
    }
    m->param_offset[D + 1] = m->param_offset[D] + (int64_t)s->n_outputs * (H + 1);
    m->n_params = m->param_offset[D + 1];
    m->params = SFX(alloc_lines)((size_t)m->n_params * sizeof(real));
    m->grads = SFX(alloc_lines)((size_t)m->n_params * sizeof(real));
    SFX(rcarver) count = {NULL, 0};
    SFX(layout)(m, &count);
    m->arena = SFX(alloc_lines)((size_t)count.used * sizeof(real));
    if (!m->params || !m->grads || !m->arena) goto oom;
    SFX(rcarver) assign = {m->arena, 0};
    SFX(layout)(m, &assign);
    for (int l = 0; l < D; l++) {
        real *p = m->params + m->param_offset[l], *g = m->grads + m->param_offset[l];
        int64_t wi = (int64_t)GH * m->fan_in[l], wh = (int64_t)GH * H;
        m->W_ih[l] = p, m->dW_ih[l] = g, p += wi, g += wi;
        m->W_hh[l] = p, m->dW_hh[l] = g, p += wh, g += wh;
        m->b_ih[l] = p, m->db_ih[l] = g, p += GH, g += GH;
        m->b_hh[l] = p, m->db_hh[l] = g;
    }
    m->W_out = m->params + m->param_offset[D], m->dW_out = m->grads + m->param_offset[D];
    m->b_out = m->W_out + (int64_t)s->n_outputs * H, m->db_out = m->dW_out + (int64_t)s->n_outputs * H;
    return VG_OK;
oom:
    RNN_FN(free)(m);
    return vg_error_set(err, VG_ENOMEM, "out of memory for a %s of depth %d, hidden %d, T %d",
                        vg_cell_name(s->cell), s->depth, s->hidden, s->steps);
}

void RNN_FN(free)(RNN *m) {
    free(m->fan_in);
    free(m->param_offset);
    free(m->W_ih); /* the block of every per-layer view */
    free(m->params);
    free(m->grads);
    free(m->arena);
    free(m->stats.grad_h2);
    free(m->stats.grad_c2);
    free(m->stats.saturated);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- initializers */

/* Q (n, n) orthogonal, as torch.nn.init.orthogonal_ does it: the Householder QR of a matrix of
 * N(0, 1) draws (row-major, drawn in order), Q's columns multiplied by the signs of R's
 * diagonal (which makes Q Haar-distributed). Writes gain Q into W with row stride ldw. */
static void SFX(orthogonal_block)(real *W, int64_t ldw, int n, double gain, vg_rng *rng) {
    double *a = malloc((size_t)n * n * sizeof *a), *q = malloc((size_t)n * n * sizeof *q),
           *v = malloc((size_t)n * n * sizeof *v), *rd = malloc((size_t)n * sizeof *rd);
    if (!a || !q || !v || !rd) { /* init cannot fail: a scaled normal block instead */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                W[i * ldw + j] = (real)(gain * vg_rng_normal(rng) / sqrt((double)n));
        free(a), free(q), free(v), free(rd);
        return;
    }
    for (int64_t i = 0; i < (int64_t)n * n; i++) a[i] = vg_rng_normal(rng);
    /* Householder: for column j, v_j reflects a[j.., j] onto -sign(a_jj) |a[j.., j]| e_1 */
    for (int j = 0; j < n; j++) {
        double norm = 0;
        for (int i = j; i < n; i++) norm += a[i * n + j] * a[i * n + j];
        norm = sqrt(norm);
        double alpha = a[j * n + j] >= 0 ? -norm : norm;
        double *vj = v + (int64_t)j * n;
        for (int i = 0; i < n; i++) vj[i] = i < j ? 0 : a[i * n + j];
        vj[j] -= alpha;
        double vn = 0;
        for (int i = j; i < n; i++) vn += vj[i] * vj[i];
        if (vn > 0) {
            vn = sqrt(vn);
            for (int i = j; i < n; i++) vj[i] /= vn;
            for (int c = j; c < n; c++) { /* a -= 2 v (v^T a) */
                double d = 0;
                for (int i = j; i < n; i++) d += vj[i] * a[i * n + c];
                for (int i = j; i < n; i++) a[i * n + c] -= 2 * vj[i] * d;
            }
        }
        rd[j] = a[j * n + j];
    }
    /* Q = H_0 H_1 ... H_{n-1} I, applied from the right-most */
    for (int64_t i = 0; i < (int64_t)n * n; i++) q[i] = 0;
    for (int i = 0; i < n; i++) q[i * n + i] = 1;
    for (int j = n - 1; j >= 0; j--) {
        const double *vj = v + (int64_t)j * n;
        for (int c = 0; c < n; c++) {
            double d = 0;
            for (int i = j; i < n; i++) d += vj[i] * q[i * n + c];
            for (int i = j; i < n; i++) q[i * n + c] -= 2 * vj[i] * d;
        }
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < n; c++)
            W[i * ldw + c] = (real)(gain * q[i * n + c] * (rd[c] < 0 ? -1 : 1));
    free(a), free(q), free(v), free(rd);
}

/* W (rows, cols) from the MLP's initializer kinds (nn.h's vg_init_spec), fan_in = cols,
 * fan_out = rows; drawn in double row-major. */
static void SFX(dense_fill)(real *W, int rows, int cols, const vg_init_spec *init, vg_rng *rng) {
    const double g = init->gain > 0 ? init->gain : 1;
    double limit = 0, std = 0, fi = cols, fo = rows;
    switch (init->kind) {
    case VG_INIT_STANDARD: limit = 1.0 / sqrt(fi); break;
    case VG_INIT_UNIFORM: limit = init->limit; break;
    case VG_INIT_XAVIER_UNIFORM: limit = sqrt(6.0 / (fi + fo)); break;
    case VG_INIT_HE_UNIFORM: limit = sqrt(6.0 / fi); break;
    case VG_INIT_NORMAL: std = init->std; break;
    case VG_INIT_XAVIER_NORMAL: std = sqrt(2.0 / (fi + fo)); break;
    case VG_INIT_HE_NORMAL: std = sqrt(2.0 / fi); break;
    case VG_INIT_LECUN_NORMAL: std = sqrt(1.0 / fi); break;
    case VG_INIT_ORTHOGONAL: break;
    }
    int64_t n = (int64_t)rows * cols;
    if (init->kind == VG_INIT_ORTHOGONAL) {
        /* semi-orthogonal: the square blocks of the longer side, each orthogonal */
        int k = rows < cols ? rows : cols;
        for (int64_t i = 0; i < n; i++) W[i] = 0;
        if (rows >= cols)
            for (int r0 = 0; r0 < rows; r0 += k) {
                int kk = rows - r0 < k ? rows - r0 : k;
                if (kk == k) SFX(orthogonal_block)(W + (int64_t)r0 * cols, cols, k, g, rng);
                else
                    for (int64_t i = (int64_t)r0 * cols; i < n; i++)
                        W[i] = (real)(g * vg_rng_normal(rng) / sqrt(fi));
            }
        else
            for (int c0 = 0; c0 < cols; c0 += k) {
                int kk = cols - c0 < k ? cols - c0 : k;
                if (kk == k) SFX(orthogonal_block)(W + c0, cols, k, g, rng);
                else
                    for (int r = 0; r < rows; r++)
                        for (int c = c0; c < cols; c++)
                            W[(int64_t)r * cols + c] = (real)(g * vg_rng_normal(rng) / sqrt(fi));
            }
    } else if (limit > 0) {
        for (int64_t i = 0; i < n; i++) W[i] = (real)(g * vg_rng_uniform_range(rng, -limit, limit));
    } else {
        for (int64_t i = 0; i < n; i++) W[i] = (real)(g * std * vg_rng_normal(rng));
    }
}

void RNN_FN(init)(RNN *m, const vg_rnn_init_spec *init, vg_rng *rng) {
    const vg_rnn_shape *s = &m->shape;
    int H = s->hidden, G = m->gates, GH = G * H;
    double v = init->rec_value;
    for (int l = 0; l < s->depth; l++) {
        SFX(dense_fill)(m->W_ih[l], GH, m->fan_in[l], &init->input, rng);
        for (int g = 0; g < G; g++) { /* W_hh's gate block g: rows [g H, (g + 1) H) */
            real *W = m->W_hh[l] + (int64_t)g * H * H;
            int64_t n = (int64_t)H * H;
            double gain = v > 0 ? v : 1;
            switch (init->recurrent) {
            case VG_RINIT_ORTHOGONAL: SFX(orthogonal_block)(W, H, H, gain, rng); break;
            case VG_RINIT_IDENTITY:
                for (int64_t i = 0; i < n; i++) W[i] = 0;
                for (int i = 0; i < H; i++) W[(int64_t)i * H + i] = (real)gain;
                break;
            case VG_RINIT_NORMAL: {
                double std = v > 0 ? v : 1.0 / sqrt((double)H);
                for (int64_t i = 0; i < n; i++) W[i] = (real)(std * vg_rng_normal(rng));
                break;
            }
            case VG_RINIT_XAVIER_NORMAL: {
                double std = gain * sqrt(2.0 / (2.0 * H));
                for (int64_t i = 0; i < n; i++) W[i] = (real)(std * vg_rng_normal(rng));
                break;
            }
            case VG_RINIT_XAVIER_UNIFORM:
            case VG_RINIT_UNIFORM:
            case VG_RINIT_STANDARD:
            default: {
                double a = init->recurrent == VG_RINIT_XAVIER_UNIFORM ? gain * sqrt(6.0 / (2.0 * H))
                           : (init->recurrent == VG_RINIT_UNIFORM ||
                              init->recurrent == VG_RINIT_STANDARD) && v > 0 ? v
                                                                          : 1.0 / sqrt((double)H);
                for (int64_t i = 0; i < n; i++) W[i] = (real)vg_rng_uniform_range(rng, -a, a);
            }
            }
        }
        for (int i = 0; i < GH; i++) m->b_ih[l][i] = m->b_hh[l][i] = (real)init->bias;
        if (s->cell == VG_CELL_LSTM) /* gate order i, f, g, o: the forget block is the second */
            for (int i = H; i < 2 * H; i++) m->b_ih[l][i] = (real)(init->bias + init->forget_bias);
    }
    SFX(dense_fill)(m->W_out, s->n_outputs, H, &init->readout, rng);
    for (int o = 0; o < s->n_outputs; o++) m->b_out[o] = (real)init->readout.bias;
}

/* ---------------------------------------------------------------- cells, forward */

/* Vanilla RNN, one step over B rows (P holds W_ih x_t + b_ih + b_hh already):
 *   P += h_{t-1} W_hh^T;   h_t = phi(P)                       (P is kept: phi' reads it) */
static void SFX(rnn_step)(RNN *m, int l, int t, int B) {
    int H = m->shape.hidden;
    real *P = m->gate[l] + (int64_t)t * B * H;
    const real *hp = m->hs[l] + (int64_t)t * B * H;
    real *h = m->hs[l] + (int64_t)(t + 1) * B * H;
    SFX(rgemm)(0, 0, B, H, H, hp, H, m->W_hhT[l], H, 1, NULL, P, H, m->gemm_work);
    SFX(vg_act_forward)(h, P, (int64_t)B * H, m->shape.activation, m->shape.act_param);
}

/* LSTM (gate order i, f, g, o as torch.nn.LSTM), P = W_ih x_t + b_ih + b_hh already:
 *   P += h_{t-1} W_hh^T;  i = s(P_i), f = s(P_f), g = tanh(P_g), o = s(P_o)  (in place in P)
 *   c_t = f c_{t-1} + i g;  h_t = o tanh(c_t) */
static void SFX(lstm_step)(RNN *m, int l, int t, int B) {
    int H = m->shape.hidden, GH = 4 * H;
    real *P = m->gate[l] + (int64_t)t * B * GH;
    const real *hp = m->hs[l] + (int64_t)t * B * H, *cp = m->cs[l] + (int64_t)t * B * H;
    real *h = m->hs[l] + (int64_t)(t + 1) * B * H, *c = m->cs[l] + (int64_t)(t + 1) * B * H;
    real *tc = m->tc[l] + (int64_t)t * B * H;
    SFX(rgemm)(0, 0, B, GH, H, hp, H, m->W_hhT[l], GH, 1, NULL, P, GH, m->gemm_work);
    for (int b = 0; b < B; b++) {
        real *p = P + (int64_t)b * GH;
        SFX(vg_act_forward)(p, p, 2 * H, VG_ACT_SIGMOID, 0);
        SFX(vg_act_forward)(p + 2 * H, p + 2 * H, H, VG_ACT_TANH, 0);
        SFX(vg_act_forward)(p + 3 * H, p + 3 * H, H, VG_ACT_SIGMOID, 0);
        const real *restrict ig = p, *restrict fg = p + H, *restrict gg = p + 2 * H;
        const real *restrict cpr = cp + (int64_t)b * H;
        real *restrict cr = c + (int64_t)b * H;
        for (int j = 0; j < H; j++) cr[j] = fg[j] * cpr[j] + ig[j] * gg[j];
    }
    SFX(vg_act_forward)(tc, c, (int64_t)B * H, VG_ACT_TANH, 0);
    for (int b = 0; b < B; b++) {
        const real *restrict og = P + (int64_t)b * GH + 3 * H, *restrict tr = tc + (int64_t)b * H;
        real *restrict hr = h + (int64_t)b * H;
        for (int j = 0; j < H; j++) hr[j] = og[j] * tr[j];
    }
}

/* GRU (gate order r, z, n as torch.nn.GRU), P = W_ih x_t + b_ih + [b_hr, b_hz, 0] already:
 *   hp = h_{t-1} W_hh^T + [0, 0, b_hn];  r = s(P_r + hp_r), z = s(P_z + hp_z)
 *   hn = hp_n (kept);  n = tanh(P_n + r hn);  h_t = (1 - z) n + z h_{t-1} */
static void SFX(gru_step)(RNN *m, int l, int t, int B) {
    int H = m->shape.hidden, GH = 3 * H;
    real *P = m->gate[l] + (int64_t)t * B * GH;
    const real *hprev = m->hs[l] + (int64_t)t * B * H;
    real *h = m->hs[l] + (int64_t)(t + 1) * B * H, *hn = m->hn[l] + (int64_t)t * B * H;
    real *hp = m->hp;
    SFX(rgemm)(0, 0, B, GH, H, hprev, H, m->W_hhT[l], GH, 0, NULL, hp, GH, m->gemm_work);
    const real *bhn = m->b_hh[l] + 2 * H;
    for (int b = 0; b < B; b++) {
        real *restrict p = P + (int64_t)b * GH;
        const real *restrict q = hp + (int64_t)b * GH;
        real *restrict hnr = hn + (int64_t)b * H;
        for (int j = 0; j < 2 * H; j++) p[j] += q[j];
        SFX(vg_act_forward)(p, p, 2 * H, VG_ACT_SIGMOID, 0);
        for (int j = 0; j < H; j++) {
            hnr[j] = q[2 * H + j] + bhn[j];
            p[2 * H + j] += p[j] * hnr[j];
        }
        SFX(vg_act_forward)(p + 2 * H, p + 2 * H, H, VG_ACT_TANH, 0);
        const real *restrict z = p + H, *restrict n = p + 2 * H;
        const real *restrict hpr = hprev + (int64_t)b * H;
        real *restrict hr = h + (int64_t)b * H;
        for (int j = 0; j < H; j++) hr[j] = n[j] + z[j] * (hpr[j] - n[j]);
    }
}

/* ---------------------------------------------------------------- loss */

/* The label of read-out row r (time-major: r = t B + b for STEP_CLASS), or -1: unscored. */
static int SFX(label)(const RNN *m, const int32_t *y, int64_t r, int B) {
    if (!y) return -1;
    if (m->shape.target == VG_TARGET_STEP_CLASS) {
        int64_t t = r / B, b = r % B;
        return y[b * m->shape.steps + t];
    }
    return y[r];
}

/* slot0 (B H) = layer l's part of a given initial state (depth, B, H), or zeros */
static void SFX(start_state)(real *slot0, const real *given, int l, int64_t BH) {
    if (given) memcpy(slot0, given + l * BH, (size_t)BH * sizeof(real));
    else memset(slot0, 0, (size_t)BH * sizeof(real));
}

void RNN_FN(set_initial_state)(RNN *m, const real *h0, const real *c0) {
    m->h0 = h0;
    m->c0 = c0;
}

double RNN_FN(forward)(RNN *m, const real *x, const int32_t *y, const real *tg, int B,
                       int64_t *n_correct, int64_t *n_scored) {
    const vg_rnn_shape *s = &m->shape;
    int T = s->steps, H = s->hidden, G = m->gates, GH = G * H, F = s->n_inputs, V = s->n_outputs;
    m->batch = B;
    /* x (B, T F) -> (T, B, F) */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(m->x_tm + ((int64_t)t * B + b) * F, x + ((int64_t)b * T + t) * F,
                   (size_t)F * sizeof(real));
    for (int l = 0; l < s->depth; l++) {
        const real *in = l == 0 ? m->x_tm : m->hs[l - 1] + (int64_t)B * H;
        /* the biases folded into the input projection: b_ih + b_hh (GRU: not b_hn, which r
         * multiplies) */
        real *bias = m->step_buf;
        for (int i = 0; i < GH; i++)
            bias[i] = m->b_ih[l][i] + (s->cell == VG_CELL_GRU && i >= 2 * H ? 0 : m->b_hh[l][i]);
        /* W_hh^T once, rather than the product transposing W_hh into its panels at every
         * step (the same values in the same order: the same bits) */
        for (int i = 0; i < GH; i++)
            for (int j = 0; j < H; j++) m->W_hhT[l][(int64_t)j * GH + i] = m->W_hh[l][(int64_t)i * H + j];
        SFX(start_state)(m->hs[l], m->h0, l, (int64_t)B * H);
        if (m->cs[l]) SFX(start_state)(m->cs[l], m->c0, l, (int64_t)B * H);
        int TC = SFX(chunk_steps)(B), Fl = m->fan_in[l];
        for (int t = 0; t < T; t++) {
            if (t % TC == 0) { /* the input projection of the next TC steps, just before they
                                  read it: each row's product is the same whole or in chunks */
                int n = T - t < TC ? T - t : TC;
                SFX(big_gemm)(0, 1, n * B, GH, Fl, in + (int64_t)t * B * Fl, Fl, m->W_ih[l], Fl,
                              bias, m->gate[l] + (int64_t)t * B * GH, GH, m->gemm_work);
            }
            if (s->cell == VG_CELL_LSTM) SFX(lstm_step)(m, l, t, B);
            else if (s->cell == VG_CELL_GRU) SFX(gru_step)(m, l, t, B);
            else SFX(rnn_step)(m, l, t, B);
        }
    }
    /* read-out */
    int step_cls = s->target == VG_TARGET_STEP_CLASS;
    int64_t R = step_cls ? (int64_t)T * B : B;
    const real *top = m->hs[s->depth - 1] + (step_cls ? (int64_t)B * H : (int64_t)T * B * H);
    SFX(big_gemm)(0, 1, (int)R, V, H, top, H, m->W_out, H, m->b_out, m->logits, V, m->gemm_work);
    double loss = 0;
    int64_t scored = 0;
    for (int64_t r = 0; r < R; r++) {
        const real *lg = m->logits + r * V;
        real *p = m->probs + r * V;
        int argmax = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > lg[argmax]) argmax = v;
        if (s->target == VG_TARGET_REAL) {
            if (!tg) continue;
            const real *tr = tg + r * V;
            double e = 0;
            for (int v = 0; v < V; v++) e += ((double)lg[v] - tr[v]) * ((double)lg[v] - tr[v]);
            loss += e / V, scored++;
            continue;
        }
        int lab = SFX(label)(m, y, r, B);
        if (s->loss == VG_LOSS_MSE) {
            if (lab < 0) continue;
            double e = 0;
            for (int v = 0; v < V; v++) {
                double d = (double)lg[v] - (v == lab);
                e += d * d;
            }
            loss += e / V;
        } else {
            real mx = lg[argmax];
            double sum = 0;
            for (int v = 0; v < V; v++) {
                p[v] = EXP(lg[v] - mx);
                sum += p[v];
            }
            for (int v = 0; v < V; v++) p[v] = (real)(p[v] / sum);
            if (lab < 0) continue;
            loss += -((double)lg[lab] - (double)mx - log(sum));
        }
        scored++;
        if (n_correct && argmax == lab) (*n_correct)++;
    }
    m->n_scored = scored;
    if (n_scored) *n_scored += scored;
    return scored > 0 ? loss / (double)scored : 0;
}

/* ---------------------------------------------------------------- backward */

/* The element-wise part of the LSTM's and GRU's backward for one row (the equations are at
 * cell_backward). Restrict-qualified parameters: GCC vectorizes these, and did not the same
 * loops over restrict-qualified locals. */
static void SFX(lstm_bwd_row)(real *restrict di, real *restrict df, real *restrict dg,
                              real *restrict dout, real *restrict dc, const real *restrict pi,
                              const real *restrict pf, const real *restrict pg,
                              const real *restrict po, const real *restrict tc,
                              const real *restrict cp, const real *restrict dh, int H) {
    for (int j = 0; j < H; j++) {
        real iv = pi[j], fv = pf[j], gv = pg[j], ov = po[j], tcv = tc[j];
        real dct = dc[j] + dh[j] * ov * ((real)1 - tcv * tcv);
        di[j] = dct * gv * iv * ((real)1 - iv);
        df[j] = dct * cp[j] * fv * ((real)1 - fv);
        dg[j] = dct * iv * ((real)1 - gv * gv);
        dout[j] = dh[j] * tcv * ov * ((real)1 - ov);
        dc[j] = dct * fv;
    }
}

static void SFX(gru_bwd_row)(real *restrict dr_, real *restrict dz_, real *restrict dn_,
                             real *restrict qr, real *restrict qz, real *restrict qn,
                             real *restrict dh, const real *restrict pr, const real *restrict pz,
                             const real *restrict pn, const real *restrict hprev,
                             const real *restrict hn, int H) {
    for (int j = 0; j < H; j++) {
        real r = pr[j], z = pz[j], n = pn[j], g = dh[j];
        real dn = g * ((real)1 - z) * ((real)1 - n * n);
        real dz = g * (hprev[j] - n) * z * ((real)1 - z);
        real dr = dn * hn[j] * r * ((real)1 - r);
        dr_[j] = qr[j] = dr;
        dz_[j] = qz[j] = dz;
        dn_[j] = dn;
        qn[j] = dn * r;
        dh[j] = g * z;
    }
}

/* One step of a cell's backward. On entry dh (B, H) holds the total dloss/dh_t (read-out or
 * layer above, plus the recurrence unless cut); for the LSTM dc (B, H) the recurrent
 * dloss/dc_t carried from step t+1. Writes dpre[t] (and GRU's dhp[t]); on return, unless
 * `cut`, dh (and dc) hold what flows into h_{t-1} (c_{t-1}) through the recurrence. */
static void SFX(cell_backward)(RNN *m, int l, int t, int B, int cut, int stats) {
    const vg_rnn_shape *s = &m->shape;
    int H = s->hidden, G = m->gates, GH = G * H;
    int64_t BH = (int64_t)B * H;
    real *dh = m->dh, *dc = m->dc;
    real *dp = m->dpre[l] + (int64_t)t * B * GH;
    const real *P = m->gate[l] + (int64_t)t * B * GH;
    if (s->cell == VG_CELL_RNN) {
        /* dpre = dh phi'(pre) */
        SFX(vg_act_backward)(dp, dh, P, m->hs[l] + (int64_t)(t + 1) * BH, BH, s->activation,
                             s->act_param);
        if (!cut) SFX(rgemm)(0, 0, B, H, H, dp, H, m->W_hh[l], H, 0, NULL, dh, H, m->gemm_work);
        return;
    }
    if (s->cell == VG_CELL_LSTM) {
        /* dc_t = dc + dh o (1 - tanh^2 c_t); dpre_i = dc_t g i (1 - i); dpre_f = dc_t c_{t-1}
         * f (1 - f); dpre_g = dc_t i (1 - g^2); dpre_o = dh tanh(c_t) o (1 - o);
         * into step t-1: dc f, and dh = dpre W_hh */
        const real *cp = m->cs[l] + (int64_t)t * BH, *tc = m->tc[l] + (int64_t)t * BH;
        double c2 = 0;
        if (stats) /* its own pass: inside the loop below it kept that loop scalar */
            for (int b = 0; b < B; b++) {
                const real *o = P + (int64_t)b * GH + 3 * H, *tcr = tc + (int64_t)b * H;
                const real *dhr = dh + (int64_t)b * H, *dcr = dc + (int64_t)b * H;
                for (int j = 0; j < H; j++) {
                    double dct = dcr[j] + dhr[j] * o[j] * ((real)1 - tcr[j] * tcr[j]);
                    c2 += dct * dct;
                }
            }
        for (int b = 0; b < B; b++) {
            const real *p = P + (int64_t)b * GH;
            real *d = dp + (int64_t)b * GH;
            int64_t o = (int64_t)b * H;
            SFX(lstm_bwd_row)(d, d + H, d + 2 * H, d + 3 * H, dc + o, p, p + H, p + 2 * H,
                              p + 3 * H, tc + o, cp + o, dh + o, H);
        }
        if (stats) m->stats.grad_c2[(int64_t)l * s->steps + t] = c2;
        if (!cut) SFX(rgemm)(0, 0, B, H, GH, dp, GH, m->W_hh[l], H, 0, NULL, dh, H, m->gemm_work);
        return;
    }
    /* GRU: dn_pre = dh (1 - z) (1 - n^2); dz_pre = dh (h_{t-1} - n) z (1 - z);
     * dr_pre = dn_pre hn r (1 - r); the hidden side's n block gets dn_pre r;
     * into step t-1: dh z + [dr_pre, dz_pre, dn_pre r] W_hh */
    const real *hprev = m->hs[l] + (int64_t)t * BH, *hn = m->hn[l] + (int64_t)t * BH;
    real *dq = m->dhp[l] + (int64_t)t * B * GH;
    for (int b = 0; b < B; b++) {
        const real *p = P + (int64_t)b * GH;
        real *d = dp + (int64_t)b * GH, *q = dq + (int64_t)b * GH;
        int64_t o = (int64_t)b * H;
        SFX(gru_bwd_row)(d, d + H, d + 2 * H, q, q + H, q + 2 * H, dh + o, p, p + H, p + 2 * H,
                         hprev + o, hn + o, H);
    }
    if (!cut) SFX(rgemm)(0, 0, B, H, GH, dq, GH, m->W_hh[l], H, 1, NULL, dh, H, m->gemm_work);
}

/* fraction of v (n) within 0.01 of 0 or 1 (sigmoid), or of -1 or 1 (tanh: tanh_like) */
static double SFX(saturated)(const real *v, int64_t rows, int64_t stride, int n, int tanh_like) {
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            real a = v[r * stride + j];
            k += tanh_like ? (a > (real)0.99 || a < (real)-0.99) : (a < (real)0.01 || a > (real)0.99);
        }
    return rows * n > 0 ? (double)k / ((double)rows * n) : 0;
}

static void SFX(gate_stats)(RNN *m, int l, int B) {
    const vg_rnn_shape *s = &m->shape;
    int H = s->hidden, G = m->gates, GH = G * H;
    int64_t rows = (int64_t)s->steps * B;
    double *out = m->stats.saturated + (int64_t)l * G;
    if (s->cell == VG_CELL_RNN) {
        int a = s->activation;
        out[0] = a == VG_ACT_SIGMOID ? SFX(saturated)(m->hs[l] + (int64_t)B * H, rows, H, H, 0)
                 : a == VG_ACT_TANH || a == VG_ACT_SOFTSIGN
                     ? SFX(saturated)(m->hs[l] + (int64_t)B * H, rows, H, H, 1)
                     : 0;
        return;
    }
    for (int g = 0; g < G; g++) {
        int tanh_like = (s->cell == VG_CELL_LSTM && g == 2) || (s->cell == VG_CELL_GRU && g == 2);
        out[g] = SFX(saturated)(m->gate[l] + (int64_t)g * H, rows, GH, H, tanh_like);
    }
}

void RNN_FN(backward_set)(RNN *m, const real *x, const int32_t *y, const real *tg, int stats) {
    (void)x;
    const vg_rnn_shape *s = &m->shape;
    int T = s->steps, H = s->hidden, G = m->gates, GH = G * H, V = s->n_outputs, B = m->batch;
    int K = s->bptt;
    int64_t BH = (int64_t)B * H;
    int step_cls = s->target == VG_TARGET_STEP_CLASS;
    int64_t R = step_cls ? (int64_t)T * B : B;
    double inv = m->n_scored > 0 ? 1.0 / (double)m->n_scored : 0;
    /* dlogits: cross-entropy (p - onehot) / n_scored; MSE 2 (logits - target) / (V n_scored);
     * unscored rows 0 */
    for (int64_t r = 0; r < R; r++) {
        const real *lg = m->logits + r * V, *p = m->probs + r * V;
        real *d = m->dlogits + r * V;
        if (s->target == VG_TARGET_REAL) {
            const real *tr = tg + r * V;
            for (int v = 0; v < V; v++) d[v] = (real)(2 * inv / V) * (lg[v] - tr[v]);
            continue;
        }
        int lab = SFX(label)(m, y, r, B);
        if (lab < 0) {
            memset(d, 0, (size_t)V * sizeof *d);
            continue;
        }
        if (s->loss == VG_LOSS_MSE)
            for (int v = 0; v < V; v++) d[v] = (real)(2 * inv / V) * (lg[v] - (real)(v == lab));
        else {
            for (int v = 0; v < V; v++) d[v] = p[v] * (real)inv;
            d[lab] -= (real)inv;
        }
    }
    const real *top = m->hs[s->depth - 1] + (step_cls ? BH : (int64_t)T * BH);
    SFX(big_gemm)(1, 0, V, H, (int)R, m->dlogits, V, top, H, NULL, m->dW_out, H, m->gemm_work);
    SFX(colsum)(m->db_out, m->dlogits, R, V);
    if (step_cls) {
        SFX(big_gemm)(0, 0, T * B, H, V, m->dlogits, V, m->W_out, H, NULL, m->dseq, H, m->gemm_work);
    } else { /* only the last step's slot: the others of the top layer are never read */
        SFX(rgemm)(0, 0, B, H, V, m->dlogits, V, m->W_out, H, 0, NULL, m->dseq + (int64_t)(T - 1) * BH,
                   H, m->gemm_work);
    }
    for (int l = s->depth - 1; l >= 0; l--) {
        /* what reaches h_t from outside the recurrence: every step from the layer above or a
         * read-out at every step, else the last step alone (zeroing the rest cost 5 % of the
         * step at T = 400) */
        int every_step = step_cls || l < s->depth - 1;
        memset(m->dh, 0, (size_t)BH * sizeof(real));
        memset(m->dc, 0, (size_t)BH * sizeof(real));
        memset(m->db_ih[l], 0, (size_t)GH * sizeof(real));
        memset(m->db_hh[l], 0, (size_t)GH * sizeof(real));
        /* The weight gradients, and the gradient sent to the layer below, are taken chunk by
         * chunk of TC steps as the loop leaves them, while the chunk's dpre and states are
         * still in the cache: as one product each over all T B rows after the loop they read
         * them back from memory (the RNN at T = 400: +35 % sequences/s, the LSTM +22 %).
         * The chunks are fixed by the shapes: the sums' order is deterministic. */
        int F = m->fan_in[l], TC = SFX(chunk_steps)(B), t_end = T;
        const real *in = l == 0 ? m->x_tm : m->hs[l - 1] + BH;
        for (int t = T - 1; t >= 0; t--) {
            const real *ds = m->dseq + (int64_t)t * BH;
            real *dh = m->dh;
            if (every_step || t == T - 1)
                for (int64_t i = 0; i < BH; i++) dh[i] += ds[i];
            if (stats) {
                double h2 = 0;
                for (int64_t i = 0; i < BH; i++) h2 += (double)dh[i] * dh[i];
                m->stats.grad_h2[(int64_t)l * T + t] = h2;
            }
            /* the state h_t (slot t) entering step t is detached at t = K, 2K, ...; h_0 has
             * no gradient to carry */
            int cut = t == 0 || (K > 0 && t % K == 0);
            SFX(cell_backward)(m, l, t, B, cut, stats);
            /* the biases' gradients, while this step's dpre is still in the cache */
            SFX(colsum_add)(m->db_ih[l], m->dpre[l] + (int64_t)t * B * GH, B, GH);
            if (m->dhp[l] != m->dpre[l])
                SFX(colsum_add)(m->db_hh[l], m->dhp[l] + (int64_t)t * B * GH, B, GH);
            if (cut) {
                memset(m->dh, 0, (size_t)BH * sizeof(real));
                memset(m->dc, 0, (size_t)BH * sizeof(real));
            }
            if (t % TC == 0) { /* steps [t, t_end) are done: their share of the products */
                int n = t_end - t;
                int64_t r0 = (int64_t)t * B;
                const real *dp = m->dpre[l] + r0 * GH;
                /* dW_ih += dpre^T in, dW_hh += dhp^T [h_t .. h_{t_end - 1}] */
                SFX(rgemm)(1, 0, GH, F, n * B, dp, GH, in + r0 * F, F, t_end < T, NULL,
                           m->dW_ih[l], F, m->gemm_work);
                SFX(rgemm)(1, 0, GH, H, n * B, m->dhp[l] + r0 * GH, GH, m->hs[l] + r0 * H, H,
                           t_end < T, NULL, m->dW_hh[l], H, m->gemm_work);
                if (l > 0) /* dloss/dh^{l-1} of these steps = dpre^l W_ih^l */
                    SFX(big_gemm)(0, 0, n * B, H, GH, dp, GH, m->W_ih[l], F, NULL,
                                  m->dseq + r0 * H, H, m->gemm_work);
                t_end = t;
            }
        }
        if (m->dhp[l] == m->dpre[l]) memcpy(m->db_hh[l], m->db_ih[l], (size_t)GH * sizeof(real));
        if (stats) SFX(gate_stats)(m, l, B);
    }
}

void RNN_FN(gate_grad_norms)(const RNN *m, double *out) {
    const vg_rnn_shape *s = &m->shape;
    int H = s->hidden, G = m->gates;
    for (int l = 0; l < s->depth; l++)
        for (int g = 0; g < G; g++) {
            double sum = 0;
            int F = m->fan_in[l];
            for (int r = g * H; r < (g + 1) * H; r++) {
                for (int c = 0; c < F; c++) sum += (double)m->dW_ih[l][(int64_t)r * F + c] * m->dW_ih[l][(int64_t)r * F + c];
                for (int c = 0; c < H; c++) sum += (double)m->dW_hh[l][(int64_t)r * H + c] * m->dW_hh[l][(int64_t)r * H + c];
                sum += (double)m->db_ih[l][r] * m->db_ih[l][r] + (double)m->db_hh[l][r] * m->db_hh[l][r];
            }
            out[l * G + g] = sqrt(sum);
        }
}

double RNN_FN(step_flops)(const RNN *m, int B) {
    const vg_rnn_shape *s = &m->shape;
    double T = s->steps, H = s->hidden, GH = (double)m->gates * H, V = s->n_outputs, f = 0;
    for (int l = 0; l < s->depth; l++) {
        double F = m->fan_in[l];
        f += T * B * GH * (F + H);           /* forward: projection, recurrence */
        f += T * B * GH * (F + H + H);       /* backward: dW_ih, dh, dW_hh */
        if (l > 0) f += T * B * GH * F;      /* backward: the input gradient */
    }
    double R = s->target == VG_TARGET_STEP_CLASS ? T * B : B;
    f += 3 * R * V * H;
    return 2 * f;
}

#undef RNN
