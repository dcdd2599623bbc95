/* The float instantiation of the recurrent nets: what runs train with. */
#define real float
#define SFX(name) name##_f32
#define RNN_FN(name) vg_rnn_f32_##name
#define GEMM cblas_sgemm
#define EXP expf
#define TANH tanhf
#define VG_RNN_FLOAT_KERNELS 1
#include "nn/rnn_impl.h"
#define MODEL_FN_RNN(name) vg_model_f32_##name
#include "nn/rnn_model_impl.h"
#undef MODEL_FN_RNN
