#include "page.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "checkout_pay.h"
#include "core/log.h"
#include "core/result.h"
#include "core/rfc3339.h"
#include "core/uuid.h"
#include "country.h"
#include "html.h"
#include "http.h"
#include "i18n.h"
#include "infra/db.h"
#include "model/checkout_total.h"
#include "model/coupon.h"
#include "model/customer.h"
#include "model/payment_attempt.h"
#include "model/resource_store.h"
#include "model/session.h"
#include "model/tenant.h"
#include "page_assets.h"
#include "page_form.h"
#include "page_render.h"
#include "payment.h"
#include "throttle.h"

#define PAGE_COOKIE "caisse_csrf"
#define PAGE_PATH_MAX 160
#define PAGE_URL_MAX 2100
#define PAGE_ORIGIN_MAX 256

/* No inline script or style, nothing from elsewhere, never in a frame. Forms
 * post to the page itself; form-action also names the success URL's origin,
 * where a successful payment's 303 goes (browsers check redirects of a form
 * submission against it). */
static const char page_csp[] = "default-src 'none'; style-src 'self'; script-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'";

static struct {
    bool secure_cookie;
} page;

void page_init(const char *public_base_url)
{
    page.secure_cookie = public_base_url != NULL && strncmp(public_base_url, "https://", 8) == 0;
}

/* ---- answers ------------------------------------------------------------------------ */

static void page_security_headers(struct MHD_Response *resp, const struct http_request *req,
                                  const char *csp)
{
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    MHD_add_response_header(resp, "Content-Security-Policy", csp != NULL ? csp : page_csp);
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

/* Queues b's page (consumed) with status; extra: NULL-terminated name/value pairs. */
static enum MHD_Result page_respond(struct http_request *req, unsigned status, struct html_buf *b,
                                    enum i18n_lang lang, const char *csp, const char *const *extra)
{
    size_t len = 0;
    char *text = html_buf_take(b, &len);
    if (text == NULL)
        return http_respond_unavailable(req);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Content-Language", i18n_code(lang));
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    page_security_headers(resp, req, csp);
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i += 2)
        MHD_add_response_header(resp, extra[i], extra[i + 1]);
    enum MHD_Result rc = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    req->status = status;
    req->answered = true;
    return rc;
}

static enum MHD_Result page_not_found(struct http_request *req, enum i18n_lang lang)
{
    struct html_buf b = {0};
    struct error err = ERROR_INIT;
    if (page_render_not_found(lang, &b, &err) != C_OK) {
        log_error("page: %s", err.message);
        html_buf_free(&b);
        return http_respond_unavailable(req);
    }
    return page_respond(req, 404, &b, lang, NULL, NULL);
}

static enum MHD_Result page_error(struct http_request *req, unsigned status, enum i18n_lang lang,
                                  const char *path, const char *msgid, long retry_after)
{
    char retry[24] = "";
    if (retry_after > 0)
        snprintf(retry, sizeof(retry), "%ld", retry_after);
    struct html_buf b = {0};
    struct error err = ERROR_INIT;
    if (page_render_error(lang, path, msgid, retry, &b, &err) != C_OK) {
        log_error("page: %s", err.message);
        html_buf_free(&b);
        return http_respond_unavailable(req);
    }
    const char *extra[] = {"Retry-After", retry, NULL};
    return page_respond(req, status, &b, lang, NULL, retry_after > 0 ? extra : NULL);
}

static enum MHD_Result page_see_other(struct http_request *req, const char *location)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Location", location);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    page_security_headers(resp, req, NULL);
    enum MHD_Result rc = MHD_queue_response(req->conn, 303, resp);
    MHD_destroy_response(resp);
    req->status = 303;
    req->answered = true;
    return rc;
}

/* ---- the request ---------------------------------------------------------------------- */

/* The access log shows the route's shape, never the secret of a url. */
static void page_redact_path(struct http_request *req, const char *tail)
{
    snprintf(req->path, sizeof(req->path), "/checkout/%s/{secret}%s", req->route.params[0], tail);
}

