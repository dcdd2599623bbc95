/* Optimizers, one flat loop over all parameters each, following torch.optim's update rules so
 * a run can be rebuilt in PyTorch (weight decay is coupled L2: added to the gradient). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/nn.h"
#include "vgsweep/settings.h"
#include "vgsweep/team.h"

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

/* One step's update of elements [i0, i1): each element by the same instructions wherever the
 * range starts (no contraction in ISO C, so vector and scalar iterations agree bit for bit). */
typedef struct {
    const vg_optim_f32 *opt;
    float *p, *g;
    int64_t n;
    float r, wd;
    float step, rbc2; /* Adam: lr / bias correction 1, 1 / sqrt(bias correction 2) */
} vg__optim_job;

static void vg__optim_range(const vg__optim_job *j, int64_t i0, int64_t i1) {
    const vg_optim_spec *s = &j->opt->spec;
    float *restrict p = j->p, *restrict g = j->g;
    const float r = j->r, wd = j->wd;
    if (wd != 0)
        for (int64_t i = i0; i < i1; i++) g[i] += wd * p[i];
    switch (s->kind) {
    case VG_OPT_SGD:
        for (int64_t i = i0; i < i1; i++) p[i] -= r * g[i];
        break;
    case VG_OPT_MOMENTUM: { /* buf = mu buf + g (buf = g at the first step); Nesterov: g + mu buf */
        const float mu = (float)s->momentum;
        float *restrict buf = j->opt->state1;
        if (j->opt->t == 1) memcpy(buf + i0, g + i0, (size_t)(i1 - i0) * sizeof *buf);
        else
            for (int64_t i = i0; i < i1; i++) buf[i] = mu * buf[i] + g[i];
        if (s->nesterov)
            for (int64_t i = i0; i < i1; i++) p[i] -= r * (g[i] + mu * buf[i]);
        else
            for (int64_t i = i0; i < i1; i++) p[i] -= r * buf[i];
        break;
    }
    case VG_OPT_ADAM: { /* m, v moving averages; bias-corrected step lr m^ / (sqrt(v^) + eps) */
        const float b1 = (float)s->beta1, b2 = (float)s->beta2, eps = (float)s->eps;
        const float step = j->step, rbc2 = j->rbc2;
        float *restrict m = j->opt->state1, *restrict v = j->opt->state2;
        for (int64_t i = i0; i < i1; i++) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            p[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
        }
        break;
    }
    case VG_OPT_RMSPROP: { /* v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps) */
        const float al = (float)s->rms_alpha, eps = (float)s->eps;
        float *restrict v = j->opt->state1;
        for (int64_t i = i0; i < i1; i++) {
            v[i] = al * v[i] + (1 - al) * g[i] * g[i];
            p[i] -= r * g[i] / (sqrtf(v[i]) + eps);
        }
        break;
    }
    case VG_OPT_ADAGRAD: { /* s += g^2; p -= lr g / (sqrt(s) + eps) */
        const float eps = (float)s->eps;
        float *restrict acc = j->opt->state1;
        for (int64_t i = i0; i < i1; i++) {
            acc[i] += g[i] * g[i];
            p[i] -= r * g[i] / (sqrtf(acc[i]) + eps);
        }
        break;
    }
    }
}

/* Elements per chunk a helper may take: a multiple of 16 (64 bytes, where the arrays start). */
#define VG_OPTIM_CHUNK ((int64_t)1 << 17)

static void vg__optim_chunk(void *arg, int item, int helper) {
    (void)helper;
    const vg__optim_job *j = arg;
    int64_t i0 = (int64_t)item * VG_OPTIM_CHUNK;
    vg__optim_range(j, i0, j->n - i0 < VG_OPTIM_CHUNK ? j->n : i0 + VG_OPTIM_CHUNK);
}

void vg_optim_f32_step(vg_optim_f32 *opt, float *p, float *g, double lr) {
    const vg_optim_spec *s = &opt->spec;
    opt->t++;
    vg__optim_job j = {.opt = opt, .p = p, .g = g, .n = opt->n, .r = (float)lr,
                       .wd = (float)s->weight_decay};
    if (s->kind == VG_OPT_ADAM) {
        const double bc1 = 1 - pow(s->beta1, (double)opt->t), bc2 = 1 - pow(s->beta2, (double)opt->t);
        j.step = (float)(lr / bc1), j.rbc2 = (float)(1 / sqrt(bc2));
    }
    /* shared with the caller's helpers (vgsweep/team.h) in chunks when it has any */
    int64_t chunks = (opt->n + VG_OPTIM_CHUNK - 1) / VG_OPTIM_CHUNK;
    if (chunks > 1 && chunks <= VG_TEAM_MAX_ITEMS && vg_team_has_helpers())
        vg_team_for((int)chunks, vg__optim_chunk, &j);
    else
        vg__optim_range(&j, 0, opt->n);
}
