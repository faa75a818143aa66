/* UTF-8 length and truncation (common/core/utf8.c). */
#include <criterion/criterion.h>

#include "core/utf8.h"
#include "../../leak_check.h"

TestSuite(utf8, .fini = unit_leak_check);

Test(utf8, length_counts_code_points_not_bytes)
{
    cr_assert_eq(utf8_length(""), 0);
    cr_assert_eq(utf8_length("abc"), 3);
    cr_assert_eq(utf8_length("é"), 1);
    cr_assert_eq(utf8_length("F CFA €"), 7);
    cr_assert_eq(utf8_length("🎉x"), 2);
}

Test(utf8, truncate_never_cuts_a_utf8_character_in_half)
{
    char out[8];
    /* "abcde" then é (2 bytes) then ü: a 7-byte cut would end inside ü. */
    utf8_truncate("abcde\xc3\xa9\xc3\xbc", out, sizeof(out));
    cr_assert_str_eq(out, "abcde\xc3\xa9");
    /* A cut inside a 4-byte sequence backs off to its first byte. */
    utf8_truncate("abcde\xf0\x9f\x92\xb3", out, sizeof(out));
    cr_assert_str_eq(out, "abcde");
    utf8_truncate("short", out, sizeof(out));
    cr_assert_str_eq(out, "short");
}
