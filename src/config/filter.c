/* Run filters: `--only 'model.activation=relu|tanh,model.depth>=10'` selects a subset of a
 * sweep's runs, for dry and real runs alike. Values go through the settings table's parser, so
 * a filter is checked exactly like a sweep file (bounds, enum spellings, did-you-mean). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

#define VG__FILTER_REPEAT (-1)
#define VG__FILTER_ID (-2)
#define VG__MAX_CONDS 64
#define VG__MAX_VALUES 64

typedef enum vg__op { VG__EQ, VG__NE, VG__GE, VG__LE, VG__GT, VG__LT } vg__op;
static const char *const vg__op_text[] = {"=", "!=", ">=", "<=", ">", "<"};

typedef struct vg__filter_cond {
    int setting; /* a setting, VG__FILTER_REPEAT or VG__FILTER_ID */
    vg__op op;
    int n_values;                         /* = and != */
    double values[VG__MAX_VALUES];        /* parsed values (ENUM, BOOL: the index as a number) */
    char ids[VG__MAX_VALUES][VG_RUN_ID_LEN + 1]; /* id prefixes */
    double bound;                         /* >=, <=, >, < and repeat */
} vg__filter_cond;

struct vg_run_filter {
    int n_conds;
    vg__filter_cond conds[VG__MAX_CONDS];
};

static char *vg__trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* Any setting's value as a double: exact for ints, enum indices and booleans too. */
static double vg__number_of(const vg_run_config *cfg, int setting) {
    const char *p = (const char *)cfg + vg_settings[setting].offset;
    return vg_settings[setting].type == VG_TYPE_REAL ? *(const double *)p : *(const int *)p;
}

/* Finds the operator: the first '!', '<', '>' or '='. */
static int vg__split(char *cond, char **path, vg__op *op, char **value) {
    char *p = strpbrk(cond, "!<>=");
    if (!p || p == cond) return 0;
    if (p[0] == '!' && p[1] == '=') *op = VG__NE;
    else if (p[0] == '>' && p[1] == '=') *op = VG__GE;
    else if (p[0] == '<' && p[1] == '=') *op = VG__LE;
    else if (p[0] == '>') *op = VG__GT;
    else if (p[0] == '<') *op = VG__LT;
    else if (p[0] == '=') *op = VG__EQ;
    else return 0;
    size_t op_len = strlen(vg__op_text[*op]);
    *value = vg__trim(p + op_len);
    *p = '\0';
    *path = vg__trim(cond);
    return **path != '\0';
}

