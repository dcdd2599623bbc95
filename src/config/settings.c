/* The settings table and the one scalar parser: YAML values, grid values and the table's own
 * default texts all go through vg__setting_parse, so a default cannot drift from what a sweep
 * file would accept. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

#define VG__NAME(name, text, param) text,
#define VG__PARAM(name, text, param) param,
#define VG__LISTS(L)                                                                              \
    L(data_kind, VG_DATA_KINDS)                                                                   \
    L(data_sample, VG_DATA_SAMPLES)                                                               \
    L(activation, VG_ACTIVATIONS)                                                                 \
    L(init, VG_INITS)                                                                             \
    L(norm, VG_NORMS)                                                                             \
    L(optimizer, VG_OPTIMIZERS)                                                                   \
    L(schedule, VG_SCHEDULES)                                                                     \
    L(clip, VG_CLIPS)                                                                             \
    L(loss, VG_LOSSES)                                                                            \
    L(tensor_set, VG_TENSOR_SETS)                                                                 \
    L(weight_set, VG_WEIGHT_SETS)                                                                 \
    L(data_sequence, VG_DATA_SEQUENCES)                                                           \
    L(data_target, VG_DATA_TARGETS)                                                               \
    L(model_kind, VG_MODEL_KINDS)                                                                 \
    L(recurrent_init, VG_RECURRENT_INITS)
#define VG__ARRAYS(list, xmacro)                                                                  \
    const char *const vg_##list##_names[] = {xmacro(VG__NAME) NULL};                              \
    const char *const vg_##list##_params[] = {xmacro(VG__PARAM) NULL};
VG__LISTS(VG__ARRAYS)
#undef VG__ARRAYS
#undef VG__LISTS
#undef VG__PARAM
#undef VG__NAME

/* An ENUM row names its choice list; other rows have NULL there. */
#define VG__CHOICES_ENUM(list, what) list##_##what
#define VG__CHOICES_INT(list, what) NULL
#define VG__CHOICES_REAL(list, what) NULL
#define VG__CHOICES_BOOL(list, what) NULL
#define VG__CHOICES_STRING(list, what) NULL
const vg_setting vg_settings[VG_SETTING_COUNT] = {
#define X(field, path_, type_, lo_, hi_, flags_, choices_, def_, help_)                          \
    [VG_SET_##field] = {.path = path_,                                                           \
                        .type = VG_TYPE_##type_,                                                 \
                        .offset = offsetof(vg_run_config, field),                                \
                        .lo = lo_,                                                               \
                        .hi = hi_,                                                               \
                        .bound_flags = flags_,                                                   \
                        .choices = VG__CHOICES_##type_(choices_, names),                         \
                        .choice_params = VG__CHOICES_##type_(choices_, params),                  \
                        .default_text = def_,                                                    \
                        .help = help_},
    VG_SETTINGS(X)
#undef X
};

int vg_setting_find(const char *path) {
    if (!path) return -1;
    for (int i = 0; i < VG_SETTING_COUNT; i++)
        if (strcmp(vg_settings[i].path, path) == 0) return i;
    return -1;
}

static int *vg__int_at(vg_run_config *cfg, int setting) {
    return (int *)((char *)cfg + vg_settings[setting].offset);
}
static const int *vg__int_at_c(const vg_run_config *cfg, int setting) {
    return (const int *)((const char *)cfg + vg_settings[setting].offset);
}
static double *vg__real_at(vg_run_config *cfg, int setting) {
    return (double *)((char *)cfg + vg_settings[setting].offset);
}
static const double *vg__real_at_c(const vg_run_config *cfg, int setting) {
    return (const double *)((const char *)cfg + vg_settings[setting].offset);
}

/* Shortest of %.15g..%.17g that reads back to the same double: "0.1", not
 * "0.10000000000000001". */
static void vg__format_real(double x, char *buf, size_t size) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

