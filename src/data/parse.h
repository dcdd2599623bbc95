/* The file parsers of src/data, on bytes in memory (the fuzz targets in tests/fuzz call them
 * directly). Every error message starts with the file's name. */
#ifndef VG_DATA_PARSE_H
#define VG_DATA_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "vgsweep/error.h"

/* An IDX array of unsigned bytes: dims[0] items of item_size bytes each. */
typedef struct vg_idx {
    int ndims;
    int64_t dims[8];
    int64_t count, item_size;
    const uint8_t *data; /* into the parsed buffer */
} vg_idx;

/* Checks the magic number (0, 0, 0x08, ndims), the dimensions and that the size is exact. */
vg_status vg_idx_parse(const uint8_t *buf, size_t n, const char *name, vg_idx *out, vg_error *err);

/* Reads a whole file, gunzipping it when it is gzip (zlib reads plain files as they are). */
vg_status vg_file_read(const char *path, uint8_t **buf, size_t *n, vg_error *err);

/* A CSV table: a header row, then rows of numbers except the label column, kept as text. */
typedef struct vg_csv {
    int n_cols, label_col; /* label_col indexes the header */
    int64_t n_rows;
    char **header;         /* (n_cols) */
    float *x;              /* (n_rows, n_cols - 1): the feature columns in file order */
    char **labels;         /* (n_rows) */
    int64_t *lines;        /* (n_rows) the file line of each row, for messages */
} vg_csv;

vg_status vg_csv_parse(const char *buf, size_t n, const char *name, const char *label,
                       vg_csv *out, vg_error *err);
void vg_csv_free(vg_csv *t);

#endif
