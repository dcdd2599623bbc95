/* The recurrent nets' backpropagation through time against central finite differences, in
 * double (vg_rnn_f64): each cell (rnn with tanh and relu, lstm, gru), full BPTT, x 1 and 2
 * stacked layers x each target kind (class at the last step, class per step with
 * unscored steps, real values with MSE), and cross-entropy and MSE on class targets. Errors as
 * tests/test_gradcheck.c defines them: per tensor ||g - num|| / max(||g||, ||num||) < 1e-6, and
 * the element-wise relative error among entries above 1e-2 of the tensor's largest < 1e-5.
 *
 * Truncated BPTT against finite differences too (check_truncated_fd): a truncated gradient is
 * the exact gradient of the loss with the states at the cuts held constant, which is evaluated
 * chunk by chunk from those states (vg_rnn_f64_set_initial_state); each cell, 1 and 2 layers,
 * every target kind, K = 2 (even chunks), 4 (uneven) and 1 (a cut before every step), same
 * bounds. Its definition, PyTorch's h.detach() every K steps, is matched in
 * tests/test_rnn_torch.py. And the structure of the cuts (check_truncated): with K >= T it is
 * full BPTT bit for bit; with the loss scored only inside the first chunk nothing crosses a cut,
 * so it equals full BPTT; with a loss at the last step and K < T the steps before the last cut
 * get no gradient (dpre = 0, grad_h2 = 0 there), the last chunk's do, and the read-out's
 * gradient is unchanged.
 *
 * The products by chunks of steps (check_chunks): a batch of 200 rows, whose forward and
 * backward run in chunks of 2 steps, against its parts of 8 rows (one chunk each), to 1e-12.
 *
 * Also here: the theory of issue #20 item 6 (a linear RNN with recurrent weights g Q decays as
 * g^(T - t); an LSTM with zero recurrent weights carries dc_T/dc_t = prod f), the f32 net
 * against the f64 one, the initializers (orthogonal blocks, identity, forget bias), the gate
 * saturation fractions and the per-gate gradient norms. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_test.h"
#include "vgsweep/data.h"
#include "vgsweep/rnn.h"
#include "vgsweep/settings.h"

enum { B = 3, T = 6, N_IN = 3, H = 4, N_OUT = 3 };

typedef struct {
    double norm_err, elem_err;
} errs;

static double net_grad_scale = 0;

/* The loss as a function of the parameters: a plain forward (full BPTT), or with `chunked` set
 * the function truncated BPTT is the gradient of (check_truncated_fd). */
typedef struct chunked chunked;
typedef struct {
    vg_rnn_f64 *m;
    const double *x;
    const int32_t *y;
    const double *t;
    chunked *chunks;
} problem;

static double chunked_loss(chunked *c);

static double loss_of(problem *p) {
    if (p->chunks) return chunked_loss(p->chunks);
    return vg_rnn_f64_forward(p->m, p->x, p->y, p->t, B, NULL, NULL);
}

/* Five-point stencil with the step chosen where successive estimates agree best (as
 * test_gradcheck.c). */
static double numeric(problem *pr, double *param) {
    enum { N_STEPS = 14 };
    double saved = *param, d[N_STEPS], best = INFINITY, out = 0;
    for (int k = 0; k < N_STEPS; k++) {
        double h = 1e-2 / (double)(1 << k), f[4];
        const double off[4] = {-2 * h, -h, h, 2 * h};
        for (int j = 0; j < 4; j++) {
            *param = saved + off[j];
            f[j] = loss_of(pr);
        }
        d[k] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
    }
    *param = saved;
    for (int k = 0; k + 1 < N_STEPS; k++) {
        double e = fabs(d[k] - d[k + 1]);
        if (e < best) best = e, out = d[k + 1];
    }
    return out;
}

static errs compare(const double *g, const double *num, int64_t n) {
    double diff2 = 0, a2 = 0, n2 = 0, gmax = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) {
        diff2 += (g[i] - num[i]) * (g[i] - num[i]);
        a2 += g[i] * g[i], n2 += num[i] * num[i];
        if (fabs(g[i]) > gmax) gmax = fabs(g[i]);
    }
    for (int64_t i = 0; i < n; i++) {
        if (fabs(g[i]) < 1e-2 * gmax || fabs(g[i]) < 1e-9 * net_grad_scale) continue;
        double rel = fabs(g[i] - num[i]) / fmax(fabs(g[i]), fabs(num[i]));
        if (rel > worst) worst = rel;
    }
    double scale = fmax(sqrt(fmax(a2, n2)), 1e-4 * net_grad_scale);
    errs e = {scale > 0 ? sqrt(diff2) / scale : 0, worst};
    return e;
}

static int n_cases = 0;
static double worst_overall = 0;

/* per tensor: each layer's W_ih, W_hh, b_ih, b_hh, then W_out, b_out; the worst of each error */
static errs compare_net(const vg_rnn_f64 *m, const double *g, const double *num) {
    errs worst = {0, 0};
    int depth = m->shape.depth;
    for (int l = 0; l <= depth; l++) {
        int64_t o = m->param_offset[l], GH = (int64_t)m->gates * H;
        int64_t sizes[4] = {GH * m->fan_in[l % depth], GH * H, GH, GH};
        if (l == depth) sizes[0] = (int64_t)N_OUT * H, sizes[1] = N_OUT, sizes[2] = sizes[3] = 0;
        for (int k = 0; k < 4 && sizes[k] > 0; k++) {
            errs e = compare(g + o, num + o, sizes[k]);
            worst.norm_err = fmax(worst.norm_err, e.norm_err);
            worst.elem_err = fmax(worst.elem_err, e.elem_err);
            o += sizes[k];
        }
    }
    return worst;
}

