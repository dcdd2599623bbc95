/* A run being written (vg_recorder_begin_run, vg_run_writer_tensor, vg_recorder_end_run):
 * the run contract checked (axes, tensors, series), the tensors streamed into the run's part
 * (compressed by the worker, no lock), the output appended at the end. */
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

/* Closes and frees what w holds (the caller deletes an unfinished part). */
static void vg__writer_free(vg_run_writer *w) {
    if (!w) return;
    vg_part_close(&w->pw);
    vg_deflater_free(&w->dz);
    free(w->part);
    free(w->part_tmp);
    free(w->axes);
    free(w->tensors);
    free(w->whole);
    free(w->shuf);
    free(w->zbuf);
    free(w);
}

static int vg__cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const vg__tensor *const *)a)->name, (*(const vg__tensor *const *)b)->name);
}

/* Splits "checkpoint,layer" into at most VG_MAX_RANK names; returns the count, or -1 when
 * malformed. */
int vg__split_axes(const char *axes, char names[VG_MAX_RANK][32]) {
    int n = 0;
    const char *p = axes;
    if (!axes || !*axes) return 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || len >= 32 || n == VG_MAX_RANK) return -1;
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        n++;
        if (!end) return n;
        p = end + 1;
    }
}

int vg__cmp_axis_ref(const void *a, const void *b) {
    return strcmp(((const vg__axis_ref *)a)->name, ((const vg__axis_ref *)b)->name);
}

/* The axis (among n, sorted by name) that dimension `dim` of the dataset at path `dataset`
 * (in the run group) is, by netCDF's scoping: "<dataset's group>/<dim>", then each parent
 * group's, then "<dim>". Its index, or -1. */
int vg__find_axis(const vg__axis_ref *axes, int n, const char *dataset, const char *dim) {
    vg__axis_ref key;
    size_t dl = strlen(dim);
    const char *slash = strrchr(dataset, '/');
    size_t plen = slash ? (size_t)(slash - dataset) : 0;
    for (;;) {
        if (plen + 1 + dl < sizeof key.name) {
            if (plen) snprintf(key.name, sizeof key.name, "%.*s/%s", (int)plen, dataset, dim);
            else snprintf(key.name, sizeof key.name, "%s", dim);
            const vg__axis_ref *a = n ? bsearch(&key, axes, (size_t)n, sizeof *axes, vg__cmp_axis_ref) : NULL;
            if (a) return (int)(a - axes);
        }
        if (plen == 0) return -1;
        while (plen > 0 && dataset[plen - 1] != '/') plen--;
        if (plen > 0) plen--; /* drop the '/' */
    }
}

/* Checks that the dimensions (dims, rank) of dataset `name` are the axes named in `axes`, each
 * declared and of that length. what: "series" or "tensor", for the message. */
static vg_status vg__check_dims(const vg_run_writer *w, const char *what, const char *name,
                                const char *axes, int rank, const int64_t *dims, vg_error *err) {
    char names[VG_MAX_RANK][32];
    int n = vg__split_axes(axes, names);
    if (n != rank)
        return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: %s of rank %d with axes \"%s\"",
                            w->rec->path, w->where, name, what, rank, axes ? axes : "");
    for (int d = 0; d < rank; d++) {
        int a = vg__find_axis(w->axes, w->n_axes, name, names[d]);
        if (a < 0)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: axis %s is not declared",
                                w->rec->path, w->where, name, names[d]);
        if (w->axes[a].length != dims[d])
            return vg_error_set(err, VG_EINTERNAL,
                                "%s: %s/%s: dimension %d has length %lld, its axis %s %lld",
                                w->rec->path, w->where, name, d, (long long)dims[d],
                                w->axes[a].name, (long long)w->axes[a].length);
    }
    return VG_OK;
}

