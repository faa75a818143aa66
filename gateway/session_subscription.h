/* Renewal sessions (POST /checkout-sessions with subscription_id, the
 * reference's "Subscription Renewal"): a session that pays the next period of
 * one of the tenant's subscriptions. What the body leaves out is the
 * subscription's, and what it gives must agree with it:
 *
 *   customer_id: the subscription's (given, it must be that one);
 *   price_id, product_id: the subscription's (given, they must be those);
 *   amount: the price's unit_amount x quantity (given, it must be that);
 *   currency_code: the price's (given, it must be that); title: the
 *   product's name unless given.
 *
 * A subscription of another tenant or environment, or none: 400
 * "subscription_id <id> not found"; a canceled one: 400 (nothing leaves
 * canceled; a past_due one is renewed). The price is the subscription's even
 * if it has been archived since. Completing the session advances the period
 * (model/subscription.h, subscription_store_complete). */
#ifndef GATEWAY_SESSION_SUBSCRIPTION_H
#define GATEWAY_SESSION_SUBSCRIPTION_H

#include <stdbool.h>

#include <jansson.h>

#include "catalog.h"
#include "core/error.h"
#include "infra/db.h"
#include "model/session.h"
#include "model/subscription.h"
#include "model/tenant.h"
#include "session_catalog.h"

/* Checks s (as validate_create_request left it, s->subscription_id set)
 * against the tenant's subscription and fills what it leaves out, as above;
 * given says what the body gave itself (session_catalog_given_of).
 * CATALOG_CHECK_INVALID: err has the 400 (param, message), s unchanged;
 * CATALOG_CHECK_UNAVAILABLE: the database failed (503). */
enum catalog_check session_subscription_resolve(struct db *db, const struct tenant_identity *who,
                                                const struct session_catalog_given *given,
                                                struct session *s, struct error *err);

/* The pure part, for tests: s against the terms of subscription
 * s->subscription_id. */
enum catalog_check session_subscription_apply(const struct subscription_renewal *terms,
                                              const struct session_catalog_given *given,
                                              struct session *s, struct error *err);

#endif
