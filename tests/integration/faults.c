/* Dependencies failing under the gateway: it answers 503 (never another 5xx),
 * creates nothing it did not acknowledge, and recovers by itself. Runs alone
 * (tests/integration/run.sh) because it stops the shared stack's Kafka and Postgres. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "command_support.h"
#include "metrics_support.h"
#include "support.h"
#include "core/uuid.h"

/* Until the gateway is ready, through refused connections while it restarts. */
static long wait_for_ready(int seconds)
{
    return test_wait_readyz(test_env("CAISSE_TEST_URL"), 200, seconds, NULL, 0);
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
    /* CAISSE_KAFKA_MESSAGE_TIMEOUT_MS is 5 s in the test stack, and the README
     * promises the 503 within it plus about a second. Creates all along a
     * 15-second outage: the producer's reconnection backoff once grew to 10 s,
     * and a create then waited up to 15 s. */
    int64_t outage_start = clock_now_ms();
    struct api_response r;
    int refused = 0;
    do {
        int64_t start = clock_now_ms();
        r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
        long took = (long)(clock_now_ms() - start);
        test_assert_error(&r, 503, "service_unavailable", NULL, NULL);
        cr_assert_leq(took, 7000, "create %d: 503 after %ld ms (timeout 5000 ms)", refused + 1,
                      took);
        test_api_free(&r);
        refused++;
    } while (clock_now_ms() - outage_start < 15000);
    cr_assert_geq(refused, 3);
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

/* ---- readiness and metrics of every service ------------------------------------------ */

struct ops_target {
    const char *service;
    const char *env; /* base URL of its /readyz and /metrics */
};
static const struct ops_target ops_targets[] = {
    {"gateway", "CAISSE_TEST_INTERNAL_URL"},
    {"session-worker", "CAISSE_TEST_SESSION_WORKER_OPS_URL"},
    {"expiry-worker", "CAISSE_TEST_EXPIRY_WORKER_OPS_URL"},
    {"webhook-worker", "CAISSE_TEST_WEBHOOK_WORKER_OPS_URL"},
};
#define OPS_TARGETS (sizeof(ops_targets) / sizeof(ops_targets[0]))

/* restore_stack, and any stopped service started again (stack.sh
 * start-service does nothing for a running one): these tests need all four,
 * whatever an earlier test stopped or killed. */
static void restore_stack_and_services(void)
{
    restore_stack();
    static const char *const names[] = {"session-worker", "expiry-worker", "webhook-worker",
                                        "gateway"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        test_shell("bash %s/deploy/stack.sh start-service %s >/dev/null 2>&1",
                   test_env("CAISSE_TEST_REPO"), names[i]);
}

static void assert_all_ready(int seconds)
{
    for (size_t i = 0; i < OPS_TARGETS; i++)
        cr_assert_eq(test_wait_readyz(test_env(ops_targets[i].env), 200, seconds, NULL, 0), 200,
                     "%s is not ready", ops_targets[i].service);
}

Test(faults, postgres_down_makes_every_service_unready_until_it_is_back, .timeout = 240,
     .init = restore_stack_and_services, .fini = restore_stack_and_services)
{
    assert_all_ready(60);
    cr_assert_eq(
        test_shell("bash %s/deploy/pg.sh stop >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")), 0);
    for (size_t i = 0; i < OPS_TARGETS; i++) {
        char reason[128] = "";
        long status =
            test_wait_readyz(test_env(ops_targets[i].env), 503, 30, reason, sizeof(reason));
        cr_assert_eq(status, 503, "%s stayed ready without PostgreSQL", ops_targets[i].service);
        cr_assert_str_eq(reason, "postgres unreachable", "%s", ops_targets[i].service);
        /* Liveness does not depend on PostgreSQL: nothing to restart for. */
        struct api_response h =
            test_api_at(test_env(ops_targets[i].env), "GET", "/healthz", NULL, NULL, NULL);
        cr_assert_eq(h.status, 200, "%s /healthz", ops_targets[i].service);
        test_api_free(&h);
    }
    cr_assert_eq(
        test_shell("bash %s/deploy/pg.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")), 0);
    assert_all_ready(90);
}

static double ops_metric(const char *env, const char *name, const char *const *labels)
{
    struct prom_scrape *s = prom_scrape(test_env(env));
    double v = prom_value(s, name, labels);
    prom_free(s);
    return v;
}

