/* Optimizers, one flat loop over all parameters each, following torch.optim's update rules so
 * a run can be rebuilt in PyTorch (weight decay is coupled L2: added to the gradient). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/nn.h"
#include "vgsweep/settings.h"

vg_status vg_optim_f32_create(vg_optim_f32 *opt, const vg_optim_spec *spec, int64_t n,
                              vg_error *err) {
    memset(opt, 0, sizeof *opt);
    opt->spec = *spec;
    opt->n = n;
    int needs1 = spec->kind != VG_OPT_SGD, needs2 = spec->kind == VG_OPT_ADAM;
    if (needs1) opt->state1 = calloc((size_t)n, sizeof(float));
    if (needs2) opt->state2 = calloc((size_t)n, sizeof(float));
    if ((needs1 && !opt->state1) || (needs2 && !opt->state2)) {
        vg_optim_f32_free(opt);
        return vg_error_set(err, VG_ENOMEM, "out of memory for the optimizer state");
    }
    return VG_OK;
}

void vg_optim_f32_free(vg_optim_f32 *opt) {
    free(opt->state1);
    free(opt->state2);
    memset(opt, 0, sizeof *opt);
}

void vg_optim_f32_step(vg_optim_f32 *opt, float *p, float *g, double lr) {
    const vg_optim_spec *s = &opt->spec;
    const int64_t n = opt->n;
    const float r = (float)lr, wd = (float)s->weight_decay;
    opt->t++;
    if (wd != 0)
        for (int64_t i = 0; i < n; i++) g[i] += wd * p[i];
    switch (s->kind) {
    case VG_OPT_SGD:
        for (int64_t i = 0; i < n; i++) p[i] -= r * g[i];
        break;
    case VG_OPT_MOMENTUM: { /* buf = mu buf + g (buf = g at the first step); Nesterov: g + mu buf */
        const float mu = (float)s->momentum;
        float *buf = opt->state1;
        if (opt->t == 1) memcpy(buf, g, (size_t)n * sizeof *buf);
        else
            for (int64_t i = 0; i < n; i++) buf[i] = mu * buf[i] + g[i];
        if (s->nesterov)
            for (int64_t i = 0; i < n; i++) p[i] -= r * (g[i] + mu * buf[i]);
        else
            for (int64_t i = 0; i < n; i++) p[i] -= r * buf[i];
        break;
    }
    case VG_OPT_ADAM: { /* m, v moving averages; bias-corrected step lr m^ / (sqrt(v^) + eps) */
        const float b1 = (float)s->beta1, b2 = (float)s->beta2, eps = (float)s->eps;
        const double bc1 = 1 - pow(s->beta1, (double)opt->t), bc2 = 1 - pow(s->beta2, (double)opt->t);
        const float step = (float)(lr / bc1), rbc2 = (float)(1 / sqrt(bc2));
        float *m = opt->state1, *v = opt->state2;
        for (int64_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            p[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
        }
        break;
    }
    case VG_OPT_RMSPROP: { /* v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps) */
        const float al = (float)s->rms_alpha, eps = (float)s->eps;
        float *v = opt->state1;
        for (int64_t i = 0; i < n; i++) {
            v[i] = al * v[i] + (1 - al) * g[i] * g[i];
            p[i] -= r * g[i] / (sqrtf(v[i]) + eps);
        }
        break;
    }
    case VG_OPT_ADAGRAD: { /* s += g^2; p -= lr g / (sqrt(s) + eps) */
        const float eps = (float)s->eps;
        float *acc = opt->state1;
        for (int64_t i = 0; i < n; i++) {
            acc[i] += g[i] * g[i];
            p[i] -= r * g[i] / (sqrtf(acc[i]) + eps);
        }
        break;
    }
    }
}
