/* The price's declaration: what the generic store needs, the REST object's
 * fields and order (recurring and custom_unit_amount as nested objects over
 * flat columns), what a new price is, and what an update may change. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/json_writer.h"
#include "core/result.h"
#include "model/price.h"
#include "../../leak_check.h"

TestSuite(price, .fini = unit_leak_check);

#define PRICE_ID "0190a6e4-6b2c-7d3e-8f41-0000000000b1"
#define PRODUCT_ID "0190a6e4-6b2c-7d3e-8f41-0000000000a1"
#define ORG_ID "789e0123-e89b-12d3-a456-426614174000"

static void new_price(struct price *p)
{
    cr_assert_eq(price_init(p), C_OK);
    cr_assert_eq(resource_store_prepare_new(&price_store, p, PRICE_ID, ORG_ID, "test", 1705314600,
                                            NULL, NULL),
                 C_OK);
    snprintf(p->product_id, sizeof(p->product_id), "%s", PRODUCT_ID);
    snprintf(p->currency_code, sizeof(p->currency_code), "XOF");
}

static void assert_json(const struct price *p, const char *expected)
{
    json_t *o = resource_to_json(&price_resource, p);
    cr_assert_not_null(o);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert_str_eq(text, expected);
    free(text);
    json_decref(o);
    /* The event's text is the same object. */
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "{");
    resource_write_members(&w, &price_resource, p);
    json_writer_literal(&w, "}");
    cr_assert_eq(json_writer_end(&w, mark), C_OK);
    cr_assert_str_eq(w.buf, expected);
    json_writer_free(&w);
}

#define PRICE_HEAD                                                                                 \
    "{\"price_id\":\"" PRICE_ID "\",\"organization_id\":\"" ORG_ID "\","                           \
    "\"product_id\":\"" PRODUCT_ID "\",\"currency_code\":\"XOF\","
#define PRICE_TAIL                                                                                 \
    "\"metadata\":{},\"environment\":\"test\",\"created_at\":\"2024-01-15T10:30:00Z\","            \
    "\"updated_at\":\"2024-01-15T10:30:00Z\"}"

Test(price, the_declaration_has_what_the_store_needs)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_check(&price_store, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(price_store.table, "prices");
    cr_assert_str_eq(price_store.noun, "Price");
    cr_assert_str_eq(price_store.path, "/prices");
    cr_assert_str_eq(price_store.command_create, "price.create");
    cr_assert_str_eq(price_store.event_updated, "price.updated");
    cr_assert_eq(price_store.nfilters, 2);
    cr_assert_str_eq(price_store.filters[0].name, "product_id");
    cr_assert_str_eq(price_store.filters[1].name, "active");
}

Test(price, a_new_price_is_one_time_active_and_fixed_without_nickname)
{
    struct price p;
    cr_assert_eq(price_init(&p), C_OK);
    cr_assert_eq(p.type, PRICE_ONE_TIME);
    cr_assert(p.active);
    cr_assert_eq(p.unit_amount, RESOURCE_NULL_INT64);
    cr_assert_str_eq(p.recurring_interval, "");
    cr_assert_eq(p.recurring_interval_count, RESOURCE_NULL_INT32);
    cr_assert_not(price_is_pay_what_you_want(&p));
    cr_assert_null(p.nickname);
    cr_assert_eq(json_object_size(p.metadata), 0);
    price_free(&p);
    price_free(&p);
}

Test(price, the_rest_object_has_the_fields_in_order_and_only_three_change)
{
    static const char *const order[] = {
        "price_id",
        "organization_id",
        "product_id",
        "currency_code",
        "unit_amount",
        "type",
        "recurring.interval",
        "recurring.interval_count",
        "custom_unit_amount.minimum",
        "custom_unit_amount.maximum",
        "active",
        "nickname",
        "metadata",
        "environment",
        "created_at",
        "updated_at",
    };
    size_t k = 0;
    for (size_t i = 0; i < price_resource.nfields; i++) {
        const struct resource_field *f = &price_resource.fields[i];
        if (f->json == NULL)
            continue;
        cr_assert_lt(k, sizeof(order) / sizeof(order[0]));
        cr_assert_str_eq(f->json, order[k++]);
    }
    cr_assert_eq(k, sizeof(order) / sizeof(order[0]));
    /* Amounts, currency, type and recurrence never change. */
    static const char *const updatable[] = {"active", "nickname", "metadata"};
    size_t n = 0;
    for (size_t i = 0; i < price_resource.nfields; i++) {
        if ((price_resource.fields[i].flags & RESOURCE_UPDATABLE) == 0)
            continue;
        cr_assert_lt(n, 3);
        cr_assert_str_eq(price_resource.fields[i].json, updatable[n++]);
    }
    cr_assert_eq(n, 3);
}

Test(price, a_fixed_one_time_price_has_null_recurring_and_custom_unit_amount)
{
    struct price p;
    new_price(&p);
    p.unit_amount = 5000;
    assert_json(&p, PRICE_HEAD
                "\"unit_amount\":5000,\"type\":\"one_time\",\"recurring\":null,"
                "\"custom_unit_amount\":null,\"active\":true,\"nickname\":null," PRICE_TAIL);
    price_free(&p);
}

