/* config_parse_long (common/core/config.c), which reads every integer of the
 * configuration and of the API's query strings (limit, offset), on any text
 * and bounds, held against a decimal reading written out here: an optional
 * '-', digits, nothing else, no overflow, within [min, max].
 *
 * Input: 8 bytes of min, 8 of max, then the text (up to its first NUL). */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "../../fuzz_input.h"
#include "core/config.h"
#include "core/result.h"

static long read_long(struct fuzz_input *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fuzz_input_byte(in);
    long l;
    memcpy(&l, &v, sizeof(l));
    return l;
}

static bool reference_parse(const char *s, long min, long max, long *out)
{
    bool negative = s[0] == '-';
    const char *p = s + negative;
    if (*p == '\0')
        return false;
    /* Magnitudes up to LONG_MAX + 1 (LONG_MIN's) in an unsigned long. */
    unsigned long limit = negative ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX;
    unsigned long v = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned long digit = (unsigned long)(*p - '0');
        if (v > (limit - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    long value = negative ? (v == (unsigned long)LONG_MAX + 1 ? LONG_MIN : -(long)v) : (long)v;
    if (value < min || value > max)
        return false;
    *out = value;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    long min = read_long(&in), max = read_long(&in);
    size_t len;
    const uint8_t *rest = fuzz_input_rest(&in, &len);
    char *text = fuzz_input_strndup(rest, len);
    long got = 12345, want = 0;
    int rc = config_parse_long(text, min, max, &got);
    bool valid = reference_parse(text, min, max, &want);
    FUZZ_CHECK((rc == C_OK) == valid, "\"%s\" in [%ld, %ld]: parse %d, reference %d", text, min,
               max, rc, valid);
    FUZZ_CHECK(valid ? got == want : got == 12345, "\"%s\": %ld, reference %ld", text, got, want);
    free(text);
    return 0;
}
