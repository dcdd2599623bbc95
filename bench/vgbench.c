/* vgbench: the C side of the benchmarks in bench/ (bench/README.md says how to run them).
 *
 *   vgbench step  [options]   training steps/s of vg_mlp_f32: forward (train pass) + backward
 *                             writing the gradients (zero_grad included) + SGD step on one fixed
 *                             batch, as the PyTorch side does
 *   vgbench gemm  [options]   cblas_sgemm alone at the shapes of one such step (three products
 *                             per dense layer: forward, weight gradient, input gradient)
 *   vgbench fma               the fp32 FMA peak of one core (independent FMA chains)
 *   vgbench check             the training core's matrix kernel against a double reference,
 *                             and shared with a helper thread: the same bits as alone
 *
 * Options: --inputs N (784) --depth D (10) --width W (64) --outputs N (10) --batch B (64)
 *          --act NAME (relu) --norm none|batch|layer --skip K (0) --skip-scale S (1)
 *          --seconds S (0.5)
 *          --steps N (run exactly N steps instead of timing for S seconds)
 *          --kernel vg|blas (gemm: the training core's products, or cblas_sgemm; default vg)
 *          --threads T (1; step and gemm: T - 1 helper threads share the products of the one
 *                      timed thread, as idle workers of a sweep share a run's: vgsweep/team.h)
 * Prints one line of key=value pairs: steps_per_s, gflops (6 * weights * batch per step),
 * loss (the last step's, to show the numbers are finite). Single-threaded: run it with
 * OPENBLAS_NUM_THREADS=1 (the drivers in bench/ do). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "nn/gemm.h"
#include "vgsweep/nn.h"
#include "vgsweep/rng.h"
#include "vgsweep/settings.h"
#include "vgsweep/team.h"

double vgbench_fma_peak(const char **isa); /* fma.c: GFLOP/s */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    int inputs, depth, width, outputs, batch, skip, steps;
    int act, norm, blas, threads;
    double seconds, skip_scale;
} opts;

static int lookup(const char *const *names, const char *s) {
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static int parse(opts *o, int argc, char **argv) {
    *o = (opts){.inputs = 784, .depth = 10, .width = 64, .outputs = 10, .batch = 64,
                .act = VG_ACT_RELU, .norm = VG_NORM_NONE, .seconds = 0.5, .skip_scale = 1, .threads = 1};
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return fprintf(stderr, "vgbench: %s needs a value\n", k), -1;
        i++;
        if (!strcmp(k, "--inputs")) o->inputs = atoi(v);
        else if (!strcmp(k, "--depth")) o->depth = atoi(v);
        else if (!strcmp(k, "--width")) o->width = atoi(v);
        else if (!strcmp(k, "--outputs")) o->outputs = atoi(v);
        else if (!strcmp(k, "--batch")) o->batch = atoi(v);
        else if (!strcmp(k, "--skip")) o->skip = atoi(v);
        else if (!strcmp(k, "--steps")) o->steps = atoi(v);
        else if (!strcmp(k, "--seconds")) o->seconds = atof(v);
        else if (!strcmp(k, "--skip-scale")) o->skip_scale = atof(v);
        else if (!strcmp(k, "--act")) o->act = lookup(vg_activation_names, v);
        else if (!strcmp(k, "--norm")) o->norm = lookup(vg_norm_names, v);
        else if (!strcmp(k, "--kernel")) o->blas = !strcmp(v, "blas");
        else if (!strcmp(k, "--threads")) o->threads = atoi(v) > 0 ? atoi(v) : 1;
        else return fprintf(stderr, "vgbench: unknown option %s\n", k), -1;
    }
    if (o->act < 0 || o->norm < 0 || o->depth < 1 || o->width < 1 || o->batch < 1 ||
        o->inputs < 1 || o->outputs < 2 || o->skip < 0 || o->skip > 2)
        return fprintf(stderr, "vgbench: bad option value\n"), -1;
    return 0;
}

