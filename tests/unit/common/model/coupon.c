/* The coupon's declaration: what the generic store needs, the REST object's
 * fields and order, what a new coupon is, percent_off's exact number in JSON,
 * the code's shape, and what a coupon's terms take off a purchase. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/json_writer.h"
#include "core/result.h"
#include "model/coupon.h"
#include "../../leak_check.h"

TestSuite(coupon, .fini = unit_leak_check);

Test(coupon, the_declaration_has_what_the_store_needs)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_check(&coupon_store, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(coupon_store.table, "coupons");
    cr_assert_str_eq(coupon_store.path, "/coupons");
    cr_assert_eq(coupon_store.nfilters, 1);
    cr_assert_str_eq(coupon_store.filters[0].name, "active");
    cr_assert_str_eq(coupon_store.unique, "code");
    cr_assert_str_eq(coupon_store.event_created, "coupon.created");
    cr_assert_str_eq(coupon_store.event_updated, "coupon.updated");
}

Test(coupon, a_new_coupon_is_active_for_every_product_and_never_redeemed)
{
    struct coupon c;
    cr_assert_eq(coupon_init(&c), C_OK);
    cr_assert(c.active);
    cr_assert_null(c.code);
    cr_assert_eq(c.percent_off_bp, RESOURCE_NULL_INT32);
    cr_assert_eq(c.amount_off, RESOURCE_NULL_INT64);
    cr_assert_str_eq(c.currency_code, "");
    cr_assert_eq(c.max_redemptions, RESOURCE_NULL_INT32);
    cr_assert_eq(c.times_redeemed, 0);
    cr_assert_eq(json_array_size(json_object_get(c.applies_to, "product_ids")), 0);
    cr_assert(json_is_array(json_object_get(c.applies_to, "product_ids")));
    cr_assert_eq(json_object_size(c.metadata), 0);
    coupon_free(&c);
    coupon_free(&c);
}

Test(coupon, the_rest_object_has_the_fields_in_order)
{
    static const char *const order[] = {
        "coupon_id",       "organization_id", "code",       "percent_off",
        "amount_off",      "currency_code",   "valid_from", "valid_until",
        "max_redemptions", "times_redeemed",  "applies_to", "active",
        "metadata",        "environment",     "created_at", "updated_at"};
    size_t k = 0;
    for (size_t i = 0; i < coupon_resource.nfields; i++) {
        const struct resource_field *f = &coupon_resource.fields[i];
        if (f->json == NULL)
            continue;
        cr_assert_lt(k, sizeof(order) / sizeof(order[0]));
        cr_assert_str_eq(f->json, order[k++]);
    }
    cr_assert_eq(k, sizeof(order) / sizeof(order[0]));
    static const char *const updatable[] = {"valid_until", "max_redemptions", "active", "metadata"};
    size_t n = 0;
    for (size_t i = 0; i < coupon_resource.nfields; i++) {
        if ((coupon_resource.fields[i].flags & RESOURCE_UPDATABLE) == 0)
            continue;
        cr_assert_lt(n, sizeof(updatable) / sizeof(updatable[0]));
        cr_assert_str_eq(coupon_resource.fields[i].json, updatable[n++]);
    }
    cr_assert_eq(n, sizeof(updatable) / sizeof(updatable[0]));
    /* times_redeemed is counted by completions, never written by a create. */
    const struct resource_field *t = resource_field_by_json(&coupon_resource, "times_redeemed");
    cr_assert((t->flags & RESOURCE_NOT_INSERTED) != 0);
}

/* percent_off as the REST object and the insert's row write it. */
static void expect_percent_text(int32_t bp, const char *rest, const char *column)
{
    struct coupon c;
    cr_assert_eq(coupon_init(&c), C_OK);
    c.percent_off_bp = bp;
    const struct resource_field *f = resource_field_by_json(&coupon_resource, "percent_off");
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    resource_write_value(&w, f, &c);
    json_writer_raw(&w, "", 1);
    cr_assert_eq(json_writer_end(&w, mark), C_OK);
    cr_assert_str_eq(w.buf, rest, "%d basis points", bp);
    json_writer_clear(&w);
    mark = json_writer_begin(&w);
    resource_write_column_value(&w, f, &c);
    json_writer_raw(&w, "", 1);
    cr_assert_eq(json_writer_end(&w, mark), C_OK);
    cr_assert_str_eq(w.buf, column, "%d basis points", bp);
    json_writer_free(&w);
    coupon_free(&c);
}

Test(coupon, percent_off_is_written_as_its_exact_number)
{
    expect_percent_text(1250, "12.5", "1250");
    expect_percent_text(1000, "10", "1000");
    expect_percent_text(10000, "100", "10000");
    expect_percent_text(1, "0.01", "1");
    expect_percent_text(10, "0.1", "10");
    expect_percent_text(3333, "33.33", "3333");
    expect_percent_text(1207, "12.07", "1207");
}

