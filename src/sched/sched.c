/* OpenMP worker pool over the runs of a sweep. Each run builds its own data, net and RNG
 * streams from its config; the only shared objects are the read-only run configs and the
 * recorder, which serialises its own HDF5 calls, and the data sets shared read-only by runs with
 * the same data settings (src/data). */
#include "vgsweep/sched.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vgsweep/data.h"
#include "vgsweep/membudget.h"
#include "vgsweep/team.h"
#include "vgsweep/train.h"

/* OpenBLAS spawns its own threads unless told not to; runs are already parallel, so each
 * matrix product must stay on its caller's thread. Weak, so another CBLAS links too. */
void openblas_set_num_threads(int n) __attribute__((weak));

static vg_status vg__write_tensor(void *ctx, int tensor, int slot, const float *data,
                                  vg_error *err) {
    return vg_run_writer_tensor(ctx, tensor, slot, data, err);
}

static double vg__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs one config end to end and records it, whatever happens to the run: a run that cannot be
 * carried out (no memory for its data) is recorded with status failed and its reason. Only a
 * recorder failure is returned, and it stops the sweep. */
static vg_status vg__run_one(const vg_run_config *cfg, vg_recorder *rec, vg_run_result *res,
                             vg_train_progress *progress, const atomic_int *stop,
                             vg_error *run_err, vg_error *err) {
    vg_status st = vg_run_result_init(res, cfg, run_err);
    if (st != VG_OK && res->layout.n_axes == 0) { /* not even the plan: nothing to record */
        memset(res, 0, sizeof *res);
        res->status = VG_RUN_FAILED;
        snprintf(res->message, sizeof res->message, "%s", run_err->message);
        return VG_OK;
    }
    vg_run_writer *writer = NULL;
    vg_status begun = vg_recorder_begin_run(rec, cfg, &res->layout, &writer, err);
    if (begun != VG_OK) return begun;
    if (st != VG_OK) { /* no memory for its series: recorded as failed, without them */
        res->status = VG_RUN_FAILED;
        snprintf(res->message, sizeof res->message, "%s", run_err->message);
        return vg_recorder_end_run(writer, &res->output, err);
    }

    vg_dataset ds; /* shared sets are borrowed from the registry (vg_data_prepare) */
    st = vg_dataset_acquire(cfg, &ds, run_err);
    if (st != VG_OK) {
        res->status = VG_RUN_FAILED;
        snprintf(res->message, sizeof res->message, "%s", run_err->message);
        return vg_recorder_end_run(writer, &res->output, err);
    }
    vg_checkpoint_hook hook = {
        .ctx = writer, .fn = vg__write_tensor, .progress = progress, .stop = stop};
    vg_error train_err;
    vg_error_clear(&train_err);
    st = vg_train_run(cfg, &ds, res, &hook, &train_err);
    vg_dataset_release(&ds);
    if (st == VG_OK && res->status == VG_RUN_PENDING) { /* stopped: not a result */
        vg_run_writer_discard(writer);
        return VG_OK;
    }
    /* A tensor the recorder could not write is the recorder's failure, not the run's. */
    int recorder_failed = st == VG_EHDF5 || st == VG_EIO;
    if (st != VG_OK && !recorder_failed) *run_err = train_err;
    vg_status end = vg_recorder_end_run(writer, &res->output, err);
    if (res->status == VG_RUN_FAILED && run_err->code == VG_OK) /* no memory for its series */
        vg_error_set(run_err, VG_ENOMEM, "%s", res->message);
    if (recorder_failed) {
        *err = train_err;
        return st;
    }
    return end;
}

/* A worker's progress slot, alone on its cache lines: only its run's thread writes p, at every
 * step, so a display reading it never makes a step wait for a shared line. */
typedef struct vg__slot {
    _Alignas(64) vg_train_progress p;
    const vg_run_config *run; /* NULL when idle; under the report lock */
    double t_start, cost;
} vg__slot;

