#include "products.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/utf8.h"
#include "model/price.h"
#include "validate.h"

static const char *const products_fields[] = {"name", "description", "active", "metadata"};
/* A PATCH also sets the default price: a new product has no prices yet. */
static const char *const products_patch_fields[] = {"name", "description", "active", "metadata",
                                                    "default_price_id"};
#define PRODUCTS_NPATCH_FIELDS (sizeof(products_patch_fields) / sizeof(products_patch_fields[0]))
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
    if ((v = json_object_get(body, "default_price_id")) != NULL) {
        char id[UUID_STR_LEN] = "";
        if (validate_optional_uuid(body, "default_price_id", id, err) != C_OK ||
            products_change(changes, "default_price_id",
                            id[0] != '\0' ? json_string(id) : json_null(), err) != C_OK)
            return C_ERR;
    }
    return C_OK;
}

int products_validate_update(const json_t *body, json_t **changes, struct error *err)
{
    *changes = NULL;
    if (validate_known_fields(body, products_patch_fields, PRODUCTS_NPATCH_FIELDS, err) != C_OK)
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

/* ---- default_price_id: the prices' rule ------------------------------------------------ */

/* id, as the default price of the tenant's product product_id: an active
 * price of that very product. */
static enum catalog_check products_check_default_price(struct db *db,
                                                       const struct tenant_identity *who,
                                                       const char *product_id, const char *id,
                                                       struct error *err)
{
    struct price price;
    bool found = false;
    if (resource_store_get(db, &price_store, who->organization_id, who->environment, id, &price,
                           &found) != C_OK)
        return CATALOG_CHECK_UNAVAILABLE;
    if (!found) {
        error_set(err, "default_price_id", "default_price_id %s not found", id);
        return CATALOG_CHECK_INVALID;
    }
    bool ours = strcmp(price.product_id, product_id) == 0;
    bool active = price.active;
    price_free(&price);
    if (!ours) {
        error_set(err, "default_price_id", "default_price_id %s is a price of another product", id);
        return CATALOG_CHECK_INVALID;
    }
    if (!active) {
        error_set(err, "default_price_id",
                  "default_price_id %s is archived: a product's default price must be active", id);
        return CATALOG_CHECK_INVALID;
    }
    return CATALOG_CHECK_OK;
}

enum catalog_check products_check_update(struct db *db, const struct tenant_identity *who,
                                         const void *current, const json_t *changes,
                                         struct error *err)
{
    const struct product *p = current;
    const char *id = json_string_value(json_object_get(changes, "default_price_id"));
    if (id == NULL) /* unchanged, or cleared */
        return CATALOG_CHECK_OK;
    return products_check_default_price(db, who, p->id, id, err);
}

const struct catalog_resource products_catalog = {
    .store = &product_store,
    .validate_create = products_validate_create,
    .validate_update = products_validate_update,
    .check_update = products_check_update,
};
