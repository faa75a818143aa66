/* The session model: its REST JSON (the seed's object, field for field), the
 * reverse mapping, the CloudEvents it travels in (written as text, equal to
 * the jansson tree they replace) and the rows of its insert. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json_writer.h"
#include "core/result.h"
#include "core/rfc3339.h"
#include "core/uuid.h"
#include "model/session.h"
#include "../../leak_check.h"

#define BASE_URL "https://pay.example"
#define SESSION_ID "0190a6e4-6b2c-7d3e-8f41-123456789abc"
#define ORG_ID "789e0123-e89b-12d3-a456-426614174000"
#define CREATOR_ID "456e7890-e89b-12d3-a456-426614174000"
#define PRODUCT_ID "123e4567-e89b-12d3-a456-426614174000"
#define PRICE_ID "321e4567-e89b-12d3-a456-426614174000"
#define T_CREATED 1705314600 /* 2024-01-15T10:30:00Z */
#define T_EXPIRES 1705318200 /* 2024-01-15T11:30:00Z */

/* The seed's response example, in the seed's field order, then the catalog's
 * totals and coupon (issue 13), plus url. */
static const char seed_json[] =
    "{\"checkout_session_id\":\"" SESSION_ID "\",\"organization_id\":\"" ORG_ID "\","
    "\"amount\":10000,\"currency_code\":\"XOF\",\"status\":\"open\","
    "\"title\":\"Premium Subscription\","
    "\"description\":\"Monthly subscription to premium features\",\"customer_id\":null,"
    "\"customer_email\":\"john@example.com\",\"customer_name\":\"John Doe\","
    "\"customer_phone\":\"+221771234567\",\"product_id\":\"" PRODUCT_ID "\","
    "\"price_id\":\"" PRICE_ID "\",\"subscription_id\":null,\"allow_quantity\":false,"
    "\"quantity\":1,\"success_url\":\"https://example.com/success\","
    "\"cancel_url\":\"https://example.com/cancel\",\"allow_coupon_code\":true,"
    "\"require_billing_address\":true,\"payment_link_id\":null,\"is_spi\":false,"
    "\"is_pos\":false,\"expires_at\":\"2024-01-15T11:30:00Z\","
    "\"metadata\":{\"order_id\":\"ORDER-12345\"},\"environment\":\"live\","
    "\"created_at\":\"2024-01-15T10:30:00Z\",\"created_by\":\"" CREATOR_ID "\","
    "\"updated_at\":\"2024-01-15T10:30:00Z\","
    "\"amount_subtotal\":10000,\"amount_discount\":0,\"amount_total\":10000,\"coupon\":null,"
    "\"billing_address\":null,\"customer_details\":null,\"payment\":null,"
    "\"url\":\"" BASE_URL "/checkout/" SESSION_ID "\"}";

static const char *const seed_fields[] = {
    "checkout_session_id",
    "organization_id",
    "amount",
    "currency_code",
    "status",
    "title",
    "description",
    "customer_id",
    "customer_email",
    "customer_name",
    "customer_phone",
    "product_id",
    "price_id",
    "subscription_id",
    "allow_quantity",
    "quantity",
    "success_url",
    "cancel_url",
    "allow_coupon_code",
    "require_billing_address",
    "payment_link_id",
    "is_spi",
    "is_pos",
    "expires_at",
    "metadata",
    "environment",
    "created_at",
    "created_by",
    "updated_at",
    "amount_subtotal",
    "amount_discount",
    "amount_total",
    "coupon",
    "billing_address",
    "customer_details",
    "payment",
    "url",
};
#define SEED_FIELD_COUNT (sizeof(seed_fields) / sizeof(seed_fields[0]))

static char *dup_or_die(const char *s)
{
    char *copy = strdup(s);
    cr_assert_not_null(copy);
    return copy;
}

/* The seed's example session. */
static void seed_session(struct session *s)
{
    cr_assert_eq(session_init(s), C_OK);
    snprintf(s->id, sizeof(s->id), "%s", SESSION_ID);
    snprintf(s->organization_id, sizeof(s->organization_id), "%s", ORG_ID);
    snprintf(s->environment, sizeof(s->environment), "live");
    s->amount = 10000;
    snprintf(s->currency_code, sizeof(s->currency_code), "XOF");
    s->status = SESSION_OPEN;
    s->title = dup_or_die("Premium Subscription");
    s->description = dup_or_die("Monthly subscription to premium features");
    s->customer_email = dup_or_die("john@example.com");
    s->customer_name = dup_or_die("John Doe");
    s->customer_phone = dup_or_die("+221771234567");
    snprintf(s->product_id, sizeof(s->product_id), "%s", PRODUCT_ID);
    snprintf(s->price_id, sizeof(s->price_id), "%s", PRICE_ID);
    s->quantity = 1;
    s->success_url = dup_or_die("https://example.com/success");
    s->cancel_url = dup_or_die("https://example.com/cancel");
    s->allow_coupon_code = true;
    s->require_billing_address = true;
    s->expires_at = T_EXPIRES;
    cr_assert_eq(json_object_set_new(s->metadata, "order_id", json_string("ORDER-12345")), 0);
    s->created_at = T_CREATED;
    snprintf(s->created_by, sizeof(s->created_by), "%s", CREATOR_ID);
    s->updated_at = T_CREATED;
    s->amount_subtotal = s->amount_total = 10000;
    s->amount_discount = 0;
}

/* Only what a session cannot be without: everything optional left null. */
static void minimal_session(struct session *s)
{
    cr_assert_eq(session_init(s), C_OK);
    snprintf(s->id, sizeof(s->id), "%s", SESSION_ID);
    snprintf(s->organization_id, sizeof(s->organization_id), "%s", ORG_ID);
    snprintf(s->environment, sizeof(s->environment), "test");
    s->amount = 500;
    snprintf(s->currency_code, sizeof(s->currency_code), "USD");
    snprintf(s->customer_id, sizeof(s->customer_id), "%s", PRODUCT_ID);
    s->expires_at = T_EXPIRES;
    s->created_at = T_CREATED;
    s->updated_at = T_CREATED;
    snprintf(s->created_by, sizeof(s->created_by), "%s", CREATOR_ID);
    s->amount_subtotal = s->amount_total = 500;
    s->amount_discount = 0;
}

static char *dump(const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    cr_assert_not_null(text);
    return text;
}

static void assert_json_text(const json_t *j, const char *expected)
{
    char *text = dump(j);
    cr_assert_str_eq(text, expected);
    free(text);
}

/* ---- init, free, status ------------------------------------------------ */

TestSuite(session, .fini = unit_leak_check);

Test(session, init_sets_nulls_quantity_1_and_empty_metadata)
{
    struct session s;
    memset(&s, 0x5a, sizeof(s));
    cr_assert_eq(session_init(&s), C_OK);
    cr_assert_null(s.title);
    cr_assert_null(s.description);
    cr_assert_null(s.customer_email);
    cr_assert_null(s.customer_name);
    cr_assert_null(s.customer_phone);
    cr_assert_null(s.success_url);
    cr_assert_null(s.cancel_url);
    cr_assert_null(s.idempotency_key);
    cr_assert_str_eq(s.id, "");
    cr_assert_str_eq(s.customer_id, "");
    cr_assert_str_eq(s.payment_link_id, "");
    cr_assert_eq(s.status, SESSION_OPEN);
    cr_assert_eq(s.quantity, 1);
    cr_assert_eq(s.amount, 0);
    cr_assert_not(s.allow_quantity);
    cr_assert_not(s.is_spi);
    cr_assert(json_is_object(s.metadata));
    cr_assert_eq(json_object_size(s.metadata), 0);
    session_free(&s);
}