/* The form's lang, else ?lang=, else Accept-Language. */
static enum i18n_lang page_lang(struct http_request *req, const char *form_lang)
{
    enum i18n_lang lang;
    if (form_lang != NULL && i18n_parse(form_lang, &lang) == 0)
        return lang;
    if (i18n_parse(http_query(req, "lang"), &lang) == 0)
        return lang;
    return i18n_from_accept_language(http_header(req, "Accept-Language"));
}

/* req->error_page of the page's GET and POST: a customer meets a page, not
 * the API's JSON, when Kafka or PostgreSQL fails (resubmitting the same form
 * is still the same payment). */
static enum MHD_Result page_unavailable(struct http_request *req, unsigned status)
{
    return page_error(req, status, page_lang(req, NULL), NULL, "unavailable", 1);
}

/* The session of the path's {id}/{secret}: *found false for an id that is not
 * one, an unknown session, a wrong secret, a session without one (all the
 * same 404). s is filled only when found. */
static int page_load(struct http_request *req, struct db *db, struct session *s, bool *found)
{
    *found = false;
    const char *id = req->route.params[0], *secret = req->route.params[1];
    struct uuid u;
    if (uuid_parse(id, &u) != C_OK || !session_page_secret_is_valid(secret))
        return C_OK;
    bool exists = false;
    if (session_store_get_any(db, id, s, &exists) != C_OK)
        return C_ERR;
    if (!exists)
        return C_OK;
    if (!session_page_secret_matches(s, secret)) {
        session_free(s);
        return C_OK;
    }
    *found = true;
    return C_OK;
}

/* The organization's display name (caisse-admin set-display-name), falling back to
 * its name; none (the header shows no name) if it cannot be read. */
static void page_merchant_name(struct db *db, const char *organization_id, char *out, size_t outlen)
{
    if (tenant_display_name(db, organization_id, out, outlen) != C_OK)
        out[0] = '\0';
}

/* scheme://host[:port] of an http(s) url, if it has only the characters of one. */
static bool page_origin(const char *url, char *out, size_t outlen)
{
    if (url == NULL)
        return false;
    const char *host = NULL;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return false;
    size_t n = strcspn(host, "/?#");
    size_t total = (size_t)(host - url) + n;
    if (n == 0 || total >= outlen)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = host[i];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':' || c == '[' ||
              c == ']'))
            return false;
    }
    memcpy(out, url, total);
    out[total] = '\0';
    return true;
}

/* ---- the view ------------------------------------------------------------------------- */

/* Everything one rendering holds: the rows read, the texts made, the view. */
struct page_ctx {
    struct session s;
    struct payment_attempt attempt;
    bool have_attempt;
    struct coupon coupon;
    bool have_coupon;
    struct customer customer;
    bool have_customer;
    char path[PAGE_PATH_MAX];
    char merchant[256];
    char csrf[PAGE_FORM_TOKEN_LEN + 1];
    bool new_cookie;
    char attempt_key[PAGE_FORM_TOKEN_LEN + 1];
    char success_url[PAGE_URL_MAX];
    char payment_error[96];
    char coupon_code[COUPON_CODE_MAX + 1];
    char csp[sizeof(page_csp) + PAGE_ORIGIN_MAX + 2];
    struct page_view view;
    int64_t now;
};

static void page_ctx_free(struct page_ctx *c)
{
    session_free(&c->s);
    if (c->have_attempt)
        payment_attempt_free(&c->attempt);
    if (c->have_coupon)
        coupon_free(&c->coupon);
    if (c->have_customer)
        customer_free(&c->customer);
}

/* The context of the path's session, or NULL once *rc answered (its 404
 * page, or 503). The caller frees it with page_ctx_free and free. */
static struct page_ctx *page_open(struct http_request *req, struct db *db, enum i18n_lang lang,
                                  enum MHD_Result *rc)
{
    struct page_ctx *c = calloc(1, sizeof(*c));
    bool found = false;
    if (c == NULL || session_init(&c->s) != C_OK || page_load(req, db, &c->s, &found) != C_OK) {
        *rc = http_respond_unavailable(req);
    } else if (!found) {
        *rc = page_not_found(req, lang);
    } else {
        snprintf(c->path, sizeof(c->path), "/checkout/%s/%s", req->route.params[0],
                 req->route.params[1]);
        c->now = rfc3339_now();
        return c;
    }
    if (c != NULL) {
        page_ctx_free(c);
        free(c);
    }
    return NULL;
}

