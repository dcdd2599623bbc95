/* The recorder (vg_recorder_create, _close, _abort) and the design of the record it writes
 * (format version 2, docs/FORMAT.md); src/record is the only module of vgsweep that calls
 * HDF5, and its files are split by concern (record_impl.h lists them).
 *
 * HDF5 here is Debian's serial build, which is not thread-safe anywhere in the library (not just
 * per file), so one lock guards every HDF5 call this module makes, whichever file it is for.
 * Worker threads call begin_run/tensor/end_run directly. While a run trains, its worker
 * appends to the run's part file (part.h: a journal, plain POSIX I/O) without the lock: tensor
 * slots shuffled and deflated into the chunks the output will store. Only end_run takes the
 * lock, to write the finished run into the output from its part, each byte once.
 *
 * Files, and why a kill -9 at any instant loses no finished run:
 *   <out>.parts/manifest.h5       which sweep the parts belong to (name, seed, start time)
 *   <out>.parts/<id>.part.tmp     a run being written; ignored (and rewritten) on resume
 *   <out>.parts/<id>.part         a finished run: fsync'ed before the atomic rename (by the
 *                                 committer thread, so that workers never wait for the disk)
 *   <out>.tmp                     the output being assembled from the parts
 *   <out>                         the output: fsync'ed <out>.tmp renamed; then the parts go
 *   <out>.lock                    the owner's fcntl lock (lock.c), taken before any of the
 *                                 above is looked at, released when the recorder is freed
 * The parts directory is itself created as <out>.parts.tmp and renamed once its manifest is
 * durable, so a directory named <out>.parts always says which sweep it holds (its manifest is
 * deleted last).
 *
 * Assembly is incremental: once a run's part is durable, the worker that finished it writes
 * the run into <out>.tmp (created by the first run) under the lock, while the other workers
 * train: group, settings, tensor datasets with their chunks as stored in the part
 * (H5Dwrite_chunk), series with their dimension scales, and its /index row. Runs finished
 * before this session (--resume) are written the same way, a share at each end_run; runs kept
 * from an existing output are copied from it (H5Ocopy). vg_recorder_close writes whatever is
 * left, the root attributes and /index (grid order), closes, fsyncs and renames. <out>.tmp is
 * disposable: it is never read back, a --resume deletes whatever a kill left of it and starts a
 * fresh one, and when writing into it fails (each run is first checked against the free space
 * and the file-size limit: HDF5 1.10 can crash when a write fails inside H5Ocopy) it is
 * deleted, the sweep goes on recording parts, and close reports the error. A run's datasets do
 * not depend on the order in which runs are written.
 *
 * Every HDF5 call is checked; a failure becomes one line naming the file and the object:
 *   results/x.h5.tmp: /runs/0a1b2c3d4e5f/layers/03/grad_W: cannot write slot 4 (No space
 *   left on device)
 * HDF5's own stack printing is turned off; the system error it saw (or its innermost message)
 * is appended in parentheses.
 *
 * Datasets hold nothing that depends on time or on the order in which runs finish: the
 * datasets of a sweep are bit-identical at any -j and after a resume. */
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

/* contract.h's status names: the record owns the contract. */
const char *const vg_run_status_names[] = {
#define X(name, text) text,
    VG_RUN_STATUSES(X)
#undef X
        NULL};
#define vg__status_names vg_run_status_names

pthread_mutex_t vg__hdf5_lock = PTHREAD_MUTEX_INITIALIZER;

/* Closes what the recorder holds open of <tmp_path> and of the old output, ignoring errors
 * (the caller deletes <tmp_path> or has already closed it). Must hold the lock. */
void vg__out_close_quietly(vg_recorder *rec) {
    if (rec->out_runs >= 0) H5Gclose(rec->out_runs);
    if (rec->out >= 0) H5Fclose(rec->out);
    if (rec->old >= 0) H5Fclose(rec->old);
    rec->out_runs = rec->out = rec->old = H5I_INVALID_HID;
    H5Eclear2(H5E_DEFAULT);
}

