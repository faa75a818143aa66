#include "prices.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/utf8.h"
#include "model/currency.h"
#include "model/product.h"
#include "validate.h"

static const char *const prices_fields[] = {
    "product_id", "currency_code", "unit_amount", "custom_unit_amount", "type",
    "recurring",  "active",        "nickname",    "metadata",
};
#define PRICES_NFIELDS (sizeof(prices_fields) / sizeof(prices_fields[0]))

/* What a PATCH may change; the others of prices_fields never change. */
static const char *const prices_updatable[] = {"active", "nickname", "metadata"};
#define PRICES_NUPDATABLE (sizeof(prices_updatable) / sizeof(prices_updatable[0]))
static const char *const prices_fixed[] = {"product_id", "currency_code",      "unit_amount",
                                           "type",       "custom_unit_amount", "recurring"};
#define PRICES_NFIXED (sizeof(prices_fixed) / sizeof(prices_fixed[0]))

static const char *const prices_recurring_fields[] = {"interval", "interval_count"};
static const char *const prices_custom_fields[] = {"minimum", "maximum"};

/* ---- the members ----------------------------------------------------------------------- */

/* An amount of minor units named name: a whole JSON number (10000.0 counts,
 * 10000.5 does not), 1 to PRICE_MAX_AMOUNT; the messages of a session's amount. */
static int prices_amount(const json_t *v, const char *name, int64_t *out, struct error *err)
{
    if (!json_is_number(v))
        return error_set(err, name, "%s must be a number", name);
    double whole;
    if (json_is_integer(v)) {
        whole = (double)json_integer_value(v);
    } else {
        whole = json_real_value(v);
        if (isfinite(whole) && fabs(whole) > 9e15)
            return error_set(err, name, "%s must not exceed %lld", name, PRICE_MAX_AMOUNT);
        if (!isfinite(whole) || whole != floor(whole))
            return error_set(err, name, "%s must be a whole number of the currency's minor units",
                             name);
    }
    long long amount = json_is_integer(v) ? json_integer_value(v) : (long long)whole;
    if (amount <= 0)
        return error_set(err, name, "%s must be greater than 0", name);
    if (amount > PRICE_MAX_AMOUNT)
        return error_set(err, name, "%s must not exceed %lld", name, PRICE_MAX_AMOUNT);
    *out = amount;
    return C_OK;
}

/* "Unknown parameter: <group>.<name>" for a member of the object v (the
 * member group of the body) outside fields[0..n). */
static int prices_known_members(const json_t *v, const char *group, const char *const *fields,
                                size_t n, struct error *err)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(key, fields[i]) == 0;
        if (!known) {
            /* Cut so that "<group>.<key>" fits a param. */
            char shown[40], param[ERROR_PARAM_MAX];
            utf8_truncate(key, shown, sizeof(shown));
            snprintf(param, sizeof(param), "%s.%s", group, shown);
            return error_set(err, param, "Unknown parameter: %s", param);
        }
    }
    return C_OK;
}

static int prices_product_id(const json_t *body, struct price *p, struct error *err)
{
    const json_t *v = json_object_get(body, "product_id");
    if (v == NULL || json_is_null(v))
        return error_set(err, "product_id", "product_id is required");
    return validate_optional_uuid(body, "product_id", p->product_id, err);
}

static int prices_currency(const json_t *body, const struct tenant_identity *who, struct price *p,
                           struct error *err)
{
    const json_t *v = json_object_get(body, "currency_code");
    const char *code = who->default_currency;
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return error_set(err, "currency_code", "currency_code must be a string");
        code = json_string_value(v);
        /* "XOF\u0000x" would otherwise pass as XOF. */
        if (strlen(code) != json_string_length(v))
            return error_set(err, "currency_code", "currency_code must not contain NUL characters");
    }
    if (currency_find(code) == NULL) {
        char shown[16];
        utf8_truncate(code, shown, sizeof(shown)); /* bound what we echo back */
        return error_set(err, "currency_code", "Unsupported currency_code: %s", shown);
    }
    snprintf(p->currency_code, sizeof(p->currency_code), "%s", code);
    return C_OK;
}

