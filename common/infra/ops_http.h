/* Health, readiness and metrics of every service, and the operations listener
 * of a worker: a small libmicrohttpd server answering
 *
 *   GET /healthz  200 while the process runs (liveness: never depends on
 *                 PostgreSQL or Kafka, so an outage does not restart pods)
 *   GET /readyz   200 when every readiness check passes; 503 with a short
 *                 JSON reason otherwise, and from the moment SIGTERM or
 *                 SIGINT arrives
 *   GET /metrics  the default metrics registry, Prometheus text format
 *
 * The gateway serves the same answers on its own listeners (with its request
 * id and access log): ops_http_healthz, ops_http_readyz and ops_http_metrics
 * build them for any listener.
 *
 * A worker's checks come from a probe thread that tests the dependencies
 * every second on connections of its own and refreshes the gauges that need
 * SQL every refresh_ms; requests only read what it found, so a frozen
 * dependency never blocks an answer (a probe that hangs makes its last
 * success go stale: not ready). One per process. */
#ifndef CAISSE_OPS_HTTP_H
#define CAISSE_OPS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "infra/db.h"

/* One readiness check: /readyz's checks carry name: ready(ctx), and the
 * first failing check's reason is its reason. ctx is what the answering
 * listener passes to ops_http_readyz (NULL from a worker's ops listener). */
struct ops_check {
    const char *name;
    const char *reason;
    bool (*ready)(void *ctx);
};

/* An answer of the ops routes. body (len bytes, malloc'ed) is the caller's;
 * NULL only when out of memory: answer a bodiless 500 then. */
struct ops_reply {
    unsigned status;
    const char *content_type;
    char *body;
    size_t len;
};

/* 200 {"status":"ok"}. */
void ops_http_healthz(struct ops_reply *out);
/* 200 {"status":"ready","checks":{...}} when no stop was requested and every
 * check passes, else 503 {"status":"unavailable","checks":{...},"reason":...};
 * checks ends with "draining" (true once a stop was requested). */
void ops_http_readyz(void *ctx, struct ops_reply *out);
/* 200 and the default registry in the text format; 500 if it cannot render. */
void ops_http_metrics(struct ops_reply *out);

#define OPS_HTTP_CHECKS_MAX 8
/* Adds readiness checks after those already there (the checks array must
 * outlive the process's listeners). Call before any listener answers.
 * C_ERR past OPS_HTTP_CHECKS_MAX. */
int ops_http_add_checks(const struct ops_check *checks, size_t n);

struct ops_http_options {
    const char *host; /* IPv4 address to listen on */
    long port;        /* 0: no listener (and no probe) */
    const char *database_url;
    const char *kafka_brokers; /* NULL: the worker does not use Kafka */
    long refresh_ms;           /* how often refresh runs */
    /* Reads gauges from PostgreSQL on the probe's connection (their queries
     * live with their models); may be NULL. Runs on the probe thread. */
    void (*refresh)(struct db *db);
    /* The worker's own readiness checks, after the probe's (may be NULL). */
    const struct ops_check *checks;
    size_t check_count;
};

/* Starts the probe and the listener, after adding the probe's checks:
 * accepting (see ops_http_set_accepting), postgres, and kafka when the worker
 * uses it; then opt's.
 * Copies what it needs from opt. C_ERR (logged) when it cannot listen or start
 * its thread; the worker should then exit. */
int ops_http_start(const struct ops_http_options *opt);
/* The worker's loop is (or no longer is) taking work; readyz needs it. */
void ops_http_set_accepting(bool accepting);
/* Stops the listener and the probe; call it last, so probes see 503 rather
 * than a refused connection while the worker drains. */
void ops_http_stop(void);

#endif
