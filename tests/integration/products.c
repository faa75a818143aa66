/* Products against the real stack: every rule and message, tenancy, the
 * Idempotency-Key (replays, conflicts, concurrent retries), updates and
 * archiving, list filters and the cursor, and the events on Kafka. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/uuid.h"
#include "catalog_support.h"
#include "support.h"
#include "webhook_support.h"

Test(products, create_then_get_and_list)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    struct api_response r = ct_call("POST", "/products", t.key,
                                    "{\"name\": \"Premium plan\", \"description\": \"Everything\","
                                    " \"metadata\": {\"tier\": \"gold\"}}");
    cr_assert_eq(r.status, 201, "%s", r.text);
    json_t *p = r.json;
    const char *id = ct_str(p, "product_id");
    cr_assert(uuid_is_valid(id), "%s", r.text);
    cr_assert_str_eq(ct_str(p, "organization_id"), t.org);
    cr_assert_str_eq(ct_str(p, "name"), "Premium plan");
    cr_assert_str_eq(ct_str(p, "description"), "Everything");
    cr_assert(json_is_true(json_object_get(p, "active")));
    cr_assert(json_is_null(json_object_get(p, "default_price_id")));
    cr_assert_str_eq(ct_str(json_object_get(p, "metadata"), "tier"), "gold");
    cr_assert_str_eq(ct_str(p, "environment"), "test");
    cr_assert_eq(strlen(ct_str(p, "created_at")), 20);
    cr_assert_str_eq(ct_str(p, "created_at"), ct_str(p, "updated_at"));
    cr_assert_eq(json_object_size(p), 10, "%s", r.text);
    char location[128];
    snprintf(location, sizeof(location), "/products/%s", id);
    cr_assert_str_eq(r.location, location);

    struct api_response g = ct_call("GET", location, t.key, NULL);
    cr_assert_eq(g.status, 200, "%s", g.text);
    cr_assert(json_equal(g.json, p), "%s\n%s", g.text, r.text);
    test_api_free(&g);
    char v1[140];
    snprintf(v1, sizeof(v1), "/v1%s", location);
    g = ct_call("GET", v1, t.key, NULL);
    cr_assert_eq(g.status, 200);
    test_api_free(&g);

    struct api_response l = ct_call("GET", "/products", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1, "%s", l.text);
    cr_assert(json_equal(json_array_get(l.json, 0), p));
    test_api_free(&l);
    test_api_free(&r);
}

Test(products, create_rules_and_messages)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    const char *k = t.key;
    const char *p = "/products";
    char body[3000], name[600];
    ct_expect_400(k, "POST", p, "{}", "name", "name is required");
    ct_expect_400(k, "POST", p, "{\"name\": null}", "name", "name is required");
    ct_expect_400(k, "POST", p, "{\"name\": 5}", "name", "name must be a string");
    ct_expect_400(k, "POST", p, "{\"name\": \"\"}", "name", "name must not be empty");
    ct_expect_400(k, "POST", p, "{\"name\": \" \\t \"}", "name", "name must not be empty");
    memset(name, 'n', 251);
    name[251] = '\0';
    snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
    ct_expect_400(k, "POST", p, body, "name", "name must be at most 250 characters");
    /* 250 characters, counted as characters (é is two bytes). */
    for (int i = 0; i < 250; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[500] = '\0';
    snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
    json_t *longest = ct_create("/products", k, body);
    cr_assert_str_eq(ct_str(longest, "name"), name);
    json_decref(longest);
    ct_expect_400(k, "POST", p, "{\"name\": \"x\", \"description\": 5}", "description",
                  "description must be a string");
    char description[2100];
    memset(description, 'd', 2001);
    description[2001] = '\0';
    snprintf(body, sizeof(body), "{\"name\": \"x\", \"description\": \"%s\"}", description);
    ct_expect_400(k, "POST", p, body, "description", "description must be at most 2000 characters");
    ct_expect_400(k, "POST", p, "{\"name\": \"x\", \"active\": \"yes\"}", "active",
                  "active must be a boolean");
    ct_expect_400(k, "POST", p, "{\"name\": \"x\", \"metadata\": []}", "metadata",
                  "metadata must be an object");
    ct_expect_400(k, "POST", p, "{\"name\": \"x\", \"metadata\": {\"k\": [1]}}", "metadata",
                  "metadata values must be strings, numbers or booleans");
    ct_expect_400(k, "POST", p, "{\"name\": \"x\", \"price\": 5}", "price",
                  "Unknown parameter: price");
    ct_expect_400(k, "POST", p, "[]", NULL, "Request body must be a JSON object");
    ct_expect_400(k, "POST", p, "{\"name\": ", NULL,
                  "Request body must be valid JSON (line 1, column 9)");
    struct api_response r = test_api("POST", p, k, "{\"name\": \"x\"}", NULL);
    test_assert_error(&r, 415, "unsupported_media_type", NULL,
                      "Content-Type must be application/json");
    test_api_free(&r);
    char long_key[300];
    memset(long_key, 'k', 256);
    long_key[256] = '\0';
    r = ct_call_keyed(p, k, long_key, "{\"name\": \"x\"}");
    test_assert_error(&r, 400, "validation_error", "Idempotency-Key",
                      "Idempotency-Key must be 1 to 255 characters");
    test_api_free(&r);
    r = test_api("POST", p, NULL, "{\"name\": \"x\"}", NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "API key is missing");
    test_api_free(&r);
    /* Nothing refused was created; inactive at creation is allowed. */
    json_t *inactive = ct_create("/products", k, "{\"name\": \"Later\", \"active\": false}");
    cr_assert(json_is_false(json_object_get(inactive, "active")));
    cr_assert(json_is_null(json_object_get(inactive, "description")));
    cr_assert_eq(json_object_size(json_object_get(inactive, "metadata")), 0);
    json_decref(inactive);
    r = ct_call("GET", "/products", k, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    test_api_free(&r);
}

Test(products, read_and_update_rules_and_messages)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    const char *k = t.key;
    json_t *p = ct_create("/products", k, "{\"name\": \"Plan\"}");
    char path[128], missing[128], unknown_id[UUID_STR_LEN];
    snprintf(path, sizeof(path), "/products/%s", ct_str(p, "product_id"));
    cr_assert_eq(uuid_v7_string(unknown_id), 0);
    snprintf(missing, sizeof(missing), "/products/%s", unknown_id);
    char msg[200];
    snprintf(msg, sizeof(msg), "Product with ID %s not found or access denied", unknown_id);

    ct_expect_400(k, "GET", "/products/nope", NULL, "id", "Product id must be a UUID");
    ct_expect_400(k, "PATCH", "/products/nope", "{\"name\": \"x\"}", "id",
                  "Product id must be a UUID");
    ct_expect_error(k, "GET", missing, NULL, 404, "not_found", "id", msg);
    ct_expect_error(k, "PATCH", missing, "{\"name\": \"x\"}", 404, "not_found", "id", msg);

    ct_expect_400(k, "PATCH", path, "{\"name\": null}", "name", "name cannot be removed");
    ct_expect_400(k, "PATCH", path, "{\"name\": \"  \"}", "name", "name must not be empty");
    ct_expect_400(k, "PATCH", path, "{\"active\": null}", "active", "active must be a boolean");
    ct_expect_400(k, "PATCH", path, "{\"active\": 1}", "active", "active must be a boolean");
    ct_expect_400(k, "PATCH", path, "{\"metadata\": \"x\"}", "metadata",
                  "metadata must be an object");
    ct_expect_400(k, "PATCH", path, "{\"product_id\": \"x\"}", "product_id",
                  "Unknown parameter: product_id");
    ct_expect_400(k, "PATCH", path, "{\"created_at\": \"2024-01-15T10:30:00Z\"}", "created_at",
                  "Unknown parameter: created_at");

    ct_expect_400(k, "GET", "/products?limit=0", NULL, "limit",
                  "limit must be an integer from 1 to 100");
    ct_expect_400(k, "GET", "/products?limit=101", NULL, "limit",
                  "limit must be an integer from 1 to 100");
    ct_expect_400(k, "GET", "/products?starting_after=x", NULL, "starting_after",
                  "starting_after must be a product id (UUID)");
    snprintf(path, sizeof(path), "/products?starting_after=%s", unknown_id);
    ct_expect_400(k, "GET", path, NULL, "starting_after",
                  "starting_after must be the id of one of your products");
    ct_expect_400(k, "GET", "/products?active=yes", NULL, "active", "active must be true or false");
    ct_expect_400(k, "GET", "/products?status=active", NULL, "status",
                  "Unknown query parameter: status");
    /* The product is as it was. */
    snprintf(path, sizeof(path), "/products/%s", ct_str(p, "product_id"));
    struct api_response r = ct_call("GET", path, k, NULL);
    cr_assert(json_equal(r.json, p), "%s", r.text);
    test_api_free(&r);
    json_decref(p);
}

