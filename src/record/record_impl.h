/* What the files of src/record that write a record share (the recorder's state, its run
 * writers, the HDF5 helpers): private to src/record, never included from outside it. The
 * design, and why a kill -9 at any instant loses no finished run, is told in recorder.c. */
#ifndef VGSWEEP_RECORD_IMPL_H
#define VGSWEEP_RECORD_IMPL_H

#include "vgsweep/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "deflate.h"
#include "h5attr.h"
#include "outpath.h"
#include "part.h"
#include "runcfg.h"
#include "vgsweep/nn.h"
#include "vgsweep/reader.h"


#define VG__DEFLATE_LEVEL 1
#define VG__MAX_CHUNK_BYTES (UINT64_C(1) << 32) /* HDF5 refuses chunks of 4 GiB or more */
#define VG__PARTS_FORMAT "vgsweep-parts"
#define VG__MANIFEST "manifest.h5"
#define VG__STATUS_LEN 16 /* /index status column: fixed-length string */
#define VG__MAX_NAME 255  /* bytes of a sweep name (read back into 512-byte buffers) */

#define vg__status_names vg_run_status_names /* contract.h's, defined in recorder.c */

/* Guards every HDF5 call of the recorder (Debian's HDF5 is not thread-safe): recorder.c */
extern pthread_mutex_t vg__hdf5_lock;

/* Where each run of the sweep stands. */
enum {
    VG__TODO = 0,   /* to be run in this session */
    VG__IN_PARTS,   /* finished before this session: <parts>/<id>.part */
    VG__IN_OUTPUT,  /* finished before: /runs/<id> of the existing output */
    VG__RUNNING,    /* a writer is open */
    VG__SYNCING,    /* ended: <parts>/<id>.part.tmp complete, waiting for the committer */
    VG__DONE,       /* finished in this session: <parts>/<id>.part */
};

/* An ended run waiting to be written into the output, from its part (read through fd, which
 * stays valid whatever the committer renames). */
typedef struct vg__emit_item {
    int64_t pos;
    int fd;
    struct vg__emit_item *next;
} vg__emit_item;

/* A finished part the committer makes durable: fsync, close, rename, fsync the directory. */
typedef struct vg__ended {
    int fd;
    char *tmp, *final;
    int64_t pos;
    struct vg__ended *next;
} vg__ended;

typedef struct vg__run_ref {
    char id[VG_RUN_ID_LEN + 1];
    int64_t pos; /* in info->runs, or n_runs + its place in kept */
} vg__run_ref;

/* A finished run found by --resume whose id is not among the sweep's runs. */
typedef struct vg__foreign {
    char id[VG_RUN_ID_LEN + 1];
    unsigned char in_parts, in_output; /* where it was found */
    int64_t out_run;                   /* in_output: its run in the old output's reader */
} vg__foreign;

/* The /index row of one run: what it shows beside the settings. */
typedef struct vg__row {
    char status[VG__STATUS_LEN];
    int64_t epochs_done;
    double value[VG_MAX_INDEX_COLUMNS]; /* info.index_columns' final values */
    double wall_seconds;
} vg__row;

/* An axis as the writer checks dimensions against it: sorted by name. */
typedef struct vg__axis_ref {
    char name[48];
    int64_t length;
    int src; /* its index in the layout's axes */
} vg__axis_ref;

