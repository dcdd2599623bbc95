/* The sweep's memory budget (vgsweep/membudget.h): reservations in ask order under one mutex
 * and condition variable; the estimate of a run's peak; the limits read before training. */
#define _GNU_SOURCE /* pthread_getattr_default_np */
#include "vgsweep/membudget.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vgsweep/record.h"

struct vg_membudget {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t total, used, peak;
    uint64_t next_ticket, serving; /* reservations are served in the order they were asked */
};

vg_status vg_membudget_create(int64_t bytes, vg_membudget **out, vg_error *err) {
    *out = NULL;
    vg_membudget *b = calloc(1, sizeof *b);
    if (!b) return vg_error_set(err, VG_ENOMEM, "out of memory for the memory budget");
    b->total = bytes > 0 ? bytes : 1;
    if (pthread_mutex_init(&b->lock, NULL) != 0 || pthread_cond_init(&b->cond, NULL) != 0) {
        free(b);
        return vg_error_set(err, VG_EINTERNAL, "cannot set up the memory budget's lock");
    }
    *out = b;
    return VG_OK;
}

void vg_membudget_free(vg_membudget *b) {
    if (!b) return;
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static int64_t vg__clamp(const vg_membudget *b, int64_t bytes) {
    return bytes > b->total ? b->total : bytes < 0 ? 0 : bytes;
}

void vg_membudget_reserve(vg_membudget *b, int64_t bytes) {
    if (!b) return;
    bytes = vg__clamp(b, bytes);
    pthread_mutex_lock(&b->lock);
    uint64_t ticket = b->next_ticket++;
    /* the first in line waits for room; the others wait for it too (no overtaking) */
    while (ticket != b->serving || b->used + bytes > b->total) pthread_cond_wait(&b->cond, &b->lock);
    b->serving++;
    b->used += bytes;
    if (b->used > b->peak) b->peak = b->used;
    pthread_cond_broadcast(&b->cond); /* the next in line may fit too */
    pthread_mutex_unlock(&b->lock);
}

void vg_membudget_release(vg_membudget *b, int64_t bytes) {
    if (!b) return;
    bytes = vg__clamp(b, bytes);
#ifdef __GLIBC__
    /* main() has malloc keep freed memory in each thread's heap for that thread's next run;
     * under a budget what this run freed must be free for any run, on any thread, before the
     * budget says so */
    malloc_trim(0);
#endif
    pthread_mutex_lock(&b->lock);
    b->used -= bytes;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

int64_t vg_membudget_peak(const vg_membudget *b) {
    if (!b) return 0;
    pthread_mutex_lock((pthread_mutex_t *)&b->lock);
    int64_t p = b->peak;
    pthread_mutex_unlock((pthread_mutex_t *)&b->lock);
    return p;
}

/* ------------------------------------------------------------------ the estimate */

/* Stack, malloc bookkeeping and rounding a run adds to the parts the modules count. */
#define VG__RUN_SLACK_BYTES (1 << 20)

int64_t vg_run_memory_estimate(const vg_run_config *cfg, const vg_run_result *plan) {
    double result = 0, at_end = 0, kept = 0;
    double training = vg_train_estimate_memory(cfg, &result, &kept);
    double held = vg_record_estimate_memory(&plan->layout, &plan->output, &at_end);
    /* The training memory is freed before the run's end, but main() has malloc keep freed
     * blocks under 64 MiB in the heap: the end's work comes on top of those. */
    double phase = training > kept + at_end ? training : kept + at_end;
    /* 5 % for malloc's bookkeeping, page rounding and what the modules do not count */
    double bytes = 1.05 * (result + held + phase) + VG__RUN_SLACK_BYTES;
    return bytes < 4e18 ? (int64_t)bytes : (int64_t)4e18;
}

/* ------------------------------------------------------------------ sizes and limits */

int vg_mem_parse_size(const char *text, int64_t *bytes) {
    if (!text) return 0;
    const char *p = text;
    double v = 0, scale = 1;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) v = v * 10 + (*p - '0');
    if (*p == '.') {
        p++;
        for (double f = 0.1; *p >= '0' && *p <= '9'; p++, digits++, f /= 10) v += f * (*p - '0');
    }
    if (!digits) return 0;
    static const char units[] = "KMGT";
    const char *u = *p ? strchr(units, *p >= 'a' && *p <= 'z' ? *p - 32 : *p) : NULL;
    if (u) {
        for (const char *q = units; q <= u; q++) scale *= 1024;
        p++;
        if (p[0] == 'i' && p[1] == 'B') p += 2;
        else if (*p == 'B') p++;
    } else if (*p == 'B') {
        p++;
    }
    if (*p) return 0;
    double b = v * scale;
    if (!(b >= 1) || b > 9e18) return 0;
    *bytes = (int64_t)b;
    return 1;
}

const char *vg_mem_human(double bytes, char *buf, size_t size) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int k = 0;
    while (bytes >= 1024 && k < 6) bytes /= 1024, k++;
    snprintf(buf, size, k ? "%.1f %s" : "%.0f %s", bytes, unit[k]);
    return buf;
}

