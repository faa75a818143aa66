/* A payment attempt's forms (common/model/payment_attempt.c): the last 4
 * digits kept of a number, its REST object, and its command, read back as it
 * was written and refused where PostgreSQL would refuse it. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json_writer.h"
#include "core/result.h"
#include "model/payment_attempt.h"
#include "../../leak_check.h"

TestSuite(payment_attempt, .fini = unit_leak_check);

#define ATTEMPT_ID "0190a6e4-6b2c-8d3e-8f41-123456789abc"
#define SESSION_ID "0190a6e4-6b2c-7d3e-8f41-123456789abc"
#define ORG_ID "789e0123-e89b-12d3-a456-426614174000"
#define COUPON_ID "0190a6e4-6b2c-7d3e-8f41-00000000000c"

static void an_attempt(struct payment_attempt *a)
{
    payment_attempt_init(a);
    snprintf(a->id, sizeof(a->id), ATTEMPT_ID);
    snprintf(a->session_id, sizeof(a->session_id), SESSION_ID);
    snprintf(a->organization_id, sizeof(a->organization_id), ORG_ID);
    snprintf(a->environment, sizeof(a->environment), "test");
    snprintf(a->provider, sizeof(a->provider), "test");
    snprintf(a->method, sizeof(a->method), "card");
    payment_attempt_last4("4242 4242 4242 4242", a->account_last4);
    snprintf(a->reference, sizeof(a->reference), "tp_ok_" ATTEMPT_ID);
    a->status = PAYMENT_ATTEMPT_SUCCEEDED;
    a->amount = 9000;
    snprintf(a->currency_code, sizeof(a->currency_code), "XOF");
    a->quantity = 2;
    a->amount_subtotal = 10000;
    a->amount_discount = 1000;
    snprintf(a->coupon_id, sizeof(a->coupon_id), COUPON_ID);
    snprintf(a->coupon_code, sizeof(a->coupon_code), "TEN");
    a->customer_details = json_pack("{ss ss}", "email", "a@example.com", "name", "Awa");
    a->billing_address =
        json_pack("{ss ss ss}", "line1", "1 rue Carnot", "city", "Dakar", "country", "SN");
    a->started_at_ms = 1705314781123;
    a->settled_at_ms = 1705314782456;
}

Test(payment_attempt, only_the_last_four_digits_of_a_number_are_kept)
{
    char out[PAYMENT_ATTEMPT_LAST4_LEN];
    payment_attempt_last4("4242424242424242", out);
    cr_assert_str_eq(out, "4242");
    payment_attempt_last4("+221 70 000 00 03", out);
    cr_assert_str_eq(out, "0003");
    payment_attempt_last4("12", out);
    cr_assert_str_eq(out, "12");
    payment_attempt_last4("", out);
    cr_assert_str_eq(out, "");
    payment_attempt_last4(NULL, out);
    cr_assert_str_eq(out, "");
    payment_attempt_last4("9876-5432-1", out);
    cr_assert_str_eq(out, "4321");
}

Test(payment_attempt, the_rest_object_has_every_member_in_order)
{
    struct payment_attempt a;
    an_attempt(&a);
    struct json_writer w = JSON_WRITER_INIT;
    cr_assert_eq(payment_attempt_write_json(&w, &a), C_OK);
    cr_assert_str_eq(
        w.buf,
        "{\"payment_attempt_id\":\"" ATTEMPT_ID "\",\"provider\":\"test\",\"method\":\"card\","
        "\"account_last4\":\"4242\",\"reference\":\"tp_ok_" ATTEMPT_ID "\",\"status\":"
        "\"succeeded\",\"failure_code\":null,\"failure_message\":null,\"amount\":9000,"
        "\"currency_code\":\"XOF\",\"quantity\":2,\"amount_subtotal\":10000,"
        "\"amount_discount\":1000,\"coupon\":{\"id\":\"" COUPON_ID "\",\"code\":\"TEN\"},"
        "\"refund_required\":false,\"refund_reason\":null,\"started_at\":"
        "\"2024-01-15T10:33:01Z\",\"settled_at\":\"2024-01-15T10:33:02Z\"}");
    json_t *o = payment_attempt_to_json(&a);
    cr_assert_not_null(o);
    cr_assert_null(json_object_get(o, "customer_details"), "details are the session's, not here");
    json_decref(o);
    json_writer_free(&w);
    payment_attempt_free(&a);
    payment_attempt_free(&a);
}

Test(payment_attempt, a_pending_attempt_shows_null_settled_at_and_no_coupon)
{
    struct payment_attempt a;
    an_attempt(&a);
    a.status = PAYMENT_ATTEMPT_PENDING;
    a.settled_at_ms = 0;
    a.coupon_id[0] = '\0';
    json_t *o = payment_attempt_to_json(&a);
    cr_assert(json_is_null(json_object_get(o, "settled_at")));
    cr_assert(json_is_null(json_object_get(o, "coupon")));
    cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "pending");
    json_decref(o);
    payment_attempt_free(&a);
}

Test(payment_attempt, the_command_reads_back_as_it_was_written)
{
    struct payment_attempt a;
    an_attempt(&a);
    json_t *cmd = payment_attempt_command(&a, "0190a6e4-6b2c-7d3e-8f41-000000000001");
    cr_assert_not_null(cmd);
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "type")), "checkout.session.payment");
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "subject")), SESSION_ID);
    struct payment_attempt b;
    struct error err = ERROR_INIT;
    cr_assert_eq(payment_attempt_from_command_json(json_object_get(cmd, "data"), &b, &err), C_OK,
                 "%s", err.message);
    cr_assert_str_eq(b.id, a.id);
    cr_assert_str_eq(b.session_id, a.session_id);
    cr_assert_str_eq(b.account_last4, "4242");
    cr_assert_eq(b.status, PAYMENT_ATTEMPT_SUCCEEDED);
    cr_assert_eq(b.amount, 9000);
    cr_assert_eq(b.quantity, 2);
    cr_assert_eq(b.amount_discount, 1000);
    cr_assert_str_eq(b.coupon_code, "TEN");
    cr_assert_eq(b.started_at_ms, a.started_at_ms);
    cr_assert_eq(b.settled_at_ms, a.settled_at_ms);
    cr_assert(json_equal(b.customer_details, a.customer_details));
    cr_assert(json_equal(b.billing_address, a.billing_address));
    payment_attempt_free(&b);
    json_decref(cmd);
    payment_attempt_free(&a);
}

/* The command's data with one member replaced by value (JSON text, or NULL
 * to remove it) must be refused, naming param. */
