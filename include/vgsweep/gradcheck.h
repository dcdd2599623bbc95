/* The finite-difference gradient checker, over the model interface's double instantiation
 * (vgsweep/model.h): the proof that a kind's backward is the derivative of its forward, used by
 * tests/test_gradcheck.c for the MLP and by the recurrent nets' tests for theirs.
 *
 * For every trained parameter tensor of the model's plan it compares the analytic gradient
 * (one forward and backward on the batch) with a central difference of the loss in each entry:
 * a five-point stencil (truncation O(h^4)) at the steps h_k = 1e-2 / 2^k, k = 0..15, taking the
 * estimate of the adjacent pair that agrees best, counting the rounding floor of each estimate
 * (1.5 eps |loss| / h) into their disagreement (balancing truncation against rounding; without
 * the floor, two estimates at the smallest steps can agree exactly by quantization), and
 * skipping steps whose stencil moves a unit across an activation's kink (relu, leaky_relu, selu,
 * elu: seen through the probe views' activation inputs). An entry whose every step crosses a
 * kink has no derivative to compare; it is counted in n_kinks and left out.
 *
 * Two error measures:
 *  - per tensor: ||analytic - numeric|| / max(||analytic||, ||numeric||, 1e-4 ||g||), g the
 *    whole net's analytic gradient (a gradient identically zero, a bias before batch norm, is
 *    compared in absolute terms against 1e-4 of the net's norm), which stays meaningful for
 *    tensors whose entries are tiny (deep sigmoid nets);
 *  - per element: |a - n| / max(|a|, |n|) over the entries with |a| >= 1e-2 of the tensor's
 *    largest and >= 1e-9 ||g||. */
#ifndef VGSWEEP_GRADCHECK_H
#define VGSWEEP_GRADCHECK_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/model.h"

typedef struct vg_gradcheck_bounds {
    double tensor; /* worst per-tensor relative error allowed (the tests: 1e-6) */
    double element; /* worst per-element relative error allowed (the tests: 1e-5) */
} vg_gradcheck_bounds;

typedef struct vg_gradcheck_result {
    double loss;         /* of the batch, at the model's parameters */
    double grad_norm;    /* ||g||: the whole analytic gradient's norm */
    double tensor_err;   /* worst per-tensor relative error ... */
    int tensor_worst;    /* ... in this tensor of the plan (-1: none checked) */
    double element_err;  /* worst per-element relative error ... */
    int element_tensor;  /* ... in this tensor of the plan (-1: none) ... */
    int64_t element_index; /* ... at this flat index into it */
    int64_t n_checked;   /* entries compared */
    int64_t n_kinks;     /* entries skipped: every step crossed an activation's kink */
} vg_gradcheck_result;

/* Checks every trained tensor of m on batch b (forward passes VG_PASS_PROBE: nothing updated).
 * Parameters are restored exactly; m's gradients hold the analytic gradient afterwards.
 * Returns VG_OK when both errors are within bounds (bounds NULL: no bounds); VG_ENUMERIC
 * when one is not, or when the loss or the gradient is not finite, with a message naming the
 * tensor, its layer and the element; VG_ENOMEM. *res is filled in every case but ENOMEM. */
vg_status vg_gradcheck_f64(vg_model_f64 *m, const vg_batch_f64 *b,
                           const vg_gradcheck_bounds *bounds, vg_gradcheck_result *res,
                           vg_error *err);

#endif
