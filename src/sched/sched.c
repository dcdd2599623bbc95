/* OpenMP worker pool over the runs of a sweep. Each run builds its own data, net and RNG
 * streams from its config; the only shared objects are the read-only run configs and the
 * recorder, which serialises its own HDF5 calls, and the data sets shared read-only by runs with
 * the same data settings (src/data). */
#include "vgsweep/sched.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vgsweep/data.h"
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
                             vg_error *run_err, vg_error *err) {
    vg_status st = vg_run_result_init(res, cfg, run_err);
    if (st != VG_OK) { /* not even the plan fits in memory: nothing to record it with */
        memset(res, 0, sizeof *res);
        res->status = VG_RUN_FAILED;
        snprintf(res->message, sizeof res->message, "%s", run_err->message);
        return VG_OK;
    }
    vg_run_writer *writer = NULL;
    st = vg_recorder_begin_run(rec, cfg, &res->layout, &writer, err);
    if (st != VG_OK) return st;

    vg_dataset ds; /* shared sets are borrowed from the registry (vg_data_prepare) */
    st = vg_dataset_acquire(cfg, &ds, run_err);
    if (st != VG_OK) {
        res->status = VG_RUN_FAILED;
        snprintf(res->message, sizeof res->message, "%s", run_err->message);
        return vg_recorder_end_run(writer, res, err);
    }
    vg_checkpoint_hook hook = {.ctx = writer, .fn = vg__write_tensor};
    vg_error train_err;
    vg_error_clear(&train_err);
    st = vg_train_run(cfg, &ds, res, &hook, &train_err);
    vg_dataset_release(&ds);
    /* A tensor the recorder could not write is the recorder's failure, not the run's. */
    int recorder_failed = st == VG_EHDF5 || st == VG_EIO;
    if (st != VG_OK && !recorder_failed) *run_err = train_err;
    vg_status end = vg_recorder_end_run(writer, res, err);
    if (recorder_failed) {
        *err = train_err;
        return st;
    }
    return end;
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

vg_status vg_sched_run(const vg_run_config *runs, int64_t n_runs, vg_recorder *rec,
                       const vg_sched_options *opt, vg_sched_summary *summary, vg_error *err) {
    if (openblas_set_num_threads) openblas_set_num_threads(1);
    /* With several threads the longest runs start first, so the sweep does not end with one
     * thread finishing a long run while the others idle; with one, grid order. The order in
     * which runs execute never changes what they compute. */
    vg__job *jobs = malloc((size_t)(n_runs > 0 ? n_runs : 1) * sizeof *jobs);
    if (!jobs) return vg_error_set(err, VG_ENOMEM, "out of memory for %lld runs", (long long)n_runs);
    for (int64_t i = 0; i < n_runs; i++)
        jobs[i].index = i, jobs[i].cost = opt->n_threads > 1 ? vg_train_estimate_cost(&runs[i]) : 0;
    if (opt->n_threads > 1) qsort(jobs, (size_t)n_runs, sizeof *jobs, vg__longest_first);
    memset(summary, 0, sizeof *summary);
    double t0 = vg__now();
    /* Runs recorded before this session (--resume) are skipped; progress counts them done. */
    int64_t finished = 0;
    for (int64_t i = 0; i < n_runs; i++) finished += vg_recorder_run_done(rec, runs[i].id);
    int stop = 0; /* set when the recorder fails: the remaining runs are not started */
    vg_status first = VG_OK;
    vg_error first_err;
    vg_error_clear(&first_err);

#pragma omp parallel for schedule(dynamic, 1) num_threads(opt->n_threads)
    for (int64_t j = 0; j < n_runs; j++) {
        int64_t i = jobs[j].index;
        int skip;
#pragma omp atomic read
        skip = stop;
        if (skip || vg_recorder_run_done(rec, runs[i].id)) continue;
        const vg_run_config *cfg = &runs[i];
        vg_run_result res;
        vg_error run_err, rec_err;
        vg_error_clear(&run_err);
        vg_error_clear(&rec_err);
        vg_status st = vg__run_one(cfg, rec, &res, &run_err, &rec_err);

#pragma omp critical(vg_sched_report)
        {
            finished++;
            if (st != VG_OK) {
#pragma omp atomic write
                stop = 1;
                if (first == VG_OK) first = st, first_err = rec_err;
            } else if (res.status == VG_RUN_FAILED && first == VG_OK) {
                first = run_err.code != VG_OK ? run_err.code : VG_EINTERNAL;
                vg_error_set(&first_err, first, "run %s: %s", cfg->id, res.message);
            }
            if (res.status == VG_RUN_OK) summary->n_ok++;
            else if (res.status == VG_RUN_DIVERGED) summary->n_diverged++;
            else summary->n_failed++;
            if (opt->progress) {
                char settings[512] = "";
                size_t used = 0;
                for (int v = 0; v < opt->n_varying && used < sizeof settings; v++) {
                    char value[64];
                    vg_setting_format(opt->varying[v], cfg, value, sizeof value);
                    int n = snprintf(settings + used, sizeof settings - used, "%s%s=%s",
                                     v ? " " : "", vg_settings[opt->varying[v]].path, value);
                    if (n > 0) used += (size_t)n;
                }
                int E = res.layout.n_epochs, done = res.epochs_done;
                double last_loss = done > 0 ? res.loss[done - 1] : NAN;
                double last_acc = done > 0 && E > 0 ? res.test_accuracy[done - 1] : NAN;
                fprintf(opt->progress, "[%*lld/%lld] %s %s: %s", (int)snprintf(NULL, 0, "%lld", (long long)n_runs),
                        (long long)finished, (long long)n_runs, cfg->id, settings,
                        vg_run_status_names[res.status]);
                if (res.status == VG_RUN_OK)
                    fprintf(opt->progress, ", loss %.4g, test accuracy %.3f", last_loss, last_acc);
                else if (res.message[0])
                    fprintf(opt->progress, " (%s)", res.message);
                fprintf(opt->progress, ", %.1fs\n", res.wall_seconds);
                fflush(opt->progress);
            }
        }
        vg_run_result_free(&res);
    }

    free(jobs);
    summary->wall_seconds = vg__now() - t0;
    if (first != VG_OK) {
        if (err) *err = first_err;
        return first;
    }
    return VG_OK;
}
