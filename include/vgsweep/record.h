/* The HDF5 record: one file per sweep. This is the only module that calls HDF5. Every public
 * call takes the recorder's lock around its HDF5 calls, so worker threads may call it directly:
 * HDF5 is touched by one thread at a time. The layout is documented in docs/FORMAT.md.
 *
 *   /                      attrs: format, format_version, provenance, the sweep file, ...
 *   /index                 one row per run: id, status, the varying settings, final losses
 *   /runs/<id>/            attrs: every resolved setting, id, seed, repeat, index, status, ...
 *   /runs/<id>/<axis>      every vg_axis of its layout: a dimension scale (checkpoint, ...)
 *   /runs/<id>/<series>    every vg_series of the run's output (loss, grad_norm, ...)
 *   /runs/<id>/<tensor>    every vg_tensor_spec of its layout (layers/<NN>/grad_W, ...)
 * What a run records is declared by its producer in the run contract (contract.h): the
 * record knows nothing of nets, layers or epochs.
 *
 * Crash safety: each run is written to its own part file, <output>.parts/<id>.h5.tmp, which is
 * synced and renamed to <id>.h5 when the run ends; end_run then copies the run into
 * <output>.tmp, the output being assembled. vg_recorder_close adds what needs every run
 * (/index, the root attributes), syncs <output>.tmp and renames it to <output>. At no instant
 * does a kill lose a finished run or leave a half-written file under a final name;
 * VG_RECORD_RESUME picks up the parts and rebuilds <output>.tmp from them.
 */
#ifndef VGSWEEP_RECORD_H
#define VGSWEEP_RECORD_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/settings.h"
#include "vgsweep/contract.h"

#define VG_FORMAT_NAME "vgsweep"
#define VG_FORMAT_VERSION 2

/* What vg_recorder_create does with an existing output or parts directory. */
typedef enum vg_record_mode {
    VG_RECORD_NEW = 0, /* refuse (VG_EUSAGE) an existing output or <output>.parts */
    VG_RECORD_FORCE,   /* delete an existing output and its parts first */
    VG_RECORD_RESUME   /* keep every finished run of <output>.parts and of the existing output
                        * (those outside the sweep too, unless prune); start afresh when there
                        * are none */
} vg_record_mode;

typedef struct vg_sweep_info {
    const char *sweep_file; /* path as given */
    const char *sweep_name;
    const char *sweep_text; /* the YAML, verbatim */
    uint64_t sweep_seed;
    int64_t n_runs;
    const char *command_line;
    /* The expanded grid, (n_runs) in grid order: the runs the output will hold. Read until
     * the recorder is closed. */
    const vg_run_config *runs;
    const int *varying; /* (n_varying) setting ids that vary across the grid: /index columns */
    int n_varying;
    /* The /index columns after the settings, each the final value of a series (the
     * producer's, e.g. vg_train_index_columns); at most VG_MAX_INDEX_COLUMNS. */
    const vg_index_column *index_columns;
    int n_index_columns;
    /* Versions of the libraries the recorder cannot ask itself (it only calls HDF5 and zlib),
     * e.g. "libyaml 0.2.5; OpenBLAS 0.3.21"; NULL: none. */
    const char *libraries;
    vg_record_mode mode;
    /* VG_RECORD_RESUME: drop the finished runs that are not among runs (they are kept, and
     * listed in /index as outside the sweep, without it). */
    int prune;
    /* The files the sweep was read from (the sweep file and those it extends): the output and
     * the files vgsweep makes beside it must not be one of them. */
    const char *const *inputs;
    int n_inputs;
} vg_sweep_info;

/* What vg_recorder_create found, for the CLI to report. */
typedef struct vg_record_stats {
    int64_t n_runs;    /* runs of the sweep */
    int64_t n_reused;  /* already finished (parts or existing output): not run again */
    int64_t n_kept;    /* finished runs outside the sweep (or --only filter) kept as they are */
    int64_t n_dropped; /* finished runs outside the sweep dropped (prune) */
    int64_t n_broken;  /* part files that could not be read: their runs are run again */
    int resumed;       /* VG_RECORD_RESUME found a parts directory or an output */
    int manifest_rebuilt;     /* the parts directory had lost its manifest: written again */
    int64_t n_manifest_parts; /* the readable parts it was rebuilt from */
} vg_record_stats;

/* Ownership of an output (lock.c): a lock on <output>.lock, held while <output>, <output>.tmp
 * and <output>.parts are written or deleted, released when the holder ends (also by a kill).
 * Taking a held lock fails (VG_EUSAGE) with a message naming the holder's pid, host and start
 * time. vg_recorder_create takes it itself; anything else that modifies an output (a merge)
 * takes it first. */
