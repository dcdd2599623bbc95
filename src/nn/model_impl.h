/* The model interface's type-dependent common part (vgsweep/model.h), written once for any
 * float type: included by mlp_f32.c and mlp_f64.c after mlp_impl.h, with real and SFX defined
 * as there. A kind's create fills the struct; these work on any kind. */

#define MODEL SFX(vg_model)

void MODEL_FN(free)(MODEL *m) {
    if (m->ops && m->ops->destroy) m->ops->destroy(m);
    vg_model_plan_free(&m->plan);
    memset(m, 0, sizeof *m);
}

real *MODEL_FN(tensor_value)(const MODEL *m, int i) {
    const vg_model_tensor *t = &m->plan.tensors[i];
    return (t->trained ? m->params : m->state) + t->offset;
}

real *MODEL_FN(tensor_grad)(const MODEL *m, int i) {
    const vg_model_tensor *t = &m->plan.tensors[i];
    return t->trained ? m->grads + t->offset : NULL;
}

#undef MODEL
