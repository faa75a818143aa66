/* Customers against the real stack: every rule and message, tenancy, the
 * Idempotency-Key, updates, the email filter and the cursor, deletes (refused
 * while a session names the customer), the events on Kafka; and sessions made
 * for a customer (customer_id checked, its details as defaults) and the
 * customer a completion gives a session that has none. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"
#include "catalog_support.h"
#include "support.h"
#include "webhook_support.h"

/* The number of customers of org (every environment). */
static long customer_count(const char *org)
{
    char *n = test_sql_value("SELECT count(*) FROM customers WHERE organization_id = $1", org);
    cr_assert_not_null(n);
    long v = strtol(n, NULL, 10);
    free(n);
    return v;
}

/* The event of type among the subject's events on Kafka (waits for it); new reference. */
static json_t *kafka_event(const char *subject, const char *type)
{
    for (int attempt = 0; attempt < 40; attempt++) {
        json_t *events = test_kafka_events_for(subject, 1, 5000);
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            if (strcmp(ct_str(ev, "type"), type) == 0) {
                json_t *found = json_incref(ev);
                json_decref(events);
                return found;
            }
        }
        json_decref(events);
        test_sleep_ms(250);
    }
    cr_assert_fail("no %s event for %s", type, subject);
    return NULL;
}

#define AWA                                                                                        \
    "{\"email\": \"Awa.Diop@example.com\", \"name\": \"Awa Diop\", \"phone\": \"+221771234567\","  \
    " \"billing_address\": {\"line1\": \"12 rue Carnot\", \"city\": \"Dakar\","                    \
    " \"postal_code\": \"10200\", \"country\": \"SN\"}, \"metadata\": {\"crm_id\": \"C-1042\"}}"

Test(customers, create_then_get_and_list)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    struct api_response r = ct_call("POST", "/customers", t.key, AWA);
    cr_assert_eq(r.status, 201, "%s", r.text);
    json_t *c = r.json;
    const char *id = ct_str(c, "customer_id");
    cr_assert(uuid_is_valid(id), "%s", r.text);
    cr_assert_str_eq(ct_str(c, "organization_id"), t.org);
    cr_assert_str_eq(ct_str(c, "email"), "Awa.Diop@example.com", "kept as given");
    cr_assert_str_eq(ct_str(c, "name"), "Awa Diop");
    cr_assert_str_eq(ct_str(c, "phone"), "+221771234567");
    json_t *address = json_object_get(c, "billing_address");
    cr_assert_str_eq(ct_str(address, "line1"), "12 rue Carnot");
    cr_assert(json_is_null(json_object_get(address, "line2")));
    cr_assert_str_eq(ct_str(address, "city"), "Dakar");
    cr_assert_str_eq(ct_str(address, "postal_code"), "10200");
    cr_assert(json_is_null(json_object_get(address, "state")));
    cr_assert_str_eq(ct_str(address, "country"), "SN");
    cr_assert_eq(json_object_size(address), 6);
    cr_assert_str_eq(ct_str(json_object_get(c, "metadata"), "crm_id"), "C-1042");
    cr_assert_str_eq(ct_str(c, "environment"), "test");
    cr_assert_str_eq(ct_str(c, "created_at"), ct_str(c, "updated_at"));
    cr_assert_eq(json_object_size(c), 10, "%s", r.text);
    char location[128];
    snprintf(location, sizeof(location), "/customers/%s", id);
    cr_assert_str_eq(r.location, location);

    struct api_response g = ct_call("GET", location, t.key, NULL);
    cr_assert_eq(g.status, 200, "%s", g.text);
    cr_assert(json_equal(g.json, c), "%s\n%s", g.text, r.text);
    test_api_free(&g);
    char v1[140];
    snprintf(v1, sizeof(v1), "/v1%s", location);
    g = ct_call("GET", v1, t.key, NULL);
    cr_assert_eq(g.status, 200);
    test_api_free(&g);

    struct api_response l = ct_call("GET", "/v1/customers", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1, "%s", l.text);
    cr_assert(json_equal(json_array_get(l.json, 0), c));
    test_api_free(&l);
    /* Nothing is required. */
    json_t *bare = ct_create("/customers", t.key, "{}");
    cr_assert(json_is_null(json_object_get(bare, "email")));
    cr_assert(json_is_null(json_object_get(bare, "billing_address")));
    cr_assert_eq(json_object_size(json_object_get(bare, "metadata")), 0);
    json_decref(bare);
    test_api_free(&r);
}

