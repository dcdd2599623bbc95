/* The HDF5 record (format version 2, docs/FORMAT.md). The only file in vgsweep that calls HDF5.
 *
 * HDF5 here is Debian's serial build, which is not thread-safe anywhere in the library (not just
 * per file), so one lock guards every HDF5 call this module makes, whichever file it is for.
 * Worker threads call begin_run/tensor/end_run directly. While a run trains, its worker
 * appends to the run's part file (part.h: a journal, plain POSIX I/O) without the lock: tensor
 * slots shuffled and deflated into the chunks the output will store. Only end_run takes the
 * lock, to write the finished run into the output from its part, each byte once.
 *
 * Files, and why a kill -9 at any instant loses no finished run:
 *   <out>.parts/manifest.h5       which sweep the parts belong to (name, seed, start time)
 *   <out>.parts/<id>.part.tmp     a run being written; ignored (and rewritten) on resume
 *   <out>.parts/<id>.part         a finished run: fsync'ed before the atomic rename (by the
 *                                 committer thread, so that workers never wait for the disk)
 *   <out>.tmp                     the output being assembled from the parts
 *   <out>                         the output: fsync'ed <out>.tmp renamed; then the parts go
 *   <out>.lock                    the owner's fcntl lock (lock.c), taken before any of the
 *                                 above is looked at, released when the recorder is freed
 * The parts directory is itself created as <out>.parts.tmp and renamed once its manifest is
 * durable, so a directory named <out>.parts always says which sweep it holds (its manifest is
 * deleted last).
 *
 * Assembly is incremental: once a run's part is durable, the worker that finished it writes
 * the run into <out>.tmp (created by the first run) under the lock, while the other workers
 * train: group, settings, tensor datasets with their chunks as stored in the part
 * (H5Dwrite_chunk), series with their dimension scales, and its /index row. Runs finished
 * before this session (--resume) are written the same way, a share at each end_run; runs kept
 * from an existing output are copied from it (H5Ocopy). vg_recorder_close writes whatever is
 * left, the root attributes and /index (grid order), closes, fsyncs and renames. <out>.tmp is
 * disposable: it is never read back, a --resume deletes whatever a kill left of it and starts a
 * fresh one, and when writing into it fails (each run is first checked against the free space
 * and the file-size limit: HDF5 1.10 can crash when a write fails inside H5Ocopy) it is
 * deleted, the sweep goes on recording parts, and close reports the error. A run's datasets do
 * not depend on the order in which runs are written.
 *
 * Every HDF5 call is checked; a failure becomes one line naming the file and the object:
 *   results/x.h5.tmp: /runs/0a1b2c3d4e5f/layers/03/grad_W: cannot write slot 4 (No space
 *   left on device)
 * HDF5's own stack printing is turned off; the system error it saw (or its innermost message)
 * is appended in parentheses.
 *
 * Datasets hold nothing that depends on time or on the order in which runs finish: the
 * datasets of a sweep are bit-identical at any -j and after a resume. */
#define _GNU_SOURCE /* sync_file_range */
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
#include "outpath.h"
#include "part.h"
#include "runcfg.h"
#include "vgsweep/buildinfo.h"
#include "vgsweep/nn.h"

#define VG__DEFLATE_LEVEL 1
#define VG__MAX_CHUNK_BYTES (UINT64_C(1) << 32) /* HDF5 refuses chunks of 4 GiB or more */
#define VG__PARTS_FORMAT "vgsweep-parts"
#define VG__MANIFEST "manifest.h5"
#define VG__STATUS_LEN 16 /* /index status column: fixed-length string */
#define VG__MAX_NAME 255  /* bytes of a sweep name (read back into 512-byte buffers) */

/* From the same table as vg_run_status_names (train.h), so the record module does not need
 * the training module to link. */
static const char *const vg__status_names[] = {
#define X(name, text) text,
    VG_RUN_STATUSES(X)
#undef X
};

/* The axes that get a dimension scale in every run group: name, and its values. */
enum { VG__SCALE_CHECKPOINT, VG__SCALE_EPOCH, VG__SCALE_LAYER, VG__N_SCALES };
static const char *const vg__scale_names[VG__N_SCALES] = {"checkpoint", "epoch", "layer"};
static const char *const vg__scale_docs[VG__N_SCALES] = {
    "checkpoint k: 0 at initialization, e after epoch e",
    "epoch e, from 1",
    "dense layer l, from 1 (input side)",
};

static pthread_mutex_t vg__hdf5_lock = PTHREAD_MUTEX_INITIALIZER;

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
} vg__foreign;

/* The /index row of one run: what it shows beside the settings. */
typedef struct vg__row {
    char status[VG__STATUS_LEN];
    int64_t epochs_done;
    double loss, accuracy, test_loss, test_accuracy;
    double wall_seconds;
} vg__row;

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
static int vg__take_whole(uint64_t bytes, size_t *budget_used) {
    if (bytes > VG__WHOLE_MAX || *budget_used + bytes > VG__WHOLE_BUDGET) return 0;
    *budget_used += (size_t)bytes;
    return 1;
}

typedef struct vg__tensor {
    hid_t dset;          /* in the output being assembled (vg__emit_part) */
    int rank;            /* of the dataset: 1 + the spec's rank */
    hsize_t dims[3];     /* (n_slots, spec dims...) */
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
    int n_epochs, n_layers;
    int *fan_in, *fan_out; /* (L) */
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

/* --- errors ------------------------------------------------------------------------------ */

typedef struct vg__why {
    char desc[200]; /* HDF5's innermost message */
    int sys_errno;  /* the errno a failed system call reported, or 0 */
} vg__why;

static herr_t vg__walk_error(unsigned n, const H5E_error2_t *e, void *data) {
    vg__why *w = data;
    if (!e->desc) return 0;
    if (n == 0 && e->desc[0]) snprintf(w->desc, sizeof w->desc, "%s", e->desc);
    const char *p = strstr(e->desc, "errno = ");
    if (p && !w->sys_errno) w->sys_errno = atoi(p + 8);
    return 0;
}

/* "<file>: <object>: <what> (<reason>)"; the reason is the system error HDF5 saw (disk full,
 * file too large, ...) or HDF5's innermost message. Returns VG_EIO or VG_EHDF5. */
static vg_status vg__fail(vg_error *err, const vg__obj *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vg_status vg__fail(vg_error *err, const vg__obj *o, const char *fmt, ...) {
    char what[512];
    vg__why why = {"", 0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, vg__walk_error, &why);
    H5Eclear2(H5E_DEFAULT);
    if (why.sys_errno)
        return vg_error_set(err, VG_EIO, "%s: %s: %s (%s)", o->file, o->path, what,
                            strerror(why.sys_errno));
    if (why.desc[0])
        return vg_error_set(err, VG_EHDF5, "%s: %s: %s (HDF5: %s)", o->file, o->path, what,
                            why.desc);
    return vg_error_set(err, VG_EHDF5, "%s: %s: %s", o->file, o->path, what);
}

/* --- attributes -------------------------------------------------------------------------- */

/* Variable-length UTF-8 string: h5py 3 reads it as str. */
static hid_t vg__string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return H5I_INVALID_HID;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Fixed-length, NUL-padded ASCII string of n bytes: numpy's "S<n>". */
static hid_t vg__fixed_string_type(size_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return H5I_INVALID_HID;
    if (H5Tset_size(t, n) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* h5py's boolean: an int8 enum {FALSE = 0, TRUE = 1}, read back as numpy.bool_. */
static hid_t vg__bool_type(void) {
    hid_t t = H5Tenum_create(H5T_STD_I8LE);
    int8_t no = 0, yes = 1;
    if (t < 0) return H5I_INVALID_HID;
    if (H5Tenum_insert(t, "FALSE", &no) < 0 || H5Tenum_insert(t, "TRUE", &yes) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Writes an attribute, scalar (n < 0) or 1-D of n values, replacing any old one. */
static vg_status vg__attr(const vg__obj *o, const char *name, hid_t file_type, hid_t mem_type,
                          int64_t n, const void *value, vg_error *err) {
    vg_status st = VG_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    htri_t exists = o->fresh ? 0 : H5Aexists(o->id, name);
    if (exists < 0) return vg__fail(err, o, "attribute %s: cannot look up", name);
    if (exists > 0 && H5Adelete(o->id, name) < 0)
        return vg__fail(err, o, "attribute %s: cannot replace", name);
    hsize_t dims[1] = {n < 0 ? 0 : (hsize_t)n};
    space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    if (space < 0) return vg__fail(err, o, "attribute %s: cannot create dataspace", name);
    attr = H5Acreate2(o->id, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0)
        st = vg__fail(err, o, "attribute %s: cannot create", name);
    else if (n != 0 && H5Awrite(attr, mem_type, value) < 0)
        st = vg__fail(err, o, "attribute %s: cannot write", name);
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    return st;
}

static vg_status vg__attr_str(const vg__obj *o, const char *name, const char *value,
                              vg_error *err) {
    /* made once (under the lock, as every HDF5 call here) and kept: a run writes hundreds */
    static hid_t t = H5I_INVALID_HID;
    if (t < 0) t = vg__string_type();
    if (t < 0) return vg__fail(err, o, "attribute %s: cannot make string type", name);
    const char *v = value ? value : "";
    return vg__attr(o, name, t, t, -1, &v, err);
}

static vg_status vg__attr_i64(const vg__obj *o, const char *name, int64_t v, vg_error *err) {
    return vg__attr(o, name, H5T_STD_I64LE, H5T_NATIVE_INT64, -1, &v, err);
}

static vg_status vg__attr_u64(const vg__obj *o, const char *name, uint64_t v, vg_error *err) {
    return vg__attr(o, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, -1, &v, err);
}

static vg_status vg__attr_f64(const vg__obj *o, const char *name, double v, vg_error *err) {
    return vg__attr(o, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, -1, &v, err);
}

static vg_status vg__attr_bool(const vg__obj *o, const char *name, int v, vg_error *err) {
    hid_t t = vg__bool_type();
    if (t < 0) return vg__fail(err, o, "attribute %s: cannot make boolean type", name);
    int8_t b = v ? 1 : 0;
    vg_status st = vg__attr(o, name, t, t, -1, &b, err);
    H5Tclose(t);
    return st;
}

/* One attribute per row of the settings table, named by its dotted path. */
static vg_status vg__attr_settings(const vg__obj *o, const vg_run_config *cfg, vg_error *err) {
    vg_status st = VG_OK;
    for (int i = 0; i < VG_SETTING_COUNT && st == VG_OK; i++) {
        const vg_setting *s = &vg_settings[i];
        const void *value = (const char *)cfg + s->offset;
        switch (s->type) {
        case VG_TYPE_INT: st = vg__attr_i64(o, s->path, *(const int *)value, err); break;
        case VG_TYPE_REAL: st = vg__attr_f64(o, s->path, *(const double *)value, err); break;
        case VG_TYPE_BOOL: st = vg__attr_bool(o, s->path, *(const int *)value, err); break;
        case VG_TYPE_ENUM: {
            int v = *(const int *)value, n = 0;
            while (s->choices[n]) n++;
            if (v < 0 || v >= n)
                return vg_error_set(err, VG_EINTERNAL,
                                    "%s: %s: attribute %s: choice %d out of range 0..%d", o->file,
                                    o->path, s->path, v, n - 1);
            st = vg__attr_str(o, s->path, s->choices[v], err);
            break;
        }
        case VG_TYPE_STRING: st = vg__attr_str(o, s->path, (const char *)value, err); break;
        }
    }
    return st;
}

/* Reads a scalar string attribute (any string type) into buf; 0 when missing or unreadable. */
static int vg__read_attr_str(hid_t obj, const char *name, char *buf, size_t size) {
    int ok = 0;
    buf[0] = '\0';
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING) {
        if (H5Tis_variable_str(t) > 0) {
            hid_t mt = vg__string_type();
            char *s = NULL;
            if (mt >= 0 && H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(buf, size, "%s", s);
                ok = 1;
            }
            if (s) H5free_memory(s);
            if (mt >= 0) H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(t);
            char *s = calloc(1, n + 1);
            if (s && H5Aread(a, t, s) >= 0) {
                snprintf(buf, size, "%s", s);
                ok = 1;
            }
            free(s);
        }
    }
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

/* Reads a scalar numeric attribute converted to mem_type; 0 when missing or unreadable. */
static int vg__read_attr_num(hid_t obj, const char *name, hid_t mem_type, void *out) {
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    int ok = a >= 0 && H5Aread(a, mem_type, out) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

/* --- names and datasets ------------------------------------------------------------------ */

/* A path inside a run's group: "loss", "clip/fraction", "layers/03/grad_W". Letters, digits,
 * '_', '.', '-', components separated by single '/', none "." or "..". */
static int vg__valid_name(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 200 || name[0] == '/' || name[n - 1] == '/') return 0;
    const char *comp = name;
    for (const char *p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - comp);
            if (len == 0 || (len == 1 && comp[0] == '.') ||
                (len == 2 && comp[0] == '.' && comp[1] == '.'))
                return 0;
            if (*p == '\0') return 1;
            comp = p + 1;
            continue;
        }
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
}

/* Link creation properties that make intermediate groups ("layers/03" of
 * "layers/03/grad_W"); H5I_INVALID_HID on failure. */
static hid_t vg__lcpl(void) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        H5Pclose(lcpl);
        return H5I_INVALID_HID;
    }
    return lcpl;
}

static hid_t vg__file_type(vg_dtype t) {
    switch (t) {
    case VG_F32: return H5T_IEEE_F32LE;
    case VG_F64: return H5T_IEEE_F64LE;
    case VG_I32: return H5T_STD_I32LE;
    case VG_I64: return H5T_STD_I64LE;
    }
    return H5I_INVALID_HID;
}
static hid_t vg__mem_type(vg_dtype t) {
    switch (t) {
    case VG_F32: return H5T_NATIVE_FLOAT;
    case VG_F64: return H5T_NATIVE_DOUBLE;
    case VG_I32: return H5T_NATIVE_INT32;
    case VG_I64: return H5T_NATIVE_INT64;
    }
    return H5I_INVALID_HID;
}
static size_t vg__dtype_size(vg_dtype t) { return t == VG_F64 || t == VG_I64 ? 8 : 4; }

/* A contiguous dataset <o>/<name>, written whole (intermediate groups made as needed). Float
 * datasets have fill value NaN. Returns the open dataset in *out when out is not NULL. */
static vg_status vg__dataset(const vg__obj *o, const char *name, hid_t file_type, hid_t mem_type,
                             int rank, const hsize_t *dims, const void *data, hid_t *out,
                             vg_error *err) {
    vg_status st = VG_OK;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID,
          dset = H5I_INVALID_HID;
    hsize_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    if (out) *out = H5I_INVALID_HID;

    space = H5Screate_simple(rank, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    lcpl = vg__lcpl();
    /* no access/modification times: less to write, and files that differ only by content */
    if (space < 0 || dcpl < 0 || lcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0) {
        st = vg__fail(err, o, "%s: cannot create dataspace or property lists", name);
        goto done;
    }
    if (H5Tget_class(file_type) == H5T_FLOAT) {
        double nan = NAN;
        if (H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan) < 0) {
            st = vg__fail(err, o, "%s: cannot set fill value", name);
            goto done;
        }
    }
    /* Written whole right below: HDF5 would otherwise write the fill value over the storage
     * it allocates, then the data over it (two writes of every series; ~1 point of the
     * benchmark sweep's recording overhead). The fill value stays recorded for readers. */
    if (data && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) {
        st = vg__fail(err, o, "%s: cannot set fill time", name);
        goto done;
    }
    dset = H5Dcreate2(o->id, name, file_type, space, lcpl, dcpl, H5P_DEFAULT);
    if (dset < 0) {
        st = vg__fail(err, o, "%s: cannot create dataset", name);
        goto done;
    }
    if (data && n > 0 && H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = vg__fail(err, o, "%s: cannot write", name);
done:
    if (dset >= 0) {
        if (st == VG_OK && out) *out = dset;
        else H5Dclose(dset);
    }
    if (lcpl >= 0) H5Pclose(lcpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return st;
}

/* The property lists every tensor dataset is created with (vg__tensor_props_*). */
typedef struct vg__tensor_props {
    hid_t dcpl, dapl;
} vg__tensor_props;

static void vg__tensor_props_close(vg__tensor_props *p) {
    if (p->dcpl >= 0) H5Pclose(p->dcpl);
    if (p->dapl >= 0) H5Pclose(p->dapl);
    p->dcpl = p->dapl = H5I_INVALID_HID;
}

/* Float32 tensors chunked one slot per chunk, shuffle + deflate, NaN where never written
 * (unwritten chunks are not even allocated). */
static vg_status vg__tensor_props_open(vg__tensor_props *p, int deflate, const vg__obj *o,
                                       vg_error *err) {
    float nan = NAN;
    p->dcpl = H5Pcreate(H5P_DATASET_CREATE);
    p->dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (p->dcpl < 0 || p->dapl < 0 || H5Pset_obj_track_times(p->dcpl, 0) < 0 ||
        H5Pset_shuffle(p->dcpl) < 0 ||
        (deflate && H5Pset_deflate(p->dcpl, VG__DEFLATE_LEVEL) < 0) ||
        H5Pset_fill_value(p->dcpl, H5T_NATIVE_FLOAT, &nan) < 0 ||
        H5Pset_fill_time(p->dcpl, H5D_FILL_TIME_IFSET) < 0 ||
        H5Pset_alloc_time(p->dcpl, H5D_ALLOC_TIME_INCR) < 0 ||
        /* Each chunk is written once, whole: caching it would only hold memory. */
        H5Pset_chunk_cache(p->dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0,
                           H5D_CHUNK_CACHE_W0_DEFAULT) < 0) {
        vg__tensor_props_close(p);
        return vg__fail(err, o, "cannot make the tensors' creation properties");
    }
    return VG_OK;
}

/* Tensor t as the dataset `name` of group loc. */
static vg_status vg__create_tensor(const vg__obj *o, hid_t loc, const char *name, vg__tensor *t,
                                   const vg__tensor_props *p, vg_error *err) {
    hsize_t chunk[3] = {t->is_whole ? t->dims[0] : 1, 1, 1};
    for (int i = 1; i < t->rank; i++) chunk[i] = t->dims[i];
    hid_t space = H5Screate_simple(t->rank, t->dims, NULL);
    if (space < 0 || H5Pset_chunk(p->dcpl, t->rank, chunk) < 0) {
        if (space >= 0) H5Sclose(space);
        return vg__fail(err, o, "cannot set its shape and chunking");
    }
    t->dset = H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, p->dcpl, p->dapl);
    H5Sclose(space);
    if (t->dset < 0) return vg__fail(err, o, "cannot create dataset");
    return VG_OK;
}

/* HDF5's shuffle filter (byte j of element i goes to j * n + i) on a chunk of `total`
 * elements, for the n_elems of them from element `first` on: a chunk can be shuffled piece by
 * piece (a whole tensor slot by slot, as the slots come). */
static void vg__shuffle4_at(unsigned char *dst, size_t total, size_t first,
                            const unsigned char *src, size_t n_elems) {
    unsigned char *d0 = dst + first, *d1 = d0 + total, *d2 = d1 + total, *d3 = d2 + total;
    for (size_t i = 0; i < n_elems; i++) {
        d0[i] = src[4 * i];
        d1[i] = src[4 * i + 1];
        d2[i] = src[4 * i + 2];
        d3[i] = src[4 * i + 3];
    }
}

/* `bytes` bytes of shuffled float32 values into dst (room for vg_deflate_bound(bytes)) as the
 * chunk HDF5's shuffle + deflate pipeline stores. Returns its length; *mask is its filter
 * mask: the shuffled bytes as they are, deflate marked skipped, when deflate cannot shrink
 * them. */
static size_t vg__deflate_chunk(vg_deflater *dz, unsigned char *dst, const unsigned char *shuf,
                                size_t bytes, uint32_t *mask) {
    size_t len = vg_deflate_shuffled(dz, dst, shuf, bytes);
    *mask = 0;
    if (len < bytes) return len;
    memcpy(dst, shuf, bytes);
    *mask = 1u << 1; /* filter 1 of the pipeline (deflate) not applied */
    return bytes;
}

/* --- files ------------------------------------------------------------------------------- */

static char *vg__strcat2(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

/* The directory part of path ("." when there is none), malloc'ed. */
static char *vg__dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0) n = 1; /* "/x.h5" */
    char *dir = malloc(n + 1);
    if (!dir) return NULL;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    return dir;
}

static int vg__exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* A directory itself, not a symbolic link to one: the parts directory is vgsweep's own. */
static int vg__is_dir(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static vg_status vg__fsync_path(const char *path, int is_dir, const char *file, vg_error *err) {
    int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0)
        return vg_error_set(err, VG_EIO, "%s: cannot open %s to sync it: %s", file, path,
                            strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    /* Some file systems cannot sync a directory (EINVAL); the rename is then as durable as
     * they make it. */
    if (rc != 0 && !(is_dir && e == EINVAL))
        return vg_error_set(err, VG_EIO, "%s: cannot sync %s: %s", file, path, strerror(e));
    return VG_OK;
}

static vg_status vg__fsync_dir_of(const char *path, const char *file, vg_error *err) {
    char *dir = vg__dirname(path);
    if (!dir) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", file);
    vg_status st = vg__fsync_path(dir, 1, file, err);
    free(dir);
    return st;
}

/* fsync(from), rename(from, to), fsync(the directory): to is then durable. */
static vg_status vg__commit(const char *from, const char *to, const char *file, vg_error *err) {
    vg_status st = vg__fsync_path(from, 0, file, err);
    if (st != VG_OK) return st;
    if (rename(from, to) != 0)
        return vg_error_set(err, VG_EIO, "%s: cannot rename %s to %s: %s", file, from, to,
                            strerror(errno));
    return vg__fsync_dir_of(to, file, err);
}

static int vg__is_run_id(const char *s, size_t n) {
    if (n != VG_RUN_ID_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* What vgsweep writes into a parts directory: manifest.h5, <id>.part, and their .tmp (and
 * <id>.h5, the part files of vgsweep before part format 1, deleted with the rest). */
static int vg__is_part_name(const char *name, int *is_part, int *is_tmp) {
    size_t n = strlen(name);
    *is_part = *is_tmp = 0;
    if (n > 4 && strcmp(name + n - 4, ".tmp") == 0) {
        *is_tmp = 1;
        n -= 4;
    }
    if (n == sizeof VG__MANIFEST - 1 && strncmp(name, VG__MANIFEST, n) == 0) return 1;
    if (n == VG_RUN_ID_LEN + 5 && strncmp(name + VG_RUN_ID_LEN, ".part", 5) == 0 &&
        vg__is_run_id(name, VG_RUN_ID_LEN)) {
        *is_part = 1;
        return 1;
    }
    return n == VG_RUN_ID_LEN + 3 && strncmp(name + VG_RUN_ID_LEN, ".h5", 3) == 0 &&
           vg__is_run_id(name, VG_RUN_ID_LEN);
}

/* Deletes what vgsweep wrote into dir (only_tmp: only the .tmp files), then dir itself unless
 * only_tmp. A directory holding other files stays, with an error. */
static vg_status vg__clear_parts(const char *dir, int only_tmp, const char *file, vg_error *err) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return VG_OK;
        return vg_error_set(err, VG_EIO, "%s: cannot read %s: %s", file, dir, strerror(errno));
    }
    vg_status st = VG_OK;
    size_t n = strlen(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int is_part, is_tmp;
        if (!vg__is_part_name(e->d_name, &is_part, &is_tmp) || (only_tmp && !is_tmp)) continue;
        if (strcmp(e->d_name, VG__MANIFEST) == 0) continue; /* last, below */
        char *p = malloc(n + strlen(e->d_name) + 2);
        if (!p) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", file);
            break;
        }
        sprintf(p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT && st == VG_OK)
            st = vg_error_set(err, VG_EIO, "%s: cannot delete %s: %s", file, p, strerror(errno));
        free(p);
    }
    closedir(d);
    /* The manifest goes last: a parts directory that holds parts always says whose they are
     * (a kill while deleting leaves at worst an empty directory, which vg__parts_empty sees). */
    if (st == VG_OK && !only_tmp) {
        char *p = malloc(n + sizeof VG__MANIFEST + 2);
        if (!p) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", file);
        sprintf(p, "%s/%s", dir, VG__MANIFEST);
        if (unlink(p) != 0 && errno != ENOENT)
            st = vg_error_set(err, VG_EIO, "%s: cannot delete %s: %s", file, p, strerror(errno));
        free(p);
    }
    if (st == VG_OK && !only_tmp && rmdir(dir) != 0 && errno != ENOENT)
        st = vg_error_set(err, VG_EIO, "%s: cannot remove %s: %s%s", file, dir, strerror(errno),
                          errno == ENOTEMPTY ? " (it holds files vgsweep did not write)" : "");
    return st;
}

/* Whether dir holds neither a manifest nor a finished part (only .tmp files, or nothing). */
static int vg__parts_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)) != NULL) {
        int is_part, is_tmp;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        empty = vg__is_part_name(e->d_name, &is_part, &is_tmp) && is_tmp;
    }
    closedir(d);
    return empty;
}

