/* The MLP's backward against central finite differences, in double precision, for every
 * activation and initializer: the same code that trains in float, instantiated in double.
 * Error measure per parameter tensor: ||analytic - numeric|| / max(||analytic||, ||numeric||),
 * which stays meaningful for tensors whose entries are tiny (deep sigmoid nets), and the worst
 * element-wise relative error among entries above 1e-2 of the tensor's largest (asserted < 1e-6 and < 1e-5).
 * Central differences use a five-point stencil with the step chosen per parameter. */
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
/* Bit pattern of which ReLU units are active, folded into a hash: a finite difference whose
 * perturbation flips a unit crosses a kink and measures nothing. */
static uint64_t relu_pattern(const vg_mlp_f64 *m) {
    uint64_t h = 1469598103934665603ULL;
    if (m->shape.activation != VG_ACT_RELU) return 0;
    for (int l = 0; l < m->n_layers - 1; l++)
        for (int64_t i = 0; i < (int64_t)m->batch * m->fan_out[l]; i++)
            h = (h ^ (uint64_t)(m->z[l][i] > 0)) * 1099511628211ULL;
    return h;
}

static int skipped_kinks = 0;

static errs check_tensor(vg_mlp_f64 *m, double *p, const double *g, int64_t n, const double *x,
                         const int32_t *y) {
    /* Five-point stencil: truncation error O(h^4), so h can be large enough that the loss
     * differences stay far above double rounding even for the tiny gradients of deep nets. */
    double diff2 = 0, a2 = 0, n2 = 0, gmax = 0, worst = 0;
    double *num = malloc((size_t)n * sizeof *num);
    vg_mlp_f64_forward(m, x, y, B, NULL);
    uint64_t pattern = relu_pattern(m);
    for (int64_t i = 0; i < n; i++) {
        /* Steps h_k = 1e-2 / 2^k; the error of estimate k is about |d_k - d_{k+1}|, so the
         * pair that agrees best picks the step, balancing truncation against rounding.
         * Steps whose stencil crosses a ReLU kink are not used. */
        enum { N_STEPS = 8 };
        double saved = p[i], d[N_STEPS];
        int ok[N_STEPS];
        for (int k = 0; k < N_STEPS; k++) {
            double h = 1e-2 / (double)(1 << k), f[4];
            const double offsets[4] = {-2 * h, -h, h, 2 * h};
            ok[k] = 1;
            for (int j = 0; j < 4; j++) {
                p[i] = saved + offsets[j];
                f[j] = vg_mlp_f64_forward(m, x, y, B, NULL);
                if (relu_pattern(m) != pattern) ok[k] = 0;
            }
            d[k] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
        }
        int crossed = 1;
        double best = INFINITY;
        for (int k = 0; k + 1 < N_STEPS; k++) {
            if (!ok[k] || !ok[k + 1]) continue;
            double e = fabs(d[k] - d[k + 1]);
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
        if (fabs(g[i]) < 1e-2 * gmax) continue;
        double rel = fabs(g[i] - num[i]) / fmax(fabs(g[i]), fabs(num[i]));
        if (rel > worst) worst = rel;
    }
    free(num);
    double scale = sqrt(fmax(a2, n2));
    errs e = {scale > 0 ? sqrt(diff2) / scale : 0, worst};
    return e;
}

static void check_config(int activation, int init_kind, int depth, int width, uint64_t seed) {
    vg_mlp_shape shape = {.n_inputs = N_IN, .depth = depth, .width = width, .n_outputs = N_OUT,
                          .activation = activation, .max_batch = B};
    vg_mlp_f64 m;
    vg_error err;
    VG_CHECK(vg_mlp_f64_create(&m, &shape, &err) == VG_OK);
    vg_rng rng;
    vg_rng_seed(&rng, seed);
    vg_init_spec init = {.kind = init_kind, .std = 0.5};
    vg_mlp_f64_init(&m, &init, &rng);
    /* non-zero biases, so the bias path is exercised away from 0 */
    for (int l = 0; l < m.n_layers; l++)
        for (int o = 0; o < m.fan_out[l]; o++) m.b[l][o] = 0.1 * vg_rng_normal(&rng);
    double x[B * N_IN];
    int32_t y[B];
    for (int i = 0; i < B * N_IN; i++) x[i] = vg_rng_normal(&rng);
    for (int i = 0; i < B; i++) y[i] = (int32_t)vg_rng_below(&rng, N_OUT);

    vg_mlp_f64_zero_grad(&m);
    double loss = vg_mlp_f64_forward(&m, x, y, B, NULL);
    VG_CHECK(isfinite(loss) && loss > 0);
    vg_mlp_f64_backward(&m, x, y);

    double worst_norm = 0, worst_elem = 0;
    for (int l = 0; l < m.n_layers; l++) {
        errs ew = check_tensor(&m, m.W[l], m.dW[l], (int64_t)m.fan_out[l] * m.fan_in[l], x, y);
        errs eb = check_tensor(&m, m.b[l], m.db[l], m.fan_out[l], x, y);
        worst_norm = fmax(worst_norm, fmax(ew.norm_err, eb.norm_err));
        worst_elem = fmax(worst_elem, fmax(ew.elem_err, eb.elem_err));
        /* dz is what delta_rms records: db must be its column sum */
        for (int o = 0; o < m.fan_out[l]; o++) {
            double s = 0;
            for (int r = 0; r < B; r++) s += m.dz[l][r * m.fan_out[l] + o];
            VG_CHECK_MSG(fabs(s - m.db[l][o]) <= 1e-12 * (1 + fabs(s)), "layer %d unit %d: sum dz %.17g, db %.17g", l + 1, o, s, m.db[l][o]);
        }
    }
    printf("%-8s %-15s depth %2d width %2d: worst tensor rel err %.2e, worst element rel err %.2e\n",
           vg_activation_names[activation], vg_init_names[init_kind], depth, width, worst_norm,
           worst_elem);
    VG_CHECK_MSG(worst_norm < 1e-6, "%s/%s: tensor rel err %.3g", vg_activation_names[activation], vg_init_names[init_kind], worst_norm);
    VG_CHECK_MSG(worst_elem < 1e-5, "%s/%s: element rel err %.3g", vg_activation_names[activation], vg_init_names[init_kind], worst_elem);
    vg_mlp_f64_free(&m);
}

/* The f32 instantiation computes the same function as the f64 one. */
static void check_f32_matches_f64(int activation) {
    vg_mlp_shape shape = {.n_inputs = N_IN, .depth = 4, .width = 16, .n_outputs = N_OUT,
                          .activation = activation, .max_batch = B};
    vg_mlp_f64 md;
    vg_mlp_f32 mf;
    VG_CHECK(vg_mlp_f64_create(&md, &shape, NULL) == VG_OK);
    VG_CHECK(vg_mlp_f32_create(&mf, &shape, NULL) == VG_OK);
    vg_rng r1, r2;
    vg_rng_seed(&r1, 42);
    vg_rng_seed(&r2, 42);
    vg_init_spec init = {.kind = VG_INIT_XAVIER_UNIFORM};
    vg_mlp_f64_init(&md, &init, &r1);
    vg_mlp_f32_init(&mf, &init, &r2);
    double xd[B * N_IN];
    float xf[B * N_IN];
    int32_t y[B];
    for (int i = 0; i < B * N_IN; i++) xf[i] = (float)vg_rng_normal(&r1), xd[i] = xf[i];
    for (int i = 0; i < B; i++) y[i] = i % N_OUT;
    vg_mlp_f64_zero_grad(&md);
    vg_mlp_f32_zero_grad(&mf);
    double ld = vg_mlp_f64_forward(&md, xd, y, B, NULL);
    double lf = vg_mlp_f32_forward(&mf, xf, y, B, NULL);
    vg_mlp_f64_backward(&md, xd, y);
    vg_mlp_f32_backward(&mf, xf, y);
    VG_CHECK_MSG(fabs(ld - lf) < 1e-5 * fabs(ld), "%s: f64 loss %.9g, f32 loss %.9g", vg_activation_names[activation], ld, lf);
    double d2 = 0, n2 = 0;
    for (int64_t i = 0; i < md.n_params; i++) {
        d2 += (md.grads[i] - mf.grads[i]) * (md.grads[i] - mf.grads[i]);
        n2 += md.grads[i] * md.grads[i];
    }
    VG_CHECK_MSG(sqrt(d2 / n2) < 1e-5, "%s: f32 vs f64 gradient rel err %.3g", vg_activation_names[activation], sqrt(d2 / n2));
    vg_mlp_f64_free(&md);
    vg_mlp_f32_free(&mf);
}

/* Element-wise: each activation's derivative against central differences of its forward. */
static void check_activation_derivative(int activation) {
    const int n = 41;
    double z[41], h[41], ones[41], dz[41], worst = 0;
    for (int i = 0; i < n; i++) z[i] = -4.0 + 0.2 * i + 0.0123, ones[i] = 1;
    vg_act_forward_f64(h, z, n, activation);
    vg_act_backward_f64(dz, ones, z, h, n, activation);
    for (int i = 0; i < n; i++) {
        double eps = 1e-6, zp = z[i] + eps, zm = z[i] - eps, hp, hm;
        vg_act_forward_f64(&hp, &zp, 1, activation);
        vg_act_forward_f64(&hm, &zm, 1, activation);
        double num = (hp - hm) / (2 * eps);
        double err = fabs(num - dz[i]) / fmax(1e-8, fmax(fabs(num), fabs(dz[i])));
        if (fabs(num) + fabs(dz[i]) > 1e-12 && err > worst) worst = err;
    }
    VG_CHECK_MSG(worst < 1e-6, "%s: derivative rel err %.3g", vg_activation_names[activation], worst);
}

int main(void) {
    for (int a = 0; a < VG_ACT_COUNT; a++) {
        check_activation_derivative(a);
        check_f32_matches_f64(a);
        for (int i = 0; i < VG_INIT_COUNT; i++) {
            check_config(a, i, 3, 6, 1000 + 31 * a + i);
            check_config(a, i, 6, 6, 2000 + 31 * a + i);
        }
    }
    printf("parameters skipped for sitting on a ReLU kink: %d\n", skipped_kinks);
    VG_CHECK_LT(skipped_kinks, 5);
    return vg_test_finish("test_gradcheck");
}