void vg_setting_format(int setting, const vg_run_config *cfg, char *buf, size_t size) {
    if (!buf || size == 0) return;
    if (setting < 0 || setting >= VG_SETTING_COUNT || !cfg) {
        buf[0] = '\0';
        return;
    }
    const vg_setting *s = &vg_settings[setting];
    switch (s->type) {
    case VG_TYPE_INT: snprintf(buf, size, "%d", *vg__int_at_c(cfg, setting)); break;
    case VG_TYPE_REAL: vg__format_real(*vg__real_at_c(cfg, setting), buf, size); break;
    case VG_TYPE_BOOL: snprintf(buf, size, "%s", *vg__int_at_c(cfg, setting) ? "true" : "false"); break;
    case VG_TYPE_ENUM: {
        int v = *vg__int_at_c(cfg, setting), n = 0;
        while (s->choices[n]) n++;
        snprintf(buf, size, "%s", v >= 0 && v < n ? s->choices[v] : "?");
        break;
    }
    case VG_TYPE_STRING: snprintf(buf, size, "%s", (const char *)cfg + s->offset); break;
    }
}

int vg__setting_equal(int setting, const vg_run_config *a, const vg_run_config *b) {
    if (vg_settings[setting].type == VG_TYPE_STRING)
        return strcmp((const char *)a + vg_settings[setting].offset,
                      (const char *)b + vg_settings[setting].offset) == 0;
    if (vg_settings[setting].type == VG_TYPE_REAL)
        return *vg__real_at_c(a, setting) == *vg__real_at_c(b, setting);
    return *vg__int_at_c(a, setting) == *vg__int_at_c(b, setting);
}

void vg__setting_copy(int setting, vg_run_config *dst, const vg_run_config *src) {
    if (vg_settings[setting].type == VG_TYPE_STRING)
        memcpy((char *)dst + vg_settings[setting].offset,
               (const char *)src + vg_settings[setting].offset, sizeof(vg_setting_text));
    else if (vg_settings[setting].type == VG_TYPE_REAL)
        *vg__real_at(dst, setting) = *vg__real_at_c(src, setting);
    else
        *vg__int_at(dst, setting) = *vg__int_at_c(src, setting);
    dst->source[setting] = src->source[setting];
}

/* "an integer in [1, 10000]", "a number > 0", "a number in [0, 1000]", "one of a, b". */
void vg_setting_expected(int setting, char *buf, size_t size) {
    if (!buf || size == 0) return;
    buf[0] = '\0';
    if (setting < 0 || setting >= VG_SETTING_COUNT) return;
    const vg_setting *s = &vg_settings[setting];
    char lo[32], hi[32];
    if (s->type == VG_TYPE_INT) {
        snprintf(buf, size, "an integer in [%.0f, %.0f]", s->lo, s->hi);
        return;
    }
    if (s->type == VG_TYPE_BOOL) {
        snprintf(buf, size, "true or false");
        return;
    }
    if (s->type == VG_TYPE_STRING) {
        snprintf(buf, size, "a text of at most %d bytes", VG_SETTING_TEXT_MAX - 1);
        return;
    }
    if (s->type == VG_TYPE_ENUM) {
        size_t used = (size_t)snprintf(buf, size, "one of ");
        for (int i = 0; s->choices[i] && used < size; i++)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", s->choices[i]);
        return;
    }
    vg__format_real(s->lo, lo, sizeof lo);
    vg__format_real(s->hi, hi, sizeof hi);
    int lo_open = (s->bound_flags & VG_LO_OPEN) != 0, hi_open = (s->bound_flags & VG_HI_OPEN) != 0;
    if (s->lo <= -VG_INF && s->hi >= VG_INF)
        snprintf(buf, size, "a number");
    else if (s->lo <= -VG_INF)
        snprintf(buf, size, "a number %s %s", hi_open ? "<" : "<=", hi);
    else if (s->hi >= VG_INF)
        snprintf(buf, size, "a number %s %s", lo_open ? ">" : ">=", lo);
    else
        snprintf(buf, size, "a number in %c%s, %s%c", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
}

/* Strict integer: optional sign and decimal digits only, no spaces, no junk, no overflow. */
int vg__parse_ll(const char *text, long long *out) {
    const char *p = text;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end != '\0' || errno == ERANGE) return 0;
    *out = v;
    return 1;
}

