/* Shuffled float32 chunks as zlib streams: stored mantissa planes, a Huffman-coded exponent
 * plane (deflate.h). The format is RFC 1950 (zlib) around RFC 1951 (deflate) blocks; any
 * inflate reads it (tests/test_record.c checks with zlib's uncompress). */
#include "deflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define VG__MAX_BITS 15    /* literal/length code lengths */
#define VG__MAX_CL_BITS 7  /* code-length code lengths */
#define VG__N_LIT 257      /* literals 0..255 and end-of-block; no lengths: no matches */
#define VG__N_CL 19
#define VG__STORED_MAX 65535

/* Stored blocks cost 5 bytes per 64 KiB; zlib's worst case on a plane is about the same
 * (it falls back to stored blocks) plus its flush markers. */
size_t vg_deflate_bound(size_t n) { return n + 5 * (n / VG__STORED_MAX + 8) + n / 64 + 256; }

void vg_deflater_free(vg_deflater *d) {
    if (d->zlib) {
        deflateEnd(d->zlib);
        free(d->zlib);
    }
    d->zlib = NULL;
}

uint32_t vg_adler32(const unsigned char *p, size_t n) { return vg_adler32_update(1, p, n); }

/* Adler-32 in 32 lanes of 32-bit sums, with no multiplication in the loop. Over blocks
 * t = 0..T-1 of 32 bytes x_t[0..32), from sums a0, b0:
 *   a = a0 + sum_t sum_j x_t[j]
 *   b = b0 + 32 T a0 + 32 sum_t sum_{u<t} sum_j x_u[j] + sum_j (32 - j) sum_t x_t[j]
 * so lane j keeps run[j] = sum of its bytes so far and before[j] = the sum of run[j] before
 * each block. At most VG__ADLER_BLOCKS blocks between reductions: before[j] stays below
 * 255 T^2 / 2 < 2^32. */
#define VG__ADLER_LANES 32
#define VG__ADLER_BLOCKS 4096

uint32_t vg_adler32_update(uint32_t adler, const unsigned char *p, size_t n) {
    uint64_t a = adler & 0xFFFF, b = adler >> 16;
    while (n >= VG__ADLER_LANES) {
        size_t blocks = n / VG__ADLER_LANES;
        if (blocks > VG__ADLER_BLOCKS) blocks = VG__ADLER_BLOCKS;
        uint32_t run[VG__ADLER_LANES] = {0}, before[VG__ADLER_LANES] = {0};
        for (size_t t = 0; t < blocks; t++, p += VG__ADLER_LANES)
            for (int j = 0; j < VG__ADLER_LANES; j++) {
                before[j] += run[j];
                run[j] += p[j];
            }
        uint64_t sum = 0, past = 0, weighted = 0;
        for (int j = 0; j < VG__ADLER_LANES; j++) {
            sum += run[j], past += before[j];
            weighted += (uint64_t)(VG__ADLER_LANES - j) * run[j];
        }
        b = (b + VG__ADLER_LANES * (blocks * a + past) + weighted) % 65521;
        a = (a + sum) % 65521;
        n -= blocks * VG__ADLER_LANES;
    }
    for (size_t i = 0; i < n; i++) { /* the last bytes, one at a time */
        a += p[i];
        b += a;
    }
    return (uint32_t)(b % 65521) << 16 | (uint32_t)(a % 65521);
}

/* --- bits -------------------------------------------------------------------------------- */

typedef struct vg__bits {
    unsigned char *out;
    size_t at;
    uint64_t acc;
    int n;
} vg__bits;

/* Appends n <= 32 bits, LSB first; whole 32-bit words go out as they fill. */
static inline void vg__put(vg__bits *w, uint32_t bits, int n) {
    w->acc |= (uint64_t)bits << w->n;
    w->n += n;
    if (w->n >= 32) {
        uint32_t word = (uint32_t)w->acc;
        for (int i = 0; i < 4; i++) w->out[w->at + (size_t)i] = (unsigned char)(word >> (8 * i));
        w->at += 4;
        w->acc >>= 32;
        w->n -= 32;
    }
}

/* Writes out the accumulator's complete bytes, leaving fewer than 8 bits in it. */
static void vg__align_bits(vg__bits *w) {
    for (; w->n >= 8; w->n -= 8) {
        w->out[w->at++] = (unsigned char)w->acc;
        w->acc >>= 8;
    }
}

