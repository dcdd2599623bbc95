/* The training core: a multilayer perceptron with its kernels, written once and compiled twice,
 * in float (vg_mlp_f32, what runs train with) and in double (vg_mlp_f64, what the
 * finite-difference tests prove the same code with). It knows BLAS and nothing else. Training
 * reaches it only through the model interface (vgsweep/model.h), which it implements
 * (nn/mlp_model_impl.h); these functions stay for the tests and benchmarks of the MLP alone.
 *
 * The net, with L = depth + 1 dense layers (docs/MODEL.md states it precisely enough to rebuild
 * any run in PyTorch):
 *
 *   h_0 = x
 *   hidden layer l = 1..depth:  z_l = h_{l-1} W_l^T + b_l          (dense; W_l (fan_out, fan_in))
 *                               u_l = norm(z_l)                     (none | batch | layer)
 *                               a_l = phi(u_l)                      (activation)
 *                               h_l = a_l, or h_{s-1} + scale * a_l at the end of a residual
 *                                     block of layers s..l
 *   output:                     z_L = h_{depth} W_L^T + b_L          (logits)
 *   loss:                       softmax cross-entropy, or MSE of the logits to one-hot
 *                               (mean over the batch, and over classes for MSE)
 *
 * Residual blocks (skip_every = k > 0): hidden layers 2..depth are grouped into consecutive
 * blocks of k layers (layer 1 maps the inputs to the width, so it has no shortcut); a block
 * s..s+k-1 adds its input h_{s-1} to scale times the output of its last activation. Layers
 * left over at the end, fewer than k, are plain.
 *
 * Memory: parameters and gradients live in one allocation each, with per-layer views (the
 * parameters of layer l are contiguous: W, b, then gamma, beta when normalized); the
 * activations needed by backward live in one arena sized for max_batch rows. Nothing is
 * allocated after vg_mlp_*_create, so a training step never calls malloc. */
#ifndef VGSWEEP_NN_H
#define VGSWEEP_NN_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/rng.h"

/* The architecture of a net, independent of the float type. */
typedef struct vg_mlp_shape {
    int n_inputs;     /* features */
    int depth;        /* hidden layers; the net has depth + 1 dense layers */
    int width;        /* units per hidden layer */
    int n_outputs;    /* classes */
    int activation;   /* vg_activation, applied after every hidden dense layer (and norm) */
    double leaky_slope, elu_alpha;
    int norm;         /* vg_norm */
    double norm_momentum, norm_eps;
    int skip_every;   /* 0: no residual blocks; 1 or 2: hidden layers per block */
    double skip_scale;
    int loss;         /* vg_loss */
    int max_batch;    /* most rows a forward/backward call may take */
    int target_kind;  /* vg_target_kind (vgsweep/targets.h): 0, class labels, unless REAL: real
                       * targets (n_outputs of them; loss MSE). STEP_CLASS is refused. */
} vg_mlp_shape;

/* The rule for the shape of dense layer l (0-based, of depth + 1): the one place it is
 * written (the net, its plan in vgsweep/model.h, the record's layout and the estimates all
 * come through it). */
static inline void vg_mlp_layer_fans(const vg_mlp_shape *s, int l, int *fan_in, int *fan_out) {
    *fan_in = l == 0 ? s->n_inputs : s->width;
    *fan_out = l == s->depth ? s->n_outputs : s->width;
}

/* How parameters start. */
typedef struct vg_init_spec {
    int kind;         /* vg_init */
    double std;       /* normal */
    double limit;     /* uniform */
    double gain;      /* multiplies every initializer's scale */
    double bias;      /* every bias */
} vg_init_spec;

/* What a forward pass is for. Only batch norm behaves differently. */
typedef enum vg_pass {
    VG_PASS_TRAIN, /* batch statistics; running statistics updated */
    VG_PASS_PROBE, /* batch statistics; nothing updated (gradient probes) */
    VG_PASS_EVAL,  /* running statistics (test evaluation) */
} vg_pass;

