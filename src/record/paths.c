/* The files of an output: names, fsync and atomic rename, the parts directory's names and
 * cleaning, the sweep's runs by id, the check that an HDF5 file (the parts' manifest) is this
 * sweep's. */
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

char *vg__strcat2(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

/* The directory part of path ("." when there is none), malloc'ed. */
char *vg__dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0) n = 1; /* "/x.h5" */
    char *dir = malloc(n + 1);
    if (!dir) return NULL;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    return dir;
}

int vg__exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* A directory itself, not a symbolic link to one: the parts directory is vgsweep's own. */
int vg__is_dir(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

vg_status vg__fsync_path(const char *path, int is_dir, const char *file, vg_error *err) {
    int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0)
        return vg_error_set(err, VG_EIO, "%s: cannot open %s to sync it: %s", file, path,
                            strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    /* Some file systems cannot sync a directory (EINVAL); the rename is then as durable as
     * they make it. */
    if (rc != 0 && !(is_dir && e == EINVAL))
        return vg_error_set(err, VG_EIO, "%s: cannot sync %s: %s", file, path, strerror(e));
    return VG_OK;
}

vg_status vg__fsync_dir_of(const char *path, const char *file, vg_error *err) {
    char *dir = vg__dirname(path);
    if (!dir) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", file);
    vg_status st = vg__fsync_path(dir, 1, file, err);
    free(dir);
    return st;
}

/* fsync(from), rename(from, to), fsync(the directory): to is then durable. */
vg_status vg__commit(const char *from, const char *to, const char *file, vg_error *err) {
    vg_status st = vg__fsync_path(from, 0, file, err);
    if (st != VG_OK) return st;
    if (rename(from, to) != 0)
        return vg_error_set(err, VG_EIO, "%s: cannot rename %s to %s: %s", file, from, to,
                            strerror(errno));
    return vg__fsync_dir_of(to, file, err);
}

int vg__is_run_id(const char *s, size_t n) {
    if (n != VG_RUN_ID_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* What vgsweep writes into a parts directory: manifest.h5, <id>.part, and their .tmp (and
 * <id>.h5, the part files of vgsweep before part format 1, deleted with the rest). */
int vg__is_part_name(const char *name, int *is_part, int *is_tmp) {
    size_t n = strlen(name);
    *is_part = *is_tmp = 0;
    if (n > 4 && strcmp(name + n - 4, ".tmp") == 0) {
        *is_tmp = 1;
        n -= 4;
    }
    if (n == sizeof VG__MANIFEST - 1 && strncmp(name, VG__MANIFEST, n) == 0) return 1;
    if (n == VG_RUN_ID_LEN + 5 && strncmp(name + VG_RUN_ID_LEN, ".part", 5) == 0 &&
        vg__is_run_id(name, VG_RUN_ID_LEN)) {
        *is_part = 1;
        return 1;
    }
    return n == VG_RUN_ID_LEN + 3 && strncmp(name + VG_RUN_ID_LEN, ".h5", 3) == 0 &&
           vg__is_run_id(name, VG_RUN_ID_LEN);
}

/* Deletes what vgsweep wrote into dir (only_tmp: only the .tmp files), then dir itself unless
 * only_tmp. A directory holding other files stays, with an error. */
vg_status vg__clear_parts(const char *dir, int only_tmp, const char *file, vg_error *err) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return VG_OK;
        return vg_error_set(err, VG_EIO, "%s: cannot read %s: %s", file, dir, strerror(errno));
    }
    vg_status st = VG_OK;
    size_t n = strlen(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int is_part, is_tmp;
        if (!vg__is_part_name(e->d_name, &is_part, &is_tmp) || (only_tmp && !is_tmp)) continue;
        if (strcmp(e->d_name, VG__MANIFEST) == 0) continue; /* last, below */
        char *p = malloc(n + strlen(e->d_name) + 2);
        if (!p) {
            st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", file);
            break;
        }
        sprintf(p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT && st == VG_OK)
            st = vg_error_set(err, VG_EIO, "%s: cannot delete %s: %s", file, p, strerror(errno));
        free(p);
    }
    closedir(d);
    /* The manifest goes last: a parts directory that holds parts always says whose they are
     * (a kill while deleting leaves at worst an empty directory, which vg__parts_empty sees). */
    if (st == VG_OK && !only_tmp) {
        char *p = malloc(n + sizeof VG__MANIFEST + 2);
        if (!p) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", file);
        sprintf(p, "%s/%s", dir, VG__MANIFEST);
        if (unlink(p) != 0 && errno != ENOENT)
            st = vg_error_set(err, VG_EIO, "%s: cannot delete %s: %s", file, p, strerror(errno));
        free(p);
    }
    if (st == VG_OK && !only_tmp && rmdir(dir) != 0 && errno != ENOENT)
        st = vg_error_set(err, VG_EIO, "%s: cannot remove %s: %s%s", file, dir, strerror(errno),
                          errno == ENOTEMPTY ? " (it holds files vgsweep did not write)" : "");
    return st;
}

/* Whether dir holds neither a manifest nor a finished part (only .tmp files, or nothing). */
int vg__parts_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)) != NULL) {
        int is_part, is_tmp;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        empty = vg__is_part_name(e->d_name, &is_part, &is_tmp) && is_tmp;
    }
    closedir(d);
    return empty;
}

