/* Which provider pays a session (gateway/payment.c): the test provider for
 * test sessions, none for live ones (no operator configured one). */
#include <criterion/criterion.h>

#include <stdio.h>

#include "../../../gateway/payment.h"
#include "../../../gateway/payment_test.h"
#include "core/result.h"
#include "model/session.h"
#include "../leak_check.h"

TestSuite(payment, .fini = unit_leak_check);

Test(payment, test_sessions_pay_with_the_test_provider_and_live_ones_with_none)
{
    struct session s;
    cr_assert_eq(session_init(&s), C_OK);
    snprintf(s.environment, sizeof(s.environment), "test");
    cr_assert_eq(payment_provider_for(&s), &payment_test_provider);
    snprintf(s.environment, sizeof(s.environment), "live");
    cr_assert_null(payment_provider_for(&s));
    session_free(&s);
}

Test(payment, a_provider_is_found_by_its_name)
{
    cr_assert_eq(payment_provider_named("test"), &payment_test_provider);
    cr_assert_str_eq(payment_test_provider.name, "test");
    cr_assert_null(payment_provider_named("stripe"));
    cr_assert_null(payment_provider_named(NULL));
}
