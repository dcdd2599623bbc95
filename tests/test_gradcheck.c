/* The MLP's backward against central finite differences, in double precision, for every
 * activation, initializer, normalization, residual variant and loss, and for regression (real
 * targets, MSE): the same code that trains in float, instantiated in double, checked through
 * the model interface by the library's checker (vgsweep/gradcheck.h states the two error
 * measures: per tensor < 1e-6, per element < 1e-5). */
#include <stdlib.h>

#include "vg_test.h"
#include "vgsweep/data.h"
#include "vgsweep/gradcheck.h"
#include "vgsweep/model.h"
#include "vgsweep/nn.h"
#include "vgsweep/rng.h"
#include "vgsweep/settings.h"

#define B 7
#define N_IN 5
#define N_OUT 4

static const vg_gradcheck_bounds bounds = {.tensor = 1e-6, .element = 1e-5};

typedef struct {
    int activation, init, norm, skip_every, loss, depth, width;
    double skip_scale;
    int target_kind, n_outputs; /* VG_TARGET_CLASS (N_OUT classes) or REAL (n_outputs) */
} net_case;

static double worst_overall = 0;
static int n_cases = 0, n_regression = 0;
static int64_t skipped_kinks = 0;

static vg_model_spec spec_of(net_case c) {
    vg_model_spec s = {.kind = VG_MODEL_MLP, .target_kind = c.target_kind, .steps = 1,
                       .step_features = N_IN, .n_outputs = c.target_kind == VG_TARGET_REAL ? c.n_outputs : N_OUT,
                       .depth = c.depth, .width = c.width, .activation = c.activation,
                       .leaky_slope = 0.1, .elu_alpha = 1.3, .norm = c.norm, .norm_momentum = 0.1,
                       .norm_eps = 1e-5, .skip_every = c.skip_every, .skip_scale = c.skip_scale,
                       .loss = c.loss, .max_batch = B};
    return s;
}

/* The plan's tensor of layer l named name, or -1. */
static int find_tensor(const vg_model_plan *p, int l, const char *name) {
    for (int i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].layer == l && strcmp(p->tensors[i].name, name) == 0) return i;
    return -1;
}

static void check_case(net_case c, uint64_t seed) {
    vg_model_spec spec = spec_of(c);
    vg_model_f64 m;
    vg_error err;
    VG_CHECK(vg_model_f64_create_mlp(&m, &spec, &err) == VG_OK);
    vg_rng rng;
    vg_rng_seed(&rng, seed);
    vg_init_spec init = {.kind = c.init, .std = 0.5, .limit = 0.6, .gain = 1.2, .bias = 0};
    m.ops->init(&m, &init, &rng);
    /* non-zero biases and norm parameters, so every path is exercised away from its start */
    const vg_model_plan *plan = &m.plan;
    for (int l = 0; l < plan->n_layers; l++) {
        double *bias = vg_model_f64_tensor_value(&m, find_tensor(plan, l, "b"));
        int ig = find_tensor(plan, l, "gamma"), ib = find_tensor(plan, l, "beta");
        double *gamma = ig >= 0 ? vg_model_f64_tensor_value(&m, ig) : NULL;
        double *beta = ib >= 0 ? vg_model_f64_tensor_value(&m, ib) : NULL;
        for (int o = 0; o < plan->layers[l].fan_out; o++) {
            bias[o] = 0.1 * vg_rng_normal(&rng);
            if (gamma) gamma[o] = 1 + 0.2 * vg_rng_normal(&rng), beta[o] = 0.1 * vg_rng_normal(&rng);
        }
    }
    double x[B * N_IN], t[B * N_OUT];
    int32_t y[B];
    for (int i = 0; i < B * N_IN; i++) x[i] = vg_rng_normal(&rng);
    int real = c.target_kind == VG_TARGET_REAL;
    if (real)
        for (int i = 0; i < B * c.n_outputs; i++) t[i] = vg_rng_normal(&rng);
    else
        for (int i = 0; i < B; i++) y[i] = (int32_t)vg_rng_below(&rng, N_OUT);
    vg_batch_f64 batch = {B, x, real ? NULL : y, real ? t : NULL}; /* B is the macro */

    char name[200];
    snprintf(name, sizeof name, "%s%s/%s norm=%s skip=%d(x%.2g) loss=%s depth %d",
             real ? "regression " : "", vg_activation_names[c.activation], vg_init_names[c.init],
             vg_norm_names[c.norm], c.skip_every, c.skip_scale, vg_loss_names[c.loss], c.depth);
    vg_gradcheck_result r;
    vg_status st = vg_gradcheck_f64(&m, &batch, &bounds, &r, &err);
    VG_CHECK_MSG(st == VG_OK, "%s: %s", name, err.message);
    VG_CHECK_MSG(isfinite(r.loss) && r.loss > 0, "%s: loss %g", name, r.loss);
    VG_CHECK(r.n_checked > 0 && r.tensor_worst >= 0);
    skipped_kinks += r.n_kinks;

    /* the interface's views agree with the net's own definition (the gradients are the
     * analytic ones after the check) */
    for (int l = 0; l < plan->n_layers; l++) {
        int fo = plan->layers[l].fan_out;
        const double *db = vg_model_f64_tensor_grad(&m, find_tensor(plan, l, "b"));
        vg_model_probe_view_f64 v;
        m.ops->probe_view(&m, l, &v);
        VG_CHECK_INT_EQ(v.rows, B);
        if (c.norm == VG_NORM_BATCH && l < plan->n_layers - 1)
            for (int o = 0; o < fo; o++) /* batch norm: dloss/dz sums to 0 over the batch */
                VG_CHECK_MSG(fabs(db[o]) < 1e-12 * r.grad_norm, "layer %d unit %d: sum over batch of dz = %.3g", l + 1, o, db[o]);
        /* dz is what delta_rms records: db must be its column sum */
        for (int o = 0; o < fo; o++) {
            double s = 0;
            for (int row = 0; row < B; row++) s += v.dz[row * fo + o];
            VG_CHECK_MSG(fabs(s - db[o]) <= 1e-12 * (1 + fabs(s)), "layer %d unit %d: sum dz %.17g, db %.17g", l + 1, o, s, db[o]);
        }
    }
    n_cases++;
    if (real) n_regression++;
    worst_overall = fmax(worst_overall, r.tensor_err);
    if (r.tensor_err > 1e-8 || r.element_err > 1e-6)
        printf("%-80s tensor rel err %.2e, element rel err %.2e\n", name, r.tensor_err, r.element_err);
    vg_model_f64_free(&m);
}