typedef struct vg_output_lock vg_output_lock;
vg_status vg_output_lock_take(const char *output, vg_output_lock **out, vg_error *err);
/* Deletes the lock file and releases the lock. NULL: nothing. */
void vg_output_lock_release(vg_output_lock *lock);

typedef struct vg_recorder vg_recorder;
typedef struct vg_run_writer vg_run_writer;

/* Prepares the output <path>: checks the names derived from it fit the system's limits,
 * creates its directory (mkdir -p) and checks it is writable, refuses an output that is not a
 * regular file or is one of info->inputs, takes the output's lock, applies info->mode to
 * what is already there (an output or parts directory of another sweep, told apart by sweep
 * name and seed, is an error that changes nothing) and creates <path>.parts. info and what it
 * points to must stay valid until the recorder is closed. */
vg_status vg_recorder_create(const char *path, const vg_sweep_info *info, vg_recorder **out,
                             vg_error *err);
void vg_recorder_stats(const vg_recorder *rec, vg_record_stats *out);
/* Whether run `id` was finished before this session (resume): the scheduler skips it.
 * Safe to call from any thread. */
int vg_recorder_run_done(const vg_recorder *rec, const char *id);
/* When every run of the sweep is recorded: completes the output (copies the runs not yet in
 * it, among them those reused from the old output; writes /index and the root attributes),
 * renames it into place and deletes the parts. Otherwise, or on error (also one of an earlier
 * copy into the output), the parts stay for VG_RECORD_RESUME and the error says so. Frees the
 * recorder. */
vg_status vg_recorder_close(vg_recorder *rec, vg_error *err);
/* Stops without assembling: the finished runs stay in <path>.parts for a later resume;
 * nothing else is left behind. Frees the recorder. */
void vg_recorder_abort(vg_recorder *rec);

/* Starts the part file of run cfg->id (one of info->runs) with its settings and layout (axes,
 * tensor specs, attributes), checked here: VG_EINTERNAL for a layout that breaks the contract
 * (a bad name, a dimension whose axis is not declared or has another length, ...). layout and
 * what it points to must stay valid until end_run. */
vg_status vg_recorder_begin_run(vg_recorder *rec, const vg_run_config *cfg,
                                const vg_run_layout *layout, vg_run_writer **out,
                                vg_error *err);
/* Writes slot `slot` of tensor `tensor` (an index into the layout's tensor specs): data has
 * the spec's dims, float32. Compresses outside the lock, so workers compress in parallel; when
 * the lock is taken the compressed slot may wait in w for a later call (an error writing it is
 * then returned by that call or by end_run). */
vg_status vg_run_writer_tensor(vg_run_writer *w, int tensor, int slot, const float *data,
                               vg_error *err);
/* Writes every series of out and the status attributes, then makes the part file durable
 * (fsync, atomic rename): from then on the run survives any crash. Then copies the run into the
 * output being assembled (with a share of the runs reused from before this session); a failure
 * there does not fail the run: the output is dropped and vg_recorder_close reports it. When
 * there is no memory to write the series, the run is kept as failed without them: out's
 * status and message say so. Every dimension of a series must be one of the layout's axes
 * (VG_EINTERNAL otherwise). Frees w (also on error; a run whose writer failed is not kept). */
vg_status vg_recorder_end_run(vg_run_writer *w, vg_run_output *out, vg_error *err);

/* Drops a run that stopped before its end (interrupted): its unfinished part file is deleted
 * and the run is left to do, so that a later VG_RECORD_RESUME runs it again; the recorder
 * closes or aborts as if it had never begun. Frees w. */
void vg_run_writer_discard(vg_run_writer *w);

/* Bytes a run of that layout and planned output (its series' shapes; data may be NULL) adds
 * to the file (compressed tensors included, at the layout's tensor_ratio), for the dry run's
 * size estimate; the model is in docs/FORMAT.md ("Size"). */
int64_t vg_record_estimate_bytes(const vg_run_layout *layout, const vg_run_output *plan);
/* Bytes the recorder holds for such a run from its begin_run to its end_run (the part's write
 * buffer, the compressor, the tensors kept whole until the end); *at_end (if not NULL) gets
 * what end_run adds (the output payload, the part mapped while the run is written into the
 * output, HDF5's work). For the memory budget. */
double vg_record_estimate_memory(const vg_run_layout *layout, const vg_run_output *plan,
                                 double *at_end);
/* Whether the recorder can keep a run of that layout (a tensor slot under HDF5's 4 GiB chunk
 * limit): checked for every run before the first trains, so that no run is trained that could
 * not be written. VG_EUSAGE naming run cfg->id and the tensor otherwise. */
vg_status vg_record_check_plan(const vg_run_config *cfg, const vg_run_layout *layout,
                               vg_error *err);
/* Bytes the file holds besides its runs (superblock, root attributes with the sweep text). */
int64_t vg_record_estimate_sweep_bytes(const vg_sweep_info *info);

#endif