/* What strtod makes of a decimal number: 0 not one (or hex, spaces, junk), 1 a finite double,
 * 2 too large for one (1e999), 3 nonzero but below the smallest double (1e-400). */
static int vg__read_double(const char *text, double *out) {
    const char *p = text;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1]))) return 0;
    if (strpbrk(text, "xX")) return 0;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (*end != '\0') return 0;
    if (!isfinite(v)) return 2;
    if (v == 0) /* a zero written as such, or a nonzero mantissa that underflowed */
        for (const char *d = p; *d && *d != 'e' && *d != 'E'; d++)
            if (*d >= '1' && *d <= '9') return 3;
    *out = v;
    return 1;
}

/* Strict real: what strtod reads, all of it, finite, not hex ("0x1p3") and no spaces, not a
 * nonzero number that underflows to zero. */
int vg__parse_double(const char *text, double *out) {
    double v;
    if (vg__read_double(text, &v) != 1) return 0;
    /* Underflow to a denormal is accepted: the text was a valid number. -0 reads as 0, so "-0"
     * and "0" are one value (and one run id). */
    *out = v == 0 ? 0.0 : v;
    return 1;
}

const char *vg__number_problem(const char *text) {
    double v;
    switch (vg__read_double(text, &v)) {
    case 2: return "overflows a double";
    case 3: return "underflows to zero (the smallest double is ~4.9e-324)";
    default: return NULL;
    }
}

static int vg__looks_numeric(const char *text) {
    double d;
    long long i;
    return vg__parse_ll(text, &i) || vg__parse_double(text, &d);
}

const char *vg__node_describe(const vg_node *node, char *buf, size_t size) {
    if (!node) {
        snprintf(buf, size, "nothing");
        return buf;
    }
    if (node->kind == VG_NODE_SEQUENCE) {
        if (node->count == 0)
            snprintf(buf, size, "an empty list");
        else
            snprintf(buf, size, "a list of %lld item%s", (long long)node->count,
                     node->count == 1 ? "" : "s");
        return buf;
    }
    if (node->kind == VG_NODE_MAPPING) {
        snprintf(buf, size, node->count == 0 ? "an empty mapping" : "a mapping");
        return buf;
    }
    const char *t = node->scalar;
    if (!node->quoted && t[0] == '\0') {
        snprintf(buf, size, "nothing (an empty value)");
        return buf;
    }
    if (!node->quoted && vg__looks_numeric(t)) {
        snprintf(buf, size, "%.60s", t);
        return buf;
    }
    /* Quote and escape, so the message stays one line whatever the scalar holds. */
    size_t used = (size_t)snprintf(buf, size, "%s\"", node->quoted ? "the string " : "");
    size_t n = 0;
    for (; t[n] && n < 60 && used + 8 < size; n++) {
        unsigned char c = (unsigned char)t[n];
        if (c == '"' || c == '\\')
            used += (size_t)snprintf(buf + used, size - used, "\\%c", c);
        else if (c == '\n')
            used += (size_t)snprintf(buf + used, size - used, "\\n");
        else if (c < 0x20 || c == 0x7f)
            used += (size_t)snprintf(buf + used, size - used, "\\x%02x", c);
        else
            buf[used++] = (char)c;
    }
    if (used + 5 < size) {
        if (t[n]) {
            memcpy(buf + used, "...", 3);
            used += 3;
        }
        buf[used++] = '"';
        buf[used] = '\0';
    }
    return buf;
}

/* The mapping form of an ENUM value, `{choice: value}`: sets the setting to the choice and the
 * choice's parameter setting (vg_setting.choice_params) to the value. */
