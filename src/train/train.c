/* One run: the epoch loop, clipping, the optimizer and its schedule, probe checkpoints with
 * their statistics, and divergence detection. The plan of what a run records (series and
 * tensor specs) is made here too, from the settings alone, so the dry run can size it.
 * The net is reached only through the model interface (vgsweep/model.h), built by the
 * factory (model_factory.h): nothing here knows which kind of net a run trains. */
#include "vgsweep/train.h"

#include "vgsweep/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/model_factory.h"
#include "train/stats.h"
#include "vgsweep/model.h"
#include "vgsweep/nn.h"
#include "vgsweep/rng.h"
#include "vgsweep/team.h"

/* Stream tags: each random stream of a run derives from the run's seed and its own tag, so
 * adding a stream never shifts another. */
#define VG_INIT_STREAM 0x696e6974ULL    /* "init" */
#define VG_SHUFFLE_STREAM 0x73687566ULL /* "shuf" */


/* Saturated: phi'(u) below this fraction of phi's largest slope. */
#define VG_SATURATION 0.05

/* What a recorded tensor is a view of: vg_tensor_spec.source is the model's tensor index
 * times 2, plus 1 for its gradient. */
#define VG_SRC(tensor, grad) ((tensor) * 2 + (grad))

static double vg__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ the plan */

static int64_t vg__steps_per_epoch(const vg_run_config *cfg) {
    return ((int64_t)cfg->data_train_size + cfg->train_batch_size - 1) / cfg->train_batch_size;
}

static int vg__probe_size(const vg_run_config *cfg) {
    return cfg->record_probe < cfg->data_train_size ? cfg->record_probe : cfg->data_train_size;
}

/* Index of each series in res->series; the table below is the plan's single source. */
enum {
    S_LOSS, S_ACCURACY, S_TEST_LOSS, S_TEST_ACCURACY, S_LR,
    S_CLIP_COUNT, S_CLIP_FRACTION, S_CLIP_NORM_MEAN, S_CLIP_NORM_MAX,
    S_STEP_LOSS, S_STEP_GRAD_NORM,
    S_PROBE_LOSS, S_PROBE_ACCURACY,
    S_GRAD_NORM, S_DELTA_RMS, S_WEIGHT_NORM,
    S_ACT_MEAN, S_ACT_STD, S_ACT_SATURATED, S_ACT_DEAD,
    S_GRAD_HIST, S_GRAD_HIST_EDGES,
    S_PROBE_X, S_PROBE_Y, S_DIVERGENCE, S_FAN_IN, S_FAN_OUT,
    S_PROBE_T, /* last: the series before it keep their places */
    S_COUNT
};

/* Axis lengths a series' shape is written in. */
enum { A_E, A_K, A_L, A_D, A_S, A_BINS, A_EDGES, A_P, A_F, A_3,
       A_T,      /* time steps per sample */
       A_TG,     /* real targets per sample (REAL), else 0 (no probe/t) */
       A_COUNT,
       A_Y = A_COUNT, /* not an axis: label values per sample, 1 (CLASS), T (STEP_CLASS: probe/y
                       * is (P, T) on the time axis), 0 (REAL: no probe/y) */
       A_ALL };

/* The axes of the series (the record's dimension scales): name, first value, doc. */
static const struct {
    const char *name;
    int64_t first;
    const char *doc;
} vg__axis_plan[A_COUNT] = {
    [A_E] = {"epoch", 1, "epoch e, from 1"},
    [A_K] = {"checkpoint", 0, "checkpoint k: 0 at initialization, e after epoch e"},
    [A_L] = {"layer", 1, "dense layer l, from 1 (input side)"},
    [A_D] = {"hidden_layer", 1, "hidden layer l (dense layer l and its activation), from 1"},
    [A_S] = {"step", 0, "training step, from 0, counted over the run"},
    [A_BINS] = {"bin", 0, "histogram bin, from 0"},
    [A_EDGES] = {"edge", 0, "histogram bin edge, from 0"},
    [A_P] = {"sample", 0, "probe sample, from 0"},
    [A_F] = {"feature", 0, "input feature, from 0"},
    [A_3] = {"field", 0, "0: epoch, 1: step, 2: layer"},
    [A_T] = {"time", 0, "time step t, from 0: the state after input step t"},
    [A_TG] = {"target", 0, "real target of a sample, from 0"},
};

static const struct {
    const char *name, *axes, *doc;
    vg_dtype dtype;
    int rank, dims[3]; /* A_* */
    int probe;         /* 1: computed on the probe batch, so absent when record.probe is 0 */
} vg__series_plan[S_COUNT] = {
    [S_LOSS] = {"loss", "epoch", "mean training loss over the epoch's steps", VG_F64, 1, {A_E}, 0},
    [S_ACCURACY] = {"accuracy", "epoch", "training accuracy over the epoch's steps (weights as at each step)", VG_F64, 1, {A_E}, 0},
    [S_TEST_LOSS] = {"test_loss", "epoch", "mean loss on the test set after the epoch (batch norm: running statistics)", VG_F64, 1, {A_E}, 0},
    [S_TEST_ACCURACY] = {"test_accuracy", "epoch", "accuracy on the test set after the epoch", VG_F64, 1, {A_E}, 0},
    [S_LR] = {"lr", "epoch", "learning rate used during the epoch (after the schedule)", VG_F64, 1, {A_E}, 0},
    [S_CLIP_COUNT] = {"clip/count", "epoch", "steps of the epoch whose gradient was clipped", VG_I64, 1, {A_E}, 0},
    [S_CLIP_FRACTION] = {"clip/fraction", "epoch", "fraction of the epoch's steps whose gradient was clipped", VG_F64, 1, {A_E}, 0},
    [S_CLIP_NORM_MEAN] = {"clip/preclip_norm_mean", "epoch", "mean over the epoch's steps of the global gradient norm before clipping", VG_F64, 1, {A_E}, 0},
    [S_CLIP_NORM_MAX] = {"clip/preclip_norm_max", "epoch", "largest global gradient norm before clipping in the epoch", VG_F64, 1, {A_E}, 0},
    [S_STEP_LOSS] = {"train/loss", "step", "minibatch loss of every training step", VG_F64, 1, {A_S}, 0},
    [S_STEP_GRAD_NORM] = {"train/grad_norm", "step", "global gradient norm of every training step, before clipping and weight decay", VG_F64, 1, {A_S}, 0},
    [S_PROBE_LOSS] = {"probe/loss", "checkpoint", "mean loss on the probe batch at each checkpoint", VG_F64, 1, {A_K}, 1},
    [S_PROBE_ACCURACY] = {"probe/accuracy", "checkpoint", "accuracy on the probe batch at each checkpoint", VG_F64, 1, {A_K}, 1},
    [S_GRAD_NORM] = {"grad_norm", "checkpoint,layer", "Frobenius norm of dloss/dW per dense layer on the probe batch", VG_F64, 2, {A_K, A_L}, 1},
    [S_DELTA_RMS] = {"delta_rms", "checkpoint,layer", "root mean square over probe samples and units of dloss/dz, z the dense layer's output", VG_F64, 2, {A_K, A_L}, 1},
    [S_WEIGHT_NORM] = {"weight_norm", "checkpoint,layer", "Frobenius norm of W per dense layer", VG_F64, 2, {A_K, A_L}, 0},
    [S_ACT_MEAN] = {"act_mean", "checkpoint,hidden_layer", "mean of the activation outputs phi(u) over probe samples and units", VG_F64, 2, {A_K, A_D}, 1},
    [S_ACT_STD] = {"act_std", "checkpoint,hidden_layer", "standard deviation of the activation outputs over probe samples and units", VG_F64, 2, {A_K, A_D}, 1},
    [S_ACT_SATURATED] = {"act_saturated", "checkpoint,hidden_layer", "fraction of (sample, unit) entries with phi'(u) < 5% of phi's largest slope", VG_F64, 2, {A_K, A_D}, 1},
    [S_ACT_DEAD] = {"act_dead", "checkpoint,hidden_layer", "fraction of units with phi'(u) < 5% of phi's largest slope on every probe sample", VG_F64, 2, {A_K, A_D}, 1},
    [S_GRAD_HIST] = {"grad_hist", "checkpoint,layer,bin", "counts of log10|dloss/dW| per dense layer in the bins of grad_hist_edges", VG_I64, 3, {A_K, A_L, A_BINS}, 1},
    [S_GRAD_HIST_EDGES] = {"grad_hist_edges", "edge", "bin edges of grad_hist in log10 units; bin i is [edge i, edge i+1), exact zeros in bin 0", VG_F64, 1, {A_EDGES}, 1},
    [S_PROBE_X] = {"probe/x", "sample,feature", "the probe batch's inputs (the first record.probe training samples)", VG_F32, 2, {A_P, A_F}, 1},
    [S_PROBE_Y] = {"probe/y", "sample", "the probe batch's class labels (per step, -1 where not scored, for a class per step: (P, T) sample,step); absent for real targets", VG_I32, 1, {A_P}, 1},
    [S_DIVERGENCE] = {"divergence", "field", "epoch (1-based), step (0-based, counted over the run) and layer (1-based) where the run went non-finite; -1 when it did not", VG_I64, 1, {A_3}, 0},
    [S_FAN_IN] = {"fan_in", "layer", "inputs of each dense layer", VG_I32, 1, {A_L}, 0},
    [S_FAN_OUT] = {"fan_out", "layer", "outputs of each dense layer", VG_I32, 1, {A_L}, 0},
    [S_PROBE_T] = {"probe/t", "sample,target", "the probe batch's real targets (regression: data.kind adding, csv with data.target real); absent for class targets", VG_F32, 2, {A_P, A_TG}, 1},
};