static vg_status vg__cond_error(vg_error *err, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vg_status vg__cond_error(vg_error *err, const char *cond, const char *fmt, ...) {
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg_error_set(err, VG_EUSAGE, "filter \"%.120s\": %s", cond, msg);
    if (err) vg__one_line(err->message, sizeof err->message);
    return VG_EUSAGE;
}

static vg_status vg__parse_cond(const char *original, char *text, vg__filter_cond *c,
                                vg_error *err) {
    char *path, *value;
    if (!vg__split(text, &path, &c->op, &value))
        return vg__cond_error(err, original,
                              "expected path=value, path!=value or path>=number (also <=, >, <)");
    if (!*value)
        return vg__cond_error(err, original, "%s: expected a value after %s", path,
                              vg__op_text[c->op]);
    if (strpbrk(value, "!<>="))
        return vg__cond_error(err, original, "%s: expected one operator, got \"%s%s\"", path,
                              vg__op_text[c->op], value);
    c->setting = !strcmp(path, "repeat") ? VG__FILTER_REPEAT
                 : !strcmp(path, "id")   ? VG__FILTER_ID
                                         : vg_setting_find(path);
    if (c->setting == -1 && strcmp(path, "repeat") != 0) {
        const char *names[VG_SETTING_COUNT + 2];
        for (int i = 0; i < VG_SETTING_COUNT; i++) names[i] = vg_settings[i].path;
        names[VG_SETTING_COUNT] = "repeat";
        names[VG_SETTING_COUNT + 1] = "id";
        const char *hint = vg__suggest(path, names, VG_SETTING_COUNT + 2);
        if (!hint) {
            const char *leaf = strrchr(path, '.');
            leaf = leaf ? leaf + 1 : path;
            for (int i = 0; i < VG_SETTING_COUNT && !hint; i++)
                if (!strcmp(strrchr(names[i], '.') + 1, leaf)) hint = names[i];
        }
        if (hint)
            return vg__cond_error(err, original, "%s: unknown setting (did you mean \"%s\"?)",
                                  path, hint);
        return vg__cond_error(err, original,
                              "%s: unknown setting; see vgsweep --list-settings (also: repeat, id)",
                              path);
    }
    if (c->setting >= 0 && vg_settings[c->setting].type == VG_TYPE_STRING)
        return vg__cond_error(err, original, "%s: a text setting cannot be filtered on; filter on "
                                             "a setting that varies with it, or on id", path);
    int ordered = c->op >= VG__GE;
    int numeric = c->setting == VG__FILTER_REPEAT ||
                  (c->setting >= 0 && (vg_settings[c->setting].type == VG_TYPE_INT ||
                                       vg_settings[c->setting].type == VG_TYPE_REAL));
    if (ordered || c->setting == VG__FILTER_REPEAT) {
        if (!numeric)
            return vg__cond_error(err, original,
                                  "%s: %s compares numbers, and %s is not one; use = or !=", path,
                                  vg__op_text[c->op], path);
        long long i;
        int is_int = c->setting == VG__FILTER_REPEAT || vg_settings[c->setting].type == VG_TYPE_INT;
        if (is_int ? !vg__parse_ll(value, &i) : !vg__parse_double(value, &c->bound))
            return vg__cond_error(err, original, "%s: expected %s, got \"%.60s\"", path,
                                  is_int ? "an integer" : "a number", value);
        if (is_int) c->bound = (double)i;
        return VG_OK;
    }
    /* = and !=: one value or alternatives a|b|c, each checked against the table. */
    for (char *alt = value, *next; alt; alt = next) {
        next = strchr(alt, '|');
        if (next) *next++ = '\0';
        alt = vg__trim(alt);
        if (c->n_values == VG__MAX_VALUES)
            return vg__cond_error(err, original, "%s: expected at most %d alternatives", path,
                                  VG__MAX_VALUES);
        if (c->setting == VG__FILTER_ID) {
            size_t n = strlen(alt);
            if (n == 0 || n > VG_RUN_ID_LEN || strspn(alt, "0123456789abcdef") != n)
                return vg__cond_error(err, original,
                                      "id: expected a run id (up to %d hex digits), got \"%.60s\"",
                                      VG_RUN_ID_LEN, alt);
            memcpy(c->ids[c->n_values++], alt, n + 1);
            continue;
        }
        vg_node node = {.kind = VG_NODE_SCALAR, .scalar = alt};
        vg_error inner;
        vg_error_clear(&inner);
        vg_run_config v;
        memset(&v, 0, sizeof v);
        if (vg__setting_parse(c->setting, &node, path, &v, &inner) != VG_OK) {
            /* The parser names a file; a filter has none: keep what follows it. */
            const char *msg = strstr(inner.message, ": ");
            return vg__cond_error(err, original, "%s", msg ? msg + 2 : inner.message);
        }
        c->values[c->n_values++] = vg__number_of(&v, c->setting);
    }
    return VG_OK;
}

vg_status vg_run_filter_parse(const char *text, vg_run_filter **out, vg_error *err) {
    if (!out) return vg_error_set(err, VG_EINTERNAL, "vg_run_filter_parse: out is NULL");
    *out = NULL;
    if (!text) text = "";
    vg_run_filter *f = calloc(1, sizeof *f);
    char *copy = strdup(text);
    vg_status st = VG_OK;
    if (!f || !copy) {
        st = vg_error_set(err, VG_ENOMEM, "filter: out of memory");
        goto done;
    }
    for (char *cond = copy, *next; cond; cond = next) {
        next = strchr(cond, ',');
        if (next) *next++ = '\0';
        char original[256];
        snprintf(original, sizeof original, "%s", vg__trim(cond));
        if (!original[0]) {
            st = vg__cond_error(err, text, "expected conditions like model.depth>=10 separated "
                                           "by commas, got an empty one");
            goto done;
        }
        if (f->n_conds == VG__MAX_CONDS) {
            st = vg__cond_error(err, text, "expected at most %d conditions", VG__MAX_CONDS);
            goto done;
        }
        if ((st = vg__parse_cond(original, cond, &f->conds[f->n_conds], err))) goto done;
        f->n_conds++;
    }
done:
    free(copy);
    if (st) {
        free(f);
        return st;
    }
    *out = f;
    return VG_OK;
}

static int vg__cond_match(const vg__filter_cond *c, const vg_run_config *cfg) {
    if (c->op >= VG__GE || c->setting == VG__FILTER_REPEAT) {
        double x = c->setting == VG__FILTER_REPEAT ? cfg->repeat : vg__number_of(cfg, c->setting);
        switch (c->op) {
        case VG__EQ: return x == c->bound;
        case VG__NE: return x != c->bound;
        case VG__GE: return x >= c->bound;
        case VG__LE: return x <= c->bound;
        case VG__GT: return x > c->bound;
        case VG__LT: return x < c->bound;
        }
    }
    int any = 0;
    for (int k = 0; k < c->n_values && !any; k++)
        any = c->setting == VG__FILTER_ID
                  ? strncmp(cfg->id, c->ids[k], strlen(c->ids[k])) == 0
                  : vg__number_of(cfg, c->setting) == c->values[k];
    return c->op == VG__EQ ? any : !any;
}

int vg_run_filter_match(const vg_run_filter *filter, const vg_run_config *cfg) {
    if (!filter) return 1;
    for (int i = 0; i < filter->n_conds; i++)
        if (!vg__cond_match(&filter->conds[i], cfg)) return 0;
    return 1;
}

int vg__filter_per_repeat(const vg_run_filter *filter) {
    for (int i = 0; filter && i < filter->n_conds; i++)
        if (filter->conds[i].setting < 0) return 1;
    return 0;
}

void vg_run_filter_free(vg_run_filter *filter) { free(filter); }
