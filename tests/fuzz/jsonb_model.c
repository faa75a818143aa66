#include "jsonb_model.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"

/* jsonb's text of a number that jansson wrote as text: sign, the digits
 * with the point moved by the exponent, display scale max(0, decimals -
 * exponent). */
static char *jsonb_model_number_text(const char *text)
{
    size_t len = strlen(text);
    char *digits = malloc(len + 1);
    FUZZ_CHECK(digits != NULL, "out of memory");
    size_t n = 0, decimals = 0;
    bool negative = false, after_point = false;
    long exponent = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '-' && p == text) {
            negative = true;
        } else if (*p == '.') {
            after_point = true;
        } else if (*p == 'e' || *p == 'E') {
            exponent = strtol(p + 1, NULL, 10);
            break;
        } else {
            digits[n++] = *p;
            decimals += after_point;
        }
    }
    long scale = (long)decimals - exponent;
    if (scale < 0)
        scale = 0;
    /* The value is digits × 10^(exponent - decimals); the point goes that far
     * left of the last digit, padded with zeros either way. */
    long point = (long)n + exponent - (long)decimals; /* digits before the point */
    size_t cap = n + (size_t)labs(point) + (size_t)scale + 8;
    char *out = malloc(cap);
    FUZZ_CHECK(out != NULL, "out of memory");
    size_t o = 0;
    if (negative)
        out[o++] = '-';
    if (point <= 0) {
        out[o++] = '0';
    } else {
        for (long i = 0; i < point; i++)
            out[o++] = (size_t)i < n ? digits[i] : '0';
    }
    if (scale > 0) {
        out[o++] = '.';
        for (long i = 0; i < scale; i++) {
            long at = point + i; /* index into digits */
            out[o++] = at >= 0 && (size_t)at < n ? digits[at] : '0';
        }
    }
    out[o] = '\0';
    free(digits);
    return out;
}

bool jsonb_model_reads_back(const json_t *v)
{
    const char *key;
    const json_t *item;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, item)
        {
            if (!jsonb_model_reads_back(item))
                return false;
        }
        return true;
    case JSON_ARRAY:
        json_array_foreach(v, i, item)
        {
            if (!jsonb_model_reads_back(item))
                return false;
        }
        return true;
    case JSON_INTEGER:
    case JSON_REAL: {
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        FUZZ_CHECK(text != NULL, "out of memory");
        char *stored = jsonb_model_number_text(text);
        json_t *again = json_loads(stored, JSON_DECODE_ANY, NULL);
        bool ok = json_is_number(again);
        json_decref(again);
        free(stored);
        free(text);
        return ok;
    }
    default:
        return true;
    }
}
