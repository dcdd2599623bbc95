/* vgsweep: the command line. The only place that prints errors and chooses exit codes:
 * 0 success, 1 a run-time failure, 2 a usage or sweep-file error. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <yaml.h>

#include "vgsweep/build_info.h"
#include "vgsweep/config.h"
#include "vgsweep/data.h"
#include "vgsweep/error.h"
#include "vgsweep/record.h"
#include "vgsweep/sched.h"
#include "vgsweep/settings.h"
#include "vgsweep/train.h"

#define VG_EXIT_OK 0
#define VG_EXIT_RUNTIME 1
#define VG_EXIT_USAGE 2

static const char vg__usage[] =
    "usage: vgsweep [options] SWEEP.yaml\n"
    "\n"
    "Trains every configuration of a sweep file and records per-layer, per-epoch gradients\n"
    "to one HDF5 file.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   output file (default: results/<sweep file's base name>.h5)\n"
    "  -j, --jobs N        worker threads (default: OMP_NUM_THREADS, else all cores)\n"
    "      --force         overwrite an existing output file (and its unfinished parts);\n"
    "                      run a sweep of over 100,000 runs or larger than the free disk\n"
    "      --resume        continue an interrupted sweep, or extend a finished one: runs\n"
    "                      already recorded (same id) are kept, the others are run\n"
    "  -n, --dry-run       validate the sweep and list its runs with estimates of compute\n"
    "                      and output size; train nothing\n"
    "      --only FILTER   only the runs that meet every condition, e.g.\n"
    "                      'model.activation=relu|tanh,model.depth>=10' (=, !=, >=, <=, >, <)\n"
    "      --list-settings[=markdown]\n"
    "                      print every setting with its type, bounds, default and help\n"
    "  -q, --quiet         no per-run progress lines\n"
    "  -h, --help          this help\n"
    "  -V, --version       program version\n"
    "\n"
    "exit status: 0 success, 1 a run-time failure, 2 a usage or sweep-file error\n";

typedef struct vg__cli {
    const char *sweep_path;
    const char *output; /* NULL: the default */
    int jobs;           /* 0: the default */
    int force, resume, dry_run, quiet, list_settings;
    int list_markdown; /* --list-settings=markdown: the table of docs/SWEEP-FORMAT.md */
    const char *only;  /* --only FILTER, or NULL */
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
static int vg__parse_args(int argc, char **argv, vg__cli *cli) {
    static const struct option long_opts[] = {
        {"output", required_argument, NULL, 'o'}, {"jobs", required_argument, NULL, 'j'},
        {"force", no_argument, NULL, 'F'},        {"dry-run", no_argument, NULL, 'n'},
        {"resume", no_argument, NULL, 'R'},
        {"list-settings", optional_argument, NULL, 'L'},
        {"only", required_argument, NULL, 'O'}, {"quiet", no_argument, NULL, 'q'},
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
        case 'n': cli->dry_run = 1; break;
        case 'L':
            cli->list_settings = 1;
            if (optarg && strcmp(optarg, "markdown") != 0)
                return vg__usage_error("--list-settings takes no value or =markdown, got \"%s\"", optarg);
            cli->list_markdown = optarg != NULL;
            break;
        case 'O': cli->only = optarg; break;
        case 'q': cli->quiet = 1; break;
        case 'h': fputs(vg__usage, stdout); return VG_EXIT_OK;
        case 'V': printf("vgsweep %s (git %s, %s)\n", VG_VERSION, VG_GIT_REVISION, VG_C_COMPILER); return VG_EXIT_OK;
        case ':': return vg__usage_error("option %s needs a value", argv[optind - 1]);
        default: return vg__usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (cli->force && cli->resume) return vg__usage_error("%s", "--force and --resume exclude each other");
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
 * estimates on each run's planned layout. */
static vg_status vg__estimate(const vg_run_config *runs, int64_t n, double *flops, double *bytes,
                              vg_error *err) {
    *flops = 0;
    *bytes = 0;
    for (int64_t i = 0; i < n; i++) {
        vg_run_result plan;
        if (vg_run_result_init(&plan, &runs[i], err) != VG_OK) return err->code;
        *flops += vg_train_estimate_flops(&runs[i]);
        *bytes += (double)vg_record_estimate_bytes(&runs[i], &plan);
        vg_run_result_free(&plan);
    }
    return VG_OK;
}

/* Free bytes on the file system that will hold path (its directory, or "." if that does not
 * exist yet); -1 if unknown. */
static double vg__free_bytes(const char *path) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    struct statvfs fs;
    if (statvfs(dir[0] ? dir : "/", &fs) != 0 && statvfs(".", &fs) != 0) return -1;
    return (double)fs.f_bavail * (double)fs.f_frsize;
}

/* results/<base name without extension>.h5 */
static void vg__default_output(const char *sweep_path, char *buf, size_t size) {
    const char *base = strrchr(sweep_path, '/');
    base = base ? base + 1 : sweep_path;
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    snprintf(buf, size, "results/%.*s.h5", len, base);
}

static void vg__join_args(int argc, char **argv, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < argc && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? " " : "", argv[i]);
        if (n > 0) used += (size_t)n;
    }
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