Test(session, free_twice_is_harmless)
{
    struct session s;
    seed_session(&s);
    session_free(&s);
    session_free(&s);
    cr_assert_null(s.title);
    cr_assert_null(s.metadata);
}

Test(session, the_amount_a_completion_states_is_the_total_after_the_discount)
{
    struct session s;
    cr_assert_eq(session_init(&s), C_OK);
    s.amount = 10000;
    s.amount_subtotal = 10000;
    s.amount_discount = 1000;
    s.amount_total = 9000;
    cr_assert_eq(session_amount_due(&s), 9000);
    /* A row from before the totals: the amount, nothing taken off. */
    s.amount_total = RESOURCE_NULL_INT64;
    s.amount_subtotal = RESOURCE_NULL_INT64;
    s.amount_discount = RESOURCE_NULL_INT64;
    cr_assert_eq(session_amount_due(&s), 10000);
    s.amount_subtotal = 12000;
    s.amount_discount = 2000;
    cr_assert_eq(session_amount_due(&s), 10000);
    session_free(&s);
}

Test(session, status_names_are_the_seed_values)
{
    cr_assert_str_eq(session_status_name(SESSION_OPEN), "open");
    cr_assert_str_eq(session_status_name(SESSION_COMPLETE), "complete");
    cr_assert_str_eq(session_status_name(SESSION_EXPIRED), "expired");
}

Test(session, status_parse_accepts_exactly_the_three_names)
{
    enum session_status st = SESSION_OPEN;
    cr_assert_eq(session_status_parse("complete", &st), C_OK);
    cr_assert_eq(st, SESSION_COMPLETE);
    cr_assert_eq(session_status_parse("expired", &st), C_OK);
    cr_assert_eq(st, SESSION_EXPIRED);
    cr_assert_eq(session_status_parse("open", &st), C_OK);
    cr_assert_eq(st, SESSION_OPEN);
    st = SESSION_COMPLETE;
    cr_assert_eq(session_status_parse("OPEN", &st), C_ERR);
    cr_assert_eq(session_status_parse("", &st), C_ERR);
    cr_assert_eq(session_status_parse("canceled", &st), C_ERR);
    cr_assert_eq(session_status_parse("open ", &st), C_ERR);
    cr_assert_eq(session_status_parse(NULL, &st), C_ERR);
    cr_assert_eq(st, SESSION_COMPLETE, "a failed parse must not touch the output");
}

/* ---- session_to_json --------------------------------------------------- */

Test(session, to_json_is_the_seed_object_plus_url_byte_for_byte)
{
    struct session s;
    seed_session(&s);
    json_t *j = session_to_json(&s, BASE_URL);
    cr_assert_not_null(j);
    assert_json_text(j, seed_json);
    json_decref(j);
    session_free(&s);
}

/* A GET answers with the text form: the same bytes as the object dumped. */
Test(session, to_json_text_is_the_dumped_object_byte_for_byte)
{
    struct session full, minimal;
    seed_session(&full);
    minimal_session(&minimal);
    const struct session *both[] = {&full, &minimal};
    for (size_t i = 0; i < 2; i++) {
        json_t *j = session_to_json(both[i], BASE_URL);
        char *expected = dump(j);
        char *text = session_to_json_text(both[i], BASE_URL);
        cr_assert_not_null(text);
        cr_assert_str_eq(text, expected);
        free(text);
        free(expected);
        json_decref(j);
    }
    session_free(&full);
    session_free(&minimal);
}

Test(session, to_json_has_exactly_the_seed_fields_in_order_then_url)
{
    struct session s;
    minimal_session(&s);
    json_t *j = session_to_json(&s, BASE_URL);
    cr_assert_not_null(j);
    cr_assert_eq(json_object_size(j), SEED_FIELD_COUNT);
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach(j, key, value)
    {
        cr_assert_lt(i, SEED_FIELD_COUNT);
        cr_assert_str_eq(key, seed_fields[i], "field %zu", i);
        i++;
    }
    cr_assert_eq(i, SEED_FIELD_COUNT);
    json_decref(j);
    session_free(&s);
}

Test(session, to_json_writes_null_for_every_absent_optional_field)
{
    struct session s;
    minimal_session(&s);
    json_t *j = session_to_json(&s, BASE_URL);
    cr_assert_not_null(j);
    static const char *const nulls[] = {
        "title",          "description", "customer_email",  "customer_name",
        "customer_phone", "product_id",  "price_id",        "subscription_id",
        "success_url",    "cancel_url",  "payment_link_id",
    };
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        json_t *v = json_object_get(j, nulls[i]);
        cr_assert_not_null(v, "%s is missing", nulls[i]);
        cr_assert(json_is_null(v), "%s must be null", nulls[i]);
    }
    cr_assert_str_eq(json_string_value(json_object_get(j, "customer_id")), PRODUCT_ID);
    cr_assert(json_is_false(json_object_get(j, "is_spi")));
    cr_assert(json_is_false(json_object_get(j, "is_pos")));
    cr_assert(json_is_false(json_object_get(j, "allow_quantity")));
    cr_assert_eq(json_integer_value(json_object_get(j, "quantity")), 1);
    assert_json_text(json_object_get(j, "metadata"), "{}");
    json_decref(j);
    session_free(&s);
}

Test(session, to_json_amount_is_a_json_integer_of_minor_units)
{
    struct session s;
    minimal_session(&s);
    s.amount = 1000000000000LL;
    json_t *j = session_to_json(&s, BASE_URL);
    cr_assert_not_null(j);
    json_t *amount = json_object_get(j, "amount");
    cr_assert(json_is_integer(amount), "money is never a float");
    cr_assert_eq(json_integer_value(amount), 1000000000000LL);
    json_decref(j);
    session_free(&s);
}

Test(session, to_json_times_are_whole_second_utc_rfc3339)
{
    struct session s;
    minimal_session(&s);
    s.created_at = 951868799;  /* 2000-02-29T23:59:59Z */
    s.updated_at = 2147483648; /* one past the 32-bit time_t limit */
    s.expires_at = 0;
    json_t *j = session_to_json(&s, BASE_URL);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "created_at")), "2000-02-29T23:59:59Z");
    cr_assert_str_eq(json_string_value(json_object_get(j, "updated_at")), "2038-01-19T03:14:08Z");
    cr_assert_str_eq(json_string_value(json_object_get(j, "expires_at")), "1970-01-01T00:00:00Z");
    json_decref(j);
    session_free(&s);
}

Test(session, to_json_status_follows_the_model)
{
    struct session s;
    minimal_session(&s);
    s.status = SESSION_EXPIRED;
    json_t *j = session_to_json(&s, BASE_URL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "expired");
    json_decref(j);
    s.status = SESSION_COMPLETE;
    j = session_to_json(&s, BASE_URL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "complete");
    json_decref(j);
    session_free(&s);
}

Test(session, to_json_url_is_base_checkout_id)
{
    struct session s;
    minimal_session(&s);
    json_t *j = session_to_json(&s, "http://localhost:8080");
    cr_assert_str_eq(json_string_value(json_object_get(j, "url")),
                     "http://localhost:8080/checkout/" SESSION_ID);
    json_decref(j);
    session_free(&s);
}

