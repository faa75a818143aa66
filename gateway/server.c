#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "pipeline.h"
#include "routes.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "infra/service.h"

static struct MHD_Daemon *server_daemon;          /* merchant API */
static struct MHD_Daemon *server_internal_daemon; /* internal API */
static const char *server_database_url;
static long server_statement_timeout_ms;
static atomic_bool server_draining;

/* One Postgres connection per server thread: reads never wait on a lock, and
 * the pool is exactly as large as the thread pool. */
static _Thread_local struct db server_db;
static _Thread_local bool server_db_ready;

static struct db *server_thread_db(void)
{
    if (!server_db_ready && db_init(&server_db, server_database_url) == C_OK) {
        db_set_statement_timeout(&server_db, server_statement_timeout_ms);
        server_db_ready = true;
    }
    return server_db_ready ? &server_db : NULL;
}

static enum MHD_Result server_health(struct http_request *req, bool ready_check)
{
    if (!ready_check)
        return http_respond_json(req, 200, json_pack("{ss}", "status", "ok"), NULL);
    struct db *db = server_thread_db();
    bool pg = db != NULL && db_exec_command(db, "SELECT 1", 0, NULL) == C_OK;
    bool kafka = pipeline_kafka_ready();
    bool listener = pipeline_listener_ready();
    /* Unready from the signal on, before the main loop even notices it. */
    bool draining = atomic_load(&server_draining) || service_stopping();
    const char *reason = draining    ? "shutting down"
                         : !pg       ? "postgres unreachable"
                         : !kafka    ? "kafka unreachable"
                         : !listener ? "not listening for commit notifications"
                                     : NULL;
    json_t *body =
        json_pack("{ss s{sbsbsbsb}}", "status", reason == NULL ? "ready" : "unavailable", "checks",
                  "postgres", pg, "kafka", kafka, "notifications", listener, "draining", draining);
    if (body != NULL && reason != NULL)
        json_object_set_new(body, "reason", json_string(reason));
    return http_respond_json(req, reason == NULL ? 200 : 503, body, NULL);
}

enum MHD_Result server_healthz(struct http_request *req, struct db *db)
{
    (void)db;
    return server_health(req, false);
}

enum MHD_Result server_readyz(struct http_request *req, struct db *db)
{
    (void)db;
    return server_health(req, true);
}

enum MHD_Result server_metrics(struct http_request *req, struct db *db)
{
    (void)db;
    char *text = NULL;
    size_t len = 0;
    if (metrics_render(metrics_default(), &text, &len) != C_OK)
        return http_respond_json_text(req, 500, NULL, NULL);
    return http_respond_text(req, 200, METRICS_CONTENT_TYPE, text, len);
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
        routes_match(internal ? ROUTES_INTERNAL : ROUTES_MERCHANT, req->method, req->path,
                     &req->route);
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
    if (req->resume != NULL) {
        routes_handler resume = req->resume;
        req->resume = NULL;
        struct db *db = server_thread_db();
        return db != NULL ? resume(req, db) : http_respond_unavailable(req);
    }
    if (req->answered)
        return MHD_YES;
    return routes_serve(req, server_thread_db);
}

static void server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    struct http_request *req = *con_cls;
    if (req == NULL)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !req->answered)
        req->status = 499; /* client went away first */
    http_request_log(req);
    http_request_observe(req, routes_label(&req->route));
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
        MHD_OPTION_NOTIFY_COMPLETED, completed, cls, MHD_OPTION_UNESCAPE_CALLBACK, http_unescape,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)connection_timeout_s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
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
    server_statement_timeout_ms = cfg->statement_timeout_ms;
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