/* One member of custom_unit_amount: required, an amount. */
static int prices_custom_member(const json_t *custom, const char *member, int64_t *out,
                                struct error *err)
{
    char name[48];
    snprintf(name, sizeof(name), "custom_unit_amount.%s", member);
    const json_t *v = json_object_get(custom, member);
    if (v == NULL || json_is_null(v))
        return error_set(err, name, "%s is required", name);
    return prices_amount(v, name, out, err);
}

/* unit_amount or custom_unit_amount, exactly one. */
static int prices_amounts(const json_t *body, struct price *p, struct error *err)
{
    const json_t *unit = json_object_get(body, "unit_amount");
    const json_t *custom = json_object_get(body, "custom_unit_amount");
    bool has_unit = unit != NULL && !json_is_null(unit);
    bool has_custom = custom != NULL && !json_is_null(custom);
    if (has_unit && prices_amount(unit, "unit_amount", &p->unit_amount, err) != C_OK)
        return C_ERR;
    if (has_custom) {
        if (!json_is_object(custom))
            return error_set(err, "custom_unit_amount", "custom_unit_amount must be an object");
        if (prices_known_members(custom, "custom_unit_amount", prices_custom_fields, 2, err) !=
                C_OK ||
            prices_custom_member(custom, "minimum", &p->custom_minimum, err) != C_OK ||
            prices_custom_member(custom, "maximum", &p->custom_maximum, err) != C_OK)
            return C_ERR;
        if (p->custom_maximum < p->custom_minimum)
            return error_set(err, "custom_unit_amount.maximum",
                             "custom_unit_amount.maximum must be at least "
                             "custom_unit_amount.minimum");
    }
    if (has_unit && has_custom)
        return error_set(err, "custom_unit_amount",
                         "Give either unit_amount or custom_unit_amount, not both");
    if (!has_unit && !has_custom)
        return error_set(err, "unit_amount",
                         "unit_amount is required (or custom_unit_amount for a pay-what-you-want "
                         "price)");
    return C_OK;
}

/* The recurring object (not null): interval required, interval_count 1 by default. */
static int prices_recurring_object(const json_t *v, struct price *p, struct error *err)
{
    if (!json_is_object(v))
        return error_set(err, "recurring", "recurring must be an object");
    if (prices_known_members(v, "recurring", prices_recurring_fields, 2, err) != C_OK)
        return C_ERR;
    const json_t *interval = json_object_get(v, "interval");
    if (interval == NULL || json_is_null(interval))
        return error_set(err, "recurring.interval", "recurring.interval is required");
    const char *s = json_string_value(interval);
    bool known = false;
    for (size_t i = 0; s != NULL && price_intervals[i] != NULL && !known; i++)
        known = strcmp(s, price_intervals[i]) == 0 && strlen(s) == json_string_length(interval);
    if (!known)
        return error_set(err, "recurring.interval",
                         "recurring.interval must be day, week, month or year");
    snprintf(p->recurring_interval, sizeof(p->recurring_interval), "%s", s);
    p->recurring_interval_count = 1;
    const json_t *count = json_object_get(v, "interval_count");
    if (count == NULL || json_is_null(count))
        return C_OK;
    if (!json_is_number(count))
        return error_set(err, "recurring.interval_count",
                         "recurring.interval_count must be an integer");
    double d = json_is_integer(count) ? (double)json_integer_value(count) : json_real_value(count);
    if (!isfinite(d) || d != floor(d))
        return error_set(err, "recurring.interval_count",
                         "recurring.interval_count must be an integer");
    if (d < 1 || d > PRICE_INTERVAL_COUNT_MAX)
        return error_set(err, "recurring.interval_count",
                         "recurring.interval_count must be from 1 to %d", PRICE_INTERVAL_COUNT_MAX);
    p->recurring_interval_count = (int32_t)d;
    return C_OK;
}

