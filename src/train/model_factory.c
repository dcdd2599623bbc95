/* The factory from a run's settings to a model (model_factory.h). */
#include "train/model_factory.h"

#include <math.h>
#include <string.h>

#include "vgsweep/rnn.h"

static int vg__probe_rows(const vg_run_config *cfg) {
    return cfg->record_probe < cfg->data_train_size ? cfg->record_probe : cfg->data_train_size;
}

void vg_train_model_spec(const vg_run_config *cfg, const vg_dataset *ds, vg_model_spec *spec) {
    memset(spec, 0, sizeof *spec);
    int bs = cfg->train_batch_size, P = vg__probe_rows(cfg);
    int max_batch = bs > P ? bs : P;
    int64_t n_test = ds ? ds->n_test : cfg->data_test_size;
    /* the test set goes through in chunks of VG_EVAL_CHUNK rows (an MLP's activations are small);
     * a recurrent net's are T times larger, so it evaluates in chunks of its largest batch
     * (vg_train_eval_chunk) and its arena is not sized for more */
    if (n_test > 0 && VG_EVAL_CHUNK > max_batch && cfg->model_kind == VG_MODEL_MLP)
        max_batch = VG_EVAL_CHUNK;
    spec->kind = cfg->model_kind;
    if (ds) {
        spec->target_kind = ds->target_kind;
        /* features = steps * step_features (vgsweep/data.h); from features, which every set
         * fills last */
        spec->steps = ds->steps > 0 ? ds->steps : 1;
        spec->step_features = ds->features / spec->steps;
        spec->n_outputs = ds->target_kind == VG_TARGET_REAL ? ds->targets : ds->classes;
    } else {
        /* as the data set will be (vg_data_prepare checks that they agree) */
        int steps = 1, step_features = cfg->data_features, classes = 0, targets = 0;
        if (vg_data_task_shape(cfg->data_kind, cfg->data_length, &steps, &step_features,
                               &classes, &targets)) {
            spec->target_kind = cfg->data_kind == VG_DATA_ADDING ? VG_TARGET_REAL
                                : cfg->data_kind == VG_DATA_COPY ? VG_TARGET_STEP_CLASS
                                                                 : VG_TARGET_CLASS;
        } else {
            spec->target_kind = vg_data_real_target(cfg) ? VG_TARGET_REAL : VG_TARGET_CLASS;
            int st = 0, sf = 0, tg = 0;
            if (vg_data_shared_shape(cfg, &st, &sf, &tg) && st > 0) {
                /* read already (vg_data_prepare): the file's own shape */
                steps = st, step_features = sf, targets = tg;
            } else if (cfg->data_sequence == VG_SEQUENCE_PIXELS) {
                steps = cfg->data_features, step_features = 1;
            } else if (cfg->data_sequence == VG_SEQUENCE_ROWS) {
                /* an H x W image: square ones (the IDX sets shipped) until it is read */
                int side = (int)lround(sqrt((double)cfg->data_features));
                if (side > 0 && side * side == cfg->data_features) steps = side, step_features = side;
            }
        }
        spec->steps = steps;
        spec->step_features = step_features;
        if (spec->target_kind == VG_TARGET_REAL && targets == 0) {
            /* csv: one target per name in data.label ("a,b") */
            targets = 1;
            for (const char *p = cfg->data_label; *p; p++) targets += *p == ',';
        }
        spec->n_outputs = spec->target_kind == VG_TARGET_REAL ? targets
                          : classes > 0                      ? classes
                                                             : cfg->data_classes;
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
    spec->bptt = cfg->train_bptt;
    spec->recurrent_init = cfg->model_recurrent_init;
    spec->recurrent_value = vg_train_recurrent_value(cfg);
    spec->forget_bias = cfg->model_forget_bias;
}

double vg_train_recurrent_value(const vg_run_config *cfg) {
    /* model.recurrent_gain multiplies every recurrent initializer (the settings' table); the
     * kernel takes one value per kind (vg_rnn_init_spec.rec_value) */
    double g = cfg->model_recurrent_gain > 0 ? cfg->model_recurrent_gain : 1;
    switch (cfg->model_recurrent_init) {
    case VG_RINIT_NORMAL: return g * cfg->model_recurrent_std;
    case VG_RINIT_UNIFORM: return g * cfg->model_recurrent_limit;
    case VG_RINIT_STANDARD: return g / sqrt((double)(cfg->model_width > 0 ? cfg->model_width : 1));
    default: return g; /* orthogonal, identity, xavier_*: the gain */
    }
}

int vg_train_eval_chunk(const vg_model_spec *spec) {
    return spec->kind == VG_MODEL_MLP ? VG_EVAL_CHUNK : spec->max_batch;
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
    case VG_MODEL_RNN:
    case VG_MODEL_LSTM:
    case VG_MODEL_GRU: return vg_rnn_plan(spec, plan, err);
    }
    return vg_error_set(err, VG_EINTERNAL, "unknown model kind %d", spec->kind);
}

vg_model_cost vg_train_model_cost(const vg_model_spec *spec) {
    switch (spec->kind) {
    case VG_MODEL_MLP: return vg_mlp_cost(spec);
    case VG_MODEL_RNN:
    case VG_MODEL_LSTM:
    case VG_MODEL_GRU: return vg_rnn_cost(spec);
    }
    vg_model_cost none;
    memset(&none, 0, sizeof none);
    return none;
}

vg_status vg_train_model_create(const vg_model_spec *spec, vg_model_f32 *m, vg_error *err) {
    switch (spec->kind) {
    case VG_MODEL_MLP: return vg_model_f32_create_mlp(m, spec, err);
    case VG_MODEL_RNN:
    case VG_MODEL_LSTM:
    case VG_MODEL_GRU: return vg_model_f32_create_rnn(m, spec, err);
    }
    memset(m, 0, sizeof *m);
    return vg_error_set(err, VG_EINTERNAL, "unknown model kind %d", spec->kind);
}