/* The f32 instantiation computes the same function as the f64 one, through the interface,
 * for class labels and for real targets. */
static void check_f32_matches_f64(int activation, int norm, int skip, int real) {
    net_case c = {activation, VG_INIT_XAVIER_UNIFORM, norm, skip, real ? VG_LOSS_MSE : 0, 4, 16, 1,
                  real ? VG_TARGET_REAL : VG_TARGET_CLASS, 2};
    vg_model_spec spec = spec_of(c);
    spec.elu_alpha = 1;
    vg_model_f64 md;
    vg_model_f32 mf;
    VG_CHECK(vg_model_f64_create_mlp(&md, &spec, NULL) == VG_OK);
    VG_CHECK(vg_model_f32_create_mlp(&mf, &spec, NULL) == VG_OK);
    VG_CHECK_INT_EQ(md.plan.n_params, mf.plan.n_params);
    vg_rng r1, r2;
    vg_rng_seed(&r1, 42);
    vg_rng_seed(&r2, 42);
    vg_init_spec init = {.kind = VG_INIT_XAVIER_UNIFORM, .gain = 1};
    md.ops->init(&md, &init, &r1);
    mf.ops->init(&mf, &init, &r2);
    double xd[B * N_IN], td[B * 2];
    float xf[B * N_IN], tf[B * 2];
    int32_t y[B];
    for (int i = 0; i < B * N_IN; i++) xf[i] = (float)vg_rng_normal(&r1), xd[i] = xf[i];
    for (int i = 0; i < B * 2; i++) tf[i] = (float)vg_rng_normal(&r1), td[i] = tf[i];
    for (int i = 0; i < B; i++) y[i] = i % N_OUT;
    vg_batch_f64 bd = {B, xd, real ? NULL : y, real ? td : NULL};
    vg_batch_f32 bf = {B, xf, real ? NULL : y, real ? tf : NULL};
    vg_model_counts cd = {0, 0}, cf = {0, 0};
    double ld = md.ops->forward(&md, &bd, VG_PASS_TRAIN, &cd);
    double lf = mf.ops->forward(&mf, &bf, VG_PASS_TRAIN, &cf);
    md.ops->backward(&md, &bd);
    mf.ops->backward(&mf, &bf);
    VG_CHECK_INT_EQ(cd.scored, real ? 0 : B); /* regression scores nothing: accuracy NaN */
    VG_CHECK_INT_EQ(cf.scored, cd.scored);
    VG_CHECK_MSG(fabs(ld - lf) < 1e-5 * fabs(ld), "%s norm %d skip %d: f64 loss %.9g, f32 loss %.9g", vg_activation_names[activation], norm, skip, ld, lf);
    double d2 = 0, n2 = 0;
    for (int64_t i = 0; i < md.plan.n_params; i++) {
        d2 += (md.grads[i] - mf.grads[i]) * (md.grads[i] - mf.grads[i]);
        n2 += md.grads[i] * md.grads[i];
    }
    VG_CHECK_MSG(sqrt(d2 / n2) < 1e-4, "%s norm %d skip %d: f32 vs f64 gradient rel err %.3g", vg_activation_names[activation], norm, skip, sqrt(d2 / n2));
    vg_model_f64_free(&md);
    vg_model_f32_free(&mf);
}

