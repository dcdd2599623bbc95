/* Assembling the output: <output>.tmp created, each finished run written into it as its part
 * becomes durable (or copied from an older output), the free space checked first, the
 * output completed at close. */
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

/* Bytes of an object and everything under it in an HDF5 file (headers, attributes, indexes,
 * data): what copying it adds to the output. HDF5 1.12 moved the header and metadata sizes out
 * of H5O_info_t (H5O_info2_t) into H5Oget_native_info; 1.10 (Debian 12) has them in its
 * H5O_info_t. Visited with H5Ovisit3 or H5Ovisit2 (VG__OVISIT), whatever the library's default
 * API mapping. */
#if H5_VERSION_GE(1, 12, 0)
#define VG__OVISIT(g, cb, data) \
    H5Ovisit3(g, H5_INDEX_NAME, H5_ITER_NATIVE, cb, data, H5O_INFO_BASIC)
static herr_t vg__add_object_bytes(hid_t obj, const char *name, const H5O_info2_t *info,
                                   void *data) {
    double *sum = data;
    H5O_native_info_t native;
    unsigned fields = H5O_NATIVE_INFO_HDR | H5O_NATIVE_INFO_META_SIZE;
    if (H5Oget_native_info_by_name(obj, name, &native, fields, H5P_DEFAULT) < 0)
        return -1;
    *sum += (double)native.hdr.space.total + (double)native.meta_size.obj.index_size +
            (double)native.meta_size.obj.heap_size + (double)native.meta_size.attr.index_size +
            (double)native.meta_size.attr.heap_size;
#else
#define VG__OVISIT(g, cb, data)                      \
    H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_NATIVE, cb, data, \
              H5O_INFO_BASIC | H5O_INFO_HDR | H5O_INFO_META_SIZE)
static herr_t vg__add_object_bytes(hid_t obj, const char *name, const H5O_info_t *info,
                                   void *data) {
    double *sum = data;
    *sum += (double)info->hdr.space.total + (double)info->meta_size.obj.index_size +
            (double)info->meta_size.obj.heap_size + (double)info->meta_size.attr.index_size +
            (double)info->meta_size.attr.heap_size;
#endif
    if (info->type == H5O_TYPE_DATASET) {
        hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
        if (d >= 0) {
            *sum += (double)H5Dget_storage_size(d);
            H5Dclose(d);
        }
    }
    return 0;
}

/* Refuses to write `bytes` more into <tmp_path> when the free space or the file-size limit
 * (ulimit -f) cannot hold them: HDF5 1.10 can crash when a write fails inside H5Ocopy, so
 * every copy is checked first. what: "run <id>", "the index" for the message. Must hold the
 * lock. */
static vg_status vg__check_room(const vg_recorder *rec, const char *what, double bytes,
                                vg_error *err) {
    struct stat sb;
    hsize_t size = 0;
    double need = bytes + 65536, allocated = 0, written = 0;
    /* HDF5 allocates file space before it writes metadata out: what it has allocated and not
     * yet written is owed too. */
    if (rec->out >= 0 && H5Fget_filesize(rec->out, &size) >= 0) allocated = (double)size;
    H5Eclear2(H5E_DEFAULT);
    if (stat(rec->tmp_path, &sb) == 0) written = (double)sb.st_size;
    if (allocated < written) allocated = written;
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (double)rl.rlim_cur < allocated + need)
        return vg_error_set(err, VG_EIO,
                            "%s: cannot assemble the output: %s would grow %s to about %.0f "
                            "bytes, over the file-size limit (ulimit -f) of %.0f bytes (File too "
                            "large)",
                            rec->path, what, rec->tmp_path, allocated + need,
                            (double)rl.rlim_cur);
    char *dir = vg__dirname(rec->path);
    struct statvfs vfs;
    double avail = dir && statvfs(dir, &vfs) == 0 ? (double)vfs.f_bavail * (double)vfs.f_frsize
                                                  : -1;
    vg_status st = VG_OK;
    if (avail >= 0 && avail < allocated - written + need)
        st = vg_error_set(err, VG_EIO,
                          "%s: cannot assemble the output: %s needs about %.0f bytes, %.0f are "
                          "free in %s (No space left on device)",
                          rec->path, what, allocated - written + need, avail, dir);
    free(dir);
    return st;
}

