/* Data sets: the generated ones (clusters, spirals, teacher), the ones read from files
 * (fashion-mnist, idx, csv), their common preparation (sampling, scaling, standardization,
 * checksum) and the process's registry of shared, read-only sets.
 *
 * "clusters": one Gaussian blob per class in `features` dimensions. Class centres
 * c_k ~ N(0, s^2 I) with s = separation / sqrt(2 * features), so two centres are about
 * `separation` apart; a sample of class k is c_k + N(0, I). Labels are balanced (sample i has
 * class i mod classes before a shuffle), so any prefix, such as the probe batch, holds a
 * near-uniform mix of classes. Train and test samples come from the same centres. */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include "vgsweep/data.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "data/parse.h"
#include "vgsweep/config.h"
#include "vgsweep/rng.h"

/* Stream tags: every random stream of a run derives from its seed and a fixed tag. */
#define VG_DATA_STREAM 0x64617461ULL /* "data" */
#define VG_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

static int vg__loaded(int kind) {
    return kind == VG_DATA_FASHION_MNIST || kind == VG_DATA_IDX || kind == VG_DATA_CSV;
}

/* Large arrays on 2 MB boundaries, with transparent huge pages asked for: filling 200 MB of
 * samples then takes ~100 page faults instead of ~50,000 (a third of Fashion-MNIST's load). */
static void *vg__alloc_big(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < 2 * huge) return malloc(bytes);
    void *p = NULL;
    bytes = (bytes + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}

/* Target values per sample: int32 class indices (1, or one per step), or float reals. */
static int64_t vg__target_len(int target_kind, int steps, int targets) {
    return target_kind == VG_TARGET_REAL        ? targets
           : target_kind == VG_TARGET_STEP_CLASS ? steps
                                                 : 1;
}

/* Bytes of one sample: its inputs and its targets (int32 and float are both 4 bytes). */
static double vg__sample_bytes(int features, int target_kind, int steps, int targets) {
    return (double)features * 4 + 4 * (double)vg__target_len(target_kind, steps, targets);
}

/* Allocates x_* and the targets ds->target_kind asks for (y_* or t_*). */
static vg_status vg__alloc(vg_dataset *ds, const char *what, vg_error *err) {
    int64_t F = ds->features, T = vg__target_len(ds->target_kind, ds->steps, ds->targets);
    int real = ds->target_kind == VG_TARGET_REAL;
    ds->x_train = vg__alloc_big((size_t)(ds->n_train * F + 1) * sizeof(float));
    ds->x_test = vg__alloc_big((size_t)(ds->n_test * F + 1) * sizeof(float));
    if (real) {
        ds->t_train = malloc((size_t)(ds->n_train * T + 1) * sizeof(float));
        ds->t_test = malloc((size_t)(ds->n_test * T + 1) * sizeof(float));
    } else {
        ds->y_train = malloc((size_t)(ds->n_train * T + 1) * sizeof(int32_t));
        ds->y_test = malloc((size_t)(ds->n_test * T + 1) * sizeof(int32_t));
    }
    if (!ds->x_train || !ds->x_test || (real ? !ds->t_train || !ds->t_test
                                             : !ds->y_train || !ds->y_test)) {
        long long n = (long long)(ds->n_train + ds->n_test);
        double bytes = (double)n * vg__sample_bytes((int)F, ds->target_kind, ds->steps,
                                                     ds->targets);
        vg_dataset_free(ds);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory for %lld x %d samples (%.0f bytes)",
                            what, n, (int)F, bytes);
    }
    return VG_OK;
}

/* --- generated sets --- */

static void vg__balanced_labels(int32_t *y, int64_t n, int classes, vg_rng *rng) {
    for (int64_t i = 0; i < n; i++) y[i] = (int32_t)(i % classes);
    vg_rng_shuffle_i32(rng, y, n);
}

/* noise (features) is scratch for one row's draws. */
static void vg__fill_samples(float *x, int32_t *y, int64_t n, int features, int classes,
                             const double *centres, double *noise, vg_rng *rng) {
    vg__balanced_labels(y, n, classes, rng);
    for (int64_t i = 0; i < n; i++) {
        const double *c = centres + (int64_t)y[i] * features;
        float *row = x + i * features;
        vg_rng_normals(rng, noise, features);
        for (int f = 0; f < features; f++) row[f] = (float)(c[f] + noise[f]);
    }
}

static vg_status vg__make_clusters(const vg_run_config *cfg, vg_dataset *ds, vg_rng *rng,
                                   vg_error *err) {
    int64_t F = ds->features;
    double *centres = malloc((size_t)(ds->classes * F + F) * sizeof *centres);
    if (!centres) return vg_error_set(err, VG_ENOMEM, "clusters: out of memory");
    vg_status st = vg__alloc(ds, "clusters", err);
    if (st) {
        free(centres);
        return st;
    }
    double s = cfg->data_separation / sqrt(2.0 * (double)F);
    double *noise = centres + ds->classes * F; /* (F) scratch after the centres */
    vg_rng_normals(rng, centres, ds->classes * F);
    for (int64_t i = 0; i < ds->classes * F; i++) centres[i] *= s;
    vg__fill_samples(ds->x_train, ds->y_train, ds->n_train, ds->features, ds->classes, centres,
                     noise, rng);
    vg__fill_samples(ds->x_test, ds->y_test, ds->n_test, ds->features, ds->classes, centres,
                     noise, rng);
    free(centres);
    return VG_OK;
}

/* "spirals": `classes` arms around the origin, arm k at angle 2 pi (turns t + k / classes) and
 * radius t for t ~ U(0, 1), plus N(0, noise^2) on both coordinates; features beyond the first
 * two are N(0, noise^2) distractors. Labels balanced as for clusters. */
static void vg__fill_spirals(const vg_run_config *cfg, float *x, int32_t *y, int64_t n, int F,
                             int K, vg_rng *rng) {
    vg__balanced_labels(y, n, K, rng);
    for (int64_t i = 0; i < n; i++) {
        double t = vg_rng_uniform(rng);
        double a = 6.283185307179586 * (cfg->data_turns * t + (double)y[i] / K);
        float *row = x + i * F;
        row[0] = (float)(t * cos(a) + cfg->data_noise * vg_rng_normal(rng));
        row[1] = (float)(t * sin(a) + cfg->data_noise * vg_rng_normal(rng));
        for (int f = 2; f < F; f++) row[f] = (float)(cfg->data_noise * vg_rng_normal(rng));
    }
}

static double vg__act(int act, double z) {
    switch (act) {
    case VG_ACT_SIGMOID: return 1 / (1 + exp(-z));
    case VG_ACT_TANH: return tanh(z);
    case VG_ACT_RELU: return z > 0 ? z : 0;
    case VG_ACT_LEAKY_RELU: return z > 0 ? z : 0.01 * z;
    case VG_ACT_ELU: return z > 0 ? z : expm1(z);
    case VG_ACT_SELU: return 1.0507009873554805 * (z > 0 ? z : 1.6732632423543772 * expm1(z));
    case VG_ACT_GELU: return 0.5 * z * (1 + erf(z / sqrt(2.0)));
    case VG_ACT_SOFTSIGN: return z / (1 + fabs(z));
    case VG_ACT_SWISH: return z / (1 + exp(-z));
    default: return z;
    }
}

