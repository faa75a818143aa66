/* UTF-8 text as the API measures and echoes it. */
#ifndef CAISSE_UTF8_H
#define CAISSE_UTF8_H

#include <stddef.h>

/* Number of Unicode code points in valid UTF-8 (limits are in characters). */
size_t utf8_length(const char *s);
/* Copies at most outlen - 1 bytes of s into out, cut before a UTF-8 sequence
 * rather than inside one: jansson refuses to build a JSON string holding half
 * a character, and an error message echoing a name must stay buildable. */
void utf8_truncate(const char *s, char *out, size_t outlen);

#endif
