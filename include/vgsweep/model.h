/* The model interface of the training core: what train.c's epoch loop, checkpoints, clipping,
 * evaluation, divergence detection and plan know about a net. A kind of net (the MLP:
 * mlp_model_impl.h; the recurrent cells: rnn_model_impl.h) implements it with an ops table and
 * fills a vg_model_plan; train never sees the kind's own struct. docs/MODEL.md states the contract.
 *
 * Written for two float types, like the MLP: vg_model_f32 (what runs train with) and
 * vg_model_f64 (what the finite-difference checker, vgsweep/gradcheck.h, proves the same code
 * with).
 *
 * Contract, for every kind:
 *  - Parameters and gradients live in one flat array each, (n_params), with the same layout.
 *    Layer l owns [layers[l].param_begin, layers[l].param_end); its weight matrices come first,
 *    [param_begin, weight_end) (grad_norm, weight_norm and the gradient histogram are over
 *    them), its other parameters (biases, norm scales) after.
 *  - Every parameter tensor is named per layer (vg_model_tensor: "W", "b", "gamma", "beta",
 *    "W_ih", "W_hh", "b_ih", "b_hh", ...), in the order train records them; state that is not
 *    trained (batch norm's running statistics) is named too, in its own array.
 *  - backward writes the gradients (never adds): a training step needs no zeroing pass.
 *  - Nothing is allocated after create: a training step never calls malloc.
 *  - The plan (layers, tensors, extra series, memory and FLOPs) follows from the spec alone, so
 *    the dry run and the estimates use it without building a net. */
#ifndef VGSWEEP_MODEL_H
#define VGSWEEP_MODEL_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/nn.h"
#include "vgsweep/rng.h"
#include "vgsweep/settings.h" /* vg_model_kind, the model.kind setting's values */


/* What a model is, from the run's settings and data shapes (train's factory fills it from a
 * vg_run_config; tests fill it by hand). Fields a kind does not use are ignored by it. */
typedef struct vg_model_spec {
    int kind;          /* vg_model_kind (vgsweep/settings.h) */
    int target_kind;   /* vg_target_kind (vgsweep/targets.h): what a batch's targets are */
    int steps;         /* T: time steps per sample (1 for every set an MLP takes) */
    int step_features; /* values per step; a sample is (steps, step_features), time-major */
    int n_outputs;     /* classes (CLASS, STEP_CLASS) or real targets per sample (REAL) */
    int depth;         /* MLP: hidden layers; recurrent: stacked recurrent layers */
    int width;         /* MLP: units per hidden layer; recurrent: hidden size */
    int activation;    /* vg_activation */
    double leaky_slope, elu_alpha;
    int norm;          /* vg_norm */
    double norm_momentum, norm_eps;
    int skip_every;    /* 0: no residual blocks */
    double skip_scale;
    int loss;          /* vg_loss; VG_TARGET_REAL requires VG_LOSS_MSE */
    int max_batch;     /* most samples a forward/backward call may take */
    /* recurrent kinds (rnn, lstm, gru) only; vgsweep/rnn.h */
    int bptt;              /* K: truncated BPTT, detach every K steps from the start; 0 full */
    int recurrent_init;    /* vg_recurrent_init of W_hh */
    double recurrent_value;/* vg_rnn_init_spec.rec_value: the gain, scale, std or limit */
    double forget_bias;    /* LSTM: added to b_ih's forget block */
} vg_model_spec;

/* The MLP's rule for a layer's shape is vg_mlp_layer_fans (vgsweep/nn.h), on the
 * vg_mlp_shape that vg_mlp_shape_of makes from a spec. */

/* One layer of the plan. */
typedef struct vg_model_layer {
    int fan_in, fan_out; /* the record's layer shape: inputs and outputs of its main map */
    int64_t param_begin, weight_end, param_end; /* ranges in params/grads, see above */
    /* The activation view (vg_model_probe_view's a, u) has act_rows_per_sample * batch rows
     * of act_cols columns; act_cols 0: the layer has none (the MLP's output layer). A
     * recurrent layer has T rows per sample. */
    int act_rows_per_sample, act_cols;
    int dz_rows_per_sample; /* rows per sample of the dz view; it has fan_out columns */
} vg_model_layer;

/* A named tensor of one layer: a trained parameter (a view into params, with its gradient at
 * the same offset of grads) or not-trained state (a view into state). */
