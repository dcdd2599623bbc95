/* A sweep: the validated file (base settings + grid lists, every value already parsed) and its
 * expansion into resolved run configs. Validation is complete at load time except for
 * cross-setting checks, which depend on the combination and run in vg_sweep_expand. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "vgsweep/rng.h"

/* A grid larger than this is a typo (a list pasted twice, a missing bracket), not a plan. */
#define VG__MAX_RUNS 10000000LL
#define VG__MAX_REPEATS 1000000

typedef struct vg__grid_dim {
    int setting;
    const vg_node *key;
    const vg_node *list;
    vg_run_config *values; /* (list->count) arena array: each holds one parsed value + source */
} vg__grid_dim;

struct vg_sweep {
    vg__arena *arena;
    char *path;
    char *text; /* malloc'ed, NUL-terminated: the file's bytes verbatim */
    size_t text_len;
    vg_node *root;
    const char *name;
    uint64_t seed;
    int repeats;
    vg_run_config base;                  /* defaults overridden by the sections */
    const vg_node *set_by[VG_SETTING_COUNT]; /* key that set each base setting, or NULL */
    int n_grid;
    vg__grid_dim grid[VG_SETTING_COUNT]; /* in file order: the first varies slowest */
    int64_t n_configs;                   /* product of the grid list lengths */
};

static const char *const vg__top_keys[] = {"name",  "seed",   "repeats", "data",
                                           "model", "train",  "record",  "grid"};
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

/* --- loading --- */

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

static vg_status vg__unknown_setting(const vg_sweep *S, const vg_node *key, const char *path,
                                     int in_grid, vg_error *err) {
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
    const char *prefix = in_grid ? "grid." : "";
    if (hint)
        return vg__node_error(err, key, S->path, "%s%s: unknown setting (did you mean \"%s\"?)",
                              prefix, path, hint);
    /* No likely typo: list what the section holds ("model settings are depth, width, ..."). */
    char known[512] = "";
    size_t used = 0, section_len = strcspn(path, ".");
    for (int i = 0; i < VG_SETTING_COUNT && used < sizeof known; i++) {
        if (strncmp(paths[i], path, section_len) != 0 || paths[i][section_len] != '.') continue;
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "",
                                 paths[i] + section_len + 1);
    }
    if (used)
        return vg__node_error(err, key, S->path, "%s%s: unknown setting; %.*s settings are %s",
                              prefix, path, (int)section_len, path, known);
    return vg__node_error(err, key, S->path,
                          "%s%s: unknown setting; sections are data, model, train and record",
                          prefix, path);
}

static vg_status vg__set_base(vg_sweep *S, int setting, const vg_node *key, const vg_node *value,
                              vg_error *err) {
    const char *path = vg_settings[setting].path;
    if (S->set_by[setting])
        return vg__node_error(err, key, S->path, "%s: set twice (first at line %d)", path,
                              S->set_by[setting]->line);
    S->set_by[setting] = key;
    return vg__setting_parse(setting, value, path, &S->base, err);
}

static vg_status vg__add_grid(vg_sweep *S, int setting, const vg_node *key, const vg_node *list,
                              vg_error *err) {
    char path[128], got[128], a[64];
    snprintf(path, sizeof path, "grid.%s", vg_settings[setting].path);
    for (int d = 0; d < S->n_grid; d++)
        if (S->grid[d].setting == setting)
            return vg__node_error(err, key, S->path, "%s: set twice in the grid (first at line %d)",
                                  path, S->grid[d].key->line);
    if (list->kind != VG_NODE_SEQUENCE || list->count == 0)
        return vg__node_error(err, list, S->path, "%s: expected a non-empty list of values, got %s",
                              path, vg__node_describe(list, got, sizeof got));
    vg__grid_dim *dim = &S->grid[S->n_grid];
    dim->setting = setting;
    dim->key = key;
    dim->list = list;
    dim->values = vg__arena_alloc(S->arena, (size_t)list->count * sizeof *dim->values);
    if (!dim->values) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", S->path);
    for (int64_t i = 0; i < list->count; i++) {
        vg_status st = vg__setting_parse(setting, list->items[i], path, &dim->values[i], err);
        if (st) return st;
        /* Equal values would make identical runs (same id): refuse them here, naming both. */
        for (int64_t j = 0; j < i; j++) {
            if (vg__setting_equal(setting, &dim->values[i], &dim->values[j])) {
                vg_setting_format(setting, &dim->values[i], a, sizeof a);
                return vg__node_error(err, list->items[i], S->path,
                                      "%s: expected distinct values, got %s twice (first at "
                                      "line %d, column %d): the runs would be identical",
                                      path, a, list->items[j]->line, list->items[j]->col);
            }
        }
    }
    S->n_grid++;
    return VG_OK;
}

