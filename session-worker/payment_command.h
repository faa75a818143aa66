/* checkout.session.payment: a payment attempt from the hosted page (the
 * gateway's checkout_pay), applied in the batch's transaction.
 *
 * The attempt is stored (a pending one may later become succeeded or failed;
 * a settled one never changes: a replay changes nothing). A failed one writes
 * checkout.session.payment_failed. A succeeded one completes its session,
 * guarded: the session open and unexpired (its row locked), the amounts the
 * attempt paid equal to what checkout_total computes now for its quantity and
 * coupon, the coupon redeemed within max_redemptions; then the customer is
 * found or created (as for any completion), and the session gets its totals,
 * coupon, billing_address, customer_details and payment, with exactly one
 * checkout.session.completed. A succeeded payment that cannot complete the
 * session is flagged refund_required (with its reason) and writes
 * checkout.session.payment_refund_required: never silently lost. */
#ifndef SESSION_WORKER_PAYMENT_COMMAND_H
#define SESSION_WORKER_PAYMENT_COMMAND_H

#include <stdbool.h>

#include "infra/db.h"
#include "model/outbox.h"
#include "transition_command.h"

/* Applies the payment t (kind TRANSITION_COMMAND_PAYMENT) in the caller's
 * transaction; its events go into events. *applied: the attempt was stored
 * or changed (false: a replay). */
int payment_command_apply(struct db *db, const struct transition_command *t,
                          const char *public_base_url, struct outbox_batch *events, bool *applied);

#endif
