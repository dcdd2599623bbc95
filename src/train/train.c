/* The epoch loop of one run, its probe checkpoints and divergence detection. */
#include "vgsweep/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vgsweep/nn.h"
#include "vgsweep/rng.h"

const char *const vg_run_status_names[] = {
#define X(name, text) text,
    VG_RUN_STATUSES(X)
#undef X
        NULL};

/* Stream tags: each random stream of a run derives from the run's seed and its own tag, so
 * adding a stream never shifts another. */
#define VG_INIT_STREAM 0x696e6974ULL    /* "init" */
#define VG_SHUFFLE_STREAM 0x73687566ULL /* "shuf" */

/* Rows evaluated per forward call on the test set. */
#define VG_EVAL_CHUNK 256

static double vg__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

vg_status vg_run_result_init(vg_run_result *res, const vg_run_config *cfg, const vg_dataset *ds,
                             vg_error *err) {
    memset(res, 0, sizeof *res);
    res->status = VG_RUN_PENDING;
    vg_run_layout *lay = &res->layout;
    int E = lay->n_epochs = cfg->train_epochs;
    lay->n_checkpoints = E + 1;
    int L = lay->n_layers = cfg->model_depth + 1;
    lay->fan_in = malloc((size_t)L * sizeof(int));
    lay->fan_out = malloc((size_t)L * sizeof(int));
    double *series = malloc((size_t)(4 * E + 2 * (E + 1) * L + 1) * sizeof(double));
    if (!lay->fan_in || !lay->fan_out || !series) {
        free(series);
        vg_run_result_free(res);
        return vg_error_set(err, VG_ENOMEM, "out of memory for the run's record");
    }
    for (int l = 0; l < L; l++) {
        lay->fan_in[l] = l == 0 ? ds->features : cfg->model_width;
        lay->fan_out[l] = l == L - 1 ? ds->classes : cfg->model_width;
    }
    int64_t n = 4 * E + 2 * (int64_t)(E + 1) * L;
    for (int64_t i = 0; i < n; i++) series[i] = NAN;
    res->loss = series;
    res->accuracy = series + E;
    res->test_loss = series + 2 * E;
    res->test_accuracy = series + 3 * E;
    res->grad_norm = series + 4 * E;
    res->delta_rms = series + 4 * E + (int64_t)(E + 1) * L;
    return VG_OK;
}

void vg_run_result_free(vg_run_result *res) {
    free(res->loss); /* the block holding every series */
    free(res->layout.fan_in);
    free(res->layout.fan_out);
    memset(res, 0, sizeof *res);
}

/* Everything a run allocates, once, before its first step. */
typedef struct vg__run_state {
    vg_mlp_f32 net;
    float *batch_x;   /* (batch_size, features) gathered minibatch */
    int32_t *batch_y; /* (batch_size) */
    int32_t *order;   /* (n_train) sample order of the current epoch */
} vg__run_state;

/* First layer (1-based) whose weight or bias gradient holds a non-finite value, or 0. */
static int vg__first_nonfinite_layer(const vg_mlp_f32 *net) {
    for (int l = 0; l < net->n_layers; l++) {
        int64_t nw = (int64_t)net->fan_out[l] * net->fan_in[l];
        for (int64_t i = 0; i < nw; i++)
            if (!isfinite(net->dW[l][i])) return l + 1;
        for (int i = 0; i < net->fan_out[l]; i++)
            if (!isfinite(net->db[l][i])) return l + 1;
    }
    return 0;
}

static double vg__sum_squares(const float *v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return s;
}

/* Gradients on the probe batch, their statistics into row k, and the hook. Returns 1 when the
 * gradients are not finite (the caller marks the run diverged). */
static vg_status vg__checkpoint(vg__run_state *st, const vg_run_config *cfg, const vg_dataset *ds,
                                vg_run_result *res, int k, const vg_checkpoint_hook *hook,
                                int *nonfinite, vg_error *err) {
    vg_mlp_f32 *net = &st->net;
    int P = cfg->record_probe < ds->n_train ? cfg->record_probe : (int)ds->n_train;
    int L = net->n_layers;
    vg_mlp_f32_zero_grad(net);
    vg_mlp_f32_forward(net, ds->x_train, ds->y_train, P, NULL);
    vg_mlp_f32_backward(net, ds->x_train, ds->y_train);
    double *gn = res->grad_norm + (int64_t)k * L, *dr = res->delta_rms + (int64_t)k * L;
    for (int l = 0; l < L; l++) {
        int64_t nw = (int64_t)net->fan_out[l] * net->fan_in[l];
        gn[l] = sqrt(vg__sum_squares(net->dW[l], nw));
        int64_t nz = (int64_t)P * net->fan_out[l];
        dr[l] = sqrt(vg__sum_squares(net->dz[l], nz) / (double)nz);
    }
    *nonfinite = vg__first_nonfinite_layer(net);
    if (hook && hook->fn) {
        vg_status s = hook->fn(hook->ctx, k, (const float *const *)net->dW,
                               (const float *const *)net->db, err);
        if (s != VG_OK) return s;
    }
    return VG_OK;
}

static void vg__evaluate(vg_mlp_f32 *net, const vg_dataset *ds, double *loss, double *accuracy) {
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t r = 0; r < ds->n_test; r += VG_EVAL_CHUNK) {
        int B = (int)(ds->n_test - r < VG_EVAL_CHUNK ? ds->n_test - r : VG_EVAL_CHUNK);
        loss_sum += B * vg_mlp_f32_forward(net, ds->x_test + r * ds->features, ds->y_test + r, B,
                                           &correct);
    }
    *loss = loss_sum / (double)ds->n_test;
    *accuracy = (double)correct / (double)ds->n_test;
}