struct vg_recorder {
    char *path;       /* final name; what messages show */
    char *tmp_path;   /* "<path>.tmp": the output being assembled */
    char *parts;      /* "<path>.parts" */
    vg_output_lock *lock; /* held from before anything at <path> is touched until freed */
    vg_sweep_info info;
    vg__run_ref *by_id;     /* (n_all) sorted by id */
    unsigned char *state;   /* (n_all) VG__TODO ... */
    unsigned char *origin;  /* (n_all) the state when the workers started: never changes */
    vg_record_stats stats;
    vg__foreign *foreign;   /* (n_foreign) finished runs found that are not in the sweep */
    int64_t n_foreign, foreign_cap;
    /* The runs kept from before that are outside the sweep (or its --only filter): run
     * n_runs + k is kept[k]; their settings come from their parts or old groups. Every array
     * indexed by run (state, origin, copied, rows) has n_all = n_runs + n_kept entries. */
    vg_run_config *kept;
    int64_t n_all;
    char started[32];       /* when the parts directory was made (ISO 8601 UTC) */
    int deflate;            /* the deflate filter is there */
    int raw_chunks;         /* write pre-compressed chunks (deflate, float is F32LE) */
    int open_runs;          /* writers not yet ended */
    hid_t fapl;             /* strong close, 1.10 format */
    /* The output being assembled, <tmp_path>: each run is copied into it as soon as its part
     * is durable (by the worker that finished it), or, for runs finished before this session,
     * a few at a time by the workers and the rest at close. Disposable: the parts are the
     * truth. Only touched under the lock. */
    hid_t out, out_runs;    /* the open <tmp_path> and its /runs, or H5I_INVALID_HID */
    hid_t old;              /* the existing output, open to copy its reused runs from */
    vg_reader *old_reader;  /* the existing output read by --resume (vg_recorder_create only) */
    unsigned char *copied;  /* (n_all) the run is in <tmp_path> */
    vg__row *rows;          /* (n_all) their /index rows, read as they are copied */
    int64_t n_unfinished;   /* runs neither reused nor recorded yet in this session */
    int64_t n_reused_left;  /* reused runs not yet copied */
    int64_t reuse_cursor;   /* the reused runs before it (grid order) are copied */
    int out_failed;         /* a copy failed: <tmp_path> is gone; close reports out_err */
    vg_error out_err;
    /* Run states (state, open_runs, n_unfinished, commit_failed) and the emit queue are
     * guarded by state_lock, never held across HDF5 or file I/O; the output's assembly
     * (out..., copied, rows, reuse) by the HDF5 lock. A worker never waits for another's
     * assembly: it queues its ended run, and whoever holds the HDF5 lock writes it. */
    pthread_mutex_t state_lock;
    int state_lock_ready;
    struct vg__emit_item *emit_head, *emit_tail;
    /* The committer: a thread that makes ended parts durable while their workers go on (an
     * fsync waits for the disk; a worker would leave its core idle meanwhile). Its queue is
     * guarded by commit_lock. */
    pthread_t committer;
    int committer_started;
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_cond;
    vg__ended *commit_head, *commit_tail;
    int commit_stop;
    int commit_failed;      /* a part could not be made durable: its run is lost */
    vg_error commit_err;
};

/* A tensor whose slots together are at most VG__WHOLE_MAX bytes (a layer's bias gradients, the
 * weight gradients of a narrow layer over a few dozen checkpoints) is one chunk, compressed by
 * the worker at its last slot: per chunk, HDF5 costs more than the bytes do (an index entry, a
 * file-space allocation, a write), and one chunk per tensor instead of one per slot took
 * ~1-2 points off the benchmark sweep's recording overhead. The slots wait in memory until
 * then, so whole tensors together are held to VG__WHOLE_BUDGET per run (first come, in layout
 * order); the rest stay a chunk per slot. Single chunks stay within HDF5's default 1 MiB
 * chunk cache. */
#define VG__WHOLE_MAX ((size_t)256 << 10)
#define VG__WHOLE_BUDGET ((size_t)16 << 20)

/* Whether a tensor of that many bytes in all is whole, given the bytes of the run's earlier
 * whole tensors (*budget_used, updated). The writer and the assembler both decide by this. */
static inline int vg__take_whole(uint64_t bytes, size_t *budget_used) {
    if (bytes > VG__WHOLE_MAX || *budget_used + bytes > VG__WHOLE_BUDGET) return 0;
    *budget_used += (size_t)bytes;
    return 1;
}

