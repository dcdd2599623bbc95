/* The model interface's parts that do not depend on the float type (vgsweep/model.h): the
 * MLP's plan (layers, named tensors, parameter ranges) and cost (allocations, FLOPs) from the
 * spec alone, and the plan's lifetime. The float and double instantiations of the MLP behind
 * the interface are nn/mlp_model_impl.h. */
#include "vgsweep/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gemm.h"
#include "vgsweep/rnn.h"
#include "vgsweep/targets.h"
#include "vgsweep/settings.h"

void vg_model_plan_free(vg_model_plan *plan) {
    free(plan->layers);
    free(plan->tensors);
    free(plan->series);
    memset(plan, 0, sizeof *plan);
}

vg_mlp_shape vg_mlp_shape_of(const vg_model_spec *spec) {
    vg_mlp_shape s = {.n_inputs = spec->steps * spec->step_features,
                      .depth = spec->depth,
                      .width = spec->width,
                      .n_outputs = spec->n_outputs,
                      .activation = spec->activation,
                      .leaky_slope = spec->leaky_slope,
                      .elu_alpha = spec->elu_alpha,
                      .norm = spec->norm,
                      .norm_momentum = spec->norm_momentum,
                      .norm_eps = spec->norm_eps,
                      .skip_every = spec->skip_every,
                      .skip_scale = spec->skip_scale,
                      .loss = spec->loss,
                      .max_batch = spec->max_batch,
                      .target_kind = spec->target_kind};
    return s;
}

/* The MLP's tensors, in the order a layer records them (the record's order, and the order
 * test_gradcheck checks them in). */
static const struct {
    const char *name, *doc, *grad_doc;
    int trained, hidden_normed_only, batchnorm_only;
} vg__mlp_tensors[] = {
    {"W", "weights (fan_out, fan_in) at the checkpoints listed in the attribute checkpoints",
     "dloss/dW on the probe batch at the checkpoints listed in the attribute checkpoints", 1, 0, 0},
    {"b", "biases", "dloss/db on the probe batch", 1, 0, 0},
    {"gamma", "normalization scale", "dloss/dgamma of the layer's normalization", 1, 1, 0},
    {"beta", "normalization shift", "dloss/dbeta of the layer's normalization", 1, 1, 0},
    {"running_mean", "batch norm running mean (used at test time)", NULL, 0, 1, 1},
    {"running_var", "batch norm running variance (unbiased)", NULL, 0, 1, 1},
};

/* Appends a tensor of layer `layer` to the plan: (rows, cols), or (rows) when cols is 0; its
 * offset into the parameters (trained) or the state. */