/* Parameters of the plain net (weights and biases): the flop count of a step is
 * 6 * parameters * batch (forward, input gradient and weight gradient, 2 flops per
 * multiply-add), used for both the step and the bare products so the two compare directly. */
static double n_params(const opts *o) {
    return (double)(o->inputs + 1) * o->width + (double)(o->depth - 1) * (o->width + 1) * o->width +
           (double)(o->width + 1) * o->outputs;
}

/* Runs fn until `seconds` have passed (at least 3 calls, after 2 warm-up calls), or exactly
 * `steps` calls; returns calls per second. */
#define TIME_LOOP(o, out_rate, ...)                                                       \
    do {                                                                                   \
        int warm = (o)->steps > 0 ? 0 : 2;                                                 \
        for (int w_ = 0; w_ < warm; w_++) { __VA_ARGS__; }                                        \
        double t0_ = now(), t_ = t0_;                                                      \
        long n_ = 0;                                                                       \
        while ((o)->steps > 0 ? n_ < (o)->steps : (n_ < 3 || t_ - t0_ < (o)->seconds)) {   \
            __VA_ARGS__;                                                                   \
            n_++;                                                                          \
            t_ = now();                                                                    \
        }                                                                                  \
        out_rate = (double)n_ / (t_ - t0_);                                                \
    } while (0)

static int bench_step(const opts *o) {
    vg_mlp_shape shape = {.n_inputs = o->inputs, .depth = o->depth, .width = o->width,
                          .n_outputs = o->outputs, .activation = o->act, .leaky_slope = 0.01,
                          .elu_alpha = 1, .norm = o->norm, .norm_momentum = 0.1,
                          .norm_eps = 1e-5, .skip_every = o->skip, .skip_scale = o->skip_scale,
                          .loss = VG_LOSS_CROSS_ENTROPY, .max_batch = o->batch};
    vg_mlp_f32 net;
    vg_optim_f32 opt;
    vg_error err;
    if (vg_mlp_f32_create(&net, &shape, &err) != VG_OK)
        return fprintf(stderr, "vgbench: %s\n", err.message), 1;
    vg_optim_spec os = {.kind = VG_OPT_SGD};
    if (vg_optim_f32_create(&opt, &os, net.n_params, &err) != VG_OK)
        return fprintf(stderr, "vgbench: %s\n", err.message), 1;
    vg_rng rng;
    vg_rng_seed(&rng, 1);
    vg_init_spec init = {.kind = VG_INIT_XAVIER_UNIFORM, .gain = 1};
    vg_mlp_f32_init(&net, &init, &rng);
    float *x = malloc((size_t)o->batch * o->inputs * sizeof *x);
    int32_t *y = malloc((size_t)o->batch * sizeof *y);
    if (!x || !y) return fprintf(stderr, "vgbench: out of memory\n"), 1;
    for (int64_t i = 0; i < (int64_t)o->batch * o->inputs; i++) x[i] = (float)vg_rng_normal(&rng);
    for (int i = 0; i < o->batch; i++) y[i] = (int32_t)vg_rng_below(&rng, (uint64_t)o->outputs);
    double loss = 0, rate;
    TIME_LOOP(o, rate, {
        /* zero_grad + backward in one pass (vg_mlp_f32_backward_set), as train.c steps */
        loss = vg_mlp_f32_forward(&net, x, y, o->batch, VG_PASS_TRAIN, NULL);
        vg_mlp_f32_backward_set(&net, x, y);
        vg_optim_f32_step(&opt, net.params, net.grads, 0.01);
    });
    /* deep residual nets at this initialization can overflow: that is timed like any step,
     * and finite=0 says so (the smoke test wants finite=1) */
    printf("steps_per_s=%.6g gflops=%.6g loss=%.6g finite=%d params=%lld\n", rate,
           rate * 6 * n_params(o) * o->batch * 1e-9, loss, isfinite(loss) ? 1 : 0,
           (long long)net.n_params);
    free(x);
    free(y);
    vg_optim_f32_free(&opt);
    vg_mlp_f32_free(&net);
    return rate > 0 && isfinite(rate) ? 0 : 1;
}

