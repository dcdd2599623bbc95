/* The provenance of this binary (include/vgsweep/buildinfo.h). Its values are in
 * <build>/generated/buildinfo_gen.c, which cmake/buildinfo.cmake rewrites at each build when
 * the git revision, the dirty flag or the flags changed. */
#include "vgsweep/buildinfo.h"

extern const vg_buildinfo vg__buildinfo; /* generated/buildinfo_gen.c */

const vg_buildinfo *vg_buildinfo_get(void) { return &vg__buildinfo; }
