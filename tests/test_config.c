/* Tests of src/config/: the settings table, the bad-input fixtures in sweeps/bad/ (each names
 * the message it must produce on its first line), grid expansion, anchors, and run ids.
 * Fails through the exit code; every mismatch prints both values and the test's line. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vgsweep/config.h"
#include "vg_test.h"

#ifndef VG_TEST_DIR
#error "VG_TEST_DIR must name the tests folder"
#endif

/* Writes text to a fresh temporary file; path receives its name (caller unlinks). */
static void write_temp(const char *text, char path[64]) {
    snprintf(path, 64, "/tmp/vg_test_config_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        VG_FAIL("mkstemp failed");
        return;
    }
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) VG_FAIL("write to %s failed", path);
    close(fd);
}

static vg_sweep *load_text(const char *text, char path[64]) {
    vg_sweep *sweep = NULL;
    vg_error err = {0};
    write_temp(text, path);
    VG_CHECK_OK(vg_sweep_load(path, &sweep, &err), &err);
    return sweep;
}

static vg_node scalar(const char *text, int quoted) {
    return (vg_node){.kind = VG_NODE_SCALAR, .file = "t.yaml", .line = 1, .col = 1,
                     .quoted = quoted, .scalar = (char *)text};
}

/* --- the settings table --- */

static void test_table(void) {
    vg_run_config d, cfg;
    vg_error err = {0};
    vg_run_config_defaults(&d);
    for (int i = 0; i < VG_SETTING_COUNT; i++) {
        VG_CHECK_INT_EQ(vg_setting_find(vg_settings[i].path), i);
        /* Every default must be accepted by the parser it is read with. */
        vg_node n = scalar(vg_settings[i].default_text, 0);
        memset(&cfg, 0, sizeof cfg);
        VG_CHECK_OK(vg_setting_parse(i, &n, &cfg, &err), &err);
        VG_CHECK(d.source[i] == NULL);
        /* Formatting a value and parsing the text back gives the same value. */
        char text[64];
        vg_setting_format(i, &d, text, sizeof text);
        n = scalar(text, 0);
        VG_CHECK_OK(vg_setting_parse(i, &n, &cfg, &err), &err);
        char again[64];
        vg_setting_format(i, &cfg, again, sizeof again);
        VG_CHECK_STR_EQ(again, text);
        if (vg_settings[i].type != VG_TYPE_ENUM) VG_CHECK_STR_EQ(text, vg_settings[i].default_text);
    }
    VG_CHECK_INT_EQ(vg_setting_find("model.dept"), -1);
    VG_CHECK_INT_EQ(vg_setting_find(""), -1);
    VG_CHECK_INT_EQ(d.model_depth, 5);
    VG_CHECK_INT_EQ(d.model_activation, VG_ACT_RELU);
    VG_CHECK_INT_EQ(d.model_init, VG_INIT_XAVIER_UNIFORM);
    VG_CHECK_REAL_EQ(d.train_lr, 0.1);
    VG_CHECK_INT_EQ(d.record_tensors, VG_TENSORS_ALL);
    VG_CHECK_INT_EQ(d.train_nesterov, 0);
    VG_CHECK_INT_EQ(d.data_seed, -1);
    VG_CHECK_STR_EQ(vg_activation_names[VG_ACT_TANH], "tanh");
    VG_CHECK(vg_activation_names[VG_ACT_COUNT] == NULL);
    VG_CHECK(vg_init_names[VG_INIT_COUNT] == NULL);
    VG_CHECK(vg_data_kind_names[VG_DATA_KIND_COUNT] == NULL);
    VG_CHECK(vg_optimizer_names[VG_OPT_COUNT] == NULL);

    /* Reals print in the shortest text that reads back exactly. */
    const double reals[] = {0.1, 1e-3, 1.0 / 3.0, 123456789.125, 5e-324, 1e300, 0.3, 2.5e-7};
    const char *shortest[] = {"0.1", "0.001", NULL, "123456789.125", NULL, "1e+300", "0.3", "2.5e-07"};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        char text[64];
        cfg = d;
        cfg.train_lr = reals[i];
        vg_setting_format(VG_SET_train_lr, &cfg, text, sizeof text);
        if (shortest[i]) VG_CHECK_STR_EQ(text, shortest[i]);
        vg_node n = scalar(text, 0);
        cfg.train_lr = 0;
        VG_CHECK_OK(vg_setting_parse(VG_SET_train_lr, &n, &cfg, &err), &err);
        VG_CHECK_REAL_EQ(cfg.train_lr, reals[i]);
    }
    char text[32];
    cfg = d;
    cfg.train_nesterov = 0;
    vg_setting_format(VG_SET_train_nesterov, &cfg, text, sizeof text);
    VG_CHECK_STR_EQ(text, "false");
    cfg.train_nesterov = 1;
    vg_setting_format(VG_SET_train_nesterov, &cfg, text, sizeof text);
    VG_CHECK_STR_EQ(text, "true");
    cfg.record_tensors = VG_TENSORS_ENDS;
    vg_setting_format(VG_SET_record_tensors, &cfg, text, sizeof text);
    VG_CHECK_STR_EQ(text, "ends");
    vg_setting_format(VG_SET_model_activation, &d, text, sizeof text);
    VG_CHECK_STR_EQ(text, "relu");
}

