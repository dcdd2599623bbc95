/* A zlib stream (RFC 1950/1951) for byte-shuffled float32 chunks, as HDF5's shuffle + deflate
 * filters store them and any HDF5 reader inflates. Internal to src/record.
 *
 * The shuffled chunk is four planes, one per byte of the floats. The three low planes are
 * mantissa bits, noise to a compressor: they go into stored blocks. The top plane (sign and
 * exponent: few distinct values) goes into one Huffman-coded block of literals, coded here;
 * zlib itself would spend ~25 us on a 4 KiB plane where this takes a few. A plane made mostly
 * of runs (the zeros of dead units, of gradients that vanished to exact zeros) is given to
 * zlib with run-length matching (Z_RLE), which shrinks runs a hundredfold. */
#ifndef VGSWEEP_RECORD_DEFLATE_H
#define VGSWEEP_RECORD_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

/* What vg_deflate_shuffled keeps between calls: zlib's stream for run-length planes. Zero it
 * before the first call; vg_deflater_free frees it. One per thread. */
typedef struct vg_deflater {
    void *zlib;  /* z_stream *, made at the first plane that needs it */
    int failed;  /* zlib could not be set up: planes are stored or Huffman-coded only */
} vg_deflater;

void vg_deflater_free(vg_deflater *d);

/* Bytes vg_deflate_shuffled may write for n input bytes. */
size_t vg_deflate_bound(size_t n);

/* Compresses src (n bytes, n a multiple of 4: the shuffled chunk) into dst (at least
 * vg_deflate_bound(n) bytes); returns the stream's length. */
size_t vg_deflate_shuffled(vg_deflater *d, unsigned char *dst, const unsigned char *src,
                           size_t n);

/* Adler-32 of n bytes (zlib's adler32 with initial value 1), vectorizable; _update continues
 * one (zlib's adler32(adler, p, n)). */
uint32_t vg_adler32(const unsigned char *p, size_t n);
uint32_t vg_adler32_update(uint32_t adler, const unsigned char *p, size_t n);

#endif
