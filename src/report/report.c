/* The report's rows: figures, theory and diagnosis of each run (docs/REPORT.md). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgsweep/report.h"
#include "vgsweep/targets.h"

void vg_report_thresholds_default(vg_report_thresholds *t) {
    t->vanish_decades = 2;
    t->explode_decades = 2;
    t->dead_fraction = 0.5;
    t->saturated_fraction = 0.5;
    t->stall_chance = 0.9;
    t->stall_move = 0.02;
    t->critical_tol = 0.05;
}

static int vg__relu_like(int act) {
    return act == VG_ACT_RELU || act == VG_ACT_LEAKY_RELU || act == VG_ACT_ELU ||
           act == VG_ACT_SELU || act == VG_ACT_GELU || act == VG_ACT_SWISH;
}
static int vg__sigmoid_like(int act) {
    return act == VG_ACT_SIGMOID || act == VG_ACT_TANH || act == VG_ACT_SOFTSIGN;
}

/* Appends to a fixed buffer, "; " between items. */
static void vg__add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void vg__add(char *buf, size_t size, const char *fmt, ...) {
    size_t used = strlen(buf);
    if (used && used + 2 < size) {
        memcpy(buf + used, "; ", 3);
        used += 2;
    }
    if (used >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

/* Element (k, j) of a rank-2 series, NaN outside it. */
static double vg__at2(const vg_series_data *s, int64_t k, int64_t j) {
    if (s->rank != 2 || k < 0 || j < 0 || k >= s->dims[0] || j >= s->dims[1]) return NAN;
    return s->v[k * s->dims[1] + j];
}
static double vg__at1(const vg_series_data *s, int64_t k) {
    if (s->rank != 1 || k < 0 || k >= s->dims[0]) return NAN;
    return s->v[k];
}

static int vg__row_finite(const vg_series_data *s, int64_t k) {
    if (s->rank != 2 || k < 0 || k >= s->dims[0] || s->dims[1] < 1) return 0;
    for (int64_t j = 0; j < s->dims[1]; j++)
        if (!isfinite(s->v[k * s->dims[1] + j])) return 0;
    return 1;
}

static double vg__log10_ratio(double a, double b) {
    if (!(a >= 0) || !(b >= 0) || isinf(a) || isinf(b)) return NAN;
    if (a == 0 && b == 0) return NAN;
    return log10(a) - log10(b);
}

static double vg__row_mean(const vg_series_data *s, int64_t k) {
    if (s->rank != 2 || k < 0 || k >= s->dims[0] || s->dims[1] < 1) return NAN;
    double sum = 0;
    for (int64_t j = 0; j < s->dims[1]; j++) sum += s->v[k * s->dims[1] + j];
    return sum / (double)s->dims[1];
}

static double vg__max_nan(double a, double b) {
    if (isnan(a)) return b;
    if (isnan(b)) return a;
    return a > b ? a : b;
}

static vg_status vg__row(vg_reader *r, int64_t i, const vg_report_thresholds *t, vg_report_row *row,
                         vg_theory_cache *cache, int *has_h, vg_error *err) {
    const vg_record_run *run = vg_reader_run(r, i);
    const vg_run_config *c = &run->cfg;
    static const char *const names[] = {"loss", "accuracy", "test_loss", "test_accuracy",
                                        "delta_rms", "grad_norm", "act_dead", "act_saturated",
                                        "probe/loss", "grad_h_norm"};
    enum { LOSS, ACC, TLOSS, TACC, DELTA, GRAD, DEAD, SAT, PLOSS, GH, NS };
    vg_series_data s[NS];
    memset(s, 0, sizeof s);
    vg_status st = VG_OK;
    for (int k = 0; k < NS && st == VG_OK; k++) st = vg_reader_series(r, i, names[k], &s[k], err);
    if (st != VG_OK) goto done;

    memset(row, 0, sizeof *row);
    row->run = run;
    int64_t e = run->epochs_done;
    row->loss = vg__at1(&s[LOSS], e - 1);
    row->accuracy = vg__at1(&s[ACC], e - 1);
    row->test_loss = vg__at1(&s[TLOSS], e - 1);
    row->test_accuracy = vg__at1(&s[TACC], e - 1);
    int C = c->data_classes;
    row->chance_accuracy = 1.0 / C;
    row->chance_loss = c->train_loss == VG_LOSS_MSE ? (double)(C - 1) / ((double)C * C) : log((double)C);
    const int recurrent = c->model_kind != VG_MODEL_MLP;
    if (c->data_kind == VG_DATA_ADDING) {
        /* the sum of two U[0, 1] values: predicting its mean 1 always scores its variance 1/6 */
        row->chance_accuracy = NAN, row->chance_loss = 1.0 / 6;
    } else if (c->data_kind == VG_DATA_COPY) {
        /* the memoryless baseline: blanks right, then a guess among 8 symbols for each of the
         * 10 to reproduce, over T + 20 scored steps (cross-entropy; issue 20) */
        double steps = c->data_length + 20.0;
        row->chance_accuracy = (c->data_length + 10 + 10 / 8.0) / steps;
        row->chance_loss = c->train_loss == VG_LOSS_MSE ? NAN : 10 * log(8.0) / steps;
    } else if (vg_data_real_target(c)) {
        row->chance_accuracy = row->chance_loss = NAN; /* a csv's targets: no known baseline */
    }

    /* the last checkpoint reached with finite statistics */
    int64_t k_end = s[DELTA].rank == 2 ? (e < s[DELTA].dims[0] - 1 ? e : s[DELTA].dims[0] - 1) : -1;
    while (k_end >= 0 && !vg__row_finite(&s[DELTA], k_end)) k_end--;
    row->end_checkpoint = (int)k_end;
    int64_t ks[2] = {0, k_end};
    for (int w = 0; w < 2; w++) {
        row->factor[w] = row->log10_delta[w] = row->log10_grad[w] = row->log10_h[w] = NAN;
        row->probe_loss[w] = NAN;
        if (ks[w] < 0 || (w == 0 && !vg__row_finite(&s[DELTA], 0))) continue;
        int64_t L = s[DELTA].dims[1];
        row->log10_delta[w] = vg__log10_ratio(vg__at2(&s[DELTA], ks[w], 0), vg__at2(&s[DELTA], ks[w], L - 1));
        row->factor[w] = L > 1 ? pow(10, row->log10_delta[w] / (double)(L - 1)) : NAN;
        if (s[GRAD].rank == 2)
            row->log10_grad[w] = vg__log10_ratio(vg__at2(&s[GRAD], ks[w], 0),
                                                 vg__at2(&s[GRAD], ks[w], s[GRAD].dims[1] - 1));
        if (s[GH].rank == 2)
            row->log10_h[w] = vg__log10_ratio(vg__at2(&s[GH], ks[w], 0),
                                              vg__at2(&s[GH], ks[w], s[GH].dims[1] - 1));
        else if (s[GH].rank == 3 && s[GH].dims[1] >= 1 && s[GH].dims[2] >= 1 && ks[w] < s[GH].dims[0]) {
            /* (checkpoint, layer, time): the top recurrent layer's, where the gradient comes
             * from the read-out and decays through time alone */
            int64_t D = s[GH].dims[1], T = s[GH].dims[2];
            const double *g = s[GH].v + (ks[w] * D + D - 1) * T;
            row->log10_h[w] = vg__log10_ratio(g[0], g[T - 1]);
        }
        row->probe_loss[w] = vg__at1(&s[PLOSS], ks[w]);
    }
    if (s[GH].rank == 2 || s[GH].rank == 3) *has_h = 1;
    row->dead = vg__max_nan(vg__row_mean(&s[DEAD], 0), k_end >= 0 ? vg__row_mean(&s[DEAD], k_end) : NAN);
    row->saturated = vg__max_nan(vg__row_mean(&s[SAT], 0), k_end >= 0 ? vg__row_mean(&s[SAT], k_end) : NAN);

    /* theory beside the measurement (hidden layers 1 .. depth at initialization) */
    const vg_theory *th = vg_theory_cached(cache, c);
    if (!th) {
        st = vg_error_set(err, VG_ENOMEM, "report: out of memory");
        goto done;
    }
    row->theory = *th;
    if (recurrent) row->theory.ok = 0; /* the mean field is of an mlp's depth */
    row->measured = NAN;
    if (!recurrent && vg__row_finite(&s[DELTA], 0) && s[DELTA].dims[1] >= c->model_depth + 1)
        row->measured = c->model_depth > 1
                            ? vg__log10_ratio(vg__at2(&s[DELTA], 0, 0), vg__at2(&s[DELTA], 0, c->model_depth - 1))
                            : 0;

    /* diagnosis */
    char *ev = row->evidence;
    size_t evn = sizeof row->evidence;
    if (!strcmp(run->status, "diverged")) {
        row->diag |= VG_DIAG_DIVERGED;
        vg__add(ev, evn, "diverged at epoch %lld: %s", (long long)e + 1, run->message[0] ? run->message : "non-finite loss");
    } else if (!strcmp(run->status, "failed")) {
        row->diag |= VG_DIAG_FAILED;
        vg__add(ev, evn, "failed: %s", run->message);
    } else if (e >= 1 && !isfinite(row->loss) && s[LOSS].rank == 1) {
        row->diag |= VG_DIAG_DIVERGED;
        vg__add(ev, evn, "final loss not finite");
    }
    if (vg__relu_like(c->model_activation) && row->dead >= t->dead_fraction) {
        row->diag |= VG_DIAG_DEAD;
        vg__add(ev, evn, "dead units %.2f >= %g", row->dead, t->dead_fraction);
    }
    if (vg__sigmoid_like(c->model_activation) && row->saturated >= t->saturated_fraction) {
        row->diag |= VG_DIAG_SATURATED;
        vg__add(ev, evn, "saturated units %.2f >= %g", row->saturated, t->saturated_fraction);
    }
    static const char *const when[2] = {"init", "end"};
    /* recurrent nets: vanishing or exploding through time, from grad_h_norm */
    for (int w = 0; recurrent && w < 2; w++) {
        if (row->log10_h[w] <= -t->vanish_decades) {
            if (!(row->diag & VG_DIAG_VANISHING))
                vg__add(ev, evn, "log10 grad_h_norm t=1/t=T %.2f <= -%g at %s", row->log10_h[w],
                        t->vanish_decades, when[w]);
            row->diag |= VG_DIAG_VANISHING;
        }
        if (row->log10_h[w] >= t->explode_decades) {
            if (!(row->diag & VG_DIAG_EXPLODING))
                vg__add(ev, evn, "log10 grad_h_norm t=1/t=T %+.2f >= %g at %s", row->log10_h[w],
                        t->explode_decades, when[w]);
            row->diag |= VG_DIAG_EXPLODING;
        }
    }
    for (int w = 0; !recurrent && w < 2; w++) {
        if (row->log10_delta[w] <= -t->vanish_decades) {
            if (!(row->diag & VG_DIAG_VANISHING))
                vg__add(ev, evn, "log10 delta_rms first/last %.2f <= -%g at %s", row->log10_delta[w],
                        t->vanish_decades, when[w]);
            row->diag |= VG_DIAG_VANISHING;
        }
        if (row->log10_delta[w] >= t->explode_decades) {
            if (!(row->diag & VG_DIAG_EXPLODING))
                vg__add(ev, evn, "log10 delta_rms first/last %+.2f >= %g at %s", row->log10_delta[w],
                        t->explode_decades, when[w]);
            row->diag |= VG_DIAG_EXPLODING;
        }
    }
    if (!(row->diag & (VG_DIAG_DIVERGED | VG_DIAG_FAILED)) && e >= 1 && isfinite(row->loss)) {
        double p0 = row->probe_loss[0], p1 = row->probe_loss[1];
        if (isfinite(row->chance_loss) && row->loss >= t->stall_chance * row->chance_loss) {
            row->diag |= VG_DIAG_STALLED;
            vg__add(ev, evn, "final loss %.4g >= %g x chance %.4g", row->loss, t->stall_chance, row->chance_loss);
        } else if (row->end_checkpoint >= 1 && isfinite(p0) && isfinite(p1) && p0 > 0 &&
                   (p0 - p1) / p0 < t->stall_move) {
            row->diag |= VG_DIAG_STALLED;
            vg__add(ev, evn, "probe loss %.4g -> %.4g (%+.1f %%, less than %g %% down)", p0, p1,
                    100 * (p1 - p0) / p0, 100 * t->stall_move);
        }
    }
    static const struct { unsigned bit; const char *name; } order[] = {
        {VG_DIAG_FAILED, "failed"},       {VG_DIAG_DIVERGED, "diverged"},
        {VG_DIAG_DEAD, "dead"},           {VG_DIAG_SATURATED, "saturated"},
        {VG_DIAG_VANISHING, "vanishing"}, {VG_DIAG_EXPLODING, "exploding"},
        {VG_DIAG_STALLED, "stalled"}};
    row->diagnosis[0] = '\0';
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        if (row->diag & order[k].bit) {
            if (row->diagnosis[0]) strcat(row->diagnosis, "+");
            strcat(row->diagnosis, order[k].name);
        }
    if (!row->diag) {
        strcpy(row->diagnosis, "healthy");
        if (recurrent && isfinite(row->log10_h[0]))
            vg__add(ev, evn, "log10 grad_h_norm t=1/t=T %+.2f at init, %+.2f at end", row->log10_h[0],
                    row->log10_h[1]);
        else if (isfinite(row->log10_delta[0]))
            vg__add(ev, evn, "log10 delta_rms first/last %+.2f at init, %+.2f at end", row->log10_delta[0],
                    row->log10_delta[1]);
        if (isfinite(row->loss) && isfinite(row->chance_loss))
            vg__add(ev, evn, "final loss %.4g < %g x chance %.4g", row->loss, t->stall_chance, row->chance_loss);
    }
    if (s[DELTA].rank != 2) vg__add(ev, evn, "no probe statistics (record.probe: 0)");
done:
    for (int k = 0; k < NS; k++) vg_series_data_free(&s[k]);
    return st;
}

vg_status vg_report_build(vg_reader *r, const vg_run_filter *where, const vg_report_thresholds *t,
                          vg_report *out, vg_error *err) {
    memset(out, 0, sizeof *out);
    out->thresholds = *t;
    int64_t n = vg_reader_n_runs(r);
    out->n_read = n;
    out->rows = calloc((size_t)(n ? n : 1), sizeof *out->rows);
    vg_theory_cache *cache = vg_theory_cache_new(t->critical_tol);
    vg_run_config *cfgs = calloc((size_t)(n ? n : 1), sizeof *cfgs);
    vg_status st = VG_OK;
    if (!out->rows || !cache || !cfgs) {
        st = vg_error_set(err, VG_ENOMEM, "report: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const vg_record_run *run = vg_reader_run(r, i);
        if (!vg_run_filter_match(where, &run->cfg)) continue;
        st = vg__row(r, i, t, &out->rows[out->n_rows], cache, &out->has_h, err);
        if (st != VG_OK) goto done;
        cfgs[out->n_rows] = run->cfg;
        if (out->n_rows && run->cfg.repeat != cfgs[0].repeat) out->repeats_vary = 1;
        out->n_rows++;
    }
    out->n_varying = out->n_rows ? vg_runs_varying(cfgs, out->n_rows, out->varying) : 0;
done:
    vg_theory_cache_free(cache);
    free(cfgs);
    if (st != VG_OK) vg_report_free(out);
    return st;
}

void vg_report_free(vg_report *rep) {
    free(rep->rows);
    memset(rep, 0, sizeof *rep);
}
