/* A run's settings in its part's HEADER record (runcfg.h). Values are stored exactly (int64,
 * the double's bits, the choice's spelling), so a run written from its part by a later session
 * gets the very attributes its own session would have written. */
#include "runcfg.h"

#include <stdio.h>
#include <string.h>

#define VG__RUNCFG_TAG 0x53474643u /* "CFGS": the settings follow */

void vg_runcfg_put(vg_buf *b, const vg_run_config *cfg) {
    vg_buf_u32(b, VG__RUNCFG_TAG);
    vg_buf_i64(b, cfg->repeat);
    vg_buf_i64(b, (int64_t)cfg->seed);
    vg_buf_u32(b, VG_SETTING_COUNT);
    for (int i = 0; i < VG_SETTING_COUNT; i++) {
        const vg_setting *s = &vg_settings[i];
        const void *value = (const char *)cfg + s->offset;
        vg_buf_str(b, s->path);
        vg_buf_u32(b, (uint32_t)s->type);
        switch (s->type) {
        case VG_TYPE_INT:
        case VG_TYPE_BOOL: vg_buf_i64(b, *(const int *)value); break;
        case VG_TYPE_REAL: vg_buf_f64(b, *(const double *)value); break;
        case VG_TYPE_ENUM: vg_buf_str(b, s->choices[*(const int *)value]); break;
        case VG_TYPE_STRING: vg_buf_str(b, (const char *)value); break;
        }
    }
}

int vg_runcfg_get(vg_cursor *c, vg_run_config *cfg) {
    if (c->at >= c->n) return 0;
    if (vg_cur_u32(c) != VG__RUNCFG_TAG) return -1;
    cfg->repeat = (int)vg_cur_i64(c);
    cfg->seed = (uint64_t)vg_cur_i64(c);
    uint32_t n = vg_cur_u32(c);
    for (uint32_t k = 0; k < n && !c->bad; k++) {
        char path[128], choice[VG_SETTING_TEXT_MAX];
        vg_cur_str(c, path, sizeof path);
        uint32_t type = vg_cur_u32(c);
        int64_t i64 = 0;
        double f64 = 0;
        choice[0] = '\0';
        if (type == VG_TYPE_INT || type == VG_TYPE_BOOL) i64 = vg_cur_i64(c);
        else if (type == VG_TYPE_REAL) f64 = vg_cur_f64(c);
        else if (type == VG_TYPE_ENUM || type == VG_TYPE_STRING) vg_cur_str(c, choice, sizeof choice);
        else return -1;
        int i = c->bad ? -1 : vg_setting_find(path);
        if (i < 0 || vg_settings[i].type != (vg_setting_type)type) continue;
        const vg_setting *s = &vg_settings[i];
        void *value = (char *)cfg + s->offset;
        if (type == VG_TYPE_INT || type == VG_TYPE_BOOL) *(int *)value = (int)i64;
        else if (type == VG_TYPE_REAL) *(double *)value = f64;
        else if (type == VG_TYPE_STRING) snprintf((char *)value, sizeof(vg_setting_text), "%s", choice);
        else
            for (int j = 0; s->choices[j]; j++)
                if (strcmp(s->choices[j], choice) == 0) *(int *)value = j;
    }
    return c->bad ? -1 : 1;
}
