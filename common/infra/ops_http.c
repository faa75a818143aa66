#include "ops_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>

#include "infra/kafka.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "infra/service.h"

#define OPS_HTTP_PROBE_MS 1000
/* A dependency whose last successful probe is older than this is taken as
 * down: the probe itself may hang on a frozen server. */
#define OPS_HTTP_STALE_MS 5000
#define OPS_HTTP_KAFKA_PROBE_MS 1000
/* How long ops_http_stop waits for a probe stuck in a call before leaving
 * its resources to the process exit. */
#define OPS_HTTP_STOP_WAIT_MS 3000

struct ops_http_dependency {
    atomic_bool ok;        /* the last probe answered */
    _Atomic int64_t ok_at; /* when a probe last answered (monotonic ms) */
};

static struct {
    struct MHD_Daemon *daemon;
    pthread_t probe_thread;
    bool probe_started;
    atomic_bool probe_stop;
    atomic_bool probe_exited;
    atomic_bool accepting;
    bool uses_kafka;
    struct ops_http_dependency postgres, kafka;
    struct db db;            /* the probe thread's */
    rd_kafka_t *kafka_probe; /* the probe thread's; NULL without Kafka */
    long refresh_ms;
    void (*refresh)(struct db *db);
} ops;

static void ops_http_note(struct ops_http_dependency *d, bool ok)
{
    if (ok)
        atomic_store(&d->ok_at, clock_now_ms());
    atomic_store(&d->ok, ok);
}

static bool ops_http_up(struct ops_http_dependency *d, int64_t now)
{
    return atomic_load(&d->ok) && now - atomic_load(&d->ok_at) < OPS_HTTP_STALE_MS;
}

/* ---- the probe thread -------------------------------------------------------- */

/* db_ensure first, quietly: while PostgreSQL is down the probe would
 * otherwise log every second what the worker already logs. */
static bool ops_http_probe_postgres(void)
{
    if (db_ensure(&ops.db) != C_OK)
        return false;
    return db_exec_command(&ops.db, "SELECT 1", 0, NULL) == C_OK;
}

