/* Sweep files: YAML loaded with libyaml into a node tree that keeps every node's file:line:col,
 * validated against the settings table, and expanded into the grid of resolved run configs.
 *
 *   sweep file --vg_sweep_load--> vg_sweep --vg_sweep_expand--> vg_run_config[n]
 *
 * Every error message starts with "file:line:col: " of the offending node, then the key path,
 * what was expected and what was found. */
#ifndef VGSWEEP_CONFIG_H
#define VGSWEEP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/settings.h"

typedef enum vg_node_kind { VG_NODE_SCALAR, VG_NODE_SEQUENCE, VG_NODE_MAPPING } vg_node_kind;

/* One YAML node. Marks are 1-based, as editors show them. Aliases are resolved at load time to
 * the anchored node, so a tree may share subtrees (it is a DAG, freed through the arena). */
typedef struct vg_node {
    vg_node_kind kind;
    const char *file; /* path as given on the command line or by extends: */
    int line, col;
    int quoted;       /* scalar written in quotes: never a number or boolean */
    char *scalar;     /* SCALAR: the text */
    int64_t count;    /* SEQUENCE: items; MAPPING: key/value pairs */
    struct vg_node **items;  /* SEQUENCE: (count) */
    struct vg_node **keys;   /* MAPPING: (count), scalar keys */
    struct vg_node **values; /* MAPPING: (count) */
} vg_node;

/* "file:line:col" of a node into buf; returns buf. */
const char *vg_node_where(const vg_node *node, char *buf, size_t size);
/* Value of key in a mapping, or NULL. */
const vg_node *vg_node_get(const vg_node *mapping, const char *key);

/* Parses one YAML value into a setting's field of cfg (and cfg->source[setting]), with the
 * table's type and bounds; the same parser reads sweep values, grid values and the defaults.
 * An ENUM also takes the mapping form `{choice: value}` when the choice has a parameter
 * (vg_setting.choice_params): `train.clip: {norm: 1.0}` sets train.clip and, from the value,
 * train.clip_threshold (cfg->source of both is set).
 * Errors: "file:line:col: model.depth: expected an integer in [1, 10000], got 0". */
vg_status vg_setting_parse(int setting, const vg_node *node, vg_run_config *cfg, vg_error *err);

/* What a setting accepts, as error messages say it: "an integer in [1, 10000]",
 * "a number > 0", "one of none, norm, layer_norm, value", "true or false". */
void vg_setting_expected(int setting, char *buf, size_t size);

typedef struct vg_sweep vg_sweep; /* opaque: owns the YAML trees and the files' texts */

/* Where `extends:` files come from. NULL (or a NULL read) means the file system; a test or
 * the fuzzer serves them from memory. read fills *text with a malloc'ed, NUL-terminated
 * buffer that the sweep then owns, and its errors read "path: cannot read: reason". */
typedef struct vg_sweep_reader {
    vg_status (*read)(void *ctx, const char *path, char **text, size_t *len, vg_error *err);
    void *ctx;
} vg_sweep_reader;

/* Reads, parses and validates a sweep file and the files it extends; on error *out is NULL and
 * nothing is left open. */
vg_status vg_sweep_load(const char *path, vg_sweep **out, vg_error *err);
/* The same from bytes in memory (name stands for the file in messages and is the directory
 * that a relative `extends:` starts from); files it extends come through reader. */
vg_status vg_sweep_load_text(const char *name, const char *text, size_t len,
                             const vg_sweep_reader *reader, vg_sweep **out, vg_error *err);
void vg_sweep_free(vg_sweep *sweep);

const char *vg_sweep_path(const vg_sweep *sweep);
const char *vg_sweep_name(const vg_sweep *sweep); /* name:, or the file's base name */
/* The file's bytes, NUL-terminated. A sweep that extends others holds every file: each one,
 * the loaded file first and then its parents, after a line "# --- file: <path>". */