/* Checks the layout's axes and copies their names and lengths into w. */
static vg_status vg__plan_axes(vg_run_writer *w, const vg_run_layout *layout, vg_error *err) {
    const char *file = w->rec->path;
    w->n_axes = layout->n_axes;
    w->axes = malloc((size_t)(layout->n_axes > 0 ? layout->n_axes : 1) * sizeof *w->axes);
    if (!w->axes) return vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", file, w->where);
    for (int i = 0; i < layout->n_axes; i++) {
        const vg_axis *a = &layout->axes[i];
        if (!vg__valid_name(a->name) || strlen(a->name) >= sizeof w->axes[i].name || a->length < 0 ||
            strlen(strrchr(a->name, '/') ? strrchr(a->name, '/') + 1 : a->name) >= 32)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s: axis %d: bad name \"%s\" or length %lld",
                                file, w->where, i, a->name, (long long)a->length);
        snprintf(w->axes[i].name, sizeof w->axes[i].name, "%s", a->name);
        w->axes[i].length = a->length;
        w->axes[i].src = i;
    }
    if (w->n_axes > 1) qsort(w->axes, (size_t)w->n_axes, sizeof *w->axes, vg__cmp_axis_ref);
    for (int i = 1; i < w->n_axes; i++)
        if (strcmp(w->axes[i - 1].name, w->axes[i].name) == 0)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s: two axes named %s", file, w->where,
                                w->axes[i].name);
    for (int i = 0; i < layout->n_attrs; i++)
        if (!layout->attrs[i].name || !vg__valid_name(layout->attrs[i].name) ||
            strchr(layout->attrs[i].name, '/') || vg_setting_find(layout->attrs[i].name) >= 0)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s: bad attribute name \"%s\"", file,
                                w->where, layout->attrs[i].name ? layout->attrs[i].name : "");
        else if (layout->attrs[i].text && strlen(layout->attrs[i].text) >= 128)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s: attribute %s: a string of 128 bytes "
                                "or more", file, w->where, layout->attrs[i].name);
    return VG_OK;
}

