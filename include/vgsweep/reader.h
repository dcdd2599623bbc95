/* Reading a record back (docs/FORMAT.md), read-only: the report's and any tool's way in.
 * Like the writer, this is in src/record, the only module calling HDF5. Single-threaded: a
 * reader is used by one thread, and not while a recorder writes in the same process.
 *
 * What it opens: a finished output (root attribute format = "vgsweep", format_version 2), or
 * the output of a sweep still running or interrupted: `<output>.tmp`, the file being
 * assembled, which holds the runs finished so far but no root attributes and no /index yet
 * (opening `<output>` when only `<output>.tmp` exists opens that). The runs kept only in the
 * parts directory (`<output>.parts/`, vgsweep's own journal format) are not read: `vgsweep
 * --resume` assembles them. Nothing is ever written: the file is opened read-only, with HDF5's
 * file locking off so a running sweep's `.tmp` can be read (a run being written at that
 * instant is skipped: a run counts once its `status` attribute, written last, is there). A
 * `.tmp` marked open for writing (as it is, also after a kill -9) is read from an in-memory
 * copy whose superblock flags are cleared (up to 1 GiB).
 *
 * Damaged input is an error (VG_EUSAGE: bad input, exit 2) naming the file and the object,
 * never a crash; HDF5's own error printing is silenced. */
#ifndef VGSWEEP_READER_H
#define VGSWEEP_READER_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/settings.h"

typedef struct vg_reader vg_reader;

typedef struct vg_record_info {
    char path[4096];          /* the file opened (the argument, or <argument>.tmp) */
    int interrupted;          /* 1: an output being assembled (<output>.tmp) */
    int64_t format_version;   /* 2; -1 in a .tmp (not written yet) */
    int64_t n_runs_planned;   /* runs of the sweep (root n_runs); -1 when unknown (.tmp) */
    char sweep_name[256];     /* "" when unknown; printable ASCII (others shown as '?') */
    char sweep_name_raw[256]; /* the same as written, for comparing (--resume) */
    uint64_t sweep_seed;      /* 0 when unknown */
    char started[32];         /* when the sweep started (ISO 8601 UTC); "" when unknown */
} vg_record_info;

/* One run: its settings as written (attributes; a setting the file lacks keeps its default)
 * and its end state. This is what vgsweep --resume keeps of the runs of an existing output. */
typedef struct vg_record_run {
    vg_run_config cfg;      /* settings, id, repeat, index, seed (0 when the file lacks it) */
    char status[16];        /* "ok", "diverged", "failed" */
    char message[256];      /* why it diverged or failed */
    int64_t epochs_done, n_layers, n_epochs;
    double wall_seconds;
} vg_record_run;

/* A series read as doubles (integer series converted), row-major. */
typedef struct vg_series_data {
    int rank;           /* 0 when the run has no such series */
    int64_t dims[4];
    int64_t n;          /* elements: the product of dims (0 when absent) */
    double *v;          /* n values, or NULL; free with vg_series_data_free */
} vg_series_data;

/* Opens path read-only and lists its runs (in grid order). Errors (VG_EUSAGE): cannot open
 * ("not an HDF5 file, or truncated/damaged"), not a vgsweep record, unknown format version,
 * a run whose attributes are unreadable or out of range. */
vg_status vg_reader_open(const char *path, vg_reader **out, vg_error *err);
void vg_reader_close(vg_reader *r);
const vg_record_info *vg_reader_info(const vg_reader *r);
int64_t vg_reader_n_runs(const vg_reader *r);
const vg_record_run *vg_reader_run(const vg_reader *r, int64_t i);
/* Series `name` of run i (e.g. "delta_rms", "probe/loss"); a series the run lacks is not an
 * error: out->rank = 0, out->v = NULL. At most 2^24 elements and rank 4. */
vg_status vg_reader_series(vg_reader *r, int64_t i, const char *name, vg_series_data *out,
                           vg_error *err);
void vg_series_data_free(vg_series_data *s);

#endif
