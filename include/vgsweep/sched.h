/* The scheduler: runs the expanded grid on a pool of OpenMP worker threads, one run per thread
 * at a time, and hands each run's checkpoints and result to the recorder. A run's outcome
 * depends only on its config, never on which thread ran it or when. */
#ifndef VGSWEEP_SCHED_H
#define VGSWEEP_SCHED_H

#include <stdatomic.h>
#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/record.h"
#include "vgsweep/settings.h"
#include "vgsweep/train.h"

typedef enum vg_sched_event_kind {
    VG_SCHED_RUN_STARTED,  /* run: a worker begins it */
    VG_SCHED_RUN_FINISHED, /* run, result: it ended (ok, diverged or failed) and was recorded */
    VG_SCHED_TICK,         /* every tick_seconds while the sweep runs */
} vg_sched_event_kind;

/* A run being trained, as far as its worker has published (vg_train_progress). */
typedef struct vg_sched_running {
    const vg_run_config *run;
    int epoch;      /* 1-based epoch being trained; 0 at initialization */
    int64_t step;   /* steps done */
    int64_t steps;  /* steps of the whole run */
    double loss;    /* of the last step; NaN before the first */
    double seconds; /* since the run began */
} vg_sched_running;

/* What the scheduler reports. Counts are of the sweep's runs; costs are
 * vg_train_estimate_cost sums over the runs this call trains (not those recorded before), so
 * that cost_done / elapsed is the measured speed and the rest divided by it an ETA. */
typedef struct vg_sched_event {
    vg_sched_event_kind kind;
    const vg_run_config *run;    /* RUN_STARTED, RUN_FINISHED; else NULL */
    const vg_run_result *result; /* RUN_FINISHED; else NULL */
    int64_t n_runs;              /* in the sweep */
    int64_t n_reused;            /* recorded before this call: not run */
    int64_t n_ok, n_diverged, n_failed; /* finished by this call */
    double elapsed;              /* seconds since vg_sched_run began */
    double cost_total;           /* of every run to train */
    double cost_done;            /* of those finished, plus the done fraction of the running */
    int n_running;
    const vg_sched_running *running; /* (n_running), in worker order */
    int stopping;                /* the stop flag is set: runs are stopping */
} vg_sched_event;

/* Called by one thread at a time (the scheduler serialises the calls), from the workers at a
 * run's start and end and from a ticker thread; never from inside a training step. It should
 * be quick: a worker waits for it. */
typedef void (*vg_sched_progress_fn)(void *ctx, const vg_sched_event *event);

typedef struct vg_sched_options {
    int n_threads;                /* worker threads, >= 1 */
    vg_sched_progress_fn progress; /* NULL: no reports */
    void *progress_ctx;
    double tick_seconds;          /* VG_SCHED_TICK every this many seconds; 0: none */
    /* NULL, or a flag (set by a signal handler) that stops the sweep: no run starts any more,
     * the running ones stop at their next step and are not recorded (a --resume runs them
     * again); the runs that finished are kept. */
    const atomic_int *stop;
    /* The memory budget in bytes (--mem), 0 for none: a run starts only when its estimate
     * run_bytes[i] (by index into runs; vg_run_memory_estimate) fits beside the runs going. */
    int64_t mem_budget;
    const int64_t *run_bytes;
    /* NULL, or (n_threads) each: filled with each worker thread's CPU seconds in the sweep and
     * the blocks it ran helping runs not its own (what bench/help_bench.py and the hidden
     * VGSWEEP_DEBUG_HELP=1 show; the caller prints them). */
    double *thread_cpu_seconds;
    int64_t *thread_helped;
} vg_sched_options;

typedef struct vg_sched_summary {
    int64_t n_ok, n_diverged, n_failed; /* runs trained and recorded by this call */
    int64_t n_reused;                   /* recorded before: skipped */
    int64_t n_stopped;                  /* begun but stopped by opt->stop: not recorded */
    int64_t n_not_run;                  /* neither recorded nor trained (stopped sweep) */
    int64_t helped_blocks;              /* blocks (vgsweep/team.h) helper threads ran */
    double wall_seconds;
} vg_sched_summary;

/* Runs every config. A run that fails (rather than diverges) is recorded with status failed and
 * the sweep goes on; the first such error is returned in err after all runs have finished.
 * A sweep stopped by opt->stop returns VG_OK with summary->n_not_run > 0. Prints nothing. */
vg_status vg_sched_run(const vg_run_config *runs, int64_t n_runs, vg_recorder *rec,
                       const vg_sched_options *opt, vg_sched_summary *summary, vg_error *err);

#endif