/* type and recurring, which go together: a recurring price has recurring, a
 * one_time price has none; without type, recurring says which. */
static int prices_type(const json_t *body, struct price *p, struct error *err)
{
    const json_t *type = json_object_get(body, "type");
    const json_t *recurring = json_object_get(body, "recurring");
    bool has_recurring = recurring != NULL && !json_is_null(recurring);
    if (type != NULL && !json_is_null(type)) {
        const char *s = json_string_value(type);
        if (s != NULL && strcmp(s, "one_time") == 0 && strlen(s) == json_string_length(type))
            p->type = PRICE_ONE_TIME;
        else if (s != NULL && strcmp(s, "recurring") == 0 && strlen(s) == json_string_length(type))
            p->type = PRICE_RECURRING;
        else
            return error_set(err, "type", "type must be one_time or recurring");
    } else {
        p->type = has_recurring ? PRICE_RECURRING : PRICE_ONE_TIME;
    }
    if (has_recurring && prices_recurring_object(recurring, p, err) != C_OK)
        return C_ERR;
    if (p->type == PRICE_RECURRING && !has_recurring)
        return error_set(err, "recurring",
                         "recurring is required for a recurring price ({\"interval\": \"month\"}, "
                         "for example)");
    if (p->type == PRICE_ONE_TIME && has_recurring)
        return error_set(err, "recurring", "recurring must be null for a one_time price");
    if (p->type == PRICE_RECURRING && price_is_pay_what_you_want(p))
        return error_set(err, "custom_unit_amount",
                         "custom_unit_amount is only for one_time prices: a recurring price has a "
                         "unit_amount");
    return C_OK;
}

static int prices_metadata(const json_t *body, json_t **out, struct error *err)
{
    const json_t *v = json_object_get(body, "metadata");
    if (v == NULL || json_is_null(v))
        return C_OK;
    return validate_metadata_value(v, out, err);
}

int prices_validate_create(const json_t *body, const struct tenant_identity *who, void *obj,
                           struct error *err)
{
    struct price *p = obj;
    p->active = true;
    if (validate_known_fields(body, prices_fields, PRICES_NFIELDS, err) != C_OK ||
        prices_product_id(body, p, err) != C_OK || prices_currency(body, who, p, err) != C_OK ||
        prices_amounts(body, p, err) != C_OK || prices_type(body, p, err) != C_OK ||
        validate_optional_bool(body, "active", &p->active, err) != C_OK ||
        validate_optional_string(body, "nickname", PRICE_NICKNAME_MAX, &p->nickname, err) != C_OK ||
        prices_metadata(body, &p->metadata, err) != C_OK)
        return C_ERR;
    return C_OK;
}

/* ---- update -------------------------------------------------------------------------- */

/* Sets name to value in changes (stolen). */
static int prices_change(json_t *changes, const char *name, json_t *value, struct error *err)
{
    if (json_object_set_new(changes, name, value) != 0)
        return error_set(err, name, "out of memory");
    return C_OK;
}

static int prices_update_fields(const json_t *body, json_t *changes, struct error *err)
{
    const json_t *v = json_object_get(body, "active");
    if (v != NULL) {
        if (!json_is_boolean(v))
            return error_set(err, "active", "active must be a boolean");
        if (prices_change(changes, "active", json_boolean(json_is_true(v)), err) != C_OK)
            return C_ERR;
    }
    if (json_object_get(body, "nickname") != NULL) {
        char *nickname = NULL;
        int rc = validate_optional_string(body, "nickname", PRICE_NICKNAME_MAX, &nickname, err);
        if (rc == C_OK)
            rc = prices_change(changes, "nickname",
                               nickname != NULL ? json_string(nickname) : json_null(), err);
        free(nickname);
        if (rc != C_OK)
            return C_ERR;
    }
    if (json_object_get(body, "metadata") != NULL) {
        json_t *metadata = json_object();
        if (metadata == NULL)
            return error_set(err, "metadata", "out of memory");
        if (prices_metadata(body, &metadata, err) != C_OK) {
            json_decref(metadata);
            return C_ERR;
        }
        if (prices_change(changes, "metadata", metadata, err) != C_OK)
            return C_ERR;
    }
    return C_OK;
}

