/* libyaml events -> vg_node tree. The event API (not libyaml's document API) is used because it
 * lets us keep 1-based marks on every node, check duplicate keys where they occur, and resolve
 * aliases and << merges to shared nodes without copying. Everything lives in the sweep's arena. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config/internal.h"
#include "vgsweep/files.h"

/* Deeper nesting than this is not a sweep file; the limit keeps the recursion off the edge of
 * the stack for hostile input. */
#define VG__MAX_DEPTH 256
/* libyaml's limit on a simple (implicit) key: YAML 1.1 and 1.2 say 1024 characters. */
#define VG__MAX_KEY_CHARS 1024
/* A sweep file is a few kilobytes; no file larger than this is read (docs/SWEEP-FORMAT.md,
 * "Limits"). */
#define VG__MAX_FILE_BYTES (16u << 20)

/* --- arena --- */

typedef struct vg__block {
    struct vg__block *next;
    size_t used, cap;
    max_align_t data[];
} vg__block;

struct vg__arena {
    vg__block *head;
};

vg__arena *vg__arena_new(void) { return calloc(1, sizeof(vg__arena)); }

void vg__arena_free(vg__arena *arena) {
    if (!arena) return;
    for (vg__block *b = arena->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(arena);
}

void *vg__arena_alloc(vg__arena *arena, size_t size) {
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    if (size == 0) size = align;
    vg__block *b = arena->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        b = calloc(1, sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->next = arena->head;
        arena->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

char *vg__arena_strndup(vg__arena *arena, const char *text, size_t len) {
    char *s = vg__arena_alloc(arena, len + 1);
    if (s) {
        memcpy(s, text, len);
        s[len] = '\0';
    }
    return s;
}

/* --- messages --- */

void vg__one_line(char *text, size_t size) {
    char out[1024];
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && used + 5 < sizeof out; p++) {
        if (*p == '\n')
            used += (size_t)snprintf(out + used, sizeof out - used, "\\n");
        else if (*p < 0x20 || *p == 0x7f)
            used += (size_t)snprintf(out + used, sizeof out - used, "\\x%02x", *p);
        else
            out[used++] = (char)*p;
    }
    out[used] = '\0';
    snprintf(text, size, "%s", out);
}

vg_status vg__node_error(vg_error *err, const vg_node *node, const char *fallback,
                         const char *fmt, ...) {
    char where[256], msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg__one_line(msg, sizeof msg); /* keys and paths may hold newlines: the message may not */
    if (node && node->file)
        vg_node_where(node, where, sizeof where);
    else
        snprintf(where, sizeof where, "%s", fallback ? fallback : "(unknown)");
    return vg_error_set(err, VG_ECONFIG, "%s: %s", where, msg);
}

/* --- reading --- */

static vg_status vg__not_regular(const char *path, mode_t mode, vg_error *err) {
    if (S_ISDIR(mode)) /* the message of fopen's EISDIR, as before */
        return vg_error_set(err, VG_ECONFIG, "%s: cannot read: %s", path, strerror(EISDIR));
    return vg_error_set(err, VG_ECONFIG, "%s: cannot read: not a regular file (%s)", path,
                        vg_file_kind(mode));
}

/* Opened without blocking (a FIFO would block open() until a writer came; O_NONBLOCK lets it
 * return at once), refused unless a regular file (a FIFO, a socket, /dev/zero or a directory
 * is never a sweep file, whatever a symlink calls it), and read up to VG__MAX_FILE_BYTES. */
vg_status vg__read_file(const char *path, char **text, size_t *len, vg_error *err) {
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        struct stat sb;
        /* open() of a socket fails with ENXIO ("No such device or address"): say what it is */
        if (e == ENXIO && stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
            return vg__not_regular(path, sb.st_mode, err);
        return vg_error_set(err, VG_ECONFIG, "%s: cannot read: %s", path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return vg_error_set(err, VG_ECONFIG, "%s: cannot read: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return vg__not_regular(path, sb.st_mode, err);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        return vg_error_set(err, VG_ECONFIG, "%s: cannot read: %s", path, strerror(e));
    }
    if ((uint64_t)sb.st_size > VG__MAX_FILE_BYTES) {
        close(fd);
        return vg_error_set(err, VG_ECONFIG,
                            "%s: cannot read: larger than %u MiB, not a sweep file", path,
                            VG__MAX_FILE_BYTES >> 20);
    }
    /* Read to the end, but never past the limit (the file may grow while it is read). */
    size_t cap = (size_t)sb.st_size + 2, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return vg_error_set(err, VG_ENOMEM, "%s: cannot read: out of memory", path);
    }
    for (;;) {
        if (n > VG__MAX_FILE_BYTES) {
            free(buf);
            close(fd);
            return vg_error_set(err, VG_ECONFIG,
                                "%s: cannot read: larger than %u MiB, not a sweep file", path,
                                VG__MAX_FILE_BYTES >> 20);
        }
        if (cap - n < 2) {
            size_t grown_cap = cap * 2 > (size_t)VG__MAX_FILE_BYTES + 2 ? (size_t)VG__MAX_FILE_BYTES + 2
                                                                      : cap * 2;
            char *grown = realloc(buf, grown_cap);
            if (!grown) {
                free(buf);
                close(fd);
                return vg_error_set(err, VG_ENOMEM, "%s: cannot read: out of memory", path);
            }
            buf = grown;
            cap = grown_cap;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return vg_error_set(err, VG_ECONFIG, "%s: cannot read: %s", path, strerror(e));
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return VG_OK;
}

/* libyaml would also refuse bad bytes, but names them by offset only, and a NUL silently ends
 * the text for every C string consumer downstream (the recorder stores the text verbatim). */
static vg_status vg__check_utf8(const char *file, const char *text, size_t len, vg_error *err) {
    const unsigned char *s = (const unsigned char *)text;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c == 0)
            return vg_error_set(err, VG_ECONFIG,
                                "%s:%zu:%zu: not a text file: NUL byte at byte offset %zu", file,
                                line, col, i);
        if (c < 0x80) {
            if (c == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
            i++;
            continue;
        }
        size_t n = 0;
        uint32_t cp = 0, min = 0;
        if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07, min = 0x10000;
        int ok = n != 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) ok = 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = 0;
        if (!ok)
            return vg_error_set(err, VG_ECONFIG,
                                "%s:%zu:%zu: not UTF-8 text: invalid byte 0x%02x at byte offset "
                                "%zu (save the file as UTF-8)",
                                file, line, col, c, i);
        col++;
        i += n;
    }
    return VG_OK;
}

/* --- string index: keys of a large mapping, anchor names --- */

/* Open addressing over malloc'ed arrays; the strings are not copied (they live in the arena).
 * A lookup costs O(1) on average, so a mapping of 200,000 keys is checked for duplicates, and
 * 200,000 aliases are resolved, in linear time. */
typedef struct vg__strmap {
    size_t cap, n; /* cap: 0 or a power of two */
    const char **keys;
    int64_t *vals;
} vg__strmap;

static uint64_t vg__hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void vg__strmap_free(vg__strmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* The value of key, or -1. */
static int64_t vg__strmap_get(const vg__strmap *m, const char *key) {
    if (m->cap == 0) return -1;
    for (size_t i = vg__hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return -1;
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
    }
}

/* Sets key to val (replacing its value); 0 when out of memory. */
static int vg__strmap_put(vg__strmap *m, const char *key, int64_t val) {
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        vg__strmap grown = {cap, 0, calloc(cap, sizeof *grown.keys), malloc(cap * sizeof *grown.vals)};
        if (!grown.keys || !grown.vals) {
            vg__strmap_free(&grown);
            return 0;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) vg__strmap_put(&grown, m->keys[i], m->vals[i]);
        vg__strmap_free(m);
        *m = grown;
    }
    size_t i = vg__hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 1;
}

/* --- parsing --- */

typedef struct vg__anchor {
    const char *name;
    vg_node *node;
    int complete; /* an alias to an anchor still being parsed would make a cycle */
} vg__anchor;

typedef struct vg__loader {
    yaml_parser_t parser;
    vg__arena *arena;
    const char *file;
    const char *text;
    size_t len;
    vg_error *err;
    vg__anchor *anchors; /* malloc'ed; most recent last, so a redefined anchor wins */
    size_t n_anchors, cap_anchors;
    vg__strmap anchor_index; /* name -> the slot of its latest definition */
} vg__loader;

static vg_status vg__nomem(vg__loader *L) {
    return vg_error_set(L->err, VG_ENOMEM, "%s: out of memory while loading", L->file);
}

static vg_status vg__syntax_error(vg__loader *L) {
    yaml_parser_t *p = &L->parser;
    if (p->error == YAML_MEMORY_ERROR) return vg__nomem(L);
    size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark. */
        line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < L->len; i++) {
            if (L->text[i] == '\n') line++, col = 1;
            else if (((unsigned char)L->text[i] & 0xc0) != 0x80) col++;
        }
    }
    const char *problem = p->problem ? p->problem : "unknown problem";
    /* libyaml gives up on a key longer than 1024 characters (YAML's limit on implicit keys)
     * with a message about something else ("could not find expected ':'", "mapping values
     * are not allowed in this context", "did not find expected ',' or '}'"), at the ':' after
     * it: say so. */
    size_t at = p->problem_mark.index, key_chars = 0, key_col = col;
    if (p->error == YAML_SCANNER_ERROR || p->error == YAML_PARSER_ERROR) {
        /* problem_mark.index counts characters: find its byte */
        size_t byte = 0;
        for (size_t chars = 0; byte < L->len && chars < at; chars++)
            do byte++;
            while (byte < L->len && ((unsigned char)L->text[byte] & 0xc0) == 0x80);
        if (byte < L->len && L->text[byte] == ':') {
            size_t start = byte;
            while (start > 0 && !strchr("\n{,[", L->text[start - 1])) start--;
            while (start < byte && strchr(" \t-", L->text[start])) start++;
            for (size_t i = start; i < byte; i++)
                if (((unsigned char)L->text[i] & 0xc0) != 0x80) key_chars++;
            key_col = col - key_chars;
        }
    }
    if (key_chars > VG__MAX_KEY_CHARS)
        return vg_error_set(L->err, VG_ECONFIG,
                            "%s:%zu:%zu: YAML syntax error: a key of %zu characters; the YAML "
                            "parser (libyaml) reads keys of at most %d characters (it reports: %s)",
                            L->file, line, key_col, key_chars, VG__MAX_KEY_CHARS, problem);
    if (p->context)
        return vg_error_set(L->err, VG_ECONFIG,
                            "%s:%zu:%zu: YAML syntax error: %s (%s that starts at line %zu)",
                            L->file, line, col, problem, p->context, p->context_mark.line + 1);
    return vg_error_set(L->err, VG_ECONFIG, "%s:%zu:%zu: YAML syntax error: %s", L->file, line,
                        col, problem);
}

static vg_status vg__next(vg__loader *L, yaml_event_t *ev) {
    if (!yaml_parser_parse(&L->parser, ev)) return vg__syntax_error(L);
    return VG_OK;
}

static vg_node *vg__new_node(vg__loader *L, vg_node_kind kind, yaml_mark_t mark) {
    vg_node *node = vg__arena_alloc(L->arena, sizeof *node);
    if (!node) return NULL;
    node->kind = kind;
    node->file = L->file;
    node->line = (int)mark.line + 1;
    node->col = (int)mark.column + 1;
    return node;
}

/* Appends to an arena array, doubling into a fresh arena allocation when full. */
static int vg__push(vg__loader *L, vg_node ***items, int64_t count, int64_t *cap, vg_node *item) {
    if (count == *cap) {
        int64_t grown = *cap ? *cap * 2 : 2; /* most mappings in a long list hold one or two keys */
        vg_node **fresh = vg__arena_alloc(L->arena, (size_t)grown * sizeof *fresh);
        if (!fresh) return 0;
        if (count) memcpy(fresh, *items, (size_t)count * sizeof *fresh);
        *items = fresh;
        *cap = grown;
    }
    (*items)[count] = item;
    return 1;
}

static vg_status vg__add_anchor(vg__loader *L, const char *name, vg_node *node, size_t *slot) {
    if (L->n_anchors == L->cap_anchors) {
        size_t cap = L->cap_anchors ? L->cap_anchors * 2 : 16;
        vg__anchor *grown = realloc(L->anchors, cap * sizeof *grown);
        if (!grown) return vg__nomem(L);
        L->anchors = grown;
        L->cap_anchors = cap;
    }
    L->anchors[L->n_anchors] = (vg__anchor){.name = name, .node = node, .complete = 0};
    if (!vg__strmap_put(&L->anchor_index, name, (int64_t)L->n_anchors)) return vg__nomem(L);
    *slot = L->n_anchors++;
    return VG_OK;
}

/* A mapping's keys beyond this many are found through an index (vg__keys), fewer by a scan. */
#define VG__SCAN_KEYS 16

/* The keys of one mapping being parsed: its node, and past VG__SCAN_KEYS an index from each
 * key to its position. */
typedef struct vg__keys {
    vg_node *map;
    vg__strmap index;
} vg__keys;

static const vg_node *vg__find_key(const vg__keys *K, const char *key) {
    const vg_node *map = K->map;
    if (K->index.cap) {
        int64_t i = vg__strmap_get(&K->index, key);
        return i >= 0 ? map->keys[i] : NULL;
    }
    for (int64_t i = 0; i < map->count; i++)
        if (strcmp(map->keys[i]->scalar, key) == 0) return map->keys[i];
    return NULL;
}

/* Appends key: value to the mapping (cap: its arrays' capacity); 0 when out of memory. */
static int vg__add_pair(vg__loader *L, vg__keys *K, int64_t *cap, vg_node *key, vg_node *value) {
    vg_node *map = K->map;
    int64_t vcap = *cap;
    if (!vg__push(L, &map->keys, map->count, cap, key) ||
        !vg__push(L, &map->values, map->count, &vcap, value))
        return 0;
    map->count++;
    if (K->index.cap == 0 && map->count > VG__SCAN_KEYS) {
        for (int64_t i = 0; i < map->count; i++)
            if (!vg__strmap_put(&K->index, map->keys[i]->scalar, i)) return 0;
    } else if (K->index.cap && !vg__strmap_put(&K->index, key->scalar, map->count - 1)) {
        return 0;
    }
    return 1;
}

static vg_status vg__parse_node(vg__loader *L, yaml_event_t *ev, int depth, vg_node **out);

/* `<<: *base` or `<<: [*a, *b]`: pairs of the merged mappings whose keys the mapping does not
 * set itself; earlier sources win over later ones, as in YAML 1.1's merge type. */
static vg_status vg__apply_merge(vg__loader *L, vg__keys *K, int64_t *cap, const vg_node *key,
                                 const vg_node *src) {
    char got[128];
    const vg_node *const *sources = (const vg_node *const *)&src;
    int64_t n_sources = 1;
    if (src->kind == VG_NODE_SEQUENCE) {
        sources = (const vg_node *const *)src->items;
        n_sources = src->count;
    }
    for (int64_t s = 0; s < n_sources; s++) {
        const vg_node *m = sources[s];
        /* Blame the << key: the merged node may be an anchor far away. */
        if (m->kind != VG_NODE_MAPPING)
            return vg__node_error(L->err, key, L->file,
                                  "<<: expected a mapping (or a list of mappings) to merge, got %s",
                                  vg__node_describe(m, got, sizeof got));
        for (int64_t i = 0; i < m->count; i++) {
            if (vg__find_key(K, m->keys[i]->scalar)) continue;
            if (!vg__add_pair(L, K, cap, m->keys[i], m->values[i])) return vg__nomem(L);
        }
    }
    return VG_OK;
}

static vg_status vg__parse_mapping(vg__loader *L, vg_node *map, int depth) {
    yaml_event_t ev;
    vg_status st = VG_OK;
    int64_t cap = 0, n_merges = 0, merge_cap = 0, merge_key_cap = 0;
    vg_node **merges = NULL, **merge_keys = NULL; /* values and keys of the << entries */
    vg__keys K = {.map = map};
    char got[128];
    for (;;) {
        if ((st = vg__next(L, &ev))) goto done;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        vg_node *key, *value;
        if ((st = vg__parse_node(L, &ev, depth + 1, &key))) goto done;
        if (key->kind != VG_NODE_SCALAR) {
            st = vg__node_error(L->err, key, L->file, "mapping keys must be plain text, got %s",
                                vg__node_describe(key, got, sizeof got));
            goto done;
        }
        if ((st = vg__next(L, &ev))) goto done;
        if ((st = vg__parse_node(L, &ev, depth + 1, &value))) goto done;
        if (!key->quoted && strcmp(key->scalar, "<<") == 0) {
            if (!vg__push(L, &merges, n_merges, &merge_cap, value) ||
                !vg__push(L, &merge_keys, n_merges, &merge_key_cap, key)) {
                st = vg__nomem(L);
                goto done;
            }
            n_merges++;
            continue;
        }
        const vg_node *first = vg__find_key(&K, key->scalar);
        if (first) {
            vg_node plain = *key;
            plain.quoted = 0;
            st = vg__node_error(L->err, key, L->file, "duplicate key %s (first at line %d)",
                                vg__node_describe(&plain, got, sizeof got), first->line);
            goto done;
        }
        if (!vg__add_pair(L, &K, &cap, key, value)) {
            st = vg__nomem(L);
            goto done;
        }
    }
    for (int64_t i = 0; i < n_merges && !st; i++)
        st = vg__apply_merge(L, &K, &cap, merge_keys[i], merges[i]);
done:
    vg__strmap_free(&K.index);
    return st;
}

/* Consumes ev (already fetched) and everything up to the end of the node it starts. */
static vg_status vg__parse_node(vg__loader *L, yaml_event_t *ev, int depth, vg_node **out) {
    vg_status st = VG_OK;
    vg_node *node = NULL;
    const char *anchor = NULL;
    yaml_mark_t mark = ev->start_mark;

    if (depth > VG__MAX_DEPTH) {
        yaml_event_delete(ev);
        return vg_error_set(L->err, VG_ECONFIG, "%s:%zu:%zu: nesting deeper than %d levels",
                            L->file, mark.line + 1, mark.column + 1, VG__MAX_DEPTH);
    }

    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        int64_t slot = vg__strmap_get(&L->anchor_index, name);
        vg__anchor *found = slot >= 0 ? &L->anchors[slot] : NULL;
        if (!found)
            st = vg_error_set(L->err, VG_ECONFIG, "%s:%zu:%zu: alias *%s: no anchor &%s before it",
                              L->file, mark.line + 1, mark.column + 1, name, name);
        else if (!found->complete)
            st = vg_error_set(L->err, VG_ECONFIG,
                              "%s:%zu:%zu: alias *%s: refers to a node that contains it", L->file,
                              mark.line + 1, mark.column + 1, name);
        else
            *out = found->node;
        yaml_event_delete(ev);
        return st;
    }
    case YAML_SCALAR_EVENT: {
        /* "\0" in a double-quoted string: libyaml gives the length, C strings would end there */
        const char *nul = memchr(ev->data.scalar.value, 0, ev->data.scalar.length);
        if (nul) {
            size_t at_char = 0;
            for (const char *c = (const char *)ev->data.scalar.value; c < nul; c++)
                if (((unsigned char)*c & 0xc0) != 0x80) at_char++;
            yaml_event_delete(ev);
            return vg_error_set(L->err, VG_ECONFIG,
                                "%s:%zu:%zu: a string holding a NUL character (\\0, after %zu "
                                "characters): not allowed in a sweep file",
                                L->file, mark.line + 1, mark.column + 1, at_char);
        }
        node = vg__new_node(L, VG_NODE_SCALAR, mark);
        if (!node) break;
        node->scalar = vg__arena_strndup(L->arena, (const char *)ev->data.scalar.value,
                                         ev->data.scalar.length);
        /* Quoted, block (| >) and !!str scalars are strings: never numbers or booleans. */
        const char *tag = (const char *)ev->data.scalar.tag;
        node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                       (tag && strcmp(tag, YAML_STR_TAG) == 0);
        if (ev->data.scalar.anchor)
            anchor = vg__arena_strndup(L->arena, (const char *)ev->data.scalar.anchor,
                                       strlen((const char *)ev->data.scalar.anchor));
        if (!node->scalar || (ev->data.scalar.anchor && !anchor)) node = NULL;
        yaml_event_delete(ev);
        if (!node) return vg__nomem(L);
        if (anchor) {
            size_t slot = 0;
            if ((st = vg__add_anchor(L, anchor, node, &slot))) return st;
            L->anchors[slot].complete = 1;
        }
        *out = node;
        return VG_OK;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        const char *raw = (const char *)(is_map ? ev->data.mapping_start.anchor
                                                : ev->data.sequence_start.anchor);
        node = vg__new_node(L, is_map ? VG_NODE_MAPPING : VG_NODE_SEQUENCE, mark);
        if (raw) anchor = vg__arena_strndup(L->arena, raw, strlen(raw));
        yaml_event_delete(ev);
        if (!node || (raw && !anchor)) return vg__nomem(L);
        size_t slot = 0;
        if (anchor && (st = vg__add_anchor(L, anchor, node, &slot))) return st;
        if (is_map) {
            if ((st = vg__parse_mapping(L, node, depth))) return st;
        } else {
            int64_t cap = 0;
            yaml_event_t item_ev;
            for (;;) {
                if ((st = vg__next(L, &item_ev))) return st;
                if (item_ev.type == YAML_SEQUENCE_END_EVENT) {
                    yaml_event_delete(&item_ev);
                    break;
                }
                vg_node *item;
                if ((st = vg__parse_node(L, &item_ev, depth + 1, &item))) return st;
                if (!vg__push(L, &node->items, node->count, &cap, item)) return vg__nomem(L);
                node->count++;
            }
        }
        if (anchor) L->anchors[slot].complete = 1;
        *out = node;
        return VG_OK;
    }
    default:
        yaml_event_delete(ev);
        return vg_error_set(L->err, VG_EINTERNAL, "%s:%zu:%zu: unexpected YAML event %d",
                            L->file, mark.line + 1, mark.column + 1, (int)ev->type);
    }
    yaml_event_delete(ev);
    return vg__nomem(L);
}

