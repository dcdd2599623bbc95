/* The training step allocates nothing: a run of 1 epoch and a run of 4 epochs of the same
 * configuration (every norm, clip and optimizer kind exercised) make the same number of heap
 * allocations, counted by wrapping malloc/calloc/realloc at link time (-Wl,--wrap). */
#include <stdlib.h>

#include "vg_test.h"
#include "vgsweep/config.h"
#include "vgsweep/data.h"
#include "vgsweep/train.h"

static long n_allocs = 0;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) { n_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { n_allocs++; return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { n_allocs++; return __real_realloc(p, n); }

static long allocations_of_run(vg_run_config cfg, int epochs) {
    cfg.train_epochs = epochs;
    vg_dataset ds;
    vg_run_result res;
    VG_CHECK(vg_dataset_make(&cfg, &ds, NULL) == VG_OK);
    VG_CHECK(vg_run_result_init(&res, &cfg, NULL) == VG_OK);
    long before = n_allocs;
    VG_CHECK(vg_train_run(&cfg, &ds, &res, NULL, NULL) == VG_OK);
    long during = n_allocs - before;
    VG_CHECK_MSG(res.status == VG_RUN_OK, "run status %d: %s", res.status, res.message);
    vg_run_result_free(&res);
    vg_dataset_free(&ds);
    return during;
}

int main(void) {
    vg_run_config cfg;
    vg_run_config_defaults(&cfg);
    cfg.data_train_size = 200, cfg.data_test_size = 50, cfg.record_probe = 40;
    cfg.model_depth = 4, cfg.model_width = 16, cfg.train_batch_size = 16;
    strcpy(cfg.id, "000000000000");
    cfg.seed = 9;
    for (int norm = 0; norm < VG_NORM_COUNT; norm++)
        for (int opt = 0; opt < VG_OPT_COUNT; opt++) {
            cfg.model_norm = norm, cfg.train_optimizer = opt;
            cfg.train_clip = (norm + opt) % VG_CLIP_COUNT;
            cfg.model_skip_every = opt % 3;
            cfg.train_schedule = opt % VG_SCHED_COUNT;
            cfg.train_lr = opt == VG_OPT_SGD || opt == VG_OPT_MOMENTUM ? 0.05 : 0.001;
            long one = allocations_of_run(cfg, 1), four = allocations_of_run(cfg, 4);
            VG_CHECK_MSG(one > 0, "the wrapped allocator saw no allocation at all (setup allocates)");
            VG_CHECK_MSG(one == four, "norm %d optimizer %d: %ld allocations for 1 epoch, %ld for 4", norm, opt, one, four);
        }
    /* the recurrent nets (issue 20): every cell on every sequence task, full and truncated
     * BPTT, the statistics of the probe checkpoints included */
    for (int kind = VG_MODEL_RNN; kind <= VG_MODEL_GRU; kind++)
        for (int task = 0; task < 3; task++)
            for (int bptt = 0; bptt <= 3; bptt += 3) {
                vg_run_config rc;
                vg_run_config_defaults(&rc);
                strcpy(rc.id, "000000000001");
                rc.seed = 11;
                rc.model_kind = kind, rc.model_depth = 2, rc.model_width = 8;
                rc.model_activation = VG_ACT_TANH;
                rc.data_kind = task == 0 ? VG_DATA_ADDING : task == 1 ? VG_DATA_COPY : VG_DATA_TEMPORAL_ORDER;
                rc.data_length = task == 2 ? 12 : 6;
                int steps, sf, classes, targets;
                VG_CHECK(vg_data_task_shape(rc.data_kind, rc.data_length, &steps, &sf, &classes, &targets));
                rc.data_features = steps * sf;
                if (classes) rc.data_classes = classes;
                rc.train_loss = task == 0 ? VG_LOSS_MSE : VG_LOSS_CROSS_ENTROPY;
                rc.data_train_size = 64, rc.data_test_size = 16, rc.record_probe = 16;
                rc.train_batch_size = 16, rc.train_bptt = bptt;
                rc.train_optimizer = (kind + task) % VG_OPT_COUNT;
                rc.train_clip = (kind + task + bptt) % VG_CLIP_COUNT;
                rc.train_lr = 0.01;
                long one = allocations_of_run(rc, 1), four = allocations_of_run(rc, 4);
                VG_CHECK_MSG(one == four, "%s on task %d, bptt %d: %ld allocations for 1 epoch, %ld for 4",
                             vg_model_kind_names[kind], task, bptt, one, four);
            }
    /* without a probe batch (record.probe: 0): checkpoints take only the weight norms */
    cfg.record_probe = 0, cfg.model_norm = VG_NORM_BATCH, cfg.train_optimizer = VG_OPT_ADAM;
    long one = allocations_of_run(cfg, 1), four = allocations_of_run(cfg, 4);
    VG_CHECK_MSG(one == four, "record.probe 0: %ld allocations for 1 epoch, %ld for 4", one, four);
    return vg_test_finish("test_noalloc");
}
