/* The OpenAPI document on the gateway (GET /openapi.json) and the routing facts it
 * states that a response body does not show: which listener serves what, and the
 * methods of each path (a 405's Allow). tests/openapi checks every response of the
 * suite against the document itself. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define SOME_ID "123e4567-e89b-12d3-a456-426614174000"

static char *read_whole_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    cr_assert(size > 0);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    cr_assert(text != NULL);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

Test(openapi, gateway_serves_the_repository_document_without_authentication)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/common/contracts/openapi.json", test_env("CAISSE_TEST_REPO"));
    char *authored = read_whole_file(path);
    const char *const routes[] = {"/openapi.json", "/v1/openapi.json"};
    for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
        struct api_response r = test_api("GET", routes[i], NULL, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s: %ld %s", routes[i], r.status, r.text);
        cr_assert_str_eq(r.content_type, "application/json");
        cr_assert_str_eq(r.text, authored, "%s is not common/contracts/openapi.json as built",
                         routes[i]);
        cr_assert_str_eq(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
        test_api_free(&r);
    }
    free(authored);
}

Test(openapi, document_is_not_served_on_the_internal_listener)
{
    struct api_response r =
        test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "GET", "/openapi.json", NULL, NULL, NULL);
    test_assert_error(&r, 404, "not_found", NULL, "Route GET /openapi.json not found");
    test_api_free(&r);
}

Test(openapi, method_not_allowed_lists_exactly_the_methods_of_the_path)
{
    struct {
        const char *listener_env, *method, *path, *allow;
    } cases[] = {
        {"CAISSE_TEST_URL", "POST", "/openapi.json", "GET"},
        {"CAISSE_TEST_URL", "DELETE", "/checkout-sessions", "GET, POST"},
        {"CAISSE_TEST_URL", "POST", "/checkout-sessions/" SOME_ID, "GET"},
        {"CAISSE_TEST_URL", "GET", "/v1/checkout-sessions/" SOME_ID "/expire", "POST"},
        {"CAISSE_TEST_URL", "PUT", "/webhook-endpoints/" SOME_ID, "GET, PATCH, DELETE"},
        {"CAISSE_TEST_URL", "POST", "/healthz", "GET, HEAD"},
        {"CAISSE_TEST_INTERNAL_URL", "DELETE", "/readyz", "GET, HEAD"},
        {"CAISSE_TEST_INTERNAL_URL", "GET", "/internal/checkout-sessions/" SOME_ID "/complete",
         "POST"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct api_response r =
            test_api_at(test_env(cases[i].listener_env), cases[i].method, cases[i].path,
                        test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
        test_assert_error(&r, 405, "method_not_allowed", NULL, NULL);
        const char *allow = json_string_value(json_object_get(r.headers, "allow"));
        cr_assert(allow != NULL, "%s %s: no Allow header", cases[i].method, cases[i].path);
        cr_assert_str_eq(allow, cases[i].allow, "%s %s", cases[i].method, cases[i].path);
        test_api_free(&r);
    }
}

Test(openapi, health_and_readiness_answer_head_without_a_body)
{
    const char *const envs[] = {"CAISSE_TEST_URL", "CAISSE_TEST_INTERNAL_URL"};
    const char *const paths[] = {"/healthz", "/v1/readyz"};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 2; j++) {
            struct api_response r =
                test_api_at(test_env(envs[i]), "HEAD", paths[j], NULL, NULL, NULL);
            cr_assert_eq(r.status, 200, "HEAD %s on %s: %ld", paths[j], envs[i], r.status);
            cr_assert_str_eq(r.text, "");
            cr_assert(r.request_id[0] != '\0');
            test_api_free(&r);
        }
    }
}