Test(products, another_tenant_or_environment_sees_nothing)
{
    struct ct_tenant a, b;
    ct_tenant_new(&a, "Product tests");
    ct_tenant_new(&b, "Product tests");
    json_t *p = ct_create("/products", a.key, "{\"name\": \"Mine\"}");
    const char *id = ct_str(p, "product_id");
    char path[128], msg[200];
    snprintf(path, sizeof(path), "/products/%s", id);
    snprintf(msg, sizeof(msg), "Product with ID %s not found or access denied", id);
    const char *others[] = {b.key, a.live, b.live};
    for (size_t i = 0; i < 3; i++) {
        ct_expect_error(others[i], "GET", path, NULL, 404, "not_found", "id", msg);
        ct_expect_error(others[i], "PATCH", path, "{\"active\": false}", 404, "not_found", "id",
                        msg);
        struct api_response l = ct_call("GET", "/products", others[i], NULL);
        cr_assert_eq(l.status, 200);
        cr_assert_eq(json_array_size(l.json), 0, "%s", l.text);
        test_api_free(&l);
        char cursor[200];
        snprintf(cursor, sizeof(cursor), "/products?starting_after=%s", id);
        ct_expect_400(others[i], "GET", cursor, NULL, "starting_after",
                      "starting_after must be the id of one of your products");
    }
    /* Untouched by the refused updates. */
    struct api_response r = ct_call("GET", path, a.key, NULL);
    cr_assert(json_equal(r.json, p), "%s", r.text);
    test_api_free(&r);
    json_decref(p);
}

