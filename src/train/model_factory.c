/* The factory from a run's settings to a model (model_factory.h). */
#include "train/model_factory.h"

#include <string.h>

static int vg__probe_rows(const vg_run_config *cfg) {
    return cfg->record_probe < cfg->data_train_size ? cfg->record_probe : cfg->data_train_size;
}

void vg_train_model_spec(const vg_run_config *cfg, const vg_dataset *ds, vg_model_spec *spec) {
    memset(spec, 0, sizeof *spec);
    int bs = cfg->train_batch_size, P = vg__probe_rows(cfg);
    int max_batch = bs > P ? bs : P;
    int64_t n_test = ds ? ds->n_test : cfg->data_test_size;
    if (n_test > 0 && VG_EVAL_CHUNK > max_batch) max_batch = VG_EVAL_CHUNK;
    /* one switch on model.kind goes here once the setting exists (branch seq); every run
     * is an MLP until then */
    spec->kind = VG_MODEL_MLP;
    if (ds) {
        spec->target_kind = ds->target_kind;
        /* features = steps * step_features (vgsweep/data.h); from features, which every set
         * fills last */
        spec->steps = ds->steps > 0 ? ds->steps : 1;
        spec->step_features = ds->features / spec->steps;
        spec->n_outputs = ds->target_kind == VG_TARGET_REAL ? ds->targets : ds->classes;
    } else {
        spec->target_kind = VG_TARGET_CLASS;
        spec->steps = 1;
        spec->step_features = cfg->data_features;
        spec->n_outputs = cfg->data_classes;
    }
    spec->depth = cfg->model_depth;
    spec->width = cfg->model_width;
    spec->activation = cfg->model_activation;
    spec->leaky_slope = cfg->model_leaky_slope;
    spec->elu_alpha = cfg->model_elu_alpha;
    spec->norm = cfg->model_norm;
    spec->norm_momentum = cfg->model_norm_momentum;
    spec->norm_eps = cfg->model_norm_eps;
    spec->skip_every = cfg->model_skip_every;
    spec->skip_scale = cfg->model_skip_scale;
    spec->loss = cfg->train_loss;
    spec->max_batch = max_batch;
}

vg_init_spec vg_train_init_spec(const vg_run_config *cfg) {
    vg_init_spec init = {.kind = cfg->model_init,
                         .std = cfg->model_init_std,
                         .limit = cfg->model_init_limit,
                         .gain = cfg->model_init_gain,
                         .bias = cfg->model_bias_init};
    return init;
}

vg_status vg_train_model_plan(const vg_model_spec *spec, vg_model_plan *plan, vg_error *err) {
    switch (spec->kind) {
    case VG_MODEL_MLP: return vg_mlp_plan(spec, plan, err);
    }
    return vg_error_set(err, VG_EINTERNAL, "unknown model kind %d", spec->kind);
}

vg_model_cost vg_train_model_cost(const vg_model_spec *spec) {
    switch (spec->kind) {
    case VG_MODEL_MLP: return vg_mlp_cost(spec);
    }
    vg_model_cost none;
    memset(&none, 0, sizeof none);
    return none;
}

vg_status vg_train_model_create(const vg_model_spec *spec, vg_model_f32 *m, vg_error *err) {
    switch (spec->kind) {
    case VG_MODEL_MLP: return vg_model_f32_create_mlp(m, spec, err);
    }
    memset(m, 0, sizeof *m);
    return vg_error_set(err, VG_EINTERNAL, "unknown model kind %d", spec->kind);
}