typedef struct vg_model_tensor {
    char name[16];      /* "W", "b", "gamma", "beta", "running_mean", "W_ih", "W_hh", ... */
    /* the record's axis of dims[1] when it is not the layer's inputs: "hidden" (W_hh, whose
     * columns are the hidden units, not the layer's inputs); NULL: "input" */
    const char *in_axis;
    const char *doc;    /* one line: what the values are (the record's doc attribute) */
    const char *grad_doc; /* one line: what its gradient is; NULL for state */
    int layer;          /* 0-based */
    int trained;        /* 1: in params/grads; 0: state (no gradient) */
    int rank;           /* 1 or 2 */
    int64_t dims[2];    /* (rows, cols) or (n, 0), row-major */
    int64_t offset;     /* into params and grads (trained) or state */
} vg_model_tensor;

/* A model-specific series, declared by the plan and filled at every probe checkpoint (the
 * recurrent nets: grad_h_norm (checkpoint, layer, T), grad_c_norm, gate saturation, per-gate
 * gradient norms). Values are doubles; its first axis is the checkpoint, the rest are
 * dims[1..rank-1]. */
typedef struct vg_model_series {
    /* Strings with static storage: the run's result keeps pointing at them after the plan
     * is freed. */
    const char *name; /* path in the run's group, e.g. "grad_h_norm" */
    const char *axes; /* e.g. "checkpoint,layer,step" */
    const char *doc;
    int rank;         /* 2 or 3, the checkpoint axis included */
    int64_t dims[3];  /* dims[0] = checkpoints (E + 1; train fills it in), the rest the kind's */
} vg_model_series;

/* What a model costs, from the spec alone: no allocation, and computed in double so absurd
 * settings cannot overflow before they are refused. */
#define VG_MODEL_MAX_ALLOCS 8
typedef struct vg_model_cost {
    double n_params;         /* trained parameters */
    int n_allocs;            /* the separate allocations create makes, for the heap model */
    double alloc_bytes[VG_MODEL_MAX_ALLOCS]; /* each as malloc'd (aligned, rounded) */
    double flops_per_sample; /* one forward pass over one sample; backward counts twice that */
    double elementwise_per_sample; /* element-wise work (activations, norms) per sample and
                                    * pass, in FLOP-equivalents measured here */
    double act_units;        /* max over layers of act_rows_per_sample * act_cols: what train's
                              * activation statistics buffers hold per probe sample */
} vg_model_cost;

/* The plan: everything train needs to know before a net exists. Owned by the plan
 * (vg_model_plan_free); made by the kind's plan function. */
typedef struct vg_model_plan {
    int n_layers;
    vg_model_layer *layers;   /* (n_layers) */
    int n_tensors;
    vg_model_tensor *tensors; /* (n_tensors): grouped by layer, input side first (train
                               * relies on it); in a layer the trained ones first; their
                               * order is the record's. doc, grad_doc: static strings */
    int64_t n_params;         /* params and grads */
    int64_t n_state;          /* state */
    int n_series;
    vg_model_series *series;  /* (n_series) extras, or NULL */
    int n_act_layers;         /* layers with an activation view (act_cols > 0) */
} vg_model_plan;

void vg_model_plan_free(vg_model_plan *plan);

/* Counts of a forward pass: predictions scored and those correct (argmax = label). REAL
 * targets score none (accuracy is undefined for regression: train records NaN). */
typedef struct vg_model_counts {
    int64_t correct, scored;
} vg_model_counts;

