/* No oversubscription: a sweep at -j 2 (two runs of different widths, so one thread ends up
 * helping the other) runs on the scheduler's two threads and no more. A sampler thread counts
 * the process's threads (/proc/self/task) while it runs, and reads OpenBLAS's thread count
 * (openblas_get_num_threads, when the library has it): the most threads seen may exceed those
 * before the sweep (main, any pool OpenBLAS started when it was loaded, the recorder's
 * committer) only by the sampler and the one OpenMP worker, and OpenBLAS is single-threaded throughout. Then a large
 * cblas_sgemm from each of two OpenMP threads after the sweep (what the double core and
 * CPUs without AVX-512 call inside a run): no thread appears either. */
#include <cblas.h>
#include <dirent.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_test.h"
#include "vgsweep/config.h"
#include "vgsweep/record.h"
#include "vgsweep/sched.h"

int openblas_get_num_threads(void) __attribute__((weak));

static const char SWEEP[] = "name: threads\n"
                            "seed: 2\n"
                            "data: {train_size: 384, test_size: 64, features: 30, classes: 4}\n"
                            "model: {depth: 3}\n"
                            "train: {epochs: 2, batch_size: 64, lr: 0.05}\n"
                            "record: {probe: 32}\n"
                            "grid:\n"
                            "  model.width: [64, 512]\n";

static int count_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static int before; /* threads before the sweep */
static atomic_int sampling = 1, max_tasks = 0, max_blas_threads = 0, samples = 0;

static void *sampler(void *arg) {
    (void)arg;
    while (atomic_load(&sampling)) {
        int n = count_tasks(), b = openblas_get_num_threads ? openblas_get_num_threads() : 1;
        if (n > atomic_load(&max_tasks)) atomic_store(&max_tasks, n);
        /* OpenBLAS's count from when the workers exist (before, the scheduler may not yet
         * have set it) */
        if (n >= before + 2 && b > atomic_load(&max_blas_threads)) atomic_store(&max_blas_threads, b);
        atomic_fetch_add(&samples, 1);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    return NULL;
}

int main(void) {
    char dir[] = "/tmp/vg_test_threads.XXXXXX";
    VG_CHECK(mkdtemp(dir) != NULL);
    char out[256];
    snprintf(out, sizeof out, "%s/out.h5", dir);

    vg_error err;
    vg_sweep *sweep = NULL;
    vg_run_config *runs = NULL;
    int64_t n_runs = 0;
    VG_CHECK(vg_sweep_load_text("threads.yaml", SWEEP, sizeof SWEEP - 1, NULL, &sweep, &err) == VG_OK);
    VG_CHECK(sweep && vg_sweep_expand(sweep, &runs, &n_runs, &err) == VG_OK && n_runs == 2);
    if (!sweep || n_runs != 2) return vg_test_finish("test_threads");
    vg_sweep_info info = {.sweep_file = "threads.yaml", .sweep_name = vg_sweep_name(sweep),
                          .sweep_text = vg_sweep_text(sweep), .sweep_seed = vg_sweep_seed(sweep),
                          .n_runs = n_runs, .command_line = "test_threads", .runs = runs,
                          .mode = VG_RECORD_NEW};
    vg_recorder *rec = NULL;
    VG_CHECK_MSG(vg_recorder_create(out, &info, &rec, &err) == VG_OK, "%s", err.message);
    /* main, any pool OpenBLAS started when loaded, the recorder's committer */
    before = count_tasks();
    VG_CHECK(before >= 1);

    pthread_t t;
    VG_CHECK(pthread_create(&t, NULL, sampler, NULL) == 0);
    vg_sched_options opt = {.n_threads = 2};
    vg_sched_summary summary;
    VG_CHECK_MSG(vg_sched_run(runs, n_runs, rec, &opt, &summary, &err) == VG_OK, "%s", err.message);
    VG_CHECK(summary.n_ok == 2);
    int during = atomic_load(&max_tasks);

    /* BLAS called from inside two worker threads, as a run on a CPU without AVX-512 does */
    enum { N = 512 };
    float *a = calloc((size_t)N * N, sizeof *a), *c = calloc(2 * (size_t)N * N, sizeof *c);
    VG_CHECK(a && c);
#pragma omp parallel num_threads(2)
    for (int rep = 0; rep < 4 && a && c; rep++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, a, N, a, N, 0,
                    c + (size_t)omp_get_thread_num() * N * N, N);
    atomic_store(&sampling, 0);
    pthread_join(t, NULL);
    free(a), free(c);

    int after = atomic_load(&max_tasks);
    printf("threads: %d before the sweep, at most %d during it (with the sampler), %d with "
           "BLAS in two workers; OpenBLAS threads at most %d; %d samples\n",
           before, during, after, atomic_load(&max_blas_threads), atomic_load(&samples));
    VG_CHECK_MSG(atomic_load(&samples) > 0, "the sampler never ran");
    /* those before, the sampler, one OpenMP worker */
    VG_CHECK_MSG(after <= before + 2, "%d threads at most during the sweep, %d before it", after, before);
    VG_CHECK_MSG(atomic_load(&max_blas_threads) <= 1, "OpenBLAS ran with %d threads",
                 atomic_load(&max_blas_threads));

    VG_CHECK(vg_recorder_close(rec, &err) == VG_OK);
    remove(out);
    rmdir(dir);
    free(runs);
    vg_sweep_free(sweep);
    return vg_test_finish("test_threads");
}