static enum page_state page_state_of(const struct page_ctx *c)
{
    const struct session *s = &c->s;
    if (s->status == SESSION_COMPLETE)
        return PAGE_COMPLETE;
    if (s->status == SESSION_EXPIRED || s->expires_at <= c->now)
        return PAGE_EXPIRED;
    if (c->have_attempt &&
        (c->attempt.status == PAYMENT_ATTEMPT_PENDING ||
         (c->attempt.status == PAYMENT_ATTEMPT_SUCCEEDED && !c->attempt.refund_required)))
        return PAGE_PROCESSING;
    return PAGE_OPEN;
}

/* The CSRF cookie's token when the request has a well-formed one, else a new one to set. */
static int page_csrf_token(struct http_request *req, struct page_ctx *c)
{
    const char *cookie = MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, PAGE_COOKIE);
    if (page_form_token_is_valid(cookie)) {
        snprintf(c->csrf, sizeof(c->csrf), "%s", cookie);
        c->new_cookie = false;
        return C_OK;
    }
    c->new_cookie = true;
    return page_form_token(c->csrf, NULL);
}

/* Reads the session's latest attempt, merchant name and customer. */
static int page_read_context(struct db *db, struct page_ctx *c)
{
    bool found = false;
    if (payment_attempt_latest(db, c->s.id, &c->attempt, &found) != C_OK)
        return C_ERR;
    c->have_attempt = found;
    page_merchant_name(db, c->s.organization_id, c->merchant, sizeof(c->merchant));
    if (c->s.customer_id[0] != '\0') {
        found = false;
        if (resource_store_get(db, &customer_store, c->s.organization_id, c->s.environment,
                               c->s.customer_id, &c->customer, &found) != C_OK)
            return C_ERR;
        c->have_customer = found;
    }
    return C_OK;
}

/* Looks code up for the session's tenant (c->coupon when found). */
static int page_find_coupon(struct db *db, struct page_ctx *c, const char *code)
{
    if (c->have_coupon) {
        coupon_free(&c->coupon);
        c->have_coupon = false;
    }
    bool found = false;
    if (coupon_find_by_code(db, c->s.organization_id, c->s.environment, code, &c->coupon, &found) !=
        C_OK)
        return C_ERR;
    c->have_coupon = found;
    return C_OK;
}

static const char *page_refusal_msgid(enum discount_refusal r)
{
    switch (r) {
    case DISCOUNT_APPLIES:
        return "coupon_applied";
    case DISCOUNT_UNKNOWN:
        return "coupon_unknown";
    case DISCOUNT_INACTIVE:
        return "coupon_inactive";
    case DISCOUNT_NOT_YET_VALID:
        return "coupon_not_yet_valid";
    case DISCOUNT_EXPIRED:
        return "coupon_expired";
    case DISCOUNT_USED_UP:
        return "coupon_used_up";
    case DISCOUNT_WRONG_CURRENCY:
        return "coupon_wrong_currency";
    case DISCOUNT_NOT_FOR_PRODUCT:
        return "coupon_not_for_product";
    }
    return "coupon_unknown";
}

static const char *page_nonempty(const char *a, const char *b)
{
    return a != NULL && a[0] != '\0' ? a : b;
}

static const char *page_json_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The view's common part: the session, totals of quantity with the coupon
 * (c->have_coupon), the customer prefilled. */
