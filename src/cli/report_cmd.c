/* `vgsweep report OUT.h5`: the diagnosis of every run of a record (docs/REPORT.md). */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

#include "report_cmd.h"
#include "vgsweep/config.h"
#include "vgsweep/reader.h"
#include "vgsweep/report.h"
#include "vgsweep/theory.h"

static const char vg__report_usage[] =
    "usage: vgsweep report [options] OUT.h5\n"
    "\n"
    "One row per run of a record (a finished output, or OUT.h5.tmp of a sweep still running or\n"
    "interrupted): the settings that vary, final losses and accuracies with chance level, the\n"
    "attenuation of the gradient at initialization and at the end, the mean-field prediction,\n"
    "and a diagnosis (vanishing, exploding, diverged, dead, saturated, stalled, healthy) with\n"
    "the evidence that decided it. The file is opened read-only. Thresholds: docs/REPORT.md.\n"
    "\n"
    "options:\n"
    "  -f, --format F      table (default), csv, json or markdown\n"
    "  -w, --where FILTER  only the runs meeting every condition (the syntax of --only), e.g.\n"
    "                      'model.activation=relu|tanh,model.depth>=10'\n"
    "  -s, --sort KEY      sort by a column (-KEY: descending), e.g. -log10_delta_init\n"
    "  -p, --pivot A,B     the diagnoses over two columns, e.g. model.depth,model.activation\n"
    "                      (aggregated over repeats and the other settings)\n"
    "      --vanish D      vanishing: log10(delta_rms first/last layer) <= -D (default 2)\n"
    "      --explode D     exploding: log10(delta_rms first/last layer) >= D (default 2)\n"
    "      --dead F        dead: mean fraction of dead units >= F (default 0.5)\n"
    "      --saturated F   saturated: mean fraction of saturated units >= F (default 0.5)\n"
    "      --stall-chance F  stalled: final loss >= F x the chance-level loss (default 0.9)\n"
    "      --stall-move F  stalled: probe loss fell by less than F, relative (default 0.02)\n"
    "      --critical-tol T  phase critical when |chi* - 1| <= T (default 0.05)\n"
    "  -h, --help          this help\n"
    "\n"
    "exit status: 0 success, 1 a run-time failure, 2 a usage error or a bad input file\n";

static int vg__report_usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vgsweep report: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'vgsweep report --help'.\n");
    return 2;
}