/* Strictness of the scalar parser, on nodes built by hand. */
static void test_scalars(void) {
    static const struct {
        int setting;
        const char *text;
        int quoted;
        int ok;
        double value;
    } cases[] = {
        {VG_SET_model_depth, "7", 0, 1, 7},         {VG_SET_model_depth, "+7", 0, 1, 7},
        {VG_SET_model_depth, "10000", 0, 1, 10000}, {VG_SET_model_depth, "10001", 0, 0, 0},
        {VG_SET_model_depth, "1e3", 0, 0, 0},       {VG_SET_model_depth, "1e3x", 0, 0, 0},
        {VG_SET_model_depth, "3.5", 0, 0, 0},       {VG_SET_model_depth, "", 0, 0, 0},
        {VG_SET_model_depth, " 5", 0, 0, 0},        {VG_SET_model_depth, "5 ", 0, 0, 0},
        {VG_SET_model_depth, "0x10", 0, 0, 0},      {VG_SET_model_depth, "5", 1, 0, 0},
        {VG_SET_data_seed, "-1", 0, 1, -1},         {VG_SET_data_seed, "-2", 0, 0, 0},
        {VG_SET_data_train_size, "99999999999999999999", 0, 0, 0},
        {VG_SET_train_lr, "1e-3", 0, 1, 1e-3},      {VG_SET_train_lr, "2", 0, 1, 2},
        {VG_SET_train_lr, ".5", 0, 1, 0.5},         {VG_SET_train_lr, "5.", 0, 1, 5},
        {VG_SET_train_lr, "abc", 0, 0, 0},          {VG_SET_train_lr, "nan", 0, 0, 0},
        {VG_SET_train_lr, "inf", 0, 0, 0},          {VG_SET_train_lr, ".inf", 0, 0, 0},
        {VG_SET_train_lr, "1e999", 0, 0, 0},        {VG_SET_train_lr, "0x1p3", 0, 0, 0},
        {VG_SET_train_lr, "0", 0, 0, 0},            {VG_SET_train_lr, "1e-3x", 0, 0, 0},
        {VG_SET_train_lr, "0.1", 1, 0, 0},          {VG_SET_data_separation, "0", 0, 1, 0},
        {VG_SET_data_separation, "1000", 0, 1, 1000}, {VG_SET_data_separation, "1000.5", 0, 0, 0},
        {VG_SET_train_nesterov, "false", 0, 1, 0},  {VG_SET_train_nesterov, "True", 0, 1, 1},
        {VG_SET_train_nesterov, "yes", 0, 0, 0},    {VG_SET_train_nesterov, "1", 0, 0, 0},
        {VG_SET_train_nesterov, "true", 1, 0, 0},   {VG_SET_model_activation, "tanh", 0, 1, 1},
        {VG_SET_record_tensors, "ends", 0, 1, VG_TENSORS_ENDS},
        {VG_SET_record_tensors, "none", 1, 1, VG_TENSORS_NONE},
        {VG_SET_record_tensors, "false", 0, 0, 0},  {VG_SET_record_tensors, "end", 0, 0, 0},
        {VG_SET_model_bias_init, "-0", 0, 1, 0},    {VG_SET_model_bias_init, "-0.5", 0, 1, -0.5},
        {VG_SET_model_activation, "tanh", 1, 1, 1}, {VG_SET_model_activation, "TANH", 0, 0, 0},
        {VG_SET_model_bias_init, "1e-400", 0, 0, 0}, {VG_SET_model_bias_init, "-1e999", 0, 0, 0},
        {VG_SET_model_bias_init, "0e5", 0, 1, 0},   {VG_SET_model_bias_init, "0.000", 0, 1, 0},
        {VG_SET_model_bias_init, "1e-320", 0, 1, 1e-320}, /* a denormal is a number */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_run_config cfg;
        vg_error err = {0};
        vg_run_config_defaults(&cfg);
        vg_node n = scalar(cases[i].text, cases[i].quoted);
        vg_status st = vg_setting_parse(cases[i].setting, &n, &cfg, &err);
        vg_test_checks++;
        if ((st == VG_OK) != cases[i].ok) {
            VG_FAIL("%s = %s\"%s\": expected %s, got %s (%s)", vg_settings[cases[i].setting].path,
                    cases[i].quoted ? "quoted " : "", cases[i].text,
                    cases[i].ok ? "accepted" : "refused", vg_status_name(st), err.message);
            continue;
        }
        if (!cases[i].ok) {
            VG_CHECK_INT_EQ(st, VG_ECONFIG);
            VG_CHECK(strncmp(err.message, "t.yaml:1:1: ", 12) == 0);
            VG_CHECK(strchr(err.message, '\n') == NULL);
            continue;
        }
        const vg_setting *s = &vg_settings[cases[i].setting];
        double got = s->type == VG_TYPE_REAL ? *(double *)((char *)&cfg + s->offset)
                                             : *(int *)((char *)&cfg + s->offset);
        VG_CHECK_REAL_EQ(got, cases[i].value);
        VG_CHECK(cfg.source[cases[i].setting] == &n);
    }
}

