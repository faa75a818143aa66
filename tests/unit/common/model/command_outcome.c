/* A command's outcome as the worker records it and the gateway reads it. The
 * SQL is tests/integration's (products.c: every refused and applied write). */
#include <criterion/criterion.h>

#include <string.h>

#include "model/command_outcome.h"
#include "../../leak_check.h"

TestSuite(command_outcome, .fini = unit_leak_check);

#define COMMAND_ID "0190a6e4-6b2c-7d3e-8f41-0000000000c1"
#define OBJECT_ID "0190a6e4-6b2c-7d3e-8f41-0000000000a1"

Test(command_outcome, applied_has_no_code_or_message)
{
    struct command_outcome o;
    memset(&o, 0x5a, sizeof(o));
    command_outcome_applied(&o, COMMAND_ID, OBJECT_ID);
    cr_assert_str_eq(o.command_id, COMMAND_ID);
    cr_assert_str_eq(o.object_id, OBJECT_ID);
    cr_assert_not(o.refused);
    cr_assert_str_eq(o.code, "");
    cr_assert_str_eq(o.message, "");
}

Test(command_outcome, refused_keeps_the_code_and_the_formatted_message)
{
    struct command_outcome o;
    command_outcome_refused(&o, COMMAND_ID, OBJECT_ID, COMMAND_OUTCOME_NOT_FOUND,
                            "%s with ID %s not found or access denied", "Product", OBJECT_ID);
    cr_assert(o.refused);
    cr_assert_str_eq(o.code, "not_found");
    cr_assert_str_eq(o.message, "Product with ID " OBJECT_ID " not found or access denied");
}

Test(command_outcome, a_long_message_is_cut_on_a_character)
{
    char text[COMMAND_OUTCOME_MESSAGE_MAX + 10];
    memset(text, 'x', COMMAND_OUTCOME_MESSAGE_MAX - 2);
    memcpy(text + COMMAND_OUTCOME_MESSAGE_MAX - 2, "\xc3\xa9\xc3\xa9", 5);
    struct command_outcome o;
    command_outcome_refused(&o, COMMAND_ID, OBJECT_ID, COMMAND_OUTCOME_INVALID, "%s", text);
    size_t n = strlen(o.message);
    cr_assert_lt(n, COMMAND_OUTCOME_MESSAGE_MAX);
    cr_assert_neq((unsigned char)o.message[n - 1], 0xc3, "no half character at the end");
}
