/* Errors are values: every library function that can fail returns a vg_status and fills a
 * vg_error with a one-line message that already names where the problem is (file:line:col of
 * the sweep file, the run id, or the HDF5 dataset). Only main() prints and exits. */
#ifndef VGSWEEP_ERROR_H
#define VGSWEEP_ERROR_H

#include <stdarg.h>

/* Code, name and default text live in one table so they never drift apart. The exit code is
 * what the CLI returns for an error of that kind: 2 for usage/config, 1 for run-time. */
#define VG_STATUS_TABLE(XX)                                                  \
    XX(OK, 0, "success")                                                     \
    XX(EUSAGE, 2, "usage error")                                             \
    XX(ECONFIG, 2, "sweep file error")                                       \
    XX(EIO, 1, "input/output error")                                         \
    XX(ENOMEM, 1, "out of memory")                                           \
    XX(EHDF5, 1, "HDF5 error")                                               \
    XX(ENUMERIC, 1, "numerical error")                                       \
    XX(EDATA, 1, "data error")                                               \
    XX(EINTERNAL, 1, "internal error")

typedef enum vg_status {
#define VG__STATUS_ENUM(name, exit_code, text) VG_##name,
    VG_STATUS_TABLE(VG__STATUS_ENUM)
#undef VG__STATUS_ENUM
    VG_STATUS_COUNT
} vg_status;

/* A filled error: code plus a complete one-line message (no trailing newline). */
typedef struct vg_error {
    vg_status code;
    char message[1024];
} vg_error;

/* Sets err (if not NULL) and returns code, so callers can write `return vg_error_set(...)`. */
vg_status vg_error_set(vg_error *err, vg_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
vg_status vg_error_setv(vg_error *err, vg_status code, const char *fmt, va_list ap);
/* Prepends "prefix: " to an already filled message (e.g. the run id to a numeric error). */
void vg_error_prefix(vg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vg_error_clear(vg_error *err);

const char *vg_status_name(vg_status code); /* "ECONFIG" */
const char *vg_status_text(vg_status code); /* "sweep file error" */
int vg_status_exit_code(vg_status code);    /* 0, 1 or 2 */

#endif
