/* One run: build the model, train it, and take probe checkpoints.
 *
 * Checkpoint k = 0 is at initialization, k = e after epoch e (k = 0..E). At each checkpoint the
 * gradients of the mean loss are computed on the probe batch (the first record.probe training
 * samples) without touching the weights (record.probe 0: no probe, only the weight norms and
 * weights). Full tensors (gradients, weights) go to the checkpoint hook as they are made,
 * which is how the recorder streams them to disk without the run holding E+1 copies of the
 * model; statistics accumulate in the run's series. */
#ifndef VGSWEEP_TRAIN_H
#define VGSWEEP_TRAIN_H

#include <stdatomic.h>
#include <stdint.h>

#include "vgsweep/contract.h"
#include "vgsweep/data.h"
#include "vgsweep/error.h"
#include "vgsweep/settings.h"

/* What a run produced besides the streamed tensors: every series it writes at its end.
 * Per-epoch and per-checkpoint values that were not reached hold NaN (a diverged run keeps its
 * shapes). The typed pointers are views into the series, for the scheduler and tests. With
 * record.probe 0 the series computed on the probe batch (those under probe/, grad_norm,
 * delta_rms, act_..., grad_hist...) are not part of the result at all.
 * The record's view of it (contract.h) is `output` (what vg_recorder_end_run takes) and
 * `layout` (what vg_recorder_begin_run takes); output's fields are also members of the result
 * itself (res->status is res->output.status). */
typedef struct vg_run_result {
    union {
        vg_run_output output;
        struct {
            VG_RUN_OUTPUT_FIELDS
        };
    };
    vg_run_layout layout;  /* axes, tensor specs, run attributes (n_layers, n_epochs, ...);
                            * n_axes 0: not even the plan could be made */
    double *loss;          /* (E) mean training loss over the epoch's steps */
    double *accuracy;      /* (E) training accuracy over the epoch's steps */
    double *test_loss;     /* (E) on the test set after the epoch */
    double *test_accuracy; /* (E) */
    double *grad_norm;     /* (E+1, L) Frobenius norm of dloss/dW on the probe batch; NULL
                            * (and no such series) when record.probe is 0 */
    double *delta_rms;     /* (E+1, L) RMS of dloss/dz over probe samples and units; NULL too */
    void *storage;         /* the producer's own allocation behind the tensor specs and axes */
} vg_run_result;

/* The /index columns the training stage asks the record for (the final loss, accuracy, test
 * loss and test accuracy), for vg_sweep_info. */
extern const vg_index_column vg_train_index_columns[];
extern const int vg_train_n_index_columns;

/* The series of res named name, or NULL. */
const vg_series *vg_run_result_find(const vg_run_result *res, const char *name);

/* Where a run shows how far it is, for a progress display on another thread: the run stores
 * into it at every training step with relaxed atomic stores (no lock, no fence: the step must
 * not slow down for a display). A reader may see fields of neighbouring steps together. */
typedef struct vg_train_progress {
    atomic_int epoch;   /* 1-based epoch being trained; 0 before the first */
    atomic_llong step;  /* training steps done, counted over the run */
    atomic_llong steps; /* training steps of the whole run (set when it starts) */
    _Atomic double loss; /* minibatch loss of the last step; NaN before the first */
} vg_train_progress;

/* fn is called with slot `slot` of tensor `tensor` (an index into layout.tensors): data has
 * the spec's dims. A view, valid only during the call. fn may be NULL. */
typedef struct vg_checkpoint_hook {
    void *ctx;
    vg_status (*fn)(void *ctx, int tensor, int slot, const float *data, vg_error *err);
    vg_train_progress *progress; /* NULL: none; else updated at every step */
    /* NULL: never; else polled at every step and checkpoint: once nonzero the run stops there,
     * before its end, and returns VG_OK with res->status still VG_RUN_PENDING: not a result,
     * nothing of it is to be recorded. Set from a signal handler, hence an atomic. */
    const atomic_int *stop;
} vg_checkpoint_hook;

/* Allocates the layout, the tensor specs and every series of a run of cfg (NaN-filled), before
 * anything is trained. When the series' values cannot be allocated it returns VG_ENOMEM (the
 * message gives the bytes) but keeps the layout and tensor specs with no series (n_series 0),
 * so the run can still be recorded as failed; vg_run_result_free frees it either way. */
vg_status vg_run_result_init(vg_run_result *res, const vg_run_config *cfg, vg_error *err);
/* The same plan without the series' values (every data pointer NULL, the typed views NULL):
 * what the dry run and the memory estimates size, in a few bytes per layer and tensor. */
vg_status vg_run_result_plan(vg_run_result *res, const vg_run_config *cfg, vg_error *err);
void vg_run_result_free(vg_run_result *res);

/* Trains one configuration (hook may be NULL). Divergence (a non-finite loss or gradient, or without a probe
 * batch non-finite parameters at a checkpoint) is not an error: the run ends with status
 * diverged and a message. An error return means the run could not be carried out (out of
 * memory, a failing hook); res->status is then failed. */
vg_status vg_train_run(const vg_run_config *cfg, const vg_dataset *ds, vg_run_result *res,
                       const vg_checkpoint_hook *hook, vg_error *err);

/* Floating-point operations a run of cfg performs (training, evaluation and probes, none when
 * record.probe is 0), for the dry run's cost estimate. */
double vg_train_estimate_flops(const vg_run_config *cfg);

/* How long a run of cfg takes, in FLOP-equivalents: its FLOPs plus its element-wise work
 * (activations, normalization), weighted by what it costs here. The scheduler starts the
 * longest runs first by it. */
double vg_train_estimate_cost(const vg_run_config *cfg);

/* main() has malloc keep freed blocks under this size for the next run (mallopt
 * M_MMAP_THRESHOLD); larger ones go back to the system when freed. */
#define VG_MALLOC_KEEPS_BELOW (64.0 * 1024 * 1024)

/* Bytes a run of cfg allocates while it trains (net parameters and gradients, activation
 * arena, optimizer state, training buffers, the data set), from the settings alone (nothing
 * is allocated, absurd sizes do not overflow); *result_bytes (if not NULL) gets the bytes of
 * its result (every series' values, layout, tensor specs), held from start to end;
 * *kept_bytes (if not NULL) the part of the training memory in blocks under
 * VG_MALLOC_KEEPS_BELOW, which stays in the heap after the training ends. */
double vg_train_estimate_memory(const vg_run_config *cfg, double *result_bytes, double *kept_bytes);

#endif
