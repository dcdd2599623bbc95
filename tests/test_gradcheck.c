/* The MLP's backward against central finite differences, in double precision, for every
 * activation, initializer, normalization, residual variant and loss: the same code that trains
 * in float, instantiated in double.
 * Error measure per parameter tensor: ||analytic - numeric|| / max(||analytic||, ||numeric||),
 * which stays meaningful for tensors whose entries are tiny (deep sigmoid nets), and the worst
 * element-wise relative error among entries above 1e-2 of the tensor's largest (asserted < 1e-6 and < 1e-5).
 * Central differences use a five-point stencil with the step chosen per parameter: of 16 steps,
 * the pair of neighbours whose estimates agree best, counting each estimate's rounding floor
 * (1.5 eps |loss| / h) into the disagreement. */
#include <float.h>
#include <stdlib.h>

#include "vg_test.h"
#include "vgsweep/nn.h"
#include "vgsweep/rng.h"
#include "vgsweep/settings.h"

#define B 7
#define N_IN 5
#define N_OUT 4

typedef struct {
    double norm_err, elem_err;
} errs;

/* Compares analytic grads g (n) with central differences of the loss in params p (n). */
/* Which side of 0 every activation input u lies on, folded into a hash: for activations with
 * a kink at 0 (relu, leaky_relu, selu; elu when alpha != 1), a finite difference whose
 * perturbation moves a unit across 0 measures nothing. */
static uint64_t kink_pattern(const vg_mlp_f64 *m) {
    uint64_t h = 1469598103934665603ULL;
    int act = m->shape.activation;
    if (act != VG_ACT_RELU && act != VG_ACT_LEAKY_RELU && act != VG_ACT_SELU && act != VG_ACT_ELU)
        return 0;
    for (int l = 0; l < m->n_layers - 1; l++)
        for (int64_t i = 0; i < (int64_t)m->batch * m->fan_out[l]; i++)
            h = (h ^ (uint64_t)(m->u[l][i] > 0)) * 1099511628211ULL;
    return h;
}

static int skipped_kinks = 0;
static double net_grad_scale = 1; /* global gradient norm of the net being checked */

