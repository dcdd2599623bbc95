/* Ownership of an output: one vgsweep at a time writes <output>, <output>.tmp and
 * <output>.parts. The owner holds a write lock (fcntl record lock) on <output>.lock.
 *
 * Why fcntl locks: the kernel drops them when their holder dies, however it dies (kill -9,
 * a crash, the machine losing power for a local file system), so a stale lock file never
 * blocks the next run; and they are the locks NFS carries to the server (NLM for NFSv3, the
 * protocol's own locks for NFSv4), so two machines sharing the directory see each other.
 * Open-file-description locks (F_OFD_SETLK, Linux >= 3.15) are preferred: they belong to the
 * open file, not to the process, so no other close() of the same file in this process (HDF5,
 * a library) can drop them. Where they are missing, F_SETLK (process-owned) is used.
 *
 * The lock file holds "pid <pid> host <host> since <ISO 8601 UTC>" for the message a second
 * vgsweep shows. It is deleted by its holder when the holder is done (while still locked);
 * taking the lock therefore checks, after locking, that the file locked is still the one under
 * the name (same device and inode), and starts again otherwise: a process that opened the
 * file just before its holder deleted it would else lock a file nobody else can see. A file
 * left by a killed holder is harmless: it is not locked, and the next run takes it over. */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include "vgsweep/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VG__LOCK_SUFFIX ".lock"
#define VG__LOCK_TRIES 100 /* deleted under us this often in a row: give up */

struct vg_output_lock {
    int fd;
    char *path; /* <output>.lock */
};

/* Write lock on the whole file, without waiting. 0, or an errno (EAGAIN/EACCES: held). */
static int vg__setlk(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return 0;
    if (errno != EINVAL) return errno; /* EINVAL: the kernel has no OFD locks */
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
#endif
    return fcntl(fd, F_SETLK, &fl) == 0 ? 0 : errno;
}

/* The holder's line from the lock file, without its newline ("" when it has none yet: the
 * holder locks before it writes). */
static void vg__read_holder(int fd, char *buf, size_t size) {
    ssize_t n = pread(fd, buf, size - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

static void vg__write_holder(int fd) {
    char host[256], since[32], line[400];
    time_t now = time(NULL);
    struct tm tm;
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    if (!gmtime_r(&now, &tm) || strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(since, sizeof since, "unknown");
    int n = snprintf(line, sizeof line, "pid %ld host %s since %s\n", (long)getpid(), host, since);
    /* Only for messages: a failure to write it does not matter. */
    if (ftruncate(fd, 0) == 0 && n > 0 && pwrite(fd, line, (size_t)n, 0) < 0) return;
}

vg_status vg_output_lock_take(const char *output, vg_output_lock **out, vg_error *err) {
    *out = NULL;
    size_t n = strlen(output);
    char *path = malloc(n + sizeof VG__LOCK_SUFFIX);
    if (!path) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", output);
    memcpy(path, output, n);
    memcpy(path + n, VG__LOCK_SUFFIX, sizeof VG__LOCK_SUFFIX);
    for (int tries = 0; tries < VG__LOCK_TRIES; tries++) {
        /* O_NOFOLLOW: a symlink planted as the lock file is not followed into another file. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
        if (fd < 0) {
            int e = errno;
            free(path);
            return vg_error_set(err, VG_EUSAGE, "%s: cannot create its lock file %s%s: %s", output,
                                output, VG__LOCK_SUFFIX, strerror(e));
        }
        struct stat fsb, psb;
        if (fstat(fd, &fsb) != 0 || !S_ISREG(fsb.st_mode)) {
            close(fd);
            vg_error_set(err, VG_EUSAGE, "%s: its lock file %s is not a regular file", output,
                         path);
            free(path);
            return VG_EUSAGE;
        }
        int rc = vg__setlk(fd);
        if (rc == EAGAIN || rc == EACCES) {
            char holder[400];
            vg__read_holder(fd, holder, sizeof holder);
            close(fd);
            vg_error_set(err, VG_EUSAGE,
                         "%s: in use by another vgsweep (%s; lock file %s); wait for it to end "
                         "or stop it",
                         output, holder[0] ? holder : "it is starting", path);
            free(path);
            return VG_EUSAGE;
        }
        if (rc != 0) {
            close(fd);
            vg_error_set(err, VG_EUSAGE,
                         "%s: cannot lock %s: %s (the file system has no working fcntl locks; "
                         "for NFS, is the lock service running?)",
                         output, path, strerror(rc));
            free(path);
            return VG_EUSAGE;
        }
        /* Locked: but is it still the file under the name (see the top of this file)? */
        if (stat(path, &psb) != 0 || psb.st_dev != fsb.st_dev || psb.st_ino != fsb.st_ino) {
            close(fd);
            continue;
        }
        vg__write_holder(fd);
        vg_output_lock *lk = malloc(sizeof *lk);
        if (!lk) {
            unlink(path);
            close(fd);
            free(path);
            return vg_error_set(err, VG_ENOMEM, "%s: out of memory", output);
        }
        lk->fd = fd;
        lk->path = path;
        *out = lk;
        return VG_OK;
    }
    vg_error_set(err, VG_EUSAGE, "%s: cannot lock %s: it keeps being deleted", output, path);
    free(path);
    return VG_EUSAGE;
}

void vg_output_lock_release(vg_output_lock *lk) {
    if (!lk) return;
    /* Deleted while still locked, so that no one can lock it in between (see the top). */
    unlink(lk->path);
    close(lk->fd);
    free(lk->path);
    free(lk);
}
