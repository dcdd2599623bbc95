/* The report as a table: columns, sorting, pivots and the four output formats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/report.h"

void vg_table_free(vg_table *t) {
    if (!t) return;
    for (int64_t i = 0; i < t->n_rows * t->n_cols; i++) free(t->cells[i].text);
    for (int j = 0; j < t->n_cols; j++) free(t->names[j]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

static int vg__col(const vg_table *t, const char *name) {
    for (int j = 0; j < t->n_cols; j++)
        if (!strcmp(t->names[j], name)) return j;
    return -1;
}

static vg_status vg__unknown_column(const vg_table *t, const char *what, const char *name, vg_error *err) {
    char list[2048] = "";
    size_t used = 0;
    for (int j = 0; j < t->n_cols && used + 2 < sizeof list; j++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", t->names[j]);
    return vg_error_set(err, VG_EUSAGE, "%s: unknown column \"%.80s\"; the columns are: %s", what, name, list);
}

/* --- building --- */

typedef struct vg__builder {
    vg_table *t;
    int64_t row;
    int ok;
} vg__builder;

static void vg__name(vg_table *t, const char *name) {
    if (t->n_cols < VG_TABLE_MAX_COLS) t->names[t->n_cols++] = strdup(name);
}

static void vg__num(vg__builder *b, int col, double v) {
    b->t->cells[b->row * b->t->n_cols + col].num = v;
}
static void vg__text(vg__builder *b, int col, const char *s, double order) {
    vg_cell *c = &b->t->cells[b->row * b->t->n_cols + col];
    c->num = order;
    c->text = strdup(s ? s : "");
    if (!c->text) b->ok = 0;
}

vg_status vg_report_table(const vg_report *rep, vg_table *t, vg_error *err) {
    memset(t, 0, sizeof *t);
    vg__name(t, "id");
    for (int v = 0; v < rep->n_varying; v++) vg__name(t, vg_settings[rep->varying[v]].path);
    if (rep->repeats_vary) vg__name(t, "repeat");
    static const char *const fixed[] = {
        "status", "epochs", "loss", "accuracy", "test_loss", "test_accuracy", "chance_accuracy",
        "chance_loss", "factor_init", "factor_end", "log10_delta_init", "log10_delta_end",
        "log10_grad_init", "log10_grad_end", "log10_h_init", "log10_h_end", "dead", "saturated",
        "predicted", "measured", "chi", "xi", "phase", "underflow_layers", "diagnosis", "evidence"};
    int first_fixed = t->n_cols;
    for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++) {
        if (!rep->has_h && !strncmp(fixed[k], "log10_h_", 8)) continue;
        vg__name(t, fixed[k]);
    }
    t->n_rows = rep->n_rows;
    t->cells = calloc((size_t)(t->n_rows * t->n_cols + 1), sizeof *t->cells);
    if (!t->cells) return vg_error_set(err, VG_ENOMEM, "report: out of memory");
    vg__builder b = {t, 0, 1};
    for (int64_t i = 0; i < rep->n_rows; i++) {
        const vg_report_row *r = &rep->rows[i];
        const vg_run_config *c = &r->run->cfg;
        b.row = i;
        int col = 0;
        vg__text(&b, col++, c->id, NAN);
        for (int v = 0; v < rep->n_varying; v++) {
            int s = rep->varying[v];
            const vg_setting *set = &vg_settings[s];
            const char *p = (const char *)c + set->offset;
            if (set->type == VG_TYPE_ENUM) {
                vg__text(&b, col++, set->choices[*(const int *)p], *(const int *)p);
            } else if (set->type == VG_TYPE_BOOL) {
                vg__text(&b, col++, *(const int *)p ? "true" : "false", *(const int *)p);
            } else {
                vg__num(&b, col++, set->type == VG_TYPE_REAL ? *(const double *)p : *(const int *)p);
            }
        }
        if (rep->repeats_vary) vg__num(&b, col++, c->repeat);
        for (int j = first_fixed; j < t->n_cols; j++, col++) {
            const char *n = t->names[j];
            const vg_theory *th = &r->theory;
#define NUM(name, value) else if (!strcmp(n, name)) vg__num(&b, col, value)
            if (!strcmp(n, "status")) vg__text(&b, col, r->run->status, NAN);
            NUM("epochs", (double)r->run->epochs_done);
            NUM("loss", r->loss);
            NUM("accuracy", r->accuracy);
            NUM("test_loss", r->test_loss);
            NUM("test_accuracy", r->test_accuracy);
            NUM("chance_accuracy", r->chance_accuracy);
            NUM("chance_loss", r->chance_loss);
            NUM("factor_init", r->factor[0]);
            NUM("factor_end", r->factor[1]);
            NUM("log10_delta_init", r->log10_delta[0]);
            NUM("log10_delta_end", r->log10_delta[1]);
            NUM("log10_grad_init", r->log10_grad[0]);
            NUM("log10_grad_end", r->log10_grad[1]);
            NUM("log10_h_init", r->log10_h[0]);
            NUM("log10_h_end", r->log10_h[1]);
            NUM("dead", r->dead);
            NUM("saturated", r->saturated);
            NUM("predicted", th->ok ? th->log10_ratio : NAN);
            NUM("measured", r->measured);
            NUM("chi", th->ok ? th->chi_star : NAN);
            NUM("xi", th->ok ? th->xi : NAN);
            else if (!strcmp(n, "phase")) vg__text(&b, col, th->ok ? th->phase : "", NAN);
            NUM("underflow_layers", th->ok ? th->underflow_layers : NAN);
            else if (!strcmp(n, "diagnosis")) vg__text(&b, col, r->diagnosis, NAN);
            else if (!strcmp(n, "evidence")) vg__text(&b, col, r->evidence, NAN);
#undef NUM
        }
    }
    if (!b.ok) {
        vg_table_free(t);
        return vg_error_set(err, VG_ENOMEM, "report: out of memory");
    }
    return VG_OK;
}

