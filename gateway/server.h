/* The gateway's HTTP servers (libmicrohttpd, epoll thread pools): the merchant
 * API and, on its own port, the internal API; routing, authentication, health. */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include <stdbool.h>

struct server_config {
    const char *host;
    long port;
    long threads;
    const char *database_url;
    long connection_timeout_s;
    const char *internal_host; /* the internal API: completion, health */
    long internal_port;
};

int server_start(const struct server_config *cfg);
/* Stops accepting new connections; in-flight requests go on. */
void server_quiesce(void);
/* readyz answers 503 from now on (called first on SIGTERM). */
void server_set_draining(void);
void server_stop(void);

#endif