Test(customers, create_rules_and_messages)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    const char *k = t.key;
    const char *p = "/customers";
    ct_expect_400(k, "POST", p, "{\"email\": \"nobody\"}", "email",
                  "email must be a valid email address");
    ct_expect_400(k, "POST", p, "{\"email\": 5}", "email", "email must be a string");
    ct_expect_400(k, "POST", p, "{\"phone\": \"771234567\"}", "phone",
                  "phone must be in E.164 format (+ followed by 8 to 15 digits)");
    ct_expect_400(k, "POST", p, "{\"name\": 5}", "name", "name must be a string");
    ct_expect_400(k, "POST", p, "{\"billing_address\": []}", "billing_address",
                  "billing_address must be an object or null");
    ct_expect_400(k, "POST", p, "{\"billing_address\": {\"line1\": \"x\", \"country\": \"SN\"}}",
                  "billing_address.city", "billing_address.city is required");
    ct_expect_400(
        k, "POST", p,
        "{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\", \"country\": \"sn\"}}",
        "billing_address.country",
        "billing_address.country must be an ISO 3166-1 alpha-2 country code in upper case,"
        " such as SN");
    ct_expect_400(
        k, "POST", p,
        "{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\", \"country\": \"XX\"}}",
        "billing_address.country",
        "billing_address.country must be an ISO 3166-1 alpha-2 country code in upper case,"
        " such as SN");
    ct_expect_400(
        k, "POST", p,
        "{\"billing_address\": {\"line1\": \" \", \"city\": \"Dakar\", \"country\": \"SN\"}}",
        "billing_address.line1", "billing_address.line1 must not be empty");
    ct_expect_400(
        k, "POST", p,
        "{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\", \"country\": \"SN\","
        " \"zip\": \"1\"}}",
        "billing_address.zip", "Unknown parameter: billing_address.zip");
    ct_expect_400(k, "POST", p, "{\"metadata\": {\"k\": [1]}}", "metadata",
                  "metadata values must be strings, numbers or booleans");
    ct_expect_400(k, "POST", p, "{\"customer_id\": \"x\"}", "customer_id",
                  "Unknown parameter: customer_id");
    ct_expect_400(k, "POST", p, "[]", NULL, "Request body must be a JSON object");
    struct api_response r = test_api("POST", p, k, "{}", NULL);
    test_assert_error(&r, 415, "unsupported_media_type", NULL,
                      "Content-Type must be application/json");
    test_api_free(&r);
    r = test_api("POST", p, NULL, "{}", NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "API key is missing");
    test_api_free(&r);
    cr_assert_eq(customer_count(t.org), 0, "nothing refused was created");
}

