#include "validate.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "model/currency.h"
#include "core/error.h"
#include "core/result.h"
#include "core/utf8.h"
#include "core/rfc3339.h"
#include "core/uuid.h"

#define VALIDATE_MAX_AMOUNT 1000000000000LL
#define VALIDATE_MAX_QUANTITY 10000
#define VALIDATE_MAX_METADATA_KEYS 50
#define VALIDATE_MAX_METADATA_KEY 40
#define VALIDATE_MAX_METADATA_VALUE 2000
#define VALIDATE_MAX_URL 2048
/* 2^63: metadata numbers stay within int64's range, integer or not. */
#define VALIDATE_METADATA_NUMBER_LIMIT 9223372036854775808.0
#define VALIDATE_MAX_LIST_LIMIT 100

static const char *const validate_create_fields[] = {
    "amount",
    "currency_code",
    "title",
    "description",
    "customer_id",
    "customer_email",
    "customer_name",
    "customer_phone",
    "product_id",
    "price_id",
    "subscription_id",
    "allow_quantity",
    "quantity",
    "success_url",
    "cancel_url",
    "allow_coupon_code",
    "require_billing_address",
    "metadata",
    "expires_at",
    /* Read by the coupons' rules (gateway/coupons.h), which need the database. */
    "coupon_code",
};

int validate_email(const char *s)
{
    size_t len = strlen(s);
    const char *at = strchr(s, '@');
    if (len == 0 || len > 254 || at == NULL || at == s || strchr(at + 1, '@') != NULL)
        return C_ERR;
    if (at - s > 64)
        return C_ERR;
    for (const char *p = s; p < at; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),:;<>[\\]", c) != NULL)
            return C_ERR;
    }
    if (s[0] == '.' || at[-1] == '.' || strstr(s, "..") != NULL)
        return C_ERR;
    const char *domain = at + 1;
    size_t dlen = strlen(domain);
    if (dlen < 3 || strchr(domain, '.') == NULL || domain[0] == '.' || domain[0] == '-' ||
        domain[dlen - 1] == '.' || domain[dlen - 1] == '-')
        return C_ERR;
    for (const char *p = domain; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(isalnum(c) || c == '-' || c == '.' || c >= 0x80))
            return C_ERR;
    }
    return C_OK;
}

int validate_e164(const char *s)
{
    if (s[0] != '+')
        return C_ERR;
    size_t digits = strlen(s + 1);
    if (digits < 8 || digits > 15 || s[1] == '0')
        return C_ERR;
    for (const char *p = s + 1; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return C_ERR;
    }
    return C_OK;
}

int validate_http_url(const char *s)
{
    const char *rest;
    if (strncasecmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncasecmp(s, "http://", 7) == 0)
        rest = s + 7;
    else
        return C_ERR;
    /* A host must follow: not empty, not starting with a path, port or query. */
    if (*rest == '\0' || strchr("/?#:@", *rest) != NULL)
        return C_ERR;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '\\' || c == '"' || c == '<' || c == '>')
            return C_ERR;
    }
    return C_OK;
}

/* Optional string field: absent or null leaves *out NULL. */
int validate_optional_string(const json_t *body, const char *name, size_t max_chars, char **out,
                             struct error *err)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v))
        return C_OK;
    if (!json_is_string(v))
        return error_set(err, name, "%s must be a string", name);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return error_set(err, name, "%s must not contain NUL characters", name);
    if (utf8_length(s) > max_chars)
        return error_set(err, name, "%s must be at most %zu characters", name, max_chars);
    char *copy = strdup(s);
    if (copy == NULL)
        return error_set(err, name, "out of memory");
    free(*out);
    *out = copy;
    return C_OK;
}

int validate_optional_uuid(const json_t *body, const char *name, char out[UUID_STR_LEN],
                           struct error *err)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v))
        return C_OK;
    struct uuid u;
    if (!json_is_string(v) || uuid_parse(json_string_value(v), &u) != C_OK)
        return error_set(err, name, "%s must be a UUID", name);
    uuid_format(&u, out); /* canonical lower case */
    return C_OK;
}