/* The rank, dims and axes of series i (vg__series_plan) for a run whose axis lengths are
 * axis; 0 when it is not recorded (a probe series without a probe batch, probe/y without class
 * labels, probe/t without real targets). */
static int vg__series_dims(int i, const int64_t *axis, int64_t dims[3], int ax[3],
                           const char **axes) {
    if (vg__series_plan[i].probe && axis[A_P] == 0) return 0;
    if ((i == S_PROBE_Y && axis[A_Y] == 0) || (i == S_PROBE_T && axis[A_TG] == 0)) return 0;
    int rank = vg__series_plan[i].rank;
    *axes = vg__series_plan[i].axes;
    for (int d = 0; d < rank; d++) dims[d] = axis[ax[d] = vg__series_plan[i].dims[d]];
    if (i == S_PROBE_Y && axis[A_Y] > 1) { /* a class per step: on the time axis */
        rank = 2, dims[1] = axis[A_Y], ax[1] = A_T;
        *axes = "sample,time";
    }
    return rank;
}

static size_t vg__dtype_size(vg_dtype t) { return t == VG_F32 || t == VG_I32 ? 4 : 8; }

static void vg__layer_name(char *buf, size_t size, int L, int layer, const char *what) {
    int digits = 1;
    for (int n = L; n >= 10; n /= 10) digits++;
    int n = snprintf(buf, size, "layers/%0*d/%s", digits > 2 ? digits : 2, layer + 1, what);
    if (n < 0 || (size_t)n >= size) buf[size - 1] = '\0'; /* never at our sizes: L <= 10001 */
}

/* Tensor specs: gradients of the layers record.tensors selects at every record.tensor_every-th
 * checkpoint (and the last), unless record.probe is 0 (no probe, no gradients), and all
 * weights at the checkpoints record.weights selects; per layer the gradients of its trained
 * tensors, then the values of all its tensors, in the model plan's order. With specs == NULL
 * only counts. */
static int vg__plan_tensors(const vg_run_config *cfg, const vg_model_plan *plan,
                            vg_tensor_spec *specs, int *ckpt_pool) {
    int L = plan->n_layers, E = cfg->train_epochs, n = 0;
    /* checkpoint lists: [0] gradients, [1] weights */
    int n_grad_k = 0, n_weight_k = 0;
    int *grad_k = ckpt_pool, *weight_k = ckpt_pool ? ckpt_pool + (E + 1) : NULL;
    for (int k = 0; k <= E; k++) {
        if (k % cfg->record_tensor_every == 0 || k == E) {
            if (grad_k) grad_k[n_grad_k] = k;
            n_grad_k++;
        }
        if (cfg->record_weights == VG_WEIGHTS_ALL || (k == 0 && cfg->record_weights == VG_WEIGHTS_INIT)) {
            if (weight_k) weight_k[n_weight_k] = k;
            n_weight_k++;
        }
    }
    int first = 0; /* the plan's first tensor of layer l */
    for (int l = 0; l < L; l++) {
        int grads_here = vg__probe_size(cfg) > 0 &&
                         (cfg->record_tensors == VG_TENSORS_ALL ||
                          (cfg->record_tensors == VG_TENSORS_ENDS && (l == 0 || l == L - 1)));
        int end = first;
        while (end < plan->n_tensors && plan->tensors[end].layer == l) end++;
        for (int is_grad = 1; is_grad >= 0; is_grad--)
            for (int i = first; i < end; i++) {
                const vg_model_tensor *mt = &plan->tensors[i];
                if (is_grad ? !grads_here || !mt->trained : n_weight_k == 0) continue;
                if (specs) {
                    vg_tensor_spec *t = &specs[n];
                    memset(t, 0, sizeof *t);
                    char what[32];
                    snprintf(what, sizeof what, "%s%s", is_grad ? "grad_" : "", mt->name);
                    vg__layer_name(t->name, sizeof t->name, L, l, what);
                    t->doc = is_grad ? mt->grad_doc : mt->doc;
                    int hid = mt->in_axis && strcmp(mt->in_axis, "hidden") == 0;
                    t->axes = is_grad ? (mt->rank == 2 ? (hid ? "grad_checkpoint,unit,hidden" : "grad_checkpoint,unit,input")
                                                       : "grad_checkpoint,unit")
                                      : (mt->rank == 2 ? (hid ? "weight_checkpoint,unit,hidden" : "weight_checkpoint,unit,input")
                                                       : "weight_checkpoint,unit");
                    t->rank = mt->rank;
                    t->dims[0] = mt->dims[0];
                    t->dims[1] = mt->dims[1];
                    t->n_slots = is_grad ? n_grad_k : n_weight_k;
                    t->checkpoints = is_grad ? grad_k : weight_k;
                    t->source = VG_SRC(i, is_grad);
                    t->layer = l;
                }
                n++;
            }
        first = end;
    }
    return n;
}

/* The length of every axis a series' shape is written in (A_*). */
static void vg__axis_lengths(const vg_run_config *cfg, const vg_model_plan *plan,
                             int64_t axis[A_ALL]) {
    int64_t E = cfg->train_epochs;
    axis[A_E] = E;
    axis[A_K] = E + 1;
    axis[A_L] = plan->n_layers;
    axis[A_D] = plan->n_act_layers;
    axis[A_S] = E * vg__steps_per_epoch(cfg);
    axis[A_BINS] = VG_HIST_BINS;
    axis[A_EDGES] = VG_HIST_BINS + 1;
    axis[A_P] = vg__probe_size(cfg);
    axis[A_F] = cfg->data_features;
    axis[A_3] = 3;
    vg_model_spec spec;
    vg_train_model_spec(cfg, NULL, &spec);
    axis[A_T] = spec.steps;
    axis[A_Y] = spec.target_kind == VG_TARGET_REAL ? 0
                : spec.target_kind == VG_TARGET_STEP_CLASS ? spec.steps : 1;
    axis[A_TG] = spec.target_kind == VG_TARGET_REAL ? spec.n_outputs : 0;
}

/* The model's extra series (vg_model_series), checkpoints first, of doubles: only with a
 * probe batch (they are computed on it). */
static double vg__extra_count(const vg_run_config *cfg, const vg_model_series *ms) {
    double n = (double)cfg->train_epochs + 1;
    for (int d = 1; d < ms->rank; d++) n *= (double)ms->dims[d];
    return n;
}