/* The three products of every dense layer of one step, each as the training core calls it. */
static int bench_gemm(const opts *o) {
    int L = o->depth + 1, B = o->batch, maxf = o->inputs > o->width ? o->inputs : o->width;
    if (o->outputs > maxf) maxf = o->outputs;
    float *W = malloc((size_t)maxf * maxf * sizeof *W), *dW = malloc((size_t)maxf * maxf * sizeof *dW);
    float *in = malloc((size_t)B * maxf * sizeof *in), *out = malloc((size_t)B * maxf * sizeof *out);
    float *din = malloc((size_t)B * maxf * sizeof *din);
    if (!W || !dW || !in || !out || !din) return fprintf(stderr, "vgbench: out of memory\n"), 1;
    for (int64_t i = 0; i < (int64_t)maxf * maxf; i++) W[i] = 0.01f * (float)(i % 7), dW[i] = 0;
    for (int64_t i = 0; i < (int64_t)B * maxf; i++) in[i] = 0.1f * (float)(i % 5), out[i] = 0.2f;
    float *work = malloc((size_t)vg__sgemm_work_floats(maxf, B) * sizeof *work);
    if (!work) return fprintf(stderr, "vgbench: out of memory\n"), 1;
    double rate;
    if (o->blas)
        TIME_LOOP(o, rate, {
            for (int l = 0; l < L; l++) {
                int C = l == 0 ? o->inputs : o->width, OC = l == L - 1 ? o->outputs : o->width;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1, in, C, W, C, 0, out, OC);
            }
            for (int l = L - 1; l >= 0; l--) {
                int C = l == 0 ? o->inputs : o->width, OC = l == L - 1 ? o->outputs : o->width;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1, out, OC, in, C, 1, dW, C);
                if (l > 0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1, out, OC, W, C, 0, din, C);
            }
        });
    else
        TIME_LOOP(o, rate, {
            for (int l = 0; l < L; l++) {
                int C = l == 0 ? o->inputs : o->width, OC = l == L - 1 ? o->outputs : o->width;
                vg__sgemm(0, 1, B, OC, C, in, C, W, C, 0, NULL, out, OC, work);
            }
            for (int l = L - 1; l >= 0; l--) {
                int C = l == 0 ? o->inputs : o->width, OC = l == L - 1 ? o->outputs : o->width;
                vg__sgemm(1, 0, OC, C, B, out, OC, in, C, 1, NULL, dW, C, work);
                if (l > 0) vg__sgemm(0, 0, B, C, OC, out, OC, W, C, 0, NULL, din, C, work);
            }
        });
    free(work);
    printf("steps_per_s=%.6g gflops=%.6g kernel=%s\n", rate, rate * 6 * n_params(o) * B * 1e-9,
           o->blas ? "blas" : vg__sgemm_kernel_name());
    free(W), free(dW), free(in), free(out), free(din);
    return 0;
}

/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* vg__sgemm against a double-precision reference on random shapes, every transpose, with and
 * without accumulation and bias (the same shapes and values every call); returns the worst
 * relative error and hashes every result's bits into *hash. */
