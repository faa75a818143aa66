/* Security headers on every answer of the gateway: no browser guesses another
 * type than the one given (X-Content-Type-Options: nosniff), and no cache keeps
 * a tenant's data (Cache-Control: no-store), on both listeners, for successes
 * and errors alike. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static void assert_security_headers(const struct api_response *r, const char *what)
{
    const char *nosniff = json_string_value(json_object_get(r->headers, "x-content-type-options"));
    const char *cache = json_string_value(json_object_get(r->headers, "cache-control"));
    cr_assert(nosniff != NULL && strcmp(nosniff, "nosniff") == 0,
              "%s (%ld): X-Content-Type-Options is %s", what, r->status,
              nosniff != NULL ? nosniff : "missing");
    cr_assert(cache != NULL && strcmp(cache, "no-store") == 0, "%s (%ld): Cache-Control is %s",
              what, r->status, cache != NULL ? cache : "missing");
}

Test(headers, every_authenticated_read_is_nosniff_and_no_store)
{
    const char *key = test_env("CAISSE_TEST_KEY_A");
    char *body = test_body(NULL);
    struct api_response c = test_create(key, body);
    free(body);
    cr_assert(c.status == 201 || c.status == 202, "%s", c.text);
    assert_security_headers(&c, "POST /checkout-sessions");
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s",
             json_string_value(json_object_get(c.json, "checkout_session_id")));
    const char *const reads[] = {path, "/checkout-sessions?limit=2", "/v1/events?limit=1",
                                 "/webhook-endpoints",
                                 "/checkout-sessions/00000000-0000-7000-8000-000000000000"};
    for (size_t i = 0; i < sizeof(reads) / sizeof(*reads); i++) {
        struct api_response r = test_api("GET", reads[i], key, NULL, NULL);
        cr_assert(r.status == 200 || r.status == 404, "GET %s: %ld", reads[i], r.status);
        assert_security_headers(&r, reads[i]);
        test_api_free(&r);
    }
    test_api_free(&c);
}

Test(headers, errors_and_unauthenticated_answers_carry_them_too)
{
    struct {
        const char *method, *path, *key;
    } cases[] = {
        {"GET", "/checkout-sessions", NULL},                        /* 401 */
        {"GET", "/checkout-sessions?bogus=1", "CAISSE_TEST_KEY_A"}, /* 400 */
        {"GET", "/no-such-route", "CAISSE_TEST_KEY_A"},             /* 404 */
        {"PUT", "/checkout-sessions", "CAISSE_TEST_KEY_A"},         /* 405 */
        {"GET", "/healthz", NULL},
        {"GET", "/readyz", NULL},
        {"GET", "/openapi.json", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct api_response r = test_api(cases[i].method, cases[i].path,
                                         cases[i].key ? test_env(cases[i].key) : NULL, NULL, NULL);
        char what[128];
        snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
        assert_security_headers(&r, what);
        test_api_free(&r);
    }
    struct api_response m =
        test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "GET", "/metrics", NULL, NULL, NULL);
    cr_assert_eq(m.status, 200);
    assert_security_headers(&m, "GET /metrics (internal)");
    test_api_free(&m);
}
