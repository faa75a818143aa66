/* Secrets at rest and the services' database roles, against the real stack:
 *  - an endpoint made through the API keeps no signing secret in PostgreSQL:
 *    neither its row read with SQL nor a pg_dump of the table shows it, in
 *    any form (text, its base64, hex), and deliveries still verify with npm
 *    standardwebhooks;
 *  - a rotated secret is sealed the same way;
 *  - a sealed secret copied to another endpoint's row does not sign there;
 *  - the gateway and the webhook worker refuse to start without a well-formed
 *    CAISSE_SECRETS_KEY, and say so without showing the key;
 *  - each service's database user has its role's privileges and no more.
 * The rotation of the key with caisse-admin is in secrets_rotation.c (it
 * restarts the webhook worker: suite "faults", alone). */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "webhook_support.h"

static struct wh_tenant tenant;

static void setup(void)
{
    wh_tenant_new(&tenant, "Secrets at rest");
}

TestSuite(secrets, .init = setup);

/* "77687365635f..." for "whsec_...": how bytea shows text in a dump. */
static void hex_of(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *s != '\0' && n + 3 <= outlen; s++, n += 2)
        snprintf(out + n, outlen - n, "%02x", (unsigned char)*s);
}

/* Asserts that text shows nothing of secret: the secret, its base64 part
 * (after "whsec_"), or either in hex. */
static void assert_no_secret_in(const char *what, const char *text, const char *secret)
{
    const char *b64 = secret + strlen("whsec_");
    char hex[512], b64hex[512];
    hex_of(secret, hex, sizeof(hex));
    hex_of(b64, b64hex, sizeof(b64hex));
    cr_assert_null(strstr(text, secret), "%s shows the secret", what);
    cr_assert_null(strstr(text, b64), "%s shows the secret's base64", what);
    cr_assert_null(strstr(text, hex), "%s shows the secret in hex", what);
    cr_assert_null(strstr(text, b64hex), "%s shows the secret's base64 in hex", what);
}

/* The output of a pg_dump of webhook_endpoints' data (as the owner). */
static char *dump_endpoints(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/secrets-dump.sql", test_env("CAISSE_STACK_DIR"));
    cr_assert_eq(test_shell("pg_dump --data-only --table=webhook_endpoints '%s' >%s 2>&1",
                            test_env("CAISSE_DATABASE_URL"), path),
                 0, "pg_dump failed (see %s)", path);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    return text;
}

static char *endpoint_row(const char *id)
{
    char *row = test_sql_value("SELECT row_to_json(e)::text FROM webhook_endpoints e"
                               " WHERE id = $1::uuid",
                               id);
    cr_assert_not_null(row, "no row for %s", id);
    return row;
}

/* Waits for the receiver to hold n deliveries at path, every one verified. */
static void assert_verified_deliveries(const char *path, size_t n)
{
    json_t *recs = wh_receiver_wait(path, n, 60000);
    cr_assert_geq(json_array_size(recs), n, "%zu deliveries at %s, %zu expected",
                  json_array_size(recs), path, n);
    size_t i;
    json_t *rec;
    json_array_foreach(recs, i, rec)
    {
        cr_assert(json_is_true(json_object_get(rec, "verified")),
                  "delivery %zu to %s not verified by standardwebhooks", i, path);
    }
    json_decref(recs);
}

Test(secrets, an_endpoint_made_through_the_api_keeps_no_secret_in_the_database, .timeout = 120)
{
    struct wh_endpoint e;
    wh_endpoint_create(&e, tenant.key_test, "sealed", "[\"checkout.session.created\"]");
    cr_assert_eq(strncmp(e.secret, "whsec_", 6), 0, "the API still shows the secret once");

    char *row = endpoint_row(e.id);
    cr_assert_null(strstr(row, "whsec_"), "the row has whsec_ text: %s", row);
    assert_no_secret_in("the row", row, e.secret);
    free(row);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT secret IS NULL AND secret_ciphertext IS NOT NULL"
             " AND position(convert_to('whsec_', 'UTF8') IN secret_ciphertext) = 0"
             " AND secret_key_id = '%.*s' FROM webhook_endpoints WHERE id = $1::uuid",
             (int)strcspn(test_env("CAISSE_SECRETS_KEY"), ":"), test_env("CAISSE_SECRETS_KEY"));
    char *ok = test_sql_value(sql, e.id);
    cr_assert(ok != NULL && strcmp(ok, "t") == 0,
              "the secret is sealed under the stack's key, its plain column empty");
    free(ok);

    char *dump = dump_endpoints();
    cr_assert_not_null(strstr(dump, e.id), "the dump has the endpoint's row");
    assert_no_secret_in("pg_dump of webhook_endpoints", dump, e.secret);
    free(dump);

    /* And the worker still signs with it: standardwebhooks verifies. */
    free(wh_session_create(tenant.key_test));
    assert_verified_deliveries(e.path, 1);
}