#define VG__MLP_DECLARE(real, sfx)                                                              \
    typedef struct vg_mlp_##sfx {                                                               \
        vg_mlp_shape shape;                                                                     \
        int n_layers;           /* L = depth + 1 dense layers, input side first */              \
        int *fan_in, *fan_out;  /* (L) */                                                       \
        int *block_start;       /* (L) 0-based first layer of the residual block that ends at   \
                                   layer l, or -1 when l ends none */                           \
        int max_fan;            /* largest fan_in or fan_out */                                 \
        int64_t n_params;                                                                       \
        int64_t *param_offset;  /* (L+1) layer l's parameters: [offset[l], offset[l+1]) */      \
        real *params;           /* (n_params) */                                                \
        real *grads;            /* (n_params): same layout; backward accumulates into it */     \
        real **W, **b;          /* (L) views: W (fan_out, fan_in), b (fan_out) */               \
        real **gamma, **beta;   /* (L) views (fan_out); NULL without norm and for layer L */    \
        real **dW, **db, **dgamma, **dbeta; /* (L) views into grads */                         \
        real *running;          /* batch norm state, not trained: per hidden layer           \
                                   running mean (fan_out) then running var (fan_out) */         \
        real **running_mean, **running_var; /* (L) views; NULL unless batch norm */             \
        real *arena;            /* activations, one allocation */                               \
        real **z;               /* (L) (max_batch, fan_out): dense outputs */                   \
        real **xhat;            /* (L) (max_batch, fan_out): normalized z, before gamma/beta */ \
        real **u;               /* (L) (max_batch, fan_out): activation inputs (z or norm(z)) */ \
        real **a;               /* (L) (max_batch, fan_out): activation outputs; a[L-1] holds \
                                   the softmax probabilities */                                 \
        real **h;               /* (L) layer outputs: a[l], or its own buffer at block ends */  \
        real **rstd;            /* (L) 1/sqrt(var + eps): (fan_out) batch, (max_batch) layer */ \
        real **dz;              /* (L) (max_batch, fan_out): dloss/dz of the last backward */   \
        real *grad_h;           /* (max_batch, max_fan): dloss/dh flowing down */               \
        real *grad_skip;        /* (max_batch, width): dloss/dh_{s-1} through a shortcut */     \
        real *grad_u;           /* (max_batch, width): dloss/du */                              \
        real *scratch;          /* (2 * max_fan): per-feature sums of batch norm */             \
        real *gemm_work;        /* the float kernel's packed panel (nn/gemm.c); NULL in double */ \
        int batch;              /* rows of the last forward */                                  \
    } vg_mlp_##sfx;                                                                             \
                                                                                                \
    vg_status vg_mlp_##sfx##_create(vg_mlp_##sfx *m, const vg_mlp_shape *shape, vg_error *err); \
    void vg_mlp_##sfx##_free(vg_mlp_##sfx *m);                                                  \
    /* Draws every weight from rng in layer order, row-major (in double, so the f32 and f64    \
     * nets from the same seed agree to float rounding); biases = init->bias; gamma = 1,       \
     * beta = 0; running mean 0, variance 1. */                                                 \
    void vg_mlp_##sfx##_init(vg_mlp_##sfx *m, const vg_init_spec *init, vg_rng *rng);          \
    /* x (B, n_inputs), y (B) labels or NULL. Returns the mean loss over the batch (0 when y   \
     * is NULL) and adds correct argmax predictions to *n_correct when both are given. Keeps   \
     * what backward needs. */                                                                  \
    double vg_mlp_##sfx##_forward(vg_mlp_##sfx *m, const real *x, const int32_t *y, int B,     \
                                  vg_pass pass, int64_t *n_correct);                           \
    void vg_mlp_##sfx##_zero_grad(vg_mlp_##sfx *m);                                             \
    /* Gradients of the mean loss of the last forward (same x, y) ADDED to grads; fills dz. */ \
    void vg_mlp_##sfx##_backward(vg_mlp_##sfx *m, const real *x, const int32_t *y);           \
    /* zero_grad + backward in one pass: the gradients are written, not added (what a training \
     * step wants; saves a pass over every gradient). */                                       \
    void vg_mlp_##sfx##_backward_set(vg_mlp_##sfx *m, const real *x, const int32_t *y);        \
    /* The same with real targets t (B, n_outputs) (shape.target_kind REAL): the loss is the   \
     * MSE of the outputs to t, mean over rows and outputs (torch.nn.MSELoss); no prediction  \
     * is scored. */                                                                            \
    double vg_mlp_##sfx##_forward_real(vg_mlp_##sfx *m, const real *x, const real *t, int B,   \
                                       vg_pass pass);                                           \
    void vg_mlp_##sfx##_backward_set_real(vg_mlp_##sfx *m, const real *x, const real *t);

VG__MLP_DECLARE(float, f32)
VG__MLP_DECLARE(double, f64)

/* Element-wise activation kernels (float, double): forward a = phi(u); backward
 * du = da * phi'(u), from u and a (whichever the derivative is cheaper from). n elements.
 * param is leaky_relu's slope or elu's alpha, ignored otherwise. */
void vg_act_forward_f32(float *a, const float *u, int64_t n, int activation, double param);
void vg_act_backward_f32(float *du, const float *da, const float *u, const float *a, int64_t n,
                         int activation, double param);
void vg_act_forward_f64(double *a, const double *u, int64_t n, int activation, double param);
void vg_act_backward_f64(double *du, const double *da, const double *u, const double *a,
                         int64_t n, int activation, double param);
/* The parameter the shape's activation takes: leaky_relu's slope, else elu's alpha (ignored by
 * the others). */
double vg_act_param(const vg_mlp_shape *shape);
/* The largest value phi' takes (the reference for "saturated": phi' < 5 % of it). */
double vg_act_max_slope(int activation, double param);

/* ------------------------------------------------------------------ optimizers */

/* The update rules follow torch.optim (SGD with momentum/Nesterov, Adam, RMSprop, Adagrad),
 * with weight decay added to the gradient (coupled L2, as torch.optim's weight_decay). */
typedef struct vg_optim_spec {
    int kind;          /* vg_optimizer */
    double momentum;   /* momentum */
    int nesterov;
    double beta1, beta2; /* adam */
    double rms_alpha;  /* rmsprop */
    double eps;        /* adam, rmsprop, adagrad */
    double weight_decay;
} vg_optim_spec;

typedef struct vg_optim_f32 {
    vg_optim_spec spec;
    int64_t n;       /* parameters */
    int64_t t;       /* steps taken */
    float *state1;   /* (n) momentum buffer, Adam's m, RMSprop's/Adagrad's square average */
    float *state2;   /* (n) Adam's v; NULL otherwise */
} vg_optim_f32;

vg_status vg_optim_f32_create(vg_optim_f32 *opt, const vg_optim_spec *spec, int64_t n,
                              vg_error *err);
void vg_optim_f32_free(vg_optim_f32 *opt);
/* One update of params (n) from grads (n) at learning rate lr. grads may be modified (weight
 * decay is added into it). */
void vg_optim_f32_step(vg_optim_f32 *opt, float *params, float *grads, double lr);

/* Which kernels the float core runs on this machine (the record's provenance): "avx512" (the
 * AVX-512 products and activations of an x86-64 CPU that has it) or "generic" (BLAS products,
 * scalar activations: every other CPU and architecture). Results differ between the two. */
const char *vg_nn_kernel_path(void);

#endif
