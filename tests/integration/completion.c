/* The completion's checks (issue 16): one payment completes one session
 * (payment_reference unique per tenant), the completion states what the
 * payment took (amount and currency_code, equal to the session's), and the
 * internal token (its shortest length, the previous one accepted during a
 * rotation). A refused completion changes nothing: the session stays open,
 * with no completed event. */
#include <criterion/criterion.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/uuid.h"
#include "support.h"

/* A gateway of this suite's own (tests/stack_ports.sh): the rotation's. */
#define ROTATION_GATEWAY "gateway-token-rotation"
#define ROTATION_OFFSET 26
#define NEW_TOKEN "n3w-internal-token-0123456789abcdef0123456789"
#define OLD_TOKEN "old-internal-token-0123456789abcdef0123456789"

static char *create_session(const char *extra)
{
    char *body = test_body(extra);
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    char *id = strdup(json_string_value(json_object_get(r.json, "checkout_session_id")));
    test_api_free(&r);
    return id;
}

static struct api_response complete_at(const char *internal_url, const char *id, const char *body,
                                       const char *token)
{
    char path[128], auth[256];
    snprintf(path, sizeof(path), "/internal/checkout-sessions/%s/complete", id);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    return test_api_at(internal_url, "POST", path, NULL, body, h);
}

static struct api_response complete(const char *id, const char *body)
{
    return complete_at(test_env("CAISSE_TEST_INTERNAL_URL"), id, body,
                       test_env("CAISSE_TEST_INTERNAL_TOKEN"));
}

/* A unique reference, so that reruns on one stack never meet an earlier one. */
static void fresh_reference(char *out, size_t len)
{
    char u[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(u), 0);
    snprintf(out, len, "pay_%s", u);
}

/* The session is still open, unpaid, and has no completed event in the outbox
 * (the relay's source: nothing can reach Kafka that is not there). */
static void assert_unchanged(const char *id)
{
    json_t *rows = test_sql_rows("SELECT status, payment_reference, completed_at::text"
                                 " FROM checkout_sessions WHERE id::text = $1",
                                 id);
    json_t *row = json_array_get(rows, 0);
    cr_assert_not_null(row, "session %s is gone", id);
    cr_assert_str_eq(json_string_value(json_array_get(row, 0)), "open", "session %s", id);
    cr_assert(json_is_null(json_array_get(row, 1)), "session %s has a payment_reference", id);
    cr_assert(json_is_null(json_array_get(row, 2)), "session %s has a completed_at", id);
    json_decref(rows);
    char *completed = test_sql_value("SELECT count(*) FROM outbox WHERE session_id::text = $1"
                                     " AND type = 'checkout.session.completed'",
                                     id);
    cr_assert_str_eq(completed, "0", "session %s has a completed event", id);
    free(completed);
}

