/* The finite-difference gradient checker (vgsweep/gradcheck.h). Written against the model
 * interface only, so every kind of net is proven by the same code. */
#include "vgsweep/gradcheck.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "vgsweep/settings.h"

/* Which side of 0 every activation input lies on, folded into a hash: for activations with a
 * kink at 0 (relu, leaky_relu, selu; elu when alpha != 1), a finite difference whose
 * perturbation moves a unit across 0 measures nothing. 0 when no layer has a kink. */
static uint64_t vg__kink_pattern(const vg_model_f64 *m) {
    uint64_t h = 1469598103934665603ULL;
    int any = 0;
    for (int l = 0; l < m->plan.n_layers; l++) {
        int cols = m->plan.layers[l].act_cols;
        if (cols == 0) continue;
        vg_model_probe_view_f64 v;
        m->ops->probe_view(m, l, &v);
        int act = v.activation;
        if (act != VG_ACT_RELU && act != VG_ACT_LEAKY_RELU && act != VG_ACT_SELU && act != VG_ACT_ELU)
            continue;
        any = 1;
        for (int64_t i = 0; i < v.act_rows * cols; i++)
            h = (h ^ (uint64_t)(v.u[i] > 0)) * 1099511628211ULL;
    }
    return any ? h : 0;
}

/* Tensor i: its errors into *tensor_err, *elem_err (at *elem_at), counts into res. */
static vg_status vg__check_tensor(vg_model_f64 *m, const vg_batch_f64 *b, int i, double *num,
                                  double *tensor_err, double *elem_err, int64_t *elem_at,
                                  vg_gradcheck_result *res) {
    const vg_model_tensor *t = &m->plan.tensors[i];
    int64_t n = t->dims[0] * (t->rank == 2 ? t->dims[1] : 1);
    double *p = vg_model_f64_tensor_value(m, i);
    const double *g = vg_model_f64_tensor_grad(m, i);
    double diff2 = 0, a2 = 0, n2 = 0, gmax = 0, worst = 0;
    m->ops->forward(m, b, VG_PASS_PROBE, NULL);
    uint64_t pattern = vg__kink_pattern(m);
    *elem_at = -1;
    for (int64_t e = 0; e < n; e++) {
        enum { N_STEPS = 16 };
        double saved = p[e], d[N_STEPS], rounding[N_STEPS];
        int ok[N_STEPS];
        for (int k = 0; k < N_STEPS; k++) {
            double h = 1e-2 / (double)(1 << k), f[4], fmag = 0;
            const double offsets[4] = {-2 * h, -h, h, 2 * h};
            ok[k] = 1;
            for (int j = 0; j < 4; j++) {
                p[e] = saved + offsets[j];
                f[j] = m->ops->forward(m, b, VG_PASS_PROBE, NULL);
                fmag = fmax(fmag, fabs(f[j]));
                if (vg__kink_pattern(m) != pattern) ok[k] = 0;
            }
            d[k] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
            /* the least error of d[k]: each loss is rounded (eps |f|), and the weights
             * |1| + 8 + 8 + |1| over 12 h amplify that by 1.5 / h */
            rounding[k] = 1.5 * DBL_EPSILON * fmag / h;
        }
        int crossed = 1;
        double best = INFINITY;
        for (int k = 0; k + 1 < N_STEPS; k++) {
            if (!ok[k] || !ok[k + 1]) continue;
            /* |d_k - d_{k+1}| alone is no error estimate at steps so small that the loss
             * differences are a few ulps: there two estimates can agree exactly by
             * quantization (a bias before batch norm, whose loss is flat, measured 1e-9 that
             * way on arm64, failing the bound); the rounding floor of d_{k+1} keeps such steps
             * from looking exact */
            double err = fabs(d[k] - d[k + 1]) + rounding[k + 1];
            if (err < best) best = err, num[e] = d[k + 1], crossed = 0;
        }
        p[e] = saved;
        if (crossed) { /* a unit sits at its kink: no derivative to compare */
            res->n_kinks++;
            num[e] = g[e];
        } else {
            res->n_checked++;
        }
        diff2 += (g[e] - num[e]) * (g[e] - num[e]);
        a2 += g[e] * g[e];
        n2 += num[e] * num[e];
        if (fabs(g[e]) > gmax) gmax = fabs(g[e]);
    }
    for (int64_t e = 0; e < n; e++) {
        if (fabs(g[e]) < 1e-2 * gmax || fabs(g[e]) < 1e-9 * res->grad_norm) continue;
        double rel = fabs(g[e] - num[e]) / fmax(fabs(g[e]), fabs(num[e]));
        if (rel > worst) worst = rel, *elem_at = e;
    }
    double scale = fmax(sqrt(fmax(a2, n2)), 1e-4 * res->grad_norm);
    *tensor_err = scale > 0 ? sqrt(diff2) / scale : 0;
    *elem_err = worst;
    return VG_OK;
}

