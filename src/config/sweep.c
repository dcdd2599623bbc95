/* A sweep: the validated files (base settings, grid axes, exclude rules, include entries, every
 * value already parsed) and their expansion into resolved run configs. Validation is complete
 * at load time except for cross-setting checks, which depend on the combination and run when
 * the sweep is counted or expanded.
 *
 * Vocabulary. A *partial* is a vg_run_config in which only some settings are set: those whose
 * source[] is not NULL (every parsed value has a node). A grid value, a zip point, an exclude
 * alternative and an include entry are partials. An *axis* is one grid key or one zip group:
 * a list of partials (its points). A configuration is the base settings with one point of
 * every axis applied; the configurations are the product of the axes, the first axis varying
 * slowest. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "vgsweep/targets.h"
#include "vgsweep/rng.h"

/* A grid larger than this is a typo (a list pasted twice, a missing bracket), not a plan. */
#define VG__MAX_RUNS 10000000LL
#define VG__MAX_REPEATS 1000000
#define VG__MAX_EXTENDS 16 /* files in one extends: chain, beyond the loaded one */

typedef struct vg__file {
    const char *path;         /* as given (arena) */
    const char *key;          /* lexically normalised path, for cycle detection (arena) */
    char *text;               /* malloc'ed, NUL-terminated */
    size_t len;
    const vg_node *extends;   /* its extends: value, or NULL */
} vg__file;

typedef struct vg__axis {
    int is_zip;
    int n_keys;
    int settings[VG_SETTING_COUNT];        /* (n_keys) the keys' settings */
    const vg_node *keys[VG_SETTING_COUNT]; /* (n_keys) */
    const char *labels[VG_SETTING_COUNT];  /* (n_keys) "grid.model.depth" (arena) */
    int64_t n_points;
    vg_run_config *points;                 /* (n_points) partials */
    int n_owned;                           /* settings some point sets: keys + parameters */
    int owned[VG_SETTING_COUNT];
} vg__axis;

/* exclude: one rule drops the configurations that meet all of its conditions; a condition
 * holds when the configuration equals one of its alternatives. An alternative is a partial
 * kept compact (an exclude list may hold hundreds of thousands): the settings it sets (its
 * setting, and the parameter of a {choice: value}) and their values' bits (vg__bits). */
#define VG__ALT_MAX 2
typedef struct vg__alt {
    int n;
    int settings[VG__ALT_MAX];
    uint64_t bits[VG__ALT_MAX];
} vg__alt;

typedef struct vg__cond {
    int setting;
    const vg_node *key;
    int64_t n_alts;
    vg__alt *alts;
} vg__cond;

typedef struct vg__rule {
    const vg_node *node;
    int n_conds;
    vg__cond *conds; /* (n_conds) */
} vg__rule;

/* The exclude rules as an index (built by vg__index_rules once every file is loaded), so that
 * matching a configuration costs O(log n) in the number of rules, not O(n). A rule whose
 * conditions have few alternatives is expanded into *terms*: one per choice of an alternative
 * for each condition, each the conjunction of those alternatives (a partial: the mask of the
 * settings it sets and their values in setting order). A configuration is excluded when its
 * values on some term's mask equal that term's. Terms are sorted by (mask, values): those of one
 * mask are a *group*, searched by bisection. A rule with too many combinations is kept aside and
 * checked as it is. */
/* A rule is expanded into terms when its combinations are at most VG__MAX_TERMS, or at most
 * twice its alternatives (one condition with a long list: as many terms as values); so the
 * terms stay linear in the file's size. */
#define VG__MAX_TERMS 16
/* A set of settings: bit s of w[s / 64]. */
#define VG__MASK_WORDS 2
_Static_assert(VG_SETTING_COUNT <= 64 * VG__MASK_WORDS, "a term's mask holds every setting");
typedef struct vg__mask {
    uint64_t w[VG__MASK_WORDS];
} vg__mask;

static int vg__mask_has(const vg__mask *m, int s) { return (int)(m->w[s / 64] >> (s % 64) & 1); }
static void vg__mask_add(vg__mask *m, int s) { m->w[s / 64] |= UINT64_C(1) << (s % 64); }
static int vg__mask_cmp(const vg__mask *a, const vg__mask *b) {
    for (int k = 0; k < VG__MASK_WORDS; k++)
        if (a->w[k] != b->w[k]) return a->w[k] < b->w[k] ? -1 : 1;
    return 0;
}

typedef struct vg__term {
    vg__mask mask;
    int width;            /* settings in the mask */
    const uint64_t *bits; /* (width) their values, in setting order */
} vg__term;

typedef struct vg__group {
    vg__mask mask;
    int width;
    int settings[VG_SETTING_COUNT]; /* (width) */
    int64_t first, n;               /* its terms */
} vg__group;

/* The points of one axis projected on its owned settings (the point's value, else the
 * base's), sorted: whether a configuration is in the product is a bisection per axis. */
typedef struct vg__axis_index {
    int64_t n;
    const uint64_t **rows; /* (n) each (axis->n_owned) values, sorted */
} vg__axis_index;

struct vg_sweep {
    vg__arena *arena;
    const char *path;
    const vg_sweep_reader *reader; /* only while loading */
    int n_files;
    vg__file files[VG__MAX_EXTENDS + 1]; /* [0] the loaded file, then its parent, ... */
    char *text;                          /* files[0].text, or all texts (owned then) */
    size_t text_len;
    int text_owned;
    const char *name;
    uint64_t seed;
    int repeats;
    const vg_node *repeats_node;
    vg_run_config base;                      /* defaults overridden by the sections */
    const vg_node *set_by[VG_SETTING_COUNT]; /* key that set each base setting, or NULL */
    int n_axes;
    vg__axis axes[VG_SETTING_COUNT]; /* grid keys in file order, then zip groups */
    const vg_node *grid_node;        /* the last grid: or zip: seen, for "too many runs" */
    int64_t n_rules, cap_rules;
    vg__rule **rules;
    int64_t n_includes, cap_includes;
    vg_run_config **includes; /* partials over the base */
    const vg_node **include_nodes;
    int64_t n_configs; /* product of the axes' point counts */
    /* built once every file is loaded (vg__finish): */
    int64_t n_terms;
    vg__term *terms; /* (n_terms) sorted by mask, then values */
    int n_groups;
    vg__group *groups;
    int64_t n_slow;
    const vg__rule **slow;          /* rules checked as they are (too many combinations) */
    unsigned char *include_repeats; /* (n_includes) equal to an earlier include entry */
    vg__axis_index axis_index[VG_SETTING_COUNT]; /* (n_axes) */
};

static const char *const vg__top_keys[] = {"name",  "seed",   "repeats", "extends", "data",
                                           "model", "train",  "record",  "grid",    "zip",
                                           "exclude", "include"};
#define VG__N_TOP_KEYS (sizeof vg__top_keys / sizeof vg__top_keys[0])

/* --- nodes --- */

const char *vg_node_where(const vg_node *node, char *buf, size_t size) {
    if (!buf || size == 0) return buf;
    if (!node)
        snprintf(buf, size, "(default)");
    else
        snprintf(buf, size, "%s:%d:%d", node->file ? node->file : "(default)", node->line,
                 node->col);
    return buf;
}

const vg_node *vg_node_get(const vg_node *mapping, const char *key) {
    if (!mapping || mapping->kind != VG_NODE_MAPPING || !key) return NULL;
    for (int64_t i = 0; i < mapping->count; i++)
        if (strcmp(mapping->keys[i]->scalar, key) == 0) return mapping->values[i];
    return NULL;
}

/* "line 3" when other is in the same file as here, else "sweeps/base.yaml:3:5". */
static const char *vg__where_from(const vg_node *here, const vg_node *other, char *buf,
                                  size_t size) {
    if (here && other && here->file == other->file)
        snprintf(buf, size, "line %d", other->line);
    else
        vg_node_where(other, buf, size);
    return buf;
}

/* --- partials --- */

static int vg__int_value(const vg_run_config *cfg, int setting) {
    return *(const int *)((const char *)cfg + vg_settings[setting].offset);
}

/* A setting's value as 64 bits: equal bits are equal values (-0 is read as 0, NaN never). */
static uint64_t vg__bits(int setting, const vg_run_config *cfg) {
    if (vg_settings[setting].type == VG_TYPE_REAL) {
        double x = *(const double *)((const char *)cfg + vg_settings[setting].offset);
        uint64_t b;
        if (x == 0) x = 0.0;
        memcpy(&b, &x, sizeof b);
        return b;
    }
    return (uint64_t)(int64_t)vg__int_value(cfg, setting);
}

/* Orders two values of one setting: -1, 0, 1. */
static int vg__value_cmp(int setting, const vg_run_config *a, const vg_run_config *b) {
    if (vg_settings[setting].type == VG_TYPE_STRING) {
        int c = strcmp((const char *)a + vg_settings[setting].offset,
                       (const char *)b + vg_settings[setting].offset);
        return (c > 0) - (c < 0);
    }
    if (vg_settings[setting].type == VG_TYPE_REAL) {
        double x = *(const double *)((const char *)a + vg_settings[setting].offset);
        double y = *(const double *)((const char *)b + vg_settings[setting].offset);
        return (x > y) - (x < y);
    }
    int x = vg__int_value(a, setting), y = vg__int_value(b, setting);
    return (x > y) - (x < y);
}

/* Copies the settings a partial sets into cfg. */
static void vg__apply(vg_run_config *cfg, const vg_run_config *part, const int *settings, int n) {
    for (int k = 0; k < n; k++)
        if (part->source[settings[k]]) vg__setting_copy(settings[k], cfg, part);
}

/* Settings set in part, appended to list (if not there yet). */
static void vg__collect_set(const vg_run_config *part, int *list, int *n) {
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        if (!part->source[s]) continue;
        int k = 0;
        while (k < *n && list[k] != s) k++;
        if (k == *n) list[(*n)++] = s;
    }
}

/* Merges part into dst; a setting both set is an error blamed on the node that set it again. */
static vg_status vg__merge_partial(vg_run_config *dst, const vg_run_config *part, const char *label,
                                   const char *what, vg_error *err) {
    char where[64];
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        if (!part->source[s]) continue;
        if (dst->source[s])
            return vg__node_error(err, part->source[s], NULL, "%s: %s set twice in %s (first at %s)",
                                  label, vg_settings[s].path, what,
                                  vg__where_from(part->source[s], dst->source[s], where,
                                                 sizeof where));
        vg__setting_copy(s, dst, part);
    }
    return VG_OK;
}

/* "0.1", or "{norm: 1}" for the mapping form. */
static void vg__format_point(int setting, const vg_run_config *pt, char *buf, size_t size) {
    char value[64], param[64];
    vg_setting_format(setting, pt, value, sizeof value);
    const vg_setting *s = &vg_settings[setting];
    int choice = s->type == VG_TYPE_ENUM ? vg__int_value(pt, setting) : -1;
    int p = choice >= 0 && s->choice_params ? vg_setting_find(s->choice_params[choice]) : -1;
    if (p >= 0 && pt->source[p]) {
        vg_setting_format(p, pt, param, sizeof param);
        snprintf(buf, size, "{%s: %s}", value, param);
    } else {
        snprintf(buf, size, "%s", value);
    }
}

