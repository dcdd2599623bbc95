/* Mean-field theory at initialization (include/vgsweep/theory.h, docs/REPORT.md). */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/theory.h"

#define VG__SELU_LAMBDA 1.0507009873554805
#define VG__SELU_ALPHA 1.6732632423543772
/* E over N(mean, q): the midpoint rule on [-10, 10] standard deviations, which is spectrally
 * accurate for smooth integrands against the Gaussian and exact for a kink at the mean. */
#define VG__NODES 1000
/* the fixed point's search uses every 5th node (200): chi* decides only the phase and xi */
#define VG__COARSE 5
#define VG__FIXED_POINT_STEPS 500

static double vg__sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static void vg__phi(const vg_run_config *c, double z, double *f, double *df) {
    switch ((vg_activation)c->model_activation) {
    case VG_ACT_SIGMOID: {
        double s = vg__sigmoid(z);
        *f = s, *df = s * (1 - s);
        break;
    }
    case VG_ACT_TANH: {
        double t = tanh(z);
        *f = t, *df = 1 - t * t;
        break;
    }
    case VG_ACT_RELU: *f = z > 0 ? z : 0, *df = z > 0 ? 1 : 0; break;
    case VG_ACT_LEAKY_RELU:
        *f = z > 0 ? z : c->model_leaky_slope * z, *df = z > 0 ? 1 : c->model_leaky_slope;
        break;
    case VG_ACT_ELU:
        *f = z > 0 ? z : c->model_elu_alpha * expm1(z), *df = z > 0 ? 1 : c->model_elu_alpha * exp(z);
        break;
    case VG_ACT_SELU:
        *f = VG__SELU_LAMBDA * (z > 0 ? z : VG__SELU_ALPHA * expm1(z));
        *df = VG__SELU_LAMBDA * (z > 0 ? 1 : VG__SELU_ALPHA * exp(z));
        break;
    case VG_ACT_GELU: {
        double cdf = 0.5 * erfc(-z / sqrt(2.0)), pdf = exp(-0.5 * z * z) * 0.3989422804014327;
        *f = z * cdf, *df = cdf + z * pdf;
        break;
    }
    case VG_ACT_SOFTSIGN: {
        double a = 1 + fabs(z);
        *f = z / a, *df = 1 / (a * a);
        break;
    }
    case VG_ACT_SWISH: {
        double s = vg__sigmoid(z);
        *f = z * s, *df = s + z * s * (1 - s);
        break;
    }
    case VG_ACT_LINEAR:
    default: *f = z, *df = 1; break;
    }
}

static double vg__w[VG__NODES], vg__t[VG__NODES];
static int vg__ready;

static void vg__nodes(void) {
    if (vg__ready) return;
    double h = 20.0 / VG__NODES, sum = 0;
    for (int k = 0; k < VG__NODES; k++) {
        vg__t[k] = -10 + (k + 0.5) * h;
        vg__w[k] = exp(-0.5 * vg__t[k] * vg__t[k]);
        sum += vg__w[k];
    }
    for (int k = 0; k < VG__NODES; k++) vg__w[k] /= sum;
    vg__ready = 1;
}

/* E[phi(z)^2] and E[phi'(z)^2] over z ~ N(mean, q), on every `stride`-th node. */
static void vg__expect_stride(const vg_run_config *c, double mean, double q, int stride,
                              double *e_f2, double *e_df2) {
    double sd = sqrt(q > 0 ? q : 0), a = 0, b = 0, wsum = 0;
    for (int k = stride / 2; k < VG__NODES; k += stride) {
        double f, df;
        vg__phi(c, mean + sd * vg__t[k], &f, &df);
        a += vg__w[k] * f * f;
        b += vg__w[k] * df * df;
        wsum += vg__w[k];
    }
    *e_f2 = a / wsum, *e_df2 = b / wsum;
}

static void vg__expect(const vg_run_config *c, double mean, double q, double *e_f2, double *e_df2) {
    vg__expect_stride(c, mean, q, 1, e_f2, e_df2);
}

