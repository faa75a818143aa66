#include "coupons.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "model/currency.h"
#include "model/product.h"
#include "validate.h"

static const char *const coupons_create_fields[] = {
    "code",        "percent_off",     "amount_off", "currency_code", "valid_from",
    "valid_until", "max_redemptions", "applies_to", "active",        "metadata"};
static const char *const coupons_update_fields[] = {"active", "valid_until", "max_redemptions",
                                                    "metadata"};
/* Fixed at creation: a PATCH that names one is told so, not "unknown". */
static const char *const coupons_fixed_fields[] = {"code",          "percent_off", "amount_off",
                                                   "currency_code", "valid_from",  "applies_to",
                                                   "times_redeemed"};
#define COUPONS_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The first and last seconds of the API's four-digit years (0001 to 9999). */
#define COUPONS_TIME_MIN (-62135596800LL)
#define COUPONS_TIME_MAX 253402300799LL

static bool coupons_is_given(const json_t *v)
{
    return v != NULL && !json_is_null(v);
}

static int coupons_code(const json_t *v, char **out, struct error *err)
{
    if (!coupons_is_given(v))
        return error_set(err, "code", "code is required");
    if (!json_is_string(v))
        return error_set(err, "code", "code must be a string");
    const char *s = json_string_value(v);
    /* A NUL inside is not of the code's alphabet either. */
    if (strlen(s) != json_string_length(v) || !coupon_code_is_valid(s))
        return error_set(err, "code",
                         "code must be 1 to %d characters, each a letter, a digit, _ or -",
                         COUPON_CODE_MAX);
    char *copy = strdup(s);
    if (copy == NULL)
        return error_set(err, "code", "out of memory");
    free(*out);
    *out = copy;
    return C_OK;
}

static int coupons_percent_off(const json_t *v, int32_t *out, struct error *err)
{
    if (!json_is_number(v))
        return error_set(err, "percent_off", "percent_off must be a number");
    int64_t bp = 0;
    double d = json_number_value(v);
    bool in_range = isfinite(d) && d > 0 && d <= 100;
    if (in_range && resource_hundredths_from_json(v, &bp) != C_OK)
        return error_set(err, "percent_off", "percent_off must have at most 2 decimal places");
    if (!in_range || bp < 1 || bp > DISCOUNT_BP_MAX)
        return error_set(err, "percent_off", "percent_off must be greater than 0 and at most 100");
    *out = (int32_t)bp;
    return C_OK;
}

/* A JSON number that is a whole value (10000.0 counts) within int64. */
static bool coupons_whole(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9e15)
        return false;
    *out = (int64_t)d;
    return true;
}

static int coupons_amount_off(const json_t *v, int64_t *out, struct error *err)
{
    if (!json_is_number(v))
        return error_set(err, "amount_off", "amount_off must be a number");
    int64_t amount;
    if (!coupons_whole(v, &amount)) {
        if (json_is_real(v) && fabs(json_real_value(v)) > 9e15)
            return error_set(err, "amount_off", "amount_off must not exceed %lld",
                             COUPON_AMOUNT_OFF_MAX);
        return error_set(err, "amount_off",
                         "amount_off must be a whole number of the currency's minor units");
    }
    if (amount <= 0)
        return error_set(err, "amount_off", "amount_off must be greater than 0");
    if (amount > COUPON_AMOUNT_OFF_MAX)
        return error_set(err, "amount_off", "amount_off must not exceed %lld",
                         COUPON_AMOUNT_OFF_MAX);
    *out = amount;
    return C_OK;
}

static int coupons_currency(const json_t *v, char out[4], struct error *err)
{
    if (!json_is_string(v))
        return error_set(err, "currency_code", "currency_code must be a string");
    const char *code = json_string_value(v);
    if (strlen(code) != json_string_length(v))
        return error_set(err, "currency_code", "currency_code must not contain NUL characters");
    if (currency_find(code) == NULL) {
        char shown[16];
        utf8_truncate(code, shown, sizeof(shown)); /* bound what we echo back */
        return error_set(err, "currency_code", "Unsupported currency_code: %s", shown);
    }
    memcpy(out, code, 4);
    return C_OK;
}

