/* `vgsweep report` and the dry run's theory lines (src/cli/report_cmd.c). */
#ifndef VGSWEEP_CLI_REPORT_CMD_H
#define VGSWEEP_CLI_REPORT_CMD_H

#include <stdint.h>
#include <stdio.h>

#include "vgsweep/settings.h"

/* argv[0] is "report". Returns the exit code: 0, 1 run-time, 2 usage or bad input. */
int vg_cli_report(int argc, char **argv);
/* The dry run's mean-field lines: per run the predicted attenuation at initialization, and a
 * warning for runs whose float32 gradients are predicted to underflow. */
void vg_cli_dry_theory(FILE *f, const vg_run_config *runs, int64_t n_runs);

#endif
