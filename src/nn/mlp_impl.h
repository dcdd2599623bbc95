/* The MLP, written once for any float type. Included by mlp_f32.c and mlp_f64.c after they
 * define:
 *   real        float or double
 *   SFX(name)   name##_f32 or name##_f64 (the public suffix)
 *   MLP_FN(name) vg_mlp_f32_##name or vg_mlp_f64_##name
 *   GEMM        cblas_sgemm or cblas_dgemm
 *   EXP, TANH   expf/tanhf or exp/tanh
 * Kernels come in pairs, forward and backward side by side, arguments ordered outputs, inputs,
 * sizes; backward adds into parameter gradients. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "vgsweep/nn.h"
#include "vgsweep/settings.h"

#define MLP SFX(vg_mlp)

/* ---------------------------------------------------------------- activations */

void SFX(vg_act_forward)(real *h, const real *z, int64_t n, int activation) {
    switch (activation) {
    case VG_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) h[i] = (real)1 / ((real)1 + EXP(-z[i]));
        break;
    case VG_ACT_TANH:
        for (int64_t i = 0; i < n; i++) h[i] = TANH(z[i]);
        break;
    case VG_ACT_RELU:
        for (int64_t i = 0; i < n; i++) h[i] = z[i] > 0 ? z[i] : 0;
        break;
    default:
        memcpy(h, z, (size_t)n * sizeof *h);
    }
}

void SFX(vg_act_backward)(real *dz, const real *dh, const real *z, const real *h, int64_t n,
                          int activation) {
    switch (activation) {
    case VG_ACT_SIGMOID: /* phi' = h (1 - h) */
        for (int64_t i = 0; i < n; i++) dz[i] = dh[i] * h[i] * ((real)1 - h[i]);
        break;
    case VG_ACT_TANH: /* phi' = 1 - h^2 */
        for (int64_t i = 0; i < n; i++) dz[i] = dh[i] * ((real)1 - h[i] * h[i]);
        break;
    case VG_ACT_RELU: /* phi' = [z > 0] (0 at z = 0, as PyTorch) */
        for (int64_t i = 0; i < n; i++) dz[i] = z[i] > 0 ? dh[i] : 0;
        break;
    default:
        memcpy(dz, dh, (size_t)n * sizeof *dz);
    }
}

/* ---------------------------------------------------------------- dense */

/* out (B, OC) = inp (B, C) W^T + b, with W (OC, C), b (OC). */
static void SFX(dense_forward)(real *out, const real *inp, const real *W, const real *b, int B,
                               int C, int OC) {
    for (int r = 0; r < B; r++) memcpy(out + (int64_t)r * OC, b, (size_t)OC * sizeof *out);
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1, inp, C, W, C, 1, out, OC);
}

/* dW (OC, C) += dout^T inp; db (OC) += column sums of dout; dinp (B, C) = dout W (overwritten,
 * NULL to skip: the first layer needs no input gradient). */
static void SFX(dense_backward)(real *dinp, real *dW, real *db, const real *dout, const real *inp,
                                const real *W, int B, int C, int OC) {
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1, dout, OC, inp, C, 1, dW, C);
    for (int r = 0; r < B; r++) {
        const real *row = dout + (int64_t)r * OC;
        for (int o = 0; o < OC; o++) db[o] += row[o];
    }
    if (dinp) GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1, dout, OC, W, C, 0, dinp, C);
}

/* ---------------------------------------------------------------- softmax cross-entropy */

/* probs (B, V) = softmax(logits); returns the summed (not mean) cross-entropy over rows with
 * labels y (NULL: 0) and adds correct argmax predictions to *n_correct. */
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
            /* log p_y computed from the logits, not from the rounded probability */
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

/* ---------------------------------------------------------------- model */

vg_status MLP_FN(create)(MLP *m, const vg_mlp_shape *shape, vg_error *err) {
    memset(m, 0, sizeof *m);
    if (shape->depth < 1 || shape->width < 1 || shape->n_inputs < 1 || shape->n_outputs < 2 ||
        shape->max_batch < 1)
        return vg_error_set(err, VG_EINTERNAL, "invalid net shape");
    m->shape = *shape;
    int L = m->n_layers = shape->depth + 1;
    m->fan_in = calloc((size_t)L, sizeof *m->fan_in);
    m->fan_out = calloc((size_t)L, sizeof *m->fan_out);
    real **views = calloc((size_t)L * 7, sizeof *views);
    if (!m->fan_in || !m->fan_out || !views) goto oom;
    m->W = views, m->b = views + L, m->dW = views + 2 * L, m->db = views + 3 * L;
    m->z = views + 4 * L, m->h = views + 5 * L, m->dz = views + 6 * L;

    int64_t n_params = 0, n_act = 0;
    m->max_fan = shape->n_inputs;
    for (int l = 0; l < L; l++) {
        m->fan_in[l] = l == 0 ? shape->n_inputs : shape->width;
        m->fan_out[l] = l == L - 1 ? shape->n_outputs : shape->width;
        n_params += (int64_t)m->fan_out[l] * (m->fan_in[l] + 1);
        n_act += (int64_t)m->fan_out[l];
        if (m->fan_out[l] > m->max_fan) m->max_fan = m->fan_out[l];
    }
    m->n_params = n_params;
    int64_t B = shape->max_batch;
    m->params = malloc((size_t)n_params * sizeof(real));
    m->grads = calloc((size_t)n_params, sizeof(real));
    m->arena = malloc((size_t)(3 * n_act * B + B * m->max_fan) * sizeof(real));
    if (!m->params || !m->grads || !m->arena) goto oom;

    real *p = m->params, *g = m->grads, *a = m->arena;
    for (int l = 0; l < L; l++) {
        int64_t w = (int64_t)m->fan_out[l] * m->fan_in[l];
        m->W[l] = p, m->dW[l] = g, p += w, g += w;
        m->b[l] = p, m->db[l] = g, p += m->fan_out[l], g += m->fan_out[l];
        int64_t act = B * m->fan_out[l];
        m->z[l] = a, a += act;
        m->h[l] = a, a += act;
        m->dz[l] = a, a += act;
    }
    m->dh = a;
    memset(m->params, 0, (size_t)n_params * sizeof(real));
    return VG_OK;
oom:
    MLP_FN(free)(m);
    return vg_error_set(err, VG_ENOMEM, "out of memory for a net of depth %d, width %d",
                        shape->depth, shape->width);
}

