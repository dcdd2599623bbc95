/* libFuzzer harness for the record reader and the report (src/record/reader.c, src/report):
 * the input bytes are written to a file in /dev/shm (HDF5 opens files by name) and read as a
 * record, then as an interrupted one (<name>.tmp), through every step of `vgsweep report`:
 * the rows, the table, a sort, a pivot and all four formats. Any crash, leak or sanitizer
 * report in our code is a failure; see CMakeLists.txt for crashes inside HDF5 itself.
 * Seeds: tests/fuzz/corpus_reader (small records made by vgsweep). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vgsweep/reader.h"
#include "vgsweep/report.h"

static void vg__exercise(const char *path) {
    vg_error err;
    vg_reader *r = NULL;
    if (vg_reader_open(path, &r, &err) != VG_OK) {
        /* an error is a one-line message naming the file */
        if (!strstr(err.message, path) || strchr(err.message, '\n')) abort();
        return;
    }
    vg_report_thresholds t;
    vg_report_thresholds_default(&t);
    vg_report rep;
    if (vg_report_build(r, NULL, &t, &rep, &err) == VG_OK) {
        vg_table table, piv;
        if (vg_report_table(&rep, &table, &err) == VG_OK) {
            FILE *null = fopen("/dev/null", "w");
            vg_table_sort(&table, "-log10_delta_init", &err);
            for (int f = VG_FORMAT_TABLE; f <= VG_FORMAT_MARKDOWN && null; f++)
                vg_table_write(null, &table, (vg_format)f, "");
            if (vg_report_pivot(&rep, &table, "status,diagnosis", &piv, &err) == VG_OK) {
                if (null) vg_table_write(null, &piv, VG_FORMAT_JSON, NULL);
                vg_table_free(&piv);
            }
            if (null) fclose(null);
            vg_table_free(&table);
        }
        vg_report_free(&rep);
    }
    vg_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64], tmp[80];
    snprintf(path, sizeof path, "/dev/shm/vg_fuzz_reader_%d.h5", (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    vg__exercise(path);
    rename(path, tmp); /* the same bytes as an output being assembled */
    vg__exercise(path);
    unlink(tmp);
    return 0;
}
