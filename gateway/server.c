#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "create.h"
#include "pipeline.h"
#include "transition.h"
#include "http.h"
#include "core/log.h"
#include "core/metrics.h"
#include "infra/ops_http.h"
#include "openapi.h"
#include "reads.h"
#include "core/result.h"
#include "infra/service.h"
#include "webhooks.h"

static struct MHD_Daemon *server_daemon;          /* merchant API */
static struct MHD_Daemon *server_internal_daemon; /* internal API */
static const char *server_database_url;
static atomic_bool server_draining;

/* One Postgres connection per server thread: reads never wait on a lock, and
 * the pool is exactly as large as the thread pool. */
static _Thread_local struct db server_db;
static _Thread_local bool server_db_ready;

static struct db *server_thread_db(void)
{
    if (!server_db_ready && db_init(&server_db, server_database_url) == C_OK)
        server_db_ready = true;
    return server_db_ready ? &server_db : NULL;
}

/* The same answers as a worker's ops listener (infra/ops_http), with this
 * listener's request id and access log; readiness runs the gateway's checks
 * (see main.c) with this server thread's connection. */
static enum MHD_Result server_health(struct http_request *req, bool ready_check)
{
    struct ops_reply r;
    if (ready_check)
        ops_http_readyz(server_thread_db(), &r);
    else
        ops_http_healthz(&r);
    if (r.body == NULL)
        return http_respond_json_text(req, 500, NULL, NULL);
    return http_respond_text(req, r.status, r.content_type, r.body, r.len);
}

static enum MHD_Result server_metrics(struct http_request *req)
{
    struct ops_reply r;
    ops_http_metrics(&r);
    if (r.body == NULL)
        return http_respond_json_text(req, 500, NULL, NULL);
    return http_respond_text(req, r.status, r.content_type, r.body, r.len);
}

/* The path after prefix names one session: its id, and the rest ("" or "/expire"). */
static bool server_session_path(const char *path, const char *prefix, char *id, size_t idlen,
                                const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0 || path[n] == '\0')
        return false;
    const char *start = path + n;
    const char *slash = strchr(start, '/');
    size_t len = slash != NULL ? (size_t)(slash - start) : strlen(start);
    if (len == 0 || len >= idlen)
        len = idlen - 1; /* too long to be an id: validation says so */
    snprintf(id, idlen, "%.*s", (int)len, start);
    *rest = slash != NULL ? slash : "";
    return true;
}

/* The route template of a request, the label of its metrics (the raw path
 * would make a series per session id). Keep it in step with the routing. */
static const char *server_route_label(const char *path, bool internal)
{
    if (strcmp(path, "/healthz") == 0)
        return "/healthz";
    if (strcmp(path, "/readyz") == 0)
        return "/readyz";
    char id[64];
    const char *rest = "";
    if (internal) {
        if (strcmp(path, "/metrics") == 0)
            return "/metrics";
        if (server_session_path(path, "/internal/checkout-sessions/", id, sizeof(id), &rest) &&
            strcmp(rest, "/complete") == 0)
            return "/internal/checkout-sessions/{id}/complete";
        return "other";
    }
    struct webhooks_route route;
    if (webhooks_match(path, &route))
        return route.route;
    if (strcmp(path, "/checkout-sessions") == 0)
        return "/v1/checkout-sessions";
    if (server_session_path(path, "/checkout-sessions/", id, sizeof(id), &rest)) {
        if (rest[0] == '\0')
            return "/v1/checkout-sessions/{id}";
        if (strcmp(rest, "/expire") == 0)
            return "/v1/checkout-sessions/{id}/expire";
    }
    return "other";
}

static enum MHD_Result server_method_not_allowed(struct http_request *req)
{
    return http_respond_error(req, 405, "method_not_allowed", NULL, "Method %s not allowed on %s",
                              req->method, req->path);
}

static enum MHD_Result server_authenticate(struct http_request *req, struct db *db, bool *ok)
{
    *ok = false;
    const char *key = http_header(req, "x-api-key");
    const char *authz = http_header(req, "Authorization");
    if ((key == NULL || key[0] == '\0') && authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0)
        key = authz + 7;
    switch (auth_authenticate(db, key, &req->identity)) {
    case AUTH_OK:
        *ok = true;
        return MHD_YES;
    case AUTH_MISSING:
        return http_respond_error(req, 401, "authentication_error", NULL, "API key is missing");
    case AUTH_INVALID:
        return http_respond_error(req, 401, "authentication_error", NULL, "Invalid API key");
    case AUTH_UNAVAILABLE:
        break;
    }
    return http_respond_unavailable(req);
}

/* Webhook endpoints, deliveries and events: same order as below (route,
 * method, key), then the webhooks module. */
static enum MHD_Result server_route_webhooks(struct http_request *req, struct db *db,
                                             const struct webhooks_route *route)
{
    req->allow = route->allow;
    if (!webhooks_method_allowed(route, req->method))
        return server_method_not_allowed(req);
    bool ok;
    enum MHD_Result rc = server_authenticate(req, db, &ok);
    if (!ok)
        return rc;
    return webhooks_handle(req, db, route);
}

