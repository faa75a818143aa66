/* The hosted page's HTML in each state, from a view built by hand: the ids
 * and names the browser tests rely on, every value escaped, amounts by ICU,
 * no inline script, and the weight of a page with its CSS and JS. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "../../../gateway/page_assets.h"
#include "../../../gateway/page_render.h"
#include "../leak_check.h"
#include "core/result.h"

TestSuite(page_render, .fini = unit_leak_check);

#define NNBSP "\xe2\x80\xaf"
#define NBSP "\xc2\xa0"
#define NOW 1796589000

static struct page_view open_view(void)
{
    struct page_view v = {
        .lang = I18N_EN,
        .state = PAGE_OPEN,
        .path = "/checkout/0190b3a0-0000-7000-8000-000000000001/abcdefghijklmnopqrstuvwxyz012345",
        .merchant = "Boutique <Dakar>",
        .test_mode = true,
        .title = "Order #42 <script>alert(1)</script>",
        .description = "Two \"nice\" things",
        .currency_code = "EUR",
        .quantity = 2,
        .max_quantity = 10000,
        .unit_amount = 500,
        .subtotal = 1000,
        .discount = 100,
        .total = 900,
        .allow_quantity = true,
        .allow_coupon = true,
        .require_billing = true,
        .payments_configured = true,
        .coupon = "SAVE10",
        .coupon_message = "coupon_applied",
        .percent_off_bp = 1000,
        .email = "ada@example.com",
        .name = "Ada \"<b>\"",
        .phone = "+221700000001",
        .country = "SN",
        .csrf = "CSRFTOKENCSRFTOKENCSRFTOKEN12345",
        .attempt = "ATTEMPTKEYATTEMPTKEYATTEMPTKEY12",
        .cancel_url = "https://shop.example/cancel?a=1&b=2",
        .success_url = "https://shop.example/ok",
        .expires_at = NOW + 1800,
        .now = NOW,
    };
    return v;
}

static char *render(const struct page_view *v)
{
    struct html_buf b = {0};
    struct error err = ERROR_INIT;
    cr_assert_eq(page_render(v, &b, &err), C_OK, "%s", err.message);
    size_t len;
    char *t = html_buf_take(&b, &len);
    cr_assert_not_null(t);
    return t;
}

static void assert_has(const char *html, const char *what)
{
    cr_assert_not_null(strstr(html, what), "the page lacks %s", what);
}

static void assert_lacks(const char *html, const char *what)
{
    cr_assert_null(strstr(html, what), "the page has %s", what);
}

/* No inline script or style, no third-party request, no event handler. */
static void assert_self_contained(const char *html)
{
    assert_lacks(html, "<script>");
    assert_lacks(html, "style=");
    for (const char *p = strstr(html, " on"); p != NULL; p = strstr(p + 1, " on")) {
        size_t letters = strspn(p + 3, "abcdefghijklmnopqrstuvwxyz");
        cr_assert(letters == 0 || p[3 + letters] != '=', "an event handler: %.30s", p);
    }
    assert_lacks(html, "//fonts.");
    const char *p = html;
    while ((p = strstr(p, "src=\"")) != NULL) {
        p += 5;
        cr_assert(*p == '/', "a script or image from elsewhere: %.40s", p);
    }
}

