/* What a sample's targets are, and the shapes of the generated sequence tasks: the one place
 * that says them, below both the data stage (which makes the targets) and the core (which scores
 * them), and used by the sweep loader, which derives data.features and data.classes from a
 * task's shape before any data exists. Part of the config stage (cmake/vg_layers.cmake). */
#ifndef VGSWEEP_TARGETS_H
#define VGSWEEP_TARGETS_H

#include "vgsweep/settings.h"

/* What a sample's target is. Every set made before the recurrent nets has VG_TARGET_CLASS. */
typedef enum vg_target_kind {
    VG_TARGET_CLASS = 0, /* y: (n) class index in [0, classes); a sequence is scored at its last
                          * step (temporal_order, image rows) */
    VG_TARGET_STEP_CLASS, /* y: (n, steps) class index per step, or -1 where that step is not
                           * scored (the copy task); the loss is the mean over scored steps */
    VG_TARGET_REAL,      /* t: (n, targets) real values (a CSV's regression column, the adding
                          * task at the last step); the loss is MSE, mean over rows and targets */
} vg_target_kind;

/* The alphabets of the sequence tasks (src/data/dataset.c makes them). copy: 0 blank, 1..8 the
 * symbols, 9 the delimiter; the targets are blank or a symbol (9 classes: the delimiter is never
 * one). temporal_order: 0..3 the noise symbols a-d, 4 X, 5 Y, 6 the start symbol B, 7 the end
 * symbol E (Hochreiter & Schmidhuber 1997, 6a). */
#define VG_COPY_SYMBOLS 10 /* to remember, each one of 8 categories (Arjovsky et al. 2016) */
#define VG_COPY_ALPHABET 10
#define VG_TORDER_ALPHABET 8

/* The shape of a generated sequence task (data.kind adding, copy, temporal_order) of length T
 * (data.length): its steps, values per step, classes (0: a real target) and real targets per
 * sample. Returns 0 (and sets nothing) for the other kinds. The sweep loader derives
 * data.features = steps * step_features and data.classes from it. */
int vg_data_task_shape(int data_kind, int length, int *steps, int *step_features, int *classes,
                       int *targets);
/* Whether runs of cfg have real (regression) targets: data.kind adding, or csv with
 * data.target real. */
int vg_data_real_target(const vg_run_config *cfg);

#endif
