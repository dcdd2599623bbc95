/* The run contract: what a producer (the training stage, or any model that records runs)
 * declares to the record, and all the record knows of a run. The record stores what it is
 * given, as data, without knowing what a layer, a net or an epoch is (docs/FORMAT.md,
 * "The run contract"):
 *
 *   axes     every dimension of every dataset the run writes: name, length, values, doc; each
 *            becomes a dimension-scale dataset, so a run group opens in xarray/netCDF tools
 *   tensors  arrays streamed slot by slot while the run goes (any rank of one slot), written
 *            as (slot axis, slot axes...) float32 datasets
 *   series   arrays written when the run ends (any rank up to VG_MAX_RANK, any vg_dtype)
 *   attrs    attributes of the run group, integers or strings (n_layers, n_epochs, kernel_path,
 *            ...: the producer's)
 *   output   status, message, units of progress done (epochs_done), wall time, the series
 *
 * and, once per sweep (vg_sweep_info in record.h), the /index columns it wants: the final value
 * of a named series (e.g. the last epoch's loss).
 *
 * Axis names are paths inside the run group with netCDF's scoping: a dataset's dimension named
 * "unit" is the axis "<its group>/unit" when declared, else "<parent group>/unit", ..., else
 * "unit" (so "layers/03/unit" is the unit axis of the tensors of layers/03 and of nothing
 * else). The scale dataset of axis "layers/03/unit" is written at that path. */
#ifndef VGSWEEP_CONTRACT_H
#define VGSWEEP_CONTRACT_H

#include <stdint.h>

/* Largest rank of a series, and of a tensor dataset (its slot axis included). */
#define VG_MAX_RANK 4

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
/* "pending", "ok", ...: indexed by vg_run_status (defined by the record: src/record/contract.c). */
extern const char *const vg_run_status_names[];

typedef enum vg_dtype { VG_F32, VG_F64, VG_I32, VG_I64 } vg_dtype;

/* One axis: the dimension-scale dataset <run>/<name>, int64 values, with attribute doc. */
typedef struct vg_axis {
    char name[48];         /* path in the run group: "checkpoint", "layers/03/unit"; its last
                            * component is the dimension's name */
    const char *doc;       /* one line: what a value along it means */
    int64_t length;        /* >= 0 */
    int64_t first;         /* values first, first + 1, ... when values is NULL */
    const int64_t *values; /* (length) the values, or NULL; owned by the producer */
} vg_axis;

/* A named array a run produces, written when the run ends as the dataset
 * /runs/<id>/<name>. Adding a statistic means adding a series; the recorder needs no change. */
typedef struct vg_series {
    const char *name; /* path inside the run's group: "loss", "clip/fraction", "probe/x" */
    const char *doc;  /* one line: meaning and unit (the dataset's "doc" attribute) */
    const char *axes; /* comma-separated names of its dimensions' axes, e.g. "checkpoint,layer" */
    vg_dtype dtype;
    int rank;         /* 1..VG_MAX_RANK */
    int64_t dims[VG_MAX_RANK];
    void *data;       /* (dims[0], ..., dims[rank-1]) row-major, owned by the producer */
} vg_series;

/* A tensor streamed slot by slot while the run goes: the float32 dataset /runs/<id>/<name> of
 * shape (n_slots, dims...). Slots never written (a run that diverged first) read back as NaN. */
typedef struct vg_tensor_spec {
    char name[48];    /* path inside the run's group: "layers/03/grad_W" */
    const char *doc;  /* one line: meaning */
    const char *axes; /* comma-separated: the slot axis (length n_slots), then rank axes
                       * (lengths dims[0..rank-1]), e.g. "grad_checkpoint,unit,input" */
    int rank;         /* of one slot: 1..VG_MAX_RANK-1 */
    int64_t dims[VG_MAX_RANK - 1]; /* shape of one slot */
    int n_slots;
    int *checkpoints; /* (n_slots): the label of each slot (the attribute "checkpoints") */
    int source, layer; /* the producer's own (the recorder ignores them) */
} vg_tensor_spec;

/* An attribute of the run group: an integer, or a string when text is not NULL. */
typedef struct vg_run_attr {
    const char *name; /* "n_layers"; not a setting's name nor one of the record's own */
    int64_t value;
    const char *text; /* NULL: an integer (value); else the string (e.g. "kernel_path") */
} vg_run_attr;

#define VG_MAX_RUN_ATTRS 8

/* What a run will record, known before it starts (vg_recorder_begin_run). */
typedef struct vg_run_layout {
    int n_axes;
    vg_axis *axes;           /* (n_axes) every axis its tensors and series use, names unique */
    int n_tensors;
    vg_tensor_spec *tensors; /* (n_tensors) */
    int n_attrs;
    vg_run_attr attrs[VG_MAX_RUN_ATTRS];
    /* Expected compressed / raw bytes of its tensors (shuffled float32 under deflate), for
     * the size estimate only; 0: the record's default (0.9). */
    double tensor_ratio;
} vg_run_layout;

/* What a run produced besides its tensors (vg_recorder_end_run). Its fields are spelled out
 * by a macro so that a producer's result can hold them as its own (train.h's vg_run_result). */
#define VG_RUN_OUTPUT_FIELDS                                                                     \
    vg_run_status status;                                                                        \
    char message[1024]; /* why it diverged or failed; empty when ok */                          \
    int epochs_done;    /* units of progress completed: the /index columns take the value of   \
                         * their series at epochs_done - 1 */                                     \
    double wall_seconds;                                                                         \
    int n_series;                                                                                \
    vg_series *series; /* (n_series) */

typedef struct vg_run_output {
    VG_RUN_OUTPUT_FIELDS
} vg_run_output;

/* A column of /index: the final value of a 1-D series, element epochs_done - 1 (NaN when the
 * run has no such series or did not get that far). */
typedef struct vg_index_column {
    const char *name;   /* the column's name: "loss" */
    const char *series; /* the series it is taken from */
} vg_index_column;

#define VG_MAX_INDEX_COLUMNS 8

#endif
