/* The hosted checkout page (gateway/page.c) with plain HTTP against the real
 * stack: every state, its messages in French and English, amounts by ICU, the
 * same 404 page for whatever is not a session's url, the CSRF refusal, the
 * security headers, the page's weight, the totals recomputed server-side, and
 * paying with the test provider (success, decline, pending, double submit,
 * expiry while paying). */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_support.h"
#include "support.h"

#define NNBSP "\xe2\x80\xaf"
#define NBSP "\xc2\xa0"

TestSuite(page, .timeout = 120);

/* A session's page: its path (the url without scheme and host) and id. */
struct page {
    char path[256];
    char id[64];
    json_t *session;
};

static void page_of(struct page *p, json_t *session)
{
    p->session = session;
    snprintf(p->id, sizeof(p->id), "%s", ct_str(session, "checkout_session_id"));
    const char *url = ct_str(session, "url");
    cr_assert_not_null(url);
    const char *path = strstr(url, "/checkout/");
    cr_assert_not_null(path, "url %s", url);
    snprintf(p->path, sizeof(p->path), "%s", path);
    /* /checkout/<id>/<32 characters of secret> */
    cr_assert_eq(strlen(p->path), strlen("/checkout/") + strlen(p->id) + 1 + 32, "url %s", url);
}

static void page_create(struct page *p, const char *key, const char *extra)
{
    char *body = test_body(extra);
    page_of(p, ct_session_create(key, body));
    free(body);
}

static void page_free(struct page *p)
{
    json_decref(p->session);
    p->session = NULL;
}

static struct api_response page_get(const char *path, const char *accept_language)
{
    char h[128];
    snprintf(h, sizeof(h), "Accept-Language: %s", accept_language != NULL ? accept_language : "");
    const char *headers[] = {h, NULL};
    return test_api("GET", path, NULL, NULL, accept_language != NULL ? headers : NULL);
}

static const char *header(const struct api_response *r, const char *name)
{
    return json_string_value(json_object_get(r->headers, name));
}

/* The csrf cookie's value from a Set-Cookie, into out. */
static void page_cookie(const struct api_response *r, char *out, size_t outlen)
{
    const char *set = header(r, "set-cookie");
    cr_assert_not_null(set, "no Set-Cookie");
    cr_assert(strncmp(set, "caisse_csrf=", 12) == 0, "Set-Cookie %s", set);
    size_t n = strcspn(set + 12, ";");
    cr_assert(n < outlen);
    memcpy(out, set + 12, n);
    out[n] = '\0';
}

/* The value attribute of the input named name in html, into out. */
static void page_input(const char *html, const char *name, char *out, size_t outlen)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "name=\"%s\" value=\"", name);
    const char *v = strstr(html, needle);
    cr_assert_not_null(v, "no input %s", name);
    v += strlen(needle);
    size_t n = strcspn(v, "\"");
    cr_assert(n < outlen);
    memcpy(out, v, n);
    out[n] = '\0';
}

/* POSTs form (url-encoded text) with the cookie (NULL: none). */
static struct api_response page_post(const char *path, const char *cookie, const char *form)
{
    char c[128];
    snprintf(c, sizeof(c), "Cookie: caisse_csrf=%s", cookie != NULL ? cookie : "");
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", c, NULL};
    const char *no_cookie[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    return test_api("POST", path, NULL, form, cookie != NULL ? headers : no_cookie);
}

/* A form session: GET the page, then POST fields (after csrf, attempt) with its tokens. */
struct page_form {
    char cookie[64], csrf[64], attempt[64];
};

static void page_open_form(const char *path, struct page_form *f)
{
    struct api_response r = page_get(path, "en");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.text);
    page_cookie(&r, f->cookie, sizeof(f->cookie));
    page_input(r.text, "csrf", f->csrf, sizeof(f->csrf));
    page_input(r.text, "attempt", f->attempt, sizeof(f->attempt));
    cr_assert_str_eq(f->cookie, f->csrf, "the form carries the cookie's token");
    test_api_free(&r);
}

static struct api_response page_submit(const char *path, const struct page_form *f,
                                       const char *fields)
{
    char form[2048];
    snprintf(form, sizeof(form), "csrf=%s&attempt=%s&%s", f->csrf, f->attempt, fields);
    return page_post(path, f->cookie, form);
}

static void assert_has(const struct api_response *r, const char *what)
{
    cr_assert_not_null(strstr(r->text != NULL ? r->text : "", what), "the page lacks %s", what);
}

static void assert_lacks(const struct api_response *r, const char *what)
{
    cr_assert_null(strstr(r->text != NULL ? r->text : "", what), "the page has %s", what);
}

static void assert_page_headers(const struct api_response *r)
{
    const char *csp = header(r, "content-security-policy");
    cr_assert_not_null(csp, "no CSP (%ld)", r->status);
    cr_assert_not_null(strstr(csp, "frame-ancestors 'none'"), "CSP %s", csp);
    cr_assert_not_null(strstr(csp, "script-src 'self'"), "CSP %s", csp);
    cr_assert_null(strstr(csp, "unsafe-inline"), "CSP %s", csp);
    cr_assert_str_eq(header(r, "referrer-policy"), "no-referrer");
    cr_assert_str_eq(header(r, "x-content-type-options"), "nosniff");
    cr_assert_str_eq(header(r, "cache-control"), "no-store");
    cr_assert(strncmp(r->content_type, "text/html", 9) == 0, "Content-Type %s", r->content_type);
    cr_assert_not_null(header(r, "content-language"));
}

