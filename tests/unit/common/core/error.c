/* The error convention (common/core/error.c). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/result.h"
#include "../../leak_check.h"

TestSuite(error, .fini = unit_leak_check);

Test(error, set_fills_message_and_param_and_returns_c_err)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(error_set(&err, "amount", "amount must be > %d", 0), C_ERR);
    cr_assert_str_eq(err.message, "amount must be > 0");
    cr_assert_str_eq(err.param, "amount");
}

Test(error, set_without_param_leaves_it_empty)
{
    struct error err = ERROR_INIT;
    snprintf(err.param, sizeof(err.param), "old"); /* a reused object forgets the old param */
    error_set(&err, NULL, "broken");
    cr_assert_str_eq(err.param, "");
}

Test(error, set_on_null_only_returns_c_err)
{
    cr_assert_eq(error_set(NULL, "x", "ignored"), C_ERR);
    cr_assert_eq(error_wrap(NULL, "ignored: "), C_ERR);
}

Test(error, long_messages_are_cut_between_characters)
{
    struct error err = ERROR_INIT;
    char long_text[ERROR_MESSAGE_MAX + 8];
    memset(long_text, 'x', ERROR_MESSAGE_MAX - 2);
    memcpy(long_text + ERROR_MESSAGE_MAX - 2, "\xc3\xa9\xc3\xa9", 5); /* "éé" straddles the end */
    error_set(&err, NULL, "%s", long_text);
    size_t n = strlen(err.message);
    cr_assert_lt(n, ERROR_MESSAGE_MAX);
    cr_assert_neq((unsigned char)err.message[n - 1], 0xc3, "half a character was kept");
}

Test(error, wrap_prefixes_context)
{
    struct error err = ERROR_INIT;
    error_set(&err, "url", "no such host");
    cr_assert_eq(error_wrap(&err, "endpoint %d: ", 3), C_ERR);
    cr_assert_str_eq(err.message, "endpoint 3: no such host");
    cr_assert_str_eq(err.param, "url");
}