static void fill_targets(vg_rng *rng, int target, int32_t *y, double *tg) {
    if (target == VG_TARGET_CLASS)
        for (int b = 0; b < B; b++) y[b] = (int32_t)vg_rng_below(rng, N_OUT);
    else if (target == VG_TARGET_STEP_CLASS)
        for (int i = 0; i < B * T; i++) /* about a third of the steps unscored */
            y[i] = vg_rng_uniform(rng) < 0.35 ? -1 : (int32_t)vg_rng_below(rng, N_OUT);
    else
        for (int i = 0; i < B * N_OUT; i++) tg[i] = vg_rng_normal(rng);
}

/* B sequences of normal inputs and their targets: y (class kinds) or t (real), the other NULL */
typedef struct {
    double x[B * T * N_IN], tg[B * N_OUT];
    int32_t classes[B * T];
    const int32_t *y;
    const double *t;
} batch;

static void make_batch(vg_rng *rng, int target, batch *b) {
    for (int i = 0; i < B * T * N_IN; i++) b->x[i] = vg_rng_normal(rng);
    fill_targets(rng, target, b->classes, b->tg);
    b->y = target == VG_TARGET_REAL ? NULL : b->classes;
    b->t = target == VG_TARGET_REAL ? b->tg : NULL;
}

static vg_rnn_shape make_shape(int cell, int act, int depth, int target, int loss, int bptt) {
    vg_rnn_shape s = {.cell = cell, .n_inputs = N_IN, .hidden = H, .depth = depth,
                      .n_outputs = N_OUT, .steps = T, .activation = act, .act_param = 0.1,
                      .loss = loss, .target = target, .bptt = bptt, .max_batch = B};
    return s;
}

static void make_net(vg_rnn_f64 *m, vg_rnn_shape s, uint64_t seed, vg_rng *rng) {
    vg_error err;
    VG_CHECK(vg_rnn_f64_create(m, &s, &err) == VG_OK);
    vg_rng_seed(rng, seed);
    vg_rnn_init_spec init;
    vg_rnn_init_defaults(&init);
    init.rec_value = 0.9;
    vg_rnn_f64_init(m, &init, rng);
    /* every parameter moved off its start, so every path is exercised */
    for (int64_t i = 0; i < m->n_params; i++) m->params[i] += 0.2 * vg_rng_normal(rng);
}

/* dst: a net of shape s with src's parameters (s differs from src's in length, batch or
 * truncation only, which leave the parameters' layout alone) */
static void same_params(vg_rnn_f64 *dst, vg_rnn_shape s, const vg_rnn_f64 *src) {
    vg_error err;
    VG_CHECK(vg_rnn_f64_create(dst, &s, &err) == VG_OK);
    VG_CHECK(dst->n_params == src->n_params);
    memcpy(dst->params, src->params, (size_t)src->n_params * sizeof *src->params);
}

/* full BPTT (bptt 0) against finite differences of the loss */
static void check_full(int cell, int act, int depth, int target, int loss, uint64_t seed) {
    vg_rnn_shape s = make_shape(cell, act, depth, target, loss, 0);
    vg_rnn_f64 m;
    vg_rng rng;
    make_net(&m, s, seed, &rng);
    batch bt;
    make_batch(&rng, target, &bt);
    double l0 = vg_rnn_f64_forward(&m, bt.x, bt.y, bt.t, B, NULL, NULL);
    VG_CHECK(isfinite(l0) && l0 > 0);
    vg_rnn_f64_backward_set(&m, bt.x, bt.y, bt.t, 1);
    double *g = malloc((size_t)m.n_params * sizeof *g), *num = malloc((size_t)m.n_params * sizeof *num);
    double g2 = 0;
    for (int64_t i = 0; i < m.n_params; i++) g[i] = m.grads[i], g2 += g[i] * g[i];
    net_grad_scale = sqrt(g2);
    problem pr = {&m, bt.x, bt.y, bt.t, NULL};
    for (int64_t i = 0; i < m.n_params; i++) num[i] = numeric(&pr, &m.params[i]);
    errs worst = compare_net(&m, g, num);
    double worst_norm = worst.norm_err, worst_elem = worst.elem_err;
    char name[160];
    snprintf(name, sizeof name, "%s%s depth %d target %d %s full", vg_cell_name(cell),
             cell == VG_CELL_RNN ? (act == VG_ACT_RELU ? "/relu" : "/tanh") : "", depth, target,
             loss == VG_LOSS_MSE ? "mse" : "xent");
    printf("%-50s tensor rel err %.2e, element rel err %.2e\n", name, worst_norm, worst_elem);
    VG_CHECK_MSG(worst_norm < 1e-6, "%s: tensor rel err %.3g", name, worst_norm);
    VG_CHECK_MSG(worst_elem < 1e-5, "%s: element rel err %.3g", name, worst_elem);
    /* the statistics: dpre's column sums are db_ih; grad_h2 at the last step is what the
     * read-out sends (class targets at the last step only) */
    for (int l = 0; l < depth; l++) {
        int GH = m.gates * H;
        for (int j = 0; j < GH; j++) {
            double sum = 0;
            for (int r = 0; r < T * B; r++) sum += m.dpre[l][(int64_t)r * GH + j];
            VG_CHECK_MSG(fabs(sum - m.db_ih[l][j]) <= 1e-12 * (1 + fabs(sum)), "%s: dpre's sum", name);
        }
        for (int t = 0; t < T; t++) VG_CHECK(m.stats.grad_h2[l * T + t] >= 0 && isfinite(m.stats.grad_h2[l * T + t]));
    }
    /* the per-gate norms add up to the recurrent layers' gradient norm */
    double gn[2 * 4], sum_gates = 0, sum_all = 0;
    vg_rnn_f64_gate_grad_norms(&m, gn);
    for (int i = 0; i < depth * m.gates; i++) sum_gates += gn[i] * gn[i];
    for (int64_t i = 0; i < m.param_offset[depth]; i++) sum_all += g[i] * g[i];
    VG_CHECK_MSG(fabs(sum_gates - sum_all) <= 1e-12 * sum_all, "%s: gate norms %.17g vs %.17g", name, sum_gates, sum_all);
    n_cases++;
    worst_overall = fmax(worst_overall, worst_norm);
    free(g), free(num);
    vg_rnn_f64_free(&m);
}