static errs check_tensor(vg_mlp_f64 *m, double *p, const double *g, int64_t n, const double *x,
                         const int32_t *y) {
    /* Five-point stencil: truncation error O(h^4), so h can be large enough that the loss
     * differences stay far above double rounding even for the tiny gradients of deep nets. */
    double diff2 = 0, a2 = 0, n2 = 0, gmax = 0, worst = 0;
    double *num = malloc((size_t)n * sizeof *num);
    vg_mlp_f64_forward(m, x, y, B, VG_PASS_PROBE, NULL);
    uint64_t pattern = kink_pattern(m);
    for (int64_t i = 0; i < n; i++) {
        /* Steps h_k = 1e-2 / 2^k; the error of estimate k is about |d_k - d_{k+1}|, so the
         * pair that agrees best picks the step, balancing truncation against rounding.
         * Steps whose stencil crosses a ReLU kink are not used. */
        enum { N_STEPS = 16 };
        double saved = p[i], d[N_STEPS], rounding[N_STEPS];
        int ok[N_STEPS];
        for (int k = 0; k < N_STEPS; k++) {
            double h = 1e-2 / (double)(1 << k), f[4], fmag = 0;
            const double offsets[4] = {-2 * h, -h, h, 2 * h};
            ok[k] = 1;
            for (int j = 0; j < 4; j++) {
                p[i] = saved + offsets[j];
                f[j] = vg_mlp_f64_forward(m, x, y, B, VG_PASS_PROBE, NULL);
                fmag = fmax(fmag, fabs(f[j]));
                if (kink_pattern(m) != pattern) ok[k] = 0;
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
             * quantization (a bias before batch norm, whose loss is flat, measured 1e-9
             * that way on arm64); the rounding floor of d_{k+1} keeps such steps from
             * looking exact */
            double e = fabs(d[k] - d[k + 1]) + rounding[k + 1];
            if (e < best) best = e, num[i] = d[k + 1], crossed = 0;
        }
        p[i] = saved;
        if (crossed) { /* a unit sits at its kink: no derivative to compare */
            skipped_kinks++;
            num[i] = g[i];
        }
        diff2 += (g[i] - num[i]) * (g[i] - num[i]);
        a2 += g[i] * g[i];
        n2 += num[i] * num[i];
        if (fabs(g[i]) > gmax) gmax = fabs(g[i]);
    }
    for (int64_t i = 0; i < n; i++) {
        if (fabs(g[i]) < 1e-2 * gmax || fabs(g[i]) < 1e-9 * net_grad_scale) continue;
        double rel = fabs(g[i] - num[i]) / fmax(fabs(g[i]), fabs(num[i]));
        if (rel > worst) worst = rel;
    }
    free(num);
    /* a gradient that is identically zero (a bias followed by batch norm) is compared in
     * absolute terms: its error is measured against 1e-4 of the whole net's gradient norm */
    double scale = fmax(sqrt(fmax(a2, n2)), 1e-4 * net_grad_scale);
    errs e = {scale > 0 ? sqrt(diff2) / scale : 0, worst};
    return e;
}

typedef struct {
    int activation, init, norm, skip_every, loss, depth, width;
    double skip_scale;
} net_case;

static double worst_overall = 0;
static int n_cases = 0;

static void check_case(net_case c, uint64_t seed) {
    vg_mlp_shape shape = {.n_inputs = N_IN, .depth = c.depth, .width = c.width, .n_outputs = N_OUT,
                          .activation = c.activation, .leaky_slope = 0.1, .elu_alpha = 1.3,
                          .norm = c.norm, .norm_momentum = 0.1, .norm_eps = 1e-5,
                          .skip_every = c.skip_every, .skip_scale = c.skip_scale, .loss = c.loss,
                          .max_batch = B};
    vg_mlp_f64 m;
    vg_error err;
    VG_CHECK(vg_mlp_f64_create(&m, &shape, &err) == VG_OK);
    vg_rng rng;
    vg_rng_seed(&rng, seed);
    vg_init_spec init = {.kind = c.init, .std = 0.5, .limit = 0.6, .gain = 1.2, .bias = 0};
    vg_mlp_f64_init(&m, &init, &rng);
    /* non-zero biases and norm parameters, so every path is exercised away from its start */
    for (int l = 0; l < m.n_layers; l++)
        for (int o = 0; o < m.fan_out[l]; o++) {
            m.b[l][o] = 0.1 * vg_rng_normal(&rng);
            if (m.gamma[l]) m.gamma[l][o] = 1 + 0.2 * vg_rng_normal(&rng), m.beta[l][o] = 0.1 * vg_rng_normal(&rng);
        }
    double x[B * N_IN];
    int32_t y[B];
    for (int i = 0; i < B * N_IN; i++) x[i] = vg_rng_normal(&rng);
    for (int i = 0; i < B; i++) y[i] = (int32_t)vg_rng_below(&rng, N_OUT);

    vg_mlp_f64_zero_grad(&m);
    double loss = vg_mlp_f64_forward(&m, x, y, B, VG_PASS_PROBE, NULL);
    VG_CHECK(isfinite(loss) && loss > 0);
    vg_mlp_f64_backward(&m, x, y);
    double g2 = 0;
    for (int64_t i = 0; i < m.n_params; i++) g2 += m.grads[i] * m.grads[i];
    net_grad_scale = sqrt(g2);

    double worst_norm = 0, worst_elem = 0;
    for (int l = 0; l < m.n_layers; l++) {
        double *params[4] = {m.W[l], m.b[l], m.gamma[l], m.beta[l]};
        double *grads[4] = {m.dW[l], m.db[l], m.dgamma[l], m.dbeta[l]};
        int64_t sizes[4] = {(int64_t)m.fan_out[l] * m.fan_in[l], m.fan_out[l], m.fan_out[l], m.fan_out[l]};
        for (int t = 0; t < 4; t++) {
            if (!params[t]) continue;
            errs e = check_tensor(&m, params[t], grads[t], sizes[t], x, y);
            worst_norm = fmax(worst_norm, e.norm_err);
            worst_elem = fmax(worst_elem, e.elem_err);
        }
        if (c.norm == VG_NORM_BATCH && l < m.n_layers - 1)
            for (int o = 0; o < m.fan_out[l]; o++) /* batch norm: dloss/dz sums to 0 over the batch */
                VG_CHECK_MSG(fabs(m.db[l][o]) < 1e-12 * net_grad_scale, "layer %d unit %d: sum over batch of dz = %.3g", l + 1, o, m.db[l][o]);
        /* dz is what delta_rms records: db must be its column sum */
        for (int o = 0; o < m.fan_out[l]; o++) {
            double s = 0;
            for (int r = 0; r < B; r++) s += m.dz[l][r * m.fan_out[l] + o];
            VG_CHECK_MSG(fabs(s - m.db[l][o]) <= 1e-12 * (1 + fabs(s)), "layer %d unit %d: sum dz %.17g, db %.17g", l + 1, o, s, m.db[l][o]);
        }
    }
    n_cases++;
    worst_overall = fmax(worst_overall, worst_norm);
    char name[160];
    snprintf(name, sizeof name, "%s/%s norm=%s skip=%d(x%.2g) loss=%s depth %d", vg_activation_names[c.activation],
             vg_init_names[c.init], vg_norm_names[c.norm], c.skip_every, c.skip_scale, vg_loss_names[c.loss], c.depth);
    if (worst_norm > 1e-8 || worst_elem > 1e-6)
        printf("%-70s tensor rel err %.2e, element rel err %.2e\n", name, worst_norm, worst_elem);
    VG_CHECK_MSG(worst_norm < 1e-6, "%s: tensor rel err %.3g", name, worst_norm);
    VG_CHECK_MSG(worst_elem < 1e-5, "%s: element rel err %.3g", name, worst_elem);
    vg_mlp_f64_free(&m);
}

/* The f32 instantiation computes the same function as the f64 one. */
static void check_f32_matches_f64(int activation, int norm, int skip) {
    vg_mlp_shape shape = {.n_inputs = N_IN, .depth = 4, .width = 16, .n_outputs = N_OUT,
                          .activation = activation, .leaky_slope = 0.1, .elu_alpha = 1,
                          .norm = norm, .norm_momentum = 0.1, .norm_eps = 1e-5, .skip_every = skip,
                          .skip_scale = 1, .max_batch = B};
    vg_mlp_f64 md;
    vg_mlp_f32 mf;
    VG_CHECK(vg_mlp_f64_create(&md, &shape, NULL) == VG_OK);
    VG_CHECK(vg_mlp_f32_create(&mf, &shape, NULL) == VG_OK);
    vg_rng r1, r2;
    vg_rng_seed(&r1, 42);
    vg_rng_seed(&r2, 42);
    vg_init_spec init = {.kind = VG_INIT_XAVIER_UNIFORM, .gain = 1};
    vg_mlp_f64_init(&md, &init, &r1);
    vg_mlp_f32_init(&mf, &init, &r2);
    double xd[B * N_IN];
    float xf[B * N_IN];
    int32_t y[B];
    for (int i = 0; i < B * N_IN; i++) xf[i] = (float)vg_rng_normal(&r1), xd[i] = xf[i];
    for (int i = 0; i < B; i++) y[i] = i % N_OUT;
    vg_mlp_f64_zero_grad(&md);
    vg_mlp_f32_zero_grad(&mf);
    double ld = vg_mlp_f64_forward(&md, xd, y, B, VG_PASS_TRAIN, NULL);
    double lf = vg_mlp_f32_forward(&mf, xf, y, B, VG_PASS_TRAIN, NULL);
    vg_mlp_f64_backward(&md, xd, y);
    vg_mlp_f32_backward(&mf, xf, y);
    VG_CHECK_MSG(fabs(ld - lf) < 1e-5 * fabs(ld), "%s norm %d skip %d: f64 loss %.9g, f32 loss %.9g", vg_activation_names[activation], norm, skip, ld, lf);
    double d2 = 0, n2 = 0;
    for (int64_t i = 0; i < md.n_params; i++) {
        d2 += (md.grads[i] - mf.grads[i]) * (md.grads[i] - mf.grads[i]);
        n2 += md.grads[i] * md.grads[i];
    }
    VG_CHECK_MSG(sqrt(d2 / n2) < 1e-4, "%s norm %d skip %d: f32 vs f64 gradient rel err %.3g", vg_activation_names[activation], norm, skip, sqrt(d2 / n2));
    vg_mlp_f64_free(&md);
    vg_mlp_f32_free(&mf);
}

/* Element-wise: each activation's derivative against central differences of its forward. */
static void check_activation_derivative(int activation) {
    const int n = 41;
    double z[41], h[41], ones[41], dz[41], worst = 0;
    for (int i = 0; i < n; i++) z[i] = -4.0 + 0.2 * i + 0.0123, ones[i] = 1;
    vg_act_forward_f64(h, z, n, activation, 1.3);
    vg_act_backward_f64(dz, ones, z, h, n, activation, 1.3);
    for (int i = 0; i < n; i++) {
        double eps = 1e-6, zp = z[i] + eps, zm = z[i] - eps, hp, hm;
        vg_act_forward_f64(&hp, &zp, 1, activation, 1.3);
        vg_act_forward_f64(&hm, &zm, 1, activation, 1.3);
        double num = (hp - hm) / (2 * eps);
        double err = fabs(num - dz[i]) / fmax(1e-8, fmax(fabs(num), fabs(dz[i])));
        if (fabs(num) + fabs(dz[i]) > 1e-12 && err > worst) worst = err;
    }
    VG_CHECK_MSG(worst < 1e-6, "%s: derivative rel err %.3g", vg_activation_names[activation], worst);
}

int main(void) {
    uint64_t seed = 1000;
    for (int a = 0; a < VG_ACT_COUNT; a++) {
        check_activation_derivative(a);
        for (int norm = 0; norm < VG_NORM_COUNT; norm++)
            for (int skip = 0; skip <= 2; skip++) check_f32_matches_f64(a, norm, skip);
        /* every activation with every initializer */
        for (int i = 0; i < VG_INIT_COUNT; i++) {
            net_case c = {a, i, VG_NORM_NONE, 0, VG_LOSS_CROSS_ENTROPY, 3, 6, 1};
            check_case(c, seed++);
        }
        net_case deep = {a, VG_INIT_XAVIER_NORMAL, VG_NORM_NONE, 0, VG_LOSS_CROSS_ENTROPY, 6, 6, 1};
        check_case(deep, seed++);
        /* every normalization, residual variant and loss */
        for (int norm = 0; norm < VG_NORM_COUNT; norm++)
            for (int skip = 0; skip <= 2; skip++)
                for (int loss = 0; loss < VG_LOSS_COUNT; loss++) {
                    net_case c = {a, VG_INIT_HE_NORMAL, norm, skip, loss, 5, 6, skip == 2 ? 0.5 : 1};
                    check_case(c, seed++);
                }
    }
    printf("%d nets checked; worst tensor relative error %.2e\n", n_cases, worst_overall);
    printf("parameters skipped for sitting on a kink: %d\n", skipped_kinks);
    VG_CHECK_LT(skipped_kinks, 5);
    return vg_test_finish("test_gradcheck");
}