static struct ct_tenant tenant;

static void page_tenant(void)
{
    if (tenant.org[0] == '\0')
        ct_tenant_new(&tenant, "Boutique Page Tests");
}

/* The usual start: the suite's tenant, a session made with extra (NULL: the
 * defaults) and its page's form as a browser first gets it. */
static void page_open_new(struct page *p, struct page_form *f, const char *extra)
{
    page_tenant();
    page_create(p, tenant.key, extra);
    page_open_form(p->path, f);
}

/* ---- every state ------------------------------------------------------------------- */

Test(page, the_open_page_is_the_form_in_french_with_xof_amounts)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key,
                "{\"allow_quantity\": true, \"allow_coupon_code\": true,"
                " \"require_billing_address\": true, \"cancel_url\": \"https://shop.example/c\","
                " \"success_url\": \"https://pay.example:8443/ok\"}");
    struct api_response r = page_get(p.path, "fr-SN,fr;q=0.9,en;q=0.5");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.text);
    assert_page_headers(&r);
    /* The form may be sent on to the success URL's origin (the 303 of a payment). */
    cr_assert_not_null(strstr(header(&r, "content-security-policy"),
                              "form-action 'self' https://pay.example:8443"),
                       "CSP %s", header(&r, "content-security-policy"));
    assert_has(&r, "<option value=\"SN\">Sénégal</option>");
    cr_assert_str_eq(header(&r, "content-language"), "fr");
    const char *cookie = header(&r, "set-cookie");
    cr_assert_not_null(strstr(cookie, "HttpOnly"));
    cr_assert_not_null(strstr(cookie, "SameSite=Strict"));
    cr_assert_not_null(strstr(cookie, "Path=/checkout/"));
    assert_has(&r, "data-state=\"open\"");
    assert_has(&r, "<html lang=\"fr\">");
    assert_has(&r, "Payer 10" NNBSP "000" NBSP "F" NNBSP "CFA");
    assert_has(&r, "Boutique Page Tests");
    assert_has(&r, "Mode test");
    assert_has(&r, "Premium Subscription");
    assert_has(&r, "id=\"quantity\"");
    assert_has(&r, "id=\"coupon\"");
    assert_has(&r, "id=\"country\"");
    assert_has(&r, "id=\"cancel\" href=\"https://shop.example/c\"");
    assert_has(&r, "value=\"john@example.com\"");
    assert_has(&r, "Expire dans");
    assert_lacks(&r, "<script>");
    test_api_free(&r);
    page_free(&p);
}

Test(page, english_from_accept_language_and_the_lang_switch_wins)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key, "{\"currency_code\": \"EUR\", \"amount\": 1000}");
    struct api_response r = page_get(p.path, "en-GB,en;q=0.9");
    cr_assert_eq(r.status, 200);
    assert_has(&r, "Pay €10.00");
    cr_assert_str_eq(header(&r, "content-language"), "en");
    test_api_free(&r);
    char path[300];
    snprintf(path, sizeof(path), "%s?lang=fr", p.path);
    r = page_get(path, "en");
    assert_has(&r, "Payer 10,00" NBSP "€");
    test_api_free(&r);
    r = page_get(p.path, "de-DE,wo;q=0.5");
    assert_has(&r, "<html lang=\"en\">");
    test_api_free(&r);
    page_free(&p);
}

Test(page, usd_and_ghs_are_formatted_by_icu)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key, "{\"currency_code\": \"USD\", \"amount\": 1000}");
    struct api_response r = page_get(p.path, "en");
    assert_has(&r, "Pay $10.00");
    test_api_free(&r);
    page_free(&p);
    page_create(&p, tenant.key, "{\"currency_code\": \"GHS\", \"amount\": 1000}");
    r = page_get(p.path, "en");
    assert_has(&r, "Pay GH₵10.00");
    test_api_free(&r);
    page_free(&p);
}

Test(page, a_wrong_secret_the_id_alone_and_an_unknown_id_are_the_same_404_page)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key, NULL);
    char wrong[300], alone[300], unknown[300], garbage[300];
    snprintf(wrong, sizeof(wrong), "%.*sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             (int)(strlen(p.path) - 32), p.path);
    snprintf(alone, sizeof(alone), "/checkout/%s", p.id);
    snprintf(unknown, sizeof(unknown), "/checkout/00000000-0000-7000-8000-000000000000/%s",
             p.path + strlen(p.path) - 32);
    snprintf(garbage, sizeof(garbage), "/checkout/%s/%%3Cscript%%3E", p.id);
    const char *paths[] = {wrong, alone, unknown, garbage, "/checkout/x/y"};
    struct api_response first = page_get(wrong, "en");
    cr_assert_eq(first.status, 404);
    assert_page_headers(&first);
    assert_has(&first, "Page not found");
    assert_lacks(&first, "Premium");
    assert_lacks(&first, "Boutique");
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct api_response r = page_get(paths[i], "en");
        cr_assert_eq(r.status, 404, "%s: %ld", paths[i], r.status);
        cr_assert_str_eq(r.text, first.text, "%s answers another page", paths[i]);
        test_api_free(&r);
        char status[320];
        snprintf(status, sizeof(status), "%s/status", paths[i]);
        if (i != 1) {
            r = page_get(status, "en");
            cr_assert_eq(r.status, 404, "%s: %ld", status, r.status);
            test_api_free(&r);
        }
    }
    test_api_free(&first);
    page_free(&p);
}

