/* The page's form decoder and its tokens: known fields decoded, hostile
 * bytes refused, the CSRF token compared exactly. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../../gateway/page_form.h"
#include "../leak_check.h"
#include "core/result.h"

TestSuite(page_form, .fini = unit_leak_check);

static int decode(const char *body, struct page_form *f, struct error *err)
{
    return page_form_decode(body, strlen(body), f, err);
}

Test(page_form, fields_are_decoded_with_plus_and_percent_escapes)
{
    struct page_form f;
    struct error err = ERROR_INIT;
    cr_assert_eq(decode("action=pay&quantity=3&email=a%40b.example&name=Fran%C3%A7ois+Diop"
                        "&coupon=SUMMER10&country=SN&method=mobile_money&account=%2B221700000001"
                        "&unknown=ignored&=x&&lang=fr",
                        &f, &err),
                 C_OK, "%s", err.message);
    cr_assert_str_eq(f.action, "pay");
    cr_assert_str_eq(f.quantity, "3");
    cr_assert_str_eq(f.email, "a@b.example");
    cr_assert_str_eq(f.name, "François Diop");
    cr_assert_str_eq(f.coupon, "SUMMER10");
    cr_assert_str_eq(f.country, "SN");
    cr_assert_str_eq(f.account, "+221700000001");
    cr_assert_str_eq(f.lang, "fr");
    cr_assert_str_eq(f.city, "", "absent is empty");
}

Test(page_form, an_empty_body_is_an_empty_form)
{
    struct page_form f;
    cr_assert_eq(page_form_decode("", 0, &f, NULL), C_OK);
    cr_assert_str_eq(f.action, "");
}

Test(page_form, hostile_values_are_refused_and_the_form_is_left_as_it_was)
{
    const char *const bad[] = {
        "name=a%00b",     /* NUL */
        "name=a%0Ab",     /* a line end */
        "name=%1B%5B31m", /* ESC */
        "name=%C2%85",    /* C1 control NEL */
        "name=%FF%FE",    /* not UTF-8 */
        "name=%ED%A0%80", /* a surrogate */
        "name=%C0%AF",    /* overlong */
        "name=abc%2",     /* cut escape */
        "name=%zz",       /* not hex */
        "name=a&name=b",  /* twice */
        "country=SEN",    /* longer than the field */
        "csrf=0123456789012345678901234567890123456789",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct page_form f;
        memset(&f, 'x', sizeof(f));
        struct error err = ERROR_INIT;
        cr_assert_eq(decode(bad[i], &f, &err), C_ERR, "%s was accepted", bad[i]);
        cr_assert(err.message[0] != '\0');
        cr_assert_eq(((char *)&f)[0], 'x', "%s changed the form", bad[i]);
    }
}

Test(page_form, too_many_fields_are_refused)
{
    char body[1024];
    for (int i = 0; i < 70; i++)
        memcpy(body + 4 * i, "z=1&", 4);
    body[4 * 70] = '\0';
    struct page_form f;
    cr_assert_eq(decode(body, &f, NULL), C_ERR);
}

Test(page_form, tokens_are_32_base64url_characters_and_differ)
{
    char a[PAGE_FORM_TOKEN_LEN + 1], b[PAGE_FORM_TOKEN_LEN + 1];
    cr_assert_eq(page_form_token(a, NULL), C_OK);
    cr_assert_eq(page_form_token(b, NULL), C_OK);
    cr_assert_eq(strlen(a), PAGE_FORM_TOKEN_LEN);
    cr_assert_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 PAGE_FORM_TOKEN_LEN);
    cr_assert_str_neq(a, b);
}

Test(page_form, the_csrf_token_must_be_the_cookie_exactly)
{
    char t[PAGE_FORM_TOKEN_LEN + 1];
    cr_assert_eq(page_form_token(t, NULL), C_OK);
    cr_assert(page_form_csrf_matches(t, t));
    char other[PAGE_FORM_TOKEN_LEN + 1];
    memcpy(other, t, sizeof(other));
    other[PAGE_FORM_TOKEN_LEN - 1] = other[PAGE_FORM_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
    cr_assert_not(page_form_csrf_matches(t, other));
    cr_assert_not(page_form_csrf_matches(NULL, t));
    cr_assert_not(page_form_csrf_matches(t, NULL));
    cr_assert_not(page_form_csrf_matches("", ""), "two empty tokens are no match");
    cr_assert_not(page_form_csrf_matches("short", "short"));
    char bad[PAGE_FORM_TOKEN_LEN + 1];
    memset(bad, '!', PAGE_FORM_TOKEN_LEN);
    bad[PAGE_FORM_TOKEN_LEN] = '\0';
    cr_assert_not(page_form_csrf_matches(bad, bad));
}
