/* The one HTML escape of the hosted page: markup characters become
 * references, control characters go, invalid UTF-8 becomes U+FFFD. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "../../../gateway/html.h"
#include "../leak_check.h"

TestSuite(html, .fini = unit_leak_check);

static char *escaped(const char *s, size_t n)
{
    struct html_buf b = {0};
    html_escape(&b, s, n);
    size_t len;
    char *text = html_buf_take(&b, &len);
    cr_assert_not_null(text);
    cr_assert_eq(strlen(text), len);
    return text;
}

Test(html, markup_characters_become_references)
{
    char *t = escaped("<script>alert(\"x\" & 'y')</script>", 34);
    cr_assert_str_eq(t, "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;");
    free(t);
}

Test(html, an_attribute_cannot_be_closed_by_a_value)
{
    char *t = escaped("\" onmouseover=\"alert(1)", 23);
    cr_assert_null(strchr(t, '"'));
    free(t);
}

Test(html, utf8_is_kept_and_invalid_bytes_become_the_replacement_character)
{
    char *t = escaped("Fran\xc3\xa7ois \xe2\x82\xac", 13);
    cr_assert_str_eq(t, "François €");
    free(t);
    t = escaped("a\xff"
                "b\xc3",
                4);
    cr_assert_str_eq(t, "a\xEF\xBF\xBD"
                        "b\xEF\xBF\xBD");
    free(t);
    t = escaped("\xed\xa0\x80", 3); /* a surrogate */
    cr_assert_null(strstr(t, "\xed\xa0\x80"));
    free(t);
}

Test(html, control_characters_are_dropped_but_line_ends_and_tabs_kept)
{
    char *t = escaped("a\0b\x01\x1b[31m\x7f\tc\r\n", 14);
    cr_assert_str_eq(t, "ab[31m\tc\r\n");
    free(t);
}

Test(html, markup_is_appended_as_it_is_and_an_empty_buffer_is_empty_text)
{
    struct html_buf b = {0};
    html_buf_puts(&b, "<p>");
    html_escape(&b, "<", 1);
    html_buf_puts(&b, "</p>");
    size_t len;
    char *t = html_buf_take(&b, &len);
    cr_assert_str_eq(t, "<p>&lt;</p>");
    free(t);
    struct html_buf empty = {0};
    t = html_buf_take(&empty, &len);
    cr_assert_str_eq(t, "");
    cr_assert_eq(len, 0);
    free(t);
}

Test(html, a_long_text_grows_the_buffer)
{
    struct html_buf b = {0};
    for (int i = 0; i < 10000; i++)
        html_escape(&b, "<&>", 3);
    cr_assert_eq(b.len, 10000u * 13u);
    html_buf_free(&b);
}
