/* libFuzzer harness for the sweep loader: load from memory, count, expand, filter.
 *
 * The input holds up to three files separated by a line "#--": fuzz.yaml, p.yaml and q.yaml;
 * any of them may extend another (cycles included), and any other path is "not found", so
 * nothing is read from disk. A line "#only: FILTER" anywhere also runs that filter.
 * Besides crashes, leaks and sanitizer reports, it aborts when a property breaks: errors are one
 * line and name their place, counting and expanding agree, every run matches the filter. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/config.h"

#define N_FILES 3
/* Expansion of a sweep larger than this is skipped: vg_sweep_run_count bounds it for free. */
#define MAX_EXPANDED_RUNS 5000

static const char *const names[N_FILES] = {"fuzz.yaml", "p.yaml", "q.yaml"};

typedef struct files {
    const char *text[N_FILES];
    size_t len[N_FILES];
} files;

static vg_status fuzz_read(void *ctx, const char *path, char **text, size_t *len, vg_error *err) {
    const files *F = ctx;
    for (int i = 0; i < N_FILES; i++) {
        if (strcmp(path, names[i]) != 0 || !F->text[i]) continue;
        *text = malloc(F->len[i] + 1);
        if (!*text) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
        memcpy(*text, F->text[i], F->len[i]);
        (*text)[F->len[i]] = '\0';
        *len = F->len[i];
        return VG_OK;
    }
    return vg_error_set(err, VG_ECONFIG, "%s: cannot read: No such file or directory", path);
}

static void check_error(const vg_error *err, vg_status st, vg_status want) {
    if (st == VG_ENOMEM) return;
    if (st != want || strchr(err->message, '\n') || err->message[0] == '\0') {
        fprintf(stderr, "fuzz_sweep: bad error (%s, wanted %s): %s\n", vg_status_name(st),
                vg_status_name(want), err->message);
        abort();
    }
}

static void expand(const vg_sweep *s, const vg_run_filter *filter) {
    vg_sweep_counts c;
    vg_error err;
    vg_error_clear(&err);
    vg_status st = vg_sweep_count(s, filter, &c, &err);
    if (st) {
        check_error(&err, st, VG_ECONFIG);
        return;
    }
    vg_run_config *runs = NULL;
    int64_t n = 0;
    st = vg_sweep_select(s, filter, &runs, &n, NULL, &err);
    if (st) {
        check_error(&err, st, VG_ECONFIG); /* identical runs are found only when expanding */
        return;
    }
    if (n != c.runs || n > vg_sweep_run_count(s)) {
        fprintf(stderr, "fuzz_sweep: counted %lld runs, expanded %lld (bound %lld)\n",
                (long long)c.runs, (long long)n, (long long)vg_sweep_run_count(s));
        abort();
    }
    for (int64_t i = 0; i < n; i++)
        if (runs[i].index != i || !vg_run_filter_match(filter, &runs[i])) abort();
    int varying[VG_SETTING_COUNT];
    if (vg_runs_varying(runs, n, varying) > VG_SETTING_COUNT) abort();
    free(runs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    files F = {{NULL}, {0}};
    /* Split at "\n#--\n". */
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i <= size && k < N_FILES; i++) {
        int sep = i + 5 <= size && memcmp(text + i, "\n#--\n", 5) == 0;
        if (i == size || (sep && k < N_FILES - 1)) {
            F.text[k] = text + start;
            F.len[k] = i - start + (i < size); /* keep the newline */
            k++;
            start = i + 5;
            i += 4;
        }
    }
    vg_sweep_reader reader = {.read = fuzz_read, .ctx = &F};
    vg_sweep *s = NULL;
    vg_error err;
    vg_error_clear(&err);
    vg_status st = vg_sweep_load_text(names[0], F.text[0], F.len[0], &reader, &s, &err);
    if (st) {
        check_error(&err, st, VG_ECONFIG);
        if (s) abort();
        return 0;
    }
    if (!vg_sweep_text(s) || strlen(vg_sweep_text(s)) > vg_sweep_text_length(s) ||
        vg_sweep_file_count(s) < 1 || !vg_sweep_name(s))
        abort();
    int varying[VG_SETTING_COUNT];
    if (vg_sweep_varying(s, varying) > VG_SETTING_COUNT) abort();

    /* "#only: FILTER": a filter to parse and apply. */
    vg_run_filter *filter = NULL;
    const char *only = NULL;
    for (size_t i = 0; i + 7 <= size && !only; i++)
        if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "#only: ", 7) == 0) only = text + i + 7;
    if (only) {
        char buf[256];
        size_t n = 0;
        while (only + n < text + size && only[n] != '\n' && only[n] != '\0' && n + 1 < sizeof buf) {
            buf[n] = only[n];
            n++;
        }
        buf[n] = '\0';
        st = vg_run_filter_parse(buf, &filter, &err);
        if (st) check_error(&err, st, VG_EUSAGE);
    }
    if (vg_sweep_run_count(s) <= MAX_EXPANDED_RUNS) {
        expand(s, NULL);
        if (filter) expand(s, filter);
    }
    vg_run_filter_free(filter);
    vg_sweep_free(s);
    return 0;
}
