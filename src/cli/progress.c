/* Progress rendering for the CLI: the scheduler reports events (one thread at a time), this
 * file turns them into lines or a live display. Nothing here runs inside a training step. */
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct vg_progress {
    FILE *out;
    vg_progress_mode mode;
    const int *varying;
    int n_varying;
    double status_every, last_status; /* LINES: seconds between status lines; the last one's */
    int drawn;          /* LIVE: lines of the block now on screen, the cursor below them */
    int told_stopping;  /* the notice that runs are stopping was shown */
    char last[512];     /* LIVE: the last finished run, one line */
    char *frame;        /* what one write puts on the terminal */
    size_t frame_len, frame_cap;
};

vg_progress *vg_progress_new(FILE *out, vg_progress_mode mode, const int *varying, int n_varying,
                             double status_every) {
    vg_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->out = out;
    p->mode = mode;
    p->varying = varying;
    p->n_varying = n_varying;
    p->status_every = status_every;
    return p;
}

void vg_progress_settings(const vg_run_config *run, const int *varying, int n_varying, char *buf,
                          size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int v = 0; v < n_varying && used < size; v++) {
        char value[64];
        vg_setting_format(varying[v], run, value, sizeof value);
        int n = snprintf(buf + used, size - used, "%s%s=%s", v ? " " : "",
                         vg_settings[varying[v]].path, value);
        if (n > 0) used += (size_t)n;
    }
    if (run->repeat && used < size)
        snprintf(buf + used, size - used, "%srepeat=%d", used ? " " : "", run->repeat);
}

const char *vg_progress_duration(double seconds, char *buf, size_t size) {
    if (!(seconds >= 0)) seconds = 0;
    long long s = (long long)(seconds + 0.5);
    if (s < 60) snprintf(buf, size, "%llds", s);
    else if (s < 3600) snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400) snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

/* "ETA 3m05s" from the cost done so far and its time; "ETA ?" before there is a measure. */
static const char *vg__eta(const vg_sched_event *ev, char *buf, size_t size) {
    char d[32];
    double left = ev->cost_total - ev->cost_done;
    if (left <= 0) snprintf(buf, size, "ETA 0s");
    else if (ev->cost_done <= 0 || ev->elapsed < 0.5) snprintf(buf, size, "ETA ?");
    else snprintf(buf, size, "ETA %s", vg_progress_duration(ev->elapsed * left / ev->cost_done, d, sizeof d));
    return buf;
}

static int64_t vg__done(const vg_sched_event *ev) {
    return ev->n_reused + ev->n_ok + ev->n_diverged + ev->n_failed;
}

/* "id settings: status (why), loss x, test accuracy y, 1.2s": a finished run. */
static void vg__finished_text(const vg_progress *p, const vg_sched_event *ev, char *buf,
                              size_t size) {
    const vg_run_result *res = ev->result;
    char settings[512];
    vg_progress_settings(ev->run, p->varying, p->n_varying, settings, sizeof settings);
    int done = res->epochs_done;
    double loss = done > 0 && res->loss ? res->loss[done - 1] : NAN;
    size_t used = (size_t)snprintf(buf, size, "%s %s: %s", ev->run->id, settings,
                                   vg_run_status_names[res->status]);
    if (res->status != VG_RUN_OK && res->message[0] && used < size)
        used += (size_t)snprintf(buf + used, size - used, " (%s)", res->message);
    if (used < size) used += (size_t)snprintf(buf + used, size - used, ", loss %.4g", loss);
    if (res->status == VG_RUN_OK && done > 0 && res->test_accuracy && used < size)
        used += (size_t)snprintf(buf + used, size - used, ", test accuracy %.3f",
                                 res->test_accuracy[done - 1]);
    if (used < size) snprintf(buf + used, size - used, ", %.1fs", res->wall_seconds);
}

/* "epoch 3/20, step 700/5000, loss 2.291", or "starting" before its first epoch. */
static void vg__where(const vg_sched_running *r, char *buf, size_t size) {
    if (r->steps <= 0) {
        snprintf(buf, size, "starting");
        return;
    }
    int n = snprintf(buf, size, "epoch %d/%d, step %lld/%lld", r->epoch, r->run->train_epochs,
                     (long long)r->step, (long long)r->steps);
    if (r->step > 0 && n > 0 && (size_t)n < size) /* no loss before the first step */
        snprintf(buf + n, size - (size_t)n, ", loss %.4g", r->loss);
}

/* --- the frame: text that one write puts on the terminal ---------------------------------- */

static void vg__frame_add(vg_progress *p, const char *s, size_t n) {
    if (p->frame_len + n + 1 > p->frame_cap) {
        size_t cap = 2 * (p->frame_len + n + 1) + 1024;
        char *f = realloc(p->frame, cap);
        if (!f) return; /* the display loses text, never the sweep */
        p->frame = f, p->frame_cap = cap;
    }
    memcpy(p->frame + p->frame_len, s, n);
    p->frame_len += n;
    p->frame[p->frame_len] = '\0';
}