/* One line on what --resume found: kept, dropped, to run. */
static void vg__report_resume(const vg_recorder *rec, const char *output) {
    vg_record_stats rs;
    vg_recorder_stats(rec, &rs);
    if (!rs.resumed) {
        fprintf(stderr, "vgsweep: --resume: nothing recorded yet for %s; starting the sweep\n", output);
        return;
    }
    fprintf(stderr, "vgsweep: resuming %s: %lld of %lld runs already recorded and kept, %lld to run",
            output, (long long)rs.n_reused, (long long)rs.n_runs, (long long)(rs.n_runs - rs.n_reused));
    if (rs.n_dropped)
        fprintf(stderr, "; %lld recorded run%s no longer in the sweep dropped", (long long)rs.n_dropped,
                rs.n_dropped == 1 ? "" : "s");
    if (rs.n_broken)
        fprintf(stderr, "; %lld unreadable part file%s run again", (long long)rs.n_broken,
                rs.n_broken == 1 ? "" : "s");
    fprintf(stderr, "\n");
}

static void vg__print_runs(const vg_run_config *runs, int64_t n, const int *varying, int n_varying) {
    for (int64_t i = 0; i < n; i++) {
        printf("%s", runs[i].id);
        for (int v = 0; v < n_varying; v++) {
            char value[64];
            vg_setting_format(varying[v], &runs[i], value, sizeof value);
            printf(" %s=%s", vg_settings[varying[v]].path, value);
        }
        if (runs[i].repeat) printf(" repeat=%d", runs[i].repeat);
        printf("\n");
    }
    printf("%lld run%s\n", (long long)n, n == 1 ? "" : "s");
}

