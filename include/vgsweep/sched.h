/* The scheduler: runs the expanded grid on a pool of OpenMP worker threads, one run per thread
 * at a time, and hands each run's checkpoints and result to the recorder. A run's outcome
 * depends only on its config, never on which thread ran it or when. */
#ifndef VGSWEEP_SCHED_H
#define VGSWEEP_SCHED_H

#include <stdint.h>
#include <stdio.h>

#include "vgsweep/error.h"
#include "vgsweep/record.h"
#include "vgsweep/settings.h"

typedef struct vg_sched_options {
    int n_threads;       /* worker threads, >= 1 */
    FILE *progress;      /* one line per finished run; NULL for silence */
    const int *varying;  /* settings to show in progress lines */
    int n_varying;
    /* The memory budget in bytes (--mem), 0 for none: a run starts only when its estimate
     * run_bytes[i] (by index into runs; vg_run_memory_estimate) fits beside the runs going. */
    int64_t mem_budget;
    const int64_t *run_bytes;
} vg_sched_options;

typedef struct vg_sched_summary {
    int64_t n_ok, n_diverged, n_failed;
    double wall_seconds;
} vg_sched_summary;

/* Runs every config. A run that fails (rather than diverges) is recorded with status failed and
 * the sweep goes on; the first such error is returned in err after all runs have finished. */
vg_status vg_sched_run(const vg_run_config *runs, int64_t n_runs, vg_recorder *rec,
                       const vg_sched_options *opt, vg_sched_summary *summary, vg_error *err);

#endif
