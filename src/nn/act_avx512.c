/* The float activations whose scalar form calls libm (sigmoid, tanh, elu, selu, gelu, swish),
 * 16 lanes at a time with glibc's vector math (libmvec, linked through -lm; at most 4 ulp,
 * as the scalar ones are at most 1-2): in a narrow net these calls, not the products, are most
 * of a step. The formulas are those of mlp_impl.h's scalar kernels, term for term. Used only
 * when the CPU has AVX-512; the results depend on nothing but the inputs. Compiled only for
 * x86-64 with the AVX-512 intrinsics (VG_HAVE_AVX512, from CMake); elsewhere (arm64) no
 * activation has a vector form and mlp_impl.h's scalar kernels run. */
#include <stdint.h>

#include "nn/act_avx512.h"
#include "vgsweep/settings.h"

#if !(defined(VG_HAVE_AVX512) && defined(__x86_64__))
int vg__act_avx512_handles(int activation) {
    (void)activation;
    return 0;
}
void vg__act_forward_avx512(float *a, const float *u, int64_t n, int activation, float p) {
    (void)a, (void)u, (void)n, (void)activation, (void)p;
}
void vg__act_backward_avx512(float *du, const float *da, const float *u, const float *a, int64_t n,
                             int activation, float p) {
    (void)du, (void)da, (void)u, (void)a, (void)n, (void)activation, (void)p;
}
#else
#pragma GCC target("avx512f")
#include <immintrin.h>

__m512 _ZGVeN16v_expf(__m512);
__m512 _ZGVeN16v_expm1f(__m512);
__m512 _ZGVeN16v_tanhf(__m512);
__m512 _ZGVeN16v_erff(__m512);

#define VG_SELU_LAMBDA 1.0507009873554804934193349852946
#define VG_SELU_ALPHA 1.6732632423543772848170429916717

int vg__act_avx512_handles(int activation) {
    if (!__builtin_cpu_supports("avx512f")) return 0;
    switch (activation) {
    case VG_ACT_SIGMOID: case VG_ACT_TANH: case VG_ACT_ELU: case VG_ACT_SELU: case VG_ACT_GELU:
    case VG_ACT_SWISH:
        return 1;
    }
    return 0;
}

static inline __m512 sigmoid16(__m512 u) { /* 1 / (1 + e^-u) */
    const __m512 one = _mm512_set1_ps(1);
    return _mm512_div_ps(one, _mm512_add_ps(one, _ZGVeN16v_expf(_mm512_sub_ps(_mm512_setzero_ps(), u))));
}

/* Loops over n in vectors of 16, the tail under a mask (lanes past n read as 0, not stored). */
#define VG__LANES(n, ...)                                                                     \
    for (int64_t i = 0; i < (n); i += 16) {                                                   \
        __mmask16 k = (n) - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << ((n) - i)) - 1); \
        __VA_ARGS__                                                                           \
    }

void vg__act_forward_avx512(float *a, const float *u, int64_t n, int activation, float p) {
    const __m512 one = _mm512_set1_ps(1), zero = _mm512_setzero_ps();
    switch (activation) {
    case VG_ACT_SIGMOID:
        VG__LANES(n, { _mm512_mask_storeu_ps(a + i, k, sigmoid16(_mm512_maskz_loadu_ps(k, u + i))); })
        break;
    case VG_ACT_TANH:
        VG__LANES(n, { _mm512_mask_storeu_ps(a + i, k, _ZGVeN16v_tanhf(_mm512_maskz_loadu_ps(k, u + i))); })
        break;
    case VG_ACT_ELU:
    case VG_ACT_SELU: { /* l (u > 0 ? u : alpha (e^u - 1)) */
        const int selu = activation == VG_ACT_SELU;
        const __m512 l = _mm512_set1_ps(selu ? (float)VG_SELU_LAMBDA : 1);
        const __m512 la = _mm512_set1_ps(selu ? (float)(VG_SELU_LAMBDA * VG_SELU_ALPHA) : p);
        VG__LANES(n, {
            __m512 x = _mm512_maskz_loadu_ps(k, u + i);
            __mmask16 pos = _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ);
            __m512 neg = _mm512_mul_ps(la, _ZGVeN16v_expm1f(x));
            __m512 r = _mm512_mask_blend_ps(pos, neg, selu ? _mm512_mul_ps(l, x) : x);
            _mm512_mask_storeu_ps(a + i, k, r);
        })
        break;
    }
    case VG_ACT_GELU: { /* 0.5 u (1 + erf(u / sqrt 2)) */
        const __m512 r = _mm512_set1_ps(0.70710678118654752440f), half = _mm512_set1_ps(0.5f);
        VG__LANES(n, {
            __m512 x = _mm512_maskz_loadu_ps(k, u + i);
            __m512 e = _ZGVeN16v_erff(_mm512_mul_ps(x, r));
            _mm512_mask_storeu_ps(a + i, k, _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, e)));
        })
        break;
    }
    case VG_ACT_SWISH: /* u / (1 + e^-u) */
        VG__LANES(n, {
            __m512 x = _mm512_maskz_loadu_ps(k, u + i);
            __m512 d = _mm512_add_ps(one, _ZGVeN16v_expf(_mm512_sub_ps(zero, x)));
            _mm512_mask_storeu_ps(a + i, k, _mm512_div_ps(x, d));
        })
        break;
    }
}

