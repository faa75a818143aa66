#ifndef CAISSE_CORE_HEX_H
#define CAISSE_CORE_HEX_H

#include <stddef.h>

/* Base 16, both ways: the one place that knows its digits (uuids, URL and
 * form escapes, bytea's text form, sealed secrets). */

/* 0..15 for a hex digit of either case, -1 for anything else. */
int hex_digit_value(char c);

/* Writes 2 * len lower-case digits of bytes and a NUL: out holds
 * 2 * len + 1 bytes. */
void hex_encode(const void *bytes, size_t len, char *out);

/* Decodes the text_len digits of text (an even number) into out (at least
 * text_len / 2 bytes). C_ERR, out unspecified: odd length or not a digit. */
int hex_decode(const char *text, size_t text_len, unsigned char *out);

#endif