Test(session, to_json_copies_metadata_so_later_changes_do_not_leak_in)
{
    struct session s;
    seed_session(&s);
    json_t *j = session_to_json(&s, BASE_URL);
    cr_assert_not_null(j);
    /* The object shares the metadata reference; the session still owns its own. */
    session_free(&s);
    assert_json_text(json_object_get(j, "metadata"), "{\"order_id\":\"ORDER-12345\"}");
    json_decref(j);
}

/* ---- session_from_json ------------------------------------------------- */

static void assert_sessions_equal(const struct session *a, const struct session *b)
{
    cr_assert_str_eq(a->id, b->id);
    cr_assert_str_eq(a->organization_id, b->organization_id);
    cr_assert_str_eq(a->environment, b->environment);
    cr_assert_eq(a->amount, b->amount);
    cr_assert_str_eq(a->currency_code, b->currency_code);
    cr_assert_eq(a->status, b->status);
    cr_assert_eq(a->title == NULL, b->title == NULL);
    if (a->title != NULL)
        cr_assert_str_eq(a->title, b->title);
    cr_assert_eq(a->description == NULL, b->description == NULL);
    if (a->description != NULL)
        cr_assert_str_eq(a->description, b->description);
    cr_assert_str_eq(a->customer_id, b->customer_id);
    cr_assert_eq(a->customer_email == NULL, b->customer_email == NULL);
    if (a->customer_email != NULL)
        cr_assert_str_eq(a->customer_email, b->customer_email);
    cr_assert_eq(a->customer_name == NULL, b->customer_name == NULL);
    if (a->customer_name != NULL)
        cr_assert_str_eq(a->customer_name, b->customer_name);
    cr_assert_eq(a->customer_phone == NULL, b->customer_phone == NULL);
    if (a->customer_phone != NULL)
        cr_assert_str_eq(a->customer_phone, b->customer_phone);
    cr_assert_str_eq(a->product_id, b->product_id);
    cr_assert_str_eq(a->price_id, b->price_id);
    cr_assert_str_eq(a->subscription_id, b->subscription_id);
    cr_assert_eq(a->allow_quantity, b->allow_quantity);
    cr_assert_eq(a->quantity, b->quantity);
    cr_assert_eq(a->success_url == NULL, b->success_url == NULL);
    if (a->success_url != NULL)
        cr_assert_str_eq(a->success_url, b->success_url);
    cr_assert_eq(a->cancel_url == NULL, b->cancel_url == NULL);
    if (a->cancel_url != NULL)
        cr_assert_str_eq(a->cancel_url, b->cancel_url);
    cr_assert_eq(a->allow_coupon_code, b->allow_coupon_code);
    cr_assert_eq(a->require_billing_address, b->require_billing_address);
    cr_assert_str_eq(a->payment_link_id, b->payment_link_id);
    cr_assert_eq(a->is_spi, b->is_spi);
    cr_assert_eq(a->is_pos, b->is_pos);
    cr_assert_eq(a->expires_at, b->expires_at);
    cr_assert(json_equal(a->metadata, b->metadata));
    cr_assert_eq(a->created_at, b->created_at);
    cr_assert_str_eq(a->created_by, b->created_by);
    cr_assert_eq(a->updated_at, b->updated_at);
}

static void assert_round_trip(struct session *s)
{
    json_t *j = session_to_json(s, BASE_URL);
    cr_assert_not_null(j);
    struct session back;
    struct error err = ERROR_INIT;
    cr_assert_eq(session_from_json(j, &back, &err), C_OK, "%s", err.message);
    assert_sessions_equal(s, &back);
    json_t *again = session_to_json(&back, BASE_URL);
    cr_assert(json_equal(j, again));
    json_decref(again);
    json_decref(j);
    session_free(&back);
}

Test(session, from_json_round_trips_the_seed_session)
{
    struct session s;
    seed_session(&s);
    assert_round_trip(&s);
    session_free(&s);
}

Test(session, from_json_round_trips_a_minimal_session_with_nulls)
{
    struct session s;
    minimal_session(&s);
    assert_round_trip(&s);
    session_free(&s);
}

Test(session, from_json_round_trips_every_flag_and_id_set)
{
    struct session s;
    seed_session(&s);
    s.status = SESSION_COMPLETE;
    snprintf(s.customer_id, sizeof(s.customer_id), "%s", CREATOR_ID);
    snprintf(s.subscription_id, sizeof(s.subscription_id), "%s", PRICE_ID);
    snprintf(s.payment_link_id, sizeof(s.payment_link_id), "%s", PRODUCT_ID);
    s.allow_quantity = true;
    s.quantity = 10000;
    s.is_spi = true;
    s.is_pos = true;
    s.amount = 1000000000000LL;
    cr_assert_eq(json_object_set_new(s.metadata, "n", json_integer(42)), 0);
    cr_assert_eq(json_object_set_new(s.metadata, "b", json_true()), 0);
    cr_assert_eq(json_object_set_new(s.metadata, "cart_items", json_string("[{\"sku\":\"A\"}]")),
                 0);
    assert_round_trip(&s);
    session_free(&s);
}

Test(session, from_json_round_trips_unicode_text)
{
    struct session s;
    seed_session(&s);
    free(s.title);
    s.title = dup_or_die("Café à Dakar — 10 000 F CFA 🎉");
    assert_round_trip(&s);
    session_free(&s);
}

/* from_json on the seed object with one field replaced (or removed when
 * replacement is NULL): must fail with message, leaving *out untouched. */
static void expect_from_json_error(const char *field, json_t *replacement, const char *message)
{
    struct session s;
    seed_session(&s);
    json_t *j = session_to_json(&s, BASE_URL);
    session_free(&s);
    cr_assert_not_null(j);
    if (replacement != NULL)
        cr_assert_eq(json_object_set_new(j, field, replacement), 0);
    else
        cr_assert_eq(json_object_del(j, field), 0);
    struct session out, before;
    memset(&out, 0x5a, sizeof(out));
    memcpy(&before, &out, sizeof(out));
    struct error err = ERROR_INIT;
    cr_assert_eq(session_from_json(j, &out, &err), C_ERR, "field %s", field);
    cr_assert_str_eq(err.message, message);
    cr_assert_eq(memcmp(&out, &before, sizeof(out)), 0, "a failed read must not touch *out");
    json_decref(j);
}

Test(session, from_json_rejects_a_non_object)
{
    json_t *arr = json_array();
    struct session out;
    struct error err = ERROR_INIT;
    cr_assert_eq(session_from_json(arr, &out, &err), C_ERR);
    cr_assert_str_eq(err.message, "session is not a JSON object");
    json_decref(arr);
    cr_assert_eq(session_from_json(NULL, &out, &err), C_ERR);
}

Test(session, from_json_rejects_each_missing_required_field)
{
    static const char *const required[] = {
        "checkout_session_id",
        "organization_id",
        "environment",
        "amount",
        "currency_code",
        "status",
        "quantity",
        "expires_at",
        "metadata",
        "created_at",
        "created_by",
        "updated_at",
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        char message[120];
        snprintf(message, sizeof(message), "field %s is missing or has the wrong type",
                 required[i]);
        expect_from_json_error(required[i], NULL, message);
    }
    static const char *const booleans[] = {"allow_quantity", "allow_coupon_code",
                                           "require_billing_address", "is_spi", "is_pos"};
    for (size_t i = 0; i < sizeof(booleans) / sizeof(booleans[0]); i++) {
        char message[120];
        snprintf(message, sizeof(message), "field %s is missing or not a boolean", booleans[i]);
        expect_from_json_error(booleans[i], NULL, message);
    }
}