/* --- sorting --- */

static int vg__sort_col, vg__sort_desc, vg__sort_cols;
static const vg_cell *vg__sort_cells;

static int vg__cmp_cells(const vg_cell *a, const vg_cell *b) {
    int an = isnan(a->num), bn = isnan(b->num);
    if (!an && !bn && a->num != b->num) return a->num < b->num ? -1 : 1;
    if (an != bn) return an ? 2 : -2; /* missing last, whatever the direction */
    if (a->text && b->text) return strcmp(a->text, b->text) < 0 ? -1 : strcmp(a->text, b->text) > 0;
    return 0;
}

static int vg__cmp_rows(const void *x, const void *y) {
    int64_t i = *(const int64_t *)x, j = *(const int64_t *)y;
    int c = vg__cmp_cells(&vg__sort_cells[i * vg__sort_cols + vg__sort_col],
                          &vg__sort_cells[j * vg__sort_cols + vg__sort_col]);
    if (c == 2 || c == -2) return c / 2;
    if (c) return vg__sort_desc ? -c : c;
    return i < j ? -1 : i > j; /* stable */
}

vg_status vg_table_sort(vg_table *t, const char *key, vg_error *err) {
    int desc = key[0] == '-';
    int col = vg__col(t, key + desc);
    if (col < 0) return vg__unknown_column(t, "--sort", key + desc, err);
    int64_t *order = malloc((size_t)(t->n_rows + 1) * sizeof *order);
    vg_cell *cells = malloc((size_t)(t->n_rows * t->n_cols + 1) * sizeof *cells);
    if (!order || !cells) {
        free(order);
        free(cells);
        return vg_error_set(err, VG_ENOMEM, "report: out of memory");
    }
    for (int64_t i = 0; i < t->n_rows; i++) order[i] = i;
    vg__sort_col = col, vg__sort_desc = desc, vg__sort_cols = t->n_cols, vg__sort_cells = t->cells;
    qsort(order, (size_t)t->n_rows, sizeof *order, vg__cmp_rows);
    for (int64_t i = 0; i < t->n_rows; i++)
        memcpy(&cells[i * t->n_cols], &t->cells[order[i] * t->n_cols], (size_t)t->n_cols * sizeof *cells);
    free(t->cells);
    t->cells = cells;
    free(order);
    return VG_OK;
}

/* --- pivot --- */

/* The text a cell shows (numbers as %g). */
static void vg__cell_text(const vg_cell *c, char *buf, size_t size) {
    if (c->text) snprintf(buf, size, "%s", c->text);
    else if (isnan(c->num)) snprintf(buf, size, "-");
    else snprintf(buf, size, "%.6g", c->num);
}

typedef struct vg__key {
    char text[96];
    double order;
} vg__key;

static int vg__key_cmp(const void *x, const void *y) {
    const vg__key *a = x, *b = y;
    if (!isnan(a->order) && !isnan(b->order) && a->order != b->order) return a->order < b->order ? -1 : 1;
    return strcmp(a->text, b->text);
}

