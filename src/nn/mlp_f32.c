/* The float instantiation of the MLP: what every run trains with. */
#define real float
#define SFX(name) name##_f32
#define MLP_FN(name) vg_mlp_f32_##name
#define GEMM cblas_sgemm
#define EXP expf
#define TANH tanhf
#include "nn/mlp_impl.h"