Test(session, from_json_rejects_wrong_types)
{
    expect_from_json_error("amount", json_string("10000"),
                           "field amount is missing or has the wrong type");
    expect_from_json_error("amount", json_real(10000.0),
                           "field amount is missing or has the wrong type");
    expect_from_json_error("title", json_integer(5),
                           "field title is missing or has the wrong type");
    expect_from_json_error("is_pos", json_string("false"),
                           "field is_pos is missing or not a boolean");
    expect_from_json_error("metadata", json_array(),
                           "field metadata is missing or has the wrong type");
    expect_from_json_error("created_by", json_null(),
                           "field created_by is missing or has the wrong type");
}

Test(session, from_json_rejects_malformed_ids_times_and_status)
{
    expect_from_json_error("checkout_session_id", json_string("not-a-uuid"),
                           "field checkout_session_id is not a UUID");
    expect_from_json_error("product_id", json_string("{" PRODUCT_ID "}"),
                           "field product_id is not a UUID");
    expect_from_json_error("expires_at", json_string("2024-02-30T10:00:00Z"),
                           "field expires_at is not an RFC 3339 time");
    expect_from_json_error("created_at", json_string("yesterday"),
                           "field created_at is not an RFC 3339 time");
    expect_from_json_error("status", json_string("pending"), "field status has an unknown value");
}

Test(session, from_json_rejects_values_that_would_be_truncated_or_break_the_table)
{
    expect_from_json_error("environment", json_string("production"),
                           "field environment must be test or live");
    expect_from_json_error("environment", json_string("tests"),
                           "field environment must be test or live");
    expect_from_json_error("currency_code", json_string("XOFX"),
                           "field currency_code is not a currency code");
    expect_from_json_error("currency_code", json_string("xof"),
                           "field currency_code is not a currency code");
    expect_from_json_error("amount", json_integer(0), "field amount is out of range");
    expect_from_json_error("amount", json_integer(1000000000001LL), "field amount is out of range");
    expect_from_json_error("quantity", json_integer(0), "field quantity is out of range");
    expect_from_json_error("quantity", json_integer(4294967297LL),
                           "field quantity is out of range");
    expect_from_json_error("customer_email", json_null(),
                           "one of customer_id and customer_email is required");
}

Test(session, from_json_reports_the_first_problem)
{
    struct session s;
    seed_session(&s);
    json_t *j = session_to_json(&s, BASE_URL);
    session_free(&s);
    json_object_del(j, "organization_id");
    json_object_del(j, "updated_at");
    struct session out;
    struct error err = ERROR_INIT;
    cr_assert_eq(session_from_json(j, &out, &err), C_ERR);
    cr_assert_str_eq(err.message, "field organization_id is missing or has the wrong type");
    json_decref(j);
}

Test(session, from_json_ignores_url_and_unknown_fields)
{
    struct session s;
    seed_session(&s);
    json_t *j = session_to_json(&s, BASE_URL);
    cr_assert_eq(json_object_set_new(j, "url", json_string("https://elsewhere.example/x")), 0);
    cr_assert_eq(json_object_set_new(j, "future_field", json_integer(1)), 0);
    struct session back;
    struct error err = ERROR_INIT;
    cr_assert_eq(session_from_json(j, &back, &err), C_OK, "%s", err.message);
    assert_sessions_equal(&s, &back);
    json_decref(j);
    session_free(&back);
    session_free(&s);
}

Test(session, from_json_of_a_command_without_the_totals_takes_nothing_off)
{
    struct session s;
    seed_session(&s);
    json_t *j = session_to_json(&s, BASE_URL);
    session_free(&s);
    json_object_del(j, "amount_subtotal");
    json_object_del(j, "amount_discount");
    json_object_del(j, "amount_total");
    json_object_del(j, "coupon");
    struct session back;
    struct error err = ERROR_INIT;
    cr_assert_eq(session_from_json(j, &back, &err), C_OK, "%s", err.message);
    cr_assert_eq(back.amount_subtotal, 10000);
    cr_assert_eq(back.amount_discount, 0);
    cr_assert_eq(back.amount_total, 10000);
    cr_assert_str_eq(back.coupon_id, "");
    cr_assert_null(back.coupon_code);
    session_free(&back);
    json_decref(j);
}

Test(session, a_coupon_is_an_object_of_its_id_and_code)
{
    struct session s;
    seed_session(&s);
    s.amount_discount = 1250;
    s.amount_total = 8750;
    snprintf(s.coupon_id, sizeof(s.coupon_id), "%s", PRICE_ID);
    s.coupon_code = dup_or_die("Summer10");
    json_t *j = session_to_json(&s, BASE_URL);
    const json_t *c = json_object_get(j, "coupon");
    cr_assert_eq(json_object_size(c), 2);
    cr_assert_str_eq(json_string_value(json_object_get(c, "id")), PRICE_ID);
    cr_assert_str_eq(json_string_value(json_object_get(c, "code")), "Summer10");
    cr_assert_eq(json_integer_value(json_object_get(j, "amount_total")), 8750);
    assert_round_trip(&s);
    json_decref(j);
    session_free(&s);
}

/* ---- CloudEvents ------------------------------------------------------- */

/* CloudEvents 1.0: attribute names are lower-case ASCII letters and digits
 * and should not exceed 20 characters. */
static void assert_cloudevent_names(const json_t *ce)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)ce, key, value)
    {
        cr_assert_leq(strlen(key), 20, "%s", key);
        for (const char *p = key; *p; p++)
            cr_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'), "%s", key);
    }
}

static void assert_keys(const json_t *obj, const char *const *keys, size_t n)
{
    cr_assert_eq(json_object_size(obj), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_not_null(json_object_get(obj, keys[i]), "%s is missing", keys[i]);
}

static const char *str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    cr_assert_not_null(s, "%s is not a string", name);
    return s;
}

Test(session, command_create_is_a_cloudevent_carrying_the_rest_object)
{
    struct session s;
    seed_session(&s);
    int64_t before = rfc3339_now();
    json_t *ce = session_command_create(&s, BASE_URL, "0190a6e4-0000-7000-8000-000000000001");
    int64_t after = rfc3339_now();
    cr_assert_not_null(ce);
    static const char *const keys[] = {"specversion", "id",   "source",          "type",
                                       "subject",     "time", "datacontenttype", "data"};
    assert_keys(ce, keys, 8);
    assert_cloudevent_names(ce);
    cr_assert_str_eq(str(ce, "specversion"), "1.0");
    cr_assert_str_eq(str(ce, "id"), "0190a6e4-0000-7000-8000-000000000001");
    cr_assert_str_eq(str(ce, "source"), "/caisse/gateway");
    cr_assert_str_eq(str(ce, "type"), "checkout.session.create");
    cr_assert_str_eq(str(ce, "subject"), SESSION_ID);
    cr_assert_str_eq(str(ce, "datacontenttype"), "application/json");
    int64_t t = 0;
    cr_assert_eq(rfc3339_parse(str(ce, "time"), &t), C_OK);
    cr_assert(t >= before && t <= after, "time %s is not now", str(ce, "time"));
    cr_assert_eq(strlen(str(ce, "time")), 20);
    assert_json_text(json_object_get(ce, "data"), seed_json);
    json_decref(ce);
    session_free(&s);
}

