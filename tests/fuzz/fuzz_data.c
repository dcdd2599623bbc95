/* libFuzzer harnesses for the data file parsers of src/data (built twice: FUZZ_IDX for
 * vg_idx_parse, FUZZ_CSV for vg_csv_parse). Besides crashes, leaks and sanitizer reports, they
 * abort when a property breaks: an error is one line starting with the file's name; a parsed
 * IDX array covers exactly the bytes after its header; a parsed CSV table has rows, its label
 * column in range and only finite features. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/parse.h"

static void check_error(const vg_error *err, const char *name) {
    if (strncmp(err->message, name, strlen(name)) != 0 || strchr(err->message, '\n')) {
        fprintf(stderr, "bad error message: %s\n", err->message);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_error err;
#ifdef FUZZ_IDX
    vg_idx idx;
    if (vg_idx_parse(data, size, "f.idx", &idx, &err) != VG_OK) {
        check_error(&err, "f.idx: ");
        return 0;
    }
    size_t header = 4 + 4 * (size_t)idx.ndims;
    if (idx.data != data + header || (uint64_t)idx.count * (uint64_t)idx.item_size != size - header)
        abort();
    uint64_t sum = 0; /* touch every byte the parser vouches for */
    for (size_t i = 0; i < size - header; i++) sum += idx.data[i];
    (void)sum;
#else
    /* The first line of the input names the label column; the rest is the file. */
    const char *text = (const char *)data, *nl = memchr(data, '\n', size);
    char label[64] = "label";
    if (nl && (size_t)(nl - text) < sizeof label) {
        memcpy(label, text, (size_t)(nl - text));
        label[nl - text] = '\0';
        size -= (size_t)(nl - text) + 1;
        text = nl + 1;
    }
    vg_csv t;
    if (vg_csv_parse(text, size, "f.csv", label, &t, &err) != VG_OK) {
        if (err.code != VG_ENOMEM) check_error(&err, "f.csv: ");
        return 0;
    }
    if (t.n_rows < 1 || t.n_cols < 2 || t.label_col < 0 || t.label_col >= t.n_cols ||
        strcmp(t.header[t.label_col], label) != 0)
        abort();
    for (int64_t i = 0; i < t.n_rows * (t.n_cols - 1); i++)
        if (!isfinite(t.x[i])) abort();
    for (int64_t r = 0; r < t.n_rows; r++)
        if (!t.labels[r]) abort();
    vg_csv_free(&t);
#endif
    return 0;
}