/* Bytes of the values of every series a run of cfg records (no allocation). */
static double vg__series_bytes(const vg_run_config *cfg, const vg_model_plan *plan) {
    int64_t axis[A_ALL];
    vg__axis_lengths(cfg, plan, axis);
    double bytes = 0;
    for (int i = 0; i < S_COUNT; i++) {
        int64_t dims[3];
        int ax[3];
        const char *axes;
        int rank = vg__series_dims(i, axis, dims, ax, &axes);
        if (rank == 0) continue;
        double n = 1;
        for (int d = 0; d < rank; d++) n *= (double)dims[d];
        bytes += (n > 0 ? n : 1) * (double)vg__dtype_size(vg__series_plan[i].dtype);
    }
    for (int i = 0; axis[A_P] > 0 && i < plan->n_series; i++)
        bytes += vg__extra_count(cfg, &plan->series[i]) * sizeof(double);
    return bytes;
}

static vg_status vg__series_init(vg_run_result *res, const vg_run_config *cfg,
                                 const vg_model_plan *plan, int index[S_COUNT], int with_data,
                                 vg_error *err);

/* The axes a model's own series name (vg_model_series.axes) beside the plan's: the
 * dimension scales' first value and doc. */
static int64_t vg__model_axis_first(const char *name) {
    for (int a = 0; a < A_COUNT; a++)
        if (strcmp(vg__axis_plan[a].name, name) == 0) return vg__axis_plan[a].first;
    return strcmp(name, "recurrent_layer") == 0 ? 1 : 0; /* as "layer": from 1 */
}
static const char *vg__model_axis_doc(const char *name) {
    static const struct { const char *name, *doc; } known[] = {
        {"time", "time step t, from 0: the state after input step t"},
        {"gate", "gate of the cell, in PyTorch's order (LSTM i, f, g, o; GRU r, z, n; RNN: one)"},
        {"recurrent_layer", "recurrent layer l, from 1 (input side)"},
    };
    for (int a = 0; a < A_COUNT; a++)
        if (strcmp(vg__axis_plan[a].name, name) == 0) return vg__axis_plan[a].doc;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, name) == 0) return known[i].doc;
    return "an axis of the model's own series, from 0";
}

/* Declares axis `name` (unless it is among the axes from `from` on) in lay->axes, which has
 * room for it. */
