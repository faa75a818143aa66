#include <criterion/criterion.h>
#include <string.h>

#include "core/hex.h"
#include "core/result.h"

Test(hex, every_digit_of_either_case_has_its_value_and_nothing_else_has_one)
{
    cr_assert_eq(hex_digit_value('0'), 0);
    cr_assert_eq(hex_digit_value('9'), 9);
    cr_assert_eq(hex_digit_value('a'), 10);
    cr_assert_eq(hex_digit_value('F'), 15);
    cr_assert_eq(hex_digit_value('g'), -1);
    cr_assert_eq(hex_digit_value('/'), -1);
    cr_assert_eq(hex_digit_value(':'), -1);
    cr_assert_eq(hex_digit_value('\0'), -1);
    cr_assert_eq(hex_digit_value((char)0xc3), -1);
}

Test(hex, bytes_encode_to_lower_case_digits_and_decode_back)
{
    const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff, 0x10};
    char text[2 * sizeof(bytes) + 1];
    hex_encode(bytes, sizeof(bytes), text);
    cr_assert_str_eq(text, "000fa5ff10");
    unsigned char back[sizeof(bytes)];
    cr_assert_eq(hex_decode("000FA5ff10", 10, back), C_OK);
    cr_assert_eq(memcmp(back, bytes, sizeof(bytes)), 0);
}

Test(hex, an_odd_length_or_a_stray_character_does_not_decode)
{
    unsigned char out[4];
    cr_assert_eq(hex_decode("abc", 3, out), C_ERR);
    cr_assert_eq(hex_decode("zz", 2, out), C_ERR);
    cr_assert_eq(hex_decode("0g", 2, out), C_ERR);
    cr_assert_eq(hex_decode("", 0, out), C_OK, "nothing is zero bytes");
}
