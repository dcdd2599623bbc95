/* Checks of an output path before anything is written or deleted there (outpath.h). Every
 * problem found here is the user's to fix (another -o), so each is VG_EUSAGE: it is found
 * before any run trains, and nothing trains that could not be written. */
#include "outpath.h"

#include "vgsweep/files.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vgsweep/settings.h"

#ifndef NAME_MAX
#define NAME_MAX 255
#endif

/* Suffixes vgsweep appends to the output's name: the longest whole path and the longest
 * single name (".parts" and ".tmp" of the parts directory while it is made). */
#define VG__LONGEST_TAIL (sizeof ".parts/" - 1 + VG_RUN_ID_LEN + sizeof ".part.tmp" - 1)
#define VG__LONGEST_SUFFIX (sizeof ".parts.tmp" - 1)

vg_status vg_outpath_check_names(const char *path, vg_error *err) {
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (n + VG__LONGEST_TAIL >= PATH_MAX)
        return vg_error_set(err, VG_EUSAGE,
                            "%.200s...: output path too long (%zu bytes; with the names vgsweep "
                            "derives from it, at most %zu) (%s)",
                            path, n, (size_t)PATH_MAX - 1 - VG__LONGEST_TAIL,
                            strerror(ENAMETOOLONG));
    if (!*base)
        return vg_error_set(err, VG_EUSAGE, "%s: output path names a directory, not a file", path);
    if (strlen(base) + VG__LONGEST_SUFFIX > NAME_MAX)
        return vg_error_set(err, VG_EUSAGE,
                            "%s: output file name too long (%zu bytes; at most %zu so that "
                            "\"%s.parts.tmp\" fits) (%s)",
                            path, strlen(base), (size_t)NAME_MAX - VG__LONGEST_SUFFIX, "<name>",
                            strerror(ENAMETOOLONG));
    return VG_OK;
}

/* mkdir -p dir: each missing directory on the way. */
static vg_status vg__mkdirs(const char *path, const char *dir, vg_error *err) {
    char *p = malloc(strlen(dir) + 1);
    if (!p) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    strcpy(p, dir);
    vg_status st = VG_OK;
    for (char *q = p + 1;; q++) {
        int end = *q == '\0';
        if (*q != '/' && !end) continue;
        *q = '\0';
        struct stat sb;
        if (stat(p, &sb) != 0 && mkdir(p, 0777) != 0 && errno != EEXIST) {
            st = vg_error_set(err, VG_EUSAGE, "%s: cannot create directory %s: %s", path, p,
                              strerror(errno));
            break;
        }
        if (end) break;
        *q = '/';
    }
    free(p);
    return st;
}

vg_status vg_outpath_prepare_dir(const char *path, vg_error *err) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0) n = 1; /* "/x.h5" */
    char *dir = malloc(n + 1);
    if (!dir) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    struct stat sb;
    vg_status st = VG_OK;
    if (stat(dir, &sb) != 0 && errno == ENOENT) st = vg__mkdirs(path, dir, err);
    if (st != VG_OK) {
    } else if (stat(dir, &sb) != 0)
        st = vg_error_set(err, VG_EUSAGE, "%s: cannot write there: directory %s: %s", path, dir,
                          strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        st = vg_error_set(err, VG_EUSAGE, "%s: cannot write there: %s is not a directory", path,
                          dir);
    else if (access(dir, W_OK | X_OK) != 0)
        st = vg_error_set(err, VG_EUSAGE,
                          "%s: cannot write there: directory %s is not writable (%s)", path, dir,
                          strerror(errno));
    else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        st = vg_error_set(err, VG_EUSAGE, "%s: is a directory; give the output a file name",
                          path);
    if (st == VG_OK) { /* the file system's own limit may be below NAME_MAX (eCryptfs: 143) */
        const char *slash2 = strrchr(path, '/');
        size_t base = strlen(slash2 ? slash2 + 1 : path);
        long name_max = pathconf(dir, _PC_NAME_MAX);
        if (name_max > 0 && base + VG__LONGEST_SUFFIX > (size_t)name_max)
            st = vg_error_set(err, VG_EUSAGE,
                              "%s: output file name too long for %s (%zu bytes; its file system "
                              "takes names of at most %ld, and \"<name>.parts.tmp\" must fit) (%s)",
                              path, dir, base, name_max, strerror(ENAMETOOLONG));
    }
    free(dir);
    return st;
}

vg_status vg_outpath_check_inputs(const char *path, const char *const *inputs, int n_inputs,
                                  vg_error *err) {
    static const char *const suffixes[] = {"", ".tmp", ".lock", ".parts"};
    size_t n = strlen(path);
    char *p = malloc(n + sizeof ".parts");
    if (!p) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    vg_status st = VG_OK;
    for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes && st == VG_OK; k++) {
        struct stat out;
        memcpy(p, path, n);
        strcpy(p + n, suffixes[k]);
        if (stat(p, &out) != 0) continue;
        for (int i = 0; i < n_inputs && st == VG_OK; i++) {
            struct stat in;
            if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == out.st_dev &&
                in.st_ino == out.st_ino)
                st = k == 0 ? vg_error_set(err, VG_EUSAGE,
                                           "%s: is the sweep file %s, which vgsweep reads; "
                                           "choose another --output",
                                           path, inputs[i])
                            : vg_error_set(err, VG_EUSAGE,
                                           "%s: %s (which vgsweep would replace) is the sweep "
                                           "file %s; choose another --output",
                                           path, p, inputs[i]);
        }
    }
    free(p);
    return st;
}

vg_status vg_outpath_check_target(const char *path, vg_error *err) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return VG_OK; /* nothing there */
    int link = S_ISLNK(sb.st_mode);
    if (link && stat(path, &sb) != 0)
        return vg_error_set(err, VG_EUSAGE,
                            "%s: is a symbolic link to nothing (%s); vgsweep writes only "
                            "regular files: remove it or choose another --output",
                            path, strerror(errno));
    if (S_ISREG(sb.st_mode)) return VG_OK;
    const char *what = vg_file_kind(sb.st_mode);
    return vg_error_set(err, VG_EUSAGE,
                        "%s: is %s%s; vgsweep reads and replaces only regular files: choose "
                        "another --output",
                        path, link ? "a symbolic link to " : "", what);
}
