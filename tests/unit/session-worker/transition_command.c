/* Decoding the transition commands the gateway builds with
 * session_command_complete and session_command_expire: what the worker takes,
 * and what it refuses as malformed before PostgreSQL would. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/result.h"
#include "model/payment_attempt.h"
#include "model/session.h"
#include "../../../session-worker/transition_command.h"
#include "../leak_check.h"

#define SESSION_ID "0190a6e4-6b2c-7d3e-8f41-123456789abc"
#define ORG_ID "789e0123-e89b-12d3-a456-426614174000"
#define CUSTOMER_ID "123e4567-e89b-12d3-a456-426614174000"
#define COMMAND_ID "0190a6e4-6b2c-7d3e-8f41-000000000001"

TestSuite(transition_command, .fini = unit_leak_check);

/* A string of n copies of unit. */
static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

static json_t *complete_data(const char *payment_reference, const char *customer_id)
{
    json_t *cmd = session_command_complete(SESSION_ID, payment_reference, customer_id, 1000, "EUR",
                                           COMMAND_ID);
    cr_assert_not_null(cmd);
    json_t *data = json_incref(json_object_get(cmd, "data"));
    json_decref(cmd);
    return data;
}

static json_t *expire_data(const char *organization_id, const char *environment)
{
    json_t *cmd = session_command_expire(SESSION_ID, organization_id, environment, COMMAND_ID);
    cr_assert_not_null(cmd);
    json_t *data = json_incref(json_object_get(cmd, "data"));
    json_decref(cmd);
    return data;
}

/* Decodes data, expecting a refusal whose message contains expected, and
 * out left as it was. */
static void assert_refused(enum transition_command_kind kind, json_t *data, const char *expected)
{
    struct transition_command t;
    struct transition_command before;
    memset(&t, 0x5a, sizeof(t));
    memcpy(&before, &t, sizeof(t));
    struct error err = ERROR_INIT;
    cr_assert_eq(transition_command_decode(kind, data, &t, &err), C_ERR);
    cr_assert_not_null(strstr(err.message, expected), "error \"%s\" does not mention \"%s\"",
                       err.message, expected);
    cr_assert_eq(memcmp(&t, &before, sizeof(t)), 0, "out was changed on error");
    json_decref(data);
}

/* ---- command types ------------------------------------------------------ */

Test(transition_command, kind_parse_knows_exactly_the_two_transition_commands)
{
    enum transition_command_kind k = TRANSITION_COMMAND_EXPIRE;
    cr_assert_eq(transition_command_kind_parse(SESSION_COMMAND_COMPLETE, &k), C_OK);
    cr_assert_eq(k, TRANSITION_COMMAND_COMPLETE);
    cr_assert_eq(transition_command_kind_parse(SESSION_COMMAND_EXPIRE, &k), C_OK);
    cr_assert_eq(k, TRANSITION_COMMAND_EXPIRE);
    cr_assert_eq(transition_command_kind_parse(SESSION_COMMAND_CREATE, &k), C_ERR);
    cr_assert_eq(transition_command_kind_parse(SESSION_EVENT_COMPLETED, &k), C_ERR);
    cr_assert_eq(transition_command_kind_parse("checkout.session.complete ", &k), C_ERR);
    cr_assert_eq(transition_command_kind_parse("", &k), C_ERR);
    cr_assert_eq(transition_command_kind_parse(NULL, &k), C_ERR);
}

/* ---- complete ------------------------------------------------------------ */

Test(transition_command, complete_built_by_the_gateway_builder_decodes)
{
    json_t *data = complete_data("pay_123", CUSTOMER_ID);
    struct transition_command t;
    struct error err = ERROR_INIT;
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK, "%s",
                 err.message);
    cr_assert_eq(t.kind, TRANSITION_COMMAND_COMPLETE);
    cr_assert_str_eq(t.session_id, SESSION_ID);
    cr_assert_str_eq(t.payment_reference, "pay_123");
    cr_assert_str_eq(t.customer_id, CUSTOMER_ID);
    cr_assert(t.has_amount);
    cr_assert_eq(t.amount, 1000);
    cr_assert_str_eq(t.currency_code, "EUR");
    cr_assert_str_eq(t.event_id, "", "the event id is the caller's to make, once per batch");
    cr_assert_str_eq(t.organization_id, "");
    transition_command_free(&t);
    transition_command_free(&t);
    json_decref(data);
}

