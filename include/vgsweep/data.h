/* Data sets. A data set is made (generated or read from files) from a run's resolved data
 * settings and is read-only afterwards. Rows are samples, stored contiguously in float32.
 *
 * Sets read from files, and generated sets with a fixed data.seed, are the same for every run
 * with the same data settings: vg_data_prepare reads and prepares each of them once per process
 * (before any run starts, so bad data is reported before anything is trained) and every run
 * then borrows that one read-only copy through vg_dataset_acquire. Each run still shuffles its
 * own index permutation from its own seed (src/train). */
#ifndef VGSWEEP_DATA_H
#define VGSWEEP_DATA_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/settings.h"
#include "vgsweep/targets.h"


typedef struct vg_dataset {
    int64_t n_train, n_test;
    int features, classes;
    /* vg_target_kind. CLASS and STEP_CLASS fill y_*, REAL fills t_* (y_* then NULL) */
    int target_kind;
    int targets;      /* VG_TARGET_REAL: real values per sample (the net's outputs); else 0 */
    float *t_train;   /* (n_train, targets) or NULL */
    float *t_test;    /* (n_test, targets) or NULL */
    /* A sample is steps x step_features values, time-major (features = steps * step_features).
     * Every set today has steps = 1; the sequence tasks of recurrent nets will set T > 1. */
    int steps, step_features;
    float *x_train;   /* (n_train, features) */
    int32_t *y_train; /* (n_train) class index in [0, classes); (n_train, steps) for STEP_CLASS */
    float *x_test;    /* (n_test, features) */
    int32_t *y_test;  /* (n_test), or (n_test, steps) for STEP_CLASS */
    uint64_t checksum; /* vg_hash64 chain over x_train, y_train, x_test, y_test as prepared */
    int shared;       /* borrowed from the process's registry: vg_dataset_release keeps it */
    int n_label_names;  /* csv with text labels: class k is label_names[k] (sorted); else 0 */
    char **label_names;
} vg_dataset;


/* Builds the data set that cfg describes, a private copy. The generated sets draw from
 * data.seed, or from a stream derived from the run's seed when data.seed is -1; sets read from
 * files draw their samples and splits from data.seed (0 when it is -1). Errors name the file. */
vg_status vg_dataset_make(const vg_run_config *cfg, vg_dataset *ds, vg_error *err);
void vg_dataset_free(vg_dataset *ds);

/* Whether runs of cfg share one copy of their data (read from files, or a fixed data.seed). */
int vg_data_is_shared(const vg_run_config *cfg);

/* Reads and prepares, once per distinct data settings, every shared data set the runs use, and
 * checks it against them: data.features and data.classes must match the file, a train_size of
 * -1 (all) is replaced in runs by the split's size, and record.probe and train.batch_size must
 * fit it. Errors name the file (ECONFIG for bad or missing data: exit 2). */
vg_status vg_data_prepare(vg_run_config *runs, int64_t n_runs, vg_error *err);
/* The prepared copy for cfg (shared, borrowed) when there is one, else a private vg_dataset_make. */
vg_status vg_dataset_acquire(const vg_run_config *cfg, vg_dataset *ds, vg_error *err);
void vg_dataset_release(vg_dataset *ds);
/* The shape of cfg's shared set when vg_data_prepare has read it (images as sequences: rows
 * x columns; a csv's real targets): returns 1 and sets steps, step_features and targets (0 for
 * class targets); 0 (nothing set) when cfg's data is not shared or not read yet. */
int vg_data_shared_shape(const vg_run_config *cfg, int *steps, int *step_features, int *targets);
/* Number of shared sets prepared, and their bytes, each counted once (the dry run reports it). */
int vg_data_shared_count(void);
double vg_data_shared_bytes(void);
/* Memory hook for a per-run estimate: the bytes of cfg's data that a run holds itself, 0 when
 * its data is shared (that copy is counted once, by vg_data_shared_bytes). */
double vg_dataset_run_bytes(const vg_run_config *cfg);
/* Frees every shared set (at exit). */
void vg_data_registry_free(void);

/* The file a path setting names: relative to the directory of the sweep file that set it. */
void vg_data_resolve_path(const vg_run_config *cfg, int setting, char *buf, size_t size);

#endif