/* --- the sweep's runs -------------------------------------------------------------------- */

static int vg__cmp_ref(const void *a, const void *b) {
    return strcmp(((const vg__run_ref *)a)->id, ((const vg__run_ref *)b)->id);
}

/* Run r's settings: one of the sweep's runs, or one kept from before outside it. */
static const vg_run_config *vg__cfg(const vg_recorder *rec, int64_t r) {
    return r < rec->info.n_runs ? &rec->info.runs[r] : &rec->kept[r - rec->info.n_runs];
}

/* Position of run id (among the sweep's runs and the kept ones), or -1. */
static int64_t vg__find_run(const vg_recorder *rec, const char *id) {
    vg__run_ref key;
    snprintf(key.id, sizeof key.id, "%s", id);
    const vg__run_ref *r = bsearch(&key, rec->by_id, (size_t)rec->n_all, sizeof *rec->by_id,
                                   vg__cmp_ref);
    return r ? r->pos : -1;
}

static char *vg__part_path(const vg_recorder *rec, const char *id, int tmp) {
    size_t n = strlen(rec->parts) + VG_RUN_ID_LEN + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s.part%s", rec->parts, id, tmp ? ".tmp" : "");
    return p;
}

static void vg__now_iso(char *buf, size_t size) {
    time_t now = time(NULL);
    struct tm tm;
    if (now == (time_t)-1 || !gmtime_r(&now, &tm) ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "unknown");
}

/* What path is when it exists and is not a regular file ("a FIFO", ...), else NULL; opened
 * without blocking, as vg_part_open does. */
static const char *vg__not_regular(const char *path) {
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    int ok = fd >= 0 ? fstat(fd, &sb) == 0 : stat(path, &sb) == 0; /* a socket: ENXIO */
    if (fd >= 0) close(fd);
    return ok ? vg_file_kind(sb.st_mode) : NULL;
}

/* Opens an HDF5 file read-only and checks it is a vgsweep file of this format version and of
 * this sweep (name and seed). what: "output" or "parts directory" for messages; shown: path
 * for messages. Must hold the lock. */
static vg_status vg__open_same_sweep(const vg_recorder *rec, const char *file, const char *shown,
                                     const char *format, hid_t *out, vg_error *err) {
    char got_format[64], name[512];
    int64_t version = -1;
    uint64_t seed = 0;
    /* HDF5 opens with a blocking open(): a FIFO would wait forever for a writer */
    const char *kind = vg__not_regular(file);
    if (kind) {
        *out = H5I_INVALID_HID;
        return vg_error_set(err, VG_EUSAGE, "%s: not a regular file (%s); nothing was changed",
                            shown, kind);
    }
    *out = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*out < 0) {
        vg__obj o = {H5I_INVALID_HID, shown, "/", 0};
        vg__fail(err, &o, "cannot open as an HDF5 file; nothing was changed");
        if (err) err->code = VG_EUSAGE;
        return VG_EUSAGE;
    }
    const char *hint = "nothing was changed; choose another --output, or pass --force to "
                       "replace it";
    if (!vg__read_attr_str(*out, "format", got_format, sizeof got_format) ||
        strcmp(got_format, format) != 0) {
        H5Fclose(*out);
        *out = H5I_INVALID_HID;
        return vg_error_set(err, VG_EUSAGE, "%s: not written by vgsweep; %s", shown, hint);
    }
    vg__read_attr_num(*out, "format_version", H5T_NATIVE_INT64, &version);
    if (version != VG_FORMAT_VERSION) {
        H5Fclose(*out);
        *out = H5I_INVALID_HID;
        return vg_error_set(err, VG_EUSAGE,
                            "%s: record format version %lld, this vgsweep writes version %d and "
                            "cannot resume it; %s",
                            shown, (long long)version, VG_FORMAT_VERSION, hint);
    }
    vg__read_attr_str(*out, "sweep_name", name, sizeof name);
    vg__read_attr_num(*out, "sweep_seed", H5T_NATIVE_UINT64, &seed);
    if (strcmp(name, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
        seed != rec->info.sweep_seed) {
        H5Fclose(*out);
        *out = H5I_INVALID_HID;
        return vg_error_set(err, VG_EUSAGE,
                            "%s: holds sweep \"%s\" (seed %llu), not \"%s\" (seed %llu); %s",
                            shown, name, (unsigned long long)seed, rec->info.sweep_name,
                            (unsigned long long)rec->info.sweep_seed, hint);
    }
    return VG_OK;
}

/* --- the committer ---------------------------------------------------------------------- */

/* Makes one ended part durable under its final name: fsync, close, rename. The directory is
 * synced by the caller. Frees nothing. */
static vg_status vg__commit_part(vg_recorder *rec, vg__ended *c, vg_error *err) {
    vg_status st = VG_OK;
    if (fsync(c->fd) != 0)
        st = vg_error_set(err, VG_EIO, "%s: cannot sync %s: %s", rec->path, c->tmp,
                          strerror(errno));
    if (close(c->fd) != 0 && st == VG_OK)
        st = vg_error_set(err, VG_EIO, "%s: cannot close %s: %s", rec->path, c->tmp,
                          strerror(errno));
    c->fd = -1;
    if (st == VG_OK && rename(c->tmp, c->final) != 0)
        st = vg_error_set(err, VG_EIO, "%s: cannot rename %s to %s: %s", rec->path, c->tmp,
                          c->final, strerror(errno));
    if (st != VG_OK) unlink(c->tmp);
    return st;
}

/* Commits a batch of parts (one directory sync for all), then marks their runs done, or lost
 * (to be run again by a --resume; close reports the first such error). Frees the batch. */
static void vg__commit_batch(vg_recorder *rec, vg__ended *batch) {
    vg_error err, dir_err;
    vg_status first = VG_OK, dir_st = VG_OK;
    int renamed = 0;
    for (vg__ended *c = batch; c; c = c->next) {
        vg_status st = vg__commit_part(rec, c, &err);
        if (st == VG_OK) renamed = 1;
        else if (first == VG_OK) first = st;
        c->fd = st == VG_OK; /* reused: 1 when committed */
    }
    /* The renames are durable once the directory is. */
    if (renamed) dir_st = vg__fsync_path(rec->parts, 1, rec->path, &dir_err);
    pthread_mutex_lock(&rec->state_lock);
    for (vg__ended *c = batch; c; c = c->next) {
        int ok = c->fd == 1 && dir_st == VG_OK;
        rec->state[c->pos] = ok ? VG__DONE : VG__TODO;
    }
    if ((first != VG_OK || dir_st != VG_OK) && !rec->commit_failed) {
        rec->commit_failed = 1;
        rec->commit_err = first != VG_OK ? err : dir_err;
    }
    pthread_mutex_unlock(&rec->state_lock);
    while (batch) {
        vg__ended *next = batch->next;
        free(batch->tmp);
        free(batch->final);
        free(batch);
        batch = next;
    }
}

static void *vg__committer_main(void *arg) {
    vg_recorder *rec = arg;
    for (;;) {
        pthread_mutex_lock(&rec->commit_lock);
        while (!rec->commit_head && !rec->commit_stop)
            pthread_cond_wait(&rec->commit_cond, &rec->commit_lock);
        vg__ended *batch = rec->commit_head;
        rec->commit_head = rec->commit_tail = NULL;
        pthread_mutex_unlock(&rec->commit_lock);
        if (!batch) return NULL; /* stopped, and nothing left */
        vg__commit_batch(rec, batch);
    }
}

/* Hands an ended part to the committer (or commits it here when there is none). */
static void vg__commit_later(vg_recorder *rec, vg__ended *c) {
    if (!rec->committer_started) {
        vg__commit_batch(rec, c);
        return;
    }
    pthread_mutex_lock(&rec->commit_lock);
    if (rec->commit_tail) rec->commit_tail->next = c;
    else rec->commit_head = c;
    rec->commit_tail = c;
    pthread_cond_signal(&rec->commit_cond);
    pthread_mutex_unlock(&rec->commit_lock);
}

/* Waits until every ended part is committed and stops the committer. */
static void vg__committer_stop(vg_recorder *rec) {
    if (!rec->committer_started) return;
    pthread_mutex_lock(&rec->commit_lock);
    rec->commit_stop = 1;
    pthread_cond_signal(&rec->commit_cond);
    pthread_mutex_unlock(&rec->commit_lock);
    pthread_join(rec->committer, NULL);
    pthread_cond_destroy(&rec->commit_cond);
    pthread_mutex_destroy(&rec->commit_lock);
    rec->committer_started = 0;
}

/* --- creating the recorder --------------------------------------------------------------- */

/* Closes what the recorder holds open of <tmp_path> and of the old output, ignoring errors
 * (the caller deletes <tmp_path> or has already closed it). Must hold the lock. */
static void vg__out_close_quietly(vg_recorder *rec) {
    if (rec->out_runs >= 0) H5Gclose(rec->out_runs);
    if (rec->out >= 0) H5Fclose(rec->out);
    if (rec->old >= 0) H5Fclose(rec->old);
    rec->out_runs = rec->out = rec->old = H5I_INVALID_HID;
    H5Eclear2(H5E_DEFAULT);
}

static void vg__recorder_free(vg_recorder *rec) {
    if (!rec) return;
    vg__committer_stop(rec);
    while (rec->emit_head) { /* ended runs never written into the output: their parts stay */
        vg__emit_item *next = rec->emit_head->next;
        close(rec->emit_head->fd);
        free(rec->emit_head);
        rec->emit_head = next;
    }
    if (rec->state_lock_ready) pthread_mutex_destroy(&rec->state_lock);
    pthread_mutex_lock(&vg__hdf5_lock);
    vg__out_close_quietly(rec);
    if (rec->fapl >= 0) H5Pclose(rec->fapl);
    pthread_mutex_unlock(&vg__hdf5_lock);
    free(rec->path);
    free(rec->tmp_path);
    free(rec->parts);
    free(rec->by_id);
    free(rec->state);
    free(rec->origin);
    free(rec->copied);
    free(rec->rows);
    free(rec->foreign);
    free(rec->kept);
    vg_output_lock_release(rec->lock); /* last: everything at the output is done with */
    free(rec);
}

/* Notes a finished run that is not in the sweep (found in the parts or the old output; one
 * found in both is merged by vg__keep_foreign). 0: out of memory. */
static int vg__add_foreign(vg_recorder *rec, const char *id, int in_parts) {
    if (rec->n_foreign == rec->foreign_cap) {
        int64_t cap = rec->foreign_cap ? 2 * rec->foreign_cap : 16;
        void *p = realloc(rec->foreign, (size_t)cap * sizeof *rec->foreign);
        if (!p) return 0;
        rec->foreign = p;
        rec->foreign_cap = cap;
    }
    vg__foreign *f = &rec->foreign[rec->n_foreign++];
    snprintf(f->id, sizeof f->id, "%s", id);
    f->in_parts = (unsigned char)(in_parts != 0);
    f->in_output = (unsigned char)(in_parts == 0);
    return 1;
}

/* Writes the manifest of the parts directory into the file man. Must hold the lock. */
static vg_status vg__write_manifest(vg_recorder *rec, const char *man, vg_error *err) {
    vg_status st;
    vg__obj o = {H5I_INVALID_HID, man, "/", 0};
    hid_t f = H5Fcreate(man, H5F_ACC_TRUNC, H5P_DEFAULT, rec->fapl);
    if (f < 0) return vg__fail(err, &o, "cannot create");
    o.id = f;
    st = vg__attr_str(&o, "format", VG__PARTS_FORMAT, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "format_version", VG_FORMAT_VERSION, err);
    if (st == VG_OK) st = vg__attr_str(&o, "sweep_name", rec->info.sweep_name, err);
    if (st == VG_OK) st = vg__attr_u64(&o, "sweep_seed", rec->info.sweep_seed, err);
    if (st == VG_OK) st = vg__attr_str(&o, "sweep_file", rec->info.sweep_file, err);
    if (st == VG_OK) st = vg__attr_str(&o, "output", rec->path, err);
    if (st == VG_OK) st = vg__attr_str(&o, "started", rec->started, err);
    if (H5Fclose(f) < 0 && st == VG_OK) st = vg__fail(err, &o, "cannot close");
    return st;
}

/* Writes <parts>.tmp/manifest.h5, syncs it and renames <parts>.tmp to <parts>. */
static vg_status vg__make_parts_dir(vg_recorder *rec, vg_error *err) {
    vg_status st = VG_OK;
    char *dir = vg__strcat2(rec->parts, ".tmp");
    char *man = dir ? malloc(strlen(dir) + sizeof VG__MANIFEST + 2) : NULL;
    if (!dir || !man) {
        free(dir);
        free(man);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    }
    sprintf(man, "%s/%s", dir, VG__MANIFEST);
    st = vg__clear_parts(dir, 0, rec->path, err); /* left over from a kill -9 */
    if (st == VG_OK && mkdir(dir, 0777) != 0)
        st = vg_error_set(err, VG_EIO, "%s: cannot create %s: %s", rec->path, dir,
                          strerror(errno));
    if (st == VG_OK) {
        pthread_mutex_lock(&vg__hdf5_lock);
        st = vg__write_manifest(rec, man, err);
        pthread_mutex_unlock(&vg__hdf5_lock);
    }
    if (st == VG_OK) st = vg__fsync_path(man, 0, rec->path, err);
    if (st == VG_OK) st = vg__commit(dir, rec->parts, rec->path, err);
    if (st != VG_OK) vg__clear_parts(dir, 0, rec->path, NULL);
    free(man);
    free(dir);
    return st;
}

static int vg__part_ok(const vg_recorder *rec, int64_t r, const char *part);

/* The sweep name and seed in a part's HEADER record: 1, or 0 when it has none readable. */
static int vg__part_sweep(const char *part, char *name, size_t size, uint64_t *seed) {
    vg_part_reader pr;
    vg_part_rec h;
    const unsigned char *p;
    int ok = vg_part_open(&pr, part, 0) == 0 && vg_part_next(&pr, &h, &p) == 1 &&
             h.type == VG_PART_HEADER && h.a == VG_PART_VERSION && h.b == VG_PART_BYTE_ORDER;
    if (ok) {
        vg_cursor c = {p, h.len, 0, 0};
        vg_cur_str(&c, name, size);
        *seed = (uint64_t)vg_cur_i64(&c);
        ok = !c.bad;
    }
    vg_part_reader_close(&pr);
    return ok;
}

/* A parts directory that lost its manifest (deleted by hand, a copy without it) while it holds
 * finished parts: when every readable part is of this sweep (name and seed in its header), the
 * manifest is written again (synced, renamed into place) and the parts are resumed; a part of
 * another sweep refuses it. Must hold the lock. */
