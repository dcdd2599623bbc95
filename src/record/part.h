/* A run's part file: an append-only journal of what the run recorded, written by the worker
 * that trains the run without taking the HDF5 lock, made durable (fsync) and renamed when the
 * run ends. The output is written once, from the part, by vgsweep's HDF5 code (emit.c); a
 * --resume rebuilds the output from the parts the same way. Internal to src/record.
 *
 * Layout (docs/FORMAT.md, "Part files"): a sequence of records, each a 24-byte header
 *   uint32 type, a, b, c; uint64 length
 * in the machine's byte order, then `length` payload bytes and zeros up to a multiple of 8
 * (records and payloads start 8-byte aligned). The first record is VG_PART_HEADER
 * (a = VG_PART_VERSION, b = 0x01020304: the byte order), the last VG_PART_END, whose payload
 * is the Adler-32 (zlib's definition) of every byte before the END record and their count: a
 * part that does not end so is incomplete or damaged, and its run is run again. */
#ifndef VGSWEEP_RECORD_PART_H
#define VGSWEEP_RECORD_PART_H

#include <stddef.h>
#include <stdint.h>

#include "vgsweep/files.h"
#include <sys/types.h>

#define VG_PART_VERSION 3 /* 2: a one-chunk tensor is one CHUNK record (slot 0); 3: the run
                           * contract (axes, attributes; no layer shapes) in LAYOUT */
#define VG_PART_BYTE_ORDER 0x01020304u

typedef enum vg_part_type {
    VG_PART_HEADER = 1, /* payload: sweep name (str), sweep seed (u64), run id (str) */
    VG_PART_LAYOUT = 2, /* payload: the run contract: attributes, axes, tensor specs (writer.c) */
    VG_PART_CHUNK = 3,  /* a = tensor, b = slot, c = HDF5 filter mask; payload: the chunk as
                         * stored (shuffled, deflated); a one-chunk tensor: all of it, b = 0 */
    VG_PART_RAW = 4,    /* a = tensor, b = slot; payload: the slot's float32 values (native) */
    VG_PART_RESULT = 5, /* payload: status, message, series (writer.c) */
    VG_PART_END = 6,    /* payload: Adler-32 (u32) and byte count (u64) of everything before */
} vg_part_type;

typedef struct vg_part_rec {
    uint32_t type, a, b, c;
    uint64_t len;
} vg_part_rec;

/* --- writing ---------------------------------------------------------------------------- */

#define VG_PART_BUFFER ((size_t)1 << 20) /* records are written out in pieces of this size */

typedef struct vg_part_writer {
    int fd;             /* -1 when closed */
    uint32_t crc;       /* checksum (Adler-32) of every byte appended so far */
    uint64_t bytes;     /* appended so far */
    unsigned char *buf; /* (VG_PART_BUFFER) records not yet written out */
    size_t used;
} vg_part_writer;

/* Each returns 0 or the errno of the failure; a write error may show at a later append (the
 * records wait in a buffer) or at vg_part_end. */
int vg_part_create(vg_part_writer *w, const char *path);
int vg_part_append(vg_part_writer *w, uint32_t type, uint32_t a, uint32_t b, uint32_t c,
                   const void *payload, uint64_t len);
/* Room for a record of at most max_len payload bytes, to be made in place and appended by
 * vg_part_commit (no copy): the payload's place in the buffer, or NULL when no record that
 * large is buffered (use vg_part_append) or when making room failed (*rc: the errno). */
unsigned char *vg_part_reserve(vg_part_writer *w, uint64_t max_len, int *rc);
/* Appends the record whose len payload bytes (at most the reserved max_len) were put at the
 * place vg_part_reserve gave. */
int vg_part_commit(vg_part_writer *w, uint32_t type, uint32_t a, uint32_t b, uint32_t c,
                   uint64_t len);
/* Appends the END record and writes out everything (the caller then syncs and closes w->fd,
 * or hands it over). */
int vg_part_end(vg_part_writer *w);
/* Closes without finishing (the caller deletes the file). */
void vg_part_close(vg_part_writer *w);

/* --- reading ---------------------------------------------------------------------------- */

typedef struct vg_part_reader {
    const unsigned char *map; /* the whole file, mapped read-only (or read, when owned) */
    int owned;                /* map is a malloc'ed copy: mmap was refused */
    size_t size, at;
    int verify;               /* check the checksum of the END record */
    uint32_t crc;
    int ended;                /* the END record was read (and matched, when verifying) */
} vg_part_reader;

/* vg_part_open's error for a path that is not a regular file (a FIFO, a directory, ...);
 * vg_part_strerror names it, and strerror() any other. */
#define VG_PART_ENOTREG (-2)
const char *vg_part_strerror(int rc);

/* 0 or errno. verify: check the checksum (a part from before this session); without it, only
 * the records' structure is checked (a part this process has just written and synced). */
int vg_part_open(vg_part_reader *r, const char *path, int verify);
/* The same from an open descriptor (left open: the mapping does not need it). */
int vg_part_open_fd(vg_part_reader *r, int fd, int verify);
/* The next record and a view of its payload (valid until the reader is closed). Returns 1, 0
 * after the END record, or -1 when the file is damaged or incomplete. */
int vg_part_next(vg_part_reader *r, vg_part_rec *rec, const unsigned char **payload);
void vg_part_reader_close(vg_part_reader *r);

/* --- payloads ---------------------------------------------------------------------------- */

/* A growing byte buffer for composing payloads; oom is set (and later puts ignored) when
 * memory runs out. */
typedef struct vg_buf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} vg_buf;

void vg_buf_put(vg_buf *b, const void *p, size_t n);
void vg_buf_u32(vg_buf *b, uint32_t v);
void vg_buf_i64(vg_buf *b, int64_t v);
void vg_buf_f64(vg_buf *b, double v);
void vg_buf_str(vg_buf *b, const char *s); /* u32 length, bytes (no NUL); NULL as "" */
void vg_buf_free(vg_buf *b);

/* Reads a payload back; bad is set (and zeros returned) past its end. */
typedef struct vg_cursor {
    const unsigned char *p;
    size_t n, at;
    int bad;
} vg_cursor;

uint32_t vg_cur_u32(vg_cursor *c);
int64_t vg_cur_i64(vg_cursor *c);
double vg_cur_f64(vg_cursor *c);
/* A view of n bytes, or NULL (bad) when fewer remain. */
const void *vg_cur_bytes(vg_cursor *c, size_t n);
/* Copies a string into buf (size bytes, NUL-terminated); bad when it does not fit. */
void vg_cur_str(vg_cursor *c, char *buf, size_t size);
/* A string as a malloc'ed copy, or NULL (bad, or out of memory: *oom set). */
char *vg_cur_strdup(vg_cursor *c, int *oom);

#endif
