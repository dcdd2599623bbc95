/* Work sharing inside a run. A worker thread running a run owns a team; threads that found no
 * run left to take join the team of a running one and take items of its loops. A loop
 * (vg_team_for) is split into items whose outputs are disjoint and each computed by the same
 * instructions whichever thread takes it, so a run's results are bit-identical however many
 * threads help it, or none. Without helpers a loop runs its items in order on its caller.
 * Nothing here allocates. */
#ifndef VGSWEEP_TEAM_H
#define VGSWEEP_TEAM_H

#include <stdatomic.h>
#include <stdint.h>

/* Item `item` of a loop; helper is 0 on the team's owner, 1 on a helping thread. The owner
 * takes a loop's items from the first on, helpers from the last back: a thread's next item
 * is usually item + 1 on the owner, item - 1 on a helper. */
typedef void (*vg_team_fn)(void *arg, int item, int helper);

/* One per worker thread, on its own cache lines. */
typedef struct vg_team {
    _Alignas(64) _Atomic uint64_t ticket; /* (generation << 32) | (first unclaimed item << 16)
                                             | end of the unclaimed items */
    _Atomic int items;                    /* items of the current task */
    _Atomic uint32_t gen;                 /* futex word: bumped on every task and at the end */
    _Atomic int active;                   /* the owner has a run (or is about to claim one) */
    _Atomic int helpers;                  /* threads serving this team */
    _Atomic int sleepers;                 /* helpers asleep on gen */
    _Atomic(vg_team_fn) fn;               /* the current task */
    _Atomic(void *) arg;
    _Atomic double cost;                  /* estimated cost of the owner's run: helpers pick
                                             the costliest */
    _Alignas(64) _Atomic int done;        /* items of the current task finished; futex word
                                             of the owner waiting for its helpers' last items */
    _Atomic int owner_sleeps;             /* the owner sleeps on done (or is about to) */
} vg_team;

/* Most items one loop may have. */
#define VG_TEAM_MAX_ITEMS 65535

/* Active from the start, before its thread claims a run (a thread that finds no run left
 * must see every run still to come): end it when the thread has none. */
void vg_team_init(vg_team *t);
/* The calling thread owns t from now on (its loops may be shared); cost: its run's estimate. */
void vg_team_begin(vg_team *t, double cost);
/* The owner leaves: its helpers go and look for another team. */
void vg_team_end(vg_team *t);
/* Serves the active teams of teams[0..n) (the costliest first) until none is active; returns
 * the items this thread ran. For a thread with no run left to take. */
int64_t vg_team_help(vg_team *teams, int n);

/* Runs fn(arg, i, helper) for i in [0, n), shared with the calling thread's helpers when it
 * owns a team that has any, else in order on the caller. Returns when every item is done. */
void vg_team_for(int n, vg_team_fn fn, void *arg);

/* 1 when the calling thread owns a team that has helpers right now. */
int vg_team_has_helpers(void);

/* Items run by helpers since the program started (all teams). */
int64_t vg_team_helped_items(void);

#endif
