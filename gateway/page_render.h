/* The hosted checkout page's HTML, from a view of the session that holds
 * everything it shows: one function per kind of page, no database, no clock
 * (the caller gives now), so every state can be rendered in a unit test. */
#ifndef GATEWAY_PAGE_RENDER_H
#define GATEWAY_PAGE_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "html.h"
#include "i18n.h"

enum page_state { PAGE_OPEN, PAGE_PROCESSING, PAGE_COMPLETE, PAGE_EXPIRED };

#define PAGE_ERRORS_MAX 8

/* Strings are borrowed; NULL and "" are the same: nothing. msgids name a text
 * of the catalogues (gateway/page/<lang>.po). */
struct page_view {
    enum i18n_lang lang;
    enum page_state state;
    const char *path; /* "/checkout/<id>/<secret>": the form's action */
    const char *merchant;
    bool test_mode;
    const char *title, *description;
    const char *currency_code;
    int32_t quantity, max_quantity;
    int64_t unit_amount, subtotal, discount, total;
    bool allow_quantity, allow_coupon, require_billing;
    bool payments_configured;   /* false: "payments are not configured for this merchant" */
    const char *coupon;         /* the code shown in the field */
    const char *coupon_message; /* msgid: coupon_applied, coupon_unknown, ... */
    bool coupon_refused;        /* the message is a refusal */
    /* The applied coupon's terms, for the live total of checkout.js. */
    int32_t percent_off_bp;
    int64_t amount_off;
    const char *email, *name, *phone;
    const char *line1, *city, *postal_code, *country;
    const char *method, *account;
    const char *csrf, *attempt;
    const char *errors[PAGE_ERRORS_MAX]; /* msgids of the form's errors */
    size_t nerrors;
    const char *payment_error; /* msgid of the last declined payment's reason */
    const char *success_url;   /* {CHECKOUT_SESSION_ID} already replaced */
    const char *cancel_url;
    int64_t expires_at, now; /* epoch seconds */
    int64_t paid_at;         /* complete: epoch seconds, 0 unknown */
    const char *reference;   /* complete: the payment's reference */
};

/* The page of v's state into out. C_ERR: an amount or a date ICU cannot
 * format, a template error, out of memory. */
int page_render(const struct page_view *v, struct html_buf *out, struct error *err);
/* The plain 404 page: the same for an unknown id, a wrong secret, the id alone. */
int page_render_not_found(enum i18n_lang lang, struct html_buf *out, struct error *err);
/* A page that says msgid (csrf_refused, too_many_requests, unavailable), with
 * a link back to path when not NULL; retry_after fills {{retry_after}}. */
int page_render_error(enum i18n_lang lang, const char *path, const char *msgid,
                      const char *retry_after, struct html_buf *out, struct error *err);

#endif