/* One key: a setting path, or a section ("model", "model.x") whose mapping holds more keys. */
static vg_status vg__entry(vg_sweep *S, const char *path, const vg_node *key, const vg_node *value,
                           int in_grid, vg_error *err) {
    int setting = vg_setting_find(path);
    if (setting >= 0)
        return in_grid ? vg__add_grid(S, setting, key, value, err)
                       : vg__set_base(S, setting, key, value, err);
    if (!vg__is_section(path)) return vg__unknown_setting(S, key, path, in_grid, err);
    if (vg__is_empty(value)) return VG_OK; /* "model:" with every line below commented out */
    if (value->kind != VG_NODE_MAPPING) {
        char got[128];
        return vg__node_error(err, value, S->path, "%s%s: expected a mapping of settings, got %s",
                              in_grid ? "grid." : "", path,
                              vg__node_describe(value, got, sizeof got));
    }
    for (int64_t i = 0; i < value->count; i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", path, value->keys[i]->scalar);
        vg_status st = vg__entry(S, sub, value->keys[i], value->values[i], in_grid, err);
        if (st) return st;
    }
    return VG_OK;
}

static vg_status vg__load_grid(vg_sweep *S, const vg_node *grid, vg_error *err) {
    char got[128];
    if (vg__is_empty(grid)) return VG_OK;
    if (grid->kind != VG_NODE_MAPPING)
        return vg__node_error(err, grid, S->path,
                              "grid: expected a mapping from setting paths to lists of values, "
                              "got %s",
                              vg__node_describe(grid, got, sizeof got));
    for (int64_t i = 0; i < grid->count; i++) {
        vg_status st = vg__entry(S, grid->keys[i]->scalar, grid->keys[i], grid->values[i], 1, err);
        if (st) return st;
    }
    S->n_configs = 1;
    for (int d = 0; d < S->n_grid; d++) {
        int64_t n = S->grid[d].list->count;
        if (S->n_configs > VG__MAX_RUNS / n)
            return vg__node_error(err, grid, S->path, "grid: expected at most %lld runs, got more",
                                  VG__MAX_RUNS);
        S->n_configs *= n;
    }
    return VG_OK;
}

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

static vg_status vg__load_top(vg_sweep *S, vg_error *err) {
    const vg_node *root = S->root;
    char got[128];
    if (root->kind != VG_NODE_MAPPING)
        return vg__node_error(err, root, S->path,
                              "top level: expected a mapping (name:, seed:, model:, grid:, ...), "
                              "got %s",
                              vg__node_describe(root, got, sizeof got));
    const vg_node *grid = NULL;
    for (int64_t i = 0; i < root->count; i++) {
        const vg_node *key = root->keys[i], *value = root->values[i];
        const char *k = key->scalar;
        vg_status st = VG_OK;
        if (!strcmp(k, "name")) {
            if (value->kind != VG_NODE_SCALAR || vg__is_empty(value))
                return vg__node_error(err, value, S->path, "name: expected a text, got %s",
                                      vg__node_describe(value, got, sizeof got));
            S->name = value->scalar;
        } else if (!strcmp(k, "seed")) {
            if (!vg__parse_u64(value, UINT64_MAX, &S->seed))
                return vg__node_error(err, value, S->path,
                                      "seed: expected a non-negative integer below 2^64, got %s",
                                      vg__node_describe(value, got, sizeof got));
        } else if (!strcmp(k, "repeats")) {
            uint64_t r;
            if (!vg__parse_u64(value, UINT64_MAX, &r) || r < 1 || r > VG__MAX_REPEATS)
                return vg__node_error(err, value, S->path,
                                      "repeats: expected an integer in [1, %d], got %s",
                                      VG__MAX_REPEATS, vg__node_describe(value, got, sizeof got));
            S->repeats = (int)r;
        } else if (!strncmp(k, "x-", 2)) {
            /* Ignored, as in docker-compose: a place to define anchors (x-base: &base ...). */
        } else if (!strcmp(k, "grid")) {
            grid = value; /* after the sections, so "set twice" points at the later line */
        } else if (vg__is_section(k) || strchr(k, '.')) {
            st = vg__entry(S, k, key, value, 0, err);
        } else {
            const char *hint = vg__suggest(k, vg__top_keys, VG__N_TOP_KEYS);
            for (int j = 0; j < VG_SETTING_COUNT && !hint; j++) /* "depth:" at top level */
                if (strcmp(strrchr(vg_settings[j].path, '.') + 1, k) == 0) hint = vg_settings[j].path;
            if (hint)
                return vg__node_error(err, key, S->path,
                                      "%s: unknown top-level key (did you mean \"%s\"?)", k, hint);
            return vg__node_error(err, key, S->path,
                                  "%s: unknown top-level key; expected name, seed, repeats, data, "
                                  "model, train, record, grid, a setting path like model.depth, or "
                                  "x-<anything> for anchors",
                                  k);
        }
        if (st) return st;
    }
    return grid ? vg__load_grid(S, grid, err) : VG_OK;
}

