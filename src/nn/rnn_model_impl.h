/* The recurrent nets behind the model interface (vgsweep/model.h), written once for any float
 * type: included by rnn_f32.c and rnn_f64.c after rnn_impl.h. The net keeps its own struct
 * (vgsweep/rnn.h); the interface's flat params and grads are the net's own arrays, laid out as
 * vg_rnn_plan (nn/model.c) says: per recurrent layer W_ih, W_hh, b_ih, b_hh, then the
 * read-out's W, b. */

#include "vgsweep/model.h"

#define RNN SFX(vg_rnn)
#define MODEL SFX(vg_model)
#define MODEL_OPS SFX(vg_model_ops)
#define BATCH SFX(vg_batch)
#define PROBE_VIEW SFX(vg_model_probe_view)

typedef struct {
    RNN net;
    int stats; /* 1: the last forward was a probe pass, its backward fills net.stats */
} SFX(rnn_model);

static RNN *SFX(rnn_of)(const MODEL *m) { return &((SFX(rnn_model) *)m->impl)->net; }

static void SFX(rnn_model_destroy)(MODEL *m) {
    SFX(rnn_model) *rm = m->impl;
    if (rm) RNN_FN(free)(&rm->net);
    free(rm);
    m->impl = NULL;
}

static void SFX(rnn_model_init)(MODEL *m, const vg_init_spec *init, vg_rng *rng) {
    vg_rnn_init_spec ri;
    memset(&ri, 0, sizeof ri);
    ri.input = *init;
    ri.readout = *init;
    ri.recurrent = m->spec.recurrent_init;
    ri.rec_value = m->spec.recurrent_value;
    ri.bias = init->bias;
    ri.forget_bias = m->spec.forget_bias;
    RNN_FN(init)(SFX(rnn_of)(m), &ri, rng);
}

static double SFX(rnn_model_forward)(MODEL *m, const BATCH *b, vg_pass pass,
                                     vg_model_counts *counts) {
    SFX(rnn_model) *rm = m->impl;
    m->batch = b->B;
    rm->stats = pass == VG_PASS_PROBE;
    int64_t correct = 0, scored = 0;
    double loss = RNN_FN(forward)(&rm->net, b->x, b->y, b->t, b->B, &correct, &scored);
    if (counts && (b->y || b->t)) {
        /* regression scores nothing: accuracy NaN, as for the MLP */
        if (!b->t) counts->correct += correct, counts->scored += scored;
    }
    return loss;
}

static void SFX(rnn_model_backward)(MODEL *m, const BATCH *b) {
    SFX(rnn_model) *rm = m->impl;
    RNN_FN(backward_set)(&rm->net, b->x, b->y, b->t, rm->stats);
}

static void SFX(rnn_model_probe_view)(const MODEL *m, int l, PROBE_VIEW *v) {
    const RNN *net = SFX(rnn_of)(m);
    const vg_rnn_shape *s = &net->shape;
    int64_t B = net->batch, T = s->steps, H = s->hidden;
    memset(v, 0, sizeof *v);
    if (l == s->depth) { /* the read-out */
        int64_t R = s->target == VG_TARGET_STEP_CLASS ? T * B : B;
        v->z = net->logits, v->dz = net->dlogits, v->rows = R;
        v->activation = VG_ACT_LINEAR;
        return;
    }
    /* (T B, G H): the gates' pre-activations (the vanilla RNN's; LSTM, GRU: their activations
     * after a forward) and dloss/d(pre-activation) */
    v->z = net->gate[l], v->dz = net->dpre[l], v->rows = T * B;
    v->act_rows = T * B;
    switch (s->cell) {
    case VG_CELL_RNN: /* u = W_ih x + W_hh h + b, a = h_t = phi(u) */
        v->u = net->gate[l], v->a = net->hs[l] + B * H;
        v->activation = s->activation, v->act_param = s->act_param;
        break;
    case VG_CELL_LSTM: /* u = c_t, a = tanh(c_t) */
        v->u = net->cs[l] + B * H, v->a = net->tc[l];
        v->activation = VG_ACT_TANH;
        break;
    default: /* GRU: h_t, counted as a tanh output (phi' = 1 - h^2) */
        v->u = net->hs[l] + B * H, v->a = net->hs[l] + B * H;
        v->activation = VG_ACT_TANH;
        break;
    }
}

