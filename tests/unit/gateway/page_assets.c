/* The page's files compiled into the gateway: every template, the CSS and the
 * script are there, and their ETags are stable and differ. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../../gateway/page_assets.h"
#include "../leak_check.h"

TestSuite(page_assets, .fini = unit_leak_check);

Test(page_assets, every_file_of_the_page_is_compiled_in)
{
    const char *names[] = {"layout.html",   "open.html",    "processing.html",
                           "complete.html", "expired.html", "not_found.html",
                           "error.html",    "checkout.css", "checkout.js"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct page_asset *a = page_assets_find(names[i]);
        cr_assert_not_null(a, "%s is missing", names[i]);
        cr_assert_gt(a->len, 0);
        cr_assert_eq(strlen(a->data), a->len, "%s holds a NUL", names[i]);
    }
    cr_assert_null(page_assets_find("en.po"), "catalogues are tables, not files");
    cr_assert_null(page_assets_find("../routes.c"));
}

Test(page_assets, etags_are_stable_quoted_and_differ_between_files)
{
    char a[20], b[20], c[20];
    page_assets_etag(page_assets_find("checkout.css"), a);
    page_assets_etag(page_assets_find("checkout.css"), b);
    page_assets_etag(page_assets_find("checkout.js"), c);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    cr_assert_eq(strlen(a), 18);
    cr_assert(a[0] == '"' && a[17] == '"');
}

Test(page_assets, the_script_and_the_style_sheet_stay_small)
{
    size_t css = page_assets_find("checkout.css")->len, js = page_assets_find("checkout.js")->len;
    cr_assert_leq(css + js, 8 * 1024, "CSS %zu + JS %zu bytes", css, js);
}
