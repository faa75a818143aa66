#include "server.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "deadline.h"
#include "http.h"
#include "pipeline.h"
#include "routes.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "infra/ops_http.h"
#include "core/result.h"
#include "infra/service.h"

/* The internal API's callers are our own services and probes: few connections,
 * no per-address limit (the kubelet probes from one address). */
#define SERVER_INTERNAL_MAX_CONNECTIONS 256
/* Descriptors besides the connections: PostgreSQL, Kafka, epoll, pipes, logs. */
#define SERVER_SPARE_FILES 256
#define SERVER_REFUSED_LOG_EVERY_US (10 * 1000000LL)
/* Per listener and 10 s window: a client closing mid-request is one line, a
 * thousand closed by the request deadline are not a thousand. */
#define SERVER_MESSAGES_PER_WINDOW 10

static struct MHD_Daemon *server_daemon;          /* merchant API */
static struct MHD_Daemon *server_internal_daemon; /* internal API */
static struct server_listener server_merchant, server_internal;
static const char *server_database_url;
static long server_statement_timeout_ms;

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
    struct ops_reply r;
    ops_http_metrics(&r);
    if (r.body == NULL)
        return http_respond_json_text(req, 500, NULL, NULL);
    return http_respond_text(req, r.status, r.content_type, r.body, r.len);
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
        routes_redact_path(req->path, sizeof(req->path));
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (http_request_append_body(req, upload_data, *upload_data_size) != C_OK)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    deadline_request_received(conn);
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
    deadline_request_done(conn);
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

/* A refused connection (over the connection limits) is counted, and logged
 * as a summary at most every 10 s: an attack must not flood the log. */
static bool server_count_refused(struct server_listener *l, const char *msg)
{
    if (strncmp(msg, "Server reached connection limit", 31) != 0)
        return false;
    metrics_counter_add(l->refused, 1);
    long unlogged = atomic_fetch_add(&l->refused_unlogged, 1) + 1;
    int64_t now = clock_now_us();
    int64_t last = atomic_load(&l->refused_logged_us);
    if (now - last >= SERVER_REFUSED_LOG_EVERY_US &&
        atomic_compare_exchange_strong(&l->refused_logged_us, &last, now)) {
        atomic_fetch_sub(&l->refused_unlogged, unlogged);
        log_fields(LOG_WARN,
                   json_pack("{ss sI sI sI}", "listener", l->name, "connections",
                             (json_int_t)unlogged, "max_connections",
                             (json_int_t)l->max_connections, "max_connections_per_ip",
                             (json_int_t)l->max_connections_per_ip),
                   "refused connections over the connection limits");
    }
    return true;
}

static void server_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    struct server_listener *l = cls;
    if (l == NULL) {
        log_warn("http server: %s", msg);
        return;
    }
    if (server_count_refused(l, msg))
        return;
    int64_t now = clock_now_us();
    int64_t window = atomic_load(&l->messages_window_us);
    if (now - window >= SERVER_REFUSED_LOG_EVERY_US &&
        atomic_compare_exchange_strong(&l->messages_window_us, &window, now)) {
        long seen = atomic_exchange(&l->messages_in_window, 0);
        if (seen > SERVER_MESSAGES_PER_WINDOW)
            log_fields(LOG_WARN,
                       json_pack("{ss sI}", "listener", l->name, "suppressed",
                                 (json_int_t)(seen - SERVER_MESSAGES_PER_WINDOW)),
                       "http server: more messages than logged in the last window");
    }
    if (atomic_fetch_add(&l->messages_in_window, 1) < SERVER_MESSAGES_PER_WINDOW)
        log_warn("http server: %s", msg);
}

long server_reserve_files(long needed)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return needed; /* cannot tell: assume enough */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)needed) {
        struct rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)needed
                              ? (rlim_t)needed
                              : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX
                                                                          : (long)rl.rlim_cur;
}

