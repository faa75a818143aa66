/* The outbox relay: a thread that publishes outbox rows to
 * checkout.session.events in seq order. Exactly one replica relays at a time
 * (the holder of a session-level advisory lock); the others stand by and try
 * again every poll interval, so a dead leader is replaced within about one.
 * Its decisions are relay_loop.c's; this module gives it PostgreSQL, Kafka
 * and a thread. */
#ifndef SESSION_WORKER_RELAY_H
#define SESSION_WORKER_RELAY_H

#include <stddef.h>

#include "core/error.h"

struct relay_options {
    const char *database_url; /* strings must outlive the relay */
    const char *brokers;
    long batch;              /* rows per round */
    long batch_bytes;        /* and payload bytes per round (at least one row) */
    long poll_ms;            /* standby retry, and idle wait between rounds */
    long message_timeout_ms; /* a delivery fails after this */
    long shutdown_grace_ms;  /* after a stop request, in-flight deliveries are given up halfway */
};

struct relay;

/* Starts the thread (it connects on its own, retrying). NULL with err filled
 * when it could not start. */
struct relay *relay_start(const struct relay_options *opt, struct error *err);
/* Waits for the thread, which ends its round, flushes its producer and
 * releases the leadership once service_stopping(); frees r. */
void relay_join(struct relay *r);

#endif
