/* The HDF5 record, through a fake producer: sweeps of fake runs (two written from two threads
 * at once) are read back with the HDF5 C API and checked against docs/FORMAT.md: attributes,
 * every series type and rank, tensors (chunking, filters, values, NaN for unwritten slots,
 * compressible and incompressible slots), dimension scales and /index. Then the part files:
 * an interrupted sweep keeps its finished runs, a new sweep refuses them, a resume reuses them
 * and writes the same datasets as an uninterrupted sweep, a changed sweep drops the runs that
 * left it, another sweep's files are refused untouched. Fails through the exit code. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vg_test.h"
#include "vgsweep/record.h"

#define CHECK_OK(call, err)                                                                      \
    do {                                                                                         \
        vg_status st_ = (call);                                                                  \
        VG_CHECK_MSG(st_ == VG_OK, "%s: %s", vg_status_name(st_), (err)->message);               \
    } while (0)
/* Same bits, or both NaN. */
#define CHECK_REAL(a, b, what)                                                                   \
    do {                                                                                         \
        double va_ = (a), vb_ = (b);                                                             \
        VG_CHECK_MSG(va_ == vb_ || (isnan(va_) && isnan(vb_)), "%s: %.17g != %.17g", what, va_,  \
                     vb_);                                                                       \
    } while (0)

/* --- fake runs --------------------------------------------------------------------------- */

#define MAX_LAYERS 100
#define MAX_TENSORS (2 * MAX_LAYERS + 2)
#define PROBE 5
#define BINS 4

typedef struct fake_run {
    vg_run_config cfg;
    int fan_in[MAX_LAYERS], fan_out[MAX_LAYERS];
    vg_tensor_spec specs[MAX_TENSORS];
    vg_axis axes[10 + 2 * MAX_LAYERS]; /* the run's, each layer's unit and input, seq's */
    int checkpoints[MAX_LAYERS + 2]; /* 0..E */
    vg_run_layout layout;
    int n_written; /* slots 0 .. n_written-1 of the per-checkpoint tensors are written */
    vg_run_status status;
    const char *message;
    int epochs_done;
} fake_run;

/* Tensor values: even slots from a hash (deflate cannot shrink them: stored shuffled only),
 * odd slots mostly zero (deflated). Deterministic, the same on both sides. */
