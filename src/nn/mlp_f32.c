/* The float instantiation of the MLP: what every run trains with. */
#define real float
#define SFX(name) name##_f32
#define MLP_FN(name) vg_mlp_f32_##name
#define MODEL_FN(name) vg_model_f32_##name
#define GEMM cblas_sgemm
#define EXP expf
#define EXPM1 expm1f
#define TANH tanhf
#define ERF erff
#define VG_MLP_FLOAT_KERNELS 1
#include "nn/mlp_impl.h"
#include "nn/model_impl.h"
#include "nn/mlp_model_impl.h"
