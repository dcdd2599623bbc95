/* --resume: what an interrupted or finished sweep left (the parts, read through their journal;
 * an existing output, read through the public reader, reader.h) and which runs it keeps, also
 * those outside the sweep. */
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

#include "vgsweep/reader.h"

static int vg__part_ok(const vg_recorder *rec, int64_t r, const char *part);

/* The sweep name and seed in a part's HEADER record: 1, or 0 when it has none readable. */
static int vg__part_sweep(const char *part, char *name, size_t size, uint64_t *seed) {
    vg_part_reader pr;
    vg_part_rec h;
    const unsigned char *p;
    int ok = vg_part_open(&pr, part, 0) == 0 && vg_part_next(&pr, &h, &p) == 1 &&
             h.type == VG_PART_HEADER && h.a == VG_PART_VERSION && h.b == VG_PART_BYTE_ORDER;
    if (ok) {
        vg_cursor c = {p, h.len, 0, 0};
        vg_cur_str(&c, name, size);
        *seed = (uint64_t)vg_cur_i64(&c);
        ok = !c.bad;
    }
    vg_part_reader_close(&pr);
    return ok;
}

/* A parts directory that lost its manifest (deleted by hand, a copy without it) while it holds
 * finished parts: when every readable part is of this sweep (name and seed in its header), the
 * manifest is written again (synced, renamed into place) and the parts are resumed; a part of
 * another sweep refuses it. Must hold the lock. */
static vg_status vg__rebuild_manifest(vg_recorder *rec, const char *man, vg_error *err) {
    DIR *d = opendir(rec->parts);
    if (!d) return vg_error_set(err, VG_EUSAGE, "%s: cannot read %s: %s", rec->path, rec->parts,
                                strerror(errno));
    vg_status st = VG_OK;
    int64_t n = 0;
    struct dirent *e;
    while (st == VG_OK && (e = readdir(d)) != NULL) {
        int is_part, is_tmp;
        if (!vg__is_part_name(e->d_name, &is_part, &is_tmp) || !is_part || is_tmp) continue;
        char *part = malloc(strlen(rec->parts) + strlen(e->d_name) + 2), name[512];
        uint64_t seed = 0;
        if (!part) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
            break;
        }
        sprintf(part, "%s/%s", rec->parts, e->d_name);
        if (vg__part_sweep(part, name, sizeof name, &seed)) {
            if (strcmp(name, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
                seed != rec->info.sweep_seed)
                st = vg_error_set(err, VG_EUSAGE,
                                  "%s: has no manifest and part %s holds sweep \"%s\" (seed "
                                  "%llu), not \"%s\" (seed %llu); nothing was changed",
                                  rec->parts, part, name, (unsigned long long)seed,
                                  rec->info.sweep_name, (unsigned long long)rec->info.sweep_seed);
            n++;
        }
        free(part);
    }
    closedir(d);
    if (st != VG_OK) return st;
    char *tmp = vg__strcat2(man, ".tmp");
    if (!tmp) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    st = vg__write_manifest(rec, tmp, err);
    if (st == VG_OK) st = vg__commit(tmp, man, rec->path, err);
    if (st != VG_OK) unlink(tmp);
    free(tmp);
    if (st == VG_OK) {
        rec->stats.manifest_rebuilt = 1;
        rec->stats.n_manifest_parts = n;
    }
    return st;
}

/* Resume from <parts>: checks the manifest, takes its start time and marks the runs whose
 * part files are there and readable. Must hold the lock. */
