/* The dry run's estimates of a run's bytes in the file and of the recorder's memory, from its
 * layout and planned output alone (the run contract). */
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

/* Measured on this HDF5 (1.10, libver 1.10 bounds) by writing runs and comparing file sizes;
 * see docs/FORMAT.md, "Size". */
#define VG__EST_RUN_BYTES 900      /* run group and its fixed attributes */
#define VG__EST_ATTR_BYTES 90      /* one setting attribute (name, type, value) */
#define VG__EST_DSET_BYTES 500     /* one dataset: object header, labels, scale links */
#define VG__EST_CHUNK_INDEX 24     /* one chunk's entry in a tensor's chunk index */
#define VG__EST_SCALE_BYTES 380    /* one axis' scale dataset: object header, CLASS, NAME, doc */
#define VG__EST_SWEEP_BYTES 8600   /* superblock, root group and attributes (provenance with
                                    * machine and kernel path), /runs, /index, and on average
                                    * half of the last 2 KiB metadata block */
#define VG__EST_TEXT_ATTR_BYTES 600 /* one text setting attribute (data.path, ...): the value's
                                     * fixed-length string type plus its header message */

/* The estimates work from the run's layout and planned output alone: what the producer
 * declared, whatever it is. */

int64_t vg_record_estimate_bytes(const vg_run_layout *lay, const vg_run_output *plan) {
    double bytes = VG__EST_RUN_BYTES + VG__EST_ATTR_BYTES * (double)(VG_SETTING_COUNT + lay->n_attrs);
    for (int s = 0; s < VG_SETTING_COUNT; s++)
        if (vg_settings[s].type == VG_TYPE_STRING) bytes += VG__EST_TEXT_ATTR_BYTES - VG__EST_ATTR_BYTES;
    double ratio = lay->tensor_ratio > 0 ? lay->tensor_ratio : 0.9;
    for (int i = 0; i < lay->n_axes; i++) /* the scales */
        bytes += VG__EST_SCALE_BYTES + 8.0 * (double)lay->axes[i].length +
                 (lay->axes[i].doc ? (double)strlen(lay->axes[i].doc) : 0);
    for (int i = 0; i < plan->n_series; i++) {
        const vg_series *s = &plan->series[i];
        double n = 1;
        for (int d = 0; d < s->rank; d++) n *= (double)s->dims[d];
        bytes += VG__EST_DSET_BYTES + (s->doc ? (double)strlen(s->doc) : 0) +
                 n * (double)vg__dtype_size(s->dtype);
    }
    for (int i = 0; i < lay->n_tensors; i++) {
        const vg_tensor_spec *t = &lay->tensors[i];
        double slot = 4;
        for (int d = 0; d < t->rank; d++) slot *= (double)t->dims[d];
        /* A small slot does not shrink (stored shuffled only). */
        double stored = slot * ratio + 16 < slot ? slot * ratio + 16 : slot;
        bytes += VG__EST_DSET_BYTES + (t->doc ? (double)strlen(t->doc) : 0) +
                 8.0 * t->n_slots + t->n_slots * (stored + VG__EST_CHUNK_INDEX);
    }
    /* its /index row */
    bytes += 64 + 8.0 * 6;
    return (int64_t)bytes;
}

/* zlib's deflate state at level 1, windowBits 15, memLevel 8 (zlib's zconf.h: (1 << 17) +
 * (1 << 17) bytes plus its own struct), rounded up. */
#define VG__EST_ZLIB_BYTES (300 << 10)
/* HDF5's own per-run work while the run is written into the output (chunk cache, object
 * headers, the dimension-scale lists): a round figure. */
#define VG__EST_HDF5_RUN_BYTES (2 << 20)

double vg_record_estimate_memory(const vg_run_layout *lay, const vg_run_output *plan,
                                 double *at_end) {
    /* vg_recorder_begin_run: the part's write buffer, the compressor, the whole tensors
     * (vg__take_whole) and a shuffled slot of the others, zbuf for a slot too large for the
     * part's buffer */
    double held = (double)VG_PART_BUFFER + VG__EST_ZLIB_BYTES + sizeof(vg_run_writer) +
                  (double)lay->n_tensors * sizeof(vg__tensor) +
                  (double)lay->n_axes * sizeof(vg__axis_ref);
    size_t whole = 0;
    double largest = 0;
    for (int i = 0; i < lay->n_tensors; i++) {
        const vg_tensor_spec *t = &lay->tensors[i];
        double slot = sizeof(float);
        for (int d = 0; d < t->rank; d++) slot *= (double)t->dims[d];
        if (!vg__take_whole((uint64_t)(slot * t->n_slots), &whole) && slot > largest) largest = slot;
    }
    held += (double)whole + largest;
    if (largest > 0 && (double)vg_deflate_bound((size_t)largest) > (double)VG_PART_BUFFER - 64)
        held += (double)vg_deflate_bound((size_t)largest);
    if (at_end) {
        /* vg_recorder_end_run: the result payload (every series, in a buffer grown by
         * realloc: twice its size while the last copy is made), freed before the part is mapped
         * to be written into the output (about the run's bytes in the file); a whole
         * tensor's slots and HDF5's own */
        double series = 0;
        for (int i = 0; i < plan->n_series; i++) {
            const vg_series *s = &plan->series[i];
            double n = 1;
            for (int d = 0; d < s->rank; d++) n *= (double)s->dims[d];
            series += n * (double)vg__dtype_size(s->dtype) + 512;
        }
        double mapped = (double)vg_record_estimate_bytes(lay, plan);
        *at_end = (2 * series > mapped ? 2 * series : mapped) + VG__WHOLE_MAX +
                  VG__EST_HDF5_RUN_BYTES;
    }
    return held;
}

vg_status vg_record_check_plan(const vg_run_config *cfg, const vg_run_layout *layout,
                               vg_error *err) {
    for (int i = 0; i < layout->n_tensors; i++) {
        const vg_tensor_spec *s = &layout->tensors[i];
        uint64_t bytes = sizeof(float);
        for (int d = 0; d < s->rank && d < VG_MAX_RANK - 1; d++)
            bytes *= (uint64_t)(s->dims[d] > 0 ? s->dims[d] : 1);
        if (bytes >= VG__MAX_CHUNK_BYTES)
            return vg_error_set(err, VG_EUSAGE,
                                "run %s: %s: one checkpoint of it is %.1f GiB, over HDF5's 4 GiB "
                                "chunk limit; narrow model.width, or record neither its "
                                "gradients (record.tensors: none) nor its weights "
                                "(record.weights: none)",
                                cfg->id, s->name, (double)bytes / (1u << 30));
    }
    return VG_OK;
}

int64_t vg_record_estimate_sweep_bytes(const vg_sweep_info *info) {
    return VG__EST_SWEEP_BYTES + (info->sweep_text ? (int64_t)strlen(info->sweep_text) : 0) +
           (info->command_line ? (int64_t)strlen(info->command_line) : 0) + 8 * info->n_runs;
}