double vg_theory_weight_var(const vg_run_config *c, int fan_in, int fan_out) {
    double g2 = c->model_init_gain * c->model_init_gain, fi = fan_in, fo = fan_out;
    switch ((vg_init)c->model_init) {
    case VG_INIT_STANDARD: return g2 / (3 * fi);
    case VG_INIT_NORMAL: return g2 * c->model_init_std * c->model_init_std;
    case VG_INIT_UNIFORM: return g2 * c->model_init_limit * c->model_init_limit / 3;
    case VG_INIT_XAVIER_UNIFORM:
    case VG_INIT_XAVIER_NORMAL: return g2 * 2 / (fi + fo);
    case VG_INIT_HE_UNIFORM:
    case VG_INIT_HE_NORMAL: return g2 * 2 / fi;
    case VG_INIT_LECUN_NORMAL: return g2 / fi;
    case VG_INIT_ORTHOGONAL: return g2 / (fi > fo ? fi : fo);
    default: return g2 / fi;
    }
}

void vg_theory_predict(const vg_run_config *c, double tol, vg_theory *out) {
    *out = (vg_theory){.ok = 0, .reason = "", .phase = "", .xi = NAN, .chi_mean = NAN,
                       .chi_star = NAN, .log10_ratio = NAN, .q_first = NAN, .q_last = NAN,
                       .log10_delta_first = NAN};
    if (c->model_norm != VG_NORM_NONE) {
        out->reason = "normalization: no mean-field prediction";
        return;
    }
    if (c->model_skip_every > 0) {
        out->reason = "residual blocks: no mean-field prediction";
        return;
    }
    vg__nodes();
    int F = c->data_features, n = c->model_width, depth = c->model_depth, C = c->data_classes;
    double b = c->model_bias_init;
    double sep2 = c->data_separation * c->data_separation / (2.0 * F);
    double q = F * vg_theory_weight_var(c, F, n) * (1 + sep2);
    double s2n = n * vg_theory_weight_var(c, n, n);
    double ef2, edf2, sum_log = 0;
    out->q_first = q;
    /* forward: q_l and chi_l; cum[l] = sum of log10 chi_k for k <= l (the underflow count) */
    double log10_flt_min = log10(FLT_MIN);
    double cum[10001];
    cum[0] = 0;
    for (int l = 1; l <= depth; l++) {
        vg__expect(c, b, q, &ef2, &edf2);
        if (l < depth) {
            double chi = s2n * edf2;
            double lc = chi > 0 ? log10(chi) : -400;
            sum_log += lc;
            cum[l] = cum[l - 1] + lc;
            q = s2n * ef2;
            if (!isfinite(q)) q = 1e300;
        } else {
            cum[l] = cum[l - 1];
        }
    }
    out->q_last = q;
    out->n_chi = depth - 1;
    out->log10_ratio = fabs(sum_log) < 1e-12 ? 0 : 0.5 * sum_log;
    /* fixed point of q (the phase is a property of the map, not of the net's depth) */
    double qs = q, chi_prev = NAN;
    for (int k = 0; k < VG__FIXED_POINT_STEPS; k++) {
        double f2, d2;
        vg__expect_stride(c, b, qs, VG__COARSE, &f2, &d2);
        double next = s2n * f2, chi = s2n * d2;
        /* converged: q itself, or chi (relu-like nets at b = 0 have no finite q* but a chi that
         * does not depend on q) */
        if (fabs(chi - chi_prev) <= 1e-7 * (1 + fabs(chi))) break;
        chi_prev = chi;
        if (!isfinite(next) || next > 1e100 || next < 1e-100) break;
        int done = fabs(next - qs) <= 1e-10 * (1 + qs);
        qs = next;
        if (done) break;
    }
    double f2s, d2s;
    vg__expect(c, b, qs, &f2s, &d2s);
    out->chi_star = s2n * d2s;
    if (fabs(out->chi_star - 1) < 1e-12) out->chi_star = 1; /* relu/He: exactly critical */
    out->chi_mean = depth > 1 ? pow(10, sum_log / (depth - 1)) : out->chi_star;
    double lc = log(out->chi_star);
    out->xi = fabs(lc) > 1e-9 ? -1 / lc : INFINITY;
    out->phase = out->chi_star < 1 - tol ? "ordered" : out->chi_star > 1 + tol ? "chaotic" : "critical";
    /* float32: dloss/dz at the logits is about (softmax - onehot)/B per entry; one step back to
     * the last hidden layer multiplies its RMS by sqrt(C * s_L^2 * E[phi'(z_depth)^2]) */
    double B = c->train_batch_size, d_out;
    if (c->train_loss == VG_LOSS_MSE) d_out = 2.0 * sqrt(1.0 / C) / (B * C);
    else d_out = sqrt((double)(C - 1)) / C / B;
    vg__expect(c, b, q, &ef2, &edf2);
    double log_last = log10(d_out) + 0.5 * log10(C * vg_theory_weight_var(c, n, C) * edf2 + 1e-300);
    out->underflow_layers = 0;
    for (int l = 1; l <= depth; l++) {
        /* delta_l = delta_depth * 10^(0.5 * sum_{k=l}^{depth-1} log10 chi_k) */
        double lg = log_last + 0.5 * (cum[depth - 1] - cum[l - 1]);
        if (l == 1) out->log10_delta_first = lg;
        if (lg < log10_flt_min) out->underflow_layers++;
    }
    out->ok = 1;
}