/* Without Kafka the relay cannot publish: the expiry worker (which needs no
 * Kafka) still expires sessions, their events pile up in the outbox, and the
 * session worker's gauges say so until Kafka is back and the relay drains. */
Test(faults, kafka_down_fills_the_outbox_backlog_until_the_relay_drains_it, .timeout = 300,
     .init = restore_stack_and_services, .fini = restore_stack_and_services)
{
    assert_all_ready(60);
    const char *const events[] = {"topic", "checkout.session.events", NULL};
    double failed_before = ops_metric("CAISSE_TEST_SESSION_WORKER_OPS_URL",
                                      "caisse_kafka_messages_failed_total", events);
    cr_assert_eq(
        test_shell("bash %s/deploy/kafka.sh stop >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")),
        0);
    char reason[128];
    cr_assert_eq(test_wait_readyz(test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL"), 503, 30, reason,
                                  sizeof(reason)),
                 503);
    cr_assert_str_eq(reason, "kafka unreachable");
    cr_assert_eq(test_wait_readyz(test_env("CAISSE_TEST_WEBHOOK_WORKER_OPS_URL"), 503, 30, reason,
                                  sizeof(reason)),
                 503);
    cr_assert_str_eq(reason, "kafka unreachable");
    cr_assert_eq(test_wait_readyz(test_env("CAISSE_TEST_EXPIRY_WORKER_OPS_URL"), 200, 5, NULL, 0),
                 200, "the expiry worker does not use Kafka");

    /* A session already due, straight into the table (its own tenant). */
    char org[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(org), 0);
    free(test_sql_value(
        "INSERT INTO checkout_sessions (id, organization_id, environment, amount,"
        " currency_code, status, title, customer_email, quantity, expires_at, metadata,"
        " created_at, created_by, updated_at)"
        " VALUES (gen_random_uuid(), $1::uuid, 'test', 1000, 'XOF', 'open', 'Outbox backlog',"
        " 'backlog@example.com', 1, date_trunc('second', now()) - interval '1 second', '{}',"
        " date_trunc('second', now()) - interval '1 hour', $1::uuid,"
        " date_trunc('second', now()) - interval '1 hour') RETURNING id",
        org));
    double backlog = 0, age = 0;
    for (time_t end = time(NULL) + 60; time(NULL) < end && !(backlog >= 1 && age >= 2);
         test_sleep_ms(250)) {
        backlog = ops_metric("CAISSE_TEST_SESSION_WORKER_OPS_URL", "caisse_outbox_backlog", NULL);
        age = ops_metric("CAISSE_TEST_SESSION_WORKER_OPS_URL", "caisse_outbox_oldest_age_seconds",
                         NULL);
    }
    cr_assert_geq(backlog, 1.0, "caisse_outbox_backlog is %f with Kafka down", backlog);
    cr_assert_geq(age, 2.0, "caisse_outbox_oldest_age_seconds is %f", age);
    char *unpublished = test_sql_value("SELECT count(*) FROM outbox o JOIN outbox_pending p"
                                       " ON p.seq = o.seq WHERE o.organization_id = $1::uuid",
                                       org);
    cr_assert_str_eq(unpublished, "1");
    free(unpublished);
    /* The relay tried: each try fails after CAISSE_KAFKA_MESSAGE_TIMEOUT_MS (5 s). */
    double failed = 0;
    for (time_t end = time(NULL) + 60; time(NULL) < end && failed < 1; test_sleep_ms(500))
        failed = ops_metric("CAISSE_TEST_SESSION_WORKER_OPS_URL",
                            "caisse_kafka_messages_failed_total", events) -
                 failed_before;
    cr_assert_geq(failed, 1.0, "no failed delivery of an event counted while Kafka was down");

    double consumed_before = ops_metric("CAISSE_TEST_WEBHOOK_WORKER_OPS_URL",
                                        "caisse_kafka_messages_consumed_total", events);
    cr_assert_eq(
        test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")),
        0);
    for (time_t end = time(NULL) + 120; time(NULL) < end && (backlog > 0 || age > 0);
         test_sleep_ms(500)) {
        backlog = ops_metric("CAISSE_TEST_SESSION_WORKER_OPS_URL", "caisse_outbox_backlog", NULL);
        age = ops_metric("CAISSE_TEST_SESSION_WORKER_OPS_URL", "caisse_outbox_oldest_age_seconds",
                         NULL);
    }
    cr_assert_eq(backlog, 0.0, "the backlog did not drain: %f", backlog);
    cr_assert_eq(age, 0.0);
    unpublished = test_sql_value("SELECT count(*) FROM outbox_pending", NULL);
    cr_assert_str_eq(unpublished, "0");
    free(unpublished);
    /* The published events reach the webhook worker's consumer: its group
     * session is alive again. */
    double consumed = 0;
    for (time_t end = time(NULL) + 90; time(NULL) < end && consumed < 1; test_sleep_ms(500))
        consumed = ops_metric("CAISSE_TEST_WEBHOOK_WORKER_OPS_URL",
                              "caisse_kafka_messages_consumed_total", events) -
                   consumed_before;
    cr_assert_geq(consumed, 1.0, "the webhook worker consumed nothing after Kafka came back");
    /* And a create is applied: the session worker's consumer is back in its group too. */
    assert_all_ready(90);
    char *body = test_body(NULL);
    long status = 0;
    for (time_t end = time(NULL) + 90; time(NULL) < end && status != 201; test_sleep_ms(500)) {
        struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
        status = r.status;
        test_api_free(&r);
    }
    free(body);
    cr_assert_eq(status, 201, "no create was applied after Kafka came back");
}

