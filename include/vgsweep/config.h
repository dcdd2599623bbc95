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
 * Errors: "file:line:col: model.depth: expected an integer in [1, 10000], got 0". */
vg_status vg_setting_parse(int setting, const vg_node *node, vg_run_config *cfg, vg_error *err);

typedef struct vg_sweep vg_sweep; /* opaque: owns the YAML tree and the file text */

/* Reads, parses and validates a sweep file; on error *out is NULL and nothing is left open. */
vg_status vg_sweep_load(const char *path, vg_sweep **out, vg_error *err);
void vg_sweep_free(vg_sweep *sweep);

const char *vg_sweep_path(const vg_sweep *sweep);
const char *vg_sweep_name(const vg_sweep *sweep); /* name:, or the file's base name */
const char *vg_sweep_text(const vg_sweep *sweep); /* the file's bytes, NUL-terminated */
size_t vg_sweep_text_length(const vg_sweep *sweep); /* bytes, without the final NUL */
uint64_t vg_sweep_seed(const vg_sweep *sweep);      /* seed:, default 0 */
int vg_sweep_repeats(const vg_sweep *sweep);        /* repeats:, default 1 */
int64_t vg_sweep_run_count(const vg_sweep *sweep);  /* what vg_sweep_expand will return */

/* Expands the grid into *n_runs resolved configs (malloc'ed array, caller frees), in grid
 * order: the first grid key varies slowest. Cross-setting checks (e.g. record.probe <=
 * data.train_size) happen here and name the node that set the value. */
vg_status vg_sweep_expand(const vg_sweep *sweep, vg_run_config **runs, int64_t *n_runs,
                          vg_error *err);

/* Settings that take more than one value across the grid, in table order; returns the count
 * written to setting_ids (at most VG_SETTING_COUNT). */
int vg_sweep_varying(const vg_sweep *sweep, int *setting_ids);

/* Fills cfg->id and cfg->seed from the resolved settings, cfg->repeat and the sweep seed. */
void vg_run_config_identify(vg_run_config *cfg, uint64_t sweep_seed);

#endif