/* Finds two points equal on the owned settings (set or not, and value): *first < *second, the
 * pair whose second point comes first in the list. Sorting keeps it O(n log n) for long lists. */
typedef struct vg__sort_item {
    const vg_run_config *pt;
    int64_t index;
    const int *owned;
    int n_owned;
} vg__sort_item;

static int vg__point_cmp(const vg__sort_item *x, const vg__sort_item *y) {
    for (int k = 0; k < x->n_owned; k++) {
        int s = x->owned[k];
        int xs = x->pt->source[s] != NULL, ys = y->pt->source[s] != NULL;
        if (xs != ys) return xs - ys;
        if (xs) {
            int c = vg__value_cmp(s, x->pt, y->pt);
            if (c) return c;
        }
    }
    return 0;
}

static int vg__sort_cmp(const void *a, const void *b) {
    const vg__sort_item *x = a, *y = b;
    int c = vg__point_cmp(x, y);
    if (c) return c;
    return (x->index > y->index) - (x->index < y->index);
}

static vg_status vg__find_duplicate(const vg_sweep *S, const vg_run_config *points, int64_t n,
                                     const int *owned, int n_owned, int64_t *first,
                                     int64_t *second, int *found, vg_error *err) {
    *found = 0;
    if (n < 2) return VG_OK;
    vg__sort_item *items = malloc((size_t)n * sizeof *items);
    if (!items) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", S->path);
    for (int64_t i = 0; i < n; i++)
        items[i] = (vg__sort_item){.pt = &points[i], .index = i, .owned = owned, .n_owned = n_owned};
    qsort(items, (size_t)n, sizeof *items, vg__sort_cmp);
    for (int64_t i = 1; i < n; i++) {
        /* items[i] equal to items[i-1], and items[i-1] starts its group: a group's second. */
        if (vg__point_cmp(&items[i - 1], &items[i]) != 0) continue;
        if (i >= 2 && vg__point_cmp(&items[i - 2], &items[i - 1]) == 0) continue;
        if (!*found || items[i].index < *second) {
            *found = 1;
            *first = items[i - 1].index;
            *second = items[i].index;
        }
    }
    free(items);
    return VG_OK;
}

/* --- arena arrays --- */

static int vg__grow(vg__arena *arena, void **items, int64_t count, int64_t *cap, size_t size) {
    if (count < *cap) return 1;
    int64_t grown = *cap ? *cap * 2 : 8;
    void *fresh = vg__arena_alloc(arena, (size_t)grown * size);
    if (!fresh) return 0;
    if (count) memcpy(fresh, *items, (size_t)count * size);
    *items = fresh;
    *cap = grown;
    return 1;
}

static vg_status vg__nomem(const vg_sweep *S, vg_error *err) {
    return vg_error_set(err, VG_ENOMEM, "%s: out of memory", S->path);
}

/* --- walking sections: "model: {depth: 3}" and "model.depth: 3" reach the same setting --- */

static int vg__is_empty(const vg_node *node) {
    return node->kind == VG_NODE_SCALAR && !node->quoted && node->scalar[0] == '\0';
}

/* True if some setting lives below path ("model" for "model.depth"). */
static int vg__is_section(const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < VG_SETTING_COUNT; i++)
        if (strncmp(vg_settings[i].path, path, n) == 0 && vg_settings[i].path[n] == '.') return 1;
    return 0;
}

static vg_status vg__unknown_setting(const vg_node *key, const char *path, const char *prefix,
                                     vg_error *err) {
    const char *paths[VG_SETTING_COUNT];
    for (int i = 0; i < VG_SETTING_COUNT; i++) paths[i] = vg_settings[i].path;
    const char *hint = vg__suggest(path, paths, VG_SETTING_COUNT);
    if (!hint) {
        /* "model.lr": the right name in the wrong section. */
        const char *leaf = strrchr(path, '.');
        leaf = leaf ? leaf + 1 : path;
        for (int i = 0; i < VG_SETTING_COUNT && !hint; i++)
            if (strcmp(strrchr(paths[i], '.') + 1, leaf) == 0) hint = paths[i];
    }
    if (hint)
        return vg__node_error(err, key, NULL, "%s%s: unknown setting (did you mean \"%s\"?)",
                              prefix, path, hint);
    /* No likely typo: list what the section holds ("model settings are depth, width, ..."). */
    char known[768] = "";
    size_t used = 0, section_len = strcspn(path, ".");
    for (int i = 0; i < VG_SETTING_COUNT && used < sizeof known; i++) {
        if (strncmp(paths[i], path, section_len) != 0 || paths[i][section_len] != '.') continue;
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "",
                                 paths[i] + section_len + 1);
    }
    if (used)
        return vg__node_error(err, key, NULL, "%s%s: unknown setting; %.*s settings are %s",
                              prefix, path, (int)section_len, path, known);
    return vg__node_error(err, key, NULL,
                          "%s%s: unknown setting; sections are data, model, train and record",
                          prefix, path);
}

/* Called for every setting a walk reaches: label is prefix + path ("grid.model.depth"). */
typedef vg_status (*vg__visit_fn)(vg_sweep *S, void *ctx, int setting, const char *label,
                                  const vg_node *key, const vg_node *value, vg_error *err);

/* One key: a setting path, or a section ("model", "model.skip") whose mapping holds more keys.
 * A setting is matched before a section, so an ENUM's mapping form is not taken for one. */
static vg_status vg__walk(vg_sweep *S, const char *prefix, const char *path, const vg_node *key,
                          const vg_node *value, vg__visit_fn fn, void *ctx, vg_error *err) {
    char label[320];
    snprintf(label, sizeof label, "%s%s", prefix, path);
    int setting = vg_setting_find(path);
    if (setting >= 0) return fn(S, ctx, setting, label, key, value, err);
    if (!vg__is_section(path)) return vg__unknown_setting(key, path, prefix, err);
    if (vg__is_empty(value)) return VG_OK; /* "model:" with every line below commented out */
    if (value->kind != VG_NODE_MAPPING) {
        char got[128];
        return vg__node_error(err, value, NULL, "%s: expected a mapping of settings, got %s",
                              label, vg__node_describe(value, got, sizeof got));
    }
    for (int64_t i = 0; i < value->count; i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", path, value->keys[i]->scalar);
        vg_status st = vg__walk(S, prefix, sub, value->keys[i], value->values[i], fn, ctx, err);
        if (st) return st;
    }
    return VG_OK;
}

/* Walks every key of a mapping (a section-level mapping: grid:, one zip group, ...). */
static vg_status vg__walk_mapping(vg_sweep *S, const char *prefix, const vg_node *map,
                                  vg__visit_fn fn, void *ctx, vg_error *err) {
    for (int64_t i = 0; i < map->count; i++) {
        vg_status st = vg__walk(S, prefix, map->keys[i]->scalar, map->keys[i], map->values[i], fn,
                                ctx, err);
        if (st) return st;
    }
    return VG_OK;
}

/* --- base settings --- */

static vg_status vg__visit_base(vg_sweep *S, void *ctx, int setting, const char *label,
                                const vg_node *key, const vg_node *value, vg_error *err) {
    (void)ctx;
    const vg_node *first = S->set_by[setting];
    /* Set in the same file: a mistake. Set in a file this one extends: an override. */
    if (first && first->file == key->file)
        return vg__node_error(err, key, NULL, "%s: set twice (first at line %d)", label,
                              first->line);
    vg_run_config part;
    memset(&part, 0, sizeof part);
    vg_status st = vg__setting_parse(setting, value, label, &part, err);
    if (st) return st;
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        if (!part.source[s] || s == setting) continue;
        /* {choice: value} also set a parameter setting */
        if (S->set_by[s] && S->set_by[s]->file == key->file)
            return vg__node_error(err, value, NULL, "%s: set twice (first at line %d)",
                                  vg_settings[s].path, S->set_by[s]->line);
    }
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        if (!part.source[s]) continue;
        vg__setting_copy(s, &S->base, &part);
        S->set_by[s] = key;
    }
    return VG_OK;
}

/* --- grid and zip axes --- */

/* The axis and key index holding setting as a key, or -1. */
static int vg__axis_of(const vg_sweep *S, int setting, int *key_index) {
    for (int a = 0; a < S->n_axes; a++)
        for (int k = 0; k < S->axes[a].n_keys; k++)
            if (S->axes[a].settings[k] == setting) {
                *key_index = k;
                return a;
            }
    return -1;
}

static void vg__axis_owned(vg__axis *ax) {
    ax->n_owned = 0;
    for (int k = 0; k < ax->n_keys; k++) ax->owned[ax->n_owned++] = ax->settings[k];
    for (int64_t i = 0; i < ax->n_points; i++) vg__collect_set(&ax->points[i], ax->owned, &ax->n_owned);
}

static vg_status vg__expect_list(const char *label, const vg_node *list, vg_error *err) {
    char got[128];
    if (list->kind != VG_NODE_SEQUENCE || list->count == 0)
        return vg__node_error(err, list, NULL, "%s: expected a non-empty list of values, got %s",
                              label, vg__node_describe(list, got, sizeof got));
    return VG_OK;
}

/* Refuses a key that another axis already varies. */
static vg_status vg__check_new_key(const vg_sweep *S, int setting, const char *label,
                                   const vg_node *key, int in_zip, vg_error *err) {
    int k = 0, a = vg__axis_of(S, setting, &k);
    if (a < 0) return VG_OK;
    const vg__axis *ax = &S->axes[a];
    char where[256];
    vg__where_from(key, ax->keys[k], where, sizeof where);
    if (!in_zip && !ax->is_zip)
        return vg__node_error(err, key, NULL, "%s: set twice in the grid (first at %s)", label,
                              where);
    return vg__node_error(err, key, NULL, "%s: also varied by %s (at %s); a setting varies %s",
                          label, ax->labels[k], where,
                          in_zip && ax->is_zip ? "in one zip group only"
                                               : "in the grid or in one zip group, not in both");
}

static vg_status vg__visit_grid(vg_sweep *S, void *ctx, int setting, const char *label,
                                const vg_node *key, const vg_node *list, vg_error *err) {
    (void)ctx;
    int k = 0, a = vg__axis_of(S, setting, &k);
    /* A grid key of a file this one extends: replaced in place (same position). */
    int replace = a >= 0 && !S->axes[a].is_zip && S->axes[a].keys[0]->file != key->file;
    if (!replace) {
        vg_status st = vg__check_new_key(S, setting, label, key, 0, err);
        if (st) return st;
    }
    vg_status st = vg__expect_list(label, list, err);
    if (st) return st;
    vg_run_config *points = vg__arena_alloc(S->arena, (size_t)list->count * sizeof *points);
    char *label_copy = vg__arena_strndup(S->arena, label, strlen(label));
    if (!points || !label_copy) return vg__nomem(S, err);
    for (int64_t i = 0; i < list->count; i++)
        if ((st = vg__setting_parse(setting, list->items[i], label, &points[i], err))) return st;
    vg__axis *ax = replace ? &S->axes[a] : &S->axes[S->n_axes];
    memset(ax, 0, sizeof *ax);
    ax->n_keys = 1;
    ax->settings[0] = setting;
    ax->keys[0] = key;
    ax->labels[0] = label_copy;
    ax->n_points = list->count;
    ax->points = points;
    vg__axis_owned(ax);
    /* Equal values would make identical runs (same id): refuse them here, naming both. */
    int64_t i = 0, j = 0;
    int found = 0;
    if ((st = vg__find_duplicate(S, points, list->count, ax->owned, ax->n_owned, &i, &j, &found,
                                 err)))
        return st;
    if (found) {
        char value[160];
        vg__format_point(setting, &points[j], value, sizeof value);
        return vg__node_error(err, list->items[j], NULL,
                              "%s: expected distinct values, got %s twice (first at line %d, "
                              "column %d): the runs would be identical",
                              label, value, list->items[i]->line, list->items[i]->col);
    }
    if (!replace) S->n_axes++;
    return VG_OK;
}