/* Expects one event of type want; anything else is reported with message at its mark. */
static vg_status vg__expect(vg__loader *L, yaml_event_type_t want, const char *message) {
    yaml_event_t ev;
    vg_status st = vg__next(L, &ev);
    if (st) return st;
    if (ev.type != want)
        st = vg_error_set(L->err, VG_ECONFIG, "%s:%zu:%zu: %s", L->file, ev.start_mark.line + 1,
                          ev.start_mark.column + 1, message);
    yaml_event_delete(&ev);
    return st;
}

static int vg__only_comments(const char *text, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '#') {
            while (i < len && text[i] != '\n') i++;
        } else if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
            return 0;
        }
    }
    return 1;
}

vg_status vg__yaml_parse(const char *file, const char *text, size_t len, vg__arena *arena,
                         vg_node **root, vg_error *err) {
    *root = NULL;
    if (len == 0) return vg_error_set(err, VG_ECONFIG, "%s: the file is empty", file);
    vg_status st = vg__check_utf8(file, text, len, err);
    if (st) return st;
    if (vg__only_comments(text, len))
        return vg_error_set(err, VG_ECONFIG,
                            "%s: the file holds no settings (only comments and blank lines)", file);

    vg__loader L = {.arena = arena, .file = file, .text = text, .len = len, .err = err};
    if (!yaml_parser_initialize(&L.parser)) return vg__nomem(&L);
    yaml_parser_set_input_string(&L.parser, (const unsigned char *)text, len);

    yaml_event_t ev;
    if ((st = vg__expect(&L, YAML_STREAM_START_EVENT, "expected the start of the YAML stream")))
        goto done;
    if ((st = vg__next(&L, &ev))) goto done;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        st = vg_error_set(err, VG_ECONFIG, "%s: the file holds no YAML document", file);
        goto done;
    }
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        yaml_event_delete(&ev);
        st = vg_error_set(err, VG_EINTERNAL, "%s: expected a YAML document", file);
        goto done;
    }
    yaml_event_delete(&ev);
    if ((st = vg__next(&L, &ev))) goto done;
    if ((st = vg__parse_node(&L, &ev, 0, root))) goto done;
    if ((st = vg__expect(&L, YAML_DOCUMENT_END_EVENT, "expected the end of the document")))
        goto done;
    st = vg__expect(&L, YAML_STREAM_END_EVENT,
                    "a second YAML document: a sweep file holds exactly one (remove the '---')");
done:
    if (st) *root = NULL;
    free(L.anchors);
    vg__strmap_free(&L.anchor_index);
    yaml_parser_delete(&L.parser);
    return st;
}
