/* The settings table: one row per setting a sweep file can set. Parsing, validation,
 * `vgsweep --list-settings`, the HDF5 run attributes and docs/SWEEP-FORMAT.md all come from
 * this one table, so they cannot disagree.
 */
#ifndef VGSWEEP_SETTINGS_H
#define VGSWEEP_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

/* Each enumerated setting has an X-macro list of (C name, YAML spelling, parameter): the
 * parameter is the dotted path of the setting that the mapping form `{choice: value}` sets,
 * so `train.clip: {norm: 1.0}` means `train.clip: norm` with `train.clip_threshold: 1.0`
 * (NULL: the choice takes no parameter). */
#define VG_DATA_KINDS(X)                                                     \
    X(CLUSTERS, "clusters", NULL)                                            \
    X(SPIRALS, "spirals", NULL)                                              \
    X(TEACHER, "teacher", NULL)                                              \
    X(FASHION_MNIST, "fashion-mnist", NULL)                                  \
    X(IDX, "idx", "data.path")                                               \
    X(CSV, "csv", "data.path")                                               \
    X(ADDING, "adding", "data.length")                                       \
    X(COPY, "copy", "data.length")                                           \
    X(TEMPORAL_ORDER, "temporal_order", "data.length")

#define VG_DATA_SEQUENCES(X)                                                 \
    X(NONE, "none", NULL)                                                    \
    X(ROWS, "rows", NULL)                                                    \
    X(PIXELS, "pixels", NULL)

#define VG_DATA_TARGETS(X)                                                   \
    X(CLASS, "class", NULL)                                                  \
    X(REAL, "real", NULL)

#define VG_MODEL_KINDS(X)                                                    \
    X(MLP, "mlp", NULL)                                                      \
    X(RNN, "rnn", NULL)                                                      \
    X(LSTM, "lstm", NULL)                                                    \
    X(GRU, "gru", NULL)

/* The initializers of recurrent (hidden-to-hidden) weights; model.recurrent_gain multiplies
 * every one of them, as model.init_gain does for the others. */
#define VG_RECURRENT_INITS(X)                                                \
    X(STANDARD, "standard", NULL)                                            \
    X(NORMAL, "normal", "model.recurrent_std")                               \
    X(UNIFORM, "uniform", "model.recurrent_limit")                           \
    X(XAVIER_UNIFORM, "xavier_uniform", NULL)                                \
    X(XAVIER_NORMAL, "xavier_normal", NULL)                                  \
    X(ORTHOGONAL, "orthogonal", "model.recurrent_gain")                      \
    X(IDENTITY, "identity", "model.recurrent_gain")

#define VG_DATA_SAMPLES(X)                                                   \
    X(FIRST, "first", NULL)                                                  \
    X(RANDOM, "random", NULL)

#define VG_ACTIVATIONS(X)                                                    \
    X(SIGMOID, "sigmoid", NULL)                                              \
    X(TANH, "tanh", NULL)                                                    \
    X(RELU, "relu", NULL)                                                    \
    X(LEAKY_RELU, "leaky_relu", "model.leaky_slope")                         \
    X(ELU, "elu", "model.elu_alpha")                                         \
    X(SELU, "selu", NULL)                                                    \
    X(GELU, "gelu", NULL)                                                    \
    X(SOFTSIGN, "softsign", NULL)                                            \
    X(SWISH, "swish", NULL)                                                  \
    X(LINEAR, "linear", NULL)

#define VG_INITS(X)                                                          \
    X(STANDARD, "standard", NULL)                                            \
    X(NORMAL, "normal", "model.init_std")                                    \
    X(UNIFORM, "uniform", "model.init_limit")                                \
    X(XAVIER_UNIFORM, "xavier_uniform", NULL)                                \
    X(XAVIER_NORMAL, "xavier_normal", NULL)                                  \
    X(HE_UNIFORM, "he_uniform", NULL)                                        \
    X(HE_NORMAL, "he_normal", NULL)                                          \
    X(LECUN_NORMAL, "lecun_normal", NULL)                                    \
    X(ORTHOGONAL, "orthogonal", "model.init_gain")

