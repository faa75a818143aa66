#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "create.h"
#include "http.h"
#include "log.h"
#include "reads.h"
#include "result.h"

static struct MHD_Daemon *server_daemon;
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

static enum MHD_Result server_health(struct http_request *req, bool ready_check)
{
    if (!ready_check)
        return http_respond_json(req, 200, json_pack("{ss}", "status", "ok"), NULL);
    struct db *db = server_thread_db();
    bool pg = db != NULL && db_exec_command(db, "SELECT 1", 0, NULL) == C_OK;
    bool kafka = create_kafka_ready();
    bool listener = create_listener_ready();
    bool draining = atomic_load(&server_draining);
    bool ok = pg && kafka && listener && !draining;
    json_t *body =
        json_pack("{ss s{sbsbsbsb}}", "status", ok ? "ready" : "unavailable", "checks", "postgres",
                  pg, "kafka", kafka, "notifications", listener, "draining", draining);
    return http_respond_json(req, ok ? 200 : 503, body, NULL);
}

static enum MHD_Result server_route(struct http_request *req)
{
    const char *m = req->method;
    if (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/readyz") == 0) {
        if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0)
            return http_respond_error(req, 405, "method_not_allowed", NULL, "Method %s not allowed",
                                      m);
        return server_health(req, strcmp(req->path, "/readyz") == 0);
    }
    bool collection = strcmp(req->path, "/checkout-sessions") == 0;
    bool item =
        strncmp(req->path, "/checkout-sessions/", 19) == 0 && strchr(req->path + 19, '/') == NULL;
    if (!collection && !item)
        return http_respond_error(req, 404, "not_found", NULL, "Route %s %s not found", m,
                                  req->path);
    if ((collection && strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0) ||
        (item && strcmp(m, "GET") != 0))
        return http_respond_error(req, 405, "method_not_allowed", NULL,
                                  "Method %s not allowed on %s", m, req->path);

    struct db *db = server_thread_db();
    if (db == NULL)
        return http_respond_unavailable(req);
    const char *key = http_header(req, "x-api-key");
    const char *authz = http_header(req, "Authorization");
    if ((key == NULL || key[0] == '\0') && authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0)
        key = authz + 7;
    switch (auth_authenticate(db, key, &req->identity)) {
    case AUTH_OK:
        break;
    case AUTH_MISSING:
        return http_respond_error(req, 401, "authentication_error", NULL, "API key is missing");
    case AUTH_INVALID:
        return http_respond_error(req, 401, "authentication_error", NULL, "Invalid API key");
    case AUTH_UNAVAILABLE:
        return http_respond_unavailable(req);
    }
    if (item)
        return reads_get(req, db, req->path + 19);
    if (strcmp(m, "POST") == 0)
        return create_handle(req, db);
    return reads_list(req, db);
}

static enum MHD_Result server_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    (void)cls;
    (void)version;
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
    if (req->create != NULL)
        return create_finish(req); /* resumed after suspension */
    if (req->answered)
        return MHD_YES;
    return server_route(req);
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
    create_op_free(req->create);
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

int server_start(const struct server_config *cfg)
{
    server_database_url = cfg->database_url;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->host, &addr.sin_addr) != 1) {
        log_error("CAISSE_GATEWAY_HOST must be an IPv4 address, got %s", cfg->host);
        return C_ERR;
    }
    server_daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG,
        (uint16_t)cfg->port, NULL, NULL, server_access, NULL, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads, MHD_OPTION_NOTIFY_COMPLETED,
        server_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->connection_timeout_s, MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, NULL,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
    if (server_daemon == NULL) {
        log_error("cannot listen on %s:%ld", cfg->host, cfg->port);
        return C_ERR;
    }
    return C_OK;
}

void server_set_draining(void)
{
    atomic_store(&server_draining, true);
}

void server_quiesce(void)
{
    if (server_daemon != NULL)
        MHD_quiesce_daemon(server_daemon);
}

void server_stop(void)
{
    if (server_daemon != NULL)
        MHD_stop_daemon(server_daemon);
    server_daemon = NULL;
}
