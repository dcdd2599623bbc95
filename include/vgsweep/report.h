/* `vgsweep report`: one row per run of a record with its diagnosis and the evidence that
 * decided it, the mean-field prediction beside the measurement, tables, sorting and pivots.
 * Thresholds, formulas and evidence are documented in docs/REPORT.md. Reads through
 * include/vgsweep/reader.h (never writes the record). */
#ifndef VGSWEEP_REPORT_H
#define VGSWEEP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "vgsweep/config.h"
#include "vgsweep/error.h"
#include "vgsweep/reader.h"
#include "vgsweep/theory.h"

typedef struct vg_report_thresholds {
    double vanish_decades;     /* vanishing: log10(delta_rms first/last layer) <= -this (2) */
    double explode_decades;    /* exploding: log10(delta_rms first/last layer) >= +this (2) */
    double dead_fraction;      /* dead: mean act_dead over hidden layers >= this (0.5) */
    double saturated_fraction; /* saturated: mean act_saturated >= this (0.5) */
    double stall_chance;       /* stalled: final loss >= this x the chance-level loss (0.9) */
    double stall_move;         /* stalled: probe loss fell by less than this fraction (0.02) */
    double critical_tol;       /* phase: critical when |chi* - 1| <= this (0.05) */
} vg_report_thresholds;

void vg_report_thresholds_default(vg_report_thresholds *t);

enum {
    VG_DIAG_DIVERGED = 1u << 0,
    VG_DIAG_FAILED = 1u << 1,
    VG_DIAG_DEAD = 1u << 2,
    VG_DIAG_SATURATED = 1u << 3,
    VG_DIAG_VANISHING = 1u << 4,
    VG_DIAG_EXPLODING = 1u << 5,
    VG_DIAG_STALLED = 1u << 6,
};

/* One run's figures. [0] at initialization (checkpoint 0), [1] at the end (the last
 * checkpoint with finite values). NaN where the record has no data. */
typedef struct vg_report_row {
    const vg_record_run *run;
    double loss, accuracy, test_loss, test_accuracy; /* at epochs_done */
    double chance_accuracy, chance_loss;
    double factor[2];      /* per-layer geometric mean factor of delta_rms: (d_1/d_L)^(1/(L-1)) */
    double log10_delta[2]; /* log10(delta_rms layer 1 / layer L) */
    double log10_grad[2];  /* log10(grad_norm layer 1 / layer L) */
    double log10_h[2];     /* recurrent: log10(|dloss/dh_1| / |dloss/dh_T|) (grad_h_norm) */
    double dead, saturated; /* larger of the hidden-layer means at [0] and [1] */
    double probe_loss[2];
    int end_checkpoint;    /* -1: none */
    double measured;       /* log10(delta_rms hidden 1 / hidden depth) at initialization */
    vg_theory theory;
    unsigned diag;         /* VG_DIAG_* bits; 0: healthy */
    char diagnosis[96];    /* "saturated+vanishing", "healthy" */
    char evidence[640];
} vg_report_row;

typedef struct vg_report {
    vg_report_row *rows;
    int64_t n_rows;
    int64_t n_read;        /* runs in the record (before --where) */
    int varying[VG_SETTING_COUNT];
    int n_varying;
    int repeats_vary;
    int has_h;             /* some run has grad_h_norm */
    vg_report_thresholds thresholds;
} vg_report;

/* Computes the rows of the runs `where` matches (NULL: all). */
vg_status vg_report_build(vg_reader *r, const vg_run_filter *where, const vg_report_thresholds *t,
                          vg_report *out, vg_error *err);
void vg_report_free(vg_report *rep);

/* A table of cells: each a number (text NULL) or a text (num: its order, e.g. an enum's
 * index, or NaN). Rows and pivots are both tables. */
typedef struct vg_cell {
    double num;
    char *text;
} vg_cell;

#define VG_TABLE_MAX_COLS 160
typedef struct vg_table {
    int n_cols;
    char *names[VG_TABLE_MAX_COLS];
    int64_t n_rows;
    vg_cell *cells; /* n_rows x n_cols */
    int is_pivot;
} vg_table;

typedef enum vg_format { VG_FORMAT_TABLE, VG_FORMAT_CSV, VG_FORMAT_JSON, VG_FORMAT_MARKDOWN } vg_format;

/* The report's rows as a table: id, the varying settings, status, losses, attenuation,
 * theory, diagnosis, evidence (docs/REPORT.md lists the columns). */
vg_status vg_report_table(const vg_report *rep, vg_table *out, vg_error *err);
/* Sorts by column key ("-key": descending); NaN last. Unknown key: VG_EUSAGE naming it. */
vg_status vg_table_sort(vg_table *t, const char *key, vg_error *err);
/* Diagnoses over two columns or settings "A,B": rows the values of A, columns those of B,
 * each cell the most frequent diagnosis and its count ("vanishing 3/3"). */
vg_status vg_report_pivot(const vg_report *rep, const vg_table *rows, const char *spec,
                          vg_table *out, vg_error *err);
void vg_table_free(vg_table *t);
/* Writes the table; `meta` (JSON only) is inserted as the object's first members, e.g.
 * "\"file\": \"x.h5\", ". */
void vg_table_write(FILE *f, const vg_table *t, vg_format fmt, const char *meta);

#endif
