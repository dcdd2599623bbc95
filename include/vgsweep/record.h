/* The HDF5 record: one file per sweep. This is the only module that calls HDF5. Every public
 * call takes the recorder's lock, so worker threads may call it directly: HDF5 is touched by
 * one thread at a time. The layout is documented in docs/FORMAT.md.
 *
 *   /                      attrs: format, format_version, program_version, sweep_file,
 *                                 sweep_text, sweep_name, sweep_seed, n_runs
 *   /runs/<id>/            attrs: every resolved setting, id, seed, repeat, index, status, ...
 *   /runs/<id>/loss ... grad_norm, delta_rms, layers/<NN>/grad_W, layers/<NN>/grad_b
 */
#ifndef VGSWEEP_RECORD_H
#define VGSWEEP_RECORD_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/settings.h"
#include "vgsweep/train.h"

#define VG_FORMAT_NAME "vgsweep"
#define VG_FORMAT_VERSION 1

typedef struct vg_sweep_info {
    const char *sweep_file; /* path as given */
    const char *sweep_name;
    const char *sweep_text; /* the YAML, verbatim */
    uint64_t sweep_seed;
    int64_t n_runs;
    const char *command_line;
} vg_sweep_info;

typedef struct vg_recorder vg_recorder;
typedef struct vg_run_writer vg_run_writer;

/* Creates the output. The file is written under "<path>.tmp" and renamed into place by
 * vg_recorder_close, so a reader never sees a half-made file under the final name. */
vg_status vg_recorder_create(const char *path, const vg_sweep_info *info, vg_recorder **out,
                             vg_error *err);
/* Finishes and renames the file; frees the recorder even on error. */
vg_status vg_recorder_close(vg_recorder *rec, vg_error *err);
/* Closes and deletes the temporary file (after an error that must leave nothing behind). */
void vg_recorder_abort(vg_recorder *rec);

/* Opens /runs/<cfg->id>, writes the settings as attributes and creates the tensor datasets
 * for the layout (when cfg->record_tensors). */
vg_status vg_recorder_begin_run(vg_recorder *rec, const vg_run_config *cfg,
                                const vg_run_layout *layout, vg_run_writer **out,
                                vg_error *err);
/* Writes checkpoint k of the per-layer gradient tensors: grad_W[l] (fan_out, fan_in),
 * grad_b[l] (fan_out), float32. A no-op when the run does not record tensors. */
vg_status vg_run_writer_checkpoint(vg_run_writer *w, int k, const float *const *grad_W,
                                   const float *const *grad_b, vg_error *err);
/* Writes the series and statistics of res, the status attributes, closes the run's group and
 * frees w (also on error). */
vg_status vg_recorder_end_run(vg_run_writer *w, const vg_run_result *res, vg_error *err);

#endif