Test(page, the_secret_is_not_in_the_access_log)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key, NULL);
    struct api_response r = page_get(p.path, "en");
    cr_assert_eq(r.status, 200);
    test_api_free(&r);
    /* Nor of the answers the router gives itself: 405, an unknown path below it. */
    r = test_api("PUT", p.path, NULL, NULL, NULL);
    cr_assert_eq(r.status, 405);
    cr_assert_null(strstr(r.text, p.path + strlen(p.path) - 32), "%s", r.text);
    test_api_free(&r);
    char below[300];
    snprintf(below, sizeof(below), "%s/nothing/here", p.path);
    r = page_get(below, NULL);
    cr_assert_eq(r.status, 404);
    test_api_free(&r);
    const char *secret = p.path + strlen(p.path) - 32;
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "sleep 0.5; ! grep -q -- '%s' \"$CAISSE_STACK_DIR\"/logs/gateway*.log", secret);
    cr_assert_eq(test_shell("%s", cmd), 0, "the gateway logged the page's secret");
    page_free(&p);
}

Test(page, the_expired_page_has_no_form_and_the_cancel_link)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key, "{\"cancel_url\": \"https://shop.example/back\"}");
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s/expire", p.id);
    struct api_response e = ct_call("POST", path, tenant.key, NULL);
    cr_assert(e.status == 200 || e.status == 202, "%ld %s", e.status, e.text);
    test_api_free(&e);
    struct api_response r = {0};
    for (int i = 0; i < 50; i++) {
        test_api_free(&r);
        r = page_get(p.path, "fr");
        if (strstr(r.text, "data-state=\"expired\"") != NULL)
            break;
        test_sleep_ms(100);
    }
    cr_assert_eq(r.status, 200);
    assert_page_headers(&r);
    assert_has(&r, "data-state=\"expired\"");
    assert_has(&r, "Cette page de paiement a expiré");
    assert_has(&r, "id=\"cancel\" class=\"button\" href=\"https://shop.example/back\"");
    assert_lacks(&r, "checkout-form");
    test_api_free(&r);
    char status[300];
    snprintf(status, sizeof(status), "%s/status", p.path);
    struct api_response s = page_get(status, NULL);
    cr_assert_eq(s.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(s.json, "state")), "expired");
    test_api_free(&s);
    page_free(&p);
}

Test(page, a_completed_session_shows_the_receipt_and_the_way_back_with_its_id)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key,
                "{\"success_url\": \"https://shop.example/ok?session={CHECKOUT_SESSION_ID}\"}");
    struct api_response c = ct_session_complete(p.id, "{\"payment_reference\": \"ext_123\"}");
    cr_assert(c.status == 200 || c.status == 202, "%ld %s", c.status, c.text);
    test_api_free(&c);
    struct api_response r = {0};
    for (int i = 0; i < 50; i++) {
        test_api_free(&r);
        r = page_get(p.path, "en");
        if (strstr(r.text, "data-state=\"complete\"") != NULL)
            break;
        test_sleep_ms(100);
    }
    assert_page_headers(&r);
    assert_has(&r, "data-state=\"complete\"");
    assert_has(&r, "Payment received");
    char link[256];
    snprintf(link, sizeof(link),
             "id=\"continue\" class=\"button primary\" href=\"https://shop.example/ok?session=%s\"",
             p.id);
    assert_has(&r, link);
    assert_has(&r, "10,000");
    assert_lacks(&r, "checkout-form");
    test_api_free(&r);
    page_free(&p);
}

/* ---- the form --------------------------------------------------------------------- */

Test(page, a_form_without_the_cookie_s_token_is_refused)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f, "{\"allow_quantity\": true}");
    struct api_response r = page_post(p.path, NULL, "action=update&quantity=2&csrf=x");
    cr_assert_eq(r.status, 403, "no cookie: %ld", r.status);
    assert_page_headers(&r);
    test_api_free(&r);
    char form[256];
    snprintf(form, sizeof(form), "action=update&quantity=2&csrf=%s", f.csrf);
    r = page_post(p.path, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", form);
    cr_assert_eq(r.status, 403, "another cookie: %ld", r.status);
    assert_has(&r, "This form is no longer valid");
    test_api_free(&r);
    r = page_post(p.path, f.cookie, "action=update&quantity=2");
    cr_assert_eq(r.status, 403, "no token: %ld", r.status);
    test_api_free(&r);
    r = page_submit(p.path, &f, "action=update&quantity=2");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.text);
    test_api_free(&r);
    page_free(&p);
}