int validate_optional_bool(const json_t *body, const char *name, bool *out, struct error *err)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v))
        return C_OK;
    if (!json_is_boolean(v))
        return error_set(err, name, "%s must be a boolean", name);
    *out = json_is_true(v);
    return C_OK;
}

static int validate_optional_url(const json_t *body, const char *name, char **out,
                                 struct error *err)
{
    if (validate_optional_string(body, name, SIZE_MAX, out, err) != C_OK)
        return C_ERR;
    if (*out == NULL)
        return C_OK;
    if (strlen(*out) > VALIDATE_MAX_URL)
        return error_set(err, name, "%s must be at most %d characters", name, VALIDATE_MAX_URL);
    if (validate_http_url(*out) != C_OK)
        return error_set(err, name, "%s must be an absolute http or https URL", name);
    return C_OK;
}

int validate_whole_number(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return C_OK;
    }
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9e15)
        return C_ERR;
    *out = (long long)d;
    return C_OK;
}

/* Whether body names a product or a price (not null), whose amount a
 * session may take instead of its own. */
static bool validate_names_catalog(const json_t *body)
{
    const json_t *product = json_object_get(body, "product_id");
    const json_t *price = json_object_get(body, "price_id");
    return (product != NULL && !json_is_null(product)) || (price != NULL && !json_is_null(price));
}

/* Whether body names a subscription (not null): a renewal session, whose
 * amount and customer are the subscription's (gateway/session_subscription.h). */
static bool validate_names_subscription(const json_t *body)
{
    const json_t *v = json_object_get(body, "subscription_id");
    return v != NULL && !json_is_null(v);
}

static int validate_amount(const json_t *body, struct session *out, struct error *err)
{
    const json_t *v = json_object_get(body, "amount");
    if (v == NULL || json_is_null(v)) {
        /* The catalog's price gives it (gateway/session_catalog.h), or the
         * renewed subscription's (gateway/session_subscription.h). */
        if (validate_names_catalog(body) || validate_names_subscription(body))
            return C_OK;
        return error_set(err, "amount", "amount is required");
    }
    if (!json_is_number(v))
        return error_set(err, "amount", "amount must be a number");
    long long amount;
    if (validate_whole_number(v, &amount) != C_OK) {
        if (json_is_real(v) && fabs(json_real_value(v)) > 9e15)
            return error_set(err, "amount", "amount must not exceed %lld", VALIDATE_MAX_AMOUNT);
        return error_set(err, "amount",
                         "amount must be a whole number of the currency's minor units");
    }
    if (amount <= 0)
        return error_set(err, "amount", "amount must be greater than 0");
    if (amount > VALIDATE_MAX_AMOUNT)
        return error_set(err, "amount", "amount must not exceed %lld", VALIDATE_MAX_AMOUNT);
    out->amount = amount;
    return C_OK;
}

static int validate_currency(const json_t *body, const char *default_currency, struct session *out,
                             struct error *err)
{
    const json_t *v = json_object_get(body, "currency_code");
    const char *code = default_currency;
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
    snprintf(out->currency_code, sizeof(out->currency_code), "%s", code);
    return C_OK;
}

static int validate_customer(const json_t *body, struct session *out, struct error *err)
{
    if (validate_optional_uuid(body, "customer_id", out->customer_id, err) != C_OK)
        return C_ERR;
    const json_t *email = json_object_get(body, "customer_email");
    if (email != NULL && !json_is_null(email)) {
        if (!json_is_string(email))
            return error_set(err, "customer_email", "customer_email must be a string");
        if (json_string_length(email) > 254)
            return error_set(err, "customer_email",
                             "customer_email must be at most 254 characters");
        if (validate_email(json_string_value(email)) != C_OK)
            return error_set(err, "customer_email", "customer_email must be a valid email address");
        if (validate_optional_string(body, "customer_email", 254, &out->customer_email, err) !=
            C_OK)
            return C_ERR;
    }
    if (out->customer_id[0] == '\0' && out->customer_email == NULL &&
        !validate_names_subscription(body))
        return error_set(err, "customer_email", "Either customer_id or customer_email is required");
    if (validate_optional_string(body, "customer_name", 250, &out->customer_name, err) != C_OK)
        return C_ERR;
    /* No length bound here: validate_e164 bounds it with the E.164 message. */
    if (validate_optional_string(body, "customer_phone", SIZE_MAX, &out->customer_phone, err) !=
        C_OK)
        return C_ERR;
    if (out->customer_phone != NULL && validate_e164(out->customer_phone) != C_OK)
        return error_set(err, "customer_phone",
                         "customer_phone must be in E.164 format (+ followed by 8 to 15 digits)");
    return C_OK;
}

