/* The double instantiation of the recurrent nets: the same code, proven against finite
 * differences (tests/test_rnn_gradcheck.c). */
#define real double
#define SFX(name) name##_f64
#define RNN_FN(name) vg_rnn_f64_##name
#define GEMM cblas_dgemm
#define EXP exp
#define TANH tanh
#include "nn/rnn_impl.h"
#define MODEL_FN_RNN(name) vg_model_f64_##name
#include "nn/rnn_model_impl.h"
#undef MODEL_FN_RNN

int vg_cell_gates(int cell) { return cell == VG_CELL_LSTM ? 4 : cell == VG_CELL_GRU ? 3 : 1; }

const char *vg_cell_name(int cell) {
    return cell == VG_CELL_LSTM ? "lstm" : cell == VG_CELL_GRU ? "gru" : "rnn";
}

void vg_rnn_init_defaults(vg_rnn_init_spec *init) {
    memset(init, 0, sizeof *init);
    init->input.kind = VG_INIT_XAVIER_UNIFORM;
    init->input.gain = 1;
    init->readout.kind = VG_INIT_XAVIER_UNIFORM;
    init->readout.gain = 1;
    init->recurrent = VG_RINIT_ORTHOGONAL;
    init->rec_value = 1;
    init->forget_bias = 1;
}
