/* The shapes of the generated sequence tasks and whether a run's targets are real
 * (vgsweep/targets.h). */
#include "vgsweep/targets.h"

int vg_data_task_shape(int data_kind, int length, int *steps, int *step_features, int *classes,
                       int *targets) {
    switch (data_kind) {
    case VG_DATA_ADDING: *steps = length, *step_features = 2, *classes = 0, *targets = 1; return 1;
    case VG_DATA_COPY:
        *steps = length + 2 * VG_COPY_SYMBOLS, *step_features = VG_COPY_ALPHABET;
        *classes = 9, *targets = 0;
        return 1;
    case VG_DATA_TEMPORAL_ORDER:
        *steps = length, *step_features = VG_TORDER_ALPHABET, *classes = 4, *targets = 0;
        return 1;
    default: return 0;
    }
}

int vg_data_real_target(const vg_run_config *cfg) {
    return cfg->data_kind == VG_DATA_ADDING ||
           (cfg->data_kind == VG_DATA_CSV && cfg->data_target == VG_DATA_TARGET_REAL);
}