Test(products, same_idempotency_key_and_body_is_the_same_product)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    char idem[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(idem), 0);
    const char *body = "{\"name\": \"Plan\", \"metadata\": {\"a\": 1}}";
    struct api_response a = ct_call_keyed("/products", t.key, idem, body);
    cr_assert_eq(a.status, 201, "%s", a.text);
    cr_assert(!a.idempotent_replayed);
    struct api_response b = ct_call_keyed("/products", t.key, idem, body);
    cr_assert_eq(b.status, 201, "%s", b.text);
    cr_assert(b.idempotent_replayed);
    cr_assert(json_equal(a.json, b.json), "%s\n%s", a.text, b.text);
    cr_assert_str_eq(a.location, b.location);
    /* Spacing and key order do not make another request. */
    struct api_response c =
        ct_call_keyed("/products", t.key, idem, "{ \"metadata\":{\"a\":1},   \"name\":\"Plan\" }");
    cr_assert_eq(c.status, 201, "%s", c.text);
    cr_assert(c.idempotent_replayed);
    cr_assert_str_eq(ct_str(c.json, "product_id"), ct_str(a.json, "product_id"));
    /* Another body with the key: 409, and nothing created. */
    struct api_response d = ct_call_keyed("/products", t.key, idem, "{\"name\": \"Other\"}");
    test_assert_error(&d, 409, "idempotency_conflict", "Idempotency-Key",
                      "Idempotency-Key was reused with a different request payload");
    char *n = test_sql_value("SELECT count(*) FROM products WHERE idempotency_key = $1", idem);
    cr_assert_str_eq(n, "1");
    free(n);
    /* Keys are per tenant and environment. */
    struct api_response e = ct_call_keyed("/products", t.live, idem, body);
    cr_assert_eq(e.status, 201, "%s", e.text);
    cr_assert(!e.idempotent_replayed);
    cr_assert_str_neq(ct_str(e.json, "product_id"), ct_str(a.json, "product_id"));
    test_api_free(&a);
    test_api_free(&b);
    test_api_free(&c);
    test_api_free(&d);
    test_api_free(&e);
}

