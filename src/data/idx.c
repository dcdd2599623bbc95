/* IDX files (LeCun's MNIST format, also Fashion-MNIST's): a 4-byte magic number 0, 0, type,
 * ndims; ndims big-endian uint32 dimensions; then the elements, row-major. Only unsigned bytes
 * (type 0x08) are read: what image and label files hold. */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>

#include "data/parse.h"

vg_status vg_idx_parse(const uint8_t *buf, size_t n, const char *name, vg_idx *out,
                       vg_error *err) {
    memset(out, 0, sizeof *out);
    if (n == 0) return vg_error_set(err, VG_ECONFIG, "%s: the file is empty", name);
    if (n < 4)
        return vg_error_set(err, VG_ECONFIG, "%s: truncated: %zu bytes, shorter than the IDX "
                            "magic number", name, n);
    if (buf[0] != 0 || buf[1] != 0 || buf[2] != 0x08 || buf[3] < 1 || buf[3] > 8) {
        if (buf[0] == 0 && buf[1] == 0 && buf[3] >= 1 && buf[3] <= 8)
            return vg_error_set(err, VG_ECONFIG, "%s: IDX element type 0x%02x; only unsigned "
                                "bytes (0x08) are read", name, buf[2]);
        return vg_error_set(err, VG_ECONFIG, "%s: not an IDX file: magic number 0x%02x%02x%02x%02x "
                            "(expected 0x000008 then 1..8 dimensions, e.g. 0x00000803)",
                            name, buf[0], buf[1], buf[2], buf[3]);
    }
    out->ndims = buf[3];
    size_t header = 4 + 4 * (size_t)out->ndims;
    if (n < header)
        return vg_error_set(err, VG_ECONFIG, "%s: truncated: %zu bytes, shorter than its "
                            "%zu-byte header", name, n, header);
    uint64_t item = 1;
    for (int d = 0; d < out->ndims; d++) {
        const uint8_t *p = buf + 4 + 4 * d;
        out->dims[d] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                                 (uint32_t)p[2] << 8 | p[3]);
        if (d > 0) {
            item *= (uint64_t)out->dims[d];
            if (item > ((uint64_t)1 << 31))
                return vg_error_set(err, VG_ECONFIG, "%s: an item of more than 2^31 bytes", name);
        }
    }
    out->count = out->dims[0];
    out->item_size = (int64_t)item;
    uint64_t want = (uint64_t)out->count * item; /* < 2^32 * 2^31: no overflow */
    if (n - header < want)
        return vg_error_set(err, VG_ECONFIG, "%s: truncated: %lld items of %lld bytes need %llu "
                            "bytes after the header, the file has %zu",
                            name, (long long)out->count, (long long)out->item_size,
                            (unsigned long long)want, n - header);
    if (n - header > want)
        return vg_error_set(err, VG_ECONFIG, "%s: %zu bytes after its %lld items (not an IDX "
                            "file, or its header is wrong)", name, (size_t)(n - header - want),
                            (long long)out->count);
    out->data = buf + header;
    return VG_OK;
}

vg_status vg_file_read(const char *path, uint8_t **buf, size_t *n, vg_error *err) {
    *buf = NULL;
    *n = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return vg_error_set(err, VG_ECONFIG, "%s: cannot open: %s", path,
                            errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1 << 17);
    /* a gzip file ends with its length mod 2^32: start the buffer at that size */
    size_t cap = 1 << 20, used = 0;
    FILE *raw = fopen(path, "rb");
    unsigned char head[2], tail[4];
    if (raw && fread(head, 1, 2, raw) == 2 && head[0] == 0x1f && head[1] == 0x8b &&
        fseek(raw, -4, SEEK_END) == 0 && fread(tail, 1, 4, raw) == 4) {
        size_t hint = (size_t)tail[0] | (size_t)tail[1] << 8 | (size_t)tail[2] << 16 |
                      (size_t)tail[3] << 24;
        if (hint + 1 > cap && hint < ((size_t)1 << 32)) cap = hint + 1; /* +1: sees the end */
    }
    if (raw) fclose(raw);
    /* a large buffer on huge pages: fewer page faults while zlib fills it */
    uint8_t *b = NULL;
    if (cap >= ((size_t)4 << 20)) {
        void *p = NULL;
        if (posix_memalign(&p, (size_t)2 << 20, cap) == 0) b = p;
#ifdef MADV_HUGEPAGE
        if (b) madvise(b, cap, MADV_HUGEPAGE);
#endif
    } else {
        b = malloc(cap);
    }
    for (;;) {
        if (!b) {
            gzclose(f);
            return vg_error_set(err, VG_ENOMEM, "%s: out of memory reading it", path);
        }
        if (used == cap) {
            uint8_t *g = cap > ((size_t)1 << 33) ? NULL : realloc(b, cap * 2);
            if (!g) free(b);
            b = g, cap *= 2;
            continue;
        }
        unsigned want = cap - used > (1u << 30) ? 1u << 30 : (unsigned)(cap - used);
        int got = gzread(f, b + used, want);
        if (got < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            vg_status st = vg_error_set(err, VG_ECONFIG, "%s: %s: %s", path,
                                        code == Z_ERRNO ? "cannot read" : "corrupt or truncated gzip data",
                                        code == Z_ERRNO ? strerror(errno) : msg);
            free(b);
            gzclose(f);
            return st;
        }
        if (got == 0) break;
        used += (size_t)got;
    }
    int code;
    const char *msg = gzerror(f, &code);
    if (code != Z_OK && code != Z_STREAM_END) { /* zlib >= 1.2.11 reports a cut stream here */
        vg_status st = vg_error_set(err, VG_ECONFIG, "%s: corrupt or truncated gzip data: %s",
                                    path, msg);
        free(b);
        gzclose(f);
        return st;
    }
    gzclose(f);
    *buf = b;
    *n = used;
    return VG_OK;
}
