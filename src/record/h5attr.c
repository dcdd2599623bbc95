/* Reading attributes back, tolerant of what HDF5 writers make of them (variable or fixed
 * length strings, any integer or float width, h5py's enum booleans): the reader's, and the
 * recorder's for the manifest of a parts directory. Internal to src/record (h5attr.h). */
#include "h5attr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Attribute `name` of obj opened, or H5I_INVALID_HID when it is absent or cannot be opened
 * (HDF5's error stack cleared: an absent attribute is an answer, not an error). */
static hid_t vg__attr_open(hid_t obj, const char *name) {
    hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (a < 0) H5Eclear2(H5E_DEFAULT);
    return a;
}

/* A string attribute (variable or fixed length) into buf; 0 when absent or not a string. */
int vg_h5_attr_str(hid_t obj, const char *name, char *buf, size_t size) {
    int ok = 0;
    buf[0] = '\0';
    hid_t a = vg__attr_open(obj, name);
    if (a < 0) return 0;
    hid_t t = H5Aget_type(a);
    hid_t sp = H5Aget_space(a);
    if (t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_STRING &&
        H5Sget_simple_extent_npoints(sp) == 1) {
        if (H5Tis_variable_str(t) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            char *s = NULL;
            if (mt >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Tset_cset(mt, H5Tget_cset(t)) >= 0 &&
                H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(buf, size, "%s", s);
                ok = 1;
            }
            if (s) H5free_memory(s);
            if (mt >= 0) H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(t);
            if (n > 0 && n < 65536) {
                char *s = calloc(1, n + 1);
                hid_t mt = H5Tcopy(H5T_C_S1);
                if (s && mt >= 0 && H5Tset_size(mt, n) >= 0 && H5Tset_cset(mt, H5Tget_cset(t)) >= 0 &&
                    H5Aread(a, mt, s) >= 0) {
                    snprintf(buf, size, "%s", s);
                    ok = 1;
                }
                if (mt >= 0) H5Tclose(mt);
                free(s);
            }
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

/* A scalar numeric attribute as a double; 0 when absent or not a number. */
int vg_h5_attr_num_open(hid_t a, double *out) {
    int ok = 0;
    hid_t t = H5Aget_type(a);
    hid_t sp = H5Aget_space(a);
    if (t >= 0 && sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1) {
        H5T_class_t c = H5Tget_class(t);
        if (c == H5T_INTEGER || c == H5T_FLOAT) {
            ok = H5Aread(a, H5T_NATIVE_DOUBLE, out) >= 0;
        } else if (c == H5T_ENUM) { /* h5py's booleans */
            hid_t base = H5Tget_super(t);
            if (base >= 0 && H5Tget_size(base) <= 8) {
                long long v = 0;
                hid_t mt = H5Tget_native_type(t, H5T_DIR_ASCEND);
                unsigned char raw[16] = {0};
                if (mt >= 0 && H5Tget_size(mt) <= sizeof raw && H5Aread(a, mt, raw) >= 0) {
                    /* compare against the member named TRUE, else take the value */
                    int n = H5Tget_nmembers(mt);
                    v = raw[0] != 0;
                    for (int k = 0; k < n && k < 64; k++) {
                        char *nm = H5Tget_member_name(mt, (unsigned)k);
                        unsigned char mv[16] = {0};
                        if (nm && H5Tget_member_value(mt, (unsigned)k, mv) >= 0 &&
                            !memcmp(mv, raw, H5Tget_size(mt)))
                            v = !strcmp(nm, "TRUE") || !strcmp(nm, "true");
                        if (nm) H5free_memory(nm);
                    }
                    *out = (double)v;
                    ok = 1;
                }
                if (mt >= 0) H5Tclose(mt);
            }
            if (base >= 0) H5Tclose(base);
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

int vg_h5_attr_num(hid_t obj, const char *name, double *out) {
    hid_t a = vg__attr_open(obj, name);
    if (a < 0) return 0;
    int ok = vg_h5_attr_num_open(a, out);
    H5Aclose(a);
    return ok;
}

/* A scalar integer attribute as a uint64 (a seed: a double would round it); 0 when absent or
 * not an integer. */
int vg_h5_attr_u64(hid_t obj, const char *name, uint64_t *out) {
    int ok = 0;
    hid_t a = vg__attr_open(obj, name);
    if (a < 0) return 0;
    hid_t t = H5Aget_type(a);
    hid_t sp = H5Aget_space(a);
    if (t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Sget_simple_extent_npoints(sp) == 1)
        ok = H5Aread(a, H5T_NATIVE_UINT64, out) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}
