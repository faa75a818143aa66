/* UTF-8 length, truncation, validity and escaping (common/core/utf8.c). */
#include <criterion/criterion.h>
#include <string.h>

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

Test(utf8, truncate_cuts_a_run_of_stray_continuation_bytes_where_it_falls)
{
    /* No lead byte within 3 bytes of the cut: not a character cut in half,
     * so nothing is backed off (the router once got an empty path here). */
    char out[8];
    utf8_truncate("/\x90\x90\x90\x90\x90\x90\x90\x90\x90", out, sizeof(out));
    cr_assert_eq(strlen(out), 7);
    cr_assert_eq(out[0], '/');
}

Test(utf8, sequence_length_accepts_well_formed_sequences)
{
    cr_assert_eq(utf8_sequence_length("a", 1), 1);
    cr_assert_eq(utf8_sequence_length("\xc3\xa9", 2), 2);
    cr_assert_eq(utf8_sequence_length("\xe2\x82\xac", 3), 3);
    cr_assert_eq(utf8_sequence_length("\xf0\x9f\x8e\x89", 4), 4);
    cr_assert_eq(utf8_sequence_length("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
}

Test(utf8, sequence_length_refuses_what_jansson_and_postgresql_refuse)
{
    cr_assert_eq(utf8_sequence_length("\0", 1), 0, "NUL");
    cr_assert_eq(utf8_sequence_length("\x80", 1), 0, "stray continuation byte");
    cr_assert_eq(utf8_sequence_length("\xff", 1), 0);
    cr_assert_eq(utf8_sequence_length("\xc0\xaf", 2), 0, "overlong '/'");
    cr_assert_eq(utf8_sequence_length("\xe0\x80\xaf", 3), 0, "overlong");
    cr_assert_eq(utf8_sequence_length("\xed\xa0\x80", 3), 0, "surrogate U+D800");
    cr_assert_eq(utf8_sequence_length("\xf4\x90\x80\x80", 4), 0, "past U+10FFFF");
    cr_assert_eq(utf8_sequence_length("\xc3\x41", 2), 0, "continuation missing");
    cr_assert_eq(utf8_sequence_length("\xe2\x82", 2), -1, "cut by the end");
    cr_assert_eq(utf8_sequence_length("", 0), -1);
}

Test(utf8, valid_checks_every_byte_of_the_length_given)
{
    cr_assert(utf8_valid("", 0));
    cr_assert(utf8_valid("caf\xc3\xa9", 5));
    cr_assert_not(utf8_valid("caf\xc3", 4), "a sequence cut at the end");
    cr_assert_not(utf8_valid("a\0b", 3), "an embedded NUL");
    cr_assert_not(utf8_valid("\xff\xfe", 2));
    /* Only len bytes count: what follows is not looked at. */
    cr_assert(utf8_valid("ab\xff", 2));
}

Test(utf8, escape_invalid_keeps_valid_text_and_escapes_the_rest)
{
    char out[64];
    utf8_escape_invalid("/caf\xc3\xa9", 6, out, sizeof(out));
    cr_assert_str_eq(out, "/caf\xc3\xa9");
    utf8_escape_invalid("/a\xff\xfe", 4, out, sizeof(out));
    cr_assert_str_eq(out, "/a%FF%FE");
    utf8_escape_invalid("a\0b", 3, out, sizeof(out));
    cr_assert_str_eq(out, "a%00b");
    /* A multibyte character cut by the end is escaped byte by byte. */
    utf8_escape_invalid("x\xe2\x82", 3, out, sizeof(out));
    cr_assert_str_eq(out, "x%E2%82");
    cr_assert(utf8_valid(out, strlen(out)));
}

Test(utf8, escape_invalid_cuts_before_what_does_not_fit)
{
    char out[6];
    utf8_escape_invalid("abcd\xc3\xa9", 6, out, sizeof(out));
    cr_assert_str_eq(out, "abcd", "é would need 2 bytes and only 1 is left");
    utf8_escape_invalid("ab\xff\xff", 4, out, sizeof(out));
    cr_assert_str_eq(out, "ab%FF", "a second escape does not fit");
    char one[1];
    utf8_escape_invalid("abc", 3, one, sizeof(one));
    cr_assert_str_eq(one, "");
}
