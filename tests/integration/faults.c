/* Dependencies failing under the gateway: it answers 503 (never another 5xx),
 * creates nothing it did not acknowledge, and recovers by itself. Runs alone
 * (tests/integration/run.sh) because it stops the shared stack's Kafka and Postgres. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"
#include "uuid.h"

static long wait_for_ready(int seconds)
{
    long status = 0;
    for (int i = 0; i < seconds * 4; i++) {
        struct api_response r = test_api("GET", "/readyz", NULL, NULL, NULL);
        status = r.status;
        test_api_free(&r);
        if (status == 200)
            break;
        test_sleep_ms(250);
    }
    return status;
}

/* Whatever a test asserted, the next one starts with both dependencies up. */
static void restore_stack(void)
{
    test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO"));
    test_shell("bash %s/deploy/pg.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO"));
}

Test(faults, kafka_down_gives_503_and_creates_nothing, .timeout = 180, .fini = restore_stack)
{
    cr_assert_eq(wait_for_ready(30), 200);
    cr_assert_eq(
        test_shell("bash %s/deploy/kafka.sh stop >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")),
        0);
    char marker[UUID_STR_LEN], extra[128];
    cr_assert_eq(uuid_v7_string(marker), 0);
    snprintf(extra, sizeof(extra), "{\"metadata\": {\"fault\": \"%s\"}}", marker);
    char *body = test_body(extra);
    time_t start = time(NULL);
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    time_t took = time(NULL) - start;
    test_assert_error(&r, 503, "service_unavailable", NULL, NULL);
    /* CAISSE_KAFKA_MESSAGE_TIMEOUT_MS is 5 s in the test stack; after a broker
     * loss the idempotent producer first drains its in-flight requests, so the
     * timeout can surface a few seconds later (up to ~3x was seen). */
    cr_assert_leq(took, 30, "503 took %lds", (long)took);
    test_api_free(&r);
    r = test_api("GET", "/readyz", NULL, NULL, NULL);
    cr_assert_eq(r.status, 503, "readyz should fail without Kafka: %s", r.text);
    test_api_free(&r);
    /* Reads do not need Kafka. */
    r = test_api("GET", "/checkout-sessions?limit=1", test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
    cr_assert_eq(r.status, 200);
    test_api_free(&r);

    cr_assert_eq(
        test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")),
        0);
    cr_assert_eq(wait_for_ready(60), 200);
    r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    cr_assert(r.status == 201 || r.status == 202, "after Kafka is back: %ld %s", r.status, r.text);
    test_api_free(&r);
    free(body);
    /* The acknowledged create appears (a 202 means the worker's consumer group
     * was still rejoining the restarted broker); the refused one never does. */
    char *n = NULL;
    for (int i = 0; i < 120; i++) {
        free(n);
        n = test_sql_value("SELECT count(*) FROM checkout_sessions WHERE metadata->>'fault' = $1",
                           marker);
        if (strcmp(n, "0") != 0)
            break;
        test_sleep_ms(500);
    }
    test_sleep_ms(2000);
    free(n);
    n = test_sql_value("SELECT count(*) FROM checkout_sessions WHERE metadata->>'fault' = $1",
                       marker);
    cr_assert_str_eq(n, "1", "only the acknowledged create may exist, found %s", n);
    free(n);
}

Test(faults, postgres_restart_gives_503_then_recovers, .timeout = 120, .fini = restore_stack)
{
    cr_assert_eq(wait_for_ready(30), 200);
    cr_assert_eq(
        test_shell("bash %s/deploy/pg.sh stop >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")), 0);
    struct api_response r =
        test_api("GET", "/checkout-sessions/987e6543-e89b-12d3-a456-426614174000",
                 test_env("CAISSE_TEST_KEY_B"), NULL, NULL);
    cr_assert(r.status == 503 || r.status == 404, "got %ld: %s", r.status, r.text);
    if (r.status == 503)
        test_assert_error(&r, 503, "service_unavailable", NULL, NULL);
    cr_assert(strstr(r.text, "postgres") == NULL && strstr(r.text, "connection") == NULL,
              "a 5xx must not leak internals: %s", r.text);
    test_api_free(&r);
    r = test_api("GET", "/checkout-sessions?limit=1", test_env("CAISSE_TEST_KEY_B"), NULL, NULL);
    cr_assert_eq(r.status, 503, "%s", r.text);
    test_api_free(&r);
    cr_assert_eq(
        test_shell("bash %s/deploy/pg.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")), 0);
    cr_assert_eq(wait_for_ready(60), 200);
    char *body = test_body(NULL);
    r = test_create(test_env("CAISSE_TEST_KEY_B"), body);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s",
             json_string_value(json_object_get(r.json, "checkout_session_id")));
    struct api_response g = test_api("GET", path, test_env("CAISSE_TEST_KEY_B"), NULL, NULL);
    cr_assert_eq(g.status, 200);
    test_api_free(&g);
    test_api_free(&r);
}
