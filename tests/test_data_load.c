/* src/data below the CLI: the Fashion-MNIST loader on Debian's installed files (counts, first
 * labels, a checksum of the pixels), shared loading (runs with the same data settings get one
 * copy, read once), the IDX and CSV parsers on edge cases, and the generated sets spirals and
 * teacher (seeded, labels in range, not degenerate). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/parse.h"
#include "vg_test.h"
#include "vgsweep/data.h"

#define FASHION "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

static void test_fashion(void) {
    if (access(FASHION, R_OK) != 0) {
        printf("test_data_load: %s missing (apt-get install dataset-fashion-mnist): Fashion-MNIST "
               "checks skipped\n", FASHION);
        return;
    }
    vg_run_config cfg;
    vg_run_config_defaults(&cfg);
    cfg.data_kind = VG_DATA_FASHION_MNIST;
    cfg.data_features = 784;
    cfg.data_train_size = cfg.data_test_size = -1;
    cfg.data_scale = 0; /* the bytes as they are in the files */
    vg_dataset ds;
    vg_error err;
    vg_status st = vg_dataset_make(&cfg, &ds, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    if (st) return;
    VG_CHECK_INT_EQ(ds.n_train, 60000);
    VG_CHECK_INT_EQ(ds.n_test, 10000);
    const int train_first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    const int test_first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    for (int i = 0; i < 10; i++) {
        VG_CHECK_INT_EQ(ds.y_train[i], train_first[i]);
        VG_CHECK_INT_EQ(ds.y_test[i], test_first[i]);
    }
    /* sum of the pixel bytes, and weighted by position mod 997 (catches a reordering); the
     * expected values from Python's gzip + numpy on the same files */
    int64_t sum[2] = {0, 0}, weighted[2] = {0, 0}, count[2][10];
    memset(count, 0, sizeof count);
    for (int k = 0; k < 2; k++) {
        const float *x = k ? ds.x_test : ds.x_train;
        int64_t n = (k ? ds.n_test : ds.n_train) * 784;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = (int64_t)x[i];
            sum[k] += v;
            weighted[k] += v * (i % 997);
        }
        for (int64_t i = 0; i < (k ? ds.n_test : ds.n_train); i++)
            count[k][(k ? ds.y_test : ds.y_train)[i]]++;
    }
    VG_CHECK_INT_EQ(sum[0], 3431114169LL);
    VG_CHECK_INT_EQ(weighted[0], 1708901694491LL);
    VG_CHECK_INT_EQ(sum[1], 573469082LL);
    VG_CHECK_INT_EQ(weighted[1], 286034809707LL);
    for (int c = 0; c < 10; c++) {
        VG_CHECK_INT_EQ(count[0][c], 6000);
        VG_CHECK_INT_EQ(count[1][c], 1000);
    }
    uint64_t raw_sum = ds.checksum;
    vg_dataset_free(&ds);
    /* scaled into [0, 1]: another checksum, pixels at most 1 */
    cfg.data_scale = 1;
    cfg.data_train_size = 100, cfg.data_test_size = 10;
    st = vg_dataset_make(&cfg, &ds, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    if (st) return;
    float hi = 0;
    for (int64_t i = 0; i < 100 * 784; i++) hi = ds.x_train[i] > hi ? ds.x_train[i] : hi;
    VG_CHECK(hi == 1.0f);
    VG_CHECK(ds.checksum != raw_sum);
    vg_dataset_free(&ds);
}

static void idx_config(vg_run_config *cfg, double lr) {
    vg_run_config_defaults(cfg);
    cfg->data_kind = VG_DATA_IDX;
    snprintf(cfg->data_path, sizeof cfg->data_path, "%s/data/idx_good", VG_TEST_DIR);
    cfg->data_features = 6;
    cfg->data_classes = 3;
    cfg->data_train_size = cfg->data_test_size = -1;
    cfg->record_probe = 2;
    cfg->train_batch_size = 2;
    cfg->train_lr = lr;
}