static vg_status vg__load_grid(vg_sweep *S, const vg_node *grid, vg_error *err) {
    char got[128];
    if (vg__is_empty(grid)) return VG_OK;
    if (grid->kind != VG_NODE_MAPPING)
        return vg__node_error(err, grid, NULL,
                              "grid: expected a mapping from setting paths to lists of values, "
                              "got %s",
                              vg__node_describe(grid, got, sizeof got));
    S->grid_node = grid;
    return vg__walk_mapping(S, "grid.", grid, vg__visit_grid, NULL, err);
}

static vg_status vg__visit_zip(vg_sweep *S, void *ctx, int setting, const char *label,
                               const vg_node *key, const vg_node *list, vg_error *err) {
    vg__axis *ax = ctx;
    char where[64];
    for (int k = 0; k < ax->n_keys; k++)
        if (ax->settings[k] == setting)
            return vg__node_error(err, key, NULL, "%s: set twice in this zip group (first at %s)",
                                  label, vg__where_from(key, ax->keys[k], where, sizeof where));
    vg_status st = vg__check_new_key(S, setting, label, key, 1, err);
    if (!st) st = vg__expect_list(label, list, err);
    if (st) return st;
    if (ax->n_keys == 0) {
        ax->n_points = list->count;
        ax->points = vg__arena_alloc(S->arena, (size_t)list->count * sizeof *ax->points);
        if (!ax->points) return vg__nomem(S, err);
    } else if (list->count != ax->n_points) {
        return vg__node_error(err, list, NULL,
                              "%s: expected %lld values, as many as %s (line %d), got %lld: "
                              "zipped lists vary together and must have equal lengths",
                              label, (long long)ax->n_points, ax->labels[0], ax->keys[0]->line,
                              (long long)list->count);
    }
    char *label_copy = vg__arena_strndup(S->arena, label, strlen(label));
    if (!label_copy) return vg__nomem(S, err);
    for (int64_t i = 0; i < list->count; i++) {
        vg_run_config part;
        memset(&part, 0, sizeof part);
        if ((st = vg__setting_parse(setting, list->items[i], label, &part, err))) return st;
        if ((st = vg__merge_partial(&ax->points[i], &part, label, "this zip group", err)))
            return st;
    }
    ax->settings[ax->n_keys] = setting;
    ax->keys[ax->n_keys] = key;
    ax->labels[ax->n_keys] = label_copy;
    ax->n_keys++;
    return VG_OK;
}

static vg_status vg__load_zip_group(vg_sweep *S, const vg_node *group, vg_error *err) {
    char got[128];
    if (group->kind != VG_NODE_MAPPING || group->count == 0)
        return vg__node_error(err, group, NULL,
                              "zip: expected a mapping from setting paths to lists of equal "
                              "length (or a list of such mappings), got %s",
                              vg__node_describe(group, got, sizeof got));
    if (S->n_axes >= VG_SETTING_COUNT) /* every axis has a key of its own: cannot happen */
        return vg__node_error(err, group, NULL, "zip: too many groups");
    vg__axis *ax = &S->axes[S->n_axes];
    memset(ax, 0, sizeof *ax);
    ax->is_zip = 1;
    vg_status st = vg__walk_mapping(S, "zip.", group, vg__visit_zip, ax, err);
    if (st) return st;
    if (ax->n_keys == 0) return VG_OK; /* only empty sections */
    vg__axis_owned(ax);
    int64_t i = 0, j = 0;
    int found = 0;
    if ((st = vg__find_duplicate(S, ax->points, ax->n_points, ax->owned, ax->n_owned, &i, &j,
                                 &found, err)))
        return st;
    if (found) {
        const vg_node *list = NULL;
        for (int64_t g = 0; g < group->count && !list; g++)
            if (group->values[g]->kind == VG_NODE_SEQUENCE) list = group->values[g];
        const vg_node *at = list && j < list->count ? list->items[j] : group;
        return vg__node_error(err, at, NULL,
                              "zip: expected distinct combinations, got the values at position "
                              "%lld equal to those at position %lld: the runs would be identical",
                              (long long)j + 1, (long long)i + 1);
    }
    S->n_axes++;
    return VG_OK;
}

static vg_status vg__load_zip(vg_sweep *S, const vg_node *zip, vg_error *err) {
    char got[128];
    if (vg__is_empty(zip)) return VG_OK;
    S->grid_node = zip;
    if (zip->kind == VG_NODE_MAPPING) return vg__load_zip_group(S, zip, err);
    if (zip->kind != VG_NODE_SEQUENCE || zip->count == 0)
        return vg__node_error(err, zip, NULL,
                              "zip: expected a mapping from setting paths to lists of equal "
                              "length, or a list of such mappings, got %s",
                              vg__node_describe(zip, got, sizeof got));
    for (int64_t i = 0; i < zip->count; i++) {
        vg_status st = vg__load_zip_group(S, zip->items[i], err);
        if (st) return st;
    }
    return VG_OK;
}

/* --- exclude and include --- */

static vg_status vg__visit_exclude(vg_sweep *S, void *ctx, int setting, const char *label,
                                   const vg_node *key, const vg_node *value, vg_error *err) {
    vg__rule *rule = ctx;
    char where[64];
    for (int c = 0; c < rule->n_conds; c++)
        if (rule->conds[c].setting == setting)
            return vg__node_error(err, key, NULL, "%s: set twice in this exclude entry (first at %s)",
                                  label,
                                  vg__where_from(key, rule->conds[c].key, where, sizeof where));
    vg__cond *cond = &rule->conds[rule->n_conds];
    cond->setting = setting;
    cond->key = key;
    int is_list = value->kind == VG_NODE_SEQUENCE;
    if (is_list && value->count == 0) {
        char got[128];
        return vg__node_error(err, value, NULL,
                              "%s: expected a value or a non-empty list of values, got %s", label,
                              vg__node_describe(value, got, sizeof got));
    }
    cond->n_alts = is_list ? value->count : 1;
    cond->alts = vg__arena_alloc(S->arena, (size_t)cond->n_alts * sizeof *cond->alts);
    if (!cond->alts) return vg__nomem(S, err);
    for (int64_t i = 0; i < cond->n_alts; i++) {
        vg_run_config part;
        memset(&part, 0, sizeof part);
        const vg_node *item = is_list ? value->items[i] : value;
        vg_status st = vg__setting_parse(setting, item, label, &part, err);
        if (st) return st;
        vg__alt *alt = &cond->alts[i];
        for (int s = 0; s < VG_SETTING_COUNT; s++) {
            if (!part.source[s]) continue;
            if (alt->n == VG__ALT_MAX)
                return vg__node_error(err, item, NULL, "%s: sets more than %d settings", label,
                                      VG__ALT_MAX);
            alt->settings[alt->n] = s;
            alt->bits[alt->n++] = vg__bits(s, &part);
        }
    }
    rule->n_conds++;
    return VG_OK;
}

static vg_status vg__visit_include(vg_sweep *S, void *ctx, int setting, const char *label,
                                   const vg_node *key, const vg_node *value, vg_error *err) {
    (void)S;
    (void)key;
    vg_run_config part;
    memset(&part, 0, sizeof part);
    vg_status st = vg__setting_parse(setting, value, label, &part, err);
    if (st) return st;
    return vg__merge_partial(ctx, &part, label, "this include entry", err);
}

/* exclude: and include: take a list of mappings (or one mapping). */
static vg_status vg__load_entries(vg_sweep *S, const char *what, const vg_node *node,
                                  vg_error *err) {
    char got[128], prefix[16];
    int is_exclude = what[0] == 'e';
    snprintf(prefix, sizeof prefix, "%s.", what);
    if (vg__is_empty(node)) return VG_OK;
    const vg_node *const *entries = (const vg_node *const *)&node;
    int64_t n = 1;
    if (node->kind == VG_NODE_SEQUENCE) {
        entries = (const vg_node *const *)node->items;
        n = node->count;
    }
    if (n == 0 || (node->kind != VG_NODE_SEQUENCE && node->kind != VG_NODE_MAPPING))
        return vg__node_error(err, node, NULL,
                              "%s: expected a list of mappings of settings to values, got %s",
                              what, vg__node_describe(node, got, sizeof got));
    for (int64_t i = 0; i < n; i++) {
        const vg_node *entry = entries[i];
        if (entry->kind != VG_NODE_MAPPING || entry->count == 0)
            return vg__node_error(err, entry, NULL,
                                  "%s: expected a mapping of settings to values%s, got %s", what,
                                  is_exclude ? " (the runs to drop)" : " (one extra run)",
                                  vg__node_describe(entry, got, sizeof got));
        vg_status st;
        if (is_exclude) {
            /* conditions gathered here, then copied at their size (an entry has one or two) */
            vg__cond conds[VG_SETTING_COUNT];
            vg__rule building = {.node = entry, .conds = conds};
            if ((st = vg__walk_mapping(S, prefix, entry, vg__visit_exclude, &building, err)))
                return st;
            if (building.n_conds == 0)
                return vg__node_error(err, entry, NULL,
                                      "%s: expected at least one setting, got only empty sections "
                                      "(an empty entry would drop every run)",
                                      what);
            vg__rule *rule = vg__arena_alloc(S->arena, sizeof *rule);
            vg__cond *kept = vg__arena_alloc(S->arena, (size_t)building.n_conds * sizeof *kept);
            if (!rule || !kept ||
                !vg__grow(S->arena, (void **)&S->rules, S->n_rules, &S->cap_rules,
                          sizeof *S->rules))
                return vg__nomem(S, err);
            memcpy(kept, conds, (size_t)building.n_conds * sizeof *kept);
            *rule = (vg__rule){.node = entry, .n_conds = building.n_conds, .conds = kept};
            S->rules[S->n_rules++] = rule;
        } else {
            vg_run_config *part = vg__arena_alloc(S->arena, sizeof *part);
            int64_t cap = S->cap_includes;
            if (!part ||
                !vg__grow(S->arena, (void **)&S->includes, S->n_includes, &S->cap_includes,
                          sizeof *S->includes) ||
                !vg__grow(S->arena, (void **)&S->include_nodes, S->n_includes, &cap,
                          sizeof *S->include_nodes))
                return vg__nomem(S, err);
            if ((st = vg__walk_mapping(S, prefix, entry, vg__visit_include, part, err))) return st;
            S->includes[S->n_includes] = part;
            S->include_nodes[S->n_includes++] = entry;
        }
    }
    return VG_OK;
}

