/* Webhook endpoint management, the events API and the deliveries API on the
 * gateway. Each test makes its own organization (caisse-admin), so listings
 * see only what the test created, whatever runs in parallel. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infra/db.h"
#include "infra/netguard.h"
#include "core/result.h"
#include "support.h"
#include "core/uuid.h"
#include "model/webhook_endpoint.h"

/* An address no one listens on: the gateway never connects at registration,
 * and a worker delivering to it only records failures. 127.0.0.1 is reachable
 * only through the stack's CAISSE_WEBHOOK_ALLOWLIST. */
#define HOOK_URL "http://127.0.0.1:9/hooks"

struct tenant {
    char org[64];
    char key[128];  /* test environment */
    char live[128]; /* live environment */
};

static void admin_line(const char *args, char *out, size_t outlen)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", test_env("CAISSE_TEST_ADMIN"), args);
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL);
    out[0] = '\0';
    cr_assert(fgets(out, (int)outlen, p) != NULL, "%s printed nothing", cmd);
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
}

static void tenant_new(struct tenant *t)
{
    char args[256];
    admin_line("create-org --name 'Webhook tests' --currency XOF", t->org, sizeof(t->org));
    cr_assert(uuid_is_valid(t->org), "org: %s", t->org);
    snprintf(args, sizeof(args), "create-key --org %s --env test", t->org);
    admin_line(args, t->key, sizeof(t->key));
    snprintf(args, sizeof(args), "create-key --org %s --env live", t->org);
    admin_line(args, t->live, sizeof(t->live));
}

static struct api_response call(const char *method, const char *path, const char *key,
                                const char *body)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    return test_api(method, path, key, body, body != NULL ? h : NULL);
}

static const char *str(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* POST /webhook-endpoints with body; asserts 201 and returns the object. */
static json_t *create_endpoint(const char *key, const char *body)
{
    struct api_response r = call("POST", "/webhook-endpoints", key, body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    json_t *o = json_incref(r.json);
    test_api_free(&r);
    return o;
}

static json_t *create_simple(const char *key)
{
    return create_endpoint(key, "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"*\"]}");
}

static char *create_session(const char *key)
{
    char *body = test_body(NULL);
    struct api_response r = test_create(key, body);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    char *id = strdup(str(r.json, "checkout_session_id"));
    test_api_free(&r);
    return id;
}

static void assert_no_secret(const json_t *o)
{
    cr_assert_null(json_object_get(o, "secret"), "secret shown: %s", str(o, "secret"));
}

/* An endpoint's stored secret of column ("secret" or "previous_secret"),
 * opened with the stack's CAISSE_SECRETS_KEY; NULL when the column is empty. */
static char *stored_secret(const char *id, const char *column)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT encode(%s_ciphertext, 'hex') || ' ' || %s_key_id || ' ' ||"
             " (%s IS NULL)::text FROM webhook_endpoints WHERE id = $1",
             column, column, column);
    char *row = test_sql_value(sql, id);
    if (row == NULL)
        return NULL;
    char hex[512], key_id[64], plain_null[8];
    cr_assert_eq(sscanf(row, "%511s %63s %7s", hex, key_id, plain_null), 3, "%s", row);
    free(row);
    cr_assert_str_eq(plain_null, "true", "the %s column holds no plain text", column);
    struct secretbox_keyring kr;
    struct error err = ERROR_INIT;
    cr_assert_eq(secretbox_keyring_init(&kr, test_env("CAISSE_SECRETS_KEY"), NULL, &err), C_OK,
                 "%s", err.message);
    char *secret = NULL;
    cr_assert_eq(webhook_endpoint_secret_open(&kr, id, column, key_id, hex, &secret, &err), C_OK,
                 "%s", err.message);
    secretbox_keyring_clear(&kr);
    return secret;
}

