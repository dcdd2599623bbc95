/* Work sharing inside a run (vgsweep/team.h).
 *
 * A task is published by storing its function, argument and item count n, then the ticket
 * (generation g, first unclaimed item 0, end n) with release order. Every participant claims an
 * item by a compare-and-swap of the ticket: the owner the first unclaimed one, (g, f, e) to
 * (g, f + 1, e), helpers the last, (g, f, e) to (g, f, e - 1). So each side's next item is
 * usually next to its last one (a product's panels: the owner goes right, its helpers left,
 * and what a panel prefetches for its successor is what its own thread computes next). A
 * helper reads the task's function, argument and count between its load of the ticket and
 * that swap, and uses them only when the swap succeeds: an item of task g was then still
 * unclaimed, so task g was not finished and its owner had not yet replaced them. A participant
 * adds each finished item to done; the owner returns when done reaches n (acquire), so
 * everything its helpers wrote is visible to it.
 *
 * Waiting: helpers spin on gen a while (a product of a wide layer is ~0.1-1 ms, the serial
 * work between two of them often less), then sleep on it with a futex; the owner wakes them
 * only when one sleeps. The owner waits for its helpers' last items spinning as long (longer
 * than an item takes: a panel of a wide layer is tens of microseconds), then sleeps on done,
 * woken by the helper that finishes the last item: a helper that lost its CPU to another
 * process (a shared machine) gets it back sooner when the owner does not spin or yield in a
 * loop for it, and the owner's waiting then costs no CPU. The two sides order their flag and counter accesses sequentially
 * consistently (owner: owner_sleeps = 1, then done; helper: done, then owner_sleeps), so
 * at least one sees the other and no wake-up is lost. */
#define _DEFAULT_SOURCE /* syscall() */
#include "vgsweep/team.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The spin-wait hint: PAUSE on x86-64, YIELD on arm64, nothing elsewhere. */
static inline void vg__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static _Thread_local vg_team *vg__owned; /* the team the calling thread owns, if any */
static _Atomic int64_t vg__helped;

#define VG__SPIN_NS 200000 /* a helper spins this long for the next task, the owner for its
                             helpers' last items, before it sleeps */

static int64_t vg__ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void vg__futex_wait(_Atomic uint32_t *word, uint32_t expected, long timeout_ns) {
    struct timespec ts = {0, timeout_ns};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
}

