/* UTF-8 text as the API measures, checks and echoes it. */
#ifndef CAISSE_UTF8_H
#define CAISSE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Number of Unicode code points in valid UTF-8 (limits are in characters). */
size_t utf8_length(const char *s);
/* Copies at most outlen - 1 bytes of s into out, cut before a UTF-8 sequence
 * rather than inside one: jansson refuses to build a JSON string holding half
 * a character, and an error message echoing a name must stay buildable. */
void utf8_truncate(const char *s, char *out, size_t outlen);

/* The one UTF-8 decoder of the project: the length (1 to 4) of the
 * well-formed sequence at p, of at most left bytes; 0 if it is not one (a
 * stray continuation byte, an overlong form, a surrogate, past U+10FFFF, a
 * NUL: what jansson and PostgreSQL refuse), -1 if it is well formed so far
 * but cut by the end of the buffer. */
int utf8_sequence_length(const char *p, size_t left);
/* Whether the len bytes at s are well-formed UTF-8 without NUL. */
bool utf8_valid(const char *s, size_t len);
/* Copies the len bytes at s into out (outlen > 0, always NUL-terminated) as
 * valid UTF-8: well-formed sequences as they are, every other byte (NUL
 * included) as "%XX", its URL escape; cut before a sequence or an escape that
 * would not fit. For echoing or logging bytes a client sent. */
void utf8_escape_invalid(const char *s, size_t len, char *out, size_t outlen);

#endif