/* "teacher": inputs x ~ N(0, I); the label is the argmax of a random MLP's outputs, an MLP of
 * data.teacher_depth hidden layers of data.teacher_width units with data.teacher_activation,
 * weights N(0, g^2 / fan_in) (g = sqrt 2 for the ReLU family, else 1), zero biases. Each output
 * is standardized (mean and std over the training inputs) before the argmax: a deep teacher's
 * outputs depend less and less on its input (they would give nearly every sample one class),
 * and standardizing keeps the classes about balanced while the input-dependent part that
 * decides them shrinks with depth, which is what makes a deep teacher's task hard. */
static vg_status vg__make_teacher(const vg_run_config *cfg, vg_dataset *ds, vg_rng *rng,
                                  vg_error *err) {
    int D = cfg->data_teacher_depth, W = cfg->data_teacher_width, F = ds->features, K = ds->classes;
    int act = cfg->data_teacher_activation;
    double g = act == VG_ACT_RELU || act == VG_ACT_LEAKY_RELU ? sqrt(2.0) : 1.0;
    int64_t n_w = 0, widest = F > W ? F : W, n_all = ds->n_train + ds->n_test;
    for (int l = 0; l <= D; l++) n_w += (int64_t)(l ? W : F) * (l == D ? K : W);
    double *w = malloc((size_t)(n_w + 2 * (widest + K)) * sizeof *w);
    double *out = malloc((size_t)(n_all * K + 2 * K) * sizeof *out);
    if (!w || !out) {
        free(w);
        free(out);
        return vg_error_set(err, VG_ENOMEM, "teacher: out of memory for its weights");
    }
    vg_status st = vg__alloc(ds, "teacher", err);
    if (st) {
        free(w);
        free(out);
        return st;
    }
    vg_rng_normals(rng, w, n_w);
    double *a = w + n_w, *b = a + widest + K;
    for (int64_t i = 0; i < n_all; i++) {
        float *x = i < ds->n_train ? ds->x_train + i * F : ds->x_test + (i - ds->n_train) * F;
        vg_rng_normals(rng, a, F);
        for (int f = 0; f < F; f++) x[f] = (float)a[f];
        const double *wl = w;
        int in = F;
        for (int l = 0; l <= D; l++) {
            int n_out = l == D ? K : W;
            double scale = g / sqrt((double)in);
            for (int o = 0; o < n_out; o++) {
                double z = 0;
                for (int k = 0; k < in; k++) z += wl[(int64_t)o * in + k] * a[k];
                b[o] = l == D ? z * scale : vg__act(act, z * scale);
            }
            wl += (int64_t)in * n_out;
            in = n_out;
            double *t = a;
            a = b, b = t;
        }
        memcpy(out + i * K, a, (size_t)K * sizeof *out);
    }
    double *mean = out + n_all * K, *sd = mean + K;
    for (int k = 0; k < K; k++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < ds->n_train; i++) m += out[i * K + k];
        m /= (double)ds->n_train;
        for (int64_t i = 0; i < ds->n_train; i++) v += (out[i * K + k] - m) * (out[i * K + k] - m);
        mean[k] = m;
        sd[k] = sqrt(v / (double)ds->n_train);
        if (!(sd[k] > 0)) sd[k] = 1;
    }
    for (int64_t i = 0; i < n_all; i++) {
        int best = 0;
        double best_z = -INFINITY;
        for (int k = 0; k < K; k++) {
            double z = (out[i * K + k] - mean[k]) / sd[k];
            if (z > best_z) best_z = z, best = k;
        }
        if (i < ds->n_train) ds->y_train[i] = best;
        else ds->y_test[i - ds->n_train] = best;
    }
    free(w);
    free(out);
    return VG_OK;
}

/* --- sequence tasks (recurrent nets), time-major: step t of sample i is
 * x[i * features + t * step_features ...] --- */

/* "adding" (Hochreiter & Schmidhuber 1997; the form of Le et al. 2015 and Arjovsky et al.
 * 2016): channel 0 of each step a value U[0, 1], channel 1 a marker, 1 at one step drawn
 * uniformly in [0, T/2) and one in [T/2, T), else 0; the target is the sum of the two marked
 * values (computed from the stored floats). Predicting 1 always has MSE Var(u1 + u2) = 1/6. */
static void vg__fill_adding(float *x, float *t, int64_t n, int T, vg_rng *rng) {
    int half = T / 2;
    for (int64_t i = 0; i < n; i++) {
        float *row = x + i * 2 * T;
        for (int s = 0; s < T; s++) row[2 * s] = (float)vg_rng_uniform(rng), row[2 * s + 1] = 0;
        int a = (int)vg_rng_below(rng, (uint64_t)half);
        int b = half + (int)vg_rng_below(rng, (uint64_t)(T - half));
        row[2 * a + 1] = row[2 * b + 1] = 1;
        t[i] = (float)((double)row[2 * a] + (double)row[2 * b]);
    }
}

/* "copy" (Arjovsky et al. 2016, after Hochreiter & Schmidhuber 1997): T + 20 steps, one-hot
 * over 10 input categories. Steps 0..9 hold 10 symbols drawn uniformly from the 8 categories
 * 1..8, steps 10..T+8 the blank 0 (T - 1 of them), step T+9 the delimiter 9, steps T+10..T+19
 * blanks again; the target at every step is blank (0) up to step T+9, then the 10 symbols in
 * order. A memoryless net predicting blank, then a uniform guess among the 8, scores
 * 10 ln 8 / (T + 20) nats per step. */
static void vg__fill_copy(float *x, int32_t *y, int64_t n, int T, vg_rng *rng) {
    int S = T + 2 * VG_COPY_SYMBOLS, F = S * VG_COPY_ALPHABET;
    for (int64_t i = 0; i < n; i++) {
        float *row = x + i * F;
        int32_t *yr = y + i * S;
        memset(row, 0, (size_t)F * sizeof *row);
        for (int s = 0; s < S; s++) yr[s] = 0;
        for (int k = 0; k < VG_COPY_SYMBOLS; k++) {
            int sym = 1 + (int)vg_rng_below(rng, 8);
            row[k * VG_COPY_ALPHABET + sym] = 1;
            yr[T + VG_COPY_SYMBOLS + k] = sym;
        }
        for (int s = VG_COPY_SYMBOLS; s < S; s++)
            row[s * VG_COPY_ALPHABET + (s == T + VG_COPY_SYMBOLS - 1 ? 9 : 0)] = 1;
    }
}

