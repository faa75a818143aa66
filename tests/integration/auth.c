/* Authentication and tenant isolation on every route. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static char *create_session(const char *key)
{
    char *body = test_body(NULL);
    struct api_response r = test_create(key, body);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    char *id = strdup(json_string_value(json_object_get(r.json, "checkout_session_id")));
    test_api_free(&r);
    return id;
}

Test(auth, missing_key_is_401_on_every_route)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    struct api_response r = test_api("POST", "/checkout-sessions", NULL, "{}", h);
    test_assert_error(&r, 401, "authentication_error", NULL, "API key is missing");
    test_api_free(&r);
    r = test_api("GET", "/checkout-sessions", NULL, NULL, NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "API key is missing");
    test_api_free(&r);
    r = test_api("GET", "/v1/checkout-sessions/123e4567-e89b-12d3-a456-426614174000", NULL, NULL,
                 NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "API key is missing");
    test_api_free(&r);
}

Test(auth, unknown_or_malformed_key_is_401)
{
    struct api_response r =
        test_api("GET", "/checkout-sessions", "sk_test_0000000000000000000000000000000000000000",
                 NULL, NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "Invalid API key");
    test_api_free(&r);
    r = test_api("GET", "/checkout-sessions", "your-api-key", NULL, NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "Invalid API key");
    test_api_free(&r);
}

Test(auth, bearer_authorization_is_accepted)
{
    char h[200];
    snprintf(h, sizeof(h), "Authorization: Bearer %s", test_env("CAISSE_TEST_KEY_A"));
    const char *headers[] = {h, NULL};
    struct api_response r = test_api("GET", "/checkout-sessions?limit=1", NULL, NULL, headers);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
}

Test(auth, revoked_key_stops_working_within_the_cache_ttl)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s create-key --org %s --env test 2>/dev/null",
             test_env("CAISSE_TEST_ADMIN"), test_env("CAISSE_TEST_ORG_A"));
    FILE *p = popen(cmd, "r");
    char key[128] = "";
    cr_assert(fgets(key, sizeof(key), p) != NULL);
    pclose(p);
    key[strcspn(key, "\n")] = '\0';
    struct api_response r = test_api("GET", "/checkout-sessions?limit=1", key, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    char *key_id = test_sql_value("SELECT id FROM api_keys WHERE last4 = $1 AND revoked_at IS NULL"
                                  " ORDER BY created_at DESC LIMIT 1",
                                  key + strlen(key) - 4);
    cr_assert(key_id != NULL);
    cr_assert_eq(
        test_shell("%s revoke-key %s >/dev/null 2>&1", test_env("CAISSE_TEST_ADMIN"), key_id), 0);
    free(key_id);
    test_sleep_ms(1500); /* CAISSE_API_KEY_CACHE_TTL=1 in the test stack */
    r = test_api("GET", "/checkout-sessions?limit=1", key, NULL, NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "Invalid API key");
    test_api_free(&r);
}

Test(auth, another_organizations_session_is_404)
{
    char *id = create_session(test_env("CAISSE_TEST_KEY_A"));
    char path[128], message[160];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", id);
    snprintf(message, sizeof(message), "Checkout session with ID %s not found or access denied",
             id);
    struct api_response r = test_api("GET", path, test_env("CAISSE_TEST_KEY_B"), NULL, NULL);
    test_assert_error(&r, 404, "not_found", "id", message);
    test_api_free(&r);
    free(id);
}

Test(auth, live_key_does_not_see_test_sessions)
{
    char *id = create_session(test_env("CAISSE_TEST_KEY_A"));
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", id);
    struct api_response r = test_api("GET", path, test_env("CAISSE_TEST_KEY_A_LIVE"), NULL, NULL);
    test_assert_error(&r, 404, "not_found", "id", NULL);
    test_api_free(&r);
    r = test_api("GET", path, test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "environment")), "test");
    test_api_free(&r);
    /* And a live key creates live sessions. */
    char *live = create_session(test_env("CAISSE_TEST_KEY_A_LIVE"));
    snprintf(path, sizeof(path), "/checkout-sessions/%s", live);
    r = test_api("GET", path, test_env("CAISSE_TEST_KEY_A_LIVE"), NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "environment")), "live");
    test_api_free(&r);
    free(id);
    free(live);
}

Test(auth, lists_never_show_other_tenants_sessions)
{
    char *id = create_session(test_env("CAISSE_TEST_KEY_A"));
    const char *others[] = {"CAISSE_TEST_KEY_B", "CAISSE_TEST_KEY_A_LIVE"};
    for (int k = 0; k < 2; k++) {
        struct api_response r =
            test_api("GET", "/checkout-sessions?limit=100", test_env(others[k]), NULL, NULL);
        cr_assert_eq(r.status, 200);
        size_t i;
        json_t *s;
        json_array_foreach(r.json, i, s)
        {
            cr_assert_str_neq(json_string_value(json_object_get(s, "checkout_session_id")), id);
            /* Tenant A's live key sees tenant A's live sessions (idempotency.c
             * makes some, maybe at the same time): never a test one. */
            if (k == 0)
                cr_assert_str_neq(json_string_value(json_object_get(s, "organization_id")),
                                  test_env("CAISSE_TEST_ORG_A"));
            else
                cr_assert_str_eq(json_string_value(json_object_get(s, "environment")), "live");
        }
        test_api_free(&r);
    }
    free(id);
}

Test(routes, unknown_route_is_404_and_wrong_method_405)
{
    const char *key = test_env("CAISSE_TEST_KEY_A");
    struct api_response r = test_api("GET", "/nope", key, NULL, NULL);
    test_assert_error(&r, 404, "not_found", NULL, NULL);
    test_api_free(&r);
    r = test_api("DELETE", "/checkout-sessions/123e4567-e89b-12d3-a456-426614174000", key, NULL,
                 NULL);
    test_assert_error(&r, 405, "method_not_allowed", NULL, NULL);
    test_api_free(&r);
    r = test_api("PUT", "/v1/checkout-sessions", key, NULL, NULL);
    test_assert_error(&r, 405, "method_not_allowed", NULL, NULL);
    test_api_free(&r);
}

Test(routes, request_id_is_echoed_or_generated)
{
    const char *h[] = {"X-Request-Id: merchant-trace-42", NULL};
    struct api_response r =
        test_api("GET", "/checkout-sessions?limit=1", test_env("CAISSE_TEST_KEY_A"), NULL, h);
    cr_assert_str_eq(r.request_id, "merchant-trace-42");
    test_api_free(&r);
    const char *bad[] = {"X-Request-Id: has spaces and <tags>", NULL};
    r = test_api("GET", "/checkout-sessions?limit=1", test_env("CAISSE_TEST_KEY_A"), NULL, bad);
    cr_assert(strlen(r.request_id) == 36, "generated id expected, got %s", r.request_id);
    test_api_free(&r);
}

Test(routes, health_endpoints_answer)
{
    struct api_response r = test_api("GET", "/healthz", NULL, NULL, NULL);
    cr_assert_eq(r.status, 200);
    test_api_free(&r);
    r = test_api("GET", "/readyz", NULL, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ready");
    test_api_free(&r);
}
