#include "page_render.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/result.h"
#include "format.h"
#include "model/currency.h"
#include "page_assets.h"
#include "template.h"

/* The processing page reloads itself this often without JavaScript. */
#define PAGE_REFRESH_SECONDS "3"

static const char *page_state_name(enum page_state s)
{
    switch (s) {
    case PAGE_OPEN:
        return "open";
    case PAGE_PROCESSING:
        return "processing";
    case PAGE_COMPLETE:
        return "complete";
    case PAGE_EXPIRED:
        return "expired";
    }
    return "open";
}

static int page_render_file(const char *name, const struct template_vars *v, struct html_buf *out,
                            struct error *err)
{
    const struct page_asset *a = page_assets_find(name);
    if (a == NULL)
        return error_set(err, NULL, "page: no template %s", name);
    return template_render(out, a->data, a->len, v, err);
}

/* body (rendered) inside the layout. */
static int page_render_layout(struct template_vars *v, const char *body_template,
                              struct html_buf *out, struct error *err)
{
    struct html_buf body = {0};
    if (page_render_file(body_template, v, &body, err) != C_OK) {
        html_buf_free(&body);
        return C_ERR;
    }
    template_set(v, "body", body.data != NULL ? body.data : "");
    int rc = page_render_file("layout.html", v, out, err);
    html_buf_free(&body);
    return rc;
}

static const char *page_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

struct page_amounts {
    char unit[FORMAT_TEXT_MAX], line[FORMAT_TEXT_MAX], discount[FORMAT_TEXT_MAX],
        total[FORMAT_TEXT_MAX];
    char unit_minor[24], exponent[8], percent_bp[16], amount_off[24], quantity[16],
        max_quantity[16];
    char time_left[FORMAT_TEXT_MAX], expires_at[FORMAT_TEXT_MAX], paid_at[FORMAT_TEXT_MAX];
    char locale[16];
};

static int page_set_amounts(const struct page_view *pv, struct page_amounts *a,
                            struct template_vars *v, struct error *err)
{
    const struct currency *c = currency_find(page_or_empty(pv->currency_code));
    if (c == NULL)
        return error_set(err, NULL, "page: unsupported currency %s",
                         page_or_empty(pv->currency_code));
    if (format_amount(pv->lang, c->code, pv->unit_amount, a->unit, sizeof(a->unit), err) != C_OK ||
        format_amount(pv->lang, c->code, pv->subtotal, a->line, sizeof(a->line), err) != C_OK ||
        format_amount(pv->lang, c->code, pv->discount, a->discount, sizeof(a->discount), err) !=
            C_OK ||
        format_amount(pv->lang, c->code, pv->total, a->total, sizeof(a->total), err) != C_OK)
        return C_ERR;
    snprintf(a->unit_minor, sizeof(a->unit_minor), "%" PRId64, pv->unit_amount);
    snprintf(a->exponent, sizeof(a->exponent), "%d", c->exponent);
    snprintf(a->percent_bp, sizeof(a->percent_bp), "%" PRId32, pv->percent_off_bp);
    snprintf(a->amount_off, sizeof(a->amount_off), "%" PRId64, pv->amount_off);
    snprintf(a->quantity, sizeof(a->quantity), "%" PRId32, pv->quantity);
    snprintf(a->max_quantity, sizeof(a->max_quantity), "%" PRId32, pv->max_quantity);
    template_set(v, "currency", c->code);
    format_currency_locale(pv->lang, c->code, a->locale, sizeof(a->locale));
    template_set(v, "locale", a->locale);
    template_set(v, "unit_amount", a->unit);
    template_set(v, "line_total", a->line);
    template_set(v, "discount", a->discount);
    template_set(v, "total", a->total);
    template_set(v, "unit_minor", a->unit_minor);
    template_set(v, "exponent", a->exponent);
    template_set(v, "percent_bp", a->percent_bp);
    template_set(v, "amount_off", a->amount_off);
    template_set(v, "quantity", a->quantity);
    template_set(v, "max_quantity", a->max_quantity);
    template_set(v, "show_discount", pv->discount > 0 || pv->allow_coupon ? "1" : NULL);
    if (pv->expires_at > pv->now) {
        if (format_time_left(pv->lang, pv->expires_at - pv->now, a->time_left, sizeof(a->time_left),
                             err) != C_OK ||
            format_datetime(pv->lang, pv->expires_at, a->expires_at, sizeof(a->expires_at), err) !=
                C_OK)
            return C_ERR;
        template_set(v, "time_left_rel", a->time_left);
        template_set(v, "expires_at", a->expires_at);
    }
    if (pv->paid_at > 0) {
        if (format_datetime(pv->lang, pv->paid_at, a->paid_at, sizeof(a->paid_at), err) != C_OK)
            return C_ERR;
        template_set(v, "paid_at", a->paid_at);
    }
    return C_OK;
}

/* The values every page has. */
static void page_set_common(struct template_vars *v, enum i18n_lang lang, const char *state,
                            const char *path, const char *merchant)
{
    v->lang = lang;
    template_set(v, "lang", i18n_code(lang));
    template_set(v, "lang_en", lang == I18N_EN ? "1" : NULL);
    template_set(v, "lang_fr", lang == I18N_FR ? "1" : NULL);
    template_set(v, "state", state);
    template_set(v, "path", path);
    template_set(v, "merchant", merchant);
}