Test(session, command_create_carries_idempotency_key_and_hash_as_extensions)
{
    struct session s;
    seed_session(&s);
    s.idempotency_key = dup_or_die("order-12345-attempt");
    memset(s.request_hash, 'a', 64);
    s.request_hash[64] = '\0';
    json_t *ce = session_command_create(&s, BASE_URL, "cmd-1");
    cr_assert_not_null(ce);
    static const char *const keys[] = {"specversion",    "id",         "source",          "type",
                                       "subject",        "time",       "datacontenttype", "data",
                                       "idempotencykey", "requesthash"};
    assert_keys(ce, keys, 10);
    assert_cloudevent_names(ce);
    cr_assert_str_eq(str(ce, "idempotencykey"), "order-12345-attempt");
    cr_assert_str_eq(str(ce, "requesthash"), s.request_hash);
    /* The key is command metadata, never part of the REST object. */
    cr_assert_null(json_object_get(json_object_get(ce, "data"), "idempotency_key"));
    json_decref(ce);
    session_free(&s);
}

/* ---- the event writer -------------------------------------------------- */

/* The event as the jansson tree it was built as before the writer (the
 * reference the writer's text must equal, byte for byte). */
static json_t *reference_event(const struct session *s, const char *base_url, const char *type,
                               const char *event_id, int64_t time)
{
    json_t *data = session_to_json(s, base_url);
    if (data == NULL)
        return NULL;
    char when[RFC3339_LEN];
    rfc3339_format(time, when);
    return json_pack("{ss ss ss ss ss ss ss ss ss so}", "specversion", "1.0", "id", event_id,
                     "source", "/caisse/checkout-sessions", "type", type, "subject", s->id, "time",
                     when, "datacontenttype", "application/json", "organizationid",
                     s->organization_id, "environment", s->environment, "data", data);
}

/* The writer's text of an event, which must parse. */
static char *event_text(const struct session *s, const char *base_url, const char *type,
                        const char *event_id, int64_t time)
{
    struct json_writer w = JSON_WRITER_INIT;
    cr_assert_eq(session_event_write(&w, s, base_url, type, event_id, time), C_OK);
    cr_assert_not_null(w.buf);
    cr_assert_eq(strlen(w.buf), w.len, "the text holds a NUL");
    return w.buf; /* the writer's buffer, now the caller's */
}

static json_t *event_json(const struct session *s, const char *type, const char *event_id,
                          int64_t time)
{
    char *text = event_text(s, BASE_URL, type, event_id, time);
    json_error_t jerr;
    json_t *parsed = json_loads(text, 0, &jerr);
    cr_assert_not_null(parsed, "%s in %s", jerr.text, text);
    free(text);
    return parsed;
}

/* The writer's text equals json_dumps of the reference tree, byte for byte. */
static void assert_event_matches_reference(const struct session *s, const char *base_url,
                                           const char *type, const char *event_id, int64_t time)
{
    json_t *ref = reference_event(s, base_url, type, event_id, time);
    cr_assert_not_null(ref);
    char *expected = dump(ref);
    char *text = event_text(s, base_url, type, event_id, time);
    json_error_t jerr;
    json_t *parsed = json_loads(text, 0, &jerr);
    cr_assert_not_null(parsed, "%s in %s", jerr.text, text);
    cr_assert(json_equal(parsed, ref));
    cr_assert_str_eq(text, expected);
    json_decref(parsed);
    json_decref(ref);
    free(expected);
    free(text);
}

Test(session, event_is_a_cloudevent_with_tenant_extensions)
{
    struct session s;
    seed_session(&s);
    s.status = SESSION_EXPIRED;
    json_t *ce = event_json(&s, "checkout.session.expired", "0190a6e4-0000-7000-8000-0000000000e1",
                            T_EXPIRES);
    static const char *const keys[] = {"specversion",    "id",         "source",          "type",
                                       "subject",        "time",       "datacontenttype", "data",
                                       "organizationid", "environment"};
    assert_keys(ce, keys, 10);
    assert_cloudevent_names(ce);
    cr_assert_str_eq(str(ce, "specversion"), "1.0");
    cr_assert_str_eq(str(ce, "id"), "0190a6e4-0000-7000-8000-0000000000e1");
    cr_assert_str_eq(str(ce, "source"), "/caisse/checkout-sessions");
    cr_assert_str_eq(str(ce, "type"), "checkout.session.expired");
    cr_assert_str_eq(str(ce, "subject"), SESSION_ID);
    cr_assert_str_eq(str(ce, "time"), "2024-01-15T11:30:00Z");
    cr_assert_str_eq(str(ce, "datacontenttype"), "application/json");
    cr_assert_str_eq(str(ce, "organizationid"), ORG_ID);
    cr_assert_str_eq(str(ce, "environment"), "live");
    json_t *data = json_object_get(ce, "data");
    cr_assert_str_eq(str(data, "status"), "expired");
    json_t *expected = session_to_json(&s, BASE_URL);
    cr_assert(json_equal(data, expected));
    json_decref(expected);
    json_decref(ce);
    session_free(&s);
}

Test(session, event_members_come_in_the_order_of_the_tree_it_replaces)
{
    struct session s;
    seed_session(&s);
    char *text = event_text(&s, BASE_URL, SESSION_EVENT_CREATED, "e-1", T_CREATED);
    char expected[4096];
    snprintf(expected, sizeof(expected),
             "{\"specversion\":\"1.0\",\"id\":\"e-1\","
             "\"source\":\"/caisse/checkout-sessions\","
             "\"type\":\"checkout.session.created\",\"subject\":\"" SESSION_ID "\","
             "\"time\":\"2024-01-15T10:30:00Z\","
             "\"datacontenttype\":\"application/json\","
             "\"organizationid\":\"" ORG_ID "\",\"environment\":\"live\","
             "\"data\":%s}",
             seed_json);
    cr_assert_str_eq(text, expected);
    free(text);
    session_free(&s);
}

Test(session, event_data_reads_back_as_the_same_session)
{
    struct session s;
    seed_session(&s);
    /* What a consumer does: parse the Kafka value, then the data. */
    json_t *parsed = event_json(&s, SESSION_EVENT_CREATED, "e-1", T_CREATED);
    struct session back;
    struct error err = ERROR_INIT;
    cr_assert_eq(session_from_json(json_object_get(parsed, "data"), &back, &err), C_OK, "%s",
                 err.message);
    assert_sessions_equal(&s, &back);
    json_decref(parsed);
    session_free(&back);
    session_free(&s);
}

Test(session, event_top_level_id_is_the_first_id_member)
{
    /* webhook-worker/event_id.c scans the top level for "id"; data has
     * members named like it (checkout_session_id), never "id" itself. */
    struct session s;
    seed_session(&s);
    char *text = event_text(&s, BASE_URL, SESSION_EVENT_COMPLETED, "e-42", T_CREATED);
    static const char start[] = "{\"specversion\":\"1.0\",\"id\":\"e-42\",";
    cr_assert_eq(strncmp(text, start, strlen(start)), 0, "%s", text);
    free(text);
    session_free(&s);
}