static int validate_quantity(const json_t *body, struct session *out, struct error *err)
{
    const json_t *v = json_object_get(body, "quantity");
    if (v == NULL || json_is_null(v))
        return C_OK;
    long long q;
    if (!json_is_number(v) || validate_whole_number(v, &q) != C_OK)
        return error_set(err, "quantity", "quantity must be an integer");
    if (q < 1)
        return error_set(err, "quantity", "Quantity must be greater than 0");
    if (q > VALIDATE_MAX_QUANTITY)
        return error_set(err, "quantity", "quantity must be at most %d", VALIDATE_MAX_QUANTITY);
    out->quantity = (int32_t)q;
    return C_OK;
}

/* The metadata rules of every object that carries metadata; v is the value
 * given (not null). *out gets a copy. */
int validate_metadata_value(const json_t *v, json_t **out, struct error *err)
{
    if (!json_is_object(v))
        return error_set(err, "metadata", "metadata must be an object");
    if (json_object_size(v) > VALIDATE_MAX_METADATA_KEYS)
        return error_set(err, "metadata", "metadata must have at most %d keys",
                         VALIDATE_MAX_METADATA_KEYS);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        if (key[0] == '\0' || utf8_length(key) > VALIDATE_MAX_METADATA_KEY)
            return error_set(err, "metadata", "metadata keys must be 1 to %d characters",
                             VALIDATE_MAX_METADATA_KEY);
        if (json_is_string(value)) {
            /* PostgreSQL cannot store U+0000 in jsonb: it must not reach the worker. */
            if (strlen(json_string_value(value)) != json_string_length(value))
                return error_set(err, "metadata",
                                 "metadata values must not contain NUL characters");
            if (utf8_length(json_string_value(value)) > VALIDATE_MAX_METADATA_VALUE)
                return error_set(err, "metadata", "metadata values must be at most %d characters",
                                 VALIDATE_MAX_METADATA_VALUE);
        } else if (!json_is_number(value) && !json_is_boolean(value)) {
            return error_set(err, "metadata",
                             "metadata values must be strings, numbers or booleans");
        } else if (json_is_real(value) &&
                   (json_real_value(value) < -VALIDATE_METADATA_NUMBER_LIMIT ||
                    json_real_value(value) >= VALIDATE_METADATA_NUMBER_LIMIT)) {
            /* PostgreSQL gives such a number back as an integer past int64. */
            return error_set(err, "metadata",
                             "metadata numbers must be from -9223372036854775808 to "
                             "9223372036854775807");
        }
    }
    json_t *copy = json_deep_copy(v);
    if (copy == NULL)
        return error_set(err, "metadata", "out of memory");
    json_decref(*out);
    *out = copy;
    return C_OK;
}

static int validate_metadata(const json_t *body, struct session *out, struct error *err)
{
    const json_t *v = json_object_get(body, "metadata");
    if (v == NULL || json_is_null(v))
        return C_OK;
    return validate_metadata_value(v, &out->metadata, err);
}