/* Truncated BPTT in double (see the head of this file). */
static void check_truncated(int cell, int act, int depth, uint64_t seed) {
    vg_rng rng;
    double x[B * T * N_IN];
    int32_t y[B * T];
    vg_rnn_f64 full, tr;
    make_net(&full, make_shape(cell, act, depth, VG_TARGET_CLASS, VG_LOSS_CROSS_ENTROPY, 0), seed, &rng);
    for (int i = 0; i < B * T * N_IN; i++) x[i] = vg_rng_normal(&rng);
    for (int b = 0; b < B; b++) y[b] = (int32_t)vg_rng_below(&rng, N_OUT);
    const char *name = vg_cell_name(cell);
    /* K >= T: full BPTT, bit for bit */
    make_net(&tr, make_shape(cell, act, depth, VG_TARGET_CLASS, VG_LOSS_CROSS_ENTROPY, T), seed, &rng);
    vg_rnn_f64_forward(&full, x, y, NULL, B, NULL, NULL);
    vg_rnn_f64_backward_set(&full, x, y, NULL, 1);
    vg_rnn_f64_forward(&tr, x, y, NULL, B, NULL, NULL);
    vg_rnn_f64_backward_set(&tr, x, y, NULL, 1);
    int same = 1;
    for (int64_t i = 0; i < full.n_params; i++) same &= full.grads[i] == tr.grads[i];
    VG_CHECK_MSG(same, "%s depth %d: bptt = T differs from full BPTT", name, depth);
    vg_rnn_f64_free(&tr);
    /* K = 2 < T = 6, loss at the last step: cuts at h_2, h_4; the last chunk (steps 5, 6) alone
     * gets gradient */
    enum { K = 2 };
    make_net(&tr, make_shape(cell, act, depth, VG_TARGET_CLASS, VG_LOSS_CROSS_ENTROPY, K), seed, &rng);
    double l1 = vg_rnn_f64_forward(&tr, x, y, NULL, B, NULL, NULL);
    double l0 = vg_rnn_f64_forward(&full, x, y, NULL, B, NULL, NULL);
    VG_CHECK_MSG(l0 == l1, "%s: truncation changed the loss", name);
    vg_rnn_f64_backward_set(&tr, x, y, NULL, 1);
    vg_rnn_f64_backward_set(&full, x, y, NULL, 1);
    int GH = tr.gates * H;
    for (int l = 0; l < depth; l++)
        for (int t = 0; t < T; t++) {
            double d2 = 0;
            for (int i = 0; i < B * GH; i++) d2 += tr.dpre[l][(int64_t)t * B * GH + i] * tr.dpre[l][(int64_t)t * B * GH + i];
            double h2 = tr.stats.grad_h2[l * T + t];
            if (t < T - K) { /* before the last cut: nothing arrives */
                VG_CHECK_MSG(d2 == 0 && h2 == 0, "%s layer %d step %d: %.3g, %.3g past a cut", name, l, t, d2, h2);
            } else {
                VG_CHECK_MSG(d2 > 0 && h2 > 0, "%s layer %d step %d: no gradient inside the last chunk", name, l, t);
            }
            if (t == T - 1) /* the last step's state gets the same gradient either way */
                VG_CHECK_MSG(fabs(h2 - full.stats.grad_h2[l * T + t]) <= 1e-12 * h2, "%s: grad_h2 at T", name);
        }
    int64_t o = tr.param_offset[depth];
    double dmax = 0;
    for (int64_t i = o; i < tr.n_params; i++) dmax = fmax(dmax, fabs(tr.grads[i] - full.grads[i]));
    VG_CHECK_MSG(dmax == 0, "%s: the read-out's gradient moved with truncation (%.3g)", name, dmax);
    double diff = 0;
    for (int64_t i = 0; i < o; i++) diff = fmax(diff, fabs(tr.grads[i] - full.grads[i]));
    VG_CHECK_MSG(diff > 0, "%s: truncation changed no recurrent gradient", name);
    vg_rnn_f64_free(&tr);
    /* a loss scored only inside the first chunk: nothing crosses a cut, truncated == full */
    for (int i = 0; i < B * T; i++) y[i] = (i % T) < K ? (int32_t)vg_rng_below(&rng, N_OUT) : -1;
    vg_rnn_f64 f2;
    make_net(&f2, make_shape(cell, act, depth, VG_TARGET_STEP_CLASS, VG_LOSS_CROSS_ENTROPY, 0), seed, &rng);
    make_net(&tr, make_shape(cell, act, depth, VG_TARGET_STEP_CLASS, VG_LOSS_CROSS_ENTROPY, K), seed, &rng);
    vg_rnn_f64_forward(&f2, x, y, NULL, B, NULL, NULL);
    vg_rnn_f64_backward_set(&f2, x, y, NULL, 0);
    vg_rnn_f64_forward(&tr, x, y, NULL, B, NULL, NULL);
    vg_rnn_f64_backward_set(&tr, x, y, NULL, 0);
    double g2 = 0, d2 = 0;
    for (int64_t i = 0; i < tr.n_params; i++)
        g2 += f2.grads[i] * f2.grads[i], d2 += (tr.grads[i] - f2.grads[i]) * (tr.grads[i] - f2.grads[i]);
    VG_CHECK_MSG(g2 > 0 && sqrt(d2 / g2) < 1e-12, "%s: first-chunk loss, truncated vs full %.3g", name, sqrt(d2 / g2));
    printf("%-50s truncated (K = %d, T = %d): cuts hold\n", name, K, T);
    vg_rnn_f64_free(&tr);
    vg_rnn_f64_free(&f2);
    vg_rnn_f64_free(&full);
}

