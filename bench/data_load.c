/* How long reading and preparing Fashion-MNIST takes (issue 21: under 1 s): vg_dataset_make
 * for data.kind fashion-mnist with all 60,000 + 10,000 images, scaled into [0, 1] (and once
 * more standardized), best of N rounds. Prints wall time and the process's CPU time: on a
 * machine shared with other jobs the CPU time is the figure that does not depend on them.
 *   build/bench/data_load [rounds]        (default 5) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vgsweep/data.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    for (int standardize = 0; standardize < 2; standardize++) {
        vg_run_config cfg;
        vg_run_config_defaults(&cfg);
        cfg.data_kind = VG_DATA_FASHION_MNIST;
        cfg.data_features = 784;
        cfg.data_train_size = cfg.data_test_size = -1;
        cfg.data_standardize = standardize;
        double best_wall = 1e9, best_cpu = 1e9;
        for (int r = 0; r < rounds; r++) {
            vg_dataset ds;
            vg_error err;
            double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            if (vg_dataset_make(&cfg, &ds, &err) != VG_OK) {
                fprintf(stderr, "data_load: %s\n", err.message);
                return 1;
            }
            double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            if (wall < best_wall) best_wall = wall;
            if (cpu < best_cpu) best_cpu = cpu;
            if (r == 0)
                printf("fashion-mnist%s: %lld + %lld images, checksum %016llx\n",
                       standardize ? " standardized" : "", (long long)ds.n_train,
                       (long long)ds.n_test, (unsigned long long)ds.checksum);
            vg_dataset_free(&ds);
        }
        double load[3] = {0, 0, 0};
        FILE *f = fopen("/proc/loadavg", "r");
        if (f) {
            if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
            fclose(f);
        }
        printf("  best of %d: wall %.3f s, CPU %.3f s (load average %.1f)\n", rounds, best_wall,
               best_cpu, load[0]);
    }
    return 0;
}
