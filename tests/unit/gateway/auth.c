/* The internal listener's service token (gateway/auth.c): its shortest
 * length, and the previous token accepted beside it during a rotation. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../../gateway/auth.h"
#include "core/result.h"
#include "../leak_check.h"

static void teardown(void)
{
    auth_shutdown();
    unit_leak_check();
}

TestSuite(auth, .fini = teardown);

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PREVIOUS "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define AT_MIN "abcdefghijklmnopqrstuvwxyz012345" /* 32 characters */

Test(auth, a_token_shorter_than_32_characters_is_refused_with_a_clear_message)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(auth_init(60, "abcdefghijklmnopqrstuvwxyz01234", "", &err), C_ERR);
    cr_assert_not_null(strstr(err.message, "CAISSE_INTERNAL_TOKEN is 31 characters long"), "%s",
                       err.message);
    cr_assert_not_null(strstr(err.message, "at least 32"), "%s", err.message);
    struct error err2 = ERROR_INIT;
    cr_assert_eq(auth_check_tokens(TOKEN, "short-previous", &err2), C_ERR);
    cr_assert_not_null(strstr(err2.message, "CAISSE_INTERNAL_TOKEN_PREVIOUS is 14"), "%s",
                       err2.message);
}

Test(auth, a_token_of_32_characters_or_none_is_accepted)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(auth_check_tokens(AT_MIN, "", &err), C_OK, "%s", err.message);
    cr_assert_eq(auth_check_tokens("", "", &err), C_OK, "%s", err.message);
    cr_assert_eq(auth_init(60, AT_MIN, "", &err), C_OK, "%s", err.message);
    cr_assert(auth_service_token_valid("Bearer " AT_MIN));
}

Test(auth, a_previous_token_needs_a_current_one_that_differs)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(auth_check_tokens("", PREVIOUS, &err), C_ERR);
    cr_assert_not_null(strstr(err.message, "without CAISSE_INTERNAL_TOKEN"), "%s", err.message);
    struct error err2 = ERROR_INIT;
    cr_assert_eq(auth_check_tokens(TOKEN, TOKEN, &err2), C_ERR);
    cr_assert_not_null(strstr(err2.message, "is the current token"), "%s", err2.message);
}

Test(auth, during_a_rotation_both_tokens_are_accepted_and_nothing_else)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(auth_init(60, TOKEN, PREVIOUS, &err), C_OK, "%s", err.message);
    cr_assert(auth_service_token_valid("Bearer " TOKEN));
    cr_assert(auth_service_token_valid("bearer " PREVIOUS));
    cr_assert_not(auth_service_token_valid("Bearer " TOKEN "0"));
    cr_assert_not(auth_service_token_valid("Bearer " AT_MIN));
    cr_assert_not(auth_service_token_valid("Bearer "));
    cr_assert_not(auth_service_token_valid(TOKEN));
    cr_assert_not(auth_service_token_valid(NULL));
    /* The rotation's end: the previous token is removed. */
    cr_assert_eq(auth_init(60, TOKEN, "", &err), C_OK, "%s", err.message);
    cr_assert(auth_service_token_valid("Bearer " TOKEN));
    cr_assert_not(auth_service_token_valid("Bearer " PREVIOUS));
}

Test(auth, without_a_token_every_internal_call_is_refused)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(auth_init(60, "", "", &err), C_OK, "%s", err.message);
    cr_assert_not(auth_service_token_valid("Bearer "));
    cr_assert_not(auth_service_token_valid("Bearer " TOKEN));
}