#define VG__MODEL_DECLARE(real, sfx)                                                             \
    /* A batch of B samples. x (B, steps * step_features), time-major per sample; the targets   \
     * of the spec's target_kind: CLASS y (B); STEP_CLASS y (B, steps), -1 = not scored; REAL  \
     * t (B, n_outputs). y and t NULL: forward only (loss 0). */                                 \
    typedef struct vg_batch_##sfx {                                                              \
        int B;                                                                                   \
        const real *x;                                                                           \
        const int32_t *y;                                                                        \
        const real *t;                                                                           \
    } vg_batch_##sfx;                                                                            \
                                                                                                 \
    /* What train's probe statistics read of layer l after a forward and backward (views into \
     * the model, valid until its next call). */                                                 \
    typedef struct vg_model_probe_view_##sfx {                                                   \
        const real *z;   /* (rows, fan_out) the layer's pre-activation output (divergence: the   \
                          * first non-finite layer of a forward) */                              \
        const real *dz;  /* (rows, fan_out) dloss/dz of the last backward: delta_rms */          \
        int64_t rows;    /* batch * dz_rows_per_sample */                                        \
        const real *u, *a; /* (act_rows, act_cols) activation input and output; NULL: none */    \
        int64_t act_rows;  /* batch * act_rows_per_sample */                                     \
        int activation;  /* vg_activation of the view, and its parameter (vg_act_*) */           \
        double act_param;                                                                        \
    } vg_model_probe_view_##sfx;                                                                 \
                                                                                                 \
    typedef struct vg_model_##sfx vg_model_##sfx;                                                \
    typedef struct vg_model_ops_##sfx {                                                          \
        const char *kind; /* "mlp", ... */                                                       \
        void (*destroy)(vg_model_##sfx *m); /* frees the kind's own part */                     \
        /* Draws every parameter from rng (in a documented order: the record's rebuild), sets  \
         * the state to its start. */                                                            \
        void (*init)(vg_model_##sfx *m, const vg_init_spec *init, vg_rng *rng);                  \
        /* Returns the mean loss over the batch (0 without targets) and adds to *counts (may be \
         * NULL). Keeps what backward needs. */                                                  \
        double (*forward)(vg_model_##sfx *m, const vg_batch_##sfx *b, vg_pass pass,              \
                          vg_model_counts *counts);                                              \
        /* Gradients of the mean loss of the last forward (same batch) WRITTEN to grads. */     \
        void (*backward)(vg_model_##sfx *m, const vg_batch_##sfx *b);                            \
        void (*probe_view)(const vg_model_##sfx *m, int layer, vg_model_probe_view_##sfx *v);   \
        /* Fills checkpoint k's row of every extra series of the plan (series[i] is the       \
         * (checkpoints, ...) array of plan.series[i]) from the last probe forward and         \
         * backward. NULL when the plan declares none. */                                        \
        void (*probe_series)(const vg_model_##sfx *m, int k, double *const *series);            \
    } vg_model_ops_##sfx;                                                                        \
                                                                                                 \
    struct vg_model_##sfx {                                                                      \
        const vg_model_ops_##sfx *ops;                                                           \
        vg_model_spec spec;                                                                      \
        vg_model_plan plan;  /* owned */                                                         \
        real *params;        /* (plan.n_params) */                                               \
        real *grads;         /* (plan.n_params): same layout */                                  \
        real *state;         /* (plan.n_state) not trained; NULL when 0 */                       \
        int batch;           /* samples of the last forward */                                   \
        void *impl;          /* the kind's own */                                                \
    };                                                                                           \
                                                                                                 \
    /* The MLP (vgsweep/nn.h) behind the interface. Refuses VG_TARGET_STEP_CLASS, and REAL   \
     * targets with a loss other than MSE (VG_ECONFIG). */                                       \
    vg_status vg_model_##sfx##_create_mlp(vg_model_##sfx *m, const vg_model_spec *spec,         \
                                          vg_error *err);                                        \
    /* The recurrent nets (vgsweep/rnn.h) behind the interface: kind rnn, lstm or gru; layers \
     * 0..depth-1 the recurrent ones (tensors W_ih, W_hh, b (= b_ih), b_hh), layer depth the   \
     * read-out (W, b). ops->init draws W_ih and the read-out from its vg_init_spec and W_hh    \
     * from the spec's recurrent_init. */                                                        \
    vg_status vg_model_##sfx##_create_rnn(vg_model_##sfx *m, const vg_model_spec *spec,         \
                                          vg_error *err);                                        \
    /* Frees whatever create made (also after a failed create); m may be zeroed. */             \
    void vg_model_##sfx##_free(vg_model_##sfx *m);                                               \
    /* Views of tensor i of the plan: its values and its gradient (NULL for state). */         \
    real *vg_model_##sfx##_tensor_value(const vg_model_##sfx *m, int i);                        \
    real *vg_model_##sfx##_tensor_grad(const vg_model_##sfx *m, int i);

VG__MODEL_DECLARE(float, f32)
VG__MODEL_DECLARE(double, f64)

/* The MLP's plan and cost, from the spec alone. */
vg_status vg_mlp_plan(const vg_model_spec *spec, vg_model_plan *plan, vg_error *err);
vg_model_cost vg_mlp_cost(const vg_model_spec *spec);

/* The recurrent nets' plan and cost (kind rnn, lstm, gru), from the spec alone. The plan
 * declares the extra series grad_h_norm (checkpoint, recurrent_layer, time), for the LSTM
 * grad_c_norm (checkpoint, recurrent_layer, time), gate_saturated and gate_grad_norm
 * (checkpoint, recurrent_layer, gate). */
vg_status vg_rnn_plan(const vg_model_spec *spec, vg_model_plan *plan, vg_error *err);
vg_model_cost vg_rnn_cost(const vg_model_spec *spec);

/* The vg_mlp_shape of a spec (the MLP's own struct; vgsweep/nn.h). */
vg_mlp_shape vg_mlp_shape_of(const vg_model_spec *spec);

#endif
