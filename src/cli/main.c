/* vgsweep: the command line. The only place that prints errors and chooses exit codes:
 * 0 success, 1 a run-time failure, 2 a usage or sweep-file error. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <omp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "progress.h"
#include "report_cmd.h"

#include "vgsweep/buildinfo.h"
#include "vgsweep/config.h"
#include "vgsweep/data.h"
#include "vgsweep/error.h"
#include "vgsweep/membudget.h"
#include "vgsweep/record.h"
#include "vgsweep/sched.h"
#include "vgsweep/settings.h"
#include "vgsweep/train.h"

#define VG_EXIT_OK 0
#define VG_EXIT_RUNTIME 1
#define VG_EXIT_USAGE 2

/* The commands (vgsweep COMMAND ...): run is the default (vgsweep SWEEP.yaml). A new command
 * (merge, ...) is a row of vg__commands (main, at the end) and a line here. */
#define VG__DESCRIPTION                                                                         \
    "Trains every configuration of a sweep file and records per-layer, per-epoch gradients\n" \
    "to one HDF5 file.\n"
#define VG__COMMANDS                                                                             \
    "commands:\n"                                                                                \
    "  run       train a sweep and record it: vgsweep run SWEEP.yaml (the default: vgsweep\n"   \
    "            SWEEP.yaml is the same)\n"                                                       \
    "  report    diagnose the runs of a record: vgsweep report OUT.h5\n"                         \
    "  help      a command's help: vgsweep help COMMAND (or vgsweep COMMAND --help)\n"

/* The options of run, shared by its help and the program's. */
#define VG__RUN_OPTIONS \
    "  -o, --output FILE   output file (default: results/<sweep file's base name>.h5);\n" \
    "                      missing directories are created\n" \
    "  -j, --jobs N        worker threads (default: OMP_NUM_THREADS, else all cores)\n" \
    "      --mem SIZE      memory the runs may use at once, e.g. 512M, 4G, 1.5GiB (default:\n" \
    "                      MemAvailable, lowered by a cgroup memory limit or ulimit -v);\n" \
    "                      fewer runs go at once when their estimates need it\n" \
    "      --force         overwrite an existing output (a regular file) and its unfinished\n" \
    "                      parts; run a sweep of over 100,000 runs or larger than the free\n" \
    "                      disk\n" \
    "      --resume        continue an interrupted sweep, or extend a finished one: runs\n" \
    "                      already recorded (same id) are kept, the others are run; recorded\n" \
    "                      runs outside the sweep (or --only) stay in the output as they are\n" \
    "      --prune         with --resume: drop the recorded runs outside the sweep (or --only)\n" \
    "  -n, --dry-run       validate the sweep and list its runs with estimates of memory,\n" \
    "                      compute and output size; train nothing\n" \
    "      --only FILTER   only the runs that meet every condition, e.g.\n" \
    "                      'model.activation=relu|tanh,model.depth>=10' (=, !=, >=, <=, >, <)\n" \
    "      --list-settings[=markdown]\n" \
    "                      print every setting with its type, bounds, default and help\n" \
    "  -q, --quiet         no progress display or lines (errors and the summary remain)\n" \
    "  -h, --help          this help\n" \
    "  -V, --version       program version\n" \
    "\n" \
    "An output is used by one vgsweep at a time (a lock on FILE.lock); another one is refused.\n" \
    "The first SIGINT, SIGTERM or SIGHUP stops the running runs at their next step, keeps the\n" \
    "finished ones and prints the command that resumes; a second one exits at once.\n" \
    "\n" \
    "exit status: 0 success, 1 a run-time failure, 2 a usage or sweep-file error (also an\n" \
    "output that cannot be written or is in use, found before any run trains), 128 + the\n" \
    "signal's number when a signal stopped the sweep (130 SIGINT, 143 SIGTERM, 129 SIGHUP)\n"

static const char vg__usage[] =
    "usage: vgsweep [run] [options] SWEEP.yaml\n"
    "       vgsweep COMMAND [options] ...   (vgsweep help COMMAND)\n"
    "\n" VG__DESCRIPTION "\n" VG__COMMANDS "\n"
    "options of run (vgsweep run --help):\n" VG__RUN_OPTIONS;

static const char vg__run_usage[] =
    "usage: vgsweep run [options] SWEEP.yaml\n"
    "       vgsweep [options] SWEEP.yaml   (the same)\n"
    "\n" VG__DESCRIPTION "\noptions:\n" VG__RUN_OPTIONS;

typedef struct vg__cli {
    const char *sweep_path;
    const char *output; /* NULL: the default */
    int jobs;           /* 0: the default */
    int force, resume, prune, dry_run, quiet, list_settings;
    int list_markdown; /* --list-settings=markdown: the table of docs/SWEEP-FORMAT.md */
    const char *only;  /* --only FILTER, or NULL */
    int64_t mem;       /* --mem in bytes; 0: the default */
} vg__cli;

static int vg__usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vgsweep: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'vgsweep --help'.\n");
    return VG_EXIT_USAGE;
}

/* Strict positive integer: no sign, no trailing junk, no overflow. */
static int vg__parse_jobs(const char *text, int *out) {
    if (!text || !*text) return 0;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    errno = 0;
    long v = strtol(text, NULL, 10);
    if (errno || v < 1 || v > 4096) return 0;
    *out = (int)v;
    return 1;
}

