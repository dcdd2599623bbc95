/* The float recurrent net as tests/test_rnn_torch.py drives it: reads a problem from a binary
 * file, writes the loss, every gradient, the statistics and a few optimizer steps to another.
 *
 * Input (little-endian, the layout test_rnn_torch.py writes):
 *   int32 [13]  cell, activation, n_inputs, hidden, depth, n_outputs, steps, batch, loss,
 *               target, bptt, optimizer steps S, optimizer kind (vg_optimizer)
 *   float64 [6] lr, momentum, beta1, beta2, eps, weight_decay
 *   float32 [n_params] parameters in the net's layout (rnn.h)
 *   float32 [B T n_inputs] x
 *   targets: int32 [B] (CLASS), int32 [B T] (STEP_CLASS), float32 [B n_outputs] (REAL)
 * Output:
 *   float64 loss, float32 [n_params] gradients, float64 [depth T] grad_h2,
 *   float64 [depth T] grad_c2 (LSTM only), float64 [S] losses before each step,
 *   float32 [n_params] parameters after S steps
 * Usage: rnn_driver IN OUT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/nn.h"
#include "vgsweep/rnn.h"
#include "vgsweep/data.h"

static int rd(void *p, size_t size, size_t n, FILE *f) { return fread(p, size, n, f) == n; }

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *in = fopen(argv[1], "rb");
    if (!in) return 2;
    int32_t h[13];
    double hp[6];
    if (!rd(h, 4, 13, in) || !rd(hp, 8, 6, in)) return 2;
    vg_rnn_shape s = {.cell = h[0], .activation = h[1], .n_inputs = h[2], .hidden = h[3],
                      .depth = h[4], .n_outputs = h[5], .steps = h[6], .max_batch = h[7],
                      .loss = h[8], .target = h[9], .bptt = h[10], .act_param = 0.1};
    int B = h[7], S = h[11];
    vg_rnn_f32 m;
    vg_error err;
    if (vg_rnn_f32_create(&m, &s, &err) != VG_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 2;
    }
    int64_t nx = (int64_t)B * s.steps * s.n_inputs;
    float *x = malloc((size_t)nx * sizeof *x), *t = NULL;
    int32_t *y = NULL;
    if (!rd(m.params, 4, (size_t)m.n_params, in) || !rd(x, 4, (size_t)nx, in)) return 2;
    if (s.target == VG_TARGET_REAL) {
        t = malloc((size_t)B * s.n_outputs * sizeof *t);
        if (!rd(t, 4, (size_t)B * s.n_outputs, in)) return 2;
    } else {
        int64_t ny = s.target == VG_TARGET_STEP_CLASS ? (int64_t)B * s.steps : B;
        y = malloc((size_t)ny * sizeof *y);
        if (!rd(y, 4, (size_t)ny, in)) return 2;
    }
    fclose(in);
    FILE *out = fopen(argv[2], "wb");
    if (!out) return 2;
    double loss = vg_rnn_f32_forward(&m, x, y, t, B, NULL, NULL);
    vg_rnn_f32_backward_set(&m, x, y, t, 1);
    fwrite(&loss, 8, 1, out);
    fwrite(m.grads, 4, (size_t)m.n_params, out);
    fwrite(m.stats.grad_h2, 8, (size_t)s.depth * s.steps, out);
    if (s.cell == VG_CELL_LSTM) fwrite(m.stats.grad_c2, 8, (size_t)s.depth * s.steps, out);
    vg_optim_spec os = {.kind = h[12], .momentum = hp[1], .beta1 = hp[2], .beta2 = hp[3],
                        .eps = hp[4], .weight_decay = hp[5], .rms_alpha = 0.99};
    vg_optim_f32 opt;
    if (vg_optim_f32_create(&opt, &os, m.n_params, &err) != VG_OK) return 2;
    for (int i = 0; i < S; i++) {
        double l = vg_rnn_f32_forward(&m, x, y, t, B, NULL, NULL);
        vg_rnn_f32_backward_set(&m, x, y, t, 0);
        vg_optim_f32_step(&opt, m.params, m.grads, hp[0]);
        fwrite(&l, 8, 1, out);
    }
    fwrite(m.params, 4, (size_t)m.n_params, out);
    fclose(out);
    vg_optim_f32_free(&opt);
    vg_rnn_f32_free(&m);
    free(x), free(y), free(t);
    return 0;
}
