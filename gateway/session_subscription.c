#include "session_subscription.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"

/* A given id that must be the subscription's. */
static bool session_subscription_same(const char *given, const char *field, const char *expected,
                                      const char *what, const char *subscription_id,
                                      struct error *err)
{
    if (given[0] == '\0' || strcmp(given, expected) == 0)
        return true;
    error_set(err, field, "%s %s is not the %s of subscription %s (%s)", field, given, what,
              subscription_id, expected);
    return false;
}

enum catalog_check session_subscription_apply(const struct subscription_renewal *terms,
                                              const struct session_catalog_given *given,
                                              struct session *s, struct error *err)
{
    const char *id = s->subscription_id;
    if (terms->status == SUBSCRIPTION_CANCELED) {
        error_set(err, "subscription_id",
                  "subscription_id %s is canceled: a canceled subscription cannot be renewed", id);
        return CATALOG_CHECK_INVALID;
    }
    if (!session_subscription_same(s->customer_id, "customer_id", terms->customer_id, "customer",
                                   id, err) ||
        !session_subscription_same(s->price_id, "price_id", terms->price_id, "price", id, err) ||
        !session_subscription_same(s->product_id, "product_id", terms->product_id, "product", id,
                                   err))
        return CATALOG_CHECK_INVALID;
    if (given->currency_code && strcmp(s->currency_code, terms->currency_code) != 0) {
        error_set(err, "currency_code",
                  "currency_code %s does not match the price %s of subscription %s (%s)",
                  s->currency_code, terms->price_id, id, terms->currency_code);
        return CATALOG_CHECK_INVALID;
    }
    /* unit_amount <= 10^12 and quantity <= 10^4: no overflow. */
    long long q = s->quantity;
    long long total = (long long)terms->unit_amount * q;
    if (total > SESSION_MAX_AMOUNT) {
        error_set(err, "quantity",
                  "unit_amount %lld x quantity %lld = %lld exceeds the maximum amount %lld",
                  (long long)terms->unit_amount, q, total, SESSION_MAX_AMOUNT);
        return CATALOG_CHECK_INVALID;
    }
    if (given->amount && s->amount != total) {
        error_set(err, "amount",
                  "amount %lld does not match the price %s of subscription %s: unit_amount %lld x "
                  "quantity %lld = %lld (omit amount to use the price's)",
                  (long long)s->amount, terms->price_id, id, (long long)terms->unit_amount, q,
                  total);
        return CATALOG_CHECK_INVALID;
    }
    char *title = NULL;
    if (!given->title && (title = strdup(terms->product_name)) == NULL) {
        error_set(err, NULL, "out of memory");
        return CATALOG_CHECK_UNAVAILABLE;
    }
    if (title != NULL) {
        free(s->title);
        s->title = title;
    }
    s->amount = total;
    snprintf(s->currency_code, sizeof(s->currency_code), "%s", terms->currency_code);
    snprintf(s->customer_id, sizeof(s->customer_id), "%s", terms->customer_id);
    snprintf(s->price_id, sizeof(s->price_id), "%s", terms->price_id);
    snprintf(s->product_id, sizeof(s->product_id), "%s", terms->product_id);
    return CATALOG_CHECK_OK;
}

enum catalog_check session_subscription_resolve(struct db *db, const struct tenant_identity *who,
                                                const struct session_catalog_given *given,
                                                struct session *s, struct error *err)
{
    struct subscription_renewal terms;
    bool found = false;
    if (subscription_store_renewal(db, who->organization_id, who->environment, s->subscription_id,
                                   &terms, &found) != C_OK) {
        subscription_renewal_free(&terms);
        return CATALOG_CHECK_UNAVAILABLE;
    }
    if (!found) {
        error_set(err, "subscription_id", "subscription_id %s not found", s->subscription_id);
        return CATALOG_CHECK_INVALID;
    }
    enum catalog_check check = session_subscription_apply(&terms, given, s, err);
    subscription_renewal_free(&terms);
    return check;
}
