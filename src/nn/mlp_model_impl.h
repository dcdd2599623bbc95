/* The MLP behind the model interface (vgsweep/model.h), written once for any float type:
 * included by mlp_f32.c and mlp_f64.c after mlp_impl.h. The net keeps its own struct
 * (vgsweep/nn.h); the interface's flat params, grads and state are the net's own arrays, so a
 * training step through the interface runs exactly the instructions it ran before. */

#define MODEL SFX(vg_model)
#define MODEL_OPS SFX(vg_model_ops)
#define BATCH SFX(vg_batch)
#define PROBE_VIEW SFX(vg_model_probe_view)

static MLP *SFX(mlp_of)(const MODEL *m) { return m->impl; }

static void SFX(mlp_destroy)(MODEL *m) {
    MLP *net = m->impl;
    if (net) MLP_FN(free)(net);
    free(net);
    m->impl = NULL;
}

static void SFX(mlp_init)(MODEL *m, const vg_init_spec *init, vg_rng *rng) {
    MLP_FN(init)(SFX(mlp_of)(m), init, rng);
}

static double SFX(mlp_forward)(MODEL *m, const BATCH *b, vg_pass pass, vg_model_counts *counts) {
    MLP *net = SFX(mlp_of)(m);
    m->batch = b->B;
    if (b->t) return MLP_FN(forward_real)(net, b->x, b->t, b->B, pass);
    int64_t correct = 0;
    double loss = MLP_FN(forward)(net, b->x, b->y, b->B, pass, counts ? &correct : NULL);
    if (counts && b->y) counts->correct += correct, counts->scored += b->B;
    return loss;
}

static void SFX(mlp_backward)(MODEL *m, const BATCH *b) {
    MLP *net = SFX(mlp_of)(m);
    if (b->t) MLP_FN(backward_set_real)(net, b->x, b->t);
    else MLP_FN(backward_set)(net, b->x, b->y);
}

static void SFX(mlp_probe_view)(const MODEL *m, int l, PROBE_VIEW *v) {
    const MLP *net = SFX(mlp_of)(m);
    int hidden = l < net->n_layers - 1;
    v->z = net->z[l];
    v->dz = net->dz[l];
    v->rows = net->batch;
    v->u = hidden ? net->u[l] : NULL;
    v->a = hidden ? net->a[l] : NULL;
    v->act_rows = hidden ? net->batch : 0;
    v->activation = net->shape.activation;
    v->act_param = vg_act_param(&net->shape);
}

static const MODEL_OPS SFX(vg__mlp_ops) = {
    .kind = "mlp",
    .destroy = SFX(mlp_destroy),
    .init = SFX(mlp_init),
    .forward = SFX(mlp_forward),
    .backward = SFX(mlp_backward),
    .probe_view = SFX(mlp_probe_view),
    .probe_series = NULL,
};

vg_status MODEL_FN(create_mlp)(MODEL *m, const vg_model_spec *spec, vg_error *err) {
    memset(m, 0, sizeof *m);
    m->spec = *spec;
    m->ops = &SFX(vg__mlp_ops);
    if (spec->kind != VG_MODEL_MLP || spec->steps < 1 || spec->step_features < 1)
        return vg_error_set(err, VG_EINTERNAL, "not an MLP's spec");
    vg_mlp_shape shape = vg_mlp_shape_of(spec);
    vg_status st = vg_mlp_plan(spec, &m->plan, err);
    if (st != VG_OK) return st;
    MLP *net = calloc(1, sizeof *net);
    if (!net) {
        MODEL_FN(free)(m);
        return vg_error_set(err, VG_ENOMEM, "out of memory for a net");
    }
    m->impl = net;
    st = MLP_FN(create)(net, &shape, err);
    if (st != VG_OK) {
        MODEL_FN(free)(m);
        return st;
    }
    if (net->n_params != m->plan.n_params) { /* the plan and the net lay out the same rule */
        MODEL_FN(free)(m);
        return vg_error_set(err, VG_EINTERNAL, "the MLP's plan has %lld parameters, the net %lld",
                            (long long)m->plan.n_params, (long long)net->n_params);
    }
    m->params = net->params;
    m->grads = net->grads;
    m->state = net->running;
    return VG_OK;
}

#undef MODEL
#undef MODEL_OPS
#undef BATCH
#undef PROBE_VIEW
#undef MLP