/* Pads to a byte boundary and writes out what the accumulator holds. */
static void vg__align(vg__bits *w) {
    w->n = (w->n + 7) & ~7;
    for (; w->n > 0; w->n -= 8) {
        w->out[w->at++] = (unsigned char)w->acc;
        w->acc >>= 8;
    }
    w->acc = 0;
}

/* --- Huffman codes ----------------------------------------------------------------------- */

/* Code lengths (at most limit) of a Huffman code for freq[0..n); unused symbols get 0. A code
 * with one used symbol gets a second one, so that every code is complete, as inflate wants. */
static void vg__lengths(const uint32_t *freq, int n, int limit, uint8_t *len) {
    int sym[VG__N_LIT], count = 0;
    uint32_t f[VG__N_LIT];
    memset(len, 0, (size_t)n);
    for (int i = 0; i < n; i++)
        if (freq[i]) sym[count++] = i;
    if (count == 0) return;
    if (count == 1) {
        len[sym[0]] = 1, len[sym[0] == 0 ? 1 : 0] = 1;
        return;
    }
    for (int shift = 0;; shift++) {
        /* leaves sorted by weight (insertion sort: a few dozen symbols) */
        for (int i = 0; i < count; i++) {
            uint32_t w = (freq[sym[i]] >> shift) | 1;
            int s = sym[i], j = i;
            for (; j > 0 && f[j - 1] > w; j--) f[j] = f[j - 1], sym[j] = sym[j - 1];
            f[j] = w, sym[j] = s;
        }
        /* two-queue Huffman: leaves 0..count-1, internal nodes count..2*count-2 in order of
         * creation (their weights never decrease) */
        uint64_t weight[2 * VG__N_LIT];
        int parent[2 * VG__N_LIT], leaf = 0, node = count, next = count;
        for (int i = 0; i < count; i++) weight[i] = f[i];
        for (; next < 2 * count - 1; next++) {
            int pick[2];
            for (int k = 0; k < 2; k++) {
                if (leaf < count && (node >= next || weight[leaf] <= weight[node]))
                    pick[k] = leaf++;
                else
                    pick[k] = node++;
            }
            weight[next] = weight[pick[0]] + weight[pick[1]];
            parent[pick[0]] = parent[pick[1]] = next;
        }
        int depth[2 * VG__N_LIT], longest = 0;
        depth[2 * count - 2] = 0;
        for (int i = 2 * count - 3; i >= 0; i--) depth[i] = depth[parent[i]] + 1;
        for (int i = 0; i < count; i++)
            if (depth[i] > longest) longest = depth[i];
        if (longest <= limit) {
            for (int i = 0; i < count; i++) len[sym[i]] = (uint8_t)depth[i];
            return;
        }
        /* too deep: flatten the weights and build again */
    }
}

/* Canonical codes (RFC 1951, 3.2.2), bit-reversed for an LSB-first stream. */
static void vg__codes(const uint8_t *len, int n, uint16_t *code) {
    int count[VG__MAX_BITS + 1] = {0}, next[VG__MAX_BITS + 2];
    for (int i = 0; i < n; i++) count[len[i]]++;
    count[0] = 0;
    next[1] = 0;
    for (int b = 1; b <= VG__MAX_BITS; b++) next[b + 1] = (next[b] + count[b]) << 1;
    for (int i = 0; i < n; i++) {
        if (!len[i]) continue;
        uint32_t c = (uint32_t)next[len[i]]++, r = 0;
        for (int b = 0; b < len[i]; b++) r |= ((c >> b) & 1u) << (len[i] - 1 - b);
        code[i] = (uint16_t)r;
    }
}

/* --- blocks ------------------------------------------------------------------------------ */

static void vg__stored(vg__bits *w, const unsigned char *p, size_t n, int final) {
    do {
        size_t k = n > VG__STORED_MAX ? VG__STORED_MAX : n;
        int last = final && k == n;
        vg__put(w, (uint32_t)last, 3); /* BFINAL, BTYPE 00 */
        vg__align(w);
        w->out[w->at++] = (unsigned char)(k & 255), w->out[w->at++] = (unsigned char)(k >> 8);
        w->out[w->at++] = (unsigned char)(~k & 255), w->out[w->at++] = (unsigned char)(~k >> 8 & 255);
        memcpy(w->out + w->at, p, k);
        w->at += k, p += k, n -= k;
    } while (n > 0);
}

/* The final block: p (n bytes) as literals in one dynamic-Huffman block, or stored when that
 * is not smaller. */