Test(transition_command, complete_customer_id_null_or_absent_is_empty)
{
    json_t *data = complete_data("pay_123", NULL);
    cr_assert(json_is_null(json_object_get(data, "customer_id")));
    struct transition_command t;
    struct error err = ERROR_INIT;
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK, "%s",
                 err.message);
    cr_assert_str_eq(t.customer_id, "");
    transition_command_free(&t);
    cr_assert_eq(json_object_del(data, "customer_id"), 0);
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK, "%s",
                 err.message);
    cr_assert_str_eq(t.customer_id, "");
    transition_command_free(&t);
    json_decref(data);
}

Test(transition_command, a_completion_without_amount_and_currency_is_checked_by_the_gateway_only)
{
    /* A command an earlier gateway wrote. */
    json_t *data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_del(data, "amount"), 0);
    cr_assert_eq(json_object_del(data, "currency_code"), 0);
    struct transition_command t;
    struct error err = ERROR_INIT;
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK, "%s",
                 err.message);
    cr_assert_not(t.has_amount);
    transition_command_free(&t);
    json_decref(data);
}

Test(transition_command, amount_and_currency_come_together_and_well_formed)
{
    json_t *data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_del(data, "currency_code"), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "go together");
    data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_del(data, "amount"), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "go together");
    data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_set_new(data, "amount", json_string("1000")), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "amount is not an integer");
    data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_set_new(data, "currency_code", json_string("EURO")), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "not a currency code");
}

Test(transition_command, complete_ignores_unknown_fields)
{
    json_t *data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_set_new(data, "provider", json_string("wave")), 0);
    struct transition_command t;
    struct error err = ERROR_INIT;
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK, "%s",
                 err.message);
    transition_command_free(&t);
    json_decref(data);
}

Test(transition_command, session_id_is_kept_as_sent)
{
    /* The notification must name the session the way the gateway's command did. */
    json_t *data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_set_new(data, "checkout_session_id",
                                     json_string("0190A6E4-6B2C-7D3E-8F41-123456789ABC")),
                 0);
    struct transition_command t;
    struct error err = ERROR_INIT;
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK, "%s",
                 err.message);
    cr_assert_str_eq(t.session_id, "0190A6E4-6B2C-7D3E-8F41-123456789ABC");
    transition_command_free(&t);
    json_decref(data);
}

Test(transition_command, payment_reference_of_1_and_255_characters_is_accepted)
{
    char *max = repeat("r", SESSION_PAYMENT_REFERENCE_MAX);
    /* 255 characters of two bytes each: the limit counts characters, as the
     * CHECK (length()) does, not bytes. */
    char *wide = repeat("\xc3\xa9", SESSION_PAYMENT_REFERENCE_MAX);
    const char *refs[] = {"x", max, wide};
    for (size_t i = 0; i < 3; i++) {
        json_t *data = complete_data(refs[i], NULL);
        struct transition_command t;
        struct error err = ERROR_INIT;
        cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK,
                     "%s", err.message);
        cr_assert_str_eq(t.payment_reference, refs[i]);
        transition_command_free(&t);
        json_decref(data);
    }
    free(max);
    free(wide);
}

Test(transition_command, payment_reference_empty_or_too_long_is_refused)
{
    char *long_ascii = repeat("r", SESSION_PAYMENT_REFERENCE_MAX + 1);
    char *long_wide = repeat("\xc3\xa9", SESSION_PAYMENT_REFERENCE_MAX + 1);
    assert_refused(TRANSITION_COMMAND_COMPLETE, complete_data("", NULL), "1 to 255 characters");
    assert_refused(TRANSITION_COMMAND_COMPLETE, complete_data(long_ascii, NULL),
                   "1 to 255 characters");
    assert_refused(TRANSITION_COMMAND_COMPLETE, complete_data(long_wide, NULL),
                   "1 to 255 characters");
    free(long_ascii);
    free(long_wide);
}

