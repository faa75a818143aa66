/* Paying on the hosted page: what the page's POST (action=pay) calls once its
 * form is valid, and the settling of pending payments (the page's poll and a
 * background thread). The payment's outcome goes to the session worker as a
 * checkout.session.payment command through the pipeline, which applies it in
 * one transaction (the attempt, and on success the session's completion). */
#ifndef GATEWAY_CHECKOUT_PAY_H
#define GATEWAY_CHECKOUT_PAY_H

#include <stdint.h>

#include <microhttpd.h>

#include "core/error.h"
#include "http.h"
#include "infra/db.h"
#include "model/session.h"

/* What the customer chose and gave on the page (borrowed strings). */
struct checkout_order {
    int32_t quantity;
    const char *coupon_code; /* NULL/"" none; already checked by the page */
    const char *email, *name, *phone;
    const char *line1, *city, *postal_code, *country; /* NULL unless billing required */
    const char *method, *account;
    const char *attempt_key; /* the form's `attempt` */
    const char *page_path;   /* "/checkout/<id>/<secret>": where 303s go back to */
};

struct checkout_pay_config {
    const char *public_base_url;
    /* The background settle: how often it looks for due pending attempts (ms,
     * 0: no thread) and the database it uses. */
    long settle_interval_ms;
    const char *database_url;
    long statement_timeout_ms;
};

int checkout_pay_init(const struct checkout_pay_config *cfg);
/* Stops the background settle (joined). */
void checkout_pay_shutdown(void);

/* Computes the total again (checkout_total), starts the payment (attempt id
 * derived from session id + attempt_key: the same key is the same attempt),
 * sends the attempt's outcome as a command through the pipeline
 * (pipeline_submit) and answers when the worker applied it: 303 to
 * success_url ({CHECKOUT_SESSION_ID} replaced) on success (the receipt,
 * page_path, without success_url), else 303 to page_path (the page then shows
 * the failure or the processing state from the database). When a pending or
 * succeeded attempt already exists, no new payment: 303 to page_path. Live
 * sessions without a provider: 303 to page_path too (the page says payments
 * are not configured). */
enum MHD_Result checkout_pay_submit(struct http_request *req, struct db *db,
                                    const struct session *s, const struct checkout_order *o);

/* POST /internal/checkout-sessions/{id}/payments (internal listener, internal
 * token): the same as a page's pay from JSON, for a payment provider's own
 * integration and the tests: {attempt, method, account, quantity?,
 * coupon_code?, email?, name?, phone?, billing_address? {line1, city,
 * postal_code, country}}. Answers as checkout_pay_submit (303 to success_url
 * or to the session's page), 400 for a malformed body, 404 for no session. */
enum MHD_Result checkout_pay_internal(struct http_request *req, struct db *db);

/* Settles s's pending attempt if its provider now knows the outcome (the
 * page's GET in the processing state, the status poll): sends its command,
 * does not wait. C_OK also when there is nothing to settle. */
int checkout_pay_poll(struct db *db, const struct session *s, struct error *err);

/* The attempt id of a session's attempt key: a UUIDv8 from SHA-256 of both. */
void checkout_pay_attempt_id(const char *session_id, const char *attempt_key,
                             char out[UUID_STR_LEN]);

/* success_url with every {CHECKOUT_SESSION_ID} replaced by id, into out
 * (outlen bytes). C_ERR: it does not fit. */
int checkout_pay_success_url(const char *success_url, const char *id, char *out, size_t outlen);

#endif
