/* Regression through the whole training core: a run on a data set with real targets
 * (VG_TARGET_REAL, train.loss mse) learns them, records NaN accuracy (undefined for
 * regression) and finite losses, and its training step allocates nothing; the MLP refuses
 * cross-entropy on real targets and targets per time step, as a failed run with a message. */
#include <stdlib.h>

#include "vg_test.h"
#include "vgsweep/config.h"
#include "vgsweep/data.h"
#include "vgsweep/train.h"

static long n_allocs = 0;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) { n_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { n_allocs++; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { n_allocs++; return __real_realloc(p, n); }

#define TARGETS 2

/* The generated set's inputs with two real targets per sample: a linear map and a bounded
 * nonlinear one of the first features (what an MLP fits in a few epochs). */
static float *targets_of(const float *x, int64_t n, int F) {
    float *t = malloc((size_t)n * TARGETS * sizeof *t);
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * F;
        t[i * TARGETS] = 0.5f * (r[0] - r[1] + r[2]);
        t[i * TARGETS + 1] = (float)tanh(r[3] - r[4]);
    }
    return t;
}

static void make_regression(const vg_run_config *cfg, vg_dataset *ds) {
    VG_CHECK(vg_dataset_make(cfg, ds, NULL) == VG_OK);
    ds->target_kind = VG_TARGET_REAL;
    ds->targets = TARGETS;
    ds->t_train = targets_of(ds->x_train, ds->n_train, ds->features);
    ds->t_test = targets_of(ds->x_test, ds->n_test, ds->features);
    free(ds->y_train), free(ds->y_test); /* REAL fills t_*, y_* NULL (vgsweep/data.h) */
    ds->y_train = ds->y_test = NULL;
}

static void free_regression(vg_dataset *ds) {
    free(ds->t_train), free(ds->t_test);
    ds->t_train = ds->t_test = NULL;
    vg_dataset_free(ds);
}

/* Runs cfg on a regression set; returns the allocations made during training. */
static long run(vg_run_config cfg, vg_run_result *res, vg_status *st, vg_error *err) {
    vg_dataset ds;
    make_regression(&cfg, &ds);
    VG_CHECK(vg_run_result_init(res, &cfg, NULL) == VG_OK);
    long before = n_allocs;
    *st = vg_train_run(&cfg, &ds, res, NULL, err);
    long during = n_allocs - before;
    free_regression(&ds);
    return during;
}

int main(void) {
    vg_run_config cfg;
    vg_run_config_defaults(&cfg);
    cfg.data_train_size = 512, cfg.data_test_size = 128, cfg.record_probe = 64;
    cfg.data_features = 8, cfg.data_classes = TARGETS; /* the net has one output per target */
    cfg.model_depth = 2, cfg.model_width = 32, cfg.model_activation = VG_ACT_TANH;
    cfg.model_init = VG_INIT_XAVIER_UNIFORM;
    cfg.train_batch_size = 32, cfg.train_lr = 0.05, cfg.train_epochs = 12;
    cfg.train_loss = VG_LOSS_MSE;
    strcpy(cfg.id, "000000000000");
    cfg.seed = 3;

    vg_run_result res;
    vg_status st;
    vg_error err;
    run(cfg, &res, &st, &err);
    VG_CHECK_MSG(st == VG_OK && res.status == VG_RUN_OK, "status %d: %s", res.status, res.message);
    int E = cfg.train_epochs;
    const vg_series *pa = vg_run_result_find(&res, "probe/accuracy");
    const vg_series *pl = vg_run_result_find(&res, "probe/loss");
    VG_CHECK(pa && pl);
    for (int e = 0; e < E; e++) {
        VG_CHECK_MSG(isnan(res.accuracy[e]) && isnan(res.test_accuracy[e]),
                     "epoch %d: accuracy %g, test accuracy %g (regression: NaN)", e,
                     res.accuracy[e], res.test_accuracy[e]);
        VG_CHECK(isfinite(res.loss[e]) && isfinite(res.test_loss[e]));
    }
    for (int k = 0; k <= E; k++) {
        VG_CHECK(isnan(((double *)pa->data)[k]));
        VG_CHECK(isfinite(((double *)pl->data)[k]));
    }
    /* it learns: the targets' variance is about 0.6; the trained net is far below */
    printf("regression: training loss %.4f -> %.4f, test loss %.4f -> %.4f\n", res.loss[0],
           res.loss[E - 1], res.test_loss[0], res.test_loss[E - 1]);
    VG_CHECK_LT(res.loss[E - 1], 0.25 * res.loss[0]);
    VG_CHECK_LT(res.test_loss[E - 1], 0.05);
    VG_CHECK_LT(((double *)pl->data)[E], 0.25 * ((double *)pl->data)[0]);
    vg_run_result_free(&res);

    /* the training step allocates nothing with real targets either */
    for (int norm = 0; norm < VG_NORM_COUNT; norm++) {
        vg_run_config c = cfg;
        c.model_norm = norm, c.train_clip = norm, c.train_optimizer = VG_OPT_ADAM, c.train_lr = 0.001;
        c.train_epochs = 1;
        long one = run(c, &res, &st, &err);
        VG_CHECK(res.status == VG_RUN_OK);
        vg_run_result_free(&res);
        c.train_epochs = 4;
        long four = run(c, &res, &st, &err);
        VG_CHECK(res.status == VG_RUN_OK);
        vg_run_result_free(&res);
        VG_CHECK_MSG(one == four, "norm %d: %ld allocations for 1 epoch, %ld for 4", norm, one, four);
    }

    /* cross-entropy has no meaning for real targets: the run fails, saying why */
    vg_run_config ce = cfg;
    ce.train_loss = VG_LOSS_CROSS_ENTROPY, ce.train_epochs = 1;
    run(ce, &res, &st, &err);
    VG_CHECK(st != VG_OK && res.status == VG_RUN_FAILED);
    VG_CHECK_STR_CONTAINS(res.message, "train.loss: mse");
    vg_run_result_free(&res);

    /* targets per time step are for recurrent nets */
    vg_dataset ds;
    vg_run_config sc = cfg;
    sc.train_epochs = 1, sc.train_loss = VG_LOSS_CROSS_ENTROPY;
    VG_CHECK(vg_dataset_make(&sc, &ds, NULL) == VG_OK);
    ds.target_kind = VG_TARGET_STEP_CLASS;
    VG_CHECK(vg_run_result_init(&res, &sc, NULL) == VG_OK);
    VG_CHECK(vg_train_run(&sc, &ds, &res, NULL, &err) != VG_OK);
    VG_CHECK(res.status == VG_RUN_FAILED);
    VG_CHECK_STR_CONTAINS(res.message, "recurrent");
    vg_run_result_free(&res);
    vg_dataset_free(&ds);
    return vg_test_finish("test_regression_train");
}
