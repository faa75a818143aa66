/* The gateway's HTTP servers (libmicrohttpd, epoll thread pools): the merchant
 * API and, on its own port, the internal API, each request handed to the route
 * table (routes.c) with the server thread's PostgreSQL connection; health,
 * readiness and metrics. */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "deadline.h"

struct db;
struct http_request;
struct metrics_series;

struct server_config {
    const char *host;
    long port;
    long threads;
    const char *database_url;
    long statement_timeout_ms;   /* of every statement a request runs; 0: the server's */
    long connection_timeout_s;   /* idle */
    long max_connections;        /* of the merchant API, split between its threads */
    long max_connections_per_ip; /* of the merchant API, 0: none */
    long request_timeout_s;      /* deadline.c, both listeners; 0: none */
    const char *internal_host;   /* the internal API: completion, health */
    long internal_port;
};

/* One listener: its settings, and what its callbacks keep while it runs. */
struct server_listener {
    const char *name; /* "merchant", "internal": the listener label of metrics */
    const char *host;
    long port;
    long threads;
    long connection_timeout_s;   /* idle: libmicrohttpd closes a silent connection */
    long max_connections;        /* libmicrohttpd splits it evenly between the threads */
    long max_connections_per_ip; /* the TCP peer's, over all threads; 0: none */
    long request_timeout_s;      /* deadline.c; 0: none */
    /* Set by server_mhd_start. */
    struct deadline_listener deadline;
    struct metrics_series *refused; /* caisse_http_connections_refused_total */
    atomic_long refused_unlogged;
    _Atomic int64_t refused_logged_us;
    /* libmicrohttpd's other messages: at most a few per window, then a count. */
    _Atomic int64_t messages_window_us;
    atomic_long messages_in_window;
};

int server_start(const struct server_config *cfg);
/* Starts a libmicrohttpd daemon in the gateway's configuration (flags, epoll
 * thread pool, limits, request deadlines) with the given handlers: both gateway
 * listeners use it, and so does bench/http_ceiling.c, so the benchmark's
 * ceiling is measured on exactly this configuration. cls reaches both handlers;
 * access must call deadline_request_received once it has the whole request,
 * completed deadline_request_done. l must outlive the daemon. NULL (logged) if
 * it cannot listen. */
struct MHD_Daemon *server_mhd_start(struct server_listener *l, MHD_AccessHandlerCallback access,
                                    void *cls, MHD_RequestCompletedCallback completed);
/* Raises the soft limit of open files towards needed (not past the hard
 * limit); returns the limit now in force. */
long server_reserve_files(long needed);
/* Stops accepting new connections; in-flight requests go on. */
void server_quiesce(void);
void server_stop(void);

/* Route handlers (routes.c) of GET/HEAD /healthz, /readyz (PostgreSQL, Kafka,
 * the commit notifications, draining) and /metrics; db is unused. */
enum MHD_Result server_healthz(struct http_request *req, struct db *db);
enum MHD_Result server_readyz(struct http_request *req, struct db *db);
enum MHD_Result server_metrics(struct http_request *req, struct db *db);

#endif
