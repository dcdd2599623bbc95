/* Data sets. A data set is made (or loaded) once per run from the run's resolved settings and
 * is read-only afterwards. Rows are samples, stored contiguously in float32. */
#ifndef VGSWEEP_DATA_H
#define VGSWEEP_DATA_H

#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/settings.h"

typedef struct vg_dataset {
    int64_t n_train, n_test;
    int features, classes;
    float *x_train;   /* (n_train, features) */
    int32_t *y_train; /* (n_train), class index in [0, classes) */
    float *x_test;    /* (n_test, features) */
    int32_t *y_test;  /* (n_test) */
} vg_dataset;

/* Builds the data set that cfg describes. The generated sets draw from data.seed, or from a
 * stream derived from the run's seed when data.seed is -1. */
vg_status vg_dataset_make(const vg_run_config *cfg, vg_dataset *ds, vg_error *err);
void vg_dataset_free(vg_dataset *ds);

#endif