Test(customers, read_update_and_delete_rules_and_messages)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    const char *k = t.key;
    json_t *c = ct_create("/customers", k, AWA);
    char path[128], missing[128], unknown_id[UUID_STR_LEN], msg[200];
    snprintf(path, sizeof(path), "/customers/%s", ct_str(c, "customer_id"));
    cr_assert_eq(uuid_v7_string(unknown_id), 0);
    snprintf(missing, sizeof(missing), "/customers/%s", unknown_id);
    snprintf(msg, sizeof(msg), "Customer with ID %s not found or access denied", unknown_id);

    ct_expect_400(k, "GET", "/customers/nope", NULL, "id", "Customer id must be a UUID");
    ct_expect_400(k, "PATCH", "/customers/nope", "{\"name\": \"x\"}", "id",
                  "Customer id must be a UUID");
    ct_expect_400(k, "DELETE", "/customers/nope", NULL, "id", "Customer id must be a UUID");
    ct_expect_error(k, "GET", missing, NULL, 404, "not_found", "id", msg);
    ct_expect_error(k, "PATCH", missing, "{\"name\": \"x\"}", 404, "not_found", "id", msg);
    ct_expect_error(k, "DELETE", missing, NULL, 404, "not_found", "id", msg);

    ct_expect_400(k, "PATCH", path, "{\"email\": \"x@y\"}", "email",
                  "email must be a valid email address");
    ct_expect_400(k, "PATCH", path, "{\"phone\": \"+0123456789\"}", "phone",
                  "phone must be in E.164 format (+ followed by 8 to 15 digits)");
    ct_expect_400(k, "PATCH", path, "{\"billing_address\": {\"city\": \"Dakar\"}}",
                  "billing_address.line1", "billing_address.line1 is required");
    ct_expect_400(k, "PATCH", path, "{\"created_at\": \"2024-01-15T10:30:00Z\"}", "created_at",
                  "Unknown parameter: created_at");

    ct_expect_400(k, "GET", "/customers?limit=0", NULL, "limit",
                  "limit must be an integer from 1 to 100");
    ct_expect_400(k, "GET", "/customers?starting_after=x", NULL, "starting_after",
                  "starting_after must be a customer id (UUID)");
    char cursor[200];
    snprintf(cursor, sizeof(cursor), "/customers?starting_after=%s", unknown_id);
    ct_expect_400(k, "GET", cursor, NULL, "starting_after",
                  "starting_after must be the id of one of your customers");
    ct_expect_400(k, "GET", "/customers?email=", NULL, "email",
                  "email must be 1 to 254 characters");
    ct_expect_400(k, "GET", "/customers?active=true", NULL, "active",
                  "Unknown query parameter: active");
    /* The customer is as it was. */
    struct api_response r = ct_call("GET", path, k, NULL);
    cr_assert(json_equal(r.json, c), "%s", r.text);
    test_api_free(&r);
    json_decref(c);
}

Test(customers, another_tenant_or_environment_sees_nothing)
{
    struct ct_tenant a, b;
    ct_tenant_new(&a, "Customer tests");
    ct_tenant_new(&b, "Customer tests");
    json_t *c = ct_create("/customers", a.key, AWA);
    const char *id = ct_str(c, "customer_id");
    char path[128], msg[200];
    snprintf(path, sizeof(path), "/customers/%s", id);
    snprintf(msg, sizeof(msg), "Customer with ID %s not found or access denied", id);
    const char *others[] = {b.key, a.live, b.live};
    for (size_t i = 0; i < 3; i++) {
        ct_expect_error(others[i], "GET", path, NULL, 404, "not_found", "id", msg);
        ct_expect_error(others[i], "PATCH", path, "{\"name\": \"x\"}", 404, "not_found", "id", msg);
        ct_expect_error(others[i], "DELETE", path, NULL, 404, "not_found", "id", msg);
        struct api_response l =
            ct_call("GET", "/customers?email=awa.diop@example.com", others[i], NULL);
        cr_assert_eq(l.status, 200);
        cr_assert_eq(json_array_size(l.json), 0, "%s", l.text);
        test_api_free(&l);
        char cursor[200];
        snprintf(cursor, sizeof(cursor), "/customers?starting_after=%s", id);
        ct_expect_400(others[i], "GET", cursor, NULL, "starting_after",
                      "starting_after must be the id of one of your customers");
        /* A session of another tenant cannot name it. */
        char body[200], message[120];
        snprintf(body, sizeof(body), "{\"amount\": 5000, \"customer_id\": \"%s\"}", id);
        snprintf(message, sizeof(message), "customer_id %s not found", id);
        struct api_response s = test_create(others[i], body);
        test_assert_error(&s, 400, "validation_error", "customer_id", message);
        test_api_free(&s);
    }
    /* Untouched by the refused writes. */
    struct api_response r = ct_call("GET", path, a.key, NULL);
    cr_assert(json_equal(r.json, c), "%s", r.text);
    test_api_free(&r);
    json_decref(c);
}

