/* The record read back, read-only (include/vgsweep/reader.h). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5attr.h"
#include "vgsweep/record.h"
#include "vgsweep/reader.h"

#define VG__SERIES_MAX_ELEMS ((int64_t)1 << 24)
#define VG__MAX_RUNS ((int64_t)10000000)

struct vg_reader {
    hid_t file;
    hid_t runs_group;
    vg_record_info info;
    vg_record_run *runs;
    int64_t n_runs, cap;
    hid_t cur_group; /* the group of cur_run, kept open for the series of one run */
    int64_t cur_run;
};

static int vg__exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Free text from the file, made printable ASCII (a damaged file is not to garble the report). */
static void vg__printable(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) *s = '?';
}

typedef struct vg__attr_ctx {
    vg_record_run *run;
    const char *file;
    vg_error *err;
    vg_status st;
    int has_status;
} vg__attr_ctx;

static herr_t vg__attr_cb(hid_t loc, const char *name, const H5A_info_t *ainfo, void *data) {
    (void)ainfo;
    vg__attr_ctx *c = data;
    vg_record_run *run = c->run;
    int s = vg_setting_find(name);
    if (s >= 0) {
        const vg_setting *set = &vg_settings[s];
        char *field = (char *)&run->cfg + set->offset;
        if (set->type == VG_TYPE_STRING) { /* data.path and the like: kept as written */
            if (!vg_h5_attr_str(loc, name, field, sizeof(vg_setting_text))) field[0] = '\0';
            vg__printable(field);
            return 0;
        }
        if (set->type == VG_TYPE_ENUM) {
            char text[128];
            int found = -1;
            if (vg_h5_attr_str(loc, name, text, sizeof text))
                for (int k = 0; set->choices[k]; k++)
                    if (!strcmp(set->choices[k], text)) found = k;
            if (found < 0) {
                c->st = vg_error_set(c->err, VG_EUSAGE, "%s: /runs/%s: attribute %s: %s%.60s%s",
                                     c->file, run->cfg.id, name,
                                     text[0] ? "unknown value \"" : "not a string",
                                     text, text[0] ? "\"" : "");
                return 1;
            }
            *(int *)field = found;
            return 0;
        }
        double v;
        hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
        int ok = a >= 0 && vg_h5_attr_num_open(a, &v);
        if (a >= 0) H5Aclose(a);
        H5Eclear2(H5E_DEFAULT);
        if (!ok || isnan(v) || (set->type != VG_TYPE_BOOL && (v < set->lo || v > set->hi)) ||
            (set->type == VG_TYPE_BOOL && v != 0 && v != 1)) {
            c->st = vg_error_set(c->err, VG_EUSAGE, "%s: /runs/%s: attribute %s: %s", c->file,
                                 run->cfg.id, name, ok ? "value out of range" : "not a number");
            return 1;
        }
        if (set->type == VG_TYPE_REAL) *(double *)field = v;
        else *(int *)field = (int)v;
        return 0;
    }
    double v = 0;
    if (!strcmp(name, "status")) {
        c->has_status = vg_h5_attr_str(loc, name, run->status, sizeof run->status);
    } else if (!strcmp(name, "message")) {
        vg_h5_attr_str(loc, name, run->message, sizeof run->message);
        vg__printable(run->message);
    } else if (!strcmp(name, "repeat")) {
        if (vg_h5_attr_num(loc, name, &v) && v >= 0 && v < 1e9) run->cfg.repeat = (int)v;
    } else if (!strcmp(name, "index")) {
        if (vg_h5_attr_num(loc, name, &v) && v >= 0 && v < 1e15) run->cfg.index = (int64_t)v;
    } else if (!strcmp(name, "epochs_done")) {
        if (vg_h5_attr_num(loc, name, &v) && v >= 0 && v <= 1e6) run->epochs_done = (int64_t)v;
    } else if (!strcmp(name, "n_layers")) {
        if (vg_h5_attr_num(loc, name, &v) && v >= 0 && v <= 1e6) run->n_layers = (int64_t)v;
    } else if (!strcmp(name, "n_epochs")) {
        if (vg_h5_attr_num(loc, name, &v) && v >= 0 && v <= 1e6) run->n_epochs = (int64_t)v;
    } else if (!strcmp(name, "wall_seconds")) {
        if (vg_h5_attr_num(loc, name, &v)) run->wall_seconds = v;
    } else if (!strcmp(name, "seed")) {
        vg_h5_attr_u64(loc, name, &run->cfg.seed);
    }
    return 0;
}

typedef struct vg__list_ctx {
    vg_reader *r;
    vg_error *err;
    vg_status st;
} vg__list_ctx;