static void vg__huffman(vg__bits *w, const unsigned char *p, size_t n) {
    static const uint8_t order[VG__N_CL] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                            11, 4, 12, 3, 13, 2, 14, 1, 15};
    uint32_t freq[VG__N_LIT] = {0}, cl_freq[VG__N_CL] = {0};
    uint8_t len[VG__N_LIT + 1], cl_len[VG__N_CL];
    uint16_t code[VG__N_LIT], cl_code[VG__N_CL];
    /* four counters: a histogram's loop-carried increments otherwise stall on repeats */
    uint32_t h[4][256] = {{0}};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) h[0][p[i]]++, h[1][p[i + 1]]++, h[2][p[i + 2]]++, h[3][p[i + 3]]++;
    for (; i < n; i++) h[0][p[i]]++;
    for (int s = 0; s < 256; s++) freq[s] = h[0][s] + h[1][s] + h[2][s] + h[3][s];
    freq[256] = 1;
    vg__lengths(freq, VG__N_LIT, VG__MAX_BITS, len);
    len[VG__N_LIT] = 0; /* the one distance code: unused */

    /* the code lengths, zero runs as codes 17 (3-10) and 18 (11-138) */
    uint8_t cl_sym[VG__N_LIT + 1], cl_extra[VG__N_LIT + 1];
    int n_cl = 0;
    for (int s = 0; s < VG__N_LIT + 1;) {
        int run = 0;
        while (s + run < VG__N_LIT + 1 && len[s + run] == 0 && run < 138) run++;
        if (run >= 11) cl_sym[n_cl] = 18, cl_extra[n_cl++] = (uint8_t)(run - 11), s += run;
        else if (run >= 3) cl_sym[n_cl] = 17, cl_extra[n_cl++] = (uint8_t)(run - 3), s += run;
        else cl_sym[n_cl] = len[s], cl_extra[n_cl++] = 0, s++;
    }
    for (int k = 0; k < n_cl; k++) cl_freq[cl_sym[k]]++;
    vg__lengths(cl_freq, VG__N_CL, VG__MAX_CL_BITS, cl_len);
    int hclen = VG__N_CL;
    while (hclen > 4 && cl_len[order[hclen - 1]] == 0) hclen--;

    uint64_t bits = 3 + 5 + 5 + 4 + 3 * (uint64_t)hclen;
    for (int k = 0; k < n_cl; k++)
        bits += cl_len[cl_sym[k]] + (cl_sym[k] == 18 ? 7 : cl_sym[k] == 17 ? 3 : 0);
    for (int s = 0; s < VG__N_LIT; s++) bits += (uint64_t)freq[s] * len[s];
    if (bits / 8 + 1 >= n + 5 * (n / VG__STORED_MAX + 1)) {
        vg__stored(w, p, n, 1);
        return;
    }
    vg__codes(len, VG__N_LIT, code);
    vg__codes(cl_len, VG__N_CL, cl_code);
    vg__put(w, 1, 1); /* BFINAL */
    vg__put(w, 2, 2); /* BTYPE 10: dynamic Huffman */
    vg__put(w, VG__N_LIT - 257, 5);
    vg__put(w, 1 - 1, 5);
    vg__put(w, (uint32_t)(hclen - 4), 4);
    for (int k = 0; k < hclen; k++) vg__put(w, cl_len[order[k]], 3);
    for (int k = 0; k < n_cl; k++) {
        vg__put(w, cl_code[cl_sym[k]], cl_len[cl_sym[k]]);
        if (cl_sym[k] == 18) vg__put(w, cl_extra[k], 7);
        else if (cl_sym[k] == 17) vg__put(w, cl_extra[k], 3);
    }
    /* The hot loop: code and length in one table entry, the bit buffer in a register. Three
     * codes (at most 45 bits) join the at most 7 bits left over; then the buffer's 8 bytes are
     * stored whole and the pointer advances by the complete bytes among them, with no branch
     * (the bound leaves room past the end for the store). */
    uint32_t entry[256];
    for (int b = 0; b < 256; b++) entry[b] = code[b] | (uint32_t)len[b] << 16;
    size_t k = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    vg__align_bits(w);
    uint64_t acc = w->acc;
    unsigned nbits = (unsigned)w->n;
    unsigned char *out = w->out + w->at;
    for (; k + 3 <= n; k += 3) {
        uint32_t e0 = entry[p[k]], e1 = entry[p[k + 1]], e2 = entry[p[k + 2]];
        unsigned l0 = e0 >> 16, l1 = e1 >> 16, l2 = e2 >> 16;
        uint64_t bits = (uint64_t)(e0 & 0xFFFFu) | (uint64_t)(e1 & 0xFFFFu) << l0 |
                        (uint64_t)(e2 & 0xFFFFu) << (l0 + l1);
        acc |= bits << nbits;
        nbits += l0 + l1 + l2;
        memcpy(out, &acc, 8);
        out += nbits >> 3;
        acc >>= nbits & ~7u;
        nbits &= 7;
    }
    w->acc = acc, w->n = (int)nbits, w->at = (size_t)(out - w->out);