static int page_fill_view(struct page_ctx *c, enum i18n_lang lang, enum page_state state,
                          int32_t quantity, struct error *err)
{
    struct page_view *v = &c->view;
    const struct session *s = &c->s;
    v->lang = lang;
    v->state = state;
    v->path = c->path;
    v->merchant = c->merchant;
    v->test_mode = strcmp(s->environment, "test") == 0;
    v->title = s->title;
    v->description = s->description;
    v->currency_code = s->currency_code;
    v->allow_quantity = s->allow_quantity;
    v->allow_coupon = s->allow_coupon_code;
    v->require_billing = s->require_billing_address;
    v->payments_configured = payment_provider_for(s) != NULL;
    v->max_quantity = checkout_total_max_quantity(s);
    v->expires_at = s->expires_at;
    v->now = c->now;
    v->cancel_url = s->cancel_url;
    v->csrf = c->csrf;
    v->attempt = c->attempt_key;
    if (s->success_url != NULL && checkout_pay_success_url(s->success_url, s->id, c->success_url,
                                                           sizeof(c->success_url)) == C_OK)
        v->success_url = c->success_url;
    if (state == PAGE_COMPLETE || state == PAGE_PROCESSING) {
        /* What was paid, as recorded. */
        bool paid = state == PAGE_COMPLETE || !c->have_attempt;
        v->quantity = paid ? s->quantity : c->attempt.quantity;
        v->subtotal = paid ? s->amount_subtotal : c->attempt.amount_subtotal;
        v->discount = paid ? s->amount_discount : c->attempt.amount_discount;
        v->total = paid ? s->amount_total : c->attempt.amount;
        v->unit_amount = v->quantity > 0 ? v->subtotal / v->quantity : v->subtotal;
        if (c->have_attempt && c->attempt.status == PAYMENT_ATTEMPT_SUCCEEDED) {
            v->paid_at = c->attempt.settled_at_ms / 1000;
            v->reference = c->attempt.reference;
        }
        return C_OK;
    }
    struct checkout_total t;
    enum discount_refusal refusal = DISCOUNT_APPLIES;
    if (checkout_total_with_coupon(s, quantity, c->have_coupon ? &c->coupon : NULL, c->now, &t,
                                   &refusal, err) != C_OK)
        return C_ERR;
    v->quantity = t.quantity;
    v->unit_amount = t.unit_amount;
    v->subtotal = t.subtotal;
    v->discount = t.discount;
    v->total = t.total;
    if (c->have_coupon && refusal == DISCOUNT_APPLIES) {
        v->percent_off_bp = c->coupon.percent_off_bp > 0 ? c->coupon.percent_off_bp : 0;
        v->amount_off = c->coupon.amount_off > 0 ? c->coupon.amount_off : 0;
    }
    if (c->have_coupon) {
        v->coupon_message = page_refusal_msgid(refusal);
        v->coupon_refused = refusal != DISCOUNT_APPLIES;
    }
    /* Prefilled from the session, else its customer. */
    const struct customer *cu = c->have_customer ? &c->customer : NULL;
    v->email = page_nonempty(s->customer_email, cu != NULL ? cu->email : NULL);
    v->name = page_nonempty(s->customer_name, cu != NULL ? cu->name : NULL);
    v->phone = page_nonempty(s->customer_phone, cu != NULL ? cu->phone : NULL);
    v->account = v->phone;
    if (cu != NULL && cu->billing_address != NULL) {
        v->line1 = page_json_string(cu->billing_address, "line1");
        v->city = page_json_string(cu->billing_address, "city");
        v->postal_code = page_json_string(cu->billing_address, "postal_code");
        v->country = page_json_string(cu->billing_address, "country");
    }
    if (c->have_attempt && c->attempt.status == PAYMENT_ATTEMPT_FAILED) {
        snprintf(c->payment_error, sizeof(c->payment_error), "payment_failed_%s",
                 c->attempt.failure_code);
        v->payment_error =
            i18n_text(lang, c->payment_error) != NULL ? c->payment_error : "payment_failed_generic";
        v->method = c->attempt.method;
    }
    return C_OK;
}

/* Renders c->view and answers it with status, setting the CSRF cookie when new. */
static enum MHD_Result page_answer_view(struct http_request *req, struct page_ctx *c,
                                        unsigned status)
{
    struct error err = ERROR_INIT;
    if (page_form_token(c->attempt_key, &err) != C_OK) {
        log_error("page: %s", err.message);
        return http_respond_unavailable(req);
    }
    struct html_buf b = {0};
    if (page_render(&c->view, &b, &err) != C_OK) {
        log_error("page: cannot render session %s: %s", c->s.id, err.message);
        html_buf_free(&b);
        return http_respond_unavailable(req);
    }
    char origin[PAGE_ORIGIN_MAX];
    if (c->view.state == PAGE_OPEN && page_origin(c->s.success_url, origin, sizeof(origin)))
        snprintf(c->csp, sizeof(c->csp), "%s %s", page_csp, origin);
    else
        snprintf(c->csp, sizeof(c->csp), "%s", page_csp);
    char cookie[160];
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/checkout/; HttpOnly; SameSite=Strict%s",
             PAGE_COOKIE, c->csrf, page.secure_cookie ? "; Secure" : "");
    const char *extra[] = {"Set-Cookie", cookie, NULL};
    return page_respond(req, status, &b, c->view.lang, c->csp, c->new_cookie ? extra : NULL);
}

