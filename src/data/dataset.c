/* Built-in data sets. "clusters": one Gaussian blob per class in `features` dimensions.
 * Class centres c_k ~ N(0, s^2 I) with s = separation / sqrt(2 * features), so two centres are
 * about `separation` apart; a sample of class k is c_k + N(0, I). Labels are balanced (sample i
 * has class i mod classes before a shuffle), so any prefix, such as the probe batch, holds a
 * near-uniform mix of classes. Train and test samples come from the same centres. */
#include "vgsweep/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/rng.h"

/* Stream tags: every random stream of a run derives from its seed and a fixed tag. */
#define VG_DATA_STREAM 0x64617461ULL /* "data" */

/* noise (features) is scratch for one row's draws. */
static void vg__fill_samples(float *x, int32_t *y, int64_t n, int features, int classes,
                             const double *centres, double *noise, vg_rng *rng) {
    for (int64_t i = 0; i < n; i++) y[i] = (int32_t)(i % classes);
    vg_rng_shuffle_i32(rng, y, n);
    for (int64_t i = 0; i < n; i++) {
        const double *c = centres + (int64_t)y[i] * features;
        float *row = x + i * features;
        vg_rng_normals(rng, noise, features);
        for (int f = 0; f < features; f++) row[f] = (float)(c[f] + noise[f]);
    }
}

vg_status vg_dataset_make(const vg_run_config *cfg, vg_dataset *ds, vg_error *err) {
    memset(ds, 0, sizeof *ds);
    if (cfg->data_kind != VG_DATA_CLUSTERS)
        return vg_error_set(err, VG_EINTERNAL, "unknown data.kind %d", cfg->data_kind);
    ds->n_train = cfg->data_train_size;
    ds->n_test = cfg->data_test_size;
    ds->features = cfg->data_features;
    ds->classes = cfg->data_classes;

    uint64_t seed = cfg->data_seed >= 0 ? (uint64_t)cfg->data_seed : cfg->seed;
    vg_rng rng;
    vg_rng_seed(&rng, vg_seed_mix(seed, VG_DATA_STREAM));

    int64_t F = ds->features;
    double *centres = malloc((size_t)(ds->classes * F + F) * sizeof *centres);
    ds->x_train = malloc((size_t)(ds->n_train * F) * sizeof(float));
    ds->y_train = malloc((size_t)ds->n_train * sizeof(int32_t));
    ds->x_test = malloc((size_t)(ds->n_test * F + 1) * sizeof(float));
    ds->y_test = malloc((size_t)(ds->n_test + 1) * sizeof(int32_t));
    if (!centres || !ds->x_train || !ds->y_train || !ds->x_test || !ds->y_test) {
        free(centres);
        vg_dataset_free(ds);
        double bytes = (double)(cfg->data_train_size + cfg->data_test_size) *
                       ((double)cfg->data_features * sizeof(float) + sizeof(int32_t));
        return vg_error_set(err, VG_ENOMEM, "out of memory for %lld x %d samples (%.0f bytes)",
                            (long long)(cfg->data_train_size + cfg->data_test_size),
                            cfg->data_features, bytes);
    }
    double s = cfg->data_separation / sqrt(2.0 * (double)F);
    double *noise = centres + ds->classes * F; /* (F) scratch after the centres */
    vg_rng_normals(&rng, centres, ds->classes * F);
    for (int64_t i = 0; i < ds->classes * F; i++) centres[i] *= s;
    vg__fill_samples(ds->x_train, ds->y_train, ds->n_train, ds->features, ds->classes, centres,
                     noise, &rng);
    vg__fill_samples(ds->x_test, ds->y_test, ds->n_test, ds->features, ds->classes, centres,
                     noise, &rng);
    free(centres);
    return VG_OK;
}

void vg_dataset_free(vg_dataset *ds) {
    free(ds->x_train);
    free(ds->y_train);
    free(ds->x_test);
    free(ds->y_test);
    memset(ds, 0, sizeof *ds);
}
