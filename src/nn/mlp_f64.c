/* The double instantiation of the MLP: the same code, proven against finite differences. */
#define real double
#define SFX(name) name##_f64
#define MLP_FN(name) vg_mlp_f64_##name
#define GEMM cblas_dgemm
#define EXP exp
#define TANH tanh
#include "nn/mlp_impl.h"