/* --- top level --- */

/* Strict unsigned integer: digits only (no sign, no spaces), no overflow. */
static int vg__parse_u64(const vg_node *node, uint64_t max, uint64_t *out) {
    if (node->kind != VG_NODE_SCALAR || node->quoted || !node->scalar[0]) return 0;
    uint64_t v = 0;
    for (const char *p = node->scalar; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        unsigned digit = (unsigned)(*p - '0');
        if (v > (max - digit) / 10) return 0;
        v = v * 10 + digit;
    }
    *out = v;
    return 1;
}

static vg_status vg__load_top(vg_sweep *S, const vg_node *root, vg_error *err) {
    char got[128];
    if (root->kind != VG_NODE_MAPPING)
        return vg__node_error(err, root, NULL,
                              "top level: expected a mapping (name:, seed:, model:, grid:, ...), "
                              "got %s",
                              vg__node_describe(root, got, sizeof got));
    const vg_node *grid = NULL, *zip = NULL, *exclude = NULL, *include = NULL;
    for (int64_t i = 0; i < root->count; i++) {
        const vg_node *key = root->keys[i], *value = root->values[i];
        const char *k = key->scalar;
        vg_status st = VG_OK;
        if (!strcmp(k, "name")) {
            if (value->kind != VG_NODE_SCALAR || vg__is_empty(value))
                return vg__node_error(err, value, NULL, "name: expected a text, got %s",
                                      vg__node_describe(value, got, sizeof got));
            S->name = value->scalar;
        } else if (!strcmp(k, "seed")) {
            if (!vg__parse_u64(value, UINT64_MAX, &S->seed))
                return vg__node_error(err, value, NULL,
                                      "seed: expected a non-negative integer below 2^64, got %s",
                                      vg__node_describe(value, got, sizeof got));
        } else if (!strcmp(k, "repeats")) {
            uint64_t r;
            if (!vg__parse_u64(value, UINT64_MAX, &r) || r < 1 || r > VG__MAX_REPEATS)
                return vg__node_error(err, value, NULL,
                                      "repeats: expected an integer in [1, %d], got %s",
                                      VG__MAX_REPEATS, vg__node_describe(value, got, sizeof got));
            S->repeats = (int)r;
            S->repeats_node = value;
        } else if (!strcmp(k, "extends")) {
            /* already followed by vg__load_file */
        } else if (!strncmp(k, "x-", 2)) {
            /* Ignored, as in docker-compose: a place to define anchors (x-base: &base ...). */
        } else if (!strcmp(k, "grid")) {
            grid = value; /* after the sections, so "set twice" points at the later line */
        } else if (!strcmp(k, "zip")) {
            zip = value;
        } else if (!strcmp(k, "exclude")) {
            exclude = value;
        } else if (!strcmp(k, "include")) {
            include = value;
        } else if (vg__is_section(k) || strchr(k, '.')) {
            st = vg__walk(S, "", k, key, value, vg__visit_base, NULL, err);
        } else {
            const char *hint = vg__suggest(k, vg__top_keys, VG__N_TOP_KEYS);
            for (int j = 0; j < VG_SETTING_COUNT && !hint; j++) /* "depth:" at top level */
                if (strcmp(strrchr(vg_settings[j].path, '.') + 1, k) == 0) hint = vg_settings[j].path;
            if (hint)
                return vg__node_error(err, key, NULL,
                                      "%s: unknown top-level key (did you mean \"%s\"?)", k, hint);
            return vg__node_error(err, key, NULL,
                                  "%s: unknown top-level key; expected name, seed, repeats, "
                                  "extends, data, model, train, record, grid, zip, exclude, "
                                  "include, a setting path like model.depth, or x-<anything> for "
                                  "anchors",
                                  k);
        }
        if (st) return st;
    }
    vg_status st = VG_OK;
    if (!st && grid) st = vg__load_grid(S, grid, err);
    if (!st && zip) st = vg__load_zip(S, zip, err);
    if (!st && exclude) st = vg__load_entries(S, "exclude", exclude, err);
    if (!st && include) st = vg__load_entries(S, "include", include, err);
    return st;
}

/* --- files and extends --- */

/* Lexical normalisation: "sweeps/sub/../base.yaml" -> "sweeps/base.yaml", "./a" -> "a". */
static char *vg__normalize_path(vg__arena *arena, const char *path) {
    size_t n = strlen(path);
    char *copy = malloc(n + 1), *out = malloc(n + 2);
    const char **parts = malloc((n / 2 + 2) * sizeof *parts);
    char *result = NULL;
    if (!copy || !out || !parts) goto done;
    memcpy(copy, path, n + 1);
    int absolute = path[0] == '/';
    size_t n_parts = 0;
    for (char *p = copy, *next; p; p = next) {
        next = strchr(p, '/');
        if (next) *next++ = '\0';
        if (!*p || !strcmp(p, ".")) continue;
        if (!strcmp(p, "..") && n_parts && strcmp(parts[n_parts - 1], "..")) {
            n_parts--;
            continue;
        }
        if (!strcmp(p, "..") && absolute) continue; /* "/.." is "/" */
        parts[n_parts++] = p;
    }
    size_t used = 0;
    if (absolute) out[used++] = '/';
    for (size_t i = 0; i < n_parts; i++) {
        size_t len = strlen(parts[i]);
        if (i) out[used++] = '/';
        memcpy(out + used, parts[i], len);
        used += len;
    }
    if (used == 0) out[used++] = '.';
    result = vg__arena_strndup(arena, out, used);
done:
    free(copy);
    free(out);
    free(parts);
    return result;
}

/* The parent's path: relative to the directory of the file that names it. */
static char *vg__parent_path(vg__arena *arena, const char *from, const char *rel) {
    const char *slash = strrchr(from, '/');
    if (rel[0] == '/' || !slash) return vg__arena_strndup(arena, rel, strlen(rel));
    size_t dir = (size_t)(slash - from) + 1, n = strlen(rel);
    char *joined = vg__arena_alloc(arena, dir + n + 1);
    if (!joined) return NULL;
    memcpy(joined, from, dir);
    memcpy(joined + dir, rel, n + 1);
    return joined;
}

static vg_status vg__fs_read(void *ctx, const char *path, char **text, size_t *len,
                             vg_error *err) {
    (void)ctx;
    return vg__read_file(path, text, len, err);
}

/* Parses one file (text is handed over: the sweep frees it), follows its extends: first so
 * that its own settings override the parent's, then loads its keys. */
static vg_status vg__load_file(vg_sweep *S, const char *path, char *text, size_t len,
                               vg_error *err) {
    vg__file *F = &S->files[S->n_files++];
    F->path = path;
    F->text = text;
    F->len = len;
    if (!(F->key = vg__normalize_path(S->arena, path))) return vg__nomem(S, err);
    vg_node *root = NULL;
    vg_status st = vg__yaml_parse(path, text, len, S->arena, &root, err);
    if (st) return st;
    const vg_node *ext = vg_node_get(root, "extends");
    if (ext) {
        char got[128], where[256];
        F->extends = ext;
        int control = 0;
        for (const char *c = ext->kind == VG_NODE_SCALAR ? ext->scalar : ""; *c && !control; c++)
            control = (unsigned char)*c < 0x20 || *c == 0x7f;
        if (ext->kind != VG_NODE_SCALAR || vg__is_empty(ext) || control ||
            strlen(ext->scalar) > 4096)
            return vg__node_error(err, ext, NULL,
                                  "extends: expected the path of a sweep file, got %s",
                                  vg__node_describe(ext, got, sizeof got));
        /* Normalised lexically ("sub/../b.yaml" is "b.yaml"): what messages show and the
         * reader opens, and how a cycle through another spelling is still found. */
        char *joined = vg__parent_path(S->arena, path, ext->scalar);
        const char *parent = joined ? vg__normalize_path(S->arena, joined) : NULL, *key = parent;
        if (!key) return vg__nomem(S, err);
        for (int i = 0; i < S->n_files; i++) {
            if (strcmp(S->files[i].key, key) != 0) continue;
            /* a -> b -> a: name the chain, at the extends: of the file that closes it. */
            char chain[768];
            size_t used = 0;
            for (int j = i; j < S->n_files && used < sizeof chain; j++)
                used += (size_t)snprintf(chain + used, sizeof chain - used, "%s -> ",
                                         S->files[j].path);
            if (used < sizeof chain)
                snprintf(chain + used, sizeof chain - used, "%s", S->files[i].path);
            return vg__node_error(err, S->files[i].extends, NULL, "extends: cycle %s", chain);
        }
        if (S->n_files > VG__MAX_EXTENDS)
            return vg__node_error(err, ext, NULL,
                                  "extends: expected a chain of at most %d files, got more",
                                  VG__MAX_EXTENDS + 1);
        char *ptext = NULL;
        size_t plen = 0;
        vg_error read_err;
        vg_error_clear(&read_err);
        st = S->reader && S->reader->read
                 ? S->reader->read(S->reader->ctx, parent, &ptext, &plen, &read_err)
                 : vg__fs_read(NULL, parent, &ptext, &plen, &read_err);
        if (st) {
            free(ptext);
            vg_node_where(ext, where, sizeof where);
            vg__one_line(read_err.message, sizeof read_err.message);
            return vg_error_set(err, st, "%s: extends: %s", where, read_err.message);
        }
        if ((st = vg__load_file(S, parent, ptext, plen, err))) return st;
    }
    return vg__load_top(S, root, err);
}

/* --- indexes of the exclude rules, the include entries and the axes (vg__finish) --- */

static int vg__cmp_rows(const uint64_t *x, const uint64_t *y, int width) {
    for (int k = 0; k < width; k++)
        if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
    return 0;
}

static int vg__cmp_term(const void *a, const void *b) {
    const vg__term *x = a, *y = b;
    int c = vg__mask_cmp(&x->mask, &y->mask);
    if (c) return c;
    return vg__cmp_rows(x->bits, y->bits, x->width);
}

static int vg__alt_matches(const vg__alt *alt, const vg_run_config *cfg) {
    for (int k = 0; k < alt->n; k++)
        if (vg__bits(alt->settings[k], cfg) != alt->bits[k]) return 0;
    return 1;
}

static int vg__rule_matches(const vg__rule *rule, const vg_run_config *cfg) {
    for (int c = 0; c < rule->n_conds; c++) {
        int any = 0;
        for (int64_t k = 0; k < rule->conds[c].n_alts && !any; k++)
            any = vg__alt_matches(&rule->conds[c].alts[k], cfg);
        if (!any) return 0;
    }
    return 1;
}

/* The terms of one rule (vg__rule_combinations), appended to terms; alternatives that set one
 * setting to two values make no term (they can never hold together). */