static vg_status vg__parse_choice_mapping(int setting, const vg_node *node, const char *key_path,
                                          vg_run_config *cfg, vg_error *err) {
    const vg_setting *s = &vg_settings[setting];
    const char *file = node->file ? node->file : "(settings table default)";
    char expected[256], got[128], with_param[256] = "";
    vg_setting_expected(setting, expected, sizeof expected);
    size_t n = 0, used = 0;
    for (; s->choices[n]; n++)
        if (s->choice_params && s->choice_params[n] && used < sizeof with_param)
            used += (size_t)snprintf(with_param + used, sizeof with_param - used, "%s%s",
                                     used ? ", " : "", s->choices[n]);
    if (!used) /* no choice of this setting takes a parameter: a mapping is just wrong */
        return vg__node_error(err, node, file, "%s: expected %s, got %s", key_path, expected,
                              vg__node_describe(node, got, sizeof got));
    if (node->count != 1)
        return vg__node_error(err, node, file,
                              "%s: expected %s, or a mapping {choice: value} with one key (for "
                              "%s), got %s%s",
                              key_path, expected, with_param,
                              node->count ? "a mapping with " : "an empty mapping",
                              node->count ? (node->count == 2 ? "2 keys" : "more than 2 keys") : "");
    const vg_node *key = node->keys[0], *value = node->values[0];
    size_t choice = 0;
    while (choice < n && strcmp(key->scalar, s->choices[choice]) != 0) choice++;
    if (choice == n) {
        const char *hint = vg__suggest(key->scalar, s->choices, n);
        char hint_text[96] = "";
        if (hint) snprintf(hint_text, sizeof hint_text, " (did you mean \"%s\"?)", hint);
        return vg__node_error(err, key, file, "%s: {choice: value}: expected a choice among %s, got %s%s",
                              key_path, with_param, vg__node_describe(key, got, sizeof got),
                              hint_text);
    }
    const char *param = s->choice_params ? s->choice_params[choice] : NULL;
    int param_setting = vg_setting_find(param);
    if (param_setting < 0)
        return vg__node_error(err, key, file,
                              "%s: the choice \"%s\" takes no parameter: write %s: %s (choices "
                              "with a parameter: %s)",
                              key_path, s->choices[choice], key_path, s->choices[choice],
                              with_param);
    char param_path[256];
    snprintf(param_path, sizeof param_path, "%s: {%s: ...} sets %s", key_path,
             s->choices[choice], vg_settings[param_setting].path);
    vg_status st = vg__setting_parse(param_setting, value, param_path, cfg, err);
    if (st) return st;
    *vg__int_at(cfg, setting) = (int)choice;
    cfg->source[setting] = node;
    return VG_OK;
}