Test(page, quantity_recomputes_the_totals_on_the_server_whatever_the_form_says)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f,
                  "{\"allow_quantity\": true, \"currency_code\": \"EUR\", \"amount\": 1250}");
    struct api_response r =
        page_submit(p.path, &f, "action=update&quantity=3&amount=1&total=1&lang=en");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.text);
    assert_page_headers(&r);
    assert_has(&r, "id=\"line-total\">€37.50<");
    assert_has(&r, "id=\"total\">€37.50<");
    assert_has(&r, "3 × €12.50");
    assert_has(&r, "value=\"3\"");
    test_api_free(&r);
    r = page_submit(p.path, &f, "action=update&quantity=0&lang=en");
    assert_has(&r, "id=\"errors\"");
    assert_has(&r, "The quantity must be a whole number from 1 to 10000.");
    test_api_free(&r);
    r = page_submit(p.path, &f, "action=update&quantity=10001&lang=en");
    assert_has(&r, "The quantity must be a whole number from 1 to 10000.");
    test_api_free(&r);
    r = page_submit(p.path, &f, "action=update&quantity=2x&lang=en");
    assert_has(&r, "The quantity must be a whole number");
    test_api_free(&r);
    page_free(&p);
}

Test(page, a_session_without_allow_quantity_keeps_its_quantity)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f, NULL);
    struct api_response r = page_submit(p.path, &f, "action=update&quantity=5&lang=fr");
    cr_assert_eq(r.status, 200);
    assert_lacks(&r, "id=\"quantity\"");
    assert_has(&r, "id=\"total\">10" NNBSP "000" NBSP "F" NNBSP "CFA<");
    test_api_free(&r);
    page_free(&p);
}

Test(page, coupons_show_their_discount_or_say_why_not)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Page Coupons");
    char product[UUID_STR_LEN], other[UUID_STR_LEN];
    ct_create_id("/products", t.key, "{\"name\": \"Thing\"}", "product_id", product);
    ct_create_id("/products", t.key, "{\"name\": \"Other\"}", "product_id", other);
    json_decref(ct_create("/coupons", t.key, "{\"code\": \"TENOFF\", \"percent_off\": 10}"));
    json_decref(ct_create("/coupons", t.key,
                          "{\"code\": \"OFF\", \"percent_off\": 10, \"active\": false}"));
    char body[256];
    snprintf(body, sizeof(body),
             "{\"code\": \"OTHERONLY\", \"percent_off\": 50, \"applies_to\": {\"product_ids\": "
             "[\"%s\"]}}",
             other);
    json_decref(ct_create("/coupons", t.key, body));
    char price[UUID_STR_LEN];
    snprintf(body, sizeof(body),
             "{\"product_id\": \"%s\", \"unit_amount\": 5000, \"currency_code\": \"XOF\"}",
             product);
    ct_create_id("/prices", t.key, body, "price_id", price);
    snprintf(body, sizeof(body),
             "{\"product_id\": \"%s\", \"price_id\": \"%s\", \"allow_coupon_code\": true,"
             " \"allow_quantity\": true, \"customer_email\": \"c@example.com\"}",
             product, price);
    struct page p;
    page_of(&p, ct_session_create(t.key, body));
    struct page_form f;
    page_open_form(p.path, &f);
    struct api_response r =
        page_submit(p.path, &f, "action=update&quantity=2&coupon=tenoff&lang=en");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.text);
    assert_has(&r, "Coupon tenoff applied: F" NNBSP "CFA" NBSP "1,000 off.");
    assert_has(&r, "id=\"total\">F" NNBSP "CFA" NBSP "9,000<");
    test_api_free(&r);
    r = page_submit(p.path, &f, "action=update&coupon=NOPE&lang=en");
    assert_has(
        &r, "id=\"coupon-message\" class=\"refused\" role=\"status\">Coupon NOPE does not exist.");
    assert_has(&r, "id=\"total\">F" NNBSP "CFA" NBSP "5,000<");
    test_api_free(&r);
    r = page_submit(p.path, &f, "action=update&coupon=OFF&lang=fr");
    assert_has(&r, "Le code OFF n&#39;est plus actif.");
    test_api_free(&r);
    r = page_submit(p.path, &f, "action=update&coupon=OTHERONLY&lang=en");
    assert_has(&r, "Coupon OTHERONLY does not apply to this product.");
    test_api_free(&r);
    r = page_submit(p.path, &f, "action=update&coupon=%3Cscript%3E&lang=en");
    assert_has(&r, "A coupon code has letters, digits, - and _ only.");
    assert_has(&r, "value=\"&lt;script&gt;\"");
    assert_lacks(&r, "<script>");
    test_api_free(&r);
    page_free(&p);
}

Test(page, hostile_form_bytes_are_a_400_page_never_a_5xx)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f, NULL);
    const char *bad[] = {"action=update&name=%FF%FE",          "action=update&name=a%00b",
                         "action=update&name=a%0Ab",           "action=update&name=x&name=y",
                         "action=update&country=%C0%AF%C0%AF", "action=update&email=%"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct api_response r = page_submit(p.path, &f, bad[i]);
        cr_assert_eq(r.status, 400, "%s: %ld", bad[i], r.status);
        assert_page_headers(&r);
        assert_has(&r, "id=\"errors\"");
        test_api_free(&r);
    }
    page_free(&p);
}