static void vg__recorder_free(vg_recorder *rec) {
    if (!rec) return;
    vg__committer_stop(rec);
    while (rec->emit_head) { /* ended runs never written into the output: their parts stay */
        vg__emit_item *next = rec->emit_head->next;
        close(rec->emit_head->fd);
        free(rec->emit_head);
        rec->emit_head = next;
    }
    if (rec->state_lock_ready) pthread_mutex_destroy(&rec->state_lock);
    pthread_mutex_lock(&vg__hdf5_lock);
    vg__out_close_quietly(rec);
    if (rec->fapl >= 0) H5Pclose(rec->fapl);
    pthread_mutex_unlock(&vg__hdf5_lock);
    free(rec->path);
    free(rec->tmp_path);
    free(rec->parts);
    free(rec->by_id);
    free(rec->state);
    free(rec->origin);
    free(rec->copied);
    free(rec->rows);
    free(rec->foreign);
    free(rec->kept);
    vg_output_lock_release(rec->lock); /* last: everything at the output is done with */
    free(rec);
}

/* Notes a finished run that is not in the sweep (found in the parts or the old output; one
 * found in both is merged by vg__keep_foreign). 0: out of memory. */
int vg__add_foreign(vg_recorder *rec, const char *id, int in_parts, int64_t out_run) {
    if (rec->n_foreign == rec->foreign_cap) {
        int64_t cap = rec->foreign_cap ? 2 * rec->foreign_cap : 16;
        void *p = realloc(rec->foreign, (size_t)cap * sizeof *rec->foreign);
        if (!p) return 0;
        rec->foreign = p;
        rec->foreign_cap = cap;
    }
    vg__foreign *f = &rec->foreign[rec->n_foreign++];
    snprintf(f->id, sizeof f->id, "%s", id);
    f->in_parts = (unsigned char)(in_parts != 0);
    f->in_output = (unsigned char)(in_parts == 0);
    f->out_run = out_run;
    return 1;
}

/* Writes the manifest of the parts directory into the file man. Must hold the lock. */
vg_status vg__write_manifest(vg_recorder *rec, const char *man, vg_error *err) {
    vg_status st;
    vg__obj o = {H5I_INVALID_HID, man, "/", 0};
    hid_t f = H5Fcreate(man, H5F_ACC_TRUNC, H5P_DEFAULT, rec->fapl);
    if (f < 0) return vg__fail(err, &o, "cannot create");
    o.id = f;
    st = vg__attr_str(&o, "format", VG__PARTS_FORMAT, err);
    if (st == VG_OK) st = vg__attr_i64(&o, "format_version", VG_FORMAT_VERSION, err);
    if (st == VG_OK) st = vg__attr_str(&o, "sweep_name", rec->info.sweep_name, err);
    if (st == VG_OK) st = vg__attr_u64(&o, "sweep_seed", rec->info.sweep_seed, err);
    if (st == VG_OK) st = vg__attr_str(&o, "sweep_file", rec->info.sweep_file, err);
    if (st == VG_OK) st = vg__attr_str(&o, "output", rec->path, err);
    if (st == VG_OK) st = vg__attr_str(&o, "started", rec->started, err);
    if (H5Fclose(f) < 0 && st == VG_OK) st = vg__fail(err, &o, "cannot close");
    return st;
}

/* Writes <parts>.tmp/manifest.h5, syncs it and renames <parts>.tmp to <parts>. */
static vg_status vg__make_parts_dir(vg_recorder *rec, vg_error *err) {
    vg_status st = VG_OK;
    char *dir = vg__strcat2(rec->parts, ".tmp");
    char *man = dir ? malloc(strlen(dir) + sizeof VG__MANIFEST + 2) : NULL;
    if (!dir || !man) {
        free(dir);
        free(man);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    }
    sprintf(man, "%s/%s", dir, VG__MANIFEST);
    st = vg__clear_parts(dir, 0, rec->path, err); /* left over from a kill -9 */
    if (st == VG_OK && mkdir(dir, 0777) != 0)
        st = vg_error_set(err, VG_EIO, "%s: cannot create %s: %s", rec->path, dir,
                          strerror(errno));
    if (st == VG_OK) {
        pthread_mutex_lock(&vg__hdf5_lock);
        st = vg__write_manifest(rec, man, err);
        pthread_mutex_unlock(&vg__hdf5_lock);
    }
    if (st == VG_OK) st = vg__fsync_path(man, 0, rec->path, err);
    if (st == VG_OK) st = vg__commit(dir, rec->parts, rec->path, err);
    if (st != VG_OK) vg__clear_parts(dir, 0, rec->path, NULL);
    free(man);
    free(dir);
    return st;
}