Test(customers, same_idempotency_key_and_body_is_the_same_customer)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    char idem[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(idem), 0);
    struct api_response a = ct_call_keyed("/customers", t.key, idem, AWA);
    cr_assert_eq(a.status, 201, "%s", a.text);
    cr_assert(!a.idempotent_replayed);
    struct api_response b = ct_call_keyed("/customers", t.key, idem, AWA);
    cr_assert_eq(b.status, 201, "%s", b.text);
    cr_assert(b.idempotent_replayed);
    cr_assert(json_equal(a.json, b.json), "%s\n%s", a.text, b.text);
    cr_assert_str_eq(a.location, b.location);
    struct api_response d = ct_call_keyed("/customers", t.key, idem, "{\"name\": \"Other\"}");
    test_assert_error(&d, 409, "idempotency_conflict", "Idempotency-Key",
                      "Idempotency-Key was reused with a different request payload");
    cr_assert_eq(customer_count(t.org), 1);
    /* Keys are per environment. */
    struct api_response e = ct_call_keyed("/customers", t.live, idem, AWA);
    cr_assert_eq(e.status, 201, "%s", e.text);
    cr_assert(!e.idempotent_replayed);
    cr_assert_str_neq(ct_str(e.json, "customer_id"), ct_str(a.json, "customer_id"));
    test_api_free(&a);
    test_api_free(&b);
    test_api_free(&d);
    test_api_free(&e);
}

Test(customers, update_changes_only_what_is_given)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    json_t *c = ct_create("/customers", t.key, AWA);
    char path[128];
    snprintf(path, sizeof(path), "/customers/%s", ct_str(c, "customer_id"));
    test_sleep_ms(1100); /* updated_at moves on by a whole second */
    struct api_response r = ct_call("PATCH", path, t.key, "{\"name\": \"Awa Diop Ndiaye\"}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "name"), "Awa Diop Ndiaye");
    cr_assert_str_eq(ct_str(r.json, "email"), "Awa.Diop@example.com");
    cr_assert(json_equal(json_object_get(r.json, "billing_address"),
                         json_object_get(c, "billing_address")));
    cr_assert_str_eq(ct_str(r.json, "created_at"), ct_str(c, "created_at"));
    cr_assert(strcmp(ct_str(r.json, "updated_at"), ct_str(c, "updated_at")) > 0, "%s", r.text);
    struct api_response g = ct_call("GET", path, t.key, NULL);
    cr_assert(json_equal(g.json, r.json), "%s\n%s", g.text, r.text);
    test_api_free(&g);
    test_api_free(&r);

    r = ct_call("PATCH", path, t.key,
                "{\"phone\": null, \"metadata\": {\"b\": true},"
                " \"billing_address\": {\"line1\": \"1 Main St\", \"city\": \"Paris\","
                " \"country\": \"FR\"}}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_null(json_object_get(r.json, "phone")));
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 1, "replaced whole");
    json_t *address = json_object_get(r.json, "billing_address");
    cr_assert_str_eq(ct_str(address, "country"), "FR");
    cr_assert(json_is_null(json_object_get(address, "postal_code")), "replaced whole");
    test_api_free(&r);
    r = ct_call("PATCH", path, t.key, "{\"billing_address\": null, \"email\": null}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_null(json_object_get(r.json, "billing_address")));
    cr_assert(json_is_null(json_object_get(r.json, "email")));
    json_t *before = json_incref(r.json);
    test_api_free(&r);
    /* Nothing to change: the customer as it is, and no event. */
    r = ct_call("PATCH", path, t.key, "{}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_equal(r.json, before));
    test_api_free(&r);
    /* created, then one updated event per change (three), none for {}. */
    json_t *events = test_kafka_events_for(ct_str(c, "customer_id"), 4, 20000);
    test_sleep_ms(300);
    json_decref(events);
    events = test_kafka_events_for(ct_str(c, "customer_id"), 4, 0);
    cr_assert_eq(json_array_size(events), 4, "%zu events", json_array_size(events));
    json_decref(events);
    json_decref(before);
    json_decref(c);
}

Test(customers, list_filters_on_email_whatever_its_case_newest_first_with_a_cursor)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    enum { N = 5 };
    char ids[N][64];
    for (int i = 0; i < N; i++) {
        char body[100];
        /* 0, 2 and 4 share an address, written in other cases. */
        snprintf(body, sizeof(body), "{\"email\": \"%s\"}",
                 i % 2 == 0 ? (i == 2 ? "SAME@Example.com" : "same@example.com")
                            : (i == 1 ? "one@example.com" : "three@example.com"));
        json_t *c = ct_create("/customers", t.key, body);
        snprintf(ids[i], sizeof(ids[i]), "%s", ct_str(c, "customer_id"));
        json_decref(c);
    }
    struct api_response r = ct_call("GET", "/customers", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), N);
    for (int i = 0; i < N; i++)
        cr_assert_str_eq(ct_str(json_array_get(r.json, (size_t)i), "customer_id"), ids[N - 1 - i]);
    test_api_free(&r);
    r = ct_call("GET", "/customers?email=Same@EXAMPLE.com", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 3, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "customer_id"), ids[4]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "customer_id"), ids[2]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 2), "customer_id"), ids[0]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "email"), "SAME@Example.com");
    test_api_free(&r);
    /* Exact: neither a part of the address nor another one. */
    r = ct_call("GET", "/customers?email=same@example", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 0, "%s", r.text);
    test_api_free(&r);
    r = ct_call("GET", "/customers?email=one%40example.com", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 1, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "customer_id"), ids[1]);
    test_api_free(&r);
    /* The filter with a cursor and a limit. */
    char path[200];
    snprintf(path, sizeof(path), "/customers?email=same@example.com&limit=1&starting_after=%s",
             ids[4]);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 1, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "customer_id"), ids[2]);
    test_api_free(&r);
    snprintf(path, sizeof(path), "/customers?limit=2&starting_after=%s", ids[3]);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "customer_id"), ids[2]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "customer_id"), ids[1]);
    test_api_free(&r);
}