/* Returns -1 to go on, or an exit code. */
static int vg__parse_args(int argc, char **argv, const char *help, vg__cli *cli) {
    static const struct option long_opts[] = {
        {"output", required_argument, NULL, 'o'}, {"jobs", required_argument, NULL, 'j'},
        {"force", no_argument, NULL, 'F'},        {"dry-run", no_argument, NULL, 'n'},
        {"resume", no_argument, NULL, 'R'},      {"prune", no_argument, NULL, 'P'},
        {"list-settings", optional_argument, NULL, 'L'},
        {"only", required_argument, NULL, 'O'}, {"quiet", no_argument, NULL, 'q'},
        {"mem", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    memset(cli, 0, sizeof *cli);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:j:nqhV", long_opts, NULL)) != -1) {
        switch (c) {
        case 'o': cli->output = optarg; break;
        case 'j':
            if (!vg__parse_jobs(optarg, &cli->jobs))
                return vg__usage_error("-j expects a whole number from 1 to 4096, got \"%s\"", optarg);
            break;
        case 'F': cli->force = 1; break;
        case 'R': cli->resume = 1; break;
        case 'P': cli->prune = 1; break;
        case 'n': cli->dry_run = 1; break;
        case 'L':
            cli->list_settings = 1;
            if (optarg && strcmp(optarg, "markdown") != 0)
                return vg__usage_error("--list-settings takes no value or =markdown, got \"%s\"", optarg);
            cli->list_markdown = optarg != NULL;
            break;
        case 'O': cli->only = optarg; break;
        case 'M':
            if (!vg_mem_parse_size(optarg, &cli->mem))
                return vg__usage_error("--mem expects a size such as 512M, 4G or 1.5GiB, got \"%s\"", optarg);
            break;
        case 'q': cli->quiet = 1; break;
        case 'h': fputs(help, stdout); return VG_EXIT_OK;
        case 'V': {
            const vg_buildinfo *b = vg_buildinfo_get();
            printf("vgsweep %s (git %.12s%s, %s %s, %s)\n", b->version, b->git_revision,
                   b->git_dirty == 1 ? "-dirty" : "", b->build_type, b->compiler,
                   strcmp(b->sanitizers, "none") ? b->sanitizers : "no sanitizers");
            return VG_EXIT_OK;
        }
        case ':': return vg__usage_error("option %s needs a value", argv[optind - 1]);
        default: return vg__usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (cli->force && cli->resume) return vg__usage_error("%s", "--force and --resume exclude each other");
    if (cli->prune && !cli->resume)
        return vg__usage_error("%s", "--prune only goes with --resume (it drops recorded runs "
                                     "outside the sweep)");
    if (cli->list_settings) return -1;
    if (optind >= argc) return vg__usage_error("%s", "no sweep file given");
    if (optind + 1 < argc) return vg__usage_error("one sweep file expected, got also \"%s\"", argv[optind + 1]);
    cli->sweep_path = argv[optind];
    return -1;
}

/* "{leaky_relu: x} sets model.leaky_slope; {elu: x} sets model.elu_alpha": the mapping forms
 * of an ENUM, choices that set the same parameter grouped. md: with `code` quotes. */
static void vg__mapping_forms(const vg_setting *s, int md, char *buf, size_t size) {
    size_t used = 0;
    const char *q = md ? "`" : "";
    buf[0] = '\0';
    int done[64] = {0};
    if (s->type != VG_TYPE_ENUM || !s->choices || !s->choice_params) return;
    for (int i = 0; s->choices[i] && i < 64; i++) {
        if (done[i] || !s->choice_params[i]) continue;
        const char *param = s->choice_params[i];
        int n = 0;
        used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s", used ? "; " : "");
        for (int j = i; s->choices[j] && j < 64; j++) {
            if (!s->choice_params[j] || strcmp(s->choice_params[j], param) != 0) continue;
            done[j] = 1;
            used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s%s{%s: x}%s",
                                     n++ ? ", " : "", q, s->choices[j], q);
        }
        used += (size_t)snprintf(buf + used, used < size ? size - used : 0, " set%s %s%s%s",
                                 n == 1 ? "s" : "", q, param, q);
    }
}

/* Every setting, from the settings table: as text, or as the markdown table that
 * docs/SWEEP-FORMAT.md holds (a test compares the two). */
static void vg__list_settings(int markdown) {
    if (markdown) {
        printf("| setting | type | accepts | default | description |\n");
        printf("|---|---|---|---|---|\n");
    }
    for (int i = 0; i < VG_SETTING_COUNT; i++) {
        const vg_setting *s = &vg_settings[i];
        char expected[512], forms[512];
        vg_setting_expected(i, expected, sizeof expected);
        const char *type = s->type == VG_TYPE_INT    ? "integer"
                           : s->type == VG_TYPE_REAL ? "number"
                           : s->type == VG_TYPE_BOOL ? "boolean"
                           : s->type == VG_TYPE_STRING ? "text"
                                                     : "choice";
        if (!markdown) {
            vg__mapping_forms(s, 0, forms, sizeof forms);
            printf("%-22s %s (default %s)\n", s->path, expected, s->default_text);
            if (forms[0]) printf("%22s %s\n", "", forms);
            printf("%22s %s\n", "", s->help);
            continue;
        }
        vg__mapping_forms(s, 1, forms, sizeof forms);
        printf("| `%s` | %s | ", s->path, type);
        if (s->type == VG_TYPE_ENUM) {
            for (int k = 0; s->choices[k]; k++) printf("%s`%s`", k ? ", " : "", s->choices[k]);
            if (forms[0]) printf("; %s", forms);
        } else {
            /* "an integer in [1, 10000]" -> "[1, 10000]"; "a number > 0" -> "> 0" */
            const char *p = expected;
            if (!strncmp(p, "an integer in ", 14)) p += 14;
            else if (!strncmp(p, "a number in ", 12)) p += 12;
            else if (!strncmp(p, "a number ", 9)) p += 9;
            else if (!strcmp(p, "a number")) p = "any number";
            printf("%s", p);
        }
        printf(" | `%s` | ", s->default_text);
        for (const char *h = s->help; *h; h++) { /* a | would end the cell */
            if (*h == '|') putchar('\\');
            putchar(*h);
        }
        printf(" |\n");
    }
}

/* --- dry-run estimates --- */

#define VG_MAX_RUNS_UNFORCED 100000
/* The time estimate divides FLOPs by this rate per thread: a round, conservative figure for
 * whole runs (training, probes, statistics, recording) with the AVX-512 core on a current x86
 * core: bench/sweep.yaml and sweeps/depth_vs_act.yaml measured 80-100 GFLOP/s per thread on
 * the development machine (2026-12); without AVX-512 expect less. Not a measurement here. */
#define VG_ASSUMED_GFLOPS_PER_THREAD 50.0

static const char *vg__human(double x, const char *unit, char *buf, size_t size) {
    static const char *const prefix[] = {"", "k", "M", "G", "T", "P", "E"};
    int k = 0;
    while (x >= 1000 && k < 6) x /= 1000, k++;
    snprintf(buf, size, k ? "%.1f %s%s" : "%.0f %s%s", x, prefix[k], unit);
    return buf;
}

static const char *vg__human_time(double seconds, char *buf, size_t size) {
    if (seconds < 60) snprintf(buf, size, "%.0f s", seconds < 1 ? 1 : seconds);
    else if (seconds < 3600) snprintf(buf, size, "%.0f min", seconds / 60);
    else if (seconds < 172800) snprintf(buf, size, "%.1f h", seconds / 3600);
    else snprintf(buf, size, "%.1f days", seconds / 86400);
    return buf;
}

/* FLOPs and bytes of output of the runs, from the training core's and the recorder's own
 * estimates on each run's planned layout (no series allocated), and each run's memory
 * (mem[i]), all counted from the settings; also refuses a run the recorder could not keep. With
 * budget > 0 (not a dry run) a run that can never fit in it is refused here, before anything of
 * it is allocated. */
static vg_status vg__estimate(const vg_run_config *runs, int64_t n, double *flops, double *bytes,
                              int64_t *mem, int64_t budget, const char *budget_from,
                              vg_error *err) {
    *flops = 0;
    *bytes = 0;
    for (int64_t i = 0; i < n; i++) {
        vg_run_result plan; /* shapes only: a few bytes per layer and tensor */
        if (vg_run_result_plan(&plan, &runs[i], err) != VG_OK) {
            vg_error_prefix(err, runs[i].id);
            return err->code;
        }
        mem[i] = vg_run_memory_estimate(&runs[i], &plan);
        double need = (double)mem[i];
        /* memory first: for an absurd net it is the limit that explains most */
        if (budget > 0 && need > (double)budget) {
            char a[32], b[32];
            vg_run_result_free(&plan);
            return vg_error_set(err, VG_EUSAGE,
                                "run %s needs about %s of memory (%.0f bytes, estimated), more "
                                "than the %s allowed (%s): it can never run; make it smaller "
                                "(model.width, model.depth, data sizes, train.epochs, "
                                "record.tensors), leave it out with --only, or raise --mem",
                                runs[i].id, vg_mem_human(need, a, sizeof a), need,
                                vg_mem_human((double)budget, b, sizeof b), budget_from);
        }
        if (vg_record_check_plan(&runs[i], &plan.layout, err) != VG_OK) {
            vg_run_result_free(&plan);
            return err->code;
        }
        *bytes += (double)vg_record_estimate_bytes(&plan.layout, &plan.output);
        vg_run_result_free(&plan);
        *flops += vg_train_estimate_flops(&runs[i]);
    }
    return VG_OK;
}

static int vg__desc_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The sum of the `jobs` largest of mem (n): the memory of the runs at once at -j jobs
 * without a budget; *largest gets the largest. */
static double vg__peak_memory(const int64_t *mem, int64_t n, int jobs, double *largest) {
    int64_t *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    double sum = 0;
    *largest = 0;
    if (!sorted) return -1;
    memcpy(sorted, mem, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, vg__desc_i64);
    for (int64_t i = 0; i < n && i < jobs; i++) sum += (double)sorted[i];
    if (n > 0) *largest = (double)sorted[0];
    free(sorted);
    return sum;
}

/* Free bytes on the file system that will hold path (its directory, or "." if that does not
 * exist yet); -1 if unknown. */
static double vg__free_bytes(const char *path) {
    char dir[PATH_MAX];
    if (strlen(path) >= sizeof dir) return -1; /* the recorder refuses it, with the reason */
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    struct statvfs fs;
    if (statvfs(dir[0] ? dir : "/", &fs) != 0 && statvfs(".", &fs) != 0) return -1;
    return (double)fs.f_bavail * (double)fs.f_frsize;
}

/* results/<base name without extension>.h5; 0 when it does not fit (never truncated). */
static int vg__default_output(const char *sweep_path, char *buf, size_t size) {
    const char *base = strrchr(sweep_path, '/');
    base = base ? base + 1 : sweep_path;
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    int n = snprintf(buf, size, "results/%.*s.h5", len, base);
    return n > 0 && (size_t)n < size;
}

/* The command line as one string (malloc'ed, whole: it is recorded as an attribute). */
static char *vg__join_args(int argc, char **argv) {
    size_t size = 1;
    for (int i = 0; i < argc; i++) size += strlen(argv[i]) + 1;
    char *buf = malloc(size), *p = buf;
    if (!buf) return NULL;
    for (int i = 0; i < argc; i++) p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
    *p = '\0';
    return buf;
}

/* Versions of the libraries besides HDF5 and zlib (which the recorder asks itself). */
char *openblas_get_config(void) __attribute__((weak));
static const char *vg__library_versions(void) {
    static char buf[512];
    const char *blas = openblas_get_config ? openblas_get_config() : NULL;
    snprintf(buf, sizeof buf, "libyaml %s; %s; OpenMP %d", yaml_get_version_string(),
             blas ? blas : "BLAS unknown", (int)_OPENMP);
    return buf;
}

/* One line on what --resume found: kept, kept outside the sweep, dropped (--prune), to run. */
static void vg__report_resume(const vg_record_stats *stats, const char *output) {
    const vg_record_stats rs = *stats;
    if (rs.manifest_rebuilt)
        fprintf(stderr, "vgsweep: %s.parts had lost its manifest (manifest.h5): rebuilt from its "
                "%lld readable part file%s, all of this sweep\n", output,
                (long long)rs.n_manifest_parts, rs.n_manifest_parts == 1 ? "" : "s");
    if (!rs.resumed) {
        fprintf(stderr, "vgsweep: --resume: nothing recorded yet for %s; starting the sweep\n", output);
        return;
    }
    fprintf(stderr, "vgsweep: resuming %s: %lld of %lld runs already recorded and kept, %lld to run",
            output, (long long)rs.n_reused, (long long)rs.n_runs, (long long)(rs.n_runs - rs.n_reused));
    if (rs.n_kept)
        fprintf(stderr, "; %lld recorded run%s kept from before, outside this sweep/filter "
                "(--prune drops them)", (long long)rs.n_kept, rs.n_kept == 1 ? "" : "s");
    if (rs.n_dropped)
        fprintf(stderr, "; %lld recorded run%s outside this sweep/filter dropped (--prune)",
                (long long)rs.n_dropped, rs.n_dropped == 1 ? "" : "s");
    if (rs.n_broken)
        fprintf(stderr, "; %lld unreadable part file%s run again", (long long)rs.n_broken,
                rs.n_broken == 1 ? "" : "s");
    fprintf(stderr, "\n");
}

/* --- signals ----------------------------------------------------------------------------
 * Before anything is written (loading, counting, the dry run) a SIGINT, SIGTERM or SIGHUP exits
 * at once with 128 + its number. From the recorder's creation on, the first one only sets
 * vg__stop, which the scheduler and the training steps poll: the running runs stop at their
 * next step and are not recorded, the finished ones stay in the parts (durable), and main
 * prints how to resume. A second signal exits at once from the handler: the parts already
 * durable stay, which is all a --resume needs (a run whose part was being synced is run
 * again). SLURM's SIGTERM before its SIGKILL is the first signal of this. */

enum { VG__EXIT_AT_ONCE, VG__STOP_SWEEP, VG__CLOSING };
static volatile sig_atomic_t vg__phase = VG__EXIT_AT_ONCE;
static volatile sig_atomic_t vg__signal; /* the first signal's number; 0: none yet */
static atomic_int vg__stop;              /* the scheduler's stop flag (lock-free: handler-safe) */
/* What a handler writes before it exits at once, and what it writes when the first signal comes
 * while the output is being assembled: made before the handler can need them. */
static char vg__bye[2 * PATH_MAX + 8192], vg__closing_note[2 * PATH_MAX + 256];
static size_t vg__bye_len, vg__closing_len;

static void vg__on_signal(int sig) {
    if (vg__phase == VG__EXIT_AT_ONCE || vg__signal) {
        if (vg__phase != VG__EXIT_AT_ONCE && vg__bye_len) {
            ssize_t n = write(STDERR_FILENO, vg__bye, vg__bye_len);
            (void)n; /* nothing to do about a failed write on the way out */
        }
        _exit(128 + sig);
    }
    vg__signal = sig;
    atomic_store(&vg__stop, 1);
    if (vg__phase == VG__CLOSING && vg__closing_len) {
        ssize_t n = write(STDERR_FILENO, vg__closing_note, vg__closing_len);
        (void)n;
    }
}

static void vg__install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = vg__on_signal;
    sa.sa_flags = SA_RESTART; /* the recorder's reads and writes go on after the first signal */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static const char *vg__signal_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

/* Appends the n bytes of s to buf (size), as far as they fit. */
static void vg__put(char *buf, size_t size, size_t *used, const char *s, size_t n) {
    if (*used + n >= size) n = *used + 1 < size ? size - *used - 1 : 0;
    memcpy(buf + *used, s, n);
    *used += n;
    buf[*used] = '\0';
}

/* Appends s to buf as one shell word: as it is when it holds only characters no shell treats
 * specially, else in single quotes (a ' inside as '\''). */
static void vg__shell_word(const char *s, char *buf, size_t size, size_t *used) {
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-";
    if (*used) vg__put(buf, size, used, " ", 1);
    if (s[0] && strspn(s, safe) == strlen(s)) {
        vg__put(buf, size, used, s, strlen(s));
        return;
    }
    vg__put(buf, size, used, "'", 1);
    for (const char *c = s; *c; c++)
        if (*c == '\'') vg__put(buf, size, used, "'\\''", 4);
        else vg__put(buf, size, used, c, 1);
    vg__put(buf, size, used, "'", 1);
}

/* Whether arg is --name or one of getopt_long's abbreviations of it (at least min letters:
 * where another option shares the first ones). */
static int vg__long_opt(const char *arg, const char *name, size_t min) {
    if (strncmp(arg, "--", 2) != 0) return 0;
    size_t n = strcspn(arg + 2, "=");
    return n >= min && n <= strlen(name) && strncmp(arg + 2, name, n) == 0;
}

/* The command that continues this sweep: argv (its options from argv[first]) with --resume added and --force removed (in any
 * spelling getopt_long accepts), every word shell-quoted. Option values are copied as they are
 * (an output file named "--force" stays). */
static void vg__resume_command(int argc, char **argv, int first, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < first; i++) vg__shell_word(argv[i], buf, size, &used); /* vgsweep [run] */
    vg__shell_word("--resume", buf, size, &used);
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (; i < argc; i++) vg__shell_word(argv[i], buf, size, &used);
            break;
        }
        if (vg__long_opt(a, "force", 1) || vg__long_opt(a, "resume", 1)) continue;
        vg__shell_word(a, buf, size, &used);
        int takes_next = 0;
        if (a[0] == '-' && a[1] == '-')
            takes_next = !strchr(a, '=') && (vg__long_opt(a, "output", 2) ||
                                               vg__long_opt(a, "jobs", 1) || vg__long_opt(a, "only", 2));
        else if (a[0] == '-' && a[1]) /* -qo FILE, -oFILE, -j2 */
            for (const char *c = a + 1; *c; c++)
                if (*c == 'o' || *c == 'j') {
                    takes_next = c[1] == '\0';
                    break;
                }
        if (takes_next && i + 1 < argc) vg__shell_word(argv[++i], buf, size, &used);
    }
}

