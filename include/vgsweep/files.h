/* Small file helpers shared by the stages that open files (config, data, record). */
#ifndef VGSWEEP_FILES_H
#define VGSWEEP_FILES_H

#include <sys/types.h>

/* NULL for a regular file, else what st_mode says it is, for a message: "a directory",
 * "a FIFO", "a socket", "a character device", "a block device" or "not a regular file". */
const char *vg_file_kind(mode_t mode);

#endif
