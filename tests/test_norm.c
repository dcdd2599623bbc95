/* Batch-norm identities, in double precision on the training core:
 *  - per feature, the gradient reaching the normalized layer's input (dloss/dz) sums to zero
 *    over the batch (so the bias before a batch norm never learns);
 *  - scaling a layer's weights by 10 leaves the loss unchanged and divides that layer's weight
 *    gradient by 10 (batch norm's scale invariance);
 * and for layer norm, per sample the gradient sums to zero over the features. */
#include <stdlib.h>

#include "vg_test.h"
#include "vgsweep/nn.h"
#include "vgsweep/settings.h"

#define B 16
#define N_IN 7
#define N_OUT 5

static void make_net(vg_mlp_f64 *m, int norm, int activation, uint64_t seed, double *x, int32_t *y) {
    vg_mlp_shape shape = {.n_inputs = N_IN, .depth = 4, .width = 12, .n_outputs = N_OUT,
                          .activation = activation, .norm = norm, .norm_momentum = 0.1,
                          /* eps ~ 0 so the scale invariance is exact, not approximate */
                          .norm_eps = 1e-14, .max_batch = B};
    VG_CHECK(vg_mlp_f64_create(m, &shape, NULL) == VG_OK);
    vg_rng rng;
    vg_rng_seed(&rng, seed);
    vg_init_spec init = {.kind = VG_INIT_HE_NORMAL, .gain = 1, .bias = 0.3};
    vg_mlp_f64_init(m, &init, &rng);
    for (int i = 0; i < B * N_IN; i++) x[i] = vg_rng_normal(&rng);
    for (int i = 0; i < B; i++) y[i] = (int32_t)vg_rng_below(&rng, N_OUT);
}

static double loss_and_grad(vg_mlp_f64 *m, const double *x, const int32_t *y) {
    vg_mlp_f64_zero_grad(m);
    double loss = vg_mlp_f64_forward(m, x, y, B, VG_PASS_TRAIN, NULL);
    vg_mlp_f64_backward(m, x, y);
    return loss;
}

int main(void) {
    double x[B * N_IN];
    int32_t y[B];
    for (int act = 0; act < VG_ACT_COUNT; act++) {
        vg_mlp_f64 m;
        make_net(&m, VG_NORM_BATCH, act, 77 + act, x, y);
        double loss = loss_and_grad(&m, x, y);
        double gscale = 0;
        for (int64_t i = 0; i < m.n_params; i++) gscale = fmax(gscale, fabs(m.grads[i]));
        for (int l = 0; l < m.n_layers - 1; l++)
            for (int j = 0; j < m.fan_out[l]; j++) {
                double s = 0;
                for (int r = 0; r < B; r++) s += m.dz[l][r * m.fan_out[l] + j];
                VG_CHECK_MSG(fabs(s) < 1e-12 * gscale, "%s layer %d feature %d: sum over batch of dloss/dz = %.3g",
                             vg_activation_names[act], l + 1, j, s);
            }
        for (int l = 0; l < m.n_layers - 1; l++) {
            int64_t nw = (int64_t)m.fan_out[l] * m.fan_in[l];
            double *dW = malloc((size_t)nw * sizeof *dW);
            for (int64_t i = 0; i < nw; i++) dW[i] = m.dW[l][i];
            for (int64_t i = 0; i < nw; i++) m.W[l][i] *= 10;
            double loss10 = loss_and_grad(&m, x, y);
            VG_CHECK_MSG(fabs(loss10 - loss) <= 1e-12 * fabs(loss), "%s: W%d x 10: loss %.17g -> %.17g",
                         vg_activation_names[act], l + 1, loss, loss10);
            double err = 0, ref = 0;
            for (int64_t i = 0; i < nw; i++) {
                err = fmax(err, fabs(m.dW[l][i] * 10 - dW[i]));
                ref = fmax(ref, fabs(dW[i]));
            }
            VG_CHECK_MSG(err <= 1e-10 * ref, "%s: W%d x 10: weight gradient not divided by 10 (max dev %.3g of %.3g)",
                         vg_activation_names[act], l + 1, err, ref);
            for (int64_t i = 0; i < nw; i++) m.W[l][i] /= 10;
            loss_and_grad(&m, x, y);
            free(dW);
        }
        vg_mlp_f64_free(&m);

        make_net(&m, VG_NORM_LAYER, act, 177 + act, x, y);
        loss_and_grad(&m, x, y);
        gscale = 0;
        for (int64_t i = 0; i < m.n_params; i++) gscale = fmax(gscale, fabs(m.grads[i]));
        for (int l = 0; l < m.n_layers - 1; l++)
            for (int r = 0; r < B; r++) {
                double s = 0;
                for (int j = 0; j < m.fan_out[l]; j++) s += m.dz[l][r * m.fan_out[l] + j];
                VG_CHECK_MSG(fabs(s) < 1e-12 * gscale, "layer norm %s layer %d sample %d: sum of dloss/dz = %.3g",
                             vg_activation_names[act], l + 1, r, s);
            }
        vg_mlp_f64_free(&m);
    }
    return vg_test_finish("test_norm");
}
