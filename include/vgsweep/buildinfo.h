/* What built this binary: the provenance every record carries (docs/FORMAT.md, attributes of /)
 * and --version prints. The git revision and dirty flag are taken at each build (not when CMake
 * configured), the flags are those the training core was compiled with, as CMake passed them
 * (cmake/buildinfo.cmake). */
#ifndef VGSWEEP_BUILDINFO_H
#define VGSWEEP_BUILDINFO_H

typedef struct vg_buildinfo {
    const char *version;      /* the project's version, "0.1.0" */
    const char *git_revision; /* full hash of HEAD at build time (40 hex digits), or "unknown"
                                 (built outside a git checkout, e.g. from a tarball) */
    int git_dirty;            /* 1: tracked files differed from HEAD at build time, 0: they did
                                 not, -1: unknown (no git) */
    const char *build_type;   /* CMake build type: "Release", "Debug", ... */
    const char *compiler;     /* compiler id and version: "GNU 12.2.0" */
    const char *c_flags;      /* the training core's compile flags (src/nn/gemm.c's command line
                                 without the compiler, -I, -D, -o, -c and the file), e.g.
                                 "-O3 -DNDEBUG ... -march=native -std=c11 -fopenmp" */
    const char *sanitizers;   /* the -fsanitize= checks in those flags, comma-separated
                                 ("address,undefined", "thread"), or "none" */
} vg_buildinfo;

/* This binary's provenance; static, never NULL. */
const vg_buildinfo *vg_buildinfo_get(void);

#endif
