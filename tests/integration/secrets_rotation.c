/* The rotation of the secrets key (suite "faults": alone, after the others,
 * since it restarts the webhook worker with other keys and seals every
 * endpoint's secret anew):
 *  - a row from before the sealing (its secret in plain text) is sealed by
 *    caisse-admin migrate once CAISSE_SECRETS_KEY is set;
 *  - the operator's rotation: the worker gets the new key and the old one as
 *    CAISSE_SECRETS_KEY_PREVIOUS, caisse-admin secrets reencrypt seals every
 *    secret under the new key, the old key is dropped, and deliveries verify
 *    with npm standardwebhooks at every step;
 *  - then the same back to the stack's key, so the run goes on as before. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "webhook_support.h"

#define WORKER "webhook-worker"
#define NEW_KEY "rotated2:q6u3QYqR9qF1m2oW3nL0bE5tH8yK7cD4aZ6xV1sU2wI="

static char old_key[128];

static void restore(void);

static void setup(void)
{
    snprintf(old_key, sizeof(old_key), "%s", test_env("CAISSE_SECRETS_KEY"));
}

/* caisse-admin args with the two keys; its exit status. */
static int admin(const char *current, const char *previous, const char *args)
{
    return test_shell("CAISSE_SECRETS_KEY='%s' CAISSE_SECRETS_KEY_PREVIOUS='%s' %s %s"
                      " >>%s/logs/secrets-admin.log 2>&1",
                      current, previous, test_env("CAISSE_TEST_ADMIN"), args,
                      test_env("CAISSE_STACK_DIR"));
}

static void worker_with(const char *current, const char *previous)
{
    test_service_stop(WORKER);
    char env[512];
    snprintf(env, sizeof(env), "CAISSE_SECRETS_KEY='%s' CAISSE_SECRETS_KEY_PREVIOUS='%s'", current,
             previous);
    test_service_start(WORKER, env);
}

/* The stack's key everywhere again (idempotent; also after a failure). */
static void restore(void)
{
    if (old_key[0] == '\0')
        return;
    worker_with(old_key, NEW_KEY);
    admin(old_key, NEW_KEY, "secrets reencrypt");
    test_service_stop(WORKER);
    test_service_start(WORKER, NULL);
}

static char *key_id_of(const char *endpoint_id)
{
    return test_sql_value("SELECT coalesce(secret_key_id, '(plain)') || '/' ||"
                          " (secret IS NULL)::text FROM webhook_endpoints WHERE id = $1::uuid",
                          endpoint_id);
}

static void assert_sealed_under(const char *endpoint_id, const char *key)
{
    char want[64];
    snprintf(want, sizeof(want), "%.*s/true", (int)strcspn(key, ":"), key);
    char *got = key_id_of(endpoint_id);
    cr_assert(got != NULL && strcmp(got, want) == 0, "endpoint %s: %s, want %s", endpoint_id,
              got ? got : "(no row)", want);
    free(got);
}

/* A new session: one created event to each endpoint; waits until path has
 * n deliveries, all verified. */
static void deliver_and_verify(const char *api_key, const struct wh_endpoint *eps, size_t n_eps,
                               size_t n)
{
    free(wh_session_create(api_key));
    for (size_t k = 0; k < n_eps; k++) {
        json_t *recs = wh_receiver_wait(eps[k].path, n, 60000);
        cr_assert_geq(json_array_size(recs), n, "%s: %zu deliveries, %zu expected", eps[k].path,
                      json_array_size(recs), n);
        size_t i;
        json_t *rec;
        json_array_foreach(recs, i, rec)
        {
            cr_assert(json_is_true(json_object_get(rec, "verified")),
                      "delivery %zu to %s not verified by standardwebhooks", i, eps[k].path);
        }
        json_decref(recs);
    }
}

Test(faults, rotating_the_secrets_key_with_caisse_admin_keeps_every_delivery_verifying,
     .init = setup, .fini = restore, .timeout = 300)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Secrets rotation");
    struct wh_endpoint eps[2];
    wh_endpoint_create(&eps[0], t.key_test, "rotation-api", "[\"checkout.session.created\"]");
    /* A row as an older release wrote it: the secret in plain text. */
    char path[256], url[512];
    wh_unique_path(path, sizeof(path), "rotation-plain");
    wh_receiver_url(url, sizeof(url), path);
    wh_endpoint_insert(&eps[1], t.org, "test", url, "checkout.session.created");
    snprintf(eps[1].path, sizeof(eps[1].path), "%s", path);
    wh_receiver_secret(path, eps[1].secret);
    char *plain = key_id_of(eps[1].id);
    cr_assert_str_eq(plain, "(plain)/false");
    free(plain);
    deliver_and_verify(t.key_test, eps, 2, 1);

    /* migrate with the key set seals what is still plain. */
    cr_assert_eq(admin(old_key, "", "migrate"), 0, "caisse-admin migrate");
    assert_sealed_under(eps[1].id, old_key);
    char *left = test_sql_value("SELECT count(*) FROM webhook_endpoints"
                                " WHERE secret IS NOT NULL OR previous_secret IS NOT NULL",
                                NULL);
    cr_assert_str_eq(left, "0", "no plain-text secret is left");
    free(left);
    deliver_and_verify(t.key_test, eps, 2, 2);

    /* The rotation: new key, old one as previous; deliveries go on meanwhile. */
    worker_with(NEW_KEY, old_key);
    deliver_and_verify(t.key_test, eps, 2, 3);
    cr_assert_eq(admin(NEW_KEY, old_key, "secrets reencrypt"), 0, "secrets reencrypt");
    assert_sealed_under(eps[0].id, NEW_KEY);
    assert_sealed_under(eps[1].id, NEW_KEY);
    char *old_left = test_sql_value(
        "SELECT count(*) FROM webhook_endpoints WHERE secret_key_id <> split_part($1, ':', 1)"
        " OR previous_secret_key_id <> split_part($1, ':', 1)",
        NEW_KEY);
    cr_assert_str_eq(old_left, "0", "every secret is under the new key");
    free(old_left);
    deliver_and_verify(t.key_test, eps, 2, 4);

    /* The old key dropped: still verifying. */
    worker_with(NEW_KEY, "");
    deliver_and_verify(t.key_test, eps, 2, 5);

    /* Without the new key, the worker cannot sign them any more: the key is what matters. */
    cr_assert_neq(admin(old_key, "", "secrets reencrypt"), 0,
                  "reencrypt without the key the secrets are under fails");
}
