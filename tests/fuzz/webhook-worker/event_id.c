/* The fan-out's event id scanner (webhook-worker/event_id.c, event_id_scan)
 * on any record, held against jansson, the full decoder the fan-out falls
 * back to: whenever the scanner answers, the record is one JSON object and
 * its top-level "id" is the string the scanner found, so a record is judged
 * the same whichever path reads it (event_id.h). A refusal leaves out as it
 * was.
 *
 * Input: the record's bytes. Dictionary: tests/fuzz/dict/json.dict. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "../../../webhook-worker/event_id.h"
#include "../fuzz_input.h"
#include "core/result.h"

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