/* Truncated BPTT against finite differences. A truncated gradient is the exact gradient of
 * F(theta): the loss when every layer's state entering a chunk [a, a + K) is held at the value
 * the unperturbed forward reached there, a constant (which is what h.detach() makes it). F is
 * evaluated chunk by chunk: each chunk runs as a net of its own length from those states
 * (vg_rnn_f64_set_initial_state), and its mean loss is weighted by its share of the scored
 * pairs. F(theta) equals the loss itself; its finite differences are what truncated BPTT must
 * give, and they differ from full BPTT's gradient whenever a loss sits after a cut. */
struct chunked {
    vg_rnn_f64 *tr;          /* the truncated net (bptt = K), whose parameters are perturbed */
    vg_rnn_f64 net[T + 1];   /* a net of each chunk length that occurs (T % K and K) */
    int K, target;
    const double *x, *t;
    const int32_t *y;
    double *h0, *c0;         /* (n_chunks, depth, B, H): the states at the cuts; c0 LSTM only */
    int64_t n_scored;        /* scored pairs of the whole sequence */
};

static double chunked_loss(chunked *c) {
    int depth = c->tr->shape.depth;
    int64_t state = (int64_t)depth * B * H;
    double total = 0;
    for (int a = 0, k = 0; a < T; a += c->K, k++) {
        int n = T - a < c->K ? T - a : c->K;
        vg_rnn_f64 *cn = &c->net[n];
        memcpy(cn->params, c->tr->params, (size_t)cn->n_params * sizeof *cn->params);
        vg_rnn_f64_set_initial_state(cn, c->h0 + k * state, c->c0 ? c->c0 + k * state : NULL);
        double xs[B * T * N_IN];
        int32_t ys[B * T];
        for (int b = 0; b < B; b++)
            for (int j = 0; j < n; j++) {
                memcpy(xs + ((int64_t)b * n + j) * N_IN, c->x + ((int64_t)b * T + a + j) * N_IN, N_IN * sizeof *xs);
                ys[b * n + j] = c->y ? c->y[b * T + a + j] : -1;
            }
        const int32_t *yy = NULL;
        const double *tt = NULL;
        if (c->target == VG_TARGET_STEP_CLASS) yy = ys;
        else if (a + n == T) yy = c->target == VG_TARGET_REAL ? NULL : c->y, tt = c->target == VG_TARGET_REAL ? c->t : NULL;
        int64_t scored = 0;
        double l = vg_rnn_f64_forward(cn, xs, yy, tt, B, NULL, &scored);
        total += l * (double)scored;
    }
    return total / (double)c->n_scored;
}

static void check_truncated_fd(int cell, int act, int depth, int target, int K, uint64_t seed) {
    int loss = target == VG_TARGET_REAL ? VG_LOSS_MSE : VG_LOSS_CROSS_ENTROPY;
    vg_rnn_f64 tr, full;
    vg_rng rng;
    make_net(&tr, make_shape(cell, act, depth, target, loss, K), seed, &rng);
    batch bt;
    make_batch(&rng, target, &bt);
    same_params(&full, make_shape(cell, act, depth, target, loss, 0), &tr);

    chunked c = {.tr = &tr, .K = K, .target = target, .x = bt.x, .t = bt.t, .y = bt.y};
    int n_chunks = (T + K - 1) / K;
    int64_t state = (int64_t)depth * B * H;
    c.h0 = calloc((size_t)(n_chunks * state), sizeof *c.h0);
    c.c0 = cell == VG_CELL_LSTM ? calloc((size_t)(n_chunks * state), sizeof *c.c0) : NULL;
    double l0 = vg_rnn_f64_forward(&tr, bt.x, bt.y, bt.t, B, NULL, NULL);
    c.n_scored = tr.n_scored;
    for (int k = 0; k < n_chunks; k++) /* the states at the cuts: slot k K of every layer */
        for (int l = 0; l < depth; l++) {
            memcpy(c.h0 + k * state + (int64_t)l * B * H, tr.hs[l] + (int64_t)k * K * B * H, (size_t)B * H * sizeof(double));
            if (c.c0) memcpy(c.c0 + k * state + (int64_t)l * B * H, tr.cs[l] + (int64_t)k * K * B * H, (size_t)B * H * sizeof(double));
        }
    for (int a = 0; a < T; a += K) {
        int n = T - a < K ? T - a : K;
        if (c.net[n].params) continue;
        vg_rnn_shape s = make_shape(cell, act, depth, target, loss, 0);
        s.steps = n;
        same_params(&c.net[n], s, &tr);
    }
    double f0 = chunked_loss(&c);
    char name[160];
    snprintf(name, sizeof name, "%s%s depth %d target %d truncated K = %d", vg_cell_name(cell),
             cell == VG_CELL_RNN ? (act == VG_ACT_RELU ? "/relu" : "/tanh") : "", depth, target, K);
    VG_CHECK_MSG(fabs(f0 - l0) <= 1e-13 * fabs(l0), "%s: the chunks' loss %.17g, the loss %.17g", name, f0, l0);

    vg_rnn_f64_forward(&tr, bt.x, bt.y, bt.t, B, NULL, NULL);
    vg_rnn_f64_backward_set(&tr, bt.x, bt.y, bt.t, 0);
    vg_rnn_f64_forward(&full, bt.x, bt.y, bt.t, B, NULL, NULL);
    vg_rnn_f64_backward_set(&full, bt.x, bt.y, bt.t, 0);
    double *g = malloc((size_t)tr.n_params * sizeof *g), *num = malloc((size_t)tr.n_params * sizeof *num);
    double g2 = 0, d2 = 0;
    for (int64_t i = 0; i < tr.n_params; i++) {
        g[i] = tr.grads[i], g2 += g[i] * g[i];
        d2 += (g[i] - full.grads[i]) * (g[i] - full.grads[i]);
    }
    net_grad_scale = sqrt(g2);
    problem pr = {&tr, bt.x, bt.y, bt.t, &c};
    for (int64_t i = 0; i < tr.n_params; i++) num[i] = numeric(&pr, &tr.params[i]);
    errs e = compare_net(&tr, g, num);
    /* truncation moved the gradient: the check above is not full BPTT's passing again */
    double moved = sqrt(d2 / g2);
    printf("%-50s tensor rel err %.2e, element rel err %.2e (truncated vs full: %.2g)\n", name,
           e.norm_err, e.elem_err, moved);
    VG_CHECK_MSG(e.norm_err < 1e-6, "%s: tensor rel err %.3g", name, e.norm_err);
    VG_CHECK_MSG(e.elem_err < 1e-5, "%s: element rel err %.3g", name, e.elem_err);
    VG_CHECK_MSG(moved > 1e-3, "%s: truncation moved the gradient by %.3g only", name, moved);
    n_cases++;
    worst_overall = fmax(worst_overall, e.norm_err);
    for (int n = 0; n <= T; n++)
        if (c.net[n].params) vg_rnn_f64_free(&c.net[n]);
    free(c.h0), free(c.c0), free(g), free(num);
    vg_rnn_f64_free(&tr);
    vg_rnn_f64_free(&full);
}