#define VG_NORMS(X)                                                          \
    X(NONE, "none", NULL)                                                    \
    X(BATCH, "batch", NULL)                                                  \
    X(LAYER, "layer", NULL)

#define VG_OPTIMIZERS(X)                                                     \
    X(SGD, "sgd", NULL)                                                      \
    X(MOMENTUM, "momentum", "train.momentum")                                \
    X(ADAM, "adam", NULL)                                                    \
    X(RMSPROP, "rmsprop", NULL)                                              \
    X(ADAGRAD, "adagrad", NULL)

#define VG_SCHEDULES(X)                                                      \
    X(CONSTANT, "constant", NULL)                                            \
    X(STEP, "step", "train.step_every")                                      \
    X(COSINE, "cosine", "train.lr_min")

#define VG_CLIPS(X)                                                          \
    X(NONE, "none", NULL)                                                    \
    X(NORM, "norm", "train.clip_threshold")                                  \
    X(LAYER_NORM, "layer_norm", "train.clip_threshold")                      \
    X(VALUE, "value", "train.clip_threshold")

#define VG_LOSSES(X)                                                         \
    X(CROSS_ENTROPY, "cross_entropy", NULL)                                  \
    X(MSE, "mse", NULL)

#define VG_TENSOR_SETS(X)                                                    \
    X(NONE, "none", NULL)                                                    \
    X(ENDS, "ends", NULL)                                                    \
    X(ALL, "all", NULL)

#define VG_WEIGHT_SETS(X)                                                    \
    X(NONE, "none", NULL)                                                    \
    X(INIT, "init", NULL)                                                    \
    X(ALL, "all", NULL)

#define VG__ITEM_DATA(name, text, param) VG_DATA_##name,
#define VG__ITEM_SAMPLE(name, text, param) VG_SAMPLE_##name,
#define VG__ITEM_ACT(name, text, param) VG_ACT_##name,
#define VG__ITEM_INIT(name, text, param) VG_INIT_##name,
#define VG__ITEM_NORM(name, text, param) VG_NORM_##name,
#define VG__ITEM_OPT(name, text, param) VG_OPT_##name,
#define VG__ITEM_SCHED(name, text, param) VG_SCHED_##name,
#define VG__ITEM_CLIP(name, text, param) VG_CLIP_##name,
#define VG__ITEM_LOSS(name, text, param) VG_LOSS_##name,
#define VG__ITEM_TENSORS(name, text, param) VG_TENSORS_##name,
#define VG__ITEM_WEIGHTS(name, text, param) VG_WEIGHTS_##name,
#define VG__ITEM_SEQ(name, text, param) VG_SEQUENCE_##name,
#define VG__ITEM_TARGET(name, text, param) VG_DATA_TARGET_##name,
#define VG__ITEM_MODEL(name, text, param) VG_MODEL_##name,
#define VG__ITEM_RINIT(name, text, param) VG_RINIT_##name,
typedef enum vg_data_kind { VG_DATA_KINDS(VG__ITEM_DATA) VG_DATA_KIND_COUNT } vg_data_kind;
typedef enum vg_data_sample { VG_DATA_SAMPLES(VG__ITEM_SAMPLE) VG_SAMPLE_COUNT } vg_data_sample;
typedef enum vg_activation { VG_ACTIVATIONS(VG__ITEM_ACT) VG_ACT_COUNT } vg_activation;
typedef enum vg_init { VG_INITS(VG__ITEM_INIT) VG_INIT_COUNT } vg_init;
typedef enum vg_norm { VG_NORMS(VG__ITEM_NORM) VG_NORM_COUNT } vg_norm;
typedef enum vg_optimizer { VG_OPTIMIZERS(VG__ITEM_OPT) VG_OPT_COUNT } vg_optimizer;
typedef enum vg_schedule { VG_SCHEDULES(VG__ITEM_SCHED) VG_SCHED_COUNT } vg_schedule;
typedef enum vg_clip { VG_CLIPS(VG__ITEM_CLIP) VG_CLIP_COUNT } vg_clip;
typedef enum vg_loss { VG_LOSSES(VG__ITEM_LOSS) VG_LOSS_COUNT } vg_loss;
typedef enum vg_tensor_set { VG_TENSOR_SETS(VG__ITEM_TENSORS) VG_TENSORS_COUNT } vg_tensor_set;
typedef enum vg_weight_set { VG_WEIGHT_SETS(VG__ITEM_WEIGHTS) VG_WEIGHTS_COUNT } vg_weight_set;
typedef enum vg_data_sequence { VG_DATA_SEQUENCES(VG__ITEM_SEQ) VG_SEQUENCE_COUNT } vg_data_sequence;
typedef enum vg_data_target { VG_DATA_TARGETS(VG__ITEM_TARGET) VG_DATA_TARGET_COUNT } vg_data_target;
typedef enum vg_model_kind { VG_MODEL_KINDS(VG__ITEM_MODEL) VG_MODEL_KIND_COUNT } vg_model_kind;
typedef enum vg_recurrent_init {
    VG_RECURRENT_INITS(VG__ITEM_RINIT) VG_RINIT_COUNT
} vg_recurrent_init;

