/* Helper of tests/test_torch_regression.py (not a test itself): builds a float32 MLP through
 * the model interface with real targets (train.loss mse), takes one forward and backward on a
 * random batch, and prints what PyTorch must reproduce:
 *
 *   regression_dump ACTIVATION NORM SKIP_EVERY OUTPUTS SEED
 *
 * Output, one array a line, "name dim0 [dim1]: v v v ..." (%.9g, float32 exact): x, t, every
 * tensor of the plan as "layer.name" and its gradient as "layer.grad_name", then "loss". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/data.h"
#include "vgsweep/model.h"
#include "vgsweep/rng.h"
#include "vgsweep/settings.h"

#define N_BATCH 16
#define N_IN 6

static int lookup(const char *const *names, const char *s) {
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static void put(const char *name, const float *v, int64_t d0, int64_t d1) {
    if (d1 > 0) printf("%s %lld %lld:", name, (long long)d0, (long long)d1);
    else printf("%s %lld:", name, (long long)d0);
    for (int64_t i = 0; i < d0 * (d1 > 0 ? d1 : 1); i++) printf(" %.9g", (double)v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: regression_dump ACTIVATION NORM SKIP_EVERY OUTPUTS SEED\n");
        return 2;
    }
    int act = lookup(vg_activation_names, argv[1]), norm = lookup(vg_norm_names, argv[2]);
    int skip = atoi(argv[3]), outputs = atoi(argv[4]);
    if (act < 0 || norm < 0 || outputs < 1) {
        fprintf(stderr, "regression_dump: bad arguments\n");
        return 2;
    }
    vg_model_spec spec = {.kind = VG_MODEL_MLP, .target_kind = VG_TARGET_REAL, .steps = 1,
                          .step_features = N_IN, .n_outputs = outputs, .depth = 4, .width = 12,
                          .activation = act, .leaky_slope = 0.1, .elu_alpha = 1.3, .norm = norm,
                          .norm_momentum = 0.1, .norm_eps = 1e-5, .skip_every = skip,
                          .skip_scale = 0.5, .loss = VG_LOSS_MSE, .max_batch = N_BATCH};
    vg_model_f32 m;
    vg_error err;
    if (vg_model_f32_create_mlp(&m, &spec, &err) != VG_OK) {
        fprintf(stderr, "regression_dump: %s\n", err.message);
        return 1;
    }
    vg_rng rng;
    vg_rng_seed(&rng, strtoull(argv[5], NULL, 10));
    vg_init_spec init = {.kind = VG_INIT_XAVIER_UNIFORM, .gain = 1, .bias = 0.05};
    m.ops->init(&m, &init, &rng);
    float x[N_BATCH * N_IN], *t = malloc(sizeof(float) * N_BATCH * outputs);
    for (int i = 0; i < N_BATCH * N_IN; i++) x[i] = (float)vg_rng_normal(&rng);
    for (int i = 0; i < N_BATCH * outputs; i++) t[i] = (float)(2 * vg_rng_normal(&rng));
    vg_batch_f32 b = {.B = N_BATCH, .x = x, .y = NULL, .t = t};
    vg_model_counts counts = {0, 0};
    /* the weights as initialized, before backward: recorded first */
    put("x", x, N_BATCH, N_IN);
    put("t", t, N_BATCH, outputs);
    for (int i = 0; i < m.plan.n_tensors; i++) {
        const vg_model_tensor *mt = &m.plan.tensors[i];
        char name[64];
        snprintf(name, sizeof name, "%d.%s", mt->layer, mt->name);
        put(name, vg_model_f32_tensor_value(&m, i), mt->dims[0], mt->dims[1]);
    }
    double loss = m.ops->forward(&m, &b, VG_PASS_PROBE, &counts);
    m.ops->backward(&m, &b);
    for (int i = 0; i < m.plan.n_tensors; i++) {
        const vg_model_tensor *mt = &m.plan.tensors[i];
        if (!mt->trained) continue;
        char name[64];
        snprintf(name, sizeof name, "%d.grad_%s", mt->layer, mt->name);
        put(name, vg_model_f32_tensor_grad(&m, i), mt->dims[0], mt->dims[1]);
    }
    printf("loss 1: %.17g\nscored 1: %lld\n", loss, (long long)counts.scored);
    free(t);
    vg_model_f32_free(&m);
    return 0;
}