static void SFX(rnn_model_probe_series)(const MODEL *m, int k, double *const *series) {
    const RNN *net = SFX(rnn_of)(m);
    const vg_rnn_shape *s = &net->shape;
    int64_t D = s->depth, T = s->steps, G = net->gates;
    double P = net->batch > 0 ? net->batch : 1;
    int i = 0;
    double *gh = series[i++] + k * D * T;
    for (int64_t j = 0; j < D * T; j++) gh[j] = sqrt(net->stats.grad_h2[j] / P);
    if (s->cell == VG_CELL_LSTM) {
        double *gc = series[i++] + k * D * T;
        for (int64_t j = 0; j < D * T; j++) gc[j] = sqrt(net->stats.grad_c2[j] / P);
    }
    double *sat = series[i++] + k * D * G;
    memcpy(sat, net->stats.saturated, (size_t)(D * G) * sizeof(double));
    RNN_FN(gate_grad_norms)(net, series[i++] + k * D * G);
}

static const MODEL_OPS SFX(vg__rnn_ops) = {
    .kind = "rnn",
    .destroy = SFX(rnn_model_destroy),
    .init = SFX(rnn_model_init),
    .forward = SFX(rnn_model_forward),
    .backward = SFX(rnn_model_backward),
    .probe_view = SFX(rnn_model_probe_view),
    .probe_series = SFX(rnn_model_probe_series),
};

vg_status MODEL_FN_RNN(create_rnn)(MODEL *m, const vg_model_spec *spec, vg_error *err) {
    memset(m, 0, sizeof *m);
    m->spec = *spec;
    m->ops = &SFX(vg__rnn_ops);
    vg_status st = vg_rnn_plan(spec, &m->plan, err);
    if (st != VG_OK) return st;
    SFX(rnn_model) *rm = calloc(1, sizeof *rm);
    if (!rm) {
        MODEL_FN_RNN(free)(m);
        return vg_error_set(err, VG_ENOMEM, "out of memory for a net");
    }
    m->impl = rm;
    vg_mlp_shape ms = vg_mlp_shape_of(spec);
    vg_rnn_shape shape = {
        .cell = spec->kind == VG_MODEL_LSTM ? VG_CELL_LSTM
                : spec->kind == VG_MODEL_GRU ? VG_CELL_GRU : VG_CELL_RNN,
        .n_inputs = spec->step_features,
        .hidden = spec->width,
        .depth = spec->depth,
        .n_outputs = spec->n_outputs,
        .steps = spec->steps,
        .activation = spec->activation,
        .act_param = vg_act_param(&ms),
        .loss = spec->loss,
        .target = spec->target_kind,
        .bptt = spec->bptt,
        .max_batch = spec->max_batch,
    };
    st = RNN_FN(create)(&rm->net, &shape, err);
    if (st != VG_OK) {
        MODEL_FN_RNN(free)(m);
        return st;
    }
    if (rm->net.n_params != m->plan.n_params) { /* the plan and the net lay out the same rule */
        MODEL_FN_RNN(free)(m);
        return vg_error_set(err, VG_EINTERNAL, "the recurrent plan has %lld parameters, the net %lld",
                            (long long)m->plan.n_params, (long long)rm->net.n_params);
    }
    m->params = rm->net.params;
    m->grads = rm->net.grads;
    m->state = NULL;
    return VG_OK;
}

#undef RNN
#undef MODEL
#undef MODEL_OPS
#undef BATCH
#undef PROBE_VIEW