/* NULL-terminated spellings, in enum order. */
extern const char *const vg_data_kind_names[];
extern const char *const vg_data_sample_names[];
extern const char *const vg_activation_names[];
extern const char *const vg_init_names[];
extern const char *const vg_optimizer_names[];
extern const char *const vg_norm_names[];
extern const char *const vg_schedule_names[];
extern const char *const vg_clip_names[];
extern const char *const vg_loss_names[];
extern const char *const vg_tensor_set_names[];
extern const char *const vg_weight_set_names[];
extern const char *const vg_data_sequence_names[];
extern const char *const vg_data_target_names[];
extern const char *const vg_model_kind_names[];
extern const char *const vg_recurrent_init_names[];
/* Parallel to each names array: the setting path a choice's mapping form sets, or NULL. */
extern const char *const vg_data_kind_params[];
extern const char *const vg_data_sample_params[];
extern const char *const vg_activation_params[];
extern const char *const vg_init_params[];
extern const char *const vg_optimizer_params[];
extern const char *const vg_norm_params[];
extern const char *const vg_schedule_params[];
extern const char *const vg_clip_params[];
extern const char *const vg_loss_params[];
extern const char *const vg_tensor_set_params[];
extern const char *const vg_weight_set_params[];
extern const char *const vg_data_sequence_params[];
extern const char *const vg_data_target_params[];
extern const char *const vg_model_kind_params[];
extern const char *const vg_recurrent_init_params[];

typedef enum vg_setting_type {
    VG_TYPE_INT,  /* stored as int */
    VG_TYPE_REAL, /* stored as double */
    VG_TYPE_ENUM, /* stored as int, an index into choices */
    VG_TYPE_BOOL, /* stored as int, 0 or 1 */
    VG_TYPE_STRING, /* stored as vg_setting_text, NUL-terminated ("" when unset) */
} vg_setting_type;

/* A STRING setting's storage: a run config is copied by value, so its text lives inside it. */
#define VG_SETTING_TEXT_MAX 512
typedef char vg_setting_text[VG_SETTING_TEXT_MAX];

/* Bounds for INT and REAL. VG_LO_OPEN makes the lower bound exclusive ("> 0"). */
#define VG_LO_OPEN 1u
#define VG_HI_OPEN 2u
#define VG_INF 1e300