/* A deterministic generator of awkward text (xorshift). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Up to max characters drawn from the hard ones: quotes, backslashes, every
 * control character, DEL, U+2028/U+2029, accents, CJK, emoji, JSON-looking
 * text, ASCII. NULL one time in eight when nullable. */
static char *hard_string(size_t max, bool nullable)
{
    static const char *const pieces[] = {
        "\"",
        "\\",
        "\\u0000",
        "\x7f",
        "\xe2\x80\xa8",
        "\xe2\x80\xa9",
        "\xc3\xa9",
        "\xe6\xbc\xa2",
        "\xf0\x9f\x8e\x89",
        "{\"k\":[1]}",
        "/",
        "</script>",
        "a",
        "Z",
        " ",
        "%s",
        "\xef\xbb\xbf",
        "\xf4\x8f\xbf\xbf",
    };
    if (nullable && rng_next() % 8 == 0)
        return NULL;
    size_t n = (size_t)(rng_next() % (max + 1));
    char *s = malloc(n * 4 + 1);
    cr_assert_not_null(s);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next() % 40;
        if (r < 31) {
            s[len++] = (char)(r + 1); /* 0x01..0x1F */
            continue;
        }
        const char *p = pieces[rng_next() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t plen = strlen(p);
        if (plen > 4)
            plen = 1; /* keep the bound: one byte of the longer ones */
        memcpy(s + len, p, plen);
        len += plen;
    }
    s[len] = '\0';
    return s;
}

/* Metadata nested and typed in every way jansson can hold. */
static json_t *hard_metadata(int depth)
{
    json_t *o = json_object();
    cr_assert_not_null(o);
    size_t keys = (size_t)(rng_next() % 6);
    for (size_t i = 0; i < keys; i++) {
        char *key = hard_string(12, false);
        json_t *v;
        switch (rng_next() % 8) {
        case 0:
            v = json_null();
            break;
        case 1:
            v = json_integer((json_int_t)rng_next());
            break;
        case 2:
            v = json_real((double)(int64_t)rng_next() / 1e9);
            break;
        case 3:
            v = json_boolean(rng_next() % 2);
            break;
        case 4:
            v = depth < 3 ? hard_metadata(depth + 1) : json_string("leaf");
            break;
        case 5:
            v = json_pack("[s i f n]", "x\"y", 7, 0.5);
            break;
        default: {
            char *text = hard_string(500, false);
            v = json_string(text);
            free(text);
        }
        }
        cr_assert_not_null(v);
        cr_assert_eq(json_object_set_new(o, key, v), 0);
        free(key);
    }
    return o;
}

static void random_uuid(char out[UUID_STR_LEN], bool nullable)
{
    if (nullable && rng_next() % 3 == 0) {
        out[0] = '\0';
        return;
    }
    cr_assert_eq(uuid_v7_string(out), C_OK);
    if (rng_next() % 4 == 0) /* either case is a UUID */
        for (char *p = out; *p; p++)
            if (*p >= 'a' && *p <= 'f')
                *p = (char)(*p - 'a' + 'A');
}

static void hard_session(struct session *s)
{
    cr_assert_eq(session_init(s), C_OK);
    random_uuid(s->id, false);
    random_uuid(s->organization_id, false);
    snprintf(s->environment, sizeof(s->environment), "%s", rng_next() % 2 ? "test" : "live");
    s->amount = (int64_t)(rng_next() % 1000000000000ULL) + 1;
    snprintf(s->currency_code, sizeof(s->currency_code), "%s", rng_next() % 2 ? "XOF" : "EUR");
    s->status = (enum session_status)(rng_next() % 3);
    s->title = hard_string(255, true);
    s->description = hard_string(5000, true);
    random_uuid(s->customer_id, true);
    s->customer_email = hard_string(320, true);
    s->customer_name = hard_string(255, true);
    s->customer_phone = hard_string(32, true);
    random_uuid(s->product_id, true);
    random_uuid(s->price_id, true);
    random_uuid(s->subscription_id, true);
    s->allow_quantity = rng_next() % 2;
    s->quantity = (int32_t)(rng_next() % 10000) + 1;
    s->success_url = hard_string(2048, true);
    s->cancel_url = hard_string(2048, true);
    s->allow_coupon_code = rng_next() % 2;
    s->require_billing_address = rng_next() % 2;
    random_uuid(s->payment_link_id, true);
    s->is_spi = rng_next() % 2;
    s->is_pos = rng_next() % 2;
    s->expires_at = (int64_t)(rng_next() % 4102444800ULL);
    json_decref(s->metadata);
    s->metadata = hard_metadata(0);
    s->created_at = (int64_t)(rng_next() % 4102444800ULL);
    random_uuid(s->created_by, false);
    s->updated_at = (int64_t)(rng_next() % 4102444800ULL);
    s->amount_subtotal = s->amount;
    s->amount_discount = (int64_t)(rng_next() % 1000);
    s->amount_total = s->amount_subtotal - s->amount_discount;
    random_uuid(s->coupon_id, true);
    if (s->coupon_id[0] != '\0')
        s->coupon_code = hard_string(64, false);
}

Test(session, event_text_equals_the_jansson_tree_for_a_thousand_hard_sessions)
{
    static const char *const bases[] = {BASE_URL, "http://localhost:8080",
                                        "https://pay.example/a\"b\\c/\xc3\xa9"};
    static const char *const types[] = {SESSION_EVENT_CREATED, SESSION_EVENT_COMPLETED,
                                        SESSION_EVENT_EXPIRED};
    for (int i = 0; i < 1000; i++) {
        struct session s;
        hard_session(&s);
        char event_id[UUID_STR_LEN];
        cr_assert_eq(uuid_v7_string(event_id), C_OK);
        assert_event_matches_reference(&s, bases[i % 3], types[i % 3], event_id,
                                       i % 2 ? s.updated_at : s.created_at);
        session_free(&s);
    }
}

Test(session, event_text_equals_the_jansson_tree_at_the_edges)
{
    struct session s;
    minimal_session(&s); /* every optional field null */
    assert_event_matches_reference(&s, BASE_URL, SESSION_EVENT_CREATED, "e-1", T_CREATED);
    s.amount = INT64_MAX;
    s.quantity = INT32_MAX;
    s.created_at = 253402300799LL; /* 9999-12-31T23:59:59Z */
    s.updated_at = -1;
    s.expires_at = 253402300800LL; /* past the format: clamped alike */
    assert_event_matches_reference(&s, BASE_URL, SESSION_EVENT_EXPIRED, "e-2", 0);
    s.amount = INT64_MIN;
    assert_event_matches_reference(&s, "", SESSION_EVENT_EXPIRED, "", -62135596800LL);
    session_free(&s);
}

Test(session, event_of_a_string_that_is_not_utf8_fails_and_leaves_the_writer_as_it_was)
{
    /* jansson will not hold such a string either: no event rather than
     * invalid JSON. */
    static const char *const bad[] = {
        "\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct session s;
        seed_session(&s);
        free(s.title);
        s.title = dup_or_die(bad[i]);
        cr_assert_null(session_to_json(&s, BASE_URL), "jansson took bad string %zu", i);
        struct json_writer w = JSON_WRITER_INIT;
        json_writer_literal(&w, "before");
        cr_assert_eq(session_event_write(&w, &s, BASE_URL, SESSION_EVENT_CREATED, "e", 0), C_ERR,
                     "bad string %zu", i);
        cr_assert_eq(w.len, 6);
        cr_assert_str_eq(w.buf, "before");
        cr_assert_not(w.failed);
        json_writer_free(&w);
        session_free(&s);
    }
}