/* The discount: percent_off, or amount_off with its currency_code. */
static int coupons_discount(const json_t *body, struct coupon *c, struct error *err)
{
    const json_t *percent = json_object_get(body, "percent_off");
    const json_t *amount = json_object_get(body, "amount_off");
    const json_t *currency = json_object_get(body, "currency_code");
    if (coupons_is_given(percent) && coupons_percent_off(percent, &c->percent_off_bp, err) != C_OK)
        return C_ERR;
    if (coupons_is_given(amount) && coupons_amount_off(amount, &c->amount_off, err) != C_OK)
        return C_ERR;
    if (coupons_is_given(percent) && coupons_is_given(amount))
        return error_set(err, "amount_off", "Give either percent_off or amount_off, not both");
    if (!coupons_is_given(percent) && !coupons_is_given(amount))
        return error_set(err, "percent_off", "Either percent_off or amount_off is required");
    if (coupons_is_given(percent)) {
        if (coupons_is_given(currency))
            return error_set(err, "currency_code",
                             "currency_code goes with amount_off only: a percentage applies in "
                             "any currency");
        return C_OK;
    }
    if (!coupons_is_given(currency))
        return error_set(err, "currency_code", "currency_code is required with amount_off");
    return coupons_currency(currency, c->currency_code, err);
}

/* A time member given (not null): RFC 3339 within the years the API shows. */
static int coupons_time(const json_t *v, const char *name, int64_t *out, struct error *err)
{
    int64_t t;
    if (!json_is_string(v) || rfc3339_parse(json_string_value(v), &t) != C_OK)
        return error_set(err, name, "%s must be an RFC 3339 date-time", name);
    if (t < COUPONS_TIME_MIN || t > COUPONS_TIME_MAX)
        return error_set(err, name, "%s must be within the years 1 to 9999", name);
    *out = t;
    return C_OK;
}

static int coupons_max_redemptions(const json_t *v, int32_t *out, struct error *err)
{
    int64_t n;
    if (!json_is_number(v) || !coupons_whole(v, &n))
        return error_set(err, "max_redemptions", "max_redemptions must be an integer");
    if (n < 1)
        return error_set(err, "max_redemptions", "max_redemptions must be at least 1");
    if (n > INT32_MAX)
        return error_set(err, "max_redemptions", "max_redemptions must be at most %d", INT32_MAX);
    *out = (int32_t)n;
    return C_OK;
}

/* applies_to: absent, null or {"product_ids": [ids]} (absent or null ids:
 * all); *out gets {"product_ids": [...]} with the ids in canonical lower case,
 * [] for all, whatever the generic init left in it. */
static int coupons_applies_to(const json_t *v, json_t **out, struct error *err)
{
    const char *param = "applies_to.product_ids";
    if (v != NULL && !json_is_null(v) && !json_is_object(v))
        return error_set(err, "applies_to", "applies_to must be an object");
    const char *key;
    const json_t *member;
    json_object_foreach((json_t *)v, key, member)
    {
        if (strcmp(key, "product_ids") != 0) {
            char shown[64];
            utf8_truncate(key, shown, sizeof(shown));
            return error_set(err, "applies_to", "Unknown parameter: applies_to.%s", shown);
        }
    }
    /* Absent or null: every product, said as the object every coupon has. */
    const json_t *ids = json_object_get(v, "product_ids");
    json_t *canonical = json_array();
    if (canonical == NULL)
        return error_set(err, param, "out of memory");
    if (coupons_is_given(ids) && !json_is_array(ids)) {
        json_decref(canonical);
        return error_set(err, param, "%s must be an array of product ids", param);
    }
    if (json_array_size(ids) > COUPON_PRODUCT_IDS_MAX) {
        json_decref(canonical);
        return error_set(err, param, "%s must have at most %d ids", param, COUPON_PRODUCT_IDS_MAX);
    }
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const json_t *id = json_array_get(ids, i);
        struct uuid u;
        char text[UUID_STR_LEN];
        if (!json_is_string(id) || uuid_parse(json_string_value(id), &u) != C_OK) {
            json_decref(canonical);
            return error_set(err, param, "%s must hold product ids (UUIDs)", param);
        }
        uuid_format(&u, text);
        for (size_t k = 0; k < json_array_size(canonical); k++) {
            if (strcmp(json_string_value(json_array_get(canonical, k)), text) == 0) {
                json_decref(canonical);
                return error_set(err, param, "%s names %s twice", param, text);
            }
        }
        if (json_array_append_new(canonical, json_string(text)) != 0) {
            json_decref(canonical);
            return error_set(err, param, "out of memory");
        }
    }
    json_t *applies = json_pack("{so}", "product_ids", canonical);
    if (applies == NULL)
        return error_set(err, param, "out of memory");
    json_decref(*out);
    *out = applies;
    return C_OK;
}