/* "temporal_order" (Hochreiter & Schmidhuber 1997, experiment 6a, at a fixed length T): one-hot
 * over 8 symbols; step 0 is B, step T-1 is E, every other step a noise symbol a-d drawn
 * uniformly, except a step t1 drawn in [T/10, 2T/10] and a step t2 in [5T/10, 6T/10] (integer
 * division; [10, 20] and [50, 60] at T = 100, as in the paper) that hold X or Y. The class is
 * their order: 0 XX, 1 XY, 2 YX, 3 YY (the paper's Q, R, S, U), scored at the last step.
 * Classes are balanced as for clusters (sample i has class i mod 4 before a shuffle). */
static void vg__fill_torder(float *x, int32_t *y, int64_t n, int T, vg_rng *rng) {
    int F = T * VG_TORDER_ALPHABET;
    vg__balanced_labels(y, n, 4, rng);
    for (int64_t i = 0; i < n; i++) {
        float *row = x + i * F;
        memset(row, 0, (size_t)F * sizeof *row);
        int sym[2] = {4 + (y[i] >> 1), 4 + (y[i] & 1)};
        int t1 = T / 10 + (int)vg_rng_below(rng, (uint64_t)(2 * T / 10 - T / 10 + 1));
        int t2 = 5 * T / 10 + (int)vg_rng_below(rng, (uint64_t)(6 * T / 10 - 5 * T / 10 + 1));
        for (int s = 0; s < T; s++) {
            int v = s == 0       ? 6
                    : s == T - 1 ? 7
                    : s == t1    ? sym[0]
                    : s == t2    ? sym[1]
                                 : (int)vg_rng_below(rng, 4);
            row[s * VG_TORDER_ALPHABET + v] = 1;
        }
    }
}

/* --- sets read from files --- */

void vg_data_resolve_path(const vg_run_config *cfg, int setting, char *buf, size_t size) {
    const char *path = (const char *)cfg + vg_settings[setting].offset;
    const vg_node *node = cfg->source[setting];
    const char *file = node ? node->file : NULL;
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (path[0] == '/' || !slash)
        snprintf(buf, size, "%s", path);
    else
        snprintf(buf, size, "%.*s/%s", (int)(slash - file), file, path);
}

/* A split as read: every sample of the file. */
typedef struct vg__split {
    int64_t n;
    float *x;          /* (n, features), or NULL when the samples are the bytes u8 */
    int32_t *y;
    const uint8_t *u8; /* IDX: (n, features) pixel bytes inside owned, each over scale */
    uint8_t *owned;
    float scale;       /* 255 or 1 */
    int64_t height, width; /* IDX images of 3 dimensions: their rows and columns; else 0 */
} vg__split;
/* A csv's real targets (data.target real) travel through the splitting and sampling in y as
 * their float's bits (4 bytes either way), and land in t_train/t_test as floats. */

