/* The OpenAPI document compiled into the gateway (common/contracts/openapi.json through
 * gateway/openapi_embed.sh): what GET /openapi.json serves. The Node checker
 * (tests/openapi) validates its content; this is what JSON.parse cannot see. */
#include <criterion/criterion.h>

#include <string.h>

#include <jansson.h>

#include "../../../gateway/openapi.h"
#include "../leak_check.h"

TestSuite(openapi, .fini = unit_leak_check);

Test(openapi, embedded_document_is_one_nul_free_text)
{
    cr_assert_gt(openapi_document_len, 0);
    cr_assert_eq(strlen((const char *)openapi_document), openapi_document_len,
                 "a NUL inside the document would cut the served text short");
}

Test(openapi, embedded_document_has_no_duplicate_keys)
{
    /* JSON.parse keeps the last of two equal keys without a word, so a key
     * written twice by hand would silently drop half of an object. */
    json_error_t err;
    json_t *doc = json_loadb((const char *)openapi_document, openapi_document_len,
                             JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(doc, "common/contracts/openapi.json line %d column %d: %s", err.line,
                       err.column, err.text);
    json_decref(doc);
}

Test(openapi, embedded_document_is_openapi_3_1_with_the_api_paths)
{
    json_t *doc = json_loadb((const char *)openapi_document, openapi_document_len, 0, NULL);
    cr_assert_not_null(doc);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    cr_assert(json_is_object(json_object_get(paths, "/checkout-sessions")));
    cr_assert(json_is_object(json_object_get(paths, "/openapi.json")));
    cr_assert(json_is_object(json_object_get(paths, "/internal/checkout-sessions/{id}/complete")));
    json_decref(doc);
}