/* "sweeps/depth.yaml" -> "depth" */
static const char *vg__base_name(vg__arena *arena, const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return vg__arena_strndup(arena, base, n);
}

vg_status vg_sweep_load(const char *path, vg_sweep **out, vg_error *err) {
    if (!out) return vg_error_set(err, VG_EINTERNAL, "vg_sweep_load: out is NULL");
    *out = NULL;
    if (!path) return vg_error_set(err, VG_EUSAGE, "no sweep file given");
    vg_sweep *S = calloc(1, sizeof *S);
    if (!S || !(S->arena = vg__arena_new()) ||
        !(S->path = vg__arena_strndup(S->arena, path, strlen(path)))) {
        if (S) vg__arena_free(S->arena);
        free(S);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    }
    S->repeats = 1;
    S->n_configs = 1;
    vg_run_config_defaults(&S->base);
    vg_status st = vg__read_file(path, &S->text, &S->text_len, err);
    if (!st) st = vg__yaml_parse(S->path, S->text, S->text_len, S->arena, &S->root, err);
    if (!st) st = vg__load_top(S, err);
    if (!st && !S->name && !(S->name = vg__base_name(S->arena, S->path)))
        st = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    if (st) {
        vg_sweep_free(S);
        return st;
    }
    *out = S;
    return VG_OK;
}

void vg_sweep_free(vg_sweep *sweep) {
    if (!sweep) return;
    vg__arena_free(sweep->arena);
    free(sweep->text);
    free(sweep);
}

const char *vg_sweep_path(const vg_sweep *sweep) { return sweep->path; }
const char *vg_sweep_name(const vg_sweep *sweep) { return sweep->name; }
const char *vg_sweep_text(const vg_sweep *sweep) { return sweep->text; }
size_t vg_sweep_text_length(const vg_sweep *sweep) { return sweep->text_len; }
uint64_t vg_sweep_seed(const vg_sweep *sweep) { return sweep->seed; }
int vg_sweep_repeats(const vg_sweep *sweep) { return sweep->repeats; }
int64_t vg_sweep_run_count(const vg_sweep *sweep) {
    return sweep->n_configs * sweep->repeats;
}

/* --- expansion --- */

static int vg__int_value(const vg_run_config *cfg, int setting) {
    return *(const int *)((const char *)cfg + vg_settings[setting].offset);
}

/* setting small must not exceed setting big; blame whichever the file set (small first). */
static vg_status vg__check_at_most(const vg_sweep *S, const vg_run_config *cfg, int small,
                                   int big, vg_error *err) {
    int a = vg__int_value(cfg, small), b = vg__int_value(cfg, big);
    if (a <= b) return VG_OK;
    const char *sp = vg_settings[small].path, *bp = vg_settings[big].path;
    const vg_node *sn = cfg->source[small], *bn = cfg->source[big];
    char other[64];
    if (sn) {
        if (bn)
            snprintf(other, sizeof other, "set at line %d", bn->line);
        else
            snprintf(other, sizeof other, "the default");
        return vg__node_error(err, sn, S->path, "%s: expected at most %s = %d (%s), got %d", sp,
                              bp, b, other, a);
    }
    return vg__node_error(err, bn, S->path,
                          "%s: expected at least %s = %d (the default), got %d", bp, sp, a, b);
}