Test(secrets, a_rotated_secret_is_sealed_too_and_deliveries_still_verify, .timeout = 120)
{
    struct wh_endpoint e;
    wh_endpoint_create(&e, tenant.key_test, "sealed-rotated", "[\"checkout.session.created\"]");
    char path[256];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s/rotate-secret", e.id);
    struct api_response r = test_api("POST", path, tenant.key_test, NULL, NULL);
    cr_assert_eq(r.status, 200, "rotate: %ld %s", r.status, r.text);
    const char *fresh = json_string_value(json_object_get(r.json, "secret"));
    cr_assert(fresh != NULL && strncmp(fresh, "whsec_", 6) == 0);
    char new_secret[160];
    snprintf(new_secret, sizeof(new_secret), "%s", fresh);
    test_api_free(&r);
    /* The receiver knows both secrets now. */
    wh_receiver_secret(e.path, new_secret);

    char *row = endpoint_row(e.id);
    cr_assert_null(strstr(row, "whsec_"), "the row has whsec_ text: %s", row);
    assert_no_secret_in("the row", row, e.secret);
    assert_no_secret_in("the row", row, new_secret);
    free(row);
    char *ok = test_sql_value("SELECT secret IS NULL AND previous_secret IS NULL"
                              " AND previous_secret_ciphertext IS NOT NULL"
                              " AND previous_secret_key_id = secret_key_id"
                              " FROM webhook_endpoints WHERE id = $1::uuid",
                              e.id);
    cr_assert(ok != NULL && strcmp(ok, "t") == 0, "both secrets sealed");
    free(ok);
    char *dump = dump_endpoints();
    assert_no_secret_in("pg_dump of webhook_endpoints", dump, e.secret);
    assert_no_secret_in("pg_dump of webhook_endpoints", dump, new_secret);
    free(dump);

    free(wh_session_create(tenant.key_test));
    assert_verified_deliveries(e.path, 1);
    /* Both secrets sign during the overlap: two signatures in the header. */
    json_t *recs = wh_receiver_requests(e.path);
    const char *sig = wh_record_header(json_array_get(recs, 0), "webhook-signature");
    cr_assert(sig != NULL && strchr(sig, ' ') != NULL, "two signatures: %s", sig ? sig : "");
    json_decref(recs);
}

Test(secrets, a_sealed_secret_copied_to_another_endpoint_does_not_sign_there, .timeout = 120)
{
    struct wh_endpoint a, b;
    wh_endpoint_create(&a, tenant.key_test, "sealed-a", "[\"checkout.session.completed\"]");
    wh_endpoint_create(&b, tenant.key_test, "sealed-b", "[\"checkout.session.completed\"]");
    /* Someone with write access to the table moves a's sealed secret to b. */
    /* b's own sealed secret, put back at the end: a row whose secret opens
     * nowhere would stop a later caisse-admin secrets reencrypt (on purpose). */
    char *own = test_sql_value("SELECT encode(secret_ciphertext, 'hex') FROM webhook_endpoints"
                               " WHERE id = $1::uuid",
                               b.id);
    cr_assert_not_null(own);
    char ids[160];
    snprintf(ids, sizeof(ids), "%s,%s", a.id, b.id);
    char *id = test_sql_value(
        "UPDATE webhook_endpoints b SET secret_ciphertext = a.secret_ciphertext,"
        " secret_key_id = a.secret_key_id FROM webhook_endpoints a"
        " WHERE a.id = split_part($1, ',', 1)::uuid AND b.id = split_part($1, ',', 2)::uuid"
        " RETURNING b.id",
        ids);
    cr_assert(id != NULL && strcmp(id, b.id) == 0);
    free(id);

    char *session = wh_session_create(tenant.key_test);
    wh_session_complete(session);
    free(session);
    assert_verified_deliveries(a.path, 1);
    /* b's attempt fails before any request: its secret does not open. */
    json_t *d = wh_wait_delivery(tenant.key_test, b.id, NULL, "pending", 30000);
    cr_assert_not_null(d, "b has a pending delivery");
    json_t *full =
        wh_wait_attempts(tenant.key_test, json_string_value(json_object_get(d, "id")), 1, 30000);
    json_t *attempt = json_array_get(json_object_get(full, "attempts"), 0);
    const char *error = json_string_value(json_object_get(attempt, "error"));
    cr_assert(error != NULL && strstr(error, "does not open") != NULL,
              "the attempt says the secret does not open: %s", error ? error : "(none)");
    json_decref(full);
    json_decref(d);
    json_t *recs = wh_receiver_requests(b.path);
    cr_assert_eq(json_array_size(recs), 0, "nothing was sent to b");
    json_decref(recs);

    char restore[512];
    snprintf(restore, sizeof(restore), "%s,%s", b.id, own);
    char *back = test_sql_value("UPDATE webhook_endpoints SET secret_ciphertext ="
                                " decode(split_part($1, ',', 2), 'hex')"
                                " WHERE id = split_part($1, ',', 1)::uuid RETURNING id",
                                restore);
    cr_assert(back != NULL && strcmp(back, b.id) == 0);
    free(back);
    free(own);
}