/* Statements on a request's path run under CAISSE_DB_STATEMENT_TIMEOUT_MS: a
 * read that meets a lock (or a slow plan) answers 503 at that bound instead of
 * holding a server thread. A gateway of the test's own, with 300 ms. */
static void stop_statement_timeout_gateway(void)
{
    /* The lock's holder (psql) ends by itself after its 4 s. */
    test_own_gateway_stop("gateway-statement-timeout", 30000);
}

Test(faults, a_statement_past_its_timeout_answers_503_instead_of_holding_a_thread, .timeout = 120,
     .fini = stop_statement_timeout_gateway)
{
    char url[128];
    test_own_gateway_start("gateway-statement-timeout", 48, "CAISSE_DB_STATEMENT_TIMEOUT_MS=300",
                           url, sizeof(url));
    const char *key = test_env("CAISSE_TEST_KEY_B");
    char *body = test_body(NULL);
    struct api_response c = test_create(key, body);
    free(body);
    cr_assert(c.status == 201 || c.status == 202, "%ld %s", c.status, c.text);
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s",
             json_string_value(json_object_get(c.json, "checkout_session_id")));
    test_api_free(&c);
    for (int i = 0; i < 50; i++) {
        struct api_response g = test_api_at(url, "GET", path, key, NULL, NULL);
        long status = g.status;
        test_api_free(&g);
        if (status == 200)
            break;
        test_sleep_ms(200);
    }
    /* Every read of checkout_sessions waits behind this lock for 4 s. */
    cr_assert_eq(test_shell("psql -X -q '%s' -c \"BEGIN; LOCK TABLE checkout_sessions IN ACCESS"
                            " EXCLUSIVE MODE; SELECT pg_sleep(4);"
                            " COMMIT;\" >/dev/null 2>&1 &",
                            test_env("CAISSE_DATABASE_URL")),
                 0);
    char *held = NULL;
    for (int i = 0; i < 100; i++) {
        free(held);
        held = test_sql_value("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid ="
                              " l.relation WHERE c.relname = $1 AND l.mode ="
                              " 'AccessExclusiveLock' AND l.granted",
                              "checkout_sessions");
        if (held != NULL && strcmp(held, "0") != 0)
            break;
        test_sleep_ms(50);
    }
    cr_assert(held != NULL && strcmp(held, "0") != 0, "the lock was not taken");
    free(held);
    int64_t t0 = clock_now_ms();
    struct api_response g = test_api_at(url, "GET", path, key, NULL, NULL);
    long took = (long)(clock_now_ms() - t0);
    test_assert_error(&g, 503, "service_unavailable", NULL, NULL);
    cr_assert_lt(took, 2000, "the read waited %ld ms for a 300 ms statement timeout", took);
    test_api_free(&g);
    /* Once the lock is gone, the same read answers. */
    long status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        test_sleep_ms(100);
        g = test_api_at(url, "GET", path, key, NULL, NULL);
        status = g.status;
        test_api_free(&g);
    }
    cr_assert_eq(status, 200);
}

/* ---- consumers that keep their group through fences and outages ----------------------- */