void MLP_FN(free)(MLP *m) {
    free(m->fan_in);
    free(m->fan_out);
    free(m->W); /* the block holding all per-layer views */
    free(m->params);
    free(m->grads);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

void MLP_FN(init)(MLP *m, const vg_init_spec *init, vg_rng *rng) {
    for (int l = 0; l < m->n_layers; l++) {
        int fi = m->fan_in[l], fo = m->fan_out[l];
        int64_t n = (int64_t)fi * fo;
        real *W = m->W[l];
        switch (init->kind) {
        case VG_INIT_STANDARD: { /* Glorot & Bengio's "standard": U[-1/sqrt(fan_in), +] */
            double a = 1.0 / sqrt((double)fi);
            for (int64_t i = 0; i < n; i++) W[i] = (real)vg_rng_uniform_range(rng, -a, a);
            break;
        }
        case VG_INIT_XAVIER_UNIFORM: { /* U[-a, a], a = sqrt(6 / (fan_in + fan_out)) */
            double a = sqrt(6.0 / (double)(fi + fo));
            for (int64_t i = 0; i < n; i++) W[i] = (real)vg_rng_uniform_range(rng, -a, a);
            break;
        }
        case VG_INIT_HE_NORMAL: { /* N(0, 2 / fan_in) */
            double s = sqrt(2.0 / (double)fi);
            for (int64_t i = 0; i < n; i++) W[i] = (real)(s * vg_rng_normal(rng));
            break;
        }
        case VG_INIT_NORMAL:
        default:
            for (int64_t i = 0; i < n; i++) W[i] = (real)(init->std * vg_rng_normal(rng));
            break;
        }
        memset(m->b[l], 0, (size_t)fo * sizeof(real));
    }
}

double MLP_FN(forward)(MLP *m, const real *x, const int32_t *y, int B, int64_t *n_correct) {
    int L = m->n_layers;
    m->batch = B;
    const real *inp = x;
    for (int l = 0; l < L; l++) {
        SFX(dense_forward)(m->z[l], inp, m->W[l], m->b[l], B, m->fan_in[l], m->fan_out[l]);
        if (l < L - 1) {
            SFX(vg_act_forward)(m->h[l], m->z[l], (int64_t)B * m->fan_out[l], m->shape.activation);
            inp = m->h[l];
        }
    }
    double loss_sum = SFX(softmax_xent_forward)(m->h[L - 1], m->z[L - 1], y, B, m->fan_out[L - 1],
                                                n_correct);
    return loss_sum / B;
}

void MLP_FN(zero_grad)(MLP *m) { memset(m->grads, 0, (size_t)m->n_params * sizeof(real)); }

void MLP_FN(backward)(MLP *m, const real *x, const int32_t *y) {
    int L = m->n_layers, B = m->batch;
    SFX(softmax_xent_backward)(m->dz[L - 1], m->h[L - 1], y, B, m->fan_out[L - 1]);
    for (int l = L - 1; l >= 0; l--) {
        const real *inp = l == 0 ? x : m->h[l - 1];
        real *dinp = l == 0 ? NULL : m->dh;
        SFX(dense_backward)(dinp, m->dW[l], m->db[l], m->dz[l], inp, m->W[l], B, m->fan_in[l],
                            m->fan_out[l]);
        if (l > 0)
            SFX(vg_act_backward)(m->dz[l - 1], m->dh, m->z[l - 1], m->h[l - 1],
                                 (int64_t)B * m->fan_out[l - 1], m->shape.activation);
    }
}

void MLP_FN(sgd_step)(MLP *m, double lr) {
    real r = (real)lr;
    real *p = m->params;
    const real *g = m->grads;
    for (int64_t i = 0; i < m->n_params; i++) p[i] -= r * g[i];
}

#undef MLP
#undef MLP_FN
