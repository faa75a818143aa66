/* Retention (the expiry worker's housekeeping; run.sh makes it look every
 * second): events and finished webhook deliveries past
 * CAISSE_EVENT_RETENTION_DAYS are deleted with their attempts; younger rows,
 * and deliveries still pending, stay. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "core/uuid.h"

static long count_of(const char *sql, const char *param)
{
    char *v = test_sql_value(sql, param);
    cr_assert(v != NULL, "%s: no row", sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* Old rows in a tenant of their own (org): 3 events of 40 days ago with the
 * lowest seqs, as the first events of a database would have, one event of
 * today; for an endpoint, a succeeded and a failed delivery of 40 days ago
 * with an attempt each, a pending one of 40 days ago, and a succeeded one of
 * today. The queue rows the trigger adds are removed in the same
 * transaction: these events are not to be published. */
static void insert_history(const char *org)
{
    PGconn *c = PQconnectdb(test_env("CAISSE_DATABASE_URL"));
    cr_assert(PQstatus(c) == CONNECTION_OK, "cannot connect: %s", PQerrorMessage(c));
    static const char *const steps[] = {
        "BEGIN",
        "INSERT INTO outbox (seq, id, session_id, organization_id, environment, type, payload,"
        " created_at)"
        " SELECT coalesce((SELECT min(seq) FROM outbox), 1) - g, gen_random_uuid(), "
        "gen_random_uuid(), $1,"
        " 'test', 'checkout.session.created', '{}', now() - interval '40 days'"
        " FROM generate_series(1, 3) g",
        "INSERT INTO outbox (id, session_id, organization_id, environment, type, payload)"
        " VALUES (gen_random_uuid(), gen_random_uuid(), $1, 'test', 'checkout.session.created',"
        " '{}')",
        "DELETE FROM outbox_pending p USING outbox o WHERE o.seq = p.seq"
        " AND o.organization_id = $1",
        "INSERT INTO webhook_endpoints (id, organization_id, environment, url, enabled_events,"
        " secret, disabled) VALUES ($1, $1, 'test', 'https://example.com/hook', '{*}',"
        " 'whsec_AAAA', true)",
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, organization_id, environment,"
        " event_type, status, created_at)"
        " SELECT gen_random_uuid(), gen_random_uuid(), $1, $1, 'test',"
        " 'checkout.session.created', st, at"
        " FROM (VALUES ('succeeded', now() - interval '40 days'),"
        "              ('failed', now() - interval '40 days'),"
        "              ('pending', now() - interval '40 days'),"
        "              ('succeeded', now())) AS v(st, at)",
        "INSERT INTO webhook_attempts (delivery_id, duration_ms, status_code)"
        " SELECT id, 10, 200 FROM webhook_deliveries WHERE organization_id = $1",
        "COMMIT",
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int n = strchr(steps[i], '$') != NULL ? 1 : 0;
        const char *params[1] = {org};
        PGresult *r = PQexecParams(c, steps[i], n, NULL, params, NULL, NULL, 0);
        cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", steps[i],
                  PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
}

TestSuite(retention);

Test(retention, events_and_finished_deliveries_past_the_retention_are_deleted, .timeout = 120)
{
    char org[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(org), 0);
    insert_history(org);
    static const char old_events[] = "SELECT count(*) FROM outbox WHERE organization_id = $1"
                                     " AND created_at < now() - interval '30 days'";
    static const char old_finished[] = "SELECT count(*) FROM webhook_deliveries"
                                       " WHERE organization_id = $1 AND status <> 'pending'"
                                       " AND created_at < now() - interval '30 days'";
    cr_assert_eq(count_of(old_events, org), 3);
    long events = 3, finished = 2;
    for (int i = 0; i < 60 && (events > 0 || finished > 0); i++) {
        test_sleep_ms(1000);
        events = count_of(old_events, org);
        finished = count_of(old_finished, org);
    }
    cr_assert_eq(events, 0, "%ld events past the retention are still there", events);
    cr_assert_eq(finished, 0, "%ld finished deliveries past the retention are still there",
                 finished);
    cr_assert_eq(count_of("SELECT count(*) FROM outbox WHERE organization_id = $1", org), 1,
                 "the event of today was deleted");
    cr_assert_eq(count_of("SELECT count(*) FROM webhook_deliveries WHERE organization_id = $1"
                          " AND status = 'pending'",
                          org),
                 1, "a pending delivery was deleted: it may still be sent");
    cr_assert_eq(count_of("SELECT count(*) FROM webhook_deliveries WHERE organization_id = $1"
                          " AND created_at > now() - interval '1 day'",
                          org),
                 1, "the delivery of today was deleted");
    cr_assert_eq(count_of("SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d"
                          " ON d.id = a.delivery_id WHERE d.organization_id = $1",
                          org),
                 2, "the attempts of the kept deliveries must stay");
    cr_assert_eq(count_of("SELECT count(*) FROM webhook_attempts a WHERE NOT EXISTS"
                          " (SELECT 1 FROM webhook_deliveries d WHERE d.id = a.delivery_id)",
                          NULL),
                 0);
}

Test(retention, command_outcomes_past_the_retention_are_deleted, .timeout = 120)
{
    /* Two outcomes of one object (its id marks them): one of 40 days ago, one of today. */
    char object[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(object), 0);
    char *v = test_sql_value(
        "WITH ins AS (INSERT INTO command_outcomes (command_id, object_id, outcome, created_at)"
        " VALUES (gen_random_uuid(), $1, 'applied', now() - interval '40 days'),"
        "        (gen_random_uuid(), $1, 'applied', now()) RETURNING 1)"
        " SELECT count(*) FROM ins",
        object);
    cr_assert_str_eq(v, "2");
    free(v);
    static const char old[] = "SELECT count(*) FROM command_outcomes WHERE object_id = $1"
                              " AND created_at < now() - interval '30 days'";
    long n = 1;
    for (int i = 0; i < 60 && n > 0; i++) {
        test_sleep_ms(1000);
        n = count_of(old, object);
    }
    cr_assert_eq(n, 0, "the outcome past the retention is still there");
    cr_assert_eq(count_of("SELECT count(*) FROM command_outcomes WHERE object_id = $1", object), 1,
                 "the outcome of today was deleted");
}

Test(retention, dead_letters_replayed_past_the_retention_are_deleted_unreplayed_ones_kept,
     .timeout = 120)
{
    /* Three of one made-up consumer (its name marks them), all parked 40 days ago: one
     * replayed 40 days ago, one replayed today, one never replayed. */
    char consumer[UUID_STR_LEN + 16];
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    snprintf(consumer, sizeof(consumer), "retention-%s", marker);
    char *v = test_sql_value(
        "WITH ins AS (INSERT INTO dead_letters (consumer, topic, \"partition\", \"offset\","
        "   reason, error, failure_count, first_failed_at, last_failed_at, replayed_at)"
        " VALUES ($1, 'checkout.session.commands', 0, 1, 'malformed', 'test', 1,"
        "         now() - interval '40 days', now() - interval '40 days',"
        "         now() - interval '40 days'),"
        "        ($1, 'checkout.session.commands', 0, 2, 'malformed', 'test', 1,"
        "         now() - interval '40 days', now() - interval '40 days', now()),"
        "        ($1, 'checkout.session.commands', 0, 3, 'malformed', 'test', 1,"
        "         now() - interval '40 days', now() - interval '40 days', NULL)"
        " RETURNING 1) SELECT count(*) FROM ins",
        consumer);
    cr_assert_str_eq(v, "3");
    free(v);
    static const char old[] = "SELECT count(*) FROM dead_letters WHERE consumer = $1"
                              " AND replayed_at < now() - interval '30 days'";
    long n = 1;
    for (int i = 0; i < 60 && n > 0; i++) {
        test_sleep_ms(1000);
        n = count_of(old, consumer);
    }
    cr_assert_eq(n, 0, "the dead letter replayed past the retention is still there");
    cr_assert_eq(count_of("SELECT count(*) FROM dead_letters WHERE consumer = $1"
                          " AND \"offset\" IN (2, 3)",
                          consumer),
                 2, "the one replayed today or the unreplayed one was deleted");
}