/* Asks the provider about a pending attempt (the page's GET, the status poll). */
static void page_poll(struct db *db, struct page_ctx *c)
{
    struct error err = ERROR_INIT;
    if (checkout_pay_poll(db, &c->s, &err) != C_OK)
        log_warn("page: cannot settle the pending payment of session %s: %s", c->s.id, err.message);
}

enum MHD_Result page_get(struct http_request *req, struct db *db)
{
    page_redact_path(req, "");
    req->error_page = page_unavailable;
    enum i18n_lang lang = page_lang(req, NULL);
    enum MHD_Result rc;
    struct page_ctx *c = page_open(req, db, lang, &rc);
    if (c == NULL)
        return rc;
    struct error err = ERROR_INIT;
    if (page_read_context(db, c) != C_OK || page_csrf_token(req, c) != C_OK) {
        rc = http_respond_unavailable(req);
        goto done;
    }
    enum page_state state = page_state_of(c);
    if (state == PAGE_PROCESSING)
        page_poll(db, c);
    if (state == PAGE_OPEN && c->s.coupon_code != NULL && c->s.coupon_code[0] != '\0') {
        snprintf(c->coupon_code, sizeof(c->coupon_code), "%s", c->s.coupon_code);
        c->view.coupon = c->coupon_code;
        if (page_find_coupon(db, c, c->coupon_code) != C_OK) {
            rc = http_respond_unavailable(req);
            goto done;
        }
    }
    if (page_fill_view(c, lang, state, c->s.quantity, &err) != C_OK) {
        log_error("page: session %s: %s", c->s.id, err.message);
        rc = http_respond_unavailable(req);
        goto done;
    }
    rc = page_answer_view(req, c, 200);
done:
    page_ctx_free(c);
    free(c);
    return rc;
}

/* ---- the form ------------------------------------------------------------------------- */

static bool page_email_ok(const char *e)
{
    const char *at = strchr(e, '@');
    if (at == NULL || at == e || strchr(at + 1, '@') != NULL || strchr(e, ' ') != NULL)
        return false;
    const char *dot = strrchr(at + 1, '.');
    return dot != NULL && dot > at + 1 && dot[1] != '\0';
}

/* Digits and spaces, an optional leading +, 4 to 19 digits. */
static bool page_account_ok(const char *a)
{
    size_t digits = 0;
    for (size_t i = 0; a[i] != '\0'; i++) {
        if (a[i] >= '0' && a[i] <= '9')
            digits++;
        else if (!(a[i] == ' ' || (a[i] == '+' && i == 0)))
            return false;
    }
    return digits >= 4 && digits <= 19;
}

static void page_add_error(struct page_view *v, const char *msgid)
{
    if (v->nerrors < PAGE_ERRORS_MAX)
        v->errors[v->nerrors++] = msgid;
}

/* Trims spaces around a field in place. */
static char *page_trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