vg_status vg_gradcheck_f64(vg_model_f64 *m, const vg_batch_f64 *b,
                           const vg_gradcheck_bounds *bounds, vg_gradcheck_result *res,
                           vg_error *err) {
    res->loss = res->grad_norm = res->tensor_err = res->element_err = 0;
    res->tensor_worst = res->element_tensor = -1;
    res->element_index = -1;
    res->n_checked = res->n_kinks = 0;
    res->loss = m->ops->forward(m, b, VG_PASS_PROBE, NULL);
    m->ops->backward(m, b);
    double g2 = 0;
    for (int64_t i = 0; i < m->plan.n_params; i++) g2 += m->grads[i] * m->grads[i];
    res->grad_norm = sqrt(g2);
    if (!isfinite(res->loss) || !isfinite(res->grad_norm))
        return vg_error_set(err, VG_ENUMERIC, "gradient check: loss %g, gradient norm %g",
                            res->loss, res->grad_norm);
    int64_t largest = 0;
    for (int i = 0; i < m->plan.n_tensors; i++) {
        const vg_model_tensor *t = &m->plan.tensors[i];
        int64_t n = t->dims[0] * (t->rank == 2 ? t->dims[1] : 1);
        if (t->trained && n > largest) largest = n;
    }
    double *num = malloc((size_t)(largest > 0 ? largest : 1) * sizeof *num);
    if (!num) return vg_error_set(err, VG_ENOMEM, "gradient check: out of memory");
    for (int i = 0; i < m->plan.n_tensors; i++) {
        if (!m->plan.tensors[i].trained) continue;
        double te, ee;
        int64_t at;
        vg__check_tensor(m, b, i, num, &te, &ee, &at, res);
        if (res->tensor_worst < 0 || te > res->tensor_err) res->tensor_err = te, res->tensor_worst = i;
        if (at >= 0 && ee > res->element_err)
            res->element_err = ee, res->element_tensor = i, res->element_index = at;
    }
    free(num);
    /* the model's last pass was a perturbed one: leave it as after the analytic gradient */
    m->ops->forward(m, b, VG_PASS_PROBE, NULL);
    m->ops->backward(m, b);
    if (!bounds) return VG_OK;
    if (res->tensor_err >= bounds->tensor) {
        const vg_model_tensor *t = &m->plan.tensors[res->tensor_worst];
        return vg_error_set(err, VG_ENUMERIC,
                            "gradient check: layer %d's %s has relative error %.3g (bound %.3g)",
                            t->layer + 1, t->name, res->tensor_err, bounds->tensor);
    }
    if (res->element_err >= bounds->element) {
        const vg_model_tensor *t = &m->plan.tensors[res->element_tensor];
        return vg_error_set(err, VG_ENUMERIC,
                            "gradient check: layer %d's %s[%lld] has relative error %.3g "
                            "(bound %.3g)", t->layer + 1, t->name, (long long)res->element_index,
                            res->element_err, bounds->element);
    }
    return VG_OK;
}
