/* A finished run written into the output being assembled from its part file, record by
 * record: its group and attributes, its axes as dimension scales, its tensors (chunks as
 * stored), its series, their dimensions attached to the scales; and the scales of a run
 * copied from an older output attached again. */
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

/* One entry of a dimension scale's REFERENCE_LIST attribute, laid out as the HDF5 high-level
 * library's (H5DS.c's ds_list_t): the dataset and which of its dimensions the scale labels. */
typedef struct vg__scale_user {
    hobj_ref_t dataset;
    int dimension;
} vg__scale_user;

/* A CHUNK or RAW record of the part, written once its tensor's dataset is made. */
typedef struct vg__slot_rec {
    vg_part_rec h;
    const unsigned char *p;
} vg__slot_rec;

/* An axis of the run being emitted: its scale dataset and the dimensions it labels. */
typedef struct vg__scale {
    char *doc;              /* (malloc'ed) */
    const void *values;     /* (length) int64, in the part */
    int made;               /* its dataset was made (and closed: thousands of open datasets
                             * make each HDF5 call slower) */
    hobj_ref_t ref;
    vg__scale_user *users;  /* (n_users) the dataset dimensions it labels */
    size_t n_users, cap_users;
} vg__scale;

/* What vg__emit_part knows of the run it writes. */
typedef struct vg__emit {
    vg_recorder *rec;
    int64_t pos;
    const char *part;          /* for messages about the part's contents */
    char where[32];            /* "/runs/<id>" */
    hid_t group;
    int n_axes;
    vg__axis_ref *axes;        /* (n_axes) sorted by name; src indexes scales */
    vg__scale *scales;         /* (n_axes) in the layout's order */
    int n_tensors;
    vg__tensor *tensors;       /* (n_tensors) */
    vg__slot_rec *slots;       /* (n_slots) the CHUNK and RAW records written slot by slot */
    int64_t n_slots, cap_slots;
} vg__emit;

static vg_status vg__damaged(const vg__emit *e, const char *what, vg_error *err) {
    return vg_error_set(err, VG_EIO, "%s: cannot assemble the output: part %s is damaged (%s)",
                        e->rec->path, e->part, what);
}

/* What is wrong with a part's first record for run r, or NULL: it must be the HEADER of this
 * part format, sweep and run. */