static double check_products(uint64_t *hash) {
    vg_rng rng;
    vg_rng_seed(&rng, 7);
    float *work = malloc((size_t)vg__sgemm_work_floats(1200, 600) * sizeof *work);
    double worst = work ? 0 : INFINITY;
    *hash = UINT64_C(0xcbf29ce484222325);
    /* the last 32: op(A) transposed with rows more than 512 floats apart, which is packed */
    for (int t = 0; t < 432 && work; t++) {
        int far = t >= 400;
        int M = 1 + (int)vg_rng_below(&rng, t < 200 ? 40 : far ? 600 : 300);
        int N = 1 + (int)vg_rng_below(&rng, t < 200 ? 70 : far ? 100 : 300);
        int K = 1 + (int)vg_rng_below(&rng, t < 200 ? 40 : far ? 160 : 600);
        int ta = far || (t & 1), tb = (t >> 1) & 1, acc = (t >> 2) & 1, use_bias = !acc && ((t >> 3) & 1);
        int lda = (ta ? M : K) + (int)vg_rng_below(&rng, 3), ldb = (tb ? K : N) + (int)vg_rng_below(&rng, 3);
        if (far && lda <= 512) lda = 513 + (int)vg_rng_below(&rng, 600);
        int ldc = N + (int)vg_rng_below(&rng, 3);
        float *A = malloc((size_t)lda * (ta ? K : M) * sizeof *A);
        float *Bm = malloc((size_t)ldb * (tb ? N : K) * sizeof *Bm);
        float *C = malloc((size_t)ldc * M * sizeof *C), *bias = malloc((size_t)N * sizeof *bias);
        double *R = malloc((size_t)M * N * sizeof *R);
        if (!A || !Bm || !C || !bias || !R) return fprintf(stderr, "vgbench: out of memory\n"), INFINITY;
        for (int64_t i = 0; i < (int64_t)lda * (ta ? K : M); i++) A[i] = (float)vg_rng_normal(&rng);
        for (int64_t i = 0; i < (int64_t)ldb * (tb ? N : K); i++) Bm[i] = (float)vg_rng_normal(&rng);
        for (int64_t i = 0; i < (int64_t)ldc * M; i++) C[i] = (float)vg_rng_normal(&rng);
        for (int j = 0; j < N; j++) bias[j] = (float)vg_rng_normal(&rng);
        double scale = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = acc ? C[(int64_t)i * ldc + j] : use_bias ? bias[j] : 0, mag = fabs(s);
                for (int k = 0; k < K; k++) {
                    double p = (double)(ta ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k]) *
                               (tb ? Bm[(int64_t)j * ldb + k] : Bm[(int64_t)k * ldb + j]);
                    s += p, mag += fabs(p);
                }
                R[(int64_t)i * N + j] = s;
                if (mag > scale) scale = mag;
            }
        float sentinel = C[(int64_t)(M - 1) * ldc + N - 1 + (ldc > N)];
        vg__sgemm(ta, tb, M, N, K, A, lda, Bm, ldb, acc, use_bias ? bias : NULL, C, ldc, work);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double e = fabs(C[(int64_t)i * ldc + j] - R[(int64_t)i * N + j]) / scale;
                if (!(e <= worst)) worst = e;
            }
        if (ldc > N && C[(int64_t)(M - 1) * ldc + N] != sentinel) worst = INFINITY; /* wrote past N */
        *hash = fnv1a(*hash, C, (size_t)ldc * M * sizeof *C);
        free(A), free(Bm), free(C), free(bias), free(R);
    }
    free(work);
    return worst;
}

/* The products once on this thread alone, then shared with a helper (vgsweep/team.h): the
 * same bits; then backward_set against zero_grad + backward. The smoke test. */