static int validate_expires_at(const json_t *body, const struct validate_create_options *opt,
                               struct session *out, struct error *err)
{
    const json_t *v = json_object_get(body, "expires_at");
    if (v == NULL || json_is_null(v)) {
        out->expires_at = opt->now + opt->default_ttl_seconds;
        return C_OK;
    }
    int64_t t;
    if (!json_is_string(v) || rfc3339_parse(json_string_value(v), &t) != C_OK)
        return error_set(err, "expires_at", "expires_at must be an RFC 3339 date-time");
    if (t < opt->now + opt->min_ttl_seconds || t > opt->now + opt->max_ttl_seconds)
        return error_set(err, "expires_at",
                         "expires_at must be between %ld minutes and %ld hours from now",
                         opt->min_ttl_seconds / 60, opt->max_ttl_seconds / 3600);
    out->expires_at = t;
    return C_OK;
}

int validate_create_request(const json_t *body, const struct validate_create_options *opt,
                            struct session *out, struct error *err)
{
    if (!json_is_object(body))
        return error_set(err, NULL, "Request body must be a JSON object");
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)body, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(validate_create_fields) / sizeof(*validate_create_fields);
             i++)
            known = known || strcmp(key, validate_create_fields[i]) == 0;
        if (!known) {
            char shown[64];
            utf8_truncate(key, shown, sizeof(shown));
            return error_set(err, shown, "Unknown parameter: %s", shown);
        }
    }
    if (validate_amount(body, out, err) != C_OK ||
        validate_currency(body, opt->default_currency, out, err) != C_OK ||
        validate_customer(body, out, err) != C_OK ||
        validate_optional_string(body, "title", 250, &out->title, err) != C_OK ||
        validate_optional_string(body, "description", 2000, &out->description, err) != C_OK ||
        validate_optional_uuid(body, "product_id", out->product_id, err) != C_OK ||
        validate_optional_uuid(body, "price_id", out->price_id, err) != C_OK ||
        validate_optional_uuid(body, "subscription_id", out->subscription_id, err) != C_OK ||
        validate_optional_bool(body, "allow_quantity", &out->allow_quantity, err) != C_OK ||
        validate_quantity(body, out, err) != C_OK ||
        validate_optional_url(body, "success_url", &out->success_url, err) != C_OK ||
        validate_optional_url(body, "cancel_url", &out->cancel_url, err) != C_OK ||
        validate_optional_bool(body, "allow_coupon_code", &out->allow_coupon_code, err) != C_OK ||
        validate_optional_bool(body, "require_billing_address", &out->require_billing_address,
                               err) != C_OK ||
        validate_metadata(body, out, err) != C_OK ||
        validate_expires_at(body, opt, out, err) != C_OK)
        return C_ERR;
    return C_OK;
}

int validate_list_query(const char *status, const char *limit, const char *offset,
                        const char *starting_after, struct session_list_query *out,
                        struct error *err)
{
    struct session_list_query q = {.limit = 20, .offset = 0};
    if (status != NULL) {
        if (session_status_parse(status, &q.status) != C_OK)
            return error_set(err, "status", "status must be one of open, complete, expired");
        q.has_status = true;
    }
    if (limit != NULL && config_parse_long(limit, 1, VALIDATE_MAX_LIST_LIMIT, &q.limit) != C_OK)
        return error_set(err, "limit", "limit must be an integer from 1 to %d",
                         VALIDATE_MAX_LIST_LIMIT);
    /* A deep offset makes PostgreSQL walk and drop every row before it: capped,
     * so one request cannot cost a scan of a big tenant's whole history;
     * starting_after is the way further, at the cost of one index lookup. */
    if (offset != NULL && config_parse_long(offset, 0, LONG_MAX, &q.offset) != C_OK)
        return error_set(err, "offset", "offset must be a non-negative integer");
    if (q.offset > VALIDATE_MAX_LIST_OFFSET)
        return error_set(err, "offset",
                         "offset must be at most %d; use starting_after to page further",
                         VALIDATE_MAX_LIST_OFFSET);
    if (starting_after != NULL) {
        struct uuid u;
        if (uuid_parse(starting_after, &u) != C_OK)
            return error_set(err, "starting_after",
                             "starting_after must be a checkout session id (UUID)");
        uuid_format(&u, q.starting_after);
    }
    *out = q;
    return C_OK;
}