const char *vg__header_problem(const vg_recorder *rec, int64_t r, const vg_part_rec *h,
                                      const unsigned char *p) {
    char name[512], id[VG_RUN_ID_LEN + 1];
    vg_cursor c = {p, h->len, 0, 0};
    vg_cur_str(&c, name, sizeof name);
    uint64_t seed = (uint64_t)vg_cur_i64(&c);
    vg_cur_str(&c, id, sizeof id);
    if (h->type != VG_PART_HEADER || h->a != VG_PART_VERSION || h->b != VG_PART_BYTE_ORDER ||
        c.bad)
        return "not a vgsweep part file of this version";
    if (strcmp(name, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
        seed != rec->info.sweep_seed || strcmp(id, vg__cfg(rec, r)->id) != 0)
        return "of another sweep or run";
    return NULL;
}

/* The HEADER record: this sweep's and this run's. */
static vg_status vg__emit_header(vg__emit *e, const vg_part_rec *h, const unsigned char *p,
                                 vg_error *err) {
    const char *problem = vg__header_problem(e->rec, e->pos, h, p);
    return problem ? vg__damaged(e, problem, err) : VG_OK;
}

/* Whether the group at relative path (e.g. "layers/03") exists under loc: each component
 * looked up in turn (HDF5 refuses a path whose intermediate group is missing), in the
 * group's index, not by a scan of the tensors before. */
static int vg__group_exists(hid_t loc, const char *path) {
    char prefix[48];
    size_t n = strlen(path);
    if (n >= sizeof prefix) return 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && path[i] != '/') continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        if (H5Lexists(loc, prefix, H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
    }
    return 1;
}

/* The LAYOUT record: the run's group with its settings and attributes; its axes and tensor
 * specs, kept for vg__emit_result. */
static vg_status vg__emit_layout(vg__emit *e, const vg_part_rec *h, const unsigned char *p,
                                 vg_error *err) {
    vg_recorder *rec = e->rec;
    const vg_run_config *cfg = vg__cfg(rec, e->pos);
    vg_cursor c = {p, h->len, 0, 0};
    vg_status st = VG_OK;
    if (h->type != VG_PART_LAYOUT) return vg__damaged(e, "no layout", err);
    uint32_t n_attrs = vg_cur_u32(&c);
    if (c.bad || n_attrs > VG_MAX_RUN_ATTRS) return vg__damaged(e, "bad layout", err);
    char attr_name[VG_MAX_RUN_ATTRS][64], attr_text[VG_MAX_RUN_ATTRS][128];
    int64_t attr_value[VG_MAX_RUN_ATTRS];
    uint32_t attr_kind[VG_MAX_RUN_ATTRS]; /* 0: integer, 1: string */
    for (uint32_t i = 0; i < n_attrs; i++) {
        vg_cur_str(&c, attr_name[i], sizeof attr_name[i]);
        attr_kind[i] = vg_cur_u32(&c);
        attr_value[i] = 0, attr_text[i][0] = '\0';
        if (attr_kind[i] == 1)
            vg_cur_str(&c, attr_text[i], sizeof attr_text[i]);
        else
            attr_value[i] = vg_cur_i64(&c);
        if (c.bad || attr_kind[i] > 1 || !vg__valid_name(attr_name[i]))
            return vg__damaged(e, "bad attribute", err);
    }
    uint32_t n_axes = vg_cur_u32(&c);
    if (c.bad || n_axes > c.n) return vg__damaged(e, "bad layout", err);
    e->axes = calloc(n_axes ? n_axes : 1, sizeof *e->axes);
    e->scales = calloc(n_axes ? n_axes : 1, sizeof *e->scales);
    if (!e->axes || !e->scales) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    e->n_axes = (int)n_axes;
    for (uint32_t i = 0; i < n_axes; i++) {
        vg__axis_ref *a = &e->axes[i];
        int oom = 0;
        vg_cur_str(&c, a->name, sizeof a->name);
        e->scales[i].doc = vg_cur_strdup(&c, &oom);
        a->length = vg_cur_i64(&c);
        a->src = (int)i;
        if (oom) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
        if (c.bad || !vg__valid_name(a->name) || a->length < 0 || (uint64_t)a->length > c.n / 8)
            return vg__damaged(e, "bad axis", err);
        e->scales[i].values = vg_cur_bytes(&c, (size_t)a->length * sizeof(int64_t));
        if (c.bad) return vg__damaged(e, "bad axis", err);
    }
    if (n_axes > 1) qsort(e->axes, n_axes, sizeof *e->axes, vg__cmp_axis_ref);
    for (uint32_t i = 1; i < n_axes; i++)
        if (strcmp(e->axes[i - 1].name, e->axes[i].name) == 0) return vg__damaged(e, "bad axis", err);
    uint32_t n_tensors = vg_cur_u32(&c);
    if (c.bad || n_tensors > c.n) return vg__damaged(e, "bad layout", err);
    e->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *e->tensors);
    if (!e->tensors) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    for (uint32_t i = 0; i < n_tensors; i++) e->tensors[i].dset = H5I_INVALID_HID;
    e->n_tensors = (int)n_tensors;

    /* Attributes in the object header ("compact"), however many: HDF5 1.10's H5Ocopy (a later
     * --resume copies runs out of this file) crashes copying variable-length strings out of
     * dense attribute storage. */
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    e->group = gcpl >= 0 && H5Pset_attr_phase_change(gcpl, 65535, 0) >= 0 &&
                       H5Pset_obj_track_times(gcpl, 0) >= 0
                   ? H5Gcreate2(rec->out_runs, cfg->id, H5P_DEFAULT, gcpl, H5P_DEFAULT)
                   : H5I_INVALID_HID;
    if (gcpl >= 0) H5Pclose(gcpl);
    vg__obj o = {e->group, rec->tmp_path, e->where, 1};
    if (e->group < 0) return vg__fail(err, &o, "cannot create group");
    st = vg__attr_settings(&o, cfg, err);
    if (st == VG_OK) st = vg__attr_str(&o, "id", cfg->id, err);
    if (st == VG_OK) st = vg__attr_u64(&o, "seed", cfg->seed, err);
    if (st == VG_OK && cfg->has_data_checksum) { /* src/data: what the run trained on */
        char sum[17];
        snprintf(sum, sizeof sum, "%016" PRIx64, cfg->data_checksum);
        st = vg__attr_str(&o, "data_checksum", sum, err);
    }
    if (st == VG_OK && cfg->data_class_names)
        st = vg__attr_str(&o, "data_class_names", cfg->data_class_names, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "repeat", cfg->repeat, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "index", e->pos, err);
    for (uint32_t i = 0; i < n_attrs && st == VG_OK; i++)
        st = attr_kind[i] == 1 ? vg__attr_str(&o, attr_name[i], attr_text[i], err)
                               : vg__attr_i64(&o, attr_name[i], attr_value[i], err);
    /* The tensors' datasets are made by vg__emit_tensors, one at a time, once every slot
     * record has been read: a deep net's thousands of datasets are never open together
     * (each open dataset holds HDF5 memory, and made the cost of the next grow with them). */
    size_t whole_bytes = 0; /* of the whole tensors so far (vg__take_whole) */
    for (int i = 0; i < e->n_tensors && st == VG_OK; i++) {
        vg__tensor *t = &e->tensors[i];
        int oom = 0;
        vg_cur_str(&c, t->name, sizeof t->name);
        t->doc = vg_cur_strdup(&c, &oom);
        t->axes = vg_cur_strdup(&c, &oom);
        uint32_t rank = vg_cur_u32(&c);
        int bad = rank < 1 || rank > VG_MAX_RANK - 1;
        uint64_t slot = sizeof(float);
        for (uint32_t d = 0; d < rank && !bad; d++) {
            int64_t n = vg_cur_i64(&c);
            bad = n < 1 || (uint64_t)n >= VG__MAX_CHUNK_BYTES || slot * (uint64_t)n >= VG__MAX_CHUNK_BYTES;
            if (!bad) t->dims[d + 1] = (hsize_t)n, slot *= (uint64_t)n;
        }
        uint32_t n_slots = vg_cur_u32(&c);
        t->checkpoints = vg_cur_bytes(&c, (size_t)n_slots * sizeof(int64_t));
        if (oom) st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
        else if (c.bad || bad || !vg__valid_name(t->name) || n_slots < 1)
            st = vg__damaged(e, "bad tensor spec", err);
        if (st != VG_OK) break;
        t->rank = (int)rank + 1;
        t->dims[0] = n_slots;
        t->slot_bytes = (size_t)slot;
        t->is_whole = vg__take_whole(t->dims[0] * t->slot_bytes, &whole_bytes);
        if (t->is_whole) {
            t->slot_src = calloc(t->dims[0], sizeof *t->slot_src);
            if (!t->slot_src) {
                st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
                break;
            }
        }
    }
    return st;
}