vg_status vg__scan_parts(vg_recorder *rec, vg_error *err) {
    char *man = malloc(strlen(rec->parts) + sizeof VG__MANIFEST + 2);
    if (!man) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    sprintf(man, "%s/%s", rec->parts, VG__MANIFEST);
    hid_t f;
    vg_status st = VG_OK;
    if (!vg__exists(man)) st = vg__rebuild_manifest(rec, man, err);
    if (st == VG_OK) st = vg__open_same_sweep(rec, man, rec->parts, VG__PARTS_FORMAT, &f, err);
    free(man);
    if (st != VG_OK) return st;
    vg_h5_attr_str(f, "started", rec->started, sizeof rec->started);
    H5Fclose(f);

    DIR *d = opendir(rec->parts);
    if (!d) return vg_error_set(err, VG_EIO, "%s: cannot read %s: %s", rec->path, rec->parts,
                                strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL && st == VG_OK) {
        int is_part, is_tmp;
        if (!vg__is_part_name(e->d_name, &is_part, &is_tmp) || !is_part || is_tmp) continue;
        char id[VG_RUN_ID_LEN + 1];
        memcpy(id, e->d_name, VG_RUN_ID_LEN);
        id[VG_RUN_ID_LEN] = '\0';
        int64_t pos = vg__find_run(rec, id);
        if (pos < 0) {
            if (!vg__add_foreign(rec, id, 1, -1)) st = vg_error_set(err, VG_ENOMEM, "out of memory");
            continue;
        }
        /* Complete (its checksum checked) and of this run: else it is run again (its
         * rename replaces it). */
        char *part = vg__part_path(rec, id, 0);
        if (!part) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
            break;
        }
        if (vg__part_ok(rec, pos, part)) {
            rec->state[pos] = VG__IN_PARTS;
            rec->stats.n_reused++;
        } else {
            rec->stats.n_broken++;
        }
        free(part);
    }
    closedir(d);
    return st;
}

/* The /index row of run i of the old output, from what the reader gives: its status, epochs
 * and time, and the final value of each index column's series. */
static void vg__reader_row(const vg_recorder *rec, vg_reader *r, int64_t i, vg__row *row) {
    const vg_record_run *run = vg_reader_run(r, i);
    memset(row, 0, sizeof *row);
    snprintf(row->status, sizeof row->status, "%s", run->status);
    row->epochs_done = run->epochs_done;
    row->wall_seconds = run->wall_seconds;
    for (int k = 0; k < VG_MAX_INDEX_COLUMNS; k++) row->value[k] = NAN;
    for (int k = 0; k < rec->info.n_index_columns; k++) {
        vg_series_data d;
        vg_error ignored;
        if (vg_reader_series(r, i, rec->info.index_columns[k].series, &d, &ignored) != VG_OK)
            continue;
        if (d.rank == 1 && run->epochs_done >= 1 && run->epochs_done <= d.n)
            row->value[k] = d.v[run->epochs_done - 1];
        vg_series_data_free(&d);
    }
}

/* Resume from an existing output, read through the public reader (reader.h): checks it is of
 * this sweep and marks its runs (those not already in the parts), with their /index rows. The
 * reader stays open (rec->old_reader) for vg__keep_foreign. Must hold the lock. */
