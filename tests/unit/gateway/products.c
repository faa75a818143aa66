/* The products' rules: every field of POST and PATCH /products with the exact
 * message and param a client sees, the defaults, and the changes an update
 * makes. The handlers themselves run against the stack (tests/integration/products.c). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "../../../gateway/products.h"
#include "../leak_check.h"

TestSuite(products, .fini = unit_leak_check);

static const struct tenant_identity who = {.organization_id =
                                               "789e0123-e89b-12d3-a456-426614174000",
                                           .environment = "test",
                                           .default_currency = "XOF"};

static json_t *parse(const char *text)
{
    json_error_t jerr;
    /* JSON_ALLOW_NUL: the rules, not the parser, must stop "\u0000". */
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(j, "test body does not parse: %s (%s)", jerr.text, text);
    return j;
}

static int create(const char *text, struct product *p, struct error *err)
{
    json_t *body = parse(text);
    cr_assert_eq(product_init(p), C_OK);
    p->active = false; /* the rules set the default */
    int rc = products_validate_create(body, &who, p, err);
    json_decref(body);
    return rc;
}

static void expect_create_error(const char *text, const char *param, const char *message)
{
    struct product p;
    struct error err = ERROR_INIT;
    cr_assert_eq(create(text, &p, &err), C_ERR, "accepted %s", text);
    cr_assert_str_eq(err.message, message, "%s", text);
    cr_assert_str_eq(err.param, param, "%s", text);
    product_free(&p);
}

static json_t *update(const char *text, struct error *err)
{
    json_t *body = parse(text);
    json_t *changes = NULL;
    int rc = products_validate_update(body, &changes, err);
    json_decref(body);
    if (rc != C_OK) {
        cr_assert_null(changes, "no changes given on failure");
        return NULL;
    }
    cr_assert_not_null(changes);
    return changes;
}

static void expect_update_error(const char *text, const char *param, const char *message)
{
    struct error err = ERROR_INIT;
    cr_assert_null(update(text, &err), "accepted %s", text);
    cr_assert_str_eq(err.message, message, "%s", text);
    cr_assert_str_eq(err.param, param, "%s", text);
}

Test(products, a_full_create_fills_every_field_and_defaults_to_active)
{
    struct product p;
    struct error err = ERROR_INIT;
    cr_assert_eq(
        create("{\"name\": \"Premium\", \"description\": \"All\", \"metadata\": {\"a\": 1}}", &p,
               &err),
        C_OK, "%s", err.message);
    cr_assert_str_eq(p.name, "Premium");
    cr_assert_str_eq(p.description, "All");
    cr_assert(p.active);
    cr_assert_eq(json_integer_value(json_object_get(p.metadata, "a")), 1);
    product_free(&p);
    cr_assert_eq(create("{\"name\": \"Later\", \"active\": false, \"description\": null,"
                        " \"metadata\": null}",
                        &p, &err),
                 C_OK, "%s", err.message);
    cr_assert_not(p.active);
    cr_assert_null(p.description);
    cr_assert_eq(json_object_size(p.metadata), 0);
    product_free(&p);
}