/* What the workers and the ticker share to report progress; all under lock. */
typedef struct vg__report {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the ticker's: ends its wait when the sweep is over */
    int over;
    const vg_sched_options *opt;
    vg_sched_summary *summary;
    int64_t n_runs;
    double t0, cost_total, cost_finished;
    vg__slot *slots;           /* (n_threads) */
    vg_sched_running *running; /* (n_threads) the event's view of the slots */
} vg__report;

/* Reports an event to opt->progress with the counts and the running runs. Holds the lock. */
static void vg__emit(vg__report *r, vg_sched_event_kind kind, const vg_run_config *run,
                     const vg_run_result *result) {
    const vg_sched_options *opt = r->opt;
    double now = vg__now(), partial = 0;
    int n = 0;
    for (int t = 0; t < opt->n_threads; t++) {
        vg__slot *s = &r->slots[t];
        if (!s->run) continue;
        vg_sched_running *x = &r->running[n++];
        x->run = s->run;
        x->epoch = atomic_load_explicit(&s->p.epoch, memory_order_relaxed);
        x->step = atomic_load_explicit(&s->p.step, memory_order_relaxed);
        x->steps = atomic_load_explicit(&s->p.steps, memory_order_relaxed);
        x->loss = atomic_load_explicit(&s->p.loss, memory_order_relaxed);
        x->seconds = now - s->t_start;
        if (x->steps > 0 && x->step <= x->steps) partial += s->cost * (double)x->step / (double)x->steps;
    }
    vg_sched_event ev = {.kind = kind,
                         .run = run,
                         .result = result,
                         .n_runs = r->n_runs,
                         .n_reused = r->summary->n_reused,
                         .n_ok = r->summary->n_ok,
                         .n_diverged = r->summary->n_diverged,
                         .n_failed = r->summary->n_failed,
                         .elapsed = now - r->t0,
                         .cost_total = r->cost_total,
                         .cost_done = r->cost_finished + partial,
                         .n_running = n,
                         .running = r->running,
                         .stopping = opt->stop && atomic_load(opt->stop)};
    opt->progress(opt->progress_ctx, &ev);
}