typedef struct vg__tensor {
    hid_t dset;          /* in the output being assembled (vg__emit_part) */
    int rank;            /* of the dataset: 1 + the spec's rank */
    hsize_t dims[VG_MAX_RANK]; /* (n_slots, spec dims...) */
    char *axes;          /* emitting: its axes, comma-separated (malloc'ed) */
    size_t slot_bytes;
    int is_whole;        /* one chunk, written to the part at the run's end (vg__write_whole) */
    const unsigned char **slot_src; /* (dims[0]) whole tensors: each slot's float32 values in
                                     * the part being emitted, NULL where none came */
    int n_whole;         /* emitting: slots found; writing: slots 0..n_whole-1 are set */
    size_t whole_at;     /* writing: where its slots start in the writer's `whole` */
    char *doc;           /* emitting: its doc (malloc'ed) */
    const void *checkpoints; /* emitting: (dims[0]) int64 checkpoint of each slot, in the part */
    int64_t first_slot, n_slots; /* emitting: its slot records in vg__emit.slots */
    char name[48];
} vg__tensor;

struct vg_run_writer {
    vg_recorder *rec;
    const vg_run_config *cfg;
    int64_t pos;
    char where[sizeof "/runs/" + VG_RUN_ID_LEN + 1]; /* "/runs/<id>" */
    char *part, *part_tmp;
    vg_part_writer pw;     /* the open <part_tmp> */
    int n_axes;
    vg__axis_ref *axes;    /* (n_axes) the layout's axes, sorted by name */
    int n_tensors;
    vg__tensor *tensors;   /* (n_tensors) */
    unsigned char *whole;  /* the whole tensors, one after the other, each shuffled as HDF5's
                            * filter does (its slots shuffled in as they come): each goes into
                            * the part as one chunk. Slots that did not come are NaN, filled in
                            * as later ones come or at the end. */
    unsigned char *shuf;   /* (largest slot of a tensor that is not whole) shuffled bytes */
    unsigned char *zbuf;   /* (zcap) deflated, for a chunk too large for the part's buffer */
    size_t zcap;
    vg_deflater dz;
    int failed;            /* a write failed: the part is not kept */
};

/* An object in a file, for messages: "<file>: <path>". */
typedef struct vg__obj {
    hid_t id;
    const char *file;
    const char *path;
    int fresh; /* just created: it has no attributes to replace */
} vg__obj;

/* The property lists every tensor dataset is created with (vg__tensor_props_*). */
typedef struct vg__tensor_props {
    hid_t dcpl, dapl;
} vg__tensor_props;

/* --- HDF5 helpers (h5util.c): errors, attributes, names, datasets, tensor storage -------- */