static vg_status vg__rebuild_manifest(vg_recorder *rec, const char *man, vg_error *err) {
    DIR *d = opendir(rec->parts);
    if (!d) return vg_error_set(err, VG_EUSAGE, "%s: cannot read %s: %s", rec->path, rec->parts,
                                strerror(errno));
    vg_status st = VG_OK;
    int64_t n = 0;
    struct dirent *e;
    while (st == VG_OK && (e = readdir(d)) != NULL) {
        int is_part, is_tmp;
        if (!vg__is_part_name(e->d_name, &is_part, &is_tmp) || !is_part || is_tmp) continue;
        char *part = malloc(strlen(rec->parts) + strlen(e->d_name) + 2), name[512];
        uint64_t seed = 0;
        if (!part) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
            break;
        }
        sprintf(part, "%s/%s", rec->parts, e->d_name);
        if (vg__part_sweep(part, name, sizeof name, &seed)) {
            if (strcmp(name, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
                seed != rec->info.sweep_seed)
                st = vg_error_set(err, VG_EUSAGE,
                                  "%s: has no manifest and part %s holds sweep \"%s\" (seed "
                                  "%llu), not \"%s\" (seed %llu); nothing was changed",
                                  rec->parts, part, name, (unsigned long long)seed,
                                  rec->info.sweep_name, (unsigned long long)rec->info.sweep_seed);
            n++;
        }
        free(part);
    }
    closedir(d);
    if (st != VG_OK) return st;
    char *tmp = vg__strcat2(man, ".tmp");
    if (!tmp) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    st = vg__write_manifest(rec, tmp, err);
    if (st == VG_OK) st = vg__commit(tmp, man, rec->path, err);
    if (st != VG_OK) unlink(tmp);
    free(tmp);
    if (st == VG_OK) {
        rec->stats.manifest_rebuilt = 1;
        rec->stats.n_manifest_parts = n;
    }
    return st;
}

/* Resume from <parts>: checks the manifest, takes its start time and marks the runs whose
 * part files are there and readable. Must hold the lock. */
static vg_status vg__scan_parts(vg_recorder *rec, vg_error *err) {
    char *man = malloc(strlen(rec->parts) + sizeof VG__MANIFEST + 2);
    if (!man) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    sprintf(man, "%s/%s", rec->parts, VG__MANIFEST);
    hid_t f;
    vg_status st = VG_OK;
    if (!vg__exists(man)) st = vg__rebuild_manifest(rec, man, err);
    if (st == VG_OK) st = vg__open_same_sweep(rec, man, rec->parts, VG__PARTS_FORMAT, &f, err);
    free(man);
    if (st != VG_OK) return st;
    vg__read_attr_str(f, "started", rec->started, sizeof rec->started);
    H5Fclose(f);

    DIR *d = opendir(rec->parts);
    if (!d) return vg_error_set(err, VG_EIO, "%s: cannot read %s: %s", rec->path, rec->parts,
                                strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL && st == VG_OK) {
        int is_part, is_tmp;
        if (!vg__is_part_name(e->d_name, &is_part, &is_tmp) || !is_part || is_tmp) continue;
        char id[VG_RUN_ID_LEN + 1];
        memcpy(id, e->d_name, VG_RUN_ID_LEN);
        id[VG_RUN_ID_LEN] = '\0';
        int64_t pos = vg__find_run(rec, id);
        if (pos < 0) {
            if (!vg__add_foreign(rec, id, 1)) st = vg_error_set(err, VG_ENOMEM, "out of memory");
            continue;
        }
        /* Complete (its checksum checked) and of this run: else it is run again (its
         * rename replaces it). */
        char *part = vg__part_path(rec, id, 0);
        if (!part) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
            break;
        }
        if (vg__part_ok(rec, pos, part)) {
            rec->state[pos] = VG__IN_PARTS;
            rec->stats.n_reused++;
        } else {
            rec->stats.n_broken++;
        }
        free(part);
    }
    closedir(d);
    return st;
}

static herr_t vg__scan_output_run(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g, (void)info;
    vg_recorder *rec = data;
    int64_t pos = vg__is_run_id(name, strlen(name)) ? vg__find_run(rec, name) : -1;
    if (pos < 0) {
        if (!vg__add_foreign(rec, name, 0)) return -1;
    } else if (rec->state[pos] == VG__TODO) {
        rec->state[pos] = VG__IN_OUTPUT;
        rec->stats.n_reused++;
    }
    return 0;
}

/* Resume from an existing output: checks it is of this sweep and marks its runs (those not
 * already in the parts). Must hold the lock. */
static vg_status vg__scan_output(vg_recorder *rec, int have_parts, vg_error *err) {
    hid_t f;
    vg_status st = vg__open_same_sweep(rec, rec->path, rec->path, VG_FORMAT_NAME, &f, err);
    if (st != VG_OK) return st;
    if (!have_parts) vg__read_attr_str(f, "started", rec->started, sizeof rec->started);
    hid_t runs = H5Gopen2(f, "runs", H5P_DEFAULT);
    if (runs < 0 ||
        H5Literate(runs, H5_INDEX_NAME, H5_ITER_INC, NULL, vg__scan_output_run, rec) < 0) {
        vg__obj o = {f, rec->path, "/runs", 0};
        st = vg__fail(err, &o, "cannot list the runs");
    }
    if (runs >= 0) H5Gclose(runs);
    H5Fclose(f);
    return st;
}

/* --- runs kept from before, outside the sweep ------------------------------------------- */

/* Settings of a run kept from an old output, from its group's attributes (a setting the group
 * lacks, from a vgsweep before it existed, keeps its default). Must hold the lock. */
static void vg__group_cfg(hid_t g, const char *id, vg_run_config *cfg) {
    vg_run_config_defaults(cfg);
    hid_t tbool = vg__bool_type();
    for (int i = 0; i < VG_SETTING_COUNT; i++) {
        const vg_setting *s = &vg_settings[i];
        void *value = (char *)cfg + s->offset;
        int64_t i64;
        int8_t b;
        char choice[128];
        switch (s->type) {
        case VG_TYPE_INT:
            if (vg__read_attr_num(g, s->path, H5T_NATIVE_INT64, &i64)) *(int *)value = (int)i64;
            break;
        case VG_TYPE_REAL: vg__read_attr_num(g, s->path, H5T_NATIVE_DOUBLE, value); break;
        case VG_TYPE_BOOL:
            if (tbool >= 0 && vg__read_attr_num(g, s->path, tbool, &b)) *(int *)value = b != 0;
            break;
        case VG_TYPE_ENUM:
            if (vg__read_attr_str(g, s->path, choice, sizeof choice))
                for (int j = 0; s->choices[j]; j++)
                    if (strcmp(s->choices[j], choice) == 0) *(int *)value = j;
            break;
        case VG_TYPE_STRING: vg__read_attr_str(g, s->path, (char *)value, sizeof(vg_setting_text)); break;
        }
    }
    if (tbool >= 0) H5Tclose(tbool);
    int64_t repeat = 0;
    if (vg__read_attr_num(g, "repeat", H5T_NATIVE_INT64, &repeat)) cfg->repeat = (int)repeat;
    vg__read_attr_num(g, "seed", H5T_NATIVE_UINT64, &cfg->seed);
    snprintf(cfg->id, sizeof cfg->id, "%s", id);
    H5Eclear2(H5E_DEFAULT);
}

/* Settings of a run kept from its part (read through, checksum checked): 1, 0 when the part
 * has none (written by a vgsweep before they were added), -1 when it is damaged or not this
 * sweep's run `id`. */
static int vg__part_cfg(const vg_recorder *rec, const char *part, const char *id,
                        vg_run_config *cfg) {
    vg_part_reader pr;
    vg_part_rec h;
    const unsigned char *p;
    int ok = vg_part_open(&pr, part, 1) == 0 ? 1 : -1, n = 0, k;
    vg_run_config_defaults(cfg);
    while (ok >= 0 && (k = vg_part_next(&pr, &h, &p)) != 0) {
        if (k < 0) ok = -1;
        if (k < 0 || n++ > 0) continue;
        char name[512], got[VG_RUN_ID_LEN + 1];
        vg_cursor c = {p, h.len, 0, 0};
        vg_cur_str(&c, name, sizeof name);
        uint64_t seed = (uint64_t)vg_cur_i64(&c);
        vg_cur_str(&c, got, sizeof got);
        if (h.type != VG_PART_HEADER || h.a != VG_PART_VERSION || h.b != VG_PART_BYTE_ORDER ||
            c.bad || strcmp(name, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
            seed != rec->info.sweep_seed || strcmp(got, id) != 0)
            ok = -1;
        else
            ok = vg_runcfg_get(&c, cfg);
    }
    if (!pr.ended) ok = -1;
    vg_part_reader_close(&pr);
    snprintf(cfg->id, sizeof cfg->id, "%s", id);
    return ok;
}

static int vg__cmp_foreign(const void *a, const void *b) {
    return strcmp(((const vg__foreign *)a)->id, ((const vg__foreign *)b)->id);
}

/* After a --resume scan: the finished runs found outside the sweep are kept as runs
 * n_runs.. (in id order, after the sweep's in /index), from their part or else their group in
 * the old output, unless info.prune drops them. A part that cannot be used (damaged, or without
 * settings) and has no copy in the old output refuses the resume (VG_EUSAGE): this session
 * cannot run it again, and dropping it takes --prune. */
static vg_status vg__keep_foreign(vg_recorder *rec, vg_error *err) {
    int64_t n = 0;
    if (rec->n_foreign == 0) return VG_OK; /* (qsort must not be given NULL) */
    qsort(rec->foreign, (size_t)rec->n_foreign, sizeof *rec->foreign, vg__cmp_foreign);
    for (int64_t i = 0; i < rec->n_foreign; i++) { /* one entry per id, where it was found */
        if (n > 0 && strcmp(rec->foreign[n - 1].id, rec->foreign[i].id) == 0) {
            rec->foreign[n - 1].in_parts |= rec->foreign[i].in_parts;
            rec->foreign[n - 1].in_output |= rec->foreign[i].in_output;
        } else {
            rec->foreign[n++] = rec->foreign[i];
        }
    }
    rec->n_foreign = n;
    if (rec->info.prune || n == 0) {
        rec->stats.n_dropped = rec->info.prune ? n : 0;
        return VG_OK;
    }
    const int64_t nr = rec->info.n_runs, na = nr + n;
    rec->kept = malloc((size_t)n * sizeof *rec->kept);
    void *p1 = realloc(rec->by_id, (size_t)na * sizeof *rec->by_id);
    if (p1) rec->by_id = p1;
    void *p2 = realloc(rec->state, (size_t)na);
    if (p2) rec->state = p2;
    void *p3 = realloc(rec->origin, (size_t)na);
    if (p3) rec->origin = p3;
    void *p4 = realloc(rec->copied, (size_t)na);
    if (p4) rec->copied = p4;
    void *p5 = realloc(rec->rows, (size_t)na * sizeof *rec->rows);
    if (p5) rec->rows = p5;
    if (!rec->kept || !p1 || !p2 || !p3 || !p4 || !p5)
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    hid_t old = H5I_INVALID_HID;
    vg_status st = VG_OK;
    int64_t k = 0;
    for (int64_t i = 0; i < n && st == VG_OK; i++) {
        const vg__foreign *f = &rec->foreign[i];
        vg_run_config *cfg = &rec->kept[k];
        int got = -1;
        if (f->in_parts) {
            char *part = malloc(strlen(rec->parts) + VG_RUN_ID_LEN + 16);
            if (!part) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
            sprintf(part, "%s/%s.part", rec->parts, f->id);
            got = vg__part_cfg(rec, part, f->id, cfg);
            if (got == 0 && !f->in_output)
                st = vg_error_set(err, VG_EUSAGE,
                                  "%s: part %s of run %s, which is not in this sweep, was written "
                                  "by an older vgsweep that did not store its settings; resume "
                                  "with the sweep file it came from, or pass --prune to drop it",
                                  rec->path, part, f->id);
            /* Damaged, and this session cannot run it again (it is not in the sweep): not
             * dropped silently either. */
            if (got < 0 && !f->in_output && st == VG_OK)
                st = vg_error_set(err, VG_EUSAGE,
                                  "%s: part %s of run %s, which is not in this sweep, is "
                                  "damaged; resume with the sweep file it came from to run it "
                                  "again, or pass --prune to drop it",
                                  rec->path, part, f->id);
            free(part);
        }
        if (st != VG_OK || got > 0) {
            rec->state[nr + k] = VG__IN_PARTS;
        } else if (f->in_output) {
            if (old < 0) old = H5Fopen(rec->path, H5F_ACC_RDONLY, H5P_DEFAULT);
            char where[32];
            snprintf(where, sizeof where, "/runs/%s", f->id);
            hid_t g = old >= 0 ? H5Gopen2(old, where, H5P_DEFAULT) : H5I_INVALID_HID;
            if (g < 0) {
                vg__obj o = {old, rec->path, where, 0};
                st = vg__fail(err, &o, "cannot open");
                if (err) err->code = VG_EUSAGE, st = VG_EUSAGE;
                break;
            }
            vg__group_cfg(g, f->id, cfg);
            H5Gclose(g);
            rec->state[nr + k] = VG__IN_OUTPUT;
        }
        if (st == VG_OK) k++;
    }
    if (old >= 0) H5Fclose(old);
    H5Eclear2(H5E_DEFAULT);
    if (st != VG_OK) return st;
    for (int64_t j = 0; j < k; j++) {
        memcpy(rec->by_id[nr + j].id, rec->kept[j].id, VG_RUN_ID_LEN + 1);
        rec->by_id[nr + j].pos = nr + j;
        rec->kept[j].index = nr + j;
        rec->copied[nr + j] = 0;
        memset(&rec->rows[nr + j], 0, sizeof *rec->rows);
    }
    rec->n_all = nr + k;
    qsort(rec->by_id, (size_t)rec->n_all, sizeof *rec->by_id, vg__cmp_ref);
    rec->stats.n_kept = k;
    return VG_OK;
}

vg_status vg_recorder_create(const char *path, const vg_sweep_info *info, vg_recorder **out,
                             vg_error *err) {
    vg_recorder *rec = NULL;
    vg_status st = VG_OK;
    const int64_t n = info->n_runs;

    *out = NULL;
    if (!path || !path[0]) return vg_error_set(err, VG_EUSAGE, "no output file given");
    if (n < 0 || (n > 0 && !info->runs))
        return vg_error_set(err, VG_EINTERNAL, "%s: the sweep's runs are not given", path);
    /* Every check that can refuse the output comes before the first run trains, and the lock
     * before anything at the output is opened, deleted or replaced. */
    st = vg_outpath_check_names(path, err);
    if (st == VG_OK) st = vg_outpath_prepare_dir(path, err);
    if (st == VG_OK) st = vg_outpath_check_inputs(path, info->inputs, info->n_inputs, err);
    if (st == VG_OK) st = vg_outpath_check_target(path, err); /* again once locked, below */
    /* Names are read back into buffers of 512 bytes (manifest, part headers): a longer one
     * would make every finished run look like another sweep's at assembly. */
    if (st == VG_OK && info->sweep_name && strlen(info->sweep_name) > VG__MAX_NAME)
        st = vg_error_set(err, VG_EUSAGE,
                          "%s: name: is %zu bytes long; vgsweep records at most %d (shorten it); "
                          "nothing was run",
                          info->sweep_file ? info->sweep_file : path, strlen(info->sweep_name),
                          VG__MAX_NAME);
    if (st != VG_OK) return st;

    rec = calloc(1, sizeof *rec);
    if (rec) {
        rec->fapl = rec->out = rec->out_runs = rec->old = H5I_INVALID_HID;
        rec->info = *info;
        rec->path = vg__strcat2(path, "");
        rec->tmp_path = vg__strcat2(path, ".tmp");
        rec->parts = vg__strcat2(path, ".parts");
        rec->by_id = malloc((size_t)(n ? n : 1) * sizeof *rec->by_id);
        rec->state = calloc((size_t)(n ? n : 1), 1);
        rec->origin = calloc((size_t)(n ? n : 1), 1);
        rec->copied = calloc((size_t)(n ? n : 1), 1);
        rec->rows = calloc((size_t)(n ? n : 1), sizeof *rec->rows);
    }
    if (rec) rec->state_lock_ready = pthread_mutex_init(&rec->state_lock, NULL) == 0;
    if (!rec || !rec->path || !rec->tmp_path || !rec->parts || !rec->by_id || !rec->state ||
        !rec->origin || !rec->copied || !rec->rows || !rec->state_lock_ready) {
        vg__recorder_free(rec);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    }
    rec->stats.n_runs = n;
    rec->n_all = n;
    for (int64_t i = 0; i < n; i++) {
        const char *id = info->runs[i].id;
        if (!vg__is_run_id(id, strlen(id))) {
            vg__recorder_free(rec);
            return vg_error_set(err, VG_EINTERNAL, "%s: run %lld has id \"%s\", not %d hex digits",
                                path, (long long)i, id, VG_RUN_ID_LEN);
        }
        memcpy(rec->by_id[i].id, id, VG_RUN_ID_LEN + 1);
        rec->by_id[i].pos = i;
    }
    qsort(rec->by_id, (size_t)n, sizeof *rec->by_id, vg__cmp_ref);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(rec->by_id[i - 1].id, rec->by_id[i].id) == 0) {
            st = vg_error_set(err, VG_EINTERNAL, "%s: two runs of the sweep have id %s", path,
                              rec->by_id[i].id);
            vg__recorder_free(rec);
            return st;
        }
    vg__now_iso(rec->started, sizeof rec->started);
    st = vg_output_lock_take(path, &rec->lock, err);
    /* After the lock: the output cannot change under the check any more. */
    if (st == VG_OK) st = vg_outpath_check_target(path, err);
    if (st == VG_OK) st = vg_outpath_check_target(rec->tmp_path, err);
    if (st != VG_OK) goto fail;

    pthread_mutex_lock(&vg__hdf5_lock);
    /* Every file is closed explicitly; HDF5's exit handler would only trip over a part file
     * whose close failed on a full disk (1.10 crashes there). Fails harmlessly if HDF5 is
     * already initialised. */
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    unsigned config = 0;
    rec->deflate = H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 &&
                   H5Zget_filter_info(H5Z_FILTER_DEFLATE, &config) >= 0 &&
                   (config & H5Z_FILTER_CONFIG_ENCODE_ENABLED);
    /* Chunks go to disk as written here, so their bytes must already be the file's. */
    rec->raw_chunks = rec->deflate && H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0;
    /* Strong close: H5Fclose really closes the file, so the fsync and rename see all of it.
     * The 1.10 file format, pinned: compact groups and fixed-array chunk indexes make files
     * ~7x smaller than the 1.0 default for deep nets; readers need HDF5 >= 1.10. */
    rec->fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (rec->fapl < 0 || H5Pset_fclose_degree(rec->fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_libver_bounds(rec->fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0) {
        vg__obj root = {H5I_INVALID_HID, path, "/", 0};
        st = vg__fail(err, &root, "cannot make file access properties");
    }
    pthread_mutex_unlock(&vg__hdf5_lock);
    if (st != VG_OK) goto fail;

    int have_output = vg__exists(rec->path), have_parts = vg__is_dir(rec->parts);
    /* A kill while the parts of a completed sweep were being deleted: nothing is left in it. */
    if (have_parts && vg__parts_empty(rec->parts)) {
        st = vg__clear_parts(rec->parts, 0, path, err);
        if (st != VG_OK) goto fail;
        have_parts = 0;
    }
    struct stat parts_sb;
    if (lstat(rec->parts, &parts_sb) == 0 && !S_ISDIR(parts_sb.st_mode)) {
        st = vg_error_set(err, VG_EUSAGE, "%s: %s is in the way: it is not a directory", path,
                          rec->parts);
        goto fail;
    }
    switch (info->mode) {
    case VG_RECORD_NEW:
        if (have_output) {
            st = vg_error_set(err, VG_EUSAGE,
                              "%s: already exists; pass --resume to continue or extend it, or "
                              "--force to overwrite it",
                              path);
            goto fail;
        }
        if (have_parts) {
            st = vg_error_set(err, VG_EUSAGE,
                              "%s: an interrupted sweep left its finished runs in %s; pass "
                              "--resume to continue it, or --force to start over",
                              path, rec->parts);
            goto fail;
        }
        break;
    case VG_RECORD_FORCE:
        if (have_output && unlink(rec->path) != 0) {
            st = vg_error_set(err, VG_EIO, "%s: cannot delete it: %s", path, strerror(errno));
            goto fail;
        }
        st = vg__clear_parts(rec->parts, 0, path, err);
        if (st != VG_OK) goto fail;
        have_output = have_parts = 0;
        break;
    case VG_RECORD_RESUME:
        pthread_mutex_lock(&vg__hdf5_lock);
        if (have_parts) st = vg__scan_parts(rec, err);
        if (st == VG_OK && have_output) st = vg__scan_output(rec, have_parts, err);
        if (st == VG_OK) st = vg__keep_foreign(rec, err);
        pthread_mutex_unlock(&vg__hdf5_lock);
        if (st != VG_OK) goto fail;
        rec->stats.resumed = have_parts || have_output;
        break;
    }
    /* Left over from a kill -9: an output being assembled, runs being written. */
    if (unlink(rec->tmp_path) != 0 && errno != ENOENT) {
        st = vg_error_set(err, VG_EIO, "%s: cannot delete %s: %s", path, rec->tmp_path,
                          strerror(errno));
        goto fail;
    }
    if (have_parts) st = vg__clear_parts(rec->parts, 1, path, err);
    else st = vg__make_parts_dir(rec, err);
    if (st != VG_OK) goto fail;
    rec->n_reused_left = rec->stats.n_reused + rec->stats.n_kept;
    rec->n_unfinished = n - rec->stats.n_reused;
    memcpy(rec->origin, rec->state, (size_t)rec->n_all);
    /* Without a thread, parts are committed by their workers. */
    if (pthread_mutex_init(&rec->commit_lock, NULL) == 0) {
        if (pthread_cond_init(&rec->commit_cond, NULL) == 0) {
            rec->committer_started =
                pthread_create(&rec->committer, NULL, vg__committer_main, rec) == 0;
            if (!rec->committer_started) pthread_cond_destroy(&rec->commit_cond);
        }
        if (!rec->committer_started) pthread_mutex_destroy(&rec->commit_lock);
    }
    *out = rec;
    return VG_OK;
fail:
    vg__recorder_free(rec);
    return st;
}

void vg_recorder_stats(const vg_recorder *rec, vg_record_stats *out) { *out = rec->stats; }

int vg_recorder_run_done(const vg_recorder *rec, const char *id) {
    int64_t pos = vg__find_run(rec, id);
    /* Only states set before the workers started are read here: no race with end_run. */
    return pos >= 0 && (rec->state[pos] == VG__IN_PARTS || rec->state[pos] == VG__IN_OUTPUT);
}

/* --- runs -------------------------------------------------------------------------------- */

/* Closes and frees what w holds (the caller deletes an unfinished part). */
static void vg__writer_free(vg_run_writer *w) {
    if (!w) return;
    vg_part_close(&w->pw);
    vg_deflater_free(&w->dz);
    free(w->part);
    free(w->part_tmp);
    free(w->fan_in);
    free(w->fan_out);
    free(w->tensors);
    free(w->whole);
    free(w->shuf);
    free(w->zbuf);
    free(w);
}

static int vg__cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const vg__tensor *const *)a)->name, (*(const vg__tensor *const *)b)->name);
}