/* A CHUNK (compressed, as stored) or RAW (float32 values) record: one slot of a tensor,
 * checked and kept for vg__emit_tensors. */
static vg_status vg__emit_slot(vg__emit *e, const vg_part_rec *h, const unsigned char *p,
                               vg_error *err) {
    if (!e->tensors || h->a >= (uint32_t)e->n_tensors) return vg__damaged(e, "bad slot", err);
    vg__tensor *t = &e->tensors[h->a];
    if (h->b >= t->dims[0] || (h->type == VG_PART_RAW && h->len != t->slot_bytes) ||
        (h->type == VG_PART_CHUNK &&
         (!e->rec->raw_chunks || (t->is_whole ? h->b != 0 || h->len > t->dims[0] * t->slot_bytes
                                              : h->len > t->slot_bytes))))
        return vg__damaged(e, "bad slot", err);
    if (t->is_whole && h->type == VG_PART_RAW) { /* written whole by vg__emit_whole */
        t->n_whole += t->slot_src[h->b] == NULL;
        t->slot_src[h->b] = p;
        return VG_OK;
    }
    if (e->n_slots == e->cap_slots) {
        int64_t cap = e->cap_slots ? 2 * e->cap_slots : 64;
        vg__slot_rec *more = realloc(e->slots, (size_t)cap * sizeof *more);
        if (!more) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
        e->slots = more, e->cap_slots = cap;
    }
    e->slots[e->n_slots++] = (vg__slot_rec){*h, p};
    t->n_slots++;
    return VG_OK;
}

/* Writes one slot record of tensor t, whose dataset is open. */
static vg_status vg__write_slot(vg__emit *e, vg__tensor *t, const vg_part_rec *h,
                                const unsigned char *p, vg_error *err) {
    hsize_t offset[VG_MAX_RANK] = {h->b};
    char path[128];
    snprintf(path, sizeof path, "%s/%s", e->where, t->name);
    vg__obj o = {t->dset, e->rec->tmp_path, path, 0};
    if (h->type == VG_PART_CHUNK) {
        if (H5Dwrite_chunk(t->dset, H5P_DEFAULT, h->c, offset, (size_t)h->len, p) < 0)
            return vg__fail(err, &o, "cannot write slot %u", h->b);
        return VG_OK;
    }
    hsize_t count[VG_MAX_RANK] = {1};
    for (int i = 1; i < t->rank; i++) count[i] = t->dims[i];
    vg_status st = VG_OK;
    hid_t fspace = H5Dget_space(t->dset);
    hid_t mspace = H5Screate_simple(t->rank - 1, t->dims + 1, NULL);
    if (fspace < 0 || mspace < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, offset, NULL, count, NULL) < 0 ||
        H5Dwrite(t->dset, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, p) < 0)
        st = vg__fail(err, &o, "cannot write slot %u", h->b);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return st;
}

/* Writes a one-chunk tensor whose slots are in the part one by one (HDF5 without its deflate
 * filter: vgsweep does not write chunks then), when any came. NaN where a slot did not come
 * (a run that diverged). Must hold the lock. */