static float tensor_value(int run, int t, int slot, long i) {
    uint64_t h = (uint64_t)run * 0x9e3779b97f4a7c15u ^ (uint64_t)t * 0xbf58476d1ce4e5b9u ^
                 (uint64_t)slot * 0x94d049bb133111ebu ^ (uint64_t)i * 0x2545f4914f6cdd1du;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    if (slot % 2 == 1) return i % 7 == 0 ? (float)(h % 1000) : 0.0f;
    return (float)((double)(h >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static double series_value(int run, int which, long i) { return 1.0 / (3.0 + run + 7 * which + i); }

static void fake_config(fake_run *r, int run, const char *id, int depth, int width, int features,
                        int epochs) {
    memset(r, 0, sizeof *r);
    vg_run_config *c = &r->cfg;
    vg_run_config_defaults(c);
    c->data_features = features;
    c->data_classes = 3;
    c->model_depth = depth;
    c->model_width = width;
    c->model_activation = run % 2 ? VG_ACT_TANH : VG_ACT_RELU;
    c->train_epochs = epochs;
    c->train_lr = 0.1 * (run + 1);
    c->index = run;
    c->repeat = run % 2;
    snprintf(c->id, sizeof c->id, "%s", id);
    c->seed = UINT64_C(0xdeadbeefcafe0000) + (uint64_t)run; /* high bit set: uint64 on disk */

    int L = depth + 1, n = 0;
    for (int k = 0; k <= epochs; k++) r->checkpoints[k] = k;
    for (int l = 0; l < L; l++) {
        r->fan_in[l] = l == 0 ? features : width;
        r->fan_out[l] = l == L - 1 ? c->data_classes : width;
        vg_tensor_spec *W = &r->specs[n++], *b = &r->specs[n++];
        snprintf(W->name, sizeof W->name, "layers/%0*d/grad_W", L >= 100 ? 3 : 2, l + 1);
        snprintf(b->name, sizeof b->name, "layers/%0*d/grad_b", L >= 100 ? 3 : 2, l + 1);
        *W = (vg_tensor_spec){.doc = "dloss/dW", .rank = 2, .dims = {r->fan_out[l], r->fan_in[l]},
                              .axes = "checkpoint,unit,input", .n_slots = epochs + 1,
                              .checkpoints = r->checkpoints};
        snprintf(W->name, sizeof W->name, "layers/%0*d/grad_W", L >= 100 ? 3 : 2, l + 1);
        *b = (vg_tensor_spec){.doc = "dloss/db", .rank = 1, .dims = {r->fan_out[l]},
                              .axes = "checkpoint,unit", .n_slots = epochs + 1,
                              .checkpoints = r->checkpoints};
        snprintf(b->name, sizeof b->name, "layers/%0*d/grad_b", L >= 100 ? 3 : 2, l + 1);
    }
    /* weights at initialization only: one slot holding checkpoint 0 */
    r->specs[n] = (vg_tensor_spec){.doc = "W at init", .rank = 2, .dims = {r->fan_out[0], r->fan_in[0]},
                                   .axes = "init,unit,input", .n_slots = 1,
                                   .checkpoints = r->checkpoints};
    snprintf(r->specs[n].name, sizeof r->specs[n].name, "layers/%0*d/W", L >= 100 ? 3 : 2, 1);
    n++;
    /* a slot of rank 3 (a recurrent net's (gate, unit, time), say), its axes in its own group */
    r->specs[n] = (vg_tensor_spec){.doc = "rank 3", .rank = 3, .dims = {2, 3, 5},
                                   .axes = "checkpoint,gate,unit,time", .n_slots = epochs + 1,
                                   .checkpoints = r->checkpoints};
    snprintf(r->specs[n].name, sizeof r->specs[n].name, "seq/h");
    n++;
    /* the axes: the series', the init slot's, each layer's units and inputs */
    int na = 0;
    static const struct { const char *name; int first; } run_axes[7] = {
        {"checkpoint", 0}, {"epoch", 1}, {"layer", 1}, {"bin", 0}, {"sample", 0}, {"feature", 0},
        {"init", 0}};
    const int64_t run_len[7] = {epochs + 1, epochs, L, BINS, PROBE, 2, 1};
    for (int i = 0; i < 7; i++, na++) {
        snprintf(r->axes[na].name, sizeof r->axes[na].name, "%s", run_axes[i].name);
        r->axes[na].doc = run_axes[i].name;
        r->axes[na].length = run_len[i];
        r->axes[na].first = run_axes[i].first;
    }
    for (int l = 0; l < L; l++) {
        snprintf(r->axes[na].name, sizeof r->axes[na].name, "layers/%0*d/unit", L >= 100 ? 3 : 2, l + 1);
        r->axes[na].doc = "unit";
        r->axes[na++].length = r->fan_out[l];
        snprintf(r->axes[na].name, sizeof r->axes[na].name, "layers/%0*d/input", L >= 100 ? 3 : 2, l + 1);
        r->axes[na].doc = "input";
        r->axes[na++].length = r->fan_in[l];
    }
    static const char *const seq_axes[3] = {"seq/gate", "seq/unit", "time"};
    for (int i = 0; i < 3; i++, na++) {
        snprintf(r->axes[na].name, sizeof r->axes[na].name, "%s", seq_axes[i]);
        r->axes[na].doc = seq_axes[i];
        r->axes[na].length = i == 0 ? 2 : i == 1 ? 3 : 5;
    }
    r->layout = (vg_run_layout){.n_axes = na, .axes = r->axes, .n_tensors = n, .tensors = r->specs,
                                .n_attrs = 3,
                                .attrs = {{"n_layers", L}, {"n_epochs", epochs}, {"steps_per_epoch", 7}}};
    r->n_written = epochs + 1;
    r->status = VG_RUN_OK;
    r->message = "";
    r->epochs_done = epochs;
}

/* The series every fake run produces: name, axes, dtype, rank, dims (from E, L). */
enum { S_LOSS, S_ACC, S_TLOSS, S_TACC, S_GNORM, S_HIST, S_X, S_Y, S_CLIP, N_SERIES };
static void series_shape(int s, int E, int L, vg_series *out) {
    static const struct {
        const char *name, *axes;
        vg_dtype dtype;
        int rank;
    } t[N_SERIES] = {
        {"loss", "epoch", VG_F64, 1},           {"accuracy", "epoch", VG_F64, 1},
        {"test_loss", "epoch", VG_F64, 1},      {"test_accuracy", "epoch", VG_F64, 1},
        {"grad_norm", "checkpoint,layer", VG_F64, 2},
        {"grad_hist", "checkpoint,layer,bin", VG_I64, 3},
        {"probe/x", "sample,feature", VG_F32, 2}, {"probe/y", "sample", VG_I32, 1},
        {"clip/fraction", "epoch", VG_F64, 1},
    };
    memset(out, 0, sizeof *out);
    out->name = t[s].name;
    out->axes = t[s].axes;
    out->doc = t[s].name; /* a doc that names the series: checked on read */
    out->dtype = t[s].dtype;
    out->rank = t[s].rank;
    int64_t d[N_SERIES][3] = {{E}, {E}, {E}, {E}, {E + 1, L}, {E + 1, L, BINS}, {PROBE, 2}, {PROBE}, {E}};
    memcpy(out->dims, d[s], sizeof d[s]); /* dims has room for VG_MAX_RANK */
}

/* Element i of series s of run `run`: NaN for epochs/checkpoints not reached (float). */
static double series_elem(int run, int s, long i, int E, int L, int epochs_done) {
    switch (s) {
    case S_LOSS: case S_ACC: case S_TLOSS: case S_TACC: case S_CLIP:
        return i < epochs_done ? series_value(run, s, i) : NAN;
    case S_GNORM: return i / L <= epochs_done ? series_value(run, s, i) : NAN;
    case S_HIST: return (double)((run * 31 + i) % 17);
    case S_X: return (double)(float)series_value(run, s, i);
    case S_Y: return (double)((run + i) % 3);
    }
    (void)E;
    return 0;
}

typedef struct job {
    vg_recorder *rec;
    const fake_run *run;
    int run_no;
    vg_status st;
    vg_error err;
} job;

/* What a worker does: begin, stream tensor slots, end with the series. */
static void *write_run(void *arg) {
    job *j = arg;
    const fake_run *r = j->run;
    const int L = r->cfg.model_depth + 1, E = r->cfg.train_epochs;
    vg_run_writer *w = NULL;
    vg_error_clear(&j->err);
    j->st = vg_recorder_begin_run(j->rec, &r->cfg, &r->layout, &w, &j->err);
    if (j->st != VG_OK) return NULL;
    for (int t = 0; t < r->layout.n_tensors && j->st == VG_OK; t++) {
        const vg_tensor_spec *s = &r->specs[t];
        long n = 1;
        for (int d = 0; d < s->rank; d++) n *= (long)s->dims[d];
        float *buf = malloc(sizeof(float) * (size_t)n);
        for (int k = 0; k < s->n_slots && k < r->n_written && j->st == VG_OK; k++) {
            for (long i = 0; i < n; i++) buf[i] = tensor_value(j->run_no, t, k, i);
            j->st = vg_run_writer_tensor(w, t, k, buf, &j->err);
        }
        free(buf);
    }

    vg_run_output res;
    memset(&res, 0, sizeof res);
    res.status = r->status;
    snprintf(res.message, sizeof res.message, "%s", r->message);
    res.epochs_done = r->epochs_done;
    res.wall_seconds = 1.5 + j->run_no;
    vg_series series[N_SERIES];
    for (int s = 0; s < N_SERIES; s++) {
        series_shape(s, E, L, &series[s]);
        long n = 1;
        for (int d = 0; d < series[s].rank; d++) n *= (long)series[s].dims[d];
        void *data = malloc(8 * (size_t)(n ? n : 1));
        for (long i = 0; i < n; i++) {
            double v = series_elem(j->run_no, s, i, E, L, r->epochs_done);
            switch (series[s].dtype) {
            case VG_F64: ((double *)data)[i] = v; break;
            case VG_F32: ((float *)data)[i] = (float)v; break;
            case VG_I64: ((int64_t *)data)[i] = (int64_t)v; break;
            case VG_I32: ((int32_t *)data)[i] = (int32_t)v; break;
            }
        }
        series[s].data = data;
    }
    res.n_series = N_SERIES;
    res.series = series;
    vg_error end_err;
    vg_status st = vg_recorder_end_run(w, &res, j->st == VG_OK ? &j->err : &end_err);
    if (j->st == VG_OK) j->st = st;
    for (int s = 0; s < N_SERIES; s++) free(series[s].data);
    return NULL;
}

static vg_sweep_info sweep_info(const vg_run_config *runs, int n, vg_record_mode mode) {
    static const int varying[2] = {VG_SET_model_depth, VG_SET_model_activation};
    static const vg_index_column columns[4] = {{"loss", "loss"}, {"accuracy", "accuracy"},
                                               {"test_loss", "test_loss"},
                                               {"test_accuracy", "test_accuracy"}};
    return (vg_sweep_info){.sweep_file = "fake.yaml", .sweep_name = "fake", .sweep_text = "name: fake\n",
                           .sweep_seed = UINT64_C(18446744073709551557), .n_runs = n,
                           .command_line = "test_record", .runs = runs, .varying = varying,
                           .n_varying = 2, .index_columns = columns, .n_index_columns = 4,
                           .libraries = "fakelib 1.0", .mode = mode};
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Writes runs[order[i]] (configs in cfgs, grid order) into path; the first two from two threads
 * at once when threaded. Leaves the recorder open in *keep when keep is not NULL. */
static void write_runs(vg_recorder *rec, const fake_run *runs, const int *order, int n, int threaded) {
    job jobs[8];
    for (int i = 0; i < n; i++) jobs[i] = (job){.rec = rec, .run = &runs[order[i]], .run_no = order[i]};
    int first = 0;
    if (threaded && n >= 2) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++) VG_CHECK(pthread_create(&t[i], NULL, write_run, &jobs[i]) == 0);
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
        first = 2;
    }
    for (int i = first; i < n; i++) write_run(&jobs[i]);
    for (int i = 0; i < n; i++) CHECK_OK(jobs[i].st, &jobs[i].err);
}

static void write_file(const char *path, const fake_run *runs, int n_runs, const int *order, int n,
                       int threaded) {
    static vg_run_config cfgs[8];
    for (int i = 0; i < n_runs; i++) cfgs[i] = runs[i].cfg;
    vg_sweep_info info = sweep_info(cfgs, n_runs, VG_RECORD_NEW);
    vg_recorder *rec = NULL;
    vg_error err;
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    if (!rec) return;
    write_runs(rec, runs, order, n, threaded);
    char parts[600];
    snprintf(parts, sizeof parts, "%s.parts", path);
    VG_CHECK(file_exists(parts));
    VG_CHECK(!file_exists(path));
    CHECK_OK(vg_recorder_close(rec, &err), &err);
    VG_CHECK(!file_exists(parts));
    VG_CHECK(file_exists(path));
}

/* --- reading back ------------------------------------------------------------------------ */

static const char *attr_str(hid_t obj, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "(missing)");
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return buf;
    hid_t t = H5Aget_type(a), mt = H5Tcopy(H5T_C_S1);
    char *s = NULL;
    VG_CHECK_MSG(H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0 &&
                     H5Tget_cset(t) == H5T_CSET_UTF8,
                 "attribute %s is not a variable-length UTF-8 string", name);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    if (H5Aread(a, mt, &s) >= 0 && s) snprintf(buf, size, "%s", s);
    H5free_memory(s);
    H5Tclose(mt);
    H5Tclose(t);
    H5Aclose(a);
    return buf;
}

static double attr_num(hid_t obj, const char *name, hid_t file_type) {
    double v = -999;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    VG_CHECK_MSG(a >= 0, "missing attribute %s", name);
    if (a < 0) return v;
    hid_t t = H5Aget_type(a);
    VG_CHECK_MSG(H5Tequal(t, file_type) > 0, "attribute %s has the wrong type", name);
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Tclose(t);
    H5Aclose(a);
    return v;
}

/* Opens a dataset, checks type and shape; returns element count or -1. */
static long check_dataset(hid_t g, const char *name, hid_t file_type, int rank, const hsize_t *dims,
                          hid_t *out) {
    *out = H5Dopen2(g, name, H5P_DEFAULT);
    VG_CHECK_MSG(*out >= 0, "missing dataset %s", name);
    if (*out < 0) return -1;
    hid_t t = H5Dget_type(*out), s = H5Dget_space(*out);
    VG_CHECK_MSG(H5Tequal(t, file_type) > 0, "dataset %s has the wrong type", name);
    hsize_t got[4];
    int r = H5Sget_simple_extent_ndims(s);
    VG_CHECK_INT_EQ(r, rank);
    long n = 1;
    if (r == rank) {
        H5Sget_simple_extent_dims(s, got, NULL);
        for (int i = 0; i < rank; i++) {
            VG_CHECK_MSG(got[i] == dims[i], "%s: dim %d is %llu, expected %llu", name, i,
                         (unsigned long long)got[i], (unsigned long long)dims[i]);
            n *= (long)dims[i];
        }
    }
    H5Tclose(t);
    H5Sclose(s);
    return n;
}

/* vgsweep's rule (src/record/record_impl.h, vg__take_whole): a tensor of at most 256 KiB in all is one chunk while
 * the run's one-chunk tensors stay within 16 MiB; the others are a slot per chunk.
 * *whole_bytes: the run's one-chunk bytes so far. */
static void check_tensor(hid_t g, const fake_run *r, int run_no, int t, uint64_t *whole_bytes) {
    const vg_tensor_spec *s = &r->specs[t];
    hsize_t dims[4] = {(hsize_t)s->n_slots, (hsize_t)s->dims[0], (hsize_t)s->dims[1], (hsize_t)s->dims[2]};
    hid_t d;
    long n = check_dataset(g, s->name, H5T_IEEE_F32LE, s->rank + 1, dims, &d);
    if (n < 0) return;
    hid_t dcpl = H5Dget_create_plist(d);
    hsize_t chunk[4] = {0, 0, 0, 0};
    VG_CHECK_INT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
    VG_CHECK_INT_EQ(H5Pget_chunk(dcpl, 4, chunk), s->rank + 1);
    uint64_t all = 4ull * (uint64_t)s->n_slots;
    for (int k = 0; k < s->rank; k++) all *= (uint64_t)s->dims[k];
    int whole = all <= (256u << 10) && *whole_bytes + all <= (16u << 20);
    if (whole) *whole_bytes += all;
    VG_CHECK_INT_EQ(chunk[0], whole ? (hsize_t)s->n_slots : 1);
    VG_CHECK_INT_EQ(chunk[1], s->dims[0]);
    VG_CHECK_INT_EQ(H5Pget_nfilters(dcpl), 2);
    unsigned flags, cd[4];
    size_t ncd = 4;
    VG_CHECK_INT_EQ(H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_SHUFFLE);
    ncd = 4;
    VG_CHECK_INT_EQ(H5Pget_filter2(dcpl, 1, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
    H5Pclose(dcpl);
    char doc[64];
    VG_CHECK_STR_CONTAINS(attr_str(d, "doc", doc, sizeof doc), s->doc);
    /* every dimension labelled with its axis and attached to one scale */
    char axes[64], label[32];
    snprintf(axes, sizeof axes, "%s", s->axes);
    int n_dims = 0;
    for (char *tok = strtok(axes, ","); tok; tok = strtok(NULL, ","), n_dims++) {
        VG_CHECK_MSG(H5DSget_label(d, (unsigned)n_dims, label, sizeof label) > 0 && !strcmp(label, tok),
                     "%s dim %d: label %s, axis %s", s->name, n_dims, label, tok);
        VG_CHECK_INT_EQ(H5DSget_num_scales(d, (unsigned)n_dims), 1);
    }
    VG_CHECK_INT_EQ(n_dims, s->rank + 1);
    /* checkpoints: int64 (n_slots) */
    int64_t ks[MAX_LAYERS + 2];
    hid_t a = H5Aopen(d, "checkpoints", H5P_DEFAULT);
    VG_CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT64, ks) >= 0);
    if (a >= 0) H5Aclose(a);
    for (int k = 0; k < s->n_slots; k++) VG_CHECK_INT_EQ(ks[k], s->checkpoints[k]);

    float *buf = malloc(sizeof(float) * (size_t)n);
    VG_CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    long per = n / s->n_slots;
    int bad = 0;
    for (long i = 0; i < n && bad < 3; i++) {
        int k = (int)(i / per);
        double want = k < r->n_written ? tensor_value(run_no, t, k, i % per) : NAN;
        int before = vg_test_failures;
        CHECK_REAL(buf[i], want, s->name);
        bad += vg_test_failures != before;
    }
    free(buf);
    H5Dclose(d);
}

static void check_series(hid_t g, const fake_run *r, int run_no, int s) {
    const int E = r->cfg.train_epochs, L = r->cfg.model_depth + 1;
    vg_series sh;
    series_shape(s, E, L, &sh);
    hsize_t dims[3] = {(hsize_t)sh.dims[0], (hsize_t)sh.dims[1], (hsize_t)sh.dims[2]};
    static const hid_t *ftypes[4] = {&H5T_IEEE_F32LE_g, &H5T_IEEE_F64LE_g, &H5T_STD_I32LE_g, &H5T_STD_I64LE_g};
    hid_t d;
    long n = check_dataset(g, sh.name, *ftypes[sh.dtype], sh.rank, dims, &d);
    if (n < 0) return;
    char doc[64], label[32];
    VG_CHECK_STR_CONTAINS(attr_str(d, "doc", doc, sizeof doc), sh.name);
    /* dimension labels from axes, each attached to the run's scale of that name */
    char axes[64];
    snprintf(axes, sizeof axes, "%s", sh.axes);
    int k = 0;
    for (char *tok = strtok(axes, ","); tok; tok = strtok(NULL, ","), k++) {
        VG_CHECK(H5DSget_label(d, (unsigned)k, label, sizeof label) > 0);
        VG_CHECK_MSG(strcmp(label, tok) == 0, "%s dim %d label %s != %s", sh.name, k, label, tok);
        VG_CHECK_INT_EQ(H5DSget_num_scales(d, (unsigned)k), 1);
        {
            hid_t sc = H5Dopen2(g, tok, H5P_DEFAULT);
            VG_CHECK_MSG(H5DSis_attached(d, sc, (unsigned)k) > 0, "%s dim %d not attached to %s",
                         sh.name, k, tok);
            H5Dclose(sc);
        }
    }
    double *buf = malloc(sizeof(double) * (size_t)(n ? n : 1));
    VG_CHECK(n == 0 || H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    for (long i = 0; i < n; i++)
        CHECK_REAL(buf[i], series_elem(run_no, s, i, E, L, r->epochs_done), sh.name);
    free(buf);
    H5Dclose(d);
}

static void check_run(hid_t file, const fake_run *r, int run_no, int index) {
    char path[64], s[256];
    const vg_run_config *c = &r->cfg;
    const int L = r->cfg.model_depth + 1, E = r->cfg.train_epochs;
    snprintf(path, sizeof path, "/runs/%s", c->id);
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    VG_CHECK_MSG(g >= 0, "missing group %s", path);
    if (g < 0) return;

    VG_CHECK_INT_EQ(attr_num(g, "model.depth", H5T_STD_I64LE), c->model_depth);
    VG_CHECK_MSG(!strcmp(attr_str(g, "model.activation", s, sizeof s), run_no % 2 ? "tanh" : "relu"),
                 "model.activation %s", s);
    CHECK_REAL(attr_num(g, "train.lr", H5T_IEEE_F64LE), c->train_lr, "train.lr");
    VG_CHECK_MSG(!strcmp(attr_str(g, "id", s, sizeof s), c->id), "id %s", s);
    VG_CHECK(attr_num(g, "seed", H5T_STD_U64LE) == (double)c->seed);
    VG_CHECK_INT_EQ(attr_num(g, "repeat", H5T_STD_I64LE), c->repeat);
    VG_CHECK_INT_EQ(attr_num(g, "index", H5T_STD_I64LE), index);
    VG_CHECK_INT_EQ(attr_num(g, "n_layers", H5T_STD_I64LE), L);
    VG_CHECK_INT_EQ(attr_num(g, "n_epochs", H5T_STD_I64LE), E);
    VG_CHECK_INT_EQ(attr_num(g, "steps_per_epoch", H5T_STD_I64LE), 7);
    VG_CHECK_MSG(!strcmp(attr_str(g, "status", s, sizeof s), r->status == VG_RUN_OK ? "ok" : "diverged"),
                 "status %s", s);
    VG_CHECK_MSG(!strcmp(attr_str(g, "message", s, sizeof s), r->message), "message %s", s);
    VG_CHECK_INT_EQ(attr_num(g, "epochs_done", H5T_STD_I64LE), r->epochs_done);
    CHECK_REAL(attr_num(g, "wall_seconds", H5T_IEEE_F64LE), 1.5 + run_no, "wall_seconds");

    uint64_t whole_bytes = 0;
    for (int t = 0; t < r->layout.n_tensors; t++) check_tensor(g, r, run_no, t, &whole_bytes);
    for (int s2 = 0; s2 < N_SERIES; s2++) check_series(g, r, run_no, s2);
    /* the scales: every axis of the layout, its values first, first + 1, ... */
    for (int i = 0; i < r->layout.n_axes; i++) {
        const vg_axis *a = &r->layout.axes[i];
        hid_t d;
        hsize_t dn[1] = {(hsize_t)a->length};
        if (check_dataset(g, a->name, H5T_STD_I64LE, 1, dn, &d) < 0) continue;
        VG_CHECK_MSG(H5DSis_scale(d) > 0, "%s is not a dimension scale", a->name);
        int64_t v[MAX_LAYERS + 2];
        if (a->length <= MAX_LAYERS + 2 &&
            H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)
            for (int64_t k = 0; k < a->length; k++) VG_CHECK_INT_EQ(v[k], a->first + k);
        H5Dclose(d);
    }
    (void)L, (void)E;
    H5Gclose(g);
}

/* /index: one row per run in grid order. */
typedef struct index_row {
    char id[12], status[16];
    int64_t depth;
    char activation[16];
} index_row;

static void check_index(hid_t file, const fake_run *const *runs, int n) {
    hid_t d = H5Dopen2(file, "/index", H5P_DEFAULT);
    VG_CHECK(d >= 0);
    if (d < 0) return;
    hid_t t = H5Dget_type(d);
    VG_CHECK_INT_EQ(H5Tget_class(t), H5T_COMPOUND);
    static const char *const cols[] = {"id", "status", "in_sweep", "model.depth", "model.activation",
                                       "repeat", "epochs_done", "loss", "accuracy", "test_loss",
                                       "test_accuracy"};
    VG_CHECK_INT_EQ(H5Tget_nmembers(t), 11);
    for (int c = 0; c < 11 && c < H5Tget_nmembers(t); c++) {
        char *name = H5Tget_member_name(t, (unsigned)c);
        VG_CHECK_MSG(name && !strcmp(name, cols[c]), "column %d is %s, expected %s", c, name, cols[c]);
        H5free_memory(name);
    }
    /* read id, status, depth and loss through a memory type of our own */
    typedef struct row {
        char id[12];
        char status[16];
        int64_t depth, epochs;
        double loss;
    } row;
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(row));
    hid_t s12 = H5Tcopy(H5T_C_S1), s16 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s12, 12);
    H5Tset_strpad(s12, H5T_STR_NULLPAD);
    H5Tset_size(s16, 16);
    H5Tset_strpad(s16, H5T_STR_NULLPAD);
    H5Tinsert(mt, "id", offsetof(row, id), s12);
    H5Tinsert(mt, "status", offsetof(row, status), s16);
    H5Tinsert(mt, "model.depth", offsetof(row, depth), H5T_NATIVE_INT64);
    H5Tinsert(mt, "epochs_done", offsetof(row, epochs), H5T_NATIVE_INT64);
    H5Tinsert(mt, "loss", offsetof(row, loss), H5T_NATIVE_DOUBLE);
    row rows[8];
    hid_t sp = H5Dget_space(d);
    VG_CHECK_INT_EQ(H5Sget_simple_extent_npoints(sp), n);
    VG_CHECK(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0);
    for (int i = 0; i < n; i++) {
        const fake_run *r = runs[i];
        VG_CHECK(!memcmp(rows[i].id, r->cfg.id, 12));
        VG_CHECK(!strncmp(rows[i].status, r->status == VG_RUN_OK ? "ok" : "diverged", 16));
        VG_CHECK_INT_EQ(rows[i].depth, r->cfg.model_depth);
        VG_CHECK_INT_EQ(rows[i].epochs, r->epochs_done);
    }
    double walls[8];
    hid_t a = H5Aopen(d, "wall_seconds", H5P_DEFAULT);
    VG_CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, walls) >= 0);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(s12);
    H5Tclose(s16);
    H5Tclose(mt);
    H5Tclose(t);
    H5Dclose(d);
}

