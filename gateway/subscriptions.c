#include "subscriptions.h"

/* Reads and the cancel action only: no rule of their own, the list filters
 * (customer_id, status) are the store's and checked by the generic list. */
const struct catalog_resource subscriptions_catalog = {
    .store = &subscription_store,
};