/* The two Kafka consumers, as deploy/stack.sh runs them. */
struct consumer_target {
    const char *service;
    const char *group; /* the worker's default CAISSE_*_GROUP */
    const char *topic;
    const char *instance_id; /* stack.sh's CAISSE_INSTANCE_ID */
    const char *ops_env;     /* base URL of its /readyz */
};
static const struct consumer_target consumers[] = {
    {"session-worker", "caisse-session-worker", "checkout.session.commands", "session-worker-1",
     "CAISSE_TEST_SESSION_WORKER_OPS_URL"},
    {"webhook-worker", "caisse-webhook-worker", "checkout.session.events", "webhook-worker-1",
     "CAISSE_TEST_WEBHOOK_WORKER_OPS_URL"},
};
#define CONSUMERS (sizeof(consumers) / sizeof(consumers[0]))

static void consumer_pids(pid_t *pids)
{
    for (size_t i = 0; i < CONSUMERS; i++) {
        pids[i] = test_service_pid(consumers[i].service);
        cr_assert(pids[i] > 0, "%s is not running", consumers[i].service);
    }
}

static void assert_consumers_not_restarted(const pid_t *before, const char *after)
{
    for (size_t i = 0; i < CONSUMERS; i++)
        cr_assert_eq(test_service_pid(consumers[i].service), before[i],
                     "%s exited or was restarted after %s", consumers[i].service, after);
}

/* How often the worker renewed a fenced consumer, from its log. */
static long renewals_logged(const char *service)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/logs/%s.log", test_env("CAISSE_STACK_DIR"), service);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    long n = 0;
    char line[4096];
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, "new kafka consumer created in place of the fenced one") != NULL)
            n++;
    fclose(f);
    return n;
}

/* Both consumers take work: a create is applied by the session worker (201,
 * not 202) and its event reaches the webhook worker's consumer. */
static void assert_consumers_consume(const char *after)
{
    const char *const events[] = {"topic", "checkout.session.events", NULL};
    double consumed_before = ops_metric("CAISSE_TEST_WEBHOOK_WORKER_OPS_URL",
                                        "caisse_kafka_messages_consumed_total", events);
    char *body = test_body(NULL);
    long status = 0;
    for (time_t end = time(NULL) + 90; time(NULL) < end && status != 201; test_sleep_ms(500)) {
        struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
        status = r.status;
        test_api_free(&r);
    }
    free(body);
    cr_assert_eq(status, 201, "no create was applied after %s", after);
    double consumed = 0;
    for (time_t end = time(NULL) + 90; time(NULL) < end && consumed < 1; test_sleep_ms(500))
        consumed = ops_metric("CAISSE_TEST_WEBHOOK_WORKER_OPS_URL",
                              "caisse_kafka_messages_consumed_total", events) -
                   consumed_before;
    cr_assert_geq(consumed, 1.0, "the webhook worker consumed nothing after %s", after);
}

/* A consumer of ours fenced off its group.instance.id (what a Kafka outage
 * past the session timeout can do, made certain here by a kcat that joins
 * under the same instance id) closes it and takes over with a new one, in the
 * same process: it stays up and consumes. The kcat stores and commits no
 * offset, so whatever it received is still due to the worker. */
Test(faults, a_consumer_fenced_off_its_static_membership_takes_over_again_without_a_restart,
     .timeout = 300, .init = restore_stack_and_services, .fini = restore_stack_and_services)
{
    assert_all_ready(60);
    pid_t before[CONSUMERS];
    consumer_pids(before);
    const char *stack = test_env("CAISSE_STACK_DIR");
    for (size_t i = 0; i < CONSUMERS; i++) {
        const struct consumer_target *c = &consumers[i];
        long renewed = renewals_logged(c->service);
        char pidfile[1024];
        snprintf(pidfile, sizeof(pidfile), "%s/run/kcat-fencer.pid", stack);
        /* As the worker's own Kafka user: the one allowed into its group. */
        cr_assert_eq(test_shell("setsid kcat -F %s/caisse-%s.kcat.conf -q -b %s -G %s"
                                " -X group.instance.id=%s"
                                " -X enable.auto.commit=false -X enable.auto.offset.store=false"
                                " %s >/dev/null 2>&1 </dev/null & echo $! >%s",
                                test_env("CAISSE_KAFKA_SECURITY_DIR"), c->service,
                                test_env("CAISSE_KAFKA_BROKERS"), c->group, c->instance_id,
                                c->topic, pidfile),
                     0);
        /* The kcat's join takes the instance id: the worker's next heartbeat
         * is refused, and it renews its consumer, which fences the kcat. */
        for (time_t end = time(NULL) + 60;
             time(NULL) < end && renewals_logged(c->service) == renewed; test_sleep_ms(250))
            ;
        long renewals = renewals_logged(c->service) - renewed;
        test_shell("kill $(cat %s) 2>/dev/null; rm -f %s", pidfile, pidfile);
        cr_assert_geq(renewals, 1, "%s did not renew its fenced consumer within 60 s", c->service);
        cr_assert_eq(test_service_pid(c->service), before[i], "%s exited after the fence",
                     c->service);
        cr_assert_eq(test_wait_readyz(test_env(c->ops_env), 200, 90, NULL, 0), 200,
                     "%s is not ready again after its renewal", c->service);
    }
    assert_consumers_consume("the fences");
    assert_consumers_not_restarted(before, "the fences");
}