Test(completion, a_reference_that_completed_a_session_is_refused_on_another, .timeout = 60)
{
    char reference[64], body[256];
    fresh_reference(reference, sizeof(reference));
    snprintf(body, sizeof(body), "{\"payment_reference\": \"%s\"}", reference);
    char *first = create_session(NULL);
    char *second = create_session(NULL);
    char *first_body = test_completion_body(first, body);
    struct api_response r = complete(first, first_body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);

    char *second_body = test_completion_body(second, body);
    r = complete(second, second_body);
    char message[256];
    snprintf(message, sizeof(message),
             "payment_reference has already completed checkout session %s: one payment completes"
             " one session",
             first);
    test_assert_error(&r, 409, "resource_conflict", "payment_reference", message);
    test_api_free(&r);
    assert_unchanged(second);

    /* The same completion of the first session again: the same 200, no second event. */
    r = complete(first, first_body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "complete");
    test_api_free(&r);
    char *events = test_sql_value("SELECT count(*) FROM outbox WHERE session_id::text = $1"
                                  " AND type = 'checkout.session.completed'",
                                  first);
    cr_assert_str_eq(events, "1");
    free(events);

    /* Another reference completes the second session. */
    char other[64], other_json[256];
    fresh_reference(other, sizeof(other));
    snprintf(other_json, sizeof(other_json), "{\"payment_reference\": \"%s\"}", other);
    char *other_body = test_completion_body(second, other_json);
    r = complete(second, other_body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    free(other_body);
    free(first_body);
    free(second_body);
    free(first);
    free(second);
}

Test(completion, a_reference_is_unique_per_tenant_not_across_tenants, .timeout = 60)
{
    char reference[64], body[256];
    fresh_reference(reference, sizeof(reference));
    snprintf(body, sizeof(body), "{\"payment_reference\": \"%s\"}", reference);
    char *a = create_session(NULL);
    char *b_body = test_body(NULL);
    struct api_response c = test_create(test_env("CAISSE_TEST_KEY_B"), b_body);
    free(b_body);
    cr_assert_eq(c.status, 201, "%s", c.text);
    char *b = strdup(json_string_value(json_object_get(c.json, "checkout_session_id")));
    test_api_free(&c);
    char *a_body = test_completion_body(a, body);
    char *bb = test_completion_body(b, body);
    struct api_response r = complete(a, a_body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    r = complete(b, bb);
    cr_assert_eq(r.status, 200, "another tenant's session may use the reference: %s", r.text);
    test_api_free(&r);
    free(a_body);
    free(bb);
    free(a);
    free(b);
}

/* Two completions with one reference at once, on two sessions: the gateway's
 * check sees neither, so the worker decides (its check, and the unique index
 * under it): one completes, the other is refused and stays open. */
Test(completion, two_sessions_racing_with_one_reference_complete_one, .timeout = 90)
{
    enum { ROUNDS = 3 };
    for (int round = 0; round < ROUNDS; round++) {
        char reference[64], body[256];
        fresh_reference(reference, sizeof(reference));
        snprintf(body, sizeof(body), "{\"payment_reference\": \"%s\"}", reference);
        char *ids[2] = {create_session(NULL), create_session(NULL)};
        char dir[] = "/tmp/caisse-reference-race-XXXXXX";
        cr_assert(mkdtemp(dir) != NULL);
        char cmd[4096];
        int n = snprintf(cmd, sizeof(cmd), "cd %s || exit 1;", dir);
        for (int i = 0; i < 2; i++) {
            char *full = test_completion_body(ids[i], body);
            n += snprintf(cmd + n, sizeof(cmd) - (size_t)n,
                          " curl -s -o %d.body -w '%%{http_code}' -X POST"
                          " %s/internal/checkout-sessions/%s/complete"
                          " -H 'Authorization: Bearer %s' -H 'Content-Type: application/json'"
                          " -d '%s' > %d.code &",
                          i, test_env("CAISSE_TEST_INTERNAL_URL"), ids[i],
                          test_env("CAISSE_TEST_INTERNAL_TOKEN"), full, i);
            free(full);
        }
        snprintf(cmd + n, sizeof(cmd) - (size_t)n, " wait");
        cr_assert_eq(test_shell("%s", cmd), 0);
        int ok = 0, refused = 0;
        for (int i = 0; i < 2; i++) {
            char path[256], code[8] = "";
            snprintf(path, sizeof(path), "%s/%d.code", dir, i);
            FILE *f = fopen(path, "r");
            cr_assert_not_null(f);
            cr_assert_not_null(fgets(code, sizeof(code), f));
            fclose(f);
            unlink(path);
            snprintf(path, sizeof(path), "%s/%d.body", dir, i);
            json_t *answer = json_load_file(path, 0, NULL);
            unlink(path);
            cr_assert_not_null(answer, "answer %d is not JSON", i);
            if (strcmp(code, "200") == 0) {
                ok++;
                cr_assert_str_eq(json_string_value(json_object_get(answer, "status")), "complete");
            } else {
                cr_assert_str_eq(code, "409", "completion %d answered %s", i, code);
                cr_assert_str_eq(json_string_value(json_object_get(answer, "code")),
                                 "resource_conflict");
                cr_assert_str_eq(json_string_value(json_object_get(answer, "param")),
                                 "payment_reference");
                assert_unchanged(ids[i]);
                refused++;
            }
            json_decref(answer);
        }
        rmdir(dir);
        cr_assert_eq(ok, 1, "round %d: %d completions of one reference succeeded", round, ok);
        cr_assert_eq(refused, 1);
        char *count = test_sql_value("SELECT count(*) FROM checkout_sessions"
                                     " WHERE payment_reference = $1",
                                     reference);
        cr_assert_str_eq(count, "1");
        free(count);
        free(ids[0]);
        free(ids[1]);
    }
}

Test(completion, an_amount_or_currency_other_than_the_sessions_is_refused, .timeout = 60)
{
    char *id = create_session("{\"amount\": 25000, \"currency_code\": \"XOF\"}");
    char reference[64], body[256], message[256];
    fresh_reference(reference, sizeof(reference));
    snprintf(body, sizeof(body),
             "{\"payment_reference\": \"%s\", \"amount\": 24999, \"currency_code\": \"XOF\"}",
             reference);
    struct api_response r = complete(id, body);
    snprintf(message, sizeof(message),
             "amount 24999 does not match checkout session %s's amount_total 25000: it was not"
             " completed",
             id);
    test_assert_error(&r, 409, "invalid_state", "amount", message);
    test_api_free(&r);
    assert_unchanged(id);

    snprintf(body, sizeof(body),
             "{\"payment_reference\": \"%s\", \"amount\": 25000, \"currency_code\": \"EUR\"}",
             reference);
    r = complete(id, body);
    snprintf(message, sizeof(message),
             "currency_code EUR does not match checkout session %s's currency_code XOF: it was not"
             " completed",
             id);
    test_assert_error(&r, 409, "invalid_state", "currency_code", message);
    test_api_free(&r);
    assert_unchanged(id);

    /* The right ones complete it, with the reference the refusals did not take. */
    snprintf(body, sizeof(body),
             "{\"payment_reference\": \"%s\", \"amount\": 25000, \"currency_code\": \"XOF\"}",
             reference);
    r = complete(id, body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "amount_total")), 25000);
    test_api_free(&r);
    free(id);
}

