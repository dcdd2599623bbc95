/* The memory budget of a sweep (--mem) and the limits checked before training starts.
 *
 * Every run reserves its estimated peak (vg_run_memory_estimate) before it starts and releases
 * it when it ends; a reservation waits, without spinning, until it fits under the budget, in
 * the order the runs asked (so a large run is never overtaken for ever by small ones). A run
 * larger than the whole budget is refused before the sweep starts (the CLI checks); given
 * one, vg_membudget_reserve waits until nothing else is reserved, so it cannot deadlock. */
#ifndef VGSWEEP_MEMBUDGET_H
#define VGSWEEP_MEMBUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "vgsweep/error.h"
#include "vgsweep/settings.h"
#include "vgsweep/train.h"

typedef struct vg_membudget vg_membudget;

/* A budget of `bytes` (> 0). */
vg_status vg_membudget_create(int64_t bytes, vg_membudget **out, vg_error *err);
void vg_membudget_free(vg_membudget *b);
/* Blocks until `bytes` fit (bytes above the budget count as the whole budget). b NULL: no
 * budget, returns at once. */
void vg_membudget_reserve(vg_membudget *b, int64_t bytes);
/* Gives back what vg_membudget_reserve took for `bytes` and wakes the waiting runs, after
 * handing the heap's free memory back to the system (malloc_trim): a budget is only worth
 * having when it binds. */
void vg_membudget_release(vg_membudget *b, int64_t bytes);
/* Most bytes ever reserved at once. */
int64_t vg_membudget_peak(const vg_membudget *b);

/* A run's estimated peak memory in bytes: its result, the recorder's buffers, its training
 * memory (net, optimizer, data set) and what the recorder adds at its end (freed training
 * memory stays in the heap: main() tunes malloc so).
 * plan comes from vg_run_result_plan (or _init). */
int64_t vg_run_memory_estimate(const vg_run_config *cfg, const vg_run_result *plan);

/* Parses a size: a number (digits with an optional fraction) and an optional unit K, M, G, T
 * (also KiB/KB, MiB/MB, ...; every unit a power of 1024; no unit: bytes). Strict: no sign,
 * no space, nothing after the unit. Returns 1 and sets *bytes (> 0), or 0. */
int vg_mem_parse_size(const char *text, int64_t *bytes);

/* The memory a sweep may use by default: MemAvailable (/proc/meminfo), lowered by the head
 * room of a cgroup v2 (memory.max) or v1 (memory.limit_in_bytes) limit of this process's
 * cgroup or its ancestors, and by RLIMIT_AS (less what is mapped already, `jobs` thread
 * stacks and malloc's 64 MiB per thread arena). source gets where the figure comes from, e.g.
 * "MemAvailable". -1 when unknown. */
int64_t vg_mem_default_budget(int jobs, char *source, size_t size);

/* The head room under the memory limits of the cgroups listed in proc_cgroup (the format of
 * /proc/self/cgroup) and their ancestors, the v2 hierarchy mounted at v2_mount (memory.max,
 * memory.current), v1's memory controller at v1_mount (memory.limit_in_bytes,
 * memory.usage_in_bytes): limit - usage + inactive file pages, the least; -1 when no limit
 * applies. *v2 says which. vg_mem_default_budget's, apart for the tests. */
double vg_mem_cgroup_room(const char *proc_cgroup, const char *v2_mount, const char *v1_mount,
                          int *v2);

/* "1.5 GiB" */
const char *vg_mem_human(double bytes, char *buf, size_t size);

/* Starts and stops jobs - 1 threads with the stack OpenMP's will have (OMP_STACKSIZE, else
 * the default): OpenMP aborts the process when it cannot create its workers, so this is
 * checked first. VG_EUSAGE names -j, the thread that failed and the limits that apply
 * (RLIMIT_NPROC, RLIMIT_AS, threads-max). */
vg_status vg_threads_check(int jobs, vg_error *err);

#endif