static vg_status vg__rule_terms(vg_sweep *S, const vg__rule *rule, vg__term *terms,
                                int64_t *n_terms, vg_error *err) {
    int64_t pick[VG_SETTING_COUNT] = {0};
    for (;;) {
        vg__mask mask = {{0}};
        uint64_t value[VG_SETTING_COUNT];
        int ok = 1;
        for (int c = 0; c < rule->n_conds && ok; c++) {
            const vg__alt *alt = &rule->conds[c].alts[pick[c]];
            for (int k = 0; k < alt->n && ok; k++) {
                int st = alt->settings[k];
                if (vg__mask_has(&mask, st) && value[st] != alt->bits[k]) ok = 0;
                vg__mask_add(&mask, st);
                value[st] = alt->bits[k];
            }
        }
        if (ok) {
            int width = 0;
            uint64_t row[VG_SETTING_COUNT];
            for (int st = 0; st < VG_SETTING_COUNT; st++)
                if (vg__mask_has(&mask, st)) row[width++] = value[st];
            uint64_t *bits = vg__arena_alloc(S->arena, (size_t)width * sizeof *bits);
            if (!bits) return vg__nomem(S, err);
            memcpy(bits, row, (size_t)width * sizeof *bits);
            terms[(*n_terms)++] = (vg__term){mask, width, bits};
        }
        int c = rule->n_conds - 1; /* the next combination, the last condition fastest */
        while (c >= 0 && ++pick[c] == rule->conds[c].n_alts) pick[c--] = 0;
        if (c < 0) return VG_OK;
    }
}

/* The terms rule expands into, or -1 when it is checked as it is (too many combinations). */
static int64_t vg__rule_combinations(const vg__rule *rule) {
    int64_t alts = 0, combos = 1;
    for (int c = 0; c < rule->n_conds; c++) alts += rule->conds[c].n_alts;
    int64_t limit = 2 * alts > VG__MAX_TERMS ? 2 * alts : VG__MAX_TERMS;
    for (int c = 0; c < rule->n_conds; c++) {
        combos *= rule->conds[c].n_alts;
        if (combos > limit) return -1;
    }
    return combos;
}

static vg_status vg__index_rules(vg_sweep *S, vg_error *err) {
    int64_t n_terms = 0;
    for (int64_t r = 0; r < S->n_rules; r++) {
        int64_t combos = vg__rule_combinations(S->rules[r]);
        if (combos > 0) n_terms += combos;
    }
    S->terms = vg__arena_alloc(S->arena, (size_t)(n_terms ? n_terms : 1) * sizeof *S->terms);
    S->slow = vg__arena_alloc(S->arena, (size_t)(S->n_rules ? S->n_rules : 1) * sizeof *S->slow);
    if (!S->terms || !S->slow) return vg__nomem(S, err);
    for (int64_t r = 0; r < S->n_rules; r++) {
        const vg__rule *rule = S->rules[r];
        if (vg__rule_combinations(rule) < 0) {
            S->slow[S->n_slow++] = rule;
            continue;
        }
        vg_status st = vg__rule_terms(S, rule, S->terms, &S->n_terms, err);
        if (st) return st;
    }
    qsort(S->terms, (size_t)S->n_terms, sizeof *S->terms, vg__cmp_term);
    int n_groups = 0;
    for (int64_t i = 0; i < S->n_terms; i++)
        n_groups += i == 0 || vg__mask_cmp(&S->terms[i].mask, &S->terms[i - 1].mask) != 0;
    S->groups = vg__arena_alloc(S->arena, (size_t)(n_groups ? n_groups : 1) * sizeof *S->groups);
    if (!S->groups) return vg__nomem(S, err);
    for (int64_t i = 0; i < S->n_terms; i++) {
        if (i > 0 && vg__mask_cmp(&S->terms[i].mask, &S->terms[i - 1].mask) == 0) {
            S->groups[S->n_groups - 1].n++;
            continue;
        }
        vg__group *g = &S->groups[S->n_groups++];
        g->mask = S->terms[i].mask;
        g->width = 0;
        for (int st = 0; st < VG_SETTING_COUNT; st++)
            if (vg__mask_has(&g->mask, st)) g->settings[g->width++] = st;
        g->first = i;
        g->n = 1;
    }
    return VG_OK;
}

/* Whether some exclude rule drops cfg. */
static int vg__excluded(const vg_sweep *S, const vg_run_config *cfg) {
    for (int gi = 0; gi < S->n_groups; gi++) {
        const vg__group *g = &S->groups[gi];
        uint64_t row[VG_SETTING_COUNT];
        for (int k = 0; k < g->width; k++) row[k] = vg__bits(g->settings[k], cfg);
        int64_t lo = g->first, hi = g->first + g->n; /* bisection in [lo, hi) */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            int c = vg__cmp_rows(S->terms[mid].bits, row, g->width);
            if (c == 0) return 1;
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
    }
    for (int64_t r = 0; r < S->n_slow; r++)
        if (vg__rule_matches(S->slow[r], cfg)) return 1;
    return 0;
}

/* An axis's projection of a configuration (or point p of it: where p does not set a setting,
 * the base's value). */
static void vg__axis_row(const vg_sweep *S, const vg__axis *ax, const vg_run_config *cfg,
                         int is_point, uint64_t *row) {
    for (int k = 0; k < ax->n_owned; k++) {
        int st = ax->owned[k];
        row[k] = vg__bits(st, is_point && !cfg->source[st] ? &S->base : cfg);
    }
}

typedef struct vg__row_item {
    const uint64_t *row;
    int width;
    uint64_t hash;
    int64_t index;
} vg__row_item;

static int vg__cmp_row_item(const void *a, const void *b) {
    const vg__row_item *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    int c = vg__cmp_rows(x->row, y->row, x->width);
    if (c) return c;
    return (x->index > y->index) - (x->index < y->index);
}

static vg_status vg__index_axes(vg_sweep *S, vg_error *err) {
    for (int a = 0; a < S->n_axes; a++) {
        const vg__axis *ax = &S->axes[a];
        vg__axis_index *ix = &S->axis_index[a];
        vg__row_item *items = malloc((size_t)ax->n_points * sizeof *items);
        uint64_t *rows = vg__arena_alloc(S->arena, (size_t)(ax->n_points * ax->n_owned + 1) *
                                                       sizeof *rows);
        ix->rows = vg__arena_alloc(S->arena, (size_t)ax->n_points * sizeof *ix->rows);
        if (!items || !rows || !ix->rows) {
            free(items);
            return vg__nomem(S, err);
        }
        for (int64_t p = 0; p < ax->n_points; p++) {
            uint64_t *row = rows + p * ax->n_owned;
            vg__axis_row(S, ax, &ax->points[p], 1, row);
            items[p] = (vg__row_item){row, ax->n_owned, 0, p};
        }
        qsort(items, (size_t)ax->n_points, sizeof *items, vg__cmp_row_item);
        for (int64_t p = 0; p < ax->n_points; p++) ix->rows[p] = items[p].row;
        ix->n = ax->n_points;
        free(items);
    }
    return VG_OK;
}