/* ---- the insert's rows ------------------------------------------------- */

Test(session, insert_rows_are_the_stored_columns_with_their_index)
{
    struct session a, b;
    seed_session(&a);
    a.idempotency_key = dup_or_die("order-1");
    memset(a.request_hash, 'f', 64);
    a.request_hash[64] = '\0';
    minimal_session(&b);
    const struct session *both[] = {&a, &b};
    struct json_writer w = JSON_WRITER_INIT;
    cr_assert_eq(session_write_insert_rows(&w, both, 2), C_OK);
    json_error_t jerr;
    json_t *rows = json_loads(w.buf, 0, &jerr);
    cr_assert_not_null(rows, "%s", jerr.text);
    cr_assert_eq(json_array_size(rows), 2);
    json_t *r0 = json_array_get(rows, 0), *r1 = json_array_get(rows, 1);
    cr_assert_eq(json_integer_value(json_object_get(r0, "ord")), 0);
    cr_assert_eq(json_integer_value(json_object_get(r1, "ord")), 1);
    /* Keyed by column: id, not checkout_session_id; no url. */
    cr_assert_str_eq(str(r0, "id"), SESSION_ID);
    cr_assert_null(json_object_get(r0, "checkout_session_id"));
    cr_assert_null(json_object_get(r0, "url"));
    /* Set after creation only: never in the insert. */
    cr_assert_null(json_object_get(r0, "payment_reference"));
    cr_assert_str_eq(str(r0, "idempotency_key"), "order-1");
    cr_assert_str_eq(str(r0, "request_hash"), a.request_hash);
    cr_assert(json_is_null(json_object_get(r1, "idempotency_key")));
    cr_assert(json_is_null(json_object_get(r1, "request_hash")), "\"\" is no hash: null");
    cr_assert(json_is_null(json_object_get(r1, "title")));
    cr_assert(json_is_null(json_object_get(r1, "product_id")));
    cr_assert_str_eq(str(r0, "status"), "open");
    cr_assert_str_eq(str(r0, "expires_at"), "2024-01-15T11:30:00Z");
    assert_json_text(json_object_get(r0, "metadata"), "{\"order_id\":\"ORDER-12345\"}");
    cr_assert_eq(json_integer_value(json_object_get(r0, "amount")), 10000);
    cr_assert(json_is_true(json_object_get(r0, "require_billing_address")));
    /* Every other value as in the REST object. */
    json_t *rest = session_to_json(&a, BASE_URL);
    const char *key;
    json_t *value;
    json_object_foreach(rest, key, value)
    {
        const char *column = strcmp(key, "checkout_session_id") == 0 ? "id" : key;
        if (strcmp(key, "url") == 0 || strcmp(key, "coupon") == 0)
            continue;
        /* Set by a payment's completion, never by the insert. */
        if (strcmp(key, "billing_address") == 0 || strcmp(key, "customer_details") == 0 ||
            strcmp(key, "payment") == 0) {
            cr_assert_null(json_object_get(r0, column), "%s", key);
            continue;
        }
        cr_assert(json_equal(value, json_object_get(r0, column)), "%s", key);
    }
    /* The coupon's members are flat columns. */
    cr_assert(json_is_null(json_object_get(r0, "coupon_id")));
    cr_assert(json_is_null(json_object_get(r0, "coupon_code")));
    /* The page secret is a column too, never a REST field (null here: none set). */
    cr_assert(json_is_null(json_object_get(r0, "page_secret")));
    cr_assert_eq(json_object_size(r0), json_object_size(rest) - 2 - 3 + 2 + 4,
                 "REST fields but url, coupon and the payment's three, plus coupon_id,"
                 " coupon_code, ord, idempotency_key, request_hash and page_secret");
    json_decref(rest);
    json_decref(rows);
    json_writer_free(&w);
    session_free(&a);
    session_free(&b);
}

Test(session, copy_rows_are_one_line_per_session_in_id_order_with_the_insert_columns)
{
    struct session a, b;
    seed_session(&a);
    minimal_session(&b);
    snprintf(a.id, sizeof(a.id), "%s", "0190a6e4-6b2c-7d3e-8f41-ffffffffffff");
    snprintf(b.id, sizeof(b.id), "%s", "0190A6E4-6B2C-7D3E-8F41-000000000000");
    const struct session *both[] = {&a, &b};
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cr_assert_eq(session_write_copy_rows(both, 2, &buf, &len, &cap), C_OK);
    /* b first: ids compare as the uuids they are, whatever their case. */
    char *second = strchr(buf, '\n');
    cr_assert_not_null(second);
    second++;
    cr_assert_eq(strncmp(buf, b.id, strlen(b.id)), 0, "%s", buf);
    cr_assert_eq(strncmp(second, a.id, strlen(a.id)), 0);
    cr_assert_eq(buf[len - 1], '\n');
    cr_assert_eq(strchr(second, '\n'), buf + len - 1, "two lines");
    /* As many fields as the insert's recordset has columns (its JSON row, less ord). */
    struct json_writer w = JSON_WRITER_INIT;
    const struct session *one[] = {&a};
    cr_assert_eq(session_write_insert_rows(&w, one, 1), C_OK);
    json_t *rows = json_loads(w.buf, 0, NULL);
    cr_assert_not_null(rows);
    size_t tabs = 0;
    for (const char *p = second; *p != '\n'; p++)
        tabs += *p == '\t';
    cr_assert_eq(tabs + 1, json_object_size(json_array_get(rows, 0)) - 1);
    json_decref(rows);
    json_writer_free(&w);
    free(buf);
    session_free(&a);
    session_free(&b);
}

Test(session, insert_rows_of_no_session_are_an_empty_array)
{
    struct json_writer w = JSON_WRITER_INIT;
    cr_assert_eq(session_write_insert_rows(&w, NULL, 0), C_OK);
    cr_assert_str_eq(w.buf, "[]");
    json_writer_free(&w);
}

/* ---- allocation failures ----------------------------------------------- */

/* A countdown allocator in the curl "torture" tradition: allocation number
 * fail_at fails (and with fail_rest every later one too). */
static long alloc_calls;
static long alloc_fail_at;
static bool alloc_fail_rest;

static void *failing_malloc(size_t n)
{
    alloc_calls++;
    if (alloc_calls == alloc_fail_at || (alloc_fail_rest && alloc_calls > alloc_fail_at))
        return NULL;
    return malloc(n);
}

static void failing_free(void *p)
{
    free(p);
}

typedef json_t *(*builder_fn)(const struct session *s);

static json_t *build_rest(const struct session *s)
{
    return session_to_json(s, BASE_URL);
}

static json_t *build_command(const struct session *s)
{
    return session_command_create(s, BASE_URL, "cmd-1");
}

/* Fails allocation 1, 2, ... until the builder no longer allocates that
 * many times: every failed run must return NULL (ASan reports any leak at
 * exit under make unit-asan); the first complete run must equal reference. */
