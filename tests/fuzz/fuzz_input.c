#include "fuzz_input.h"

#include <string.h>

void fuzz_input_init(struct fuzz_input *in, const uint8_t *data, size_t size)
{
    in->data = data;
    in->size = size;
    in->pos = 0;
}

uint8_t fuzz_input_byte(struct fuzz_input *in)
{
    return in->pos < in->size ? in->data[in->pos++] : 0;
}

char *fuzz_input_strndup(const uint8_t *bytes, size_t len)
{
    char *s = malloc(len + 1);
    /* Out of memory inside a fuzzer is the fuzzer's failure, never the target's. */
    if (s == NULL)
        abort();
    if (len > 0)
        memcpy(s, bytes, len);
    s[len] = '\0';
    return s;
}

char *fuzz_input_field(struct fuzz_input *in)
{
    if (in->pos >= in->size)
        return NULL;
    const uint8_t *start = in->data + in->pos;
    const uint8_t *nul = memchr(start, '\0', in->size - in->pos);
    size_t len = nul != NULL ? (size_t)(nul - start) : in->size - in->pos;
    in->pos += len + (nul != NULL);
    return fuzz_input_strndup(start, len);
}

const uint8_t *fuzz_input_rest(struct fuzz_input *in, size_t *len)
{
    const uint8_t *rest = in->data + in->pos;
    *len = in->size - in->pos;
    in->pos = in->size;
    return rest;
}