static double vg__seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The last words of a sweep, printed even with --quiet: what the output holds, what this
 * invocation trained, how long it took, where it is. complete: the output was written. */
static void vg__print_summary(const vg_sched_summary *s, int64_t n_kept, int64_t n_runs,
                              double wall, const char *output, int complete) {
    int64_t trained = s->n_ok + s->n_diverged + s->n_failed, recorded = s->n_reused + trained;
    char size[64] = "";
    struct stat sb;
    if (complete && stat(output, &sb) == 0) vg__human((double)sb.st_size, "B", size, sizeof size);
    fprintf(stderr, "vgsweep: ");
    if (complete) fprintf(stderr, "%lld run%s recorded", (long long)recorded, recorded == 1 ? "" : "s");
    else fprintf(stderr, "%lld of %lld runs recorded", (long long)recorded, (long long)n_runs);
    fprintf(stderr, " (%lld ok, %lld diverged, %lld failed, %lld kept from before); "
            "%lld trained by this invocation",
            (long long)s->n_ok, (long long)s->n_diverged, (long long)s->n_failed,
            (long long)s->n_reused, (long long)trained);
    if (n_kept)
        fprintf(stderr, "; %lld more kept from before, outside this sweep/filter", (long long)n_kept);
    if (s->n_stopped) fprintf(stderr, ", %lld stopped unfinished", (long long)s->n_stopped);
    fprintf(stderr, "; wall time %.1fs; ", wall);
    if (complete) fprintf(stderr, "output %s (%s)\n", output, size[0] ? size : "size unknown");
    else fprintf(stderr, "finished runs kept in %s.parts\n", output);
}