/* Whether cfg is one of the product's configurations (excluded or not). */
static int vg__in_product(const vg_sweep *S, const vg_run_config *cfg) {
    vg__mask owned = {{0}};
    for (int a = 0; a < S->n_axes; a++)
        for (int k = 0; k < S->axes[a].n_owned; k++) vg__mask_add(&owned, S->axes[a].owned[k]);
    for (int s = 0; s < VG_SETTING_COUNT; s++)
        if (!vg__mask_has(&owned, s) && vg__value_cmp(s, cfg, &S->base) != 0) return 0;
    for (int a = 0; a < S->n_axes; a++) {
        const vg__axis *ax = &S->axes[a];
        const vg__axis_index *ix = &S->axis_index[a];
        uint64_t row[VG_SETTING_COUNT];
        vg__axis_row(S, ax, cfg, 0, row);
        int64_t lo = 0, hi = ix->n;
        int found = 0;
        while (lo < hi && !found) {
            int64_t mid = lo + (hi - lo) / 2;
            int c = vg__cmp_rows(ix->rows[mid], row, ax->n_owned);
            if (c == 0) found = 1;
            else if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        if (!found) return 0;
    }
    return 1;
}

/* An include entry resolved over the base settings. */
static void vg__include_config(const vg_sweep *S, int64_t i, vg_run_config *cfg) {
    *cfg = S->base;
    for (int s = 0; s < VG_SETTING_COUNT; s++)
        if (S->includes[i]->source[s]) vg__setting_copy(s, cfg, S->includes[i]);
}

/* Which include entries resolve to the same settings as an earlier one: sorted by a hash of
 * their resolved values, so that 200,000 entries are compared in n log n. */
static vg_status vg__index_includes(vg_sweep *S, vg_error *err) {
    int64_t n = S->n_includes;
    if (n == 0) return VG_OK;
    vg__row_item *items = malloc((size_t)n * sizeof *items);
    uint64_t *rows = malloc((size_t)n * VG_SETTING_COUNT * sizeof *rows);
    S->include_repeats = vg__arena_alloc(S->arena, (size_t)n);
    if (!items || !rows || !S->include_repeats) {
        free(items), free(rows);
        return vg__nomem(S, err);
    }
    for (int64_t i = 0; i < n; i++) {
        vg_run_config cfg;
        vg__include_config(S, i, &cfg);
        uint64_t *row = rows + i * VG_SETTING_COUNT, h = 1469598103934665603ull;
        for (int s = 0; s < VG_SETTING_COUNT; s++) {
            row[s] = vg__bits(s, &cfg);
            h = (h ^ row[s]) * 1099511628211ull;
        }
        items[i] = (vg__row_item){row, VG_SETTING_COUNT, h, i};
    }
    qsort(items, (size_t)n, sizeof *items, vg__cmp_row_item);
    for (int64_t i = 1; i < n; i++)
        if (items[i].hash == items[i - 1].hash &&
            vg__cmp_rows(items[i].row, items[i - 1].row, VG_SETTING_COUNT) == 0)
            S->include_repeats[items[i].index] = 1; /* the earliest of equal ones sorts first */
    free(items);
    free(rows);
    return VG_OK;
}

/* The node by which an axis varies setting s: its key, or the first value that sets s. */
static const vg_node *vg__axis_node(const vg__axis *ax, int s) {
    for (int k = 0; k < ax->n_keys; k++)
        if (ax->settings[k] == s) return ax->keys[k];
    for (int64_t p = 0; p < ax->n_points; p++)
        if (ax->points[p].source[s]) return ax->points[p].source[s];
    return ax->keys[0];
}

/* Checks that need every file: axes that vary one setting twice, the size of the product. */
static vg_status vg__finish(vg_sweep *S, vg_error *err) {
    char where[256];
    for (int b = 0; b < S->n_axes; b++) {
        const vg__axis *B = &S->axes[b];
        for (int a = 0; a < b; a++) {
            const vg__axis *A = &S->axes[a];
            for (int i = 0; i < B->n_owned; i++) {
                int s = B->owned[i], owned_by_a = 0;
                for (int j = 0; j < A->n_owned && !owned_by_a; j++) owned_by_a = A->owned[j] == s;
                if (!owned_by_a) continue;
                /* Blame the node of B that sets s: a key, or the first {choice: value}. */
                const vg_node *at = vg__axis_node(B, s), *other = vg__axis_node(A, s);
                return vg__node_error(err, at, NULL,
                                      "%s: varied twice: also by %s (at %s); a setting varies in "
                                      "one grid key or zip group only",
                                      vg_settings[s].path, A->labels[0],
                                      vg__where_from(at, other, where, sizeof where));
            }
        }
    }
    S->n_configs = 1;
    for (int a = 0; a < S->n_axes; a++) {
        int64_t n = S->axes[a].n_points;
        if (S->n_configs > VG__MAX_RUNS / n)
            return vg__node_error(err, S->grid_node, S->path,
                                  "grid: expected at most %lld runs, got more", VG__MAX_RUNS);
        S->n_configs *= n;
    }
    int64_t upper = S->n_configs + S->n_includes;
    if (upper > VG__MAX_RUNS / S->repeats) {
        const vg_node *at = S->repeats > 1 ? S->repeats_node : S->grid_node;
        return vg__node_error(err, at, S->path,
                              "expected at most %lld runs, got %lld configurations x %d repeats",
                              VG__MAX_RUNS, (long long)upper, S->repeats);
    }
    vg_status st = vg__index_rules(S, err);
    if (!st) st = vg__index_axes(S, err);
    if (!st) st = vg__index_includes(S, err);
    return st;
}

/* "sweeps/depth.yaml" -> "depth" */
static const char *vg__base_name(vg__arena *arena, const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return vg__arena_strndup(arena, base, n);
}

/* One file: its bytes. Several: each after a "# --- file: <path>" line, the loaded one first. */
static vg_status vg__join_texts(vg_sweep *S, vg_error *err) {
    if (S->n_files == 1) {
        S->text = S->files[0].text;
        S->text_len = S->files[0].len;
        return VG_OK;
    }
    size_t total = 1;
    for (int i = 0; i < S->n_files; i++) total += S->files[i].len + strlen(S->files[i].path) + 32;
    char *text = malloc(total);
    if (!text) return vg__nomem(S, err);
    size_t used = 0;
    for (int i = 0; i < S->n_files; i++) {
        const vg__file *F = &S->files[i];
        used += (size_t)snprintf(text + used, total - used, "# --- file: %s\n", F->path);
        memcpy(text + used, F->text, F->len);
        used += F->len;
        if (F->len && F->text[F->len - 1] != '\n') text[used++] = '\n';
    }
    text[used] = '\0';
    S->text = text;
    S->text_len = used;
    S->text_owned = 1;
    return VG_OK;
}

static vg_status vg__load(const char *path, char *text, size_t len, vg_status read_status,
                          const vg_sweep_reader *reader, vg_sweep **out, vg_error *err) {
    vg_sweep *S = calloc(1, sizeof *S);
    if (!S || !(S->arena = vg__arena_new()) ||
        !(S->path = vg__arena_strndup(S->arena, path, strlen(path)))) {
        if (S) vg__arena_free(S->arena);
        free(S);
        free(text);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    }
    S->reader = reader;
    S->repeats = 1;
    S->n_configs = 1;
    vg_run_config_defaults(&S->base);
    vg_status st = read_status;
    if (!st) st = vg__load_file(S, S->path, text, len, err);
    if (!st) st = vg__finish(S, err);
    if (!st && !S->name && !(S->name = vg__base_name(S->arena, S->path))) st = vg__nomem(S, err);
    if (!st) st = vg__join_texts(S, err);
    S->reader = NULL;
    if (st) {
        vg_sweep_free(S);
        return st;
    }
    *out = S;
    return VG_OK;
}

vg_status vg_sweep_load(const char *path, vg_sweep **out, vg_error *err) {
    if (!out) return vg_error_set(err, VG_EINTERNAL, "vg_sweep_load: out is NULL");
    *out = NULL;
    if (!path) return vg_error_set(err, VG_EUSAGE, "no sweep file given");
    char *text = NULL;
    size_t len = 0;
    vg_status st = vg__read_file(path, &text, &len, err);
    if (st) return st;
    return vg__load(path, text, len, VG_OK, NULL, out, err);
}

vg_status vg_sweep_load_text(const char *name, const char *text, size_t len,
                             const vg_sweep_reader *reader, vg_sweep **out, vg_error *err) {
    if (!out) return vg_error_set(err, VG_EINTERNAL, "vg_sweep_load_text: out is NULL");
    *out = NULL;
    if (!name || (!text && len)) return vg_error_set(err, VG_EINTERNAL, "vg_sweep_load_text: bad argument");
    char *copy = malloc(len + 1);
    if (!copy) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", name);
    if (len) memcpy(copy, text, len);
    copy[len] = '\0';
    return vg__load(name, copy, len, VG_OK, reader, out, err);
}

void vg_sweep_free(vg_sweep *sweep) {
    if (!sweep) return;
    if (sweep->text_owned) free(sweep->text);
    for (int i = 0; i < sweep->n_files; i++) free(sweep->files[i].text);
    vg__arena_free(sweep->arena);
    free(sweep);
}

const char *vg_sweep_path(const vg_sweep *sweep) { return sweep->path; }
const char *vg_sweep_name(const vg_sweep *sweep) { return sweep->name; }
const char *vg_sweep_text(const vg_sweep *sweep) { return sweep->text; }
size_t vg_sweep_text_length(const vg_sweep *sweep) { return sweep->text_len; }
int vg_sweep_file_count(const vg_sweep *sweep) { return sweep->n_files; }
const char *vg_sweep_file_path(const vg_sweep *sweep, int i) {
    return i >= 0 && i < sweep->n_files ? sweep->files[i].path : NULL;
}
uint64_t vg_sweep_seed(const vg_sweep *sweep) { return sweep->seed; }
int vg_sweep_repeats(const vg_sweep *sweep) { return sweep->repeats; }
int64_t vg_sweep_run_count(const vg_sweep *sweep) {
    return (sweep->n_configs + sweep->n_includes) * sweep->repeats;
}

/* --- expansion --- */

/* Configuration c of the product: the last axis varies fastest. */
static void vg__config_at(const vg_sweep *S, int64_t c, vg_run_config *cfg) {
    *cfg = S->base;
    for (int a = S->n_axes - 1; a >= 0; a--) {
        const vg__axis *ax = &S->axes[a];
        vg__apply(cfg, &ax->points[c % ax->n_points], ax->owned, ax->n_owned);
        c /= ax->n_points;
    }
}

static int vg__configs_equal(const vg_run_config *a, const vg_run_config *b) {
    for (int s = 0; s < VG_SETTING_COUNT; s++)
        if (vg__value_cmp(s, a, b) != 0) return 0;
    return 1;
}

/* setting small must not exceed setting big; blame whichever the file set (small first). */
static vg_status vg__check_at_most(const vg_sweep *S, const vg_run_config *cfg, int small,
                                   int big, vg_error *err) {
    int a = vg__int_value(cfg, small), b = vg__int_value(cfg, big);
    if (a <= b) return VG_OK;
    const char *sp = vg_settings[small].path, *bp = vg_settings[big].path;
    const vg_node *sn = cfg->source[small], *bn = cfg->source[big];
    char other[300] = "the default";
    if (sn) {
        if (bn) {
            char where[256];
            snprintf(other, sizeof other, "set at %s", vg__where_from(sn, bn, where, sizeof where));
        }
        return vg__node_error(err, sn, S->path, "%s: expected at most %s = %d (%s), got %d", sp,
                              bp, b, other, a);
    }
    return vg__node_error(err, bn, S->path,
                          "%s: expected at least %s = %d (the default), got %d", bp, sp, a, b);
}

/* The data settings that must agree before a file is read (the loader checks the rest). */
static vg_status vg__check_data(const vg_sweep *S, const vg_run_config *cfg, vg_error *err) {
    int kind = cfg->data_kind, loaded = kind == VG_DATA_FASHION_MNIST || kind == VG_DATA_IDX ||
                                        kind == VG_DATA_CSV;
    const char *kname = vg_data_kind_names[kind];
    const vg_node *kn = cfg->source[VG_SET_data_kind];
    if (cfg->data_train_size == 0 || (!loaded && cfg->data_train_size < 0))
        return vg__node_error(err, cfg->source[VG_SET_data_train_size], S->path,
                              "data.train_size: expected at least 1%s, got %d",
                              loaded ? " (or -1: all)" : " (-1, all, is for data read from files)",
                              cfg->data_train_size);
    if (!loaded && cfg->data_test_size < 0)
        return vg__node_error(err, cfg->source[VG_SET_data_test_size], S->path,
                              "data.test_size: -1 (all) is for data read from files; %s generates "
                              "data: expected at least 0, got %d",
                              kname, cfg->data_test_size);
    if ((kind == VG_DATA_IDX || kind == VG_DATA_CSV) && !cfg->data_path[0])
        return vg__node_error(err, kn, S->path,
                              "data.kind: %s reads its data from data.path, which is not set", kname);
    if (kind == VG_DATA_FASHION_MNIST && (cfg->data_features != 784 || cfg->data_classes != 10)) {
        int f = cfg->data_features != 784;
        const vg_node *n = cfg->source[f ? VG_SET_data_features : VG_SET_data_classes];
        return vg__node_error(err, n ? n : kn, S->path,
                              "%s: fashion-mnist has %s; set %s: %d (got %d)",
                              f ? "data.features" : "data.classes",
                              f ? "28 x 28 = 784 pixels per image" : "10 classes",
                              f ? "data.features" : "data.classes", f ? 784 : 10,
                              f ? cfg->data_features : cfg->data_classes);
    }
    if (kind == VG_DATA_SPIRALS && cfg->data_features < 2)
        return vg__node_error(err, cfg->source[VG_SET_data_features], S->path,
                              "data.features: spirals lie in 2 dimensions: expected at least 2, "
                              "got %d",
                              cfg->data_features);
    return VG_OK;
}

/* Defaults that depend on other settings, filled where the file did not set them: a recurrent
 * net's activation is tanh (rnn: the Elman net's usual choice, relu with identity recurrent
 * weights being the IRNN a file asks for; lstm/gru: the cell's candidate activation), and a
 * sequence task's data.features and data.classes follow from its kind and data.length. Since
 * the id hashes resolved values, an unset and an explicit tanh make the same run; no run of
 * model.kind mlp changes, so no existing id moves. */
static void vg__resolve(vg_run_config *cfg) {
    if (cfg->model_kind != VG_MODEL_MLP && !cfg->source[VG_SET_model_activation])
        cfg->model_activation = VG_ACT_TANH;
    int steps, step_features, classes, targets;
    if (vg_data_task_shape(cfg->data_kind, cfg->data_length, &steps, &step_features, &classes,
                           &targets)) {
        if (!cfg->source[VG_SET_data_features]) cfg->data_features = steps * step_features;
        if (classes && !cfg->source[VG_SET_data_classes]) cfg->data_classes = classes;
    }
}

/* "the default" or "set at FILE:LINE:COL", for the setting a refusal is measured against. */
static const char *vg__set_where(const vg_run_config *cfg, int setting, char *buf, size_t size) {
    char where[256];
    if (!cfg->source[setting])
        snprintf(buf, size, "the default");
    else
        snprintf(buf, size, "set at %s", vg_node_where(cfg->source[setting], where, sizeof where));
    return buf;
}

/* A refusal blamed on setting's node, else on the node of the setting it clashes with. */
#define VG__REFUSE(setting, other, ...)                                                           \
    vg__node_error(err, cfg->source[setting] ? cfg->source[setting] : cfg->source[other],        \
                   S->path, __VA_ARGS__)

/* Settings that cannot apply to the run's model.kind or data.kind: refused, not ignored, so a
 * sweep never records a setting that did nothing. A grid that crosses them excludes the pairs. */
static vg_status vg__check_kind(const vg_sweep *S, const vg_run_config *cfg, vg_error *err) {
    int kind = cfg->model_kind, recurrent = kind != VG_MODEL_MLP, data = cfg->data_kind;
    const char *kname = vg_model_kind_names[kind], *dname = vg_data_kind_names[data];
    char kw[300], dw[300];
    vg__set_where(cfg, VG_SET_model_kind, kw, sizeof kw);
    vg__set_where(cfg, VG_SET_data_kind, dw, sizeof dw);
    const char *hint = "; a grid that crosses them needs an exclude entry for the pair";
    if (recurrent && cfg->model_norm != VG_NORM_NONE)
        return VG__REFUSE(VG_SET_model_norm, VG_SET_model_kind,
                          "model.norm: %s normalization is for an mlp's dense layers, but "
                          "model.kind is %s (%s): a recurrent layer has no normalization here "
                          "(statistics over a batch differ at every time step)%s",
                          vg_norm_names[cfg->model_norm], kname, kw, hint);
    if (recurrent && cfg->model_skip_every != 0)
        return VG__REFUSE(VG_SET_model_skip_every, VG_SET_model_kind,
                          "model.skip.every: residual shortcuts are for an mlp's hidden layers, "
                          "but model.kind is %s (%s): stacked recurrent layers have none%s",
                          kname, kw, hint);
    if ((kind == VG_MODEL_LSTM || kind == VG_MODEL_GRU) && cfg->model_activation != VG_ACT_TANH)
        return VG__REFUSE(VG_SET_model_activation, VG_SET_model_kind,
                          "model.activation: %s, but model.kind is %s (%s), whose cell fixes its "
                          "activations (sigmoid gates, tanh candidate); only rnn and mlp take "
                          "model.activation%s",
                          vg_activation_names[cfg->model_activation], kname, kw, hint);
    static const int recurrent_only[] = {VG_SET_model_recurrent_init, VG_SET_model_recurrent_gain,
                                         VG_SET_model_recurrent_std, VG_SET_model_recurrent_limit,
                                         VG_SET_model_forget_bias, VG_SET_train_bptt};
    for (size_t k = 0; !recurrent && k < sizeof recurrent_only / sizeof *recurrent_only; k++)
        if (cfg->source[recurrent_only[k]])
            return VG__REFUSE(recurrent_only[k], VG_SET_model_kind,
                              "%s: a recurrent net's setting, but model.kind is mlp (%s), which "
                              "would ignore it; set model.kind: rnn, lstm or gru%s",
                              vg_settings[recurrent_only[k]].path, kw, hint);
    if (recurrent && kind != VG_MODEL_LSTM && cfg->source[VG_SET_model_forget_bias])
        return VG__REFUSE(VG_SET_model_forget_bias, VG_SET_model_kind,
                          "model.forget_bias: only an lstm has a forget gate, but model.kind is "
                          "%s (%s)%s", kname, kw, hint);
    if (!recurrent && data == VG_DATA_COPY)
        return VG__REFUSE(VG_SET_data_kind, VG_SET_model_kind,
                          "data.kind: copy has a target at every time step, which only a "
                          "recurrent net produces, but model.kind is mlp (%s); set model.kind: "
                          "rnn, lstm or gru%s", kw, hint);
    if (cfg->data_sequence != VG_SEQUENCE_NONE) {
        if (data != VG_DATA_FASHION_MNIST && data != VG_DATA_IDX)
            return VG__REFUSE(VG_SET_data_sequence, VG_SET_data_kind,
                              "data.sequence: %s feeds images as sequences: data.kind must be "
                              "fashion-mnist or idx, got %s (%s)%s",
                              vg_data_sequence_names[cfg->data_sequence], dname, dw, hint);
        if (!recurrent)
            return VG__REFUSE(VG_SET_data_sequence, VG_SET_model_kind,
                              "data.sequence: %s feeds the images step by step, which only a "
                              "recurrent net reads, but model.kind is mlp (%s); an mlp takes "
                              "each image whole (data.sequence: none)%s",
                              vg_data_sequence_names[cfg->data_sequence], kw, hint);
    }
    if (cfg->data_permute && cfg->data_sequence != VG_SEQUENCE_PIXELS)
        return VG__REFUSE(VG_SET_data_permute, VG_SET_data_sequence,
                          "data.permute: permutes the pixel order of data.sequence: pixels "
                          "(pMNIST), but data.sequence is %s (%s)%s",
                          vg_data_sequence_names[cfg->data_sequence],
                          vg__set_where(cfg, VG_SET_data_sequence, dw, sizeof dw), hint);
    int steps, step_features, classes, targets;
    int task = vg_data_task_shape(data, cfg->data_length, &steps, &step_features, &classes,
                                  &targets);
    if (!task && cfg->source[VG_SET_data_length])
        return VG__REFUSE(VG_SET_data_length, VG_SET_data_kind,
                          "data.length: the length of a sequence task (adding, copy, "
                          "temporal_order), but data.kind is %s (%s)%s", dname, dw, hint);
    if (data != VG_DATA_CSV && cfg->data_target != VG_DATA_TARGET_CLASS)
        return VG__REFUSE(VG_SET_data_target, VG_SET_data_kind,
                          "data.target: real reads a csv's label columns as regression targets, "
                          "but data.kind is %s (%s)%s", dname, dw, hint);
    if (task) {
        int least = data == VG_DATA_ADDING ? 2 : data == VG_DATA_TEMPORAL_ORDER ? 10 : 1;
        if (cfg->data_length < least)
            return VG__REFUSE(VG_SET_data_length, VG_SET_data_kind,
                              "data.length: %s needs at least %d steps (%s), got %d", dname, least,
                              data == VG_DATA_ADDING ? "one marker in each half"
                                                     : "the symbols' windows start at T/10 "
                                                       "and T/2, after the start symbol",
                              cfg->data_length);
        if (cfg->data_features != steps * step_features)
            return VG__REFUSE(VG_SET_data_features, VG_SET_data_kind,
                              "data.features: %s with data.length %d has %d steps of %d values = "
                              "%d features, got %d; leave data.features unset (it follows "
                              "data.length)", dname, cfg->data_length, steps, step_features,
                              steps * step_features, cfg->data_features);
        if (!classes && cfg->source[VG_SET_data_classes])
            return VG__REFUSE(VG_SET_data_classes, VG_SET_data_kind,
                              "data.classes: %s has a real target (the sum of the marked values), "
                              "not classes; leave data.classes unset", dname);
        if (classes && cfg->data_classes != classes)
            return VG__REFUSE(VG_SET_data_classes, VG_SET_data_kind,
                              "data.classes: %s has %d classes, got %d; leave data.classes unset",
                              dname, classes, cfg->data_classes);
    }
    if (vg_data_real_target(cfg) && cfg->train_loss != VG_LOSS_MSE)
        return VG__REFUSE(VG_SET_train_loss, VG_SET_data_kind,
                          "train.loss: %s, but the targets of data.kind %s (%s) are real "
                          "numbers: set train.loss: mse (cross_entropy needs classes)",
                          vg_loss_names[cfg->train_loss], dname,
                          data == VG_DATA_CSV ? "with data.target: real" : dw);
    return VG_OK;
}
#undef VG__REFUSE

static vg_status vg__check_run(const vg_sweep *S, const vg_run_config *cfg, vg_error *err) {
    vg_status st = vg__check_data(S, cfg, err);
    if (!st) st = vg__check_kind(S, cfg, err);
    if (st || cfg->data_train_size < 0) return st; /* all of a file: checked once it is read */
    st = vg__check_at_most(S, cfg, VG_SET_record_probe, VG_SET_data_train_size, err);
    if (!st) st = vg__check_at_most(S, cfg, VG_SET_train_batch_size, VG_SET_data_train_size, err);
    return st;
}

typedef struct vg__expander {
    const vg_sweep *S;
    const vg_run_filter *filter;
    int filter_per_repeat; /* the filter looks at repeat or id */
    vg_sweep_counts counts;
    vg_run_config *out; /* NULL: only count */
    int64_t cap;
} vg__expander;

/* The repeats of one configuration, through the filter. */
static void vg__emit(vg__expander *E, const vg_run_config *cfg) {
    const vg_sweep *S = E->S;
    if (E->filter && !E->filter_per_repeat && !vg_run_filter_match(E->filter, cfg)) {
        E->counts.filtered += S->repeats;
        return;
    }
    if (!E->out && !E->filter_per_repeat) {
        E->counts.runs += S->repeats;
        return;
    }
    for (int r = 0; r < S->repeats; r++) {
        vg_run_config run = *cfg;
        run.repeat = r;
        if (E->filter && E->filter_per_repeat) {
            vg_run_config_identify(&run, S->seed);
            if (!vg_run_filter_match(E->filter, &run)) {
                E->counts.filtered++;
                continue;
            }
        }
        if (E->out && E->counts.runs < E->cap) {
            run.index = E->counts.runs;
            vg_run_config_identify(&run, S->seed);
            E->out[E->counts.runs] = run;
        }
        E->counts.runs++;
    }
}

static vg_status vg__expand(vg__expander *E, vg_error *err) {
    const vg_sweep *S = E->S;
    vg_run_config cfg;
    E->filter_per_repeat = E->filter && vg__filter_per_repeat(E->filter);
    E->counts.grid = S->n_configs;
    for (int64_t c = 0; c < S->n_configs; c++) {
        vg__config_at(S, c, &cfg);
        if (vg__excluded(S, &cfg)) {
            E->counts.excluded++;
            continue;
        }
        vg__resolve(&cfg);
        vg_status st = vg__check_run(S, &cfg, err);
        if (st) return st;
        vg__emit(E, &cfg);
    }
    /* include: over the base settings, not excluded, dropped when already a run. */
    for (int64_t i = 0; i < S->n_includes; i++) {
        vg__include_config(S, i, &cfg);
        int dup = S->include_repeats[i] || (vg__in_product(S, &cfg) && !vg__excluded(S, &cfg));
        vg__resolve(&cfg);
        vg_status st = vg__check_run(S, &cfg, err);
        if (st) return st;
        if (dup) {
            E->counts.duplicates++;
            continue;
        }
        E->counts.included++;
        vg__emit(E, &cfg);
    }
    if (S->n_rules && E->counts.excluded == S->n_configs && E->counts.included == 0)
        return vg__node_error(err, S->rules[0]->node, S->path,
                              "exclude: drops all %lld configurations of the grid: no runs are "
                              "left",
                              (long long)S->n_configs);
    return VG_OK;
}

vg_status vg_sweep_count(const vg_sweep *sweep, const vg_run_filter *filter,
                         vg_sweep_counts *counts, vg_error *err) {
    vg__expander E = {.S = sweep, .filter = filter};
    vg_status st = vg__expand(&E, err);
    if (counts) *counts = E.counts;
    return st;
}

static int vg__cmp_run_id(const void *a, const void *b) {
    const vg_run_config *const *x = a, *const *y = b;
    int c = strcmp((*x)->id, (*y)->id);
    return c ? c : ((*x)->index > (*y)->index) - ((*x)->index < (*y)->index);
}

/* Two runs with one id: identical settings (a {choice: value} that equals a plain choice with
 * the default parameter, two zipped combinations that resolve alike) or a hash collision. */
static vg_status vg__check_ids(const vg_sweep *S, const vg_run_config *runs, int64_t n,
                               vg_error *err) {
    const vg_run_config **by_id = malloc((size_t)(n ? n : 1) * sizeof *by_id);
    if (!by_id) return vg__nomem(S, err);
    for (int64_t i = 0; i < n; i++) by_id[i] = &runs[i];
    qsort(by_id, (size_t)n, sizeof *by_id, vg__cmp_run_id);
    vg_status st = VG_OK;
    for (int64_t i = 1; i < n && !st; i++) {
        const vg_run_config *a = by_id[i - 1], *b = by_id[i];
        if (strcmp(a->id, b->id) != 0) continue;
        if (!vg__configs_equal(a, b) || a->repeat != b->repeat) {
            st = vg_error_set(err, VG_ECONFIG,
                              "%s: runs %lld and %lld have the same id %s (a hash collision); "
                              "add a setting to one of them",
                              S->path, (long long)a->index, (long long)b->index, b->id);
            break;
        }
        /* Blame the first setting whose source differs: the value that repeats a run. */
        int s = 0;
        while (s < VG_SETTING_COUNT && a->source[s] == b->source[s]) s++;
        const vg_node *at = s < VG_SETTING_COUNT ? b->source[s] : NULL;
        const vg_node *other = s < VG_SETTING_COUNT ? a->source[s] : NULL;
        char where[300] = "the defaults";
        if (other && at && other->file == at->file)
            snprintf(where, sizeof where, "line %d, column %d", other->line, other->col);
        else if (other)
            vg_node_where(other, where, sizeof where);
        st = vg__node_error(err, at, S->path,
                            "%s: gives the same run as the value at %s (identical settings, id "
                            "%s): the runs would be identical",
                            s < VG_SETTING_COUNT ? vg_settings[s].path : "sweep", where, b->id);
    }
    free(by_id);
    return st;
}

vg_status vg_sweep_select(const vg_sweep *sweep, const vg_run_filter *filter,
                          vg_run_config **runs, int64_t *n_runs, vg_sweep_counts *counts,
                          vg_error *err) {
    *runs = NULL;
    *n_runs = 0;
    vg_sweep_counts first;
    vg_status st = vg_sweep_count(sweep, filter, &first, err);
    if (counts) *counts = first;
    if (st) return st;
    int64_t n = first.runs;
    vg_run_config *out = calloc((size_t)(n ? n : 1), sizeof *out);
    if (!out)
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory expanding %lld runs",
                            sweep->path, (long long)n);
    vg__expander E = {.S = sweep, .filter = filter, .out = out, .cap = n};
    st = vg__expand(&E, err);
    if (!st && E.counts.runs != n)
        st = vg_error_set(err, VG_EINTERNAL, "%s: counted %lld runs, expanded %lld", sweep->path,
                          (long long)n, (long long)E.counts.runs);
    if (!st) st = vg__check_ids(sweep, out, n, err);
    if (st) {
        free(out);
        return st;
    }
    *runs = out;
    *n_runs = n;
    return VG_OK;
}

