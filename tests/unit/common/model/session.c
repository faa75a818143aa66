/* The session model: its REST JSON (the seed's object, field for field), the
 * reverse mapping, and the CloudEvents it travels in. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"
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

/* The seed's response example, in the seed's field order, plus url. */
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
    char err[200] = "";
    cr_assert_eq(session_from_json(j, &back, err, sizeof(err)), C_OK, "%s", err);
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
    char err[200] = "";
    cr_assert_eq(session_from_json(j, &out, err, sizeof(err)), C_ERR, "field %s", field);
    cr_assert_str_eq(err, message);
    cr_assert_eq(memcmp(&out, &before, sizeof(out)), 0, "a failed read must not touch *out");
    json_decref(j);
}

Test(session, from_json_rejects_a_non_object)
{
    json_t *arr = json_array();
    struct session out;
    char err[100] = "";
    cr_assert_eq(session_from_json(arr, &out, err, sizeof(err)), C_ERR);
    cr_assert_str_eq(err, "session is not a JSON object");
    json_decref(arr);
    cr_assert_eq(session_from_json(NULL, &out, err, sizeof(err)), C_ERR);
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
    char err[200] = "";
    cr_assert_eq(session_from_json(j, &out, err, sizeof(err)), C_ERR);
    cr_assert_str_eq(err, "field organization_id is missing or has the wrong type");
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
    char err[200] = "";
    cr_assert_eq(session_from_json(j, &back, err, sizeof(err)), C_OK, "%s", err);
    assert_sessions_equal(&s, &back);
    json_decref(j);
    session_free(&back);
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

Test(session, event_is_a_cloudevent_with_tenant_extensions)
{
    struct session s;
    seed_session(&s);
    s.status = SESSION_EXPIRED;
    json_t *ce = session_event(&s, BASE_URL, "checkout.session.expired",
                               "0190a6e4-0000-7000-8000-0000000000e1", T_EXPIRES);
    cr_assert_not_null(ce);
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

Test(session, event_data_reads_back_as_the_same_session)
{
    struct session s;
    seed_session(&s);
    json_t *ce = session_event(&s, BASE_URL, SESSION_EVENT_CREATED, "e-1", T_CREATED);
    cr_assert_not_null(ce);
    char *text = dump(ce);
    json_decref(ce);
    /* What a consumer does: parse the Kafka value, then the data. */
    json_error_t jerr;
    json_t *parsed = json_loads(text, 0, &jerr);
    free(text);
    cr_assert_not_null(parsed, "%s", jerr.text);
    struct session back;
    char err[200] = "";
    cr_assert_eq(session_from_json(json_object_get(parsed, "data"), &back, err, sizeof(err)), C_OK,
                 "%s", err);
    assert_sessions_equal(&s, &back);
    json_decref(parsed);
    session_free(&back);
    session_free(&s);
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

static json_t *build_event(const struct session *s)
{
    return session_event(s, BASE_URL, SESSION_EVENT_CREATED, "e-1", T_CREATED);
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

Test(session, event_returns_null_and_leaks_nothing_when_any_one_allocation_fails)
{
    torture(build_event, false, false);
}

Test(session, command_returns_null_and_leaks_nothing_when_any_one_allocation_fails)
{
    torture(build_command, false, true);
}
