#include "product.h"

#include "core/result.h"

#define PRODUCT_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct product, k, m, j, f, s)
static const struct resource_field product_fields[] = {PRODUCT_FIELDS(PRODUCT_FIELD)};
const struct resource product_resource = {"product", product_fields,
                                          sizeof(product_fields) / sizeof(product_fields[0]),
                                          sizeof(struct product)};

static const struct resource_filter product_filters[] = {{"active", 0}};

const struct resource_store product_store = {
    .resource = &product_resource,
    .table = "products",
    .noun = "Product",
    .plural = "products",
    .path = "/products",
    .command_create = PRODUCT_COMMAND_CREATE,
    .command_update = PRODUCT_COMMAND_UPDATE,
    .event_created = PRODUCT_EVENT_CREATED,
    .event_updated = PRODUCT_EVENT_UPDATED,
    .filters = product_filters,
    .nfilters = sizeof(product_filters) / sizeof(product_filters[0]),
};

int product_init(struct product *p)
{
    if (resource_init(&product_resource, p) != C_OK)
        return C_ERR;
    p->active = true;
    return C_OK;
}

void product_free(struct product *p)
{
    resource_free(&product_resource, p);
}