static void test_shared(void) {
    vg_run_config runs[3];
    idx_config(&runs[0], 0.1);
    idx_config(&runs[1], 0.2);
    idx_config(&runs[2], 0.2);
    runs[2].data_standardize = 1; /* other data settings: another set */
    vg_error err;
    vg_status st = vg_data_prepare(runs, 3, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    VG_CHECK_INT_EQ(vg_data_shared_count(), 2);
    VG_CHECK_INT_EQ(runs[0].data_train_size, 6); /* -1 (all) resolved */
    VG_CHECK_INT_EQ(runs[1].data_test_size, 4);
    VG_CHECK(runs[0].has_data_checksum && runs[0].data_checksum == runs[1].data_checksum);
    VG_CHECK(runs[2].data_checksum != runs[0].data_checksum);
    vg_dataset a, b;
    VG_CHECK(vg_dataset_acquire(&runs[0], &a, &err) == VG_OK);
    VG_CHECK(vg_dataset_acquire(&runs[1], &b, &err) == VG_OK);
    VG_CHECK(a.shared && a.x_train == b.x_train); /* one copy */
    VG_CHECK_INT_EQ(vg_data_shared_count(), 2);   /* nothing read again */
    VG_CHECK_INT_EQ(a.y_train[1], 1);
    VG_CHECK(a.x_train[1] == 13.0f / 255.0f);
    vg_dataset_release(&a);
    vg_dataset_release(&b);
    VG_CHECK(vg_dataset_acquire(&runs[0], &a, &err) == VG_OK && a.x_train[1] == 13.0f / 255.0f);
    vg_dataset_release(&a);
    /* standardized with the training split's statistics: mean 0 there */
    VG_CHECK(vg_dataset_acquire(&runs[2], &a, &err) == VG_OK);
    for (int f = 0; f < 6; f++) {
        double m = 0;
        for (int i = 0; i < 6; i++) m += a.x_train[i * 6 + f];
        VG_CHECK_LT(fabs(m / 6), 1e-6);
    }
    vg_dataset_release(&a);
    VG_CHECK(vg_data_shared_bytes() > 0);
    VG_CHECK(vg_dataset_run_bytes(&runs[0]) == 0);
    vg_data_registry_free();
    VG_CHECK_INT_EQ(vg_data_shared_count(), 0);
    /* random samples drawn with data.seed: 3 of the 6, distinct, the same for the same seed */
    idx_config(&runs[0], 0.1);
    runs[0].data_sample = VG_SAMPLE_RANDOM;
    runs[0].data_train_size = 3;
    runs[0].data_seed = 5;
    vg_dataset c, d;
    VG_CHECK(vg_dataset_make(&runs[0], &c, &err) == VG_OK);
    VG_CHECK(vg_dataset_make(&runs[0], &d, &err) == VG_OK);
    VG_CHECK(c.checksum == d.checksum && c.n_train == 3);
    VG_CHECK(c.x_train[0] != c.x_train[6] && c.x_train[0] != c.x_train[12]);
    vg_dataset_free(&c);
    vg_dataset_free(&d);
}

static void test_idx_parser(void) {
    vg_idx idx;
    vg_error err;
    uint8_t good[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    VG_CHECK(vg_idx_parse(good, sizeof good, "g", &idx, &err) == VG_OK && idx.count == 2 &&
             idx.item_size == 3 && idx.data[5] == 6);
    VG_CHECK(vg_idx_parse(good, sizeof good - 1, "g", &idx, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "g: truncated: 2 items of 3 bytes need 6 bytes after the header, the file has 5");
    uint8_t more[sizeof good + 1];
    memcpy(more, good, sizeof good);
    more[sizeof good] = 0;
    VG_CHECK(vg_idx_parse(more, sizeof more, "g", &idx, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "g: 1 bytes after its 2 items");
    uint8_t floats[] = {0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0};
    VG_CHECK(vg_idx_parse(floats, sizeof floats, "f", &idx, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "f: IDX element type 0x0d; only unsigned bytes (0x08)");
    uint8_t huge[] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    VG_CHECK(vg_idx_parse(huge, sizeof huge, "h", &idx, &err) == VG_ECONFIG);
    VG_CHECK(vg_idx_parse(good, 0, "e", &idx, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "e: the file is empty");
}

static void test_csv_parser(void) {
    vg_csv t;
    vg_error err;
    const char *ok = "a, \"b,c\" ,y\r\n1,2,cat\n\n  \"3\" ,4e1,\"d\"\"og\"\n";
    VG_CHECK(vg_csv_parse(ok, strlen(ok), "t.csv", "y", &t, &err) == VG_OK);
    VG_CHECK(t.n_rows == 2 && t.n_cols == 3 && t.label_col == 2);
    VG_CHECK(!strcmp(t.header[1], "b,c") && t.x[2] == 3.0f && t.x[3] == 40.0f);
    VG_CHECK(!strcmp(t.labels[1], "d\"og"));
    vg_csv_free(&t);
    const char *unclosed = "a,y\n\"1,2\n";
    VG_CHECK(vg_csv_parse(unclosed, strlen(unclosed), "u.csv", "y", &t, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "u.csv: line 2: a quote that is not closed");
    const char *junk = "a,y\n\"1\"x,1\n";
    VG_CHECK(vg_csv_parse(junk, strlen(junk), "j.csv", "y", &t, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "j.csv: line 2: text after a closing quote");
    const char *inf = "a,y\ninf,1\n";
    VG_CHECK(vg_csv_parse(inf, strlen(inf), "i.csv", "y", &t, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "i.csv: line 2, column 1 (\"a\"): \"inf\" is not a finite number");
    const char *empty_cell = "a,y\n,1\n";
    VG_CHECK(vg_csv_parse(empty_cell, strlen(empty_cell), "c.csv", "y", &t, &err) == VG_ECONFIG);
    const char *blank = "\n  \n";
    VG_CHECK(vg_csv_parse(blank, strlen(blank), "b.csv", "y", &t, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "b.csv: the file is empty");
    const char *only_label = "y\n1\n";
    VG_CHECK(vg_csv_parse(only_label, strlen(only_label), "o.csv", "y", &t, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "no features");
}

static void test_generated(void) {
    for (int kind = VG_DATA_SPIRALS; kind <= VG_DATA_TEACHER; kind++) {
        vg_run_config cfg;
        vg_run_config_defaults(&cfg);
        cfg.data_kind = kind;
        cfg.data_seed = 3;
        cfg.data_classes = 3;
        cfg.data_features = kind == VG_DATA_SPIRALS ? 2 : 16;
        cfg.data_teacher_depth = 3;
        vg_dataset a, b;
        vg_error err;
        VG_CHECK(vg_dataset_make(&cfg, &a, &err) == VG_OK);
        VG_CHECK(vg_dataset_make(&cfg, &b, &err) == VG_OK);
        VG_CHECK(a.checksum == b.checksum && a.n_train == 2000 && a.n_test == 500);
        int64_t count[3] = {0, 0, 0};
        int in_range = 1;
        for (int64_t i = 0; i < a.n_train; i++) {
            in_range &= a.y_train[i] >= 0 && a.y_train[i] < 3;
            if (in_range) count[a.y_train[i]]++;
        }
        VG_CHECK(in_range);
        for (int c = 0; c < 3; c++) VG_CHECK_MSG(count[c] > 100, "kind %d class %d: %lld", kind, c, (long long)count[c]);
        if (kind == VG_DATA_SPIRALS) /* radius at most 1 plus noise */
            for (int64_t i = 0; i < a.n_train; i++)
                VG_CHECK_LT(fabs(a.x_train[2 * i]), 1.8);
        vg_dataset_free(&a);
        cfg.data_seed = 4;
        VG_CHECK(vg_dataset_make(&cfg, &a, &err) == VG_OK);
        VG_CHECK(a.checksum != b.checksum);
        vg_dataset_free(&a);
        vg_dataset_free(&b);
    }
}

/* --- sequence tasks (issue 20): layout, targets, determinism from the seed --- */

static void task_config(vg_run_config *cfg, int kind, int length, int seed) {
    vg_run_config_defaults(cfg);
    cfg->data_kind = kind;
    cfg->data_length = length;
    cfg->data_seed = seed;
    cfg->train_loss = VG_LOSS_MSE;
}

static void test_adding(void) {
    vg_run_config cfg;
    task_config(&cfg, VG_DATA_ADDING, 40, 7);
    vg_dataset a, b;
    vg_error err;
    vg_status st = vg_dataset_make(&cfg, &a, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    if (st) return;
    VG_CHECK_INT_EQ(a.target_kind, VG_TARGET_REAL);
    VG_CHECK_INT_EQ(a.targets, 1);
    VG_CHECK_INT_EQ(a.steps, 40);
    VG_CHECK_INT_EQ(a.step_features, 2);
    VG_CHECK_INT_EQ(a.features, 80);
    VG_CHECK(a.y_train == NULL && a.y_test == NULL && a.t_train && a.t_test);
    double mse_of_one = 0; /* the baseline: always predicting 1 */
    int ok_layout = 1, ok_target = 1, ok_values = 1;
    for (int k = 0; k < 2; k++) {
        int64_t n = k ? a.n_test : a.n_train;
        for (int64_t i = 0; i < n; i++) {
            const float *row = (k ? a.x_test : a.x_train) + i * 80;
            int first = 0, second = 0;
            double sum = 0;
            for (int t = 0; t < 40; t++) {
                float v = row[2 * t], m = row[2 * t + 1];
                ok_values &= v >= 0 && v < 1 && (m == 0 || m == 1);
                if (m == 1) {
                    *(t < 20 ? &first : &second) += 1;
                    sum += v;
                }
            }
            ok_layout &= first == 1 && second == 1; /* one marker in each half */
            float target = (k ? a.t_test : a.t_train)[i];
            ok_target &= target == (float)sum;
            mse_of_one += (target - 1.0) * (target - 1.0);
        }
    }
    VG_CHECK(ok_values);
    VG_CHECK(ok_layout);
    VG_CHECK(ok_target);
    mse_of_one /= (double)(a.n_train + a.n_test);
    VG_CHECK_MSG(fabs(mse_of_one - 1.0 / 6) < 0.015, "MSE of predicting 1: %g, not about 1/6",
                 mse_of_one);
    VG_CHECK(vg_dataset_make(&cfg, &b, &err) == VG_OK);
    VG_CHECK(a.checksum == b.checksum && memcmp(a.t_test, b.t_test, 500 * sizeof(float)) == 0);
    vg_dataset_free(&b);
    /* the checksum covers the targets: change one, and it changes */
    uint64_t before = a.checksum;
    cfg.data_seed = 8;
    VG_CHECK(vg_dataset_make(&cfg, &b, &err) == VG_OK);
    VG_CHECK(b.checksum != before);
    vg_dataset_free(&b);
    /* a run that makes its own copy holds its inputs and targets: 2500 x (80 + 1) x 4 bytes */
    cfg.data_seed = -1;
    VG_CHECK(vg_dataset_run_bytes(&cfg) == 2500.0 * 81 * 4);
    vg_dataset_free(&a);
}

static void test_copy(void) {
    const int T = 5, S = T + 20;
    vg_run_config cfg;
    task_config(&cfg, VG_DATA_COPY, T, 3);
    cfg.data_train_size = 4000;
    vg_dataset a, b;
    vg_error err;
    vg_status st = vg_dataset_make(&cfg, &a, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    if (st) return;
    VG_CHECK_INT_EQ(a.target_kind, VG_TARGET_STEP_CLASS);
    VG_CHECK_INT_EQ(a.steps, S);
    VG_CHECK_INT_EQ(a.step_features, 10);
    VG_CHECK_INT_EQ(a.features, 10 * S);
    VG_CHECK_INT_EQ(a.classes, 9);
    int ok_onehot = 1, ok_input = 1, ok_target = 1;
    int64_t freq[S][9];
    memset(freq, 0, sizeof freq);
    for (int64_t i = 0; i < a.n_train; i++) {
        const float *row = a.x_train + i * 10 * S;
        const int32_t *y = a.y_train + i * S;
        int sym[10];
        for (int t = 0; t < S; t++) {
            int hot = -1, ones = 0;
            for (int c = 0; c < 10; c++) {
                ones += row[t * 10 + c] == 1;
                if (row[t * 10 + c] == 1) hot = c;
                else ok_onehot &= row[t * 10 + c] == 0;
            }
            ok_onehot &= ones == 1;
            if (t < 10) ok_input &= hot >= 1 && hot <= 8, sym[t] = hot;
            else ok_input &= hot == (t == T + 9 ? 9 : 0); /* blanks, the delimiter, blanks */
            ok_target &= t < T + 10 ? y[t] == 0 : y[t] == sym[t - T - 10];
            if (y[t] >= 0 && y[t] < 9) freq[t][y[t]]++;
        }
    }
    VG_CHECK(ok_onehot);
    VG_CHECK(ok_input);
    VG_CHECK(ok_target);
    /* the memoryless baseline: the entropy of each step's target, averaged over the steps, is
     * 10 ln 8 / (T + 20) nats (the symbols uniform over the 8 categories) */
    double h = 0;
    for (int t = 0; t < S; t++)
        for (int c = 0; c < 9; c++)
            if (freq[t][c]) {
                double p = (double)freq[t][c] / (double)a.n_train;
                h -= p * log(p);
            }
    h /= S;
    VG_CHECK_MSG(fabs(h - 10 * log(8.0) / S) < 0.005, "memoryless entropy %g, expected %g", h,
                 10 * log(8.0) / S);
    VG_CHECK(vg_dataset_make(&cfg, &b, &err) == VG_OK);
    VG_CHECK(a.checksum == b.checksum);
    vg_dataset_free(&b);
    VG_CHECK(vg_dataset_run_bytes(&cfg) == 0); /* data.seed fixed: shared, counted once */
    cfg.data_seed = -1;
    VG_CHECK(vg_dataset_run_bytes(&cfg) == 4500.0 * (10 * S + S) * 4);
    vg_dataset_free(&a);
}

static void test_temporal_order(void) {
    const int T = 100;
    vg_run_config cfg;
    task_config(&cfg, VG_DATA_TEMPORAL_ORDER, T, 11);
    cfg.train_loss = VG_LOSS_CROSS_ENTROPY;
    vg_dataset a;
    vg_error err;
    vg_status st = vg_dataset_make(&cfg, &a, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    if (st) return;
    VG_CHECK_INT_EQ(a.target_kind, VG_TARGET_CLASS);
    VG_CHECK_INT_EQ(a.steps, T);
    VG_CHECK_INT_EQ(a.step_features, 8);
    VG_CHECK_INT_EQ(a.classes, 4);
    int64_t count[4] = {0, 0, 0, 0}, first_at[T], second_at[T];
    memset(first_at, 0, sizeof first_at);
    memset(second_at, 0, sizeof second_at);
    int ok = 1;
    for (int64_t i = 0; i < a.n_train; i++) {
        const float *row = a.x_train + i * 8 * T;
        int marked[2], n_marked = 0, at[2] = {0, 0};
        for (int t = 0; t < T; t++) {
            int hot = -1, ones = 0;
            for (int c = 0; c < 8; c++)
                if (row[t * 8 + c] == 1) hot = c, ones++;
            ok &= ones == 1;
            if (t == 0) ok &= hot == 6;          /* B */
            else if (t == T - 1) ok &= hot == 7; /* E */
            else if (hot == 4 || hot == 5) {     /* X or Y */
                if (n_marked < 2) at[n_marked] = t, marked[n_marked] = hot;
                n_marked++;
            } else ok &= hot >= 0 && hot <= 3;   /* noise a-d */
        }
        ok &= n_marked == 2 && at[0] >= 10 && at[0] <= 20 && at[1] >= 50 && at[1] <= 60;
        if (n_marked == 2) {
            ok &= a.y_train[i] == 2 * (marked[0] - 4) + (marked[1] - 4); /* XX XY YX YY */
            first_at[at[0]]++, second_at[at[1]]++;
        }
        if (a.y_train[i] >= 0 && a.y_train[i] < 4) count[a.y_train[i]]++;
    }
    VG_CHECK(ok);
    for (int c = 0; c < 4; c++) VG_CHECK_INT_EQ(count[c], 500); /* balanced: 2000 / 4 */
    for (int t = 10; t <= 20; t++) VG_CHECK(first_at[t] > 100);  /* every position of a window */
    for (int t = 50; t <= 60; t++) VG_CHECK(second_at[t] > 100);
    vg_dataset_free(&a);
}

/* Images as sequences: rows (H steps of W pixels) and pixels in a fixed permutation (pMNIST) */
static void test_image_sequences(void) {
    vg_run_config cfg;
    vg_dataset plain, rows, perm, perm2;
    vg_error err;
    idx_config(&cfg, 0.1);
    VG_CHECK(vg_dataset_make(&cfg, &plain, &err) == VG_OK);
    cfg.model_kind = VG_MODEL_LSTM;
    cfg.data_sequence = VG_SEQUENCE_ROWS;
    vg_status st = vg_dataset_make(&cfg, &rows, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    VG_CHECK_INT_EQ(rows.steps, 2); /* the fixture's images are 2 x 3 */
    VG_CHECK_INT_EQ(rows.step_features, 3);
    VG_CHECK(rows.checksum == plain.checksum); /* the same values, read 3 at a time */
    cfg.data_sequence = VG_SEQUENCE_PIXELS;
    cfg.data_permute = 1;
    cfg.data_seed = 2;
    VG_CHECK(vg_dataset_make(&cfg, &perm, &err) == VG_OK);
    VG_CHECK(vg_dataset_make(&cfg, &perm2, &err) == VG_OK);
    VG_CHECK_INT_EQ(perm.steps, 6);
    VG_CHECK_INT_EQ(perm.step_features, 1);
    VG_CHECK(perm.checksum == perm2.checksum && perm.checksum != plain.checksum);
    /* one permutation for every image of both splits: find it on the first, check the rest */
    int p[6], ok = 1, identity = 1;
    for (int f = 0; f < 6; f++) {
        p[f] = -1;
        for (int g = 0; g < 6; g++)
            if (perm.x_train[f] == plain.x_train[g]) p[f] = g;
        ok &= p[f] >= 0;
        identity &= p[f] == f;
    }
    VG_CHECK(ok && !identity);
    for (int k = 0; k < 2 && ok; k++)
        for (int64_t i = 0; i < (k ? plain.n_test : plain.n_train); i++)
            for (int f = 0; f < 6; f++)
                ok &= (k ? perm.x_test : perm.x_train)[i * 6 + f] ==
                      (k ? plain.x_test : plain.x_train)[i * 6 + p[f]];
    VG_CHECK(ok);
    VG_CHECK(memcmp(perm.y_test, plain.y_test, 4 * sizeof(int32_t)) == 0);
    vg_dataset_free(&plain), vg_dataset_free(&rows), vg_dataset_free(&perm), vg_dataset_free(&perm2);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    VG_CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* csv regression targets (issue 21 item 2): data.target real fills t_train/t_test */
static void test_csv_real(void) {
    char dir[] = "/tmp/vg_csv_real_XXXXXX", path[256];
    if (!mkdtemp(dir)) {
        VG_CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/r.csv", dir);
    write_file(path, "a,price,b\n1,0.5,2\n3,-1.25,4\n\n5,1e3,6\n7,2,8\n");
    vg_run_config cfg;
    vg_run_config_defaults(&cfg);
    cfg.data_kind = VG_DATA_CSV;
    cfg.data_target = VG_DATA_TARGET_REAL;
    cfg.train_loss = VG_LOSS_MSE;
    snprintf(cfg.data_path, sizeof cfg.data_path, "%s", path);
    snprintf(cfg.data_label, sizeof cfg.data_label, "price");
    cfg.data_features = 2;
    cfg.data_train_size = cfg.data_test_size = -1;
    cfg.data_test_fraction = 0.25;
    vg_dataset ds;
    vg_error err;
    vg_status st = vg_dataset_make(&cfg, &ds, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    if (!st) {
        VG_CHECK_INT_EQ(ds.target_kind, VG_TARGET_REAL);
        VG_CHECK_INT_EQ(ds.targets, 1);
        VG_CHECK_INT_EQ(ds.n_train + ds.n_test, 4);
        VG_CHECK(ds.y_train == NULL && ds.t_train != NULL);
        /* each target stays with its row's features: target = f(a) for this file */
        int ok = 1;
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < (k ? ds.n_test : ds.n_train); i++) {
                float a0 = (k ? ds.x_test : ds.x_train)[i * 2], t = (k ? ds.t_test : ds.t_train)[i];
                ok &= (a0 == 1 && t == 0.5f) || (a0 == 3 && t == -1.25f) ||
                      (a0 == 5 && t == 1000.0f) || (a0 == 7 && t == 2.0f);
            }
        VG_CHECK(ok);
        vg_dataset_free(&ds);
    }
    /* two target columns, the second taken out of the features: data.label "price,b" */
    snprintf(cfg.data_label, sizeof cfg.data_label, "price,b");
    cfg.data_features = 1;
    st = vg_dataset_make(&cfg, &ds, &err);
    VG_CHECK_MSG(st == VG_OK, "%s", err.message);
    if (!st) {
        VG_CHECK_INT_EQ(ds.targets, 2);
        VG_CHECK_INT_EQ(ds.features, 1);
        int ok = 1;
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < (k ? ds.n_test : ds.n_train); i++) {
                float a0 = (k ? ds.x_test : ds.x_train)[i];
                const float *t = (k ? ds.t_test : ds.t_train) + 2 * i;
                ok &= t[1] == a0 + 1; /* b = a + 1 in this file */
                ok &= (a0 == 1 && t[0] == 0.5f) || (a0 == 3 && t[0] == -1.25f) ||
                      (a0 == 5 && t[0] == 1000.0f) || (a0 == 7 && t[0] == 2.0f);
            }
        VG_CHECK(ok);
        vg_dataset_free(&ds);
    }
    snprintf(cfg.data_label, sizeof cfg.data_label, "price,c");
    VG_CHECK(vg_dataset_make(&cfg, &ds, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "r.csv: no target column \"c\" in the header");
    snprintf(cfg.data_label, sizeof cfg.data_label, "price");
    cfg.data_features = 2;
    /* a target that is not a number: file, line and column */
    write_file(path, "a,price,b\n1,0.5,2\n\n3,cheap,4\n");
    VG_CHECK(vg_dataset_make(&cfg, &ds, &err) == VG_ECONFIG);
    VG_CHECK_STR_CONTAINS(err.message, "r.csv: line 4, column 2 (\"price\"): \"cheap\" is not a "
                                       "finite number (data.target: real");
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_idx_parser();
    test_csv_parser();
    test_shared();
    test_generated();
    test_fashion();
    test_adding();
    test_copy();
    test_temporal_order();
    test_image_sequences();
    test_csv_real();
    return vg_test_finish("test_data_load");
}