/* A Kafka outage longer than the consumers' session timeout
 * (CAISSE_KAFKA_SESSION_TIMEOUT_MS, tests/integration/run.sh): their
 * sessions time out on both sides, and librdkafka's rejoin gets the old
 * member fenced. The workers ride it out in the same process and consume
 * again once the broker is back. */
Test(faults, kafka_outage_past_the_session_timeout_leaves_the_workers_running_and_consuming,
     .timeout = 420, .init = restore_stack_and_services, .fini = restore_stack_and_services)
{
    assert_all_ready(60);
    pid_t before[CONSUMERS];
    consumer_pids(before);
    /* Records consumed just before the outage: offsets stored but maybe not
     * yet committed, what the consumers' auto commit retries once Kafka is
     * back (under the member id they gave up). */
    assert_consumers_consume("the start");
    const char *repo = test_env("CAISSE_TEST_REPO");
    cr_assert_eq(test_shell("bash %s/deploy/kafka.sh stop >/dev/null 2>&1", repo), 0);
    test_sleep_ms(strtol(test_env("CAISSE_KAFKA_SESSION_TIMEOUT_MS"), NULL, 10) + 10000);
    cr_assert_eq(test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", repo), 0);
    assert_all_ready(120);
    assert_consumers_consume("a long Kafka outage");
    assert_consumers_not_restarted(before, "a long Kafka outage");
    for (size_t i = 0; i < CONSUMERS; i++)
        fprintf(stderr, "long kafka outage: %s renewed its consumer %ld times so far\n",
                consumers[i].service, renewals_logged(consumers[i].service));
}

/* ---- dead letters: a transient failure parks nothing ------------------------------------ */

static double parked_total(void)
{
    return test_dead_letters_metric("failed") + test_dead_letters_metric("malformed") +
           test_dead_letters_metric("bad_mac");
}

/* Signed commands that arrive while PostgreSQL is down: the session worker waits and
 * retries them (a connection refused is transient), parks none of them however many
 * times it fails (more than CAISSE_DEAD_LETTER_AFTER here), and applies every one once
 * PostgreSQL is back. */
Test(faults, postgres_down_parks_no_command_and_applies_them_after, .timeout = 180,
     .fini = restore_stack)
{
    cr_assert_eq(wait_for_ready(30), 200);
    json_t *tmpl = test_command_template();
    pid_t worker = test_service_pid("session-worker");
    double before = parked_total();
    enum { N = 3 };
    char marker[UUID_STR_LEN], ids[N][UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    cr_assert_eq(
        test_shell("bash %s/deploy/pg.sh stop >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")), 0);
    for (int i = 0; i < N; i++) {
        char *cmd = test_command_forge_create(tmpl, marker, ids[i]);
        char mac[128];
        test_command_sign(test_env("CAISSE_COMMAND_MAC_KEY"), ids[i], cmd, mac, sizeof(mac));
        test_command_produce(ids[i], cmd, mac, false);
        free(cmd);
    }
    /* Long enough for the worker's retries (100 ms doubling to 5 s) to fail more than
     * CAISSE_DEAD_LETTER_AFTER (5) times: a worker that counted them would park. */
    test_sleep_ms(10000);
    cr_assert_eq(
        test_shell("bash %s/deploy/pg.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")), 0);
    for (int i = 0; i < N; i++)
        cr_assert(test_session_wait(ids[i], 60000), "session %s never applied", ids[i]);
    char *n = test_sql_value("SELECT count(*) FROM dead_letters WHERE "
                             "position(convert_to($1, 'UTF8') IN value) > 0",
                             marker);
    cr_assert_str_eq(n, "0", "commands parked while PostgreSQL was down: %s", n);
    free(n);
    if (test_service_pid("session-worker") == worker)
        cr_assert_eq(parked_total(), before);
    json_decref(tmpl);
}