static void ops_http_sleep(long ms)
{
    int64_t until = clock_now_ms() + ms;
    while (!atomic_load(&ops.probe_stop) && clock_now_ms() < until) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *ops_http_probe_main(void *arg)
{
    (void)arg;
    int64_t next_refresh = 0;
    while (!atomic_load(&ops.probe_stop)) {
        int64_t started = clock_now_ms();
        bool pg = ops_http_probe_postgres();
        ops_http_note(&ops.postgres, pg);
        if (ops.kafka_probe != NULL)
            ops_http_note(&ops.kafka,
                          kafka_is_reachable(ops.kafka_probe, OPS_HTTP_KAFKA_PROBE_MS) != 0);
        if (pg && ops.refresh != NULL && clock_now_ms() >= next_refresh) {
            ops.refresh(&ops.db);
            next_refresh = clock_now_ms() + ops.refresh_ms;
        }
        long spent = (long)(clock_now_ms() - started);
        ops_http_sleep(spent < OPS_HTTP_PROBE_MS ? OPS_HTTP_PROBE_MS - spent : 0);
    }
    atomic_store(&ops.probe_exited, true);
    return NULL;
}

/* ---- readiness ---------------------------------------------------------------- */

static struct ops_check ops_checks[OPS_HTTP_CHECKS_MAX];
static size_t ops_check_count;

int ops_http_add_checks(const struct ops_check *checks, size_t n)
{
    if (n > OPS_HTTP_CHECKS_MAX - ops_check_count)
        return C_ERR;
    for (size_t i = 0; i < n; i++)
        ops_checks[ops_check_count++] = checks[i];
    return C_OK;
}

static bool ops_http_accepting_ready(void *ctx)
{
    (void)ctx;
    return atomic_load(&ops.accepting);
}

static bool ops_http_postgres_ready(void *ctx)
{
    (void)ctx;
    return ops_http_up(&ops.postgres, clock_now_ms());
}

static bool ops_http_kafka_ready(void *ctx)
{
    (void)ctx;
    return ops_http_up(&ops.kafka, clock_now_ms());
}

/* A worker's: it takes work first, then its dependencies answer. */
static const struct ops_check ops_http_probe_checks[] = {
    {"accepting", "not taking work yet", ops_http_accepting_ready},
    {"postgres", "postgres unreachable", ops_http_postgres_ready},
    {"kafka", "kafka unreachable", ops_http_kafka_ready},
};

/* body is stolen. */
static void ops_http_json_reply(struct ops_reply *out, unsigned status, json_t *body)
{
    out->status = status;
    out->content_type = "application/json";
    out->body = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    out->len = out->body != NULL ? strlen(out->body) : 0;
    json_decref(body);
}

void ops_http_healthz(struct ops_reply *out)
{
    ops_http_json_reply(out, 200, json_pack("{ss}", "status", "ok"));
}

void ops_http_readyz(void *ctx, struct ops_reply *out)
{
    /* Unready from the signal on, before the main loop even notices it. */
    bool draining = service_stopping();
    const char *reason = draining ? "shutting down" : NULL;
    json_t *checks = json_object();
    for (size_t i = 0; i < ops_check_count; i++) {
        bool ok = ops_checks[i].ready(ctx);
        if (!ok && reason == NULL)
            reason = ops_checks[i].reason;
        json_object_set_new(checks, ops_checks[i].name, json_boolean(ok));
    }
    json_object_set_new(checks, "draining", json_boolean(draining));
    json_t *body =
        json_pack("{ss so}", "status", reason == NULL ? "ready" : "unavailable", "checks", checks);
    if (body != NULL && reason != NULL)
        json_object_set_new(body, "reason", json_string(reason));
    ops_http_json_reply(out, reason == NULL ? 200 : 503, body);
}

void ops_http_metrics(struct ops_reply *out)
{
    out->status = 200;
    out->content_type = METRICS_CONTENT_TYPE;
    out->body = NULL;
    out->len = 0;
    if (metrics_render(metrics_default(), &out->body, &out->len) != C_OK) {
        out->status = 500;
        out->body = NULL;
    }
}

/* ---- the ops listener ---------------------------------------------------------- */

static enum MHD_Result ops_http_send(struct MHD_Connection *conn, struct ops_reply *r,
                                     const char *allow)
{
    if (r->body == NULL) {
        struct MHD_Response *bare =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (bare == NULL)
            return MHD_NO;
        enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, bare);
        MHD_destroy_response(bare);
        return rc;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r->content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (allow != NULL)
        MHD_add_response_header(resp, "Allow", allow);
    enum MHD_Result rc = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result ops_http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    static int first_call_seen;
    /* The first call only announces the request; a body is read and dropped. */
    if (*con_cls == NULL) {
        *con_cls = &first_call_seen;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    bool healthz = strcmp(url, "/healthz") == 0;
    bool readyz = strcmp(url, "/readyz") == 0;
    bool metrics = strcmp(url, "/metrics") == 0;
    struct ops_reply r;
    if (!healthz && !readyz && !metrics) {
        ops_http_json_reply(&r, 404, json_pack("{ss}", "error", "not found"));
        return ops_http_send(conn, &r, NULL);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        ops_http_json_reply(&r, 405, json_pack("{ss}", "error", "method not allowed"));
        return ops_http_send(conn, &r, "GET, HEAD");
    }
    if (healthz)
        ops_http_healthz(&r);
    else if (readyz)
        ops_http_readyz(NULL, &r);
    else
        ops_http_metrics(&r);
    return ops_http_send(conn, &r, NULL);
}

static void ops_http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_warn("ops listener: %s", msg);
}

/* ---- lifecycle --------------------------------------------------------------------- */

static void ops_http_release(void)
{
    db_close(&ops.db);
    if (ops.kafka_probe != NULL)
        rd_kafka_destroy(ops.kafka_probe);
    ops.kafka_probe = NULL;
}

int ops_http_start(const struct ops_http_options *opt)
{
    if (opt->port == 0) {
        log_info("ops listener disabled (CAISSE_OPS_PORT=0)");
        return C_OK;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt->port)};
    if (inet_pton(AF_INET, opt->host, &addr.sin_addr) != 1) {
        log_error("CAISSE_OPS_HOST must be an IPv4 address, got %s", opt->host);
        return C_ERR;
    }
    atomic_store(&ops.probe_stop, false);
    atomic_store(&ops.probe_exited, false);
    atomic_store(&ops.accepting, false);
    ops.refresh = opt->refresh;
    ops.refresh_ms = opt->refresh_ms;
    ops.uses_kafka = opt->kafka_brokers != NULL;
    if (db_init(&ops.db, opt->database_url) != C_OK) {
        log_error("out of memory");
        return C_ERR;
    }
    ops.kafka_probe = NULL;
    size_t nchecks = ops.uses_kafka ? 3 : 2;
    if (ops_http_add_checks(ops_http_probe_checks, nchecks) != C_OK ||
        ops_http_add_checks(opt->checks, opt->check_count) != C_OK) {
        log_error("ops listener: too many readiness checks");
        db_close(&ops.db);
        return C_ERR;
    }
    if (ops.uses_kafka) {
        struct error err = ERROR_INIT;
        ops.kafka_probe = kafka_probe_new(opt->kafka_brokers, &err);
        if (ops.kafka_probe == NULL) {
            log_error("cannot create the Kafka readiness probe: %s", err.message);
            ops_http_release();
            return C_ERR;
        }
    }
    ops.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)opt->port,
        NULL, NULL, ops_http_access, NULL, MHD_OPTION_EXTERNAL_LOGGER, ops_http_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (ops.daemon == NULL) {
        log_error("ops listener: cannot listen on %s:%ld", opt->host, opt->port);
        ops_http_release();
        return C_ERR;
    }
    if (pthread_create(&ops.probe_thread, NULL, ops_http_probe_main, NULL) != 0) {
        log_error("ops listener: cannot start the probe thread");
        MHD_stop_daemon(ops.daemon);
        ops.daemon = NULL;
        ops_http_release();
        return C_ERR;
    }
    ops.probe_started = true;
    log_fields(LOG_INFO, json_pack("{ss si}", "host", opt->host, "port", (int)opt->port),
               "ops listener (healthz, readyz, metrics) listening");
    return C_OK;
}

void ops_http_set_accepting(bool accepting)
{
    atomic_store(&ops.accepting, accepting);
}

void ops_http_stop(void)
{
    if (!ops.probe_started)
        return;
    atomic_store(&ops.probe_stop, true);
    int64_t deadline = clock_now_ms() + OPS_HTTP_STOP_WAIT_MS;
    while (!atomic_load(&ops.probe_exited) && clock_now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(ops.daemon);
    ops.daemon = NULL;
    ops.probe_started = false;
    if (!atomic_load(&ops.probe_exited)) {
        /* Stuck in a call to a frozen dependency: its connections go with the process. */
        log_warn("ops listener: the readiness probe is still waiting on a dependency");
        pthread_detach(ops.probe_thread);
        return;
    }
    pthread_join(ops.probe_thread, NULL);
    ops_http_release();
}
