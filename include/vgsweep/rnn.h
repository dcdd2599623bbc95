/* The recurrent training core: vanilla RNN, LSTM and GRU cells, stacked, with a dense read-out,
 * trained by backpropagation through time (full or truncated). Written once and compiled twice
 * like the MLP (include/vgsweep/nn.h): vg_rnn_f32 (what runs train with) and vg_rnn_f64 (what
 * the finite-difference tests prove the same code with).
 *
 * The net (docs/MODEL.md, "Recurrent nets", states it precisely enough to rebuild any run in
 * PyTorch). Recurrent layers l = 0..depth-1, input h^{-1}_t = x_t (n_inputs), h^l_0 = c^l_0 = 0
 * (or a given initial state), for t = 1..T, with G gate blocks of H = hidden units (PyTorch's
 * layout and gate order):
 *
 *   rnn  (G = 1):  h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)            phi: activation
 *   lstm (G = 4):  [i f g o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
 *                  i, f, o = sigmoid(.), g = tanh(.)
 *                  c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
 *   gru  (G = 3):  [r z .] = sigmoid(W_i[rz] x_t + b_i[rz] + W_h[rz] h_{t-1} + b_h[rz])
 *                  n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
 *                  h_t = (1 - z) * n + z * h_{t-1}
 *
 * where x_t of layer l > 0 is h^{l-1}_t. Read-out (layer `depth`, dense): logits_t =
 * W_out h^{depth-1}_t + b_out, at t = T (CLASS, REAL) or at every t (STEP_CLASS). Loss: softmax
 * cross-entropy or MSE (to one-hot for class targets, mean over outputs), mean over the scored
 * (row, step) pairs: B rows for CLASS and REAL, the steps with y >= 0 for STEP_CLASS.
 *
 * Truncated BPTT (bptt = K > 0) is what PyTorch computes when the carried state is detached
 * every K steps counted from the start (h = h.detach(), and c for the LSTM, before steps K+1,
 * 2K+1, ...) and the loss of the whole sequence is backpropagated once: the gradient flowing
 * from step t+1 into h_t (and c_t) through the recurrence is dropped at t = K, 2K, ...; the
 * gradient reaching h_t from the read-out and from the layer above is kept, and the weight
 * gradients of step t+1 still see the value of h_t. K = 0 (or K >= T): full BPTT.
 *
 * Memory: parameters and gradients in one allocation each, layer l's parameters contiguous in
 * [param_offset[l], param_offset[l+1]) (W_ih, W_hh, b_ih, b_hh; the read-out's W, b); the
 * activations of all T steps in one arena sized for max_batch and T, time-major. Nothing is
 * allocated after vg_rnn_*_create, so a training step never calls malloc. */
#ifndef VGSWEEP_RNN_H
#define VGSWEEP_RNN_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/nn.h"
#include "vgsweep/rng.h"
#include "vgsweep/settings.h" /* vg_recurrent_init: the model.recurrent_init setting's values */

typedef enum vg_cell { VG_CELL_RNN = 0, VG_CELL_LSTM, VG_CELL_GRU, VG_CELL_COUNT } vg_cell;

/* Gate blocks per cell (G): 1, 4, 3. */
int vg_cell_gates(int cell);
/* "rnn", "lstm", "gru" */
const char *vg_cell_name(int cell);

typedef struct vg_rnn_shape {
    int cell;        /* vg_cell */
    int n_inputs;    /* features per time step */
    int hidden;      /* H: units per recurrent layer */
    int depth;       /* stacked recurrent layers (>= 1); the read-out is layer `depth` */
    int n_outputs;   /* classes, or real targets (REAL) */
    int steps;       /* T */
    int activation;  /* vg_activation of the vanilla RNN (tanh by default); LSTM/GRU ignore it */
    double act_param;/* leaky_relu's slope or elu's alpha (vg_act_param's meaning) */
    int loss;        /* vg_loss: cross_entropy or mse (REAL targets: mse only) */
    int target;      /* vg_target_kind (vgsweep/targets.h) */
    int bptt;        /* K: truncation every K steps; 0 = full BPTT */
    int max_batch;   /* most rows a forward/backward call may take */
} vg_rnn_shape;

/* How a recurrent net starts. Input weights W_ih and the read-out use the MLP's initializers
 * (vg_init_spec; input: fan_in = the layer's input size, fan_out = G H, the whole (G H, in)
 * matrix drawn as one); the recurrent weights W_hh gate block by gate block (each (H, H)). */
