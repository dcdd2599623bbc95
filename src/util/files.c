/* vgsweep/files.h: what a file is, for the messages that refuse anything but a regular file. */
#include "vgsweep/files.h"

#include <stddef.h>
#include <sys/stat.h>

const char *vg_file_kind(mode_t mode) {
    if (S_ISREG(mode)) return NULL;
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}