Test(completion, the_amount_of_a_session_with_a_coupon_is_its_total_after_the_discount,
     .timeout = 60)
{
    char code[40], coupon[200];
    char u[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(u), 0);
    snprintf(code, sizeof(code), "TENOFF%.8s", u + 28);
    snprintf(coupon, sizeof(coupon), "{\"code\": \"%s\", \"percent_off\": 10}", code);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct api_response c = test_api("POST", "/coupons", test_env("CAISSE_TEST_KEY_A"), coupon, h);
    cr_assert_eq(c.status, 201, "%s", c.text);
    test_api_free(&c);
    char extra[200];
    snprintf(extra, sizeof(extra), "{\"amount\": 10000, \"coupon_code\": \"%s\"}", code);
    char *id = create_session(extra);
    char reference[64], body[256];
    fresh_reference(reference, sizeof(reference));
    /* The subtotal is not what the payment takes. */
    snprintf(body, sizeof(body),
             "{\"payment_reference\": \"%s\", \"amount\": 10000, \"currency_code\": \"XOF\"}",
             reference);
    struct api_response r = complete(id, body);
    test_assert_error(&r, 409, "invalid_state", "amount", NULL);
    test_api_free(&r);
    assert_unchanged(id);
    snprintf(body, sizeof(body),
             "{\"payment_reference\": \"%s\", \"amount\": 9000, \"currency_code\": \"XOF\"}",
             reference);
    r = complete(id, body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    free(id);
}

Test(completion, amount_and_currency_code_are_required)
{
    char *id = create_session(NULL);
    struct api_response r =
        complete(id, "{\"payment_reference\": \"p\", \"currency_code\": \"XOF\"}");
    test_assert_error(&r, 400, "validation_error", "amount",
                      "amount is required: the amount the payment took, in the currency's minor"
                      " unit (the session's amount_total)");
    test_api_free(&r);
    r = complete(id, "{\"payment_reference\": \"p\", \"amount\": 10000}");
    test_assert_error(&r, 400, "validation_error", "currency_code",
                      "currency_code is required: the currency the payment took (the session's"
                      " currency_code)");
    test_api_free(&r);
    r = complete(
        id, "{\"payment_reference\": \"p\", \"amount\": \"10000\", \"currency_code\": \"XOF\"}");
    test_assert_error(&r, 400, "validation_error", "amount",
                      "amount must be a non-negative integer");
    test_api_free(&r);
    r = complete(id,
                 "{\"payment_reference\": \"p\", \"amount\": 10000, \"currency_code\": \"XOFX\"}");
    test_assert_error(&r, 400, "validation_error", "currency_code",
                      "currency_code must be a three-letter ISO 4217 code in upper case");
    test_api_free(&r);
    r = complete(id,
                 "{\"payment_reference\": \"p\", \"amount\": 10000, \"currency_code\": \"xof\"}");
    test_assert_error(&r, 400, "validation_error", "currency_code",
                      "currency_code must be a three-letter ISO 4217 code in upper case");
    test_api_free(&r);
    assert_unchanged(id);
    free(id);
}

/* ---- the token ---------------------------------------------------------------------- */

static void stop_rotation_gateway(void)
{
    test_own_gateway_stop(ROTATION_GATEWAY, 30000);
}

Test(completion, during_a_rotation_the_old_and_the_new_token_are_accepted, .timeout = 120,
     .fini = stop_rotation_gateway)
{
    char url[128], internal[128];
    test_own_gateway_start(ROTATION_GATEWAY, ROTATION_OFFSET,
                           "CAISSE_INTERNAL_TOKEN=" NEW_TOKEN
                           " CAISSE_INTERNAL_TOKEN_PREVIOUS=" OLD_TOKEN,
                           url, sizeof(url));
    long port = strtol(test_env("CAISSE_GATEWAY_PORT"), NULL, 10) + ROTATION_OFFSET + 1;
    snprintf(internal, sizeof(internal), "http://127.0.0.1:%ld", port);
    const char *tokens[] = {OLD_TOKEN, NEW_TOKEN};
    for (int i = 0; i < 2; i++) {
        char *id = create_session(NULL);
        char reference[64], json[256];
        fresh_reference(reference, sizeof(reference));
        snprintf(json, sizeof(json), "{\"payment_reference\": \"%s\"}", reference);
        char *body = test_completion_body(id, json);
        struct api_response r = complete_at(internal, id, body, "wrong-" NEW_TOKEN);
        cr_assert_eq(r.status, 401, "a wrong token: %ld %s", r.status, r.text);
        test_api_free(&r);
        /* The stack's own token is neither of the two. */
        r = complete_at(internal, id, body, test_env("CAISSE_TEST_INTERNAL_TOKEN"));
        cr_assert_eq(r.status, 401, "%s", r.text);
        test_api_free(&r);
        assert_unchanged(id);
        r = complete_at(internal, id, body, tokens[i]);
        cr_assert_eq(r.status, 200, "the %s token: %ld %s", i == 0 ? "old" : "new", r.status,
                     r.text);
        test_api_free(&r);
        free(body);
        free(id);
    }
}

/* The gateway's exit status and output, started with env (no listener opens:
 * it must refuse before). */
static int gateway_refusal(const char *env, char *out, size_t outlen)
{
    char log[] = "/tmp/caisse-short-token-XXXXXX";
    int fd = mkstemp(log);
    cr_assert_geq(fd, 0);
    close(fd);
    long port = strtol(test_env("CAISSE_GATEWAY_PORT"), NULL, 10) + ROTATION_OFFSET;
    int rc = test_shell("%s CAISSE_GATEWAY_PORT=%ld CAISSE_GATEWAY_INTERNAL_PORT=%ld timeout 30"
                        " %s/build/bin/caisse-gateway >%s 2>&1 </dev/null",
                        env, port, port + 1, test_env("CAISSE_TEST_REPO"), log);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(log);
    return rc;
}

Test(completion, a_token_shorter_than_32_characters_refuses_to_start, .timeout = 60)
{
    char out[4096];
    int rc =
        gateway_refusal("CAISSE_INTERNAL_TOKEN=0123456789abcdef0123456789abcde", out, sizeof(out));
    cr_assert_eq(rc, 2, "exit status %d (2: a configuration error): %s", rc, out);
    cr_assert_not_null(strstr(out, "CAISSE_INTERNAL_TOKEN is 31 characters long: it must have at"
                                   " least 32"),
                       "%s", out);
    rc = gateway_refusal("CAISSE_INTERNAL_TOKEN=" NEW_TOKEN " CAISSE_INTERNAL_TOKEN_PREVIOUS=short",
                         out, sizeof(out));
    cr_assert_eq(rc, 2, "exit status %d: %s", rc, out);
    cr_assert_not_null(strstr(out, "CAISSE_INTERNAL_TOKEN_PREVIOUS is 5 characters long"), "%s",
                       out);
}

/* The stack's gateway sets no CAISSE_GATEWAY_INTERNAL_HOST: its internal API
 * listens on loopback only, so another address of this host is refused. */
Test(completion, the_internal_listener_is_on_loopback_by_default)
{
    char *address = NULL;
    FILE *p = popen("hostname -I 2>/dev/null | tr ' ' '\\n' | grep -E '^[0-9.]+$' |"
                    " grep -v '^127\\.' | head -n 1",
                    "r");
    cr_assert_not_null(p);
    char line[64] = "";
    if (fgets(line, sizeof(line), p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        address = line[0] != '\0' ? line : NULL;
    }
    pclose(p);
    if (address == NULL)
        cr_skip_test("this host has no address but loopback");
    const char *port = strrchr(test_env("CAISSE_TEST_INTERNAL_URL"), ':') + 1;
    /* Loopback answers; the other address does not. */
    cr_assert_eq(test_shell("curl -s -o /dev/null --max-time 5 http://127.0.0.1:%s/healthz", port),
                 0);
    int rc = test_shell("curl -s -o /dev/null --max-time 5 http://%s:%s/healthz", address, port);
    cr_assert_eq(rc, 7, "the internal API answered on %s (curl exit %d, 7: refused)", address, rc);
}

/* ---- migration 0012 on a database that already holds duplicates -------------------- */

#define MIGRATION_DB "caisse_migration_0012"

/* The stack's database URL with another database name. */
static void database_url(const char *name, char *out, size_t len)
{
    const char *url = test_env("CAISSE_DATABASE_URL");
    const char *slash = strrchr(url, '/');
    cr_assert_not_null(slash, "%s", url);
    snprintf(out, len, "%.*s/%s", (int)(slash - url), url, name);
}

static void exec_on(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    cr_assert(PQstatus(c) == CONNECTION_OK, "cannot connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* The rows of a query on url, one text per row (its first column). */
static json_t *column_on(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    cr_assert(PQstatus(c) == CONNECTION_OK, "cannot connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    json_t *out = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(out, json_string(PQgetvalue(r, i, 0)));
    PQclear(r);
    PQfinish(c);
    return out;
}

static void drop_migration_db(void)
{
    char url[512];
    database_url("postgres", url, sizeof(url));
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) == CONNECTION_OK)
        PQclear(PQexec(c, "DROP DATABASE IF EXISTS " MIGRATION_DB " WITH (FORCE)"));
    PQfinish(c);
}

Test(completion, migration_0012_keeps_earlier_duplicate_references_out_of_the_index, .timeout = 120,
     .init = drop_migration_db, .fini = drop_migration_db)
{
    char admin_url[512], url[512];
    database_url("postgres", admin_url, sizeof(admin_url));
    database_url(MIGRATION_DB, url, sizeof(url));
    exec_on(admin_url, "CREATE DATABASE " MIGRATION_DB);
    const char *admin = test_env("CAISSE_TEST_ADMIN");
    cr_assert_eq(test_shell("CAISSE_DATABASE_URL='%s' %s migrate >/dev/null 2>&1", url, admin), 0);
    /* Back to the schema before 0012, as a database of the previous release is. */
    exec_on(url, "DROP INDEX checkout_sessions_payment_reference;"
                 " ALTER TABLE checkout_sessions DROP COLUMN payment_reference_duplicate;"
                 " DELETE FROM schema_migrations WHERE version = 12");
    /* What the completion let through before: one reference on three sessions of a
     * tenant (completed in this order), and on one of another tenant. */
    exec_on(
        url,
        "INSERT INTO checkout_sessions (id, organization_id, environment, amount, currency_code,"
        " status, title, customer_email, quantity, expires_at, metadata, created_at,"
        " created_by, updated_at, payment_reference, completed_at)"
        " SELECT v.id::uuid, v.org::uuid, 'test', 1000, 'XOF', 'complete', 'Before 0012',"
        " 'dup@example.com', 1, now() + interval '1 hour', '{}', now() - interval '1 hour',"
        " v.org::uuid, now(), v.ref, now() - v.ago * interval '1 minute'"
        " FROM (VALUES"
        "  ('00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000a1',"
        "   'pay_dup', 30),"
        "  ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-0000000000a1',"
        "   'pay_dup', 20),"
        "  ('00000000-0000-7000-8000-000000000003', '00000000-0000-7000-8000-0000000000a1',"
        "   'pay_dup', 10),"
        "  ('00000000-0000-7000-8000-000000000004', '00000000-0000-7000-8000-0000000000b2',"
        "   'pay_dup', 5),"
        "  ('00000000-0000-7000-8000-000000000005', '00000000-0000-7000-8000-0000000000a1',"
        "   'pay_once', 5)) AS v(id, org, ref, ago)");
    cr_assert_eq(test_shell("CAISSE_DATABASE_URL='%s' %s migrate >/dev/null 2>&1", url, admin), 0,
                 "migration 0012 failed on a database with duplicate references");
    json_t *flagged = column_on(url, "SELECT id::text FROM checkout_sessions"
                                     " WHERE payment_reference_duplicate ORDER BY id");
    cr_assert_eq(json_array_size(flagged), 2, "%zu flagged", json_array_size(flagged));
    cr_assert_str_eq(json_string_value(json_array_get(flagged, 0)),
                     "00000000-0000-7000-8000-000000000002");
    cr_assert_str_eq(json_string_value(json_array_get(flagged, 1)),
                     "00000000-0000-7000-8000-000000000003");
    json_decref(flagged);
    /* Nothing a merchant saw changed: every reference is still there. */
    json_t *refs = column_on(url, "SELECT count(*)::text FROM checkout_sessions"
                                  " WHERE payment_reference = 'pay_dup'");
    cr_assert_str_eq(json_string_value(json_array_get(refs, 0)), "4");
    json_decref(refs);
    /* And from now on the index holds: a fourth session of the tenant cannot take it. */
    PGconn *c = PQconnectdb(url);
    cr_assert(PQstatus(c) == CONNECTION_OK);
    PGresult *r = PQexec(c, "UPDATE checkout_sessions SET payment_reference = 'pay_dup'"
                            " WHERE id = '00000000-0000-7000-8000-000000000005'");
    cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    cr_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23505");
    PQclear(r);
    PQfinish(c);
}