Test(page, pay_with_fields_missing_lists_them_and_pays_nothing)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f, "{\"require_billing_address\": true}");
    struct api_response r =
        page_submit(p.path, &f, "action=pay&lang=en&email=&method=card&account=42ab");
    cr_assert_eq(r.status, 422, "%ld %s", r.status, r.text);
    assert_has(&r, "<li>Enter your email address.</li>");
    assert_has(&r, "<li>Enter the address.</li>");
    assert_has(&r, "<li>Enter the city.</li>");
    assert_has(&r, "<li>Choose the country.</li>");
    assert_has(&r, "<li>The phone or card number may hold digits");
    test_api_free(&r);
    char *n = test_sql_value("SELECT count(*) FROM payment_attempts WHERE session_id = $1", p.id);
    cr_assert_str_eq(n, "0");
    free(n);
    page_free(&p);
}

Test(page, a_live_session_without_a_provider_says_payments_are_not_configured)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.live, NULL);
    struct api_response r = page_get(p.path, "en");
    cr_assert_eq(r.status, 200);
    assert_has(&r, "Payments are not configured for this merchant.");
    assert_lacks(&r, "id=\"pay\"");
    assert_lacks(&r, "Test mode");
    test_api_free(&r);
    page_free(&p);
}

/* ---- assets and weight ------------------------------------------------------------ */

Test(page, assets_are_cacheable_with_an_etag)
{
    const char *files[] = {"/checkout/assets/checkout.css", "/checkout/assets/checkout.js"};
    for (size_t i = 0; i < 2; i++) {
        struct api_response r = page_get(files[i], NULL);
        cr_assert_eq(r.status, 200, "%s: %ld", files[i], r.status);
        cr_assert_str_eq(header(&r, "cache-control"), "public, max-age=86400, immutable");
        cr_assert_str_eq(header(&r, "x-content-type-options"), "nosniff");
        const char *etag = header(&r, "etag");
        cr_assert_not_null(etag);
        char h[128];
        snprintf(h, sizeof(h), "If-None-Match: %s", etag);
        const char *headers[] = {h, NULL};
        struct api_response again = test_api("GET", files[i], NULL, NULL, headers);
        cr_assert_eq(again.status, 304, "%s: %ld", files[i], again.status);
        test_api_free(&again);
        test_api_free(&r);
    }
}

Test(page, each_page_weighs_at_most_30_kb_with_its_css_and_js_and_asks_nothing_elsewhere)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key,
                "{\"allow_quantity\": true, \"allow_coupon_code\": true,"
                " \"require_billing_address\": true}");
    struct api_response r = page_get(p.path, "fr");
    struct api_response css = page_get("/checkout/assets/checkout.css", NULL);
    struct api_response js = page_get("/checkout/assets/checkout.js", NULL);
    size_t total = strlen(r.text) + strlen(css.text) + strlen(js.text);
    cr_assert_leq(total, 30 * 1024, "the open page weighs %zu bytes", total);
    cr_log_info("open page: %zu bytes of HTML, %zu with CSS and JS", strlen(r.text), total);
    assert_lacks(&r, "http://");
    assert_lacks(&r, "https://");
    assert_lacks(&r, "@font-face");
    cr_assert_null(strstr(css.text, "url("), "the CSS loads something");
    test_api_free(&r);
    test_api_free(&css);
    test_api_free(&js);
    page_free(&p);
}

Test(page, the_status_route_answers_the_state_as_json)
{
    page_tenant();
    struct page p;
    page_create(&p, tenant.key, NULL);
    char status[300];
    snprintf(status, sizeof(status), "%s/status", p.path);
    struct api_response r = page_get(status, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "open");
    cr_assert_str_eq(header(&r, "cache-control"), "no-store");
    test_api_free(&r);
    page_free(&p);
}

/* ---- paying with the test provider ------------------------------------------------ */

static char *page_sql(const char *sql, const char *param)
{
    return test_sql_value(sql, param);
}

/* GETs path until its page is in state (or 15 s passed); the last answer. */
static struct api_response page_wait_state(const char *path, const char *state)
{
    char want[64];
    snprintf(want, sizeof(want), "data-state=\"%s\"", state);
    struct api_response r = {0};
    for (int i = 0; i < 150; i++) {
        test_api_free(&r);
        r = page_get(path, "en");
        if (r.text != NULL && strstr(r.text, want) != NULL)
            break;
        test_sleep_ms(100);
    }
    cr_assert_not_null(strstr(r.text, want), "the page never became %s", state);
    return r;
}

Test(page, paying_with_the_succeeding_number_goes_to_success_url_with_the_id)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f,
                  "{\"allow_quantity\": true, \"require_billing_address\": true,"
                  " \"success_url\": \"https://shop.example/ok?s={CHECKOUT_SESSION_ID}&x=1\"}");
    struct api_response r = page_submit(
        p.path, &f,
        "action=pay&lang=en&quantity=2&email=ada%40example.com&name=Ada+L&phone=&line1=1+Rue+X"
        "&city=Dakar&postal_code=&country=SN&method=mobile_money&account=%2B221700000001"
        "&amount=1");
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.text);
    char want[256];
    snprintf(want, sizeof(want), "https://shop.example/ok?s=%s&x=1", p.id);
    cr_assert_str_eq(r.location, want);
    test_api_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", p.id);
    struct api_response s = ct_call("GET", path, tenant.key, NULL);
    cr_assert_eq(s.status, 200);
    cr_assert_str_eq(ct_str(s.json, "status"), "complete", "%s", s.text);
    cr_assert_eq(json_integer_value(json_object_get(s.json, "quantity")), 2);
    cr_assert_eq(json_integer_value(json_object_get(s.json, "amount_total")), 20000,
                 "the server's total, not the form's");
    test_api_free(&s);
    r = page_wait_state(p.path, "complete");
    assert_has(&r, "id=\"continue\"");
    assert_has(&r, "F" NNBSP "CFA" NBSP "20,000");
    test_api_free(&r);
    page_free(&p);
}

