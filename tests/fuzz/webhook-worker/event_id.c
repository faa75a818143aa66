/* The fan-out's event id scanner (webhook-worker/event_id.c, event_id_scan)
 * on any record, held against jansson, the full decoder the fan-out falls
 * back to: whenever the scanner answers, the record is one JSON object and
 * its top-level "id" is the string the scanner found, so a record is judged
 * the same whichever path reads it (event_id.h). A refusal leaves out as it
 * was. And the fast path stays a fast path: what jansson writes (the relay's
 * json_dumps) of an object with a plain id, the scanner reads, unless it
 * nests deeper than the scanner tracks or holds a real near a double's
 * limit.
 *
 * Input: the record's bytes. Dictionary: tests/fuzz/dict/json.dict. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "../../../webhook-worker/event_id.h"
#include "../fuzz_input.h"
#include "core/result.h"

/* Whether jansson's dump of v stays within what the scanner reads. */
static bool dump_is_scannable(const json_t *v, int depth)
{
    const char *key;
    const json_t *item;
    size_t i;
    if (depth > 60)
        return false;
    switch (json_typeof(v)) {
    case JSON_REAL:
        return fabs(json_real_value(v)) < 1e300;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, item)
        {
            if (!dump_is_scannable(item, depth + 1))
                return false;
        }
        return true;
    case JSON_ARRAY:
        json_array_foreach(v, i, item)
        {
            if (!dump_is_scannable(item, depth + 1))
                return false;
        }
        return true;
    default:
        return true;
    }
}

/* A text jansson writes without escapes (it escapes '"', '\\' and controls). */
static bool plain_text(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return false;
    }
    return true;
}

/* What the relay would write of this record, if it is an event the scanner
 * must read: a plain 36-byte id, plain top-level keys. */
static void check_dump_is_scanned(const char *record, size_t size)
{
    json_t *ev = json_loadb(record, size, 0, NULL);
    const json_t *id = json_object_get(ev, "id");
    bool scannable = json_is_object(ev) && json_is_string(id) &&
                     json_string_length(id) == UUID_STR_LEN - 1 &&
                     strlen(json_string_value(id)) == UUID_STR_LEN - 1 &&
                     plain_text(json_string_value(id)) && dump_is_scannable(ev, 1);
    const char *key;
    json_t *value;
    if (scannable) {
        json_object_foreach(ev, key, value) scannable = scannable && plain_text(key);
    }
    if (scannable) {
        char *dump = json_dumps(ev, JSON_COMPACT);
        FUZZ_CHECK(dump != NULL, "out of memory");
        char out[UUID_STR_LEN];
        FUZZ_CHECK(event_id_scan(dump, strlen(dump), out) == C_OK &&
                       strcmp(out, json_string_value(id)) == 0,
                   "the scanner cannot read what jansson writes: %.300s", dump);
        free(dump);
    }
    json_decref(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[UUID_STR_LEN];
    memset(out, 'x', sizeof(out));
    /* A copy of exactly size bytes, so reading past the record is caught. */
    char *record = malloc(size > 0 ? size : 1);
    FUZZ_CHECK(record != NULL, "out of memory");
    if (size > 0)
        memcpy(record, data, size);
    if (event_id_scan(record, size, out) != C_OK) {
        for (size_t i = 0; i < sizeof(out); i++)
            FUZZ_CHECK(out[i] == 'x', "out changed on a refusal");
        check_dump_is_scanned(record, size);
        free(record);
        return 0;
    }
    FUZZ_CHECK(strlen(out) == UUID_STR_LEN - 1, "id of %zu bytes", strlen(out));
    json_error_t jerr;
    json_t *ev = json_loadb(record, size, 0, &jerr);
    FUZZ_CHECK(ev != NULL, "scanned id %s of a record jansson refuses: %s (%.*s)", out, jerr.text,
               (int)(size < 200 ? size : 200), record);
    FUZZ_CHECK(json_is_object(ev), "scanned id %s of a record that is no object", out);
    const char *id = json_string_value(json_object_get(ev, "id"));
    FUZZ_CHECK(id != NULL && strcmp(id, out) == 0, "scanned id %s, jansson reads %s", out,
               id != NULL ? id : "(none)");
    json_decref(ev);
    free(record);
    return 0;
}