static void vg__set_diverged(vg_run_result *res, const char *what, int epoch, int64_t step,
                             int layer) {
    res->status = VG_RUN_DIVERGED;
    if (layer > 0)
        snprintf(res->message, sizeof res->message,
                 "%s at epoch %d, step %lld: first non-finite gradient in layer %d", what, epoch,
                 (long long)step, layer);
    else
        snprintf(res->message, sizeof res->message, "%s at epoch %d, step %lld", what, epoch,
                 (long long)step);
}

vg_status vg_train_run(const vg_run_config *cfg, const vg_dataset *ds, vg_run_result *res,
                       const vg_checkpoint_hook *hook, vg_error *err) {
    double t0 = vg__now();
    vg__run_state st;
    memset(&st, 0, sizeof st);
    vg_status status = VG_OK;
    int E = cfg->train_epochs, F = ds->features;
    int bs = cfg->train_batch_size;
    int P = cfg->record_probe < ds->n_train ? cfg->record_probe : (int)ds->n_train;
    int max_batch = bs;
    if (P > max_batch) max_batch = P;
    if (ds->n_test > 0 && VG_EVAL_CHUNK > max_batch) max_batch = VG_EVAL_CHUNK;

    vg_mlp_shape shape = {.n_inputs = F,
                          .depth = cfg->model_depth,
                          .width = cfg->model_width,
                          .n_outputs = ds->classes,
                          .activation = cfg->model_activation,
                          .max_batch = max_batch};
    status = vg_mlp_f32_create(&st.net, &shape, err);
    if (status != VG_OK) goto done;
    st.batch_x = malloc((size_t)bs * F * sizeof(float));
    st.batch_y = malloc((size_t)bs * sizeof(int32_t));
    st.order = malloc((size_t)ds->n_train * sizeof(int32_t));
    if (!st.batch_x || !st.batch_y || !st.order) {
        status = vg_error_set(err, VG_ENOMEM, "out of memory for the training buffers");
        goto done;
    }

    vg_rng init_rng, shuffle_rng;
    vg_rng_seed(&init_rng, vg_seed_mix(cfg->seed, VG_INIT_STREAM));
    vg_rng_seed(&shuffle_rng, vg_seed_mix(cfg->seed, VG_SHUFFLE_STREAM));
    vg_init_spec init = {.kind = cfg->model_init, .std = cfg->model_init_std};
    vg_mlp_f32_init(&st.net, &init, &init_rng);
    for (int64_t i = 0; i < ds->n_train; i++) st.order[i] = (int32_t)i;

    int bad_layer = 0;
    status = vg__checkpoint(&st, cfg, ds, res, 0, hook, &bad_layer, err);
    if (status != VG_OK) goto done;
    if (bad_layer) {
        vg__set_diverged(res, "non-finite probe gradient at initialization", 0, 0, bad_layer);
        goto done;
    }

    int64_t step = 0;
    for (int e = 0; e < E; e++) {
        vg_rng_shuffle_i32(&shuffle_rng, st.order, ds->n_train);
        double loss_sum = 0;
        int64_t correct = 0;
        for (int64_t start = 0; start < ds->n_train; start += bs, step++) {
            int B = (int)(ds->n_train - start < bs ? ds->n_train - start : bs);
            for (int r = 0; r < B; r++) {
                int32_t idx = st.order[start + r];
                memcpy(st.batch_x + (int64_t)r * F, ds->x_train + (int64_t)idx * F,
                       (size_t)F * sizeof(float));
                st.batch_y[r] = ds->y_train[idx];
            }
            vg_mlp_f32_zero_grad(&st.net);
            double loss = vg_mlp_f32_forward(&st.net, st.batch_x, st.batch_y, B, &correct);
            if (!isfinite(loss)) {
                vg__set_diverged(res, "non-finite loss", e + 1, step, 0);
                goto done;
            }
            vg_mlp_f32_backward(&st.net, st.batch_x, st.batch_y);
            if (!isfinite(vg__sum_squares(st.net.grads, st.net.n_params))) {
                vg__set_diverged(res, "non-finite gradient", e + 1, step,
                                 vg__first_nonfinite_layer(&st.net));
                goto done;
            }
            vg_mlp_f32_sgd_step(&st.net, cfg->train_lr);
            loss_sum += loss * B;
        }
        res->loss[e] = loss_sum / (double)ds->n_train;
        res->accuracy[e] = (double)correct / (double)ds->n_train;
        if (ds->n_test > 0) vg__evaluate(&st.net, ds, &res->test_loss[e], &res->test_accuracy[e]);
        res->epochs_done = e + 1;
        if (!isfinite(res->test_loss[e]) && ds->n_test > 0) {
            vg__set_diverged(res, "non-finite test loss", e + 1, step, 0);
            goto done;
        }
        status = vg__checkpoint(&st, cfg, ds, res, e + 1, hook, &bad_layer, err);
        if (status != VG_OK) goto done;
        if (bad_layer) {
            vg__set_diverged(res, "non-finite probe gradient", e + 1, step, bad_layer);
            goto done;
        }
    }
    res->status = VG_RUN_OK;

done:
    if (status != VG_OK) {
        res->status = VG_RUN_FAILED;
        snprintf(res->message, sizeof res->message, "%s", err ? err->message : "failed");
    }
    res->wall_seconds = vg__now() - t0;
    vg_mlp_f32_free(&st.net);
    free(st.batch_x);
    free(st.batch_y);
    free(st.order);
    return status;
}
