/* The maximum event size (issue 16): the largest session the API takes makes
 * events well under the documented maximum (128 KiB, KAFKA_EVENT_MAX_BYTES in
 * common/infra/kafka.h), which the topics' max.message.bytes (1 MiB) and the
 * producer's message.max.bytes (librdkafka's 1 000 000) hold with margin: no
 * event the API can produce can wedge the relay. A body past the limit is
 * refused at creation (413), before anything is written. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"
#include "support.h"

/* The documented maximum (README, deploy/OPERATIONS.md). */
#define EVENT_MAX_BYTES (128 * 1024)
/* The topics' max.message.bytes, as caisse-admin create-topics sets it. */
#define TOPIC_MAX_MESSAGE_BYTES 1048576

/* The size of the session's event of type, as the relay sends it (the
 * outbox's text is the Kafka record's value byte for byte). */
static long event_bytes(const char *id, const char *type)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT octet_length(payload) FROM outbox WHERE session_id::text = $1"
             " AND type = '%s'",
             type);
    char *v = test_sql_value(sql, id);
    cr_assert_not_null(v, "no %s event for %s", type, id);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

Test(event_size, the_largest_session_makes_events_under_the_maximum, .timeout = 90)
{
    char *body = test_largest_session_body(NULL);
    size_t body_len = strlen(body);
    cr_assert_geq(body_len, (size_t)(64 * 1024 - 64), "the body is not the largest: %zu", body_len);
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(r.status, 201, "%ld %.300s", r.status, r.text);
    char *id = strdup(json_string_value(json_object_get(r.json, "checkout_session_id")));
    test_api_free(&r);

    /* Completed with the longest reference: the completed event carries it too. */
    char json[512], reference[256];
    memset(reference, 'r', 255);
    reference[255] = '\0';
    snprintf(json, sizeof(json), "{\"payment_reference\": \"%.36s%s\"}", id, reference + 36);
    char *completion = test_completion_body(id, json);
    char path[128], auth[256];
    snprintf(path, sizeof(path), "/internal/checkout-sessions/%s/complete", id);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
             test_env("CAISSE_TEST_INTERNAL_TOKEN"));
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    r = test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "POST", path, NULL, completion, h);
    free(completion);
    cr_assert_eq(r.status, 200, "%ld %.300s", r.status, r.text);
    test_api_free(&r);

    long created = event_bytes(id, "checkout.session.created");
    long completed = event_bytes(id, "checkout.session.completed");
    cr_log_info("largest session: body %zu bytes, created event %ld bytes, completed event %ld"
                " bytes (maximum %d, topics %d)",
                body_len, created, completed, EVENT_MAX_BYTES, TOPIC_MAX_MESSAGE_BYTES);
    cr_assert_lt(created, EVENT_MAX_BYTES);
    cr_assert_lt(completed, EVENT_MAX_BYTES);
    /* The margin the documents promise: the topics take eight times the maximum. */
    cr_assert_leq((long)EVENT_MAX_BYTES * 8, (long)TOPIC_MAX_MESSAGE_BYTES);

    /* Both reached Kafka (the relay moved them), once each. */
    json_t *events = test_kafka_events_for(id, 2, 30000);
    cr_assert_eq(json_array_size(events), 2, "%zu records for the largest session",
                 json_array_size(events));
    json_decref(events);
    free(id);
}

Test(event_size, a_body_past_64_kib_is_refused_before_anything_is_written)
{
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    char *body = test_largest_session_body(marker);
    /* One more metadata value at its 2000 characters takes it past the limit. */
    json_t *o = json_loads(body, 0, NULL);
    free(body);
    cr_assert_not_null(o);
    json_t *metadata = json_object_get(o, "metadata");
    char *big = malloc(2001);
    cr_assert_not_null(big);
    memset(big, 'x', 2000);
    big[2000] = '\0';
    const char *key;
    json_t *value;
    json_object_foreach(metadata, key, value)
    {
        if (strcmp(key, "marker") != 0)
            json_string_set(value, big);
    }
    free(big);
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    cr_assert_gt(strlen(body), (size_t)(64 * 1024));
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(r.status, 413, "%ld %.300s", r.status, r.text);
    test_api_free(&r);
    char *n = test_sql_value(
        "SELECT count(*) FROM checkout_sessions WHERE metadata->>'marker' = $1", marker);
    cr_assert_str_eq(n, "0");
    free(n);
}