enum MHD_Result page_post(struct http_request *req, struct db *db)
{
    page_redact_path(req, "");
    req->error_page = page_unavailable;
    enum i18n_lang lang = page_lang(req, NULL);
    long retry = 0;
    if (!throttle_client_take(req, THROTTLE_PAGE_POST, &retry))
        return page_error(req, 429, lang, NULL, "too_many_requests", retry);
    struct page_form *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return http_respond_unavailable(req);
    enum MHD_Result rc;
    struct page_ctx *c = page_open(req, db, lang, &rc);
    if (c == NULL) {
        free(f);
        return rc;
    }
    struct error err = ERROR_INIT;
    bool form_ok = !req->body_too_large && page_form_decode(req->body != NULL ? req->body : "",
                                                            req->body_len, f, &err) == C_OK;
    if (form_ok)
        lang = page_lang(req, f->lang);
    /* Double submit: the form's token must be the cookie's (a page of another
     * site cannot read the cookie, nor set it for this one). */
    const char *cookie = MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, PAGE_COOKIE);
    if (form_ok && !page_form_csrf_matches(cookie, f->csrf)) {
        rc = page_error(req, 403, lang, c->path, "csrf_refused", 0);
        goto done;
    }
    if (page_read_context(db, c) != C_OK || page_csrf_token(req, c) != C_OK) {
        rc = http_respond_unavailable(req);
        goto done;
    }
    enum page_state state = page_state_of(c);
    if (state != PAGE_OPEN) {
        char location[PAGE_PATH_MAX + 16];
        snprintf(location, sizeof(location), "%s?lang=%s", c->path, i18n_code(lang));
        rc = page_see_other(req, location);
        goto done;
    }
    if (!form_ok) {
        /* Unreadable bytes: the form again, from the session, saying so. */
        if (!req->body_too_large)
            log_info("page: session %s: form refused: %s", c->s.id, err.message);
        memset(f, 0, sizeof(*f));
        err = (struct error)ERROR_INIT;
        if (page_fill_view(c, lang, state, c->s.quantity, &err) != C_OK) {
            rc = http_respond_unavailable(req);
            goto done;
        }
        page_add_error(&c->view, "error_form_invalid");
        rc = page_answer_view(req, c, req->body_too_large ? 413 : 400);
        goto done;
    }
    /* The quantity: the session's unless it allows another. */
    int32_t quantity = c->s.quantity;
    int32_t max_quantity = checkout_total_max_quantity(&c->s);
    bool quantity_bad = false;
    if (c->s.allow_quantity && f->quantity[0] != '\0') {
        char *end = NULL;
        errno = 0;
        long q = strtol(f->quantity, &end, 10);
        if (errno != 0 || end == f->quantity || *end != '\0' || q < 1 || q > max_quantity)
            quantity_bad = true;
        else
            quantity = (int32_t)q;
    }
    /* The coupon: the code typed, or the session's own. */
    const char *code = c->s.allow_coupon_code ? page_trim(f->coupon) : c->s.coupon_code;
    const char *coupon_message = NULL;
    bool coupon_refused = false;
    if (code != NULL && code[0] != '\0') {
        snprintf(c->coupon_code, sizeof(c->coupon_code), "%s", code);
        bool own = c->s.coupon_code != NULL && strcasecmp(code, c->s.coupon_code) == 0;
        if (!coupon_code_is_valid(code)) {
            coupon_message = "coupon_malformed";
            coupon_refused = true;
        } else if (!own && !throttle_client_take(req, THROTTLE_COUPON, &retry)) {
            coupon_message = "coupon_too_many";
            coupon_refused = true;
        } else {
            if (page_find_coupon(db, c, code) != C_OK) {
                rc = http_respond_unavailable(req);
                goto done;
            }
            if (!c->have_coupon) {
                coupon_message = "coupon_unknown";
                coupon_refused = true;
            }
        }
    }
    if (page_fill_view(c, lang, state, quantity, &err) != C_OK) {
        log_error("page: session %s: %s", c->s.id, err.message);
        rc = http_respond_unavailable(req);
        goto done;
    }
    struct page_view *v = &c->view;
    v->coupon = c->coupon_code;
    if (coupon_message != NULL) {
        v->coupon_message = coupon_message;
        v->coupon_refused = coupon_refused;
    }
    if (v->coupon_refused)
        coupon_refused = true;
    /* What the customer typed comes back as typed. */
    v->email = page_trim(f->email);
    v->name = page_trim(f->name);
    v->phone = page_trim(f->phone);
    v->line1 = page_trim(f->line1);
    v->city = page_trim(f->city);
    v->postal_code = page_trim(f->postal_code);
    v->country = f->country;
    v->method = f->method;
    v->account = page_trim(f->account);
    v->payment_error = NULL;
    if (quantity_bad)
        page_add_error(v, "error_quantity_invalid");
    bool pay = strcmp(f->action, "pay") == 0;
    if (!pay) {
        rc = page_answer_view(req, c, 200);
        goto done;
    }
    if (v->email[0] == '\0')
        page_add_error(v, "error_email_required");
    else if (!page_email_ok(v->email))
        page_add_error(v, "error_email_invalid");
    if (c->s.require_billing_address) {
        if (v->line1[0] == '\0')
            page_add_error(v, "error_line1_required");
        if (v->city[0] == '\0')
            page_add_error(v, "error_city_required");
        if (country_find(f->country) == NULL)
            page_add_error(v, "error_country_required");
    }
    if (strcmp(f->method, "mobile_money") != 0 && strcmp(f->method, "card") != 0)
        page_add_error(v, "error_method_required");
    if (v->account[0] == '\0')
        page_add_error(v, "error_account_required");
    else if (!page_account_ok(v->account))
        page_add_error(v, "error_account_invalid");
    if (!page_form_token_is_valid(f->attempt))
        page_add_error(v, "error_form_invalid");
    if (v->nerrors > 0 || coupon_refused || !v->payments_configured) {
        rc = page_answer_view(req, c, 422);
        goto done;
    }
    char page_path[PAGE_PATH_MAX + 16];
    snprintf(page_path, sizeof(page_path), "%s?lang=%s", c->path, i18n_code(lang));
    bool billing = c->s.require_billing_address;
    struct checkout_order o = {
        .quantity = quantity,
        .coupon_code = c->have_coupon ? c->coupon_code : NULL,
        .email = v->email,
        .name = v->name,
        .phone = v->phone,
        .line1 = billing ? v->line1 : NULL,
        .city = billing ? v->city : NULL,
        .postal_code = billing ? v->postal_code : NULL,
        .country = billing ? f->country : NULL,
        .method = f->method,
        .account = v->account,
        .attempt_key = f->attempt,
        .page_path = page_path,
    };
    rc = checkout_pay_submit(req, db, &c->s, &o);