/* The products by chunks of steps (rnn_impl.h's chunk_steps: ~512 rows of B per chunk). The nets
 * above have B = 3 rows, so their forward and backward are one chunk. A batch of 200 rows cuts
 * T = 7 steps into chunks of 2 (6-7, 4-5, 2-3, 0-1, the first one short); its gradient of the
 * mean loss must be the weighted sum of the gradients of its rows taken 8 at a time (one
 * chunk each), weights = each part's share of the scored pairs; full BPTT and K = 3 (cuts
 * that fall inside a chunk). */
static void check_chunks(int cell, int act, int depth, int target, int K) {
    enum { BIG = 200, PART = 8, TT = 7 };
    int loss = target == VG_TARGET_REAL ? VG_LOSS_MSE : VG_LOSS_CROSS_ENTROPY;
    vg_rnn_shape s = make_shape(cell, act, depth, target, loss, K);
    s.steps = TT, s.max_batch = BIG;
    vg_rnn_f64 big, part;
    vg_rng rng;
    make_net(&big, s, 1000 + cell, &rng);
    s.max_batch = PART;
    same_params(&part, s, &big);
    double *x = malloc(sizeof(double) * BIG * TT * N_IN), *tg = malloc(sizeof(double) * BIG * N_OUT);
    int32_t *y = malloc(sizeof(int32_t) * BIG * TT);
    for (int i = 0; i < BIG * TT * N_IN; i++) x[i] = vg_rng_normal(&rng);
    for (int i = 0; i < BIG * TT; i++)
        y[i] = target == VG_TARGET_STEP_CLASS && vg_rng_uniform(&rng) < 0.3 ? -1 : (int32_t)vg_rng_below(&rng, N_OUT);
    for (int i = 0; i < BIG * N_OUT; i++) tg[i] = vg_rng_normal(&rng);
    int real_t = target == VG_TARGET_REAL;
    int64_t rows_y = target == VG_TARGET_STEP_CLASS ? TT : 1;
    vg_rnn_f64_forward(&big, x, real_t ? NULL : y, real_t ? tg : NULL, BIG, NULL, NULL);
    vg_rnn_f64_backward_set(&big, x, real_t ? NULL : y, real_t ? tg : NULL, 0);
    double *sum = calloc((size_t)big.n_params, sizeof *sum);
    for (int b0 = 0; b0 < BIG; b0 += PART) {
        const int32_t *yy = real_t ? NULL : y + b0 * rows_y;
        const double *tt = real_t ? tg + b0 * N_OUT : NULL;
        vg_rnn_f64_forward(&part, x + (int64_t)b0 * TT * N_IN, yy, tt, PART, NULL, NULL);
        vg_rnn_f64_backward_set(&part, x + (int64_t)b0 * TT * N_IN, yy, tt, 0);
        double w = (double)part.n_scored / (double)big.n_scored;
        for (int64_t i = 0; i < big.n_params; i++) sum[i] += w * part.grads[i];
    }
    double d2 = 0, g2 = 0;
    for (int64_t i = 0; i < big.n_params; i++)
        d2 += (big.grads[i] - sum[i]) * (big.grads[i] - sum[i]), g2 += sum[i] * sum[i];
    double rel = sqrt(d2 / g2);
    VG_CHECK_MSG(g2 > 0 && rel < 1e-12, "%s depth %d target %d K %d: a batch in chunks vs its parts: %.3g",
                 vg_cell_name(cell), depth, target, K, rel);
    free(x), free(tg), free(y), free(sum);
    vg_rnn_f64_free(&part);
    vg_rnn_f64_free(&big);
}

/* The initial state: a forward from h0 (c0) continues a longer sequence exactly. Steps 1..T of
 * a net of length 2T started from zeros are the steps of a net of length T started from the
 * state the first half reached: same hidden states, same loss at the last step. */