Test(price, a_recurring_price_nests_its_interval_over_flat_columns)
{
    struct price p;
    new_price(&p);
    p.unit_amount = 15000;
    p.type = PRICE_RECURRING;
    snprintf(p.recurring_interval, sizeof(p.recurring_interval), "month");
    p.recurring_interval_count = 3;
    p.nickname = strdup("Quarterly");
    assert_json(&p, PRICE_HEAD "\"unit_amount\":15000,\"type\":\"recurring\","
                               "\"recurring\":{\"interval\":\"month\",\"interval_count\":3},"
                               "\"custom_unit_amount\":null,\"active\":true,"
                               "\"nickname\":\"Quarterly\"," PRICE_TAIL);
    struct json_writer w = JSON_WRITER_INIT;
    resource_write_columns(&w, &price_resource, &p);
    cr_assert_not_null(strstr(w.buf, "\"recurring_interval\":\"month\","
                                     "\"recurring_interval_count\":3,"
                                     "\"custom_minimum\":null,\"custom_maximum\":null"),
                       "%s", w.buf);
    json_writer_free(&w);
    price_free(&p);
}

Test(price, a_pay_what_you_want_price_has_a_range_and_no_unit_amount)
{
    struct price p;
    new_price(&p);
    p.custom_minimum = 1000;
    p.custom_maximum = 100000;
    cr_assert(price_is_pay_what_you_want(&p));
    assert_json(&p, PRICE_HEAD "\"unit_amount\":null,\"type\":\"one_time\",\"recurring\":null,"
                               "\"custom_unit_amount\":{\"minimum\":1000,\"maximum\":100000},"
                               "\"active\":true,\"nickname\":null," PRICE_TAIL);
    price_free(&p);
}

Test(price, the_rest_object_reads_back_as_the_worker_decodes_it)
{
    static const char text[] =
        PRICE_HEAD "\"unit_amount\":null,\"type\":\"recurring\","
                   "\"recurring\":{\"interval\":\"week\",\"interval_count\":2},"
                   "\"custom_unit_amount\":{\"minimum\":5,\"maximum\":9},\"active\":false,"
                   "\"nickname\":\"n\"," PRICE_TAIL;
    json_t *in = json_loads(text, 0, NULL);
    cr_assert_not_null(in);
    struct price p;
    cr_assert_eq(price_init(&p), C_OK);
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_read_json(&price_resource, in, &p, &err), C_OK, "%s", err.message);
    cr_assert_eq(p.type, PRICE_RECURRING);
    cr_assert_str_eq(p.recurring_interval, "week");
    cr_assert_eq(p.recurring_interval_count, 2);
    cr_assert_eq(p.custom_maximum, 9);
    cr_assert_not(p.active);
    assert_json(&p, text);
    price_free(&p);
    json_decref(in);
}

Test(price, a_decoded_price_is_checked_field_by_field)
{
    struct {
        const char *json, *param;
    } cases[] = {
        {PRICE_HEAD "\"unit_amount\":0,\"type\":\"one_time\",\"active\":true}", "unit_amount"},
        {PRICE_HEAD "\"unit_amount\":1000000000001,\"type\":\"one_time\",\"active\":true}",
         "unit_amount"},
        {PRICE_HEAD "\"unit_amount\":1,\"type\":\"monthly\",\"active\":true}", "type"},
        {PRICE_HEAD "\"unit_amount\":1,\"type\":\"recurring\",\"recurring\":{\"interval\":"
                    "\"fortnight\",\"interval_count\":1},\"active\":true}",
         "recurring.interval"},
        {PRICE_HEAD "\"unit_amount\":1,\"type\":\"recurring\",\"recurring\":{\"interval\":"
                    "\"day\",\"interval_count\":366},\"active\":true}",
         "recurring.interval_count"},
        {PRICE_HEAD "\"unit_amount\":null,\"type\":\"one_time\",\"custom_unit_amount\":"
                    "{\"minimum\":0,\"maximum\":5},\"active\":true}",
         "custom_unit_amount.minimum"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = json_loads(cases[i].json, 0, NULL);
        cr_assert_not_null(in, "%s", cases[i].json);
        struct price p;
        cr_assert_eq(price_init(&p), C_OK);
        struct error err = ERROR_INIT;
        cr_assert_eq(resource_read_json(&price_resource, in, &p, &err), C_ERR, "%s", cases[i].json);
        cr_assert_str_eq(err.param, cases[i].param, "%s", err.message);
        price_free(&p);
        json_decref(in);
    }
    /* A currency code is three upper-case letters (the supported table is the gateway's). */
    cr_assert(price_is_currency_code("XOF"));
    cr_assert(price_is_currency_code("ABC"));
    cr_assert_not(price_is_currency_code("xof"));
    cr_assert_not(price_is_currency_code("XO"));
    cr_assert_not(price_is_currency_code("XOFF"));
}

Test(price, an_update_changes_only_the_three_updatable_columns)
{
    const char *sql = resource_store_sql(&price_store, RESOURCE_STORE_SQL_UPDATE);
    cr_assert_not_null(strstr(sql, "active = CASE"));
    cr_assert_not_null(strstr(sql, "nickname = CASE"));
    cr_assert_not_null(strstr(sql, "metadata = CASE"));
    cr_assert_null(strstr(sql, "unit_amount = CASE"));
    cr_assert_null(strstr(sql, "currency_code = CASE"));
    cr_assert_null(strstr(sql, "recurring_interval = CASE"));
    const char *list = resource_store_sql(&price_store, RESOURCE_STORE_SQL_LIST);
    cr_assert_not_null(strstr(list, "($5::uuid IS NULL OR product_id = $5::uuid)"), "%s", list);
    cr_assert_not_null(strstr(list, "($6::boolean IS NULL OR active = $6::boolean)"), "%s", list);
}