Test(page, a_declined_payment_shows_its_reason_then_another_one_succeeds)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f, NULL);
    struct api_response r = page_submit(
        p.path, &f, "action=pay&lang=fr&email=a%40b.example&method=card&account=4000000000000002");
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.text);
    cr_assert_not_null(strstr(r.location, p.path), "back to the page: %s", r.location);
    test_api_free(&r);
    char path[300];
    snprintf(path, sizeof(path), "%s?lang=fr", p.path);
    r = page_get(path, NULL);
    cr_assert_eq(r.status, 200);
    assert_has(&r, "data-state=\"open\"");
    assert_has(&r, "id=\"payment-error\" role=\"alert\" class=\"alert\">La carte a été refusée.");
    test_api_free(&r);
    struct page_form again;
    page_open_form(p.path, &again);
    r = page_submit(p.path, &again,
                    "action=pay&lang=en&email=a%40b.example&method=mobile_money"
                    "&account=%2B221700000002");
    cr_assert_eq(r.status, 303);
    test_api_free(&r);
    r = page_get(p.path, "en");
    assert_has(&r, "The payment was declined: insufficient funds.");
    test_api_free(&r);
    page_open_form(p.path, &again);
    r = page_submit(p.path, &again,
                    "action=pay&lang=en&email=a%40b.example&method=card&account=4242424242424242");
    cr_assert_eq(r.status, 303);
    test_api_free(&r);
    r = page_wait_state(p.path, "complete");
    assert_has(&r, "Payment received");
    test_api_free(&r);
    char *n = page_sql("SELECT count(*) FROM payment_attempts WHERE session_id = $1", p.id);
    cr_assert_str_eq(n, "3");
    free(n);
    page_free(&p);
}

struct page_double {
    const char *path;
    const struct page_form *f;
    long status;
};

static void *page_double_submit(void *arg)
{
    struct page_double *d = arg;
    struct api_response r =
        page_submit(d->path, d->f,
                    "action=pay&email=a%40b.example&method=mobile_money&account=%2B221700000001");
    d->status = r.status;
    test_api_free(&r);
    return NULL;
}

Test(page, a_double_submit_is_one_payment)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f, NULL);
    pthread_t threads[4];
    struct page_double d[4];
    for (int i = 0; i < 4; i++) {
        d[i] = (struct page_double){.path = p.path, .f = &f};
        pthread_create(&threads[i], NULL, page_double_submit, &d[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(d[i].status, 303, "submit %d: %ld", i, d[i].status);
    }
    struct api_response r = page_wait_state(p.path, "complete");
    test_api_free(&r);
    char *n = page_sql("SELECT count(*) FROM payment_attempts WHERE session_id = $1", p.id);
    cr_assert_str_eq(n, "1", "one payment");
    free(n);
    json_t *events = test_kafka_events_for(p.id, 2, 10000);
    size_t completed = 0, i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(ct_str(ev, "type"), "checkout.session.completed") == 0)
            completed++;
    }
    cr_assert_eq(completed, 1, "one checkout.session.completed");
    json_decref(events);
    page_free(&p);
}

Test(page, a_pending_payment_shows_processing_then_completes)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f, NULL);
    struct api_response r = page_submit(
        p.path, &f, "action=pay&email=a%40b.example&method=mobile_money&account=%2B221700000003");
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.text);
    test_api_free(&r);
    r = page_get(p.path, "en");
    cr_assert_eq(r.status, 200);
    assert_page_headers(&r);
    assert_has(&r, "data-state=\"processing\"");
    assert_has(&r, "Approve the payment on your phone");
    assert_lacks(&r, "http-equiv=\"refresh\"");
    assert_has(&r, "id=\"refresh\"");
    assert_lacks(&r, "checkout-form");
    test_api_free(&r);
    char status[300];
    snprintf(status, sizeof(status), "%s/status", p.path);
    r = page_get(status, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "processing");
    test_api_free(&r);
    /* A second pay while it is pending starts nothing. */
    struct page_form again = f;
    snprintf(again.attempt, sizeof(again.attempt), "%s", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC");
    r = page_submit(p.path, &again,
                    "action=pay&email=a%40b.example&method=mobile_money&account=%2B221700000001");
    cr_assert_eq(r.status, 303);
    test_api_free(&r);
    r = page_wait_state(p.path, "complete");
    test_api_free(&r);
    char *n = page_sql("SELECT count(*) FROM payment_attempts WHERE session_id = $1", p.id);
    cr_assert_str_eq(n, "1");
    free(n);
    page_free(&p);
}

