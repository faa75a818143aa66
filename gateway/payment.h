/* The payment provider interface: how the hosted page takes a payment. A
 * provider starts a payment for an amount and currency with the customer's
 * details, and answers succeeded, failed with a reason, or pending with its
 * reference (the mobile money pattern: the customer approves on the phone);
 * a pending one is settled later by a poll (or, for a provider that calls
 * back, by its notification turned into the same poll).
 *
 * A card or mobile-money provider is one more adapter: a struct
 * payment_provider with its start and poll, chosen by payment_provider_for.
 * Built in: the test provider (payment_test.c) for test sessions. Live
 * sessions have none unless an operator configured one. */
#ifndef GATEWAY_PAYMENT_H
#define GATEWAY_PAYMENT_H

#include <stdint.h>

#include "core/error.h"
#include "model/payment_attempt.h"
#include "model/session.h"

enum payment_status { PAYMENT_PENDING, PAYMENT_SUCCEEDED, PAYMENT_FAILED };

/* The failure codes a provider answers (the page translates them; any other
 * code is shown as PAYMENT_FAILURE_DECLINED). */
#define PAYMENT_FAILURE_DECLINED "card_declined"
#define PAYMENT_FAILURE_INSUFFICIENT_FUNDS "insufficient_funds"
#define PAYMENT_FAILURE_INVALID_NUMBER "invalid_number"
#define PAYMENT_FAILURE_CUSTOMER_DECLINED "customer_declined" /* refused on the phone */
#define PAYMENT_FAILURE_NOT_CONFIGURED "payments_not_configured"

/* What the page submits. Borrowed strings, valid during the call. */
struct payment_request {
    const char *attempt_id; /* idempotency key at the provider: the same id, the same payment */
    const char *session_id, *environment, *currency_code;
    int64_t amount;      /* minor units of currency_code */
    const char *method;  /* "mobile_money" | "card" */
    const char *account; /* phone or card number (never stored in clear: last 4) */
    const char *email, *name, *phone;
};

struct payment_result {
    enum payment_status status;
    char reference[PAYMENT_ATTEMPT_REFERENCE_LEN]; /* provider's reference */
    /* failed: "card_declined", "insufficient_funds", ... */
    char failure_code[PAYMENT_ATTEMPT_FAILURE_CODE_LEN];
    /* failed: English; the page translates failure_code */
    char failure_message[PAYMENT_ATTEMPT_FAILURE_MESSAGE_LEN];
};

struct payment_provider {
    const char *name; /* "test" */
    /* Starts the payment. C_ERR: the provider could not be asked (then nothing
     * is known of the payment: the page says to try again). */
    int (*start)(const struct payment_request *req, struct payment_result *out, struct error *err);
    /* Settles a pending payment (poll); started_at_ms: epoch ms of its first
     * start. Still pending: out->status PAYMENT_PENDING. */
    int (*poll)(const char *reference, int64_t started_at_ms, struct payment_result *out,
                struct error *err);
};

/* The provider for a session: the test provider for test sessions; NULL for
 * live ones unless an operator configured one (the page then says "payments
 * are not configured for this merchant"). */
const struct payment_provider *payment_provider_for(const struct session *s);
/* The provider of that name (an attempt's, for its poll), NULL if none. */
const struct payment_provider *payment_provider_named(const char *name);

#endif