Test(webhook_endpoints, create_returns_the_endpoint_and_its_secret_once)
{
    struct tenant t;
    tenant_new(&t);
    json_t *e = create_endpoint(
        t.key, "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"checkout.session.completed\","
               " \"checkout.session.expired\"], \"description\": \"Orders\","
               " \"metadata\": {\"team\": \"billing\"}}");
    cr_assert(uuid_is_valid(str(e, "id")));
    cr_assert_str_eq(str(e, "url"), HOOK_URL);
    cr_assert_eq(json_array_size(json_object_get(e, "enabled_events")), 2);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(e, "enabled_events"), 0)),
                     "checkout.session.completed");
    cr_assert_str_eq(str(e, "description"), "Orders");
    cr_assert_str_eq(str(json_object_get(e, "metadata"), "team"), "billing");
    cr_assert_str_eq(str(e, "status"), "enabled");
    cr_assert(json_is_null(json_object_get(e, "disabled_reason")));
    cr_assert_str_eq(str(e, "environment"), "test");
    cr_assert_eq(strlen(str(e, "created_at")), 20, "%s", str(e, "created_at"));
    cr_assert_str_eq(str(e, "created_at"), str(e, "updated_at"));
    cr_assert(json_is_string(json_object_get(e, "secret")));
    char *secret = strdup(str(e, "secret"));
    cr_assert(strncmp(secret, "whsec_", 6) == 0, "secret %s", secret);
    cr_assert_geq(strlen(secret), 6 + 32); /* base64 of >= 24 bytes */

    char path[128];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s", str(e, "id"));
    struct api_response g = call("GET", path, t.key, NULL);
    cr_assert_eq(g.status, 200, "%s", g.text);
    assert_no_secret(g.json);
    json_object_del(e, "secret");
    cr_assert(json_equal(g.json, e), "GET %s differs from the created object %s", g.text,
              json_dumps(e, 0));
    cr_assert_null(strstr(g.text, secret));
    test_api_free(&g);

    snprintf(path, sizeof(path), "/v1/webhook-endpoints/%s", str(e, "id"));
    g = call("GET", path, t.key, NULL);
    cr_assert_eq(g.status, 200, "%s", g.text);
    test_api_free(&g);

    struct api_response l = call("GET", "/webhook-endpoints", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1);
    assert_no_secret(json_array_get(l.json, 0));
    cr_assert(json_equal(json_array_get(l.json, 0), e));
    test_api_free(&l);

    /* Stored as given (sealed: it opens to it), for the worker to sign with. */
    char *stored = stored_secret(str(e, "id"), WEBHOOK_ENDPOINT_SECRET);
    cr_assert_str_eq(stored, secret);
    free(stored);
    free(secret);
    json_decref(e);
}