/* ---- webhooks --------------------------------------------------------------- */

#define VALIDATE_MAX_ENDPOINT_DESCRIPTION 2000

static const char *const validate_webhook_endpoint_fields[] = {
    "url", "enabled_events", "description", "metadata", "disabled",
};

/* 400 for any field but the first n_allowed of the table. */
int validate_known_fields(const json_t *body, const char *const *fields, size_t n_allowed,
                          struct error *err)
{
    if (!json_is_object(body))
        return error_set(err, NULL, "Request body must be a JSON object");
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)body, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < n_allowed; i++)
            known = known || strcmp(key, fields[i]) == 0;
        if (!known) {
            char shown[64];
            utf8_truncate(key, shown, sizeof(shown));
            return error_set(err, shown, "Unknown parameter: %s", shown);
        }
    }
    return C_OK;
}

/* Only the shape: the address rules (scheme, https for live keys, where the
 * host resolves) need the operator's allowlist and are netguard's, checked
 * by the caller afterwards. */
static int validate_endpoint_url(const json_t *v, struct webhook_endpoint_input *out,
                                 struct error *err)
{
    if (v == NULL || json_is_null(v))
        return error_set(err, "url", "url is required");
    if (!json_is_string(v))
        return error_set(err, "url", "url must be a string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return error_set(err, "url", "url must not contain NUL characters");
    if (json_string_length(v) > VALIDATE_MAX_URL)
        return error_set(err, "url", "url must be at most %d characters", VALIDATE_MAX_URL);
    char *copy = strdup(json_string_value(v));
    if (copy == NULL)
        return error_set(err, "url", "out of memory");
    free(out->url);
    out->url = copy;
    out->has_url = true;
    return C_OK;
}

static int validate_enabled_events(const json_t *v, struct webhook_endpoint_input *out,
                                   struct error *err)
{
    char types[ERROR_MESSAGE_MAX], expected[ERROR_MESSAGE_MAX + 8];
    webhook_endpoint_event_types_text(types, sizeof(types));
    snprintf(expected, sizeof(expected), "%s or *", types);
    if (v == NULL || json_is_null(v))
        return error_set(err, "enabled_events", "enabled_events is required");
    if (!json_is_array(v))
        return error_set(err, "enabled_events", "enabled_events must be an array");
    if (json_array_size(v) == 0)
        return error_set(err, "enabled_events", "enabled_events must not be empty");
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return error_set(err, "enabled_events", "enabled_events must contain only strings (%s)",
                             expected);
        const char *name = json_string_value(item);
        if (strlen(name) != json_string_length(item) ||
            !webhook_endpoint_event_type_is_valid(name)) {
            char shown[64];
            utf8_truncate(name, shown, sizeof(shown)); /* bound what we echo back */
            return error_set(err, "enabled_events",
                             "Unsupported event type in enabled_events: %s (expected %s)", shown,
                             expected);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(name, json_string_value(json_array_get(v, j))) == 0)
                return error_set(err, "enabled_events",
                                 "enabled_events must not contain duplicates: %s", name);
        }
    }
    json_t *copy = json_deep_copy(v);
    if (copy == NULL)
        return error_set(err, "enabled_events", "out of memory");
    json_decref(out->enabled_events);
    out->enabled_events = copy;
    out->has_enabled_events = true;
    return C_OK;
}

/* The fields both create and update accept, when present; null description
 * clears it, null metadata empties it. */
static int validate_endpoint_optional(const json_t *body, struct webhook_endpoint_input *out,
                                      struct error *err)
{
    if (json_object_get(body, "description") != NULL) {
        out->has_description = true;
        if (validate_optional_string(body, "description", VALIDATE_MAX_ENDPOINT_DESCRIPTION,
                                     &out->description, err) != C_OK)
            return C_ERR;
    }
    const json_t *metadata = json_object_get(body, "metadata");
    if (metadata != NULL) {
        out->has_metadata = true;
        if (json_is_null(metadata)) {
            json_decref(out->metadata);
            out->metadata = json_object();
            if (out->metadata == NULL)
                return error_set(err, "metadata", "out of memory");
        } else if (validate_metadata_value(metadata, &out->metadata, err) != C_OK) {
            return C_ERR;
        }
    }
    return C_OK;
}