Test(products, concurrent_retries_of_a_keyed_create_make_one_product, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    char idem[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(idem), 0);
    char bodyfile[] = "/tmp/caisse-product-XXXXXX";
    int fd = mkstemp(bodyfile);
    cr_assert(fd >= 0);
    const char body[] = "{\"name\": \"Raced\"}";
    cr_assert_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    close(fd);
    char outdir[] = "/tmp/caisse-product-out-XXXXXX";
    cr_assert(mkdtemp(outdir) != NULL);
    enum { N = 8 };
    int rc = test_shell(
        "for i in $(seq 1 %d); do curl -s -o %s/$i -D %s/$i.h -X POST %s/products"
        " -H 'x-api-key: %s' -H 'Content-Type: application/json' -H 'Idempotency-Key: %s'"
        " --data-binary @%s & done; wait",
        N, outdir, outdir, test_env("CAISSE_TEST_URL"), t.key, idem, bodyfile);
    cr_assert_eq(rc, 0);
    char first[64] = "";
    for (int i = 1; i <= N; i++) {
        char path[128], headers[160];
        snprintf(path, sizeof(path), "%s/%d", outdir, i);
        snprintf(headers, sizeof(headers), "%s.h", path);
        test_capture_curl_files(test_env("CAISSE_TEST_URL"), "POST", "/products", headers, path);
        unlink(headers);
        json_t *o = json_load_file(path, 0, NULL);
        cr_assert(o != NULL, "answer %d is not JSON", i);
        const char *id = ct_str(o, "product_id");
        cr_assert(id != NULL, "answer %d has no product", i);
        if (first[0] == '\0')
            snprintf(first, sizeof(first), "%s", id);
        cr_assert_str_eq(id, first, "every answer names the one product");
        json_decref(o);
        unlink(path);
    }
    rmdir(outdir);
    unlink(bodyfile);
    char *n = test_sql_value("SELECT count(*) FROM products WHERE idempotency_key = $1", idem);
    cr_assert_str_eq(n, "1");
    free(n);
    /* One created event for it, whatever the retries. */
    json_t *events = test_kafka_events_for(first, 1, 20000);
    test_sleep_ms(500);
    json_decref(events);
    events = test_kafka_events_for(first, 1, 0);
    cr_assert_eq(json_array_size(events), 1);
    json_decref(events);
}

