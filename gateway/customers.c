#include "customers.h"

#include <assert.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/utf8.h"
#include "country.h"
#include "validate.h"

/* A rule of a member of the body: *out is the member's new value, as the
 * customer's REST object holds it (JSON null clears it). Called only for a
 * member the body has. */
typedef int (*customers_rule_fn)(const json_t *body, json_t **out, struct error *err);

/* *out = a new JSON string of s, taken from the caller (s freed). */
static int customers_string(char *s, const char *name, json_t **out, struct error *err)
{
    *out = json_string(s);
    free(s);
    return *out != NULL ? C_OK : error_set(err, name, "out of memory");
}

static int customers_email(const json_t *body, json_t **out, struct error *err)
{
    const json_t *v = json_object_get(body, "email");
    if (json_is_null(v))
        return (*out = json_null()) != NULL ? C_OK : error_set(err, "email", "out of memory");
    if (!json_is_string(v))
        return error_set(err, "email", "email must be a string");
    if (json_string_length(v) > CUSTOMER_EMAIL_MAX)
        return error_set(err, "email", "email must be at most %d characters", CUSTOMER_EMAIL_MAX);
    if (validate_email(json_string_value(v)) != C_OK)
        return error_set(err, "email", "email must be a valid email address");
    char *email = NULL;
    if (validate_optional_string(body, "email", CUSTOMER_EMAIL_MAX, &email, err) != C_OK)
        return C_ERR;
    return customers_string(email, "email", out, err);
}

static int customers_name(const json_t *body, json_t **out, struct error *err)
{
    char *name = NULL;
    if (validate_optional_string(body, "name", CUSTOMER_NAME_MAX, &name, err) != C_OK)
        return C_ERR;
    if (name == NULL)
        return (*out = json_null()) != NULL ? C_OK : error_set(err, "name", "out of memory");
    return customers_string(name, "name", out, err);
}

static int customers_phone(const json_t *body, json_t **out, struct error *err)
{
    char *phone = NULL;
    /* No length bound here: validate_e164 bounds it with the E.164 message. */
    if (validate_optional_string(body, "phone", SIZE_MAX, &phone, err) != C_OK)
        return C_ERR;
    if (phone == NULL)
        return (*out = json_null()) != NULL ? C_OK : error_set(err, "phone", "out of memory");
    if (validate_e164(phone) != C_OK) {
        free(phone);
        return error_set(err, "phone",
                         "phone must be in E.164 format (+ followed by 8 to 15 digits)");
    }
    return customers_string(phone, "phone", out, err);
}

/* The members of an address, in the order of the stored object. */
static const struct {
    const char *name;
    const char *param; /* as errors name it */
    bool required;
    size_t max_chars;
} customers_address_members[] = {
    {"line1", "billing_address.line1", true, CUSTOMERS_ADDRESS_LINE_MAX},
    {"line2", "billing_address.line2", false, CUSTOMERS_ADDRESS_LINE_MAX},
    {"city", "billing_address.city", true, CUSTOMERS_ADDRESS_LINE_MAX},
    {"postal_code", "billing_address.postal_code", false, CUSTOMERS_POSTAL_CODE_MAX},
    {"state", "billing_address.state", false, CUSTOMERS_ADDRESS_LINE_MAX},
    {"country", "billing_address.country", true, 2},
};
#define CUSTOMERS_ADDRESS_NMEMBERS                                                                 \
    (sizeof(customers_address_members) / sizeof(customers_address_members[0]))

/* One member of an address (its index i), as the address object holds it. */
static int customers_address_member(const json_t *address, size_t i, json_t **out,
                                    struct error *err)
{
    const char *name = customers_address_members[i].name;
    const char *param = customers_address_members[i].param;
    const json_t *v = json_object_get(address, name);
    if (v == NULL || json_is_null(v)) {
        if (customers_address_members[i].required)
            return error_set(err, param, "%s is required", param);
        return (*out = json_null()) != NULL ? C_OK : error_set(err, param, "out of memory");
    }
    if (!json_is_string(v))
        return error_set(err, param, "%s must be a string", param);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return error_set(err, param, "%s must not contain NUL characters", param);
    if (strcmp(name, "country") == 0) {
        if (country_find(s) == NULL)
            return error_set(err, param,
                             "%s must be an ISO 3166-1 alpha-2 country code in upper case, such "
                             "as SN",
                             param);
    } else {
        bool blank = true;
        for (const char *p = s; *p != '\0' && blank; p++)
            blank = isspace((unsigned char)*p) != 0;
        if (blank)
            return error_set(err, param, "%s must not be empty", param);
        if (utf8_length(s) > customers_address_members[i].max_chars)
            return error_set(err, param, "%s must be at most %zu characters", param,
                             customers_address_members[i].max_chars);
    }
    return (*out = json_string(s)) != NULL ? C_OK : error_set(err, param, "out of memory");
}