static void check_root(hid_t file, int n_runs) {
    char s[512];
    VG_CHECK(!strcmp(attr_str(file, "format", s, sizeof s), "vgsweep"));
    VG_CHECK_INT_EQ(attr_num(file, "format_version", H5T_STD_I64LE), VG_FORMAT_VERSION);
    VG_CHECK_INT_EQ(attr_num(file, "n_runs", H5T_STD_I64LE), n_runs);
    VG_CHECK(attr_num(file, "sweep_seed", H5T_STD_U64LE) == (double)UINT64_C(18446744073709551557));
    VG_CHECK_STR_CONTAINS(attr_str(file, "libraries", s, sizeof s), "HDF5 1.");
    VG_CHECK_STR_CONTAINS(attr_str(file, "libraries", s, sizeof s), "fakelib 1.0");
    static const char *const names[] = {"program_version", "git_revision", "build_type", "compiler",
                                        "compiler_flags", "host", "started", "finished",
                                        "command_line", "sweep_file", "sweep_name", "sweep_text"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        VG_CHECK_MSG(strcmp(attr_str(file, names[i], s, sizeof s), "(missing)") != 0, "root %s", names[i]);
}

/* --- comparing files --------------------------------------------------------------------- */

typedef struct dump {
    char *text; /* "name:bytes-hash\n" for every dataset */
    size_t len, cap;
} dump;

static herr_t dump_dset(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    dump *dp = data;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (H5Iget_type(o) == H5I_DATASET) {
        hid_t t = H5Dget_type(o), s = H5Dget_space(o);
        size_t n = (size_t)H5Sget_simple_extent_npoints(s) * H5Tget_size(t);
        unsigned char *buf = calloc(1, n + 1);
        if (n) H5Dread(o, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        uint64_t h = 1469598103934665603u;
        for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 1099511628211u;
        char line[400];
        int len = snprintf(line, sizeof line, "%s:%zu:%016llx\n", name, n, (unsigned long long)h);
        if (dp->len + (size_t)len + 1 > dp->cap) {
            dp->cap = 2 * (dp->cap + (size_t)len + 1);
            dp->text = realloc(dp->text, dp->cap);
        }
        memcpy(dp->text + dp->len, line, (size_t)len + 1);
        dp->len += (size_t)len;
        free(buf);
        H5Tclose(t);
        H5Sclose(s);
    }
    H5Oclose(o);
    return 0;
}

/* Every dataset's name and a hash of its bytes, in name order. */
static char *dump_file(const char *path) {
    dump d = {calloc(1, 1), 0, 1};
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    VG_CHECK_MSG(f >= 0, "cannot open %s", path);
    if (f >= 0) {
        H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, dump_dset, &d);
        H5Fclose(f);
    }
    return d.text;
}

static void check_same_datasets(const char *a, const char *b) {
    char *da = dump_file(a), *db = dump_file(b);
    VG_CHECK_MSG(strcmp(da, db) == 0, "%s and %s hold different datasets", a, b);
    VG_CHECK(strlen(da) > 1000);
    free(da);
    free(db);
}

static off_t file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* --- scenarios --------------------------------------------------------------------------- */

static fake_run runs[4];
static vg_run_config cfgs[4];

/* Interrupted after two runs, refused without --resume, resumed: same datasets as `whole`. */
static void check_interrupt_and_resume(const char *dir, const char *whole) {
    char path[512], parts[600], part[700];
    vg_error err;
    vg_recorder *rec = NULL;
    snprintf(path, sizeof path, "%s/resumed.h5", dir);
    snprintf(parts, sizeof parts, "%s.parts", path);
    vg_sweep_info info = sweep_info(cfgs, 3, VG_RECORD_NEW);
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    if (!rec) return;
    const int first_two[2] = {1, 0};
    write_runs(rec, runs, first_two, 2, 1);
    vg_recorder_abort(rec); /* the sweep stops here: its two runs stay */
    VG_CHECK(!file_exists(path));
    snprintf(part, sizeof part, "%s/%s.part", parts, runs[0].cfg.id);
    VG_CHECK(file_exists(part));
    snprintf(part, sizeof part, "%s/%s.part", parts, runs[2].cfg.id);
    VG_CHECK(!file_exists(part));

    /* a new sweep onto it: refused, naming both ways out */
    rec = (vg_recorder *)&err;
    VG_CHECK_INT_EQ(vg_recorder_create(path, &info, &rec, &err), VG_EUSAGE);
    VG_CHECK(rec == NULL);
    VG_CHECK_STR_CONTAINS(err.message, "--resume");
    VG_CHECK_STR_CONTAINS(err.message, "--force");

    /* closing with runs missing keeps the parts and says so */
    info.mode = VG_RECORD_RESUME;
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    if (!rec) return;
    VG_CHECK_INT_EQ(vg_recorder_close(rec, &err), VG_EIO);
    VG_CHECK_STR_CONTAINS(err.message, "2 of 3 runs");
    VG_CHECK_STR_CONTAINS(err.message, "--resume");
    VG_CHECK(file_exists(parts) && !file_exists(path));

    /* another sweep (name) cannot resume it, and changes nothing */
    vg_sweep_info other = info;
    other.sweep_name = "another";
    rec = (vg_recorder *)&err;
    VG_CHECK_INT_EQ(vg_recorder_create(path, &other, &rec, &err), VG_EUSAGE);
    VG_CHECK(rec == NULL);
    VG_CHECK_STR_CONTAINS(err.message, "holds sweep \"fake\"");
    snprintf(part, sizeof part, "%s/%s.part", parts, runs[0].cfg.id);
    VG_CHECK(file_exists(part));

    /* resume: two reused, one to run; the result equals the uninterrupted sweep */
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    if (!rec) return;
    vg_record_stats rs;
    vg_recorder_stats(rec, &rs);
    VG_CHECK_INT_EQ(rs.n_reused, 2);
    VG_CHECK_INT_EQ(rs.n_dropped, 0);
    VG_CHECK(rs.resumed);
    VG_CHECK(vg_recorder_run_done(rec, runs[0].cfg.id) && vg_recorder_run_done(rec, runs[1].cfg.id));
    VG_CHECK(!vg_recorder_run_done(rec, runs[2].cfg.id));
    vg_run_writer *w = (vg_run_writer *)&err;
    VG_CHECK_INT_EQ(vg_recorder_begin_run(rec, &runs[0].cfg, &runs[0].layout, &w, &err), VG_EINTERNAL);
    VG_CHECK(w == NULL);
    const int last[1] = {2};
    write_runs(rec, runs, last, 1, 0);
    CHECK_OK(vg_recorder_close(rec, &err), &err);
    VG_CHECK(file_exists(path) && !file_exists(parts));
    check_same_datasets(whole, path);

    /* a changed sweep resumed from the complete output with prune: run 1 leaves, run 3 joins
     * (without prune run 1 would stay, outside the sweep: tests/test_keep.py) */
    static vg_run_config changed[3];
    changed[0] = runs[0].cfg, changed[1] = runs[3].cfg, changed[2] = runs[2].cfg;
    vg_sweep_info info2 = sweep_info(changed, 3, VG_RECORD_RESUME);
    info2.prune = 1;
    off_t before = file_size(path);
    CHECK_OK(vg_recorder_create(path, &info2, &rec, &err), &err);
    if (!rec) return;
    vg_recorder_stats(rec, &rs);
    VG_CHECK_INT_EQ(rs.n_reused, 2);
    VG_CHECK_INT_EQ(rs.n_dropped, 1);
    VG_CHECK_INT_EQ(file_size(path), before); /* untouched until the new one replaces it */
    const int newcomer[1] = {3};
    write_runs(rec, runs, newcomer, 1, 0);
    CHECK_OK(vg_recorder_close(rec, &err), &err);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    VG_CHECK(f >= 0);
    if (f >= 0) {
        char p1[64];
        snprintf(p1, sizeof p1, "/runs/%s", runs[1].cfg.id);
        VG_CHECK(H5Lexists(f, p1, H5P_DEFAULT) == 0);
        check_run(f, &runs[0], 0, 0);
        check_run(f, &runs[3], 3, 1);
        check_run(f, &runs[2], 2, 2); /* index follows the new grid; scales re-attached */
        const fake_run *order[3] = {&runs[0], &runs[3], &runs[2]};
        check_index(f, order, 3);
        H5Fclose(f);
    }
}

static void check_errors(const char *dir) {
    vg_error err;
    vg_recorder *rec = (vg_recorder *)&err; /* must be reset to NULL on failure */
    vg_sweep_info info = sweep_info(cfgs, 3, VG_RECORD_NEW);
    char path[512];

    /* a "directory" that is a file: a usage error (found before any run) naming the path */
    snprintf(path, sizeof path, "%s/a-file", dir);
    FILE *fp = fopen(path, "w");
    if (fp) fclose(fp);
    snprintf(path, sizeof path, "%s/a-file/out.h5", dir);
    VG_CHECK_INT_EQ(vg_recorder_create(path, &info, &rec, &err), VG_EUSAGE);
    VG_CHECK(rec == NULL);
    VG_CHECK_STR_CONTAINS(err.message, path);
    /* a directory that does not exist is made (mkdir -p) */
    snprintf(path, sizeof path, "%s/no-such-dir/deeper/out.h5", dir);
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    if (rec) vg_recorder_abort(rec);
    rec = (vg_recorder *)&err;

    /* two runs with one id */
    static vg_run_config dup[2];
    dup[0] = dup[1] = runs[0].cfg;
    vg_sweep_info dinfo = sweep_info(dup, 2, VG_RECORD_NEW);
    snprintf(path, sizeof path, "%s/dup.h5", dir);
    VG_CHECK_INT_EQ(vg_recorder_create(path, &dinfo, &rec, &err), VG_EINTERNAL);
    VG_CHECK_STR_CONTAINS(err.message, runs[0].cfg.id);

    /* misuse of a writer: unknown run, tensor and slot out of range, run begun twice */
    snprintf(path, sizeof path, "%s/misuse.h5", dir);
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    if (!rec) return;
    vg_run_writer *w = NULL;
    VG_CHECK_INT_EQ(vg_recorder_begin_run(rec, &runs[3].cfg, &runs[3].layout, &w, &err), VG_EINTERNAL);
    VG_CHECK_STR_CONTAINS(err.message, "not one of the sweep's runs");
    CHECK_OK(vg_recorder_begin_run(rec, &runs[0].cfg, &runs[0].layout, &w, &err), &err);
    vg_run_writer *w2 = (vg_run_writer *)&err;
    VG_CHECK_INT_EQ(vg_recorder_begin_run(rec, &runs[0].cfg, &runs[0].layout, &w2, &err), VG_EINTERNAL);
    VG_CHECK(w2 == NULL);
    float zeros[64] = {0};
    VG_CHECK_INT_EQ(vg_run_writer_tensor(w, runs[0].layout.n_tensors, 0, zeros, &err), VG_EINTERNAL);
    VG_CHECK_INT_EQ(vg_run_writer_tensor(w, 0, runs[0].specs[0].n_slots, zeros, &err), VG_EINTERNAL);
    VG_CHECK_STR_CONTAINS(err.message, "grad_W");
    vg_run_output res;
    memset(&res, 0, sizeof res);
    /* an output that breaks the contract: a series along an axis the layout does not declare */
    double one = 1;
    vg_series stray = {.name = "stray", .doc = "", .axes = "nope", .dtype = VG_F64, .rank = 1,
                       .dims = {1}, .data = &one};
    res.n_series = 1, res.series = &stray;
    VG_CHECK_INT_EQ(vg_recorder_end_run(w, &res, &err), VG_EINTERNAL);
    VG_CHECK_STR_CONTAINS(err.message, "axis nope is not declared");
    char part[700];
    snprintf(part, sizeof part, "%s.parts/%s.part", path, runs[0].cfg.id);
    VG_CHECK(!file_exists(part)); /* a run that failed to end is not kept */
    strcat(part, ".tmp");
    VG_CHECK(!file_exists(part));
    vg_recorder_abort(rec);
    info.mode = VG_RECORD_FORCE; /* clears the parts */
    CHECK_OK(vg_recorder_create(path, &info, &rec, &err), &err);
    vg_recorder_abort(rec);
}

/* The dry run's estimate against the real size of runs without tensors: the metadata and series
 * terms of the model (the deflate ratio of real gradients is checked by test_format.py). */
static void check_estimate(const char *dir) {
    static fake_run bare[3];
    char path[512];
    snprintf(path, sizeof path, "%s/bare.h5", dir);
    for (int i = 0; i < 3; i++) {
        bare[i] = runs[i];
        bare[i].layout.n_tensors = 0;
    }
    const int order[3] = {0, 1, 2};
    write_file(path, bare, 3, order, 3, 0);
    vg_run_output plan;
    memset(&plan, 0, sizeof plan);
    double est = 0;
    for (int i = 0; i < 3; i++) {
        vg_series series[N_SERIES];
        for (int s = 0; s < N_SERIES; s++)
            series_shape(s, runs[i].cfg.train_epochs, runs[i].cfg.model_depth + 1, &series[s]);
        plan.series = series;
        plan.n_series = N_SERIES;
        est += (double)vg_record_estimate_bytes(&bare[i].layout, &plan);
    }
    vg_sweep_info info = sweep_info(cfgs, 3, VG_RECORD_NEW);
    est += (double)vg_record_estimate_sweep_bytes(&info);
    double real = (double)file_size(path);
    printf("size estimate %.0f bytes, file %.0f bytes (%+.1f%%)\n", est, real, 100 * (est / real - 1));
    VG_CHECK_LT(fabs(est / real - 1), 0.10);
}

static int h5dump_ok(const char *path) {
    if (system("command -v h5dump >/dev/null 2>&1") != 0) return 1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "h5dump '%s' >/dev/null", path);
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

int main(void) {
    char dir[] = "/tmp/vg_test_record.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* 0: ok, depth 1, a weight gradient of a chunk per slot (1.2 MB: more than the part
     * writer buffers at once). 1: diverged after epoch 2, slots 0..2 of 0..4 written, chunks
     * per slot. 2: 100 layers (three-digit names), no epochs, small. 3: joins the sweep
     * later; 81 tensors of 208 KiB: one chunk each until 16 MiB, then a chunk per slot. */
    fake_config(&runs[0], 0, "0a1b2c3d4e5f", 1, 600, 500, 3);
    fake_config(&runs[1], 1, "ffeeddccbbaa", 2, 200, 300, 4);
    runs[1].status = VG_RUN_DIVERGED;
    runs[1].message = "loss is nan at epoch 3";
    runs[1].epochs_done = 2;
    runs[1].n_written = 3;
    fake_config(&runs[2], 2, "000000000100", 99, 1, 2, 0);
    fake_config(&runs[3], 3, "3333333333aa", 80, 64, 64, 12);
    for (int i = 0; i < 4; i++) cfgs[i] = runs[i].cfg;

    char a[512], b[512];
    snprintf(a, sizeof a, "%s/sweep-a.h5", dir);
    snprintf(b, sizeof b, "%s/sweep-b.h5", dir);
    const int forward[3] = {0, 1, 2}, backward[3] = {2, 1, 0};
    write_file(a, runs, 3, forward, 3, 1);
    write_file(b, runs, 3, backward, 3, 0);
    hid_t f = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT);
    VG_CHECK(f >= 0);
    if (f >= 0) {
        check_root(f, 3);
        for (int i = 0; i < 3; i++) check_run(f, &runs[i], i, i);
        const fake_run *order[3] = {&runs[0], &runs[1], &runs[2]};
        check_index(f, order, 3);
        H5Fclose(f);
    }
    /* the datasets do not depend on the order runs finished in */
    check_same_datasets(a, b);
    VG_CHECK(h5dump_ok(a));
    check_estimate(dir);
    check_interrupt_and_resume(dir, a);
    check_errors(dir);

    if (getenv("VG_KEEP")) {
        printf("files kept in %s\n", dir);
    } else {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        VG_CHECK(system(cmd) == 0);
    }
    return vg_test_finish("test_record");
}