static void check_initial_state(int cell) {
    vg_rnn_shape s2 = make_shape(cell, VG_ACT_TANH, 2, VG_TARGET_CLASS, VG_LOSS_CROSS_ENTROPY, 0);
    vg_rnn_shape s1 = s2;
    s2.steps = 2 * T;
    vg_rnn_f64 longer, half;
    vg_rng rng;
    make_net(&longer, s2, 31, &rng);
    same_params(&half, s1, &longer);
    double x[B * 2 * T * N_IN], xs[B * T * N_IN];
    int32_t y[B] = {2, 0, 1};
    for (int i = 0; i < B * 2 * T * N_IN; i++) x[i] = vg_rng_normal(&rng);
    for (int b = 0; b < B; b++) memcpy(xs + b * T * N_IN, x + (b * 2 * T + T) * N_IN, T * N_IN * sizeof *xs);
    double l2 = vg_rnn_f64_forward(&longer, x, y, NULL, B, NULL, NULL);
    double h0[2 * B * H], c0[2 * B * H];
    for (int l = 0; l < 2; l++) {
        memcpy(h0 + l * B * H, longer.hs[l] + (int64_t)T * B * H, B * H * sizeof *h0);
        if (cell == VG_CELL_LSTM) memcpy(c0 + l * B * H, longer.cs[l] + (int64_t)T * B * H, B * H * sizeof *c0);
    }
    vg_rnn_f64_set_initial_state(&half, h0, cell == VG_CELL_LSTM ? c0 : NULL);
    double l1 = vg_rnn_f64_forward(&half, xs, y, NULL, B, NULL, NULL);
    double worst = 0;
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < (T + 1) * B * H; i++)
            worst = fmax(worst, fabs(half.hs[l][i] - longer.hs[l][(int64_t)T * B * H + i]));
    VG_CHECK_MSG(worst < 1e-13 && fabs(l1 - l2) < 1e-13 * l2, "%s: the continued half differs by %.3g (loss %.17g vs %.17g)",
                 vg_cell_name(cell), worst, l1, l2);
    vg_rnn_f64_set_initial_state(&half, NULL, NULL); /* back to zeros */
    vg_rnn_f64_forward(&half, xs, y, NULL, B, NULL, NULL);
    for (int i = 0; i < B * H; i++) VG_CHECK(half.hs[0][i] == 0 && half.hs[1][i] == 0);
    vg_rnn_f64_free(&half);
    vg_rnn_f64_free(&longer);
}

/* Theory: a linear RNN (phi = identity) with W_hh = g Q, Q orthogonal, loss at the last step:
 * dloss/dh_{t-1} = W_hh^T dloss/dh_t, so ||dloss/dh_t|| = g^(T-t) ||dloss/dh_T|| for every
 * sequence (the batch's sum of squares scales by g^(2 (T - t))). */
static void check_linear_decay(double g) {
    enum { TT = 30, HH = 16, BB = 4 };
    vg_rnn_shape s = {.cell = VG_CELL_RNN, .n_inputs = 2, .hidden = HH, .depth = 1, .n_outputs = 3,
                      .steps = TT, .activation = VG_ACT_LINEAR, .loss = VG_LOSS_CROSS_ENTROPY,
                      .target = VG_TARGET_CLASS, .bptt = 0, .max_batch = BB};
    vg_rnn_f64 m;
    vg_error err;
    VG_CHECK(vg_rnn_f64_create(&m, &s, &err) == VG_OK);
    vg_rng rng;
    vg_rng_seed(&rng, 77);
    vg_rnn_init_spec init;
    vg_rnn_init_defaults(&init);
    init.input.gain = 0.1; /* keeps h bounded at g > 1 (the decay does not depend on it) */
    init.rec_value = g;
    vg_rnn_f64_init(&m, &init, &rng);
    double x[BB * TT * 2];
    int32_t y[BB];
    for (int i = 0; i < BB * TT * 2; i++) x[i] = vg_rng_normal(&rng);
    for (int b = 0; b < BB; b++) y[b] = b % 3;
    vg_rnn_f64_forward(&m, x, y, NULL, BB, NULL, NULL);
    vg_rnn_f64_backward_set(&m, x, y, NULL, 1);
    double worst = 0, last = sqrt(m.stats.grad_h2[TT - 1]);
    for (int t = 0; t < TT; t++) {
        double want = pow(g, TT - 1 - t) * last, got = sqrt(m.stats.grad_h2[t]);
        worst = fmax(worst, fabs(got - want) / want);
    }
    printf("linear RNN, W_hh = %.2f Q, T = %d: ||dL/dh_t|| vs g^(T-t) ||dL/dh_T||: rel err %.2e\n", g, TT, worst);
    VG_CHECK_MSG(last > 0 && worst < 1e-5, "g = %g: rel err %.3g", g, worst);
    vg_rnn_f64_free(&m);
}

/* Theory: an LSTM whose recurrent weights are zero has gates that do not depend on h, and with
 * the loss at the last step dloss/dh_t = 0 for t < T, so dloss/dc_t = dloss/dc_T prod_{s>t} f_s
 * element by element: dc_T/dc_t is the product of the forget gates. dc_t is read back from the
 * input gate's pre-activation gradient (dpre_i = dc_t g i (1 - i)) and, summed over units and
 * rows, from the recorded grad_c2. */