/* The value of slot k of an axis: its values, or first + k. */
static int64_t vg__axis_value(const vg_axis *a, int64_t k) {
    return a->values ? a->values[k] : a->first + k;
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
        if (s->rank < 1 || s->rank > VG_MAX_RANK - 1 || s->n_slots < 1 || !s->checkpoints)
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
        int64_t dims[VG_MAX_RANK] = {s->n_slots};
        for (int d = 0; d < s->rank; d++) dims[d + 1] = s->dims[d];
        vg_status st = vg__check_dims(w, "tensor", s->name, s->axes, s->rank + 1, dims, err);
        if (st != VG_OK) return st;
        /* its slots' labels are its slot axis' values */
        char slot_axis[VG_MAX_RANK][32];
        vg__split_axes(s->axes, slot_axis);
        const vg_axis *sa =
            &layout->axes[w->axes[vg__find_axis(w->axes, w->n_axes, s->name, slot_axis[0])].src];
        for (int k = 0; k < s->n_slots; k++)
            if (s->checkpoints[k] != vg__axis_value(sa, k))
                return vg_error_set(err, VG_EINTERNAL,
                                    "%s: %s/%s: slot %d holds checkpoint %d, its axis %s says %lld",
                                    file, w->where, s->name, k, s->checkpoints[k], sa->name,
                                    (long long)vg__axis_value(sa, k));
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

/* The part's HEADER and LAYOUT records: which sweep and run, the run's attributes, axes and
 * tensor specs (read back by vg__emit_layout). */
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
    vg_buf_u32(&b, (uint32_t)layout->n_attrs);
    for (int i = 0; i < layout->n_attrs; i++) {
        /* kind 0: an integer, 1: a string */
        vg_buf_str(&b, layout->attrs[i].name);
        vg_buf_u32(&b, layout->attrs[i].text ? 1 : 0);
        if (layout->attrs[i].text)
            vg_buf_str(&b, layout->attrs[i].text);
        else
            vg_buf_i64(&b, layout->attrs[i].value);
    }
    vg_buf_u32(&b, (uint32_t)layout->n_axes);
    for (int i = 0; i < layout->n_axes; i++) {
        const vg_axis *a = &layout->axes[i];
        vg_buf_str(&b, a->name);
        vg_buf_str(&b, a->doc);
        vg_buf_i64(&b, a->length);
        for (int64_t k = 0; k < a->length; k++) vg_buf_i64(&b, vg__axis_value(a, k));
    }
    vg_buf_u32(&b, (uint32_t)layout->n_tensors);
    for (int i = 0; i < layout->n_tensors; i++) {
        const vg_tensor_spec *s = &layout->tensors[i];
        vg_buf_str(&b, s->name);
        vg_buf_str(&b, s->doc);
        vg_buf_str(&b, s->axes);
        vg_buf_u32(&b, (uint32_t)s->rank);
        for (int d = 0; d < s->rank; d++) vg_buf_i64(&b, s->dims[d]);
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

    *out = NULL;
    int64_t pos = vg__find_run(rec, cfg->id);
    if (pos < 0)
        return vg_error_set(err, VG_EINTERNAL, "%s: run %s is not one of the sweep's runs",
                            rec->path, cfg->id);
    if (layout->n_axes < 0 || (layout->n_axes > 0 && !layout->axes) || layout->n_tensors < 0 ||
        (layout->n_tensors > 0 && !layout->tensors) || layout->n_attrs < 0 ||
        layout->n_attrs > VG_MAX_RUN_ATTRS)
        return vg_error_set(err, VG_EINTERNAL,
                            "%s: /runs/%s: bad layout (%d axes, %d tensors, %d attributes)",
                            rec->path, cfg->id, layout->n_axes, layout->n_tensors, layout->n_attrs);

    w = calloc(1, sizeof *w);
    if (!w) return vg_error_set(err, VG_ENOMEM, "%s: /runs/%s: out of memory", rec->path, cfg->id);
    w->rec = rec;
    w->cfg = cfg;
    w->pos = pos;
    w->pw.fd = -1;
    snprintf(w->where, sizeof w->where, "/runs/%s", cfg->id);
    w->part = vg__part_path(rec, cfg->id, 0);
    w->part_tmp = vg__part_path(rec, cfg->id, 1);
    if (!w->part || !w->part_tmp) {
        vg__writer_free(w);
        return vg_error_set(err, VG_ENOMEM, "%s: /runs/%s: out of memory", rec->path, cfg->id);
    }
    st = vg__plan_axes(w, layout, err);
    if (st == VG_OK) st = vg__plan_tensors(w, layout, err);
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

/* Everything the output will need of res is well-formed: checked before the part is kept, so
 * a part under its final name always assembles. */
static vg_status vg__check_result(const vg_run_writer *w, const vg_run_output *res,
                                  vg_error *err) {
    const char *file = w->rec->path;
    if ((int)res->status < 0 || res->status >= VG_RUN_STATUS_COUNT)
        return vg_error_set(err, VG_EINTERNAL, "%s: %s: unknown run status %d", file, w->where,
                            (int)res->status);
    if (res->n_series < 0 || (res->n_series > 0 && !res->series))
        return vg_error_set(err, VG_EINTERNAL, "%s: %s: %d series", file, w->where, res->n_series);
    for (int i = 0; i < res->n_series; i++) {
        const vg_series *s = &res->series[i];
        if (!vg__valid_name(s->name) || strlen(s->name) >= 256)
            return vg_error_set(err, VG_EINTERNAL, "%s: %s: series with a bad name \"%s\"", file,
                                w->where, s->name ? s->name : "(null)");
        if (s->rank < 1 || s->rank > VG_MAX_RANK || vg__file_type(s->dtype) < 0)
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
        vg_status st = vg__check_dims(w, "series", s->name, s->axes, s->rank, s->dims, err);
        if (st != VG_OK) return st;
        for (int j = 0; j < w->n_tensors; j++)
            if (strcmp(s->name, w->tensors[j].name) == 0)
                return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: both a series and a tensor",
                                    file, w->where, s->name);
        for (int j = 0; j < w->n_axes; j++)
            if (strcmp(s->name, w->axes[j].name) == 0)
                return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: both a series and an axis",
                                    file, w->where, s->name);
        for (int j = 0; j < i; j++)
            if (strcmp(s->name, res->series[j].name) == 0)
                return vg_error_set(err, VG_EINTERNAL, "%s: %s/%s: two series of that name",
                                    file, w->where, s->name);
    }
    return VG_OK;
}

/* The RESULT record: status, message, counts, and every series. Data are 8-byte aligned in
 * the payload. */
static void vg__result_payload(const vg_run_output *res, vg_buf *b) {
    vg_buf_u32(b, (uint32_t)res->status);
    vg_buf_str(b, res->message);
    vg_buf_i64(b, res->epochs_done);
    vg_buf_f64(b, res->wall_seconds);
    vg_buf_u32(b, (uint32_t)res->n_series);
    for (int i = 0; i < res->n_series; i++) {
        const vg_series *s = &res->series[i];
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

vg_status vg_recorder_end_run(vg_run_writer *w, vg_run_output *res, vg_error *err) {
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
        vg__result_payload(res, &b);
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
            vg__result_payload(res, &b);
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