Test(customers, delete_removes_an_unused_customer_and_refuses_one_a_session_names, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    json_t *unused = ct_create("/customers", t.key, "{\"name\": \"Walk-in\"}");
    const char *id = ct_str(unused, "customer_id");
    char path[128];
    snprintf(path, sizeof(path), "/customers/%s", id);
    struct api_response r = ct_call("DELETE", path, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "customer_id"), id);
    cr_assert(json_is_true(json_object_get(r.json, "deleted")));
    cr_assert_eq(json_object_size(r.json), 2);
    test_api_free(&r);
    char msg[200];
    snprintf(msg, sizeof(msg), "Customer with ID %s not found or access denied", id);
    ct_expect_error(t.key, "GET", path, NULL, 404, "not_found", "id", msg);
    ct_expect_error(t.key, "DELETE", path, NULL, 404, "not_found", "id", msg);
    /* Its events: created, then deleted with the customer as it was. */
    json_t *deleted = kafka_event(id, "customer.deleted");
    cr_assert_str_eq(ct_str(deleted, "source"), "/caisse/customers");
    cr_assert_str_eq(ct_str(deleted, "subject"), id);
    cr_assert_str_eq(ct_str(deleted, "_key"), id);
    cr_assert_str_eq(ct_str(deleted, "organizationid"), t.org);
    cr_assert(json_equal(json_object_get(deleted, "data"), unused));
    json_decref(deleted);

    /* A customer a session names stays. */
    json_t *used = ct_create("/customers", t.key, AWA);
    char body[200];
    snprintf(body, sizeof(body), "{\"amount\": 5000, \"customer_id\": \"%s\"}",
             ct_str(used, "customer_id"));
    json_t *s = ct_session_create(t.key, body);
    snprintf(path, sizeof(path), "/customers/%s", ct_str(used, "customer_id"));
    snprintf(msg, sizeof(msg),
             "Customer %s cannot be deleted while a checkout session refers to it",
             ct_str(used, "customer_id"));
    ct_expect_error(t.key, "DELETE", path, NULL, 409, "resource_conflict", NULL, msg);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(json_equal(r.json, used), "nothing changed: %s", r.text);
    test_api_free(&r);
    json_decref(s);
    json_decref(used);
    json_decref(unused);
}