vg_status vg__setting_parse(int setting, const vg_node *node, const char *key_path,
                            vg_run_config *cfg, vg_error *err) {
    if (setting < 0 || setting >= VG_SETTING_COUNT || !node || !cfg)
        return vg_error_set(err, VG_EINTERNAL, "vg_setting_parse: bad argument");
    const vg_setting *s = &vg_settings[setting];
    char expected[256], got[128];
    vg_setting_expected(setting, expected, sizeof expected);
    const char *file = node->file ? node->file : "(settings table default)";

    if (node->kind == VG_NODE_MAPPING && s->type == VG_TYPE_ENUM)
        return vg__parse_choice_mapping(setting, node, key_path, cfg, err);
    if (node->kind != VG_NODE_SCALAR)
        return vg__node_error(err, node, file, "%s: expected %s, got %s", key_path, expected,
                              vg__node_describe(node, got, sizeof got));
    if (s->type == VG_TYPE_STRING) {
        /* Any scalar, quoted or not, is the text itself. */
        if (node->kind != VG_NODE_SCALAR || strlen(node->scalar) >= VG_SETTING_TEXT_MAX ||
            memchr(node->scalar, '\n', strlen(node->scalar)))
            return vg__node_error(err, node, file, "%s: expected %s on one line, got %s", key_path,
                                  expected, vg__node_describe(node, got, sizeof got));
        memcpy((char *)cfg + s->offset, node->scalar, strlen(node->scalar) + 1);
        cfg->source[setting] = node;
        return VG_OK;
    }
    if (node->quoted && s->type != VG_TYPE_ENUM) {
        /* A quoted "5" is a string, never a number: say which kind of value is wanted. */
        const char *what = s->type == VG_TYPE_INT    ? "an integer"
                           : s->type == VG_TYPE_REAL ? "a number"
                                                     : expected;
        return vg__node_error(err, node, file, "%s: expected %s, got %s", key_path, what,
                              vg__node_describe(node, got, sizeof got));
    }
    const char *text = node->scalar;
    switch (s->type) {
    case VG_TYPE_INT: {
        long long v;
        if (!vg__parse_ll(text, &v) || v < (long long)s->lo || v > (long long)s->hi)
            break;
        *vg__int_at(cfg, setting) = (int)v;
        cfg->source[setting] = node;
        return VG_OK;
    }
    case VG_TYPE_REAL: {
        double v;
        const char *range = vg__number_problem(text);
        if (range) /* "1e999 overflows a double", not "expected a number > 0" */
            return vg__node_error(err, node, file, "%s: %.60s %s; expected %s", key_path, text,
                                  range, expected);
        if (!vg__parse_double(text, &v)) break;
        int lo_open = (s->bound_flags & VG_LO_OPEN) != 0, hi_open = (s->bound_flags & VG_HI_OPEN) != 0;
        if (s->lo > -VG_INF && (lo_open ? !(v > s->lo) : !(v >= s->lo))) break;
        if (s->hi < VG_INF && (hi_open ? !(v < s->hi) : !(v <= s->hi))) break;
        *vg__real_at(cfg, setting) = v;
        cfg->source[setting] = node;
        return VG_OK;
    }
    case VG_TYPE_BOOL: {
        int v = -1;
        if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE")) v = 1;
        if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE")) v = 0;
        if (v < 0) break;
        *vg__int_at(cfg, setting) = v;
        cfg->source[setting] = node;
        return VG_OK;
    }
    case VG_TYPE_ENUM: {
        size_t n = 0;
        while (s->choices[n]) n++;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(text, s->choices[i]) == 0) {
                *vg__int_at(cfg, setting) = (int)i;
                cfg->source[setting] = node;
                return VG_OK;
            }
        }
        const char *hint = vg__suggest(text, s->choices, n);
        if (hint)
            return vg__node_error(err, node, file, "%s: expected %s, got %s (did you mean \"%s\"?)",
                                  key_path, expected, vg__node_describe(node, got, sizeof got),
                                  hint);
        break;
    }
    case VG_TYPE_STRING: break; /* handled above */
    }
    return vg__node_error(err, node, file, "%s: expected %s, got %s", key_path, expected,
                          vg__node_describe(node, got, sizeof got));
}

vg_status vg_setting_parse(int setting, const vg_node *node, vg_run_config *cfg, vg_error *err) {
    if (setting < 0 || setting >= VG_SETTING_COUNT)
        return vg_error_set(err, VG_EINTERNAL, "vg_setting_parse: no setting %d", setting);
    return vg__setting_parse(setting, node, vg_settings[setting].path, cfg, err);
}

void vg_run_config_defaults(vg_run_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < VG_SETTING_COUNT; i++) {
        /* A plain scalar without a file: parsed exactly as if a sweep file held the default.
         * A default the parser refuses is a table bug that test_config catches; the field
         * then stays zero. */
        vg_node node = {.kind = VG_NODE_SCALAR, .scalar = (char *)vg_settings[i].default_text};
        vg__setting_parse(i, &node, vg_settings[i].path, cfg, NULL);
        cfg->source[i] = NULL; /* NULL means: the default */
    }
}

/* --- suggestions --- */

/* Optimal string alignment distance (Damerau-Levenshtein without repeated edits of a
 * substring), case-insensitive: "modle" -> "model" is one edit. */
static size_t vg__edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 64 || nb > 64) return (size_t)-1;
    size_t d[65][65];
    for (size_t i = 0; i <= na; i++) d[i][0] = i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        for (size_t j = 1; j <= nb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t cost = ca != cb;
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[na][nb];
}

const char *vg__suggest(const char *word, const char *const *candidates, size_t n) {
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t d = vg__edit_distance(word, candidates[i]);
        /* Allow one edit per three letters of the candidate's last component, at most two:
         * "sg" should not suggest "sgd"-like noise for very short words, but "relus" -> "relu". */
        const char *leaf = strrchr(candidates[i], '.');
        size_t len = strlen(leaf ? leaf + 1 : candidates[i]);
        size_t limit = len / 3 < 1 ? 1 : (len / 3 > 2 ? 2 : len / 3);
        if (d <= limit && d < best_d) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}