/* The ticker thread: a VG_SCHED_TICK every tick_seconds until the sweep is over. */
static void *vg__ticker(void *arg) {
    vg__report *r = arg;
    double period = r->opt->tick_seconds;
    pthread_mutex_lock(&r->lock);
    while (!r->over) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        double next = (double)until.tv_nsec * 1e-9 + period;
        until.tv_sec += (time_t)next;
        until.tv_nsec = (long)((next - floor(next)) * 1e9);
        pthread_cond_timedwait(&r->wake, &r->lock, &until);
        if (!r->over) vg__emit(r, VG_SCHED_TICK, NULL, NULL);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

typedef struct vg__job {
    double cost;   /* estimated FLOP-equivalents (vg_train_estimate_cost) */
    int64_t index; /* into runs */
} vg__job;

static int vg__longest_first(const void *a, const void *b) {
    const vg__job *x = a, *y = b;
    if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The jobs, handed out one at a time in their order, and one team per worker thread. */
typedef struct vg__queue {
    const vg__job *jobs;
    int64_t n;
    _Atomic int64_t next;
    vg_team *teams; /* (n_threads) */
    int n_teams;
    double *thread_cpu_seconds; /* NULL or (n_teams): vg_sched_options' */
    int64_t *thread_helped;     /* NULL or (n_teams) */
} vg__queue;

/* The calling worker's next job, or q->n when none is left: then, before returning, it helps
 * the runs still going (vgsweep/team.h) until they have all ended. Teams are active from
 * the start and from one run of their thread to the next, so a thread that finds no job
 * left always sees every run still to finish. */
static int64_t vg__next_job(vg__queue *q) {
    static _Thread_local double cpu0 = -1; /* the thread's CPU seconds at its first call */
    struct timespec ts;
    if (cpu0 < 0 && clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        cpu0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    vg_team *team = &q->teams[omp_get_thread_num()];
    if (omp_get_thread_num() == 0) /* the teams of threads OpenMP did not start */
        for (int t = omp_get_num_threads(); t < q->n_teams; t++) vg_team_end(&q->teams[t]);
    int64_t j = atomic_fetch_add(&q->next, 1);
    if (j < q->n) {
        vg_team_begin(team, q->jobs[j].cost);
        return j;
    }
    vg_team_end(team);
    int64_t helped = vg_team_help(q->teams, q->n_teams);
    /* each thread's share of the work, for the caller (bench/help_bench.py) */
    int t = omp_get_thread_num();
    if (q->thread_cpu_seconds && clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        q->thread_cpu_seconds[t] = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - cpu0;
    if (q->thread_helped) q->thread_helped[t] = helped;
    cpu0 = -1;
    return q->n;
}

vg_status vg_sched_run(const vg_run_config *runs, int64_t n_runs, vg_recorder *rec,
                       const vg_sched_options *opt, vg_sched_summary *summary, vg_error *err) {
    if (openblas_set_num_threads) openblas_set_num_threads(1);
    /* With several threads the longest runs start first, so the sweep does not end with one
     * thread finishing a long run while the others idle; with one, grid order. The order in
     * which runs execute never changes what they compute. */
    memset(summary, 0, sizeof *summary); /* the caller reports it whatever happens */
    vg__job *jobs = malloc((size_t)(n_runs > 0 ? n_runs : 1) * sizeof *jobs);
    vg__report rep = {.opt = opt, .summary = summary, .n_runs = n_runs};
    rep.slots = aligned_alloc(64, (size_t)opt->n_threads * sizeof *rep.slots);
    rep.running = calloc((size_t)opt->n_threads, sizeof *rep.running);
    if (!jobs || !rep.slots || !rep.running) {
        free(jobs), free(rep.slots), free(rep.running);
        return vg_error_set(err, VG_ENOMEM, "out of memory for %lld runs", (long long)n_runs);
    }
    memset(rep.slots, 0, (size_t)opt->n_threads * sizeof *rep.slots);
    for (int64_t i = 0; i < n_runs; i++) {
        /* the cost is also the weight of each run in the progress's ETA */
        jobs[i].index = i, jobs[i].cost = vg_train_estimate_cost(&runs[i]);
        /* Runs recorded before this session (--resume) are skipped; progress counts them done. */
        if (vg_recorder_run_done(rec, runs[i].id)) summary->n_reused++;
        else rep.cost_total += jobs[i].cost;
    }
    if (opt->n_threads > 1) qsort(jobs, (size_t)n_runs, sizeof *jobs, vg__longest_first);
    vg_membudget *budget = NULL; /* --mem: runs wait for their estimated memory */
    if (opt->mem_budget > 0 && opt->run_bytes &&
        vg_membudget_create(opt->mem_budget, &budget, err) != VG_OK) {
        free(jobs), free(rep.slots), free(rep.running);
        return err->code;
    }

    /* Idle threads help the runs still going by sharing their matrix products: the runs'
     * results stay bit-identical (vgsweep/team.h). */
    vg_team *teams = aligned_alloc(64, (size_t)opt->n_threads * sizeof *teams); /* lines */
    if (!teams) {
        vg_membudget_free(budget);
        free(jobs), free(rep.slots), free(rep.running);
        return vg_error_set(err, VG_ENOMEM, "out of memory for %d threads", opt->n_threads);
    }
    for (int t = 0; t < opt->n_threads; t++) vg_team_init(&teams[t]);
    vg__queue queue = {.jobs = jobs, .n = n_runs, .teams = teams, .n_teams = opt->n_threads,
                        .thread_cpu_seconds = opt->thread_cpu_seconds,
                        .thread_helped = opt->thread_helped};
    atomic_init(&queue.next, 0);
    int64_t helped0 = vg_team_helped_items();
    pthread_mutex_init(&rep.lock, NULL);
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&rep.wake, &cattr);
    pthread_condattr_destroy(&cattr);
    rep.t0 = vg__now();
    pthread_t ticker;
    /* without a ticker the display only changes as runs start and end: nothing is lost */
    int ticking = opt->progress && opt->tick_seconds > 0 &&
                  pthread_create(&ticker, NULL, vg__ticker, &rep) == 0;
    int stop = 0; /* set when the recorder fails: the remaining runs are not started */
    vg_status first = VG_OK;
    vg_error first_err;
    vg_error_clear(&first_err);

#pragma omp parallel num_threads(opt->n_threads)
    for (int64_t j; (j = vg__next_job(&queue)) < n_runs;) {
        int64_t i = jobs[j].index;
        int skip;
#pragma omp atomic read
        skip = stop;
        if (skip || (opt->stop && atomic_load(opt->stop)) || vg_recorder_run_done(rec, runs[i].id))
            continue;
        int64_t mem = budget ? opt->run_bytes[i] : 0;
        vg_membudget_reserve(budget, mem); /* waits until the run's memory fits */
#pragma omp atomic read
        skip = stop;
        if (skip || (opt->stop && atomic_load(opt->stop))) { /* stopped while it waited */
            vg_membudget_release(budget, mem);
            continue;
        }
        const vg_run_config *cfg = &runs[i];
        vg__slot *slot = &rep.slots[omp_get_thread_num()];
        pthread_mutex_lock(&rep.lock);
        atomic_store_explicit(&slot->p.epoch, 0, memory_order_relaxed);
        atomic_store_explicit(&slot->p.step, 0, memory_order_relaxed);
        atomic_store_explicit(&slot->p.steps, 0, memory_order_relaxed);
        atomic_store_explicit(&slot->p.loss, NAN, memory_order_relaxed);
        slot->run = cfg, slot->t_start = vg__now(), slot->cost = jobs[j].cost;
        if (opt->progress) vg__emit(&rep, VG_SCHED_RUN_STARTED, cfg, NULL);
        pthread_mutex_unlock(&rep.lock);
        vg_run_result res;
        vg_error run_err, rec_err;
        vg_error_clear(&run_err);
        vg_error_clear(&rec_err);
        vg_status st = vg__run_one(cfg, rec, &res, &slot->p, opt->stop, &run_err, &rec_err);

        pthread_mutex_lock(&rep.lock);
        slot->run = NULL;
        if (st != VG_OK) {
#pragma omp atomic write
            stop = 1;
            if (first == VG_OK) first = st, first_err = rec_err;
        } else if (res.status == VG_RUN_FAILED && first == VG_OK) {
            first = run_err.code != VG_OK ? run_err.code : VG_EINTERNAL;
            vg_error_set(&first_err, first, "run %s: %s", cfg->id, res.message);
        }
        if (st == VG_OK && res.status == VG_RUN_PENDING) {
            summary->n_stopped++; /* not recorded: nothing to report but the count */
        } else {
            if (res.status == VG_RUN_OK) summary->n_ok++;
            else if (res.status == VG_RUN_DIVERGED) summary->n_diverged++;
            else summary->n_failed++;
            rep.cost_finished += jobs[j].cost;
            if (opt->progress) vg__emit(&rep, VG_SCHED_RUN_FINISHED, cfg, &res);
        }
        pthread_mutex_unlock(&rep.lock);
        vg_run_result_free(&res);
        vg_membudget_release(budget, mem);
    }

    pthread_mutex_lock(&rep.lock);
    rep.over = 1;
    pthread_cond_signal(&rep.wake);
    pthread_mutex_unlock(&rep.lock);
    if (ticking) pthread_join(ticker, NULL);
    pthread_cond_destroy(&rep.wake);
    pthread_mutex_destroy(&rep.lock);
    vg_membudget_free(budget);
    free(jobs);
    free(teams);
    free(rep.slots);
    free(rep.running);
    summary->helped_blocks = vg_team_helped_items() - helped0; /* tests check helping happened */
    summary->n_not_run = n_runs - summary->n_reused - summary->n_ok - summary->n_diverged -
                         summary->n_failed;
    summary->wall_seconds = vg__now() - rep.t0;
    if (first != VG_OK) {
        if (err) *err = first_err;
        return first;
    }
    return VG_OK;
}