static int vg__parse_real(const char *text, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

static void vg__json_str(char *buf, size_t size, const char *s) {
    size_t used = 0;
    for (; *s && used + 8 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') used += (size_t)snprintf(buf + used, size - used, "\\%c", ch);
        else if (ch < 0x20) used += (size_t)snprintf(buf + used, size - used, "\\u%04x", ch);
        else buf[used++] = (char)ch;
    }
    buf[used] = '\0';
}

static int vg__report_run(const char *path, vg_format fmt, const char *where, const char *sort,
                          const char *pivot, const vg_report_thresholds *thp);

int vg_cli_report(int argc, char **argv) {
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},   {"where", required_argument, NULL, 'w'},
        {"sort", required_argument, NULL, 's'},     {"pivot", required_argument, NULL, 'p'},
        {"vanish", required_argument, NULL, 1},     {"explode", required_argument, NULL, 2},
        {"dead", required_argument, NULL, 3},       {"saturated", required_argument, NULL, 4},
        {"stall-chance", required_argument, NULL, 5}, {"stall-move", required_argument, NULL, 6},
        {"critical-tol", required_argument, NULL, 7}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    vg_report_thresholds th;
    vg_report_thresholds_default(&th);
    vg_format fmt = VG_FORMAT_TABLE;
    const char *where = NULL, *sort = NULL, *pivot = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":f:w:s:p:h", opts, NULL)) != -1) {
        double *target = NULL, lo = 0, hi = 1;
        switch (c) {
        case 'f':
            if (!strcmp(optarg, "table")) fmt = VG_FORMAT_TABLE;
            else if (!strcmp(optarg, "csv")) fmt = VG_FORMAT_CSV;
            else if (!strcmp(optarg, "json")) fmt = VG_FORMAT_JSON;
            else if (!strcmp(optarg, "markdown")) fmt = VG_FORMAT_MARKDOWN;
            else return vg__report_usage_error("--format: expected table, csv, json or markdown, got \"%s\"", optarg);
            break;
        case 'w': where = optarg; break;
        case 's': sort = optarg; break;
        case 'p': pivot = optarg; break;
        case 1: target = &th.vanish_decades, lo = 0, hi = 1000; break;
        case 2: target = &th.explode_decades, lo = 0, hi = 1000; break;
        case 3: target = &th.dead_fraction; break;
        case 4: target = &th.saturated_fraction; break;
        case 5: target = &th.stall_chance, hi = 10; break;
        case 6: target = &th.stall_move; break;
        case 7: target = &th.critical_tol; break;
        case 'h': fputs(vg__report_usage, stdout); return 0;
        case ':': return vg__report_usage_error("option %s needs a value", argv[optind - 1]);
        default: return vg__report_usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
        if (target && !vg__parse_real(optarg, lo, hi, target)) {
            char msg[160];
            snprintf(msg, sizeof msg, "--%s: expected a number in [%g, %g], got \"%%s\"", opts[c + 3].name, lo, hi);
            return vg__report_usage_error(msg, optarg);
        }
    }
    if (optind >= argc) return vg__report_usage_error("%s", "no record given (vgsweep report OUT.h5)");
    if (optind + 1 < argc) return vg__report_usage_error("one record expected, got also \"%s\"", argv[optind + 1]);
    const char *path = argv[optind];
    /* HDF5 1.10 itself can crash on some damaged files (a corrupt global heap makes H5HG_read
     * copy past its buffer): the record is read in a child process, so that a crash inside the
     * library becomes a one-line error (exit 2) instead of taking the command down. */
    fflush(stdout);
    fflush(stderr);
    int fds[2];
    pid_t pid = pipe(fds) == 0 ? fork() : -1;
    /* Some damaged files make HDF5 loop for ever instead: the child gets a CPU-time limit far
     * above what reading a record takes (it reads no tensors: ~1 s of CPU for 1,000 runs),
     * 30 s plus 1 s per 10 MB of file. */
    struct stat sb;
    double cpu_limit = 30 + (stat(path, &sb) == 0 ? (double)sb.st_size / 10e6 : 0);
    if (pid == 0) { /* the child's messages go through the parent: none of a crash's noise */
        struct rlimit rl = {.rlim_cur = (rlim_t)cpu_limit, .rlim_max = (rlim_t)cpu_limit + 5};
        setrlimit(RLIMIT_CPU, &rl);
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        int rc = vg__report_run(path, fmt, where, sort, pivot, &th);
        exit(rc); /* flushes; a sanitizer build checks the child for leaks too */
    }
    if (pid < 0) return vg__report_run(path, fmt, where, sort, pivot, &th);
    close(fds[1]);
    char *msg = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (len + (size_t)n > cap) {
            size_t c2 = 2 * (len + (size_t)n);
            char *p = realloc(msg, c2);
            if (!p) continue; /* drop what does not fit */
            msg = p, cap = c2;
        }
        memcpy(msg + len, buf, (size_t)n);
        len += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "vgsweep report: waitpid: %s\n", strerror(errno));
            free(msg);
            return 1;
        }
    if (WIFEXITED(status)) {
        if (len) fwrite(msg, 1, len, stderr);
        free(msg);
        return WEXITSTATUS(status);
    }
    free(msg);
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL))
        fprintf(stderr, "vgsweep report: %s: damaged file: reading it did not end within %.0f s of "
                "CPU (the HDF5 library loops on it)\n", path, cpu_limit);
    else
        fprintf(stderr, "vgsweep report: %s: damaged file: the HDF5 library crashed reading it "
                "(signal %d)\n", path, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 2;
}

