/* The run part file: an append-only journal (part.h). Plain POSIX I/O, an Adler-32 checksum. */
#define _GNU_SOURCE /* O_CLOEXEC */
#include "part.h"

#include "deflate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* --- writing ---------------------------------------------------------------------------- */

int vg_part_create(vg_part_writer *w, const char *path) {
    w->crc = 1; /* Adler-32's start */
    w->bytes = 0;
    w->used = 0;
    w->buf = malloc(VG_PART_BUFFER);
    if (!w->buf) {
        w->fd = -1;
        return ENOMEM;
    }
    /* read too: the output is written from it through this descriptor (vg_part_open_fd) */
    w->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        int e = errno;
        free(w->buf);
        w->buf = NULL;
        return e;
    }
    return 0;
}

/* Writes all of iov (short writes and EINTR resumed). */
static int vg__write_all(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t k = writev(fd, iov, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

/* The part's checksum: Adler-32, vectorized (deflate.c): ~25x cheaper than zlib's CRC-32
 * here, and enough to tell a damaged part from a whole one. */
static uint32_t vg__crc(uint32_t crc, const void *p, uint64_t n) {
    return vg_adler32_update(crc, p, (size_t)n);
}

/* Writes out what the buffer holds. */
static int vg__flush(vg_part_writer *w) {
    struct iovec iov = {w->buf, w->used};
    int rc = w->used ? vg__write_all(w->fd, &iov, 1) : 0;
    w->used = 0;
    return rc;
}

int vg_part_append(vg_part_writer *w, uint32_t type, uint32_t a, uint32_t b, uint32_t c,
                   const void *payload, uint64_t len) {
    /* Records go out in large writes: per write, a file system's cost is mostly per call. */
    int rc;
    unsigned char *place = vg_part_reserve(w, len, &rc);
    if (rc) return rc;
    if (place) {
        if (len) memcpy(place, payload, (size_t)len);
        return vg_part_commit(w, type, a, b, c, len);
    }
    /* larger than the buffer: written as it is, after what the buffer holds */
    static const unsigned char zeros[8] = {0};
    vg_part_rec rec = {type, a, b, c, len};
    size_t pad = (size_t)(-len & 7); /* every record starts 8-byte aligned */
    size_t whole = sizeof rec + (size_t)len + pad;
    struct iovec iov[3] = {{&rec, sizeof rec}, {(void *)payload, (size_t)len},
                           {(void *)zeros, pad}};
    rc = vg__flush(w);
    if (!rc) rc = vg__write_all(w->fd, iov, 3);
    if (rc) return rc;
    w->crc = vg__crc(w->crc, &rec, sizeof rec);
    w->crc = vg__crc(w->crc, payload, len);
    w->crc = vg__crc(w->crc, zeros, pad);
    w->bytes += whole;
    return 0;
}

unsigned char *vg_part_reserve(vg_part_writer *w, uint64_t max_len, int *rc) {
    *rc = w->fd < 0 ? EBADF : 0;
    if (*rc || max_len > VG_PART_BUFFER - sizeof(vg_part_rec) - 7) return NULL;
    if (w->used + sizeof(vg_part_rec) + max_len + 7 > VG_PART_BUFFER) *rc = vg__flush(w);
    return *rc ? NULL : w->buf + w->used + sizeof(vg_part_rec);
}

int vg_part_commit(vg_part_writer *w, uint32_t type, uint32_t a, uint32_t b, uint32_t c,
                   uint64_t len) {
    vg_part_rec rec = {type, a, b, c, len};
    size_t pad = (size_t)(-len & 7), whole = sizeof rec + (size_t)len + pad;
    unsigned char *at = w->buf + w->used;
    memcpy(at, &rec, sizeof rec);
    memset(at + sizeof rec + len, 0, pad);
    w->crc = vg__crc(w->crc, at, whole);
    w->used += whole;
    w->bytes += whole;
    return 0;
}

int vg_part_end(vg_part_writer *w) {
    unsigned char end[12];
    uint32_t crc = w->crc;
    uint64_t bytes = w->bytes;
    memcpy(end, &crc, 4);
    memcpy(end + 4, &bytes, 8);
    int rc = vg_part_append(w, VG_PART_END, 0, 0, 0, end, sizeof end);
    if (!rc) rc = vg__flush(w);
    free(w->buf);
    w->buf = NULL;
    return rc;
}

void vg_part_close(vg_part_writer *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    free(w->buf);
    w->buf = NULL;
}

/* --- reading ---------------------------------------------------------------------------- */

const char *vg_part_strerror(int rc) {
    return rc == VG_PART_ENOTREG ? "not a regular file" : strerror(rc);
}

/* Opened without blocking (a FIFO in the parts directory would block open() for ever), and
 * refused unless a regular file. */
int vg_part_open(vg_part_reader *r, const char *path, int verify) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        memset(r, 0, sizeof *r);
        return errno;
    }
    int rc = vg_part_open_fd(r, fd, verify);
    close(fd);
    return rc;
}

