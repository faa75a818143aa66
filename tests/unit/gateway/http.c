/* The gateway's request entry (gateway/http.c): how the path and the query
 * are unescaped, whatever bytes a client sends. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "../../../gateway/http.h"
#include "../leak_check.h"

TestSuite(http, .fini = unit_leak_check);

static size_t unescape(const char *in, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", in);
    return http_unescape(NULL, NULL, out);
}

Test(http, unescape_decodes_percent_escapes)
{
    char s[64];
    cr_assert_eq(unescape("/a%2Fb%41%e9", s, sizeof(s)), 6);
    cr_assert_str_eq(s, "/a/bA\xe9");
    cr_assert_eq(unescape("plain", s, sizeof(s)), 5);
    cr_assert_str_eq(s, "plain");
}

Test(http, unescape_keeps_percent_00_so_nothing_is_cut_short)
{
    char s[64];
    /* Decoded, %00 would end the path at /checkout-sessions/: the list. */
    cr_assert_eq(unescape("/checkout-sessions/%00", s, sizeof(s)), 22);
    cr_assert_str_eq(s, "/checkout-sessions/%00");
    cr_assert_eq(unescape("a%00b%2500", s, sizeof(s)), 8);
    /* %25 is '%', and what follows stays as written. */
    cr_assert_str_eq(s, "a%00b%00");
}

Test(http, unescape_leaves_malformed_escapes_as_written)
{
    char s[64];
    const char *const kept[] = {"%", "%4", "%zz", "%4g", "100%"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++) {
        cr_assert_eq(unescape(kept[i], s, sizeof(s)), strlen(kept[i]));
        cr_assert_str_eq(s, kept[i]);
    }
}

static unsigned error_page_status;
static int error_page_calls;

static enum MHD_Result error_page_record(struct http_request *req, unsigned status)
{
    (void)req;
    error_page_status = status;
    error_page_calls++;
    return MHD_YES;
}

Test(http, a_5xx_of_a_request_with_an_error_page_is_that_page_once)
{
    struct http_request req;
    memset(&req, 0, sizeof(req));
    req.error_page = error_page_record;
    error_page_calls = 0;
    cr_assert_eq(http_respond_error(&req, 503, "service_unavailable", NULL, "down"), MHD_YES);
    cr_assert_eq(error_page_calls, 1);
    cr_assert_eq(error_page_status, 503);
    /* Cleared: a page that cannot be made falls back to the JSON error. */
    cr_assert_null(req.error_page);
}
