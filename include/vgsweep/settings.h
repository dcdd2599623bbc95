/* The settings table: one row per setting a sweep file can set. Parsing, validation,
 * `vgsweep --list-settings`, the HDF5 run attributes and docs/SWEEP-FORMAT.md all come from
 * this one table, so they cannot disagree.
 *
 * Each enumerated setting has its own X-macro list of (C name, YAML spelling); the C enum and
 * the choice strings are both generated from it. */
#ifndef VGSWEEP_SETTINGS_H
#define VGSWEEP_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#define VG_DATA_KINDS(X) X(CLUSTERS, "clusters")

#define VG_ACTIVATIONS(X)                                                    \
    X(SIGMOID, "sigmoid")                                                    \
    X(TANH, "tanh")                                                          \
    X(RELU, "relu")

#define VG_INITS(X)                                                          \
    X(STANDARD, "standard")                                                  \
    X(NORMAL, "normal")                                                      \
    X(XAVIER_UNIFORM, "xavier_uniform")                                      \
    X(HE_NORMAL, "he_normal")

#define VG_OPTIMIZERS(X) X(SGD, "sgd")

typedef enum vg_data_kind {
#define X(name, text) VG_DATA_##name,
    VG_DATA_KINDS(X)
#undef X
        VG_DATA_KIND_COUNT
} vg_data_kind;
typedef enum vg_activation {
#define X(name, text) VG_ACT_##name,
    VG_ACTIVATIONS(X)
#undef X
        VG_ACT_COUNT
} vg_activation;
typedef enum vg_init {
#define X(name, text) VG_INIT_##name,
    VG_INITS(X)
#undef X
        VG_INIT_COUNT
} vg_init;
typedef enum vg_optimizer {
#define X(name, text) VG_OPT_##name,
    VG_OPTIMIZERS(X)
#undef X
        VG_OPT_COUNT
} vg_optimizer;

/* NULL-terminated spellings, in enum order. */
extern const char *const vg_data_kind_names[];
extern const char *const vg_activation_names[];
extern const char *const vg_init_names[];
extern const char *const vg_optimizer_names[];

typedef enum vg_setting_type {
    VG_TYPE_INT,  /* stored as int */
    VG_TYPE_REAL, /* stored as double */
    VG_TYPE_ENUM, /* stored as int, an index into choices */
    VG_TYPE_BOOL, /* stored as int, 0 or 1 */
} vg_setting_type;

/* Bounds for INT and REAL. VG_LO_OPEN makes the lower bound exclusive ("> 0"). */
#define VG_LO_OPEN 1u
#define VG_HI_OPEN 2u
#define VG_INF 1e300

/* X(C field, "dotted.path", TYPE, lo, hi, bound flags, choices, "default", "help")
 * The field is the member of vg_run_config that holds the resolved value. */
#define VG_SETTINGS(X)                                                                           \
    X(data_kind, "data.kind", ENUM, 0, 0, 0, vg_data_kind_names, "clusters",                     \
      "built-in data set; clusters: Gaussian blobs generated from the seed, no file needed")     \
    X(data_train_size, "data.train_size", INT, 1, 10000000, 0, NULL, "2000",                     \
      "number of training samples")                                                              \
    X(data_test_size, "data.test_size", INT, 0, 10000000, 0, NULL, "500",                        \
      "number of held-out test samples (0: no test evaluation)")                                 \
    X(data_features, "data.features", INT, 1, 1000000, 0, NULL, "64", "input dimension")        \
    X(data_classes, "data.classes", INT, 2, 100000, 0, NULL, "10", "number of classes")          \
    X(data_separation, "data.separation", REAL, 0, 1000, 0, NULL, "5",                           \
      "clusters: expected distance between class centres, in units of the noise std")           \
    X(data_seed, "data.seed", INT, -1, 2147483647, 0, NULL, "-1",                                \
      "seed of the generated data; -1: derived from the run's seed")                             \
    X(model_depth, "model.depth", INT, 1, 10000, 0, NULL, "5",                                   \
      "number of hidden layers (the net has depth + 1 dense layers)")                            \
    X(model_width, "model.width", INT, 1, 65536, 0, NULL, "64", "units per hidden layer")        \
    X(model_activation, "model.activation", ENUM, 0, 0, 0, vg_activation_names, "relu",          \
      "activation of every hidden layer")                                                        \
    X(model_init, "model.init", ENUM, 0, 0, 0, vg_init_names, "xavier_uniform",                  \
      "weight initializer; biases start at zero")                                                \
    X(model_init_std, "model.init_std", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "0.01",               \
      "standard deviation of model.init: normal")                                                \
    X(train_epochs, "train.epochs", INT, 0, 1000000, 0, NULL, "10", "passes over the training set") \
    X(train_batch_size, "train.batch_size", INT, 1, 1000000, 0, NULL, "32",                      \
      "minibatch size (the last batch of an epoch may be smaller)")                              \
    X(train_lr, "train.lr", REAL, 0, VG_INF, VG_LO_OPEN, NULL, "0.1", "learning rate")           \
    X(train_optimizer, "train.optimizer", ENUM, 0, 0, 0, vg_optimizer_names, "sgd",              \
      "optimizer; sgd: w -= lr * grad")                                                          \
    X(record_probe, "record.probe", INT, 1, 1000000, 0, NULL, "128",                             \
      "probe batch: the first N training samples, on which gradients are recorded")             \
    X(record_tensors, "record.tensors", BOOL, 0, 1, 0, NULL, "true",                             \
      "write the full per-layer gradient tensors at every checkpoint")

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
    VG_SETTINGS(X)
#undef X
    int64_t index;                  /* position in the expanded grid */
    int repeat;                     /* 0 .. repeats-1 */
    char id[VG_RUN_ID_LEN + 1];     /* hex hash of the resolved settings and repeat */
    uint64_t seed;                  /* from the sweep seed and the id */
    /* The YAML node that set each setting (NULL: the default); for error messages. */
    const struct vg_node *source[VG_SETTING_COUNT];
} vg_run_config;

typedef struct vg_setting {
    const char *path;
    vg_setting_type type;
    size_t offset; /* of the value inside vg_run_config */
    double lo, hi;
    unsigned bound_flags;
    const char *const *choices; /* ENUM only */
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