Test(page, a_payment_settling_after_expiry_is_flagged_for_refund_and_the_page_says_expired)
{
    page_tenant();
    /* The short-TTL gateway's sessions live 4 s; the pending number settles 4 s after it starts. */
    const char *short_url = test_env("CAISSE_TEST_SHORT_TTL_URL");
    char *body = test_body(NULL);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct api_response c =
        test_api_at(short_url, "POST", "/checkout-sessions", tenant.key, body, h);
    free(body);
    cr_assert(c.status == 201, "%ld %s", c.status, c.text);
    struct page p;
    page_of(&p, json_incref(c.json));
    test_api_free(&c);
    struct page_form f;
    page_open_form(p.path, &f);
    struct api_response r = page_submit(
        p.path, &f, "action=pay&email=a%40b.example&method=mobile_money&account=%2B221700000003");
    cr_assert_eq(r.status, 303);
    test_api_free(&r);
    r = page_wait_state(p.path, "expired");
    assert_has(&r, "This payment page has expired");
    test_api_free(&r);
    char *flag = NULL;
    for (int i = 0; i < 150; i++) {
        free(flag);
        flag = page_sql("SELECT status || ' ' || refund_required FROM payment_attempts"
                        " WHERE session_id = $1",
                        p.id);
        if (flag != NULL && strcmp(flag, "succeeded true") == 0)
            break;
        test_sleep_ms(100);
    }
    cr_assert_str_eq(flag, "succeeded true", "the late payment is flagged for refund");
    free(flag);
    page_free(&p);
}

/* ---- per-address limits ------------------------------------------------------------ */

#define PAGE_LIMITS "gateway-page-limits"

static void stop_page_limits(void)
{
    test_own_gateway_stop(PAGE_LIMITS, 30000);
}

/* A gateway of its own (+50) with low page limits: form posts past their
 * bucket get the 429 page, coupon tries past theirs are not looked up. */
Test(page, form_posts_and_coupon_tries_are_limited_per_address, .fini = stop_page_limits)
{
    page_tenant();
    char url[128];
    test_own_gateway_start(
        PAGE_LIMITS, 50,
        "CAISSE_RATE_LIMIT_PAGE_POSTS_PER_MIN=1 CAISSE_RATE_LIMIT_PAGE_POSTS_BURST=4"
        " CAISSE_RATE_LIMIT_PAGE_COUPONS_PER_MIN=1"
        " CAISSE_RATE_LIMIT_PAGE_COUPONS_BURST=2",
        url, sizeof(url));
    struct page p;
    page_create(&p, tenant.key, "{\"allow_coupon_code\": true}");
    struct api_response g = test_api_at(url, "GET", p.path, NULL, NULL, NULL);
    cr_assert_eq(g.status, 200, "%ld", g.status);
    struct page_form f;
    page_cookie(&g, f.cookie, sizeof(f.cookie));
    page_input(g.text, "csrf", f.csrf, sizeof(f.csrf));
    page_input(g.text, "attempt", f.attempt, sizeof(f.attempt));
    test_api_free(&g);
    char c[128];
    snprintf(c, sizeof(c), "Cookie: caisse_csrf=%s", f.cookie);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", c, NULL};
    const char *codes[] = {"GUESS1", "GUESS2", "GUESS3", "GUESS4", "GUESS5"};
    long statuses[5];
    for (int i = 0; i < 5; i++) {
        char form[256];
        snprintf(form, sizeof(form), "csrf=%s&attempt=%s&action=update&lang=en&coupon=%s", f.csrf,
                 f.attempt, codes[i]);
        struct api_response r = test_api_at(url, "POST", p.path, NULL, form, headers);
        statuses[i] = r.status;
        if (i < 2)
            assert_has(&r, "does not exist.");
        if (i == 2 || i == 3)
            assert_has(&r, "Too many coupon attempts.");
        if (i == 4) {
            assert_page_headers(&r);
            assert_has(&r, "Too many attempts from your connection.");
            cr_assert_not_null(header(&r, "retry-after"));
        }
        test_api_free(&r);
    }
    cr_assert_eq(statuses[0], 200);
    cr_assert_eq(statuses[3], 200);
    cr_assert_eq(statuses[4], 429, "the fifth post: %ld", statuses[4]);
    page_free(&p);
}

#define PAGE_NO_KAFKA "gateway-page-no-kafka"

static void stop_page_no_kafka(void)
{
    test_own_gateway_stop(PAGE_NO_KAFKA, 30000);
}

/* A gateway of its own (+54) whose broker cannot be reached: paying there
 * meets the page's "temporarily unavailable" page with Retry-After, not the
 * API's JSON error (a customer reads it). */