/* The recurrent initializers are the model.recurrent_init setting's values (vg_recurrent_init,
 * vgsweep/settings.h): standard (PyTorch's default for recurrent layers, U(-1/sqrt(H),
 * 1/sqrt(H))), normal (N(0, std^2)), uniform (U(-limit, limit)), xavier_uniform (gain U(-a, a),
 * a = sqrt(6 / (H + H)) per block), xavier_normal (gain N(0, 2 / (H + H))), orthogonal (gain times
 * an orthogonal Q per block, torch.nn.init.orthogonal_), identity (scale times I per block: the
 * IRNN of Le et al. 2015, with relu and scale 1). */

typedef struct vg_rnn_init_spec {
    vg_init_spec input;    /* W_ih of every layer (bias: see below) */
    vg_init_spec readout;  /* W_out, b_out (bias = readout.bias) */
    int recurrent;         /* vg_recurrent_init, for W_hh */
    double rec_value;      /* gain (orthogonal, xavier_*), scale (identity), std (normal),
                              limit (uniform, and standard's U(-limit, limit)); <= 0: 1 (std,
                              limit: 1/sqrt(H)). train's factory folds model.recurrent_gain in:
                              gain * std, gain * limit, gain / sqrt(H) for standard */
    double bias;           /* b_ih and b_hh of every recurrent layer */
    double forget_bias;    /* LSTM: b_ih's forget block is bias + forget_bias (b_hh's stays
                              bias), so the forget gate starts at sigmoid(2 bias + forget_bias);
                              the documented default is 1 (Jozefowicz et al. 2015; PyTorch's
                              nn.LSTM has no such offset) */
} vg_rnn_init_spec;

/* Defaults: input xavier_uniform, read-out xavier_uniform, recurrent orthogonal gain 1,
 * biases 0, forget_bias 1. */
void vg_rnn_init_defaults(vg_rnn_init_spec *init);

/* The statistics a backward flagged for them leaves (double, whatever the net's type). */
typedef struct vg_rnn_stats {
    double *grad_h2;  /* (depth, T): sum over the batch of ||dloss/dh^l_t||^2, the total
                         gradient reaching h^l_t (read-out, layer above, recurrence unless cut);
                         entry [l][t] is the state after 0-based step t (h_{t+1} above) */
    double *grad_c2;  /* (depth, T): LSTM: the same for c^l_t; NULL otherwise */
    double *saturated;/* (depth, G): fraction of gate units (over batch, steps, units) within
                         0.01 of a sigmoid's 0 or 1 (tanh blocks: of -1 or 1); vanilla RNN: its
                         activation's units when tanh, sigmoid or softsign, else 0 */
} vg_rnn_stats;

