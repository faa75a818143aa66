#include "session_catalog.h"

#include <stdlib.h>
#include <string.h>

#include "core/result.h"

static bool session_catalog_member_given(const json_t *body, const char *name)
{
    const json_t *v = json_object_get(body, name);
    return v != NULL && !json_is_null(v);
}

void session_catalog_given_of(const json_t *body, struct session_catalog_given *out)
{
    out->amount = session_catalog_member_given(body, "amount");
    out->currency_code = session_catalog_member_given(body, "currency_code");
    out->title = session_catalog_member_given(body, "title");
}

bool session_catalog_needed(const struct session *s)
{
    return s->product_id[0] != '\0' || s->price_id[0] != '\0';
}

/* The amount a session of price takes (*amount), or the 400 that says why
 * the session's own does not fit it. */
static enum catalog_check session_catalog_amount(const struct price *price,
                                                 const struct session_catalog_given *given,
                                                 const struct session *s, int64_t *amount,
                                                 struct error *err)
{
    long long q = s->quantity;
    if (price_is_pay_what_you_want(price)) {
        long long lo = (long long)price->custom_minimum * q;
        long long hi = (long long)price->custom_maximum * q;
        if (!given->amount) {
            error_set(err, "amount",
                      "amount is required with pay-what-you-want price %s: from %lld to %lld "
                      "(%lld to %lld per unit, quantity %lld)",
                      price->id, lo, hi, (long long)price->custom_minimum,
                      (long long)price->custom_maximum, q);
            return CATALOG_CHECK_INVALID;
        }
        if (s->amount < lo || s->amount > hi) {
            error_set(err, "amount",
                      "amount %lld is outside the range of pay-what-you-want price %s: from %lld "
                      "to %lld (%lld to %lld per unit, quantity %lld)",
                      (long long)s->amount, price->id, lo, hi, (long long)price->custom_minimum,
                      (long long)price->custom_maximum, q);
            return CATALOG_CHECK_INVALID;
        }
        *amount = s->amount;
        return CATALOG_CHECK_OK;
    }
    /* unit_amount <= 10^12 and quantity <= 10^4: no overflow. */
    long long total = (long long)price->unit_amount * q;
    if (total > SESSION_MAX_AMOUNT) {
        error_set(err, "quantity",
                  "unit_amount %lld x quantity %lld = %lld exceeds the maximum amount %lld",
                  (long long)price->unit_amount, q, total, SESSION_MAX_AMOUNT);
        return CATALOG_CHECK_INVALID;
    }
    if (given->amount && s->amount != total) {
        error_set(err, "amount",
                  "amount %lld does not match price %s: unit_amount %lld x quantity %lld = %lld "
                  "(omit amount to use the price's)",
                  (long long)s->amount, price->id, (long long)price->unit_amount, q, total);
        return CATALOG_CHECK_INVALID;
    }
    *amount = total;
    return CATALOG_CHECK_OK;
}

enum catalog_check session_catalog_apply(const struct product *product, const struct price *price,
                                         const struct session_catalog_given *given,
                                         struct session *s, struct error *err)
{
    if (!product->active) {
        error_set(err, "product_id", "product_id %s is archived: it cannot be sold anymore",
                  product->id);
        return CATALOG_CHECK_INVALID;
    }
    int64_t amount = s->amount;
    if (price != NULL) {
        if (!price->active) {
            error_set(err, "price_id", "price_id %s is archived: it cannot be sold anymore",
                      price->id);
            return CATALOG_CHECK_INVALID;
        }
        if (given->currency_code && strcmp(s->currency_code, price->currency_code) != 0) {
            error_set(err, "currency_code",
                      "currency_code %s does not match the currency of price %s: %s",
                      s->currency_code, price->id, price->currency_code);
            return CATALOG_CHECK_INVALID;
        }
        enum catalog_check rc = session_catalog_amount(price, given, s, &amount, err);
        if (rc != CATALOG_CHECK_OK)
            return rc;
    } else if (!given->amount) {
        error_set(err, "product_id", "Product has no default price; give price_id or amount");
        return CATALOG_CHECK_INVALID;
    }
    char *title = NULL;
    if (s->title == NULL && (title = strdup(product->name)) == NULL) {
        error_set(err, NULL, "out of memory");
        return CATALOG_CHECK_UNAVAILABLE;
    }
    if (title != NULL)
        s->title = title;
    s->amount = amount;
    memcpy(s->product_id, product->id, UUID_STR_LEN);
    if (price != NULL) {
        memcpy(s->price_id, price->id, UUID_STR_LEN);
        memcpy(s->currency_code, price->currency_code, sizeof(s->currency_code));
    }
    return CATALOG_CHECK_OK;
}

/* The tenant's object id of store into out (resource_init not needed):
 * CATALOG_CHECK_OK with *found, which says whether out must be freed. */
static enum catalog_check session_catalog_read(struct db *db, const struct tenant_identity *who,
                                               const struct resource_store *store, const char *id,
                                               void *out, bool *found)
{
    *found = false;
    if (resource_store_get(db, store, who->organization_id, who->environment, id, out, found) !=
        C_OK)
        return CATALOG_CHECK_UNAVAILABLE;
    return CATALOG_CHECK_OK;
}

static enum catalog_check session_catalog_not_found(const char *field, const char *id,
                                                    struct error *err)
{
    error_set(err, field, "%s %s not found", field, id);
    return CATALOG_CHECK_INVALID;
}

enum catalog_check session_catalog_resolve(struct db *db, const struct tenant_identity *who,
                                           const struct session_catalog_given *given,
                                           struct session *s, struct error *err)
{
    struct product product;
    struct price price;
    bool have_product = false, have_price = false;
    enum catalog_check rc;
    if (s->price_id[0] != '\0') {
        rc = session_catalog_read(db, who, &price_store, s->price_id, &price, &have_price);
        if (rc == CATALOG_CHECK_OK && !have_price)
            rc = session_catalog_not_found("price_id", s->price_id, err);
        if (rc == CATALOG_CHECK_OK && s->product_id[0] != '\0' &&
            strcmp(s->product_id, price.product_id) != 0) {
            error_set(err, "price_id", "price_id %s is not a price of product_id %s (but of %s)",
                      s->price_id, s->product_id, price.product_id);
            rc = CATALOG_CHECK_INVALID;
        }
        if (rc == CATALOG_CHECK_OK)
            rc = session_catalog_read(db, who, &product_store, price.product_id, &product,
                                      &have_product);
        /* A price's product is of its tenant (the price's create checked it). */
        if (rc == CATALOG_CHECK_OK && !have_product)
            rc = CATALOG_CHECK_UNAVAILABLE;
    } else {
        rc = session_catalog_read(db, who, &product_store, s->product_id, &product, &have_product);
        if (rc == CATALOG_CHECK_OK && !have_product)
            rc = session_catalog_not_found("product_id", s->product_id, err);
        /* The default price only when the body gives no amount of its own. */
        if (rc == CATALOG_CHECK_OK && !given->amount && product.default_price_id[0] != '\0') {
            rc = session_catalog_read(db, who, &price_store, product.default_price_id, &price,
                                      &have_price);
            if (rc == CATALOG_CHECK_OK && !have_price)
                rc = CATALOG_CHECK_UNAVAILABLE;
        }
    }
    if (rc == CATALOG_CHECK_OK)
        rc = session_catalog_apply(&product, have_price ? &price : NULL, given, s, err);
    if (have_price)
        price_free(&price);
    if (have_product)
        product_free(&product);
    return rc;
}