static void refused(const char *member, const char *value, const char *param)
{
    struct payment_attempt a;
    an_attempt(&a);
    json_t *data = payment_attempt_command_json(&a);
    payment_attempt_free(&a);
    if (value == NULL)
        json_object_del(data, member);
    else
        json_object_set_new(data, member,
                            json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL));
    struct payment_attempt out;
    memset(&out, 0x5a, sizeof(out));
    struct error err = ERROR_INIT;
    cr_assert_eq(payment_attempt_from_command_json(data, &out, &err), C_ERR, "%s=%s", member,
                 value != NULL ? value : "(none)");
    cr_assert_str_eq(err.param, param, "%s: %s", member, err.message);
    cr_assert_eq(out.quantity, 0x5a5a5a5a, "out untouched");
    json_decref(data);
}

Test(payment_attempt, a_command_is_refused_where_postgres_would_refuse_it)
{
    refused("payment_attempt_id", "\"not-a-uuid\"", "payment_attempt_id");
    refused("checkout_session_id", NULL, "checkout_session_id");
    refused("environment", "\"prod\"", "environment");
    refused("method", "\"cash\"", "method");
    refused("account_last4", "\"4242424242424242\"", "account_last4");
    refused("account_last4", "\"42a2\"", "account_last4");
    refused("status", "\"done\"", "status");
    refused("amount", "8999", "amount");
    refused("amount", "\"9000\"", "amount");
    refused("quantity", "0", "quantity");
    refused("quantity", "10001", "quantity");
    refused("amount_discount", "10001", "amount_discount");
    refused("coupon", "{\"id\": \"x\", \"code\": \"TEN\"}", "coupon");
    refused("customer_details", "[1]", "customer_details");
    refused("customer_details", "{\"email\": 5}", "customer_details");
    refused("settled_at_ms", "0", "settled_at_ms");
    refused("reference", "\"a\\u0000b\"", "reference");
}

Test(payment_attempt, statuses_have_their_names)
{
    enum payment_attempt_status st;
    cr_assert_eq(payment_attempt_status_parse("pending", &st), C_OK);
    cr_assert_eq(st, PAYMENT_ATTEMPT_PENDING);
    cr_assert_eq(payment_attempt_status_parse("failed", &st), C_OK);
    cr_assert_str_eq(payment_attempt_status_name(st), "failed");
    cr_assert_eq(payment_attempt_status_parse("Failed", &st), C_ERR);
    cr_assert_eq(payment_attempt_status_parse(NULL, &st), C_ERR);
}