Test(transition_command, payment_reference_missing_null_or_not_a_string_is_refused)
{
    json_t *data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_del(data, "payment_reference"), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "payment_reference is missing");
    data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_set_new(data, "payment_reference", json_null()), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "payment_reference is missing");
    data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_set_new(data, "payment_reference", json_integer(123)), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "payment_reference is not a string");
}

Test(transition_command, payment_reference_with_nul_is_refused)
{
    /* libpq would send only what comes before the NUL. */
    json_t *data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_set_new(data, "payment_reference", json_stringn("pay\0x", 5)), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "payment_reference is not a string");
}

Test(transition_command, customer_id_not_a_uuid_is_refused)
{
    assert_refused(TRANSITION_COMMAND_COMPLETE, complete_data("pay_123", "cus_123"),
                   "customer_id is not a UUID");
    json_t *data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_set_new(data, "customer_id", json_integer(7)), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "customer_id is not a string");
}

Test(transition_command, session_id_missing_or_not_a_uuid_is_refused)
{
    json_t *data = complete_data("pay_123", NULL);
    cr_assert_eq(json_object_del(data, "checkout_session_id"), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "checkout_session_id is missing");
    data = expire_data(ORG_ID, "test");
    cr_assert_eq(json_object_set_new(data, "checkout_session_id",
                                     json_string("0190a6e4-6b2c-7d3e-8f41-123456789abz")),
                 0);
    assert_refused(TRANSITION_COMMAND_EXPIRE, data, "checkout_session_id is not a UUID");
    data = expire_data(ORG_ID, "test");
    cr_assert_eq(json_object_set_new(data, "checkout_session_id", json_true()), 0);
    assert_refused(TRANSITION_COMMAND_EXPIRE, data, "checkout_session_id is not a string");
}

Test(transition_command, data_not_an_object_is_refused)
{
    assert_refused(TRANSITION_COMMAND_COMPLETE, NULL, "not a JSON object");
    assert_refused(TRANSITION_COMMAND_EXPIRE, json_array(), "not a JSON object");
    assert_refused(TRANSITION_COMMAND_COMPLETE, json_string(SESSION_ID), "not a JSON object");
}

/* ---- expire -------------------------------------------------------------- */

Test(transition_command, expire_built_by_the_gateway_builder_decodes)
{
    const char *envs[] = {"test", "live"};
    for (size_t i = 0; i < 2; i++) {
        json_t *data = expire_data(ORG_ID, envs[i]);
        struct transition_command t;
        struct error err = ERROR_INIT;
        cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_EXPIRE, data, &t, &err), C_OK,
                     "%s", err.message);
        cr_assert_eq(t.kind, TRANSITION_COMMAND_EXPIRE);
        cr_assert_str_eq(t.session_id, SESSION_ID);
        cr_assert_str_eq(t.organization_id, ORG_ID);
        cr_assert_str_eq(t.environment, envs[i]);
        cr_assert_null(t.payment_reference);
        cr_assert_str_eq(t.event_id, "");
        transition_command_free(&t);
        json_decref(data);
    }
}

Test(transition_command, expire_environment_other_than_test_or_live_is_refused)
{
    /* "production" would otherwise be cut to "prod" by the fixed-size field. */
    assert_refused(TRANSITION_COMMAND_EXPIRE, expire_data(ORG_ID, "production"), "test or live");
    assert_refused(TRANSITION_COMMAND_EXPIRE, expire_data(ORG_ID, "TEST"), "test or live");
    assert_refused(TRANSITION_COMMAND_EXPIRE, expire_data(ORG_ID, ""), "test or live");
    json_t *data = expire_data(ORG_ID, "test");
    cr_assert_eq(json_object_del(data, "environment"), 0);
    assert_refused(TRANSITION_COMMAND_EXPIRE, data, "environment is missing");
}

Test(transition_command, expire_organization_missing_or_not_a_uuid_is_refused)
{
    assert_refused(TRANSITION_COMMAND_EXPIRE, expire_data("org_1", "test"),
                   "organization_id is not a UUID");
    json_t *data = expire_data(ORG_ID, "test");
    cr_assert_eq(json_object_set_new(data, "organization_id", json_null()), 0);
    assert_refused(TRANSITION_COMMAND_EXPIRE, data, "organization_id is missing");
}