static void vg__print_runs(const vg_run_config *runs, int64_t n, const int *varying, int n_varying,
                           const int64_t *mem) {
    for (int64_t i = 0; i < n; i++) {
        printf("%s", runs[i].id);
        for (int v = 0; v < n_varying; v++) {
            char value[64];
            vg_setting_format(varying[v], &runs[i], value, sizeof value);
            printf(" %s=%s", vg_settings[varying[v]].path, value);
        }
        if (runs[i].repeat) printf(" repeat=%d", runs[i].repeat);
        char m[32];
        printf(" (memory %s)\n", vg_mem_human((double)mem[i], m, sizeof m));
    }
    printf("%lld run%s\n", (long long)n, n == 1 ? "" : "s");
}

/* vgsweep [run] [options] SWEEP.yaml: argv is the whole command line, its options start at
 * argv[first] (1, or 2 after "run"). */
static int vg__cmd_run(int argc, char **argv, int first) {
#ifdef __GLIBC__
    /* Each run allocates and frees its buffers (the net's, its part file's 1 MiB write buffer,
     * the compressors'). By default glibc gives blocks over 128 KiB back to the kernel on free
     * and trims the workers' heaps, so every run page-faults its memory in again while the
     * other workers wait on the address-space lock: at -j 2 that was ~2 points of the
     * benchmark sweep's wall time. Freed memory is kept for the next run instead (the peak is
     * what the sweep needs anyway). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    double t_start = vg__seconds();
    vg__install_signals();
    vg__cli cli;
    int rc = vg__parse_args(argc - first + 1, argv + first - 1, first > 1 ? vg__run_usage : vg__usage, &cli);
    if (rc >= 0) return rc;
    if (cli.list_settings) {
        vg__list_settings(cli.list_markdown);
        return VG_EXIT_OK;
    }

    vg_error err;
    vg_error_clear(&err);
    vg_sweep *sweep = NULL;
    vg_run_config *runs = NULL;
    int64_t n_runs = 0;
    vg_recorder *rec = NULL;
    vg_progress *progress = NULL;
    int exit_code = VG_EXIT_OK;
    vg_run_filter *filter = NULL;
    vg_sweep_counts counts = {0};
    double est_flops = 0, est_bytes = 0;
    int64_t *run_mem = NULL; /* (n_runs) each run's estimated peak memory */
    char *command_line = NULL;

    if (cli.only && vg_run_filter_parse(cli.only, &filter, &err) != VG_OK) {
        vg_error_prefix(&err, "--only");
        goto fail;
    }
    /* Count before expanding: a sweep too large to run is refused before it is allocated. */
    if (vg_sweep_load(cli.sweep_path, &sweep, &err) != VG_OK ||
        vg_sweep_count(sweep, filter, &counts, &err) != VG_OK)
        goto fail;
    if (filter && counts.runs == 0) {
        vg_error_set(&err, VG_EUSAGE, "--only '%s': matches none of the %lld runs of %s", cli.only,
                     (long long)counts.filtered, cli.sweep_path);
        goto fail;
    }
    if (counts.runs > VG_MAX_RUNS_UNFORCED && !cli.force) {
        vg_error_set(&err, VG_EUSAGE,
                     "%s: %lld runs, more than %d; select fewer with --only, or pass --force to "
                     "run them all",
                     cli.sweep_path, (long long)counts.runs, VG_MAX_RUNS_UNFORCED);
        goto fail;
    }
    if (vg_sweep_select(sweep, filter, &runs, &n_runs, &counts, &err) != VG_OK) goto fail;
    int varying[VG_SETTING_COUNT];
    int n_varying = vg_sweep_varying(sweep, varying);
    /* Shared data sets are read and checked once, before any run: bad data stops here. */
    if (vg_data_prepare(runs, n_runs, &err) != VG_OK) goto fail;
    /* threads beyond the runs help them (src/sched: they share the runs' matrix products), so
     * at most `concurrent` runs hold memory at once */
    int jobs = cli.jobs > 0 ? cli.jobs : omp_get_max_threads();
    int concurrent = jobs > n_runs ? (n_runs > 0 ? (int)n_runs : 1) : jobs;
    /* the memory budget: --mem, else what this machine, cgroup and ulimit -v leave */
    char budget_from[160] = "--mem";
    int64_t budget = cli.mem > 0 ? cli.mem : vg_mem_default_budget(concurrent, budget_from, sizeof budget_from);
    if (budget < 0) budget = 0; /* unknown: no budget */
    /* the shared data sets are in memory already, for every run: what is left is the runs' */
    if (budget > 0 && vg_data_shared_bytes() > 0) {
        budget -= (int64_t)vg_data_shared_bytes();
        if (budget < 1) budget = 1;
        snprintf(budget_from + strlen(budget_from), sizeof budget_from - strlen(budget_from),
                 ", less the shared data sets");
    }
    run_mem = calloc((size_t)(n_runs > 0 ? n_runs : 1), sizeof *run_mem);
    if (!run_mem) {
        vg_error_set(&err, VG_ENOMEM, "out of memory for %lld runs' estimates", (long long)n_runs);
        goto fail;
    }
    if (vg__estimate(runs, n_runs, &est_flops, &est_bytes, run_mem, cli.dry_run ? 0 : budget,
                     budget_from, &err) != VG_OK)
        goto fail;
    {   /* the file's own part: attributes, the sweep text, /index */
        vg_sweep_info sizing = {.sweep_text = vg_sweep_text(sweep), .n_runs = n_runs};
        est_bytes += (double)vg_record_estimate_sweep_bytes(&sizing);
    }

    /* The output's name is used as given, never copied into a fixed buffer (a long one is
     * refused by the recorder, not truncated). */
    const char *output = cli.output;
    char default_output[PATH_MAX];
    if (!output) {
        if (!vg__default_output(cli.sweep_path, default_output, sizeof default_output)) {
            vg_error_set(&err, VG_EUSAGE, "%.200s...: the default output path is too long (%s); "
                         "give one with -o", cli.sweep_path, strerror(ENAMETOOLONG));
            goto fail;
        }
        output = default_output;
    }
    if (cli.dry_run) {
        char a[64], b[64], c[64];
        vg__print_runs(runs, n_runs, varying, n_varying, run_mem);
        printf("  from %lld grid configuration%s", (long long)counts.grid, counts.grid == 1 ? "" : "s");
        if (counts.excluded) printf(", %lld excluded", (long long)counts.excluded);
        if (counts.included) printf(", %lld included", (long long)counts.included);
        if (counts.duplicates) printf(" (%lld already in the grid)", (long long)counts.duplicates);
        if (vg_sweep_repeats(sweep) > 1) printf(", %d repeats each", vg_sweep_repeats(sweep));
        if (filter) printf("; --only dropped %lld run%s", (long long)counts.filtered, counts.filtered == 1 ? "" : "s");
        printf("\n");
        vg_cli_dry_theory(stdout, runs, n_runs);
        double largest, peak = vg__peak_memory(run_mem, n_runs, concurrent, &largest);
        if (concurrent > 1)
            printf("estimated memory: %s for the largest run, %s at -j %d (the %d largest runs "
                   "at once)", vg_mem_human(largest, a, sizeof a), vg_mem_human(peak, b, sizeof b),
                   jobs, concurrent);
        else
            printf("estimated memory: %s for the largest run, at -j 1 the peak",
                   vg_mem_human(largest, a, sizeof a));
        if (budget > 0)
            printf("; budget %s (%s)%s", vg_mem_human((double)budget, c, sizeof c), budget_from,
                   largest > (double)budget ? ""
                   : peak > (double)budget  ? ": fewer runs will go at once"
                                            : "");
        printf("\n");
        for (int64_t i = 0; budget > 0 && i < n_runs; i++)
            if (run_mem[i] > budget)
                printf("warning: run %s needs about %s, more than the memory budget: a real run "
                       "would be refused\n", runs[i].id, vg_mem_human((double)run_mem[i], a, sizeof a));
        printf("estimated compute: %s, about %s on %d thread%s (assuming %.0f GFLOP/s per "
               "thread: a rough figure, not a measurement)\n",
               vg__human(est_flops, "FLOP", a, sizeof a),
               vg__human_time(est_flops / (VG_ASSUMED_GFLOPS_PER_THREAD * 1e9 * concurrent), b, sizeof b),
               jobs, jobs == 1 ? "" : "s", VG_ASSUMED_GFLOPS_PER_THREAD);
        double free_bytes = vg__free_bytes(output);
        if (vg_data_shared_count() > 0)
            printf("data: %d shared set%s in memory, %s, counted once (each shared read-only by "
                   "the runs with the same data settings)\n",
                   vg_data_shared_count(), vg_data_shared_count() == 1 ? "" : "s",
                   vg__human(vg_data_shared_bytes(), "B", a, sizeof a));
        printf("estimated output: %s -> %s", vg__human(est_bytes, "B", a, sizeof a), output);
        if (free_bytes >= 0) printf(" (%s free there)", vg__human(free_bytes, "B", c, sizeof c));
        printf("\n");
        if (free_bytes >= 0 && est_bytes > free_bytes)
            printf("warning: the estimated output exceeds the free disk space; a real run would "
                   "be refused without --force\n");
        goto out;
    }

    double free_bytes = vg__free_bytes(output);
    /* a resume continues runs whose parts are already on this disk: no refusal there */
    if (!cli.force && !cli.resume && free_bytes >= 0 && est_bytes > free_bytes) {
        char a[64], b[64];
        vg_error_set(&err, VG_EUSAGE,
                     "%s: the estimated output (%s) exceeds the free disk space (%s); free some "
                     "space, select fewer runs with --only, or pass --force",
                     output, vg__human(est_bytes, "B", a, sizeof a),
                     vg__human(free_bytes, "B", b, sizeof b));
        goto fail;
    }
    command_line = vg__join_args(argc, argv);
    if (!command_line) {
        vg_error_set(&err, VG_ENOMEM, "out of memory");
        goto fail;
    }
    const char *inputs[64];
    int n_inputs = vg_sweep_file_count(sweep);
    if (n_inputs > 64) n_inputs = 64; /* extends: chains are at most 17 files */
    for (int i = 0; i < n_inputs; i++) inputs[i] = vg_sweep_file_path(sweep, i);
    char resume_command[4096];
    vg__resume_command(argc, argv, first, resume_command, sizeof resume_command);
    snprintf(vg__bye, sizeof vg__bye,
             "\nvgsweep: second signal: exiting at once; the finished runs are kept in %s.parts; "
             "resume with: %s\n", output, resume_command);
    vg__bye_len = strlen(vg__bye);
    snprintf(vg__closing_note, sizeof vg__closing_note,
             "\nvgsweep: the runs are over; finishing %s (a second signal exits at once: the "
             "finished runs stay in %s.parts for --resume)\n", output, output);
    vg__closing_len = strlen(vg__closing_note);
    vg_sweep_info info = {.sweep_file = cli.sweep_path,
                          .sweep_name = vg_sweep_name(sweep),
                          .sweep_text = vg_sweep_text(sweep),
                          .sweep_seed = vg_sweep_seed(sweep),
                          .n_runs = n_runs,
                          .command_line = command_line,
                          .runs = runs,
                          .varying = varying,
                          .n_varying = n_varying,
                          .index_columns = vg_train_index_columns,
                          .n_index_columns = vg_train_n_index_columns,
                          .libraries = vg__library_versions(),
                          .prune = cli.prune,
                          .inputs = inputs,
                          .n_inputs = n_inputs,
                          .mode = cli.force    ? VG_RECORD_FORCE
                                  : cli.resume ? VG_RECORD_RESUME
                                               : VG_RECORD_NEW};
    /* the budget binds when the -j largest runs together exceed it; else runs need not wait */
    double largest_mem, peak_mem = vg__peak_memory(run_mem, n_runs, concurrent, &largest_mem);
    /* OpenMP aborts when it cannot start its threads: -j is checked against the limits first */
    if (vg_threads_check(jobs, &err) != VG_OK) goto fail;
    /* From here a first signal stops the sweep cleanly (the scheduler sees it at its start if
     * it came while the recorder was being set up). */
    atomic_signal_fence(memory_order_seq_cst); /* the handler sees vg__bye written first */
    vg__phase = VG__STOP_SWEEP;
    /* Refuses an existing output or parts unless --force or --resume; keeps finished runs. */
    if (vg_recorder_create(output, &info, &rec, &err) != VG_OK) goto fail;
    vg_record_stats rstats;
    vg_recorder_stats(rec, &rstats);
    if (cli.resume) vg__report_resume(&rstats, output);

    double status_every = 60; /* seconds between the log's status lines */
    if (!cli.quiet) {
        fprintf(stderr, "vgsweep: %s: %lld run%s on %d thread%s -> %s\n", cli.sweep_path,
                (long long)n_runs, n_runs == 1 ? "" : "s", jobs, jobs == 1 ? "" : "s", output);
        if (budget > 0 && peak_mem > (double)budget) {
            char a[32], b[32];
            fprintf(stderr, "vgsweep: the %d largest runs need %s at once, more than the %s "
                    "allowed (%s): runs wait for memory\n", concurrent,
                    vg_mem_human(peak_mem, a, sizeof a), vg_mem_human((double)budget, b, sizeof b),
                    budget_from);
        }
        /* Live on a terminal; lines (one per run, a status line every minute) in a log. */
        const char *term = getenv("TERM");
        int live = isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
        const char *every = getenv("VGSWEEP_STATUS_EVERY");
        status_every = every && atof(every) > 0 ? atof(every) : 60;
        progress = vg_progress_new(stderr, live ? VG_PROGRESS_LIVE : VG_PROGRESS_LINES, varying,
                                   n_varying, status_every);
    }
    /* 4 redraws a second on a terminal; once a second is enough for the log's status line */
    vg_sched_options opt = {.n_threads = jobs,
                            .progress = progress ? vg_progress_report : NULL,
                            .progress_ctx = progress,
                            .tick_seconds = !progress               ? 0
                                            : isatty(STDERR_FILENO) ? 0.25
                                                                    : fmin(1.0, status_every / 2),
                            .stop = &vg__stop,
                            .mem_budget = peak_mem > (double)budget ? budget : 0,
                            .run_bytes = run_mem};
    /* hidden, for tests/test_help.py and bench/help_bench.py: each thread's share of the work */
    int debug_help = getenv("VGSWEEP_DEBUG_HELP") != NULL;
    if (debug_help) {
        opt.thread_cpu_seconds = calloc((size_t)jobs, sizeof *opt.thread_cpu_seconds);
        opt.thread_helped = calloc((size_t)jobs, sizeof *opt.thread_helped);
    }
    vg_sched_summary summary;
    vg_status st = vg_sched_run(runs, n_runs, rec, &opt, &summary, &err);
    if (debug_help) {
        for (int t = 0; opt.thread_cpu_seconds && opt.thread_helped && t < jobs; t++)
            fprintf(stderr, "vgsweep: thread %d: %.3f s CPU, helped %lld blocks\n", t,
                    opt.thread_cpu_seconds[t], (long long)opt.thread_helped[t]);
        fprintf(stderr, "vgsweep: helpers ran %lld blocks\n", (long long)summary.helped_blocks);
        free(opt.thread_cpu_seconds), free(opt.thread_helped);
    }
    vg_progress_end(progress);
    progress = NULL;
    vg__phase = VG__CLOSING;
    if (st == VG_OK && summary.n_not_run > 0 && vg__signal) {
        /* Stopped: the finished runs are in the parts, durable once the recorder's committer
         * is done (abort waits for it); no partial output is assembled. */
        vg_recorder_abort(rec);
        rec = NULL;
        vg__print_summary(&summary, rstats.n_kept, n_runs, vg__seconds() - t_start, output, 0);
        fprintf(stderr, "vgsweep: interrupted by %s; resume with: %s\n",
                vg__signal_name(vg__signal), resume_command);
        exit_code = 128 + vg__signal;
        goto out;
    }
    /* Assembles the output when every run is recorded; otherwise keeps the parts and says so. */
    vg_error close_err;
    vg_error_clear(&close_err);
    vg_status cst = vg_recorder_close(rec, &close_err);
    rec = NULL;
    vg__print_summary(&summary, rstats.n_kept, n_runs, vg__seconds() - t_start, output,
                      cst == VG_OK); /* the output was assembled, even if a run failed */
    if (st != VG_OK && cst != VG_OK) {
        fprintf(stderr, "vgsweep: %s\n", err.message); /* what stopped the sweep */
        err = close_err;                                 /* and what was kept */
    } else if (cst != VG_OK) {
        st = cst, err = close_err;
    }
    if (st != VG_OK) goto fail;
    goto out;

fail:
    fprintf(stderr, "vgsweep: %s\n", err.message);
    exit_code = vg_status_exit_code(err.code) == 2 ? VG_EXIT_USAGE : VG_EXIT_RUNTIME;
    if (rec) vg_recorder_abort(rec);
out:
    free(run_mem);
    free(command_line);
    free(runs);
    vg_run_filter_free(filter);
    vg_sweep_free(sweep);
    vg_data_registry_free();
    return exit_code;
}

