/* Attribute reading shared by the reader (reader.c) and the recorder (h5attr.c). Internal to
 * src/record. Each returns 1, or 0 when the attribute is absent or of another kind (HDF5's
 * error stack cleared). */
#ifndef VGSWEEP_RECORD_H5ATTR_H
#define VGSWEEP_RECORD_H5ATTR_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* A scalar string attribute (variable or fixed length) into buf (size bytes, NUL-terminated). */
int vg_h5_attr_str(hid_t obj, const char *name, char *buf, size_t size);
/* A scalar number (integer, float, or an enum boolean as 0/1) as a double. */
int vg_h5_attr_num(hid_t obj, const char *name, double *out);
/* The same of an open attribute. */
int vg_h5_attr_num_open(hid_t attr, double *out);
/* A scalar integer as a uint64 (exact: seeds). */
int vg_h5_attr_u64(hid_t obj, const char *name, uint64_t *out);

#endif