#endif
    for (; k < n; k++) vg__put(w, code[p[k]], len[p[k]]);
    vg__put(w, code[256], len[256]);
    vg__align(w);
}

/* How many of p[1..n) repeat the byte before. Counted in 64 byte-wide lanes, each at most 255
 * times before they are summed: the compiler keeps the lanes in one vector register (a
 * compare and a subtract per 64 bytes) instead of widening every comparison to 64 bits. */
static size_t vg__repeats(const unsigned char *p, size_t n) {
    enum { LANES = 64, MAX_BLOCKS = 255 };
    size_t same = 0, i = 1;
    while (n > i && n - i >= LANES) {
        unsigned char lane[LANES] = {0};
        size_t blocks = (n - i) / LANES;
        if (blocks > MAX_BLOCKS) blocks = MAX_BLOCKS;
        for (size_t b = 0; b < blocks; b++, i += LANES)
            for (int j = 0; j < LANES; j++) lane[j] += p[i + j] == p[i + j - 1];
        for (int j = 0; j < LANES; j++) same += lane[j];
    }
    for (; i < n; i++) same += p[i] == p[i - 1];
    return same;
}

/* Whether at least `tenths`/10 of p's bytes repeat the one before: runs for zlib's Z_RLE. */
static int vg__runny(const unsigned char *p, size_t n, int tenths) {
    return n > 64 && 10 * vg__repeats(p, n) >= (size_t)tenths * n;
}

/* p (n bytes) as raw deflate blocks from zlib (Z_RLE), the last one final or not; 0 when zlib
 * is not available (the caller codes the plane itself). */
static int vg__zlib_plane(vg_deflater *d, vg__bits *w, size_t cap, const unsigned char *p,
                          size_t n, int final) {
    if (d->failed) return 0;
    z_stream *z = d->zlib;
    if (!z) {
        z = calloc(1, sizeof *z);
        if (!z || deflateInit2(z, 1, Z_DEFLATED, -15, 8, Z_RLE) != Z_OK) {
            free(z);
            d->failed = 1;
            return 0;
        }
        d->zlib = z;
    } else if (deflateReset(z) != Z_OK) {
        return 0;
    }
    z->next_in = (Bytef *)p;
    z->avail_in = (uInt)n;
    z->next_out = w->out + w->at;
    z->avail_out = (uInt)(cap - w->at);
    int rc = deflate(z, final ? Z_FINISH : Z_SYNC_FLUSH); /* both end on a byte boundary */
    if (rc != (final ? Z_STREAM_END : Z_OK) || z->avail_in != 0) return 0;
    w->at += z->total_out;
    return 1;
}

size_t vg_deflate_shuffled(vg_deflater *d, unsigned char *dst, const unsigned char *src,
                           size_t n) {
    size_t m = n / 4, cap = vg_deflate_bound(n) - 4; /* per plane; room before the Adler-32 */
    vg__bits w = {dst, 0, 0, 0};
    dst[w.at++] = 0x78, dst[w.at++] = 0x01; /* deflate, 32 KiB window, no dictionary */
    for (int plane = 0; plane < 4; plane++) {
        const unsigned char *p = src + (size_t)plane * m;
        int final = plane == 3;
        size_t at = w.at;
        /* Mantissa bytes repeat 1 time in 256 unless values are exactly zero: a quarter of
         * repeats means runs of zeros. Exponent bytes repeat often in live gradients, where
         * the Huffman block is as small for a fifth of zlib's time (measured on the benchmark
         * sweep's gradients); only long runs (9 in 10) go to zlib. */
        if (vg__runny(p, m, final ? 9 : 3) && vg__zlib_plane(d, &w, cap, p, m, final)) continue;
        w.at = at; /* zlib gave up part-way: code the plane here */
        if (final) vg__huffman(&w, p, m);
        else if (m > 0) vg__stored(&w, p, m, 0);
    }
    uint32_t a = vg_adler32(src, n);
    dst[w.at++] = (unsigned char)(a >> 24), dst[w.at++] = (unsigned char)(a >> 16);
    dst[w.at++] = (unsigned char)(a >> 8), dst[w.at++] = (unsigned char)a;
    return w.at;
}