static void check_lstm_forget_product(void) {
    enum { TT = 8, HH = 5, BB = 2 };
    vg_rnn_shape s = {.cell = VG_CELL_LSTM, .n_inputs = 3, .hidden = HH, .depth = 1, .n_outputs = 3,
                      .steps = TT, .loss = VG_LOSS_CROSS_ENTROPY, .target = VG_TARGET_CLASS,
                      .max_batch = BB};
    vg_rnn_f64 m;
    vg_error err;
    VG_CHECK(vg_rnn_f64_create(&m, &s, &err) == VG_OK);
    vg_rng rng;
    vg_rng_seed(&rng, 78);
    vg_rnn_init_spec init;
    vg_rnn_init_defaults(&init);
    vg_rnn_f64_init(&m, &init, &rng);
    for (int i = 0; i < 4 * HH * HH; i++) m.W_hh[0][i] = 0;
    for (int i = 0; i < 4 * HH; i++) m.b_ih[0][i] += 0.3 * vg_rng_normal(&rng);
    double x[BB * TT * 3];
    int32_t y[BB] = {0, 2};
    for (int i = 0; i < BB * TT * 3; i++) x[i] = vg_rng_normal(&rng);
    vg_rnn_f64_forward(&m, x, y, NULL, BB, NULL, NULL);
    vg_rnn_f64_backward_set(&m, x, y, NULL, 1);
    const int GH = 4 * HH;
    double worst = 0, worst_c2 = 0;
    for (int t = 0; t < TT; t++) {
        double c2 = 0;
        for (int b = 0; b < BB; b++)
            for (int j = 0; j < HH; j++) {
                const double *gT = m.gate[0] + ((int64_t)(TT - 1) * BB + b) * GH;
                const double *gt = m.gate[0] + ((int64_t)t * BB + b) * GH;
                double dcT = m.dpre[0][((int64_t)(TT - 1) * BB + b) * GH + j] / (gT[2 * HH + j] * gT[j] * (1 - gT[j]));
                double dct = m.dpre[0][((int64_t)t * BB + b) * GH + j] / (gt[2 * HH + j] * gt[j] * (1 - gt[j]));
                double prod = 1;
                for (int s2 = t + 1; s2 < TT; s2++) prod *= m.gate[0][((int64_t)s2 * BB + b) * GH + HH + j];
                worst = fmax(worst, fabs(dct - dcT * prod) / fabs(dcT * prod));
                c2 += dcT * prod * dcT * prod;
            }
        worst_c2 = fmax(worst_c2, fabs(m.stats.grad_c2[t] - c2) / c2);
    }
    printf("LSTM, W_hh = 0: dL/dc_t vs dL/dc_T prod f: rel err %.2e (grad_c2 %.2e)\n", worst, worst_c2);
    VG_CHECK_MSG(worst < 1e-10 && worst_c2 < 1e-10, "dc_T/dc_t: %.3g, grad_c2: %.3g", worst, worst_c2);
    vg_rnn_f64_free(&m);
}

/* Gate saturation: an LSTM whose forget and input biases are +-20 has those gates within 0.01
 * of 1 and 0 everywhere (fraction 1), and with tiny weights and zero biases every sigmoid gate
 * sits near 0.5 (fraction 0); a GRU likewise; a tanh RNN with huge input weights saturates. */
static void check_saturation(void) {
    for (int cell = 0; cell < VG_CELL_COUNT; cell++) {
        vg_rnn_shape s = make_shape(cell, VG_ACT_TANH, 1, VG_TARGET_CLASS, VG_LOSS_CROSS_ENTROPY, 0);
        vg_rnn_f64 m;
        vg_error err;
        VG_CHECK(vg_rnn_f64_create(&m, &s, &err) == VG_OK);
        vg_rng rng;
        vg_rng_seed(&rng, 12);
        double x[B * T * N_IN];
        int32_t y[B] = {0, 1, 2};
        for (int i = 0; i < B * T * N_IN; i++) x[i] = vg_rng_normal(&rng);
        int G = m.gates;
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t i = 0; i < m.n_params; i++) m.params[i] = 1e-3 * vg_rng_normal(&rng);
            if (pass == 1) {
                for (int j = 0; j < G * H; j++) m.b_ih[0][j] = (j / H) % 2 ? 20 : -20;
                if (cell == VG_CELL_RNN)
                    for (int j = 0; j < H * N_IN; j++) m.W_ih[0][j] = 50 * vg_rng_normal(&rng);
            }
            vg_rnn_f64_forward(&m, x, y, NULL, B, NULL, NULL);
            vg_rnn_f64_backward_set(&m, x, y, NULL, 1);
            for (int g = 0; g < G; g++) {
                double f = m.stats.saturated[g];
                /* pass 1: blocks 1, 3 at +20 and 0, 2 at -20 (a tanh block's +-20 saturates too;
                 * the GRU's n block adds r (W_hn h + b_hn), small here) */
                int want = pass == 1 && (cell != VG_CELL_RNN || g == 0);
                if (cell == VG_CELL_RNN && pass == 1) /* 50 x N(0,1) inputs: almost all */
                    VG_CHECK_MSG(f > 0.9, "%s gate %d: saturated %.3f", vg_cell_name(cell), g, f);
                else
                    VG_CHECK_MSG(want ? f == 1 : f == 0, "%s pass %d gate %d: saturated %.3f", vg_cell_name(cell), pass, g, f);
            }
        }
        vg_rnn_f64_free(&m);
    }
}

/* The initializers: orthogonal gate blocks (Q^T Q = g^2 I), identity, the forget bias; the
 * f32 net drawn from the same seed as the f64 one agrees with it to float rounding, and so do
 * its gradients. */
