/* The committer: a thread that makes ended parts durable (fsync, rename, one directory sync
 * per batch) while their workers go on training. */
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

/* Makes one ended part durable under its final name: fsync, close, rename. The directory is
 * synced by the caller. Frees nothing. */
static vg_status vg__commit_part(vg_recorder *rec, vg__ended *c, vg_error *err) {
    vg_status st = VG_OK;
    if (fsync(c->fd) != 0)
        st = vg_error_set(err, VG_EIO, "%s: cannot sync %s: %s", rec->path, c->tmp,
                          strerror(errno));
    if (close(c->fd) != 0 && st == VG_OK)
        st = vg_error_set(err, VG_EIO, "%s: cannot close %s: %s", rec->path, c->tmp,
                          strerror(errno));
    c->fd = -1;
    if (st == VG_OK && rename(c->tmp, c->final) != 0)
        st = vg_error_set(err, VG_EIO, "%s: cannot rename %s to %s: %s", rec->path, c->tmp,
                          c->final, strerror(errno));
    if (st != VG_OK) unlink(c->tmp);
    return st;
}

/* Commits a batch of parts (one directory sync for all), then marks their runs done, or lost
 * (to be run again by a --resume; close reports the first such error). Frees the batch. */
static void vg__commit_batch(vg_recorder *rec, vg__ended *batch) {
    vg_error err, dir_err;
    vg_status first = VG_OK, dir_st = VG_OK;
    int renamed = 0;
    for (vg__ended *c = batch; c; c = c->next) {
        vg_status st = vg__commit_part(rec, c, &err);
        if (st == VG_OK) renamed = 1;
        else if (first == VG_OK) first = st;
        c->fd = st == VG_OK; /* reused: 1 when committed */
    }
    /* The renames are durable once the directory is. */
    if (renamed) dir_st = vg__fsync_path(rec->parts, 1, rec->path, &dir_err);
    pthread_mutex_lock(&rec->state_lock);
    for (vg__ended *c = batch; c; c = c->next) {
        int ok = c->fd == 1 && dir_st == VG_OK;
        rec->state[c->pos] = ok ? VG__DONE : VG__TODO;
    }
    if ((first != VG_OK || dir_st != VG_OK) && !rec->commit_failed) {
        rec->commit_failed = 1;
        rec->commit_err = first != VG_OK ? err : dir_err;
    }
    pthread_mutex_unlock(&rec->state_lock);
    while (batch) {
        vg__ended *next = batch->next;
        free(batch->tmp);
        free(batch->final);
        free(batch);
        batch = next;
    }
}

void *vg__committer_main(void *arg) {
    vg_recorder *rec = arg;
    for (;;) {
        pthread_mutex_lock(&rec->commit_lock);
        while (!rec->commit_head && !rec->commit_stop)
            pthread_cond_wait(&rec->commit_cond, &rec->commit_lock);
        vg__ended *batch = rec->commit_head;
        rec->commit_head = rec->commit_tail = NULL;
        pthread_mutex_unlock(&rec->commit_lock);
        if (!batch) return NULL; /* stopped, and nothing left */
        vg__commit_batch(rec, batch);
    }
}

/* Hands an ended part to the committer (or commits it here when there is none). */
void vg__commit_later(vg_recorder *rec, vg__ended *c) {
    if (!rec->committer_started) {
        vg__commit_batch(rec, c);
        return;
    }
    pthread_mutex_lock(&rec->commit_lock);
    if (rec->commit_tail) rec->commit_tail->next = c;
    else rec->commit_head = c;
    rec->commit_tail = c;
    pthread_cond_signal(&rec->commit_cond);
    pthread_mutex_unlock(&rec->commit_lock);
}

/* Waits until every ended part is committed and stops the committer. */
void vg__committer_stop(vg_recorder *rec) {
    if (!rec->committer_started) return;
    pthread_mutex_lock(&rec->commit_lock);
    rec->commit_stop = 1;
    pthread_cond_signal(&rec->commit_cond);
    pthread_mutex_unlock(&rec->commit_lock);
    pthread_join(rec->committer, NULL);
    pthread_cond_destroy(&rec->commit_cond);
    pthread_mutex_destroy(&rec->commit_lock);
    rec->committer_started = 0;
}