static vg_status vg__emit_whole(vg__emit *e, vg__tensor *t, vg_error *err) {
    if (!t->is_whole || t->n_whole == 0 || t->dset < 0) return VG_OK;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", e->where, t->name);
    vg__obj o = {t->dset, e->rec->tmp_path, path, 0};
    size_t n = t->dims[0] * t->slot_bytes, slot_elems = t->slot_bytes / sizeof(float);
    float *values = malloc(n);
    if (!values) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
    for (hsize_t k = 0; k < t->dims[0]; k++) {
        float *slot = values + k * slot_elems;
        if (t->slot_src[k]) memcpy(slot, t->slot_src[k], t->slot_bytes);
        else
            for (size_t j = 0; j < slot_elems; j++) slot[j] = NAN;
    }
    vg_status st = VG_OK;
    if (H5Dwrite(t->dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
        st = vg__fail(err, &o, "cannot write");
    free(values);
    return st;
}

static vg_status vg__attach_dims(vg__emit *e, const vg__obj *so, const char *name,
                                 const char *axes, int rank, const hsize_t *dims, vg_error *err);

/* The run's tensor datasets, one at a time in layout order: each made in its parent group
 * ("layers/03", made once for its tensors: cheaper than HDF5 walking and creating the
 * intermediate groups of every path), given its attributes, written (its slot records in the
 * order they came) and closed. Linear in the number of tensors. */
static vg_status vg__emit_tensors(vg__emit *e, vg_error *err) {
    vg_recorder *rec = e->rec;
    vg__obj o = {e->group, rec->tmp_path, e->where, 1};
    vg_status st = VG_OK;
    if (e->n_tensors == 0) return VG_OK;
    /* The slot records grouped by tensor, keeping their order (a counting sort). */
    vg__slot_rec *sorted = malloc((size_t)(e->n_slots ? e->n_slots : 1) * sizeof *sorted);
    if (!sorted) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    int64_t at = 0;
    for (int i = 0; i < e->n_tensors; i++) {
        e->tensors[i].first_slot = at;
        at += e->tensors[i].n_slots;
        e->tensors[i].n_slots = 0;
    }
    for (int64_t k = 0; k < e->n_slots; k++) {
        vg__tensor *t = &e->tensors[e->slots[k].h.a];
        sorted[t->first_slot + t->n_slots++] = e->slots[k];
    }
    vg__tensor_props props = {H5I_INVALID_HID, H5I_INVALID_HID};
    hid_t parent = H5I_INVALID_HID;
    char parent_name[48] = "";
    st = vg__tensor_props_open(&props, rec->deflate, &o, err);
    for (int i = 0; i < e->n_tensors && st == VG_OK; i++) {
        vg__tensor *t = &e->tensors[i];
        char path[128];
        snprintf(path, sizeof path, "%s/%s", e->where, t->name);
        vg__obj to = {e->group, rec->tmp_path, path, 1};
        const char *slash = strrchr(t->name, '/'), *leaf = slash ? slash + 1 : t->name;
        size_t plen = slash ? (size_t)(slash - t->name) : 0;
        if (parent < 0 || plen != strlen(parent_name) || strncmp(parent_name, t->name, plen) != 0) {
            if (parent >= 0) H5Gclose(parent);
            memcpy(parent_name, t->name, plen);
            parent_name[plen] = '\0';
            /* a group on an earlier tensor's path (tensors of a layer not contiguous in the
             * layout) already exists */
            int seen = plen > 0 && vg__group_exists(e->group, parent_name);
            hid_t lcpl = vg__lcpl();
            parent = plen == 0 ? H5Gopen2(e->group, ".", H5P_DEFAULT)
                     : seen    ? H5Gopen2(e->group, parent_name, H5P_DEFAULT)
                     : lcpl < 0 ? H5I_INVALID_HID
                                : H5Gcreate2(e->group, parent_name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
            if (lcpl >= 0) H5Pclose(lcpl);
            if (parent < 0) st = vg__fail(err, &to, "cannot create its group");
        }
        if (st == VG_OK) st = vg__create_tensor(&to, parent, leaf, t, &props, err);
        to.id = t->dset;
        if (st == VG_OK)
            st = vg__attr(&to, "checkpoints", H5T_STD_I64LE, H5T_NATIVE_INT64,
                          (int64_t)t->dims[0], t->checkpoints, err);
        if (st == VG_OK) st = vg__attr_str(&to, "doc", t->doc, err);
        if (st == VG_OK) st = vg__attach_dims(e, &to, t->name, t->axes, t->rank, t->dims, err);
        for (int64_t k = 0; k < t->n_slots && st == VG_OK; k++)
            st = vg__write_slot(e, t, &sorted[t->first_slot + k].h, sorted[t->first_slot + k].p, err);
        if (st == VG_OK) st = vg__emit_whole(e, t, err);
        if (t->dset >= 0) H5Dclose(t->dset);
        t->dset = H5I_INVALID_HID;
    }
    if (parent >= 0) H5Gclose(parent);
    vg__tensor_props_close(&props);
    free(sorted);
    return st;
}

/* Opens (or makes) the group `name` (relative to the run's group, "" for itself) as *parent,
 * unless it is open there already as *parent_name; closes the one open before. Groups are
 * made and closed explicitly: a group made on the way by a dataset's creation stays in HDF5's
 * cache, dirty, and with thousands of them every later eviction takes longer. */
static vg_status vg__enter_group(vg__emit *e, const char *name, size_t len, hid_t *parent,
                                 char *parent_name, vg_error *err) {
    if (*parent >= 0 && len == strlen(parent_name) && strncmp(parent_name, name, len) == 0)
        return VG_OK;
    if (*parent >= 0) H5Gclose(*parent);
    memcpy(parent_name, name, len);
    parent_name[len] = '\0';
    int seen = len > 0 && vg__group_exists(e->group, parent_name);
    hid_t lcpl = vg__lcpl();
    *parent = len == 0 ? H5Gopen2(e->group, ".", H5P_DEFAULT)
              : seen   ? H5Gopen2(e->group, parent_name, H5P_DEFAULT)
              : lcpl < 0 ? H5I_INVALID_HID
                         : H5Gcreate2(e->group, parent_name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (*parent < 0) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", e->where, parent_name);
        vg__obj o = {e->group, e->rec->tmp_path, path, 1};
        return vg__fail(err, &o, "cannot create group");
    }
    return VG_OK;
}

/* The run's dimension-scale datasets, one per axis of its layout, each made and closed: its
 * tensors' and series' dimensions are attached to them by reference. */
static vg_status vg__emit_scales(vg__emit *e, vg_error *err) {
    vg_status st = VG_OK;
    hid_t parent = H5I_INVALID_HID;
    char parent_name[48] = "";
    for (int i = 0; i < e->n_axes && st == VG_OK; i++) { /* by name: a group's together */
        const vg__axis_ref *a = &e->axes[i];
        vg__scale *sc = &e->scales[a->src];
        const char *slash = strrchr(a->name, '/'), *dim = slash ? slash + 1 : a->name;
        st = vg__enter_group(e, a->name, slash ? (size_t)(slash - a->name) : 0, &parent,
                             parent_name, err);
        if (st != VG_OK) break;
        char path[128];
        snprintf(path, sizeof path, "%s/%s", e->where, a->name);
        vg__obj o = {parent, e->rec->tmp_path, path, 0};
        hsize_t dims[1] = {(hsize_t)a->length};
        hid_t d;
        st = vg__dataset(&o, dim, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, sc->values, &d, err);
        if (st != VG_OK) break;
        sc->made = 1;
        vg__obj so = {d, e->rec->tmp_path, path, 1};
        if (H5DSset_scale(d, dim) < 0)
            st = vg__fail(err, &so, "cannot make it a dimension scale");
        else if (H5Rcreate(&sc->ref, parent, dim, H5R_OBJECT, -1) < 0)
            st = vg__fail(err, &so, "cannot make a reference to it");
        if (st == VG_OK) st = vg__attr_str(&so, "doc", sc->doc, err);
        H5Dclose(d);
    }
    if (parent >= 0) H5Gclose(parent);
    return st;
}

/* DIMENSION_LIST's type: per dimension, the references to its scales (H5DS.c's). */
static hid_t vg__ref_list_type(void) {
    static hid_t t = H5I_INVALID_HID; /* made once, under the lock, and kept */
    if (t < 0) t = H5Tvlen_create(H5T_STD_REF_OBJ);
    return t;
}

/* The labels of a dataset's first n_axes dimensions (of rank), as H5DSset_label stores them
 * (the attribute DIMENSION_LABELS: one variable-length ASCII string per dimension, NULL where
 * unlabelled), written at once: H5DSset_label reads, deletes and rewrites the attribute for
 * every dimension it labels. */
static vg_status vg__dim_labels(const vg__obj *o, int rank, char axes[][32], int n_axes,
                                vg_error *err) {
    static hid_t t = H5I_INVALID_HID; /* made once, under the lock, and kept */
    if (t < 0) {
        t = H5Tcopy(H5T_C_S1);
        if (t >= 0 && H5Tset_size(t, H5T_VARIABLE) < 0) H5Tclose(t), t = H5I_INVALID_HID;
    }
    if (t < 0) return vg__fail(err, o, "attribute DIMENSION_LABELS: cannot make string type");
    const char *labels[H5S_MAX_RANK] = {NULL};
    for (int i = 0; i < n_axes && i < rank; i++) labels[i] = axes[i];
    return vg__attr(o, "DIMENSION_LABELS", t, t, rank, labels, err);
}

/* Labels each dimension of the dataset at `name` in the run group (open as so->id) with its
 * axis' name and attaches the axis' scale, as H5DSset_label and H5DSattach_scale do but each
 * attribute written once: the dataset's DIMENSION_LABELS and DIMENSION_LIST here, the scales'
 * REFERENCE_LIST when the run's datasets are all written (vg__emit_scale_users).
 * H5DSattach_scale reads, deletes and rewrites the scale's whole REFERENCE_LIST at every
 * attachment. */
static vg_status vg__attach_dims(vg__emit *e, const vg__obj *so, const char *name,
                                 const char *axes, int rank, const hsize_t *dims, vg_error *err) {
    char names[VG_MAX_RANK][32];
    hvl_t list[VG_MAX_RANK];
    int scale_of[VG_MAX_RANK];
    if (vg__split_axes(axes, names) != rank) return vg__damaged(e, "bad axes", err);
    for (int i = 0; i < rank; i++) {
        int a = vg__find_axis(e->axes, e->n_axes, name, names[i]);
        if (a < 0 || (hsize_t)e->axes[a].length != dims[i]) return vg__damaged(e, "bad axes", err);
        scale_of[i] = e->axes[a].src;
        list[i].len = 1, list[i].p = &e->scales[scale_of[i]].ref;
    }
    vg_status st = vg__dim_labels(so, rank, names, rank, err);
    hobj_ref_t self;
    if (st == VG_OK && H5Rcreate(&self, e->group, name, H5R_OBJECT, -1) < 0)
        st = vg__fail(err, so, "cannot make a reference to it");
    for (int i = 0; i < rank && st == VG_OK; i++) {
        vg__scale *sc = &e->scales[scale_of[i]];
        if (sc->n_users == sc->cap_users) {
            size_t cap = sc->cap_users ? 2 * sc->cap_users : 16;
            vg__scale_user *more = realloc(sc->users, cap * sizeof *more);
            if (!more) {
                st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
                break;
            }
            sc->users = more, sc->cap_users = cap;
        }
        sc->users[sc->n_users++] = (vg__scale_user){self, i};
    }
    hid_t t = vg__ref_list_type();
    if (st == VG_OK && t < 0) st = vg__fail(err, so, "cannot make the type of DIMENSION_LIST");
    if (st == VG_OK) st = vg__attr(so, "DIMENSION_LIST", t, t, rank, list, err);
    return st;
}

/* One series as the dataset <run>/<name>: its doc, and its dimensions labelled and attached to
 * their axes' scales. */
static vg_status vg__emit_series(vg__emit *e, const vg_series *s, vg_error *err) {
    vg__obj o = {e->group, e->rec->tmp_path, e->where, 0};
    char path[300];
    hsize_t dims[VG_MAX_RANK];
    hid_t d;
    snprintf(path, sizeof path, "%s/%s", e->where, s->name);
    for (int i = 0; i < s->rank; i++) dims[i] = (hsize_t)s->dims[i];
    vg_status st = vg__dataset(&o, s->name, vg__file_type(s->dtype), vg__mem_type(s->dtype),
                               s->rank, dims, s->data, &d, err);
    if (st != VG_OK) return st;
    vg__obj so = {d, e->rec->tmp_path, path, 1};
    st = vg__attr_str(&so, "doc", s->doc, err);
    if (st == VG_OK) st = vg__attach_dims(e, &so, s->name, s->axes, s->rank, dims, err);
    H5Dclose(d);
    return st;
}

/* Each scale's REFERENCE_LIST: the dataset dimensions it labels, in the order attached. */
static vg_status vg__emit_scale_users(vg__emit *e, vg_error *err) {
    static hid_t t = H5I_INVALID_HID; /* made once, under the lock, and kept */
    if (t < 0) {
        t = H5Tcreate(H5T_COMPOUND, sizeof(vg__scale_user));
        if (t >= 0 &&
            (H5Tinsert(t, "dataset", offsetof(vg__scale_user, dataset), H5T_STD_REF_OBJ) < 0 ||
             H5Tinsert(t, "dimension", offsetof(vg__scale_user, dimension), H5T_NATIVE_INT) < 0))
            H5Tclose(t), t = H5I_INVALID_HID;
    }
    vg_status st = VG_OK;
    hid_t parent = H5I_INVALID_HID;
    char parent_name[48] = "";
    for (int i = 0; i < e->n_axes && st == VG_OK; i++) {
        vg__scale *sc = &e->scales[e->axes[i].src];
        const char *name = e->axes[i].name, *slash = strrchr(name, '/');
        if (!sc->made || sc->n_users == 0) continue;
        st = vg__enter_group(e, name, slash ? (size_t)(slash - name) : 0, &parent, parent_name, err);
        if (st != VG_OK) break;
        hid_t d = H5Dopen2(parent, slash ? slash + 1 : name, H5P_DEFAULT);
        vg__obj so = {d, e->rec->tmp_path, name, 1};
        if (d < 0) st = vg__fail(err, &so, "cannot open");
        else if (t < 0) st = vg__fail(err, &so, "cannot make the type of REFERENCE_LIST");
        else st = vg__attr(&so, "REFERENCE_LIST", t, t, (int64_t)sc->n_users, sc->users, err);
        if (d >= 0) H5Dclose(d);
    }
    if (parent >= 0) H5Gclose(parent);
    return st;
}

/* series[epochs_done - 1] of a 1-D float64 series, or NaN: the /index row's final values. */
static double vg__series_final(const vg_series *s, int64_t epochs_done) {
    if (s->dtype != VG_F64 || s->rank != 1 || epochs_done < 1 || epochs_done > s->dims[0])
        return NAN;
    double v;
    memcpy(&v, (const unsigned char *)s->data + (epochs_done - 1) * 8, 8);
    return v;
}

/* The RESULT record: scales, series, the status attributes last, and the run's /index row. */
static vg_status vg__emit_result(vg__emit *e, const vg_part_rec *h, const unsigned char *p,
                                 vg_error *err) {
    vg_cursor c = {p, h->len, 0, 0};
    vg_status st = VG_OK;
    vg__obj o = {e->group, e->rec->tmp_path, e->where, 1};
    vg__row *row = &e->rec->rows[e->pos];
    if (e->group < 0) return vg__damaged(e, "a result before the layout", err);
    uint32_t status = vg_cur_u32(&c);
    int oom = 0;
    char *message = vg_cur_strdup(&c, &oom);
    int64_t epochs_done = vg_cur_i64(&c);
    double wall = vg_cur_f64(&c);
    uint32_t n_series = vg_cur_u32(&c);
    if (oom) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
    if (c.bad || status >= VG_RUN_STATUS_COUNT) {
        free(message);
        return vg__damaged(e, "bad result", err);
    }
    memset(row, 0, sizeof *row);
    snprintf(row->status, sizeof row->status, "%s", vg__status_names[status]);
    row->epochs_done = epochs_done;
    row->wall_seconds = wall;
    for (int k = 0; k < VG_MAX_INDEX_COLUMNS; k++) row->value[k] = NAN;
    st = vg__emit_scales(e, err);
    if (st == VG_OK) st = vg__emit_tensors(e, err);
    for (uint32_t i = 0; i < n_series && st == VG_OK; i++) {
        char name[256];
        vg_series s = {.name = name};
        char *doc, *axes;
        vg_cur_str(&c, name, sizeof name);
        s.doc = doc = vg_cur_strdup(&c, &oom);
        s.axes = axes = vg_cur_strdup(&c, &oom);
        s.dtype = (vg_dtype)vg_cur_u32(&c);
        s.rank = (int)vg_cur_u32(&c);
        int64_t n = 1;
        for (int d = 0; d < s.rank && d < VG_MAX_RANK && !c.bad; d++) {
            s.dims[d] = vg_cur_i64(&c);
            n = s.dims[d] >= 0 && n <= INT64_MAX / 8 / (s.dims[d] + 1) ? n * s.dims[d] : -1;
        }
        vg_cur_bytes(&c, (8 - c.at % 8) % 8);
        if (!c.bad && s.rank >= 1 && s.rank <= VG_MAX_RANK && vg__file_type(s.dtype) >= 0 && n >= 0 &&
            vg__valid_name(name))
            s.data = (void *)vg_cur_bytes(&c, (size_t)n * vg__dtype_size(s.dtype));
        if (oom) st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", e->rec->path);
        else if (c.bad || (!s.data && n > 0) || !s.data)
            st = vg__damaged(e, "bad series", err);
        if (st == VG_OK) st = vg__emit_series(e, &s, err);
        for (int k = 0; k < e->rec->info.n_index_columns && st == VG_OK; k++)
            if (strcmp(name, e->rec->info.index_columns[k].series) == 0)
                row->value[k] = vg__series_final(&s, epochs_done);
        free(doc);
        free(axes);
    }
    if (st == VG_OK) st = vg__emit_scale_users(e, err);
    if (st == VG_OK) st = vg__attr_str(&o, "message", message, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "epochs_done", epochs_done, err);
    if (st == VG_OK) st = vg__attr_f64(&o, "wall_seconds", wall, err);
    if (st == VG_OK) st = vg__attr_str(&o, "status", vg__status_names[status], err);
    free(message);
    return st;
}

/* Writes run r into <tmp_path> as /runs/<id> from its part file, record by record: the output
 * gets each byte once, compressed chunks as they are. Must hold the lock. */
vg_status vg__emit_part(vg_recorder *rec, int64_t r, const char *part, int fd,
                               vg_error *err) {
    vg__emit e = {.rec = rec, .pos = r, .part = part, .group = H5I_INVALID_HID};
    snprintf(e.where, sizeof e.where, "/runs/%s", vg__cfg(rec, r)->id);
    vg_part_reader pr;
    /* a part from before this session is checked; one just written is trusted */
    int rc = fd >= 0 ? vg_part_open_fd(&pr, fd, 0) : vg_part_open(&pr, part, 1);
    if (rc) {
        vg_part_reader_close(&pr);
        return vg_error_set(err, VG_EIO, "%s: cannot assemble the output: %s: %s", rec->path,
                            part, vg_part_strerror(rc));
    }
    vg_status st = VG_OK;
    vg_part_rec h;
    const unsigned char *p;
    int got_result = 0;
    for (int n = 0; st == VG_OK; n++) {
        int k = vg_part_next(&pr, &h, &p);
        if (k == 0) break;
        if (k < 0) {
            st = vg__damaged(&e, "incomplete", err);
            break;
        }
        if (n == 0) st = vg__emit_header(&e, &h, p, err);
        else if (n == 1) st = vg__emit_layout(&e, &h, p, err);
        else if (h.type == VG_PART_CHUNK || h.type == VG_PART_RAW) st = vg__emit_slot(&e, &h, p, err);
        else if (h.type == VG_PART_RESULT && !got_result) {
            st = vg__emit_result(&e, &h, p, err);
            got_result = 1;
        } else st = vg__damaged(&e, "unexpected record", err);
    }
    if (st == VG_OK && !got_result) st = vg__damaged(&e, "no result", err);
    vg_part_reader_close(&pr);
    for (int i = 0; i < e.n_tensors; i++) {
        if (e.tensors[i].dset >= 0) H5Dclose(e.tensors[i].dset);
        free(e.tensors[i].slot_src);
        free(e.tensors[i].doc);
        free(e.tensors[i].axes);
    }
    free(e.tensors);
    free(e.slots);
    for (int i = 0; i < e.n_axes; i++) {
        free(e.scales[i].users);
        free(e.scales[i].doc);
    }
    free(e.scales);
    free(e.axes);
    if (e.group >= 0) H5Gclose(e.group);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

typedef struct vg__dset_list {
    char **names;
    size_t n, cap;
    int oom;
} vg__dset_list;

static herr_t vg__collect_dset(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    vg__dset_list *list = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
    if (obj < 0) return -1;
    int is_dset = H5Iget_type(obj) == H5I_DATASET;
    H5Oclose(obj);
    if (!is_dset) return 0;
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        char **p = realloc(list->names, cap * sizeof *p);
        if (!p) {
            list->oom = 1;
            return -1;
        }
        list->names = p;
        list->cap = cap;
    }
    list->names[list->n] = vg__strcat2(name, "");
    if (!list->names[list->n]) {
        list->oom = 1;
        return -1;
    }
    list->n++;
    return 0;
}

/* Attaches the scales of a run copied from an older output (H5Ocopy does not carry the
 * references over) to every dimension labelled with an axis' name, by the scoping of
 * vg__find_axis, when of its length. References left by the copy are dropped first. */
vg_status vg__attach_scales(const vg__obj *o, vg_error *err) {
    vg_status st = VG_OK;
    vg__dset_list list = {NULL, 0, 0, 0};
    vg__axis_ref *axes = NULL;
    hid_t *scale = NULL;
    int n_axes = 0;

    if (H5Lvisit(o->id, H5_INDEX_NAME, H5_ITER_INC, vg__collect_dset, &list) < 0)
        st = list.oom ? vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", o->file, o->path)
                      : vg__fail(err, o, "cannot list the datasets");
    if (st == VG_OK) {
        axes = malloc((list.n ? list.n : 1) * sizeof *axes);
        scale = malloc((list.n ? list.n : 1) * sizeof *scale);
        if (!axes || !scale) st = vg_error_set(err, VG_ENOMEM, "%s: %s: out of memory", o->file, o->path);
    }
    for (size_t i = 0; i < list.n && st == VG_OK; i++) { /* the scales */
        hid_t d = H5Dopen2(o->id, list.names[i], H5P_DEFAULT);
        if (d < 0) {
            st = vg__fail(err, o, "%s: cannot open", list.names[i]);
            break;
        }
        if (H5DSis_scale(d) <= 0 || strlen(list.names[i]) >= sizeof axes[0].name) {
            H5Dclose(d);
            continue;
        }
        hid_t sp = H5Dget_space(d);
        axes[n_axes].length = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (sp >= 0) H5Sclose(sp);
        snprintf(axes[n_axes].name, sizeof axes[n_axes].name, "%s", list.names[i]);
        axes[n_axes].src = n_axes;
        scale[n_axes++] = d;
        if (H5Aexists(d, "REFERENCE_LIST") > 0 && H5Adelete(d, "REFERENCE_LIST") < 0)
            st = vg__fail(err, o, "%s: cannot reset", list.names[i]);
    }
    if (n_axes > 1) qsort(axes, (size_t)n_axes, sizeof *axes, vg__cmp_axis_ref);
    for (size_t i = 0; i < list.n && st == VG_OK; i++) {
        hid_t d = H5Dopen2(o->id, list.names[i], H5P_DEFAULT);
        vg__obj dobj = {d, o->file, list.names[i], 0};
        if (d < 0) {
            st = vg__fail(err, o, "%s: cannot open", list.names[i]);
            break;
        }
        if (H5DSis_scale(d) <= 0) {
            if (H5Aexists(d, "DIMENSION_LIST") > 0 && H5Adelete(d, "DIMENSION_LIST") < 0)
                st = vg__fail(err, &dobj, "cannot reset its dimension scales");
            hid_t sp = H5Dget_space(d);
            int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
            hsize_t dims[H5S_MAX_RANK];
            if (rank > 0) H5Sget_simple_extent_dims(sp, dims, NULL);
            if (sp >= 0) H5Sclose(sp);
            for (int k = 0; k < rank && st == VG_OK; k++) {
                char label[64];
                ssize_t len = H5DSget_label(d, (unsigned)k, label, sizeof label);
                if (len <= 0) continue;
                int a = vg__find_axis(axes, n_axes, list.names[i], label);
                if (a >= 0 && axes[a].length == (int64_t)dims[k] &&
                    H5DSattach_scale(d, scale[axes[a].src], (unsigned)k) < 0)
                    st = vg__fail(err, &dobj, "cannot attach scale %s", axes[a].name);
            }
        }
        H5Dclose(d);
        H5Eclear2(H5E_DEFAULT);
    }
    for (size_t i = 0; i < list.n; i++) free(list.names[i]);
    free(list.names);
    for (int k = 0; k < n_axes; k++) H5Dclose(scale[k]);
    free(scale);
    free(axes);
    return st;
}