Test(page, a_payment_that_cannot_reach_kafka_meets_the_unavailable_page, .fini = stop_page_no_kafka)
{
    page_tenant();
    char url[128];
    test_own_gateway_start(PAGE_NO_KAFKA, 54,
                           "CAISSE_KAFKA_BROKERS=127.0.0.1:9 CAISSE_KAFKA_MESSAGE_TIMEOUT_MS=1000",
                           url, sizeof(url));
    struct page p;
    page_create(&p, tenant.key, NULL);
    struct page_form f;
    page_open_form(p.path, &f);
    char form[512], cookie[128];
    snprintf(form, sizeof(form),
             "csrf=%s&attempt=%s&action=pay&lang=en&email=a%%40b.example&method=mobile_money"
             "&account=%%2B221700000001",
             f.csrf, f.attempt);
    snprintf(cookie, sizeof(cookie), "Cookie: caisse_csrf=%s", f.cookie);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", cookie, NULL};
    struct api_response r = test_api_at(url, "POST", p.path, NULL, form, headers);
    cr_assert_eq(r.status, 503, "%ld %s", r.status, r.text);
    assert_page_headers(&r);
    assert_has(&r, "The service is temporarily unavailable.");
    cr_assert_not_null(header(&r, "retry-after"));
    test_api_free(&r);
    page_free(&p);
}

Test(page, every_coupon_refusal_has_its_message_and_a_paid_coupon_is_used_up)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Page Coupon Rules");
    json_decref(ct_create("/coupons", t.key,
                          "{\"code\": \"OLD\", \"percent_off\": 10,"
                          " \"valid_until\": \"2020-01-01T00:00:00Z\"}"));
    json_decref(ct_create("/coupons", t.key,
                          "{\"code\": \"LATER\", \"percent_off\": 10,"
                          " \"valid_from\": \"2099-01-01T00:00:00Z\"}"));
    json_decref(
        ct_create("/coupons", t.key,
                  "{\"code\": \"EUROS\", \"amount_off\": 500, \"currency_code\": \"EUR\"}"));
    json_decref(ct_create("/coupons", t.key,
                          "{\"code\": \"ONCE\", \"percent_off\": 50, \"max_redemptions\": 1}"));
    struct page p;
    char *body = test_body("{\"allow_coupon_code\": true}");
    page_of(&p, ct_session_create(t.key, body));
    struct page_form f;
    page_open_form(p.path, &f);
    const struct {
        const char *code, *en, *fr;
    } cases[] = {
        {"OLD", "Coupon OLD has expired.", "Le code OLD a expiré."},
        {"LATER", "Coupon LATER is not valid yet.", "Le code LATER n&#39;est pas encore valable."},
        {"EUROS", "Coupon EUROS does not apply to this currency.",
         "Le code EUROS ne s&#39;applique pas à cette devise."},
        {"", NULL, NULL},
    };
    for (size_t i = 0; cases[i].en != NULL; i++) {
        char fields[128];
        snprintf(fields, sizeof(fields), "action=update&lang=en&coupon=%s", cases[i].code);
        struct api_response r = page_submit(p.path, &f, fields);
        cr_assert_eq(r.status, 200);
        assert_has(&r, cases[i].en);
        assert_has(&r, "class=\"refused\"");
        test_api_free(&r);
        snprintf(fields, sizeof(fields), "action=update&lang=fr&coupon=%s", cases[i].code);
        r = page_submit(p.path, &f, fields);
        assert_has(&r, cases[i].fr);
        test_api_free(&r);
    }
    /* Paying with a refused coupon pays nothing: the form says why. */
    struct api_response r =
        page_submit(p.path, &f,
                    "action=pay&lang=en&coupon=OLD&email=a%40b.example&method=mobile_money"
                    "&account=%2B221700000001");
    cr_assert_eq(r.status, 422, "%ld", r.status);
    assert_has(&r, "Coupon OLD has expired.");
    test_api_free(&r);
    /* ONCE pays half of this session, then is used up for the next one. */
    r = page_submit(p.path, &f,
                    "action=pay&lang=en&coupon=ONCE&email=a%40b.example&method=mobile_money"
                    "&account=%2B221700000001");
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.text);
    test_api_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", p.id);
    struct api_response s = ct_call("GET", path, t.key, NULL);
    cr_assert_str_eq(ct_str(s.json, "status"), "complete", "%s", s.text);
    cr_assert_eq(json_integer_value(json_object_get(s.json, "amount_total")), 5000);
    test_api_free(&s);
    struct page q;
    page_of(&q, ct_session_create(t.key, body));
    free(body);
    struct page_form g;
    page_open_form(q.path, &g);
    r = page_submit(q.path, &g, "action=update&lang=en&coupon=once");
    assert_has(&r, "Coupon once has been used up.");
    assert_has(&r, "id=\"total\">F" NNBSP "CFA" NBSP "10,000<");
    test_api_free(&r);
    page_free(&p);
    page_free(&q);
}

Test(page, a_pending_payment_refused_on_the_phone_comes_back_to_the_form_with_the_reason)
{
    struct page p;
    struct page_form f;
    page_open_new(&p, &f, NULL);
    struct api_response r = page_submit(
        p.path, &f, "action=pay&email=a%40b.example&method=mobile_money&account=%2B221700000004");
    cr_assert_eq(r.status, 303, "%ld %s", r.status, r.text);
    test_api_free(&r);
    r = page_get(p.path, "en");
    assert_has(&r, "data-state=\"processing\"");
    test_api_free(&r);
    r = page_wait_state(p.path, "open");
    assert_has(&r, "id=\"payment-error\" role=\"alert\" class=\"alert\">The payment was refused on "
                   "the phone.");
    assert_has(&r, "id=\"pay\"");
    test_api_free(&r);
    page_free(&p);
}