int vg__cmp_ref(const void *a, const void *b) {
    return strcmp(((const vg__run_ref *)a)->id, ((const vg__run_ref *)b)->id);
}

/* Run r's settings: one of the sweep's runs, or one kept from before outside it. */
const vg_run_config *vg__cfg(const vg_recorder *rec, int64_t r) {
    return r < rec->info.n_runs ? &rec->info.runs[r] : &rec->kept[r - rec->info.n_runs];
}

/* Position of run id (among the sweep's runs and the kept ones), or -1. */
int64_t vg__find_run(const vg_recorder *rec, const char *id) {
    vg__run_ref key;
    snprintf(key.id, sizeof key.id, "%s", id);
    const vg__run_ref *r = bsearch(&key, rec->by_id, (size_t)rec->n_all, sizeof *rec->by_id,
                                   vg__cmp_ref);
    return r ? r->pos : -1;
}

char *vg__part_path(const vg_recorder *rec, const char *id, int tmp) {
    size_t n = strlen(rec->parts) + VG_RUN_ID_LEN + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s.part%s", rec->parts, id, tmp ? ".tmp" : "");
    return p;
}

void vg__now_iso(char *buf, size_t size) {
    time_t now = time(NULL);
    struct tm tm;
    if (now == (time_t)-1 || !gmtime_r(&now, &tm) ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "unknown");
}

/* What path is when it exists and is not a regular file ("a FIFO", ...), else NULL; opened
 * without blocking, as vg_part_open does. */
const char *vg__not_regular(const char *path) {
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    int ok = fd >= 0 ? fstat(fd, &sb) == 0 : stat(path, &sb) == 0; /* a socket: ENXIO */
    if (fd >= 0) close(fd);
    return ok ? vg_file_kind(sb.st_mode) : NULL;
}

/* Opens an HDF5 file read-only and checks it is a vgsweep file of this format version and of
 * this sweep (name and seed). what: "output" or "parts directory" for messages; shown: path
 * for messages. Must hold the lock. */
vg_status vg__open_same_sweep(const vg_recorder *rec, const char *file, const char *shown,
                                     const char *format, hid_t *out, vg_error *err) {
    char got_format[64], name[512];
    int64_t version = -1;
    uint64_t seed = 0;
    /* HDF5 opens with a blocking open(): a FIFO would wait forever for a writer */
    const char *kind = vg__not_regular(file);
    if (kind) {
        *out = H5I_INVALID_HID;
        return vg_error_set(err, VG_EUSAGE, "%s: not a regular file (%s); nothing was changed",
                            shown, kind);
    }
    *out = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*out < 0) {
        vg__obj o = {H5I_INVALID_HID, shown, "/", 0};
        vg__fail(err, &o, "cannot open as an HDF5 file; nothing was changed");
        if (err) err->code = VG_EUSAGE;
        return VG_EUSAGE;
    }
    const char *hint = "nothing was changed; choose another --output, or pass --force to "
                       "replace it";
    if (!vg_h5_attr_str(*out, "format", got_format, sizeof got_format) ||
        strcmp(got_format, format) != 0) {
        H5Fclose(*out);
        *out = H5I_INVALID_HID;
        return vg_error_set(err, VG_EUSAGE, "%s: not written by vgsweep; %s", shown, hint);
    }
    double v = -1;
    if (vg_h5_attr_num(*out, "format_version", &v)) version = (int64_t)v;
    if (version != VG_FORMAT_VERSION) {
        H5Fclose(*out);
        *out = H5I_INVALID_HID;
        return vg_error_set(err, VG_EUSAGE,
                            "%s: record format version %lld, this vgsweep writes version %d and "
                            "cannot resume it; %s",
                            shown, (long long)version, VG_FORMAT_VERSION, hint);
    }
    vg_h5_attr_str(*out, "sweep_name", name, sizeof name);
    vg_h5_attr_u64(*out, "sweep_seed", &seed);
    if (strcmp(name, rec->info.sweep_name ? rec->info.sweep_name : "") != 0 ||
        seed != rec->info.sweep_seed) {
        H5Fclose(*out);
        *out = H5I_INVALID_HID;
        return vg_error_set(err, VG_EUSAGE,
                            "%s: holds sweep \"%s\" (seed %llu), not \"%s\" (seed %llu); %s",
                            shown, name, (unsigned long long)seed, rec->info.sweep_name,
                            (unsigned long long)rec->info.sweep_seed, hint);
    }
    return VG_OK;
}