vg_status vg_sweep_expand(const vg_sweep *sweep, vg_run_config **runs, int64_t *n_runs,
                          vg_error *err) {
    return vg_sweep_select(sweep, NULL, runs, n_runs, NULL, err);
}

int vg_sweep_varying(const vg_sweep *S, int *setting_ids) {
    int varies[VG_SETTING_COUNT] = {0};
    vg_run_config first;
    vg__config_at(S, 0, &first);
    for (int a = 0; a < S->n_axes; a++) {
        const vg__axis *ax = &S->axes[a];
        for (int k = 0; k < ax->n_owned; k++) {
            int s = ax->owned[k];
            for (int64_t p = 0; p < ax->n_points && !varies[s]; p++) {
                const vg_run_config *v = ax->points[p].source[s] ? &ax->points[p] : &S->base;
                varies[s] = vg__value_cmp(s, v, &first) != 0;
            }
        }
    }
    for (int64_t i = 0; i < S->n_includes; i++)
        for (int s = 0; s < VG_SETTING_COUNT; s++)
            if (S->includes[i]->source[s] && vg__value_cmp(s, S->includes[i], &first) != 0)
                varies[s] = 1;
    /* the settings vg__resolve derives vary with what they follow (model.kind, data.kind,
     * data.length): each axis point and include, resolved, against the first configuration */
    static const int derived[] = {VG_SET_model_activation, VG_SET_data_features,
                                  VG_SET_data_classes};
    vg_run_config first_resolved = first, cfg;
    vg__resolve(&first_resolved);
    for (int a = 0; a <= S->n_axes; a++) {
        int64_t n_points = a < S->n_axes ? S->axes[a].n_points : S->n_includes;
        for (int64_t p = 0; p < n_points; p++) {
            if (a < S->n_axes) {
                cfg = first;
                vg__apply(&cfg, &S->axes[a].points[p], S->axes[a].owned, S->axes[a].n_owned);
            } else {
                vg__include_config(S, p, &cfg);
            }
            vg__resolve(&cfg);
            for (size_t k = 0; k < sizeof derived / sizeof *derived; k++)
                varies[derived[k]] |= vg__value_cmp(derived[k], &cfg, &first_resolved) != 0;
        }
    }
    int n = 0;
    for (int s = 0; s < VG_SETTING_COUNT; s++)
        if (varies[s]) setting_ids[n++] = s;
    return n;
}