int customers_billing_address(const json_t *v, json_t **out, struct error *err)
{
    *out = NULL;
    if (json_is_null(v))
        return (*out = json_null()) != NULL ? C_OK
                                            : error_set(err, "billing_address", "out of memory");
    if (!json_is_object(v))
        return error_set(err, "billing_address", "billing_address must be an object or null");
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < CUSTOMERS_ADDRESS_NMEMBERS && !known; i++)
            known = strcmp(key, customers_address_members[i].name) == 0;
        if (!known) {
            /* The param must fit struct error's (ERROR_PARAM_MAX). */
            char shown[40], param[64];
            utf8_truncate(key, shown, sizeof(shown));
            snprintf(param, sizeof(param), "billing_address.%s", shown);
            return error_set(err, param, "Unknown parameter: %s", param);
        }
    }
    json_t *address = json_object();
    if (address == NULL)
        return error_set(err, "billing_address", "out of memory");
    for (size_t i = 0; i < CUSTOMERS_ADDRESS_NMEMBERS; i++) {
        json_t *member;
        if (customers_address_member(v, i, &member, err) != C_OK) {
            json_decref(address);
            return C_ERR;
        }
        if (json_object_set_new(address, customers_address_members[i].name, member) != 0) {
            json_decref(address);
            return error_set(err, "billing_address", "out of memory");
        }
    }
    *out = address;
    return C_OK;
}

static int customers_address(const json_t *body, json_t **out, struct error *err)
{
    return customers_billing_address(json_object_get(body, "billing_address"), out, err);
}

static int customers_metadata(const json_t *body, json_t **out, struct error *err)
{
    const json_t *v = json_object_get(body, "metadata");
    json_t *metadata = json_object();
    if (metadata == NULL)
        return error_set(err, "metadata", "out of memory");
    if (!json_is_null(v) && validate_metadata_value(v, &metadata, err) != C_OK) {
        json_decref(metadata);
        return C_ERR;
    }
    *out = metadata;
    return C_OK;
}

/* Every member a client may give, in the order they are checked. */
static const struct {
    const char *name;
    customers_rule_fn rule;
} customers_members[] = {
    {"email", customers_email},       {"name", customers_name},
    {"phone", customers_phone},       {"billing_address", customers_address},
    {"metadata", customers_metadata},
};
#define CUSTOMERS_NMEMBERS (sizeof(customers_members) / sizeof(customers_members[0]))

/* The members the body gives, checked, as a new object of their new values. */
static int customers_values(const json_t *body, json_t **values, struct error *err)
{
    *values = NULL;
    const char *names[CUSTOMERS_NMEMBERS];
    for (size_t i = 0; i < CUSTOMERS_NMEMBERS; i++)
        names[i] = customers_members[i].name;
    if (validate_known_fields(body, names, CUSTOMERS_NMEMBERS, err) != C_OK)
        return C_ERR;
    json_t *out = json_object();
    if (out == NULL)
        return error_set(err, NULL, "out of memory");
    for (size_t i = 0; i < CUSTOMERS_NMEMBERS; i++) {
        const char *name = customers_members[i].name;
        if (json_object_get(body, name) == NULL)
            continue;
        json_t *value = NULL;
        if (customers_members[i].rule(body, &value, err) != C_OK) {
            json_decref(out);
            return C_ERR;
        }
        if (json_object_set_new(out, name, value) != 0) {
            json_decref(out);
            return error_set(err, name, "out of memory");
        }
    }
    *values = out;
    return C_OK;
}

int customers_validate_create(const json_t *body, const struct tenant_identity *who, void *obj,
                              struct error *err)
{
    (void)who;
    json_t *values;
    if (customers_values(body, &values, err) != C_OK)
        return C_ERR;
    /* Each value read into the customer as its field reads JSON. */
    const char *name;
    const json_t *value;
    int rc = C_OK;
    json_object_foreach(values, name, value)
    {
        const struct resource_field *f = resource_field_by_json(&customer_resource, name);
        if (resource_read_value(f, value, obj, err) != C_OK) {
            rc = C_ERR;
            break;
        }
    }
    json_decref(values);
    return rc;
}

int customers_validate_update(const json_t *body, json_t **changes, struct error *err)
{
    return customers_values(body, changes, err);
}

/* *to = a copy of from when *to is NULL and from is not. */
static int customers_default(char **to, const char *from)
{
    if (*to != NULL || from == NULL)
        return C_OK;
    *to = strdup(from);
    return *to != NULL ? C_OK : C_ERR;
}

enum catalog_check customers_fill_session(struct db *db, const struct tenant_identity *who,
                                          struct session *s, struct error *err)
{
    assert(s->customer_id[0] != '\0'); /* called only for a session that names one */
    struct customer c;
    bool found = false;
    if (resource_store_get(db, &customer_store, who->organization_id, who->environment,
                           s->customer_id, &c, &found) != C_OK)
        return CATALOG_CHECK_UNAVAILABLE;
    if (!found) {
        error_set(err, "customer_id", "customer_id %s not found", s->customer_id);
        return CATALOG_CHECK_INVALID;
    }
    char *email = NULL, *name = NULL, *phone = NULL;
    int rc = customers_default(&email, s->customer_email == NULL ? c.email : NULL);
    if (rc == C_OK)
        rc = customers_default(&name, s->customer_name == NULL ? c.name : NULL);
    if (rc == C_OK)
        rc = customers_default(&phone, s->customer_phone == NULL ? c.phone : NULL);
    customer_free(&c);
    if (rc != C_OK) {
        free(email);
        free(name);
        free(phone);
        return CATALOG_CHECK_UNAVAILABLE;
    }
    if (email != NULL)
        s->customer_email = email;
    if (name != NULL)
        s->customer_name = name;
    if (phone != NULL)
        s->customer_phone = phone;
    return CATALOG_CHECK_OK;
}

const struct catalog_resource customers_catalog = {
    .store = &customer_store,
    .validate_create = customers_validate_create,
    .validate_update = customers_validate_update,
};
