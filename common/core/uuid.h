/* UUIDs: version 7 generation (time-ordered, so B-tree inserts stay at the
 * right edge and ids sort by creation) and strict parsing of the text form. */
#ifndef CAISSE_UUID_H
#define CAISSE_UUID_H

#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters and the terminator */

struct uuid {
    uint8_t bytes[16];
};

/* Monotonic within a process: ids made in the same millisecond still increase. */
int uuid_v7_generate(struct uuid *out);
/* Only the canonical 8-4-4-4-12 hexadecimal form, either case. */
int uuid_parse(const char *text, struct uuid *out);
int uuid_is_valid(const char *text);
/* Writes lower-case canonical text into out[UUID_STR_LEN]. */
void uuid_format(const struct uuid *u, char out[UUID_STR_LEN]);
/* Convenience: generate and format in one step. */
int uuid_v7_string(char out[UUID_STR_LEN]);
/* Milliseconds since the epoch stored in a v7 id. */
uint64_t uuid_v7_timestamp_ms(const struct uuid *u);
int uuid_version(const struct uuid *u);

#endif
