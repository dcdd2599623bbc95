/* The recurrent training step allocates nothing: after vg_rnn_f32_create and the optimizer's
 * create, forward + backward (with and without statistics) + optimizer step, for every cell,
 * target kind, full and truncated BPTT, 1 and 2 layers and a batch smaller than max_batch,
 * make no heap allocation, counted by wrapping malloc/calloc/realloc/aligned_alloc at link
 * time (-Wl,--wrap). */
#include <stdlib.h>

#include "vg_test.h"
#include "vgsweep/data.h"
#include "vgsweep/nn.h"
#include "vgsweep/rnn.h"
#include "vgsweep/settings.h"

static long n_allocs = 0;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n) { n_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { n_allocs++; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { n_allocs++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { n_allocs++; return __real_aligned_alloc(a, n); }

int main(void) {
    enum { B = 12, T = 9, F = 5, H = 20, V = 4 };
    float x[B * T * F], t[B * V];
    int32_t y[B * T];
    vg_rng rng;
    vg_rng_seed(&rng, 3);
    for (int i = 0; i < B * T * F; i++) x[i] = (float)vg_rng_normal(&rng);
    for (int i = 0; i < B * V; i++) t[i] = (float)vg_rng_normal(&rng);
    for (int i = 0; i < B * T; i++) y[i] = i % 3 == 0 ? -1 : (int32_t)vg_rng_below(&rng, V);
    int cases = 0;
    for (int cell = 0; cell < VG_CELL_COUNT; cell++)
        for (int target = 0; target < 3; target++)
            for (int depth = 1; depth <= 2; depth++)
                for (int bptt = 0; bptt <= 4; bptt += 4) {
                    vg_rnn_shape s = {.cell = cell, .n_inputs = F, .hidden = H, .depth = depth,
                                      .n_outputs = V, .steps = T, .activation = VG_ACT_TANH,
                                      .loss = target == VG_TARGET_REAL ? VG_LOSS_MSE : VG_LOSS_CROSS_ENTROPY,
                                      .target = target, .bptt = bptt, .max_batch = B};
                    vg_rnn_f32 m;
                    vg_error err;
                    long at_create = n_allocs;
                    VG_CHECK(vg_rnn_f32_create(&m, &s, &err) == VG_OK);
                    /* the wrapper sees the library's allocations (params, grads, arena) */
                    VG_CHECK_MSG(n_allocs - at_create >= 6, "create: %ld allocations seen", n_allocs - at_create);
                    vg_rnn_init_spec init;
                    vg_rnn_init_defaults(&init);
                    vg_rnn_f32_init(&m, &init, &rng);
                    vg_optim_spec os = {.kind = VG_OPT_ADAM, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
                    vg_optim_f32 opt;
                    VG_CHECK(vg_optim_f32_create(&opt, &os, m.n_params, &err) == VG_OK);
                    const int32_t *yy = target == VG_TARGET_REAL ? NULL : y;
                    const float *tt = target == VG_TARGET_REAL ? t : NULL;
                    long before = n_allocs;
                    double first = 0, last = 0;
                    for (int step = 0; step < 20; step++) {
                        int rows = step % 2 ? B : B - 5;
                        int64_t correct = 0, scored = 0;
                        double loss = vg_rnn_f32_forward(&m, x, yy, tt, rows, &correct, &scored);
                        vg_rnn_f32_backward_set(&m, x, yy, tt, step % 3 == 0);
                        vg_optim_f32_step(&opt, m.params, m.grads, 0.01);
                        if (step == 1) first = loss;
                        if (step == 19) last = loss;
                    }
                    VG_CHECK_MSG(n_allocs == before, "%s target %d depth %d bptt %d: %ld allocations in 20 steps", vg_cell_name(cell), target, depth, bptt, n_allocs - before);
                    /* and the steps train: the full batch's loss went down */
                    VG_CHECK_MSG(last < first, "%s target %d depth %d bptt %d: loss %.4f -> %.4f", vg_cell_name(cell), target, depth, bptt, first, last);
                    vg_optim_f32_free(&opt);
                    vg_rnn_f32_free(&m);
                    cases++;
                }
    printf("%d recurrent nets: no allocation in their training steps\n", cases);
    return vg_test_finish("test_rnn_noalloc");
}