int vg_runs_varying(const vg_run_config *runs, int64_t n_runs, int *setting_ids) {
    int n = 0;
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        int varies = 0;
        for (int64_t i = 1; i < n_runs && !varies; i++)
            varies = vg__value_cmp(s, &runs[i], &runs[0]) != 0;
        if (varies) setting_ids[n++] = s;
    }
    return n;
}

/* The settings every run id has hashed since record format 2, in the order they are hashed.
 * A setting added to the table after them enters an id only when the run sets it away from its
 * default, so adding a setting moves no existing id, seed or result (docs/SWEEP-FORMAT.md,
 * "Run identity"). Never edit, reorder or shorten this list. */
static const char *const vg__id_base_settings[] = {
    "data.kind", "data.train_size", "data.test_size", "data.features", "data.classes",
    "data.separation", "data.seed", "model.depth", "model.width", "model.activation",
    "model.leaky_slope", "model.elu_alpha", "model.init", "model.init_std", "model.init_limit",
    "model.init_gain", "model.bias_init", "model.norm", "model.norm_momentum", "model.norm_eps",
    "model.skip.every", "model.skip.scale", "train.epochs", "train.batch_size", "train.lr",
    "train.optimizer", "train.momentum", "train.nesterov", "train.beta1", "train.beta2",
    "train.rms_alpha", "train.eps", "train.weight_decay", "train.schedule", "train.step_every",
    "train.step_gamma", "train.lr_min", "train.clip", "train.clip_threshold", "train.loss",
    "record.probe", "record.tensors", "record.tensor_every", "record.weights"};
#define VG__ID_BASE_COUNT ((int)(sizeof vg__id_base_settings / sizeof *vg__id_base_settings))

size_t vg_run_id_text(const vg_id_entry *entries, int n_entries, int repeat, char *text,
                      size_t size) {
    size_t used = 0;
    /* the base settings always, in their fixed order, then the repeat: the text of format 2 */
    for (int i = 0; i < n_entries; i++) {
        if (!entries[i].base) continue;
        used += (size_t)snprintf(text + (used < size ? used : size), used < size ? size - used : 0,
                                 "%s=%s\n", entries[i].path, entries[i].value);
    }
    used += (size_t)snprintf(text + (used < size ? used : size), used < size ? size - used : 0,
                             "repeat=%d\n", repeat);
    /* later settings only where they differ from their default, in the order given */
    for (int i = 0; i < n_entries; i++) {
        if (entries[i].base || strcmp(entries[i].value, entries[i].default_value) == 0) continue;
        used += (size_t)snprintf(text + (used < size ? used : size), used < size ? size - used : 0,
                                 "%s=%s\n", entries[i].path, entries[i].value);
    }
    return used;
}

/* The id hashes the resolved values, not grid positions: adding, removing or reordering grid
 * values leaves the ids (and seeds) of the other runs unchanged, so a sweep can be extended
 * and its record resumed. */
void vg_run_config_identify(vg_run_config *cfg, uint64_t sweep_seed) {
    /* (VG_SETTING_COUNT) one entry per setting: the base ones in their fixed order first,
     * then the others in table order */
    vg_id_entry entries[VG_SETTING_COUNT];
    /* static: a text setting's value is up to VG_SETTING_TEXT_MAX bytes */
    static _Thread_local char values[VG_SETTING_COUNT][VG_SETTING_TEXT_MAX],
        defaults[VG_SETTING_COUNT][VG_SETTING_TEXT_MAX];
    int is_base[VG_SETTING_COUNT] = {0}, n = 0;
    vg_run_config def;
    vg_run_config_defaults(&def);
    for (int b = 0; b < VG__ID_BASE_COUNT; b++) {
        int s = vg_setting_find(vg__id_base_settings[b]);
        if (s < 0) continue; /* cannot happen: base settings are never removed */
        is_base[s] = 1;
        vg_setting_format(s, cfg, values[n], sizeof values[n]);
        entries[n] = (vg_id_entry){vg_settings[s].path, values[n], values[n], 1};
        n++;
    }
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        if (is_base[s]) continue;
        vg_setting_format(s, cfg, values[n], sizeof values[n]);
        vg_setting_format(s, &def, defaults[n], sizeof defaults[n]);
        entries[n] = (vg_id_entry){vg_settings[s].path, values[n], defaults[n], 0};
        n++;
    }
    static _Thread_local char text[8192 + 4 * VG_SETTING_TEXT_MAX];
    size_t used = vg_run_id_text(entries, n, cfg->repeat, text, sizeof text);
    if (used > sizeof text - 1) used = sizeof text - 1; /* cannot happen: short lines, few texts */
    uint64_t hash = vg_hash64(text, used, 0);
    snprintf(cfg->id, sizeof cfg->id, "%012" PRIx64, hash >> (64 - 4 * VG_RUN_ID_LEN));
    cfg->seed = vg_seed_mix(sweep_seed, hash);
}
