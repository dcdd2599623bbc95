/* One run: build the model, train it, and take probe checkpoints.
 *
 * Checkpoint k = 0 is at initialization, k = e after epoch e (k = 0..E). At each checkpoint the
 * gradients of the mean loss are computed on the probe batch (the first record.probe training
 * samples) without touching the weights, and handed to the checkpoint hook, which is how the
 * recorder streams full tensors to disk without the run holding E+1 copies of the model. */
#ifndef VGSWEEP_TRAIN_H
#define VGSWEEP_TRAIN_H

#include <stdint.h>

#include "vgsweep/data.h"
#include "vgsweep/error.h"
#include "vgsweep/settings.h"

#define VG_RUN_STATUSES(X)                                                   \
    X(PENDING, "pending")                                                    \
    X(OK, "ok")                                                              \
    X(DIVERGED, "diverged")                                                  \
    X(FAILED, "failed")

typedef enum vg_run_status {
#define X(name, text) VG_RUN_##name,
    VG_RUN_STATUSES(X)
#undef X
        VG_RUN_STATUS_COUNT
} vg_run_status;
extern const char *const vg_run_status_names[];

/* Shapes of a run's record, known before training starts. */
typedef struct vg_run_layout {
    int n_epochs;      /* E */
    int n_checkpoints; /* E + 1 */
    int n_layers;      /* L = depth + 1 dense layers, input side first */
    int *fan_in;       /* (L) */
    int *fan_out;      /* (L) */
} vg_run_layout;

/* What a run produced besides the streamed tensors. Per-epoch series hold NaN for epochs that
 * were not reached (a diverged run keeps its shape). */
typedef struct vg_run_result {
    vg_run_status status;
    char message[1024];     /* why it diverged or failed; empty when ok */
    int epochs_done;
    double wall_seconds;
    vg_run_layout layout;
    double *loss;          /* (E) mean training loss over the epoch's steps */
    double *accuracy;      /* (E) training accuracy over the epoch's steps */
    double *test_loss;     /* (E) on the test set after the epoch */
    double *test_accuracy; /* (E) */
    double *grad_norm;     /* (E+1, L) Frobenius norm of dloss/dW on the probe batch */
    double *delta_rms;     /* (E+1, L) RMS of dloss/dz over probe samples and units */
} vg_run_result;

/* Called at each checkpoint k with the probe gradients, layer by layer:
 * grad_W[l] (fan_out, fan_in), grad_b[l] (fan_out). Views: valid only during the call. */
typedef struct vg_checkpoint_hook {
    void *ctx;
    vg_status (*fn)(void *ctx, int k, const float *const *grad_W, const float *const *grad_b,
                    vg_error *err);
} vg_checkpoint_hook;

/* Allocates the result's arrays for cfg (NaN-filled) and its layout. */
vg_status vg_run_result_init(vg_run_result *res, const vg_run_config *cfg, const vg_dataset *ds,
                             vg_error *err);
void vg_run_result_free(vg_run_result *res);

/* Trains one configuration. Divergence (a non-finite loss or gradient) is not an error: the
 * run ends with status diverged and a message. An error return means the run could not be
 * carried out (out of memory, a failing hook); res->status is then failed. */
vg_status vg_train_run(const vg_run_config *cfg, const vg_dataset *ds, vg_run_result *res,
                       const vg_checkpoint_hook *hook, vg_error *err);

#endif