static void check_init_and_f32(void) {
    for (int cell = 0; cell < VG_CELL_COUNT; cell++) {
        vg_rnn_shape s = make_shape(cell, VG_ACT_TANH, 2, VG_TARGET_STEP_CLASS, VG_LOSS_CROSS_ENTROPY, 0);
        vg_rnn_f64 m;
        vg_rnn_f32 f;
        vg_error err;
        VG_CHECK(vg_rnn_f64_create(&m, &s, &err) == VG_OK);
        VG_CHECK(vg_rnn_f32_create(&f, &s, &err) == VG_OK);
        vg_rnn_init_spec init;
        vg_rnn_init_defaults(&init);
        init.rec_value = 1.3, init.bias = 0.1;
        vg_rng r1, r2;
        vg_rng_seed(&r1, 5), vg_rng_seed(&r2, 5);
        vg_rnn_f64_init(&m, &init, &r1);
        vg_rnn_f32_init(&f, &init, &r2);
        double worst = 0;
        for (int l = 0; l < 2; l++)
            for (int g = 0; g < m.gates; g++) {
                const double *Q = m.W_hh[l] + (int64_t)g * H * H;
                for (int i = 0; i < H; i++)
                    for (int j = 0; j < H; j++) {
                        double d = 0;
                        for (int k = 0; k < H; k++) d += Q[k * H + i] * Q[k * H + j];
                        worst = fmax(worst, fabs(d - (i == j) * 1.69));
                    }
            }
        VG_CHECK_MSG(worst < 1e-12, "%s: orthogonal blocks off by %.3g", vg_cell_name(cell), worst);
        if (cell == VG_CELL_LSTM)
            for (int j = 0; j < 4 * H; j++)
                VG_CHECK(m.b_ih[0][j] == (j >= H && j < 2 * H ? 1.1 : 0.1) && m.b_hh[0][j] == 0.1);
        double pd = 0;
        for (int64_t i = 0; i < m.n_params; i++) pd = fmax(pd, fabs(m.params[i] - f.params[i]));
        VG_CHECK_MSG(pd < 1e-6, "f32 and f64 init differ by %.3g", pd);
        vg_rng rng;
        vg_rng_seed(&rng, 6);
        double x[B * T * N_IN];
        float xf[B * T * N_IN];
        int32_t y[B * T];
        for (int i = 0; i < B * T * N_IN; i++) xf[i] = (float)(x[i] = vg_rng_normal(&rng));
        for (int i = 0; i < B * T; i++) y[i] = (int32_t)vg_rng_below(&rng, N_OUT);
        double l64 = vg_rnn_f64_forward(&m, x, y, NULL, B, NULL, NULL);
        double l32 = vg_rnn_f32_forward(&f, xf, y, NULL, B, NULL, NULL);
        vg_rnn_f64_backward_set(&m, x, y, NULL, 0);
        vg_rnn_f32_backward_set(&f, xf, y, NULL, 0);
        double d2 = 0, g2 = 0;
        for (int64_t i = 0; i < m.n_params; i++)
            d2 += (m.grads[i] - f.grads[i]) * (m.grads[i] - f.grads[i]), g2 += m.grads[i] * m.grads[i];
        VG_CHECK_MSG(fabs(l64 - l32) < 1e-5 * l64 && sqrt(d2 / g2) < 1e-4, "%s: f32 vs f64 loss %.3g, gradient %.3g", vg_cell_name(cell), fabs(l64 - l32), sqrt(d2 / g2));
        vg_rnn_f64_free(&m);
        vg_rnn_f32_free(&f);
    }
    /* identity (IRNN) */
    vg_rnn_shape s = make_shape(VG_CELL_RNN, VG_ACT_RELU, 1, VG_TARGET_CLASS, VG_LOSS_CROSS_ENTROPY, 0);
    vg_rnn_f64 m;
    vg_error err;
    VG_CHECK(vg_rnn_f64_create(&m, &s, &err) == VG_OK);
    vg_rnn_init_spec init;
    vg_rnn_init_defaults(&init);
    init.recurrent = VG_RINIT_IDENTITY, init.rec_value = 0.5;
    vg_rng rng;
    vg_rng_seed(&rng, 9);
    vg_rnn_f64_init(&m, &init, &rng);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < H; j++) VG_CHECK(m.W_hh[0][i * H + j] == (i == j ? 0.5 : 0));
    vg_rnn_f64_free(&m);
}
int main(void) {
    uint64_t seed = 1;
    int cells[][2] = {{VG_CELL_RNN, VG_ACT_TANH}, {VG_CELL_RNN, VG_ACT_RELU}, {VG_CELL_LSTM, 0}, {VG_CELL_GRU, 0}};
    for (int c = 0; c < 4; c++)
        for (int depth = 1; depth <= 2; depth++)
            for (int target = 0; target < 3; target++) {
                int loss = target == VG_TARGET_REAL ? VG_LOSS_MSE : VG_LOSS_CROSS_ENTROPY;
                check_full(cells[c][0], cells[c][1], depth, target, loss, seed++);
                if (target == VG_TARGET_CLASS)
                    check_full(cells[c][0], cells[c][1], depth, target, VG_LOSS_MSE, seed++);
            }
    for (int c = 0; c < 4; c++)
        for (int depth = 1; depth <= 2; depth++) check_truncated(cells[c][0], cells[c][1], depth, seed++);
    /* truncated BPTT against finite differences: K = 2 (three even chunks) on every target;
     * K = 4 (chunks of 4 and 2) and K = 1 (a cut before every step) on losses at every step */
    for (int c = 0; c < 4; c++)
        for (int depth = 1; depth <= 2; depth++) {
            for (int target = 0; target < 3; target++)
                check_truncated_fd(cells[c][0], cells[c][1], depth, target, 2, seed++);
            check_truncated_fd(cells[c][0], cells[c][1], depth, VG_TARGET_STEP_CLASS, 4, seed++);
            check_truncated_fd(cells[c][0], cells[c][1], depth, VG_TARGET_STEP_CLASS, 1, seed++);
        }
    for (int c = 0; c < VG_CELL_COUNT; c++) check_initial_state(c);
    for (int c = 0; c < 4; c++)
        for (int target = 0; target < 3; target++) {
            check_chunks(cells[c][0], cells[c][1], 2, target, 0);
            check_chunks(cells[c][0], cells[c][1], 2, target, 3);
        }
    printf("a batch of 200 in chunks of 2 steps = its parts of 8 rows, every cell and target, full and K = 3\n");
    check_linear_decay(0.8);
    check_linear_decay(1.0);
    check_linear_decay(1.25);
    check_lstm_forget_product();
    check_init_and_f32();
    check_saturation();
    printf("%d nets checked; worst tensor relative error %.2e\n", n_cases, worst_overall);
    return vg_test_finish("test_rnn_gradcheck");
}