vg_status vg__fail(vg_error *err, const vg__obj *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
hid_t vg__fixed_string_type(size_t n);
hid_t vg__bool_type(void);
vg_status vg__attr(const vg__obj *o, const char *name, hid_t file_type, hid_t mem_type,
                          int64_t n, const void *value, vg_error *err);
vg_status vg__attr_str(const vg__obj *o, const char *name, const char *value,
                              vg_error *err);
vg_status vg__attr_i64(const vg__obj *o, const char *name, int64_t v, vg_error *err);
vg_status vg__attr_u64(const vg__obj *o, const char *name, uint64_t v, vg_error *err);
vg_status vg__attr_f64(const vg__obj *o, const char *name, double v, vg_error *err);
vg_status vg__attr_settings(const vg__obj *o, const vg_run_config *cfg, vg_error *err);
int vg__valid_name(const char *name);
hid_t vg__lcpl(void);
hid_t vg__file_type(vg_dtype t);
size_t vg__dtype_size(vg_dtype t);
hid_t vg__mem_type(vg_dtype t);
vg_status vg__dataset(const vg__obj *o, const char *name, hid_t file_type, hid_t mem_type,
                             int rank, const hsize_t *dims, const void *data, hid_t *out,
                             vg_error *err);
void vg__tensor_props_close(vg__tensor_props *p);
vg_status vg__tensor_props_open(vg__tensor_props *p, int deflate, const vg__obj *o,
                                       vg_error *err);
vg_status vg__create_tensor(const vg__obj *o, hid_t loc, const char *name, vg__tensor *t,
                                   const vg__tensor_props *p, vg_error *err);
void vg__shuffle4_at(unsigned char *dst, size_t total, size_t first,
                            const unsigned char *src, size_t n_elems);
size_t vg__deflate_chunk(vg_deflater *dz, unsigned char *dst, const unsigned char *shuf,
                                size_t bytes, uint32_t *mask);

/* --- files (paths.c): names, syncing, the parts directory, the sweep's runs by id -------- */

char *vg__strcat2(const char *a, const char *b);
char *vg__dirname(const char *path);
int vg__exists(const char *path);
int vg__is_dir(const char *path);
vg_status vg__fsync_path(const char *path, int is_dir, const char *file, vg_error *err);
vg_status vg__fsync_dir_of(const char *path, const char *file, vg_error *err);
vg_status vg__commit(const char *from, const char *to, const char *file, vg_error *err);
int vg__is_run_id(const char *s, size_t n);
int vg__is_part_name(const char *name, int *is_part, int *is_tmp);
vg_status vg__clear_parts(const char *dir, int only_tmp, const char *file, vg_error *err);
int vg__parts_empty(const char *dir);
int vg__cmp_ref(const void *a, const void *b);
const vg_run_config *vg__cfg(const vg_recorder *rec, int64_t r);
int64_t vg__find_run(const vg_recorder *rec, const char *id);
char *vg__part_path(const vg_recorder *rec, const char *id, int tmp);
void vg__now_iso(char *buf, size_t size);
const char *vg__not_regular(const char *path);
vg_status vg__open_same_sweep(const vg_recorder *rec, const char *file, const char *shown,
                                     const char *format, hid_t *out, vg_error *err);

/* --- the committer thread (committer.c) -------------------------------------------------- */

void *vg__committer_main(void *arg);
void vg__commit_later(vg_recorder *rec, vg__ended *c);
void vg__committer_stop(vg_recorder *rec);

/* --- the recorder (recorder.c) ----------------------------------------------------------- */

void vg__out_close_quietly(vg_recorder *rec);
int vg__add_foreign(vg_recorder *rec, const char *id, int in_parts, int64_t out_run);
vg_status vg__write_manifest(vg_recorder *rec, const char *man, vg_error *err);

/* --- resume (resume.c) ------------------------------------------------------------------- */

vg_status vg__scan_parts(vg_recorder *rec, vg_error *err);
vg_status vg__scan_output(vg_recorder *rec, int have_parts, vg_error *err);
vg_status vg__keep_foreign(vg_recorder *rec, vg_error *err);

/* --- a run being written (writer.c) ------------------------------------------------------ */

int vg__split_axes(const char *axes, char names[VG_MAX_RANK][32]);
int vg__cmp_axis_ref(const void *a, const void *b);
int vg__find_axis(const vg__axis_ref *axes, int n, const char *dataset, const char *dim);

/* --- a run written into the output from its part (emit.c) -------------------------------- */

const char *vg__header_problem(const vg_recorder *rec, int64_t r, const vg_part_rec *h,
                                      const unsigned char *p);
vg_status vg__emit_part(vg_recorder *rec, int64_t r, const char *part, int fd,
                               vg_error *err);
vg_status vg__attach_scales(const vg__obj *o, vg_error *err);

/* --- /index (index.c) -------------------------------------------------------------------- */

vg_status vg__write_index(vg_recorder *rec, hid_t file, const vg__row *rows,
                                 vg_error *err);

/* --- provenance (provenance.c) ----------------------------------------------------------- */

vg_status vg__write_root(vg_recorder *rec, hid_t file, vg_error *err);

/* --- assembling the output (assemble.c) -------------------------------------------------- */

void vg__emit_queued(vg_recorder *rec, int wait);
vg_status vg__finish_output(vg_recorder *rec, vg_error *err);

#endif