done:
    page_ctx_free(c);
    free(c);
    free(f);
    return rc;
}

/* ---- the status poll, the id alone, the assets -------------------------------------- */

enum MHD_Result page_status(struct http_request *req, struct db *db)
{
    page_redact_path(req, "/status");
    enum MHD_Result rc;
    struct page_ctx *c = page_open(req, db, page_lang(req, NULL), &rc);
    if (c == NULL)
        return rc;
    bool have = false;
    if (payment_attempt_latest(db, c->s.id, &c->attempt, &have) != C_OK) {
        rc = http_respond_unavailable(req);
        goto done;
    }
    c->have_attempt = have;
    enum page_state state = page_state_of(c);
    if (state == PAGE_PROCESSING)
        page_poll(db, c);
    rc = http_respond_json(req, 200, json_pack("{ss}", "state", page_render_state_name(state)),
                           NULL);
done:
    page_ctx_free(c);
    free(c);
    return rc;
}

enum MHD_Result page_id_alone(struct http_request *req, struct db *db)
{
    (void)db;
    return page_not_found(req, page_lang(req, NULL));
}

static enum MHD_Result page_asset(struct http_request *req, const char *name,
                                  const char *content_type)
{
    const struct page_asset *a = page_assets_find(name);
    if (a == NULL)
        return page_not_found(req, page_lang(req, NULL));
    char etag[20];
    page_assets_etag(a, etag);
    const char *match = http_header(req, "If-None-Match");
    bool fresh = match != NULL && strstr(match, etag) != NULL;
    struct MHD_Response *resp =
        fresh ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
              : MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "public, max-age=86400, immutable");
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    unsigned status = fresh ? 304 : 200;
    enum MHD_Result rc = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    req->status = status;
    req->answered = true;
    return rc;
}

enum MHD_Result page_asset_css(struct http_request *req, struct db *db)
{
    (void)db;
    return page_asset(req, "checkout.css", "text/css; charset=utf-8");
}

enum MHD_Result page_asset_js(struct http_request *req, struct db *db)
{
    (void)db;
    return page_asset(req, "checkout.js", "text/javascript; charset=utf-8");
}
