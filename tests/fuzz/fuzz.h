/*
 * fuzz.h -- what every fuzz target (tests/fuzz/fuzz_*.c) defines: the
 * libFuzzer entry points. `make fuzz` links them with -fsanitize=fuzzer;
 * `make test` links them with replay.c, a main that feeds them each file
 * of the committed corpus (no libFuzzer needed).
 *
 * A target aborts (fuzz_fail) when an input breaks a rule it checks: for
 * libFuzzer that is a crash, and the input is saved as its reproducer.
 */
#ifndef OPTIMIST_FUZZ_H
#define OPTIMIST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints the rule broken and the input (escaped), then aborts. */
void fuzz_fail(const uint8_t *data, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#endif
