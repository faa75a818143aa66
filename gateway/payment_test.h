/* The built-in test provider for test sessions: outcomes chosen by the number
 * paying, like Stripe's test cards (the table is in README.md, "Hosted
 * checkout"). */
#ifndef GATEWAY_PAYMENT_TEST_H
#define GATEWAY_PAYMENT_TEST_H

#include "payment.h"

/* A pending test payment settles this long after it started. */
#define PAYMENT_TEST_PENDING_MS 4000

extern const struct payment_provider payment_test_provider;

#endif
