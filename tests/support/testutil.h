/* Helpers shared by the test programs. Tests run from the project root; reference data lives in
 * ../shared (override with KUMO_SHARED). All tests include <cmocka.h> after these headers. */
#ifndef KUMO_TESTUTIL_H
#define KUMO_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* "<shared>/<rel>" in a static buffer rotation of 8 entries (fine for a test's few live paths). */
const char *shared_path(const char *rel);
/* Path of the kumo binary under test (KUMO_BIN, default build/kumo). */
const char *kumo_bin(void);
/* Reads a whole file into a malloc'd buffer (NUL-terminated; *len excludes the NUL). NULL on error. */
char *read_file(const char *path, size_t *len);
/* Runs a shell command, captures stdout into a malloc'd buffer, stores the exit status. */
char *run_capture(const char *cmd, int *status);
#endif
