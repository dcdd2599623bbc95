/* The HDF5 record: write sweeps of fake runs (two of them from two threads at once), read them
 * back with the HDF5 C API and check every attribute, shape, type and value against
 * docs/FORMAT.md. Fails through the exit code; a mismatch prints both values. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vgsweep/record.h"

static int failures;

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);            \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)
#define CHECK_INT(a, b)                                                                          \
    do {                                                                                         \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                    \
        if (va_ != vb_) {                                                                        \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
                    va_, vb_);                                                                   \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)
#define CHECK_U64(a, b)                                                                          \
    do {                                                                                         \
        unsigned long long va_ = (a), vb_ = (b);                                                 \
        if (va_ != vb_) {                                                                        \
            fprintf(stderr, "%s:%d: %s == %s failed: %llu != %llu\n", __FILE__, __LINE__, #a, #b, \
                    va_, vb_);                                                                   \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)
#define CHECK_STR(a, b)                                                                          \
    do {                                                                                         \
        const char *va_ = (a), *vb_ = (b);                                                       \
        if (!va_ || !vb_ || strcmp(va_, vb_) != 0) {                                             \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, \
                    #b, va_ ? va_ : "(null)", vb_ ? vb_ : "(null)");                             \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)
/* Exact: same bits, or both NaN. */
#define CHECK_REAL(a, b, what)                                                                   \
    do {                                                                                         \
        double va_ = (a), vb_ = (b);                                                             \
        if (!(va_ == vb_ || (isnan(va_) && isnan(vb_)))) {                                       \
            fprintf(stderr, "%s:%d: %s: %s == %s failed: %.17g != %.17g\n", __FILE__, __LINE__,  \
                    what, #a, #b, va_, vb_);                                                     \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)
#define CHECK_OK(call, err)                                                                      \
    do {                                                                                         \
        vg_status st_ = (call);                                                                  \
        if (st_ != VG_OK) {                                                                      \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,             \
                    vg_status_name(st_), (err)->message);                                        \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)

/* --- fake runs --------------------------------------------------------------------------- */

#define MAX_LAYERS 100

typedef struct fake_run {
    vg_run_config cfg;
    int fan_in[MAX_LAYERS], fan_out[MAX_LAYERS];
    vg_run_layout layout;
    int n_written; /* checkpoints 0 .. n_written-1 are written */
    vg_run_status status;
    const char *message;
    int epochs_done;
} fake_run;

/* Deterministic, not round, exactly the same on both sides. */
static float tensor_value(int run, int k, int l, int i, int is_bias) {
    long v = ((long)run * 7919 + (long)k * 104729 + (long)l * 1299709 + (long)i * 15485863 +
              is_bias * 32452843) %
             100003;
    return (float)v / 1024.0f - 40.0f;
}
static double series_value(int run, int which, int i) {
    return 1.0 / (3.0 + run + 7 * which + i);
}

static void fake_config(fake_run *r, int run, const char *id, int depth, int width, int features,
                        int epochs, int tensors) {
    memset(r, 0, sizeof *r);
    vg_run_config *c = &r->cfg;
    c->data_kind = VG_DATA_CLUSTERS;
    c->data_train_size = 200 + run;
    c->data_test_size = 50;
    c->data_features = features;
    c->data_classes = 3;
    c->data_separation = 2.5;
    c->data_seed = -1;
    c->model_depth = depth;
    c->model_width = width;
    c->model_activation = run % 2 ? VG_ACT_TANH : VG_ACT_RELU;
    c->model_init = VG_INIT_HE_NORMAL;
    c->model_init_std = 0.01;
    c->train_epochs = epochs;
    c->train_batch_size = 16;
    c->train_lr = 0.1 * (run + 1);
    c->train_optimizer = VG_OPT_SGD;
    c->record_probe = 32;
    c->record_tensors = tensors;
    c->index = run;
    c->repeat = run % 2;
    snprintf(c->id, sizeof c->id, "%s", id);
    c->seed = UINT64_C(0xdeadbeefcafe0000) + (uint64_t)run; /* high bit set: uint64 on disk */

    int L = depth + 1;
    for (int l = 0; l < L; l++) {
        r->fan_in[l] = l == 0 ? features : width;
        r->fan_out[l] = l == L - 1 ? c->data_classes : width;
    }
    r->layout = (vg_run_layout){.n_epochs = epochs, .n_checkpoints = epochs + 1, .n_layers = L,
                                .fan_in = r->fan_in, .fan_out = r->fan_out};
    r->n_written = epochs + 1;
    r->status = VG_RUN_OK;
    r->message = "";
    r->epochs_done = epochs;
}

typedef struct job {
    vg_recorder *rec;
    const fake_run *run;
    int run_no;
    vg_status st;
    vg_error err;
} job;

/* What a worker does: begin, stream checkpoints, end. */
static void *write_run(void *arg) {
    job *j = arg;
    const fake_run *r = j->run;
    const int L = r->layout.n_layers, E = r->layout.n_epochs;
    float *W[MAX_LAYERS], *b[MAX_LAYERS];
    vg_run_writer *w = NULL;
    vg_run_result res;
    memset(&res, 0, sizeof res);
    memset(W, 0, sizeof W);
    memset(b, 0, sizeof b);

    j->st = vg_recorder_begin_run(j->rec, &r->cfg, &r->layout, &w, &j->err);
    if (j->st != VG_OK) return NULL;
    for (int l = 0; l < L; l++) {
        W[l] = malloc(sizeof(float) * (size_t)r->fan_out[l] * (size_t)r->fan_in[l]);
        b[l] = malloc(sizeof(float) * (size_t)r->fan_out[l]);
    }
    for (int k = 0; k < r->n_written && j->st == VG_OK; k++) {
        for (int l = 0; l < L; l++) {
            for (int i = 0; i < r->fan_out[l] * r->fan_in[l]; i++)
                W[l][i] = tensor_value(j->run_no, k, l, i, 0);
            for (int i = 0; i < r->fan_out[l]; i++) b[l][i] = tensor_value(j->run_no, k, l, i, 1);
        }
        j->st = vg_run_writer_checkpoint(w, k, (const float *const *)W, (const float *const *)b,
                                         &j->err);
    }

    res.status = r->status;
    snprintf(res.message, sizeof res.message, "%s", r->message);
    res.epochs_done = r->epochs_done;
    res.wall_seconds = 1.5 + j->run_no;
    res.layout = r->layout;
    double *series[6];
    for (int s = 0; s < 6; s++) {
        int n = s < 4 ? E : (E + 1) * L;
        series[s] = malloc(sizeof(double) * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) {
            int reached = s < 4 ? i < r->epochs_done : i / L <= r->epochs_done;
            series[s][i] = reached ? series_value(j->run_no, s, i) : NAN;
        }
    }
    res.loss = series[0];
    res.accuracy = series[1];
    res.test_loss = series[2];
    res.test_accuracy = series[3];
    res.grad_norm = series[4];
    res.delta_rms = series[5];
    if (j->st == VG_OK) {
        j->st = vg_recorder_end_run(w, &res, &j->err);
    } else {
        vg_error ignored;
        vg_recorder_end_run(w, &res, &ignored);
    }
    for (int s = 0; s < 6; s++) free(series[s]);
    for (int l = 0; l < L; l++) {
        free(W[l]);
        free(b[l]);
    }
    return NULL;
}

/* --- reading back ------------------------------------------------------------------------ */

static hid_t open_attr(hid_t file, const char *obj, const char *name) {
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
        fprintf(stderr, "missing attribute %s on %s\n", name, obj);
        failures++;
    }
    return a;
}

/* Variable-length UTF-8 string attribute, copied into buf. */
static const char *attr_str(hid_t file, const char *obj, const char *name, char *buf, size_t size) {
    hid_t a = open_attr(file, obj, name), t = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    char *s = NULL;
    snprintf(buf, size, "(unreadable)");
    if (a < 0) return buf;
    t = H5Aget_type(a);
    if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) <= 0 ||
        H5Tget_cset(t) != H5T_CSET_UTF8) {
        fprintf(stderr, "attribute %s on %s is not a variable-length UTF-8 string\n", name, obj);
        failures++;
    } else {
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        if (H5Aread(a, mt, &s) >= 0 && s) snprintf(buf, size, "%s", s);
        H5free_memory(s);
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    return buf;
}

/* A scalar numeric attribute whose on-disk type must equal file_type. */
static void attr_num(hid_t file, const char *obj, const char *name, hid_t file_type,
                     hid_t mem_type, void *out) {
    hid_t a = open_attr(file, obj, name);
    if (a < 0) return;
    hid_t t = H5Aget_type(a);
    if (H5Tequal(t, file_type) <= 0) {
        fprintf(stderr, "attribute %s on %s has the wrong type\n", name, obj);
        failures++;
    }
    if (H5Aread(a, mem_type, out) < 0) {
        fprintf(stderr, "cannot read attribute %s on %s\n", name, obj);
        failures++;
    }
    H5Tclose(t);
    H5Aclose(a);
}
static int64_t attr_i64(hid_t file, const char *obj, const char *name) {
    int64_t v = -999;
    attr_num(file, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
    return v;
}
static uint64_t attr_u64(hid_t file, const char *obj, const char *name) {
    uint64_t v = 999;
    attr_num(file, obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
    return v;
}
static double attr_f64(hid_t file, const char *obj, const char *name) {
    double v = -999;
    attr_num(file, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
    return v;
}
/* h5py's bool: int8 enum {FALSE = 0, TRUE = 1}. */
static int attr_bool(hid_t file, const char *obj, const char *name) {
    hid_t a = open_attr(file, obj, name);
    int8_t v = -1;
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), base = H5Tget_super(t);
    char *n0 = NULL, *n1 = NULL;
    if (H5Tget_class(t) != H5T_ENUM || H5Tequal(base, H5T_STD_I8LE) <= 0 ||
        H5Tget_nmembers(t) != 2 || !(n0 = H5Tget_member_name(t, 0)) ||
        !(n1 = H5Tget_member_name(t, 1)) || strcmp(n0, "FALSE") != 0 || strcmp(n1, "TRUE") != 0) {
        fprintf(stderr, "attribute %s on %s is not an int8 FALSE/TRUE enum\n", name, obj);
        failures++;
    } else {
        int8_t m0 = -1, m1 = -1;
        H5Tget_member_value(t, 0, &m0);
        H5Tget_member_value(t, 1, &m1);
        CHECK_INT(m0, 0);
        CHECK_INT(m1, 1);
        if (H5Aread(a, t, &v) < 0) failures++;
    }
    H5free_memory(n0);
    H5free_memory(n1);
    H5Tclose(base);
    H5Tclose(t);
    H5Aclose(a);
    return v;
}

/* Opens a dataset and checks its on-disk type and shape; returns its element count or -1. */
static long long check_dataset(hid_t file, const char *path, hid_t file_type, int rank,
                               const hsize_t *dims, hid_t *out) {
    hsize_t got[8];
    *out = H5Dopen2(file, path, H5P_DEFAULT);
    if (*out < 0) {
        fprintf(stderr, "missing dataset %s\n", path);
        failures++;
        return -1;
    }
    hid_t t = H5Dget_type(*out), s = H5Dget_space(*out);
    if (H5Tequal(t, file_type) <= 0) {
        fprintf(stderr, "dataset %s has the wrong type\n", path);
        failures++;
    }
    int r = H5Sget_simple_extent_ndims(s);
    CHECK_INT(r, rank);
    long long n = 1;
    if (r == rank) {
        H5Sget_simple_extent_dims(s, got, NULL);
        for (int i = 0; i < rank; i++) {
            if (got[i] != dims[i]) {
                fprintf(stderr, "dataset %s: dim %d is %llu, expected %llu\n", path, i,
                        (unsigned long long)got[i], (unsigned long long)dims[i]);
                failures++;
            }
            n *= (long long)dims[i];
        }
    }
    H5Tclose(t);
    H5Sclose(s);
    return n;
}

static void check_series(hid_t file, const char *run, const char *name, int run_no, int which,
                         int rank, const hsize_t *dims, int epochs_done, int L) {
    char path[128];
    hid_t d;
    snprintf(path, sizeof path, "%s/%s", run, name);
    long long n = check_dataset(file, path, H5T_IEEE_F64LE, rank, dims, &d);
    if (n < 0) return;
    double *buf = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (n > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        fprintf(stderr, "cannot read %s\n", path);
        failures++;
    } else {
        for (long long i = 0; i < n; i++) {
            int reached = rank == 1 ? i < epochs_done : i / L <= epochs_done;
            CHECK_REAL(buf[i], reached ? series_value(run_no, which, (int)i) : NAN, path);
        }
    }
    free(buf);
    H5Dclose(d);
}

static void check_tensor(hid_t file, const char *path, int run_no, int l, int fan_out, int fan_in,
                         int E, int n_written, int is_bias) {
    hsize_t dims[3] = {(hsize_t)E + 1, (hsize_t)fan_out, (hsize_t)fan_in};
    int rank = is_bias ? 2 : 3;
    hid_t d;
    long long n = check_dataset(file, path, H5T_IEEE_F32LE, rank, dims, &d);
    if (n < 0) return;

    /* chunked one checkpoint per chunk, shuffle then deflate */
    hid_t dcpl = H5Dget_create_plist(d);
    hsize_t chunk[3] = {0, 0, 0};
    CHECK_INT(H5Pget_layout(dcpl), H5D_CHUNKED);
    CHECK_INT(H5Pget_chunk(dcpl, 3, chunk), rank);
    CHECK_INT(chunk[0], 1);
    CHECK_INT(chunk[1], fan_out);
    if (!is_bias) CHECK_INT(chunk[2], fan_in);
    CHECK_INT(H5Pget_nfilters(dcpl), 2);
    unsigned flags, cd[4];
    size_t ncd = 4;
    CHECK_INT(H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_SHUFFLE);
    ncd = 4;
    CHECK_INT(H5Pget_filter2(dcpl, 1, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
    H5Pclose(dcpl);

    float *buf = malloc(sizeof(float) * (size_t)n);
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        fprintf(stderr, "cannot read %s\n", path);
        failures++;
    } else {
        long long per = n / (E + 1);
        int bad = 0;
        for (long long i = 0; i < n && bad < 5; i++) {
            int k = (int)(i / per);
            double want = k < n_written ? tensor_value(run_no, k, l, (int)(i % per), is_bias) : NAN;
            int before = failures;
            CHECK_REAL(buf[i], want, path);
            bad += failures != before;
        }
    }
    free(buf);
    H5Dclose(d);
}

static int link_exists(hid_t file, const char *path) { return H5Lexists(file, path, H5P_DEFAULT) > 0; }

static herr_t count_attr(hid_t loc, const char *name, const H5A_info_t *info, void *n) {
    (void)loc, (void)name, (void)info;
    ++*(hsize_t *)n;
    return 0;
}

static void check_run(hid_t file, const fake_run *r, int run_no) {
    char run[64], path[128], s[256];
    const vg_run_config *c = &r->cfg;
    const int L = r->layout.n_layers, E = r->layout.n_epochs;
    snprintf(run, sizeof run, "/runs/%s", c->id);
    if (!link_exists(file, run)) {
        fprintf(stderr, "missing group %s\n", run);
        failures++;
        return;
    }

    /* settings, typed */
    CHECK_STR(attr_str(file, run, "data.kind", s, sizeof s), "clusters");
    CHECK_INT(attr_i64(file, run, "data.train_size"), c->data_train_size);
    CHECK_INT(attr_i64(file, run, "data.test_size"), c->data_test_size);
    CHECK_INT(attr_i64(file, run, "data.features"), c->data_features);
    CHECK_INT(attr_i64(file, run, "data.classes"), c->data_classes);
    CHECK_REAL(attr_f64(file, run, "data.separation"), c->data_separation, run);
    CHECK_INT(attr_i64(file, run, "data.seed"), c->data_seed);
    CHECK_INT(attr_i64(file, run, "model.depth"), c->model_depth);
    CHECK_INT(attr_i64(file, run, "model.width"), c->model_width);
    CHECK_STR(attr_str(file, run, "model.activation", s, sizeof s),
              c->model_activation == VG_ACT_TANH ? "tanh" : "relu");
    CHECK_STR(attr_str(file, run, "model.init", s, sizeof s), "he_normal");
    CHECK_REAL(attr_f64(file, run, "model.init_std"), c->model_init_std, run);
    CHECK_INT(attr_i64(file, run, "train.epochs"), c->train_epochs);
    CHECK_INT(attr_i64(file, run, "train.batch_size"), c->train_batch_size);
    CHECK_REAL(attr_f64(file, run, "train.lr"), c->train_lr, run);
    CHECK_STR(attr_str(file, run, "train.optimizer", s, sizeof s), "sgd");
    CHECK_INT(attr_i64(file, run, "record.probe"), c->record_probe);
    CHECK_INT(attr_bool(file, run, "record.tensors"), c->record_tensors);
    /* every row of the table is there */
    hsize_t n_attrs = 0;
    CHECK(H5Aiterate_by_name(file, run, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, count_attr, &n_attrs,
                             H5P_DEFAULT) >= 0);
    CHECK_INT(n_attrs, VG_SETTING_COUNT + 10);

    /* identity and outcome */
    CHECK_STR(attr_str(file, run, "id", s, sizeof s), c->id);
    CHECK_U64(attr_u64(file, run, "seed"), c->seed);
    CHECK_INT(attr_i64(file, run, "repeat"), c->repeat);
    CHECK_INT(attr_i64(file, run, "index"), c->index);
    CHECK_INT(attr_i64(file, run, "n_layers"), L);
    CHECK_INT(attr_i64(file, run, "n_epochs"), E);
    CHECK_STR(attr_str(file, run, "status", s, sizeof s), r->status == VG_RUN_OK ? "ok" : "diverged");
    CHECK_STR(attr_str(file, run, "message", s, sizeof s), r->message);
    CHECK_INT(attr_i64(file, run, "epochs_done"), r->epochs_done);
    CHECK_REAL(attr_f64(file, run, "wall_seconds"), 1.5 + run_no, run);

    /* series */
    hsize_t dE[1] = {(hsize_t)E}, dEL[2] = {(hsize_t)E + 1, (hsize_t)L}, dL[1] = {(hsize_t)L};
    const char *names[6] = {"loss", "accuracy", "test_loss", "test_accuracy", "grad_norm",
                            "delta_rms"};
    for (int w = 0; w < 6; w++)
        check_series(file, run, names[w], run_no, w, w < 4 ? 1 : 2, w < 4 ? dE : dEL,
                     r->epochs_done, L);
    for (int side = 0; side < 2; side++) {
        hid_t d;
        int64_t got[MAX_LAYERS];
        snprintf(path, sizeof path, "%s/%s", run, side ? "fan_out" : "fan_in");
        if (check_dataset(file, path, H5T_STD_I64LE, 1, dL, &d) < 0) continue;
        CHECK(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
        for (int l = 0; l < L; l++) CHECK_INT(got[l], side ? r->fan_out[l] : r->fan_in[l]);
        H5Dclose(d);
    }

    /* tensors */
    snprintf(path, sizeof path, "%s/layers", run);
    CHECK_INT(link_exists(file, path), c->record_tensors);
    if (!c->record_tensors) return;
    int width = L >= 100 ? 3 : 2;
    for (int l = 0; l < L; l++) {
        snprintf(path, sizeof path, "%s/layers/%0*d/grad_W", run, width, l + 1);
        check_tensor(file, path, run_no, l, r->fan_out[l], r->fan_in[l], E, r->n_written, 0);
        snprintf(path, sizeof path, "%s/layers/%0*d/grad_b", run, width, l + 1);
        check_tensor(file, path, run_no, l, r->fan_out[l], r->fan_in[l], E, r->n_written, 1);
    }
}

static const char *const SWEEP_TEXT = "name: test sweep \xc3\xa9\ngrid:\n  model.depth: [1, 2]\n";

static void check_file(const char *path, const fake_run *runs, int n_runs) {
    char s[256];
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        fprintf(stderr, "cannot open %s\n", path);
        failures++;
        return;
    }
    CHECK_STR(attr_str(file, "/", "format", s, sizeof s), "vgsweep");
    CHECK_INT(attr_i64(file, "/", "format_version"), 1);
    CHECK(strlen(attr_str(file, "/", "program_version", s, sizeof s)) > 0);
    CHECK_STR(attr_str(file, "/", "sweep_file", s, sizeof s), "sweeps/test.yaml");
    CHECK_STR(attr_str(file, "/", "sweep_name", s, sizeof s), "test sweep \xc3\xa9");
    CHECK_STR(attr_str(file, "/", "sweep_text", s, sizeof s), SWEEP_TEXT);
    CHECK_U64(attr_u64(file, "/", "sweep_seed"), UINT64_C(18446744073709551557));
    CHECK_INT(attr_i64(file, "/", "n_runs"), n_runs);
    CHECK_STR(attr_str(file, "/", "command_line", s, sizeof s), "vgsweep sweeps/test.yaml -j 2");
    attr_str(file, "/", "created", s, sizeof s); /* 2024-05-01T12:34:56Z */
    CHECK_INT(strlen(s), 20);
    CHECK(s[4] == '-' && s[10] == 'T' && s[19] == 'Z');
    for (int i = 0; i < n_runs; i++) check_run(file, &runs[i], i);
    CHECK(!link_exists(file, "/runs/000000000100/layers/01"));
    CHECK(link_exists(file, "/runs/000000000100/layers/001"));
    CHECK(link_exists(file, "/runs/000000000100/layers/100"));
    H5Fclose(file);
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Writes runs[order[0..n)] into path; runs order[0] and order[1] from two threads at once. */
static void write_file(const char *path, const fake_run *runs, const int *order, int n,
                       int threaded) {
    vg_error err;
    vg_recorder *rec = NULL;
    vg_sweep_info info = {.sweep_file = "sweeps/test.yaml",
                          .sweep_name = "test sweep \xc3\xa9",
                          .sweep_text = SWEEP_TEXT,
                          .sweep_seed = UINT64_C(18446744073709551557),
                          .n_runs = n,
                          .command_line = "vgsweep sweeps/test.yaml -j 2"};
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    if (!rec) return;
    job jobs[8];
    for (int i = 0; i < n; i++)
        jobs[i] = (job){.rec = rec, .run = &runs[order[i]], .run_no = order[i]};
    int first = 0;
    if (threaded) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, write_run, &jobs[i]) == 0);
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
        first = 2;
    }
    for (int i = first; i < n; i++) write_run(&jobs[i]);
    for (int i = 0; i < n; i++) CHECK_OK(jobs[i].st, &jobs[i].err);

    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(file_exists(tmp));
    CHECK(!file_exists(path));
    CHECK_OK(vg_recorder_close(rec, &err), &err);
    CHECK(!file_exists(tmp));
    CHECK(file_exists(path));
}

static void check_errors(const char *dir, const fake_run *runs) {
    vg_error err;
    vg_recorder *rec = (vg_recorder *)&err; /* must be reset to NULL on failure */
    vg_sweep_info info = {.sweep_file = "x.yaml", .sweep_name = "x", .sweep_text = "",
                          .n_runs = 1, .command_line = "vgsweep x.yaml"};
    char path[512], tmp[600];

    /* a directory that does not exist: the message names the path */
    snprintf(path, sizeof path, "%s/no-such-dir/out.h5", dir);
    vg_error_clear(&err);
    vg_status st = vg_recorder_create(path, &info, &rec, &err);
    CHECK_INT(st, VG_EIO);
    CHECK(rec == NULL);
    if (!strstr(err.message, path)) {
        fprintf(stderr, "message \"%s\" does not contain \"%s\"\n", err.message, path);
        failures++;
    }
    snprintf(path, sizeof path, "%s/no-such-dir", dir);
    CHECK(!file_exists(path));

    /* abort leaves nothing; a duplicate run id is refused */
    snprintf(path, sizeof path, "%s/aborted.h5", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    if (!rec) return;
    job j = {.rec = rec, .run = &runs[0], .run_no = 0};
    write_run(&j);
    CHECK_OK(j.st, &j.err);
    vg_run_writer *w = (vg_run_writer *)&err;
    st = vg_recorder_begin_run(rec, &runs[0].cfg, &runs[0].layout, &w, &err);
    CHECK_INT(st, VG_EINTERNAL);
    CHECK(w == NULL);
    CHECK(strstr(err.message, runs[0].cfg.id) != NULL);
    CHECK(file_exists(tmp));
    vg_recorder_abort(rec);
    CHECK(!file_exists(tmp));
    CHECK(!file_exists(path));
}

static int h5dump_ok(const char *path) {
    if (system("command -v h5dump >/dev/null 2>&1") != 0) {
        printf("h5dump not found: skipping the h5dump check\n");
        return 1;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "h5dump -H '%s' >/dev/null", path);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        fprintf(stderr, "%s failed: status %d\n", cmd, rc);
        return 0;
    }
    return 1;
}

int main(void) {
    char dir[] = "/tmp/vg_test_record.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* keep_dir: set VG_KEEP=1 to look at the files afterwards */
    int keep = getenv("VG_KEEP") != NULL;

    static fake_run runs[3];
    /* 0: ok, no tensors. 1: diverged after epoch 2, tensors for checkpoints 0..2 of 0..4.
     * 2: 100 layers (three-digit names), no epochs, only checkpoint 0. */
    fake_config(&runs[0], 0, "0a1b2c3d4e5f", 1, 3, 4, 3, 0);
    fake_config(&runs[1], 1, "ffeeddccbbaa", 2, 4, 5, 4, 1);
    runs[1].status = VG_RUN_DIVERGED;
    runs[1].message = "loss is nan at epoch 3";
    runs[1].epochs_done = 2;
    runs[1].n_written = 3;
    fake_config(&runs[2], 2, "000000000100", 99, 1, 2, 0, 1);

    char a[512], b[512];
    snprintf(a, sizeof a, "%s/sweep-a.h5", dir);
    snprintf(b, sizeof b, "%s/sweep-b.h5", dir);
    const int forward[3] = {0, 1, 2}, backward[3] = {2, 1, 0};
    write_file(a, runs, forward, 3, 1);
    write_file(b, runs, backward, 3, 0);
    /* The same checks on both: the datasets do not depend on the order runs finished in. */
    check_file(a, runs, 3);
    check_file(b, runs, 3);
    CHECK(h5dump_ok(a));
    check_errors(dir, runs);

    if (keep) {
        printf("files kept in %s\n", dir);
    } else {
        unlink(a);
        unlink(b);
        rmdir(dir);
    }
    if (failures) {
        fprintf(stderr, "test_record: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_record: ok\n");
    return 0;
}
