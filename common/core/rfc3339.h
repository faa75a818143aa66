/* RFC 3339 times. The API shows whole seconds in UTC ("2024-01-15T10:30:00Z"),
 * so every time the model keeps is whole seconds since the epoch: what a client
 * reads back is exactly what was stored. */
#ifndef CAISSE_RFC3339_H
#define CAISSE_RFC3339_H

#include <stdint.h>

#include <jansson.h>

#define RFC3339_LEN 21 /* "YYYY-MM-DDTHH:MM:SSZ" and the terminator */

void rfc3339_format(int64_t epoch_seconds, char out[RFC3339_LEN]);
/* Accepts "T" or "t", fractional seconds (truncated) and "Z" or a ±HH:MM
 * offset; rejects anything else, including impossible dates. */
int rfc3339_parse(const char *text, int64_t *epoch_seconds);
int64_t rfc3339_now(void);
/* The wall clock in epoch milliseconds (a payment's start, which a provider's
 * poll compares across processes). */
int64_t rfc3339_now_ms(void);
/* The API's JSON form of a time: a string in the format above. New reference. */
json_t *rfc3339_to_json(int64_t epoch_seconds);

#endif