/* vgsweep report ...: src/cli/report_cmd.c. */
static int vg__cmd_report(int argc, char **argv, int first) {
    return vg_cli_report(argc - first + 1, argv + first - 1);
}

static int vg__cmd_help(int argc, char **argv, int first);

/* The commands: name, main (argv whole, the command's arguments from argv[first]). */
typedef struct vg__command {
    const char *name;
    int (*main)(int argc, char **argv, int first);
} vg__command;

static const vg__command vg__commands[] = {
    {"run", vg__cmd_run},
    {"report", vg__cmd_report},
    {"help", vg__cmd_help},
};
#define VG__N_COMMANDS (sizeof vg__commands / sizeof vg__commands[0])

/* Edits (insertions, deletions, substitutions, swaps of neighbours) from a to b, for the
 * did-you-mean of an unknown command; words of up to 31 letters. */
static int vg__edits(const char *a, const char *b) {
    size_t m = strlen(a), n = strlen(b);
    if (m > 31 || n > 31) return 99;
    int d[32][32];
    for (size_t i = 0; i <= m; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= n; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= m; i++)
        for (size_t j = 1; j <= n; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[m][n];
}

static const vg__command *vg__find_command(const char *name) {
    for (size_t i = 0; i < VG__N_COMMANDS; i++)
        if (!strcmp(vg__commands[i].name, name)) return &vg__commands[i];
    return NULL;
}

/* Exit 2 for a word that is no command, with the closest command when one is near (and, for
 * the first word, how to name a sweep file that has no dot). */
static int vg__unknown_command(const char *word, int maybe_file) {
    const char *best = NULL;
    int best_d = 3; /* at most 2 edits, and fewer than the word's length */
    for (size_t i = 0; i < VG__N_COMMANDS; i++) {
        int d = vg__edits(word, vg__commands[i].name);
        if (d < best_d && d < (int)strlen(word)) best = vg__commands[i].name, best_d = d;
    }
    fprintf(stderr, "vgsweep: unknown command \"%s\"", word);
    if (best) fprintf(stderr, "; did you mean \"%s\"?", best);
    if (maybe_file) fprintf(stderr, "\n(a sweep file named so: vgsweep ./%s)", word);
    fprintf(stderr, "\nTry 'vgsweep --help'.\n");
    return VG_EXIT_USAGE;
}

/* vgsweep help [COMMAND]: the program's help, or the command's (its --help). */
static int vg__cmd_help(int argc, char **argv, int first) {
    if (argc - first > 1) {
        fprintf(stderr, "vgsweep: help takes one command, got also \"%s\"\nTry 'vgsweep --help'.\n",
                argv[first + 1]);
        return VG_EXIT_USAGE;
    }
    if (argc == first) {
        fputs(vg__usage, stdout);
        return VG_EXIT_OK;
    }
    const vg__command *c = vg__find_command(argv[first]);
    if (!c) return vg__unknown_command(argv[first], 0);
    if (c->main == vg__cmd_help) {
        fputs(vg__usage, stdout);
        return VG_EXIT_OK;
    }
    char *help_argv[] = {argv[0], argv[first], "--help", NULL};
    return c->main(3, help_argv, 2);
}

/* vgsweep COMMAND ..., or vgsweep [options] SWEEP.yaml (run). A first word that is no
 * command is a sweep file when it looks like a path (a '/' or a '.') or names a file, else an
 * unknown command. */
int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') return vg__cmd_run(argc, argv, 1);
    const vg__command *c = vg__find_command(argv[1]);
    if (c) return c->main(argc, argv, 2);
    if (strchr(argv[1], '/') || strchr(argv[1], '.') || access(argv[1], F_OK) == 0)
        return vg__cmd_run(argc, argv, 1);
    return vg__unknown_command(argv[1], 1);
}