/* Merchant API: API key, tenant-scoped. */
static enum MHD_Result server_route_public(struct http_request *req, struct db *db)
{
    const char *m = req->method;
    struct webhooks_route route;
    if (webhooks_match(req->path, &route))
        return server_route_webhooks(req, db, &route);
    char id[64];
    const char *rest = "";
    bool collection = strcmp(req->path, "/checkout-sessions") == 0;
    bool session = server_session_path(req->path, "/checkout-sessions/", id, sizeof(id), &rest);
    bool item = session && rest[0] == '\0';
    bool expire = session && strcmp(rest, "/expire") == 0;
    if (!collection && !item && !expire)
        return http_respond_error(req, 404, "not_found", NULL, "Route %s %s not found", m,
                                  req->path);
    req->allow = expire ? "POST" : item ? "GET" : "GET, POST";
    if ((collection && strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0) ||
        (item && strcmp(m, "GET") != 0) || (expire && strcmp(m, "POST") != 0))
        return server_method_not_allowed(req);
    bool ok;
    enum MHD_Result rc = server_authenticate(req, db, &ok);
    if (!ok)
        return rc;
    if (expire)
        return transition_expire(req, db, id);
    if (item)
        return reads_get(req, db, id);
    if (strcmp(m, "POST") == 0)
        return create_handle(req, db);
    return reads_list(req, db);
}

/* Internal API: for our own services (payment side), with a service token;
 * never exposed to merchants. */
static enum MHD_Result server_route_internal(struct http_request *req, struct db *db)
{
    char id[64];
    const char *rest = "";
    if (!server_session_path(req->path, "/internal/checkout-sessions/", id, sizeof(id), &rest) ||
        strcmp(rest, "/complete") != 0)
        return http_respond_error(req, 404, "not_found", NULL, "Route %s %s not found", req->method,
                                  req->path);
    req->allow = "POST";
    if (strcmp(req->method, "POST") != 0)
        return server_method_not_allowed(req);
    return transition_complete(req, db, id);
}

static enum MHD_Result server_route(struct http_request *req, bool internal)
{
    const char *m = req->method;
    if (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/readyz") == 0) {
        req->allow = "GET, HEAD";
        if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0)
            return server_method_not_allowed(req);
        return server_health(req, strcmp(req->path, "/readyz") == 0);
    }
    /* The API's description is public, and needs no database. */
    if (!internal && strcmp(req->path, "/openapi.json") == 0) {
        req->allow = "GET";
        if (strcmp(m, "GET") != 0)
            return server_method_not_allowed(req);
        return openapi_respond(req);
    }
    if (internal && strcmp(req->path, "/metrics") == 0) {
        req->allow = "GET, HEAD";
        if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0)
            return server_method_not_allowed(req);
        return server_metrics(req);
    }
    struct db *db = server_thread_db();
    if (db == NULL)
        return http_respond_unavailable(req);
    return internal ? server_route_internal(req, db) : server_route_public(req, db);
}

static enum MHD_Result server_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    (void)version;
    bool internal = cls != NULL;
    struct http_request *req = *con_cls;
    if (req == NULL) {
        req = http_request_new(conn, method, url);
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (http_request_append_body(req, upload_data, *upload_data_size) != C_OK)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->op != NULL)
        return pipeline_answer(req); /* resumed after suspension */
    if (req->answered)
        return MHD_YES;
    return server_route(req, internal);
}

/* cls non-NULL marks the internal listener, as for server_access. */
static void server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct http_request *req = *con_cls;
    if (req == NULL)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !req->answered)
        req->status = 499; /* client went away first */
    http_request_log(req);
    http_request_observe(req, server_route_label(req->path, cls != NULL));
    pipeline_op_free(req->op);
    http_request_free(req);
    *con_cls = NULL;
}

static void server_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_warn("http server: %s", msg);
}

struct MHD_Daemon *server_mhd_start(const char *host, long port, long threads,
                                    long connection_timeout_s, MHD_AccessHandlerCallback access,
                                    void *cls, MHD_RequestCompletedCallback completed)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        log_error("listen address must be an IPv4 address, got %s", host);
        return NULL;
    }
    /* The logger comes first so even option errors reach our JSON log. */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, access, cls, MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
        MHD_OPTION_NOTIFY_COMPLETED, completed, cls, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)connection_timeout_s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
    if (d == NULL)
        log_error("cannot listen on %s:%ld", host, port);
    return d;
}

/* cls non-NULL marks the internal listener. */
static struct MHD_Daemon *server_listen(const char *host, long port, long threads,
                                        long connection_timeout_s, void *cls)
{
    return server_mhd_start(host, port, threads, connection_timeout_s, server_access, cls,
                            server_completed);
}

int server_start(const struct server_config *cfg)
{
    static int internal_marker;
    server_database_url = cfg->database_url;
    server_daemon =
        server_listen(cfg->host, cfg->port, cfg->threads, cfg->connection_timeout_s, NULL);
    if (server_daemon == NULL)
        return C_ERR;
    server_internal_daemon = server_listen(cfg->internal_host, cfg->internal_port, 2,
                                           cfg->connection_timeout_s, &internal_marker);
    if (server_internal_daemon == NULL) {
        MHD_stop_daemon(server_daemon);
        server_daemon = NULL;
        return C_ERR;
    }
    return C_OK;
}

void server_set_draining(void)
{
    atomic_store(&server_draining, true);
}

/* Quiescing hands the listening socket back to us; closing it makes new
 * connections fail at once (a load balancer retries elsewhere) instead of
 * waiting in the backlog until the process exits. */
static void server_quiesce_daemon(struct MHD_Daemon *d)
{
    if (d == NULL)
        return;
    MHD_socket fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void server_quiesce(void)
{
    server_quiesce_daemon(server_daemon);
    server_quiesce_daemon(server_internal_daemon);
}

void server_stop(void)
{
    if (server_daemon != NULL)
        MHD_stop_daemon(server_daemon);
    if (server_internal_daemon != NULL)
        MHD_stop_daemon(server_internal_daemon);
    server_daemon = NULL;
    server_internal_daemon = NULL;
}
