/* A run's resolved settings in its part file (runcfg.c), so that a finished run can be written
 * into an output by a session whose sweep no longer holds it (a --resume with an edited sweep
 * file or another --only keeps it). Internal to src/record. */
#ifndef VGSWEEP_RECORD_RUNCFG_H
#define VGSWEEP_RECORD_RUNCFG_H

#include "part.h"
#include "vgsweep/settings.h"

/* Appends repeat, seed and every setting (dotted path, type, value) to a HEADER payload, after
 * the run id: readers that stop at the id (vgsweep before this addition) ignore it. */
void vg_runcfg_put(vg_buf *b, const vg_run_config *cfg);
/* Reads what vg_runcfg_put wrote into cfg (which holds the defaults beforehand: a setting the
 * part does not name keeps its default; one this vgsweep does not know is skipped). Returns 1,
 * 0 when the payload ends at the id (an older part: no settings), -1 when it is damaged. */
int vg_runcfg_get(vg_cursor *c, vg_run_config *cfg);

#endif