Test(products, update_changes_only_what_is_given_and_archives)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    json_t *p =
        ct_create("/products", t.key,
                  "{\"name\": \"Plan\", \"description\": \"Old\", \"metadata\": {\"a\": \"1\"}}");
    char path[128];
    snprintf(path, sizeof(path), "/products/%s", ct_str(p, "product_id"));
    test_sleep_ms(1100); /* updated_at moves on by a whole second */
    struct api_response r = ct_call("PATCH", path, t.key, "{\"name\": \"Gold plan\"}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "name"), "Gold plan");
    cr_assert_str_eq(ct_str(r.json, "description"), "Old");
    cr_assert_str_eq(ct_str(json_object_get(r.json, "metadata"), "a"), "1");
    cr_assert_str_eq(ct_str(r.json, "created_at"), ct_str(p, "created_at"));
    cr_assert(strcmp(ct_str(r.json, "updated_at"), ct_str(p, "updated_at")) > 0, "%s", r.text);
    cr_assert_str_eq(r.location, "", "an update names no new resource");
    struct api_response g = ct_call("GET", path, t.key, NULL);
    cr_assert(json_equal(g.json, r.json), "%s\n%s", g.text, r.text);
    test_api_free(&g);
    test_api_free(&r);

    r = ct_call("PATCH", path, t.key,
                "{\"description\": null, \"metadata\": {\"b\": true}, \"active\": false}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_null(json_object_get(r.json, "description")));
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 1, "replaced whole");
    cr_assert(json_is_true(json_object_get(json_object_get(r.json, "metadata"), "b")));
    cr_assert(json_is_false(json_object_get(r.json, "active")), "archived");
    test_api_free(&r);
    r = ct_call("PATCH", path, t.key, "{\"metadata\": null}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 0);
    json_t *before = json_incref(r.json);
    test_api_free(&r);
    /* Nothing to change: the product as it is, and no event. */
    r = ct_call("PATCH", path, t.key, "{}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_equal(r.json, before));
    test_api_free(&r);
    /* Archived is not deleted: still readable, active again on demand. */
    r = ct_call("PATCH", path, t.key, "{\"active\": true}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_true(json_object_get(r.json, "active")));
    test_api_free(&r);
    /* created, then one updated event per change (four), none for {}. */
    json_t *events = test_kafka_events_for(ct_str(p, "product_id"), 5, 20000);
    cr_assert_eq(json_array_size(events), 5, "%zu events", json_array_size(events));
    json_decref(events);
    json_decref(before);
    json_decref(p);
}

Test(products, list_is_newest_first_with_filters_and_a_cursor)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    enum { N = 5 };
    char ids[N][64];
    for (int i = 0; i < N; i++) {
        char body[100];
        snprintf(body, sizeof(body), "{\"name\": \"P%d\", \"active\": %s}", i,
                 i % 2 == 0 ? "true" : "false");
        json_t *p = ct_create("/products", t.key, body);
        snprintf(ids[i], sizeof(ids[i]), "%s", ct_str(p, "product_id"));
        json_decref(p);
    }
    struct api_response r = ct_call("GET", "/v1/products", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), N);
    for (int i = 0; i < N; i++)
        cr_assert_str_eq(ct_str(json_array_get(r.json, (size_t)i), "product_id"), ids[N - 1 - i]);
    test_api_free(&r);
    r = ct_call("GET", "/products?active=true", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 3, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "product_id"), ids[4]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 2), "product_id"), ids[0]);
    test_api_free(&r);
    r = ct_call("GET", "/products?active=false", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "product_id"), ids[3]);
    test_api_free(&r);
    /* Pages of two: 4 3, then 2 1, then 0. */
    char path[200];
    r = ct_call("GET", "/products?limit=2", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "product_id"), ids[3]);
    test_api_free(&r);
    snprintf(path, sizeof(path), "/products?limit=2&starting_after=%s", ids[3]);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "product_id"), ids[2]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "product_id"), ids[1]);
    test_api_free(&r);
    snprintf(path, sizeof(path), "/products?limit=2&starting_after=%s", ids[1]);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 1, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "product_id"), ids[0]);
    test_api_free(&r);
    /* The cursor and a filter together; the cursor's case does not matter. */
    char upper[64];
    snprintf(upper, sizeof(upper), "%s", ids[4]);
    for (char *c = upper; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    snprintf(path, sizeof(path), "/products?active=true&starting_after=%s", upper);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "product_id"), ids[2]);
    test_api_free(&r);
}

Test(products, events_on_kafka_carry_the_product, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    json_t *p = ct_create("/products", t.key, "{\"name\": \"Evented\", \"metadata\": {\"n\": 1}}");
    const char *id = ct_str(p, "product_id");
    char path[128];
    snprintf(path, sizeof(path), "/products/%s", id);
    struct api_response u = ct_call("PATCH", path, t.key, "{\"active\": false}");
    cr_assert_eq(u.status, 200, "%s", u.text);
    json_t *events = test_kafka_events_for(id, 2, 20000);
    cr_assert_eq(json_array_size(events), 2, "%zu events", json_array_size(events));
    ct_assert_event(json_array_get(events, 0), "/caisse/products", "product.created", id, t.org, p,
                    ct_str(p, "created_at"));
    ct_assert_event(json_array_get(events, 1), "/caisse/products", "product.updated", id, t.org,
                    u.json, ct_str(u.json, "updated_at"));
    /* The events API lists them, newest first, and filters on their types. */
    struct api_response l = ct_call("GET", "/events?type=product.updated", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1, "%s", l.text);
    cr_assert_str_eq(ct_str(json_array_get(l.json, 0), "id"),
                     ct_str(json_array_get(events, 1), "id"));
    test_api_free(&l);
    l = ct_call("GET", "/events", t.key, NULL);
    cr_assert_eq(json_array_size(l.json), 2, "%s", l.text);
    cr_assert_str_eq(ct_str(json_array_get(l.json, 0), "type"), "product.updated");
    test_api_free(&l);
    json_decref(events);
    test_api_free(&u);
    json_decref(p);
}