int main(int argc, char **argv) {
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
    vg__cli cli;
    int rc = vg__parse_args(argc, argv, &cli);
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
    int exit_code = VG_EXIT_OK;
    vg_run_filter *filter = NULL;
    vg_sweep_counts counts = {0};
    double est_flops = 0, est_bytes = 0;

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
    if (vg__estimate(runs, n_runs, &est_flops, &est_bytes, &err) != VG_OK) goto fail;
    {   /* the file's own part: attributes, the sweep text, /index */
        vg_sweep_info sizing = {.sweep_text = vg_sweep_text(sweep), .n_runs = n_runs};
        est_bytes += (double)vg_record_estimate_sweep_bytes(&sizing);
    }

    if (cli.dry_run) {
        char output[PATH_MAX], a[64], b[64], c[64];
        if (cli.output)
            snprintf(output, sizeof output, "%s", cli.output);
        else
            vg__default_output(cli.sweep_path, output, sizeof output);
        vg__print_runs(runs, n_runs, varying, n_varying);
        printf("  from %lld grid configuration%s", (long long)counts.grid, counts.grid == 1 ? "" : "s");
        if (counts.excluded) printf(", %lld excluded", (long long)counts.excluded);
        if (counts.included) printf(", %lld included", (long long)counts.included);
        if (counts.duplicates) printf(" (%lld already in the grid)", (long long)counts.duplicates);
        if (vg_sweep_repeats(sweep) > 1) printf(", %d repeats each", vg_sweep_repeats(sweep));
        if (filter) printf("; --only dropped %lld run%s", (long long)counts.filtered, counts.filtered == 1 ? "" : "s");
        printf("\n");
        int jobs = cli.jobs > 0 ? cli.jobs : omp_get_max_threads();
        if (jobs > n_runs) jobs = n_runs > 0 ? (int)n_runs : 1;
        printf("estimated compute: %s, about %s on %d thread%s (assuming %.0f GFLOP/s per "
               "thread: a rough figure, not a measurement)\n",
               vg__human(est_flops, "FLOP", a, sizeof a),
               vg__human_time(est_flops / (VG_ASSUMED_GFLOPS_PER_THREAD * 1e9 * jobs), b, sizeof b),
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

    char output[PATH_MAX];
    if (cli.output) {
        snprintf(output, sizeof output, "%s", cli.output);
    } else {
        vg__default_output(cli.sweep_path, output, sizeof output);
        if (mkdir("results", 0777) != 0 && errno != EEXIST) {
            vg_error_set(&err, VG_EIO, "results: cannot create the output directory: %s", strerror(errno));
            goto fail;
        }
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
    char command_line[4096];
    vg__join_args(argc, argv, command_line, sizeof command_line);
    vg_sweep_info info = {.sweep_file = cli.sweep_path,
                          .sweep_name = vg_sweep_name(sweep),
                          .sweep_text = vg_sweep_text(sweep),
                          .sweep_seed = vg_sweep_seed(sweep),
                          .n_runs = n_runs,
                          .command_line = command_line,
                          .runs = runs,
                          .varying = varying,
                          .n_varying = n_varying,
                          .libraries = vg__library_versions(),
                          .mode = cli.force    ? VG_RECORD_FORCE
                                  : cli.resume ? VG_RECORD_RESUME
                                               : VG_RECORD_NEW};
    /* Refuses an existing output or parts unless --force or --resume; keeps finished runs. */
    if (vg_recorder_create(output, &info, &rec, &err) != VG_OK) goto fail;
    if (cli.resume) vg__report_resume(rec, output);

    int jobs = cli.jobs > 0 ? cli.jobs : omp_get_max_threads();
    if (jobs > n_runs) jobs = n_runs > 0 ? (int)n_runs : 1;
    if (!cli.quiet)
        fprintf(stderr, "vgsweep: %s: %lld run%s on %d thread%s -> %s\n", cli.sweep_path,
                (long long)n_runs, n_runs == 1 ? "" : "s", jobs, jobs == 1 ? "" : "s", output);
    vg_sched_options opt = {.n_threads = jobs,
                            .progress = cli.quiet ? NULL : stderr,
                            .varying = varying,
                            .n_varying = n_varying};
    vg_sched_summary summary;
    vg_status st = vg_sched_run(runs, n_runs, rec, &opt, &summary, &err);
    /* Assembles the output when every run is recorded; otherwise keeps the parts and says so. */
    vg_error close_err;
    vg_error_clear(&close_err);
    vg_status cst = vg_recorder_close(rec, &close_err);
    rec = NULL;
    if (!cli.quiet || st != VG_OK || cst != VG_OK)
        fprintf(stderr, "vgsweep: %lld ok, %lld diverged, %lld failed in %.1fs -> %s\n",
                (long long)summary.n_ok, (long long)summary.n_diverged, (long long)summary.n_failed,
                summary.wall_seconds, output);
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
    free(runs);
    vg_run_filter_free(filter);
    vg_sweep_free(sweep);
    vg_data_registry_free();
    return exit_code;
}