static int vg__report_run(const char *path, vg_format fmt, const char *where, const char *sort,
                          const char *pivot, const vg_report_thresholds *thp) {
    vg_report_thresholds th = *thp;

    vg_error err;
    vg_error_clear(&err);
    vg_run_filter *filter = NULL;
    vg_reader *reader = NULL;
    vg_report rep;
    memset(&rep, 0, sizeof rep);
    vg_table table, piv;
    memset(&table, 0, sizeof table);
    memset(&piv, 0, sizeof piv);
    int code = 0;
    if (where && vg_run_filter_parse(where, &filter, &err) != VG_OK) {
        vg_error_prefix(&err, "--where");
        goto fail;
    }
    if (vg_reader_open(path, &reader, &err) != VG_OK) goto fail;
    if (vg_report_build(reader, filter, &th, &rep, &err) != VG_OK) goto fail;
    if (vg_report_table(&rep, &table, &err) != VG_OK) goto fail;
    if (sort && vg_table_sort(&table, sort, &err) != VG_OK) goto fail;
    if (pivot && vg_report_pivot(&rep, &table, pivot, &piv, &err) != VG_OK) goto fail;

    const vg_record_info *info = vg_reader_info(reader);
    if (info->interrupted)
        fprintf(stderr, "vgsweep report: %s: an output still being assembled (sweep running or "
                        "interrupted): its %lld finished run%s; the runs only in the parts "
                        "directory are not included (vgsweep --resume assembles them)\n",
                info->path, (long long)rep.n_read, rep.n_read == 1 ? "" : "s");
    if (where && rep.n_rows == 0)
        fprintf(stderr, "vgsweep report: --where '%s' matches none of the %lld runs of %s\n", where,
                (long long)rep.n_read, info->path);
    const vg_table *out = pivot ? &piv : &table;
    if (fmt == VG_FORMAT_JSON) {
        char file[2 * sizeof info->path], name[600], meta[20000], spec[300] = "";
        vg__json_str(file, sizeof file, info->path);
        vg__json_str(name, sizeof name, info->sweep_name);
        if (pivot) vg__json_str(spec, sizeof spec, pivot);
        snprintf(meta, sizeof meta,
                 "\"file\": \"%s\", \"sweep_name\": \"%s\", \"interrupted\": %s, \"runs_in_file\": %lld, "
                 "\"runs_planned\": %lld, \"runs_shown\": %lld, %s%s%s\"thresholds\": {\"vanish\": %.17g, "
                 "\"explode\": %.17g, \"dead\": %.17g, \"saturated\": %.17g, \"stall_chance\": %.17g, "
                 "\"stall_move\": %.17g, \"critical_tol\": %.17g},\n ",
                 file, name, info->interrupted ? "true" : "false", (long long)rep.n_read,
                 (long long)info->n_runs_planned, (long long)rep.n_rows, pivot ? "\"pivot\": \"" : "",
                 spec, pivot ? "\", " : "", th.vanish_decades, th.explode_decades, th.dead_fraction,
                 th.saturated_fraction, th.stall_chance, th.stall_move, th.critical_tol);
        vg_table_write(stdout, out, fmt, meta);
    } else {
        vg_table_write(stdout, out, fmt, NULL);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "vgsweep report: cannot write the report: %s\n", strerror(errno));
        code = 1;
    }
    goto out;
fail:
    fprintf(stderr, "vgsweep report: %s\n", err.message);
    code = vg_status_exit_code(err.code) == 2 ? 2 : 1;
out:
    vg_table_free(&piv);
    vg_table_free(&table);
    vg_report_free(&rep);
    vg_reader_close(reader);
    vg_run_filter_free(filter);
    return code;
}

void vg_cli_dry_theory(FILE *f, const vg_run_config *runs, int64_t n_runs) {
    enum { SHOWN = 1000 };
    int64_t underflow = 0;
    vg_theory_cache *cache = vg_theory_cache_new(0.05);
    if (!cache) return;
    fprintf(f, "mean field at initialization (docs/REPORT.md): predicted log10(delta_rms of hidden "
               "layer 1 / last hidden layer), chi*, depth scale xi, phase\n");
    for (int64_t i = 0; i < n_runs; i++) {
        if (runs[i].model_kind != VG_MODEL_MLP) { /* the theory is of dense layers' depth */
            if (i < SHOWN)
                fprintf(f, "  %s  none: model.kind %s (the mean field is an mlp's)\n", runs[i].id,
                        vg_model_kind_names[runs[i].model_kind]);
            continue;
        }
        const vg_theory *p = vg_theory_cached(cache, &runs[i]);
        if (!p) break;
        vg_theory th = *p;
        int warn = th.ok && th.underflow_layers > 0;
        underflow += warn;
        if (i >= SHOWN && !warn) continue;
        if (!th.ok) fprintf(f, "  %s  %s\n", runs[i].id, th.reason);
        else
            fprintf(f, "  %s  %+8.2f decades  chi* %.4g  xi %.3g  %s\n", runs[i].id, th.log10_ratio,
                    th.chi_star, th.xi, th.phase);
        if (warn)
            fprintf(f, "warning: run %s: float32 gradients will underflow: dloss/dz of %d hidden "
                       "layer%s predicted below %.3g (FLT_MIN) at initialization (layer 1: 1e%.0f)\n",
                    runs[i].id, th.underflow_layers, th.underflow_layers == 1 ? "" : "s",
                    (double)FLT_MIN, th.log10_delta_first);
    }
    vg_theory_cache_free(cache);
    if (n_runs > SHOWN) fprintf(f, "  (the first %d runs shown)\n", SHOWN);
    if (underflow)
        fprintf(f, "warning: %lld run%s with float32 gradients predicted to underflow\n",
                (long long)underflow, underflow == 1 ? "" : "s");
}