/* The country select's options in lang, the chosen one selected. */
static void page_country_options(enum i18n_lang lang, const char *chosen, struct html_buf *out)
{
    const struct format_country *countries;
    size_t n = format_countries(lang, &countries);
    for (size_t i = 0; i < n; i++) {
        const struct format_country *c = &countries[i];
        html_buf_puts(out, "<option value=\"");
        html_escape(out, c->code, strlen(c->code));
        html_buf_puts(out, chosen != NULL && strcmp(chosen, c->code) == 0 ? "\" selected>" : "\">");
        html_escape(out, c->name, strlen(c->name));
        html_buf_puts(out, "</option>\n");
    }
}

static int page_error_items(const struct page_view *pv, const struct template_vars *v,
                            struct html_buf *out, struct error *err)
{
    static const char item[] = "<li>{{t=error}}</li>";
    for (size_t i = 0; i < pv->nerrors; i++) {
        struct template_vars one = *v;
        template_set(&one, "error", pv->errors[i]);
        if (template_render(out, item, sizeof(item) - 1, &one, err) != C_OK)
            return C_ERR;
    }
    return C_OK;
}

/* Only http(s) URLs become links: anything else the API let through is not shown. */
static const char *page_link(const char *url)
{
    if (url == NULL)
        return NULL;
    return strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0 ? url : NULL;
}

int page_render(const struct page_view *pv, struct html_buf *out, struct error *err)
{
    struct template_vars vars = {0};
    struct template_vars *v = &vars;
    page_set_common(v, pv->lang, page_state_name(pv->state), pv->path, pv->merchant);
    struct page_amounts a;
    if (page_set_amounts(pv, &a, v, err) != C_OK)
        return C_ERR;
    template_set(v, "test_mode", pv->test_mode ? "1" : NULL);
    template_set(v, "title", pv->title);
    template_set(v, "description", pv->description);
    template_set(v, "cancel_url", page_link(pv->cancel_url));
    template_set(v, "success_url", page_link(pv->success_url));
    template_set(v, "reference", pv->reference);
    const char *body = "open.html";
    struct html_buf countries = {0}, errors = {0};
    int rc = C_ERR;
    switch (pv->state) {
    case PAGE_OPEN:
        template_set(v, "page_title", "title_open");
        template_set(v, "script", "1");
        template_set(v, "allow_quantity", pv->allow_quantity ? "1" : NULL);
        template_set(v, "allow_coupon", pv->allow_coupon ? "1" : NULL);
        template_set(v, "billing", pv->require_billing ? "1" : NULL);
        template_set(v, "configured", pv->payments_configured ? "1" : NULL);
        template_set(v, "coupon", pv->coupon);
        template_set(v, "coupon_message", pv->coupon_message);
        template_set(v, "coupon_class", pv->coupon_refused ? "refused" : "ok");
        template_set(v, "email", pv->email);
        template_set(v, "name", pv->name);
        template_set(v, "phone", pv->phone);
        template_set(v, "line1", pv->line1);
        template_set(v, "city", pv->city);
        template_set(v, "postal_code", pv->postal_code);
        template_set(v, "account", pv->account);
        bool card = pv->method != NULL && strcmp(pv->method, "card") == 0;
        template_set(v, "method_card", card ? "1" : NULL);
        template_set(v, "method_mobile_money", card ? NULL : "1");
        template_set(v, "csrf", pv->csrf);
        template_set(v, "attempt", pv->attempt);
        template_set(v, "payment_error", pv->payment_error);
        if (pv->require_billing) {
            page_country_options(pv->lang, pv->country, &countries);
            template_set(v, "countries", countries.data);
        }
        if (pv->nerrors > 0) {
            if (page_error_items(pv, v, &errors, err) != C_OK)
                goto done;
            template_set(v, "errors", errors.data);
        }
        break;
    case PAGE_PROCESSING:
        body = "processing.html";
        template_set(v, "page_title", "title_processing");
        template_set(v, "script", "1");
        template_set(v, "refresh", PAGE_REFRESH_SECONDS);
        break;
    case PAGE_COMPLETE:
        body = "complete.html";
        template_set(v, "page_title", "title_complete");
        break;
    case PAGE_EXPIRED:
        body = "expired.html";
        template_set(v, "page_title", "title_expired");
        break;
    }
    if (countries.failed || errors.failed) {
        error_set(err, NULL, "page: out of memory");
        goto done;
    }
    rc = page_render_layout(v, body, out, err);
done:
    html_buf_free(&countries);
    html_buf_free(&errors);
    return rc;
}

int page_render_not_found(enum i18n_lang lang, struct html_buf *out, struct error *err)
{
    struct template_vars v = {0};
    page_set_common(&v, lang, "not_found", NULL, NULL);
    template_set(&v, "page_title", "title_not_found");
    return page_render_layout(&v, "not_found.html", out, err);
}

int page_render_error(enum i18n_lang lang, const char *path, const char *msgid,
                      const char *retry_after, struct html_buf *out, struct error *err)
{
    struct template_vars v = {0};
    page_set_common(&v, lang, "error", path, NULL);
    template_set(&v, "page_title", "title_error");
    template_set(&v, "message", msgid);
    template_set(&v, "retry_after", retry_after);
    return page_render_layout(&v, "error.html", out, err);
}