static int check_gemm(void) {
    vg_rng rng;
    vg_rng_seed(&rng, 8);
    uint64_t alone, shared;
    double worst = check_products(&alone), worst_shared = INFINITY;
    vg_team teams[2];
    vg_team_init(&teams[0]);
    vg_team_init(&teams[1]);
    vg_team_end(&teams[1]);
    int64_t helped0 = vg_team_helped_items();
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 0) {
            vg_team_begin(&teams[0], 1);
            /* the helper has joined before the products worth sharing come (the first 200
             * shapes are too small to share) or some are run alone: either way the same bits */
            worst_shared = check_products(&shared);
            vg_team_end(&teams[0]);
        } else {
            vg_team_help(teams, 2);
        }
    }
    int64_t helped = vg_team_helped_items() - helped0;
    /* backward_set (what a step runs) writes exactly what zero_grad + backward adds */
    int mismatched = 0;
    for (int t = 0; t < 12; t++) {
        vg_mlp_shape shape = {.n_inputs = 13, .depth = 4, .width = 24 + t, .n_outputs = 5,
                              .activation = t % 2 ? VG_ACT_TANH : VG_ACT_RELU, .norm = t % 3,
                              .norm_momentum = 0.1, .norm_eps = 1e-5, .skip_every = (t / 3) % 3,
                              .skip_scale = 1, .loss = t % 5 == 4, .max_batch = 9};
        vg_mlp_f32 net;
        vg_error err;
        if (vg_mlp_f32_create(&net, &shape, &err) != VG_OK) return 1;
        vg_init_spec init = {.kind = VG_INIT_HE_NORMAL, .gain = 1, .bias = 0.1};
        vg_mlp_f32_init(&net, &init, &rng);
        float x[9 * 13];
        int32_t y[9];
        for (int i = 0; i < 9 * 13; i++) x[i] = (float)vg_rng_normal(&rng);
        for (int i = 0; i < 9; i++) y[i] = (int32_t)vg_rng_below(&rng, 5);
        float *g = malloc((size_t)net.n_params * sizeof *g);
        vg_mlp_f32_forward(&net, x, y, 9, VG_PASS_PROBE, NULL);
        vg_mlp_f32_zero_grad(&net);
        vg_mlp_f32_backward(&net, x, y);
        memcpy(g, net.grads, (size_t)net.n_params * sizeof *g);
        for (int64_t i = 0; i < net.n_params; i++) net.grads[i] = 12345.f; /* stale values */
        vg_mlp_f32_forward(&net, x, y, 9, VG_PASS_PROBE, NULL);
        vg_mlp_f32_backward_set(&net, x, y);
        if (memcmp(g, net.grads, (size_t)net.n_params * sizeof *g) != 0) mismatched++;
        free(g);
        vg_mlp_f32_free(&net);
    }
    printf("worst_rel_error=%.3g kernel=%s backward_set_mismatches=%d shared_identical=%d "
           "helped_panels=%lld\n", worst, vg__sgemm_kernel_name(), mismatched,
           alone == shared && worst_shared == worst, (long long)helped);
    return worst < 1e-5 && mismatched == 0 && alone == shared ? 0 : 1;
}

/* bench(o) on this thread, with o->threads - 1 helpers sharing its products. */
static int with_helpers(int (*bench)(const opts *), const opts *o) {
    if (o->threads <= 1 || o->blas) return bench(o);
    vg_team *teams = aligned_alloc(64, (size_t)o->threads * sizeof *teams);
    if (!teams) return fprintf(stderr, "vgbench: out of memory\n"), 1;
    for (int t = 0; t < o->threads; t++) vg_team_init(&teams[t]);
    for (int t = 1; t < o->threads; t++) vg_team_end(&teams[t]);
    int rc = 0;
#pragma omp parallel num_threads(o->threads)
    {
        if (omp_get_thread_num() == 0) {
            vg_team_begin(&teams[0], 1);
            /* the first products wait for no one: the helpers have joined before the clock
             * starts, or the run is short enough not to matter */
            rc = bench(o);
            vg_team_end(&teams[0]);
        } else {
            vg_team_help(teams, o->threads);
        }
    }
    free(teams);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "check")) return check_gemm();
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: vgbench step|gemm|fma|check [--inputs N --depth D --width W --outputs N "
                        "--batch B --act NAME --norm none|batch|layer --skip K --seconds S "
                        "--steps N --threads T]\n");
        return 2;
    }
    if (!strcmp(argv[1], "fma")) {
        const char *isa = "";
        double g = vgbench_fma_peak(&isa);
        printf("gflops=%.6g isa=%s\n", g, isa);
        return g > 0 ? 0 : 1;
    }
    opts o;
    if (parse(&o, argc, argv) != 0) return 2;
    if (!strcmp(argv[1], "step")) return with_helpers(bench_step, &o);
    if (!strcmp(argv[1], "gemm")) return with_helpers(bench_gemm, &o);
    fprintf(stderr, "vgbench: unknown mode %s\n", argv[1]);
    return 2;
}