/* The first number in file `path` after `key` (NULL: at the start), times unit; -1 if none. */
static double vg__read_number(const char *path, const char *key, double unit) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    double v = -1;
    while (fgets(line, sizeof line, f)) {
        const char *p = line;
        if (key) {
            size_t n = strlen(key);
            if (strncmp(line, key, n) != 0 || (line[n] != ' ' && line[n] != ':' && line[n] != '\t'))
                continue;
            p = line + n + 1;
        }
        while (*p == ' ' || *p == '\t') p++;
        if (!strncmp(p, "max", 3)) break; /* cgroup v2: no limit */
        char *end;
        double x = strtod(p, &end);
        if (end != p) v = x * unit;
        break;
    }
    fclose(f);
    return v;
}

/* Head room under the memory limits of cgroup `path` (inside the memory hierarchy mounted at
 * mount) and its ancestors: limit - usage + inactive file pages (reclaimable). -1: no limit. */
static double vg__cgroup_room(const char *mount, const char *path, int v2) {
    char dir[1024], file[1100];
    snprintf(dir, sizeof dir, "%s%s", mount, path);
    double best = -1;
    for (;;) {
        size_t n = strlen(dir);
        while (n > strlen(mount) && dir[n - 1] == '/') dir[--n] = '\0';
        snprintf(file, sizeof file, "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
        double limit = vg__read_number(file, NULL, 1);
        if (limit > 0 && limit < 1e18) { /* v1 writes an unlimited limit as ~2^63 */
            snprintf(file, sizeof file, "%s/%s", dir, v2 ? "memory.current" : "memory.usage_in_bytes");
            double used = vg__read_number(file, NULL, 1);
            snprintf(file, sizeof file, "%s/memory.stat", dir);
            double inactive = vg__read_number(file, v2 ? "inactive_file" : "total_inactive_file", 1);
            double room = limit - (used > 0 ? used : 0) + (inactive > 0 ? inactive : 0);
            if (room > limit) room = limit;
            if (room < 0) room = 0;
            if (best < 0 || room < best) best = room;
        }
        if (n <= strlen(mount)) break;
        char *slash = strrchr(dir + strlen(mount), '/');
        if (!slash) break;
        *slash = '\0';
    }
    return best;
}

double vg_mem_cgroup_room(const char *proc_cgroup, const char *v2_mount, const char *v1_mount,
                          int *v2) {
    FILE *f = fopen(proc_cgroup, "r");
    if (!f) return -1;
    char line[1024];
    double best = -1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        int is_v2 = !strncmp(line, "0::", 3);
        *c2 = '\0';
        int is_v1 = !is_v2 && (!strcmp(c1 + 1, "memory") || strstr(c1 + 1, ",memory") ||
                               !strncmp(c1 + 1, "memory,", 7));
        if (!is_v1 && !is_v2) continue;
        const char *path = c2 + 1;
        const char *mount = is_v2 ? v2_mount : v1_mount;
        double room = vg__cgroup_room(mount, path, is_v2);
        /* in a container the cgroup shown may be the mount's root itself */
        if (room < 0 && strcmp(path, "/") != 0) room = vg__cgroup_room(mount, "/", is_v2);
        if (room >= 0 && (best < 0 || room < best)) best = room, *v2 = is_v2;
    }
    fclose(f);
    return best;
}

/* The stack each OpenMP worker gets: OMP_STACKSIZE (a number with B, K, M or G; K when
 * there is no unit), else the threads' default. */
static size_t vg__thread_stack(void) {
    const char *env = getenv("OMP_STACKSIZE");
    if (!env) env = getenv("GOMP_STACKSIZE");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        while (*end == ' ') end++;
        double unit = *end == 'B' || *end == 'b'   ? 1
                      : *end == 'M' || *end == 'm' ? 1 << 20
                      : *end == 'G' || *end == 'g' ? 1 << 30
                                                   : 1 << 10;
        if (v > 0) return (size_t)(v * unit);
    }
    size_t size = 8 << 20;
    pthread_attr_t attr;
    if (pthread_getattr_default_np(&attr) == 0) {
        pthread_attr_getstacksize(&attr, &size);
        pthread_attr_destroy(&attr);
    }
    return size;
}