static int read_percent(const char *json_text, struct coupon *c, struct error *err)
{
    json_t *body = json_loads(json_text, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(body, "%s", json_text);
    const struct resource_field *f = resource_field_by_json(&coupon_resource, "percent_off");
    int rc = resource_read_value(f, body, c, err);
    json_decref(body);
    return rc;
}

Test(coupon, percent_off_reads_back_its_basis_points)
{
    struct coupon c;
    cr_assert_eq(coupon_init(&c), C_OK);
    struct error err = ERROR_INIT;
    static const struct {
        const char *text;
        int32_t bp;
    } ok[] = {{"12.5", 1250}, {"10", 1000},    {"0.01", 1},     {"100", 10000}, {"33.33", 3333},
              {"0.1", 10},    {"12.07", 1207}, {"99.99", 9999}, {"10.0", 1000}, {"1e1", 1000}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(read_percent(ok[i].text, &c, &err), C_OK, "%s: %s", ok[i].text, err.message);
        cr_assert_eq(c.percent_off_bp, ok[i].bp, "%s", ok[i].text);
    }
    cr_assert_eq(read_percent("12.345", &c, &err), C_ERR);
    cr_assert_str_eq(err.message, "field percent_off must have at most 2 decimal places");
    cr_assert_eq(read_percent("0", &c, &err), C_ERR);
    cr_assert_eq(read_percent("100.01", &c, &err), C_ERR);
    cr_assert_eq(read_percent("\"10\"", &c, &err), C_ERR);
    coupon_free(&c);
}

Test(coupon, a_code_is_1_to_64_letters_digits_underscores_or_dashes)
{
    cr_assert(coupon_code_is_valid("SUMMER10"));
    cr_assert(coupon_code_is_valid("a"));
    cr_assert(coupon_code_is_valid("black-friday_2026"));
    char code[80];
    memset(code, 'X', 64);
    code[64] = '\0';
    cr_assert(coupon_code_is_valid(code));
    code[64] = 'X';
    code[65] = '\0';
    cr_assert_not(coupon_code_is_valid(code), "65 characters");
    cr_assert_not(coupon_code_is_valid(""));
    cr_assert_not(coupon_code_is_valid("TEN OFF"));
    cr_assert_not(coupon_code_is_valid("été"));
    cr_assert_not(coupon_code_is_valid("10%"));
}

Test(coupon, its_terms_give_the_discount_and_the_reason_of_a_refusal)
{
    struct coupon c;
    cr_assert_eq(coupon_init(&c), C_OK);
    c.code = strdup("Summer10");
    c.percent_off_bp = 1250;
    struct discount_purchase p = {.subtotal = 999, .currency = currency_find("XOF"), .now = 1000};
    int64_t d = -1;
    cr_assert_eq(coupon_discount(&c, &p, &d), DISCOUNT_APPLIES);
    cr_assert_eq(d, 125);
    /* An amount off in another currency. */
    c.percent_off_bp = RESOURCE_NULL_INT32;
    c.amount_off = 500;
    memcpy(c.currency_code, "EUR", 4);
    cr_assert_eq(coupon_discount(&c, &p, &d), DISCOUNT_WRONG_CURRENCY);
    char msg[200];
    coupon_refusal_message(DISCOUNT_WRONG_CURRENCY, &c, "SUMMER10", &p, msg, sizeof(msg));
    cr_assert_str_eq(msg, "Coupon Summer10 takes an amount off in EUR, not in XOF");
    /* Limited to products: another one is refused. */
    memcpy(c.currency_code, "XOF", 4);
    json_array_append_new(json_object_get(c.applies_to, "product_ids"),
                          json_string("0190a1b2-0000-7000-8000-000000000001"));
    p.product_id = "0190a1b2-0000-7000-8000-000000000002";
    cr_assert_eq(coupon_discount(&c, &p, &d), DISCOUNT_NOT_FOR_PRODUCT);
    p.product_id = "0190a1b2-0000-7000-8000-000000000001";
    cr_assert_eq(coupon_discount(&c, &p, &d), DISCOUNT_APPLIES);
    cr_assert_eq(d, 500);
    /* Used up; an expiry says when. */
    c.max_redemptions = 2;
    c.times_redeemed = 2;
    cr_assert_eq(coupon_discount(&c, &p, &d), DISCOUNT_USED_UP);
    c.max_redemptions = RESOURCE_NULL_INT32;
    c.valid_until = 1000;
    cr_assert_eq(coupon_discount(&c, &p, &d), DISCOUNT_EXPIRED);
    coupon_refusal_message(DISCOUNT_EXPIRED, &c, "x", &p, msg, sizeof(msg));
    cr_assert_str_eq(msg, "Coupon Summer10 expired at 1970-01-01T00:16:40Z");
    /* No coupon at all. */
    cr_assert_eq(coupon_discount(NULL, &p, &d), DISCOUNT_UNKNOWN);
    coupon_refusal_message(DISCOUNT_UNKNOWN, NULL, "NOPE", &p, msg, sizeof(msg));
    cr_assert_str_eq(msg, "No coupon with code NOPE");
    coupon_free(&c);
}

Test(coupon, its_statements_find_by_the_code_index_and_count_under_the_limit)
{
    const char *find = coupon_sql(COUPON_SQL_FIND_BY_CODE);
    cr_assert_not_null(find);
    cr_assert_not_null(strstr(find, "lower(code) = lower($3)"), "%s", find);
    cr_assert_null(strstr(find, "{select}"), "formatted: %s", find);
    const char *redeem = coupon_sql(COUPON_SQL_REDEEM);
    cr_assert_not_null(redeem);
    cr_assert_not_null(
        strstr(redeem, "(max_redemptions IS NULL OR times_redeemed < max_redemptions)"), "%s",
        redeem);
}