/* Distinct values of a column, ordered (numbers and enums by value, texts alphabetically). */
static int vg__distinct(const vg_table *t, int col, vg__key **out) {
    vg__key *k = calloc((size_t)(t->n_rows + 1), sizeof *k);
    int n = 0;
    if (!k) return -1;
    for (int64_t i = 0; i < t->n_rows; i++) {
        vg__key cur;
        vg__cell_text(&t->cells[i * t->n_cols + col], cur.text, sizeof cur.text);
        cur.order = t->cells[i * t->n_cols + col].num;
        int found = 0;
        for (int j = 0; j < n && !found; j++) found = !strcmp(k[j].text, cur.text);
        if (!found) k[n++] = cur;
    }
    qsort(k, (size_t)n, sizeof *k, vg__key_cmp);
    *out = k;
    return n;
}

static int vg__find_key(const vg__key *k, int n, const char *text) {
    for (int j = 0; j < n; j++)
        if (!strcmp(k[j].text, text)) return j;
    return -1;
}

vg_status vg_report_pivot(const vg_report *rep, const vg_table *rows, const char *spec, vg_table *out,
                          vg_error *err) {
    (void)rep;
    memset(out, 0, sizeof *out);
    char a[128], b[128];
    const char *comma = strchr(spec, ',');
    if (!comma || strchr(comma + 1, ',') || comma == spec || !comma[1] || (size_t)(comma - spec) >= sizeof a)
        return vg_error_set(err, VG_EUSAGE, "--pivot: expected two columns A,B (e.g. model.depth,model.activation), got \"%.80s\"", spec);
    snprintf(a, sizeof a, "%.*s", (int)(comma - spec), spec);
    snprintf(b, sizeof b, "%s", comma + 1);
    int ca = vg__col(rows, a), cb = vg__col(rows, b), cd = vg__col(rows, "diagnosis");
    if (ca < 0) return vg__unknown_column(rows, "--pivot", a, err);
    if (cb < 0) return vg__unknown_column(rows, "--pivot", b, err);
    vg__key *ka = NULL, *kb = NULL, *kd = NULL;
    int na = vg__distinct(rows, ca, &ka), nb = vg__distinct(rows, cb, &kb), nd = vg__distinct(rows, cd, &kd);
    vg_status st = VG_OK;
    int *count = NULL;
    if (na < 0 || nb < 0 || nd < 0 || nb + 1 > VG_TABLE_MAX_COLS ||
        !(count = calloc((size_t)(na * nb * nd + 1), sizeof *count))) {
        st = nb + 1 > VG_TABLE_MAX_COLS
                 ? vg_error_set(err, VG_EUSAGE, "--pivot: %s has %d values, at most %d fit", b, nb, VG_TABLE_MAX_COLS - 1)
                 : vg_error_set(err, VG_ENOMEM, "report: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < rows->n_rows; i++) {
        char ta[96], tb[96];
        vg__cell_text(&rows->cells[i * rows->n_cols + ca], ta, sizeof ta);
        vg__cell_text(&rows->cells[i * rows->n_cols + cb], tb, sizeof tb);
        int ia = vg__find_key(ka, na, ta), ib = vg__find_key(kb, nb, tb),
            id = vg__find_key(kd, nd, rows->cells[i * rows->n_cols + cd].text);
        if (ia >= 0 && ib >= 0 && id >= 0) count[(ia * nb + ib) * nd + id]++;
    }
    char corner[300];
    snprintf(corner, sizeof corner, "%s \\ %s", a, b);
    vg__name(out, corner);
    for (int j = 0; j < nb; j++) vg__name(out, kb[j].text);
    out->n_rows = na;
    out->is_pivot = 1;
    out->cells = calloc((size_t)(na * out->n_cols + 1), sizeof *out->cells);
    if (!out->cells) {
        st = vg_error_set(err, VG_ENOMEM, "report: out of memory");
        goto done;
    }
    vg__builder bl = {out, 0, 1};
    for (int i = 0; i < na; i++) {
        bl.row = i;
        vg__text(&bl, 0, ka[i].text, ka[i].order);
        for (int j = 0; j < nb; j++) {
            int *c = &count[(i * nb + j) * nd], total = 0, best = -1;
            for (int d = 0; d < nd; d++) {
                total += c[d];
                if (c[d] && (best < 0 || c[d] > c[best])) best = d;
            }
            char cell[160];
            if (best < 0) snprintf(cell, sizeof cell, "-");
            else snprintf(cell, sizeof cell, "%s %d/%d", kd[best].text, c[best], total);
            vg__text(&bl, j + 1, cell, NAN);
        }
    }
    if (!bl.ok) st = vg_error_set(err, VG_ENOMEM, "report: out of memory");
done:
    free(ka);
    free(kb);
    free(kd);
    free(count);
    if (st != VG_OK) vg_table_free(out);
    return st;
}

/* --- output --- */

static void vg__format_num(double v, char *buf, size_t size, int full) {
    if (isnan(v)) snprintf(buf, size, "-");
    else if (isinf(v)) snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, size, "%.0f", v);
    else snprintf(buf, size, full ? "%.17g" : "%.4g", v);
}