/* --- bad inputs: each fixture's first line is "# expect: <substring of the message>" --- */

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_bad_fixtures(void) {
    const char *dir_path = VG_TEST_DIR "/sweeps/bad";
    DIR *dir = opendir(dir_path);
    if (!dir) {
        VG_FAIL("cannot open %s", dir_path);
        return;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    VG_CHECK(n >= 40);

    for (int i = 0; i < n; i++) {
        char path[512], line[1024];
        snprintf(path, sizeof path, "%s/%s", dir_path, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f || !fgets(line, sizeof line, f)) {
            VG_FAIL("%s: cannot read the expect line", path);
            if (f) fclose(f);
            continue;
        }
        /* An optional second line "# expect-file: inc/x.yaml": the error is in a file the
         * fixture extends, and the message must start with that file's path instead. */
        char second[512] = "", blamed[1024];
        if (!fgets(second, sizeof second, f)) second[0] = '\0';
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        second[strcspn(second, "\n")] = '\0';
        const char *file_tag = "# expect-file: ";
        if (strncmp(second, file_tag, strlen(file_tag)) == 0)
            snprintf(blamed, sizeof blamed, "%s/%s", dir_path, second + strlen(file_tag));
        else
            snprintf(blamed, sizeof blamed, "%s", path);
        const char *tag = "# expect: ";
        if (strncmp(line, tag, strlen(tag)) != 0) {
            VG_FAIL("%s: first line must start with \"%s\"", path, tag);
            continue;
        }
        /* "{dir}" in the expected text stands for the fixtures' folder. */
        char expect[2048] = "";
        const char *e = line + strlen(tag);
        for (size_t used = 0; *e && used + 1 < sizeof expect;) {
            if (strncmp(e, "{dir}", 5) == 0) {
                used += (size_t)snprintf(expect + used, sizeof expect - used, "%s", dir_path);
                e += 5;
            } else {
                expect[used++] = *e++;
                expect[used] = '\0';
            }
        }

        vg_sweep *sweep = NULL;
        vg_error err = {0};
        vg_status st = vg_sweep_load(path, &sweep, &err);
        if (st == VG_OK) {
            vg_run_config *runs = NULL;
            int64_t n_runs = 0;
            st = vg_sweep_expand(sweep, &runs, &n_runs, &err);
            VG_CHECK(st != VG_OK || runs != NULL);
            free(runs);
            vg_sweep_free(sweep);
        } else {
            VG_CHECK(sweep == NULL);
        }
        vg_test_checks++;
        if (st != VG_ECONFIG)
            VG_FAIL("%s: expected ECONFIG, got %s: %s", names[i], vg_status_name(st), err.message);
        else if (strncmp(err.message, blamed, strlen(blamed)) != 0 || !strstr(err.message, expect))
            VG_FAIL("%s:\n  expected a message starting with %s and containing: %s\n"
                    "  got: %s",
                    names[i], blamed, expect, err.message);
        else if (strchr(err.message, '\n'))
            VG_FAIL("%s: message is not one line: %s", names[i], err.message);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    printf("bad fixtures: %d\n", n);
}

static void test_unreadable(void) {
    vg_sweep *sweep = (vg_sweep *)&sweep; /* must be reset to NULL */
    vg_error err = {0};
    const char *path = VG_TEST_DIR "/sweeps/no-such-file.yaml";
    VG_CHECK_INT_EQ(vg_sweep_load(path, &sweep, &err), VG_ECONFIG);
    VG_CHECK(sweep == NULL);
    char want[600];
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    VG_CHECK_STR_EQ(err.message, want);

    VG_CHECK_INT_EQ(vg_sweep_load(VG_TEST_DIR "/sweeps", &sweep, &err), VG_ECONFIG);
    VG_CHECK(strstr(err.message, "cannot read: Is a directory") != NULL);

    char tmp[64];
    write_temp("", tmp);
    VG_CHECK_INT_EQ(vg_sweep_load(tmp, &sweep, &err), VG_ECONFIG);
    snprintf(want, sizeof want, "%s: the file is empty", tmp);
    VG_CHECK_STR_EQ(err.message, want);
    unlink(tmp);
}

/* Files that are not regular files are refused at once (a FIFO used to block open() for
 * ever), directly and through extends:, and a file over the size limit is not read. */
static void test_special_files(void) {
    char dir[] = "/tmp/vg_test_special_XXXXXX";
    if (!mkdtemp(dir)) {
        VG_FAIL("mkdtemp failed");
        return;
    }
    char fifo[128], link[128], sock[96], sub[128], big[128], ext[128], path[256], want[512];
    snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
    snprintf(link, sizeof link, "%s/link.yaml", dir);
    snprintf(sock, sizeof sock, "%s/sock.yaml", dir);
    snprintf(sub, sizeof sub, "%s/sub.yaml", dir);
    snprintf(big, sizeof big, "%s/big.yaml", dir);
    snprintf(ext, sizeof ext, "%s/ext.yaml", dir);
    VG_CHECK(mkfifo(fifo, 0600) == 0);
    VG_CHECK(symlink("fifo.yaml", link) == 0);
    VG_CHECK(mkdir(sub, 0700) == 0);
    int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock);
    VG_CHECK(sfd >= 0 && bind(sfd, (struct sockaddr *)&addr, sizeof addr) == 0);
    int bfd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600); /* sparse: 17 MiB of nothing */
    VG_CHECK(bfd >= 0 && ftruncate(bfd, 17 << 20) == 0);
    if (bfd >= 0) close(bfd);

    static const struct {
        const char *name, *reason;
    } cases[] = {
        {"fifo.yaml", "not a regular file (a FIFO)"},
        {"link.yaml", "not a regular file (a FIFO)"},
        {"sock.yaml", "not a regular file (a socket)"},
        {"sub.yaml", "Is a directory"},
        {"/dev/zero", "not a regular file (a character device)"},
        {"big.yaml", "larger than 16 MiB, not a sweep file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *name = cases[i].name;
        if (name[0] == '/') snprintf(path, sizeof path, "%s", name);
        else snprintf(path, sizeof path, "%s/%s", dir, name);
        vg_sweep *sweep = (vg_sweep *)&sweep;
        vg_error err = {0};
        VG_CHECK_INT_EQ(vg_sweep_load(path, &sweep, &err), VG_ECONFIG);
        VG_CHECK(sweep == NULL);
        snprintf(want, sizeof want, "%s: cannot read: %s", path, cases[i].reason);
        VG_CHECK_STR_EQ(err.message, want);
        /* the same file named by extends: blames the extends: line */
        FILE *f = fopen(ext, "w");
        if (!f) {
            VG_FAIL("cannot write %s", ext);
            continue;
        }
        fprintf(f, "model: {depth: 2}\nextends: %s\n", name);
        fclose(f);
        VG_CHECK_INT_EQ(vg_sweep_load(ext, &sweep, &err), VG_ECONFIG);
        snprintf(want, sizeof want, "%s:2:10: extends: %s: cannot read: %s", ext, path,
                 cases[i].reason);
        VG_CHECK_STR_EQ(err.message, want);
    }
    if (sfd >= 0) close(sfd);
    unlink(fifo), unlink(link), unlink(sock), unlink(big), unlink(ext), rmdir(sub), rmdir(dir);
}

/* --- good inputs --- */

static void test_grid(void) {
    vg_sweep *sweep = NULL;
    vg_error err = {0};
    const char *path = VG_TEST_DIR "/sweeps/good/grid.yaml";
    VG_CHECK_OK(vg_sweep_load(path, &sweep, &err), &err);
    if (!sweep) return;
    VG_CHECK_STR_EQ(vg_sweep_name(sweep), "grid-test");
    VG_CHECK_STR_EQ(vg_sweep_path(sweep), path);
    VG_CHECK_INT_EQ(vg_sweep_seed(sweep), 42);
    VG_CHECK_INT_EQ(vg_sweep_repeats(sweep), 1);
    VG_CHECK_INT_EQ(vg_sweep_run_count(sweep), 6);
    VG_CHECK(strncmp(vg_sweep_text(sweep), "# A 3x2 grid", 12) == 0);
    VG_CHECK_INT_EQ(strlen(vg_sweep_text(sweep)), vg_sweep_text_length(sweep));

    int varying[VG_SETTING_COUNT];
    VG_CHECK_INT_EQ(vg_sweep_varying(sweep, varying), 2);
    VG_CHECK_INT_EQ(varying[0], VG_SET_model_depth);
    VG_CHECK_INT_EQ(varying[1], VG_SET_train_lr);

    vg_run_config *runs = NULL;
    int64_t n = 0;
    VG_CHECK_OK(vg_sweep_expand(sweep, &runs, &n, &err), &err);
    VG_CHECK_INT_EQ(n, 6);
    const int depths[6] = {2, 2, 4, 4, 8, 8};
    const double lrs[6] = {0.1, 0.01, 0.1, 0.01, 0.1, 0.01};
    for (int64_t i = 0; i < n && i < 6; i++) {
        const vg_run_config *r = &runs[i];
        VG_CHECK_INT_EQ(r->index, i);
        VG_CHECK_INT_EQ(r->repeat, 0);
        VG_CHECK_INT_EQ(r->model_depth, depths[i]);
        VG_CHECK_REAL_EQ(r->train_lr, lrs[i]); /* the grid wins over train.lr: 0.05 */
        VG_CHECK_INT_EQ(r->model_width, 16);
        VG_CHECK_INT_EQ(r->model_activation, VG_ACT_TANH);
        VG_CHECK_INT_EQ(r->train_epochs, 3);
        VG_CHECK_INT_EQ(r->data_train_size, 1000);
        VG_CHECK_INT_EQ(r->data_classes, 4);
        VG_CHECK_INT_EQ(r->data_features, 64); /* defaults */
        VG_CHECK_INT_EQ(r->train_batch_size, 32);
        VG_CHECK_INT_EQ(r->model_init, VG_INIT_XAVIER_UNIFORM);
        VG_CHECK(r->source[VG_SET_data_features] == NULL);
        VG_CHECK(r->source[VG_SET_model_depth] && r->source[VG_SET_model_depth]->line == 14);
        VG_CHECK(r->source[VG_SET_model_width] && r->source[VG_SET_model_width]->line == 8);
        VG_CHECK_INT_EQ(strlen(r->id), VG_RUN_ID_LEN);
        VG_CHECK_INT_EQ(strspn(r->id, "0123456789abcdef"), VG_RUN_ID_LEN);
        for (int64_t j = 0; j < i; j++) {
            VG_CHECK(strcmp(r->id, runs[j].id) != 0);
            VG_CHECK(r->seed != runs[j].seed);
        }
        /* identify is a pure function of the settings, repeat and sweep seed */
        vg_run_config copy = *r;
        vg_run_config_identify(&copy, 42);
        VG_CHECK_STR_EQ(copy.id, r->id);
        VG_CHECK_INT_EQ(copy.seed, r->seed);
    }
    char where[256];
    VG_CHECK_STR_EQ(vg_node_where(runs[0].source[VG_SET_model_depth], where, sizeof where),
              VG_TEST_DIR "/sweeps/good/grid.yaml:14:17");
    free(runs);
    vg_sweep_free(sweep);
}

static void test_anchors(void) {
    vg_sweep *sweep = NULL;
    vg_error err = {0};
    VG_CHECK_OK(vg_sweep_load(VG_TEST_DIR "/sweeps/good/anchors.yaml", &sweep, &err), &err);
    if (!sweep) return;
    VG_CHECK_STR_EQ(vg_sweep_name(sweep), "anchors"); /* no name: the file's base name */
    vg_run_config *runs = NULL;
    int64_t n = 0;
    VG_CHECK_OK(vg_sweep_expand(sweep, &runs, &n, &err), &err);
    VG_CHECK_INT_EQ(n, 4);
    const int widths[4] = {16, 16, 32, 32};
    const int inits[4] = {VG_INIT_NORMAL, VG_INIT_STANDARD, VG_INIT_NORMAL, VG_INIT_STANDARD};
    for (int64_t i = 0; i < n && i < 4; i++) {
        VG_CHECK_INT_EQ(runs[i].model_depth, 2);          /* merged from x-small */
        VG_CHECK_INT_EQ(runs[i].model_width, widths[i]);  /* grid value *p = 16 */
        VG_CHECK_INT_EQ(runs[i].model_init, inits[i]);
        VG_CHECK_INT_EQ(runs[i].model_activation, VG_ACT_SIGMOID);
        VG_CHECK_REAL_EQ(runs[i].train_lr, 0.5);          /* merged */
        VG_CHECK_INT_EQ(runs[i].train_epochs, 2);         /* explicit key beats merged ones */
        VG_CHECK_INT_EQ(runs[i].train_batch_size, 16);    /* explicit beats the second merge source */
        VG_CHECK_INT_EQ(runs[i].record_probe, 16);        /* alias */
        VG_CHECK_INT_EQ(runs[i].data_train_size, 100);
    }
    free(runs);
    vg_sweep_free(sweep);
}

/* The id of a configuration depends on its settings only, not on the grid it came from. */
static void test_ids_stable(void) {
    char pa[64], pb[64], pc[64], pd[64], pe[64];
    vg_sweep *a = load_text("seed: 3\ngrid:\n  model.depth: [2, 3, 4]\n"
                            "  model.activation: [relu, tanh]\n", pa);
    vg_sweep *b = load_text("seed: 3\ngrid:\n  model.activation: [tanh, relu]\n"
                            "  model.depth: [4, 2]\n", pb);
    vg_sweep *c = load_text("seed: 4\ngrid:\n  model.depth: [2, 3, 4]\n"
                            "  model.activation: [relu, tanh]\n", pc);
    vg_sweep *d = load_text("repeats: 3\nmodel.depth: 2\nmodel: {activation: tanh}\n", pd);
    vg_sweep *e = load_text("model: {depth: 2, activation: tanh}\nx-notes: anything\n", pe);
    vg_run_config *ra = NULL, *rb = NULL, *rc = NULL, *rd = NULL, *re = NULL;
    int64_t na = 0, nb = 0, nc = 0, nd = 0, ne = 0;
    vg_error err = {0};
    if (!a || !b || !c || !d || !e) goto done;
    VG_CHECK_OK(vg_sweep_expand(a, &ra, &na, &err), &err);
    VG_CHECK_OK(vg_sweep_expand(b, &rb, &nb, &err), &err);
    VG_CHECK_OK(vg_sweep_expand(c, &rc, &nc, &err), &err);
    VG_CHECK_OK(vg_sweep_expand(d, &rd, &nd, &err), &err);
    VG_CHECK_OK(vg_sweep_expand(e, &re, &ne, &err), &err);
    VG_CHECK_INT_EQ(na, 6);
    VG_CHECK_INT_EQ(nb, 4);
    VG_CHECK_INT_EQ(nc, 6);
    VG_CHECK_INT_EQ(nd, 3);
    VG_CHECK_INT_EQ(ne, 1);
    int matched = 0;
    for (int64_t i = 0; i < nb; i++) {
        for (int64_t j = 0; j < na; j++) {
            if (ra[j].model_depth != rb[i].model_depth ||
                ra[j].model_activation != rb[i].model_activation)
                continue;
            matched++;
            VG_CHECK_STR_EQ(rb[i].id, ra[j].id);
            VG_CHECK_INT_EQ(rb[i].seed, ra[j].seed);
        }
    }
    VG_CHECK_INT_EQ(matched, 4);
    for (int64_t i = 0; i < na && i < nc; i++) {
        VG_CHECK_STR_EQ(rc[i].id, ra[i].id);   /* the id ignores the sweep seed... */
        VG_CHECK(rc[i].seed != ra[i].seed); /* ...the run seed does not */
    }
    /* repeats: same settings, distinct ids and seeds; repeat 0 is the unrepeated run */
    for (int64_t i = 0; i < nd; i++) {
        VG_CHECK_INT_EQ(rd[i].repeat, i);
        VG_CHECK_INT_EQ(rd[i].model_depth, 2);
        VG_CHECK_INT_EQ(rd[i].model_activation, VG_ACT_TANH);
        for (int64_t j = 0; j < i; j++) {
            VG_CHECK(strcmp(rd[i].id, rd[j].id) != 0);
            VG_CHECK(rd[i].seed != rd[j].seed);
        }
    }
    if (nd && ne) VG_CHECK_STR_EQ(rd[0].id, re[0].id);
    int varying[VG_SETTING_COUNT];
    VG_CHECK_INT_EQ(vg_sweep_varying(d, varying), 0);
    VG_CHECK_INT_EQ(vg_sweep_varying(b, varying), 2);
    VG_CHECK_INT_EQ(varying[0], VG_SET_model_depth); /* table order, not grid order */
    VG_CHECK_INT_EQ(varying[1], VG_SET_model_activation);
done:
    free(ra), free(rb), free(rc), free(rd), free(re);
    vg_sweep_free(a), vg_sweep_free(b), vg_sweep_free(c), vg_sweep_free(d), vg_sweep_free(e);
    unlink(pa), unlink(pb), unlink(pc), unlink(pd), unlink(pe);
}

/* The id rule for settings added after record format 2: a new setting at its default leaves
 * the text (so the id and seed) of every run as it was; set away from it, the id moves. */
static void test_ids_new_setting(void) {
    vg_run_config cfg;
    vg_run_config_defaults(&cfg);
    vg_run_config_identify(&cfg, 1);
    vg_id_entry entries[VG_SETTING_COUNT + 1];
    char values[VG_SETTING_COUNT][64];
    int n = 0;
    for (int s = 0; s < VG_SETTING_COUNT; s++) {
        vg_setting_format(s, &cfg, values[s], sizeof values[s]);
        entries[n++] = (vg_id_entry){vg_settings[s].path, values[s], values[s], 1};
    }
    char before[8192], with_default[8192], with_other[8192];
    size_t lb = vg_run_id_text(entries, n, 0, before, sizeof before);
    /* a setting a later version adds, e.g. model.kind, first at its default... */
    entries[n] = (vg_id_entry){"model.kind", "mlp", "mlp", 0};
    size_t ld = vg_run_id_text(entries, n + 1, 0, with_default, sizeof with_default);
    VG_CHECK_INT_EQ(ld, lb);
    VG_CHECK_STR_EQ(with_default, before);
    /* ...then away from it: only that run's id changes */
    entries[n].value = "lstm";
    size_t lo = vg_run_id_text(entries, n + 1, 0, with_other, sizeof with_other);
    VG_CHECK(lo > lb);
    VG_CHECK(strstr(with_other, "\nmodel.kind=lstm\n") != NULL);
    VG_CHECK(strncmp(with_other, before, lb) == 0);
    /* the text of format 2: every setting in table order, then the repeat */
    VG_CHECK(strncmp(before, "data.kind=clusters\n", 19) == 0);
    VG_CHECK(strstr(before, "record.weights=init\nrepeat=0\n") != NULL);
    /* and the id of the all-defaults run is the one format 2 gave it (vgsweep 2eb74ce) */
    VG_CHECK_STR_EQ(cfg.id, "01cdb68e9588");
}

static void test_nodes(void) {
    char path[64];
    vg_sweep *s = load_text("name: nodes\nmodel:\n  depth: 3\n", path);
    if (!s) return;
    /* vg_sweep has no root accessor; reach the nodes through a run's sources. */
    vg_run_config *runs = NULL;
    int64_t n = 0;
    vg_error err = {0};
    VG_CHECK_OK(vg_sweep_expand(s, &runs, &n, &err), &err);
    if (n == 1) {
        const vg_node *depth = runs[0].source[VG_SET_model_depth];
        VG_CHECK(depth && depth->kind == VG_NODE_SCALAR && depth->line == 3 && depth->col == 10);
        VG_CHECK(vg_node_get(depth, "x") == NULL);
    }
    free(runs);
    vg_sweep_free(s);
    unlink(path);

    /* Nested mappings in the grid flatten like the sections do. */
    s = load_text("grid:\n  model:\n    depth: [1, 2]\n  train.lr: [0.5]\n", path);
    if (!s) return;
    VG_CHECK_OK(vg_sweep_expand(s, &runs, &n, &err), &err);
    VG_CHECK_INT_EQ(n, 2);
    if (n == 2) {
        VG_CHECK_INT_EQ(runs[1].model_depth, 2);
        VG_CHECK_REAL_EQ(runs[1].train_lr, 0.5);
    }
    int varying[VG_SETTING_COUNT];
    VG_CHECK_INT_EQ(vg_sweep_varying(s, varying), 1); /* a one-value list does not vary */
    free(runs);
    vg_sweep_free(s);
    unlink(path);
}

/* --- grid semantics: zip, exclude, include, mapping forms, extends --- */

static vg_sweep *load_fixture(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/sweeps/good/%s", VG_TEST_DIR, name);
    vg_sweep *sweep = NULL;
    vg_error err = {0};
    VG_CHECK_OK(vg_sweep_load(path, &sweep, &err), &err);
    return sweep;
}

static void test_zip(void) {
    vg_sweep *s = load_fixture("zip.yaml");
    if (!s) return;
    vg_run_config *runs = NULL;
    int64_t n = 0;
    vg_error err = {0};
    VG_CHECK_OK(vg_sweep_expand(s, &runs, &n, &err), &err);
    VG_CHECK_INT_EQ(n, 4);
    const int acts[4] = {VG_ACT_RELU, VG_ACT_RELU, VG_ACT_TANH, VG_ACT_TANH};
    const int depths[4] = {10, 50, 10, 50};
    const double lrs[4] = {0.1, 0.01, 0.1, 0.01};
    for (int64_t i = 0; i < n && i < 4; i++) {
        VG_CHECK_INT_EQ(runs[i].model_activation, acts[i]);
        VG_CHECK_INT_EQ(runs[i].model_depth, depths[i]);
        VG_CHECK_REAL_EQ(runs[i].train_lr, lrs[i]);
    }
    int varying[VG_SETTING_COUNT];
    VG_CHECK_INT_EQ(vg_sweep_varying(s, varying), 3);
    VG_CHECK_INT_EQ(varying[0], VG_SET_model_depth);
    VG_CHECK_INT_EQ(varying[1], VG_SET_model_activation);
    VG_CHECK_INT_EQ(varying[2], VG_SET_train_lr);
    VG_CHECK_INT_EQ(vg_runs_varying(runs, n, varying), 3);
    VG_CHECK_INT_EQ(vg_runs_varying(runs, 1, varying), 0);
    free(runs);
    vg_sweep_free(s);
}

static void test_exclude_include(void) {
    vg_sweep *s = load_fixture("exclude_include.yaml");
    if (!s) return;
    vg_run_config *runs = NULL;
    int64_t n = 0;
    vg_error err = {0};
    vg_sweep_counts c;
    VG_CHECK_INT_EQ(vg_sweep_run_count(s), (9 + 2) * 2); /* an upper bound */
    VG_CHECK_OK(vg_sweep_count(s, NULL, &c, &err), &err);
    VG_CHECK_INT_EQ(c.grid, 9);
    VG_CHECK_INT_EQ(c.excluded, 3);
    VG_CHECK_INT_EQ(c.included, 1);
    VG_CHECK_INT_EQ(c.duplicates, 1);
    VG_CHECK_INT_EQ(c.filtered, 0);
    VG_CHECK_INT_EQ(c.runs, 14);
    VG_CHECK_OK(vg_sweep_select(s, NULL, &runs, &n, &c, &err), &err);
    VG_CHECK_INT_EQ(n, 14);
    for (int64_t i = 0; i < n; i++) {
        const vg_run_config *r = &runs[i];
        VG_CHECK_INT_EQ(r->index, i);
        VG_CHECK_INT_EQ(r->repeat, i % 2);
        VG_CHECK(!(r->model_activation == VG_ACT_RELU && r->model_init != VG_INIT_HE_NORMAL));
        VG_CHECK(!(r->model_activation == VG_ACT_SIGMOID && r->model_init == VG_INIT_HE_NORMAL));
        VG_CHECK_REAL_EQ(r->train_lr, i >= 12 ? 0.01 : 0.1);
    }
    if (n == 14) {
        VG_CHECK_INT_EQ(runs[0].model_activation, VG_ACT_SIGMOID); /* grid order, first key slowest */
        VG_CHECK_INT_EQ(runs[0].model_init, VG_INIT_STANDARD);
        VG_CHECK_INT_EQ(runs[10].model_activation, VG_ACT_RELU);
        VG_CHECK_INT_EQ(runs[10].model_init, VG_INIT_HE_NORMAL);
        VG_CHECK_INT_EQ(runs[12].model_activation, VG_ACT_SELU); /* the include comes last */
        VG_CHECK_INT_EQ(runs[12].model_init, VG_INIT_LECUN_NORMAL);
        VG_CHECK_INT_EQ(runs[13].repeat, 1);
    }
    int varying[VG_SETTING_COUNT];
    VG_CHECK_INT_EQ(vg_sweep_varying(s, varying), 3); /* activation, init, and lr through include */
    free(runs);
    vg_sweep_free(s);
}

static void test_mapping_form(void) {
    vg_sweep *s = load_fixture("mapping.yaml");
    if (!s) return;
    vg_run_config *runs = NULL;
    int64_t n = 0;
    vg_error err = {0};
    VG_CHECK_OK(vg_sweep_expand(s, &runs, &n, &err), &err);
    VG_CHECK_INT_EQ(n, 6);
    const int acts[3] = {VG_ACT_RELU, VG_ACT_LEAKY_RELU, VG_ACT_ELU};
    for (int64_t i = 0; i < n && i < 6; i++) {
        const vg_run_config *r = &runs[i];
        VG_CHECK_INT_EQ(r->model_init, VG_INIT_NORMAL);
        VG_CHECK_REAL_EQ(r->model_init_std, 0.05);
        VG_CHECK_INT_EQ(r->model_activation, acts[i / 2]);
        VG_CHECK_REAL_EQ(r->model_leaky_slope, i / 2 == 1 ? 0.2 : 0.01);
        VG_CHECK_REAL_EQ(r->model_elu_alpha, i / 2 == 2 ? 0.5 : 1.0);
        VG_CHECK_INT_EQ(r->train_clip, i % 2 ? VG_CLIP_VALUE : VG_CLIP_NONE);
        VG_CHECK_REAL_EQ(r->train_clip_threshold, i % 2 ? 0.5 : 2.5); /* none keeps the base's */
    }
    int varying[VG_SETTING_COUNT];
    /* activation, leaky_slope, elu_alpha, clip, clip_threshold */
    VG_CHECK_INT_EQ(vg_sweep_varying(s, varying), 5);
    free(runs);
    vg_sweep_free(s);

    /* {norm: 1.0} and clip: norm + clip_threshold: 1.0 resolve alike: one id. */
    char pa[64], pb[64], pc[64];
    vg_sweep *a = load_text("train: {clip: {norm: 1.0}}\n", pa);
    vg_sweep *b = load_text("train: {clip: norm, clip_threshold: 1}\n", pb);
    vg_sweep *c = load_text("train.clip: {norm: 2}\n", pc);
    vg_run_config *ra = NULL, *rb = NULL, *rc = NULL;
    int64_t na = 0, nb = 0, nc = 0;
    if (a && b && c) {
        VG_CHECK_OK(vg_sweep_expand(a, &ra, &na, &err), &err);
        VG_CHECK_OK(vg_sweep_expand(b, &rb, &nb, &err), &err);
        VG_CHECK_OK(vg_sweep_expand(c, &rc, &nc, &err), &err);
        if (na == 1 && nb == 1 && nc == 1) {
            VG_CHECK_STR_EQ(ra[0].id, rb[0].id);
            VG_CHECK(strcmp(ra[0].id, rc[0].id) != 0);
            VG_CHECK_INT_EQ(ra[0].train_clip, VG_CLIP_NORM);
            VG_CHECK_REAL_EQ(rc[0].train_clip_threshold, 2);
        }
    }
    free(ra), free(rb), free(rc);
    vg_sweep_free(a), vg_sweep_free(b), vg_sweep_free(c);
    unlink(pa), unlink(pb), unlink(pc);
}

/* In-memory files for extends: through a vg_sweep_reader. */
typedef struct mem_file {
    const char *path, *text;
} mem_file;

static vg_status mem_read(void *ctx, const char *path, char **text, size_t *len, vg_error *err) {
    for (const mem_file *f = ctx; f->path; f++) {
        if (strcmp(f->path, path) != 0) continue;
        *len = strlen(f->text);
        *text = strdup(f->text);
        return *text ? VG_OK : vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    }
    return vg_error_set(err, VG_ECONFIG, "%s: cannot read: No such file or directory", path);
}

static void test_extends(void) {
    vg_sweep *s = load_fixture("extends_child.yaml");
    if (!s) return;
    vg_run_config *runs = NULL;
    int64_t n = 0;
    vg_error err = {0};
    VG_CHECK_STR_EQ(vg_sweep_name(s), "child");
    VG_CHECK_INT_EQ(vg_sweep_seed(s), 9);
    VG_CHECK_INT_EQ(vg_sweep_file_count(s), 2);
    VG_CHECK_STR_EQ(vg_sweep_file_path(s, 1), VG_TEST_DIR "/sweeps/good/parents/base.yaml");
    VG_CHECK(vg_sweep_file_path(s, 2) == NULL);
    const char *text = vg_sweep_text(s);
    VG_CHECK_INT_EQ(strlen(text), vg_sweep_text_length(s));
    VG_CHECK(strncmp(text, "# --- file: " VG_TEST_DIR "/sweeps/good/extends_child.yaml\n# Inherits", 12) == 0);
    VG_CHECK(strstr(text, "\n# --- file: " VG_TEST_DIR "/sweeps/good/parents/base.yaml\n# Parent") != NULL);
    VG_CHECK_OK(vg_sweep_expand(s, &runs, &n, &err), &err);
    VG_CHECK_INT_EQ(n, 4); /* depth [3] (replaced in place) x activation [relu, tanh] x lr [0.1, 0.2] */
    for (int64_t i = 0; i < n && i < 4; i++) {
        VG_CHECK_INT_EQ(runs[i].model_depth, 3);
        VG_CHECK_INT_EQ(runs[i].model_width, 8);   /* the child's */
        VG_CHECK_INT_EQ(runs[i].train_epochs, 2);  /* the parent's */
        VG_CHECK_INT_EQ(runs[i].model_activation, i < 2 ? VG_ACT_RELU : VG_ACT_TANH);
        VG_CHECK_REAL_EQ(runs[i].train_lr, i % 2 ? 0.2 : 0.1);
    }
    /* The same runs written in one file have the same ids and seeds. */
    char path[64];
    vg_sweep *flat = load_text("seed: 9\ndata: {train_size: 200}\nmodel: {width: 8}\n"
                               "train: {epochs: 2}\ngrid:\n  train.lr: [0.2, 0.1]\n"
                               "  model.activation: [tanh, relu]\n  model.depth: [3]\n", path);
    vg_run_config *rf = NULL;
    int64_t nf = 0;
    if (flat) {
        VG_CHECK_OK(vg_sweep_expand(flat, &rf, &nf, &err), &err);
        int matched = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < nf; j++)
                if (!strcmp(runs[i].id, rf[j].id) && runs[i].seed == rf[j].seed) matched++;
        VG_CHECK_INT_EQ(matched, 4);
    }
    free(rf);
    vg_sweep_free(flat);
    unlink(path);
    free(runs);
    vg_sweep_free(s);

    /* From memory: a cycle names the chain at the extends: of the file that starts it. */
    const mem_file files[] = {{"mem/b.yaml", "model: {depth: 2}\nextends: ../mem/a.yaml\n"},
                              {"mem/c.yaml", "extends: sub/d.yaml\n"},
                              {"mem/a.yaml", "model: {depth: 1, width: 3}\n"},
                              {NULL, NULL}};
    vg_sweep_reader reader = {.read = mem_read, .ctx = (void *)files};
    const char *a = "extends: b.yaml\n";
    VG_CHECK_INT_EQ(vg_sweep_load_text("mem/a.yaml", a, strlen(a), &reader, &s, &err), VG_ECONFIG);
    VG_CHECK(s == NULL);
    VG_CHECK_STR_EQ(err.message, "mem/a.yaml:1:10: extends: cycle mem/a.yaml -> mem/b.yaml -> mem/a.yaml");
    const char *c = "name: c\nextends: c.yaml\n";
    VG_CHECK_INT_EQ(vg_sweep_load_text("mem/x.yaml", c, strlen(c), &reader, &s, &err), VG_ECONFIG);
    VG_CHECK_STR_EQ(err.message, "mem/c.yaml:1:10: extends: mem/sub/d.yaml: cannot read: No such "
                           "file or directory");
    const char *ok = "extends: b.yaml\nmodel: {depth: 4}\n";
    VG_CHECK_OK(vg_sweep_load_text("mem/ok.yaml", ok, strlen(ok), &reader, &s, &err), &err);
    if (s) {
        VG_CHECK_OK(vg_sweep_expand(s, &runs, &n, &err), &err);
        VG_CHECK_INT_EQ(n, 1);
        if (n == 1) {
            VG_CHECK_INT_EQ(runs[0].model_depth, 4); /* the child overrides its parents */
            VG_CHECK_INT_EQ(runs[0].model_width, 3); /* the grandparent's */
        }
        VG_CHECK_INT_EQ(vg_sweep_file_count(s), 3);
        VG_CHECK_STR_EQ(vg_sweep_file_path(s, 2), "mem/a.yaml");
        VG_CHECK_STR_EQ(vg_sweep_name(s), "ok");
        free(runs);
        vg_sweep_free(s);
    }
    const char *nul = "model: {depth: 4}\n\0x";
    VG_CHECK_INT_EQ(vg_sweep_load_text("mem/nul.yaml", nul, 20, NULL, &s, &err), VG_ECONFIG);
    VG_CHECK(strstr(err.message, "mem/nul.yaml:2:1: not a text file: NUL byte") != NULL);
}

