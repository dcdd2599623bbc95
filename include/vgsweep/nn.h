/* The training core: a multilayer perceptron with its kernels, written once and compiled twice,
 * in float (vg_mlp_f32, what runs train with) and in double (vg_mlp_f64, what the
 * finite-difference tests prove the same code with). It knows BLAS and nothing else.
 *
 * The net: x -> [dense -> activation] x depth -> dense -> softmax cross-entropy (mean over the
 * batch). Dense layer l computes z_l = h_{l-1} W_l^T + b_l with W_l of shape (fan_out, fan_in),
 * PyTorch's nn.Linear layout, so a record's tensors load into torch as they are.
 *
 * Memory: parameters and gradients live in one allocation each, with per-layer views; the
 * activations needed by backward live in one arena sized for max_batch rows. Nothing is
 * allocated after vg_mlp_*_create, so a training step never calls malloc. */
#ifndef VGSWEEP_NN_H
#define VGSWEEP_NN_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/rng.h"

/* The architecture of a net, independent of the float type. */
typedef struct vg_mlp_shape {
    int n_inputs;   /* features */
    int depth;      /* hidden layers; the net has depth + 1 dense layers */
    int width;      /* units per hidden layer */
    int n_outputs;  /* classes */
    int activation; /* vg_activation, applied after every hidden dense layer */
    int max_batch;  /* most rows a forward/backward call may take */
} vg_mlp_shape;

/* How weights are drawn (biases start at 0). */
typedef struct vg_init_spec {
    int kind;   /* vg_init */
    double std; /* for VG_INIT_NORMAL */
} vg_init_spec;

#define VG__MLP_DECLARE(real, sfx)                                                              \
    typedef struct vg_mlp_##sfx {                                                               \
        vg_mlp_shape shape;                                                                     \
        int n_layers;           /* L = depth + 1 dense layers, input side first */              \
        int *fan_in, *fan_out;  /* (L) */                                                       \
        int max_fan;            /* largest fan_in or fan_out */                                 \
        int64_t n_params;                                                                       \
        real *params;           /* (n_params): per layer W (fan_out, fan_in), then b (fan_out) */ \
        real *grads;            /* (n_params): same layout; backward accumulates into it */     \
        real **W, **b;          /* (L) views into params */                                     \
        real **dW, **db;        /* (L) views into grads */                                      \
        real *arena;            /* activations, one allocation */                               \
        real **z;               /* (L) (max_batch, fan_out): dense outputs, pre-activation */   \
        real **h;               /* (L) (max_batch, fan_out): activations; h[L-1] = softmax */   \
        real **dz;              /* (L) (max_batch, fan_out): dloss/dz of the last backward */   \
        real *dh;               /* (max_batch, max_fan): scratch for dloss/dh */                \
        int batch;              /* rows of the last forward */                                  \
    } vg_mlp_##sfx;                                                                             \
                                                                                                \
    vg_status vg_mlp_##sfx##_create(vg_mlp_##sfx *m, const vg_mlp_shape *shape, vg_error *err); \
    void vg_mlp_##sfx##_free(vg_mlp_##sfx *m);                                                  \
    /* Draws every weight from rng in layer order, row-major; biases set to 0. Values are      \
     * drawn in double, so the f32 and f64 nets from the same seed agree to float rounding. */ \
    void vg_mlp_##sfx##_init(vg_mlp_##sfx *m, const vg_init_spec *init, vg_rng *rng);          \
    /* x (B, n_inputs), y (B) labels or NULL. Returns the mean cross-entropy over the batch    \
     * (0 when y is NULL) and adds the number of correct argmax predictions to *n_correct      \
     * when both are given. Keeps what backward needs. */                                     \
    double vg_mlp_##sfx##_forward(vg_mlp_##sfx *m, const real *x, const int32_t *y, int B,     \
                                  int64_t *n_correct);                                         \
    void vg_mlp_##sfx##_zero_grad(vg_mlp_##sfx *m);                                             \
    /* Gradients of the mean loss of the last forward (same x, y, B) ADDED to grads; fills dz. */ \
    void vg_mlp_##sfx##_backward(vg_mlp_##sfx *m, const real *x, const int32_t *y);            \
    /* params -= lr * grads */                                                                  \
    void vg_mlp_##sfx##_sgd_step(vg_mlp_##sfx *m, double lr);

VG__MLP_DECLARE(float, f32)
VG__MLP_DECLARE(double, f64)

/* Element-wise activation kernels (float, double): forward h = phi(z); backward
 * dz = dh * phi'(z), from z and h (whichever the derivative is cheaper from). n elements. */
void vg_act_forward_f32(float *h, const float *z, int64_t n, int activation);
void vg_act_backward_f32(float *dz, const float *dh, const float *z, const float *h, int64_t n,
                         int activation);
void vg_act_forward_f64(double *h, const double *z, int64_t n, int activation);
void vg_act_backward_f64(double *dz, const double *dh, const double *z, const double *h,
                         int64_t n, int activation);

#endif
