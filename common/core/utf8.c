#include "utf8.h"

#include <stdio.h>
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
        /* A character cut in half (its lead byte at most 3 bytes back) goes
         * whole; stray continuation bytes belong to no character and are cut
         * where they fall, so a long run of them never empties the result. */
        size_t lead = len;
        while (lead > 0 && len - lead < 3 && ((unsigned char)s[lead] & 0xC0) == 0x80)
            lead--;
        if (lead < len && ((unsigned char)s[lead] & 0xC0) == 0xC0)
            len = lead;
    }
    memcpy(out, s, len);
    out[len] = '\0';
}

int utf8_sequence_length(const char *s, size_t left)
{
    const unsigned char *p = (const unsigned char *)s;
    if (left == 0)
        return -1;
    unsigned char c = p[0];
    int n;
    unsigned int min;
    if (c < 0x80)
        return c == 0 ? 0 : 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned int cp = c & (0x7Fu >> n);
    for (int i = 1; i < n; i++) {
        if ((size_t)i >= left)
            return -1;
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return n;
}

bool utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        int n = utf8_sequence_length(s + i, len - i);
        if (n <= 0)
            return false;
        i += (size_t)n;
    }
    return true;
}

void utf8_escape_invalid(const char *s, size_t len, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t used = 0;
    for (size_t i = 0; i < len;) {
        int n = utf8_sequence_length(s + i, len - i);
        if (n > 0) {
            if (used + (size_t)n >= outlen)
                break;
            memcpy(out + used, s + i, (size_t)n);
            used += (size_t)n;
            i += (size_t)n;
            continue;
        }
        if (used + 3 >= outlen)
            break;
        snprintf(out + used, outlen - used, "%%%02X", (unsigned char)s[i]);
        used += 3;
        i++;
    }
    out[used] = '\0';
}
