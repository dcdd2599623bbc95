/* The memory budget (src/sched/membudget.c): --mem's size parser; reservations never exceed
 * the budget, are served in ask order (a large run is not overtaken by smaller ones), and
 * always complete (a run larger than the budget waits until nothing else is reserved); the
 * estimate grows with the net and counts absurd sizes without allocating them. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vg_test.h"
#include "vgsweep/config.h"
#include "vgsweep/membudget.h"

static void test_parse(void) {
    static const struct { const char *text; int64_t bytes; } good[] = {
        {"512M", 512LL << 20}, {"4G", 4LL << 30},   {"1.5GiB", 3LL << 29}, {"1.5G", 3LL << 29},
        {"2048K", 2LL << 20},  {"2048KB", 2LL << 20}, {"1t", 1LL << 40},   {"100", 100},
        {"100B", 100},         {"0.5k", 512},        {"7MiB", 7LL << 20}, {"3gB", 3LL << 30},
    };
    static const char *const bad[] = {"", "G", "-1G", "+1G", "1 G", "0", "0.0001", "4GG", "1e9",
                                      "5Gi", "3gb", ".", "12MiBs", "1.2.3", "1P", "M1", "0x10", " 1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t b = -1;
        VG_CHECK_MSG(vg_mem_parse_size(good[i].text, &b) && b == good[i].bytes, "\"%s\" -> %lld",
                     good[i].text, (long long)b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t b = -1;
        VG_CHECK_MSG(!vg_mem_parse_size(bad[i], &b), "\"%s\" accepted as %lld", bad[i], (long long)b);
    }
}

/* --- many threads, random sizes: never over the budget, all done ------------------------- */

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

#define TOTAL 1000
static vg_membudget *g_budget;
static atomic_llong g_in_use, g_peak, g_done;

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 300; i++) {
        /* sizes up to 1.5x the budget: those above it run alone */
        int64_t size = 1 + rand_r(&seed) % (TOTAL * 3 / 2);
        vg_membudget_reserve(g_budget, size);
        long long now = atomic_fetch_add(&g_in_use, size > TOTAL ? TOTAL : size) +
                        (size > TOTAL ? TOTAL : size);
        long long p = atomic_load(&g_peak);
        while (now > p && !atomic_compare_exchange_weak(&g_peak, &p, now)) {}
        if (rand_r(&seed) % 4 == 0) sleep_us(50);
        atomic_fetch_sub(&g_in_use, size > TOTAL ? TOTAL : size);
        vg_membudget_release(g_budget, size);
    }
    atomic_fetch_add(&g_done, 1);
    return NULL;
}

static void test_threads(void) {
    VG_CHECK(vg_membudget_create(TOTAL, &g_budget, NULL) == VG_OK);
    pthread_t t[8];
    for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    VG_CHECK_INT_EQ(atomic_load(&g_done), 8);
    VG_CHECK_MSG(atomic_load(&g_peak) <= TOTAL, "peak in use %lld", (long long)atomic_load(&g_peak));
    VG_CHECK(vg_membudget_peak(g_budget) <= TOTAL && vg_membudget_peak(g_budget) > TOTAL / 2);
    vg_membudget_free(g_budget);
}

/* --- ask order: a small run that would fit waits behind a large one that does not --------- */

static atomic_int g_order[2], g_next;

typedef struct { int who; int64_t size; } asker;

static void *ask(void *arg) {
    asker *a = arg;
    vg_membudget_reserve(g_budget, a->size);
    g_order[atomic_fetch_add(&g_next, 1)] = a->who;
    return NULL;
}

static void test_order(void) {
    VG_CHECK(vg_membudget_create(100, &g_budget, NULL) == VG_OK);
    vg_membudget_reserve(g_budget, 60); /* a run going */
    asker big = {1, 60}, small = {2, 10};
    pthread_t tb, ts;
    pthread_create(&tb, NULL, ask, &big);
    sleep_us(50000); /* big is waiting */
    pthread_create(&ts, NULL, ask, &small);
    sleep_us(50000);
    VG_CHECK_MSG(atomic_load(&g_next) == 0, "%d runs started while the first in line waits",
                 atomic_load(&g_next));
    vg_membudget_release(g_budget, 60);
    pthread_join(tb, NULL);
    pthread_join(ts, NULL);
    VG_CHECK_INT_EQ(g_order[0], 1);
    VG_CHECK_INT_EQ(g_order[1], 2);
    VG_CHECK_INT_EQ(vg_membudget_peak(g_budget), 70);
    vg_membudget_release(g_budget, 60);
    vg_membudget_release(g_budget, 10);
    vg_membudget_free(g_budget);
    vg_membudget_reserve(NULL, 1 << 30); /* no budget: returns at once */
    vg_membudget_release(NULL, 1 << 30);
}

/* --- the estimate -------------------------------------------------------------------------- */

static void test_estimate(void) {
    vg_run_config cfg;
    vg_run_config_defaults(&cfg);
    double result = 0, kept = 0;
    double small = vg_train_estimate_memory(&cfg, &result, &kept);
    VG_CHECK(small > 0 && result > 0 && kept <= small);
    cfg.model_width = 1024;
    double wide = vg_train_estimate_memory(&cfg, NULL, NULL);
    /* parameters and gradients of 4 hidden 1024 x 1024 layers, at least */
    VG_CHECK_MSG(wide > small && wide >= 2 * 4 * 1024.0 * 1024 * 4, "%g", wide);
    cfg.model_width = 65536, cfg.model_depth = 10000; /* 10^14 bytes: counted, not allocated */
    double absurd = vg_train_estimate_memory(&cfg, NULL, NULL);
    VG_CHECK_MSG(absurd > 2 * 65536.0 * 65536 * 9999 * 4, "%g", absurd);
    vg_run_result plan;
    cfg.model_width = 64, cfg.model_depth = 5, cfg.train_epochs = 1000000; /* a million epochs */
    VG_CHECK(vg_run_result_plan(&plan, &cfg, NULL) == VG_OK);
    VG_CHECK(plan.n_series > 0 && plan.series[0].data == NULL && plan.loss == NULL);
    int64_t need = vg_run_memory_estimate(&cfg, &plan);
    VG_CHECK_MSG(need > ((int64_t)1 << 30), "%lld", (long long)need);
    vg_run_result_free(&plan);
}

int main(void) {
    alarm(60); /* a deadlock fails the test instead of hanging it */
    test_parse();
    test_threads();
    test_order();
    test_estimate();
    return vg_test_finish("test_membudget");
}
