/* The operations listener of a worker (the gateway serves the same routes on
 * its internal listener): a small libmicrohttpd server answering
 *
 *   GET /healthz  200 while the process runs (liveness: never depends on
 *                 PostgreSQL or Kafka, so an outage does not restart pods)
 *   GET /readyz   200 when PostgreSQL (and Kafka, for a worker that uses it)
 *                 answered the last probe and the worker is taking work;
 *                 503 with a short JSON reason otherwise, and from the moment
 *                 SIGTERM or SIGINT arrives
 *   GET /metrics  the default metrics registry, Prometheus text format
 *
 * A probe thread checks the dependencies every second on connections of its
 * own and refreshes the gauges that need SQL every refresh_ms; requests only
 * read what it found, so a frozen dependency never blocks an answer (a probe
 * that hangs makes its last success go stale: not ready). One per process. */
#ifndef CAISSE_OPS_HTTP_H
#define CAISSE_OPS_HTTP_H

#include <stdbool.h>

#include "infra/db.h"

struct ops_http_options {
    const char *service; /* for caisse_build_info */
    const char *host;    /* IPv4 address to listen on */
    long port;           /* 0: no listener (and no probe) */
    const char *database_url;
    const char *kafka_brokers; /* NULL: the worker does not use Kafka */
    long refresh_ms;           /* how often refresh runs */
    /* Reads gauges from PostgreSQL on the probe's connection (their queries
     * live with their models); may be NULL. Runs on the probe thread. */
    void (*refresh)(struct db *db);
};

/* Copies what it needs from opt. C_ERR (logged) when it cannot listen or
 * start its thread; the worker should then exit. */
int ops_http_start(const struct ops_http_options *opt);
/* The worker's loop is (or no longer is) taking work; readyz needs it. */
void ops_http_set_accepting(bool accepting);
/* Stops the listener and the probe; call it last, so probes see 503 rather
 * than a refused connection while the worker drains. */
void ops_http_stop(void);

#endif