static vg_model_tensor *vg__plan_tensor(vg_model_plan *plan, const char *name, const char *doc,
                                        const char *grad_doc, int layer, int trained,
                                        int64_t rows, int64_t cols, int64_t offset) {
    vg_model_tensor *t = &plan->tensors[plan->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->doc = doc;
    t->grad_doc = grad_doc;
    t->layer = layer;
    t->trained = trained;
    t->rank = cols ? 2 : 1;
    t->dims[0] = rows;
    t->dims[1] = cols;
    t->offset = offset;
    return t;
}

vg_status vg_mlp_plan(const vg_model_spec *spec, vg_model_plan *plan, vg_error *err) {
    memset(plan, 0, sizeof *plan);
    vg_mlp_shape shape = vg_mlp_shape_of(spec);
    int L = spec->depth + 1, normed = spec->norm != VG_NORM_NONE, bn = spec->norm == VG_NORM_BATCH;
    if (L < 2) return vg_error_set(err, VG_EINTERNAL, "an MLP needs a hidden layer");
    const int per_layer = (int)(sizeof vg__mlp_tensors / sizeof vg__mlp_tensors[0]);
    plan->layers = calloc((size_t)L, sizeof *plan->layers);
    plan->tensors = calloc((size_t)L * per_layer, sizeof *plan->tensors);
    if (!plan->layers || !plan->tensors) {
        vg_model_plan_free(plan);
        return vg_error_set(err, VG_ENOMEM, "out of memory for the plan of a net of %d layers", L);
    }
    plan->n_layers = L;
    int64_t at = 0, state_at = 0;
    for (int l = 0; l < L; l++) {
        vg_model_layer *ly = &plan->layers[l];
        int fi, fo, hidden = l < L - 1;
        vg_mlp_layer_fans(&shape, l, &fi, &fo);
        ly->fan_in = fi, ly->fan_out = fo;
        ly->param_begin = at;
        ly->weight_end = at + (int64_t)fo * fi;
        ly->param_end = ly->weight_end + fo + (normed && hidden ? 2 * (int64_t)fo : 0);
        ly->act_rows_per_sample = 1;
        ly->act_cols = hidden ? fo : 0;
        ly->dz_rows_per_sample = 1;
        if (hidden) plan->n_act_layers++;
        /* parameters are W, b, gamma, beta in this order; the state is per hidden layer
         * running mean then running variance (nn.h) */
        int64_t off = at;
        for (int i = 0; i < per_layer; i++) {
            if (vg__mlp_tensors[i].hidden_normed_only && !(normed && hidden)) continue;
            if (vg__mlp_tensors[i].batchnorm_only && !bn) continue;
            int trained = vg__mlp_tensors[i].trained;
            int64_t n = i == 0 ? (int64_t)fo * fi : fo;
            vg__plan_tensor(plan, vg__mlp_tensors[i].name, vg__mlp_tensors[i].doc,
                            vg__mlp_tensors[i].grad_doc, l, trained, fo, i == 0 ? fi : 0,
                            trained ? off : state_at);
            if (trained) off += n;
            else state_at += n;
        }
        at = ly->param_end;
    }
    plan->n_params = at;
    plan->n_state = state_at;
    return VG_OK;
}

/* Bytes of an allocation of the MLP's aligned allocator (mlp_impl.h's vg__alloc_lines):
 * rounded up to a cache line, plus malloc's own. */
static double vg__lines(double bytes) { return ceil(bytes / 64) * 64 + 64; }

vg_model_cost vg_mlp_cost(const vg_model_spec *spec) {
    /* Element-wise work per hidden unit and sample, forward and backward, in the FLOPs of the
     * products that take as long (measured on the benchmark sweep: at width 64 a GELU run
     * takes ~1.4x a ReLU run of the same depth, sigmoid ~1.15x, tanh ~1.1x). */
    static const double act_cost[VG_ACT_COUNT] = {
        [VG_ACT_SIGMOID] = 30, [VG_ACT_TANH] = 20, [VG_ACT_RELU] = 2, [VG_ACT_LEAKY_RELU] = 2,
        [VG_ACT_ELU] = 40,     [VG_ACT_SELU] = 40, [VG_ACT_GELU] = 80, [VG_ACT_SOFTSIGN] = 20,
        [VG_ACT_SWISH] = 60,   [VG_ACT_LINEAR] = 0};
    /* What vg_model_f32_create_mlp and vg_mlp_f32_create allocate, counted as they count it
     * (mlp_impl.h's layout_arena for the arena). In double: the product of absurd settings
     * must not overflow before it is refused. */
    vg_model_cost c;
    memset(&c, 0, sizeof c);
    const double D = spec->depth, L = D + 1, W = spec->width;
    const double F = (double)spec->steps * spec->step_features, C = spec->n_outputs;
    const double B = spec->max_batch, f = sizeof(float);
    const int normed = spec->norm != VG_NORM_NONE, bn = spec->norm == VG_NORM_BATCH;
    double max_fan = F > W ? F : W;
    if (C > max_fan) max_fan = C;

    /* parameters and gradients (W, b, and gamma, beta when normalized); a dense layer costs
     * 2 * in * out FLOPs per sample */
    vg_mlp_shape shape = vg_mlp_shape_of(spec);
    for (int l = 0; l <= spec->depth; l++) {
        int fi, fo;
        vg_mlp_layer_fans(&shape, l, &fi, &fo);
        c.n_params += (double)fo * (fi + 1) + (normed && l < spec->depth ? 2.0 * fo : 0);
        c.flops_per_sample += 2 * (double)fi * fo;
    }
    c.alloc_bytes[c.n_allocs++] = vg__lines(c.n_params * f);
    c.alloc_bytes[c.n_allocs++] = vg__lines(c.n_params * f);
    /* the per-layer views and shapes of the net, and the interface's struct and plan */
    c.alloc_bytes[c.n_allocs++] = L * (3 * sizeof(int) + sizeof(int64_t) + 18 * sizeof(void *)) +
                                  sizeof(int64_t) + sizeof(vg_mlp_f32) +
                                  L * (sizeof(vg_model_layer) + 6 * sizeof(vg_model_tensor));
    if (bn) c.alloc_bytes[c.n_allocs++] = 2 * D * W * f;
    /* the activation arena: z, dz, a per layer; u, xhat, rstd when normalized; h at the end
     * of a residual block; the backward's buffers and the matrix kernel's panel */
    int k = spec->skip_every;
    double block_ends = k > 0 && D - 1 >= k ? floor((D - 1) / k) : 0;
    double arena = D * 3 * B * W + 3 * B * C;
    if (normed) arena += D * (2 * B * W + (B > W ? B : W));
    arena += block_ends * B * W;
    arena += B * max_fan + B * W + B * (W > max_fan ? W : max_fan) + 2 * max_fan;
    arena += (double)vg__sgemm_work_floats((int)max_fan, (int)B);
    c.alloc_bytes[c.n_allocs++] = vg__lines(arena * f);

    double per_unit = spec->activation >= 0 && spec->activation < VG_ACT_COUNT
                          ? act_cost[spec->activation] : 0;
    if (normed) per_unit += 20;
    c.elementwise_per_sample = D * W * per_unit;
    c.act_units = W;
    return c;
}

/* ------------------------------------------------------------ the recurrent nets */

/* The recurrent layers' tensors, in the order a layer records them: PyTorch's weight_ih_l*,
 * weight_hh_l*, bias_ih_l*, bias_hh_l*. The input-side bias is named "b" so that every kind's
 * record has layers/NN/b and grad_b (issue 20); b_hh is the recurrence's. */
static const struct {
    const char *name, *doc, *grad_doc;
} vg__rnn_tensors[] = {
    {"W_ih", "input-to-hidden weights (G H, fan_in), gate blocks in PyTorch's order, at the "
             "checkpoints listed in the attribute checkpoints",
     "dloss/dW_ih on the probe batch (BPTT as train.bptt says) at the checkpoints listed in the "
     "attribute checkpoints"},
    {"W_hh", "hidden-to-hidden (recurrent) weights (G H, H), gate blocks in PyTorch's order",
     "dloss/dW_hh on the probe batch"},
    {"b", "input-side bias b_ih (G H) (PyTorch's bias_ih)", "dloss/db_ih on the probe batch"},
    {"b_hh", "hidden-side bias b_hh (G H) (PyTorch's bias_hh)", "dloss/db_hh on the probe batch"},
};

static int vg__rnn_cell(const vg_model_spec *spec) {
    return spec->kind == VG_MODEL_LSTM ? VG_CELL_LSTM : spec->kind == VG_MODEL_GRU ? VG_CELL_GRU
                                                                                 : VG_CELL_RNN;
}

vg_status vg_rnn_plan(const vg_model_spec *spec, vg_model_plan *plan, vg_error *err) {
    memset(plan, 0, sizeof *plan);
    if (spec->kind != VG_MODEL_RNN && spec->kind != VG_MODEL_LSTM && spec->kind != VG_MODEL_GRU)
        return vg_error_set(err, VG_EINTERNAL, "not a recurrent net's spec");
    int cell = vg__rnn_cell(spec), G = vg_cell_gates(cell);
    int D = spec->depth, L = D + 1, H = spec->width, T = spec->steps, V = spec->n_outputs;
    if (D < 1 || H < 1 || T < 1 || spec->step_features < 1 || V < 1)
        return vg_error_set(err, VG_EINTERNAL, "invalid recurrent net shape");
    int64_t GH = (int64_t)G * H;
    plan->layers = calloc((size_t)L, sizeof *plan->layers);
    plan->tensors = calloc((size_t)D * 4 + 2, sizeof *plan->tensors);
    plan->series = calloc(4, sizeof *plan->series);
    if (!plan->layers || !plan->tensors || !plan->series) {
        vg_model_plan_free(plan);
        return vg_error_set(err, VG_ENOMEM, "out of memory for the plan of a net of %d layers", L);
    }
    plan->n_layers = L;
    int64_t at = 0;
    for (int l = 0; l < D; l++) {
        vg_model_layer *ly = &plan->layers[l];
        int fi = l == 0 ? spec->step_features : H;
        ly->fan_in = fi, ly->fan_out = (int)GH;
        ly->param_begin = at;
        ly->weight_end = at + GH * (fi + H);
        ly->param_end = ly->weight_end + 2 * GH;
        /* rows per sample: one per time step (the views are (T B, .)) */
        ly->act_rows_per_sample = T;
        ly->act_cols = H;
        ly->dz_rows_per_sample = T;
        plan->n_act_layers++;
        int64_t off = at;
        for (int i = 0; i < 4; i++) {
            int64_t cols = i == 0 ? fi : i == 1 ? H : 0;
            vg_model_tensor *t = vg__plan_tensor(plan, vg__rnn_tensors[i].name, vg__rnn_tensors[i].doc,
                                                 vg__rnn_tensors[i].grad_doc, l, 1, GH, cols, off);
            t->in_axis = i == 1 ? "hidden" : NULL;
            off += GH * (cols ? cols : 1);
        }
        at = ly->param_end;
    }
    /* the read-out: the MLP's last layer (W (V, H), b (V)), at T (or every step: STEP_CLASS) */
    vg_model_layer *ro = &plan->layers[D];
    ro->fan_in = H, ro->fan_out = V;
    ro->param_begin = at;
    ro->weight_end = at + (int64_t)V * H;
    ro->param_end = ro->weight_end + V;
    ro->act_rows_per_sample = 1;
    ro->act_cols = 0;
    ro->dz_rows_per_sample = spec->target_kind == VG_TARGET_STEP_CLASS ? T : 1;
    for (int i = 0; i < 2; i++) {
        vg__plan_tensor(plan, vg__mlp_tensors[i].name, vg__mlp_tensors[i].doc,
                        vg__mlp_tensors[i].grad_doc, D, 1, V, i == 0 ? H : 0,
                        i == 0 ? at : at + (int64_t)V * H);
    }
    plan->n_params = ro->param_end;
    plan->n_state = 0;
    /* the extra series, filled at every probe checkpoint (rnn_model_impl.h) */
    vg_model_series *s = plan->series;
    s[plan->n_series++] = (vg_model_series){
        "grad_h_norm", "checkpoint,recurrent_layer,time",
        "root mean square over the probe sequences of ||dloss/dh_t|| per recurrent layer and time "
        "step t = 1..T (index t-1): the total gradient reaching h_t (read-out, layer above, and "
        "the recurrence unless train.bptt cut it)", 3, {0, D, T}};
    if (cell == VG_CELL_LSTM)
        s[plan->n_series++] = (vg_model_series){
            "grad_c_norm", "checkpoint,recurrent_layer,time",
            "root mean square over the probe sequences of ||dloss/dc_t|| (LSTM cell state) per "
            "recurrent layer and time step", 3, {0, D, T}};
    s[plan->n_series++] = (vg_model_series){
        "gate_saturated", "checkpoint,recurrent_layer,gate",
        "fraction of gate units (over probe sequences, steps, units) within 0.01 of a sigmoid's 0 "
        "or 1 (tanh blocks: of -1 or 1); gates in PyTorch's order (lstm i f g o, gru r z n; rnn: "
        "its activation, 0 unless tanh, sigmoid or softsign)", 3, {0, D, G}};
    s[plan->n_series++] = (vg_model_series){
        "gate_grad_norm", "checkpoint,recurrent_layer,gate",
        "Frobenius norm of each gate block's gradient (its rows of dW_ih, dW_hh, db_ih, db_hh) on "
        "the probe batch", 3, {0, D, G}};
    return VG_OK;
}


vg_model_cost vg_rnn_cost(const vg_model_spec *spec) {
    /* What vg_model_f32_create_rnn and vg_rnn_f32_create allocate, counted as rnn_impl.h's
     * layout counts it, in double. */
    vg_model_cost c;
    memset(&c, 0, sizeof c);
    int cell = vg__rnn_cell(spec);
    const double G = vg_cell_gates(cell), D = spec->depth, H = spec->width, GH = G * H;
    const double T = spec->steps, F = spec->step_features, V = spec->n_outputs;
    const double B = spec->max_batch, f = sizeof(float);
    const int step_cls = spec->target_kind == VG_TARGET_STEP_CLASS;
    const double To = step_cls ? T : 1;
    /* parameters: per layer GH (fan_in + H + 2), the read-out V (H + 1) */
    double flops = 0;
    for (int l = 0; l < spec->depth; l++) {
        double fi = l == 0 ? F : H;
        c.n_params += GH * (fi + H + 2);
        flops += 2 * T * GH * (fi + H); /* projection and recurrence, per sample */
    }
    c.n_params += V * (H + 1);
    flops += 2 * To * V * H;
    c.flops_per_sample = flops;
    c.alloc_bytes[c.n_allocs++] = vg__lines(c.n_params * f);
    c.alloc_bytes[c.n_allocs++] = vg__lines(c.n_params * f);
    /* the arena (rnn_impl.h's layout): each piece rounded to a cache line */
    double arena = 0;
#define VG__PIECE(n) (arena += ceil((n) / 16.0) * 16)
    VG__PIECE(T * B * F);
    for (int l = 0; l < spec->depth; l++) {
        VG__PIECE(H * GH);          /* W_hhT */
        VG__PIECE(T * B * GH);      /* gate */
        VG__PIECE((T + 1) * B * H); /* hs */
        VG__PIECE(T * B * GH);      /* dpre */
        if (cell == VG_CELL_LSTM) VG__PIECE((T + 1) * B * H), VG__PIECE(T * B * H);
        if (cell == VG_CELL_GRU) VG__PIECE(T * B * H), VG__PIECE(T * B * GH);
    }
    VG__PIECE(To * B * V), VG__PIECE(To * B * V), VG__PIECE(To * B * V);
    VG__PIECE(T * B * H);
    VG__PIECE(B * H), VG__PIECE(B * H), VG__PIECE(GH > B * H ? GH : B * H), VG__PIECE(B * GH);
    {
        double maxm = GH > V ? GH : V;
        if (maxm < H) maxm = H;
        double maxk = T * B;
        VG__PIECE((double)vg__sgemm_work_floats((int)maxm, maxk > 2e9 ? 2000000000 : (int)maxk));
    }
#undef VG__PIECE
    c.alloc_bytes[c.n_allocs++] = vg__lines(arena * f);
    /* the per-layer views, shapes and statistics, the interface's struct and plan */
    c.alloc_bytes[c.n_allocs++] = vg__lines(D * 16 * sizeof(void *));
    c.alloc_bytes[c.n_allocs++] = vg__lines(D * T * sizeof(double) * (cell == VG_CELL_LSTM ? 2 : 1)) +
                                  vg__lines(D * G * sizeof(double)) + vg__lines(D * 4 + (D + 2) * 8) +
                                  (D + 1) * sizeof(vg_model_layer) +
                                  (4 * D + 2) * sizeof(vg_model_tensor) + 4 * sizeof(vg_model_series) +
                                  sizeof(vg_rnn_f32) + 64;
    /* element-wise work per unit, step and sample, forward and backward (the gates' sigmoids
     * and tanhs, the cell update), in the FLOPs of the products that take as long */
    double per_unit = cell == VG_CELL_RNN ? 20 : cell == VG_CELL_LSTM ? 4 * 20 + 20 : 3 * 20 + 10;
    c.elementwise_per_sample = D * T * H * per_unit;
    c.act_units = T * H;
    return c;
}
