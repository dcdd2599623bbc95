/* Provenance: the root attributes of an output (program, build, libraries, machine, the
 * sweep). */
#define _GNU_SOURCE /* sync_file_range, O_CLOEXEC */
#include "record_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "vgsweep/buildinfo.h"
#include "vgsweep/nn.h"


/* The shared data sets the runs trained on (src/data), one line each, in order of first use:
 * "<data_checksum> <data.kind> <data.path or -> train=<n> test=<n>"; NULL when none. */
static char *vg__data_sets_text(const vg_sweep_info *info) {
    size_t cap = 0, used = 0;
    char *text = NULL;
    for (int64_t r = 0; r < info->n_runs; r++) {
        const vg_run_config *cfg = &info->runs[r];
        int seen = !cfg->has_data_checksum;
        for (int64_t q = 0; q < r && !seen; q++)
            seen = info->runs[q].has_data_checksum &&
                   info->runs[q].data_checksum == cfg->data_checksum;
        if (seen) continue;
        char line[VG_SETTING_TEXT_MAX + 128];
        int n = snprintf(line, sizeof line, "%016" PRIx64 " %s %s train=%d test=%d\n",
                         cfg->data_checksum, vg_data_kind_names[cfg->data_kind],
                         cfg->data_path[0] ? cfg->data_path : "-", cfg->data_train_size,
                         cfg->data_test_size);
        if (n < 0) continue;
        if (used + (size_t)n + 1 > cap) {
            char *g = realloc(text, cap = 2 * cap + (size_t)n + 1);
            if (!g) break;
            text = g;
        }
        memcpy(text + used, line, (size_t)n + 1);
        used += (size_t)n;
    }
    return text;
}

/* Provenance and the sweep, as attributes of /. */
vg_status vg__write_root(vg_recorder *rec, hid_t file, vg_error *err) {
    const vg_sweep_info *info = &rec->info;
    vg__obj root = {file, rec->tmp_path, "/", 0};
    char libs[512], host[256], machine[sizeof((struct utsname *)0)->machine], finished[32];
    unsigned maj = 0, min = 0, rel = 0;
    vg_status st = VG_OK;

    H5get_libversion(&maj, &min, &rel);
    snprintf(libs, sizeof libs, "HDF5 %u.%u.%u; zlib %s%s%s", maj, min, rel, zlibVersion(),
             info->libraries && info->libraries[0] ? "; " : "",
             info->libraries ? info->libraries : "");
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    struct utsname un; /* the architecture: x86_64, aarch64, ... */
    snprintf(machine, sizeof machine, "%s", uname(&un) == 0 ? un.machine : "unknown");
    vg__now_iso(finished, sizeof finished);

    if (st == VG_OK) st = vg__attr_str(&root, "format", VG_FORMAT_NAME, err);
    if (st == VG_OK) st = vg__attr_i64(&root, "format_version", VG_FORMAT_VERSION, err);
    const vg_buildinfo *build = vg_buildinfo_get(); /* include/vgsweep/buildinfo.h */
    if (st == VG_OK) st = vg__attr_str(&root, "program_version", build->version, err);
    if (st == VG_OK) st = vg__attr_str(&root, "git_revision", build->git_revision, err);
    if (st == VG_OK) st = vg__attr_i64(&root, "git_dirty", build->git_dirty, err);
    if (st == VG_OK) st = vg__attr_str(&root, "build_type", build->build_type, err);
    if (st == VG_OK) st = vg__attr_str(&root, "compiler", build->compiler, err);
    if (st == VG_OK) st = vg__attr_str(&root, "compiler_flags", build->c_flags, err);
    if (st == VG_OK) st = vg__attr_str(&root, "sanitizers", build->sanitizers, err);
    if (st == VG_OK) st = vg__attr_str(&root, "libraries", libs, err);
    if (st == VG_OK) st = vg__attr_str(&root, "host", host, err);
    if (st == VG_OK) st = vg__attr_str(&root, "machine", machine, err);
    if (st == VG_OK) st = vg__attr_str(&root, "kernel_path", vg_nn_kernel_path(), err);
    if (st == VG_OK) st = vg__attr_str(&root, "started", rec->started, err);
    if (st == VG_OK) st = vg__attr_str(&root, "finished", finished, err);
    if (st == VG_OK) st = vg__attr_str(&root, "command_line", info->command_line, err);
    if (st == VG_OK) st = vg__attr_str(&root, "sweep_file", info->sweep_file, err);
    if (st == VG_OK) st = vg__attr_str(&root, "sweep_name", info->sweep_name, err);
    if (st == VG_OK) st = vg__attr_str(&root, "sweep_text", info->sweep_text, err);
    if (st == VG_OK) st = vg__attr_u64(&root, "sweep_seed", info->sweep_seed, err);
    if (st == VG_OK) st = vg__attr_i64(&root, "n_runs", rec->n_all, err);
    char *data_sets = st == VG_OK ? vg__data_sets_text(info) : NULL;
    if (data_sets) st = vg__attr_str(&root, "data_sets", data_sets, err);
    free(data_sets);
    return st;
}