/* Runs bin with env and no CAISSE_SECRETS_KEY unless env sets one; its exit
 * status, its stderr in out. */
static int start_without_key(const char *bin, const char *env, char *out, size_t outlen)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/secrets-start-%s.log", test_env("CAISSE_STACK_DIR"), bin);
    int rc = test_shell("env -u CAISSE_SECRETS_KEY -u CAISSE_SECRETS_KEY_PREVIOUS %s"
                        " CAISSE_OPS_PORT=0 timeout 20 %s/build/bin/%s >%s 2>&1 </dev/null",
                        env, test_env("CAISSE_TEST_REPO"), bin, path);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
    return rc;
}

Test(secrets, the_gateway_and_the_webhook_worker_refuse_to_start_without_a_good_key)
{
    static const char *const bins[] = {"caisse-gateway", "caisse-webhook-worker"};
    for (size_t i = 0; i < 2; i++) {
        char out[4096];
        cr_assert_eq(start_without_key(bins[i], "", out, sizeof(out)), 2, "%s: %s", bins[i], out);
        cr_assert_not_null(strstr(out, "CAISSE_SECRETS_KEY"), "%s says what is missing: %s",
                           bins[i], out);
        cr_assert_eq(start_without_key(bins[i],
                                       "CAISSE_SECRETS_KEY=k1:c2hvcnQtYW5kLXZpc2libGUtc2VjcmV0",
                                       out, sizeof(out)),
                     2, "%s accepts a key of the wrong length: %s", bins[i], out);
        cr_assert_not_null(strstr(out, "32 bytes"), "%s: %s", bins[i], out);
        cr_assert_null(strstr(out, "c2hvcnQtYW5kLXZpc2libGUtc2VjcmV0"),
                       "%s shows the key in its message: %s", bins[i], out);
    }
}

/* Whether the database user of service may do what sql does (as that user). */
static bool user_may(const char *service, const char *sql)
{
    return test_shell("psql -X -q -v ON_ERROR_STOP=1 \"$(bash %s/deploy/pg.sh url %s)\""
                      " -c \"BEGIN; %s; ROLLBACK\" >/dev/null 2>&1",
                      test_env("CAISSE_TEST_REPO"), service, sql) == 0;
}

Test(secrets, each_service_user_has_its_roles_privileges_and_no_more, .timeout = 60)
{
    /* What each one does. */
    cr_assert(user_may("gateway", "SELECT count(*) FROM api_keys"));
    cr_assert(user_may("gateway", "UPDATE webhook_endpoints SET url = url WHERE false"));
    cr_assert(user_may("session-worker", "INSERT INTO outbox_pending SELECT -1 WHERE false"));
    cr_assert(user_may("expiry-worker", "DELETE FROM outbox WHERE false"));
    cr_assert(user_may("webhook-worker", "INSERT INTO webhook_attempts SELECT * FROM"
                                         " webhook_attempts WHERE false"));
    /* What none of them may. */
    static const char *const services[] = {"gateway", "session-worker", "expiry-worker",
                                           "webhook-worker"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_not(user_may(services[i], "CREATE TABLE secrets_probe (x int)"),
                      "%s may create a table", services[i]);
        cr_assert_not(user_may(services[i], "INSERT INTO api_keys SELECT * FROM api_keys"
                                            " WHERE false"),
                      "%s may create API keys", services[i]);
        cr_assert_not(user_may(services[i], "SELECT count(*) FROM schema_migrations"),
                      "%s may read the migrations", services[i]);
        cr_assert_not(user_may(services[i], "UPDATE organizations SET name = name WHERE false"),
                      "%s may change organizations", services[i]);
    }
    cr_assert_not(user_may("gateway", "DELETE FROM outbox WHERE false"));
    cr_assert_not(user_may("gateway", "INSERT INTO checkout_sessions SELECT * FROM"
                                      " checkout_sessions WHERE false"));
    cr_assert_not(user_may("webhook-worker", "SELECT count(*) FROM api_keys"));
    cr_assert_not(user_may("webhook-worker", "SELECT count(*) FROM checkout_sessions"));
    cr_assert_not(user_may("expiry-worker", "SELECT count(*) FROM webhook_endpoints"));
    cr_assert_not(user_may("session-worker", "SELECT count(*) FROM webhook_endpoints"));
    cr_assert_not(user_may("session-worker", "DELETE FROM outbox WHERE false"));
}