/* Creates <tmp_path> and its /runs. Must hold the lock. */
static vg_status vg__out_create(vg_recorder *rec, vg_error *err) {
    vg__obj root = {H5I_INVALID_HID, rec->tmp_path, "/", 0};
    /* Evict each object's metadata from the cache when it is closed: written out while the
     * other workers train, instead of all at once by H5Fclose at the end (25 ms -> 1 ms for
     * the benchmark sweep). Nothing in the output is opened twice.
     * File space from HDF5's aggregators alone, without its free-space managers: a run
     * written from its part deletes or rewrites nothing (vg__emit_series writes each attribute
     * once; only a run copied from an earlier output has its scales attached again), so there
     * is next to no freed space to reuse (files 0.1-0.7 % larger), and tracking it took ~8 %
     * of the time HDF5 spends assembling the output. */
    /* Not when runs are copied from an earlier output (--resume extending it): HDF5 1.10 then
     * fails to evict (H5Gclose/H5Dclose: "Cannot evict dirty entry", "Pinned entries still
     * need evicted?!"), leaves those objects open until the file's strong close and, in a
     * worker thread, prints its error stacks (docs/RELIABILITY.md, "Findings"). */
    int evict = 1;
    for (int64_t r = 0; r < rec->n_all && evict; r++) /* kept runs outside the sweep too */
        evict = rec->origin[r] != VG__IN_OUTPUT;
    hid_t fapl = H5Pcopy(rec->fapl), fcpl = H5Pcreate(H5P_FILE_CREATE);
    /* HDF5 1.14 (Debian 13) even crashes in H5Fflush (H5D_flush_all) after vg__attach_scales
     * has re-attached the scales of a run copied with H5Ocopy when evict-on-close is set. */
    rec->out = fapl >= 0 && fcpl >= 0 && H5Pset_evict_on_close(fapl, evict) >= 0 &&
                       H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_AGGR, 0, 1) >= 0
                   ? H5Fcreate(rec->tmp_path, H5F_ACC_TRUNC, fcpl, fapl)
                   : H5I_INVALID_HID;
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (rec->out < 0) return vg__fail(err, &root, "cannot create");
    rec->out_runs = H5Gcreate2(rec->out, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (rec->out_runs < 0) {
        root.path = "/runs";
        return vg__fail(err, &root, "cannot create group");
    }
    return VG_OK;
}

/* Writes finished run r (from its part, or copied from its group in the old output) into
 * <tmp_path> as /runs/<id> with its index, dimension scales and /index row. The result is the
 * same whatever the order runs are written in. Must hold the lock. */
static vg_status vg__copy_run(vg_recorder *rec, int64_t r, int fd, vg_error *err) {
    const char *id = vg__cfg(rec, r)->id;
    char where[32], what[40];
    vg_status st = VG_OK;
    double bytes = 0;
    snprintf(where, sizeof where, "/runs/%s", id);
    snprintf(what, sizeof what, "run %s", id);

    if (rec->out < 0 && (st = vg__out_create(rec, err)) != VG_OK) return st;
    if (rec->origin[r] != VG__IN_OUTPUT) {
        struct stat sb;
        char *part = vg__part_path(rec, id, 0);
        if (!part) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
        if ((fd >= 0 ? fstat(fd, &sb) : stat(part, &sb)) != 0)
            st = vg_error_set(err, VG_EIO, "%s: cannot assemble the output: %s: %s", rec->path,
                              part, strerror(errno));
        /* HDF5 adds its object headers and chunk indexes to the part's bytes */
        if (st == VG_OK) st = vg__check_room(rec, what, (double)sb.st_size * 1.1 + 16384, err);
        if (st == VG_OK) st = vg__emit_part(rec, r, part, fd, err);
        free(part);
        if (st != VG_OK) return st;
    } else {
        if (rec->old < 0) {
            rec->old = H5Fopen(rec->path, H5F_ACC_RDONLY, H5P_DEFAULT);
            vg__obj oo = {H5I_INVALID_HID, rec->path, "/", 0};
            if (rec->old < 0) return vg__fail(err, &oo, "cannot open to copy its runs");
        }
        hid_t g = H5Gopen2(rec->old, where, H5P_DEFAULT);
        if (g < 0 || VG__OVISIT(g, vg__add_object_bytes, &bytes) < 0) {
            vg__obj oo = {g, rec->path, where, 0};
            st = vg__fail(err, &oo, "cannot measure it");
        }
        if (g >= 0) H5Gclose(g);
        if (st == VG_OK) st = vg__check_room(rec, what, bytes, err);
        vg__obj o = {rec->out_runs, rec->tmp_path, where, 0};
        if (st == VG_OK && H5Ocopy(rec->old, where, rec->out_runs, id, H5P_DEFAULT, H5P_DEFAULT) < 0)
            st = vg__fail(err, &o, "cannot copy from %s", rec->path);
        if (st != VG_OK) return st;
        g = H5Gopen2(rec->out_runs, id, H5P_DEFAULT);
        if (g < 0) return vg__fail(err, &o, "cannot open");
        o.id = g;
        st = vg__attr_i64(&o, "index", r, err); /* the grid may have changed since */
        if (st == VG_OK) st = vg__attach_scales(&o, err); /* its row: vg__scan_output's */
        H5Gclose(g);
        if (st != VG_OK) return st;
    }
    /* Write its metadata now and start writing it all out, while the other workers train, so
     * that closing and syncing the output at the end have little left to do (durability still
     * comes from that fsync alone). */
    void *handle = NULL;
    H5Fflush(rec->out, H5F_SCOPE_LOCAL);
    if (H5Fget_vfd_handle(rec->out, H5P_DEFAULT, &handle) >= 0 && handle)
        sync_file_range(*(int *)handle, 0, 0, SYNC_FILE_RANGE_WRITE);
    H5Eclear2(H5E_DEFAULT);
    rec->copied[r] = 1;
    if (rec->origin[r] == VG__IN_PARTS || rec->origin[r] == VG__IN_OUTPUT) rec->n_reused_left--;
    return VG_OK;
}

