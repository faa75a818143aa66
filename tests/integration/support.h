/* What every integration test needs: HTTP calls to the gateway through libcurl,
 * Kafka reads through kcat (an independent client), and direct SQL checks. */
#ifndef TESTS_INTEGRATION_SUPPORT_H
#define TESTS_INTEGRATION_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct api_response {
    long status;
    char *text;   /* raw body */
    json_t *json; /* parsed body or NULL */
    char request_id[160];
    char location[256];
    char content_type[128];
    bool idempotent_replayed;
};

/* Environment variable of the runner (tests/integration/run.sh); aborts if unset. */
const char *test_env(const char *name);

/* headers: NULL-terminated "Name: value" strings, or NULL. body may be NULL. */
struct api_response test_api(const char *method, const char *path, const char *api_key,
                             const char *body, const char *const *headers);
void test_api_free(struct api_response *r);

/* POST /checkout-sessions with a JSON body and a JSON content type. */
struct api_response test_create(const char *api_key, const char *body);
/* A minimal valid body; extra (a JSON object text, may be NULL) is merged in. */
char *test_body(const char *extra);

/* Asserts the error body of api.md: statusCode, message, error, code, param, request_id. */
void test_assert_error(const struct api_response *r, long status, const char *code,
                       const char *param, const char *message);

/* Events on checkout.session.events whose subject is session_id, read with
 * kcat; waits up to timeout_ms for at least min_count. New JSON array of the
 * CloudEvents, each with "_headers" and "_key" added from the Kafka record. */
json_t *test_kafka_events_for(const char *session_id, size_t min_count, int timeout_ms);
/* Every record of a topic as kcat -J objects (key, payload, headers...). */
json_t *test_kafka_read_all(const char *topic);

/* The first value of a query against the stack's database, with one text
 * parameter ($1, may be NULL if unused); NULL if no row. Caller frees. */
char *test_sql_value(const char *sql, const char *param);

/* Runs a shell command, returns its exit status. */
int test_shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void test_sleep_ms(long ms);

#endif
