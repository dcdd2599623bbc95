/* Minimal assertions for the C tests: they print the location and both values, count failures,
 * and never vanish under NDEBUG. A test's main returns vg_test_finish(). */
#ifndef VG_TEST_H
#define VG_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int vg_test_failures = 0;
static int vg_test_checks = 0;

#define VG_CHECK(cond)                                                                  \
    do {                                                                                \
        vg_test_checks++;                                                               \
        if (!(cond)) {                                                                  \
            vg_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                               \
    } while (0)

#define VG_CHECK_MSG(cond, ...)                                                         \
    do {                                                                                \
        vg_test_checks++;                                                               \
        if (!(cond)) {                                                                  \
            vg_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                               \
            fprintf(stderr, "\n");                                                      \
        }                                                                               \
    } while (0)

#define VG_CHECK_INT_EQ(a, b)                                                           \
    do {                                                                                \
        long long va_ = (long long)(a), vb_ = (long long)(b);                           \
        VG_CHECK_MSG(va_ == vb_, "%s = %lld, %s = %lld", #a, va_, #b, vb_);             \
    } while (0)

#define VG_CHECK_LT(a, b)                                                               \
    do {                                                                                \
        double va_ = (double)(a), vb_ = (double)(b);                                    \
        VG_CHECK_MSG(va_ < vb_, "%s = %.6g, %s = %.6g", #a, va_, #b, vb_);              \
    } while (0)

#define VG_CHECK_STR_CONTAINS(hay, needle)                                              \
    do {                                                                                \
        const char *h_ = (hay), *n_ = (needle);                                         \
        VG_CHECK_MSG(h_ && strstr(h_, n_), "\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
    } while (0)

static int vg_test_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, vg_test_checks, vg_test_failures);
    return vg_test_failures ? 1 : 0;
}

#endif
