#include "utf8.h"

#include <string.h>

size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    }
    return n;
}

void utf8_truncate(const char *s, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t len = strlen(s);
    if (len >= outlen) {
        len = outlen - 1;
        /* Back off over continuation bytes to the start of the cut sequence. */
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(out, s, len);
    out[len] = '\0';
}