void vg__act_backward_avx512(float *du, const float *da, const float *u, const float *a, int64_t n,
                             int activation, float p) {
    const __m512 one = _mm512_set1_ps(1), zero = _mm512_setzero_ps();
    switch (activation) {
    case VG_ACT_SIGMOID: /* a (1 - a) */
        VG__LANES(n, {
            __m512 y = _mm512_maskz_loadu_ps(k, a + i), g = _mm512_maskz_loadu_ps(k, da + i);
            _mm512_mask_storeu_ps(du + i, k, _mm512_mul_ps(_mm512_mul_ps(g, y), _mm512_sub_ps(one, y)));
        })
        break;
    case VG_ACT_TANH: /* 1 - a^2 */
        VG__LANES(n, {
            __m512 y = _mm512_maskz_loadu_ps(k, a + i), g = _mm512_maskz_loadu_ps(k, da + i);
            _mm512_mask_storeu_ps(du + i, k, _mm512_mul_ps(g, _mm512_sub_ps(one, _mm512_mul_ps(y, y))));
        })
        break;
    case VG_ACT_ELU:
    case VG_ACT_SELU: { /* u > 0 ? l da : da (a + l alpha) */
        const int selu = activation == VG_ACT_SELU;
        const __m512 l = _mm512_set1_ps(selu ? (float)VG_SELU_LAMBDA : 1);
        const __m512 la = _mm512_set1_ps(selu ? (float)(VG_SELU_LAMBDA * VG_SELU_ALPHA) : p);
        VG__LANES(n, {
            __m512 x = _mm512_maskz_loadu_ps(k, u + i), g = _mm512_maskz_loadu_ps(k, da + i);
            __m512 y = _mm512_maskz_loadu_ps(k, a + i);
            __mmask16 pos = _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ);
            __m512 neg = _mm512_mul_ps(g, _mm512_add_ps(y, la));
            _mm512_mask_storeu_ps(du + i, k, _mm512_mask_blend_ps(pos, neg, selu ? _mm512_mul_ps(l, g) : g));
        })
        break;
    }
    case VG_ACT_GELU: { /* Phi(u) + u phi(u) */
        const __m512 r = _mm512_set1_ps(0.70710678118654752440f), half = _mm512_set1_ps(0.5f);
        const __m512 c = _mm512_set1_ps(0.39894228040143267794f), mhalf = _mm512_set1_ps(-0.5f);
        VG__LANES(n, {
            __m512 x = _mm512_maskz_loadu_ps(k, u + i), g = _mm512_maskz_loadu_ps(k, da + i);
            __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(one, _ZGVeN16v_erff(_mm512_mul_ps(x, r))));
            __m512 pdf = _mm512_mul_ps(c, _ZGVeN16v_expf(_mm512_mul_ps(_mm512_mul_ps(mhalf, x), x)));
            _mm512_mask_storeu_ps(du + i, k, _mm512_mul_ps(g, _mm512_add_ps(cdf, _mm512_mul_ps(x, pdf))));
        })
        break;
    }
    case VG_ACT_SWISH: { /* s + a (1 - s), s = sigmoid(u) */
        VG__LANES(n, {
            __m512 x = _mm512_maskz_loadu_ps(k, u + i), g = _mm512_maskz_loadu_ps(k, da + i);
            __m512 y = _mm512_maskz_loadu_ps(k, a + i), s = sigmoid16(x);
            __m512 d = _mm512_add_ps(s, _mm512_mul_ps(y, _mm512_sub_ps(one, s)));
            _mm512_mask_storeu_ps(du + i, k, _mm512_mul_ps(g, d));
        })
        break;
    }
    }
}
#endif