Test(transition_command, a_complete_payload_is_not_an_expire_and_vice_versa)
{
    /* The type decides which fields are required. */
    assert_refused(TRANSITION_COMMAND_EXPIRE, complete_data("pay_123", NULL),
                   "organization_id is missing");
    assert_refused(TRANSITION_COMMAND_COMPLETE, expire_data(ORG_ID, "live"),
                   "payment_reference is missing");
}

/* ---- a session made with a coupon ---------------------------------------- */

Test(transition_command, a_completion_names_the_coupon_to_redeem_or_none)
{
    struct transition_command t;
    struct error err = ERROR_INIT;
    json_t *data = complete_data("pay_1", NULL);
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK, "%s",
                 err.message);
    cr_assert_str_eq(t.coupon_id, "", "a session without a coupon: no redemption");
    transition_command_free(&t);
    cr_assert_eq(json_object_set_new(data, "coupon_id", json_string(CUSTOMER_ID)), 0);
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_COMPLETE, data, &t, &err), C_OK, "%s",
                 err.message);
    cr_assert_str_eq(t.coupon_id, CUSTOMER_ID);
    transition_command_free(&t);
    cr_assert_eq(json_object_set_new(data, "coupon_id", json_string("SUMMER10")), 0);
    assert_refused(TRANSITION_COMMAND_COMPLETE, data, "field coupon_id is not a UUID");
}

/* ---- checkout.session.payment ------------------------------------------------------ */

static json_t *payment_data(void)
{
    struct payment_attempt a;
    payment_attempt_init(&a);
    snprintf(a.id, sizeof(a.id), "0190a6e4-6b2c-8d3e-8f41-123456789abc");
    snprintf(a.session_id, sizeof(a.session_id), SESSION_ID);
    snprintf(a.organization_id, sizeof(a.organization_id), ORG_ID);
    snprintf(a.environment, sizeof(a.environment), "test");
    snprintf(a.provider, sizeof(a.provider), "test");
    snprintf(a.method, sizeof(a.method), "mobile_money");
    snprintf(a.account_last4, sizeof(a.account_last4), "0001");
    snprintf(a.reference, sizeof(a.reference), "tp_ok_x");
    a.status = PAYMENT_ATTEMPT_SUCCEEDED;
    a.amount = a.amount_subtotal = 10000;
    snprintf(a.currency_code, sizeof(a.currency_code), "XOF");
    a.started_at_ms = 1705314781000;
    a.settled_at_ms = 1705314781000;
    json_t *data = payment_attempt_command_json(&a);
    payment_attempt_free(&a);
    cr_assert_not_null(data);
    return data;
}

Test(transition_command, the_payment_command_is_a_transition_carrying_its_attempt)
{
    enum transition_command_kind k;
    cr_assert_eq(transition_command_kind_parse(SESSION_COMMAND_PAYMENT, &k), C_OK);
    cr_assert_eq(k, TRANSITION_COMMAND_PAYMENT);
    json_t *data = payment_data();
    struct transition_command t;
    struct error err = ERROR_INIT;
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_PAYMENT, data, &t, &err), C_OK, "%s",
                 err.message);
    cr_assert_str_eq(t.session_id, SESSION_ID);
    cr_assert_not_null(t.payment);
    cr_assert_eq(t.payment->status, PAYMENT_ATTEMPT_SUCCEEDED);
    cr_assert_eq(t.payment->amount, 10000);
    cr_assert_str_eq(t.event_id, "");
    cr_assert_str_eq(t.payment_event_id, "");
    transition_command_free(&t);
    transition_command_free(&t);
    json_decref(data);
}

Test(transition_command, a_payment_with_a_malformed_attempt_is_refused)
{
    json_t *data = payment_data();
    struct transition_command t;
    struct error err = ERROR_INIT;
    json_object_del(data, "amount");
    cr_assert_eq(transition_command_decode(TRANSITION_COMMAND_PAYMENT, data, &t, &err), C_ERR);
    cr_assert_str_eq(err.param, "amount");
    json_decref(data);
}
