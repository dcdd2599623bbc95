/* AVX-512 forms of the float activations that call libm (act_avx512.c). Internal to src/nn. */
#ifndef VGSWEEP_NN_ACT_AVX512_H
#define VGSWEEP_NN_ACT_AVX512_H

#include <stdint.h>

/* 1 when this CPU has AVX-512 and the activation has a vector form here. */
int vg__act_avx512_handles(int activation);
/* As vg_act_forward_f32 / vg_act_backward_f32; p is elu's alpha (ignored otherwise). */
void vg__act_forward_avx512(float *a, const float *u, int64_t n, int activation, float p);
void vg__act_backward_avx512(float *du, const float *da, const float *u, const float *a, int64_t n,
                             int activation, float p);

#endif