#define VG__RNN_DECLARE(real, sfx)                                                              \
    typedef struct vg_rnn_##sfx {                                                               \
        vg_rnn_shape shape;                                                                     \
        int gates;              /* G */                                                         \
        int n_layers;           /* depth + 1: the recurrent layers then the read-out */         \
        int *fan_in;            /* (depth) input size of recurrent layer l */                   \
        int64_t n_params;                                                                       \
        int64_t *param_offset;  /* (depth + 2) layer l's parameters: [offset[l], offset[l+1]) */ \
        real *params;           /* (n_params) */                                                \
        real *grads;            /* (n_params): same layout; backward writes it */               \
        real **W_ih, **W_hh;    /* (depth) views: (G H, fan_in), (G H, H) */                    \
        real **b_ih, **b_hh;    /* (depth) views: (G H) */                                      \
        real **W_hhT;           /* (depth) (H, G H): W_hh transposed by each forward, so that   \
                                   every step's product reads it in place (in the arena) */     \
        real **dW_ih, **dW_hh, **db_ih, **db_hh; /* (depth) views into grads */                 \
        real *W_out, *b_out;    /* (n_outputs, H), (n_outputs) */                               \
        real *dW_out, *db_out;                                                                  \
        real *arena;            /* activations, one allocation; all time-major */               \
        real *x_tm;             /* (T, max_batch, n_inputs): x transposed to time-major */      \
        real **gate;            /* (depth) (T, B, G H): pre-activations with the input          \
                                   projection, then the gates' activations (LSTM, GRU); the     \
                                   vanilla RNN keeps its pre-activations here */                \
        real **hs;              /* (depth) (T + 1, B, H): slot 0 = h_0 = 0, slot t = h_t */     \
        real **cs;              /* (depth) LSTM (T + 1, B, H): c_t likewise; NULL otherwise */  \
        real **tc;              /* (depth) LSTM (T, B, H): tanh(c_t); NULL otherwise */         \
        real **hn;              /* (depth) GRU (T, B, H): W_hn h_{t-1} + b_hn; NULL otherwise */ \
        real **dpre;            /* (depth) (T, B, G H): dloss/d(pre-activations) of the last    \
                                   backward, input side (GRU: the n block is dloss/dn_pre) */   \
        real **dhp;             /* (depth) GRU (T, B, G H): dloss/d(W_hh h + b_hh); else = dpre */ \
        real *logits;           /* (T_out, B, n_outputs), T_out = T for STEP_CLASS else 1 */   \
        real *probs;            /* (T_out, B, n_outputs) softmax (cross-entropy) */             \
        real *dlogits;          /* (T_out, B, n_outputs): dloss/dlogits of the last backward */ \
        real *dseq;             /* (T, B, H): dloss/dh^l_t from the read-out or layer above     \
                                   (the top layer with a loss at the last step: slot T-1 only) */ \
        real *dh, *dc, *step_buf; /* (B, H) each: backward's carried gradients; scratch */      \
        real *hp;               /* (B, G H): GRU's per-step W_hh h + b_hh */                    \
        real *gemm_work;        /* the float kernel's scratch (nn/gemm.c); NULL in double */    \
        vg_rnn_stats stats;     /* filled by a backward with stats = 1 */                       \
        const real *h0, *c0;    /* (depth, max_batch, H) the state forwards start from;        \
                                   NULL: zeros (vg_rnn_*_set_initial_state) */                 \
        int batch;              /* rows of the last forward */                                  \
        int64_t n_scored;       /* scored (row, step) pairs of the last forward */             \
    } vg_rnn_##sfx;                                                                             \
                                                                                                \
    vg_status vg_rnn_##sfx##_create(vg_rnn_##sfx *m, const vg_rnn_shape *shape, vg_error *err); \
    void vg_rnn_##sfx##_free(vg_rnn_##sfx *m);                                                  \
    /* Draws every parameter from rng (in double, so the f32 and f64 nets from the same seed   \
     * agree to float rounding), layer by layer: W_ih, W_hh block by block, then the read-out. */ \
    void vg_rnn_##sfx##_init(vg_rnn_##sfx *m, const vg_rnn_init_spec *init, vg_rng *rng);      \
    /* The state h^l_0 (and the LSTM's c^l_0) the next forwards start from: h0, c0 (depth, B,  \
     * H), row b of layer l at (l B + b) H, B the forward's rows; NULL: zeros, the default.    \
     * Kept by pointer, not copied. The backward treats h_0 as a constant, as truncated BPTT   \
     * treats the state at a cut: this is what lets tests/test_rnn_gradcheck.c prove a        \
     * truncated gradient against finite differences, chunk by chunk from the states at the   \
     * cuts, and what a stateful (streamed) sequence would start from. */                      \
    void vg_rnn_##sfx##_set_initial_state(vg_rnn_##sfx *m, const real *h0, const real *c0);    \
    /* x (B, T n_inputs), time-major within a sample. Targets by shape.target: y (B) for       \
     * CLASS, y (B, T) with -1 for unscored steps for STEP_CLASS, t (B, n_outputs) for REAL;    \
     * both NULL: no loss (0). Returns the mean loss over the scored pairs; adds correct argmax \
     * predictions to *n_correct and scored pairs to *n_scored (either may be NULL; REAL       \
     * targets count no correct ones). Keeps what backward needs. */                           \
    double vg_rnn_##sfx##_forward(vg_rnn_##sfx *m, const real *x, const int32_t *y,            \
                                  const real *t, int B, int64_t *n_correct, int64_t *n_scored); \
    /* Gradients of the mean loss of the last forward (same x, y, t) WRITTEN to grads; fills   \
     * dpre, dlogits; with stats = 1 also m->stats. */                                          \
    void vg_rnn_##sfx##_backward_set(vg_rnn_##sfx *m, const real *x, const int32_t *y,         \
                                     const real *t, int stats);                                \
    /* out (depth, G): the norm of each gate block's gradient, its rows of dW_ih, dW_hh, db_ih,  \
     * db_hh (LSTM i, f, g, o; GRU r, z, n; the vanilla RNN's one block): per-gate weight-      \
     * gradient norms, from the last backward. */                                               \
    void vg_rnn_##sfx##_gate_grad_norms(const vg_rnn_##sfx *m, double *out);                    \
    /* Multiply-adds x 2 of one forward + backward of B rows (the bench's GFLOP count). */      \
    double vg_rnn_##sfx##_step_flops(const vg_rnn_##sfx *m, int B);

VG__RNN_DECLARE(float, f32)
VG__RNN_DECLARE(double, f64)

#endif
