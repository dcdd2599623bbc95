/* A zlib stream (RFC 1950/1951) for byte-shuffled float32 chunks, as HDF5's shuffle + deflate
 * filters store them and any HDF5 reader inflates. Internal to src/record.
 *
 * The shuffled chunk is four planes, one per byte of the floats. The three low planes are
 * mantissa bits, noise to a compressor (zlib shrinks them by ~8 %, only where gradients are
 * exactly zero): they go into stored blocks. The top plane (sign and exponent: few distinct
 * values) goes into one Huffman-coded block of literals, coded here; zlib itself would spend
 * ~25 us on a 4 KiB plane where this takes a few. Same size within ~2 % of zlib's Z_RLE on
 * gradients (it has no run-length matches). */
#ifndef VGSWEEP_RECORD_DEFLATE_H
#define VGSWEEP_RECORD_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes vg_deflate_shuffled may write for n input bytes. */
size_t vg_deflate_bound(size_t n);

/* Compresses src (n bytes, n a multiple of 4: the shuffled chunk) into dst (at least
 * vg_deflate_bound(n) bytes); returns the stream's length. */
size_t vg_deflate_shuffled(unsigned char *dst, const unsigned char *src, size_t n);

/* Adler-32 of n bytes (zlib's adler32 with initial value 1), vectorizable; _update continues
 * one (zlib's adler32(adler, p, n)). */
uint32_t vg_adler32(const unsigned char *p, size_t n);
uint32_t vg_adler32_update(uint32_t adler, const unsigned char *p, size_t n);

#endif
