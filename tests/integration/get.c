/* GET /checkout-sessions/:id */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

Test(get, malformed_id_is_400)
{
    const char *ids[] = {
        "not-a-uuid", "987e6543-e89b-12d3-a456-42661417400", "987e6543e89b12d3a456426614174000",
        "{987e6543-e89b-12d3-a456-426614174000}", "987e6543-e89b-12d3-a456-42661417400g"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/checkout-sessions/%s", ids[i]);
        struct api_response r = test_api("GET", path, test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
        test_assert_error(&r, 400, "validation_error", "id", "Checkout session id must be a UUID");
        test_api_free(&r);
    }
}

Test(get, unknown_id_is_404_with_the_reference_message)
{
    struct api_response r =
        test_api("GET", "/checkout-sessions/987e6543-e89b-12d3-a456-426614174000",
                 test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
    test_assert_error(
        &r, 404, "not_found", "id",
        "Checkout session with ID 987e6543-e89b-12d3-a456-426614174000 not found or access denied");
    test_api_free(&r);
}

Test(get, accepts_upper_case_ids_and_v1_prefix)
{
    char *body = test_body(NULL);
    struct api_response c = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(c.status, 201);
    char id[64], path[128];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(c.json, "checkout_session_id")));
    for (char *p = id; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(path, sizeof(path), "/v1/checkout-sessions/%s", id);
    struct api_response r = test_api("GET", path, test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_equal(r.json, c.json));
    test_api_free(&r);
    test_api_free(&c);
}

Test(get, never_shows_open_past_expires_at)
{
    /* The expiry worker may not have run yet (it sweeps every few seconds);
     * the read must say expired as soon as expires_at has passed, whether the
     * stored status is still open or already expired. Own tenant: list-live. */
    const char *key = test_env("CAISSE_TEST_KEY_LIST_LIVE");
    char *body = test_body(NULL);
    struct api_response c = test_create(key, body);
    free(body);
    cr_assert_eq(c.status, 201);
    const char *id = json_string_value(json_object_get(c.json, "checkout_session_id"));
    char path[128];
    char *stored =
        test_sql_value("UPDATE checkout_sessions SET expires_at = now() - interval '1 second'"
                       " WHERE id = $1 RETURNING status",
                       id);
    cr_assert_str_eq(stored, "open");
    free(stored);
    snprintf(path, sizeof(path), "/checkout-sessions/%s", id);
    struct api_response r = test_api("GET", path, key, NULL, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "expired");
    test_api_free(&r);
    r = test_api("GET", "/checkout-sessions?status=open&limit=100", key, NULL, NULL);
    size_t i;
    json_t *s;
    json_array_foreach(r.json, i, s)
    {
        cr_assert_str_neq(json_string_value(json_object_get(s, "checkout_session_id")), id);
    }
    test_api_free(&r);
    r = test_api("GET", "/checkout-sessions?status=expired&limit=100", key, NULL, NULL);
    bool seen = false;
    json_array_foreach(r.json, i, s)
    {
        seen =
            seen || strcmp(json_string_value(json_object_get(s, "checkout_session_id")), id) == 0;
        cr_assert_str_eq(json_string_value(json_object_get(s, "status")), "expired");
    }
    cr_assert(seen, "expired filter misses a session past its expires_at");
    test_api_free(&r);
    test_api_free(&c);
}