vg_status vg_recorder_create(const char *path, const vg_sweep_info *info, vg_recorder **out,
                             vg_error *err) {
    vg_recorder *rec = NULL;
    vg_status st = VG_OK;
    const int64_t n = info->n_runs;

    *out = NULL;
    if (!path || !path[0]) return vg_error_set(err, VG_EUSAGE, "no output file given");
    if (n < 0 || (n > 0 && !info->runs))
        return vg_error_set(err, VG_EINTERNAL, "%s: the sweep's runs are not given", path);
    if (info->n_index_columns < 0 || info->n_index_columns > VG_MAX_INDEX_COLUMNS ||
        (info->n_index_columns > 0 && !info->index_columns))
        return vg_error_set(err, VG_EINTERNAL, "%s: %d /index columns (at most %d)", path,
                            info->n_index_columns, VG_MAX_INDEX_COLUMNS);
    /* Every check that can refuse the output comes before the first run trains, and the lock
     * before anything at the output is opened, deleted or replaced. */
    st = vg_outpath_check_names(path, err);
    if (st == VG_OK) st = vg_outpath_prepare_dir(path, err);
    if (st == VG_OK) st = vg_outpath_check_inputs(path, info->inputs, info->n_inputs, err);
    if (st == VG_OK) st = vg_outpath_check_target(path, err); /* again once locked, below */
    /* Names are read back into buffers of 512 bytes (manifest, part headers): a longer one
     * would make every finished run look like another sweep's at assembly. */
    if (st == VG_OK && info->sweep_name && strlen(info->sweep_name) > VG__MAX_NAME)
        st = vg_error_set(err, VG_EUSAGE,
                          "%s: name: is %zu bytes long; vgsweep records at most %d (shorten it); "
                          "nothing was run",
                          info->sweep_file ? info->sweep_file : path, strlen(info->sweep_name),
                          VG__MAX_NAME);
    if (st != VG_OK) return st;

    rec = calloc(1, sizeof *rec);
    if (rec) {
        rec->fapl = rec->out = rec->out_runs = rec->old = H5I_INVALID_HID;
        rec->info = *info;
        rec->path = vg__strcat2(path, "");
        rec->tmp_path = vg__strcat2(path, ".tmp");
        rec->parts = vg__strcat2(path, ".parts");
        rec->by_id = malloc((size_t)(n ? n : 1) * sizeof *rec->by_id);
        rec->state = calloc((size_t)(n ? n : 1), 1);
        rec->origin = calloc((size_t)(n ? n : 1), 1);
        rec->copied = calloc((size_t)(n ? n : 1), 1);
        rec->rows = calloc((size_t)(n ? n : 1), sizeof *rec->rows);
    }
    if (rec) rec->state_lock_ready = pthread_mutex_init(&rec->state_lock, NULL) == 0;
    if (!rec || !rec->path || !rec->tmp_path || !rec->parts || !rec->by_id || !rec->state ||
        !rec->origin || !rec->copied || !rec->rows || !rec->state_lock_ready) {
        vg__recorder_free(rec);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    }
    rec->stats.n_runs = n;
    rec->n_all = n;
    for (int64_t i = 0; i < n; i++) {
        const char *id = info->runs[i].id;
        if (!vg__is_run_id(id, strlen(id))) {
            vg__recorder_free(rec);
            return vg_error_set(err, VG_EINTERNAL, "%s: run %lld has id \"%s\", not %d hex digits",
                                path, (long long)i, id, VG_RUN_ID_LEN);
        }
        memcpy(rec->by_id[i].id, id, VG_RUN_ID_LEN + 1);
        rec->by_id[i].pos = i;
    }
    qsort(rec->by_id, (size_t)n, sizeof *rec->by_id, vg__cmp_ref);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(rec->by_id[i - 1].id, rec->by_id[i].id) == 0) {
            st = vg_error_set(err, VG_EINTERNAL, "%s: two runs of the sweep have id %s", path,
                              rec->by_id[i].id);
            vg__recorder_free(rec);
            return st;
        }
    vg__now_iso(rec->started, sizeof rec->started);
    st = vg_output_lock_take(path, &rec->lock, err);
    /* After the lock: the output cannot change under the check any more. */
    if (st == VG_OK) st = vg_outpath_check_target(path, err);
    if (st == VG_OK) st = vg_outpath_check_target(rec->tmp_path, err);
    if (st != VG_OK) goto fail;

    pthread_mutex_lock(&vg__hdf5_lock);
    /* Every file is closed explicitly; HDF5's exit handler would only trip over a part file
     * whose close failed on a full disk (1.10 crashes there). Fails harmlessly if HDF5 is
     * already initialised. */
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    unsigned config = 0;
    rec->deflate = H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 &&
                   H5Zget_filter_info(H5Z_FILTER_DEFLATE, &config) >= 0 &&
                   (config & H5Z_FILTER_CONFIG_ENCODE_ENABLED);
    /* Chunks go to disk as written here, so their bytes must already be the file's. */
    rec->raw_chunks = rec->deflate && H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0;
    /* Strong close: H5Fclose really closes the file, so the fsync and rename see all of it.
     * The 1.10 file format, pinned: compact groups and fixed-array chunk indexes make files
     * ~7x smaller than the 1.0 default for deep nets; readers need HDF5 >= 1.10. */
    rec->fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (rec->fapl < 0 || H5Pset_fclose_degree(rec->fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_libver_bounds(rec->fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0) {
        vg__obj root = {H5I_INVALID_HID, path, "/", 0};
        st = vg__fail(err, &root, "cannot make file access properties");
    }
    pthread_mutex_unlock(&vg__hdf5_lock);
    if (st != VG_OK) goto fail;

    int have_output = vg__exists(rec->path), have_parts = vg__is_dir(rec->parts);
    /* A kill while the parts of a completed sweep were being deleted: nothing is left in it. */
    if (have_parts && vg__parts_empty(rec->parts)) {
        st = vg__clear_parts(rec->parts, 0, path, err);
        if (st != VG_OK) goto fail;
        have_parts = 0;
    }
    struct stat parts_sb;
    if (lstat(rec->parts, &parts_sb) == 0 && !S_ISDIR(parts_sb.st_mode)) {
        st = vg_error_set(err, VG_EUSAGE, "%s: %s is in the way: it is not a directory", path,
                          rec->parts);
        goto fail;
    }
    switch (info->mode) {
    case VG_RECORD_NEW:
        if (have_output) {
            st = vg_error_set(err, VG_EUSAGE,
                              "%s: already exists; pass --resume to continue or extend it, or "
                              "--force to overwrite it",
                              path);
            goto fail;
        }
        if (have_parts) {
            st = vg_error_set(err, VG_EUSAGE,
                              "%s: an interrupted sweep left its finished runs in %s; pass "
                              "--resume to continue it, or --force to start over",
                              path, rec->parts);
            goto fail;
        }
        break;
    case VG_RECORD_FORCE:
        if (have_output && unlink(rec->path) != 0) {
            st = vg_error_set(err, VG_EIO, "%s: cannot delete it: %s", path, strerror(errno));
            goto fail;
        }
        st = vg__clear_parts(rec->parts, 0, path, err);
        if (st != VG_OK) goto fail;
        have_output = have_parts = 0;
        break;
    case VG_RECORD_RESUME:
        pthread_mutex_lock(&vg__hdf5_lock);
        if (have_parts) st = vg__scan_parts(rec, err);
        if (st == VG_OK && have_output) st = vg__scan_output(rec, have_parts, err);
        if (st == VG_OK) st = vg__keep_foreign(rec, err);
        vg_reader_close(rec->old_reader); /* read-only: what it read is kept */
        rec->old_reader = NULL;
        pthread_mutex_unlock(&vg__hdf5_lock);
        if (st != VG_OK) goto fail;
        rec->stats.resumed = have_parts || have_output;
        break;
    }
    /* Left over from a kill -9: an output being assembled, runs being written. */
    if (unlink(rec->tmp_path) != 0 && errno != ENOENT) {
        st = vg_error_set(err, VG_EIO, "%s: cannot delete %s: %s", path, rec->tmp_path,
                          strerror(errno));
        goto fail;
    }
    if (have_parts) st = vg__clear_parts(rec->parts, 1, path, err);
    else st = vg__make_parts_dir(rec, err);
    if (st != VG_OK) goto fail;
    rec->n_reused_left = rec->stats.n_reused + rec->stats.n_kept;
    rec->n_unfinished = n - rec->stats.n_reused;
    memcpy(rec->origin, rec->state, (size_t)rec->n_all);
    /* Without a thread, parts are committed by their workers. */
    if (pthread_mutex_init(&rec->commit_lock, NULL) == 0) {
        if (pthread_cond_init(&rec->commit_cond, NULL) == 0) {
            rec->committer_started =
                pthread_create(&rec->committer, NULL, vg__committer_main, rec) == 0;
            if (!rec->committer_started) pthread_cond_destroy(&rec->commit_cond);
        }
        if (!rec->committer_started) pthread_mutex_destroy(&rec->commit_lock);
    }
    *out = rec;
    return VG_OK;
fail:
    vg__recorder_free(rec);
    return st;
}

void vg_recorder_stats(const vg_recorder *rec, vg_record_stats *out) { *out = rec->stats; }

int vg_recorder_run_done(const vg_recorder *rec, const char *id) {
    int64_t pos = vg__find_run(rec, id);
    /* Only states set before the workers started are read here: no race with end_run. */
    return pos >= 0 && (rec->state[pos] == VG__IN_PARTS || rec->state[pos] == VG__IN_OUTPUT);
}

vg_status vg_recorder_close(vg_recorder *rec, vg_error *err) {
    vg_status st = VG_OK;
    if (!rec) return VG_OK;
    vg__committer_stop(rec); /* every ended part durable (or lost) */
    int64_t n_done = 0;
    for (int64_t r = 0; r < rec->n_all; r++)
        n_done += rec->state[r] != VG__TODO && rec->state[r] != VG__RUNNING;
    if (rec->open_runs > 0)
        st = vg_error_set(err, VG_EINTERNAL, "%s: closed with %d run(s) still being written",
                          rec->path, rec->open_runs);
    else if (rec->commit_failed) {
        st = rec->commit_err.code;
        if (err) {
            *err = rec->commit_err;
            const char *kept = "; that run is lost, the other finished ones are kept: run "
                               "again with --resume";
            if (strlen(err->message) + strlen(kept) < sizeof err->message)
                strcat(err->message, kept);
        }
    } else if (n_done < rec->n_all)
        st = vg_error_set(err, VG_EIO,
                          "%s: only %lld of %lld runs are recorded; the finished ones are kept in "
                          "%s: run again with --resume to complete it",
                          rec->path, (long long)n_done, (long long)rec->n_all, rec->parts);
    if (st != VG_OK) {
        vg_recorder_abort(rec);
        return st;
    }

    vg__emit_queued(rec, 1); /* the ended runs no worker got to write into the output */
    pthread_mutex_lock(&vg__hdf5_lock);
    if (rec->out_failed) { /* a copy failed earlier: <tmp_path> is already gone */
        st = rec->out_err.code;
        if (err) *err = rec->out_err;
    } else {
        st = vg__finish_output(rec, err);
    }
    if (st != VG_OK) vg__out_close_quietly(rec);
    pthread_mutex_unlock(&vg__hdf5_lock);
    /* On failure nothing takes the final name; the old output (if any) and the parts stay. */
    if (st == VG_OK) st = vg__commit(rec->tmp_path, rec->path, rec->path, err);
    if (st != VG_OK) {
        unlink(rec->tmp_path);
        char kept[160];
        snprintf(kept, sizeof kept, "; the %lld finished runs are kept in %s: run again with "
                 "--resume", (long long)n_done, rec->parts);
        if (err && strlen(err->message) + strlen(kept) < sizeof err->message)
            strcat(err->message, kept);
        vg__recorder_free(rec);
        return st;
    }
    /* The output holds every run: the parts are no longer needed. A failure to delete them
     * loses nothing, and the next --resume or --force deals with them. */
    if (vg__clear_parts(rec->parts, 0, rec->path, NULL) == VG_OK)
        vg__fsync_dir_of(rec->parts, rec->path, NULL);
    vg__recorder_free(rec);
    return VG_OK;
}

void vg_recorder_abort(vg_recorder *rec) {
    if (!rec) return;
    vg__committer_stop(rec); /* the runs that ended are kept */
    pthread_mutex_lock(&vg__hdf5_lock);
    vg__out_close_quietly(rec);
    pthread_mutex_unlock(&vg__hdf5_lock);
    unlink(rec->tmp_path);
    vg__recorder_free(rec);
}
