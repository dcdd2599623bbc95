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
            vg_model_tensor *t = &plan->tensors[plan->n_tensors++];
            snprintf(t->name, sizeof t->name, "%s", vg__mlp_tensors[i].name);
            t->doc = vg__mlp_tensors[i].doc;
            t->grad_doc = vg__mlp_tensors[i].grad_doc;
            t->layer = l;
            t->trained = vg__mlp_tensors[i].trained;
            t->rank = i == 0 ? 2 : 1;
            t->dims[0] = fo;
            t->dims[1] = i == 0 ? fi : 0;
            int64_t n = i == 0 ? (int64_t)fo * fi : fo;
            if (t->trained) t->offset = off, off += n;
            else t->offset = state_at, state_at += n;
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
