/* Idempotency-Key while the session worker lags: every answer to a key's
 * retries, 201 or 202, names one session id, and that session is the only one
 * the key ever makes. Suite "faults": it stops the shared session worker, so
 * it runs alone (tests/integration/run.sh). */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/uuid.h"
#include "support.h"

static void restart_session_worker(void)
{
    if (test_service_pid("session-worker") == 0)
        test_service_start("session-worker", NULL);
}

struct keyed_call {
    const char *key, *body;
    long status;
    bool replayed;
    char id[64];
    json_t *json;
};

static void keyed_create(struct keyed_call *c)
{
    char h[400];
    snprintf(h, sizeof(h), "Idempotency-Key: %s", c->key);
    const char *headers[] = {"Content-Type: application/json", h, NULL};
    struct api_response r =
        test_api("POST", "/checkout-sessions", test_env("CAISSE_TEST_KEY_A"), c->body, headers);
    c->status = r.status;
    c->replayed = r.idempotent_replayed;
    const char *id = json_string_value(json_object_get(r.json, "checkout_session_id"));
    snprintf(c->id, sizeof(c->id), "%s", id != NULL ? id : "");
    c->json = json_incref(r.json);
    test_api_free(&r);
}

static void *keyed_create_main(void *arg)
{
    keyed_create(arg);
    return NULL;
}

Test(faults, keyed_retries_while_the_session_worker_is_stopped_all_name_one_session, .timeout = 300,
     .init = restart_session_worker, .fini = restart_session_worker)
{
    char key[UUID_STR_LEN], marker[UUID_STR_LEN], extra[160];
    cr_assert_eq(uuid_v7_string(key), 0);
    cr_assert_eq(uuid_v7_string(marker), 0);
    snprintf(extra, sizeof(extra), "{\"metadata\": {\"lag\": \"%s\"}}", marker);
    char *body = test_body(extra);
    test_service_stop("session-worker");

    /* Ten retries: four one after the other, six at once. */
    enum { SEQUENTIAL = 4, CONCURRENT = 6 };
    struct keyed_call calls[SEQUENTIAL + CONCURRENT];
    memset(calls, 0, sizeof(calls));
    for (int i = 0; i < SEQUENTIAL + CONCURRENT; i++) {
        calls[i].key = key;
        calls[i].body = body;
    }
    for (int i = 0; i < SEQUENTIAL; i++)
        keyed_create(&calls[i]);
    pthread_t threads[CONCURRENT];
    for (int i = 0; i < CONCURRENT; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, keyed_create_main, &calls[SEQUENTIAL + i]),
                     0);
    for (int i = 0; i < CONCURRENT; i++)
        pthread_join(threads[i], NULL);
    const char *id = calls[0].id;
    for (int i = 0; i < SEQUENTIAL + CONCURRENT; i++) {
        cr_assert_eq(calls[i].status, 202, "retry %d answered %ld", i, calls[i].status);
        cr_assert_str_eq(calls[i].id, id, "retry %d names another session", i);
        json_decref(calls[i].json);
    }

    /* Under lag a different body cannot be told from a retry yet: accepted for the
     * same id, it loses to the commands before it on the key's one partition. */
    char *other = test_body("{\"amount\": 20000}");
    struct keyed_call late = {.key = key, .body = other};
    keyed_create(&late);
    cr_assert_eq(late.status, 202, "%ld", late.status);
    cr_assert_str_eq(late.id, id);
    json_decref(late.json);

    test_service_start("session-worker", NULL);
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", id);
    long status = 0;
    for (int64_t end = clock_now_ms() + 90000; status != 200 && clock_now_ms() < end;) {
        struct api_response g = test_api("GET", path, test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
        status = g.status;
        test_api_free(&g);
        if (status != 200)
            test_sleep_ms(250);
    }
    cr_assert_eq(status, 200, "the session %s never appeared", id);
    test_sleep_ms(1000); /* every command of the key applied by now, or never */
    char *rows =
        test_sql_value("SELECT count(*) FROM checkout_sessions WHERE idempotency_key = $1", key);
    cr_assert_str_eq(rows, "1", "the key made %s sessions", rows);
    free(rows);
    char *stored =
        test_sql_value("SELECT id::text FROM checkout_sessions WHERE idempotency_key = $1", key);
    cr_assert_str_eq(stored, id);
    free(stored);
    char *amount =
        test_sql_value("SELECT amount::text FROM checkout_sessions WHERE id = $1::uuid", id);
    cr_assert_str_eq(amount, "10000", "the first body won");
    free(amount);

    /* Afterwards: the same body is the session, replayed; the other one a 409. */
    struct keyed_call again = {.key = key, .body = body};
    keyed_create(&again);
    cr_assert_eq(again.status, 201, "%ld", again.status);
    cr_assert(again.replayed);
    cr_assert_str_eq(again.id, id);
    json_decref(again.json);
    struct keyed_call conflict = {.key = key, .body = other};
    keyed_create(&conflict);
    cr_assert_eq(conflict.status, 409, "%ld", conflict.status);
    json_decref(conflict.json);

    /* Every command of the key went to one partition, keyed by the one id. */
    json_t *cmds = test_kafka_read_all("checkout.session.commands");
    size_t i, n = 0;
    json_t *rec;
    long partition = -1;
    json_array_foreach(cmds, i, rec)
    {
        const char *payload = json_string_value(json_object_get(rec, "payload"));
        if (payload == NULL || strstr(payload, key) == NULL)
            continue;
        n++;
        const char *k = json_string_value(json_object_get(rec, "key"));
        cr_assert(k != NULL && strcmp(k, id) == 0, "a command keyed %s", k != NULL ? k : "null");
        long p = (long)json_integer_value(json_object_get(rec, "partition"));
        if (partition < 0)
            partition = p;
        cr_assert_eq(p, partition, "the key's commands are on partitions %ld and %ld", partition,
                     p);
    }
    json_decref(cmds);
    cr_assert_eq(n, SEQUENTIAL + CONCURRENT + 1, "%zu commands carry the key", n);
    free(body);
    free(other);
}