/* A copy failed: <tmp_path> is dropped for the rest of the session (the runs keep being
 * recorded in their parts) and close reports the error. Must hold the lock. */
static void vg__out_fail(vg_recorder *rec) {
    rec->out_failed = 1;
    vg__out_close_quietly(rec);
    unlink(rec->tmp_path);
}

/* Writes the queued ended runs into <tmp_path>, each with its share of the runs reused from
 * before this session (spread evenly over the runs still to finish and close). Without wait,
 * returns at once when another thread holds the HDF5 lock: that thread writes what is queued
 * before it lets go. Errors are kept for close. */
void vg__emit_queued(vg_recorder *rec, int wait) {
    for (;;) {
        if (wait) pthread_mutex_lock(&vg__hdf5_lock);
        else if (pthread_mutex_trylock(&vg__hdf5_lock) != 0) return;
        /* Debian's HDF5 is built thread-safe, so its error stacks, and whether it prints them,
         * are per thread: off here too, not only in the thread that created the recorder (a
         * worker is the only other thread that calls HDF5, from here). */
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        for (;;) {
            pthread_mutex_lock(&rec->state_lock);
            vg__emit_item *item = rec->emit_head;
            if (item) {
                rec->emit_head = item->next;
                if (!rec->emit_head) rec->emit_tail = NULL;
            }
            int64_t unfinished = rec->n_unfinished;
            pthread_mutex_unlock(&rec->state_lock);
            if (!item) break;
            if (!rec->out_failed && vg__copy_run(rec, item->pos, item->fd, &rec->out_err) != VG_OK)
                vg__out_fail(rec);
            close(item->fd);
            free(item);
            int64_t share = (rec->n_reused_left + unfinished) / (unfinished + 1);
            for (; !rec->out_failed && share > 0 && rec->n_reused_left > 0; share--) {
                int64_t r = rec->reuse_cursor;
                while (r < rec->n_all &&
                       (rec->copied[r] ||
                        (rec->origin[r] != VG__IN_PARTS && rec->origin[r] != VG__IN_OUTPUT)))
                    r++;
                rec->reuse_cursor = r;
                if (r == rec->n_all) break;
                if (vg__copy_run(rec, r, -1, &rec->out_err) != VG_OK) vg__out_fail(rec);
            }
        }
        pthread_mutex_unlock(&vg__hdf5_lock);
        /* a run queued after the last look, while its worker found the lock taken */
        pthread_mutex_lock(&rec->state_lock);
        int more = rec->emit_head != NULL;
        pthread_mutex_unlock(&rec->state_lock);
        if (!more) return;
    }
}

/* Completes <tmp_path>: copies the runs not yet in it, writes the root's attributes and
 * /index (grid order) and closes it. Must hold the lock; on error the caller drops it. */
vg_status vg__finish_output(vg_recorder *rec, vg_error *err) {
    vg_status st = VG_OK;
    for (int64_t r = 0; r < rec->n_all && st == VG_OK; r++)
        if (!rec->copied[r]) st = vg__copy_run(rec, r, -1, err);
    if (st == VG_OK && rec->out < 0) st = vg__out_create(rec, err);
    if (st != VG_OK) return st;
    const vg_sweep_info *info = &rec->info;
    double bytes = 8192 + 256.0 * (double)rec->n_all +
                   (info->sweep_text ? (double)strlen(info->sweep_text) : 0) +
                   (info->command_line ? (double)strlen(info->command_line) : 0);
    st = vg__check_room(rec, "the index", bytes, err);
    if (st == VG_OK) st = vg__write_root(rec, rec->out, err);
    if (st == VG_OK) st = vg__write_index(rec, rec->out, rec->rows, err);
    if (st != VG_OK) return st;
    if (rec->old >= 0) H5Fclose(rec->old); /* read-only: nothing to lose */
    rec->old = H5I_INVALID_HID;
    vg__obj root = {rec->out_runs, rec->tmp_path, "/runs", 0};
    if (H5Gclose(rec->out_runs) < 0) st = vg__fail(err, &root, "cannot close");
    rec->out_runs = H5I_INVALID_HID;
    root.path = "/";
    if (H5Fclose(rec->out) < 0 && st == VG_OK) st = vg__fail(err, &root, "cannot close");
    rec->out = H5I_INVALID_HID;
    return st;
}