static void vg__frame_printf(vg_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void vg__frame_printf(vg_progress *p, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) vg__frame_add(p, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* One line of the block, cut to the terminal's width less one column: a line that wrapped
 * would take two rows and the next redraw would move the cursor up too little. \033[K clears
 * what a longer line drawn there before left. */
static void vg__frame_line(vg_progress *p, const char *text, int cols) {
    size_t n = strlen(text), max = cols > 1 ? (size_t)cols - 1 : 1;
    vg__frame_add(p, text, n < max ? n : max);
    vg__frame_add(p, "\033[K\n", 4);
}

/* Moves the cursor back up to the block's first line, so what follows overwrites it. */
static void vg__frame_rewind(vg_progress *p) {
    if (p->drawn > 0) vg__frame_printf(p, "\r\033[%dA", p->drawn);
    p->drawn = 0;
}

static void vg__frame_flush(vg_progress *p) {
    if (p->frame_len) {
        fwrite(p->frame, 1, p->frame_len, p->out);
        fflush(p->out);
    }
    p->frame_len = 0;
}

static int vg__columns(FILE *out) {
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* Redraws the block: a header with the counts, elapsed time and ETA; a line per running run;
 * the last finished run; the stopping notice. */
static void vg__draw(vg_progress *p, const vg_sched_event *ev) {
    int cols = vg__columns(p->out), lines = 0;
    char line[1024], a[32], b[32];
    vg__frame_rewind(p);
    double frac = ev->cost_total > 0 ? ev->cost_done / ev->cost_total : 1;
    /* the numbers that move first (a line cut to the terminal's width keeps them) */
    int n = snprintf(line, sizeof line, "vgsweep: %lld/%lld runs done | %.0f%% | %s | %s elapsed | "
                     "%lld diverged, %lld failed", (long long)vg__done(ev), (long long)ev->n_runs,
                     100 * (frac < 1 ? frac : 1), vg__eta(ev, b, sizeof b),
                     vg_progress_duration(ev->elapsed, a, sizeof a), (long long)ev->n_diverged,
                     (long long)ev->n_failed);
    if (ev->n_reused && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, " | %lld kept from before", (long long)ev->n_reused);
    vg__frame_line(p, line, cols), lines++;
    for (int i = 0; i < ev->n_running; i++) {
        /* how far first: a line cut to the terminal's width loses settings, not numbers */
        char where[128], settings[512];
        vg__where(&ev->running[i], where, sizeof where);
        vg_progress_settings(ev->running[i].run, p->varying, p->n_varying, settings, sizeof settings);
        snprintf(line, sizeof line, "  %s: %s %s", where, ev->running[i].run->id, settings);
        vg__frame_line(p, line, cols), lines++;
    }
    if (p->last[0]) {
        snprintf(line, sizeof line, "  last: %s", p->last);
        vg__frame_line(p, line, cols), lines++;
    }
    if (ev->stopping) {
        vg__frame_line(p, "  stopping: the running runs end at their next step (a second signal "
                          "exits at once)", cols), lines++;
    }
    vg__frame_add(p, "\033[J", 3); /* the rows of a longer block drawn before */
    p->drawn = lines;
    vg__frame_flush(p);
}

static void vg__live(vg_progress *p, const vg_sched_event *ev) {
    switch (ev->kind) {
    case VG_SCHED_RUN_STARTED: break; /* shown at the next tick */
    case VG_SCHED_RUN_FINISHED:
        vg__finished_text(p, ev, p->last, sizeof p->last);
        if (ev->result->status != VG_RUN_OK) { /* kept on screen, above the block */
            char line[1200];
            snprintf(line, sizeof line, "[%lld/%lld] %s", (long long)vg__done(ev),
                     (long long)ev->n_runs, p->last);
            vg__frame_rewind(p);
            vg__frame_add(p, line, strlen(line));
            vg__frame_add(p, "\033[K\n\033[J", 7);
            vg__frame_flush(p);
        }
        break;
    case VG_SCHED_TICK: vg__draw(p, ev); break;
    }
}

static void vg__lines(vg_progress *p, const vg_sched_event *ev) {
    int width = snprintf(NULL, 0, "%lld", (long long)ev->n_runs);
    switch (ev->kind) {
    case VG_SCHED_RUN_STARTED: break;
    case VG_SCHED_RUN_FINISHED: {
        char text[1200];
        vg__finished_text(p, ev, text, sizeof text);
        fprintf(p->out, "[%*lld/%lld] %s\n", width, (long long)vg__done(ev), (long long)ev->n_runs,
                text);
        fflush(p->out);
        break;
    }
    case VG_SCHED_TICK:
        if (ev->stopping && !p->told_stopping) {
            p->told_stopping = 1;
            fprintf(p->out, "vgsweep: stopping: the running runs end at their next step (a "
                            "second signal exits at once)\n");
            fflush(p->out);
        }
        if (ev->elapsed - p->last_status < p->status_every || ev->n_running == 0) break;
        p->last_status = ev->elapsed;
        char a[32], b[32];
        fprintf(p->out, "[%*lld/%lld] %s elapsed, %s; running:", width, (long long)vg__done(ev),
                (long long)ev->n_runs, vg_progress_duration(ev->elapsed, a, sizeof a),
                vg__eta(ev, b, sizeof b));
        for (int i = 0; i < ev->n_running; i++) {
            char where[128], settings[512];
            vg__where(&ev->running[i], where, sizeof where);
            vg_progress_settings(ev->running[i].run, p->varying, p->n_varying, settings,
                                 sizeof settings);
            fprintf(p->out, "%s %s %s (%s)", i ? ";" : "", ev->running[i].run->id, settings, where);
        }
        fprintf(p->out, "\n");
        fflush(p->out);
        break;
    }
}

void vg_progress_report(void *ctx, const vg_sched_event *event) {
    vg_progress *p = ctx;
    if (p->mode == VG_PROGRESS_LIVE) vg__live(p, event);
    else vg__lines(p, event);
}

void vg_progress_end(vg_progress *p) {
    if (!p) return;
    if (p->mode == VG_PROGRESS_LIVE && p->drawn) {
        vg__frame_rewind(p);
        vg__frame_add(p, "\033[J", 3);
        vg__frame_flush(p);
    }
    free(p->frame);
    free(p);
}