int coupons_validate_create(const json_t *body, const struct tenant_identity *who, void *obj,
                            struct error *err)
{
    (void)who;
    struct coupon *c = obj;
    c->active = true;
    const json_t *from = json_object_get(body, "valid_from");
    const json_t *until = json_object_get(body, "valid_until");
    const json_t *max = json_object_get(body, "max_redemptions");
    const json_t *metadata = json_object_get(body, "metadata");
    if (validate_known_fields(body, coupons_create_fields, COUPONS_NELEMS(coupons_create_fields),
                              err) != C_OK ||
        coupons_code(json_object_get(body, "code"), &c->code, err) != C_OK ||
        coupons_discount(body, c, err) != C_OK)
        return C_ERR;
    if (coupons_is_given(from) && coupons_time(from, "valid_from", &c->valid_from, err) != C_OK)
        return C_ERR;
    if (coupons_is_given(until) && coupons_time(until, "valid_until", &c->valid_until, err) != C_OK)
        return C_ERR;
    if (coupons_is_given(from) && coupons_is_given(until) && c->valid_until <= c->valid_from)
        return error_set(err, "valid_until", "valid_until must be after valid_from");
    if (coupons_is_given(max) && coupons_max_redemptions(max, &c->max_redemptions, err) != C_OK)
        return C_ERR;
    if (coupons_applies_to(json_object_get(body, "applies_to"), &c->applies_to, err) != C_OK ||
        validate_optional_bool(body, "active", &c->active, err) != C_OK)
        return C_ERR;
    if (coupons_is_given(metadata) && validate_metadata_value(metadata, &c->metadata, err) != C_OK)
        return C_ERR;
    return C_OK;
}

/* Sets name to value in changes (stolen). */
static int coupons_change(json_t *changes, const char *name, json_t *value, struct error *err)
{
    if (json_object_set_new(changes, name, value) != 0)
        return error_set(err, name, "out of memory");
    return C_OK;
}

/* Each member of a PATCH body, in order: one to change, one fixed at
 * creation ("cannot be changed"), or unknown. */
static int coupons_update_members(const json_t *body, struct error *err)
{
    if (!json_is_object(body))
        return error_set(err, NULL, "Request body must be a JSON object");
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)body, key, value)
    {
        for (size_t i = 0; i < COUPONS_NELEMS(coupons_fixed_fields); i++) {
            if (strcmp(key, coupons_fixed_fields[i]) == 0)
                return error_set(err, key, "%s cannot be changed", key);
        }
        bool known = false;
        for (size_t i = 0; i < COUPONS_NELEMS(coupons_update_fields); i++)
            known = known || strcmp(key, coupons_update_fields[i]) == 0;
        if (!known) {
            char shown[64];
            utf8_truncate(key, shown, sizeof(shown));
            return error_set(err, shown, "Unknown parameter: %s", shown);
        }
    }
    return C_OK;
}

static int coupons_read_changes(const json_t *body, json_t *changes, struct error *err)
{
    const json_t *v;
    if ((v = json_object_get(body, "active")) != NULL) {
        if (!json_is_boolean(v))
            return error_set(err, "active", "active must be a boolean");
        if (coupons_change(changes, "active", json_boolean(json_is_true(v)), err) != C_OK)
            return C_ERR;
    }
    if ((v = json_object_get(body, "valid_until")) != NULL) {
        int64_t t = 0;
        if (!json_is_null(v) && coupons_time(v, "valid_until", &t, err) != C_OK)
            return C_ERR;
        if (coupons_change(changes, "valid_until",
                           json_is_null(v) ? json_null() : rfc3339_to_json(t), err) != C_OK)
            return C_ERR;
    }
    if ((v = json_object_get(body, "max_redemptions")) != NULL) {
        int32_t n = 0;
        if (!json_is_null(v) && coupons_max_redemptions(v, &n, err) != C_OK)
            return C_ERR;
        if (coupons_change(changes, "max_redemptions",
                           json_is_null(v) ? json_null() : json_integer(n), err) != C_OK)
            return C_ERR;
    }
    if ((v = json_object_get(body, "metadata")) != NULL) {
        json_t *metadata = json_object();
        if (metadata == NULL)
            return error_set(err, "metadata", "out of memory");
        if (!json_is_null(v) && validate_metadata_value(v, &metadata, err) != C_OK) {
            json_decref(metadata);
            return C_ERR;
        }
        if (coupons_change(changes, "metadata", metadata, err) != C_OK)
            return C_ERR;
    }
    return C_OK;
}

int coupons_validate_update(const json_t *body, json_t **changes, struct error *err)
{
    *changes = NULL;
    if (coupons_update_members(body, err) != C_OK)
        return C_ERR;
    json_t *c = json_object();
    if (c == NULL)
        return error_set(err, NULL, "out of memory");
    if (coupons_read_changes(body, c, err) != C_OK) {
        json_decref(c);
        return C_ERR;
    }
    *changes = c;
    return C_OK;
}