Test(customers, events_on_kafka_carry_the_customer, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    json_t *c = ct_create("/customers", t.key, AWA);
    const char *id = ct_str(c, "customer_id");
    char path[128];
    snprintf(path, sizeof(path), "/customers/%s", id);
    struct api_response u = ct_call("PATCH", path, t.key, "{\"name\": \"Awa\"}");
    cr_assert_eq(u.status, 200, "%s", u.text);
    json_t *events = test_kafka_events_for(id, 2, 20000);
    cr_assert_eq(json_array_size(events), 2, "%zu events", json_array_size(events));
    const json_t *created = json_array_get(events, 0);
    cr_assert_str_eq(ct_str(created, "type"), "customer.created");
    cr_assert_str_eq(ct_str(created, "specversion"), "1.0");
    cr_assert_str_eq(ct_str(created, "source"), "/caisse/customers");
    cr_assert_str_eq(ct_str(created, "subject"), id);
    cr_assert_str_eq(ct_str(created, "_key"), id, "the Kafka key is the customer id");
    cr_assert_str_eq(ct_str(created, "organizationid"), t.org);
    cr_assert_str_eq(ct_str(created, "environment"), "test");
    cr_assert_str_eq(ct_str(created, "time"), ct_str(c, "created_at"));
    cr_assert(json_equal(json_object_get(created, "data"), c), "data is the REST object");
    const json_t *updated = json_array_get(events, 1);
    cr_assert_str_eq(ct_str(updated, "type"), "customer.updated");
    cr_assert_str_eq(ct_str(updated, "time"), ct_str(u.json, "updated_at"));
    cr_assert(json_equal(json_object_get(updated, "data"), u.json));
    struct api_response l = ct_call("GET", "/events?type=customer.updated", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1, "%s", l.text);
    test_api_free(&l);
    json_decref(events);
    test_api_free(&u);
    json_decref(c);
}

Test(customers, webhook_endpoints_subscribe_to_customer_events, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Customer webhooks");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "customers",
                       "[\"customer.created\", \"customer.updated\", \"customer.deleted\"]");
    json_t *c = ct_create("/customers", t.key_test, "{\"name\": \"Hooked\"}");
    char path[128];
    snprintf(path, sizeof(path), "/customers/%s", ct_str(c, "customer_id"));
    struct api_response r = ct_call("DELETE", path, t.key_test, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    json_t *records = wh_receiver_wait(e.path, 2, 30000);
    cr_assert_eq(json_array_size(records), 2, "two deliveries: %zu", json_array_size(records));
    const char *types[2];
    for (size_t i = 0; i < 2; i++) {
        const json_t *rec = json_array_get(records, i);
        json_t *delivered = json_loads(ct_str(rec, "body"), 0, NULL);
        cr_assert_not_null(delivered);
        types[i] =
            strcmp(ct_str(delivered, "type"), "customer.created") == 0 ? "created" : "deleted";
        cr_assert(json_equal(json_object_get(delivered, "data"), c));
        cr_assert(json_is_true(json_object_get(rec, "verified")));
        json_decref(delivered);
    }
    cr_assert_str_neq(types[0], types[1], "one created, one deleted");
    json_decref(records);
    json_decref(c);
}

/* ---- sessions and customers ------------------------------------------------------------ */

Test(customers, a_session_for_a_customer_takes_its_details_unless_given)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    json_t *c = ct_create("/customers", t.key, AWA);
    const char *id = ct_str(c, "customer_id");
    char body[400];
    snprintf(body, sizeof(body), "{\"amount\": 5000, \"customer_id\": \"%s\"}", id);
    json_t *s = ct_session_create(t.key, body);
    cr_assert_str_eq(ct_str(s, "customer_id"), id);
    cr_assert_str_eq(ct_str(s, "customer_email"), "Awa.Diop@example.com");
    cr_assert_str_eq(ct_str(s, "customer_name"), "Awa Diop");
    cr_assert_str_eq(ct_str(s, "customer_phone"), "+221771234567");
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", ct_str(s, "checkout_session_id"));
    struct api_response g = ct_call("GET", path, t.key, NULL);
    cr_assert(json_equal(g.json, s), "stored as answered: %s", g.text);
    test_api_free(&g);
    json_decref(s);
    /* What the request gives wins; the id's case does not matter. */
    char upper[64];
    snprintf(upper, sizeof(upper), "%s", id);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(body, sizeof(body),
             "{\"amount\": 5000, \"customer_id\": \"%s\", \"customer_email\": \"pay@example.com\","
             " \"customer_name\": null}",
             upper);
    s = ct_session_create(t.key, body);
    cr_assert_str_eq(ct_str(s, "customer_id"), id);
    cr_assert_str_eq(ct_str(s, "customer_email"), "pay@example.com");
    cr_assert_str_eq(ct_str(s, "customer_name"), "Awa Diop", "null is not given");
    json_decref(s);
    /* An id that names no customer of the tenant. */
    char unknown[UUID_STR_LEN], message[100];
    cr_assert_eq(uuid_v7_string(unknown), 0);
    snprintf(body, sizeof(body), "{\"amount\": 5000, \"customer_id\": \"%s\"}", unknown);
    snprintf(message, sizeof(message), "customer_id %s not found", unknown);
    struct api_response r = test_create(t.key, body);
    test_assert_error(&r, 400, "validation_error", "customer_id", message);
    test_api_free(&r);
    /* The syntax is checked first, as before. */
    r = test_create(t.key, "{\"amount\": 5000, \"customer_id\": \"premium-plan-id\"}");
    test_assert_error(&r, 400, "validation_error", "customer_id", "customer_id must be a UUID");
    test_api_free(&r);
    json_decref(c);
}