static herr_t vg__run_cb(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    vg__list_ctx *c = data;
    vg_reader *r = c->r;
    if (strlen(name) != VG_RUN_ID_LEN || strspn(name, "0123456789abcdef") != VG_RUN_ID_LEN)
        return 0; /* not a run */
    /* the object's type only: H5O_INFO_BASIC, in the API of the library built against (1.12
     * changed H5Oget_info_by_name's signature and struct; Debian 12 has 1.10, Debian 13 1.14) */
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oi;
    if (H5Oget_info_by_name3(group, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
        oi.type != H5O_TYPE_GROUP) {
#else
    H5O_info_t oi;
    if (H5Oget_info_by_name2(group, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
        oi.type != H5O_TYPE_GROUP) {
#endif
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    if (r->n_runs == VG__MAX_RUNS) {
        c->st = vg_error_set(c->err, VG_EUSAGE, "%s: more than %lld runs", r->info.path,
                             (long long)VG__MAX_RUNS);
        return 1;
    }
    if (r->n_runs == r->cap) {
        int64_t cap = r->cap ? 2 * r->cap : 256;
        vg_record_run *p = realloc(r->runs, (size_t)cap * sizeof *p);
        if (!p) {
            c->st = vg_error_set(c->err, VG_ENOMEM, "%s: out of memory listing the runs",
                                 r->info.path);
            return 1;
        }
        r->runs = p, r->cap = cap;
    }
    vg_record_run *run = &r->runs[r->n_runs];
    memset(run, 0, sizeof *run);
    vg_run_config_defaults(&run->cfg);
    memcpy(run->cfg.id, name, VG_RUN_ID_LEN + 1);
    run->cfg.index = -1;
    hid_t g = H5Gopen2(group, name, H5P_DEFAULT);
    if (g < 0) {
        H5Eclear2(H5E_DEFAULT);
        c->st = vg_error_set(c->err, VG_EUSAGE, "%s: /runs/%s: cannot open the group (damaged file)",
                             r->info.path, name);
        return 1;
    }
    vg__attr_ctx ac = {run, r->info.path, c->err, VG_OK, 0};
    hsize_t idx = 0;
    herr_t it = H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, vg__attr_cb, &ac);
    H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    if (ac.st != VG_OK) {
        c->st = ac.st;
        return 1;
    }
    if (it < 0) {
        c->st = vg_error_set(c->err, VG_EUSAGE,
                             "%s: /runs/%s: cannot read its attributes (damaged file)",
                             r->info.path, name);
        return 1;
    }
    /* A run is recorded once its status is (written last); one being written is skipped. */
    if (!ac.has_status) return 0;
    if (strcmp(run->status, "ok") && strcmp(run->status, "diverged") && strcmp(run->status, "failed")) {
        c->st = vg_error_set(c->err, VG_EUSAGE, "%s: /runs/%s: unknown status \"%.20s\"",
                             r->info.path, name, run->status);
        return 1;
    }
    r->n_runs++;
    return 0;
}

static int vg__by_index(const void *a, const void *b) {
    const vg_record_run *x = a, *y = b;
    if (x->cfg.index != y->cfg.index) return x->cfg.index < y->cfg.index ? -1 : 1;
    return strcmp(x->cfg.id, y->cfg.id);
}

static int vg__ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

/* HDF5's checksum of metadata (Jenkins' lookup3): exported by libhdf5 1.8.7 and later. */
extern uint32_t H5_checksum_metadata(const void *data, size_t len, uint32_t initval);

#define VG__IMAGE_MAX ((off_t)1 << 30)

/* An output being assembled is marked open for writing in its superblock (the consistency flags
 * of the 1.10 format, superblock version >= 2), also after a kill -9, and HDF5 refuses to open
 * it. The writer flushes the file after each run, so what it flushed reads back: the file is
 * read into memory (up to 1 GiB), the flags cleared in that copy (and its checksum redone), and
 * the copy opened. The file itself is not touched. */
static hid_t vg__open_marked(const char *path) {
    hid_t file = H5I_INVALID_HID;
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size < 48 || st.st_size > VG__IMAGE_MAX) return file;
    unsigned char *buf = malloc((size_t)st.st_size);
    FILE *f = fopen(path, "rb");
    size_t got = buf && f ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    if (f) fclose(f);
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    /* superblock at 0 (no user block): signature, version, offset and length sizes, flags,
     * four addresses, checksum */
    if (got == (size_t)st.st_size && !memcmp(buf, sig, 8) && buf[8] >= 2 && buf[9] == 8 &&
        buf[10] == 8 && buf[11] != 0) {
        size_t n = 12 + 4 * 8;
        buf[11] = 0;
        uint32_t sum = H5_checksum_metadata(buf, n, 0);
        for (int k = 0; k < 4; k++) buf[n + (size_t)k] = (unsigned char)(sum >> (8 * k));
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        if (fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) >= 0 &&
            H5Pset_file_image(fapl, buf, (size_t)st.st_size) >= 0)
        {
            /* the core driver refuses an image under the name of a file that exists */
            char name[4200];
            snprintf(name, sizeof name, "%s#in-memory-copy", path);
            file = H5Fopen(name, H5F_ACC_RDONLY, fapl);
        }
        if (fapl >= 0) H5Pclose(fapl);
    }
    free(buf);
    H5Eclear2(H5E_DEFAULT);
    return file;
}

vg_status vg_reader_open(const char *path, vg_reader **out, vg_error *err) {
    *out = NULL;
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    vg_reader *r = calloc(1, sizeof *r);
    if (!r) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    r->file = r->runs_group = r->cur_group = H5I_INVALID_HID;
    r->cur_run = -1;
    r->info.format_version = -1;
    r->info.n_runs_planned = -1;
    vg_status st = VG_OK;
    if (strlen(path) + 5 >= sizeof r->info.path) {
        st = vg_error_set(err, VG_EUSAGE, "%.200s...: path too long", path);
        goto fail;
    }
    snprintf(r->info.path, sizeof r->info.path, "%s", path);
    if (!vg__exists(path)) {
        char tmp[sizeof r->info.path];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        if (!vg__exists(tmp)) {
            char parts[sizeof r->info.path + 8];
            snprintf(parts, sizeof parts, "%s.parts", path);
            if (vg__exists(parts))
                st = vg_error_set(err, VG_EUSAGE,
                                  "%s: no output assembled yet: the finished runs are in %s, which "
                                  "only vgsweep reads (vgsweep SWEEP --resume assembles them)",
                                  path, parts);
            else
                st = vg_error_set(err, VG_EUSAGE, "%s: no such file (nor %s.tmp of a sweep still running)",
                                  path, path);
            goto fail;
        }
        snprintf(r->info.path, sizeof r->info.path, "%s", tmp);
    }
    const char *p = r->info.path;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    if (fapl >= 0) H5Pset_file_locking(fapl, 0, 1);
#endif
    r->file = H5Fopen(p, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (r->file < 0 && vg__ends_with(p, ".tmp")) {
        H5Eclear2(H5E_DEFAULT);
        r->file = vg__open_marked(p);
    }
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    if (r->file < 0) {
        st = vg_error_set(err, VG_EUSAGE,
                          "%s: cannot open as HDF5: not an HDF5 file, or truncated or damaged", p);
        goto fail;
    }
    char format[64];
    double version = -1, n = -1;
    int has_format = vg_h5_attr_str(r->file, "format", format, sizeof format);
    if (has_format) {
        if (strcmp(format, VG_FORMAT_NAME) != 0) {
            st = vg_error_set(err, VG_EUSAGE, "%s: not a vgsweep record (format \"%.40s\")", p, format);
            goto fail;
        }
        if (!vg_h5_attr_num(r->file, "format_version", &version) || version != VG_FORMAT_VERSION) {
            st = vg_error_set(err, VG_EUSAGE,
                              "%s: record format version %.0f; this vgsweep reads version %d",
                              p, version, VG_FORMAT_VERSION);
            goto fail;
        }
        r->info.format_version = (int64_t)version;
        if (vg_h5_attr_num(r->file, "n_runs", &n) && n >= 0 && n < 1e15) r->info.n_runs_planned = (int64_t)n;
        vg_h5_attr_str(r->file, "sweep_name", r->info.sweep_name_raw, sizeof r->info.sweep_name_raw);
        memcpy(r->info.sweep_name, r->info.sweep_name_raw, sizeof r->info.sweep_name);
        vg__printable(r->info.sweep_name);
        vg_h5_attr_u64(r->file, "sweep_seed", &r->info.sweep_seed);
        vg_h5_attr_str(r->file, "started", r->info.started, sizeof r->info.started);
        vg__printable(r->info.started);
    } else if (vg__ends_with(p, ".tmp")) {
        r->info.interrupted = 1; /* assembled so far: no root attributes yet */
    } else {
        st = vg_error_set(err, VG_EUSAGE, "%s: not a vgsweep record (no format attribute)", p);
        goto fail;
    }
    if (H5Lexists(r->file, "runs", H5P_DEFAULT) <= 0 ||
        (r->runs_group = H5Gopen2(r->file, "runs", H5P_DEFAULT)) < 0) {
        H5Eclear2(H5E_DEFAULT);
        st = vg_error_set(err, VG_EUSAGE, "%s: not a vgsweep record (no /runs group%s)", p,
                          has_format ? "; damaged" : "");
        goto fail;
    }
    vg__list_ctx lc = {r, err, VG_OK};
    hsize_t idx = 0;
    herr_t it = H5Literate(r->runs_group, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, vg__run_cb, &lc);
    H5Eclear2(H5E_DEFAULT);
    if (lc.st != VG_OK) {
        st = lc.st;
        goto fail;
    }
    if (it < 0) {
        st = vg_error_set(err, VG_EUSAGE, "%s: /runs: cannot list the runs (damaged file)", p);
        goto fail;
    }
    if (r->n_runs > 1) qsort(r->runs, (size_t)r->n_runs, sizeof *r->runs, vg__by_index);
    *out = r;
    return VG_OK;
fail:
    vg_reader_close(r);
    return st;
}

void vg_reader_close(vg_reader *r) {
    if (!r) return;
    if (r->cur_group >= 0) H5Gclose(r->cur_group);
    if (r->runs_group >= 0) H5Gclose(r->runs_group);
    if (r->file >= 0) H5Fclose(r->file);
    H5Eclear2(H5E_DEFAULT);
    free(r->runs);
    free(r);
}

const vg_record_info *vg_reader_info(const vg_reader *r) { return &r->info; }
int64_t vg_reader_n_runs(const vg_reader *r) { return r->n_runs; }
const vg_record_run *vg_reader_run(const vg_reader *r, int64_t i) {
    return i >= 0 && i < r->n_runs ? &r->runs[i] : NULL;
}

void vg_series_data_free(vg_series_data *s) {
    if (!s) return;
    free(s->v);
    memset(s, 0, sizeof *s);
}

vg_status vg_reader_series(vg_reader *r, int64_t i, const char *name, vg_series_data *out,
                           vg_error *err) {
    memset(out, 0, sizeof *out);
    if (i < 0 || i >= r->n_runs)
        return vg_error_set(err, VG_EINTERNAL, "vg_reader_series: no run %lld", (long long)i);
    const char *id = r->runs[i].cfg.id;
    if (r->cur_run != i) {
        if (r->cur_group >= 0) H5Gclose(r->cur_group);
        r->cur_run = -1;
        r->cur_group = H5Gopen2(r->runs_group, id, H5P_DEFAULT);
        if (r->cur_group < 0) {
            H5Eclear2(H5E_DEFAULT);
            return vg_error_set(err, VG_EUSAGE, "%s: /runs/%s: cannot open the group (damaged file)",
                                r->info.path, id);
        }
        r->cur_run = i;
    }
    /* absent (every link on the way must exist) -> rank 0 */
    char part[256];
    const char *s = name;
    while (1) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - name) : strlen(name);
        if (len >= sizeof part) return VG_OK;
        memcpy(part, name, len);
        part[len] = '\0';
        if (H5Lexists(r->cur_group, part, H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return VG_OK;
        }
        if (!slash) break;
        s = slash + 1;
    }
    vg_status st = VG_OK;
    hid_t d = H5Dopen2(r->cur_group, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    hid_t t = d >= 0 ? H5Dget_type(d) : H5I_INVALID_HID;
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    hsize_t dims[H5S_MAX_RANK];
    int64_t n = 1;
    if (d < 0 || sp < 0 || t < 0 || rank < 0 || rank > 4 ||
        H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        st = vg_error_set(err, VG_EUSAGE, "%s: /runs/%s/%s: unreadable dataset (damaged file)",
                          r->info.path, id, name);
        goto done;
    }
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        st = vg_error_set(err, VG_EUSAGE, "%s: /runs/%s/%s: not a numeric dataset", r->info.path,
                          id, name);
        goto done;
    }
    for (int k = 0; k < rank; k++) {
        if (dims[k] > (hsize_t)VG__SERIES_MAX_ELEMS || (n *= (int64_t)dims[k]) > VG__SERIES_MAX_ELEMS) {
            st = vg_error_set(err, VG_EUSAGE, "%s: /runs/%s/%s: too large to be a series",
                              r->info.path, id, name);
            goto done;
        }
        out->dims[k] = (int64_t)dims[k];
    }
    out->rank = rank == 0 ? 1 : rank;
    if (rank == 0) out->dims[0] = 1;
    out->n = n;
    out->v = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!out->v) {
        st = vg_error_set(err, VG_ENOMEM, "%s: /runs/%s/%s: out of memory", r->info.path, id, name);
        goto done;
    }
    if (n && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->v) < 0) {
        st = vg_error_set(err, VG_EUSAGE, "%s: /runs/%s/%s: cannot read (truncated or damaged file)",
                          r->info.path, id, name);
        goto done;
    }
done:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    if (st != VG_OK) vg_series_data_free(out);
    return st;
}