int validate_webhook_endpoint_create(const json_t *body, struct webhook_endpoint_input *out,
                                     struct error *err)
{
    /* disabled is for PATCH only: a new endpoint starts enabled. */
    size_t n = sizeof(validate_webhook_endpoint_fields) / sizeof(*validate_webhook_endpoint_fields);
    if (validate_known_fields(body, validate_webhook_endpoint_fields, n - 1, err) != C_OK ||
        validate_endpoint_url(json_object_get(body, "url"), out, err) != C_OK ||
        validate_enabled_events(json_object_get(body, "enabled_events"), out, err) != C_OK ||
        validate_endpoint_optional(body, out, err) != C_OK)
        return C_ERR;
    return C_OK;
}

int validate_webhook_endpoint_update(const json_t *body, struct webhook_endpoint_input *out,
                                     struct error *err)
{
    size_t n = sizeof(validate_webhook_endpoint_fields) / sizeof(*validate_webhook_endpoint_fields);
    if (validate_known_fields(body, validate_webhook_endpoint_fields, n, err) != C_OK)
        return C_ERR;
    /* A present field must be valid; url and enabled_events cannot be removed. */
    if (json_object_get(body, "url") != NULL &&
        validate_endpoint_url(json_object_get(body, "url"), out, err) != C_OK)
        return C_ERR;
    if (json_object_get(body, "enabled_events") != NULL &&
        validate_enabled_events(json_object_get(body, "enabled_events"), out, err) != C_OK)
        return C_ERR;
    if (validate_endpoint_optional(body, out, err) != C_OK)
        return C_ERR;
    const json_t *disabled = json_object_get(body, "disabled");
    if (disabled != NULL) {
        if (!json_is_boolean(disabled))
            return error_set(err, "disabled", "disabled must be a boolean");
        out->has_disabled = true;
        out->disabled = json_is_true(disabled);
    }
    return C_OK;
}

int validate_page_query(const char *limit, const char *starting_after, const char *noun,
                        long *limit_out, char starting_after_out[UUID_STR_LEN], struct error *err)
{
    *limit_out = 20;
    starting_after_out[0] = '\0';
    if (limit != NULL && config_parse_long(limit, 1, VALIDATE_MAX_LIST_LIMIT, limit_out) != C_OK)
        return error_set(err, "limit", "limit must be an integer from 1 to %d",
                         VALIDATE_MAX_LIST_LIMIT);
    if (starting_after != NULL) {
        struct uuid u;
        if (uuid_parse(starting_after, &u) != C_OK)
            return error_set(err, "starting_after", "starting_after must be %s id (UUID)", noun);
        uuid_format(&u, starting_after_out);
    }
    return C_OK;
}

int validate_event_type(const char *type, struct error *err)
{
    if (type == NULL || strcmp(type, WEBHOOK_EVENT_ANY) == 0 ||
        !webhook_endpoint_event_type_is_valid(type)) {
        char types[ERROR_MESSAGE_MAX];
        webhook_endpoint_event_types_text(types, sizeof(types));
        return error_set(err, "type", "type must be one of %s", types);
    }
    return C_OK;
}

int validate_idempotency_key(const char *key, struct error *err)
{
    size_t len = strlen(key);
    /* Bytes PostgreSQL would refuse as text must be a 400, not a failed
     * statement (a 503 a client would retry forever). */
    if (len > 0 && !utf8_valid(key, len))
        return error_set(err, "Idempotency-Key",
                         "Idempotency-Key must be UTF-8 text without control characters");
    size_t chars = utf8_length(key);
    if (chars == 0 || chars > 255)
        return error_set(err, "Idempotency-Key", "Idempotency-Key must be 1 to 255 characters");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f)
            return error_set(err, "Idempotency-Key",
                             "Idempotency-Key must be UTF-8 text without control characters");
    }
    return C_OK;
}
