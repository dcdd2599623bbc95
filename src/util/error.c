#include "vgsweep/error.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int exit_code;
    const char *text;
} vg__status_info[] = {
#define VG__STATUS_ROW(name, exit_code, text) {#name, exit_code, text},
    VG_STATUS_TABLE(VG__STATUS_ROW)
#undef VG__STATUS_ROW
};

vg_status vg_error_setv(vg_error *err, vg_status code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return code;
}

vg_status vg_error_set(vg_error *err, vg_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vg_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void vg_error_prefix(vg_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t cap = sizeof err->message, pl = strlen(prefix), ol = strlen(err->message);
    if (pl + 3 > cap) return;
    if (ol > cap - pl - 3) ol = cap - pl - 3; /* keep the prefix, cut the tail */
    memmove(err->message + pl + 2, err->message, ol);
    memcpy(err->message, prefix, pl);
    memcpy(err->message + pl, ": ", 2);
    err->message[pl + 2 + ol] = '\0';
}

void vg_error_clear(vg_error *err) {
    if (!err) return;
    err->code = VG_OK;
    err->message[0] = '\0';
}

static int vg__status_valid(vg_status code) { return code >= 0 && code < VG_STATUS_COUNT; }

const char *vg_status_name(vg_status code) {
    return vg__status_valid(code) ? vg__status_info[code].name : "EUNKNOWN";
}
const char *vg_status_text(vg_status code) {
    return vg__status_valid(code) ? vg__status_info[code].text : "unknown error";
}
int vg_status_exit_code(vg_status code) {
    return vg__status_valid(code) ? vg__status_info[code].exit_code : 1;
}