vg_status vg__scan_output(vg_recorder *rec, int have_parts, vg_error *err) {
    const char *hint = "nothing was changed; choose another --output, or pass --force to "
                       "replace it";
    const char *kind = vg__not_regular(rec->path); /* HDF5 would block on a FIFO */
    if (kind)
        return vg_error_set(err, VG_EUSAGE, "%s: not a regular file (%s); nothing was changed",
                            rec->path, kind);
    vg_error rerr;
    if (vg_reader_open(rec->path, &rec->old_reader, &rerr) != VG_OK)
        return vg_error_set(err, VG_EUSAGE, "%s; %s", rerr.message, hint);
    vg_reader *r = rec->old_reader;
    const vg_record_info *info = vg_reader_info(r);
    if (strcmp(info->sweep_name_raw, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
        info->sweep_seed != rec->info.sweep_seed)
        return vg_error_set(err, VG_EUSAGE,
                            "%s: holds sweep \"%s\" (seed %llu), not \"%s\" (seed %llu); %s",
                            rec->path, info->sweep_name, (unsigned long long)info->sweep_seed,
                            rec->info.sweep_name, (unsigned long long)rec->info.sweep_seed, hint);
    if (!have_parts) snprintf(rec->started, sizeof rec->started, "%s", info->started);
    for (int64_t i = 0; i < vg_reader_n_runs(r); i++) {
        const char *id = vg_reader_run(r, i)->cfg.id;
        int64_t pos = vg__find_run(rec, id);
        if (pos < 0) {
            if (!vg__add_foreign(rec, id, 0, i))
                return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
        } else if (rec->state[pos] == VG__TODO) {
            rec->state[pos] = VG__IN_OUTPUT;
            rec->stats.n_reused++;
            vg__reader_row(rec, r, i, &rec->rows[pos]);
        }
    }
    return VG_OK;
}

/* Settings of a run kept from its part (read through, checksum checked): 1, 0 when the part
 * has none (written by a vgsweep before they were added), -1 when it is damaged or not this
 * sweep's run `id`. */
static int vg__part_cfg(const vg_recorder *rec, const char *part, const char *id,
                        vg_run_config *cfg) {
    vg_part_reader pr;
    vg_part_rec h;
    const unsigned char *p;
    int ok = vg_part_open(&pr, part, 1) == 0 ? 1 : -1, n = 0, k;
    vg_run_config_defaults(cfg);
    while (ok >= 0 && (k = vg_part_next(&pr, &h, &p)) != 0) {
        if (k < 0) ok = -1;
        if (k < 0 || n++ > 0) continue;
        char name[512], got[VG_RUN_ID_LEN + 1];
        vg_cursor c = {p, h.len, 0, 0};
        vg_cur_str(&c, name, sizeof name);
        uint64_t seed = (uint64_t)vg_cur_i64(&c);
        vg_cur_str(&c, got, sizeof got);
        if (h.type != VG_PART_HEADER || h.a != VG_PART_VERSION || h.b != VG_PART_BYTE_ORDER ||
            c.bad || strcmp(name, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
            seed != rec->info.sweep_seed || strcmp(got, id) != 0)
            ok = -1;
        else
            ok = vg_runcfg_get(&c, cfg);
    }
    if (!pr.ended) ok = -1;
    vg_part_reader_close(&pr);
    snprintf(cfg->id, sizeof cfg->id, "%s", id);
    return ok;
}

static int vg__cmp_foreign(const void *a, const void *b) {
    return strcmp(((const vg__foreign *)a)->id, ((const vg__foreign *)b)->id);
}

/* After a --resume scan: the finished runs found outside the sweep are kept as runs
 * n_runs.. (in id order, after the sweep's in /index), from their part or else their group in
 * the old output, unless info.prune drops them. A part that cannot be used (damaged, or without
 * settings) and has no copy in the old output refuses the resume (VG_EUSAGE): this session
 * cannot run it again, and dropping it takes --prune. */
vg_status vg__keep_foreign(vg_recorder *rec, vg_error *err) {
    int64_t n = 0;
    if (rec->n_foreign == 0) return VG_OK; /* (qsort must not be given NULL) */
    qsort(rec->foreign, (size_t)rec->n_foreign, sizeof *rec->foreign, vg__cmp_foreign);
    for (int64_t i = 0; i < rec->n_foreign; i++) { /* one entry per id, where it was found */
        if (n > 0 && strcmp(rec->foreign[n - 1].id, rec->foreign[i].id) == 0) {
            rec->foreign[n - 1].in_parts |= rec->foreign[i].in_parts;
            rec->foreign[n - 1].in_output |= rec->foreign[i].in_output;
        } else {
            rec->foreign[n++] = rec->foreign[i];
        }
    }
    rec->n_foreign = n;
    if (rec->info.prune || n == 0) {
        rec->stats.n_dropped = rec->info.prune ? n : 0;
        return VG_OK;
    }
    const int64_t nr = rec->info.n_runs, na = nr + n;
    rec->kept = malloc((size_t)n * sizeof *rec->kept);
    void *p1 = realloc(rec->by_id, (size_t)na * sizeof *rec->by_id);
    if (p1) rec->by_id = p1;
    void *p2 = realloc(rec->state, (size_t)na);
    if (p2) rec->state = p2;
    void *p3 = realloc(rec->origin, (size_t)na);
    if (p3) rec->origin = p3;
    void *p4 = realloc(rec->copied, (size_t)na);
    if (p4) rec->copied = p4;
    void *p5 = realloc(rec->rows, (size_t)na * sizeof *rec->rows);
    if (p5) rec->rows = p5;
    if (!rec->kept || !p1 || !p2 || !p3 || !p4 || !p5)
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
    vg_status st = VG_OK;
    int64_t k = 0;
    for (int64_t i = 0; i < n && st == VG_OK; i++) {
        const vg__foreign *f = &rec->foreign[i];
        vg_run_config *cfg = &rec->kept[k];
        int got = -1;
        if (f->in_parts) {
            char *part = malloc(strlen(rec->parts) + VG_RUN_ID_LEN + 16);
            if (!part) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", rec->path);
            sprintf(part, "%s/%s.part", rec->parts, f->id);
            got = vg__part_cfg(rec, part, f->id, cfg);
            if (got == 0 && !f->in_output)
                st = vg_error_set(err, VG_EUSAGE,
                                  "%s: part %s of run %s, which is not in this sweep, was written "
                                  "by an older vgsweep that did not store its settings; resume "
                                  "with the sweep file it came from, or pass --prune to drop it",
                                  rec->path, part, f->id);
            /* Damaged, and this session cannot run it again (it is not in the sweep): not
             * dropped silently either. */
            if (got < 0 && !f->in_output && st == VG_OK)
                st = vg_error_set(err, VG_EUSAGE,
                                  "%s: part %s of run %s, which is not in this sweep, is "
                                  "damaged; resume with the sweep file it came from to run it "
                                  "again, or pass --prune to drop it",
                                  rec->path, part, f->id);
            free(part);
        }
        if (st != VG_OK || got > 0) {
            rec->state[nr + k] = VG__IN_PARTS;
        } else if (f->in_output) { /* its settings and row as the reader read them */
            *cfg = vg_reader_run(rec->old_reader, f->out_run)->cfg;
            vg__reader_row(rec, rec->old_reader, f->out_run, &rec->rows[nr + k]);
            rec->state[nr + k] = VG__IN_OUTPUT;
        }
        if (st == VG_OK) k++;
    }
    if (st != VG_OK) return st;
    for (int64_t j = 0; j < k; j++) {
        memcpy(rec->by_id[nr + j].id, rec->kept[j].id, VG_RUN_ID_LEN + 1);
        rec->by_id[nr + j].pos = nr + j;
        rec->kept[j].index = nr + j;
        rec->copied[nr + j] = 0;
        if (rec->state[nr + j] != VG__IN_OUTPUT) memset(&rec->rows[nr + j], 0, sizeof *rec->rows);
    }
    rec->n_all = nr + k;
    qsort(rec->by_id, (size_t)rec->n_all, sizeof *rec->by_id, vg__cmp_ref);
    rec->stats.n_kept = k;
    return VG_OK;
}

/* Whether part holds a complete run r of this sweep: read through, its checksum checked. */
static int vg__part_ok(const vg_recorder *rec, int64_t r, const char *part) {
    vg_part_reader pr;
    vg_part_rec h;
    const unsigned char *p;
    int ok = vg_part_open(&pr, part, 1) == 0, n = 0, k;
    while (ok && (k = vg_part_next(&pr, &h, &p)) != 0) {
        if (k < 0) ok = 0;
        else if (n++ == 0) ok = vg__header_problem(rec, r, &h, p) == NULL;
    }
    ok = ok && pr.ended;
    vg_part_reader_close(&pr);
    return ok;
}
