#include "products.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/utf8.h"
#include "validate.h"

static const char *const products_fields[] = {"name", "description", "active", "metadata"};
#define PRODUCTS_NFIELDS (sizeof(products_fields) / sizeof(products_fields[0]))

/* A name: a string without NUL, not blank, of at most PRODUCT_NAME_MAX
 * characters; *out gets a copy. v is the member (NULL when absent). */
static int products_name(const json_t *v, char **out, struct error *err)
{
    if (v == NULL)
        return error_set(err, "name", "name is required");
    if (!json_is_string(v))
        return error_set(err, "name", "name must be a string");
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return error_set(err, "name", "name must not contain NUL characters");
    bool blank = true;
    for (const char *p = s; *p != '\0' && blank; p++)
        blank = isspace((unsigned char)*p) != 0;
    if (blank)
        return error_set(err, "name", "name must not be empty");
    if (utf8_length(s) > PRODUCT_NAME_MAX)
        return error_set(err, "name", "name must be at most %d characters", PRODUCT_NAME_MAX);
    char *copy = strdup(s);
    if (copy == NULL)
        return error_set(err, "name", "out of memory");
    free(*out);
    *out = copy;
    return C_OK;
}

int products_validate_create(const json_t *body, const struct tenant_identity *who, void *obj,
                             struct error *err)
{
    (void)who;
    struct product *p = obj;
    p->active = true;
    const json_t *name = json_object_get(body, "name");
    const json_t *metadata = json_object_get(body, "metadata");
    if (validate_known_fields(body, products_fields, PRODUCTS_NFIELDS, err) != C_OK ||
        products_name(json_is_null(name) ? NULL : name, &p->name, err) != C_OK ||
        validate_optional_string(body, "description", PRODUCT_DESCRIPTION_MAX, &p->description,
                                 err) != C_OK ||
        validate_optional_bool(body, "active", &p->active, err) != C_OK)
        return C_ERR;
    if (metadata != NULL && !json_is_null(metadata) &&
        validate_metadata_value(metadata, &p->metadata, err) != C_OK)
        return C_ERR;
    return C_OK;
}

/* Sets name to value in changes (stolen). */
static int products_change(json_t *changes, const char *name, json_t *value, struct error *err)
{
    if (json_object_set_new(changes, name, value) != 0)
        return error_set(err, name, "out of memory");
    return C_OK;
}

static int products_update_fields(const json_t *body, json_t *changes, struct error *err)
{
    const json_t *v = json_object_get(body, "name");
    if (v != NULL) {
        char *name = NULL;
        if (json_is_null(v))
            return error_set(err, "name", "name cannot be removed");
        int rc = products_name(v, &name, err);
        if (rc == C_OK)
            rc = products_change(changes, "name", json_string(name), err);
        free(name);
        if (rc != C_OK)
            return C_ERR;
    }
    if ((v = json_object_get(body, "description")) != NULL) {
        char *description = NULL;
        int rc = validate_optional_string(body, "description", PRODUCT_DESCRIPTION_MAX,
                                          &description, err);
        if (rc == C_OK)
            rc = products_change(changes, "description",
                                 description != NULL ? json_string(description) : json_null(), err);
        free(description);
        if (rc != C_OK)
            return C_ERR;
    }
    if ((v = json_object_get(body, "active")) != NULL) {
        if (!json_is_boolean(v))
            return error_set(err, "active", "active must be a boolean");
        if (products_change(changes, "active", json_boolean(json_is_true(v)), err) != C_OK)
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
        if (products_change(changes, "metadata", metadata, err) != C_OK)
            return C_ERR;
    }
    return C_OK;
}

int products_validate_update(const json_t *body, json_t **changes, struct error *err)
{
    *changes = NULL;
    if (validate_known_fields(body, products_fields, PRODUCTS_NFIELDS, err) != C_OK)
        return C_ERR;
    json_t *c = json_object();
    if (c == NULL)
        return error_set(err, NULL, "out of memory");
    if (products_update_fields(body, c, err) != C_OK) {
        json_decref(c);
        return C_ERR;
    }
    *changes = c;
    return C_OK;
}

const struct catalog_resource products_catalog = {
    .store = &product_store,
    .validate_create = products_validate_create,
    .validate_update = products_validate_update,
};
