/* The fp32 FMA peak of one core: independent chains of vector FMAs (enough of them to cover
 * the FMA latency on every pipe), in AVX-512 when the CPU has it, else AVX2. No memory
 * traffic: this is the ceiling no kernel can pass, what "percent of peak" is measured against.
 * x86-64 only (VG_HAVE_AVX512, from CMake); elsewhere the peak is unknown: 0, isa "none". */
#include <time.h>

#if !(defined(VG_HAVE_AVX512) && defined(__x86_64__))
double vgbench_fma_peak(const char **isa) {
    *isa = "none";
    return 0;
}
#else
#include <immintrin.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHAINS 12 /* latency 4 x 2 pipes = 8 in flight; 12 leaves slack */

/* Returns a value depending on every chain so the compiler keeps them; *flops counts. */
__attribute__((target("avx512f"), noinline)) static float chains_avx512(long iters) {
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
        _Pragma("GCC unroll 16") /* kept in registers at -O2 too (in memory: a third) */
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"), noinline)) static float chains_avx2(long iters) {
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
        _Pragma("GCC unroll 16") /* kept in registers at -O2 too (in memory: a third) */
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    __m256 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm256_add_ps(s, acc[c]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

volatile float vgbench_fma_sink;

/* GFLOP/s, the best of several 0.1 s samples (a shared machine only ever slows a sample). */
double vgbench_fma_peak(const char **isa) {
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    int lanes = wide ? 16 : 8;
    *isa = wide ? "avx512" : "avx2";
    if (!wide && !__builtin_cpu_supports("fma")) return *isa = "none", 0;
    double best = 0;
    long iters = 1 << 20;
    for (int rep = 0; rep < 12; rep++) {
        double t0 = now();
        vgbench_fma_sink = wide ? chains_avx512(iters) : chains_avx2(iters);
        double dt = now() - t0;
        double g = 2.0 * lanes * CHAINS * (double)iters / dt * 1e-9;
        if (g > best) best = g;
        if (dt < 0.05) iters *= 2;
    }
    return best;
}
#endif