const char *vg_sweep_text(const vg_sweep *sweep);
size_t vg_sweep_text_length(const vg_sweep *sweep); /* bytes, without the final NUL */
int vg_sweep_file_count(const vg_sweep *sweep);     /* 1 + the files it extends */
const char *vg_sweep_file_path(const vg_sweep *sweep, int i); /* 0: the loaded file */
uint64_t vg_sweep_seed(const vg_sweep *sweep);      /* seed:, default 0 */
int vg_sweep_repeats(const vg_sweep *sweep);        /* repeats:, default 1 */
/* At most what vg_sweep_expand returns: (grid configurations + include: entries) x repeats,
 * before exclude: and de-duplication. Known without expanding anything, so a caller can refuse
 * a huge sweep before allocating it. */
int64_t vg_sweep_run_count(const vg_sweep *sweep);

/* --- selecting runs: `vgsweep --only 'model.activation=relu,model.depth>=10'` --- */

typedef struct vg_run_filter vg_run_filter; /* opaque */

/* Comma-separated conditions, all of which a run must meet: path=value, path!=value (a value
 * may list alternatives a|b|c), and for numbers path>=v, path<=v, path>v, path<v. Paths are
 * settings, or `repeat` and `id`. Values are checked against the settings table; errors
 * (VG_EUSAGE) read `filter "model.depht>=10": model.depht: unknown setting (did you mean
 * "model.depth"?)`. */
vg_status vg_run_filter_parse(const char *text, vg_run_filter **out, vg_error *err);
int vg_run_filter_match(const vg_run_filter *filter, const vg_run_config *cfg);
void vg_run_filter_free(vg_run_filter *filter);

/* --- expansion --- */

typedef struct vg_sweep_counts {
    int64_t grid;       /* configurations in the product of the grid: keys and zip: groups */
    int64_t excluded;   /* of those, dropped by exclude: */
    int64_t included;   /* include: entries added */
    int64_t duplicates; /* include: entries dropped because they already were runs */
    int64_t filtered;   /* runs the filter dropped */
    int64_t runs;       /* what remains: the runs, repeats included */
} vg_sweep_counts;

/* Counts the runs vg_sweep_select would return, without allocating them; also runs the same
 * cross-setting checks (so a huge sweep's errors show before anything is allocated). */
vg_status vg_sweep_count(const vg_sweep *sweep, const vg_run_filter *filter,
                         vg_sweep_counts *counts, vg_error *err);

/* Expands the sweep into *n_runs resolved configs (malloc'ed array, caller frees): the grid
 * configurations in order (the first grid key varies slowest, zip groups after the grid keys)
 * minus the excluded ones, then the include: entries not already among them, each repeated
 * `repeats` times; then keeps those the filter (NULL: all) matches. Cross-setting checks (e.g.
 * record.probe <= data.train_size) run on every configuration that is not excluded, whatever
 * the filter, and name the node that set the value. counts may be NULL. */
vg_status vg_sweep_select(const vg_sweep *sweep, const vg_run_filter *filter,
                          vg_run_config **runs, int64_t *n_runs, vg_sweep_counts *counts,
                          vg_error *err);
/* vg_sweep_select without a filter. */
vg_status vg_sweep_expand(const vg_sweep *sweep, vg_run_config **runs, int64_t *n_runs,
                          vg_error *err);

/* Settings that can take more than one value across the sweep's runs, in table order; returns
 * the count written to setting_ids (at most VG_SETTING_COUNT). */
int vg_sweep_varying(const vg_sweep *sweep, int *setting_ids);
/* Settings that differ between some of these runs, in table order (for a filtered list). */
int vg_runs_varying(const vg_run_config *runs, int64_t n_runs, int *setting_ids);

/* One setting's part in a run id: base settings (those of record format 2) always enter the
 * id; any other only when value differs from default_value. */
typedef struct vg_id_entry {
    const char *path, *value, *default_value;
    int base;
} vg_id_entry;
/* The text a run id hashes: "path=value\n" for every base entry in the order given,
 * "repeat=N\n", then every other entry set away from its default. Returns its length (as
 * snprintf: text is cut at size - 1). */
size_t vg_run_id_text(const vg_id_entry *entries, int n_entries, int repeat, char *text,
                      size_t size);
/* Fills cfg->id and cfg->seed from the resolved settings, cfg->repeat and the sweep seed. */
void vg_run_config_identify(vg_run_config *cfg, uint64_t sweep_seed);

#endif
