/* CSV: comma-separated, a header row naming the columns, then one sample per row. Cells may be
 * quoted ("a, b" with "" for a quote); spaces around a cell are ignored; CRLF and a missing
 * final newline are accepted; blank lines are skipped. Every cell but the label column's must
 * be a finite number. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "data/parse.h"

/* Splits the line [p, end) into cells, written NUL-terminated into scratch (which has room for
 * the line plus one byte per cell). Returns the number of cells, -1 for an unclosed quote, -2
 * for text between a closing quote and the next comma. */
static int vg__split_line(const char *p, const char *end, char *scratch, char **cells, int max,
                          int *too_many) {
    int n = 0;
    *too_many = 0;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        char *cell = scratch;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) return -1;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') *scratch++ = '"', p += 2;
                    else { p++; break; }
                } else {
                    *scratch++ = *p++;
                }
            }
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            if (p < end && *p != ',') return -2; /* text after the closing quote */
        } else {
            while (p < end && *p != ',') *scratch++ = *p++;
            while (scratch > cell && (scratch[-1] == ' ' || scratch[-1] == '\t')) scratch--;
        }
        *scratch++ = '\0';
        if (n < max) cells[n] = cell;
        else *too_many = 1;
        n++;
        if (p >= end) break;
        p++; /* the comma */
    }
    return n;
}

void vg_csv_free(vg_csv *t) {
    if (!t) return;
    for (int c = 0; t->header && c < t->n_cols; c++) free(t->header[c]);
    for (int64_t r = 0; t->labels && r < t->n_rows; r++) free(t->labels[r]);
    free(t->header);
    free(t->labels);
    free(t->lines);
    free(t->x);
    memset(t, 0, sizeof *t);
}

#define VG__CSV_MAX_COLS 100000

vg_status vg_csv_parse(const char *buf, size_t n, const char *name, const char *label,
                       vg_csv *out, vg_error *err) {
    memset(out, 0, sizeof *out);
    vg_status st = VG_OK;
    /* a line has at most (the file's commas + 1) cells */
    size_t commas = 0;
    for (size_t i = 0; i < n; i++) commas += buf[i] == ',';
    int max_cells = commas + 1 < VG__CSV_MAX_COLS ? (int)commas + 1 : VG__CSV_MAX_COLS;
    char *scratch = malloc(n + (size_t)max_cells + 2);
    char **cells = malloc((size_t)max_cells * sizeof *cells);
    int64_t cap = 0;
    if (!scratch || !cells) {
        st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    const char *p = buf, *end = buf + n;
    int64_t line = 0;
    int have_header = 0, nonblank = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *stop = eol ? eol : end;
        line++;
        const char *le = stop;
        if (le > p && le[-1] == '\r') le--;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t')) q++;
        p = eol ? eol + 1 : end;
        if (q == le) continue; /* blank */
        nonblank = 1;
        if (memchr(q, '\0', (size_t)(le - q))) {
            st = vg_error_set(err, VG_ECONFIG, "%s: line %lld: a NUL byte (not a text file)",
                              name, (long long)line);
            goto done;
        }
        int too_many;
        int nc = vg__split_line(q, le, scratch, cells, max_cells, &too_many);
        if (nc < 0) {
            st = vg_error_set(err, VG_ECONFIG, "%s: line %lld: %s", name, (long long)line,
                              nc == -1 ? "a quote that is not closed on its line"
                                       : "text after a closing quote (a quote inside a quoted "
                                         "cell is written \"\")");
            goto done;
        }
        if (too_many) {
            st = vg_error_set(err, VG_ECONFIG, "%s: line %lld: more than %d columns", name,
                              (long long)line, VG__CSV_MAX_COLS);
            goto done;
        }
        if (!have_header) {
            have_header = 1;
            out->header = calloc((size_t)nc, sizeof *out->header);
            if (!out->header) goto nomem;
            out->n_cols = nc;
            out->label_col = -1;
            for (int c = 0; c < nc; c++) {
                if (!(out->header[c] = strdup(cells[c]))) goto nomem;
                if (out->label_col < 0 && !strcmp(cells[c], label)) out->label_col = c;
            }
            if (out->label_col < 0) {
                const char *hint = vg__suggest(label, (const char *const *)out->header, (size_t)nc);
                char cols[256] = "";
                size_t used = 0;
                for (int c = 0; c < nc && used < sizeof cols - 8; c++)
                    used += (size_t)snprintf(cols + used, sizeof cols - used, "%s\"%.40s\"",
                                             c ? ", " : "", out->header[c]);
                if (hint)
                    st = vg_error_set(err, VG_ECONFIG, "%s: no label column \"%s\" in the header "
                                      "(did you mean \"%s\"?); set data.label",
                                      name, label, hint);
                else
                    st = vg_error_set(err, VG_ECONFIG, "%s: no label column \"%s\" in the header "
                                      "(columns: %s); set data.label", name, label, cols);
                goto done;
            }
            if (nc < 2) {
                st = vg_error_set(err, VG_ECONFIG, "%s: the header has only the label column: no "
                                  "features", name);
                goto done;
            }
            continue;
        }
        if (nc != out->n_cols) {
            st = vg_error_set(err, VG_ECONFIG, "%s: line %lld has %d cells, the header has %d "
                              "(ragged rows)", name, (long long)line, nc, out->n_cols);
            goto done;
        }
        if (out->n_rows == cap) {
            int64_t grown = cap ? cap * 2 : 256;
            float *x = realloc(out->x, (size_t)grown * (size_t)(nc - 1) * sizeof *x);
            if (!x) goto nomem;
            out->x = x;
            char **l = realloc(out->labels, (size_t)grown * sizeof *l);
            if (!l) goto nomem;
            out->labels = l;
            int64_t *ln = realloc(out->lines, (size_t)grown * sizeof *ln);
            if (!ln) goto nomem;
            out->lines = ln;
            cap = grown;
        }
        float *row = out->x + out->n_rows * (nc - 1);
        for (int c = 0, f = 0; c < nc; c++) {
            if (c == out->label_col) continue;
            char *e;
            double v = strtod(cells[c], &e);
            if (!cells[c][0] || *e || !isfinite(v) || fabs(v) > 3.4e38) {
                st = vg_error_set(err, VG_ECONFIG, "%s: line %lld, column %d (\"%.40s\"): \"%.40s\" "
                                  "is not a finite number", name, (long long)line, c + 1,
                                  out->header[c], cells[c]);
                goto done;
            }
            row[f++] = (float)v;
        }
        out->lines[out->n_rows] = (int64_t)line;
        if (!(out->labels[out->n_rows] = strdup(cells[out->label_col]))) goto nomem;
        out->n_rows++;
    }
    if (!nonblank) {
        st = vg_error_set(err, VG_ECONFIG, "%s: the file is empty", name);
        goto done;
    }
    if (out->n_rows == 0) {
        st = vg_error_set(err, VG_ECONFIG, "%s: a header but no rows", name);
        goto done;
    }
    goto done;
nomem:
    st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", name);
done:
    free(scratch);
    free(cells);
    if (st) vg_csv_free(out);
    return st;
}
