/* The test provider (gateway/payment_test.c): each documented number's outcome,
 * at once or after its pending delay, the same answer for the same attempt,
 * and invalid_number for anything else. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../../gateway/payment_test.h"
#include "core/result.h"
#include "core/rfc3339.h"
#include "../leak_check.h"

TestSuite(payment_test, .fini = unit_leak_check);

#define ATTEMPT "0190a6e4-6b2c-8d3e-8f41-123456789abc"

static struct payment_result start(const char *method, const char *account)
{
    struct payment_request req = {.attempt_id = ATTEMPT,
                                  .session_id = "0190a6e4-6b2c-7d3e-8f41-123456789abc",
                                  .environment = "test",
                                  .currency_code = "XOF",
                                  .amount = 10000,
                                  .method = method,
                                  .account = account};
    struct payment_result r;
    struct error err = ERROR_INIT;
    cr_assert_eq(payment_test_provider.start(&req, &r, &err), C_OK);
    return r;
}

Test(payment_test, documented_numbers_give_their_outcome_at_once)
{
    static const struct {
        const char *method, *account;
        enum payment_status status;
        const char *code;
    } cases[] = {
        {"mobile_money", "+221700000001", PAYMENT_SUCCEEDED, ""},
        {"mobile_money", "+221700000002", PAYMENT_FAILED, "insufficient_funds"},
        {"mobile_money", "+221700000003", PAYMENT_PENDING, ""},
        {"mobile_money", "+221700000004", PAYMENT_PENDING, ""},
        {"card", "4242424242424242", PAYMENT_SUCCEEDED, ""},
        {"card", "4000000000000002", PAYMENT_FAILED, "card_declined"},
        {"card", "4000000000009995", PAYMENT_FAILED, "insufficient_funds"},
        {"card", "4000000000003220", PAYMENT_PENDING, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct payment_result r = start(cases[i].method, cases[i].account);
        cr_assert_eq(r.status, cases[i].status, "%s", cases[i].account);
        cr_assert_str_eq(r.failure_code, cases[i].code, "%s", cases[i].account);
        cr_assert_neq(strstr(r.reference, ATTEMPT), NULL, "the reference names the attempt");
        if (r.status == PAYMENT_FAILED)
            cr_assert_neq(r.failure_message[0], '\0');
    }
}

Test(payment_test, spaces_and_dashes_in_a_number_do_not_matter)
{
    cr_assert_eq(start("card", "4242 4242 4242 4242").status, PAYMENT_SUCCEEDED);
    cr_assert_eq(start("card", "4242-4242-4242-4242").status, PAYMENT_SUCCEEDED);
    cr_assert_eq(start("mobile_money", "+221 70 000 00 01").status, PAYMENT_SUCCEEDED);
}

Test(payment_test, other_numbers_and_the_wrong_method_are_invalid_numbers)
{
    static const char *const accounts[][2] = {{"card", "4111111111111111"},
                                              {"mobile_money", "+221771234567"},
                                              {"mobile_money", "4242424242424242"},
                                              {"card", "+221700000001"},
                                              {"card", ""}};
    for (size_t i = 0; i < sizeof(accounts) / sizeof(accounts[0]); i++) {
        struct payment_result r = start(accounts[i][0], accounts[i][1]);
        cr_assert_eq(r.status, PAYMENT_FAILED, "%s", accounts[i][1]);
        cr_assert_str_eq(r.failure_code, "invalid_number", "%s", accounts[i][1]);
    }
}

Test(payment_test, the_same_attempt_starts_the_same_way)
{
    struct payment_result a = start("mobile_money", "+221700000003");
    struct payment_result b = start("mobile_money", "+221700000003");
    cr_assert_str_eq(a.reference, b.reference);
    cr_assert_eq(a.status, b.status);
}

static struct payment_result poll_at(const char *reference, int64_t elapsed_ms)
{
    struct payment_result r;
    struct error err = ERROR_INIT;
    cr_assert_eq(payment_test_provider.poll(reference, rfc3339_now_ms() - elapsed_ms, &r, &err),
                 C_OK);
    return r;
}

Test(payment_test, a_pending_payment_settles_after_its_delay)
{
    struct payment_result ok = start("mobile_money", "+221700000003");
    cr_assert_eq(poll_at(ok.reference, 0).status, PAYMENT_PENDING);
    cr_assert_eq(poll_at(ok.reference, PAYMENT_TEST_PENDING_MS - 500).status, PAYMENT_PENDING);
    struct payment_result settled = poll_at(ok.reference, PAYMENT_TEST_PENDING_MS + 1);
    cr_assert_eq(settled.status, PAYMENT_SUCCEEDED);
    cr_assert_str_eq(settled.reference, ok.reference);

    struct payment_result ko = start("mobile_money", "+221700000004");
    cr_assert_eq(poll_at(ko.reference, 10).status, PAYMENT_PENDING);
    settled = poll_at(ko.reference, PAYMENT_TEST_PENDING_MS + 1);
    cr_assert_eq(settled.status, PAYMENT_FAILED);
    cr_assert_str_eq(settled.failure_code, "customer_declined");

    cr_assert_eq(
        poll_at(start("card", "4000000000003220").reference, PAYMENT_TEST_PENDING_MS).status,
        PAYMENT_SUCCEEDED);
}

Test(payment_test, a_reference_of_another_provider_cannot_be_polled)
{
    struct payment_result r;
    struct error err = ERROR_INIT;
    cr_assert_eq(payment_test_provider.poll("pi_3Nxyz", 0, &r, &err), C_ERR);
    cr_assert_eq(payment_test_provider.poll("tp_unknown_x", 0, &r, &err), C_ERR);
    cr_assert_eq(payment_test_provider.poll("tp_ok", 0, &r, &err), C_ERR);
}
