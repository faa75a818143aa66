#include "price.h"

#include <string.h>

#include "core/result.h"

const char *const price_type_names[] = {"one_time", "recurring", NULL};
const char *const price_intervals[] = {"day", "week", "month", "year", NULL};

bool price_is_currency_code(const char *code)
{
    if (strlen(code) != 3)
        return false;
    for (int i = 0; i < 3; i++) {
        if (code[i] < 'A' || code[i] > 'Z')
            return false;
    }
    return true;
}

#define PRICE_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct price, k, m, j, f, s)
static const struct resource_field price_fields[] = {PRICE_FIELDS(PRICE_FIELD)};
const struct resource price_resource = {
    "price", price_fields, sizeof(price_fields) / sizeof(price_fields[0]), sizeof(struct price)};

static const struct resource_filter price_filters[] = {{"product_id", 0}, {"active", 0}};

const struct resource_store price_store = {
    .resource = &price_resource,
    .table = "prices",
    .noun = "Price",
    .plural = "prices",
    .path = "/prices",
    .command_create = PRICE_COMMAND_CREATE,
    .command_update = PRICE_COMMAND_UPDATE,
    .event_created = PRICE_EVENT_CREATED,
    .event_updated = PRICE_EVENT_UPDATED,
    .filters = price_filters,
    .nfilters = sizeof(price_filters) / sizeof(price_filters[0]),
};

int price_init(struct price *p)
{
    if (resource_init(&price_resource, p) != C_OK)
        return C_ERR;
    p->type = PRICE_ONE_TIME;
    p->active = true;
    return C_OK;
}

void price_free(struct price *p)
{
    resource_free(&price_resource, p);
}

bool price_is_pay_what_you_want(const struct price *p)
{
    return p->custom_minimum != RESOURCE_NULL_INT64;
}