static void torture(builder_fn build, bool fail_rest, bool stamps_now)
{
    struct session s;
    seed_session(&s);
    s.idempotency_key = dup_or_die("idem-1");
    snprintf(s.request_hash, sizeof(s.request_hash), "%064d", 7);
    json_t *reference = build(&s);
    cr_assert_not_null(reference);
    long failures = 0;
    for (long n = 1; n < 100000; n++) {
        alloc_calls = 0;
        alloc_fail_at = n;
        alloc_fail_rest = fail_rest;
        json_set_alloc_funcs(failing_malloc, failing_free);
        json_t *j = build(&s);
        json_set_alloc_funcs(malloc, free);
        if (alloc_calls < n) {
            /* Allocation n never happened: this run was the first complete one. */
            cr_assert_not_null(j);
            if (stamps_now) {
                /* Built later than the reference (much later under ASan): its
                 * own "time", not a copy of the reference's. */
                cr_assert_not_null(json_string_value(json_object_get(j, "time")));
                json_object_del(j, "time");
                json_object_del(reference, "time");
            }
            cr_assert(json_equal(j, reference));
            json_decref(j);
            break;
        }
        cr_assert_null(j, "allocation %ld failed, yet a result came back", n);
        failures++;
    }
    /* 30 fields: far more allocations than that; a countdown that never
     * fired would make this test vacuous. */
    cr_assert_geq(failures, 30, "only %ld allocations were failed", failures);
    json_decref(reference);
    session_free(&s);
}

Test(session, to_json_returns_null_and_leaks_nothing_when_any_one_allocation_fails)
{
    torture(build_rest, false, false);
}

Test(session, to_json_returns_null_and_leaks_nothing_when_memory_runs_out)
{
    torture(build_rest, true, false);
}

static void *failing_grow(void *p, size_t n)
{
    alloc_calls++;
    if (alloc_calls == alloc_fail_at || (alloc_fail_rest && alloc_calls > alloc_fail_at))
        return NULL;
    return realloc(p, n);
}

/* The event writer's allocations are its buffer's growth and jansson's while
 * it prints metadata: failing any one of them must give C_ERR with the
 * writer's text as it was (ASan reports any leak); the first complete run
 * must equal the text written without failures. */
static void torture_event_writer(bool fail_rest)
{
    struct session s;
    seed_session(&s);
    cr_assert_eq(json_object_set_new(s.metadata, "nested", json_pack("{s[iis]}", "a", 1, 2, "x")),
                 0);
    char *reference = event_text(&s, BASE_URL, SESSION_EVENT_CREATED, "e-1", T_CREATED);
    long failures = 0;
    for (long n = 1; n < 100000; n++) {
        struct json_writer w = JSON_WRITER_INIT;
        json_writer_literal(&w, "prefix:");
        w.grow = failing_grow;
        alloc_calls = 0;
        alloc_fail_at = n;
        alloc_fail_rest = fail_rest;
        json_set_alloc_funcs(failing_malloc, failing_free);
        int rc = session_event_write(&w, &s, BASE_URL, SESSION_EVENT_CREATED, "e-1", T_CREATED);
        json_set_alloc_funcs(malloc, free);
        if (alloc_calls < n) {
            cr_assert_eq(rc, C_OK);
            cr_assert_eq(strncmp(w.buf, "prefix:", 7), 0);
            cr_assert_str_eq(w.buf + 7, reference);
            json_writer_free(&w);
            break;
        }
        cr_assert_eq(rc, C_ERR, "allocation %ld failed, yet the event was written", n);
        cr_assert_eq(w.len, 7, "allocation %ld failed: the text changed", n);
        cr_assert_str_eq(w.buf, "prefix:");
        cr_assert_not(w.failed, "the writer must be usable again");
        json_writer_free(&w);
        failures++;
    }
    cr_assert_geq(failures, 3, "only %ld allocations were failed", failures);
    free(reference);
    session_free(&s);
}

Test(session, event_writer_fails_cleanly_when_any_one_allocation_fails)
{
    torture_event_writer(false);
}

Test(session, event_writer_fails_cleanly_when_memory_runs_out)
{
    torture_event_writer(true);
}

Test(session, command_returns_null_and_leaks_nothing_when_any_one_allocation_fails)
{
    torture(build_command, false, true);
}

/* ---- the hosted page's secret ------------------------------------------------ */

Test(session, page_secret_is_32_base64url_characters_and_new_each_time)
{
    char a[SESSION_PAGE_SECRET_LEN], b[SESSION_PAGE_SECRET_LEN];
    cr_assert_eq(session_page_secret_generate(a), C_OK);
    cr_assert_eq(session_page_secret_generate(b), C_OK);
    cr_assert_eq(strlen(a), 32);
    cr_assert(session_page_secret_is_valid(a));
    cr_assert(session_page_secret_is_valid(b));
    cr_assert_str_neq(a, b);
}

Test(session, page_secret_shape_refuses_other_lengths_and_characters)
{
    cr_assert(session_page_secret_is_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZab-_09"));
    cr_assert_not(session_page_secret_is_valid(""));
    cr_assert_not(session_page_secret_is_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZab-_0"));
    cr_assert_not(session_page_secret_is_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZab-_099"));
    cr_assert_not(session_page_secret_is_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZab+/09"));
}

Test(session, page_secret_matches_only_the_whole_secret)
{
    struct session s;
    minimal_session(&s);
    cr_assert_not(session_page_secret_matches(&s, ""), "a session without a secret has no page");
    cr_assert_not(session_page_secret_matches(&s, NULL));
    snprintf(s.page_secret, sizeof(s.page_secret), "ABCDEFGHIJKLMNOPQRSTUVWXYZab-_09");
    cr_assert(session_page_secret_matches(&s, "ABCDEFGHIJKLMNOPQRSTUVWXYZab-_09"));
    cr_assert_not(session_page_secret_matches(&s, "ABCDEFGHIJKLMNOPQRSTUVWXYZab-_0"));
    cr_assert_not(session_page_secret_matches(&s, "ABCDEFGHIJKLMNOPQRSTUVWXYZab-_091"));
    cr_assert_not(session_page_secret_matches(&s, "ABCDEFGHIJKLMNOPQRSTUVWXYZab-_08"));
    cr_assert_not(session_page_secret_matches(&s, "bBCDEFGHIJKLMNOPQRSTUVWXYZab-_09"));
    cr_assert_not(session_page_secret_matches(&s, ""));
    cr_assert_not(session_page_secret_matches(&s, NULL));
    session_free(&s);
}

Test(session, url_carries_the_page_secret_and_json_never_shows_it_alone)
{
    struct session s;
    minimal_session(&s);
    snprintf(s.page_secret, sizeof(s.page_secret), "ABCDEFGHIJKLMNOPQRSTUVWXYZab-_09");
    json_t *j = session_to_json(&s, "http://localhost:8080");
    cr_assert_str_eq(json_string_value(json_object_get(j, "url")),
                     "http://localhost:8080/checkout/" SESSION_ID
                     "/ABCDEFGHIJKLMNOPQRSTUVWXYZab-_09");
    cr_assert_null(json_object_get(j, "page_secret"));
    json_decref(j);
    session_free(&s);
}

Test(session, command_create_carries_the_page_secret_as_an_extension)
{
    struct session s;
    seed_session(&s);
    snprintf(s.page_secret, sizeof(s.page_secret), "ABCDEFGHIJKLMNOPQRSTUVWXYZab-_09");
    json_t *ce = session_command_create(&s, BASE_URL, "cmd-1");
    cr_assert_not_null(ce);
    cr_assert_str_eq(str(ce, "pagesecret"), "ABCDEFGHIJKLMNOPQRSTUVWXYZab-_09");
    json_decref(ce);
    session_free(&s);
}
