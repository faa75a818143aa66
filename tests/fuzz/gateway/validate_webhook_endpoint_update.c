/* PATCH /webhook-endpoints/{id} (gateway/validate.c,
 * validate_webhook_endpoint_update): any body, read as the gateway reads
 * it. A refusal is a well-formed 400; what is accepted says which fields are
 * present, each within its rules (metadata one that reads back from
 * PostgreSQL, jsonb_model.h), and url and enabled_events are never removed.
 *
 * Input: the body. Dictionary: tests/fuzz/dict/json.dict. */
#include <stdint.h>
#include <string.h>

#include "../../../gateway/validate.h"
#include "../fake_mhd.h"
#include "../fuzz_input.h"
#include "../jsonb_model.h"
#include "core/result.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fake_mhd_json_body((const char *)data, size);
    if (body == NULL)
        return 0;

    struct webhook_endpoint_input e;
    memset(&e, 0, sizeof(e));
    struct error err = ERROR_INIT;
    if (validate_webhook_endpoint_update(body, &e, &err) != C_OK) {
        fake_mhd_check_validation_error(&err);
    } else {
        FUZZ_CHECK(e.has_url == (json_object_get(body, "url") != NULL), "has_url");
        FUZZ_CHECK(!e.has_url || (e.url != NULL && strlen(e.url) <= 2048), "url");
        FUZZ_CHECK(e.has_enabled_events == (json_object_get(body, "enabled_events") != NULL),
                   "has_enabled_events");
        FUZZ_CHECK(!e.has_enabled_events || json_array_size(e.enabled_events) > 0,
                   "enabled_events emptied");
        size_t i;
        json_t *type;
        json_array_foreach(e.enabled_events, i, type)
            FUZZ_CHECK(webhook_endpoint_event_type_is_valid(json_string_value(type)),
                       "event type %s", json_string_value(type));
        FUZZ_CHECK(e.has_description == (json_object_get(body, "description") != NULL),
                   "has_description");
        FUZZ_CHECK(e.description == NULL || utf8_length(e.description) <= 2000, "description");
        FUZZ_CHECK(e.has_metadata == (json_object_get(body, "metadata") != NULL), "has_metadata");
        FUZZ_CHECK(!e.has_metadata ||
                       (json_is_object(e.metadata) && json_object_size(e.metadata) <= 50),
                   "metadata");
        FUZZ_CHECK(!e.has_metadata || jsonb_model_reads_back(e.metadata),
                   "metadata PostgreSQL gives back unreadable");
        FUZZ_CHECK(e.has_disabled == (json_object_get(body, "disabled") != NULL), "has_disabled");
    }
    webhook_endpoint_input_free(&e);
    json_decref(body);
    return 0;
}
