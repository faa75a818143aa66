/* The pay path's pure parts (gateway/checkout_pay.c): the attempt id of an
 * attempt key, and success_url with the session id in place of
 * {CHECKOUT_SESSION_ID}. The flow itself runs against the stack
 * (tests/integration/payment.c). */
#include <criterion/criterion.h>

#include <string.h>

#include "../../../gateway/checkout_pay.h"
#include "../../../gateway/idempotency.h"
#include "core/result.h"
#include "core/uuid.h"
#include "../leak_check.h"

TestSuite(checkout_pay, .fini = unit_leak_check);

#define SESSION "0190a6e4-6b2c-7d3e-8f41-123456789abc"

Test(checkout_pay, the_same_attempt_key_is_the_same_attempt)
{
    cr_assert_eq(idempotency_init("0123456789abcdef0123456789abcdef-pay"), C_OK);
    char a[UUID_STR_LEN], b[UUID_STR_LEN], c[UUID_STR_LEN], d[UUID_STR_LEN];
    checkout_pay_attempt_id(SESSION, "k1", a);
    checkout_pay_attempt_id(SESSION, "k1", b);
    checkout_pay_attempt_id(SESSION, "k2", c);
    checkout_pay_attempt_id("0190a6e4-6b2c-7d3e-8f41-123456789abd", "k1", d);
    cr_assert(uuid_is_valid(a));
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    cr_assert_str_neq(a, d, "another session's key is another attempt");
    cr_assert_eq(a[14], '8', "a UUIDv8");
}

Test(checkout_pay, success_url_gets_the_session_id_wherever_asked)
{
    char out[256];
    cr_assert_eq(checkout_pay_success_url("https://shop.example/ok?s={CHECKOUT_SESSION_ID}",
                                          SESSION, out, sizeof(out)),
                 C_OK);
    cr_assert_str_eq(out, "https://shop.example/ok?s=" SESSION);
    cr_assert_eq(checkout_pay_success_url("https://x.example/{CHECKOUT_SESSION_ID}/{CHECKOUT_"
                                          "SESSION_ID}",
                                          SESSION, out, sizeof(out)),
                 C_OK);
    cr_assert_str_eq(out, "https://x.example/" SESSION "/" SESSION);
    cr_assert_eq(checkout_pay_success_url("https://x.example/plain", SESSION, out, sizeof(out)),
                 C_OK);
    cr_assert_str_eq(out, "https://x.example/plain");
    cr_assert_eq(
        checkout_pay_success_url("https://x.example/{CHECKOUT_SESSION}", SESSION, out, sizeof(out)),
        C_OK);
    cr_assert_str_eq(out, "https://x.example/{CHECKOUT_SESSION}", "only the whole placeholder");
}

Test(checkout_pay, a_success_url_that_does_not_fit_is_refused)
{
    char out[40];
    memset(out, 'x', sizeof(out));
    cr_assert_eq(checkout_pay_success_url("https://shop.example/{CHECKOUT_SESSION_ID}", SESSION,
                                          out, sizeof(out)),
                 C_ERR);
    char exact[24];
    cr_assert_eq(checkout_pay_success_url("https://a.example/12345", SESSION, exact, 24), C_OK);
    cr_assert_eq(checkout_pay_success_url("https://a.example/123456", SESSION, exact, 24), C_ERR);
}