/* X(C field, "dotted.path", TYPE, lo, hi, bound flags, choice list, "default", "help")
 * The field is the member of vg_run_config that holds the resolved value; the choice list of
 * an ENUM names its vg_<list>_names and vg_<list>_params arrays. */
#define VG_SETTINGS(X)                                                                           \
    X(data_kind, "data.kind", ENUM, 0, 0, 0, vg_data_kind, "clusters",                           \
      "data set; generated from the seed: clusters (Gaussian blobs), spirals, teacher (labels "  \
      "of a random MLP); read from files: fashion-mnist (Debian's dataset-fashion-mnist), idx "  \
      "(the IDX files in data.path), csv (data.path); sequence tasks of data.length steps, for "   \
      "recurrent nets: adding, copy, temporal_order; see Data sets")                            \
    X(data_path, "data.path", STRING, 0, 0, 0, NULL, "",                                         \
      "idx: directory of the four *-ubyte[.gz] files; csv: the training file (relative paths: "  \
      "to the sweep file's directory)")                                                          \
    X(data_test_path, "data.test_path", STRING, 0, 0, 0, NULL, "",                               \
      "csv: a second file holding the test split (empty: data.test_fraction of data.path)")      \
    X(data_label, "data.label", STRING, 0, 0, 0, NULL, "label",                                  \
      "csv: name of the label column (integers or strings; strings map to classes in sorted "    \
      "order)")                                                                                  \
    X(data_target, "data.target", ENUM, 0, 0, 0, vg_data_target, "class",                        \
      "csv: the label column holds classes, or real: regression targets (train.loss: mse; "      \
      "several target columns: data.label: \"a,b\")")                                            \
    X(data_test_fraction, "data.test_fraction", REAL, 0, 1, VG_HI_OPEN, NULL, "0.2",             \
      "csv without data.test_path: fraction of the rows held out for testing (a seeded draw)")   \
    X(data_train_size, "data.train_size", INT, -1, 10000000, 0, NULL, "2000",                    \
      "number of training samples (loaded sets: at most; -1: every sample of the split)")       \
    X(data_test_size, "data.test_size", INT, -1, 10000000, 0, NULL, "500",                       \
      "number of held-out test samples (0: no test evaluation; loaded sets: -1: all)")           \
    X(data_sample, "data.sample", ENUM, 0, 0, 0, vg_data_sample, "first",                        \
      "loaded sets: train_size/test_size take the first N samples of each split, or random: N "  \
      "drawn without replacement with data.seed")                                                \
    X(data_scale, "data.scale", BOOL, 0, 1, 0, NULL, "true",                                     \
      "fashion-mnist/idx: pixel values divided by 255, into [0, 1]")                            \
    X(data_standardize, "data.standardize", BOOL, 0, 1, 0, NULL, "false",                        \
      "loaded sets: every feature shifted and scaled to mean 0, std 1 (statistics of the "       \
      "training split only)")                                                                    \
    X(data_features, "data.features", INT, 1, 1000000, 0, NULL, "64", "input dimension")        \
    X(data_classes, "data.classes", INT, 2, 100000, 0, NULL, "10", "number of classes")          \
    X(data_separation, "data.separation", REAL, 0, 1000, 0, NULL, "5",                           \
      "clusters: expected distance between class centres, in units of the noise std")           \
    X(data_seed, "data.seed", INT, -1, 2147483647, 0, NULL, "-1",                                \
      "seed of the generated data; -1: derived from the run's seed")                             \
    X(data_noise, "data.noise", REAL, 0, VG_INF, 0, NULL, "0.1",                                 \
      "spirals: std of the Gaussian noise on each point (the spirals reach radius 1)")          \
    X(data_turns, "data.turns", REAL, 0, 100, VG_LO_OPEN, NULL, "1.5",                           \
      "spirals: turns of each arm around the centre")                                            \
    X(data_teacher_depth, "data.teacher_depth", INT, 0, 1000, 0, NULL, "2",                      \
      "teacher: hidden layers of the random teacher MLP (0: a linear teacher)")                  \
    X(data_teacher_width, "data.teacher_width", INT, 1, 65536, 0, NULL, "64",                    \
      "teacher: units per hidden layer of the teacher")                                          \
    X(data_teacher_activation, "data.teacher_activation", ENUM, 0, 0, 0, vg_activation, "tanh", \
      "teacher: activation of the teacher's hidden layers")                                      \
    X(data_length, "data.length", INT, 1, 10000, 0, NULL, "100",                                \
      "adding, copy, temporal_order: the sequence length T (copy's sequences have T + 20 steps)") \
    X(data_sequence, "data.sequence", ENUM, 0, 0, 0, vg_data_sequence, "none",                   \
      "fashion-mnist/idx fed to a recurrent model.kind: rows (an H x W image is H steps of W "   \
      "pixels) or pixels (H * W steps of 1 pixel)")                                              \
    X(data_permute, "data.permute", BOOL, 0, 1, 0, NULL, "false",                                \
      "data.sequence pixels: the pixels in one fixed random order (pMNIST), drawn from "         \
      "data.seed (0 when -1)")                                                                   \
    X(model_kind, "model.kind", ENUM, 0, 0, 0, vg_model_kind, "mlp",                             \
      "mlp (dense layers), or a recurrent net trained by backpropagation through time: rnn "     \
      "(Elman), lstm, gru")                                                                      \
    X(model_depth, "model.depth", INT, 1, 10000, 0, NULL, "5",                                   \
      "number of hidden layers (mlp: the net has depth + 1 dense layers; recurrent: stacked "    \
      "recurrent layers, then a dense read-out)")                                                \
    X(model_width, "model.width", INT, 1, 65536, 0, NULL, "64",                                  \
      "units per hidden layer (recurrent: the hidden size)")                                     \
    X(model_activation, "model.activation", ENUM, 0, 0, 0, vg_activation, "relu",                \
      "activation of every hidden layer (rnn: tanh unless set; lstm/gru: tanh, fixed by the "    \
      "cell)")                                                                                   \
    X(model_leaky_slope, "model.leaky_slope", REAL, 0, VG_INF, 0, NULL, "0.01",                  \
      "leaky_relu: slope for negative inputs")                                                   \
    X(model_elu_alpha, "model.elu_alpha", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "1",                \
      "elu: alpha, the negative saturation value")                                               \
    X(model_init, "model.init", ENUM, 0, 0, 0, vg_init, "xavier_uniform",                        \
      "weight initializer (every dense layer)")                                                  \
    X(model_init_std, "model.init_std", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "0.01",               \
      "normal: standard deviation")                                                              \
    X(model_init_limit, "model.init_limit", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "0.05",           \
      "uniform: weights from U[-limit, limit]")                                                  \
    X(model_init_gain, "model.init_gain", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "1",                \
      "multiplies the scale of every initializer (the gain of orthogonal)")                      \
    X(model_bias_init, "model.bias_init", REAL, -VG_INF, VG_INF, 0, NULL, "0",                   \
      "initial value of every bias")                                                             \
    X(model_recurrent_init, "model.recurrent_init", ENUM, 0, 0, 0, vg_recurrent_init,           \
      "orthogonal", "rnn/lstm/gru: initializer of the hidden-to-hidden weights (each gate's "    \
      "block on its own; model.init sets the input and read-out weights)")                       \
    X(model_recurrent_gain, "model.recurrent_gain", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "1",      \
      "multiplies the scale of every recurrent initializer (orthogonal: g Q; identity: g I; "    \
      "standard: U(+-g/sqrt(H)); normal: std g; uniform: limit g; xavier_*: gain g)")             \
    X(model_recurrent_std, "model.recurrent_std", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "0.01",     \
      "recurrent normal: standard deviation")                                                    \
    X(model_recurrent_limit, "model.recurrent_limit", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "0.05", \
      "recurrent uniform: weights from U[-limit, limit]")                                        \
    X(model_forget_bias, "model.forget_bias", REAL, -VG_INF, VG_INF, 0, NULL, "1",               \
      "lstm: initial bias of the forget gate (the other biases: model.bias_init)")               \
    X(model_norm, "model.norm", ENUM, 0, 0, 0, vg_norm, "none",                                  \
      "normalization between each hidden dense layer and its activation")                        \
    X(model_norm_momentum, "model.norm_momentum", REAL, 0, 1, VG_LO_OPEN, NULL, "0.1",           \
      "batch: weight of the newest batch in the running statistics")                             \
    X(model_norm_eps, "model.norm_eps", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "1e-05",              \
      "batch/layer: added to the variance")                                                      \
    X(model_skip_every, "model.skip.every", INT, 0, 2, 0, NULL, "0",                             \
      "residual blocks of this many hidden layers with an identity shortcut (0: none)")          \
    X(model_skip_scale, "model.skip.scale", REAL, 0, VG_INF, 0, NULL, "1",                       \
      "residual blocks: output = input + scale * branch")                                        \
    X(train_epochs, "train.epochs", INT, 0, 1000000, 0, NULL, "10", "passes over the training set") \
    X(train_batch_size, "train.batch_size", INT, 1, 1000000, 0, NULL, "32",                      \
      "minibatch size (the last batch of an epoch may be smaller)")                              \
    X(train_bptt, "train.bptt", INT, 0, 1000000, 0, NULL, "0",                                   \
      "recurrent: truncated backpropagation through time, the state detached every K steps "     \
      "from the start (PyTorch's h.detach() before steps K+1, 2K+1, ...); 0: full")              \
    X(train_lr, "train.lr", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "0.1", "learning rate")           \
    X(train_optimizer, "train.optimizer", ENUM, 0, 0, 0, vg_optimizer, "sgd", "optimizer")       \
    X(train_momentum, "train.momentum", REAL, 0, 1, VG_HI_OPEN, NULL, "0.9",                     \
      "momentum: the momentum coefficient")                                                      \
    X(train_nesterov, "train.nesterov", BOOL, 0, 1, 0, NULL, "false",                            \
      "momentum: use Nesterov's update")                                                         \
    X(train_beta1, "train.beta1", REAL, 0, 1, VG_HI_OPEN, NULL, "0.9", "adam: first-moment decay") \
    X(train_beta2, "train.beta2", REAL, 0, 1, VG_HI_OPEN, NULL, "0.999",                         \
      "adam: second-moment decay")                                                               \
    X(train_rms_alpha, "train.rms_alpha", REAL, 0, 1, VG_HI_OPEN, NULL, "0.99",                  \
      "rmsprop: decay of the squared-gradient average")                                          \
    X(train_eps, "train.eps", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "1e-08",                        \
      "adam/rmsprop/adagrad: added to the denominator")                                          \
    X(train_weight_decay, "train.weight_decay", REAL, 0, VG_INF, 0, NULL, "0",                   \
      "L2 penalty: weight_decay * w is added to every parameter's gradient")                     \
    X(train_schedule, "train.schedule", ENUM, 0, 0, 0, vg_schedule, "constant",                  \
      "learning-rate schedule, applied per epoch")                                               \
    X(train_step_every, "train.step_every", INT, 1, 1000000, 0, NULL, "10",                      \
      "step: multiply the rate by step_gamma every this many epochs")                            \
    X(train_step_gamma, "train.step_gamma", REAL, 0, 1, VG_LO_OPEN, NULL, "0.1",                 \
      "step: the factor")                                                                        \
    X(train_lr_min, "train.lr_min", REAL, 0, VG_INF, 0, NULL, "0",                               \
      "cosine: the rate reached at the last epoch")                                              \
    X(train_clip, "train.clip", ENUM, 0, 0, 0, vg_clip, "none",                                  \
      "gradient clipping before each update: global norm, per-layer norm, or by value")          \
    X(train_clip_threshold, "train.clip_threshold", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "1",      \
      "clipping threshold (a norm, or the largest absolute value)")                              \
    X(train_loss, "train.loss", ENUM, 0, 0, 0, vg_loss, "cross_entropy",                         \
      "cross_entropy: softmax cross-entropy; mse: mean squared error of the logits to one-hot")  \
    X(record_probe, "record.probe", INT, 0, 1000000, 0, NULL, "128",                             \
      "probe batch: the first N training samples, on which gradients are recorded; 0: none "     \
      "(only the losses, weight norms and weights are recorded)")                                \
    X(record_tensors, "record.tensors", ENUM, 0, 0, 0, vg_tensor_set, "all",                     \
      "layers whose full gradient tensors are written (ends: first and last; ignored when "      \
      "record.probe is 0)")                                                                      \
    X(record_tensor_every, "record.tensor_every", INT, 1, 1000000, 0, NULL, "1",                 \
      "write full tensors at every N-th checkpoint (and always at the last)")                    \
    X(record_weights, "record.weights", ENUM, 0, 0, 0, vg_weight_set, "init",                    \
      "weights written: at initialization, at every tensor checkpoint, or none")