struct MHD_Daemon *server_mhd_start(struct server_listener *l, MHD_AccessHandlerCallback access,
                                    void *cls, MHD_RequestCompletedCallback completed)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->port)};
    if (inet_pton(AF_INET, l->host, &addr.sin_addr) != 1) {
        log_error("listen address must be an IPv4 address, got %s", l->host);
        return NULL;
    }
    static const char *const labels[] = {"listener", NULL};
    const char *value[] = {l->name};
    l->refused = metrics_series(
        metrics_counter(
            metrics_default(), "caisse_http_connections_refused_total",
            "Connections closed at once for being over CAISSE_HTTP_MAX_CONNECTIONS_PER_IP"
            " (or a server thread's share of CAISSE_HTTP_MAX_CONNECTIONS), by listener",
            labels),
        value);
    atomic_store(&l->refused_unlogged, 0);
    atomic_store(&l->refused_logged_us, 0);
    atomic_store(&l->messages_window_us, 0);
    atomic_store(&l->messages_in_window, 0);
    deadline_listener_init(&l->deadline, l->name);
    if (deadline_start(l->request_timeout_s, l->connection_timeout_s) != C_OK) {
        log_error("cannot start the request deadline thread");
        return NULL;
    }
    /* Each thread takes at least one connection, or it would never accept. */
    unsigned int max_connections =
        (unsigned int)(l->max_connections > l->threads ? l->max_connections : l->threads);
    struct MHD_OptionItem limits[] = {
        {MHD_OPTION_CONNECTION_LIMIT, max_connections, NULL},
        {l->max_connections_per_ip > 0 ? MHD_OPTION_PER_IP_CONNECTION_LIMIT : MHD_OPTION_END,
         (intptr_t)l->max_connections_per_ip, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* The logger comes first so even option errors reach our JSON log. */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG,
        (uint16_t)l->port, NULL, NULL, access, cls, MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, l,
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)l->threads,
        MHD_OPTION_NOTIFY_COMPLETED, completed, cls, MHD_OPTION_UNESCAPE_CALLBACK, http_unescape,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)l->connection_timeout_s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_NOTIFY_CONNECTION,
        deadline_notify_connection, &l->deadline, MHD_OPTION_URI_LOG_CALLBACK,
        deadline_request_started, NULL, MHD_OPTION_ARRAY, limits, MHD_OPTION_END);
    if (d == NULL)
        log_error("cannot listen on %s:%ld", l->host, l->port);
    return d;
}

int server_start(const struct server_config *cfg)
{
    static int internal_marker;
    server_database_url = cfg->database_url;
    server_statement_timeout_ms = cfg->statement_timeout_ms;
    server_merchant = (struct server_listener){
        .name = "merchant",
        .host = cfg->host,
        .port = cfg->port,
        .threads = cfg->threads,
        .connection_timeout_s = cfg->connection_timeout_s,
        .max_connections = cfg->max_connections,
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .request_timeout_s = cfg->request_timeout_s,
    };
    server_internal = (struct server_listener){
        .name = "internal",
        .host = cfg->internal_host,
        .port = cfg->internal_port,
        .threads = 2,
        .connection_timeout_s = cfg->connection_timeout_s,
        .max_connections = SERVER_INTERNAL_MAX_CONNECTIONS,
        .request_timeout_s = cfg->request_timeout_s,
    };
    /* Every connection is a descriptor: make room, or take fewer connections. */
    long fixed = SERVER_INTERNAL_MAX_CONNECTIONS + SERVER_SPARE_FILES;
    long files = server_reserve_files(cfg->max_connections + fixed);
    if (files < cfg->max_connections + fixed) {
        long fit = files - fixed > cfg->threads ? files - fixed : cfg->threads;
        log_fields(LOG_WARN,
                   json_pack("{sI sI sI}", "max_connections", (json_int_t)cfg->max_connections,
                             "open_files_limit", (json_int_t)files, "max_connections_used",
                             (json_int_t)fit),
                   "the open files limit (ulimit -n) is too low for CAISSE_HTTP_MAX_CONNECTIONS:"
                   " taking fewer connections");
        server_merchant.max_connections = fit;
    }
    server_daemon = server_mhd_start(&server_merchant, server_access, NULL, server_completed);
    if (server_daemon == NULL) {
        deadline_stop();
        return C_ERR;
    }
    server_internal_daemon =
        server_mhd_start(&server_internal, server_access, &internal_marker, server_completed);
    if (server_internal_daemon == NULL) {
        MHD_stop_daemon(server_daemon);
        server_daemon = NULL;
        deadline_stop();
        return C_ERR;
    }
    return C_OK;
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
    deadline_stop();
}