Test(webhook_endpoints, update_disable_enable_and_delete)
{
    struct tenant t;
    tenant_new(&t);
    json_t *e = create_simple(t.key);
    char path[128];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s", str(e, "id"));

    struct api_response r = call(
        "PATCH", path, t.key,
        "{\"url\": \"http://127.0.0.1:9/v2\", \"enabled_events\": [\"checkout.session.created\"],"
        " \"description\": \"new\", \"metadata\": {\"k\": 1}}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    assert_no_secret(r.json);
    cr_assert_str_eq(str(r.json, "url"), "http://127.0.0.1:9/v2");
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(r.json, "enabled_events"), 0)),
        "checkout.session.created");
    cr_assert_str_eq(str(r.json, "description"), "new");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r.json, "metadata"), "k")), 1);
    test_api_free(&r);

    /* Fields not given stay; null clears the description. */
    r = call("PATCH", path, t.key, "{\"description\": null}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_null(json_object_get(r.json, "description")));
    cr_assert_str_eq(str(r.json, "url"), "http://127.0.0.1:9/v2");
    test_api_free(&r);

    r = call("PATCH", path, t.key, "{\"disabled\": true}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(str(r.json, "status"), "disabled");
    cr_assert_str_eq(str(r.json, "disabled_reason"), "manual");
    test_api_free(&r);

    /* As the worker would leave it after days of failures. */
    char *v = test_sql_value("UPDATE webhook_endpoints SET disabled_reason = 'failing',"
                             " failing_since = now() - interval '6 days' WHERE id = $1 RETURNING 1",
                             str(e, "id"));
    free(v);
    r = call("PATCH", path, t.key, "{\"disabled\": false}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(str(r.json, "status"), "enabled");
    cr_assert(json_is_null(json_object_get(r.json, "disabled_reason")));
    test_api_free(&r);
    v = test_sql_value("SELECT failing_since IS NULL FROM webhook_endpoints WHERE id = $1",
                       str(e, "id"));
    cr_assert_str_eq(v, "t");
    free(v);

    r = call("DELETE", path, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(str(r.json, "id"), str(e, "id"));
    cr_assert(json_is_true(json_object_get(r.json, "deleted")));
    test_api_free(&r);
    v = test_sql_value("SELECT deleted_at IS NOT NULL FROM webhook_endpoints WHERE id = $1",
                       str(e, "id"));
    cr_assert_str_eq(v, "t");
    free(v);

    char msg[160];
    snprintf(msg, sizeof(msg), "Webhook endpoint with ID %s not found or access denied",
             str(e, "id"));
    const char *methods[] = {"GET", "PATCH", "DELETE"};
    for (size_t i = 0; i < 3; i++) {
        r = call(methods[i], path, t.key, strcmp(methods[i], "PATCH") == 0 ? "{}" : NULL);
        test_assert_error(&r, 404, "not_found", "id", msg);
        test_api_free(&r);
    }
    char rot[160];
    snprintf(rot, sizeof(rot), "%s/rotate-secret", path);
    r = call("POST", rot, t.key, NULL);
    test_assert_error(&r, 404, "not_found", "id", msg);
    test_api_free(&r);
    r = call("GET", "/webhook-endpoints", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 0, "%s", r.text);
    test_api_free(&r);
    json_decref(e);
}

Test(webhook_endpoints, rotate_keeps_the_previous_secret_for_24_hours)
{
    struct tenant t;
    tenant_new(&t);
    json_t *e = create_simple(t.key);
    char *old = strdup(str(e, "secret"));
    char path[160];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s/rotate-secret", str(e, "id"));
    struct api_response r = call("POST", path, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    const char *fresh = str(r.json, "secret");
    cr_assert(fresh != NULL && strncmp(fresh, "whsec_", 6) == 0);
    cr_assert_str_neq(fresh, old);
    cr_assert_str_eq(str(r.json, "id"), str(e, "id"));
    /* Stored sealed (never in plain text): opened with the stack's key, the
     * current one is the new secret and the previous one the old. */
    char *v = stored_secret(str(e, "id"), WEBHOOK_ENDPOINT_SECRET);
    cr_assert_str_eq(v, fresh);
    free(v);
    v = stored_secret(str(e, "id"), WEBHOOK_ENDPOINT_PREVIOUS_SECRET);
    cr_assert_str_eq(v, old);
    free(v);
    v = test_sql_value("SELECT abs(extract(epoch FROM previous_secret_expires_at"
                       " - (now() + interval '24 hours'))) < 60"
                       " FROM webhook_endpoints WHERE id = $1",
                       str(e, "id"));
    cr_assert_str_eq(v, "t");
    free(v);

    r = call("GET", path, t.key, NULL); /* rotate-secret is POST only */
    cr_assert_eq(r.status, 405, "%s", r.text);
    test_api_free(&r);
    free(old);
    json_decref(e);
}

Test(webhook_endpoints, list_is_newest_first_with_a_cursor)
{
    struct tenant t;
    tenant_new(&t);
    json_t *e[3];
    for (int i = 0; i < 3; i++)
        e[i] = create_simple(t.key);
    struct api_response r = call("GET", "/webhook-endpoints?limit=2", t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_eq(json_array_size(r.json), 2);
    cr_assert_str_eq(str(json_array_get(r.json, 0), "id"), str(e[2], "id"));
    cr_assert_str_eq(str(json_array_get(r.json, 1), "id"), str(e[1], "id"));
    test_api_free(&r);
    char path[160];
    snprintf(path, sizeof(path), "/webhook-endpoints?limit=2&starting_after=%s", str(e[1], "id"));
    r = call("GET", path, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_eq(json_array_size(r.json), 1);
    cr_assert_str_eq(str(json_array_get(r.json, 0), "id"), str(e[0], "id"));
    test_api_free(&r);

    r = call("GET", "/webhook-endpoints?limit=0", t.key, NULL);
    test_assert_error(&r, 400, "validation_error", "limit",
                      "limit must be an integer from 1 to 100");
    test_api_free(&r);
    r = call("GET", "/webhook-endpoints?starting_after=nope", t.key, NULL);
    test_assert_error(&r, 400, "validation_error", "starting_after",
                      "starting_after must be a webhook endpoint id (UUID)");
    test_api_free(&r);
    r = call("GET", "/webhook-endpoints?starting_after=987e6543-e89b-12d3-a456-426614174000", t.key,
             NULL);
    test_assert_error(&r, 400, "validation_error", "starting_after",
                      "starting_after must be the id of one of your webhook endpoints");
    test_api_free(&r);
    r = call("GET", "/webhook-endpoints?status=enabled", t.key, NULL);
    test_assert_error(&r, 400, "validation_error", "status", "Unknown query parameter: status");
    test_api_free(&r);
    for (int i = 0; i < 3; i++)
        json_decref(e[i]);
}

static void expect_400(const char *key, const char *method, const char *path, const char *body,
                       const char *param, const char *message)
{
    struct api_response r = call(method, path, key, body);
    test_assert_error(&r, 400, "validation_error", param, message);
    test_api_free(&r);
}

Test(webhook_endpoints, validation_messages)
{
    struct tenant t;
    tenant_new(&t);
    const char *k = t.key;
    const char *p = "/webhook-endpoints";
    const char *bad_type = "Unsupported event type in enabled_events: %s (expected "
                           "checkout.session.created, checkout.session.completed,"
                           " checkout.session.expired, product.created, product.updated,"
                           " price.created, price.updated, coupon.created, coupon.updated,"
                           " customer.created, customer.updated, customer.deleted,"
                           " subscription.created, subscription.renewed, subscription.canceled,"
                           " subscription.past_due, checkout.session.payment_failed,"
                           " checkout.session.payment_refund_required or *)";
    char msg[600];
    expect_400(k, "POST", p, "{\"enabled_events\": [\"*\"]}", "url", "url is required");
    expect_400(k, "POST", p, "{\"url\": 5, \"enabled_events\": [\"*\"]}", "url",
               "url must be a string");
    expect_400(k, "POST", p, "{\"url\": \"" HOOK_URL "\"}", "enabled_events",
               "enabled_events is required");
    expect_400(k, "POST", p, "{\"url\": \"" HOOK_URL "\", \"enabled_events\": \"*\"}",
               "enabled_events", "enabled_events must be an array");
    expect_400(k, "POST", p, "{\"url\": \"" HOOK_URL "\", \"enabled_events\": []}",
               "enabled_events", "enabled_events must not be empty");
    snprintf(msg, sizeof(msg), bad_type, "checkout.session.paid");
    expect_400(k, "POST", p,
               "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"checkout.session.paid\"]}",
               "enabled_events", msg);
    expect_400(k, "POST", p, "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"*\", \"*\"]}",
               "enabled_events", "enabled_events must not contain duplicates: *");
    expect_400(k, "POST", p,
               "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"*\"], \"description\": 1}",
               "description", "description must be a string");
    expect_400(k, "POST", p,
               "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"*\"], \"metadata\": []}",
               "metadata", "metadata must be an object");
    expect_400(k, "POST", p,
               "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"*\"], \"disabled\": true}",
               "disabled", "Unknown parameter: disabled");
    expect_400(k, "POST", p,
               "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"*\"], \"secret\": \"x\"}",
               "secret", "Unknown parameter: secret");
    expect_400(k, "POST", p, "{\"url\": \"ftp://example.com/\", \"enabled_events\": [\"*\"]}",
               "url", "url must use http or https");
    expect_400(k, "POST", p, "[]", NULL, "Request body must be a JSON object");

    json_t *e = create_simple(k);
    char path[160];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s", str(e, "id"));
    expect_400(k, "PATCH", path, "{\"disabled\": \"yes\"}", "disabled",
               "disabled must be a boolean");
    expect_400(k, "PATCH", path, "{\"url\": null}", "url", "url is required");
    expect_400(k, "PATCH", path, "{\"enabled_events\": []}", "enabled_events",
               "enabled_events must not be empty");
    expect_400(k, "PATCH", path, "{\"secret\": \"whsec_x\"}", "secret",
               "Unknown parameter: secret");
    char rot[200];
    snprintf(rot, sizeof(rot), "%s/rotate-secret", path);
    expect_400(k, "POST", rot, "{\"x\": 1}", "x", "Unknown parameter: x");

    /* Content type and size, as on every JSON route. */
    struct api_response r = test_api("POST", p, k, "{}", NULL);
    test_assert_error(&r, 415, "unsupported_media_type", NULL,
                      "Content-Type must be application/json");
    test_api_free(&r);
    size_t big = 70 * 1024;
    char *huge = malloc(big + 64);
    cr_assert(huge != NULL);
    int off = snprintf(huge, big + 64, "{\"description\": \"");
    memset(huge + off, 'a', big);
    snprintf(huge + off + big, 64, "\"}");
    r = call("PATCH", path, k, huge);
    test_assert_error(&r, 413, "payload_too_large", NULL,
                      "Request body must not exceed 65536 bytes");
    test_api_free(&r);
    free(huge);
    r = call("PUT", path, k, "{}");
    cr_assert_eq(r.status, 405, "%s", r.text);
    test_api_free(&r);
    json_decref(e);
}

Test(webhook_endpoints, malformed_ids_are_400)
{
    struct tenant t;
    tenant_new(&t);
    struct {
        const char *method, *path, *message;
    } cases[] = {
        {"GET", "/webhook-endpoints/nope", "Webhook endpoint id must be a UUID"},
        {"PATCH", "/webhook-endpoints/nope", "Webhook endpoint id must be a UUID"},
        {"DELETE", "/webhook-endpoints/nope", "Webhook endpoint id must be a UUID"},
        {"POST", "/webhook-endpoints/nope/rotate-secret", "Webhook endpoint id must be a UUID"},
        {"GET", "/webhook-endpoints/nope/deliveries", "Webhook endpoint id must be a UUID"},
        {"GET", "/events/nope", "Event id must be a UUID"},
        {"GET", "/webhook-deliveries/nope", "Webhook delivery id must be a UUID"},
        {"POST", "/webhook-deliveries/nope/retry", "Webhook delivery id must be a UUID"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct api_response r = call(cases[i].method, cases[i].path, t.key,
                                     strcmp(cases[i].method, "PATCH") == 0 ? "{}" : NULL);
        test_assert_error(&r, 400, "validation_error", "id", cases[i].message);
        test_api_free(&r);
    }
    struct api_response r = call("GET", "/webhook-endpoints", NULL, NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "API key is missing");
    test_api_free(&r);
}

Test(webhook_endpoints, forbidden_urls_are_refused)
{
    struct tenant t;
    tenant_new(&t);
    /* The test stack's allowlist admits 127.0.0.1 (so also 2130706433 and a
     * localhost that resolves to it alone): 2130706434 is 127.0.0.2, still
     * loopback and refused. Without an allowlist, below, those are refused too. */
    const char *refused[] = {
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://2130706434/hook",
        "http://167772161/hook",
        "http://127.0.0.2/hook",
        "http://192.168.1.10/hook",
        "http://[::1]/hook",
        "http://user:pass@127.0.0.1:9/hook",
        "/relative",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        char body[300];
        snprintf(body, sizeof(body), "{\"url\": \"%s\", \"enabled_events\": [\"*\"]}", refused[i]);
        struct api_response r = call("POST", "/webhook-endpoints", t.key, body);
        cr_assert_eq(r.status, 400, "%s accepted: %s", refused[i], r.text);
        cr_assert_str_eq(str(r.json, "code"), "validation_error");
        cr_assert_str_eq(str(r.json, "param"), "url", "%s", r.text);
        cr_assert(strncmp(str(r.json, "message"), "url ", 4) == 0, "%s", r.text);
        test_api_free(&r);
    }
    struct api_response r =
        call("POST", "/webhook-endpoints", t.key,
             "{\"url\": \"http://169.254.169.254/\", \"enabled_events\": [\"*\"]}");
    cr_assert(strstr(str(r.json, "message"), "forbidden") != NULL, "%s", r.text);
    test_api_free(&r);

    /* The allowlist (127.0.0.1/32 in the test stack) lets 127.0.0.1 in... */
    json_t *e = create_simple(t.key);
    json_decref(e);
    /* ...and production has none: the gateway's very check then refuses every
     * loopback form, names included. */
    struct netguard_allowlist none, tests;
    cr_assert_eq(netguard_allowlist_parse("", &none), C_OK);
    cr_assert_eq(netguard_allowlist_parse("127.0.0.1/32", &tests), C_OK);
    const char *loopback[] = {"http://localhost/hook", "http://2130706433/hook", HOOK_URL,
                              "http://[::ffff:127.0.0.1]/hook"};
    for (size_t i = 0; i < sizeof(loopback) / sizeof(*loopback); i++) {
        struct error why = ERROR_INIT;
        cr_assert_eq(netguard_check_url(loopback[i], false, &none, &why), C_ERR, "%s allowed",
                     loopback[i]);
        cr_assert(strstr(why.message, "forbidden") != NULL, "%s: %s", loopback[i], why.message);
    }
    struct error why = ERROR_INIT;
    cr_assert_eq(netguard_check_url("http://2130706433/hook", false, &tests, &why), C_OK, "%s",
                 why.message);

    /* Live keys need https, and PATCH checks the URL too. */
    r = call("POST", "/webhook-endpoints", t.live,
             "{\"url\": \"" HOOK_URL "\", \"enabled_events\": [\"*\"]}");
    test_assert_error(&r, 400, "validation_error", "url", "url must use https for live keys");
    test_api_free(&r);
    json_t *live = create_endpoint(
        t.live, "{\"url\": \"https://127.0.0.1:9/hooks\", \"enabled_events\": [\"*\"]}");
    cr_assert_str_eq(str(live, "environment"), "live");
    char path[160];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s", str(live, "id"));
    r = call("PATCH", path, t.live, "{\"url\": \"http://127.0.0.1:9/hooks\"}");
    test_assert_error(&r, 400, "validation_error", "url", "url must use https for live keys");
    test_api_free(&r);
    r = call("PATCH", path, t.live, "{\"url\": \"https://10.0.0.1/hooks\"}");
    cr_assert_eq(r.status, 400, "%s", r.text);
    cr_assert_str_eq(str(r.json, "param"), "url");
    test_api_free(&r);
    json_decref(live);
}

Test(webhook_endpoints, other_tenants_get_404)
{
    struct tenant t, other;
    tenant_new(&t);
    tenant_new(&other);
    json_t *e = create_simple(t.key);
    char base[128];
    snprintf(base, sizeof(base), "/webhook-endpoints/%s", str(e, "id"));
    char msg[160];
    snprintf(msg, sizeof(msg), "Webhook endpoint with ID %s not found or access denied",
             str(e, "id"));
    const char *keys[] = {other.key, t.live, test_env("CAISSE_TEST_KEY_B")};
    for (size_t k = 0; k < 3; k++) {
        struct {
            const char *method, *suffix, *body;
        } cases[] = {
            {"GET", "", NULL},
            {"PATCH", "", "{\"disabled\": true}"},
            {"DELETE", "", NULL},
            {"POST", "/rotate-secret", NULL},
            {"GET", "/deliveries", NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
            char path[200];
            snprintf(path, sizeof(path), "%s%s", base, cases[i].suffix);
            struct api_response r = call(cases[i].method, path, keys[k], cases[i].body);
            test_assert_error(&r, 404, "not_found", "id", msg);
            test_api_free(&r);
        }
        struct api_response l = call("GET", "/webhook-endpoints", keys[k], NULL);
        cr_assert_eq(l.status, 200);
        for (size_t i = 0; i < json_array_size(l.json); i++)
            cr_assert_str_neq(str(json_array_get(l.json, i), "id"), str(e, "id"));
        test_api_free(&l);
    }
    /* Untouched by all that. */
    struct api_response r = call("GET", base, t.key, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(str(r.json, "status"), "enabled");
    test_api_free(&r);
    char *v = test_sql_value("SELECT previous_secret IS NULL AND previous_secret_ciphertext IS NULL"
                             " FROM webhook_endpoints WHERE id = $1",
                             str(e, "id"));
    cr_assert_str_eq(v, "t");
    free(v);
    json_decref(e);
}

Test(webhook_endpoints, events_list_filter_paginate_and_get, .timeout = 60)
{
    struct tenant t, other;
    tenant_new(&t);
    tenant_new(&other);
    char *s1 = create_session(t.key);
    char *s2 = create_session(t.key);
    char *s3 = create_session(t.key);
    char path[200];
    snprintf(path, sizeof(path), "/checkout-sessions/%s/expire", s2);
    struct api_response r = call("POST", path, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);

    /* Newest first: expired(s2), created(s3), created(s2), created(s1). */
    r = call("GET", "/events", t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_eq(json_array_size(r.json), 4, "%s", r.text);
    json_t *first = json_array_get(r.json, 0);
    cr_assert_str_eq(str(first, "type"), "checkout.session.expired");
    cr_assert_str_eq(str(first, "subject"), s2);
    cr_assert_str_eq(str(first, "specversion"), "1.0");
    cr_assert_str_eq(str(json_object_get(first, "data"), "status"), "expired");
    cr_assert_str_eq(str(json_array_get(r.json, 1), "subject"), s3);
    cr_assert_str_eq(str(json_array_get(r.json, 3), "subject"), s1);
    char expired_id[64], created_s3[64];
    snprintf(expired_id, sizeof(expired_id), "%s", str(first, "id"));
    snprintf(created_s3, sizeof(created_s3), "%s", str(json_array_get(r.json, 1), "id"));
    test_api_free(&r);

    r = call("GET", "/v1/events?type=checkout.session.created", t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_eq(json_array_size(r.json), 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert_str_eq(str(json_array_get(r.json, i), "type"), "checkout.session.created");
    test_api_free(&r);
    r = call("GET", "/events?type=checkout.session.completed", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 0, "%s", r.text);
    test_api_free(&r);

    snprintf(path, sizeof(path), "/events?limit=2&starting_after=%s", created_s3);
    r = call("GET", path, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_eq(json_array_size(r.json), 2);
    cr_assert_str_eq(str(json_array_get(r.json, 0), "subject"), s2);
    cr_assert_str_eq(str(json_array_get(r.json, 1), "subject"), s1);
    test_api_free(&r);
    snprintf(path, sizeof(path), "/events?type=checkout.session.created&limit=1&starting_after=%s",
             expired_id);
    r = call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 1, "%s", r.text);
    cr_assert_str_eq(str(json_array_get(r.json, 0), "id"), created_s3);
    test_api_free(&r);

    /* One event, byte for byte as stored (and published). */
    snprintf(path, sizeof(path), "/events/%s", expired_id);
    r = call("GET", path, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    char *payload = test_sql_value("SELECT payload FROM outbox WHERE id = $1", expired_id);
    cr_assert_str_eq(r.text, payload);
    free(payload);
    cr_assert_str_eq(r.content_type, "application/json");
    test_api_free(&r);

    /* Another tenant, or the live key, sees none of it. */
    char msg[160];
    snprintf(msg, sizeof(msg), "Event with ID %s not found or access denied", expired_id);
    const char *keys[] = {other.key, t.live};
    for (size_t k = 0; k < 2; k++) {
        r = call("GET", path, keys[k], NULL);
        test_assert_error(&r, 404, "not_found", "id", msg);
        test_api_free(&r);
        r = call("GET", "/events", keys[k], NULL);
        cr_assert_eq(json_array_size(r.json), 0, "%s", r.text);
        test_api_free(&r);
    }

    /* Kept CAISSE_EVENT_RETENTION_DAYS (30): an older one is gone. */
    char *v = test_sql_value("UPDATE outbox SET created_at = now() - interval '31 days'"
                             " WHERE id = $1 RETURNING 1",
                             expired_id);
    free(v);
    r = call("GET", path, t.key, NULL);
    test_assert_error(&r, 404, "not_found", "id", msg);
    test_api_free(&r);
    r = call("GET", "/events", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 3, "%s", r.text);
    test_api_free(&r);

    expect_400(t.key, "GET", "/events?type=*", NULL, "type",
               "type must be one of checkout.session.created, checkout.session.completed,"
               " checkout.session.expired, product.created, product.updated, price.created,"
               " price.updated, coupon.created, coupon.updated, customer.created,"
               " customer.updated, customer.deleted, subscription.created, subscription.renewed,"
               " subscription.canceled, subscription.past_due, checkout.session.payment_failed,"
               " checkout.session.payment_refund_required");
    expect_400(t.key, "GET", "/events?limit=101", NULL, "limit",
               "limit must be an integer from 1 to 100");
    expect_400(t.key, "GET", "/events?starting_after=x", NULL, "starting_after",
               "starting_after must be an event id (UUID)");
    snprintf(path, sizeof(path), "/events?starting_after=%s", expired_id);
    expect_400(t.key, "GET", path, NULL, "starting_after",
               "starting_after must be the id of one of your events");
    expect_400(t.key, "GET", "/events?status=open", NULL, "status",
               "Unknown query parameter: status");
    r = call("POST", "/events", t.key, "{}");
    cr_assert_eq(r.status, 405);
    test_api_free(&r);
    free(s1);
    free(s2);
    free(s3);
}

/* A delivery as the worker would have left it after two failed attempts,
 * leased by a (pretend) worker. Returns its id. */
static char *insert_failed_delivery(const char *org, const char *endpoint_id, const char *event_id)
{
    char id[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(id), 0);
    char params[400];
    snprintf(params, sizeof(params), "%s %s %s %s", id, endpoint_id, event_id, org);
    char *v = test_sql_value(
        "WITH p AS (SELECT split_part($1, ' ', 1)::uuid AS id, split_part($1, ' ', 2)::uuid AS ep,"
        "  split_part($1, ' ', 3)::uuid AS ev, split_part($1, ' ', 4)::uuid AS org),"
        " d AS (INSERT INTO webhook_deliveries (id, event_id, endpoint_id, organization_id,"
        "  environment, event_type, status, attempt_count, next_attempt_at, lease_until,"
        "  leased_by, last_status_code, last_error)"
        "  SELECT id, ev, ep, org, 'test', 'checkout.session.created', 'failed', 2, NULL,"
        "   now() + interval '1 hour', 'test-worker', 500, 'HTTP 500' FROM p RETURNING id),"
        " a AS (INSERT INTO webhook_attempts (delivery_id, attempted_at, duration_ms, status_code,"
        "  response_body, error)"
        "  SELECT d.id, now() - interval '10 seconds', 12, NULL, NULL, 'connection refused' FROM d"
        "  UNION ALL SELECT d.id, now() - interval '5 seconds', 34, 500, 'oops', NULL FROM d"
        "  RETURNING 1)"
        " SELECT (SELECT count(*) FROM a)",
        params);
    cr_assert_str_eq(v, "2");
    free(v);
    return strdup(id);
}

Test(webhook_endpoints, deliveries_list_get_and_retry, .timeout = 60)
{
    struct tenant t, other;
    tenant_new(&t);
    tenant_new(&other);
    /* Subscribed to nothing that happens here, so no worker adds deliveries. */
    json_t *e = create_endpoint(t.key, "{\"url\": \"" HOOK_URL
                                       "\", \"enabled_events\": [\"checkout.session.completed\"]}");
    const char *eid = str(e, "id");
    char path[200];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s/deliveries", eid);
    struct api_response r = call("GET", path, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_array(r.json) && json_array_size(r.json) == 0, "%s", r.text);
    test_api_free(&r);

    char *session = create_session(t.key);
    char *event_id =
        test_sql_value("SELECT id FROM outbox WHERE session_id = $1 ORDER BY seq LIMIT 1", session);
    cr_assert(event_id != NULL);
    char *did = insert_failed_delivery(t.org, eid, event_id);

    r = call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 1, "%s", r.text);
    json_t *d = json_array_get(r.json, 0);
    cr_assert_str_eq(str(d, "id"), did);
    cr_assert_str_eq(str(d, "event_id"), event_id);
    cr_assert_str_eq(str(d, "event_type"), "checkout.session.created");
    cr_assert_str_eq(str(d, "status"), "failed");
    cr_assert_eq(json_integer_value(json_object_get(d, "attempt_count")), 2);
    cr_assert_eq(json_integer_value(json_object_get(d, "last_status_code")), 500);
    cr_assert_str_eq(str(d, "last_error"), "HTTP 500");
    cr_assert(json_is_null(json_object_get(d, "next_attempt_at")));
    cr_assert_null(json_object_get(d, "attempts"));
    test_api_free(&r);

    char dpath[400];
    snprintf(dpath, sizeof(dpath), "/webhook-deliveries/%s", did);
    r = call("GET", dpath, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    json_t *attempts = json_object_get(r.json, "attempts");
    cr_assert_eq(json_array_size(attempts), 2, "%s", r.text);
    json_t *a0 = json_array_get(attempts, 0), *a1 = json_array_get(attempts, 1);
    cr_assert(json_is_null(json_object_get(a0, "status_code")));
    cr_assert_str_eq(str(a0, "error"), "connection refused");
    cr_assert_eq(json_integer_value(json_object_get(a0, "duration_ms")), 12);
    cr_assert_eq(json_integer_value(json_object_get(a1, "status_code")), 500);
    cr_assert_str_eq(str(a1, "response_body"), "oops");
    cr_assert(json_is_null(json_object_get(a1, "error")));
    cr_assert_eq(strlen(str(a0, "attempted_at")), 20, "%s", str(a0, "attempted_at"));
    cr_assert(strcmp(str(a0, "attempted_at"), str(a1, "attempted_at")) < 0);
    test_api_free(&r);

    /* Another tenant or the live key: 404 for the delivery, its retry and the list. */
    char msg[160], retry[420];
    snprintf(msg, sizeof(msg), "Webhook delivery with ID %s not found or access denied", did);
    snprintf(retry, sizeof(retry), "%s/retry", dpath);
    const char *keys[] = {other.key, t.live};
    for (size_t k = 0; k < 2; k++) {
        r = call("GET", dpath, keys[k], NULL);
        test_assert_error(&r, 404, "not_found", "id", msg);
        test_api_free(&r);
        r = call("POST", retry, keys[k], NULL);
        test_assert_error(&r, 404, "not_found", "id", msg);
        test_api_free(&r);
        r = call("GET", path, keys[k], NULL);
        cr_assert_eq(r.status, 404, "%s", r.text);
        test_api_free(&r);
    }
    char *v = test_sql_value("SELECT status FROM webhook_deliveries WHERE id = $1", did);
    cr_assert_str_eq(v, "failed");
    free(v);

    /* Retry: pending, due now, the lease taken away. */
    r = call("POST", retry, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(str(r.json, "id"), did);
    cr_assert_str_eq(str(r.json, "status"), "pending");
    cr_assert(json_is_string(json_object_get(r.json, "next_attempt_at")), "%s", r.text);
    test_api_free(&r);
    v = test_sql_value("SELECT (leased_by IS DISTINCT FROM 'test-worker')"
                       " AND next_attempt_at <= now() + interval '1 second'"
                       " FROM webhook_deliveries WHERE id = $1",
                       did);
    cr_assert_str_eq(v, "t");
    free(v);

    /* Not while the endpoint is disabled. */
    char epath[160];
    snprintf(epath, sizeof(epath), "/webhook-endpoints/%s", eid);
    r = call("PATCH", epath, t.key, "{\"disabled\": true}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    r = call("POST", retry, t.key, NULL);
    cr_assert_eq(r.status, 409, "%s", r.text);
    cr_assert_str_eq(str(r.json, "code"), "invalid_state");
    test_api_free(&r);

    r = call("GET", "/webhook-deliveries/987e6543-e89b-12d3-a456-426614174000", t.key, NULL);
    test_assert_error(&r, 404, "not_found", "id",
                      "Webhook delivery with ID 987e6543-e89b-12d3-a456-426614174000 not found or "
                      "access denied");
    test_api_free(&r);
    snprintf(dpath, sizeof(dpath), "%s?starting_after=%s", path, event_id);
    r = call("GET", dpath, t.key, NULL);
    test_assert_error(&r, 400, "validation_error", "starting_after",
                      "starting_after must be the id of one of this endpoint's deliveries");
    test_api_free(&r);

    /* A deleted endpoint takes its deliveries out of the API. */
    r = call("DELETE", epath, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    snprintf(dpath, sizeof(dpath), "/webhook-deliveries/%s", did);
    r = call("GET", dpath, t.key, NULL);
    test_assert_error(&r, 404, "not_found", "id", msg);
    test_api_free(&r);
    free(did);
    free(event_id);
    free(session);
    json_decref(e);
}
