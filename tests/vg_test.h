/* The assertions of every C test (one header for all): they print the location and both values,
 * count failures, and never vanish under NDEBUG. A test's main returns vg_test_finish().
 * VG_CHECK_OK needs vgsweep/error.h included before this header. */
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

/* A failure with a message of its own, inside a check counted by hand (vg_test_checks++) where
 * no single condition says it. */
#define VG_FAIL(...)                                                                    \
    do {                                                                                \
        vg_test_failures++;                                                             \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                 \
        fprintf(stderr, __VA_ARGS__);                                                   \
        fprintf(stderr, "\n");                                                          \
    } while (0)

/* Same bits, or both NaN. */
#define VG_CHECK_REAL_EQ(a, b)                                                          \
    do {                                                                                \
        double va_ = (double)(a), vb_ = (double)(b);                                    \
        VG_CHECK_MSG(va_ == vb_ || (isnan(va_) && isnan(vb_)), "%s = %.17g, %s = %.17g", \
                     #a, va_, #b, vb_);                                                 \
    } while (0)

#define VG_CHECK_STR_EQ(a, b)                                                           \
    do {                                                                                \
        const char *sa_ = (a), *sb_ = (b);                                              \
        VG_CHECK_MSG(sa_ && sb_ && strcmp(sa_, sb_) == 0, "%s = \"%s\", %s = \"%s\"", #a,  \
                     sa_ ? sa_ : "(null)", #b, sb_ ? sb_ : "(null)");                   \
    } while (0)

/* A call returning vg_status succeeds; err is the vg_error * it fills (its message shown). */
#define VG_CHECK_OK(call, err)                                                          \
    do {                                                                                \
        vg_status st_ = (call);                                                         \
        VG_CHECK_MSG(st_ == VG_OK, "%s: %s", vg_status_name(st_), (err)->message);      \
    } while (0)

static int vg_test_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, vg_test_checks, vg_test_failures);
    return vg_test_failures ? 1 : 0;
}

#endif
