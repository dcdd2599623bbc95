/* The double instantiation of the MLP: the same code, proven against finite differences. */
#define real double
#define SFX(name) name##_f64
#define MLP_FN(name) vg_mlp_f64_##name
#define MODEL_FN(name) vg_model_f64_##name
#define GEMM cblas_dgemm
#define EXP exp
#define EXPM1 expm1
#define TANH tanh
#define ERF erf
#include "nn/mlp_impl.h"
#include "nn/model_impl.h"
#include "nn/mlp_model_impl.h"

double vg_act_param(const vg_mlp_shape *shape) {
    return shape->activation == VG_ACT_LEAKY_RELU ? shape->leaky_slope : shape->elu_alpha;
}

/* Sampled on [-20, 20] with the double kernel: exact enough for a 5 % threshold, and the same
 * formula as the backward it describes. */
double vg_act_max_slope(int activation, double param) {
    enum { N = 40001 };
    static const double lo = -20, step = 1e-3;
    double best = 0;
    for (int i = 0; i < N; i++) {
        double u = lo + step * i, a, du, one = 1;
        vg_act_forward_f64(&a, &u, 1, activation, param);
        vg_act_backward_f64(&du, &one, &u, &a, 1, activation, param);
        if (du > best) best = du;
    }
    return best;
}