Test(customers, a_completion_gives_the_session_the_customer_with_its_email, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    json_t *older = ct_create("/customers", t.key, "{\"email\": \"awa.diop@example.com\"}");
    json_t *c = ct_create("/customers", t.key, AWA); /* the same address, newer */
    json_t *s = ct_session_create(
        t.key, "{\"amount\": 5000, \"customer_email\": \"AWA.DIOP@example.com\"}");
    const char *sid = ct_str(s, "checkout_session_id");
    cr_assert(json_is_null(json_object_get(s, "customer_id")));
    struct api_response r = ct_session_complete(sid, "{\"payment_reference\": \"pay-1\"}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "status"), "complete");
    cr_assert_str_eq(ct_str(r.json, "customer_id"), ct_str(c, "customer_id"), "the newest");
    test_api_free(&r);
    cr_assert_eq(customer_count(t.org), 2, "no customer made");
    json_t *ev = kafka_event(sid, "checkout.session.completed");
    cr_assert_str_eq(ct_str(json_object_get(ev, "data"), "customer_id"), ct_str(c, "customer_id"));
    json_decref(ev);
    /* The customer is now in use. */
    char path[128], msg[200];
    snprintf(path, sizeof(path), "/customers/%s", ct_str(c, "customer_id"));
    snprintf(msg, sizeof(msg),
             "Customer %s cannot be deleted while a checkout session refers to it",
             ct_str(c, "customer_id"));
    ct_expect_error(t.key, "DELETE", path, NULL, 409, "resource_conflict", NULL, msg);
    /* The same completion again changes nothing. */
    r = ct_session_complete(sid, "{\"payment_reference\": \"pay-1\"}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "customer_id"), ct_str(c, "customer_id"));
    test_api_free(&r);
    cr_assert_eq(customer_count(t.org), 2);
    json_decref(s);
    json_decref(c);
    json_decref(older);
}

Test(customers, a_completion_without_a_known_email_makes_a_customer, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    /* The live environment's customer with that email is another tenant's. */
    json_t *live = ct_create("/customers", t.live, "{\"email\": \"new@example.com\"}");
    json_t *s =
        ct_session_create(t.key, "{\"amount\": 5000, \"customer_email\": \"New@example.com\","
                                 " \"customer_name\": \"Moussa Fall\","
                                 " \"customer_phone\": \"+221770000001\"}");
    const char *sid = ct_str(s, "checkout_session_id");
    struct api_response r = ct_session_complete(sid, "{\"payment_reference\": \"pay-2\"}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    const char *cid = ct_str(r.json, "customer_id");
    cr_assert(cid != NULL && uuid_is_valid(cid), "%s", r.text);
    cr_assert_str_neq(cid, ct_str(live, "customer_id"));
    char path[128];
    snprintf(path, sizeof(path), "/customers/%s", cid);
    struct api_response g = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(g.status, 200, "%s", g.text);
    cr_assert_str_eq(ct_str(g.json, "email"), "New@example.com");
    cr_assert_str_eq(ct_str(g.json, "name"), "Moussa Fall");
    cr_assert_str_eq(ct_str(g.json, "phone"), "+221770000001");
    cr_assert(json_is_null(json_object_get(g.json, "billing_address")));
    cr_assert_str_eq(ct_str(g.json, "environment"), "test");
    /* Its created event, and the session's completed event naming it. */
    json_t *created = kafka_event(cid, "customer.created");
    cr_assert(json_equal(json_object_get(created, "data"), g.json));
    cr_assert_str_eq(ct_str(created, "time"), ct_str(g.json, "created_at"));
    json_decref(created);
    json_t *completed = kafka_event(sid, "checkout.session.completed");
    cr_assert_str_eq(ct_str(json_object_get(completed, "data"), "customer_id"), cid);
    json_decref(completed);
    test_api_free(&g);
    /* A second session with that email finds it. */
    json_t *s2 =
        ct_session_create(t.key, "{\"amount\": 700, \"customer_email\": \"new@EXAMPLE.com\"}");
    struct api_response r2 = ct_session_complete(ct_str(s2, "checkout_session_id"),
                                                 "{\"payment_reference\": \"pay-3\"}");
    cr_assert_eq(r2.status, 200, "%s", r2.text);
    cr_assert_str_eq(ct_str(r2.json, "customer_id"), cid);
    test_api_free(&r2);
    cr_assert_eq(customer_count(t.org), 2, "the live one and the one made");
    test_api_free(&r);
    json_decref(s2);
    json_decref(s);
    json_decref(live);
}

Test(customers, a_completion_keeps_a_customer_given_and_makes_none_without_an_email, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    /* A customer without an email: its session has no email either. */
    json_t *c = ct_create("/customers", t.key, "{\"name\": \"No mail\"}");
    char body[200];
    snprintf(body, sizeof(body), "{\"amount\": 5000, \"customer_id\": \"%s\"}",
             ct_str(c, "customer_id"));
    json_t *s = ct_session_create(t.key, body);
    cr_assert(json_is_null(json_object_get(s, "customer_email")));
    struct api_response r =
        ct_session_complete(ct_str(s, "checkout_session_id"), "{\"payment_reference\": \"pay-4\"}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "customer_id"), ct_str(c, "customer_id"));
    cr_assert(json_is_null(json_object_get(r.json, "customer_email")));
    test_api_free(&r);
    cr_assert_eq(customer_count(t.org), 1, "no customer made");
    /* A customer_id the completion gives is the session's; none is looked for. */
    json_t *other = ct_session_create(t.key, "{\"amount\": 5000,"
                                             " \"customer_email\": \"given@example.com\"}");
    snprintf(body, sizeof(body), "{\"payment_reference\": \"pay-5\", \"customer_id\": \"%s\"}",
             ct_str(c, "customer_id"));
    r = ct_session_complete(ct_str(other, "checkout_session_id"), body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "customer_id"), ct_str(c, "customer_id"));
    test_api_free(&r);
    cr_assert_eq(customer_count(t.org), 1, "no customer made");
    json_decref(other);
    json_decref(s);
    json_decref(c);
}

/* ---- suite faults (runs alone, last): the wait that runs out --------------------- */

Test(faults, customer_delete_answers_202_while_the_worker_is_away_then_applies, .timeout = 120,
     .fini = ct_restore_session_worker)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Customer tests");
    json_t *c = ct_create("/customers", t.key, "{\"name\": \"Leaving\"}");
    char path[128];
    snprintf(path, sizeof(path), "/customers/%s", ct_str(c, "customer_id"));
    test_service_stop("session-worker");
    /* Past CAISSE_CREATE_WAIT_MS: 202 with the customer as it is; the command waits in Kafka. */
    struct api_response d = ct_call("DELETE", path, t.key, NULL);
    cr_assert_eq(d.status, 202, "%s", d.text);
    cr_assert(json_equal(d.json, c), "%s", d.text);
    test_api_free(&d);
    test_service_start("session-worker", NULL);
    long status = 200;
    for (int i = 0; i < 120 && status != 404; i++) {
        struct api_response g = ct_call("GET", path, t.key, NULL);
        status = g.status;
        test_api_free(&g);
        if (status != 404)
            test_sleep_ms(250);
    }
    cr_assert_eq(status, 404, "the accepted delete is applied");
    json_decref(c);
}
