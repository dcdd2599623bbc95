/* Internals shared by the files of src/config/ only: the arena the YAML tree lives in, the
 * libyaml loader, and the helpers that build "expected ..., got ..." messages. */
#ifndef VG_CONFIG_INTERNAL_H
#define VG_CONFIG_INTERNAL_H

#include <stddef.h>

#include "vgsweep/config.h"

/* --- arena: every node and string of one sweep, freed at once --- */
typedef struct vg__arena vg__arena;

vg__arena *vg__arena_new(void);
void vg__arena_free(vg__arena *arena);
void *vg__arena_alloc(vg__arena *arena, size_t size); /* zeroed, max-aligned; NULL if no memory */
char *vg__arena_strndup(vg__arena *arena, const char *text, size_t len);

/* --- loading (yaml_load.c) --- */

/* Reads a whole file into a malloc'ed NUL-terminated buffer. Errors: "path: cannot read: ...". */
vg_status vg__read_file(const char *path, char **text, size_t *len, vg_error *err);

/* Parses text (already read from file) into a node tree allocated from arena. Checks that the
 * text is UTF-8 without NUL bytes, holds exactly one document, has no duplicate keys; resolves
 * aliases and << merge keys. */
vg_status vg__yaml_parse(const char *file, const char *text, size_t len, vg__arena *arena,
                         vg_node **root, vg_error *err);

/* --- messages --- */

/* Sets err to "file:line:col: " + the formatted text; without a node, to "fallback: " + text. */
vg_status vg__node_error(vg_error *err, const vg_node *node, const char *fallback,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Escapes newlines and other control characters in place ("\n", "\x09"): a message stays one
 * line whatever a key or path holds. */
void vg__one_line(char *text, size_t size);

/* What a node is, for "got ...": `"abc"`, `-0.1`, `the string "5"`, `a list of 3 items`,
 * `a mapping`, `nothing (an empty value)`. Always one line. */
const char *vg__node_describe(const vg_node *node, char *buf, size_t size);

/* The candidate closest to word by (case-insensitive, optimal string alignment) edit distance,
 * if it is close enough to be a likely typo; otherwise NULL. */
const char *vg__suggest(const char *word, const char *const *candidates, size_t n);

/* Like vg_setting_parse, but names the value `key_path` in the message (e.g. a grid item). */
vg_status vg__setting_parse(int setting, const vg_node *node, const char *key_path,
                            vg_run_config *cfg, vg_error *err);

/* Strict number syntax shared by the setting parser and the run filter: the whole text, no
 * spaces, no hex, finite; 1 on success. */
int vg__parse_ll(const char *text, long long *out);
int vg__parse_double(const char *text, double *out);
/* For a decimal number vg__parse_double refuses for its size: "overflows a double" (1e999) or
 * "underflows to zero ..." (1e-400); else NULL. */
const char *vg__number_problem(const char *text);

/* Whether a filter looks at repeat or id (filter.c), so it must be matched per repeat. */
int vg__filter_per_repeat(const vg_run_filter *filter);

/* Value comparison for duplicate grid values: both configs hold a parsed value of setting. */
int vg__setting_equal(int setting, const vg_run_config *a, const vg_run_config *b);
void vg__setting_copy(int setting, vg_run_config *dst, const vg_run_config *src);

#endif
