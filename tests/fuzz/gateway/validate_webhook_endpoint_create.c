/* POST /webhook-endpoints (gateway/validate.c,
 * validate_webhook_endpoint_create), then the URL's address rules as the
 * handler applies them (netguard_check_url_syntax: all of netguard_check_url but the
 * resolution, which a fuzzer must not do). Any body, read as the gateway
 * reads it. A refusal, by either, is a well-formed 400; an accepted endpoint
 * has a URL, distinct known event types and bounded optional fields, its
 * metadata one that reads back from PostgreSQL (jsonb_model.h).
 *
 * Input: require_https (the low bit), then the body. Dictionary:
 * tests/fuzz/dict/json.dict. */
#include <stdint.h>
#include <string.h>

#include "../../../gateway/validate.h"
#include "../fake_mhd.h"
#include "../fuzz_input.h"
#include "../jsonb_model.h"
#include "core/result.h"
#include "core/utf8.h"
#include "infra/netguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    bool live = (fuzz_input_byte(&in) & 1) != 0;
    size_t len;
    const uint8_t *bytes = fuzz_input_rest(&in, &len);
    json_t *body = fake_mhd_json_body((const char *)bytes, len);
    if (body == NULL)
        return 0;

    struct webhook_endpoint_input e;
    memset(&e, 0, sizeof(e));
    struct error err = ERROR_INIT;
    if (validate_webhook_endpoint_create(body, &e, &err) != C_OK) {
        fake_mhd_check_validation_error(&err);
    } else {
        FUZZ_CHECK(e.has_url && e.url != NULL && strlen(e.url) <= 2048, "url");
        FUZZ_CHECK(e.has_enabled_events && json_array_size(e.enabled_events) > 0, "enabled_events");
        size_t i;
        json_t *type;
        json_array_foreach(e.enabled_events, i, type)
        {
            FUZZ_CHECK(webhook_endpoint_event_type_is_valid(json_string_value(type)),
                       "event type %s", json_string_value(type));
            for (size_t j = 0; j < i; j++)
                FUZZ_CHECK(!json_equal(type, json_array_get(e.enabled_events, j)),
                           "duplicate event type");
        }
        FUZZ_CHECK(!e.has_disabled, "disabled on create");
        FUZZ_CHECK(e.description == NULL || utf8_length(e.description) <= 2000, "description");
        FUZZ_CHECK(!e.has_metadata || json_object_size(e.metadata) <= 50, "metadata");
        FUZZ_CHECK(!e.has_metadata || jsonb_model_reads_back(e.metadata),
                   "metadata PostgreSQL gives back unreadable");
        char host[NETGUARD_HOST_MAX + 1];
        struct error why = ERROR_INIT;
        if (netguard_check_url_syntax(e.url, live, host, sizeof(host), &why) != C_OK) {
            FUZZ_CHECK(strcmp(why.param, "url") == 0, "param \"%s\"", why.param);
            fake_mhd_check_validation_error(&why);
        } else {
            FUZZ_CHECK(host[0] != '\0', "no host in %s", e.url);
        }
    }
    webhook_endpoint_input_free(&e);
    json_decref(body);
    return 0;
}
