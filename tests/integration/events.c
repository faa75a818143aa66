/* The checkout.session.created event on Kafka, read with kcat, and replay
 * safety of the command stream. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "core/uuid.h"

static const char *header(json_t *ev, const char *name)
{
    json_t *h = json_object_get(ev, "_headers");
    for (size_t i = 0; i + 1 < json_array_size(h); i += 2) {
        if (strcmp(json_string_value(json_array_get(h, i)), name) == 0)
            return json_string_value(json_array_get(h, i + 1));
    }
    return NULL;
}

Test(events, created_event_is_a_cloudevent_with_the_session, .timeout = 60)
{
    char *body = test_body(NULL);
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(r.status, 201);
    const char *id = json_string_value(json_object_get(r.json, "checkout_session_id"));
    json_t *events = test_kafka_events_for(id, 1, 20000);
    cr_assert_eq(json_array_size(events), 1, "events for %s: %zu", id, json_array_size(events));
    json_t *ev = json_array_get(events, 0);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "specversion")), "1.0");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "checkout.session.created");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "subject")), id);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "source")), "/caisse/checkout-sessions");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "datacontenttype")), "application/json");
    cr_assert(uuid_is_valid(json_string_value(json_object_get(ev, "id"))));
    cr_assert_str_eq(json_string_value(json_object_get(ev, "time")),
                     json_string_value(json_object_get(r.json, "created_at")));
    cr_assert_str_eq(json_string_value(json_object_get(ev, "organizationid")),
                     test_env("CAISSE_TEST_ORG_A"));
    cr_assert_str_eq(json_string_value(json_object_get(ev, "environment")), "test");
    cr_assert(json_equal(json_object_get(ev, "data"), r.json), "data differs from the REST object");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "_key")), id);
    cr_assert_str_eq(header(ev, "content-type"), "application/cloudevents+json");
    json_decref(events);
    test_api_free(&r);
}

Test(events, replayed_commands_create_no_duplicate_row_or_event, .timeout = 120)
{
    /* Create sessions, then feed their exact command records to the topic
     * again, as a crashed worker's redelivery would. */
    enum { N = 5 };
    char ids[N][64];
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    for (int i = 0; i < N; i++) {
        char extra[128];
        snprintf(extra, sizeof(extra), "{\"metadata\": {\"replay\": \"%s\"}}", marker);
        char *body = test_body(extra);
        struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
        free(body);
        cr_assert_eq(r.status, 201);
        snprintf(ids[i], sizeof(ids[i]), "%s",
                 json_string_value(json_object_get(r.json, "checkout_session_id")));
        test_api_free(&r);
    }
    for (int i = 0; i < N; i++) {
        json_t *ev = test_kafka_events_for(ids[i], 1, 20000);
        cr_assert_eq(json_array_size(ev), 1);
        json_decref(ev);
    }
    json_t *cmds = test_kafka_read_all("checkout.session.commands");
    size_t i, replayed = 0;
    json_t *rec;
    json_array_foreach(cmds, i, rec)
    {
        const char *payload = json_string_value(json_object_get(rec, "payload"));
        if (payload == NULL || strstr(payload, marker) == NULL)
            continue;
        /* The record as it was, with its own caisse-mac header (kcat -J lists
         * headers as name, value, name, value...). */
        const char *mac = NULL;
        json_t *headers = json_object_get(rec, "headers");
        for (size_t h = 0; h + 1 < json_array_size(headers); h += 2) {
            if (strcmp(json_string_value(json_array_get(headers, h)), "caisse-mac") == 0)
                mac = json_string_value(json_array_get(headers, h + 1));
        }
        cr_assert_not_null(mac, "a command without its caisse-mac header");
        char replay[] = "/tmp/caisse-replay-XXXXXX";
        int fd = mkstemp(replay);
        FILE *f = fdopen(fd, "w");
        /* Twice: a redelivered batch may contain the same command more than once. */
        fprintf(f, "%s\t%s\n", json_string_value(json_object_get(rec, "key")), payload);
        fprintf(f, "%s\t%s\n", json_string_value(json_object_get(rec, "key")), payload);
        fclose(f);
        /* As the gateway: the one Kafka user allowed to write commands. */
        cr_assert_eq(test_shell("kcat -F %s/caisse-gateway.kcat.conf -P -b %s"
                                " -t checkout.session.commands -K '\\t' -H"
                                " content-type=application/cloudevents+json -H caisse-mac=%s -l %s",
                                test_env("CAISSE_KAFKA_SECURITY_DIR"),
                                test_env("CAISSE_KAFKA_BROKERS"), mac, replay),
                     0);
        unlink(replay);
        replayed++;
    }
    json_decref(cmds);
    cr_assert_eq(replayed, N);
    /* A fresh create after the replay: once it is readable and its event is
     * out, the worker and relay have passed the replayed records on every
     * partition they share with it; a pause covers the others. */
    char *body = test_body(NULL);
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(r.status, 201);
    json_decref(test_kafka_events_for(
        json_string_value(json_object_get(r.json, "checkout_session_id")), 1, 20000));
    test_api_free(&r);
    test_sleep_ms(3000);
    for (int k = 0; k < N; k++) {
        char *n = test_sql_value("SELECT count(*) FROM checkout_sessions WHERE id = $1", ids[k]);
        cr_assert_str_eq(n, "1");
        free(n);
        n = test_sql_value("SELECT count(*) FROM outbox WHERE session_id = $1", ids[k]);
        cr_assert_str_eq(n, "1", "session %s has %s outbox rows", ids[k], n);
        free(n);
        json_t *ev = test_kafka_events_for(ids[k], 1, 1000);
        cr_assert_eq(json_array_size(ev), 1, "session %s has %zu events", ids[k],
                     json_array_size(ev));
        json_decref(ev);
    }
}
