/* What every harness of tests/fuzz/ shares: reading a fuzzer's input as the
 * parts a target takes (control bytes, NUL-separated strings, the rest as
 * bytes), and FUZZ_CHECK, a property that must hold for every input. A
 * harness is one LLVMFuzzerTestOneInput per target; tests/fuzz/run.sh runs
 * them (make fuzz, make fuzz-check). */
#ifndef CAISSE_FUZZ_INPUT_H
#define CAISSE_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A property of the target that failed: libFuzzer keeps the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct fuzz_input {
    const uint8_t *data;
    size_t size;
    size_t pos;
};

void fuzz_input_init(struct fuzz_input *in, const uint8_t *data, size_t size);
/* The next byte; 0 once the input is used up. */
uint8_t fuzz_input_byte(struct fuzz_input *in);
/* The next field: the bytes up to the next NUL (consumed) or the end, as a new
 * NUL-terminated string the caller frees. NULL once the input is used up. */
char *fuzz_input_field(struct fuzz_input *in);
/* What is left, not copied: *len bytes at the returned address. */
const uint8_t *fuzz_input_rest(struct fuzz_input *in, size_t *len);
/* A copy of bytes[0..len) with a NUL after them, for targets that take a C
 * string; NULs inside stay (the target sees the text up to the first). */
char *fuzz_input_strndup(const uint8_t *bytes, size_t len);

#endif