static void test_filter(void) {
    vg_sweep *z = load_fixture("zip.yaml"), *x = load_fixture("exclude_include.yaml");
    if (!z || !x) {
        vg_sweep_free(z), vg_sweep_free(x);
        return;
    }
    static const struct {
        int zip;
        const char *filter;
        int64_t runs;
    } cases[] = {
        {1, "model.activation=relu,model.depth>=10", 2},
        {1, "model.activation=relu, model.depth>10", 1},
        {1, "model.activation=relu|tanh", 4},
        {1, "model.activation!=relu", 2},
        {1, "train.lr<0.05", 2},
        {1, "train.lr<=0.1,train.lr>=0.1", 2},
        {1, "model.depth=50", 2},
        {1, "model.depth!=50|10", 0},
        {1, "model.depth<0", 0},
        {0, "repeat=1", 7},
        {0, "repeat>=0,model.init=he_normal", 4},
        {0, "model.activation=selu", 2},
        {0, "train.nesterov=false", 14},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_run_filter *f = NULL;
        vg_error err = {0};
        vg_sweep_counts c;
        vg_run_config *runs = NULL;
        int64_t n = -1;
        VG_CHECK_OK(vg_run_filter_parse(cases[i].filter, &f, &err), &err);
        if (!f) continue;
        const vg_sweep *s = cases[i].zip ? z : x;
        VG_CHECK_OK(vg_sweep_count(s, f, &c, &err), &err);
        VG_CHECK_OK(vg_sweep_select(s, f, &runs, &n, NULL, &err), &err);
        vg_test_checks++;
        if (n != cases[i].runs || c.runs != n)
            VG_FAIL("filter %s: %lld runs (counted %lld), expected %lld", cases[i].filter,
                    (long long)n, (long long)c.runs, (long long)cases[i].runs);
        for (int64_t k = 0; k < n; k++) {
            VG_CHECK(vg_run_filter_match(f, &runs[k]));
            VG_CHECK_INT_EQ(runs[k].index, k);
        }
        free(runs);
        vg_run_filter_free(f);
    }
    /* An id prefix selects one run; the id is the same as in the unfiltered expansion. */
    vg_run_config *all = NULL, *one = NULL;
    int64_t n_all = 0, n_one = 0;
    vg_error err = {0};
    VG_CHECK_OK(vg_sweep_expand(x, &all, &n_all, &err), &err);
    if (n_all > 5) {
        char text[64];
        snprintf(text, sizeof text, "id=%.8s", all[5].id);
        vg_run_filter *f = NULL;
        VG_CHECK_OK(vg_run_filter_parse(text, &f, &err), &err);
        VG_CHECK_OK(vg_sweep_select(x, f, &one, &n_one, NULL, &err), &err);
        VG_CHECK_INT_EQ(n_one, 1);
        if (n_one == 1) {
            VG_CHECK_STR_EQ(one[0].id, all[5].id);
            VG_CHECK_INT_EQ(one[0].seed, all[5].seed);
            VG_CHECK_INT_EQ(one[0].repeat, all[5].repeat);
        }
        vg_run_filter_free(f);
    }
    free(all), free(one);

    static const struct {
        const char *filter, *message;
    } bad[] = {
        {"model.depht>=10", "filter \"model.depht>=10\": model.depht: unknown setting (did you mean \"model.depth\"?)"},
        {"model.activation=rellu", "filter \"model.activation=rellu\": model.activation: expected one of sigmoid, tanh, relu, leaky_relu, elu, selu, gelu, softsign, swish, linear, got \"rellu\" (did you mean \"relu\"?)"},
        {"model.activation>relu", "filter \"model.activation>relu\": model.activation: > compares numbers, and model.activation is not one; use = or !="},
        {"model.depth>=x", "filter \"model.depth>=x\": model.depth: expected an integer, got \"x\""},
        {"model.depth=0", "filter \"model.depth=0\": model.depth: expected an integer in [1, 10000], got 0"},
        {"model.depth", "filter \"model.depth\": expected path=value, path!=value or path>=number (also <=, >, <)"},
        {"model.depth=", "filter \"model.depth=\": model.depth: expected a value after ="},
        {"model.depth=>3", "filter \"model.depth=>3\": model.depth: expected one operator, got \"=>3\""},
        {"", "filter \"\": expected conditions like model.depth>=10 separated by commas, got an empty one"},
        {"model.depth=2,", "filter \"model.depth=2,\": expected conditions like model.depth>=10 separated by commas, got an empty one"},
        {"id=xyz", "filter \"id=xyz\": id: expected a run id (up to 12 hex digits), got \"xyz\""},
        {"lr=0.1", "filter \"lr=0.1\": lr: unknown setting (did you mean \"train.lr\"?)"},
        {"repeat=a", "filter \"repeat=a\": repeat: expected an integer, got \"a\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vg_run_filter *f = (vg_run_filter *)&f;
        err = (vg_error){0};
        VG_CHECK_INT_EQ(vg_run_filter_parse(bad[i].filter, &f, &err), VG_EUSAGE);
        VG_CHECK(f == NULL);
        VG_CHECK_STR_EQ(err.message, bad[i].message);
    }
    vg_run_config any;
    vg_run_config_defaults(&any);
    VG_CHECK(vg_run_filter_match(NULL, &any)); /* no filter: everything */
    vg_sweep_free(z), vg_sweep_free(x);
}

/* Counting a big sweep allocates nothing per run; vg_sweep_run_count bounds it up front. */
static void test_count_large(void) {
    char path[64];
    vg_sweep *s = load_text("grid:\n  model.depth: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
                            "  model.width: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
                            "  train.lr: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
                            "  train.epochs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
                            "  model.bias_init: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
                            "repeats: 3\n"
                            "exclude: [{model.depth: 1}]\n",
                            path);
    if (!s) return;
    vg_sweep_counts c;
    vg_error err = {0};
    VG_CHECK_INT_EQ(vg_sweep_run_count(s), 300000);
    VG_CHECK_OK(vg_sweep_count(s, NULL, &c, &err), &err);
    VG_CHECK_INT_EQ(c.grid, 100000);
    VG_CHECK_INT_EQ(c.excluded, 10000);
    VG_CHECK_INT_EQ(c.runs, 270000);
    vg_run_filter *f = NULL;
    VG_CHECK_OK(vg_run_filter_parse("model.depth=2,model.width=3,train.epochs<3", &f, &err), &err);
    VG_CHECK_OK(vg_sweep_count(s, f, &c, &err), &err);
    VG_CHECK_INT_EQ(c.runs, 600);
    VG_CHECK_INT_EQ(c.filtered, 270000 - 600);
    vg_run_filter_free(f);
    vg_sweep_free(s);
    unlink(path);
}

/* Recurrent kinds (issue 20): a grid crossing model.kind with a setting only an mlp takes runs
 * through an exclude entry; kind-dependent defaults (rnn's tanh, a sequence task's features and
 * classes) resolve before the id, so an mlp keeps the id it had before model.kind existed. */
static void test_recurrent_kinds(void) {
    char pa[64], pb[64], pc[64], pd[64];
    vg_run_config *ra = NULL, *rb = NULL, *rc = NULL, *rd = NULL;
    int64_t na = 0, nb = 0, nc = 0, nd = 0;
    vg_error err = {0};
    vg_sweep *a = load_text("model: {width: 8}\n"
                            "grid:\n  model.kind: [mlp, rnn, lstm, gru]\n"
                            "  model.norm: [none, layer]\n"
                            "exclude: [{model.kind: [rnn, lstm, gru], model.norm: layer}]\n",
                            pa);
    vg_sweep *b = load_text("model: {width: 8}\ngrid:\n  model.kind: [mlp, rnn]\n"
                            "  model.activation: [tanh]\n", pb);
    vg_sweep *c = load_text("model: {kind: mlp}\n", pc);
    vg_sweep *d = load_text("train: {loss: mse}\nmodel: {kind: gru}\n"
                            "zip:\n  data.kind: [adding, copy, temporal_order]\n"
                            "  data.length: [30, 7, 12]\n"
                            "  train.loss: [mse, cross_entropy, cross_entropy]\n", pd);
    if (!a || !b || !c || !d) goto done;
    vg_sweep_counts counts;
    VG_CHECK_OK(vg_sweep_count(a, NULL, &counts, &err), &err);
    VG_CHECK_INT_EQ(counts.grid, 8);
    VG_CHECK_INT_EQ(counts.excluded, 3);
    VG_CHECK_INT_EQ(counts.runs, 5);
    VG_CHECK_OK(vg_sweep_expand(a, &ra, &na, &err), &err);
    VG_CHECK_INT_EQ(na, 5);
    for (int64_t i = 0; i < na; i++) {
        VG_CHECK(ra[i].model_kind == VG_MODEL_MLP || ra[i].model_norm == VG_NORM_NONE);
        /* the activation's default follows the kind: relu for the mlp, tanh for the others */
        VG_CHECK_INT_EQ(ra[i].model_activation,
                  ra[i].model_kind == VG_MODEL_MLP ? VG_ACT_RELU : VG_ACT_TANH);
    }
    /* without the exclude entry the same grid is refused (tests/sweeps/bad/grid_kind_norm.yaml) */
    VG_CHECK_OK(vg_sweep_expand(b, &rb, &nb, &err), &err);
    VG_CHECK_INT_EQ(nb, 2);
    if (na == 5 && nb == 2) {
        /* an rnn's default tanh and an explicit tanh make one run: the same id */
        VG_CHECK_INT_EQ(ra[2].model_kind, VG_MODEL_RNN);
        VG_CHECK_STR_EQ(rb[1].id, ra[2].id);
        /* the mlp of b is told tanh, the one of a keeps its default relu */
        VG_CHECK(strcmp(rb[0].id, ra[0].id) != 0); /* tanh vs relu */
    }
    VG_CHECK_OK(vg_sweep_expand(c, &rc, &nc, &err), &err);
    VG_CHECK_INT_EQ(nc, 1);
    if (nc == 1) VG_CHECK_STR_EQ(rc[0].id, "01cdb68e9588"); /* the all-defaults id of format 2 */
    VG_CHECK_OK(vg_sweep_expand(d, &rd, &nd, &err), &err);
    VG_CHECK_INT_EQ(nd, 3);
    if (nd == 3) {
        VG_CHECK_INT_EQ(rd[0].data_features, 2 * 30); /* adding: 2 values per step */
        VG_CHECK_INT_EQ(rd[0].data_classes, 10);      /* a real target: data.classes left alone */
        VG_CHECK_INT_EQ(rd[1].data_features, 10 * (7 + 20)); /* copy: one-hot of 10, T + 20 steps */
        VG_CHECK_INT_EQ(rd[1].data_classes, 9);
        VG_CHECK_INT_EQ(rd[2].data_features, 8 * 12); /* temporal_order: one-hot of 8 */
        VG_CHECK_INT_EQ(rd[2].data_classes, 4);
        VG_CHECK(strcmp(rd[0].id, rd[1].id) != 0);
    }
done:
    free(ra), free(rb), free(rc), free(rd);
    vg_sweep_free(a), vg_sweep_free(b), vg_sweep_free(c), vg_sweep_free(d);
    unlink(pa), unlink(pb), unlink(pc), unlink(pd);
}

int main(void) {
    test_table();
    test_scalars();
    test_bad_fixtures();
    test_unreadable();
    test_special_files();
    test_grid();
    test_anchors();
    test_ids_stable();
    test_ids_new_setting();
    test_nodes();
    test_zip();
    test_exclude_include();
    test_mapping_form();
    test_extends();
    test_filter();
    test_count_large();
    test_recurrent_kinds();
    return vg_test_finish("test_config");
}