int64_t vg_mem_default_budget(int jobs, char *source, size_t size) {
    char human[32];
    double best = vg__read_number("/proc/meminfo", "MemAvailable", 1024);
    snprintf(source, size, "MemAvailable");
    int v2 = 0;
    double cg = vg_mem_cgroup_room("/proc/self/cgroup", "/sys/fs/cgroup", "/sys/fs/cgroup/memory", &v2);
    if (cg >= 0 && (best < 0 || cg < best)) {
        best = cg;
        snprintf(source, size, "the head room under the cgroup %s limit", v2 ? "v2 memory.max" : "v1 memory.limit_in_bytes");
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        /* each worker's stack, and glibc's malloc reserves 64 MiB of address space per
         * thread arena (at most 8 per core) */
        double mapped = vg__read_number("/proc/self/status", "VmSize", 1024);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        double arenas = jobs - 1 < 8.0 * (cores > 0 ? cores : 1) ? jobs - 1 : 8.0 * cores;
        double room = (double)rl.rlim_cur - (mapped > 0 ? mapped : 0) -
                      (double)jobs * (double)vg__thread_stack() - arenas * (64 << 20);
        if (room < 0) room = 0;
        if (best < 0 || room < best) {
            best = room;
            snprintf(source, size, "RLIMIT_AS (ulimit -v %s) less what is mapped and %d thread%s' "
                     "stacks and heaps", vg_mem_human((double)rl.rlim_cur, human, sizeof human), jobs,
                     jobs == 1 ? "" : "s");
        }
    }
    return best < 0 ? -1 : (int64_t)best;
}

/* The probe threads wait on this until all are made. */
static pthread_mutex_t vg__gate = PTHREAD_MUTEX_INITIALIZER;

static void *vg__probe_thread(void *arg) {
    (void)arg;
    pthread_mutex_lock(&vg__gate);
    pthread_mutex_unlock(&vg__gate);
    return NULL;
}

vg_status vg_threads_check(int jobs, vg_error *err) {
    if (jobs <= 1) return VG_OK;
    int n = jobs - 1; /* the calling thread is OpenMP's first */
    pthread_t *t = malloc((size_t)n * sizeof *t);
    if (!t) return vg_error_set(err, VG_EUSAGE, "-j %d: out of memory for the thread list", jobs);
    size_t stack = vg__thread_stack();
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    pthread_mutex_lock(&vg__gate);
    int made = 0, rc = 0;
    for (; made < n; made++)
        if ((rc = pthread_create(&t[made], &attr, vg__probe_thread, NULL)) != 0) break;
    pthread_mutex_unlock(&vg__gate);
    for (int i = 0; i < made; i++) pthread_join(t[i], NULL);
    pthread_attr_destroy(&attr);
    free(t);
    if (!rc) return VG_OK;

    char limits[512] = "", human[32], human2[32];
    size_t used = 0;
    struct rlimit rl;
    /* the limits that can have stopped it (a far higher one cannot) */
    if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (double)rl.rlim_cur < 10.0 * jobs)
        used += (size_t)snprintf(limits + used, sizeof limits - used,
                                 "; RLIMIT_NPROC (ulimit -u) allows %llu processes and threads for "
                                 "this user",
                                 (unsigned long long)rl.rlim_cur);
    if (used < sizeof limits && getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        used += (size_t)snprintf(limits + used, sizeof limits - used,
                                 "; RLIMIT_AS (ulimit -v) is %s and each thread reserves a %s "
                                 "stack (OMP_STACKSIZE)",
                                 vg_mem_human((double)rl.rlim_cur, human, sizeof human),
                                 vg_mem_human((double)stack, human2, sizeof human2));
    double tmax = vg__read_number("/proc/sys/kernel/threads-max", NULL, 1);
    if (used < sizeof limits && tmax > 0 && tmax < 10.0 * jobs)
        used += (size_t)snprintf(limits + used, sizeof limits - used,
                                 "; kernel.threads-max is %.0f", tmax);
    double pids = vg__read_number("/sys/fs/cgroup/pids.max", NULL, 1);
    if (used < sizeof limits && pids > 0 && pids < 10.0 * jobs)
        snprintf(limits + used, sizeof limits - used, "; the cgroup's pids.max is %.0f", pids);
    return vg_error_set(err, VG_EUSAGE,
                        "-j %d: cannot start %d worker threads: thread %d could not be created "
                        "(%s)%s; use a smaller -j (%d threads could start)",
                        jobs, jobs, made + 2, strerror(rc), limits, made + 1);
}
