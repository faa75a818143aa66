/* GET /checkout-sessions: filters, both kinds of pagination, validation.
 * Only pagination_and_filters creates sessions in the list tenant, so its
 * assertions about whole pages hold while other suites run in parallel. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static const char *key(void)
{
    return test_env("CAISSE_TEST_KEY_LIST");
}

static struct api_response list(const char *query)
{
    char path[256];
    snprintf(path, sizeof(path), "/checkout-sessions%s", query);
    return test_api("GET", path, key(), NULL, NULL);
}

static const char *id_at(const struct api_response *r, size_t i)
{
    return json_string_value(json_object_get(json_array_get(r->json, i), "checkout_session_id"));
}

Test(list, pagination_and_filters)
{
    enum { N = 7 };
    char ids[N][64];
    for (int i = 0; i < N; i++) {
        char extra[64];
        snprintf(extra, sizeof(extra), "{\"amount\": %d}", 100 + i);
        char *body = test_body(extra);
        struct api_response r = test_create(key(), body);
        free(body);
        cr_assert_eq(r.status, 201, "%s", r.text);
        snprintf(ids[i], sizeof(ids[i]), "%s",
                 json_string_value(json_object_get(r.json, "checkout_session_id")));
        test_api_free(&r);
    }
    /* Default page: a bare array, newest first. */
    struct api_response all = list("");
    cr_assert_eq(all.status, 200);
    cr_assert(json_is_array(all.json));
    cr_assert_geq(json_array_size(all.json), N);
    for (int i = 0; i < N; i++)
        cr_assert_str_eq(id_at(&all, (size_t)i), ids[N - 1 - i], "position %d", i);
    test_api_free(&all);

    /* Offset pagination. */
    struct api_response p1 = list("?limit=3");
    struct api_response p2 = list("?limit=3&offset=3");
    cr_assert_eq(json_array_size(p1.json), 3);
    cr_assert_eq(json_array_size(p2.json), 3);
    cr_assert_str_eq(id_at(&p1, 0), ids[6]);
    cr_assert_str_eq(id_at(&p1, 2), ids[4]);
    cr_assert_str_eq(id_at(&p2, 0), ids[3]);
    cr_assert_str_eq(id_at(&p2, 2), ids[1]);

    /* Cursor pagination gives the same pages. */
    char q[160];
    snprintf(q, sizeof(q), "?limit=3&starting_after=%s", id_at(&p1, 2));
    struct api_response c2 = list(q);
    cr_assert_eq(c2.status, 200, "%s", c2.text);
    cr_assert(json_equal(c2.json, p2.json), "%s\n%s", c2.text, p2.text);
    snprintf(q, sizeof(q), "/v1/checkout-sessions?limit=100&starting_after=%s", ids[1]);
    struct api_response tail = test_api("GET", q, key(), NULL, NULL);
    cr_assert_str_eq(id_at(&tail, 0), ids[0]);
    test_api_free(&p1);
    test_api_free(&p2);
    test_api_free(&c2);
    test_api_free(&tail);

    /* Status filters. */
    struct api_response open = list("?status=open&limit=100");
    cr_assert_geq(json_array_size(open.json), N);
    size_t i;
    json_t *s;
    json_array_foreach(open.json, i, s)
    {
        cr_assert_str_eq(json_string_value(json_object_get(s, "status")), "open");
    }
    test_api_free(&open);
    struct api_response complete = list("?status=complete");
    cr_assert_eq(complete.status, 200);
    cr_assert_eq(json_array_size(complete.json), 0);
    test_api_free(&complete);
}

Test(list, rejects_malformed_parameters)
{
    struct {
        const char *query, *param, *message;
    } cases[] = {
        {"?status=paid", "status", "status must be one of open, complete, expired"},
        {"?limit=0", "limit", "limit must be an integer from 1 to 100"},
        {"?limit=101", "limit", "limit must be an integer from 1 to 100"},
        {"?limit=abc", "limit", "limit must be an integer from 1 to 100"},
        {"?limit=5.5", "limit", "limit must be an integer from 1 to 100"},
        {"?offset=-1", "offset", "offset must be a non-negative integer"},
        {"?offset=x", "offset", "offset must be a non-negative integer"},
        {"?offset=10001", "offset",
         "offset must be at most 10000; use starting_after to page further"},
        {"?starting_after=42", "starting_after",
         "starting_after must be a checkout session id (UUID)"},
        {"?starting_after=987e6543-e89b-12d3-a456-426614174000", "starting_after",
         "starting_after must be the id of one of your checkout sessions"},
        {"?page=2", "page", "Unknown query parameter: page"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct api_response r = list(cases[i].query);
        test_assert_error(&r, 400, "validation_error", cases[i].param, cases[i].message);
        test_api_free(&r);
    }
}

Test(list, offset_past_the_end_is_an_empty_array)
{
    /* The deepest offset allowed; the tenant has far fewer sessions. */
    struct api_response r = list("?offset=10000");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.text, "[]");
    test_api_free(&r);
}
