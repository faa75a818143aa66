/* A deadline for receiving a whole request (slowloris). libmicrohttpd only
 * times out a connection that is silent for its idle timeout, so a client
 * sending one byte before each timeout could hold a connection forever, and
 * enough of them every connection. Here each connection carries a deadline:
 *
 *   - from its accept, and from each answer sent, the next request's line
 *     must arrive within the idle timeout and the request be whole within the
 *     request timeout after that (idle + request);
 *   - from its request line, the rest of the request (headers, body) must
 *     arrive within the request timeout;
 *   - while the request is being answered (a create waiting for the worker),
 *     there is none.
 *
 * A reaper thread shuts down the sockets past their deadline, and the
 * connection's own server thread then closes it as if the client had left.
 * Each server thread registers its connections in a table of its own, so
 * requests take no lock shared with other threads; the reaper takes each
 * table's lock a few times a second.
 *
 * Also counts the open connections of each listener
 * (caisse_http_open_connections) and those closed past their deadline
 * (caisse_http_request_timeouts_total). */
#ifndef GATEWAY_DEADLINE_H
#define GATEWAY_DEADLINE_H

#include <microhttpd.h>

struct metrics_series;

/* One listener's metrics; the cls of deadline_notify_connection. */
struct deadline_listener {
    struct metrics_series *open;      /* caisse_http_open_connections{listener} */
    struct metrics_series *timed_out; /* caisse_http_request_timeouts_total{listener} */
};

/* Fills l with the series of listener ("merchant", "internal"). */
void deadline_listener_init(struct deadline_listener *l, const char *listener);

/* Starts the reaper with these timeouts (seconds; request_timeout_s 0 turns
 * deadlines off, idle_timeout_s is libmicrohttpd's). Calling it again while
 * it runs changes nothing. C_ERR: the thread could not be started. */
int deadline_start(long request_timeout_s, long idle_timeout_s);
/* Stops the reaper and frees every table; call after the daemons stopped. */
void deadline_stop(void);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION, cls a struct deadline_listener. */
void deadline_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                enum MHD_ConnectionNotificationCode toe);
/* libmicrohttpd's MHD_OPTION_URI_LOG_CALLBACK: a request line arrived.
 * Returns NULL (the access handler's *con_cls stays NULL). */
void *deadline_request_started(void *cls, const char *uri, struct MHD_Connection *conn);
/* The access handler has the whole request: no deadline while it is answered. */
void deadline_request_received(struct MHD_Connection *conn);
/* Its answer is done (the request-completed callback): the next one's turn. */
void deadline_request_done(struct MHD_Connection *conn);

#endif