/* Checks the layout's tensor specs and copies their shapes into w. */
static vg_status vg__plan_tensors(vg_run_writer *w, const vg_run_layout *layout, vg_error *err) {
    const char *file = w->rec->path;
    size_t largest = 0, whole_bytes = 0;
    w->n_tensors = layout->n_tensors;
    w->tensors = calloc((size_t)(layout->n_tensors > 0 ? layout->n_tensors : 1), sizeof *w->tensors);
    if (!w->tensors) return vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", file, w->where);
    for (int i = 0; i < layout->n_tensors; i++) {
        const vg_tensor_spec *s = &layout->tensors[i];
        vg__tensor *t = &w->tensors[i];
        t->dset = H5I_INVALID_HID;
        if (!vg__valid_name(s->name) || strlen(s->name) >= sizeof t->name)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s: tensor %d has a bad name \"%s\"", file,
                                w->where, i, s->name);
        snprintf(t->name, sizeof t->name, "%s", s->name);
        if (s->rank < 1 || s->rank > 2 || s->n_slots < 1 || !s->checkpoints)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: rank %d, %d slots", file, w->where,
                                s->name, s->rank, s->n_slots);
        uint64_t bytes = sizeof(float);
        t->rank = s->rank + 1;
        t->dims[0] = (hsize_t)s->n_slots;
        for (int d = 0; d < s->rank; d++) {
            if (s->dims[d] < 1)
                return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: dimension %d is %lld", file,
                                    w->where, s->name, d, (long long)s->dims[d]);
            t->dims[d + 1] = (hsize_t)s->dims[d];
            bytes *= (uint64_t)s->dims[d];
            if (bytes >= VG__MAX_CHUNK_BYTES)
                return vg_error_set(err, VG_EHDF5,
                                    "%s: %s/%s: one slot is over 4 GiB, HDF5's chunk limit", file,
                                    w->where, s->name);
        }
        for (int k = 0; k < s->n_slots; k++)
            if (s->checkpoints[k] < 0 || s->checkpoints[k] > layout->n_epochs)
                return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: slot %d holds checkpoint %d",
                                    file, w->where, s->name, k, s->checkpoints[k]);
        t->slot_bytes = (size_t)bytes;
        t->whole_at = whole_bytes;
        t->is_whole = vg__take_whole(t->dims[0] * t->slot_bytes, &whole_bytes);
        if (!t->is_whole && t->slot_bytes > largest) largest = t->slot_bytes;
    }
    /* Two tensors of one name: sorted, so that a deep net's thousands cost n log n. */
    const vg__tensor **by_name = malloc((size_t)(w->n_tensors ? w->n_tensors : 1) * sizeof *by_name);
    if (!by_name) return vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", file, w->where);
    for (int i = 0; i < w->n_tensors; i++) by_name[i] = &w->tensors[i];
    qsort(by_name, (size_t)w->n_tensors, sizeof *by_name, vg__cmp_tensor_name);
    for (int i = 1; i < w->n_tensors; i++)
        if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0) {
            vg_status st = vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: two tensors of that name",
                                        file, w->where, by_name[i]->name);
            free(by_name);
            return st;
        }
    free(by_name);
    /* Whole tensors wait here, not in the part, to go there compressed. (Without our own
     * deflate their slots go to the part as they are, and HDF5 filters them at the end.) */
    if (w->rec->raw_chunks && whole_bytes > 0) {
        w->whole = malloc(whole_bytes);
        if (!w->whole) return vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", file, w->where);
    }
    if (w->rec->raw_chunks && largest > 0) {
        w->shuf = malloc(largest);
        if (!w->shuf) return vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", file, w->where);
    }
    return VG_OK;
}

/* Sets slots t->n_whole .. upto-1 of whole tensor t (shuffled) to NaN: they did not come. */
static void vg__whole_fill_nan(vg_run_writer *w, vg__tensor *t, int upto) {
    if (upto <= t->n_whole) return;
    const float nan = NAN;
    unsigned char nan_bytes[4];
    memcpy(nan_bytes, &nan, 4);
    size_t elems = t->slot_bytes / sizeof(float), total = t->dims[0] * elems;
    size_t from = (size_t)t->n_whole * elems, n = (size_t)(upto - t->n_whole) * elems;
    for (int plane = 0; plane < 4; plane++)
        memset(w->whole + t->whole_at + plane * total + from, nan_bytes[plane], n);
    t->n_whole = upto;
}

/* Shuffled float32 values (`bytes` of them) into the part as the CHUNK record (tensor,
 * slot): deflated straight into the part's write buffer when it can hold the worst case,
 * else through zbuf. Returns 0 or an errno. */
static int vg__append_chunk(vg_run_writer *w, int tensor, int slot, const unsigned char *shuf,
                            size_t bytes) {
    uint32_t mask;
    int rc;
    unsigned char *dst = vg_part_reserve(&w->pw, vg_deflate_bound(bytes), &rc);
    if (rc) return rc;
    int buffered = dst != NULL;
    if (!buffered) { /* too large for the part's buffer: through zbuf */
        if (w->zcap < vg_deflate_bound(bytes)) {
            free(w->zbuf);
            w->zcap = vg_deflate_bound(bytes);
            w->zbuf = malloc(w->zcap);
            if (!w->zbuf) {
                w->zcap = 0;
                return ENOMEM;
            }
        }
        dst = w->zbuf;
    }
    size_t len = vg__deflate_chunk(&w->dz, dst, shuf, bytes, &mask);
    return buffered ? vg_part_commit(&w->pw, VG_PART_CHUNK, (uint32_t)tensor, (uint32_t)slot,
                                     mask, (uint64_t)len)
                    : vg_part_append(&w->pw, VG_PART_CHUNK, (uint32_t)tensor, (uint32_t)slot,
                                     mask, dst, (uint64_t)len);
}

/* A whole tensor's slots (NaN where none came) into the part as its one chunk, compressed:
 * a CHUNK record with slot 0. Returns 0 or an errno. */
static int vg__write_whole(vg_run_writer *w, vg__tensor *t) {
    vg__whole_fill_nan(w, t, (int)t->dims[0]);
    return vg__append_chunk(w, (int)(t - w->tensors), 0, w->whole + t->whole_at,
                            t->dims[0] * t->slot_bytes);
}

/* The whole tensors of a run that ended before their last slot (it diverged) that got some
 * (a tensor is written, and its slots all set, when its last slot comes). */
static int vg__write_wholes(vg_run_writer *w) {
    int rc = 0;
    for (int i = 0; i < w->n_tensors && !rc && w->whole; i++) {
        vg__tensor *t = &w->tensors[i];
        if (t->is_whole && t->n_whole > 0 && (hsize_t)t->n_whole < t->dims[0])
            rc = vg__write_whole(w, t);
    }
    return rc;
}

/* A failed append to the part file: the run is not kept. what: "cannot write slot 4 of
 * layers/03/grad_W", say. */
static vg_status vg__part_fail(vg_run_writer *w, int rc, const char *what, vg_error *err) {
    w->failed = 1;
    return vg_error_set(err, VG_EIO, "%s: %s: %s (%s)", w->part_tmp, w->where, what,
                        strerror(rc));
}

/* The part's HEADER and LAYOUT records: which sweep and run, the layer shapes and the tensor
 * specs (read back by vg__emit_layout). */
static vg_status vg__begin_part(vg_run_writer *w, const vg_run_layout *layout, vg_error *err) {
    vg_recorder *rec = w->rec;
    vg_buf b = {0};
    int rc = vg_part_create(&w->pw, w->part_tmp);
    if (rc) return vg_error_set(err, VG_EIO, "%s: cannot create: %s", w->part_tmp, strerror(rc));
    vg_buf_str(&b, rec->info.sweep_name);
    vg_buf_i64(&b, (int64_t)rec->info.sweep_seed);
    vg_buf_str(&b, w->cfg->id);
    vg_runcfg_put(&b, w->cfg); /* so that a session without this run in its sweep can keep it */
    if (!b.oom)
        rc = vg_part_append(&w->pw, VG_PART_HEADER, VG_PART_VERSION, VG_PART_BYTE_ORDER, 0, b.p,
                            b.n);
    b.n = 0;
    vg_buf_i64(&b, layout->n_layers);
    vg_buf_i64(&b, layout->n_epochs);
    vg_buf_i64(&b, layout->steps_per_epoch);
    for (int l = 0; l < layout->n_layers; l++) vg_buf_i64(&b, layout->fan_in[l]);
    for (int l = 0; l < layout->n_layers; l++) vg_buf_i64(&b, layout->fan_out[l]);
    vg_buf_u32(&b, (uint32_t)layout->n_tensors);
    for (int i = 0; i < layout->n_tensors; i++) {
        const vg_tensor_spec *s = &layout->tensors[i];
        vg_buf_str(&b, s->name);
        vg_buf_str(&b, s->doc);
        vg_buf_u32(&b, (uint32_t)s->rank);
        vg_buf_i64(&b, s->dims[0]);
        vg_buf_i64(&b, s->rank > 1 ? s->dims[1] : 0);
        vg_buf_u32(&b, (uint32_t)s->n_slots);
        for (int k = 0; k < s->n_slots; k++) vg_buf_i64(&b, s->checkpoints[k]);
    }
    if (!rc && !b.oom) rc = vg_part_append(&w->pw, VG_PART_LAYOUT, 0, 0, 0, b.p, b.n);
    int oom = b.oom;
    vg_buf_free(&b);
    if (oom) return vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", rec->path, w->where);
    if (rc) return vg__part_fail(w, rc, "cannot write its layout", err);
    return VG_OK;
}

vg_status vg_recorder_begin_run(vg_recorder *rec, const vg_run_config *cfg,
                                const vg_run_layout *layout, vg_run_writer **out,
                                vg_error *err) {
    vg_run_writer *w = NULL;
    vg_status st = VG_OK;
    const int L = layout->n_layers, E = layout->n_epochs;

    *out = NULL;
    int64_t pos = vg__find_run(rec, cfg->id);
    if (pos < 0)
        return vg_error_set(err, VG_EINTERNAL, "%s: run %s is not one of the sweep's runs",
                            rec->path, cfg->id);
    if (L < 1 || E < 0 || layout->n_checkpoints != E + 1 || !layout->fan_in || !layout->fan_out ||
        layout->n_tensors < 0 || (layout->n_tensors > 0 && !layout->tensors))
        return vg_error_set(err, VG_EINTERNAL,
                            "%s: /runs/%s: bad layout (%d layers, %d epochs, %d checkpoints)",
                            rec->path, cfg->id, L, E, layout->n_checkpoints);
    for (int l = 0; l < L; l++)
        if (layout->fan_in[l] < 1 || layout->fan_out[l] < 1)
            return vg_error_set(err, VG_EINTERNAL, "%s: /runs/%s: layer %d has shape %d x %d",
                                rec->path, cfg->id, l + 1, layout->fan_out[l], layout->fan_in[l]);

    w = calloc(1, sizeof *w);
    if (!w) return vg_error_set(err, VG_ENOMEM, "%s: /runs/%s: out of memory", rec->path, cfg->id);
    w->rec = rec;
    w->cfg = cfg;
    w->pos = pos;
    w->pw.fd = -1;
    w->n_epochs = E;
    w->n_layers = L;
    snprintf(w->where, sizeof w->where, "/runs/%s", cfg->id);
    w->fan_in = malloc((size_t)L * sizeof *w->fan_in);
    w->fan_out = malloc((size_t)L * sizeof *w->fan_out);
    w->part = vg__part_path(rec, cfg->id, 0);
    w->part_tmp = vg__part_path(rec, cfg->id, 1);
    if (!w->fan_in || !w->fan_out || !w->part || !w->part_tmp) {
        vg__writer_free(w);
        return vg_error_set(err, VG_ENOMEM, "%s: /runs/%s: out of memory", rec->path, cfg->id);
    }
    memcpy(w->fan_in, layout->fan_in, (size_t)L * sizeof *w->fan_in);
    memcpy(w->fan_out, layout->fan_out, (size_t)L * sizeof *w->fan_out);
    st = vg__plan_tensors(w, layout, err);
    if (st != VG_OK) {
        vg__writer_free(w);
        return st;
    }

    pthread_mutex_lock(&rec->state_lock);
    if (rec->state[pos] != VG__TODO) {
        st = vg_error_set(err, VG_EINTERNAL, "%s: %s: run already %s", rec->path, w->where,
                          rec->state[pos] == VG__RUNNING ? "being written" : "recorded");
    } else {
        rec->state[pos] = VG__RUNNING;
        rec->open_runs++;
    }
    pthread_mutex_unlock(&rec->state_lock);
    if (st == VG_OK) {
        st = vg__begin_part(w, layout, err);
        if (st != VG_OK) {
            vg_part_close(&w->pw);
            unlink(w->part_tmp);
            pthread_mutex_lock(&rec->state_lock);
            rec->state[pos] = VG__TODO;
            rec->open_runs--;
            pthread_mutex_unlock(&rec->state_lock);
        }
    }
    if (st != VG_OK) {
        vg__writer_free(w);
        return st;
    }
    *out = w;
    return VG_OK;
}

vg_status vg_run_writer_tensor(vg_run_writer *w, int tensor, int slot, const float *data,
                               vg_error *err) {
    if (tensor < 0 || tensor >= w->n_tensors)
        return vg_error_set(err, VG_EINTERNAL, "%s: %s: tensor %d out of range 0..%d",
                            w->rec->path, w->where, tensor, w->n_tensors - 1);
    vg__tensor *t = &w->tensors[tensor];
    if (slot < 0 || (hsize_t)slot >= t->dims[0])
        return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: slot %d out of range 0..%llu",
                            w->rec->path, w->where, t->name, slot,
                            (unsigned long long)t->dims[0] - 1);
    if (w->failed)
        return vg_error_set(err, VG_EIO, "%s: %s: not kept: writing one of its tensors failed",
                            w->rec->path, w->where);
    int rc;
    size_t elems = t->slot_bytes / sizeof(float);
    if (w->whole && t->is_whole) {
        vg__whole_fill_nan(w, t, slot); /* the slots before it that did not come */
        vg__shuffle4_at(w->whole + t->whole_at, t->dims[0] * elems, (size_t)slot * elems,
                        (const unsigned char *)data, elems);
        if (slot + 1 > t->n_whole) t->n_whole = slot + 1;
        /* the last slot: the tensor is complete (a run that stops early: vg__write_wholes) */
        rc = (hsize_t)slot + 1 == t->dims[0] ? vg__write_whole(w, t) : 0;
    } else if (w->rec->raw_chunks && !t->is_whole) {
        /* Shuffled and deflated here, by the worker, with no lock: the chunk goes into the
         * output as it is (deflate.h). */
        vg__shuffle4_at(w->shuf, elems, 0, (const unsigned char *)data, elems);
        rc = vg__append_chunk(w, tensor, slot, w->shuf, t->slot_bytes);
    } else {
        rc = vg_part_append(&w->pw, VG_PART_RAW, (uint32_t)tensor, (uint32_t)slot, 0, data,
                            (uint64_t)t->slot_bytes);
    }
    if (rc) {
        char what[128];
        snprintf(what, sizeof what, "cannot write slot %d of %s", slot, t->name);
        return vg__part_fail(w, rc, what, err);
    }
    return VG_OK;
}

/* Splits "checkpoint,layer" into at most 3 names; returns the count, or -1 when malformed. */
static int vg__split_axes(const char *axes, char names[3][32]) {
    int n = 0;
    const char *p = axes;
    if (!axes || !*axes) return 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || len >= 32 || n == 3) return -1;
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        n++;
        if (!end) return n;
        p = end + 1;
    }
}

/* Whether res has a series of that name (the record module does not link the training one). */
static int vg__has_series(const vg_run_result *res, const char *name) {
    for (int i = 0; i < res->n_series; i++)
        if (res->series[i].name && strcmp(res->series[i].name, name) == 0) return 1;
    return 0;
}

/* Everything the output will need of res is well-formed: checked before the part is kept, so
 * a part under its final name always assembles. */
static vg_status vg__check_result(const vg_run_writer *w, const vg_run_result *res,
                                  vg_error *err) {
    const char *file = w->rec->path;
    if (res->layout.n_layers != w->n_layers || res->layout.n_epochs != w->n_epochs)
        return vg_error_set(err, VG_EINTERNAL,
                            "%s: %s: result has %d layers and %d epochs, the run began with %d "
                            "and %d",
                            file, w->where, res->layout.n_layers, res->layout.n_epochs,
                            w->n_layers, w->n_epochs);
    if ((int)res->status < 0 || res->status >= VG_RUN_STATUS_COUNT)
        return vg_error_set(err, VG_EINTERNAL, "%s: %s: unknown run status %d", file, w->where,
                            (int)res->status);
    if (res->n_series < 0 || (res->n_series > 0 && !res->series))
        return vg_error_set(err, VG_EINTERNAL, "%s: %s: %d series", file, w->where, res->n_series);
    for (int i = 0; i < res->n_series; i++) {
        const vg_series *s = &res->series[i];
        char axes[3][32];
        if (!vg__valid_name(s->name) || strlen(s->name) >= 256)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s: series with a bad name \"%s\"", file,
                                w->where, s->name ? s->name : "(null)");
        if (s->rank < 1 || s->rank > 3 || vg__file_type(s->dtype) < 0)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: rank %d, dtype %d", file, w->where,
                                s->name, s->rank, (int)s->dtype);
        int64_t n = 1;
        for (int d = 0; d < s->rank; d++) {
            if (s->dims[d] < 0)
                return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: dimension %d is %lld", file,
                                    w->where, s->name, d, (long long)s->dims[d]);
            n *= s->dims[d];
        }
        if (n > 0 && !s->data)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: no data", file, w->where, s->name);
        int n_axes = vg__split_axes(s->axes, axes);
        if (s->axes && s->axes[0] && n_axes != s->rank)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: axes \"%s\" for rank %d", file,
                                w->where, s->name, s->axes, s->rank);
        for (int j = 0; j < w->n_tensors; j++)
            if (strcmp(s->name, w->tensors[j].name) == 0)
                return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: both a series and a tensor",
                                    file, w->where, s->name);
        for (int j = 0; j < i; j++)
            if (strcmp(s->name, res->series[j].name) == 0)
                return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: two series of that name",
                                    file, w->where, s->name);
    }
    return VG_OK;
}