static void vg__declare_axis(vg_run_layout *lay, int from, const char *name, int64_t length,
                             int64_t first, const int64_t *values, const char *doc) {
    for (int i = from; i < lay->n_axes; i++)
        if (strcmp(lay->axes[i].name, name) == 0) return;
    vg_axis *a = &lay->axes[lay->n_axes++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->doc = doc, a->length = length, a->first = first, a->values = values;
}

/* Deflate ratio of shuffled float32 gradients (compressed / raw), by activation; measured on
 * sweeps/depth_vs_act.yaml-like sweeps (docs/FORMAT.md, "Size"). Nets whose gradients are
 * exactly zero in places (dead ReLU units) compress much better than this. */
static double vg__tensor_ratio(const vg_run_config *cfg) {
    switch (cfg->model_activation) {
    case VG_ACT_RELU: return 0.75;
    case VG_ACT_SIGMOID: return 0.82;
    default: return 0.90;
    }
}

/* The plan (layout: axes, tensor specs, attributes; the series' names and shapes) and,
 * with_data, the series' values. A failure to allocate the values keeps the plan and drops the
 * series (n_series 0). */
static vg_status vg__result_init(vg_run_result *res, const vg_run_config *cfg, int with_data,
                                 vg_error *err) {
    memset(res, 0, sizeof *res);
    res->status = VG_RUN_PENDING;
    vg_model_spec spec;
    vg_model_plan plan;
    vg_train_model_spec(cfg, NULL, &spec);
    vg_status st = vg_train_model_plan(&spec, &plan, err);
    if (st != VG_OK) return st;
    vg_run_layout *lay = &res->layout;
    int E = cfg->train_epochs;
    int L = plan.n_layers;
    lay->attrs[0] = (vg_run_attr){"n_layers", L, NULL};
    lay->attrs[1] = (vg_run_attr){"n_epochs", E, NULL};
    lay->attrs[2] = (vg_run_attr){"steps_per_epoch", vg__steps_per_epoch(cfg), NULL};
    /* the kernels this run trains with (nn.h): runs of one record may come from different
     * machines (a merge, MPI ranks), so each says its own */
    lay->attrs[3] = (vg_run_attr){"kernel_path", 0, vg_nn_kernel_path()};
    lay->n_attrs = 4;
    lay->tensor_ratio = vg__tensor_ratio(cfg);
    lay->n_tensors = vg__plan_tensors(cfg, &plan, NULL, NULL);
    lay->tensors = calloc((size_t)lay->n_tensors + 1, sizeof *lay->tensors);
    /* the series' axes, the two slot axes, a unit and an input axis per layer, and each axis
     * of the model's own series */
    size_t max_axes = (size_t)A_COUNT + 2 + 2 * (size_t)L;
    for (int i = 0; i < plan.n_series; i++) max_axes += (size_t)plan.series[i].rank;
    lay->axes = calloc(max_axes, sizeof *lay->axes);
    /* the tensors' slot lists: int64 (the slot axes' values), then int (the specs') */
    void *pool = malloc(2 * (size_t)(E + 1) * (sizeof(int64_t) + sizeof(int)));
    int *ckpt_pool = pool ? (int *)((int64_t *)pool + 2 * (E + 1)) : NULL;
    res->series = calloc(S_COUNT + (size_t)plan.n_series, sizeof *res->series);
    int index[S_COUNT]; /* S_* -> position in res->series, or -1 (not recorded) */
    if (!lay->axes || !lay->tensors || !pool || !res->series) {
        free(pool);
        vg_run_result_free(res);
        vg_model_plan_free(&plan);
        return vg_error_set(err, VG_ENOMEM, "out of memory for the run's plan (%d layers, %d epochs)",
                            L, E);
    }
    vg__plan_tensors(cfg, &plan, lay->tensors, ckpt_pool);
    res->storage = pool;
    /* the tensors' axes: their slots (the checkpoints of each list), a layer's units and inputs */
    /* the slot axes: the checkpoints of the gradient list and of the weight list */
    int64_t *slot_values = pool;
    for (int g = 0; g < 2; g++) {
        const vg_tensor_spec *first = NULL;
        for (int j = 0; j < lay->n_tensors && !first; j++)
            if ((lay->tensors[j].checkpoints == ckpt_pool) == !g) first = &lay->tensors[j];
        if (!first) continue;
        int64_t *v = slot_values + (g ? E + 1 : 0);
        for (int k = 0; k < first->n_slots; k++) v[k] = first->checkpoints[k];
        vg__declare_axis(lay, 0, g ? "weight_checkpoint" : "grad_checkpoint", first->n_slots, 0, v,
                         g ? "checkpoint k of each slot of the weight tensors"
                           : "checkpoint k of each slot of the gradient tensors");
    }
    /* a layer's units and inputs: "unit" and "input" (in the run group: "layers" holds only
     * the layers' groups) of model.width for every layer, "layers/<NN>/unit" or "/input" where
     * a layer's differ (the first layer's inputs, the last one's units): one scale each, not
     * one per layer (a layer's tensors are contiguous: its own are looked for among its own) */
    int layer_from = 0, layer = -1;
    for (int i = 0; i < lay->n_tensors; i++) {
        const vg_tensor_spec *t = &lay->tensors[i];
        if (t->layer != layer) layer = t->layer, layer_from = lay->n_axes;
        char group[40], name[48];
        snprintf(group, sizeof group, "%.*s", (int)(strrchr(t->name, '/') - t->name), t->name);
        for (int d = 0; d < t->rank; d++) {
            /* the name in t->axes after the slot axis: unit, input, or hidden (W_hh's columns) */
            const char *what = d == 0 ? "unit" : strrchr(t->axes, ',') + 1;
            const char *doc = d == 0 ? "output unit of the layer, from 0"
                              : strcmp(what, "hidden") == 0 ? "hidden unit of the recurrent layer (W_hh's columns), from 0"
                                                            : "input of the layer, from 0";
            if (t->dims[d] == cfg->model_width) {
                snprintf(name, sizeof name, "%s", what);
                vg__declare_axis(lay, 0, name, t->dims[d], 0, NULL, doc);
            } else {
                snprintf(name, sizeof name, "%s/%s", group, what);
                vg__declare_axis(lay, layer_from, name, t->dims[d], 0, NULL, doc);
            }
        }
    }
    st = vg__series_init(res, cfg, &plan, index, with_data, err);
    if (st == VG_OK && with_data) {
        int32_t *fan_in = res->series[index[S_FAN_IN]].data;
        int32_t *fan_out = res->series[index[S_FAN_OUT]].data;
        for (int l = 0; l < L; l++) {
            fan_in[l] = plan.layers[l].fan_in;
            fan_out[l] = plan.layers[l].fan_out;
        }
    }
    vg_model_plan_free(&plan);
    if (st != VG_OK || !with_data) return st;
    if (index[S_GRAD_HIST_EDGES] >= 0) {
        double *edges = res->series[index[S_GRAD_HIST_EDGES]].data;
        edges[0] = -INFINITY;
        for (int i = 1; i < VG_HIST_BINS; i++) edges[i] = VG_HIST_LO + VG_HIST_STEP * (i - 1);
        edges[VG_HIST_BINS] = INFINITY;
    }

    res->loss = res->series[index[S_LOSS]].data;
    res->accuracy = res->series[index[S_ACCURACY]].data;
    res->test_loss = res->series[index[S_TEST_LOSS]].data;
    res->test_accuracy = res->series[index[S_TEST_ACCURACY]].data;
    res->grad_norm = index[S_GRAD_NORM] >= 0 ? res->series[index[S_GRAD_NORM]].data : NULL;
    res->delta_rms = index[S_DELTA_RMS] >= 0 ? res->series[index[S_DELTA_RMS]].data : NULL;
    return VG_OK;
}

/* The series of the plan, then the model's extra ones (with a probe batch), and with_data
 * their values, NaN-filled. A failure to allocate the values drops every series
 * (n_series 0). */
static vg_status vg__series_init(vg_run_result *res, const vg_run_config *cfg,
                                 const vg_model_plan *plan, int index[S_COUNT], int with_data,
                                 vg_error *err) {
    int64_t axis[A_ALL];
    vg__axis_lengths(cfg, plan, axis);
    const int64_t P = axis[A_P];
    vg_run_layout *lay = &res->layout;
    const int series_from = lay->n_axes; /* the series' axes are declared from here on */
    res->n_series = 0;
    for (int i = 0; i < S_COUNT; i++) {
        index[i] = -1;
        int64_t dims[3];
        int ax[3];
        const char *axes;
        int rank = vg__series_dims(i, axis, dims, ax, &axes);
        if (rank == 0) continue; /* not recorded for this run */
        index[i] = res->n_series;
        vg_series *s = &res->series[res->n_series++];
        s->name = vg__series_plan[i].name;
        s->doc = vg__series_plan[i].doc;
        s->axes = axes;
        s->dtype = vg__series_plan[i].dtype;
        s->rank = rank;
        int64_t count = 1;
        for (int d = 0; d < s->rank; d++) {
            int a = ax[d];
            count *= s->dims[d] = dims[d];
            vg__declare_axis(lay, series_from, vg__axis_plan[a].name, dims[d],
                             vg__axis_plan[a].first, NULL, vg__axis_plan[a].doc);
        }
        if (!with_data) continue;
        s->data = malloc((size_t)(count > 0 ? count : 1) * vg__dtype_size(s->dtype));
        if (!s->data) {
            for (int j = 0; j < res->n_series; j++) free(res->series[j].data), res->series[j].data = NULL;
            res->n_series = 0;
            char human[32];
            double need = vg__series_bytes(cfg, plan);
            snprintf(human, sizeof human, "%.1f MiB", need / (1 << 20));
            return vg_error_set(err, VG_ENOMEM,
                                "out of memory for the run's record: its series need %s (%.0f "
                                "bytes)", human, need);
        }
        for (int64_t j = 0; j < count; j++) {
            switch (s->dtype) {
            case VG_F64: ((double *)s->data)[j] = NAN; break;
            case VG_F32: ((float *)s->data)[j] = NAN; break;
            case VG_I64: ((int64_t *)s->data)[j] = i == S_DIVERGENCE ? -1 : 0; break;
            case VG_I32: ((int32_t *)s->data)[j] = 0; break;
            }
        }
    }
    for (int i = 0; P > 0 && i < plan->n_series; i++) { /* the model's own, on the probe */
        const vg_model_series *ms = &plan->series[i];
        vg_series *s = &res->series[res->n_series++];
        s->name = ms->name;
        s->doc = ms->doc;
        s->axes = ms->axes;
        s->dtype = VG_F64;
        s->rank = ms->rank;
        s->dims[0] = axis[A_K];
        for (int d = 1; d < ms->rank; d++) s->dims[d] = ms->dims[d];
        /* its axes, named in ms->axes ("checkpoint,layer,time"): each declared with its length */
        const char *name = ms->axes;
        for (int d = 0; d < ms->rank && name; d++) {
            const char *comma = strchr(name, ',');
            char one[32];
            snprintf(one, sizeof one, "%.*s", comma ? (int)(comma - name) : (int)strlen(name), name);
            vg__declare_axis(lay, series_from, one, s->dims[d], vg__model_axis_first(one), NULL,
                             vg__model_axis_doc(one));
            name = comma ? comma + 1 : NULL;
        }
        if (!with_data) continue;
        int64_t count = (int64_t)vg__extra_count(cfg, ms);
        s->data = malloc((size_t)(count > 0 ? count : 1) * sizeof(double));
        if (!s->data) {
            for (int j = 0; j < res->n_series; j++) free(res->series[j].data), res->series[j].data = NULL;
            res->n_series = 0;
            return vg_error_set(err, VG_ENOMEM, "out of memory for the run's record: its series "
                                "need %.0f bytes", vg__series_bytes(cfg, plan));
        }
        for (int64_t j = 0; j < count; j++) ((double *)s->data)[j] = NAN;
    }
    return VG_OK;
}

vg_status vg_run_result_init(vg_run_result *res, const vg_run_config *cfg, vg_error *err) {
    return vg__result_init(res, cfg, 1, err);
}

vg_status vg_run_result_plan(vg_run_result *res, const vg_run_config *cfg, vg_error *err) {
    return vg__result_init(res, cfg, 0, err);
}

void vg_run_result_free(vg_run_result *res) {
    for (int i = 0; res->series && i < res->n_series; i++) free(res->series[i].data);
    free(res->series);
    free(res->storage);
    free(res->layout.tensors);
    free(res->layout.axes);
    memset(res, 0, sizeof *res);
}

const vg_index_column vg_train_index_columns[] = {
    {"loss", "loss"},
    {"accuracy", "accuracy"},
    {"test_loss", "test_loss"},
    {"test_accuracy", "test_accuracy"},
};
const int vg_train_n_index_columns = sizeof vg_train_index_columns / sizeof vg_train_index_columns[0];

const vg_series *vg_run_result_find(const vg_run_result *res, const char *name) {
    for (int i = 0; i < res->n_series; i++)
        if (strcmp(res->series[i].name, name) == 0) return &res->series[i];
    return NULL;
}

double vg_train_estimate_flops(const vg_run_config *cfg) {
    /* forward once per sample, backward twice that */
    vg_model_spec spec;
    vg_train_model_spec(cfg, NULL, &spec);
    double per_row = vg_train_model_cost(&spec).flops_per_sample;
    double E = cfg->train_epochs;
    return E * cfg->data_train_size * 3 * per_row     /* training steps */
           + E * cfg->data_test_size * per_row        /* test evaluation */
           + (E + 1) * vg__probe_size(cfg) * 3 * per_row; /* probe checkpoints (0: none) */
}

double vg_train_estimate_cost(const vg_run_config *cfg) {
    vg_model_spec spec;
    vg_train_model_spec(cfg, NULL, &spec);
    double E = cfg->train_epochs;
    double rows = E * (cfg->data_train_size + cfg->data_test_size / 2.0) +
                  (E + 1) * vg__probe_size(cfg);
    return vg_train_estimate_flops(cfg) + rows * vg_train_model_cost(&spec).elementwise_per_sample;
}

/* Adds one allocation to *total, and to *kept when malloc keeps it after free. */
static void vg__count(double bytes, double *total, double *kept) {
    *total += bytes;
    if (bytes < VG_MALLOC_KEEPS_BELOW) *kept += bytes;
}

double vg_train_estimate_memory(const vg_run_config *cfg, double *result_bytes, double *kept_bytes) {
    /* What vg__setup, the model's create (its cost, vgsweep/model.h), vg_optim_f32_create and
     * vg_dataset_make allocate, counted as they count it. In double: the product of absurd
     * settings must not overflow before it is refused. */
    vg_model_spec spec;
    vg_train_model_spec(cfg, NULL, &spec);
    vg_model_cost mc = vg_train_model_cost(&spec);
    vg_model_plan plan; /* a few bytes per layer; without it the tensors are not counted */
    int have_plan = vg_train_model_plan(&spec, &plan, NULL) == VG_OK;
    double n_tensors = have_plan ? vg__plan_tensors(cfg, &plan, NULL, NULL) : 0;
    const double L = have_plan ? plan.n_layers : cfg->model_depth + 1;
    const double F = cfg->data_features, C = cfg->data_classes;
    const double P = vg__probe_size(cfg), bs = cfg->train_batch_size;
    const double n_train = cfg->data_train_size, n_test = cfg->data_test_size;
    const double f = sizeof(float), A = mc.act_units;
    double total = 0, kept = 0;

    /* the net, as its create allocates it */
    for (int i = 0; i < mc.n_allocs; i++) vg__count(mc.alloc_bytes[i], &total, &kept);
    /* the optimizer's state: one buffer (momentum, adam, rmsprop, adagrad), two for adam */
    int n_state = cfg->train_optimizer == VG_OPT_SGD ? 0 : cfg->train_optimizer == VG_OPT_ADAM ? 2 : 1;
    for (int i = 0; i < n_state; i++) vg__count(mc.n_params * f, &total, &kept);
    /* vg__setup's buffers */
    double nd = P > 0 ? P * A : 1;
    vg__count(bs * F * f, &total, &kept);
    vg__count(n_train * 4, &total, &kept);
    vg__count(nd * f, &total, &kept);
    vg__count(nd * f, &total, &kept);
    vg__count(bs * 4 + A * 9 + L * 8 + 4.0 * (n_tensors + 1), &total, &kept);
    /* the data set (and its class centres while it is made), unless the run borrows a shared
     * one: that copy is counted once for the sweep (vg_data_shared_bytes) */
    if (vg_dataset_run_bytes(cfg) > 0) {
        /* the targets: what vg_dataset_run_bytes counts beyond the inputs (a class per sample,
         * a class per step, or real values) */
        double targets = vg_dataset_run_bytes(cfg) - (n_train + n_test) * F * f;
        vg__count(n_train * F * f, &total, &kept);
        vg__count((n_test * F + 1) * f, &total, &kept);
        vg__count(targets + 4 + (C * F + F) * sizeof(double), &total, &kept);
    }
    if (result_bytes) {
        /* the result: the series' values, the layout and the tensor specs */
        double E = cfg->train_epochs;
        *result_bytes = (have_plan ? vg__series_bytes(cfg, &plan) : 0) +
                        (S_COUNT + (have_plan ? plan.n_series : 0)) * sizeof(vg_series) +
                        (A_COUNT + 2 + 2.0 * L + 3.0 * (have_plan ? plan.n_series : 0)) * sizeof(vg_axis) +
                        (n_tensors + 1.0) * sizeof(vg_tensor_spec) +
                        2 * (E + 1) * (sizeof(int) + sizeof(int64_t));
    }
    if (have_plan) vg_model_plan_free(&plan);
    if (kept_bytes) *kept_bytes = kept;
    return total;
}

/* ------------------------------------------------------------------ the run */

/* Everything a run allocates, once, before its first step. */
typedef struct vg__run {
    const vg_run_config *cfg;
    const vg_dataset *ds;
    vg_run_result *res;
    const vg_checkpoint_hook *hook;
    vg_train_progress *progress; /* the hook's, or NULL */
    const atomic_int *stop;      /* the hook's, or NULL */
    vg_model_f32 model;
    vg_optim_f32 opt;
    int y_cols;         /* label values per sample: 1 (CLASS), steps (STEP_CLASS), 0 (REAL) */
    int t_cols;         /* real targets per sample (REAL), else 0 */
    float *batch_x;     /* (batch_size, features) gathered minibatch */
    int32_t *batch_y;   /* (batch_size, y_cols) */
    float *batch_t;     /* (batch_size, t_cols) */
    int32_t *order;     /* (n_train) sample order of the current epoch */
    float *deriv;       /* (probe * act_units) phi'(u), for the saturation statistics */
    float *ones;        /* (probe * act_units) */
    double *col;        /* (act_units) per-unit sums of the activation statistics */
    unsigned char *alive; /* (act_units) */
    double *layer_sq;   /* (L) squared gradient norm of each layer's parameters */
    int *next_slot;     /* (n_tensors) the next slot each recorded tensor writes */
    void *data[S_COUNT]; /* each series' values, by S_*; NULL: not recorded (no probe) */
    double **extra;     /* (model.plan.n_series) the model's own series' values */
    int slope_activation; /* the activation whose largest slope max_slope is; -1: none yet */
    double slope_param, max_slope;
} vg__run;

/* The training set's first n samples as a batch (the probe batch). */
static vg_batch_f32 vg__head_batch(const vg_dataset *ds, int n) {
    vg_batch_f32 b = {.B = n, .x = ds->x_train, .y = ds->y_train, .t = ds->t_train};
    return b;
}

/* In double, in a fixed order (8 interleaved partial sums, then added in order): vectorizes,
 * and depends only on v, never on the thread. */
static double vg__sum_squares(const float *v, int64_t n) {
    double p[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) p[j] += (double)v[i + j] * v[i + j];
    double s = 0;
    for (; i < n; i++) s += (double)v[i] * v[i];
    for (int j = 0; j < 8; j++) s += p[j];
    return s;
}

/* The squared norm of each layer's gradients, layer_sq (L): the layers shared with the
 * thread's helpers (vgsweep/team.h) when it has any, each summed whole by one thread. */
typedef struct {
    const vg_model_f32 *m;
    double *layer_sq;
} vg__layer_sq_job;

static void vg__layer_sq_item(void *arg, int l, int helper) {
    (void)helper;
    const vg__layer_sq_job *j = arg;
    const vg_model_layer *ly = &j->m->plan.layers[l];
    j->layer_sq[l] = vg__sum_squares(j->m->grads + ly->param_begin, ly->param_end - ly->param_begin);
}

static void vg__layer_sq(const vg_model_f32 *m, double *layer_sq) {
    vg__layer_sq_job j = {m, layer_sq};
    if (m->plan.n_params >= ((int64_t)1 << 18) && vg_team_has_helpers())
        vg_team_for(m->plan.n_layers, vg__layer_sq_item, &j);
    else
        for (int l = 0; l < m->plan.n_layers; l++) vg__layer_sq_item(&j, l, 0);
}

static int vg__all_finite(const float *v, int64_t n) {
    /* the sum of squares is non-finite iff some entry is (or the sum overflows double) */
    return isfinite(vg__sum_squares(v, n));
}

/* 1-based index of the first layer (in computation order) holding a non-finite value, or 0:
 * forward: the layer outputs z from the input side; backward: the gradients from the output
 * side, where they start. */
static int vg__nonfinite_forward_layer(const vg_model_f32 *m) {
    for (int l = 0; l < m->plan.n_layers; l++) {
        vg_model_probe_view_f32 v;
        m->ops->probe_view(m, l, &v);
        if (!vg__all_finite(v.z, v.rows * m->plan.layers[l].fan_out)) return l + 1;
    }
    return 0;
}
static int vg__nonfinite_grad_layer(const vg_model_f32 *m) {
    for (int l = m->plan.n_layers - 1; l >= 0; l--) {
        const vg_model_layer *ly = &m->plan.layers[l];
        if (!vg__all_finite(m->grads + ly->param_begin, ly->param_end - ly->param_begin))
            return l + 1;
    }
    return 0;
}

/* The same for the parameters, input side first. */
static int vg__nonfinite_param_layer(const vg_model_f32 *m) {
    for (int l = 0; l < m->plan.n_layers; l++) {
        const vg_model_layer *ly = &m->plan.layers[l];
        if (!vg__all_finite(m->params + ly->param_begin, ly->param_end - ly->param_begin))
            return l + 1;
    }
    return 0;
}

static void vg__diverged(vg__run *r, const char *what, int epoch, int64_t step, int layer) {
    vg_run_result *res = r->res;
    res->status = VG_RUN_DIVERGED;
    int64_t *where = r->data[S_DIVERGENCE];
    where[0] = epoch, where[1] = step, where[2] = layer > 0 ? layer : -1;
    if (layer > 0)
        snprintf(res->message, sizeof res->message, "%s at epoch %d, step %lld, first in layer %d",
                 what, epoch, (long long)step, layer);
    else
        snprintf(res->message, sizeof res->message, "%s at epoch %d, step %lld", what, epoch,
                 (long long)step);
}

static const float *vg__tensor_source(const vg_model_f32 *m, const vg_tensor_spec *t) {
    int i = t->source / 2;
    return t->source % 2 ? vg_model_f32_tensor_grad(m, i) : vg_model_f32_tensor_value(m, i);
}

/* Activation statistics of layer l, the d-th with an activation view, from the probe forward,
 * into row k. */
static void vg__layer_activation_stats(vg__run *r, int k, int l, int d) {
    const vg_model_f32 *m = &r->model;
    int cols = m->plan.layers[l].act_cols, D = m->plan.n_act_layers;
    vg_model_probe_view_f32 v;
    m->ops->probe_view(m, l, &v);
    if (v.activation != r->slope_activation || v.act_param != r->slope_param) {
        /* sampled (40,001 points): once per run, not per layer and checkpoint */
        r->slope_activation = v.activation, r->slope_param = v.act_param;
        r->max_slope = vg_act_max_slope(v.activation, v.act_param);
    }
    double max_slope = r->max_slope;
    vg_act_backward_f32(r->deriv, r->ones, v.u, v.a, v.act_rows * cols, v.activation, v.act_param);
    vg__act_stats st = vg__activation_stats(v.a, r->deriv, (int)v.act_rows, cols,
                                            (float)(VG_SATURATION * max_slope), r->col, r->alive);
    int64_t at = (int64_t)k * D + d;
    ((double *)r->data[S_ACT_MEAN])[at] = st.mean;
    ((double *)r->data[S_ACT_STD])[at] = st.std;
    ((double *)r->data[S_ACT_SATURATED])[at] = st.saturated;
    ((double *)r->data[S_ACT_DEAD])[at] = st.dead;
}

/* A checkpoint's per-layer statistics of the probe gradients: the log10|dW| histogram and
 * Frobenius norm, and the RMS of dz, each layer's by one thread (shared with the thread's
 * helpers, vgsweep/team.h, when it has any). */
typedef struct {
    const vg_model_f32 *m;
    double *gn, *dr;
    int64_t *hist;
} vg__grad_stats_job;

static void vg__grad_stats_item(void *arg, int l, int helper) {
    (void)helper;
    const vg__grad_stats_job *j = arg;
    const vg_model_layer *ly = &j->m->plan.layers[l];
    j->gn[l] = sqrt(vg__histogram(j->hist + (int64_t)l * VG_HIST_BINS, j->m->grads + ly->param_begin,
                                  ly->weight_end - ly->param_begin));
    vg_model_probe_view_f32 v;
    j->m->ops->probe_view(j->m, l, &v);
    int64_t nz = v.rows * ly->fan_out;
    j->dr[l] = sqrt(vg__sum_squares(v.dz, nz) / (double)nz);
}

/* The weights' Frobenius norms, wn (L), a layer each. */
static void vg__weight_norm_item(void *arg, int l, int helper) {
    (void)helper;
    const vg__grad_stats_job *j = arg;
    const vg_model_layer *ly = &j->m->plan.layers[l];
    j->gn[l] = sqrt(vg__sum_squares(j->m->params + ly->param_begin, ly->weight_end - ly->param_begin));
}

static void vg__per_layer(const vg_model_f32 *m, vg_team_fn fn, vg__grad_stats_job *j) {
    if (m->plan.n_params >= ((int64_t)1 << 18) && vg_team_has_helpers())
        vg_team_for(m->plan.n_layers, fn, j);
    else
        for (int l = 0; l < m->plan.n_layers; l++) fn(j, l, 0);
}

/* Checkpoint k: gradients on the probe batch, their statistics into row k of the series, and
 * the recorded tensors through the hook. Sets *nonfinite_layer when the probe gradients are
 * not finite. Without a probe batch (record.probe: 0) only the weight norms and the weight
 * tensors, and *nonfinite_layer says whether the parameters are finite. */
static vg_status vg__checkpoint(vg__run *r, int k, int *nonfinite_layer, vg_error *err) {
    vg_model_f32 *m = &r->model;
    vg_run_result *res = r->res;
    const vg_dataset *ds = r->ds;
    int P = vg__probe_size(r->cfg), L = m->plan.n_layers;
    double *wn = (double *)r->data[S_WEIGHT_NORM] + (int64_t)k * L;
    vg__grad_stats_job wj = {.m = m, .gn = wn};
    vg__per_layer(m, vg__weight_norm_item, &wj);
    if (P == 0) {
        *nonfinite_layer = vg__nonfinite_param_layer(m);
    } else {
        vg_model_counts counts = {0, 0};
        vg_batch_f32 probe = vg__head_batch(ds, P);
        double loss = m->ops->forward(m, &probe, VG_PASS_PROBE, &counts);
        m->ops->backward(m, &probe);
        ((double *)r->data[S_PROBE_LOSS])[k] = loss;
        /* 0 / 0 = NaN when nothing is scored (regression) */
        ((double *)r->data[S_PROBE_ACCURACY])[k] = (double)counts.correct / (double)counts.scored;
        double *gn = res->grad_norm + (int64_t)k * L, *dr = res->delta_rms + (int64_t)k * L;
        int64_t *hist = (int64_t *)r->data[S_GRAD_HIST] + (int64_t)k * L * VG_HIST_BINS;
        vg__grad_stats_job gj = {.m = m, .gn = gn, .dr = dr, .hist = hist};
        vg__per_layer(m, vg__grad_stats_item, &gj);
        for (int l = 0, d = 0; l < L; l++)
            if (m->plan.layers[l].act_cols > 0) vg__layer_activation_stats(r, k, l, d++);
        if (m->ops->probe_series) m->ops->probe_series(m, k, r->extra);
        /* as vg__nonfinite_grad_layer, with the weights' part already summed into gn */
        *nonfinite_layer = 0;
        for (int l = L - 1; l >= 0 && !*nonfinite_layer; l--) {
            const vg_model_layer *ly = &m->plan.layers[l];
            /* the layer's other gradients follow its weight matrices */
            if (!isfinite(gn[l]) ||
                !vg__all_finite(m->grads + ly->weight_end, ly->param_end - ly->weight_end))
                *nonfinite_layer = l + 1;
        }
    }
    if (!r->hook || !r->hook->fn) return VG_OK;
    for (int i = 0; i < res->layout.n_tensors; i++) {
        const vg_tensor_spec *t = &res->layout.tensors[i];
        int slot = r->next_slot[i];
        if (slot >= t->n_slots || t->checkpoints[slot] != k) continue;
        vg_status st = r->hook->fn(r->hook->ctx, i, slot, vg__tensor_source(m, t), err);
        if (st != VG_OK) return st;
        r->next_slot[i]++;
    }
    return VG_OK;
}

/* Accuracy is correct / scored: NaN (0 / 0) for regression, where nothing is scored. */
static void vg__evaluate(vg__run *run, double *loss, double *accuracy) {
    vg_model_f32 *m = &run->model;
    const vg_dataset *ds = run->ds;
    double loss_sum = 0;
    vg_model_counts counts = {0, 0};
    const int chunk = vg_train_eval_chunk(&m->spec);
    for (int64_t r = 0; r < ds->n_test; r += chunk) {
        int B = (int)(ds->n_test - r < chunk ? ds->n_test - r : chunk);
        vg_batch_f32 b = {.B = B,
                          .x = ds->x_test + r * ds->features,
                          .y = ds->y_test ? ds->y_test + r * run->y_cols : NULL,
                          .t = ds->t_test ? ds->t_test + r * run->t_cols : NULL};
        loss_sum += B * m->ops->forward(m, &b, VG_PASS_EVAL, &counts);
    }
    *loss = loss_sum / (double)ds->n_test;
    *accuracy = (double)counts.correct / (double)counts.scored;
}

/* The rate of epoch e (0-based), as torch's StepLR / CosineAnnealingLR(T_max = E) stepped once
 * per epoch. */
static double vg__learning_rate(const vg_run_config *cfg, int e) {
    double lr = cfg->train_lr;
    switch (cfg->train_schedule) {
    case VG_SCHED_STEP: return lr * pow(cfg->train_step_gamma, e / cfg->train_step_every);
    case VG_SCHED_COSINE:
        return cfg->train_lr_min +
               (lr - cfg->train_lr_min) * (1 + cos(3.14159265358979323846 * e / cfg->train_epochs)) / 2;
    }
    return lr;
}

/* Clips the gradient in place as train.clip says; returns 1 when anything changed.
 * layer_sq (L) holds each layer's squared gradient norm; total the global norm. Norm clipping
 * follows torch.nn.utils.clip_grad_norm_: scale by threshold / (norm + 1e-6) when below 1. */
static int vg__clip(vg__run *r, double total) {
    vg_model_f32 *m = &r->model;
    const int64_t n_params = m->plan.n_params;
    const double thr = r->cfg->train_clip_threshold;
    int clipped = 0;
    switch (r->cfg->train_clip) {
    case VG_CLIP_NORM: {
        double coef = thr / (total + 1e-6);
        if (coef < 1) {
            float c = (float)coef;
            for (int64_t i = 0; i < n_params; i++) m->grads[i] *= c;
            clipped = 1;
        }
        break;
    }
    case VG_CLIP_LAYER_NORM:
        for (int l = 0; l < m->plan.n_layers; l++) {
            double coef = thr / (sqrt(r->layer_sq[l]) + 1e-6);
            if (coef >= 1) continue;
            const vg_model_layer *ly = &m->plan.layers[l];
            float c = (float)coef, *g = m->grads + ly->param_begin;
            for (int64_t i = 0; i < ly->param_end - ly->param_begin; i++) g[i] *= c;
            clipped = 1;
        }
        break;
    case VG_CLIP_VALUE: {
        float t = (float)thr;
        for (int64_t i = 0; i < n_params; i++) {
            float g = m->grads[i];
            if (g > t) m->grads[i] = t, clipped = 1;
            else if (g < -t) m->grads[i] = -t, clipped = 1;
        }
        break;
    }
    }
    return clipped;
}

static vg_status vg__setup(vg__run *r, vg_error *err) {
    const vg_run_config *cfg = r->cfg;
    const vg_dataset *ds = r->ds;
    int bs = cfg->train_batch_size, P = vg__probe_size(cfg), F = ds->features;
    vg_model_spec spec;
    vg_train_model_spec(cfg, ds, &spec);
    vg_status st = vg_train_model_create(&spec, &r->model, err);
    if (st != VG_OK) return st;
    const vg_model_plan *plan = &r->model.plan;
    r->y_cols = ds->target_kind == VG_TARGET_REAL ? 0
                : ds->target_kind == VG_TARGET_STEP_CLASS ? ds->steps : 1;
    r->t_cols = ds->target_kind == VG_TARGET_REAL ? ds->targets : 0;
    vg_optim_spec os = {.kind = cfg->train_optimizer,
                        .momentum = cfg->train_momentum,
                        .nesterov = cfg->train_nesterov,
                        .beta1 = cfg->train_beta1,
                        .beta2 = cfg->train_beta2,
                        .rms_alpha = cfg->train_rms_alpha,
                        .eps = cfg->train_eps,
                        .weight_decay = cfg->train_weight_decay};
    st = vg_optim_f32_create(&r->opt, &os, plan->n_params, err);
    if (st != VG_OK) return st;
    int64_t axis[A_ALL], dims[3];
    int ax[3];
    const char *axes;
    vg__axis_lengths(cfg, plan, axis);
    for (int i = 0; i < S_COUNT; i++) {
        const vg_series *s = vg_run_result_find(r->res, vg__series_plan[i].name);
        r->data[i] = s ? s->data : NULL;
        if (!s && vg__series_dims(i, axis, dims, ax, &axes) > 0)
            return vg_error_set(err, VG_EINTERNAL, "the run's result has no series %s",
                                vg__series_plan[i].name);
    }
    r->extra = calloc((size_t)plan->n_series + 1, sizeof *r->extra);
    if (!r->extra) return vg_error_set(err, VG_ENOMEM, "out of memory for the training buffers");
    for (int i = 0; P > 0 && i < plan->n_series; i++) {
        const vg_series *s = vg_run_result_find(r->res, plan->series[i].name);
        if (!s) return vg_error_set(err, VG_EINTERNAL, "the run's result has no series %s",
                                    plan->series[i].name);
        r->extra[i] = s->data;
    }
    int64_t act_units = 1; /* the widest activation view, per sample */
    for (int l = 0; l < plan->n_layers; l++) {
        int64_t u = (int64_t)plan->layers[l].act_rows_per_sample * plan->layers[l].act_cols;
        if (u > act_units) act_units = u;
    }
    int64_t nd = P > 0 ? (int64_t)P * act_units : 1;
    r->batch_x = malloc((size_t)bs * F * sizeof(float));
    r->batch_y = malloc((size_t)bs * (r->y_cols > 0 ? r->y_cols : 1) * sizeof(int32_t));
    r->batch_t = r->t_cols > 0 ? malloc((size_t)bs * r->t_cols * sizeof(float)) : NULL;
    r->order = malloc((size_t)ds->n_train * sizeof(int32_t));
    r->deriv = malloc((size_t)nd * sizeof(float));
    r->ones = malloc((size_t)nd * sizeof(float));
    r->col = malloc((size_t)act_units * sizeof(double));
    r->alive = malloc((size_t)act_units);
    r->layer_sq = malloc((size_t)plan->n_layers * sizeof(double));
    r->next_slot = calloc((size_t)r->res->layout.n_tensors + 1, sizeof(int));
    if (!r->batch_x || !r->batch_y || (r->t_cols > 0 && !r->batch_t) || !r->order || !r->deriv ||
        !r->ones || !r->col || !r->alive || !r->layer_sq || !r->next_slot)
        return vg_error_set(err, VG_ENOMEM, "out of memory for the training buffers");
    for (int64_t i = 0; i < nd; i++) r->ones[i] = 1;
    if (P > 0) {
        /* the probe batch is part of the record, so the run can be rebuilt elsewhere: its
         * inputs, and its class labels (a class per step: (P, T)) or real targets */
        memcpy(r->data[S_PROBE_X], ds->x_train, (size_t)P * F * sizeof(float));
        if (r->y_cols > 0 && r->data[S_PROBE_Y])
            memcpy(r->data[S_PROBE_Y], ds->y_train, (size_t)P * r->y_cols * sizeof(int32_t));
        if (r->t_cols > 0 && r->data[S_PROBE_T])
            memcpy(r->data[S_PROBE_T], ds->t_train, (size_t)P * r->t_cols * sizeof(float));
    }
    return VG_OK;
}

static void vg__teardown(vg__run *r) {
    vg_model_f32_free(&r->model);
    vg_optim_f32_free(&r->opt);
    free(r->batch_x);
    free(r->batch_y);
    free(r->batch_t);
    free(r->order);
    free(r->deriv);
    free(r->ones);
    free(r->col);
    free(r->alive);
    free(r->layer_sq);
    free(r->next_slot);
    free(r->extra);
}

/* Whether the caller asked the run to stop (a relaxed load: the flag is only ever set, and a
 * step later is soon enough). */
static int vg__stopped(const vg__run *r) {
    return r->stop && atomic_load_explicit(r->stop, memory_order_relaxed);
}

/* One epoch of minibatch steps; returns 1, or 0 when the run diverged, -1 when it was asked to
 * stop. */
static int vg__epoch(vg__run *r, vg_rng *shuffle, int e, double lr, int64_t *step) {
    const vg_run_config *cfg = r->cfg;
    const vg_dataset *ds = r->ds;
    vg_run_result *res = r->res;
    vg_model_f32 *m = &r->model;
    int F = ds->features, bs = cfg->train_batch_size, L = m->plan.n_layers;
    const int yc = r->y_cols, tc = r->t_cols;
    double *step_loss = r->data[S_STEP_LOSS];
    double *step_norm = r->data[S_STEP_GRAD_NORM];
    double loss_sum = 0, norm_sum = 0, norm_max = 0;
    int64_t clipped = 0, steps = 0;
    vg_model_counts counts = {0, 0};

    vg_rng_shuffle_i32(shuffle, r->order, ds->n_train);
    for (int64_t start = 0; start < ds->n_train; start += bs, (*step)++, steps++) {
        if (vg__stopped(r)) return -1;
        int B = (int)(ds->n_train - start < bs ? ds->n_train - start : bs);
        for (int i = 0; i < B; i++) {
            int32_t idx = r->order[start + i];
            memcpy(r->batch_x + (int64_t)i * F, ds->x_train + (int64_t)idx * F,
                   (size_t)F * sizeof(float));
            if (yc == 1) r->batch_y[i] = ds->y_train[idx];
            else if (yc > 1)
                memcpy(r->batch_y + (int64_t)i * yc, ds->y_train + (int64_t)idx * yc,
                       (size_t)yc * sizeof(int32_t));
            if (tc > 0)
                memcpy(r->batch_t + (int64_t)i * tc, ds->t_train + (int64_t)idx * tc,
                       (size_t)tc * sizeof(float));
        }
        vg_batch_f32 batch = {.B = B, .x = r->batch_x, .y = yc > 0 ? r->batch_y : NULL,
                              .t = tc > 0 ? r->batch_t : NULL};
        double loss = m->ops->forward(m, &batch, VG_PASS_TRAIN, &counts);
        if (!isfinite(loss)) {
            vg__diverged(r, "non-finite loss", e + 1, *step, vg__nonfinite_forward_layer(m));
            return 0;
        }
        m->ops->backward(m, &batch);
        double total = 0;
        vg__layer_sq(m, r->layer_sq);
        for (int l = 0; l < L; l++) total += r->layer_sq[l];
        total = sqrt(total);
        if (!isfinite(total)) {
            vg__diverged(r, "non-finite gradient", e + 1, *step, vg__nonfinite_grad_layer(m));
            return 0;
        }
        step_loss[*step] = loss;
        step_norm[*step] = total;
        norm_sum += total;
        if (total > norm_max) norm_max = total;
        clipped += vg__clip(r, total);
        vg_optim_f32_step(&r->opt, m->params, m->grads, lr);
        loss_sum += loss * B;
        if (r->progress) { /* two plain stores on x86: no lock, no fence */
            atomic_store_explicit(&r->progress->step, *step + 1, memory_order_relaxed);
            atomic_store_explicit(&r->progress->loss, loss, memory_order_relaxed);
        }
    }
    res->loss[e] = loss_sum / (double)ds->n_train;
    /* scored = n_train for class labels; 0 / 0 = NaN for regression */
    res->accuracy[e] = (double)counts.correct / (double)counts.scored;
    ((int64_t *)r->data[S_CLIP_COUNT])[e] = clipped;
    ((double *)r->data[S_CLIP_FRACTION])[e] = (double)clipped / steps;
    ((double *)r->data[S_CLIP_NORM_MEAN])[e] = norm_sum / steps;
    ((double *)r->data[S_CLIP_NORM_MAX])[e] = norm_max;
    return 1;
}

vg_status vg_train_run(const vg_run_config *cfg, const vg_dataset *ds, vg_run_result *res,
                       const vg_checkpoint_hook *hook, vg_error *err) {
    double t0 = vg__now();
    vg__run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg, r.ds = ds, r.res = res, r.hook = hook;
    r.slope_activation = -1;
    r.progress = hook ? hook->progress : NULL;
    r.stop = hook ? hook->stop : NULL;
    if (r.progress) {
        atomic_store_explicit(&r.progress->epoch, 0, memory_order_relaxed);
        atomic_store_explicit(&r.progress->step, 0, memory_order_relaxed);
        atomic_store_explicit(&r.progress->steps, vg__steps_per_epoch(cfg) * cfg->train_epochs,
                              memory_order_relaxed);
        atomic_store_explicit(&r.progress->loss, NAN, memory_order_relaxed);
    }
    vg_status st = vg__setup(&r, err);
    if (st != VG_OK) goto done;

    vg_rng init_rng, shuffle_rng;
    vg_rng_seed(&init_rng, vg_seed_mix(cfg->seed, VG_INIT_STREAM));
    vg_rng_seed(&shuffle_rng, vg_seed_mix(cfg->seed, VG_SHUFFLE_STREAM));
    vg_init_spec init = vg_train_init_spec(cfg);
    r.model.ops->init(&r.model, &init, &init_rng);
    for (int64_t i = 0; i < ds->n_train; i++) r.order[i] = (int32_t)i;

    /* what a checkpoint finds non-finite: the probe gradient, or without one the parameters */
    const char *bad_what = vg__probe_size(cfg) > 0 ? "non-finite probe gradient"
                                                   : "non-finite parameters";
    int bad_layer = 0;
    /* Stopped: status stays pending (not a result); the same at every later check. */
    if (vg__stopped(&r)) goto done;
    st = vg__checkpoint(&r, 0, &bad_layer, err);
    if (st != VG_OK) goto done;
    if (bad_layer) {
        char what[64];
        snprintf(what, sizeof what, "%s at initialization", bad_what);
        vg__diverged(&r, what, 0, 0, bad_layer);
        goto done;
    }
    int64_t step = 0;
    for (int e = 0; e < cfg->train_epochs; e++) {
        double lr = vg__learning_rate(cfg, e);
        ((double *)r.data[S_LR])[e] = lr;
        if (r.progress) atomic_store_explicit(&r.progress->epoch, e + 1, memory_order_relaxed);
        if (vg__epoch(&r, &shuffle_rng, e, lr, &step) <= 0) goto done;
        if (ds->n_test > 0) {
            vg__evaluate(&r, &res->test_loss[e], &res->test_accuracy[e]);
            if (!isfinite(res->test_loss[e])) {
                res->epochs_done = e + 1;
                vg__diverged(&r, "non-finite test loss", e + 1, step - 1, 0);
                goto done;
            }
        }
        res->epochs_done = e + 1;
        if (vg__stopped(&r)) goto done;
        st = vg__checkpoint(&r, e + 1, &bad_layer, err);
        if (st != VG_OK) goto done;
        if (bad_layer) {
            vg__diverged(&r, bad_what, e + 1, step - 1, bad_layer);
            goto done;
        }
    }
    res->status = VG_RUN_OK;

done:
    if (st != VG_OK) {
        res->status = VG_RUN_FAILED;
        if (st == VG_ENOMEM && err) {
            /* what the run needed, not only the allocation that failed */
            double need = vg_train_estimate_memory(cfg, NULL, NULL);
            char what[sizeof err->message];
            snprintf(what, sizeof what, "%s", err->message);
            vg_error_set(err, VG_ENOMEM, "%s: training needs about %.1f MiB (%.0f bytes, estimated)",
                         what, need / (1 << 20), need);
        }
        snprintf(res->message, sizeof res->message, "%s", err ? err->message : "failed");
    }
    res->wall_seconds = vg__now() - t0;
    vg__teardown(&r);
    return st;
}
