/* The memory budget (src/sched/membudget.c): --mem's size parser; reservations never exceed
 * the budget, are served in ask order (a large run is not overtaken by smaller ones), and
 * always complete (a run larger than the budget waits until nothing else is reserved); the
 * estimate grows with the net and counts absurd sizes without allocating them. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
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
    vg_membudget_reserve(g_budget, 40); /* a run going */
    asker big = {1, 70}, small = {2, 40};
    pthread_t tb, ts;
    pthread_create(&tb, NULL, ask, &big);
    sleep_us(50000); /* big waits: 40 + 70 > 100 */
    pthread_create(&ts, NULL, ask, &small);
    sleep_us(50000); /* small would fit (40 + 40) but is behind big */
    VG_CHECK_MSG(atomic_load(&g_next) == 0, "%d runs started while the first in line waits",
                 atomic_load(&g_next));
    vg_membudget_release(g_budget, 40);
    sleep_us(50000); /* big starts; small waits again (70 + 40 > 100) */
    VG_CHECK_INT_EQ(atomic_load(&g_next), 1);
    VG_CHECK_INT_EQ(g_order[0], 1);
    vg_membudget_release(g_budget, 70);
    pthread_join(tb, NULL);
    pthread_join(ts, NULL);
    VG_CHECK_INT_EQ(g_order[1], 2);
    VG_CHECK_INT_EQ(vg_membudget_peak(g_budget), 70);
    vg_membudget_release(g_budget, 40);
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

/* --- cgroup limits, on a fake tree --------------------------------------------------------- */

static void put(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

static void test_cgroup(void) {
    char root[] = "/tmp/vg_cgroup_XXXXXX", dir[256], cg[300];
    VG_CHECK(mkdtemp(root) != NULL);
    /* v2: a 1 GiB limit on the parent, none on the child; 300 MiB used, 100 MiB inactive files */
    snprintf(dir, sizeof dir, "%s/v2/a", root);
    char v2[256], v1[256];
    snprintf(v2, sizeof v2, "%s/v2", root);
    snprintf(v1, sizeof v1, "%s/v1", root);
    VG_CHECK(mkdir(v2, 0755) == 0 && mkdir(dir, 0755) == 0);
    put(dir, "memory.max", "1073741824\n");
    put(dir, "memory.current", "314572800\n");
    put(dir, "memory.stat", "anon 1\nfile 2\ninactive_file 104857600\nactive_file 3\n");
    snprintf(dir, sizeof dir, "%s/v2/a/b", root);
    VG_CHECK(mkdir(dir, 0755) == 0);
    put(dir, "memory.max", "max\n");
    put(dir, "memory.current", "1000\n");
    snprintf(cg, sizeof cg, "%s/cgroup", root);
    put(root, "cgroup", "0::/a/b\n");
    int is_v2 = -1;
    double room = vg_mem_cgroup_room(cg, v2, v1, &is_v2);
    VG_CHECK_MSG(room == 1073741824.0 - 314572800 + 104857600 && is_v2 == 1, "v2 room %.0f", room);
    /* v1: 512 MiB on the cgroup itself, 2^63 (none) above */
    snprintf(dir, sizeof dir, "%s/v1/x", root);
    VG_CHECK(mkdir(v1, 0755) == 0 && mkdir(dir, 0755) == 0);
    put(v1, "memory.limit_in_bytes", "9223372036854771712\n");
    put(dir, "memory.limit_in_bytes", "536870912\n");
    put(dir, "memory.usage_in_bytes", "536870912\n");
    put(dir, "memory.stat", "cache 5\ntotal_inactive_file 1048576\n");
    put(root, "cgroup", "4:memory:/x\n3:cpu:/\n");
    room = vg_mem_cgroup_room(cg, v2, v1, &is_v2);
    VG_CHECK_MSG(room == 1048576.0 && is_v2 == 0, "v1 room %.0f", room);
    /* no limit anywhere */
    put(root, "cgroup", "4:memory:/\n");
    room = vg_mem_cgroup_room(cg, v2, v1, &is_v2);
    VG_CHECK_MSG(room < 0, "no limit: room %.0f", room);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    VG_CHECK(system(cmd) == 0);
}

int main(void) {
    alarm(60); /* a deadlock fails the test instead of hanging it */
    test_parse();
    test_threads();
    test_order();
    test_estimate();
    test_cgroup();
    return vg_test_finish("test_membudget");
}