static const char *vg__idx_names[2][2][2] = {
    {{"train-images-idx3-ubyte", "train-images.idx3-ubyte"},
     {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"}},
    {{"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"},
     {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"}}};

/* The file of dir holding names (with or without .gz), or the first name as missing. */
static int vg__find_file(const char *dir, const char *const names[2], char *buf, size_t size) {
    for (int k = 0; k < 2; k++)
        for (int gz = 1; gz >= 0; gz--) {
            snprintf(buf, size, "%s/%s%s", dir, names[k], gz ? ".gz" : "");
            FILE *f = fopen(buf, "rb");
            if (f) {
                fclose(f);
                return 1;
            }
        }
    snprintf(buf, size, "%s/%s.gz", dir, names[0]);
    return 0;
}

static vg_status vg__read_idx_split(const vg_run_config *cfg, const char *dir, int test,
                                    vg__split *sp, vg_error *err) {
    char img_path[4200], lab_path[4200];
    int fashion = cfg->data_kind == VG_DATA_FASHION_MNIST;
    for (int which = 0; which < 2; which++) {
        char *path = which ? lab_path : img_path;
        if (!vg__find_file(dir, vg__idx_names[test][which], path, 4200))
            return vg_error_set(err, VG_ECONFIG, fashion
                                ? "%s: no such file; data.kind fashion-mnist reads the files of "
                                  "Debian's package dataset-fashion-mnist (apt-get install "
                                  "dataset-fashion-mnist, or run tools/setup)"
                                : "%s: no such file (data.path must be a directory holding "
                                  "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                                  "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each "
                                  "possibly .gz)", path);
    }
    uint8_t *ib = NULL, *lb = NULL;
    size_t in = 0, ln = 0;
    vg_idx im, lab;
    vg_status st = vg_file_read(img_path, &ib, &in, err);
    if (!st) st = vg_idx_parse(ib, in, img_path, &im, err);
    if (!st) st = vg_file_read(lab_path, &lb, &ln, err);
    if (!st) st = vg_idx_parse(lb, ln, lab_path, &lab, err);
    if (st) goto done;
    if (im.ndims < 2) {
        st = vg_error_set(err, VG_ECONFIG, "%s: %d dimension%s; images need at least 2 (count, "
                          "pixels...)", img_path, im.ndims, im.ndims == 1 ? "" : "s");
        goto done;
    }
    if (lab.ndims != 1) {
        st = vg_error_set(err, VG_ECONFIG, "%s: %d dimensions; labels have 1", lab_path, lab.ndims);
        goto done;
    }
    if (im.count != lab.count) {
        st = vg_error_set(err, VG_ECONFIG, "%s: %lld images, but %s has %lld labels", img_path,
                          (long long)im.count, lab_path, (long long)lab.count);
        goto done;
    }
    if (im.item_size != cfg->data_features) {
        char shape[64] = "";
        size_t u = 0;
        for (int d = 1; d < im.ndims; d++)
            u += (size_t)snprintf(shape + u, sizeof shape - u, "%s%lld", d > 1 ? " x " : "",
                                  (long long)im.dims[d]);
        st = vg_error_set(err, VG_ECONFIG, "%s: images of %s = %lld values, but data.features "
                          "is %d; set data.features: %lld", img_path, shape,
                          (long long)im.item_size, cfg->data_features, (long long)im.item_size);
        goto done;
    }
    for (int64_t i = 0; i < lab.count; i++)
        if (lab.data[i] >= cfg->data_classes) {
            st = vg_error_set(err, VG_ECONFIG, "%s: label %d of item %lld is not below "
                              "data.classes = %d", lab_path, lab.data[i], (long long)i,
                              cfg->data_classes);
            goto done;
        }
    sp->n = im.count;
    sp->y = malloc((size_t)(im.count + 1) * sizeof(int32_t));
    if (!sp->y) {
        st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", img_path);
        goto done;
    }
    /* the pixels stay bytes until the samples kept are converted (vg__make_loaded) */
    sp->scale = cfg->data_scale ? 255.0f : 1.0f;
    sp->u8 = im.data;
    sp->owned = ib, ib = NULL;
    if (im.ndims == 3) sp->height = im.dims[1], sp->width = im.dims[2];
    for (int64_t i = 0; i < lab.count; i++) sp->y[i] = lab.data[i];
done:
    free(ib);
    free(lb);
    return st;
}

static int vg__cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int vg__is_int(const char *s, long *v) {
    char *e;
    if (!*s) return 0;
    *v = strtol(s, &e, 10);
    return !*e;
}

/* Class indices of a CSV table's labels: integers as they are, else the sorted distinct texts
 * of the training file (names, n_names), which the test file's labels must be among. */
static vg_status vg__csv_labels(const vg_run_config *cfg, const vg_csv *t, const char *path,
                                char ***names, int *n_names, int32_t *y, vg_error *err) {
    if (!*names) {
        int ints = 1;
        long v;
        for (int64_t r = 0; r < t->n_rows && ints; r++) ints = vg__is_int(t->labels[r], &v);
        if (!ints) {
            char **sorted = malloc((size_t)t->n_rows * sizeof *sorted);
            if (!sorted) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
            memcpy(sorted, t->labels, (size_t)t->n_rows * sizeof *sorted);
            qsort(sorted, (size_t)t->n_rows, sizeof *sorted, vg__cmp_str);
            int n = 0;
            for (int64_t r = 0; r < t->n_rows; r++)
                if (r == 0 || strcmp(sorted[r], sorted[r - 1])) sorted[n++] = sorted[r];
            if (n > cfg->data_classes) {
                int numbers = 1; /* a regression target read as class names */
                for (int k = 0; k < n && numbers; k++) {
                    char *e;
                    strtod(sorted[k], &e);
                    numbers = *sorted[k] && !*e;
                }
                free(sorted);
                return vg_error_set(err, VG_ECONFIG, "%s: column \"%s\" holds %d distinct labels, "
                                    "more than data.classes = %d%s", path, cfg->data_label, n,
                                    cfg->data_classes,
                                    numbers ? " (they are numbers: for a regression target set "
                                              "data.target: real and train.loss: mse)" : "");
            }
            *names = calloc((size_t)n, sizeof **names);
            int oom = !*names;
            if (*names) *n_names = n; /* freed with the data set, even when incomplete */
            for (int k = 0; *names && k < n; k++) oom |= !((*names)[k] = strdup(sorted[k]));
            free(sorted);
            if (oom) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
        }
    }
    for (int64_t r = 0; r < t->n_rows; r++) {
        long v;
        if (*names) {
            char *key = t->labels[r];
            char **hit = bsearch(&key, *names, (size_t)*n_names, sizeof **names, vg__cmp_str);
            if (!hit)
                return vg_error_set(err, VG_ECONFIG, "%s: data row %lld: label \"%.60s\" does not "
                                    "occur in the training file", path, (long long)r + 1, key);
            y[r] = (int32_t)(hit - *names);
        } else if (!vg__is_int(t->labels[r], &v) || v < 0 || v >= cfg->data_classes) {
            return vg_error_set(err, VG_ECONFIG, "%s: data row %lld: label \"%.60s\" is not a "
                                "class index in [0, %d) (data.classes)", path, (long long)r + 1,
                                t->labels[r], cfg->data_classes);
        } else {
            y[r] = (int32_t)v;
        }
    }
    return VG_OK;
}

/* data.target real: each label cell a finite number, its float's bits stored in y, which holds k
 * targets per row: the label column's, then the k - 1 further target columns (more: (n_rows,
 * k - 1), already numbers). */
static vg_status vg__csv_reals(const vg_csv *t, const char *path, const float *more, int k,
                               int32_t *y, vg_error *err) {
    for (int64_t r = 0; r < t->n_rows; r++) {
        if (k > 1) memcpy(&y[r * k + 1], &more[r * (k - 1)], (size_t)(k - 1) * sizeof *more);
        const char *cell = t->labels[r];
        char *e;
        double v = strtod(cell, &e);
        if (!cell[0] || *e || !isfinite(v) || fabs(v) > 3.4e38)
            return vg_error_set(err, VG_ECONFIG, "%s: line %lld, column %d (\"%.40s\"): \"%.40s\" "
                                "is not a finite number (data.target: real reads the label column "
                                "as regression targets)", path, (long long)t->lines[r],
                                t->label_col + 1, t->header[t->label_col], cell);
        float f = (float)v;
        memcpy(&y[r * k], &f, sizeof f);
    }
    return VG_OK;
}

/* The names of data.label: with data.target real, comma-separated target columns (at most
 * VG_CSV_MAX_TARGETS); else the one class column. Returns their number. */
#define VG_CSV_MAX_TARGETS 64
static int vg__label_names(const vg_run_config *cfg, char names[][VG_SETTING_TEXT_MAX]) {
    if (!vg_data_real_target(cfg)) {
        snprintf(names[0], VG_SETTING_TEXT_MAX, "%s", cfg->data_label);
        return 1;
    }
    int k = 0;
    for (const char *p = cfg->data_label; k < VG_CSV_MAX_TARGETS;) {
        size_t len = strcspn(p, ",");
        snprintf(names[k++], VG_SETTING_TEXT_MAX, "%.*s", (int)len, p);
        if (!p[len]) break;
        p += len + 1;
    }
    return k;
}

/* Reads a CSV file. With several target columns (data.target real, data.label "a,b"), the
 * columns after the first are taken out of the features into *more (n_rows, k - 1). */
static vg_status vg__read_csv(const vg_run_config *cfg, int setting, vg_csv *t, char *path,
                              size_t size, float **more, vg_error *err) {
    static _Thread_local char names[VG_CSV_MAX_TARGETS][VG_SETTING_TEXT_MAX];
    int k = vg__label_names(cfg, names);
    *more = NULL;
    vg_data_resolve_path(cfg, setting, path, size);
    uint8_t *buf;
    size_t n;
    vg_status st = vg_file_read(path, &buf, &n, err);
    if (st) return st;
    st = vg_csv_parse((const char *)buf, n, path, names[0], t, err);
    free(buf);
    if (st) return st;
    int nf = t->n_cols - 1; /* feature columns as parsed */
    if (k > 1) {
        int fcol[VG_CSV_MAX_TARGETS]; /* each further target's index among the parsed features */
        for (int j = 1; j < k; j++) {
            int c = 0;
            while (c < t->n_cols && (c == t->label_col || strcmp(t->header[c], names[j]))) c++;
            int twice = 0;
            for (int i = 0; i < j; i++) twice |= !strcmp(names[i], names[j]);
            if (c == t->n_cols || twice) {
                st = vg_error_set(err, VG_ECONFIG, "%s: %s target column \"%.60s\" in the header "
                                  "(data.label \"%.200s\" names the target columns, separated by "
                                  "commas)", path, twice ? "a repeated" : "no", names[j],
                                  cfg->data_label);
                vg_csv_free(t);
                return st;
            }
            fcol[j] = c - (c > t->label_col);
        }
        *more = malloc((size_t)(t->n_rows * (k - 1) + 1) * sizeof **more);
        if (!*more) {
            vg_csv_free(t);
            return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
        }
        /* rows shrink in place: a kept value only moves to a lower index */
        for (int64_t r = 0; r < t->n_rows; r++) {
            const float *src = t->x + r * nf;
            float *dst = t->x + r * (nf - (k - 1));
            for (int j = 1; j < k; j++) (*more)[r * (k - 1) + j - 1] = src[fcol[j]];
            for (int f = 0, o = 0; f < nf; f++) {
                int target = 0;
                for (int j = 1; j < k; j++) target |= f == fcol[j];
                if (!target) dst[o++] = src[f];
            }
        }
        nf -= k - 1;
    }
    if (nf != cfg->data_features) {
        st = vg_error_set(err, VG_ECONFIG, "%s: %d feature columns, but data.features is %d; set "
                          "data.features: %d", path, nf, cfg->data_features, nf);
        vg_csv_free(t);
        free(*more);
        *more = NULL;
    }
    return st;
}

static vg_status vg__load_csv(const vg_run_config *cfg, vg__split sp[2], vg_dataset *ds,
                              uint64_t seed, vg_error *err) {
    char path[4200], test_path[4200];
    vg_csv t, u;
    float *more = NULL, *more_u = NULL; /* further target columns of each file */
    memset(&u, 0, sizeof u);
    vg_status st = vg__read_csv(cfg, VG_SET_data_path, &t, path, sizeof path, &more, err);
    if (st) return st;
    if (cfg->data_test_path[0]) {
        st = vg__read_csv(cfg, VG_SET_data_test_path, &u, test_path, sizeof test_path, &more_u,
                          err);
        if (st) {
            vg_csv_free(&t);
            free(more);
            return st;
        }
    }
    int F = cfg->data_features;
    static _Thread_local char names[VG_CSV_MAX_TARGETS][VG_SETTING_TEXT_MAX];
    /* values per row in y: a class, or the k real targets' float bits */
    int tw = vg_data_real_target(cfg) ? vg__label_names(cfg, names) : 1;
    if (vg_data_real_target(cfg)) ds->targets = tw;
    int32_t *y = malloc((size_t)((t.n_rows + u.n_rows) * tw + 1) * sizeof *y);
    if (!y) {
        st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (vg_data_real_target(cfg)) {
        st = vg__csv_reals(&t, path, more, tw, y, err);
        if (!st && u.n_rows) st = vg__csv_reals(&u, test_path, more_u, tw, y + t.n_rows * tw, err);
    } else {
        st = vg__csv_labels(cfg, &t, path, &ds->label_names, &ds->n_label_names, y, err);
        if (!st && u.n_rows)
            st = vg__csv_labels(cfg, &u, test_path, &ds->label_names, &ds->n_label_names,
                                y + t.n_rows, err);
    }
    if (st) goto done;
    if (u.n_rows) { /* the splits take over the tables' arrays (the caller frees them) */
        sp[0].n = t.n_rows, sp[0].x = t.x, sp[0].y = y;
        sp[1].n = u.n_rows, sp[1].x = u.x;
        t.x = u.x = NULL;
        y = NULL;
        sp[1].y = malloc((size_t)(u.n_rows * tw) * sizeof(int32_t));
        if (!sp[1].y) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
            goto done;
        }
        memcpy(sp[1].y, sp[0].y + t.n_rows * tw, (size_t)(u.n_rows * tw) * sizeof(int32_t));
        goto done;
    }
    /* One file: a seeded draw of round(fraction * rows) rows is the test split; both splits
     * keep the file's order. */
    int64_t n = t.n_rows, n_test = (int64_t)llround(cfg->data_test_fraction * (double)n);
    if (cfg->data_test_fraction > 0 && n_test == 0) n_test = 1;
    if (n_test >= n) {
        st = vg_error_set(err, VG_ECONFIG, "%s: %lld rows leave none for training after "
                          "data.test_fraction = %g", path, (long long)n, cfg->data_test_fraction);
        goto done;
    }
    int32_t *perm = malloc((size_t)n * sizeof *perm);
    char *is_test = calloc((size_t)n, 1);
    sp[0].x = malloc((size_t)((n - n_test) * F + 1) * sizeof(float));
    sp[0].y = malloc((size_t)((n - n_test) * tw + 1) * sizeof(int32_t));
    sp[1].x = malloc((size_t)(n_test * F + 1) * sizeof(float));
    sp[1].y = malloc((size_t)(n_test * tw + 1) * sizeof(int32_t));
    if (!perm || !is_test || !sp[0].x || !sp[0].y || !sp[1].x || !sp[1].y) {
        free(perm);
        free(is_test);
        st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    vg_rng rng;
    vg_rng_seed(&rng, vg_seed_mix(seed, VG_DATA_STREAM + 1));
    for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    vg_rng_shuffle_i32(&rng, perm, n);
    for (int64_t i = 0; i < n_test; i++) is_test[perm[i]] = 1;
    for (int64_t i = 0; i < n; i++) {
        vg__split *s = &sp[is_test[i] ? 1 : 0];
        memcpy(s->x + s->n * F, t.x + i * F, (size_t)F * sizeof(float));
        memcpy(s->y + s->n * tw, y + i * tw, (size_t)tw * sizeof(int32_t));
        s->n++;
    }
    free(perm);
    free(is_test);
done:
    free(y);
    free(more);
    free(more_u);
    vg_csv_free(&t);
    vg_csv_free(&u);
    return st;
}

/* The indices a split keeps: the first want, or want drawn without replacement. */
static int32_t *vg__pick(int64_t n, int64_t want, int random, vg_rng *rng) {
    int32_t *idx = malloc((size_t)(n + 1) * sizeof *idx);
    if (!idx) return NULL;
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    if (random)
        for (int64_t i = 0; i < want; i++) { /* partial Fisher-Yates */
            int64_t j = i + (int64_t)vg_rng_below(rng, (uint64_t)(n - i));
            int32_t t = idx[i];
            idx[i] = idx[j], idx[j] = t;
        }
    return idx;
}

static vg_status vg__make_loaded(const vg_run_config *cfg, vg_dataset *ds, vg_error *err) {
    vg__split sp[2];
    memset(sp, 0, sizeof sp);
    uint64_t seed = cfg->data_seed >= 0 ? (uint64_t)cfg->data_seed : 0;
    vg_status st;
    char where[4200];
    if (cfg->data_kind == VG_DATA_CSV) {
        st = vg__load_csv(cfg, sp, ds, seed, err);
        vg_data_resolve_path(cfg, VG_SET_data_path, where, sizeof where);
    } else {
        if (cfg->data_kind == VG_DATA_FASHION_MNIST)
            snprintf(where, sizeof where, "%s", VG_FASHION_MNIST_DIR);
        else
            vg_data_resolve_path(cfg, VG_SET_data_path, where, sizeof where);
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", where);
        /* the two splits' files decompress in parallel (gzip itself is serial) */
        vg_status sst[2];
        vg_error serr[2];
#pragma omp parallel for num_threads(2) schedule(static, 1)
        for (int k = 0; k < 2; k++) sst[k] = vg__read_idx_split(cfg, dir, k, &sp[k], &serr[k]);
        st = sst[0] ? sst[0] : sst[1];
        if (st && err) *err = serr[sst[0] ? 0 : 1];
    }
    if (st) goto done;
    int64_t want[2] = {cfg->data_train_size, cfg->data_test_size};
    for (int k = 0; k < 2; k++) {
        if (want[k] < 0) want[k] = sp[k].n;
        if (want[k] > sp[k].n) {
            st = vg_error_set(err, VG_ECONFIG, "%s: data.%s_size = %lld, but the %s split has "
                              "only %lld samples (-1 takes them all)", where, k ? "test" : "train",
                              (long long)want[k], k ? "test" : "training", (long long)sp[k].n);
            goto done;
        }
    }
    ds->n_train = want[0], ds->n_test = want[1];
    if ((st = vg__alloc(ds, where, err))) goto done;
    vg_rng rng;
    vg_rng_seed(&rng, vg_seed_mix(seed, VG_DATA_STREAM + 2));
    int F = ds->features;
    float byte_value[256]; /* byte / scale, exactly as the division gives it */
    for (int v = 0; v < 256; v++) byte_value[v] = (float)v / (cfg->data_scale ? 255.0f : 1.0f);
    for (int k = 0; k < 2; k++) {
        int32_t *idx = vg__pick(sp[k].n, want[k], cfg->data_sample == VG_SAMPLE_RANDOM, &rng);
        if (!idx) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", where);
            goto done;
        }
        float *x = k ? ds->x_test : ds->x_train;
        int32_t *y = k ? ds->y_test : ds->y_train;
        float *tv = k ? ds->t_test : ds->t_train; /* data.target real: y is NULL */
#pragma omp parallel for schedule(static) num_threads(2)
        for (int64_t i = 0; i < want[k]; i++) {
            if (sp[k].u8) {
                const uint8_t *src = sp[k].u8 + (int64_t)idx[i] * F;
                float *dst = x + i * F;
                for (int f = 0; f < F; f++) dst[f] = byte_value[src[f]];
            } else {
                memcpy(x + i * F, sp[k].x + (int64_t)idx[i] * F, (size_t)F * sizeof(float));
            }
            if (tv) /* ds->targets values per row (see vg__split) */
                memcpy(&tv[i * ds->targets], &sp[k].y[(int64_t)idx[i] * ds->targets],
                       (size_t)ds->targets * sizeof *tv);
            else y[i] = sp[k].y[idx[i]];
        }
        free(idx);
    }
    if (cfg->data_standardize && ds->n_train > 0) {
        /* mean and std of each feature over the training split, applied to both splits */
        double *mean = calloc((size_t)F * 2, sizeof *mean), *sd = mean ? mean + F : NULL;
        if (!mean) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", where);
            goto done;
        }
        for (int64_t i = 0; i < ds->n_train; i++)
            for (int f = 0; f < F; f++) mean[f] += ds->x_train[i * F + f];
        for (int f = 0; f < F; f++) mean[f] /= (double)ds->n_train;
        for (int64_t i = 0; i < ds->n_train; i++)
            for (int f = 0; f < F; f++) {
                double d = ds->x_train[i * F + f] - mean[f];
                sd[f] += d * d;
            }
        for (int f = 0; f < F; f++) {
            sd[f] = sqrt(sd[f] / (double)ds->n_train);
            if (!(sd[f] > 1e-12)) sd[f] = 1; /* a constant feature: only centred */
        }
        for (int k = 0; k < 2; k++) {
            float *x = k ? ds->x_test : ds->x_train;
            int64_t n = k ? ds->n_test : ds->n_train;
            for (int64_t i = 0; i < n; i++)
                for (int f = 0; f < F; f++)
                    x[i * F + f] = (float)((x[i * F + f] - mean[f]) / sd[f]);
        }
        free(mean);
    }
    if (cfg->data_sequence == VG_SEQUENCE_ROWS) {
        /* an H x W image is H steps of W pixels: row-major pixels are time-major already */
        if (!sp[0].height || sp[0].height != sp[1].height || sp[0].width != sp[1].width) {
            st = vg_error_set(err, VG_ECONFIG, "%s: data.sequence rows needs images of rows x "
                              "columns (3 IDX dimensions, alike in both splits); use "
                              "data.sequence: pixels for these", where);
            goto done;
        }
        ds->steps = (int)sp[0].height, ds->step_features = (int)sp[0].width;
    } else if (cfg->data_sequence == VG_SEQUENCE_PIXELS) {
        ds->steps = F, ds->step_features = 1;
        if (cfg->data_permute) {
            /* pMNIST: one permutation of the pixel positions for every image of both splits,
             * drawn from data.seed (0 when -1) on a stream of its own */
            int32_t *perm = malloc((size_t)F * sizeof *perm);
            float *tmp = malloc((size_t)F * sizeof *tmp);
            if (!perm || !tmp) {
                free(perm), free(tmp);
                st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", where);
                goto done;
            }
            vg_rng prng;
            vg_rng_seed(&prng, vg_seed_mix(seed, VG_DATA_STREAM + 3));
            for (int f = 0; f < F; f++) perm[f] = f;
            vg_rng_shuffle_i32(&prng, perm, F);
            for (int k = 0; k < 2; k++) {
                float *x = k ? ds->x_test : ds->x_train;
                int64_t n = k ? ds->n_test : ds->n_train;
                for (int64_t i = 0; i < n; i++) {
                    float *row = x + i * F;
                    for (int f = 0; f < F; f++) tmp[f] = row[perm[f]];
                    memcpy(row, tmp, (size_t)F * sizeof *tmp);
                }
            }
            free(perm), free(tmp);
        }
    }
done:
    for (int k = 0; k < 2; k++) free(sp[k].x), free(sp[k].y), free(sp[k].owned);
    if (st) vg_dataset_free(ds);
    return st;
}

/* A 64-bit hash of n bytes at several GB/s: four independent multiply-rotate lanes over
 * 64-bit words (any change of a byte changes it with probability ~1 - 2^-64), the tail and the
 * length folded in, then vg_hash64 over the lanes. Not cryptographic: it tells data apart. */
static uint64_t vg__data_hash(const void *bytes, uint64_t n, uint64_t basis) {
    const unsigned char *p = bytes;
    uint64_t lane[4] = {basis ^ 0x9e3779b97f4a7c15ULL, basis + 0xc2b2ae3d27d4eb4fULL,
                        basis ^ 0x165667b19e3779f9ULL, ~basis};
    uint64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * k, 8);
            lane[k] = (lane[k] ^ w) * 0x9fb21c651e98df25ULL;
            lane[k] ^= lane[k] >> 29;
        }
    uint64_t tail[5] = {0, 0, 0, 0, n};
    memcpy(tail, p + i, (size_t)(n - i));
    for (int k = 0; k < 4; k++) lane[k] = (lane[k] ^ tail[k]) * 0x9fb21c651e98df25ULL;
    lane[0] ^= tail[4];
    return vg_hash64(lane, sizeof lane, basis);
}

/* Inputs and targets of both splits: for class targets the same chain as before targets of
 * other kinds existed, so the checksums recorded for those sets do not change. */
static void vg__checksum(vg_dataset *ds) {
    uint64_t h = 0, per = (uint64_t)vg__target_len(ds->target_kind, ds->steps, ds->targets) * 4;
    int real = ds->target_kind == VG_TARGET_REAL;
    h = vg__data_hash(ds->x_train, (uint64_t)(ds->n_train * ds->features) * sizeof(float), h);
    h = vg__data_hash(real ? (const void *)ds->t_train : ds->y_train, (uint64_t)ds->n_train * per,
                      h);
    h = vg__data_hash(ds->x_test, (uint64_t)(ds->n_test * ds->features) * sizeof(float), h);
    h = vg__data_hash(real ? (const void *)ds->t_test : ds->y_test, (uint64_t)ds->n_test * per, h);
    ds->checksum = h;
}

vg_status vg_dataset_make(const vg_run_config *cfg, vg_dataset *ds, vg_error *err) {
    memset(ds, 0, sizeof *ds);
    if (cfg->data_kind < 0 || cfg->data_kind >= VG_DATA_KIND_COUNT)
        return vg_error_set(err, VG_EINTERNAL, "unknown data.kind %d", cfg->data_kind);
    ds->n_train = cfg->data_train_size;
    ds->n_test = cfg->data_test_size;
    ds->features = cfg->data_features;
    ds->classes = cfg->data_classes;
    ds->steps = 1;
    ds->step_features = ds->features;
    ds->target_kind = VG_TARGET_CLASS;
    int task_classes = 0;
    if (vg_data_task_shape(cfg->data_kind, cfg->data_length, &ds->steps, &ds->step_features,
                           &task_classes, &ds->targets)) {
        int least = cfg->data_kind == VG_DATA_ADDING           ? 2
                    : cfg->data_kind == VG_DATA_TEMPORAL_ORDER ? 10
                                                               : 1;
        if (cfg->data_length < least) /* the sweep loader refuses it first */
            return vg_error_set(err, VG_EINTERNAL, "%s: data.length %d, below %d",
                                vg_data_kind_names[cfg->data_kind], cfg->data_length, least);
        ds->features = ds->steps * ds->step_features;
        ds->classes = task_classes ? task_classes : cfg->data_classes;
        ds->target_kind = cfg->data_kind == VG_DATA_ADDING ? VG_TARGET_REAL
                          : cfg->data_kind == VG_DATA_COPY ? VG_TARGET_STEP_CLASS
                                                           : VG_TARGET_CLASS;
    } else if (vg_data_real_target(cfg)) {
        ds->target_kind = VG_TARGET_REAL, ds->targets = 1;
    }
    vg_status st;
    if (vg__loaded(cfg->data_kind)) {
        st = vg__make_loaded(cfg, ds, err);
    } else {
        if (ds->n_train < 1 || ds->n_test < 0)
            return vg_error_set(err, VG_EINTERNAL, "%s: sizes %lld/%lld",
                                vg_data_kind_names[cfg->data_kind], (long long)ds->n_train,
                                (long long)ds->n_test);
        uint64_t seed = cfg->data_seed >= 0 ? (uint64_t)cfg->data_seed : cfg->seed;
        vg_rng rng;
        vg_rng_seed(&rng, vg_seed_mix(seed, VG_DATA_STREAM));
        if (cfg->data_kind == VG_DATA_CLUSTERS) {
            st = vg__make_clusters(cfg, ds, &rng, err);
        } else if (cfg->data_kind == VG_DATA_SPIRALS) {
            st = vg__alloc(ds, "spirals", err);
            if (!st) {
                vg__fill_spirals(cfg, ds->x_train, ds->y_train, ds->n_train, ds->features,
                                 ds->classes, &rng);
                vg__fill_spirals(cfg, ds->x_test, ds->y_test, ds->n_test, ds->features,
                                 ds->classes, &rng);
            }
        } else if (cfg->data_kind == VG_DATA_TEACHER) {
            st = vg__make_teacher(cfg, ds, &rng, err);
        } else {
            st = vg__alloc(ds, vg_data_kind_names[cfg->data_kind], err);
            for (int k = 0; !st && k < 2; k++) {
                int64_t n = k ? ds->n_test : ds->n_train;
                float *x = k ? ds->x_test : ds->x_train;
                if (cfg->data_kind == VG_DATA_ADDING)
                    vg__fill_adding(x, k ? ds->t_test : ds->t_train, n, cfg->data_length, &rng);
                else if (cfg->data_kind == VG_DATA_COPY)
                    vg__fill_copy(x, k ? ds->y_test : ds->y_train, n, cfg->data_length, &rng);
                else
                    vg__fill_torder(x, k ? ds->y_test : ds->y_train, n, cfg->data_length, &rng);
            }
        }
    }
    if (!st) vg__checksum(ds);
    return st;
}

void vg_dataset_free(vg_dataset *ds) {
    free(ds->x_train);
    free(ds->y_train);
    free(ds->x_test);
    free(ds->y_test);
    free(ds->t_train);
    free(ds->t_test);
    for (int k = 0; k < ds->n_label_names; k++) free(ds->label_names[k]);
    free(ds->label_names);
    memset(ds, 0, sizeof *ds);
}

/* --- the registry of shared sets --- */

int vg_data_is_shared(const vg_run_config *cfg) {
    return vg__loaded(cfg->data_kind) || cfg->data_seed >= 0;
}

typedef struct vg__entry {
    char *key;
    char *class_names; /* the dataset's label_names joined by newlines, or NULL */
    char *alias; /* the key with data.train_size/test_size -1 replaced by the sizes (or NULL) */
    vg_dataset ds;
} vg__entry;

static vg__entry *vg__registry;
static int vg__n_entries, vg__cap_entries;
static pthread_mutex_t vg__registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* Every data.* setting's value (the seed of a generated set too), one per line: runs with the
 * same key have the same data. A path setting is keyed by the file it resolves to. */
static char *vg__key(const vg_run_config *cfg) {
    size_t cap = 256 * VG_SETTING_COUNT, used = 0;
    char *key = malloc(cap), value[VG_SETTING_TEXT_MAX + 4200];
    if (!key) return NULL;
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        if (strncmp(vg_settings[s].path, "data.", 5)) continue;
        if (vg_settings[s].type == VG_TYPE_STRING && s != VG_SET_data_label)
            vg_data_resolve_path(cfg, s, value, sizeof value);
        else
            vg_setting_format(s, cfg, value, sizeof value);
        size_t need = strlen(vg_settings[s].path) + strlen(value) + 3;
        if (used + need >= cap) {
            char *g = realloc(key, cap = 2 * cap + need);
            if (!g) return free(key), NULL;
            key = g;
        }
        used += (size_t)snprintf(key + used, cap - used, "%s=%s\n", vg_settings[s].path, value);
    }
    if (!vg_data_is_shared(cfg)) snprintf(key + used, cap - used, "run=%s", cfg->id);
    return key;
}

static vg__entry *vg__lookup(const char *key) {
    for (int i = 0; i < vg__n_entries; i++)
        if (!strcmp(vg__registry[i].key, key) ||
            (vg__registry[i].alias && !strcmp(vg__registry[i].alias, key)))
            return &vg__registry[i];
    return NULL;
}

static double vg__bytes(const vg_dataset *ds) {
    return (double)(ds->n_train + ds->n_test) *
           vg__sample_bytes(ds->features, ds->target_kind, ds->steps, ds->targets);
}

/* The shared set of cfg, loaded on first use; the lock makes a lazy load (a caller that skipped
 * vg_data_prepare) safe from the scheduler's threads. */
static vg_status vg__shared(const vg_run_config *cfg, vg__entry **out, vg_error *err) {
    char *key = vg__key(cfg);
    if (!key) return vg_error_set(err, VG_ENOMEM, "data: out of memory");
    pthread_mutex_lock(&vg__registry_lock);
    vg_status st = VG_OK;
    vg__entry *e = vg__lookup(key);
    if (!e) {
        if (vg__n_entries == vg__cap_entries) {
            int grown = vg__cap_entries ? 2 * vg__cap_entries : 4;
            vg__entry *g = realloc(vg__registry, (size_t)grown * sizeof *g);
            if (!g) st = vg_error_set(err, VG_ENOMEM, "data: out of memory");
            else vg__registry = g, vg__cap_entries = grown;
        }
        vg_dataset ds;
        if (!st) st = vg_dataset_make(cfg, &ds, err);
        if (!st) {
            e = &vg__registry[vg__n_entries++];
            e->key = key, key = NULL;
            e->alias = NULL;
            e->class_names = NULL;
            if (ds.n_label_names) {
                size_t len = 1;
                for (int k = 0; k < ds.n_label_names; k++) len += strlen(ds.label_names[k]) + 1;
                if ((e->class_names = malloc(len))) {
                    size_t u = 0;
                    for (int k = 0; k < ds.n_label_names; k++)
                        u += (size_t)snprintf(e->class_names + u, len - u, "%s%s", k ? "\n" : "",
                                              ds.label_names[k]);
                }
            }
            e->ds = ds;
            e->ds.shared = 1;
        }
    }
    pthread_mutex_unlock(&vg__registry_lock);
    free(key);
    *out = e;
    return st;
}

static vg_status vg__check_fits(vg_run_config *run, const vg_dataset *ds, vg_error *err) {
    const char *what = run->data_kind == VG_DATA_FASHION_MNIST ? VG_FASHION_MNIST_DIR
                       : run->data_path[0]                     ? run->data_path
                                                               : vg_data_kind_names[run->data_kind];
    if (run->data_train_size < 0) run->data_train_size = (int)ds->n_train;
    if (run->data_test_size < 0) run->data_test_size = (int)ds->n_test;
    if (run->record_probe > ds->n_train || run->train_batch_size > ds->n_train)
        return vg_error_set(err, VG_ECONFIG, "run %s: %s: %s = %d exceeds the %lld training "
                            "samples", run->id, what,
                            run->record_probe > ds->n_train ? "record.probe" : "train.batch_size",
                            run->record_probe > ds->n_train ? run->record_probe
                                                            : run->train_batch_size,
                            (long long)ds->n_train);
    return VG_OK;
}

vg_status vg_data_prepare(vg_run_config *runs, int64_t n_runs, vg_error *err) {
    for (int64_t i = 0; i < n_runs; i++) {
        if (!vg_data_is_shared(&runs[i])) continue;
        vg__entry *e;
        vg_status st = vg__shared(&runs[i], &e, err);
        if (st) return st;
        int all = runs[i].data_train_size < 0 || runs[i].data_test_size < 0;
        if ((st = vg__check_fits(&runs[i], &e->ds, err))) return st;
        runs[i].has_data_checksum = 1;
        runs[i].data_checksum = e->ds.checksum;
        runs[i].data_class_names = e->class_names;
        if (all && !e->alias && !(e->alias = vg__key(&runs[i])))
            return vg_error_set(err, VG_ENOMEM, "data: out of memory");
    }
    return VG_OK;
}

vg_status vg_dataset_acquire(const vg_run_config *cfg, vg_dataset *ds, vg_error *err) {
    if (!vg_data_is_shared(cfg)) return vg_dataset_make(cfg, ds, err);
    vg__entry *e;
    vg_status st = vg__shared(cfg, &e, err);
    if (st) return st;
    *ds = e->ds;
    return VG_OK;
}

void vg_dataset_release(vg_dataset *ds) {
    if (!ds->shared) vg_dataset_free(ds);
    memset(ds, 0, sizeof *ds);
}

int vg_data_shared_shape(const vg_run_config *cfg, int *steps, int *step_features, int *targets) {
    if (!vg_data_is_shared(cfg)) return 0;
    char *key = vg__key(cfg);
    if (!key) return 0;
    pthread_mutex_lock(&vg__registry_lock);
    vg__entry *e = vg__lookup(key);
    if (e) *steps = e->ds.steps, *step_features = e->ds.step_features, *targets = e->ds.targets;
    pthread_mutex_unlock(&vg__registry_lock);
    free(key);
    return e != NULL;
}

int vg_data_shared_count(void) { return vg__n_entries; }

double vg_data_shared_bytes(void) {
    double b = 0;
    for (int i = 0; i < vg__n_entries; i++) b += vg__bytes(&vg__registry[i].ds);
    return b;
}

double vg_dataset_run_bytes(const vg_run_config *cfg) {
    if (vg_data_is_shared(cfg)) return 0;
    int steps = 1, step_features = cfg->data_features, classes = 0, targets = 0;
    int kind = VG_TARGET_CLASS;
    if (vg_data_task_shape(cfg->data_kind, cfg->data_length, &steps, &step_features, &classes,
                           &targets))
        kind = cfg->data_kind == VG_DATA_ADDING ? VG_TARGET_REAL
               : cfg->data_kind == VG_DATA_COPY ? VG_TARGET_STEP_CLASS
                                                : VG_TARGET_CLASS;
    return ((double)cfg->data_train_size + (cfg->data_test_size > 0 ? cfg->data_test_size : 0)) *
           vg__sample_bytes(steps * step_features, kind, steps, targets);
}

void vg_data_registry_free(void) {
    for (int i = 0; i < vg__n_entries; i++) {
        free(vg__registry[i].key);
        free(vg__registry[i].alias);
        free(vg__registry[i].class_names);
        vg_dataset_free(&vg__registry[i].ds);
    }
    free(vg__registry);
    vg__registry = NULL;
    vg__n_entries = vg__cap_entries = 0;
}