/* --- cache --- */

typedef struct vg__theory_key {
    double leaky, elu, std, limit, gain, bias, separation;
    int activation, init, norm, skip, width, depth, features, classes, batch, loss;
} vg__theory_key;

typedef struct vg__theory_slot {
    int used;
    vg__theory_key key;
    vg_theory th;
} vg__theory_slot;

struct vg_theory_cache {
    double tol;
    size_t cap, n;
    vg__theory_slot *slots;
};

static void vg__key_of(const vg_run_config *c, vg__theory_key *k) {
    memset(k, 0, sizeof *k); /* padding too: keys are compared and hashed as bytes */
    k->leaky = c->model_leaky_slope, k->elu = c->model_elu_alpha, k->std = c->model_init_std;
    k->limit = c->model_init_limit, k->gain = c->model_init_gain, k->bias = c->model_bias_init;
    k->separation = c->data_separation, k->activation = c->model_activation, k->init = c->model_init;
    k->norm = c->model_norm, k->skip = c->model_skip_every, k->width = c->model_width;
    k->depth = c->model_depth, k->features = c->data_features, k->classes = c->data_classes;
    k->batch = c->train_batch_size, k->loss = c->train_loss;
}

static uint64_t vg__hash(const vg__theory_key *k) {
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

vg_theory_cache *vg_theory_cache_new(double tol) {
    vg_theory_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->tol = tol;
    c->cap = 64;
    c->slots = calloc(c->cap, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

void vg_theory_cache_free(vg_theory_cache *c) {
    if (!c) return;
    free(c->slots);
    free(c);
}

static vg__theory_slot *vg__probe(vg__theory_slot *slots, size_t cap, const vg__theory_key *k) {
    size_t i = (size_t)(vg__hash(k) & (cap - 1));
    while (slots[i].used && memcmp(&slots[i].key, k, sizeof *k) != 0) i = (i + 1) & (cap - 1);
    return &slots[i];
}

const vg_theory *vg_theory_cached(vg_theory_cache *c, const vg_run_config *cfg) {
    vg__theory_key k;
    vg__key_of(cfg, &k);
    vg__theory_slot *s = vg__probe(c->slots, c->cap, &k);
    if (s->used) return &s->th;
    if (2 * (c->n + 1) > c->cap) { /* grow, then probe again */
        size_t cap = 2 * c->cap;
        vg__theory_slot *slots = calloc(cap, sizeof *slots);
        if (!slots) return NULL;
        for (size_t i = 0; i < c->cap; i++)
            if (c->slots[i].used) *vg__probe(slots, cap, &c->slots[i].key) = c->slots[i];
        free(c->slots);
        c->slots = slots, c->cap = cap;
        s = vg__probe(c->slots, c->cap, &k);
    }
    s->used = 1;
    s->key = k;
    vg_theory_predict(cfg, c->tol, &s->th);
    c->n++;
    return &s->th;
}
