/* HDF5 helpers of the recorder: error messages naming the file and object (vg__fail),
 * attributes, validated names, datasets, the tensors' chunked storage and the chunk as the
 * shuffle + deflate pipeline stores it. */
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

typedef struct vg__why {
    char desc[200]; /* HDF5's innermost message */
    int sys_errno;  /* the errno a failed system call reported, or 0 */
} vg__why;

static herr_t vg__walk_error(unsigned n, const H5E_error2_t *e, void *data) {
    vg__why *w = data;
    if (!e->desc) return 0;
    if (n == 0 && e->desc[0]) snprintf(w->desc, sizeof w->desc, "%s", e->desc);
    const char *p = strstr(e->desc, "errno = ");
    if (p && !w->sys_errno) w->sys_errno = atoi(p + 8);
    return 0;
}

/* "<file>: <object>: <what> (<reason>)"; the reason is the system error HDF5 saw (disk full,
 * file too large, ...) or HDF5's innermost message. Returns VG_EIO or VG_EHDF5. */
vg_status vg__fail(vg_error *err, const vg__obj *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
vg_status vg__fail(vg_error *err, const vg__obj *o, const char *fmt, ...) {
    char what[512];
    vg__why why = {"", 0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, vg__walk_error, &why);
    H5Eclear2(H5E_DEFAULT);
    if (why.sys_errno)
        return vg_error_set(err, VG_EIO, "%s: %s: %s (%s)", o->file, o->path, what,
                            strerror(why.sys_errno));
    if (why.desc[0])
        return vg_error_set(err, VG_EHDF5, "%s: %s: %s (HDF5: %s)", o->file, o->path, what,
                            why.desc);
    return vg_error_set(err, VG_EHDF5, "%s: %s: %s", o->file, o->path, what);
}

/* Variable-length UTF-8 string: h5py 3 reads it as str. */
static hid_t vg__string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return H5I_INVALID_HID;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Fixed-length, NUL-padded ASCII string of n bytes: numpy's "S<n>". */
hid_t vg__fixed_string_type(size_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return H5I_INVALID_HID;
    if (H5Tset_size(t, n) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* h5py's boolean: an int8 enum {FALSE = 0, TRUE = 1}, read back as numpy.bool_. */
hid_t vg__bool_type(void) {
    hid_t t = H5Tenum_create(H5T_STD_I8LE);
    int8_t no = 0, yes = 1;
    if (t < 0) return H5I_INVALID_HID;
    if (H5Tenum_insert(t, "FALSE", &no) < 0 || H5Tenum_insert(t, "TRUE", &yes) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Writes an attribute, scalar (n < 0) or 1-D of n values, replacing any old one. */
vg_status vg__attr(const vg__obj *o, const char *name, hid_t file_type, hid_t mem_type,
                          int64_t n, const void *value, vg_error *err) {
    vg_status st = VG_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    htri_t exists = o->fresh ? 0 : H5Aexists(o->id, name);
    if (exists < 0) return vg__fail(err, o, "attribute %s: cannot look up", name);
    if (exists > 0 && H5Adelete(o->id, name) < 0)
        return vg__fail(err, o, "attribute %s: cannot replace", name);
    hsize_t dims[1] = {n < 0 ? 0 : (hsize_t)n};
    space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    if (space < 0) return vg__fail(err, o, "attribute %s: cannot create dataspace", name);
    attr = H5Acreate2(o->id, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0)
        st = vg__fail(err, o, "attribute %s: cannot create", name);
    else if (n != 0 && H5Awrite(attr, mem_type, value) < 0)
        st = vg__fail(err, o, "attribute %s: cannot write", name);
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    return st;
}

vg_status vg__attr_str(const vg__obj *o, const char *name, const char *value,
                              vg_error *err) {
    /* made once (under the lock, as every HDF5 call here) and kept: a run writes hundreds */
    static hid_t t = H5I_INVALID_HID;
    if (t < 0) t = vg__string_type();
    if (t < 0) return vg__fail(err, o, "attribute %s: cannot make string type", name);
    const char *v = value ? value : "";
    return vg__attr(o, name, t, t, -1, &v, err);
}

vg_status vg__attr_i64(const vg__obj *o, const char *name, int64_t v, vg_error *err) {
    return vg__attr(o, name, H5T_STD_I64LE, H5T_NATIVE_INT64, -1, &v, err);
}

vg_status vg__attr_u64(const vg__obj *o, const char *name, uint64_t v, vg_error *err) {
    return vg__attr(o, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, -1, &v, err);
}

vg_status vg__attr_f64(const vg__obj *o, const char *name, double v, vg_error *err) {
    return vg__attr(o, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, -1, &v, err);
}

static vg_status vg__attr_bool(const vg__obj *o, const char *name, int v, vg_error *err) {
    hid_t t = vg__bool_type();
    if (t < 0) return vg__fail(err, o, "attribute %s: cannot make boolean type", name);
    int8_t b = v ? 1 : 0;
    vg_status st = vg__attr(o, name, t, t, -1, &b, err);
    H5Tclose(t);
    return st;
}

/* One attribute per row of the settings table, named by its dotted path. */
vg_status vg__attr_settings(const vg__obj *o, const vg_run_config *cfg, vg_error *err) {
    vg_status st = VG_OK;
    for (int i = 0; i < VG_SETTING_COUNT && st == VG_OK; i++) {
        const vg_setting *s = &vg_settings[i];
        const void *value = (const char *)cfg + s->offset;
        switch (s->type) {
        case VG_TYPE_INT: st = vg__attr_i64(o, s->path, *(const int *)value, err); break;
        case VG_TYPE_REAL: st = vg__attr_f64(o, s->path, *(const double *)value, err); break;
        case VG_TYPE_BOOL: st = vg__attr_bool(o, s->path, *(const int *)value, err); break;
        case VG_TYPE_ENUM: {
            int v = *(const int *)value, n = 0;
            while (s->choices[n]) n++;
            if (v < 0 || v >= n)
                return vg_error_set(err, VG_EINTERNAL,
                                    "%s: %s: attribute %s: choice %d out of range 0..%d", o->file,
                                    o->path, s->path, v, n - 1);
            st = vg__attr_str(o, s->path, s->choices[v], err);
            break;
        }
        case VG_TYPE_STRING: st = vg__attr_str(o, s->path, (const char *)value, err); break;
        }
    }
    return st;
}

/* A path inside a run's group: "loss", "clip/fraction", "layers/03/grad_W". Letters, digits,
 * '_', '.', '-', components separated by single '/', none "." or "..". */
int vg__valid_name(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 200 || name[0] == '/' || name[n - 1] == '/') return 0;
    const char *comp = name;
    for (const char *p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - comp);
            if (len == 0 || (len == 1 && comp[0] == '.') ||
                (len == 2 && comp[0] == '.' && comp[1] == '.'))
                return 0;
            if (*p == '\0') return 1;
            comp = p + 1;
            continue;
        }
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
}

/* Link creation properties that make intermediate groups ("layers/03" of
 * "layers/03/grad_W"); H5I_INVALID_HID on failure. */
hid_t vg__lcpl(void) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        H5Pclose(lcpl);
        return H5I_INVALID_HID;
    }
    return lcpl;
}

hid_t vg__file_type(vg_dtype t) {
    switch (t) {
    case VG_F32: return H5T_IEEE_F32LE;
    case VG_F64: return H5T_IEEE_F64LE;
    case VG_I32: return H5T_STD_I32LE;
    case VG_I64: return H5T_STD_I64LE;
    }
    return H5I_INVALID_HID;
}
hid_t vg__mem_type(vg_dtype t) {
    switch (t) {
    case VG_F32: return H5T_NATIVE_FLOAT;
    case VG_F64: return H5T_NATIVE_DOUBLE;
    case VG_I32: return H5T_NATIVE_INT32;
    case VG_I64: return H5T_NATIVE_INT64;
    }
    return H5I_INVALID_HID;
}
size_t vg__dtype_size(vg_dtype t) { return t == VG_F64 || t == VG_I64 ? 8 : 4; }

/* A contiguous dataset <o>/<name>, written whole (intermediate groups made as needed). Float
 * datasets have fill value NaN. Returns the open dataset in *out when out is not NULL. */
vg_status vg__dataset(const vg__obj *o, const char *name, hid_t file_type, hid_t mem_type,
                             int rank, const hsize_t *dims, const void *data, hid_t *out,
                             vg_error *err) {
    vg_status st = VG_OK;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID,
          dset = H5I_INVALID_HID;
    hsize_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    if (out) *out = H5I_INVALID_HID;

    space = H5Screate_simple(rank, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    lcpl = vg__lcpl();
    /* no access/modification times: less to write, and files that differ only by content */
    if (space < 0 || dcpl < 0 || lcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0) {
        st = vg__fail(err, o, "%s: cannot create dataspace or property lists", name);
        goto done;
    }
    if (H5Tget_class(file_type) == H5T_FLOAT) {
        double nan = NAN;
        if (H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan) < 0) {
            st = vg__fail(err, o, "%s: cannot set fill value", name);
            goto done;
        }
    }
    /* Written whole right below: HDF5 would otherwise write the fill value over the storage
     * it allocates, then the data over it (two writes of every series; ~1 point of the
     * benchmark sweep's recording overhead). The fill value stays recorded for readers. */
    if (data && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) {
        st = vg__fail(err, o, "%s: cannot set fill time", name);
        goto done;
    }
    dset = H5Dcreate2(o->id, name, file_type, space, lcpl, dcpl, H5P_DEFAULT);
    if (dset < 0) {
        st = vg__fail(err, o, "%s: cannot create dataset", name);
        goto done;
    }
    if (data && n > 0 && H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = vg__fail(err, o, "%s: cannot write", name);
done:
    if (dset >= 0) {
        if (st == VG_OK && out) *out = dset;
        else H5Dclose(dset);
    }
    if (lcpl >= 0) H5Pclose(lcpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return st;
}

void vg__tensor_props_close(vg__tensor_props *p) {
    if (p->dcpl >= 0) H5Pclose(p->dcpl);
    if (p->dapl >= 0) H5Pclose(p->dapl);
    p->dcpl = p->dapl = H5I_INVALID_HID;
}

/* Float32 tensors chunked one slot per chunk, shuffle + deflate, NaN where never written
 * (unwritten chunks are not even allocated). */
vg_status vg__tensor_props_open(vg__tensor_props *p, int deflate, const vg__obj *o,
                                       vg_error *err) {
    float nan = NAN;
    p->dcpl = H5Pcreate(H5P_DATASET_CREATE);
    p->dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (p->dcpl < 0 || p->dapl < 0 || H5Pset_obj_track_times(p->dcpl, 0) < 0 ||
        H5Pset_shuffle(p->dcpl) < 0 ||
        (deflate && H5Pset_deflate(p->dcpl, VG__DEFLATE_LEVEL) < 0) ||
        H5Pset_fill_value(p->dcpl, H5T_NATIVE_FLOAT, &nan) < 0 ||
        H5Pset_fill_time(p->dcpl, H5D_FILL_TIME_IFSET) < 0 ||
        H5Pset_alloc_time(p->dcpl, H5D_ALLOC_TIME_INCR) < 0 ||
        /* Each chunk is written once, whole: caching it would only hold memory. */
        H5Pset_chunk_cache(p->dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0,
                           H5D_CHUNK_CACHE_W0_DEFAULT) < 0) {
        vg__tensor_props_close(p);
        return vg__fail(err, o, "cannot make the tensors' creation properties");
    }
    return VG_OK;
}

/* Tensor t as the dataset `name` of group loc. */
vg_status vg__create_tensor(const vg__obj *o, hid_t loc, const char *name, vg__tensor *t,
                                   const vg__tensor_props *p, vg_error *err) {
    hsize_t chunk[VG_MAX_RANK] = {t->is_whole ? t->dims[0] : 1};
    for (int i = 1; i < t->rank; i++) chunk[i] = t->dims[i];
    hid_t space = H5Screate_simple(t->rank, t->dims, NULL);
    if (space < 0 || H5Pset_chunk(p->dcpl, t->rank, chunk) < 0) {
        if (space >= 0) H5Sclose(space);
        return vg__fail(err, o, "cannot set its shape and chunking");
    }
    t->dset = H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, p->dcpl, p->dapl);
    H5Sclose(space);
    if (t->dset < 0) return vg__fail(err, o, "cannot create dataset");
    return VG_OK;
}

/* HDF5's shuffle filter (byte j of element i goes to j * n + i) on a chunk of `total`
 * elements, for the n_elems of them from element `first` on: a chunk can be shuffled piece by
 * piece (a whole tensor slot by slot, as the slots come). */
void vg__shuffle4_at(unsigned char *dst, size_t total, size_t first,
                            const unsigned char *src, size_t n_elems) {
    unsigned char *d0 = dst + first, *d1 = d0 + total, *d2 = d1 + total, *d3 = d2 + total;
    for (size_t i = 0; i < n_elems; i++) {
        d0[i] = src[4 * i];
        d1[i] = src[4 * i + 1];
        d2[i] = src[4 * i + 2];
        d3[i] = src[4 * i + 3];
    }
}

/* `bytes` bytes of shuffled float32 values into dst (room for vg_deflate_bound(bytes)) as the
 * chunk HDF5's shuffle + deflate pipeline stores. Returns its length; *mask is its filter
 * mask: the shuffled bytes as they are, deflate marked skipped, when deflate cannot shrink
 * them. */
size_t vg__deflate_chunk(vg_deflater *dz, unsigned char *dst, const unsigned char *shuf,
                                size_t bytes, uint32_t *mask) {
    size_t len = vg_deflate_shuffled(dz, dst, shuf, bytes);
    *mask = 0;
    if (len < bytes) return len;
    memcpy(dst, shuf, bytes);
    *mask = 1u << 1; /* filter 1 of the pipeline (deflate) not applied */
    return bytes;
}