Test(products, webhook_endpoints_subscribe_to_product_events, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Product webhooks");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "products", "[\"product.created\", \"product.updated\"]");
    json_t *endpoint = wh_endpoint_get(t.key_test, e.id);
    cr_assert_eq(json_array_size(json_object_get(endpoint, "enabled_events")), 2);
    json_decref(endpoint);
    json_t *p = ct_create("/products", t.key_test, "{\"name\": \"Hooked\"}");
    json_t *records = wh_receiver_wait(e.path, 1, 30000);
    cr_assert_eq(json_array_size(records), 1, "one delivery: %zu", json_array_size(records));
    const json_t *rec = json_array_get(records, 0);
    json_t *delivered = json_loads(json_string_value(json_object_get(rec, "body")), 0, NULL);
    cr_assert_not_null(delivered, "the delivery's body is the event");
    cr_assert_str_eq(ct_str(delivered, "type"), "product.created");
    cr_assert(json_equal(json_object_get(delivered, "data"), p));
    cr_assert(json_is_true(json_object_get(rec, "verified")), "signed like every webhook");
    json_decref(delivered);
    json_decref(records);
    json_decref(p);
}

/* ---- suite faults (runs alone, last): the wait that runs out --------------------- */

Test(faults, product_writes_answer_202_while_the_worker_is_away_then_apply, .timeout = 120,
     .fini = ct_restore_session_worker)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Product tests");
    json_t *p = ct_create("/products", t.key, "{\"name\": \"Before\"}");
    char path[128];
    snprintf(path, sizeof(path), "/products/%s", ct_str(p, "product_id"));
    test_service_stop("session-worker");
    /* Past CAISSE_CREATE_WAIT_MS: 202 with the object as it will be (create)
     * or as it is (update); the commands wait in Kafka. */
    char idem[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(idem), 0);
    struct api_response c = ct_call_keyed("/products", t.key, idem, "{\"name\": \"Accepted\"}");
    cr_assert_eq(c.status, 202, "%s", c.text);
    cr_assert_str_eq(ct_str(c.json, "name"), "Accepted");
    char location[128];
    snprintf(location, sizeof(location), "/products/%s", ct_str(c.json, "product_id"));
    cr_assert_str_eq(c.location, location);
    struct api_response u = ct_call("PATCH", path, t.key, "{\"name\": \"After\"}");
    cr_assert_eq(u.status, 202, "%s", u.text);
    cr_assert_str_eq(ct_str(u.json, "name"), "Before");
    test_service_start("session-worker", NULL);
    /* Both are applied once the worker is back. */
    long status = 0;
    for (int i = 0; i < 120 && status != 200; i++) {
        struct api_response g = ct_call("GET", location, t.key, NULL);
        status = g.status;
        test_api_free(&g);
        if (status != 200)
            test_sleep_ms(250);
    }
    cr_assert_eq(status, 200, "the accepted product appears");
    struct api_response g = ct_call("GET", path, t.key, NULL);
    for (int i = 0; i < 120 && strcmp(ct_str(g.json, "name"), "After") != 0; i++) {
        test_api_free(&g);
        test_sleep_ms(250);
        g = ct_call("GET", path, t.key, NULL);
    }
    cr_assert_str_eq(ct_str(g.json, "name"), "After");
    test_api_free(&g);
    /* The retry of the accepted create is that product. */
    struct api_response again = ct_call_keyed("/products", t.key, idem, "{\"name\": \"Accepted\"}");
    cr_assert_eq(again.status, 201, "%s", again.text);
    cr_assert(again.idempotent_replayed);
    cr_assert(json_equal(again.json, c.json), "%s\n%s", again.text, c.text);
    test_api_free(&again);
    test_api_free(&c);
    test_api_free(&u);
    json_decref(p);
}