/* The RESULT record: status, message, counts, and every series (the layer shapes fan_in and
 * fan_out added unless the producer sends them). Data are 8-byte aligned in the payload. */
static void vg__result_payload(const vg_run_writer *w, const vg_run_result *res, vg_buf *b) {
    static const char *const fan_names[2] = {"fan_in", "fan_out"};
    static const char *const fan_docs[2] = {"inputs of each dense layer",
                                            "outputs of each dense layer"};
    const int *fans[2] = {w->fan_in, w->fan_out};
    vg_series extra[2];
    int n_extra = 0;
    for (int i = 0; i < 2; i++)
        if (!vg__has_series(res, fan_names[i]))
            extra[n_extra++] = (vg_series){.name = fan_names[i], .doc = fan_docs[i],
                                           .axes = "layer", .dtype = VG_I32, .rank = 1,
                                           .dims = {w->n_layers}, .data = (void *)fans[i]};
    vg_buf_u32(b, (uint32_t)res->status);
    vg_buf_str(b, res->message);
    vg_buf_i64(b, res->epochs_done);
    vg_buf_f64(b, res->wall_seconds);
    vg_buf_u32(b, (uint32_t)(n_extra + res->n_series));
    for (int i = 0; i < n_extra + res->n_series; i++) {
        const vg_series *s = i < n_extra ? &extra[i] : &res->series[i - n_extra];
        static const unsigned char zeros[8] = {0};
        int64_t n = 1;
        vg_buf_str(b, s->name);
        vg_buf_str(b, s->doc);
        vg_buf_str(b, s->axes);
        vg_buf_u32(b, (uint32_t)s->dtype);
        vg_buf_u32(b, (uint32_t)s->rank);
        for (int d = 0; d < s->rank; d++) {
            vg_buf_i64(b, s->dims[d]);
            n *= s->dims[d];
        }
        vg_buf_put(b, zeros, (8 - b->n % 8) % 8);
        vg_buf_put(b, s->data, (size_t)n * vg__dtype_size(s->dtype));
    }
}

static void vg__emit_queued(vg_recorder *rec, int wait);

vg_status vg_recorder_end_run(vg_run_writer *w, vg_run_result *res, vg_error *err) {
    vg_status st = VG_OK;
    vg_recorder *rec = w->rec;

    if (w->failed)
        st = vg_error_set(err, VG_EIO, "%s: %s: not kept: writing one of its tensors failed",
                          rec->path, w->where);
    if (st == VG_OK) st = vg__check_result(w, res, err);
    vg__ended *c = st == VG_OK ? calloc(1, sizeof *c) : NULL;
    if (st == VG_OK && !c) st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    if (st == VG_OK) {
        int rc = vg__write_wholes(w);
        if (rc) st = vg__part_fail(w, rc, "cannot write its tensors", err);
    }
    if (st == VG_OK) {
        vg_buf b = {0};
        vg__result_payload(w, res, &b);
        if (b.oom) { /* no memory to write its series: kept as a failed run without them */
            double need = 0;
            for (int i = 0; i < res->n_series; i++) {
                double n = (double)vg__dtype_size(res->series[i].dtype);
                for (int d = 0; d < res->series[i].rank; d++) n *= (double)res->series[i].dims[d];
                need += n;
            }
            vg_buf_free(&b);
            b = (vg_buf){0};
            res->status = VG_RUN_FAILED;
            snprintf(res->message, sizeof res->message,
                     "out of memory writing the run's series: %.1f MiB (%.0f bytes) needed",
                     need / (1 << 20), need);
            int n_series = res->n_series;
            res->n_series = 0;
            vg__result_payload(w, res, &b);
            res->n_series = n_series;
        }
        int rc = b.oom ? ENOMEM : vg_part_append(&w->pw, VG_PART_RESULT, 0, 0, 0, b.p, b.n);
        vg_buf_free(&b);
        if (!rc) rc = vg_part_end(&w->pw);
        if (rc) st = vg__part_fail(w, rc, "cannot write its result", err);
    }
    vg__emit_item *item = NULL;
    if (st == VG_OK) {
        item = malloc(sizeof *item);
        int fd = item ? dup(w->pw.fd) : -1;
        if (fd < 0) {
            st = vg_error_set(err, item ? VG_EIO : VG_ENOMEM, "%s: %s: %s", rec->path, w->part_tmp,
                              item ? strerror(errno) : "out of memory");
            free(item);
        } else {
            *item = (vg__emit_item){w->pos, fd, NULL};
        }
    }
    if (st != VG_OK) {
        free(c);
        vg_part_close(&w->pw);
        unlink(w->part_tmp);
    }

    pthread_mutex_lock(&rec->state_lock);
    rec->state[w->pos] = st == VG_OK ? VG__SYNCING : VG__TODO;
    rec->open_runs--;
    if (st == VG_OK) {
        rec->n_unfinished--;
        if (rec->emit_tail) rec->emit_tail->next = item;
        else rec->emit_head = item;
        rec->emit_tail = item;
    }
    pthread_mutex_unlock(&rec->state_lock);
    if (st == VG_OK) {
        /* Durable, then under its final name, by the committer: from then on the run survives
         * any crash. Until then a kill loses it (a --resume runs it again), never more. */
        c->fd = w->pw.fd, c->tmp = w->part_tmp, c->final = w->part, c->pos = w->pos;
        w->pw.fd = -1, w->part_tmp = w->part = NULL;
        vg__commit_later(rec, c);
        /* Into the output being assembled, while the other workers train. A failure there
         * loses nothing (the part is complete; the output is disposable): close reports it. */
        vg__emit_queued(rec, 0);
    }
    vg__writer_free(w);
    return st;
}

void vg_run_writer_discard(vg_run_writer *w) {
    if (!w) return;
    vg_recorder *rec = w->rec;
    /* The part never got its END record, was never synced or renamed: deleting the .tmp leaves
     * the parts directory as if the run had not begun. */
    vg_part_close(&w->pw);
    unlink(w->part_tmp);
    pthread_mutex_lock(&rec->state_lock);
    rec->state[w->pos] = VG__TODO;
    rec->open_runs--;
    pthread_mutex_unlock(&rec->state_lock);
    vg__writer_free(w);
}

/* --- writing a run into the output from its part ------------------------------------------ */

/* One entry of a dimension scale's REFERENCE_LIST attribute, laid out as the HDF5 high-level
 * library's (H5DS.c's ds_list_t): the dataset and which of its dimensions the scale labels. */
typedef struct vg__scale_user {
    hobj_ref_t dataset;
    int dimension;
} vg__scale_user;

/* A CHUNK or RAW record of the part, written once its tensor's dataset is made. */
typedef struct vg__slot_rec {
    vg_part_rec h;
    const unsigned char *p;
} vg__slot_rec;

/* What vg__emit_part knows of the run it writes. */
typedef struct vg__emit {
    vg_recorder *rec;
    int64_t pos;
    const char *part;          /* for messages about the part's contents */
    char where[32];            /* "/runs/<id>" */
    hid_t group;
    hid_t scale[VG__N_SCALES]; /* checkpoint, epoch, layer */
    int64_t scale_len[VG__N_SCALES];
    hobj_ref_t scale_ref[VG__N_SCALES];
    vg__scale_user *users[VG__N_SCALES]; /* (n_users) the series dimensions each scale labels */
    size_t n_users[VG__N_SCALES], cap_users[VG__N_SCALES];
    int n_layers, n_epochs;
    int n_tensors;
    vg__tensor *tensors;       /* (n_tensors) */
    vg__slot_rec *slots;       /* (n_slots) the CHUNK and RAW records written slot by slot */
    int64_t n_slots, cap_slots;
} vg__emit;

static vg_status vg__damaged(const vg__emit *e, const char *what, vg_error *err) {
    return vg_error_set(err, VG_EIO, "%s: cannot assemble the output: part %s is damaged (%s)",
                        e->rec->path, e->part, what);
}

/* What is wrong with a part's first record for run r, or NULL: it must be the HEADER of this
 * part format, sweep and run. */
static const char *vg__header_problem(const vg_recorder *rec, int64_t r, const vg_part_rec *h,
                                      const unsigned char *p) {
    char name[512], id[VG_RUN_ID_LEN + 1];
    vg_cursor c = {p, h->len, 0, 0};
    vg_cur_str(&c, name, sizeof name);
    uint64_t seed = (uint64_t)vg_cur_i64(&c);
    vg_cur_str(&c, id, sizeof id);
    if (h->type != VG_PART_HEADER || h->a != VG_PART_VERSION || h->b != VG_PART_BYTE_ORDER ||
        c.bad)
        return "not a vgsweep part file of this version";
    if (strcmp(name, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
        seed != rec->info.sweep_seed || strcmp(id, vg__cfg(rec, r)->id) != 0)
        return "of another sweep or run";
    return NULL;
}

/* The HEADER record: this sweep's and this run's. */
static vg_status vg__emit_header(vg__emit *e, const vg_part_rec *h, const unsigned char *p,
                                 vg_error *err) {
    const char *problem = vg__header_problem(e->rec, e->pos, h, p);
    return problem ? vg__damaged(e, problem, err) : VG_OK;
}

/* Whether the group at relative path (e.g. "layers/03") exists under loc: each component
 * looked up in turn (HDF5 refuses a path whose intermediate group is missing), in the
 * group's index, not by a scan of the tensors before. */
static int vg__group_exists(hid_t loc, const char *path) {
    char prefix[48];
    size_t n = strlen(path);
    if (n >= sizeof prefix) return 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && path[i] != '/') continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        if (H5Lexists(loc, prefix, H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
    }
    return 1;
}

/* The LAYOUT record: the run's group with its settings, and its tensor datasets. */
static vg_status vg__emit_layout(vg__emit *e, const vg_part_rec *h, const unsigned char *p,
                                 vg_error *err) {
    vg_recorder *rec = e->rec;
    const vg_run_config *cfg = vg__cfg(rec, e->pos);
    vg_cursor c = {p, h->len, 0, 0};
    vg_status st = VG_OK;
    int64_t L = vg_cur_i64(&c), E = vg_cur_i64(&c), steps = vg_cur_i64(&c);
    if (h->type != VG_PART_LAYOUT || c.bad || L < 1 || L > INT32_MAX || E < 0 || E > INT32_MAX)
        return vg__damaged(e, "no layout", err);
    e->n_layers = (int)L, e->n_epochs = (int)E;
    vg_cur_bytes(&c, 2 * (size_t)L * sizeof(int64_t)); /* fan_in, fan_out: the result has them */
    uint32_t n_tensors = vg_cur_u32(&c);
    if (c.bad || n_tensors > c.n) return vg__damaged(e, "bad layout", err);
    e->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *e->tensors);
    if (!e->tensors) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    for (uint32_t i = 0; i < n_tensors; i++) e->tensors[i].dset = H5I_INVALID_HID;
    e->n_tensors = (int)n_tensors;

    /* Attributes in the object header ("compact"), however many: HDF5 1.10's H5Ocopy (a later
     * --resume copies runs out of this file) crashes copying variable-length strings out of
     * dense attribute storage. */
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    e->group = gcpl >= 0 && H5Pset_attr_phase_change(gcpl, 65535, 0) >= 0 &&
                       H5Pset_obj_track_times(gcpl, 0) >= 0
                   ? H5Gcreate2(rec->out_runs, cfg->id, H5P_DEFAULT, gcpl, H5P_DEFAULT)
                   : H5I_INVALID_HID;
    if (gcpl >= 0) H5Pclose(gcpl);
    vg__obj o = {e->group, rec->tmp_path, e->where, 1};
    if (e->group < 0) return vg__fail(err, &o, "cannot create group");
    st = vg__attr_settings(&o, cfg, err);
    if (st == VG_OK) st = vg__attr_str(&o, "id", cfg->id, err);
    if (st == VG_OK) st = vg__attr_u64(&o, "seed", cfg->seed, err);
    if (st == VG_OK && cfg->has_data_checksum) { /* src/data: what the run trained on */
        char sum[17];
        snprintf(sum, sizeof sum, "%016" PRIx64, cfg->data_checksum);
        st = vg__attr_str(&o, "data_checksum", sum, err);
    }
    if (st == VG_OK && cfg->data_class_names)
        st = vg__attr_str(&o, "data_class_names", cfg->data_class_names, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "repeat", cfg->repeat, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "index", e->pos, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "n_layers", L, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "n_epochs", E, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "steps_per_epoch", steps, err);
    /* The tensors' datasets are made by vg__emit_tensors, one at a time, once every slot
     * record has been read: a deep net's thousands of datasets are never open together
     * (each open dataset holds HDF5 memory, and made the cost of the next grow with them). */
    size_t whole_bytes = 0; /* of the whole tensors so far (vg__take_whole) */
    for (int i = 0; i < e->n_tensors && st == VG_OK; i++) {
        vg__tensor *t = &e->tensors[i];
        int oom = 0;
        vg_cur_str(&c, t->name, sizeof t->name);
        t->doc = vg_cur_strdup(&c, &oom);
        uint32_t rank = vg_cur_u32(&c);
        int64_t d0 = vg_cur_i64(&c), d1 = vg_cur_i64(&c);
        uint32_t n_slots = vg_cur_u32(&c);
        t->checkpoints = vg_cur_bytes(&c, (size_t)n_slots * sizeof(int64_t));
        if (oom) st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
        else if (c.bad || !vg__valid_name(t->name) || rank < 1 || rank > 2 || n_slots < 1 ||
                 d0 < 1 || (rank == 2 && d1 < 1))
            st = vg__damaged(e, "bad tensor spec", err);
        if (st != VG_OK) break;
        t->rank = (int)rank + 1;
        t->dims[0] = n_slots, t->dims[1] = (hsize_t)d0, t->dims[2] = rank == 2 ? (hsize_t)d1 : 0;
        t->slot_bytes = sizeof(float) * (size_t)d0 * (rank == 2 ? (size_t)d1 : 1);
        t->is_whole = vg__take_whole(t->dims[0] * t->slot_bytes, &whole_bytes);
        if (t->is_whole) {
            t->slot_src = calloc(t->dims[0], sizeof *t->slot_src);
            if (!t->slot_src) {
                st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
                break;
            }
        }
    }
    return st;
}

/* A CHUNK (compressed, as stored) or RAW (float32 values) record: one slot of a tensor,
 * checked and kept for vg__emit_tensors. */
static vg_status vg__emit_slot(vg__emit *e, const vg_part_rec *h, const unsigned char *p,
                               vg_error *err) {
    if (!e->tensors || h->a >= (uint32_t)e->n_tensors) return vg__damaged(e, "bad slot", err);
    vg__tensor *t = &e->tensors[h->a];
    if (h->b >= t->dims[0] || (h->type == VG_PART_RAW && h->len != t->slot_bytes) ||
        (h->type == VG_PART_CHUNK &&
         (!e->rec->raw_chunks || (t->is_whole ? h->b != 0 || h->len > t->dims[0] * t->slot_bytes
                                              : h->len > t->slot_bytes))))
        return vg__damaged(e, "bad slot", err);
    if (t->is_whole && h->type == VG_PART_RAW) { /* written whole by vg__emit_whole */
        t->n_whole += t->slot_src[h->b] == NULL;
        t->slot_src[h->b] = p;
        return VG_OK;
    }
    if (e->n_slots == e->cap_slots) {
        int64_t cap = e->cap_slots ? 2 * e->cap_slots : 64;
        vg__slot_rec *more = realloc(e->slots, (size_t)cap * sizeof *more);
        if (!more) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
        e->slots = more, e->cap_slots = cap;
    }
    e->slots[e->n_slots++] = (vg__slot_rec){*h, p};
    t->n_slots++;
    return VG_OK;
}

/* Writes one slot record of tensor t, whose dataset is open. */
static vg_status vg__write_slot(vg__emit *e, vg__tensor *t, const vg_part_rec *h,
                                const unsigned char *p, vg_error *err) {
    hsize_t offset[3] = {h->b, 0, 0};
    char path[128];
    snprintf(path, sizeof path, "%s/%s", e->where, t->name);
    vg__obj o = {t->dset, e->rec->tmp_path, path, 0};
    if (h->type == VG_PART_CHUNK) {
        if (H5Dwrite_chunk(t->dset, H5P_DEFAULT, h->c, offset, (size_t)h->len, p) < 0)
            return vg__fail(err, &o, "cannot write slot %u", h->b);
        return VG_OK;
    }
    hsize_t count[3] = {1, 1, 1};
    for (int i = 1; i < t->rank; i++) count[i] = t->dims[i];
    vg_status st = VG_OK;
    hid_t fspace = H5Dget_space(t->dset);
    hid_t mspace = H5Screate_simple(t->rank - 1, t->dims + 1, NULL);
    if (fspace < 0 || mspace < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, offset, NULL, count, NULL) < 0 ||
        H5Dwrite(t->dset, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, p) < 0)
        st = vg__fail(err, &o, "cannot write slot %u", h->b);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return st;
}

/* Writes a one-chunk tensor whose slots are in the part one by one (HDF5 without its deflate
 * filter: vgsweep does not write chunks then), when any came. NaN where a slot did not come
 * (a run that diverged). Must hold the lock. */