static void vg__futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* The owner, its items done, waits until done reaches n. */
static void vg__wait_done(vg_team *t, int n) {
    int64_t t0 = 0;
    for (int spins = 0;; spins++) {
        if (atomic_load_explicit(&t->done, memory_order_acquire) >= n) return;
        vg__cpu_relax();
        if ((spins & 63) == 63) {
            int64_t now = vg__ns();
            if (!t0) t0 = now;
            else if (now - t0 > VG__SPIN_NS) break;
        }
    }
    for (;;) {
        atomic_store(&t->owner_sleeps, 1);
        int d = atomic_load(&t->done);
        if (d >= n) break;
        /* returns at once when done moved on since; the timeout only bounds a lost race's
         * cost, which the ordering above rules out */
        vg__futex_wait((_Atomic uint32_t *)&t->done, (uint32_t)d, 2000000);
    }
    atomic_store_explicit(&t->owner_sleeps, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
}

/* A helper finished an item of a task of n: counts it, and wakes the owner when it was the
 * last one and the owner sleeps. */
static void vg__item_done(vg_team *t, int n) {
    if (atomic_fetch_add(&t->done, 1) + 1 == n && atomic_load(&t->owner_sleeps))
        syscall(SYS_futex, (uint32_t *)&t->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Tells the team's helpers something changed (a task, or the end). */
static void vg__signal(vg_team *t) {
    atomic_fetch_add(&t->gen, 1);
    if (atomic_load(&t->sleepers) > 0) vg__futex_wake_all(&t->gen);
}

void vg_team_init(vg_team *t) {
    atomic_init(&t->ticket, 0);
    atomic_init(&t->gen, 0);
    atomic_init(&t->active, 1);
    atomic_init(&t->helpers, 0);
    atomic_init(&t->sleepers, 0);
    atomic_init(&t->fn, NULL);
    atomic_init(&t->arg, NULL);
    atomic_init(&t->cost, 0.0);
    atomic_init(&t->done, 0);
    atomic_init(&t->owner_sleeps, 0);
    atomic_init(&t->items, 0);
}

void vg_team_begin(vg_team *t, double cost) {
    atomic_store(&t->cost, cost);
    atomic_store(&t->active, 1);
    vg__owned = t;
}

void vg_team_end(vg_team *t) {
    if (vg__owned == t) vg__owned = NULL;
    if (!atomic_load(&t->active)) return;
    atomic_store(&t->active, 0);
    vg__signal(t);
}

int vg_team_has_helpers(void) {
    return vg__owned && atomic_load_explicit(&vg__owned->helpers, memory_order_relaxed) > 0;
}

int64_t vg_team_helped_items(void) { return atomic_load(&vg__helped); }

/* Claims the first (last, when from_end) unclaimed item of the task the ticket T names; -1
 * when it has none left or the ticket moved on (then *T holds its new value). */
static int vg__claim(vg_team *t, uint64_t *T, int from_end) {
    for (;;) {
        uint64_t v = *T;
        int first = (int)((v >> 16) & 0xFFFF), end = (int)(v & 0xFFFF);
        if (first >= end) return -1;
        uint64_t next = from_end ? v - 1 : v + ((uint64_t)1 << 16);
        if (atomic_compare_exchange_weak_explicit(&t->ticket, T, next, memory_order_acquire,
                                                  memory_order_acquire)) {
            *T = next;
            return from_end ? end - 1 : first;
        }
        if ((*T >> 32) != (v >> 32)) return -1; /* another task now */
    }
}

void vg_team_for(int n, vg_team_fn fn, void *arg) {
    vg_team *t = vg__owned;
    if (!t || n < 2 || n > VG_TEAM_MAX_ITEMS ||
        atomic_load_explicit(&t->helpers, memory_order_relaxed) == 0) {
        for (int i = 0; i < n; i++) fn(arg, i, 0);
        return;
    }
    atomic_store_explicit(&t->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&t->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&t->items, n, memory_order_relaxed);
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    uint64_t g = (atomic_load_explicit(&t->ticket, memory_order_relaxed) >> 32) + 1;
    uint64_t T = g << 32 | (uint64_t)n;
    atomic_store_explicit(&t->ticket, T, memory_order_release);
    vg__signal(t);
    int mine = 0;
    for (int i; (i = vg__claim(t, &T, 0)) >= 0; mine++) fn(arg, i, 0);
    if (atomic_fetch_add_explicit(&t->done, mine, memory_order_acq_rel) + mine == n) return;
    vg__wait_done(t, n);
}

/* Serves t until its owner leaves. */
static int64_t vg__serve(vg_team *t) {
    int64_t ran = 0;
    atomic_fetch_add(&t->helpers, 1);
    for (;;) {
        uint32_t seen = atomic_load(&t->gen);
        uint64_t T = atomic_load_explicit(&t->ticket, memory_order_acquire);
        for (;;) {
            vg_team_fn fn = atomic_load_explicit(&t->fn, memory_order_relaxed);
            void *arg = atomic_load_explicit(&t->arg, memory_order_relaxed);
            int n = atomic_load_explicit(&t->items, memory_order_relaxed);
            int i = vg__claim(t, &T, 1);
            if (i < 0) break;
            fn(arg, i, 1);
            ran++;
            vg__item_done(t, n);
        }
        if (!atomic_load(&t->active)) break;
        /* wait for the next task, or the end */
        int64_t t0 = vg__ns();
        for (int spins = 0; atomic_load_explicit(&t->gen, memory_order_acquire) == seen; spins++) {
            vg__cpu_relax();
            if ((spins & 63) == 63 && vg__ns() - t0 > VG__SPIN_NS) {
                atomic_fetch_add(&t->sleepers, 1);
                if (atomic_load(&t->gen) == seen) vg__futex_wait(&t->gen, seen, 2000000);
                atomic_fetch_sub(&t->sleepers, 1);
            }
        }
    }
    atomic_fetch_sub(&t->helpers, 1);
    atomic_fetch_add(&vg__helped, ran);
    return ran;
}

int64_t vg_team_help(vg_team *teams, int n) {
    int64_t ran = 0;
    for (;;) {
        vg_team *best = NULL;
        double best_cost = -1;
        for (int i = 0; i < n; i++) {
            double c = atomic_load(&teams[i].cost);
            if (atomic_load(&teams[i].active) && c > best_cost) best = &teams[i], best_cost = c;
        }
        if (!best) return ran;
        ran += vg__serve(best);
    }
}
