/* Training steps of a recurrent net per second (bench/rnn_bench.py puts them beside PyTorch's):
 * forward + backward (full BPTT) + SGD on one fixed batch, float32, one thread; a cross-entropy
 * read-out at the last step. Prints key=value pairs: seq_per_s, gflops (the step's multiply-adds
 * x 2 from vg_rnn_f32_step_flops over its time), seq_per_cpu_s and gflops_cpu (the same over
 * the thread's CPU time: on a shared machine, what the step costs when it runs), peak_gflops (bench/fma.c), peak_frac, and
 * the split of a step between forward and backward.
 *
 *   rnn_bench --cell lstm --hidden 128 --batch 64 --inputs 32 --steps 100 [--depth 1]
 *             [--outputs 10] [--seconds 1] [--act tanh] [--no-peak] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vgsweep/data.h"
#include "vgsweep/nn.h"
#include "vgsweep/rnn.h"
#include "vgsweep/settings.h"

double vgbench_fma_peak(const char **isa); /* fma.c: GFLOP/s */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* this thread's CPU time: what a step costs when other processes share the cores */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    vg_rnn_shape s = {.cell = VG_CELL_LSTM, .n_inputs = 32, .hidden = 128, .depth = 1,
                      .n_outputs = 10, .steps = 100, .activation = VG_ACT_TANH,
                      .loss = VG_LOSS_CROSS_ENTROPY, .target = VG_TARGET_CLASS, .max_batch = 64};
    double seconds = 1;
    int peak = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--no-peak")) { peak = 0; continue; }
        if (!strcmp(a, "--cell")) s.cell = !strcmp(v, "lstm") ? VG_CELL_LSTM : !strcmp(v, "gru") ? VG_CELL_GRU : VG_CELL_RNN;
        else if (!strcmp(a, "--hidden")) s.hidden = atoi(v);
        else if (!strcmp(a, "--batch")) s.max_batch = atoi(v);
        else if (!strcmp(a, "--inputs")) s.n_inputs = atoi(v);
        else if (!strcmp(a, "--steps")) s.steps = atoi(v);
        else if (!strcmp(a, "--depth")) s.depth = atoi(v);
        else if (!strcmp(a, "--outputs")) s.n_outputs = atoi(v);
        else if (!strcmp(a, "--bptt")) s.bptt = atoi(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--act")) s.activation = !strcmp(v, "relu") ? VG_ACT_RELU : VG_ACT_TANH;
        else {
            fprintf(stderr, "rnn_bench: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    vg_rnn_f32 m;
    vg_error err;
    if (vg_rnn_f32_create(&m, &s, &err) != VG_OK) {
        fprintf(stderr, "rnn_bench: %s\n", err.message);
        return 2;
    }
    vg_rng rng;
    vg_rng_seed(&rng, 1);
    vg_rnn_init_spec init;
    vg_rnn_init_defaults(&init);
    vg_rnn_f32_init(&m, &init, &rng);
    int B = s.max_batch;
    int64_t nx = (int64_t)B * s.steps * s.n_inputs;
    float *x = malloc((size_t)nx * sizeof *x);
    int32_t *y = malloc((size_t)B * sizeof *y);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)vg_rng_normal(&rng);
    for (int b = 0; b < B; b++) y[b] = (int32_t)vg_rng_below(&rng, (uint64_t)s.n_outputs);
    vg_optim_spec os = {.kind = VG_OPT_SGD};
    vg_optim_f32 opt;
    if (vg_optim_f32_create(&opt, &os, m.n_params, &err) != VG_OK) return 2;
    double loss = 0, t_fwd = 0, t_bwd = 0;
    long n = 0;
    double t0 = now(), t = t0;
    for (int warm = 0; warm < 2; warm++) {
        vg_rnn_f32_forward(&m, x, y, NULL, B, NULL, NULL);
        vg_rnn_f32_backward_set(&m, x, y, NULL, 0);
    }
    t0 = now();
    double c0 = cpu_now();
    while (n < 3 || t - t0 < seconds) {
        double a = now();
        loss = vg_rnn_f32_forward(&m, x, y, NULL, B, NULL, NULL);
        double b = now();
        vg_rnn_f32_backward_set(&m, x, y, NULL, 0);
        vg_optim_f32_step(&opt, m.params, m.grads, 1e-3);
        t = now();
        t_fwd += b - a, t_bwd += t - b;
        n++;
    }
    double cpu_per = (cpu_now() - c0) / n;
    double per = (t - t0) / n, flops = vg_rnn_f32_step_flops(&m, B);
    double gf = flops / per * 1e-9, pk = 0;
    const char *isa = "none";
    if (peak) pk = vgbench_fma_peak(&isa);
    printf("cell=%s hidden=%d batch=%d inputs=%d steps=%d depth=%d seq_per_s=%.1f seq_per_cpu_s=%.1f "
           "gflops_cpu=%.1f step_ms=%.3f fwd_ms=%.3f bwd_ms=%.3f gflops=%.1f peak_gflops=%.1f peak_frac=%.3f isa=%s loss=%.4f "
           "finite=%d\n",
           vg_cell_name(s.cell), s.hidden, B, s.n_inputs, s.steps, s.depth, B / per, B / cpu_per,
           flops / cpu_per * 1e-9, per * 1e3,
           t_fwd / n * 1e3, t_bwd / n * 1e3, gf, pk, pk > 0 ? gf / pk : 0, isa, loss,
           isfinite(loss) ? 1 : 0);
    vg_optim_f32_free(&opt);
    vg_rnn_f32_free(&m);
    free(x), free(y);
    return 0;
}