static vg_status vg__emit_whole(vg__emit *e, vg__tensor *t, vg_error *err) {
    if (!t->is_whole || t->n_whole == 0 || t->dset < 0) return VG_OK;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", e->where, t->name);
    vg__obj o = {t->dset, e->rec->tmp_path, path, 0};
    size_t n = t->dims[0] * t->slot_bytes, slot_elems = t->slot_bytes / sizeof(float);
    float *values = malloc(n);
    if (!values) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
    for (hsize_t k = 0; k < t->dims[0]; k++) {
        float *slot = values + k * slot_elems;
        if (t->slot_src[k]) memcpy(slot, t->slot_src[k], t->slot_bytes);
        else
            for (size_t j = 0; j < slot_elems; j++) slot[j] = NAN;
    }
    vg_status st = VG_OK;
    if (H5Dwrite(t->dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
        st = vg__fail(err, &o, "cannot write");
    free(values);
    return st;
}

/* The run's tensor datasets, one at a time in layout order: each made in its parent group
 * ("layers/03", made once for its tensors: cheaper than HDF5 walking and creating the
 * intermediate groups of every path), given its attributes, written (its slot records in the
 * order they came) and closed. Linear in the number of tensors. */
static vg_status vg__emit_tensors(vg__emit *e, vg_error *err) {
    vg_recorder *rec = e->rec;
    vg__obj o = {e->group, rec->tmp_path, e->where, 1};
    vg_status st = VG_OK;
    if (e->n_tensors == 0) return VG_OK;
    /* The slot records grouped by tensor, keeping their order (a counting sort). */
    vg__slot_rec *sorted = malloc((size_t)(e->n_slots ? e->n_slots : 1) * sizeof *sorted);
    if (!sorted) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    int64_t at = 0;
    for (int i = 0; i < e->n_tensors; i++) {
        e->tensors[i].first_slot = at;
        at += e->tensors[i].n_slots;
        e->tensors[i].n_slots = 0;
    }
    for (int64_t k = 0; k < e->n_slots; k++) {
        vg__tensor *t = &e->tensors[e->slots[k].h.a];
        sorted[t->first_slot + t->n_slots++] = e->slots[k];
    }
    vg__tensor_props props = {H5I_INVALID_HID, H5I_INVALID_HID};
    hid_t parent = H5I_INVALID_HID;
    char parent_name[48] = "";
    st = vg__tensor_props_open(&props, rec->deflate, &o, err);
    for (int i = 0; i < e->n_tensors && st == VG_OK; i++) {
        vg__tensor *t = &e->tensors[i];
        char path[128];
        snprintf(path, sizeof path, "%s/%s", e->where, t->name);
        vg__obj to = {e->group, rec->tmp_path, path, 1};
        const char *slash = strrchr(t->name, '/'), *leaf = slash ? slash + 1 : t->name;
        size_t plen = slash ? (size_t)(slash - t->name) : 0;
        if (parent < 0 || plen != strlen(parent_name) || strncmp(parent_name, t->name, plen) != 0) {
            if (parent >= 0) H5Gclose(parent);
            memcpy(parent_name, t->name, plen);
            parent_name[plen] = '\0';
            /* a group on an earlier tensor's path (tensors of a layer not contiguous in the
             * layout) already exists */
            int seen = plen > 0 && vg__group_exists(e->group, parent_name);
            hid_t lcpl = vg__lcpl();
            parent = plen == 0 ? H5Gopen2(e->group, ".", H5P_DEFAULT)
                     : seen    ? H5Gopen2(e->group, parent_name, H5P_DEFAULT)
                     : lcpl < 0 ? H5I_INVALID_HID
                                : H5Gcreate2(e->group, parent_name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
            if (lcpl >= 0) H5Pclose(lcpl);
            if (parent < 0) st = vg__fail(err, &to, "cannot create its group");
        }
        if (st == VG_OK) st = vg__create_tensor(&to, parent, leaf, t, &props, err);
        to.id = t->dset;
        if (st == VG_OK)
            st = vg__attr(&to, "checkpoints", H5T_STD_I64LE, H5T_NATIVE_INT64,
                          (int64_t)t->dims[0], t->checkpoints, err);
        if (st == VG_OK) st = vg__attr_str(&to, "doc", t->doc, err);
        for (int64_t k = 0; k < t->n_slots && st == VG_OK; k++)
            st = vg__write_slot(e, t, &sorted[t->first_slot + k].h, sorted[t->first_slot + k].p, err);
        if (st == VG_OK) st = vg__emit_whole(e, t, err);
        if (t->dset >= 0) H5Dclose(t->dset);
        t->dset = H5I_INVALID_HID;
    }
    if (parent >= 0) H5Gclose(parent);
    vg__tensor_props_close(&props);
    free(sorted);
    return st;
}

/* The run's dimension-scale datasets checkpoint (E+1), epoch (E), layer (L), kept open to
 * attach to its series. */
static vg_status vg__emit_scales(vg__emit *e, vg_error *err) {
    vg__obj o = {e->group, e->rec->tmp_path, e->where, 0};
    const int64_t len[VG__N_SCALES] = {e->n_epochs + 1, e->n_epochs, e->n_layers};
    const int64_t first[VG__N_SCALES] = {0, 1, 1};
    vg_status st = VG_OK;
    int64_t n_max = e->n_epochs + 1 > e->n_layers ? e->n_epochs + 1 : e->n_layers;
    int64_t *v = malloc((size_t)n_max * sizeof *v);
    if (!v) return vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", e->rec->path, e->where);
    for (int s = 0; s < VG__N_SCALES && st == VG_OK; s++) {
        hsize_t dims[1] = {(hsize_t)len[s]};
        for (int64_t i = 0; i < len[s]; i++) v[i] = first[s] + i;
        st = vg__dataset(&o, vg__scale_names[s], H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, v,
                         &e->scale[s], err);
        if (st != VG_OK) break;
        e->scale_len[s] = len[s];
        vg__obj so = {e->scale[s], e->rec->tmp_path, vg__scale_names[s], 1};
        if (H5DSset_scale(e->scale[s], vg__scale_names[s]) < 0)
            st = vg__fail(err, &so, "cannot make it a dimension scale");
        else if (H5Rcreate(&e->scale_ref[s], e->group, vg__scale_names[s], H5R_OBJECT, -1) < 0)
            st = vg__fail(err, &so, "cannot make a reference to it");
        if (st == VG_OK) st = vg__attr_str(&so, "doc", vg__scale_docs[s], err);
    }
    free(v);
    return st;
}

/* DIMENSION_LIST's type: per dimension, the references to its scales (H5DS.c's). */
static hid_t vg__ref_list_type(void) {
    static hid_t t = H5I_INVALID_HID; /* made once, under the lock, and kept */
    if (t < 0) t = H5Tvlen_create(H5T_STD_REF_OBJ);
    return t;
}

/* The labels of a dataset's first n_axes dimensions (of rank), as H5DSset_label stores them
 * (the attribute DIMENSION_LABELS: one variable-length ASCII string per dimension, NULL where
 * unlabelled), written at once: H5DSset_label reads, deletes and rewrites the attribute for
 * every dimension it labels. */
static vg_status vg__dim_labels(const vg__obj *o, int rank, char axes[][32], int n_axes,
                                vg_error *err) {
    static hid_t t = H5I_INVALID_HID; /* made once, under the lock, and kept */
    if (t < 0) {
        t = H5Tcopy(H5T_C_S1);
        if (t >= 0 && H5Tset_size(t, H5T_VARIABLE) < 0) H5Tclose(t), t = H5I_INVALID_HID;
    }
    if (t < 0) return vg__fail(err, o, "attribute DIMENSION_LABELS: cannot make string type");
    const char *labels[H5S_MAX_RANK] = {NULL};
    for (int i = 0; i < n_axes && i < rank; i++) labels[i] = axes[i];
    return vg__attr(o, "DIMENSION_LABELS", t, t, rank, labels, err);
}

/* One series as the dataset <run>/<name>: its doc, its dimension labels and the scales of
 * the axes so labelled. */
static vg_status vg__emit_series(vg__emit *e, const vg_series *s, vg_error *err) {
    vg__obj o = {e->group, e->rec->tmp_path, e->where, 0};
    char axes[3][32], path[300];
    hsize_t dims[3];
    hid_t d;
    snprintf(path, sizeof path, "%s/%s", e->where, s->name);
    for (int i = 0; i < s->rank; i++) dims[i] = (hsize_t)s->dims[i];
    int n_axes = vg__split_axes(s->axes, axes);
    vg_status st = vg__dataset(&o, s->name, vg__file_type(s->dtype), vg__mem_type(s->dtype),
                               s->rank, dims, s->data, &d, err);
    if (st != VG_OK) return st;
    vg__obj so = {d, e->rec->tmp_path, path, 1};
    st = vg__attr_str(&so, "doc", s->doc, err);
    if (st == VG_OK && n_axes > 0) st = vg__dim_labels(&so, s->rank, axes, n_axes, err);
    /* The scales of the axes they label, attached as H5DSattach_scale does, but each
     * attribute written once: the series' DIMENSION_LIST here, the scales' REFERENCE_LIST when
     * the run's series are all written (vg__emit_scale_users). H5DSattach_scale reads, deletes
     * and rewrites the scale's whole REFERENCE_LIST at every attachment. */
    hvl_t list[3] = {{0, NULL}, {0, NULL}, {0, NULL}};
    int scale_of[3] = {-1, -1, -1}, attached = 0;
    for (int i = 0; i < n_axes && i < s->rank; i++)
        for (int k = 0; k < VG__N_SCALES && scale_of[i] < 0; k++)
            if (e->scale[k] >= 0 && strcmp(axes[i], vg__scale_names[k]) == 0 &&
                e->scale_len[k] == s->dims[i]) {
                scale_of[i] = k, attached = 1;
                list[i].len = 1, list[i].p = &e->scale_ref[k];
            }
    if (st == VG_OK && attached) {
        hobj_ref_t self;
        if (H5Rcreate(&self, e->group, s->name, H5R_OBJECT, -1) < 0)
            st = vg__fail(err, &so, "cannot make a reference to it");
        for (int i = 0; i < s->rank && st == VG_OK; i++) {
            int k = scale_of[i];
            if (k < 0) continue;
            if (e->n_users[k] == e->cap_users[k]) {
                size_t cap = e->cap_users[k] ? 2 * e->cap_users[k] : 16;
                vg__scale_user *more = realloc(e->users[k], cap * sizeof *more);
                if (!more) {
                    st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
                    break;
                }
                e->users[k] = more, e->cap_users[k] = cap;
            }
            e->users[k][e->n_users[k]++] = (vg__scale_user){self, i};
        }
        hid_t t = vg__ref_list_type();
        if (st == VG_OK && t < 0) st = vg__fail(err, &so, "cannot make the type of DIMENSION_LIST");
        if (st == VG_OK) st = vg__attr(&so, "DIMENSION_LIST", t, t, s->rank, list, err);
    }
    H5Dclose(d);
    return st;
}

/* Each scale's REFERENCE_LIST: the series dimensions it labels, in the order attached. */
static vg_status vg__emit_scale_users(vg__emit *e, vg_error *err) {
    static hid_t t = H5I_INVALID_HID; /* made once, under the lock, and kept */
    if (t < 0) {
        t = H5Tcreate(H5T_COMPOUND, sizeof(vg__scale_user));
        if (t >= 0 &&
            (H5Tinsert(t, "dataset", offsetof(vg__scale_user, dataset), H5T_STD_REF_OBJ) < 0 ||
             H5Tinsert(t, "dimension", offsetof(vg__scale_user, dimension), H5T_NATIVE_INT) < 0))
            H5Tclose(t), t = H5I_INVALID_HID;
    }
    vg_status st = VG_OK;
    for (int k = 0; k < VG__N_SCALES && st == VG_OK; k++) {
        if (e->scale[k] < 0 || e->n_users[k] == 0) continue;
        vg__obj so = {e->scale[k], e->rec->tmp_path, vg__scale_names[k], 1};
        st = t < 0 ? vg__fail(err, &so, "cannot make the type of REFERENCE_LIST")
                   : vg__attr(&so, "REFERENCE_LIST", t, t, (int64_t)e->n_users[k], e->users[k], err);
    }
    return st;
}

/* series[epochs_done - 1] of a 1-D float64 series, or NaN: the /index row's final values. */
static double vg__series_final(const vg_series *s, int64_t epochs_done) {
    if (s->dtype != VG_F64 || s->rank != 1 || epochs_done < 1 || epochs_done > s->dims[0])
        return NAN;
    double v;
    memcpy(&v, (const unsigned char *)s->data + (epochs_done - 1) * 8, 8);
    return v;
}

/* The RESULT record: scales, series, the status attributes last, and the run's /index row. */
static vg_status vg__emit_result(vg__emit *e, const vg_part_rec *h, const unsigned char *p,
                                 vg_error *err) {
    vg_cursor c = {p, h->len, 0, 0};
    vg_status st = VG_OK;
    vg__obj o = {e->group, e->rec->tmp_path, e->where, 1};
    vg__row *row = &e->rec->rows[e->pos];
    if (e->group < 0) return vg__damaged(e, "a result before the layout", err);
    uint32_t status = vg_cur_u32(&c);
    int oom = 0;
    char *message = vg_cur_strdup(&c, &oom);
    int64_t epochs_done = vg_cur_i64(&c);
    double wall = vg_cur_f64(&c);
    uint32_t n_series = vg_cur_u32(&c);
    if (oom) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
    if (c.bad || status >= VG_RUN_STATUS_COUNT) {
        free(message);
        return vg__damaged(e, "bad result", err);
    }
    memset(row, 0, sizeof *row);
    snprintf(row->status, sizeof row->status, "%s", vg__status_names[status]);
    row->epochs_done = epochs_done;
    row->wall_seconds = wall;
    row->loss = row->accuracy = row->test_loss = row->test_accuracy = NAN;
    st = vg__emit_tensors(e, err);
    if (st == VG_OK) st = vg__emit_scales(e, err);
    for (uint32_t i = 0; i < n_series && st == VG_OK; i++) {
        char name[256];
        vg_series s = {.name = name};
        char *doc, *axes;
        vg_cur_str(&c, name, sizeof name);
        s.doc = doc = vg_cur_strdup(&c, &oom);
        s.axes = axes = vg_cur_strdup(&c, &oom);
        s.dtype = (vg_dtype)vg_cur_u32(&c);
        s.rank = (int)vg_cur_u32(&c);
        int64_t n = 1;
        for (int d = 0; d < s.rank && d < 3 && !c.bad; d++) {
            s.dims[d] = vg_cur_i64(&c);
            n = s.dims[d] >= 0 && n <= INT64_MAX / 8 / (s.dims[d] + 1) ? n * s.dims[d] : -1;
        }
        vg_cur_bytes(&c, (8 - c.at % 8) % 8);
        if (!c.bad && s.rank >= 1 && s.rank <= 3 && vg__file_type(s.dtype) >= 0 && n >= 0 &&
            vg__valid_name(name))
            s.data = (void *)vg_cur_bytes(&c, (size_t)n * vg__dtype_size(s.dtype));
        if (oom) st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
        else if (c.bad || (!s.data && n > 0) || !s.data)
            st = vg__damaged(e, "bad series", err);
        if (st == VG_OK) st = vg__emit_series(e, &s, err);
        if (st == VG_OK) {
            if (strcmp(name, "loss") == 0) row->loss = vg__series_final(&s, epochs_done);
            else if (strcmp(name, "accuracy") == 0) row->accuracy = vg__series_final(&s, epochs_done);
            else if (strcmp(name, "test_loss") == 0) row->test_loss = vg__series_final(&s, epochs_done);
            else if (strcmp(name, "test_accuracy") == 0)
                row->test_accuracy = vg__series_final(&s, epochs_done);
        }
        free(doc);
        free(axes);
    }
    if (st == VG_OK) st = vg__emit_scale_users(e, err);
    if (st == VG_OK) st = vg__attr_str(&o, "message", message, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "epochs_done", epochs_done, err);
    if (st == VG_OK) st = vg__attr_f64(&o, "wall_seconds", wall, err);
    if (st == VG_OK) st = vg__attr_str(&o, "status", vg__status_names[status], err);
    free(message);
    return st;
}

/* Writes run r into <tmp_path> as /runs/<id> from its part file, record by record: the output
 * gets each byte once, compressed chunks as they are. Must hold the lock. */
static vg_status vg__emit_part(vg_recorder *rec, int64_t r, const char *part, int fd,
                               vg_error *err) {
    vg__emit e = {.rec = rec, .pos = r, .part = part, .group = H5I_INVALID_HID};
    for (int s = 0; s < VG__N_SCALES; s++) e.scale[s] = H5I_INVALID_HID;
    snprintf(e.where, sizeof e.where, "/runs/%s", vg__cfg(rec, r)->id);
    vg_part_reader pr;
    /* a part from before this session is checked; one just written is trusted */
    int rc = fd >= 0 ? vg_part_open_fd(&pr, fd, 0) : vg_part_open(&pr, part, 1);
    if (rc) {
        vg_part_reader_close(&pr);
        return vg_error_set(err, VG_EIO, "%s: cannot assemble the output: %s: %s", rec->path,
                            part, vg_part_strerror(rc));
    }
    vg_status st = VG_OK;
    vg_part_rec h;
    const unsigned char *p;
    int got_result = 0;
    for (int n = 0; st == VG_OK; n++) {
        int k = vg_part_next(&pr, &h, &p);
        if (k == 0) break;
        if (k < 0) {
            st = vg__damaged(&e, "incomplete", err);
            break;
        }
        if (n == 0) st = vg__emit_header(&e, &h, p, err);
        else if (n == 1) st = vg__emit_layout(&e, &h, p, err);
        else if (h.type == VG_PART_CHUNK || h.type == VG_PART_RAW) st = vg__emit_slot(&e, &h, p, err);
        else if (h.type == VG_PART_RESULT && !got_result) {
            st = vg__emit_result(&e, &h, p, err);
            got_result = 1;
        } else st = vg__damaged(&e, "unexpected record", err);
    }
    if (st == VG_OK && !got_result) st = vg__damaged(&e, "no result", err);
    vg_part_reader_close(&pr);
    for (int i = 0; i < e.n_tensors; i++) {
        if (e.tensors[i].dset >= 0) H5Dclose(e.tensors[i].dset);
        free(e.tensors[i].slot_src);
        free(e.tensors[i].doc);
    }
    free(e.tensors);
    free(e.slots);
    for (int s = 0; s < VG__N_SCALES; s++) {
        if (e.scale[s] >= 0) H5Dclose(e.scale[s]);
        free(e.users[s]);
    }
    if (e.group >= 0) H5Gclose(e.group);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

/* Whether part holds a complete run r of this sweep: read through, its checksum checked. */
static int vg__part_ok(const vg_recorder *rec, int64_t r, const char *part) {
    vg_part_reader pr;
    vg_part_rec h;
    const unsigned char *p;
    int ok = vg_part_open(&pr, part, 1) == 0, n = 0, k;
    while (ok && (k = vg_part_next(&pr, &h, &p)) != 0) {
        if (k < 0) ok = 0;
        else if (n++ == 0) ok = vg__header_problem(rec, r, &h, p) == NULL;
    }
    ok = ok && pr.ended;
    vg_part_reader_close(&pr);
    return ok;
}

/* --- assembling the output --------------------------------------------------------------- */

typedef struct vg__dset_list {
    char **names;
    size_t n, cap;
    int oom;
} vg__dset_list;

static herr_t vg__collect_dset(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    vg__dset_list *list = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
    if (obj < 0) return -1;
    int is_dset = H5Iget_type(obj) == H5I_DATASET;
    H5Oclose(obj);
    if (!is_dset) return 0;
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        char **p = realloc(list->names, cap * sizeof *p);
        if (!p) {
            list->oom = 1;
            return -1;
        }
        list->names = p;
        list->cap = cap;
    }
    list->names[list->n] = vg__strcat2(name, "");
    if (!list->names[list->n]) {
        list->oom = 1;
        return -1;
    }
    list->n++;
    return 0;
}

/* Attaches the run's checkpoint/epoch/layer scales to every dimension labelled with their name
 * and of their length. References left by a copy from an older output are dropped first. */
static vg_status vg__attach_scales(const vg__obj *o, vg_error *err) {
    vg_status st = VG_OK;
    hid_t scale[VG__N_SCALES];
    hssize_t scale_len[VG__N_SCALES];
    vg__dset_list list = {NULL, 0, 0, 0};

    for (int s = 0; s < VG__N_SCALES; s++) scale[s] = H5I_INVALID_HID, scale_len[s] = -1;
    for (int s = 0; s < VG__N_SCALES; s++) {
        if (st != VG_OK || H5Lexists(o->id, vg__scale_names[s], H5P_DEFAULT) <= 0) continue;
        scale[s] = H5Dopen2(o->id, vg__scale_names[s], H5P_DEFAULT);
        if (scale[s] < 0) {
            st = vg__fail(err, o, "%s: cannot open", vg__scale_names[s]);
            break;
        }
        hid_t sp = H5Dget_space(scale[s]);
        scale_len[s] = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (sp >= 0) H5Sclose(sp);
        if (H5Aexists(scale[s], "REFERENCE_LIST") > 0 && H5Adelete(scale[s], "REFERENCE_LIST") < 0)
            st = vg__fail(err, o, "%s: cannot reset", vg__scale_names[s]);
    }
    if (st == VG_OK && H5Lvisit(o->id, H5_INDEX_NAME, H5_ITER_INC, vg__collect_dset, &list) < 0)
        st = list.oom ? vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", o->file, o->path)
                      : vg__fail(err, o, "cannot list the datasets");
    for (size_t i = 0; i < list.n && st == VG_OK; i++) {
        hid_t d = H5Dopen2(o->id, list.names[i], H5P_DEFAULT);
        vg__obj dobj = {d, o->file, list.names[i], 0};
        if (d < 0) {
            st = vg__fail(err, o, "%s: cannot open", list.names[i]);
            break;
        }
        if (H5DSis_scale(d) <= 0) {
            if (H5Aexists(d, "DIMENSION_LIST") > 0 && H5Adelete(d, "DIMENSION_LIST") < 0)
                st = vg__fail(err, &dobj, "cannot reset its dimension scales");
            hid_t sp = H5Dget_space(d);
            int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
            hsize_t dims[H5S_MAX_RANK];
            if (rank > 0) H5Sget_simple_extent_dims(sp, dims, NULL);
            if (sp >= 0) H5Sclose(sp);
            for (int k = 0; k < rank && st == VG_OK; k++) {
                char label[64];
                ssize_t len = H5DSget_label(d, (unsigned)k, label, sizeof label);
                if (len <= 0) continue;
                for (int s = 0; s < VG__N_SCALES; s++)
                    if (scale[s] >= 0 && strcmp(label, vg__scale_names[s]) == 0 &&
                        scale_len[s] == (hssize_t)dims[k] &&
                        H5DSattach_scale(d, scale[s], (unsigned)k) < 0)
                        st = vg__fail(err, &dobj, "cannot attach scale %s", vg__scale_names[s]);
            }
        }
        H5Dclose(d);
        H5Eclear2(H5E_DEFAULT);
    }
    for (size_t i = 0; i < list.n; i++) free(list.names[i]);
    free(list.names);
    for (int s = 0; s < VG__N_SCALES; s++)
        if (scale[s] >= 0) H5Dclose(scale[s]);
    return st;
}

/* series[epochs_done - 1] of a 1-D float series, or NaN. */
static double vg__final_value(hid_t g, const char *name, int64_t epochs_done) {
    double v = NAN;
    if (epochs_done < 1 || H5Lexists(g, name, H5P_DEFAULT) <= 0) return v;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    hsize_t n = 0;
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
        H5Sget_simple_extent_dims(sp, &n, NULL) == 1 && (hsize_t)epochs_done <= n) {
        hsize_t start[1] = {(hsize_t)epochs_done - 1}, count[1] = {1}, one[1] = {1};
        hid_t ms = H5Screate_simple(1, one, NULL);
        if (ms < 0 || H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(d, H5T_NATIVE_DOUBLE, ms, sp, H5P_DEFAULT, &v) < 0)
            v = NAN;
        if (ms >= 0) H5Sclose(ms);
    }
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return v;
}

static void vg__read_row(hid_t g, vg__row *row) {
    memset(row, 0, sizeof *row);
    vg__read_attr_str(g, "status", row->status, sizeof row->status);
    row->epochs_done = 0;
    vg__read_attr_num(g, "epochs_done", H5T_NATIVE_INT64, &row->epochs_done);
    row->wall_seconds = NAN;
    vg__read_attr_num(g, "wall_seconds", H5T_NATIVE_DOUBLE, &row->wall_seconds);
    row->loss = vg__final_value(g, "loss", row->epochs_done);
    row->accuracy = vg__final_value(g, "accuracy", row->epochs_done);
    row->test_loss = vg__final_value(g, "test_loss", row->epochs_done);
    row->test_accuracy = vg__final_value(g, "test_accuracy", row->epochs_done);
}

/* Longest choice of an ENUM setting (at least 1). */
static size_t vg__choice_len(const vg_setting *s) {
    size_t n = 1;
    for (int k = 0; s->choices[k]; k++)
        if (strlen(s->choices[k]) > n) n = strlen(s->choices[k]);
    return n;
}

/* Whether setting i takes more than one value among every run of the output. */
static int vg__setting_varies(const vg_recorder *rec, int i) {
    const vg_setting *s = &vg_settings[i];
    size_t size = s->type == VG_TYPE_REAL ? sizeof(double) : sizeof(int);
    const char *first = (const char *)vg__cfg(rec, 0) + s->offset;
    for (int64_t r = 1; r < rec->n_all; r++)
        if (memcmp((const char *)vg__cfg(rec, r) + s->offset, first, size) != 0) return 1;
    return 0;
}

/* The settings /index has a column for, in table order: those that vary in the sweep, and,
 * when runs outside it are kept, those on which any two runs of the output differ. */
static int vg__index_settings(const vg_recorder *rec, int *ids) {
    int n = 0;
    for (int i = 0; i < VG_SETTING_COUNT; i++) {
        int in = 0;
        for (int v = 0; v < rec->info.n_varying && !in; v++) in = rec->info.varying[v] == i;
        if (in || (rec->n_all > rec->info.n_runs && vg__setting_varies(rec, i))) ids[n++] = i;
    }
    return n;
}

/* /index: a compound dataset, one row per run: the sweep's in grid order, then those kept from
 * before outside it (by id). Columns: id, status, in_sweep, the varying
 * settings, repeat, epochs_done, the final loss, accuracy, test_loss and test_accuracy. The
 * attribute wall_seconds holds each row's run time (kept out of the dataset: datasets do not
 * depend on time). */
static vg_status vg__write_index(vg_recorder *rec, hid_t file, const vg__row *rows,
                                 vg_error *err) {
    const vg_sweep_info *info = &rec->info;
    vg__obj o = {file, rec->tmp_path, "/index", 0};
    vg_status st = VG_OK;
    enum { MAXC = VG_SETTING_COUNT + 8 };
    hid_t ftype[MAXC], mtype[MAXC];
    const char *cname[MAXC];
    size_t size[MAXC], off[MAXC];
    int owned[MAXC], n = 0;
    hid_t fcomp = H5I_INVALID_HID, mcomp = H5I_INVALID_HID, space = H5I_INVALID_HID,
          dset = H5I_INVALID_HID;
    unsigned char *buf = NULL;
    double *walls = NULL;

#define VG__COL(name_, ftype_, mtype_, size_, owned_)                                            \
    do {                                                                                         \
        cname[n] = (name_), ftype[n] = (ftype_), mtype[n] = (mtype_), size[n] = (size_),         \
        owned[n] = (owned_);                                                                     \
        n++;                                                                                     \
    } while (0)
    int varying[VG_SETTING_COUNT];
    int n_varying = vg__index_settings(rec, varying);
    hid_t tid = vg__fixed_string_type(VG_RUN_ID_LEN), tstatus = vg__fixed_string_type(VG__STATUS_LEN);
    hid_t tin = vg__bool_type();
    VG__COL("id", tid, tid, VG_RUN_ID_LEN, 1);
    VG__COL("status", tstatus, tstatus, VG__STATUS_LEN, 1);
    VG__COL("in_sweep", tin, tin, 1, 1);
    for (int v = 0; v < n_varying; v++) {
        const vg_setting *s = &vg_settings[varying[v]];
        switch (s->type) {
        case VG_TYPE_INT: VG__COL(s->path, H5T_STD_I64LE, H5T_NATIVE_INT64, 8, 0); break;
        case VG_TYPE_REAL: VG__COL(s->path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, 0); break;
        case VG_TYPE_BOOL: {
            hid_t b = vg__bool_type();
            VG__COL(s->path, b, b, 1, 1);
            break;
        }
        case VG_TYPE_ENUM: {
            hid_t t = vg__fixed_string_type(vg__choice_len(s));
            VG__COL(s->path, t, t, vg__choice_len(s), 1);
            break;
        }
        case VG_TYPE_STRING: {
            hid_t t = vg__fixed_string_type(VG_SETTING_TEXT_MAX);
            VG__COL(s->path, t, t, VG_SETTING_TEXT_MAX, 1);
            break;
        }
        }
    }
    VG__COL("repeat", H5T_STD_I64LE, H5T_NATIVE_INT64, 8, 0);
    VG__COL("epochs_done", H5T_STD_I64LE, H5T_NATIVE_INT64, 8, 0);
    VG__COL("loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, 0);
    VG__COL("accuracy", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, 0);
    VG__COL("test_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, 0);
    VG__COL("test_accuracy", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, 0);
#undef VG__COL

    size_t row_size = 0;
    for (int c = 0; c < n; c++) {
        if (ftype[c] < 0) {
            st = vg__fail(err, &o, "cannot make the type of column %s", cname[c]);
            goto done;
        }
        off[c] = row_size;
        row_size += size[c];
    }
    /* Packed on disk and in memory (the memory type uses native numbers at the same offsets). */
    fcomp = H5Tcreate(H5T_COMPOUND, row_size);
    mcomp = H5Tcreate(H5T_COMPOUND, row_size);
    for (int c = 0; c < n && fcomp >= 0 && mcomp >= 0; c++)
        if (H5Tinsert(fcomp, cname[c], off[c], ftype[c]) < 0 ||
            H5Tinsert(mcomp, cname[c], off[c], mtype[c]) < 0) {
            st = vg__fail(err, &o, "cannot add column %s", cname[c]);
            goto done;
        }
    if (fcomp < 0 || mcomp < 0) {
        st = vg__fail(err, &o, "cannot make the row type");
        goto done;
    }
    int64_t nr = rec->n_all;
    buf = calloc((size_t)(nr ? nr : 1), row_size);
    walls = malloc((size_t)(nr ? nr : 1) * sizeof *walls);
    if (!buf || !walls) {
        st = vg_error_set(err, VG_ENOMEM, "%s: /index: out of memory", rec->path);
        goto done;
    }
    for (int64_t r = 0; r < nr; r++) {
        const vg_run_config *cfg = vg__cfg(rec, r);
        unsigned char *row = buf + (size_t)r * row_size;
        int c = 0;
        int8_t in_sweep = r < info->n_runs;
        memcpy(row + off[c++], cfg->id, VG_RUN_ID_LEN);
        memcpy(row + off[c++], rows[r].status, strnlen(rows[r].status, VG__STATUS_LEN));
        memcpy(row + off[c++], &in_sweep, 1);
        for (int v = 0; v < n_varying; v++, c++) {
            const vg_setting *s = &vg_settings[varying[v]];
            const void *value = (const char *)cfg + s->offset;
            int64_t i64 = *(const int *)value;
            int8_t b = *(const int *)value != 0;
            switch (s->type) {
            case VG_TYPE_INT: memcpy(row + off[c], &i64, 8); break;
            case VG_TYPE_REAL: memcpy(row + off[c], value, 8); break;
            case VG_TYPE_BOOL: memcpy(row + off[c], &b, 1); break;
            case VG_TYPE_ENUM: {
                const char *choice = s->choices[*(const int *)value];
                memcpy(row + off[c], choice, strlen(choice));
                break;
            }
            case VG_TYPE_STRING: memcpy(row + off[c], value, strlen((const char *)value)); break;
            }
        }
        int64_t repeat = cfg->repeat;
        memcpy(row + off[c++], &repeat, 8);
        memcpy(row + off[c++], &rows[r].epochs_done, 8);
        memcpy(row + off[c++], &rows[r].loss, 8);
        memcpy(row + off[c++], &rows[r].accuracy, 8);
        memcpy(row + off[c++], &rows[r].test_loss, 8);
        memcpy(row + off[c++], &rows[r].test_accuracy, 8);
        walls[r] = rows[r].wall_seconds;
    }
    hsize_t dims[1] = {(hsize_t)nr};
    space = H5Screate_simple(1, dims, NULL);
    dset = space >= 0 ? H5Dcreate2(file, "index", fcomp, space, H5P_DEFAULT, H5P_DEFAULT,
                                   H5P_DEFAULT)
                      : H5I_INVALID_HID;
    if (dset < 0) {
        st = vg__fail(err, &o, "cannot create");
        goto done;
    }
    if (nr > 0 && H5Dwrite(dset, mcomp, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = vg__fail(err, &o, "cannot write");
        goto done;
    }
    vg__obj io = {dset, rec->tmp_path, "/index", 0};
    st = vg__attr_str(&io, "doc",
                      "one row per run, the sweep's first in grid order: id, status, in_sweep, "
                      "varying settings, repeat, epochs done, last losses and accuracies",
                      err);
    if (st == VG_OK)
        st = vg__attr(&io, "wall_seconds", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, nr, walls, err);
done:
    for (int c = 0; c < n; c++)
        if (owned[c] && ftype[c] >= 0) H5Tclose(ftype[c]);
    if (fcomp >= 0) H5Tclose(fcomp);
    if (mcomp >= 0) H5Tclose(mcomp);
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    free(buf);
    free(walls);
    return st;
}

/* The shared data sets the runs trained on (src/data), one line each, in order of first use:
 * "<data_checksum> <data.kind> <data.path or -> train=<n> test=<n>"; NULL when none. */
static char *vg__data_sets_text(const vg_sweep_info *info) {
    size_t cap = 0, used = 0;
    char *text = NULL;
    for (int64_t r = 0; r < info->n_runs; r++) {
        const vg_run_config *cfg = &info->runs[r];
        int seen = !cfg->has_data_checksum;
        for (int64_t q = 0; q < r && !seen; q++)
            seen = info->runs[q].has_data_checksum &&
                   info->runs[q].data_checksum == cfg->data_checksum;
        if (seen) continue;
        char line[VG_SETTING_TEXT_MAX + 128];
        int n = snprintf(line, sizeof line, "%016" PRIx64 " %s %s train=%d test=%d\n",
                         cfg->data_checksum, vg_data_kind_names[cfg->data_kind],
                         cfg->data_path[0] ? cfg->data_path : "-", cfg->data_train_size,
                         cfg->data_test_size);
        if (n < 0) continue;
        if (used + (size_t)n + 1 > cap) {
            char *g = realloc(text, cap = 2 * cap + (size_t)n + 1);
            if (!g) break;
            text = g;
        }
        memcpy(text + used, line, (size_t)n + 1);
        used += (size_t)n;
    }
    return text;
}

/* Provenance and the sweep, as attributes of /. */
static vg_status vg__write_root(vg_recorder *rec, hid_t file, vg_error *err) {
    const vg_sweep_info *info = &rec->info;
    vg__obj root = {file, rec->tmp_path, "/", 0};
    char libs[512], host[256], machine[sizeof((struct utsname *)0)->machine], finished[32];
    unsigned maj = 0, min = 0, rel = 0;
    vg_status st = VG_OK;

    H5get_libversion(&maj, &min, &rel);
    snprintf(libs, sizeof libs, "HDF5 %u.%u.%u; zlib %s%s%s", maj, min, rel, zlibVersion(),
             info->libraries && info->libraries[0] ? "; " : "",
             info->libraries ? info->libraries : "");
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    struct utsname un; /* the architecture: x86_64, aarch64, ... */
    snprintf(machine, sizeof machine, "%s", uname(&un) == 0 ? un.machine : "unknown");
    vg__now_iso(finished, sizeof finished);

    if (st == VG_OK) st = vg__attr_str(&root, "format", VG_FORMAT_NAME, err);
    if (st == VG_OK) st = vg__attr_i64(&root, "format_version", VG_FORMAT_VERSION, err);
    const vg_buildinfo *build = vg_buildinfo_get(); /* include/vgsweep/buildinfo.h */
    if (st == VG_OK) st = vg__attr_str(&root, "program_version", build->version, err);
    if (st == VG_OK) st = vg__attr_str(&root, "git_revision", build->git_revision, err);
    if (st == VG_OK) st = vg__attr_i64(&root, "git_dirty", build->git_dirty, err);
    if (st == VG_OK) st = vg__attr_str(&root, "build_type", build->build_type, err);
    if (st == VG_OK) st = vg__attr_str(&root, "compiler", build->compiler, err);
    if (st == VG_OK) st = vg__attr_str(&root, "compiler_flags", build->c_flags, err);
    if (st == VG_OK) st = vg__attr_str(&root, "sanitizers", build->sanitizers, err);
    if (st == VG_OK) st = vg__attr_str(&root, "libraries", libs, err);
    if (st == VG_OK) st = vg__attr_str(&root, "host", host, err);
    if (st == VG_OK) st = vg__attr_str(&root, "machine", machine, err);
    if (st == VG_OK) st = vg__attr_str(&root, "kernel_path", vg_nn_kernel_path(), err);
    if (st == VG_OK) st = vg__attr_str(&root, "started", rec->started, err);
    if (st == VG_OK) st = vg__attr_str(&root, "finished", finished, err);
    if (st == VG_OK) st = vg__attr_str(&root, "command_line", info->command_line, err);
    if (st == VG_OK) st = vg__attr_str(&root, "sweep_file", info->sweep_file, err);
    if (st == VG_OK) st = vg__attr_str(&root, "sweep_name", info->sweep_name, err);
    if (st == VG_OK) st = vg__attr_str(&root, "sweep_text", info->sweep_text, err);
    if (st == VG_OK) st = vg__attr_u64(&root, "sweep_seed", info->sweep_seed, err);
    if (st == VG_OK) st = vg__attr_i64(&root, "n_runs", rec->n_all, err);
    char *data_sets = st == VG_OK ? vg__data_sets_text(info) : NULL;
    if (data_sets) st = vg__attr_str(&root, "data_sets", data_sets, err);
    free(data_sets);
    return st;
}

/* Bytes of an object and everything under it in an HDF5 file (headers, attributes, indexes,
 * data): what copying it adds to the output. HDF5 1.12 moved the header and metadata sizes out
 * of H5O_info_t (H5O_info2_t) into H5Oget_native_info; 1.10 (Debian 12) has them in its
 * H5O_info_t. Visited with H5Ovisit3 or H5Ovisit2 (VG__OVISIT), whatever the library's default
 * API mapping. */
#if H5_VERSION_GE(1, 12, 0)
#define VG__OVISIT(g, cb, data) \
    H5Ovisit3(g, H5_INDEX_NAME, H5_ITER_NATIVE, cb, data, H5O_INFO_BASIC)
static herr_t vg__add_object_bytes(hid_t obj, const char *name, const H5O_info2_t *info,
                                   void *data) {
    double *sum = data;
    H5O_native_info_t native;
    unsigned fields = H5O_NATIVE_INFO_HDR | H5O_NATIVE_INFO_META_SIZE;
    if (H5Oget_native_info_by_name(obj, name, &native, fields, H5P_DEFAULT) < 0)
        return -1;
    *sum += (double)native.hdr.space.total + (double)native.meta_size.obj.index_size +
            (double)native.meta_size.obj.heap_size + (double)native.meta_size.attr.index_size +
            (double)native.meta_size.attr.heap_size;
#else
#define VG__OVISIT(g, cb, data)                      \
    H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_NATIVE, cb, data, \
              H5O_INFO_BASIC | H5O_INFO_HDR | H5O_INFO_META_SIZE)
static herr_t vg__add_object_bytes(hid_t obj, const char *name, const H5O_info_t *info,
                                   void *data) {
    double *sum = data;
    *sum += (double)info->hdr.space.total + (double)info->meta_size.obj.index_size +
            (double)info->meta_size.obj.heap_size + (double)info->meta_size.attr.index_size +
            (double)info->meta_size.attr.heap_size;
#endif
    if (info->type == H5O_TYPE_DATASET) {
        hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
        if (d >= 0) {
            *sum += (double)H5Dget_storage_size(d);
            H5Dclose(d);
        }
    }
    return 0;
}

/* Refuses to write `bytes` more into <tmp_path> when the free space or the file-size limit
 * (ulimit -f) cannot hold them: HDF5 1.10 can crash when a write fails inside H5Ocopy, so
 * every copy is checked first. what: "run <id>", "the index" for the message. Must hold the
 * lock. */
static vg_status vg__check_room(const vg_recorder *rec, const char *what, double bytes,
                                vg_error *err) {
    struct stat sb;
    hsize_t size = 0;
    double need = bytes + 65536, allocated = 0, written = 0;
    /* HDF5 allocates file space before it writes metadata out: what it has allocated and not
     * yet written is owed too. */
    if (rec->out >= 0 && H5Fget_filesize(rec->out, &size) >= 0) allocated = (double)size;
    H5Eclear2(H5E_DEFAULT);
    if (stat(rec->tmp_path, &sb) == 0) written = (double)sb.st_size;
    if (allocated < written) allocated = written;
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (double)rl.rlim_cur < allocated + need)
        return vg_error_set(err, VG_EIO,
                            "%s: cannot assemble the output: %s would grow %s to about %.0f "
                            "bytes, over the file-size limit (ulimit -f) of %.0f bytes (File too "
                            "large)",
                            rec->path, what, rec->tmp_path, allocated + need,
                            (double)rl.rlim_cur);
    char *dir = vg__dirname(rec->path);
    struct statvfs vfs;
    double avail = dir && statvfs(dir, &vfs) == 0 ? (double)vfs.f_bavail * (double)vfs.f_frsize
                                                  : -1;
    vg_status st = VG_OK;
    if (avail >= 0 && avail < allocated - written + need)
        st = vg_error_set(err, VG_EIO,
                          "%s: cannot assemble the output: %s needs about %.0f bytes, %.0f are "
                          "free in %s (No space left on device)",
                          rec->path, what, allocated - written + need, avail, dir);
    free(dir);
    return st;
}

/* Creates <tmp_path> and its /runs. Must hold the lock. */
static vg_status vg__out_create(vg_recorder *rec, vg_error *err) {
    vg__obj root = {H5I_INVALID_HID, rec->tmp_path, "/", 0};
    /* Evict each object's metadata from the cache when it is closed: written out while the
     * other workers train, instead of all at once by H5Fclose at the end (25 ms -> 1 ms for
     * the benchmark sweep). Nothing in the output is opened twice.
     * File space from HDF5's aggregators alone, without its free-space managers: a run
     * written from its part deletes or rewrites nothing (vg__emit_series writes each attribute
     * once; only a run copied from an earlier output has its scales attached again), so there
     * is next to no freed space to reuse (files 0.1-0.7 % larger), and tracking it took ~8 %
     * of the time HDF5 spends assembling the output. */
    /* Not when runs are copied from an earlier output (--resume extending it): HDF5 1.10 then
     * fails to evict (H5Gclose/H5Dclose: "Cannot evict dirty entry", "Pinned entries still
     * need evicted?!"), leaves those objects open until the file's strong close and, in a
     * worker thread, prints its error stacks (docs/RELIABILITY.md, "Findings"). */
    int evict = 1;
    for (int64_t r = 0; r < rec->n_all && evict; r++) /* kept runs outside the sweep too */
        evict = rec->origin[r] != VG__IN_OUTPUT;
    hid_t fapl = H5Pcopy(rec->fapl), fcpl = H5Pcreate(H5P_FILE_CREATE);
    /* HDF5 1.14 (Debian 13) even crashes in H5Fflush (H5D_flush_all) after vg__attach_scales
     * has re-attached the scales of a run copied with H5Ocopy when evict-on-close is set. */
    rec->out = fapl >= 0 && fcpl >= 0 && H5Pset_evict_on_close(fapl, evict) >= 0 &&
                       H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_AGGR, 0, 1) >= 0
                   ? H5Fcreate(rec->tmp_path, H5F_ACC_TRUNC, fcpl, fapl)
                   : H5I_INVALID_HID;
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (rec->out < 0) return vg__fail(err, &root, "cannot create");
    rec->out_runs = H5Gcreate2(rec->out, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (rec->out_runs < 0) {
        root.path = "/runs";
        return vg__fail(err, &root, "cannot create group");
    }
    return VG_OK;
}

/* Writes finished run r (from its part, or copied from its group in the old output) into
 * <tmp_path> as /runs/<id> with its index, dimension scales and /index row. The result is the
 * same whatever the order runs are written in. Must hold the lock. */
static vg_status vg__copy_run(vg_recorder *rec, int64_t r, int fd, vg_error *err) {
    const char *id = vg__cfg(rec, r)->id;
    char where[32], what[40];
    vg_status st = VG_OK;
    double bytes = 0;
    snprintf(where, sizeof where, "/runs/%s", id);
    snprintf(what, sizeof what, "run %s", id);

    if (rec->out < 0 && (st = vg__out_create(rec, err)) != VG_OK) return st;
    if (rec->origin[r] != VG__IN_OUTPUT) {
        struct stat sb;
        char *part = vg__part_path(rec, id, 0);
        if (!part) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
        if ((fd >= 0 ? fstat(fd, &sb) : stat(part, &sb)) != 0)
            st = vg_error_set(err, VG_EIO, "%s: cannot assemble the output: %s: %s", rec->path,
                              part, strerror(errno));
        /* HDF5 adds its object headers and chunk indexes to the part's bytes */
        if (st == VG_OK) st = vg__check_room(rec, what, (double)sb.st_size * 1.1 + 16384, err);
        if (st == VG_OK) st = vg__emit_part(rec, r, part, fd, err);
        free(part);
        if (st != VG_OK) return st;
    } else {
        if (rec->old < 0) {
            rec->old = H5Fopen(rec->path, H5F_ACC_RDONLY, H5P_DEFAULT);
            vg__obj oo = {H5I_INVALID_HID, rec->path, "/", 0};
            if (rec->old < 0) return vg__fail(err, &oo, "cannot open to copy its runs");
        }
        hid_t g = H5Gopen2(rec->old, where, H5P_DEFAULT);
        if (g < 0 || VG__OVISIT(g, vg__add_object_bytes, &bytes) < 0) {
            vg__obj oo = {g, rec->path, where, 0};
            st = vg__fail(err, &oo, "cannot measure it");
        }
        if (g >= 0) H5Gclose(g);
        if (st == VG_OK) st = vg__check_room(rec, what, bytes, err);
        vg__obj o = {rec->out_runs, rec->tmp_path, where, 0};
        if (st == VG_OK && H5Ocopy(rec->old, where, rec->out_runs, id, H5P_DEFAULT, H5P_DEFAULT) < 0)
            st = vg__fail(err, &o, "cannot copy from %s", rec->path);
        if (st != VG_OK) return st;
        g = H5Gopen2(rec->out_runs, id, H5P_DEFAULT);
        if (g < 0) return vg__fail(err, &o, "cannot open");
        o.id = g;
        st = vg__attr_i64(&o, "index", r, err); /* the grid may have changed since */
        if (st == VG_OK) st = vg__attach_scales(&o, err);
        if (st == VG_OK) vg__read_row(g, &rec->rows[r]);
        H5Gclose(g);
        if (st != VG_OK) return st;
    }
    /* Write its metadata now and start writing it all out, while the other workers train, so
     * that closing and syncing the output at the end have little left to do (durability still
     * comes from that fsync alone). */
    void *handle = NULL;
    H5Fflush(rec->out, H5F_SCOPE_LOCAL);
    if (H5Fget_vfd_handle(rec->out, H5P_DEFAULT, &handle) >= 0 && handle)
        sync_file_range(*(int *)handle, 0, 0, SYNC_FILE_RANGE_WRITE);
    H5Eclear2(H5E_DEFAULT);
    rec->copied[r] = 1;
    if (rec->origin[r] == VG__IN_PARTS || rec->origin[r] == VG__IN_OUTPUT) rec->n_reused_left--;
    return VG_OK;
}

/* A copy failed: <tmp_path> is dropped for the rest of the session (the runs keep being
 * recorded in their parts) and close reports the error. Must hold the lock. */
static void vg__out_fail(vg_recorder *rec) {
    rec->out_failed = 1;
    vg__out_close_quietly(rec);
    unlink(rec->tmp_path);
}

/* Writes the queued ended runs into <tmp_path>, each with its share of the runs reused from
 * before this session (spread evenly over the runs still to finish and close). Without wait,
 * returns at once when another thread holds the HDF5 lock: that thread writes what is queued
 * before it lets go. Errors are kept for close. */
static void vg__emit_queued(vg_recorder *rec, int wait) {
    for (;;) {
        if (wait) pthread_mutex_lock(&vg__hdf5_lock);
        else if (pthread_mutex_trylock(&vg__hdf5_lock) != 0) return;
        /* Debian's HDF5 is built thread-safe, so its error stacks, and whether it prints them,
         * are per thread: off here too, not only in the thread that created the recorder (a
         * worker is the only other thread that calls HDF5, from here). */
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        for (;;) {
            pthread_mutex_lock(&rec->state_lock);
            vg__emit_item *item = rec->emit_head;
            if (item) {
                rec->emit_head = item->next;
                if (!rec->emit_head) rec->emit_tail = NULL;
            }
            int64_t unfinished = rec->n_unfinished;
            pthread_mutex_unlock(&rec->state_lock);
            if (!item) break;
            if (!rec->out_failed && vg__copy_run(rec, item->pos, item->fd, &rec->out_err) != VG_OK)
                vg__out_fail(rec);
            close(item->fd);
            free(item);
            int64_t share = (rec->n_reused_left + unfinished) / (unfinished + 1);
            for (; !rec->out_failed && share > 0 && rec->n_reused_left > 0; share--) {
                int64_t r = rec->reuse_cursor;
                while (r < rec->n_all &&
                       (rec->copied[r] ||
                        (rec->origin[r] != VG__IN_PARTS && rec->origin[r] != VG__IN_OUTPUT)))
                    r++;
                rec->reuse_cursor = r;
                if (r == rec->n_all) break;
                if (vg__copy_run(rec, r, -1, &rec->out_err) != VG_OK) vg__out_fail(rec);
            }
        }
        pthread_mutex_unlock(&vg__hdf5_lock);
        /* a run queued after the last look, while its worker found the lock taken */
        pthread_mutex_lock(&rec->state_lock);
        int more = rec->emit_head != NULL;
        pthread_mutex_unlock(&rec->state_lock);
        if (!more) return;
    }
}

/* Completes <tmp_path>: copies the runs not yet in it, writes the root's attributes and
 * /index (grid order) and closes it. Must hold the lock; on error the caller drops it. */
static vg_status vg__finish_output(vg_recorder *rec, vg_error *err) {
    vg_status st = VG_OK;
    for (int64_t r = 0; r < rec->n_all && st == VG_OK; r++)
        if (!rec->copied[r]) st = vg__copy_run(rec, r, -1, err);
    if (st == VG_OK && rec->out < 0) st = vg__out_create(rec, err);
    if (st != VG_OK) return st;
    const vg_sweep_info *info = &rec->info;
    double bytes = 8192 + 256.0 * (double)rec->n_all +
                   (info->sweep_text ? (double)strlen(info->sweep_text) : 0) +
                   (info->command_line ? (double)strlen(info->command_line) : 0);
    st = vg__check_room(rec, "the index", bytes, err);
    if (st == VG_OK) st = vg__write_root(rec, rec->out, err);
    if (st == VG_OK) st = vg__write_index(rec, rec->out, rec->rows, err);
    if (st != VG_OK) return st;
    if (rec->old >= 0) H5Fclose(rec->old); /* read-only: nothing to lose */
    rec->old = H5I_INVALID_HID;
    vg__obj root = {rec->out_runs, rec->tmp_path, "/runs", 0};
    if (H5Gclose(rec->out_runs) < 0) st = vg__fail(err, &root, "cannot close");
    rec->out_runs = H5I_INVALID_HID;
    root.path = "/";
    if (H5Fclose(rec->out) < 0 && st == VG_OK) st = vg__fail(err, &root, "cannot close");
    rec->out = H5I_INVALID_HID;
    return st;
}

vg_status vg_recorder_close(vg_recorder *rec, vg_error *err) {
    vg_status st = VG_OK;
    if (!rec) return VG_OK;
    vg__committer_stop(rec); /* every ended part durable (or lost) */
    int64_t n_done = 0;
    for (int64_t r = 0; r < rec->n_all; r++)
        n_done += rec->state[r] != VG__TODO && rec->state[r] != VG__RUNNING;
    if (rec->open_runs > 0)
        st = vg_error_set(err, VG_EINTERNAL, "%s: closed with %d run(s) still being written",
                          rec->path, rec->open_runs);
    else if (rec->commit_failed) {
        st = rec->commit_err.code;
        if (err) {
            *err = rec->commit_err;
            const char *kept = "; that run is lost, the other finished ones are kept: run "
                               "again with --resume";
            if (strlen(err->message) + strlen(kept) < sizeof err->message)
                strcat(err->message, kept);
        }
    } else if (n_done < rec->n_all)
        st = vg_error_set(err, VG_EIO,
                          "%s: only %lld of %lld runs are recorded; the finished ones are kept in "
                          "%s: run again with --resume to complete it",
                          rec->path, (long long)n_done, (long long)rec->n_all, rec->parts);
    if (st != VG_OK) {
        vg_recorder_abort(rec);
        return st;
    }

    vg__emit_queued(rec, 1); /* the ended runs no worker got to write into the output */
    pthread_mutex_lock(&vg__hdf5_lock);
    if (rec->out_failed) { /* a copy failed earlier: <tmp_path> is already gone */
        st = rec->out_err.code;
        if (err) *err = rec->out_err;
    } else {
        st = vg__finish_output(rec, err);
    }
    if (st != VG_OK) vg__out_close_quietly(rec);
    pthread_mutex_unlock(&vg__hdf5_lock);
    /* On failure nothing takes the final name; the old output (if any) and the parts stay. */
    if (st == VG_OK) st = vg__commit(rec->tmp_path, rec->path, rec->path, err);
    if (st != VG_OK) {
        unlink(rec->tmp_path);
        char kept[160];
        snprintf(kept, sizeof kept, "; the %lld finished runs are kept in %s: run again with "
                 "--resume", (long long)n_done, rec->parts);
        if (err && strlen(err->message) + strlen(kept) < sizeof err->message)
            strcat(err->message, kept);
        vg__recorder_free(rec);
        return st;
    }
    /* The output holds every run: the parts are no longer needed. A failure to delete them
     * loses nothing, and the next --resume or --force deals with them. */
    if (vg__clear_parts(rec->parts, 0, rec->path, NULL) == VG_OK)
        vg__fsync_dir_of(rec->parts, rec->path, NULL);
    vg__recorder_free(rec);
    return VG_OK;
}

void vg_recorder_abort(vg_recorder *rec) {
    if (!rec) return;
    vg__committer_stop(rec); /* the runs that ended are kept */
    pthread_mutex_lock(&vg__hdf5_lock);
    vg__out_close_quietly(rec);
    pthread_mutex_unlock(&vg__hdf5_lock);
    unlink(rec->tmp_path);
    vg__recorder_free(rec);
}

/* --- size estimate ----------------------------------------------------------------------- */

/* Measured on this HDF5 (1.10, libver 1.10 bounds) by writing runs and comparing file sizes;
 * see docs/FORMAT.md, "Size". */
#define VG__EST_RUN_BYTES 900      /* run group and its fixed attributes */
#define VG__EST_ATTR_BYTES 90      /* one setting attribute (name, type, value) */
#define VG__EST_DSET_BYTES 500     /* one dataset: object header, labels, scale links */
#define VG__EST_CHUNK_INDEX 24     /* one chunk's entry in a tensor's chunk index */
#define VG__EST_SWEEP_BYTES 8600   /* superblock, root group and attributes (provenance with
                                    * machine and kernel path), /runs, /index, and on average
                                    * half of the last 2 KiB metadata block */
#define VG__EST_TEXT_ATTR_BYTES 600 /* one text setting attribute (data.path, ...): the value's
                                     * fixed-length string type plus its header message */

/* Deflate ratio of shuffled float32 gradients (compressed / raw), by activation; measured on
 * sweeps/depth_vs_act.yaml-like sweeps (docs/FORMAT.md). Nets whose gradients are exactly zero
 * in places (dead ReLU units) compress much better than this: the estimate is then high. */
static double vg__deflate_ratio(const vg_run_config *cfg) {
    switch (cfg->model_activation) {
    case VG_ACT_RELU: return 0.75;
    case VG_ACT_SIGMOID: return 0.82;
    default: return 0.90;
    }
}

int64_t vg_record_estimate_bytes(const vg_run_config *cfg, const vg_run_result *plan) {
    const vg_run_layout *lay = &plan->layout;
    double bytes = VG__EST_RUN_BYTES + VG__EST_ATTR_BYTES * (double)VG_SETTING_COUNT;
    for (int s = 0; s < VG_SETTING_COUNT; s++)
        if (vg_settings[s].type == VG_TYPE_STRING) bytes += VG__EST_TEXT_ATTR_BYTES - VG__EST_ATTR_BYTES;
    double ratio = vg__deflate_ratio(cfg);
    /* scales checkpoint, epoch, layer and fan_in, fan_out */
    bytes += 5 * VG__EST_DSET_BYTES + 8.0 * (2 * lay->n_epochs + 1 + 3 * lay->n_layers);
    for (int i = 0; i < plan->n_series; i++) {
        const vg_series *s = &plan->series[i];
        double n = 1;
        for (int d = 0; d < s->rank; d++) n *= (double)s->dims[d];
        bytes += VG__EST_DSET_BYTES + (s->doc ? (double)strlen(s->doc) : 0) +
                 n * (double)vg__dtype_size(s->dtype);
    }
    for (int i = 0; i < lay->n_tensors; i++) {
        const vg_tensor_spec *t = &lay->tensors[i];
        double slot = 4;
        for (int d = 0; d < t->rank; d++) slot *= (double)t->dims[d];
        /* A small slot does not shrink (stored shuffled only). */
        double stored = slot * ratio + 16 < slot ? slot * ratio + 16 : slot;
        bytes += VG__EST_DSET_BYTES + (t->doc ? (double)strlen(t->doc) : 0) +
                 8.0 * t->n_slots + t->n_slots * (stored + VG__EST_CHUNK_INDEX);
    }
    /* its /index row */
    bytes += 64 + 8.0 * 6;
    return (int64_t)bytes;
}

/* zlib's deflate state at level 1, windowBits 15, memLevel 8 (zlib's zconf.h: (1 << 17) +
 * (1 << 17) bytes plus its own struct), rounded up. */
#define VG__EST_ZLIB_BYTES (300 << 10)
/* HDF5's own per-run work while the run is written into the output (chunk cache, object
 * headers, the dimension-scale lists): a round figure. */
#define VG__EST_HDF5_RUN_BYTES (2 << 20)

double vg_record_estimate_memory(const vg_run_config *cfg, const vg_run_result *plan,
                                 double *at_end) {
    const vg_run_layout *lay = &plan->layout;
    /* vg_recorder_begin_run: the part's write buffer, the compressor, the whole tensors
     * (vg__take_whole) and a shuffled slot of the others, zbuf for a slot too large for the
     * part's buffer */
    double held = (double)VG_PART_BUFFER + VG__EST_ZLIB_BYTES + sizeof(vg_run_writer) +
                  (double)lay->n_tensors * sizeof(vg__tensor) + 2.0 * lay->n_layers * sizeof(int);
    size_t whole = 0;
    double largest = 0;
    for (int i = 0; i < lay->n_tensors; i++) {
        const vg_tensor_spec *t = &lay->tensors[i];
        double slot = sizeof(float);
        for (int d = 0; d < t->rank; d++) slot *= (double)t->dims[d];
        if (!vg__take_whole((uint64_t)(slot * t->n_slots), &whole) && slot > largest) largest = slot;
    }
    held += (double)whole + largest;
    if (largest > 0 && (double)vg_deflate_bound((size_t)largest) > (double)VG_PART_BUFFER - 64)
        held += (double)vg_deflate_bound((size_t)largest);
    (void)cfg;
    if (at_end) {
        /* vg_recorder_end_run: the result payload (every series, in a buffer grown by
         * realloc: twice its size while the last copy is made), freed before the part is mapped
         * to be written into the output (about the run's bytes in the file); a whole
         * tensor's slots and HDF5's own */
        double series = 0;
        for (int i = 0; i < plan->n_series; i++) {
            const vg_series *s = &plan->series[i];
            double n = 1;
            for (int d = 0; d < s->rank; d++) n *= (double)s->dims[d];
            series += n * (double)vg__dtype_size(s->dtype) + 512;
        }
        double mapped = (double)vg_record_estimate_bytes(cfg, plan);
        *at_end = (2 * series > mapped ? 2 * series : mapped) + VG__WHOLE_MAX +
                  VG__EST_HDF5_RUN_BYTES;
    }
    return held;
}

vg_status vg_record_check_plan(const vg_run_config *cfg, const vg_run_result *plan,
                               vg_error *err) {
    for (int i = 0; i < plan->layout.n_tensors; i++) {
        const vg_tensor_spec *s = &plan->layout.tensors[i];
        uint64_t bytes = sizeof(float);
        for (int d = 0; d < s->rank && d < 2; d++)
            bytes *= (uint64_t)(s->dims[d] > 0 ? s->dims[d] : 1);
        if (bytes >= VG__MAX_CHUNK_BYTES)
            return vg_error_set(err, VG_EUSAGE,
                                "run %s: %s: one checkpoint of it is %.1f GiB, over HDF5's 4 GiB "
                                "chunk limit; narrow model.width, or record neither its "
                                "gradients (record.tensors: none) nor its weights "
                                "(record.weights: none)",
                                cfg->id, s->name, (double)bytes / (1u << 30));
    }
    return VG_OK;
}

int64_t vg_record_estimate_sweep_bytes(const vg_sweep_info *info) {
    return VG__EST_SWEEP_BYTES + (info->sweep_text ? (int64_t)strlen(info->sweep_text) : 0) +
           (info->command_line ? (int64_t)strlen(info->command_line) : 0) + 8 * info->n_runs;
}