int prices_validate_update(const json_t *body, json_t **changes, struct error *err)
{
    *changes = NULL;
    if (!json_is_object(body))
        return error_set(err, NULL, "Request body must be a JSON object");
    for (size_t i = 0; i < PRICES_NFIXED; i++) {
        if (json_object_get(body, prices_fixed[i]) != NULL)
            return error_set(err, prices_fixed[i],
                             "%s cannot be changed: create a new price (and archive this one)",
                             prices_fixed[i]);
    }
    if (validate_known_fields(body, prices_updatable, PRICES_NUPDATABLE, err) != C_OK)
        return C_ERR;
    json_t *c = json_object();
    if (c == NULL)
        return error_set(err, NULL, "out of memory");
    if (prices_update_fields(body, c, err) != C_OK) {
        json_decref(c);
        return C_ERR;
    }
    *changes = c;
    return C_OK;
}

/* ---- the database's checks --------------------------------------------------------- */

/* The tenant's product id into *p, which the caller frees when *found. */
static enum catalog_check prices_read_product(struct db *db, const struct tenant_identity *who,
                                              const char *id, struct product *p, bool *found)
{
    *found = false;
    if (resource_store_get(db, &product_store, who->organization_id, who->environment, id, p,
                           found) != C_OK)
        return CATALOG_CHECK_UNAVAILABLE;
    return CATALOG_CHECK_OK;
}

enum catalog_check prices_check_create(struct db *db, const struct tenant_identity *who,
                                       const void *obj, struct error *err)
{
    const struct price *p = obj;
    struct product product;
    bool found;
    enum catalog_check rc = prices_read_product(db, who, p->product_id, &product, &found);
    if (rc != CATALOG_CHECK_OK)
        return rc;
    if (!found) {
        error_set(err, "product_id", "product_id %s not found", p->product_id);
        return CATALOG_CHECK_INVALID;
    }
    bool active = product.active;
    product_free(&product);
    if (!active) {
        error_set(err, "product_id",
                  "product_id %s is archived: prices can only be added to an active product",
                  p->product_id);
        return CATALOG_CHECK_INVALID;
    }
    return CATALOG_CHECK_OK;
}

enum catalog_check prices_check_update(struct db *db, const struct tenant_identity *who,
                                       const void *current, const json_t *changes,
                                       struct error *err)
{
    const struct price *p = current;
    /* Archiving the price a product falls back on would leave sessions made
     * from the product alone without a price (as Stripe, which refuses it). */
    if (!p->active || !json_is_false(json_object_get(changes, "active")))
        return CATALOG_CHECK_OK;
    struct product product;
    bool found;
    enum catalog_check rc = prices_read_product(db, who, p->product_id, &product, &found);
    if (rc != CATALOG_CHECK_OK || !found)
        return rc;
    bool is_default = strcmp(product.default_price_id, p->id) == 0;
    product_free(&product);
    if (is_default) {
        error_set(err, "active",
                  "Price %s is the default price of product %s: give the product another "
                  "default_price_id (or null) before archiving it",
                  p->id, p->product_id);
        return CATALOG_CHECK_INVALID;
    }
    return CATALOG_CHECK_OK;
}

const struct catalog_resource prices_catalog = {
    .store = &price_store,
    .validate_create = prices_validate_create,
    .validate_update = prices_validate_update,
    .check_create = prices_check_create,
    .check_update = prices_check_update,
};
