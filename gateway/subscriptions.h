/* Subscriptions (GET /subscriptions, GET /subscriptions/{id}, POST
 * /subscriptions/{id}/cancel): the catalog's generic handlers (catalog.h) with
 * the subscriptions' descriptor. No create or update route: a subscription
 * comes from the completion of a session of a recurring price
 * (model/subscription.h); cancel is the store's action, which the session
 * worker decides. */
#ifndef GATEWAY_SUBSCRIPTIONS_H
#define GATEWAY_SUBSCRIPTIONS_H

#include "catalog.h"
#include "model/subscription.h"

extern const struct catalog_resource subscriptions_catalog;

#endif
