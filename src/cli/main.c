/* vgsweep: the command line. The only place that prints errors and chooses exit codes:
 * 0 success, 1 a run-time failure, 2 a usage or sweep-file error. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vgsweep/build_info.h"
#include "vgsweep/config.h"
#include "vgsweep/error.h"
#include "vgsweep/record.h"
#include "vgsweep/sched.h"
#include "vgsweep/settings.h"

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
    "      --force         overwrite an existing output file\n"
    "  -n, --dry-run       validate the sweep and list its runs; train nothing\n"
    "      --list-settings print every setting with its type, bounds, default and help\n"
    "  -q, --quiet         no per-run progress lines\n"
    "  -h, --help          this help\n"
    "  -V, --version       program version\n"
    "\n"
    "exit status: 0 success, 1 a run-time failure, 2 a usage or sweep-file error\n";

typedef struct vg__cli {
    const char *sweep_path;
    const char *output; /* NULL: the default */
    int jobs;           /* 0: the default */
    int force, dry_run, quiet, list_settings;
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
        {"list-settings", no_argument, NULL, 'L'}, {"quiet", no_argument, NULL, 'q'},
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
        case 'n': cli->dry_run = 1; break;
        case 'L': cli->list_settings = 1; break;
        case 'q': cli->quiet = 1; break;
        case 'h': fputs(vg__usage, stdout); return VG_EXIT_OK;
        case 'V': printf("vgsweep %s (git %s, %s)\n", VG_VERSION, VG_GIT_REVISION, VG_C_COMPILER); return VG_EXIT_OK;
        case ':': return vg__usage_error("option %s needs a value", argv[optind - 1]);
        default: return vg__usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (cli->list_settings) return -1;
    if (optind >= argc) return vg__usage_error("%s", "no sweep file given");
    if (optind + 1 < argc) return vg__usage_error("one sweep file expected, got also \"%s\"", argv[optind + 1]);
    cli->sweep_path = argv[optind];
    return -1;
}

static void vg__list_settings(void) {
    for (int i = 0; i < VG_SETTING_COUNT; i++) {
        const vg_setting *s = &vg_settings[i];
        char kind[256];
        switch (s->type) {
        case VG_TYPE_INT:
            snprintf(kind, sizeof kind, "integer in [%.0f, %.0f]", s->lo, s->hi);
            break;
        case VG_TYPE_REAL:
            if (s->hi >= VG_INF)
                snprintf(kind, sizeof kind, "number %s %g", s->bound_flags & VG_LO_OPEN ? ">" : ">=", s->lo);
            else
                snprintf(kind, sizeof kind, "number in %c%g, %g%c", s->bound_flags & VG_LO_OPEN ? '(' : '[',
                         s->lo, s->hi, s->bound_flags & VG_HI_OPEN ? ')' : ']');
            break;
        case VG_TYPE_BOOL: snprintf(kind, sizeof kind, "true or false"); break;
        case VG_TYPE_ENUM: {
            size_t used = 0;
            kind[0] = '\0';
            for (int k = 0; s->choices[k] && used < sizeof kind; k++) {
                int n = snprintf(kind + used, sizeof kind - used, "%s%s", k ? " | " : "", s->choices[k]);
                if (n > 0) used += (size_t)n;
            }
            break;
        }
        }
        printf("%-20s %s (default %s)\n%20s %s\n", s->path, kind, s->default_text, "", s->help);
    }
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
    vg__cli cli;
    int rc = vg__parse_args(argc, argv, &cli);
    if (rc >= 0) return rc;
    if (cli.list_settings) {
        vg__list_settings();
        return VG_EXIT_OK;
    }

    vg_error err;
    vg_error_clear(&err);
    vg_sweep *sweep = NULL;
    vg_run_config *runs = NULL;
    int64_t n_runs = 0;
    vg_recorder *rec = NULL;
    int exit_code = VG_EXIT_OK;

    if (vg_sweep_load(cli.sweep_path, &sweep, &err) != VG_OK ||
        vg_sweep_expand(sweep, &runs, &n_runs, &err) != VG_OK)
        goto fail;
    int varying[VG_SETTING_COUNT];
    int n_varying = vg_sweep_varying(sweep, varying);

    if (cli.dry_run) {
        vg__print_runs(runs, n_runs, varying, n_varying);
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
    if (!cli.force && access(output, F_OK) == 0) {
        vg_error_set(&err, VG_EUSAGE, "%s: already exists; pass --force to overwrite it", output);
        goto fail;
    }

    char command_line[4096];
    vg__join_args(argc, argv, command_line, sizeof command_line);
    vg_sweep_info info = {.sweep_file = cli.sweep_path,
                          .sweep_name = vg_sweep_name(sweep),
                          .sweep_text = vg_sweep_text(sweep),
                          .sweep_seed = vg_sweep_seed(sweep),
                          .n_runs = n_runs,
                          .command_line = command_line};
    if (vg_recorder_create(output, &info, &rec, &err) != VG_OK) goto fail;

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
    vg_error close_err;
    vg_status cst = vg_recorder_close(rec, &close_err);
    rec = NULL;
    if (cst != VG_OK && st == VG_OK) st = cst, err = close_err;
    if (!cli.quiet || st != VG_OK)
        fprintf(stderr, "vgsweep: %lld ok, %lld diverged, %lld failed in %.1fs -> %s\n",
                (long long)summary.n_ok, (long long)summary.n_diverged, (long long)summary.n_failed,
                summary.wall_seconds, output);
    if (st != VG_OK) goto fail;
    goto out;

fail:
    fprintf(stderr, "vgsweep: %s\n", err.message);
    exit_code = vg_status_exit_code(err.code) == 2 ? VG_EXIT_USAGE : VG_EXIT_RUNTIME;
    if (rec) vg_recorder_abort(rec);
out:
    free(runs);
    vg_sweep_free(sweep);
    return exit_code;
}
