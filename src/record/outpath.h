/* Checks of an output path made before anything is written or deleted there (outpath.c).
 * Internal to src/record. Every refusal is VG_EUSAGE: it is found before any run trains. */
#ifndef VGSWEEP_RECORD_OUTPATH_H
#define VGSWEEP_RECORD_OUTPATH_H

#include "vgsweep/error.h"

/* The names vgsweep derives from <path> (the longest: <path>.parts/<id>.part.tmp, and
 * <path>.parts.tmp as one name) fit the system's limits: never a truncated name. */
vg_status vg_outpath_check_names(const char *path, vg_error *err);
/* Creates the directories leading to path that do not exist (mkdir -p), then checks the
 * directory is one and writable and that path is not a directory. */
vg_status vg_outpath_prepare_dir(const char *path, vg_error *err);
/* None of <path>, <path>.tmp, <path>.lock, <path>.parts is one of the files the sweep read
 * (inputs, compared by device and inode): they may be deleted or replaced. */
vg_status vg_outpath_check_inputs(const char *path, const char *const *inputs, int n_inputs,
                                  vg_error *err);
/* What is at path may be opened or replaced by vgsweep: nothing, or a regular file (or a
 * symbolic link to one, which is replaced, not its target). Never a directory, device, FIFO
 * (opening it could block) or socket. */
vg_status vg_outpath_check_target(const char *path, vg_error *err);

#endif