static vg_status vg__check_run(const vg_sweep *S, const vg_run_config *cfg, vg_error *err) {
    vg_status st = vg__check_at_most(S, cfg, VG_SET_record_probe, VG_SET_data_train_size, err);
    if (!st) st = vg__check_at_most(S, cfg, VG_SET_train_batch_size, VG_SET_data_train_size, err);
    return st;
}

static int vg__cmp_run_id(const void *a, const void *b) {
    const vg_run_config *const *x = a, *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

vg_status vg_sweep_expand(const vg_sweep *S, vg_run_config **runs, int64_t *n_runs,
                          vg_error *err) {
    *runs = NULL;
    *n_runs = 0;
    int64_t n = S->n_configs * S->repeats;
    if (n > VG__MAX_RUNS)
        return vg_error_set(err, VG_ECONFIG, "%s: expected at most %lld runs, got %lld", S->path,
                            VG__MAX_RUNS, (long long)n);
    vg_run_config *out = calloc((size_t)n, sizeof *out);
    const vg_run_config **by_id = malloc((size_t)n * sizeof *by_id);
    if (!out || !by_id) {
        free(out);
        free(by_id);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory expanding %lld runs", S->path,
                            (long long)n);
    }
    for (int64_t c = 0; c < S->n_configs; c++) {
        vg_run_config cfg = S->base;
        int64_t rest = c;
        for (int d = S->n_grid - 1; d >= 0; d--) { /* the last grid key varies fastest */
            int64_t len = S->grid[d].list->count;
            vg__setting_copy(S->grid[d].setting, &cfg, &S->grid[d].values[rest % len]);
            rest /= len;
        }
        vg_status st = vg__check_run(S, &cfg, err);
        if (st) {
            free(out);
            free(by_id);
            return st;
        }
        for (int r = 0; r < S->repeats; r++) {
            int64_t i = c * S->repeats + r;
            out[i] = cfg;
            out[i].index = i;
            out[i].repeat = r;
            vg_run_config_identify(&out[i], S->seed);
            by_id[i] = &out[i];
        }
    }
    /* Distinct settings give distinct hashes; 48 bits of them could still collide, and two
     * runs with one id would overwrite each other's records. */
    qsort(by_id, (size_t)n, sizeof *by_id, vg__cmp_run_id);
    for (int64_t i = 1; i < n; i++) {
        if (strcmp(by_id[i - 1]->id, by_id[i]->id) == 0) {
            vg_status st = vg_error_set(err, VG_ECONFIG,
                                        "%s: runs %lld and %lld have the same id %s (a hash "
                                        "collision); add a setting to one of them",
                                        S->path, (long long)by_id[i - 1]->index,
                                        (long long)by_id[i]->index, by_id[i]->id);
            free(out);
            free(by_id);
            return st;
        }
    }
    free(by_id);
    *runs = out;
    *n_runs = n;
    return VG_OK;
}

int vg_sweep_varying(const vg_sweep *S, int *setting_ids) {
    int n = 0;
    for (int s = 0; s < VG_SETTING_COUNT; s++)
        for (int d = 0; d < S->n_grid; d++)
            if (S->grid[d].setting == s && S->grid[d].list->count > 1) setting_ids[n++] = s;
    return n;
}

/* The id hashes the resolved values, not grid positions: adding, removing or reordering grid
 * values leaves the ids (and seeds) of the other runs unchanged, so a sweep can be extended
 * and its record resumed. */
void vg_run_config_identify(vg_run_config *cfg, uint64_t sweep_seed) {
    char text[4096];
    size_t used = 0;
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        char value[64];
        vg_setting_format(s, cfg, value, sizeof value);
        if (used >= sizeof text) break; /* cannot happen: 18 short lines */
        used += (size_t)snprintf(text + used, sizeof text - used, "%s=%s\n", vg_settings[s].path,
                                 value);
    }
    if (used < sizeof text)
        used += (size_t)snprintf(text + used, sizeof text - used, "repeat=%d\n", cfg->repeat);
    if (used > sizeof text - 1) used = sizeof text - 1;
    uint64_t hash = vg_hash64(text, used, 0);
    snprintf(cfg->id, sizeof cfg->id, "%012" PRIx64, hash >> (64 - 4 * VG_RUN_ID_LEN));
    cfg->seed = vg_seed_mix(sweep_seed, hash);
}