/* The MLP refuses what it cannot score, and its plan, cost and net agree on the layout. */
static void check_contract(void) {
    net_case c = {VG_ACT_TANH, VG_INIT_XAVIER_UNIFORM, VG_NORM_BATCH, 2, VG_LOSS_CROSS_ENTROPY, 5, 8, 1, 0, 0};
    vg_model_spec spec = spec_of(c);
    vg_model_f64 m;
    vg_error err;
    spec.target_kind = VG_TARGET_STEP_CLASS;
    VG_CHECK(vg_model_f64_create_mlp(&m, &spec, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "recurrent");
    vg_model_f64_free(&m);
    spec.target_kind = VG_TARGET_REAL;
    VG_CHECK(vg_model_f64_create_mlp(&m, &spec, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "mse");
    vg_model_f64_free(&m);
    spec.target_kind = VG_TARGET_CLASS;
    VG_CHECK(vg_model_f64_create_mlp(&m, &spec, &err) == VG_OK);
    vg_model_cost cost = vg_mlp_cost(&spec);
    VG_CHECK_INT_EQ((int64_t)cost.n_params, m.plan.n_params);
    VG_CHECK_INT_EQ(m.plan.n_layers, 6);
    VG_CHECK_INT_EQ(m.plan.n_act_layers, 5);
    VG_CHECK_INT_EQ(m.plan.n_state, 2 * 5 * 8);
    /* per layer: W, b, gamma, beta, running_mean, running_var; the output layer W, b */
    VG_CHECK_INT_EQ(m.plan.n_tensors, 5 * 6 + 2);
    int64_t end = 0;
    for (int l = 0; l < m.plan.n_layers; l++) {
        const vg_model_layer *ly = &m.plan.layers[l];
        VG_CHECK_INT_EQ(ly->param_begin, end); /* contiguous, in order */
        VG_CHECK_INT_EQ(ly->weight_end - ly->param_begin, (int64_t)ly->fan_in * ly->fan_out);
        end = ly->param_end;
    }
    VG_CHECK_INT_EQ(end, m.plan.n_params);
    VG_CHECK_INT_EQ(m.plan.layers[0].fan_in, N_IN);
    VG_CHECK_INT_EQ(m.plan.layers[5].fan_out, N_OUT);
    VG_CHECK(strcmp(m.plan.tensors[4].name, "running_mean") == 0 && !m.plan.tensors[4].trained);
    VG_CHECK(vg_model_f64_tensor_grad(&m, 4) == NULL);
    vg_model_f64_free(&m);
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
    uint64_t seed = 1000, regression_seed = 5000; /* the classification cases keep their seeds */
    check_contract();
    for (int a = 0; a < VG_ACT_COUNT; a++) {
        check_activation_derivative(a);
        for (int norm = 0; norm < VG_NORM_COUNT; norm++)
            for (int skip = 0; skip <= 2; skip++)
                for (int real = 0; real <= 1; real++) check_f32_matches_f64(a, norm, skip, real);
        /* every activation with every initializer */
        for (int i = 0; i < VG_INIT_COUNT; i++) {
            net_case c = {a, i, VG_NORM_NONE, 0, VG_LOSS_CROSS_ENTROPY, 3, 6, 1, 0, 0};
            check_case(c, seed++);
        }
        net_case deep = {a, VG_INIT_XAVIER_NORMAL, VG_NORM_NONE, 0, VG_LOSS_CROSS_ENTROPY, 6, 6, 1, 0, 0};
        check_case(deep, seed++);
        /* every normalization, residual variant and loss */
        for (int norm = 0; norm < VG_NORM_COUNT; norm++)
            for (int skip = 0; skip <= 2; skip++)
                for (int loss = 0; loss < VG_LOSS_COUNT; loss++) {
                    net_case c = {a, VG_INIT_HE_NORMAL, norm, skip, loss, 5, 6, skip == 2 ? 0.5 : 1, 0, 0};
                    check_case(c, seed++);
                }
        /* regression: real targets (one, or three per sample), MSE, every normalization */
        for (int norm = 0; norm < VG_NORM_COUNT; norm++)
            for (int skip = 0; skip <= 2; skip += 2) {
                net_case c = {a, VG_INIT_XAVIER_NORMAL, norm, skip, VG_LOSS_MSE, 4, 6, 0.5,
                              VG_TARGET_REAL, skip ? 3 : 1};
                check_case(c, regression_seed++);
            }
    }
    printf("%d nets checked (%d classification, %d regression); worst tensor relative error %.2e\n",
           n_cases, n_cases - n_regression, n_regression, worst_overall);
    printf("parameters skipped for sitting on a kink: %lld\n", (long long)skipped_kinks);
    VG_CHECK_INT_EQ(n_cases - n_regression, 280);
    VG_CHECK_LT(skipped_kinks, 5);
    return vg_test_finish("test_gradcheck");
}