Test(page_render, the_open_form_has_every_field_the_browser_tests_use)
{
    struct page_view v = open_view();
    char *t = render(&v);
    const char *ids[] = {
        "id=\"checkout-form\"",
        "name=\"csrf\" value=\"CSRFTOKENCSRFTOKENCSRFTOKEN12345\"",
        "name=\"attempt\" value=\"ATTEMPTKEYATTEMPTKEYATTEMPTKEY12\"",
        "name=\"lang\" value=\"en\"",
        "id=\"quantity\" name=\"quantity\"",
        "id=\"coupon\" name=\"coupon\" value=\"SAVE10\"",
        "id=\"apply-coupon\"",
        "id=\"email\" name=\"email\"",
        "id=\"name\" name=\"name\"",
        "id=\"phone\" name=\"phone\"",
        "id=\"line1\" name=\"line1\"",
        "id=\"city\" name=\"city\"",
        "id=\"postal_code\" name=\"postal_code\"",
        "id=\"country\" name=\"country\"",
        "<option value=\"SN\" selected>Senegal",
        "id=\"method-mobile_money\" name=\"method\" value=\"mobile_money\" checked",
        "id=\"method-card\" name=\"method\" value=\"card\">",
        "id=\"account\" name=\"account\"",
        "name=\"action\" value=\"pay\" id=\"pay\"",
        "id=\"cancel\"",
        "id=\"line-total\"",
        "id=\"discount\"",
        "id=\"total\"",
        "id=\"time-left\"",
        "data-state=\"open\"",
        "id=\"coupon-message\"",
        ("action=\"/checkout/0190b3a0-0000-7000-8000-000000000001/"
         "abcdefghijklmnopqrstuvwxyz012345\""),
        "<script src=\"/checkout/assets/checkout.js\" defer></script>"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        assert_has(t, ids[i]);
    assert_has(t, "€10.00");
    assert_has(t, ">€1.00<");
    assert_has(t, ">€9.00<");
    assert_has(t, "Pay €9.00");
    assert_has(t, "Coupon SAVE10 applied: €1.00 off.");
    assert_has(t, "Expires in 30 minutes (Dec 6, 2026, 9:00" NNBSP "PM UTC).");
    assert_has(t, "2 × €5.00");
    assert_has(t, "Test mode");
    assert_self_contained(t);
    free(t);
}

Test(page_render, every_value_is_escaped)
{
    struct page_view v = open_view();
    char *t = render(&v);
    assert_lacks(t, "<script>alert(1)");
    assert_has(t, "Order #42 &lt;script&gt;alert(1)&lt;/script&gt;");
    assert_has(t, "Boutique &lt;Dakar&gt;");
    assert_has(t, "value=\"Ada &quot;&lt;b&gt;&quot;\"");
    assert_has(t, "href=\"https://shop.example/cancel?a=1&amp;b=2\"");
    free(t);
}

Test(page_render, french_page_with_xof)
{
    struct page_view v = open_view();
    v.lang = I18N_FR;
    v.currency_code = "XOF";
    v.unit_amount = 5000, v.subtotal = 10000, v.discount = 0, v.total = 10000;
    v.coupon_message = NULL;
    char *t = render(&v);
    assert_has(t, "<html lang=\"fr\">");
    assert_has(t, "Payer 10" NNBSP "000" NBSP "F" NNBSP "CFA");
    assert_has(t, "Expire dans 30 minutes (6 déc. 2026, 21:00 UTC).");
    assert_has(t, "Votre commande");
    assert_has(t, "aria-current=\"true\">Français");
    free(t);
}

Test(page_render, fields_and_sections_follow_the_session_options)
{
    struct page_view v = open_view();
    v.allow_quantity = v.allow_coupon = v.require_billing = false;
    v.discount = 0, v.total = v.subtotal;
    v.cancel_url = NULL;
    char *t = render(&v);
    assert_lacks(t, "id=\"quantity\"");
    assert_lacks(t, "id=\"coupon\"");
    assert_lacks(t, "id=\"line1\"");
    assert_lacks(t, "id=\"discount\"");
    assert_lacks(t, "id=\"cancel\"");
    assert_has(t, "id=\"pay\"");
    free(t);
}

Test(page_render, errors_coupon_refusals_and_declines_are_shown)
{
    struct page_view v = open_view();
    v.errors[0] = "error_email_required";
    v.errors[1] = "error_quantity_invalid";
    v.nerrors = 2;
    v.coupon = "NOPE";
    v.coupon_message = "coupon_unknown";
    v.coupon_refused = true;
    v.payment_error = "payment_failed_insufficient_funds";
    char *t = render(&v);
    assert_has(t, "id=\"errors\" role=\"alert\"");
    assert_has(t, "<li>Enter your email address.</li>");
    assert_has(t, "<li>The quantity must be a whole number from 1 to 10000.</li>");
    assert_has(t, "class=\"refused\" role=\"status\">Coupon NOPE does not exist.");
    assert_has(t, "id=\"payment-error\" role=\"alert\" class=\"alert\">The payment was declined: "
                  "insufficient funds.");
    free(t);
}

Test(page_render, a_live_session_without_a_provider_says_payments_are_not_configured)
{
    struct page_view v = open_view();
    v.payments_configured = false;
    char *t = render(&v);
    assert_has(t, "Payments are not configured for this merchant.");
    assert_lacks(t, "id=\"pay\"");
    assert_lacks(t, "id=\"account\"");
    free(t);
}

Test(page_render, processing_refreshes_itself_and_offers_a_link)
{
    struct page_view v = open_view();
    v.state = PAGE_PROCESSING;
    char *t = render(&v);
    assert_has(t, "data-state=\"processing\"");
    assert_has(t, "<meta http-equiv=\"refresh\" content=\"3\">");
    assert_has(t, "id=\"refresh\"");
    assert_has(t, "Approve the payment on your phone");
    assert_lacks(t, "id=\"checkout-form\"");
    assert_self_contained(t);
    free(t);
}

Test(page_render, complete_is_a_receipt_with_the_way_back)
{
    struct page_view v = open_view();
    v.state = PAGE_COMPLETE;
    v.paid_at = NOW;
    v.reference = "test_pay_123";
    char *t = render(&v);
    assert_has(t, "data-state=\"complete\"");
    assert_has(t, "id=\"continue\" class=\"button primary\" href=\"https://shop.example/ok\"");
    assert_has(t, ">€9.00<");
    assert_has(t, "test_pay_123");
    assert_has(t, "Dec 6, 2026, 8:30" NNBSP "PM UTC");
    assert_lacks(t, "id=\"checkout-form\"");
    assert_lacks(t, "<script");
    free(t);
    v.success_url = NULL;
    t = render(&v);
    assert_lacks(t, "id=\"continue\"");
    free(t);
}

Test(page_render, expired_says_so_with_the_cancel_link_and_no_form)
{
    struct page_view v = open_view();
    v.state = PAGE_EXPIRED;
    v.now = v.expires_at + 10;
    char *t = render(&v);
    assert_has(t, "data-state=\"expired\"");
    assert_has(t, "This payment page has expired");
    assert_has(t, "id=\"cancel\"");
    assert_lacks(t, "id=\"checkout-form\"");
    assert_lacks(t, "id=\"pay\"");
    free(t);
}

Test(page_render, links_that_are_not_http_are_not_shown)
{
    struct page_view v = open_view();
    v.cancel_url = "javascript:alert(1)";
    char *t = render(&v);
    assert_lacks(t, "javascript:");
    free(t);
}

Test(page_render, the_not_found_page_says_nothing_of_any_session)
{
    struct html_buf b = {0};
    struct error err = ERROR_INIT;
    cr_assert_eq(page_render_not_found(I18N_EN, &b, &err), C_OK, "%s", err.message);
    size_t len;
    char *t = html_buf_take(&b, &len);
    assert_has(t, "Page not found");
    assert_has(t, "data-state=\"not_found\"");
    assert_lacks(t, "class=\"merchant\"");
    assert_lacks(t, "<form");
    free(t);
}

Test(page_render, error_pages_say_their_message_in_the_language)
{
    struct html_buf b = {0};
    struct error err = ERROR_INIT;
    cr_assert_eq(page_render_error(I18N_FR, "/checkout/a/b", "too_many_requests", "7", &b, &err),
                 C_OK, "%s", err.message);
    size_t len;
    char *t = html_buf_take(&b, &len);
    assert_has(t, "Patientez 7 secondes");
    assert_has(t, "href=\"/checkout/a/b?lang=fr\"");
    free(t);
}

/* The budget: each page at most 30 KB with its CSS and JavaScript. */
Test(page_render, every_state_weighs_at_most_30_kb_with_its_assets)
{
    size_t assets = page_assets_find("checkout.css")->len + page_assets_find("checkout.js")->len;
    enum page_state states[] = {PAGE_OPEN, PAGE_PROCESSING, PAGE_COMPLETE, PAGE_EXPIRED};
    for (size_t i = 0; i < 4; i++) {
        struct page_view v = open_view();
        v.state = states[i];
        v.lang = I18N_FR;
        char *t = render(&v);
        size_t total = strlen(t) + assets;
        cr_assert_leq(total, 30 * 1024, "state %zu weighs %zu bytes", i, total);
        free(t);
    }
}
