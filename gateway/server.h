/* The gateway's HTTP servers (libmicrohttpd, epoll thread pools): the merchant
 * API and, on its own port, the internal API, each request handed to the route
 * table (routes.c) with the server thread's PostgreSQL connection; health,
 * readiness and metrics. */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include <stdbool.h>

#include <microhttpd.h>

struct db;
struct http_request;

struct server_config {
    const char *host;
    long port;
    long threads;
    const char *database_url;
    long statement_timeout_ms; /* of every statement a request runs; 0: the server's */
    long connection_timeout_s;
    const char *internal_host; /* the internal API: completion, health */
    long internal_port;
};

int server_start(const struct server_config *cfg);
/* Starts a libmicrohttpd daemon in the gateway's configuration (flags, epoll
 * thread pool, options) with the given handlers: both gateway listeners use it,
 * and so does bench/http_ceiling.c, so the benchmark's ceiling is measured on
 * exactly this configuration. cls reaches both handlers. NULL (logged) if it
 * cannot listen. */
struct MHD_Daemon *server_mhd_start(const char *host, long port, long threads,
                                    long connection_timeout_s, MHD_AccessHandlerCallback access,
                                    void *cls, MHD_RequestCompletedCallback completed);
/* Stops accepting new connections; in-flight requests go on. */
void server_quiesce(void);
/* readyz answers 503 from now on (called first on SIGTERM). */
void server_set_draining(void);
void server_stop(void);

/* Route handlers (routes.c) of GET/HEAD /healthz, /readyz (PostgreSQL, Kafka,
 * the commit notifications, draining) and /metrics; db is unused. */
enum MHD_Result server_healthz(struct http_request *req, struct db *db);
enum MHD_Result server_readyz(struct http_request *req, struct db *db);
enum MHD_Result server_metrics(struct http_request *req, struct db *db);

#endif