Test(products, create_messages)
{
    char body[3000], name[600];
    expect_create_error("{}", "name", "name is required");
    expect_create_error("{\"name\": null}", "name", "name is required");
    expect_create_error("{\"name\": [\"x\"]}", "name", "name must be a string");
    expect_create_error("{\"name\": \"\"}", "name", "name must not be empty");
    expect_create_error("{\"name\": \" \\n\\t\"}", "name", "name must not be empty");
    expect_create_error("{\"name\": \"a\\u0000b\"}", "name",
                        "name must not contain NUL characters");
    memset(name, 'n', 251);
    name[251] = '\0';
    snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
    expect_create_error(body, "name", "name must be at most 250 characters");
    /* Characters, not bytes. */
    for (int i = 0; i < 250; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[500] = '\0';
    snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
    struct product p;
    struct error err = ERROR_INIT;
    cr_assert_eq(create(body, &p, &err), C_OK, "%s", err.message);
    product_free(&p);
    expect_create_error("{\"name\": \"x\", \"description\": 1}", "description",
                        "description must be a string");
    char description[2100];
    memset(description, 'd', 2001);
    description[2001] = '\0';
    snprintf(body, sizeof(body), "{\"name\": \"x\", \"description\": \"%s\"}", description);
    expect_create_error(body, "description", "description must be at most 2000 characters");
    expect_create_error("{\"name\": \"x\", \"active\": \"true\"}", "active",
                        "active must be a boolean");
    expect_create_error("{\"name\": \"x\", \"metadata\": 5}", "metadata",
                        "metadata must be an object");
    expect_create_error("{\"name\": \"x\", \"metadata\": {\"\": \"v\"}}", "metadata",
                        "metadata keys must be 1 to 40 characters");
    expect_create_error("{\"name\": \"x\", \"product_id\": \"x\"}", "product_id",
                        "Unknown parameter: product_id");
    expect_create_error("{\"name\": \"x\", \"default_price_id\": null}", "default_price_id",
                        "Unknown parameter: default_price_id");
}

Test(products, an_update_gives_only_the_changes_named)
{
    struct error err = ERROR_INIT;
    json_t *c = update("{}", &err);
    cr_assert_eq(json_object_size(c), 0, "nothing to change");
    json_decref(c);
    c = update("{\"name\": \"Gold\", \"active\": false}", &err);
    char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"active\":false,\"name\":\"Gold\"}");
    free(text);
    json_decref(c);
    /* null clears the description and empties the metadata. */
    c = update("{\"description\": null, \"metadata\": null}", &err);
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"description\":null,\"metadata\":{}}");
    free(text);
    json_decref(c);
    c = update("{\"description\": \"New\", \"metadata\": {\"k\": true}}", &err);
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"description\":\"New\",\"metadata\":{\"k\":true}}");
    free(text);
    json_decref(c);
    /* The default price: a UUID, lower-cased, or null to clear it. */
    c = update("{\"default_price_id\": \"0190A6E4-6B2C-7D3E-8F41-0000000000B1\"}", &err);
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"default_price_id\":\"0190a6e4-6b2c-7d3e-8f41-0000000000b1\"}");
    free(text);
    json_decref(c);
    c = update("{\"default_price_id\": null}", &err);
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"default_price_id\":null}");
    free(text);
    json_decref(c);
}

Test(products, update_messages)
{
    expect_update_error("{\"name\": null}", "name", "name cannot be removed");
    expect_update_error("{\"name\": 3}", "name", "name must be a string");
    expect_update_error("{\"name\": \"\"}", "name", "name must not be empty");
    expect_update_error("{\"active\": null}", "active", "active must be a boolean");
    expect_update_error("{\"active\": \"false\"}", "active", "active must be a boolean");
    expect_update_error("{\"description\": false}", "description", "description must be a string");
    expect_update_error("{\"metadata\": []}", "metadata", "metadata must be an object");
    expect_update_error("{\"created_at\": \"2024-01-15T10:30:00Z\"}", "created_at",
                        "Unknown parameter: created_at");
    expect_update_error("{\"organization_id\": null}", "organization_id",
                        "Unknown parameter: organization_id");
    expect_update_error("{\"default_price_id\": \"yearly\"}", "default_price_id",
                        "default_price_id must be a UUID");
    expect_update_error("{\"default_price_id\": false}", "default_price_id",
                        "default_price_id must be a UUID");
}

Test(products, the_descriptor_names_the_store_and_the_rules)
{
    cr_assert_eq(products_catalog.store, &product_store);
    cr_assert_eq(products_catalog.validate_create, products_validate_create);
    cr_assert_eq(products_catalog.validate_update, products_validate_update);
    cr_assert_null(products_catalog.check_create, "a product names no other object");
    cr_assert_eq(products_catalog.check_update, products_check_update, "its default price");
}