static void vg__csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void vg__json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void vg__md_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

void vg_table_write(FILE *f, const vg_table *t, vg_format fmt, const char *meta) {
    char buf[64];
    if (fmt == VG_FORMAT_JSON) {
        fputs("{", f);
        if (meta) fputs(meta, f);
        fputs("\"columns\": [", f);
        for (int j = 0; j < t->n_cols; j++) {
            if (j) fputs(", ", f);
            vg__json_string(f, t->names[j]);
        }
        fputs("],\n \"rows\": [", f);
        for (int64_t i = 0; i < t->n_rows; i++) {
            fputs(i ? ",\n  {" : "\n  {", f);
            for (int j = 0; j < t->n_cols; j++) {
                const vg_cell *c = &t->cells[i * t->n_cols + j];
                if (j) fputs(", ", f);
                vg__json_string(f, t->names[j]);
                fputs(": ", f);
                if (c->text) vg__json_string(f, c->text);
                else if (isnan(c->num)) fputs("null", f);
                else if (isinf(c->num)) fputs(c->num > 0 ? "Infinity" : "-Infinity", f);
                else {
                    vg__format_num(c->num, buf, sizeof buf, 1);
                    fputs(buf, f);
                }
            }
            fputs("}", f);
        }
        fputs("\n ]}\n", f);
        return;
    }
    if (fmt == VG_FORMAT_CSV) {
        for (int j = 0; j < t->n_cols; j++) {
            if (j) fputc(',', f);
            vg__csv_field(f, t->names[j]);
        }
        fputc('\n', f);
        for (int64_t i = 0; i < t->n_rows; i++) {
            for (int j = 0; j < t->n_cols; j++) {
                const vg_cell *c = &t->cells[i * t->n_cols + j];
                if (j) fputc(',', f);
                if (c->text) vg__csv_field(f, c->text);
                else if (!isnan(c->num)) {
                    vg__format_num(c->num, buf, sizeof buf, 1);
                    fputs(buf, f);
                }
            }
            fputc('\n', f);
        }
        return;
    }
    if (fmt == VG_FORMAT_MARKDOWN) {
        fputs("|", f);
        for (int j = 0; j < t->n_cols; j++) {
            fputc(' ', f);
            vg__md_cell(f, t->names[j]);
            fputs(" |", f);
        }
        fputs("\n|", f);
        for (int j = 0; j < t->n_cols; j++) fputs(t->cells && t->n_rows && !t->cells[j].text ? "---:|" : "---|", f);
        fputc('\n', f);
        for (int64_t i = 0; i < t->n_rows; i++) {
            fputs("|", f);
            for (int j = 0; j < t->n_cols; j++) {
                const vg_cell *c = &t->cells[i * t->n_cols + j];
                fputc(' ', f);
                if (c->text) vg__md_cell(f, *c->text ? c->text : "-");
                else {
                    vg__format_num(c->num, buf, sizeof buf, 0);
                    fputs(buf, f);
                }
                fputs(" |", f);
            }
            fputc('\n', f);
        }
        return;
    }
    /* table: aligned columns, the evidence (last, free text) unpadded */
    int width[VG_TABLE_MAX_COLS];
    for (int j = 0; j < t->n_cols; j++) {
        width[j] = (int)strlen(t->names[j]);
        for (int64_t i = 0; i < t->n_rows; i++) {
            const vg_cell *c = &t->cells[i * t->n_cols + j];
            int w;
            if (c->text) w = *c->text ? (int)strlen(c->text) : 1;
            else {
                vg__format_num(c->num, buf, sizeof buf, 0);
                w = (int)strlen(buf);
            }
            if (w > width[j]) width[j] = w;
        }
    }
    for (int j = 0; j < t->n_cols; j++)
        if (j + 1 < t->n_cols) fprintf(f, "%-*s  ", width[j], t->names[j]);
        else fprintf(f, "%s\n", t->names[j]);
    for (int64_t i = 0; i < t->n_rows; i++)
        for (int j = 0; j < t->n_cols; j++) {
            const vg_cell *c = &t->cells[i * t->n_cols + j];
            const char *s = c->text && !*c->text ? "-" : c->text;
            if (!s) {
                vg__format_num(c->num, buf, sizeof buf, 0);
                s = buf;
            }
            if (j + 1 < t->n_cols) fprintf(f, c->text ? "%-*s  " : "%*s  ", width[j], s);
            else fprintf(f, "%s\n", s);
        }
}
