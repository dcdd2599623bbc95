/* The sweep's progress as the CLI shows it, drawn from the scheduler's events
 * (vg_sched_progress_fn): a live display redrawn in place on a terminal, plain lines
 * otherwise. Internal to src/cli. */
#ifndef VGSWEEP_CLI_PROGRESS_H
#define VGSWEEP_CLI_PROGRESS_H

#include <stdio.h>

#include "vgsweep/sched.h"

typedef enum vg_progress_mode {
    /* one line per finished run, and a line on the running runs every status_every seconds:
     * for logs (stderr not a terminal) */
    VG_PROGRESS_LINES,
    /* a block of lines redrawn in place with ANSI cursor movement at every tick (stderr a
     * terminal); diverged and failed runs are printed above it, where they stay */
    VG_PROGRESS_LIVE,
} vg_progress_mode;

typedef struct vg_progress vg_progress;

/* out: where to draw (its file descriptor is asked for the terminal's width); varying: the
 * settings that tell the runs apart, shown for each; status_every: seconds between the status
 * lines of VG_PROGRESS_LINES. NULL when out of memory (the sweep then runs without progress). */
vg_progress *vg_progress_new(FILE *out, vg_progress_mode mode, const int *varying, int n_varying,
                             double status_every);
/* A vg_sched_progress_fn: ctx is the vg_progress. */
void vg_progress_report(void *ctx, const vg_sched_event *event);
/* Erases the live display (what was printed above it stays) and frees p. */
void vg_progress_end(vg_progress *p);

/* "model.depth=20 model.activation=tanh" (and " repeat=N" for a repeat), into buf. */
void vg_progress_settings(const vg_run_config *run, const int *varying, int n_varying, char *buf,
                          size_t size);
/* A duration as "42s", "3m05s", "2h03m" or "4d02h", into buf. */
const char *vg_progress_duration(double seconds, char *buf, size_t size);

#endif
