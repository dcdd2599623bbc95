/* /index: one row per run, the varying settings and the producer's columns (final values). */
#define _GNU_SOURCE /* sync_file_range, O_CLOEXEC */
#include "record_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
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
vg_status vg__write_index(vg_recorder *rec, hid_t file, const vg__row *rows,
                                 vg_error *err) {
    const vg_sweep_info *info = &rec->info;
    vg__obj o = {file, rec->tmp_path, "/index", 0};
    vg_status st = VG_OK;
    enum { MAXC = VG_SETTING_COUNT + 5 + VG_MAX_INDEX_COLUMNS };
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
    for (int k = 0; k < info->n_index_columns; k++)
        VG__COL(info->index_columns[k].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, 0);
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
        for (int k = 0; k < info->n_index_columns; k++) memcpy(row + off[c++], &rows[r].value[k], 8);
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