typedef enum vg_setting_id {
#define X(field, path, type, lo, hi, flags, choices, def, help) VG_SET_##field,
    VG_SETTINGS(X)
#undef X
        VG_SETTING_COUNT
} vg_setting_id;

struct vg_node;

#define VG_RUN_ID_LEN 12 /* hex digits: 48 bits of the settings hash */

/* One fully resolved configuration: what a run needs to execute, and nothing it must look up. */
typedef struct vg_run_config {
#define X(field, path, type, lo, hi, flags, choices, def, help) VG__FIELD_##type field;
#define VG__FIELD_INT int
#define VG__FIELD_REAL double
#define VG__FIELD_ENUM int
#define VG__FIELD_BOOL int
#define VG__FIELD_STRING vg_setting_text
    VG_SETTINGS(X)
#undef X
    int64_t index;                  /* position in the expanded grid */
    int repeat;                     /* 0 .. repeats-1 */
    char id[VG_RUN_ID_LEN + 1];     /* hex hash of the resolved settings and repeat */
    uint64_t seed;                  /* from the sweep seed and the id */
    /* Set by vg_data_prepare for data shared across runs (read from files, or a fixed
     * data.seed): the checksum of the prepared data and, for CSV text labels, the class names
     * in class order, one per line (owned by the data registry). Recorded with the run. */
    int has_data_checksum;
    uint64_t data_checksum;
    const char *data_class_names;
    /* The YAML node that set each setting (NULL: the default); for error messages. */
    const struct vg_node *source[VG_SETTING_COUNT];
} vg_run_config;

typedef struct vg_setting {
    const char *path;
    vg_setting_type type;
    size_t offset; /* of the value inside vg_run_config */
    double lo, hi;
    unsigned bound_flags;
    const char *const *choices; /* ENUM only: NULL-terminated spellings */
    const char *const *choice_params; /* ENUM only: per choice, the setting {choice: v} sets */
    const char *default_text;
    const char *help;
} vg_setting;

extern const vg_setting vg_settings[VG_SETTING_COUNT];

/* Index of the setting with that dotted path, or -1. */
int vg_setting_find(const char *path);
/* The resolved value as it would be written in a sweep file ("relu", "0.1", "true"); numbers
 * print with enough digits to read back exactly. */
void vg_setting_format(int setting, const vg_run_config *cfg, char *buf, size_t size);
/* A run config holding every default. */
void vg_run_config_defaults(vg_run_config *cfg);

#endif