enum catalog_check coupons_check_create(struct db *db, const struct tenant_identity *who,
                                        const void *obj, struct error *err)
{
    const struct coupon *c = obj;
    const json_t *ids = json_object_get(c->applies_to, "product_ids");
    for (size_t i = 0; i < json_array_size(ids); i++) {
        enum catalog_check check =
            catalog_check_reference(db, who, &product_store, "applies_to.product_ids",
                                    json_string_value(json_array_get(ids, i)), err);
        if (check != CATALOG_CHECK_OK)
            return check;
    }
    return CATALOG_CHECK_OK;
}

enum catalog_check coupons_check_update(struct db *db, const struct tenant_identity *who,
                                        const void *current, const json_t *changes,
                                        struct error *err)
{
    (void)db;
    (void)who;
    const struct coupon *c = current;
    const json_t *until = json_object_get(changes, "valid_until");
    int64_t t;
    if (coupons_is_given(until) && c->valid_from != RESOURCE_NULL_INT64 &&
        rfc3339_parse(json_string_value(until), &t) == C_OK && t <= c->valid_from) {
        error_set(err, "valid_until", "valid_until must be after valid_from");
        return CATALOG_CHECK_INVALID;
    }
    const json_t *max = json_object_get(changes, "max_redemptions");
    if (coupons_is_given(max) && json_integer_value(max) < c->times_redeemed) {
        error_set(err, "max_redemptions", "max_redemptions must be at least times_redeemed (%d)",
                  (int)c->times_redeemed);
        return CATALOG_CHECK_INVALID;
    }
    return CATALOG_CHECK_OK;
}

/* ---- coupons on sessions ------------------------------------------------------------ */

int coupons_session_code(const json_t *body, char code[COUPON_CODE_MAX + 1], struct error *err)
{
    const json_t *v = json_object_get(body, "coupon_code");
    code[0] = '\0';
    if (!coupons_is_given(v))
        return C_OK;
    if (!json_is_string(v))
        return error_set(err, "coupon_code", "coupon_code must be a string");
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || !coupon_code_is_valid(s)) {
        char shown[COUPON_CODE_MAX + 1];
        utf8_truncate(s, shown, sizeof(shown)); /* bound what we echo back */
        return error_set(err, "coupon_code", "No coupon with code %s", shown);
    }
    memcpy(code, s, strlen(s) + 1);
    return C_OK;
}

enum catalog_check coupons_apply_to_session(struct db *db, const struct tenant_identity *who,
                                            const char *code, int64_t now, struct session *s,
                                            struct error *err)
{
    s->amount_subtotal = s->amount;
    s->amount_discount = 0;
    s->amount_total = s->amount;
    if (code[0] == '\0')
        return CATALOG_CHECK_OK;
    struct coupon c;
    bool found = false;
    if (coupon_find_by_code(db, who->organization_id, who->environment, code, &c, &found) != C_OK) {
        error_set(err, NULL, "cannot read the coupon");
        return CATALOG_CHECK_UNAVAILABLE;
    }
    struct discount_purchase p = {.subtotal = s->amount,
                                  .currency = currency_find(s->currency_code),
                                  .product_id = s->product_id,
                                  .now = now};
    int64_t discount = 0;
    enum discount_refusal r = DISCOUNT_UNKNOWN;
    /* A currency the table no longer supports cannot take an amount off. */
    if (p.currency != NULL)
        r = coupon_discount(found ? &c : NULL, &p, &discount);
    else if (found)
        r = DISCOUNT_WRONG_CURRENCY;
    enum catalog_check check = CATALOG_CHECK_OK;
    char *stored_code = NULL;
    if (r != DISCOUNT_APPLIES) {
        char message[300];
        static const struct currency none = {"", 0, ""};
        if (p.currency == NULL)
            p.currency = &none;
        coupon_refusal_message(r, found ? &c : NULL, code, &p, message, sizeof(message));
        error_set(err, "coupon_code", "%s", message);
        check = CATALOG_CHECK_INVALID;
    } else if ((stored_code = strdup(c.code)) == NULL) {
        error_set(err, NULL, "out of memory");
        check = CATALOG_CHECK_UNAVAILABLE;
    } else {
        s->amount_discount = discount;
        s->amount_total = s->amount - discount;
        memcpy(s->coupon_id, c.id, sizeof(s->coupon_id));
        free(s->coupon_code);
        s->coupon_code = stored_code;
    }
    if (found)
        coupon_free(&c);
    return check;
}

const struct catalog_resource coupons_catalog = {
    .store = &coupon_store,
    .validate_create = coupons_validate_create,
    .validate_update = coupons_validate_update,
    .check_create = coupons_check_create,
    .check_update = coupons_check_update,
};