int vg_part_open_fd(vg_part_reader *r, int fd, int verify) {
    struct stat sb;
    memset(r, 0, sizeof *r);
    r->crc = 1;
    r->verify = verify;
    if (fstat(fd, &sb) != 0) return errno;
    if (!S_ISREG(sb.st_mode)) return VG_PART_ENOTREG;
    if (sb.st_size <= 0) return 0;
    size_t size = (size_t)sb.st_size;
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (m != MAP_FAILED) {
        r->map = m, r->size = size;
        return 0;
    }
    /* A file system that cannot map files: read it into memory instead. */
    unsigned char *buf = malloc(size);
    if (!buf) return ENOMEM;
    for (size_t at = 0; at < size;) {
        ssize_t k = pread(fd, buf + at, size - at, (off_t)at);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = k < 0 ? errno : EIO;
            free(buf);
            return e;
        }
        at += (size_t)k;
    }
    r->map = buf, r->size = size, r->owned = 1;
    return 0;
}

int vg_part_next(vg_part_reader *r, vg_part_rec *rec, const unsigned char **payload) {
    if (r->ended) return 0;
    if (r->size - r->at < sizeof *rec) return -1; /* ends without END: incomplete */
    const unsigned char *h = r->map + r->at;
    memcpy(rec, h, sizeof *rec);
    if (rec->len > r->size - r->at - sizeof *rec) return -1;
    uint64_t padded = rec->len + (-rec->len & 7);
    if (padded > r->size - r->at - sizeof *rec) return -1;
    const unsigned char *p = h + sizeof *rec;
    if (rec->type == VG_PART_END) {
        uint32_t crc;
        uint64_t bytes;
        if (rec->len != 12 || r->at + sizeof *rec + padded != r->size) return -1;
        memcpy(&crc, p, 4);
        memcpy(&bytes, p + 4, 8);
        if (bytes != r->at || (r->verify && crc != r->crc)) return -1;
        r->ended = 1;
        return 0;
    }
    if (r->verify) r->crc = vg__crc(r->crc, h, sizeof *rec + padded);
    r->at += sizeof *rec + padded;
    *payload = p;
    return 1;
}

void vg_part_reader_close(vg_part_reader *r) {
    if (r->map && r->owned) free((void *)r->map);
    else if (r->map) munmap((void *)r->map, r->size);
    memset(r, 0, sizeof *r);
}

/* --- payloads ---------------------------------------------------------------------------- */

void vg_buf_put(vg_buf *b, const void *p, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        void *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q, b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

void vg_buf_u32(vg_buf *b, uint32_t v) { vg_buf_put(b, &v, sizeof v); }
void vg_buf_i64(vg_buf *b, int64_t v) { vg_buf_put(b, &v, sizeof v); }
void vg_buf_f64(vg_buf *b, double v) { vg_buf_put(b, &v, sizeof v); }

void vg_buf_str(vg_buf *b, const char *s) {
    size_t n = s ? strlen(s) : 0;
    vg_buf_u32(b, (uint32_t)n);
    vg_buf_put(b, s, n);
}

void vg_buf_free(vg_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

const void *vg_cur_bytes(vg_cursor *c, size_t n) {
    if (c->bad || n > c->n - c->at) {
        c->bad = 1;
        return NULL;
    }
    const void *p = c->p + c->at;
    c->at += n;
    return p;
}

uint32_t vg_cur_u32(vg_cursor *c) {
    uint32_t v = 0;
    const void *p = vg_cur_bytes(c, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}

int64_t vg_cur_i64(vg_cursor *c) {
    int64_t v = 0;
    const void *p = vg_cur_bytes(c, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}

double vg_cur_f64(vg_cursor *c) {
    double v = 0;
    const void *p = vg_cur_bytes(c, sizeof v);
    if (p) memcpy(&v, p, sizeof v);
    return v;
}

void vg_cur_str(vg_cursor *c, char *buf, size_t size) {
    uint32_t n = vg_cur_u32(c);
    const char *p = vg_cur_bytes(c, n);
    if (!p || n >= size) {
        c->bad = 1;
        if (size) buf[0] = '\0';
        return;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
}

char *vg_cur_strdup(vg_cursor *c, int *oom) {
    uint32_t n = vg_cur_u32(c);
    const char *p = vg_cur_bytes(c, n);
    if (!p) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        *oom = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}
