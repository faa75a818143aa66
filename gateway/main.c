/* caisse-gateway: the merchant-facing REST API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "auth.h"
#include "checkout_pay.h"
#include "closing.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/result.h"
#include "create.h"
#include "infra/db.h"
#include "infra/ops_http.h"
#include "infra/service.h"
#include "pipeline.h"
#include "page.h"
#include "reads.h"
#include "server.h"
#include "throttle.h"
#include "webhooks.h"

/* The pipeline's last Kafka flush after the drain takes up to 5 s; the
 * watchdog leaves it that and a second for closing the listeners. */
#define GATEWAY_STOP_MARGIN_MS 6000

static struct {
    char *host;
    char *internal_host;
    char *internal_token;
    char *internal_token_previous;
    char *idempotency_secret;
    char *webhook_allowlist;
    long event_retention_days;
    long webhook_resolve_timeout_ms;
    long internal_port;
    long port;
    long threads;
    long read_connections;
    long create_wait_ms;
    long kafka_timeout_ms;
    long statement_timeout_ms;
    long api_key_cache_ttl;
    long session_ttl;
    long session_min_ttl;
    long session_max_ttl;
    long connection_timeout;
    long max_connections;
    long max_connections_per_ip;
    long request_timeout;
    char *trusted_proxies;
    long rate_key_per_s, rate_key_burst;
    long rate_client_per_s, rate_client_burst;
    long rate_auth_failures_per_s, rate_auth_failures_burst;
    long rate_page_posts_per_min, rate_page_posts_burst;
    long rate_page_coupons_per_min, rate_page_coupons_burst;
    long rate_webhook_retries_per_min, rate_webhook_retries_burst;
    long webhook_max_endpoints;
    long rate_replicas;
    long shutdown_delay_ms;
} cfg;

/* The command MAC keys (model/command_mac.h): the settings, then parsed by
 * check_config. */
static char *cfg_mac_key, *cfg_mac_key_previous;
static struct command_mac_keys gateway_mac_keys;

static const struct config_entry gateway_config[] = {
    {"CAISSE_GATEWAY_HOST", CONFIG_STRING, "0.0.0.0", "IPv4 address to listen on", &cfg.host, 0, 0},
    {"CAISSE_GATEWAY_PORT", CONFIG_INT, "8080", "Port of the merchant API", &cfg.port, 1, 65535},
    {"CAISSE_GATEWAY_THREADS", CONFIG_INT, "4",
     "HTTP server threads (each holds one Postgres connection)", &cfg.threads, 1, 256},
    {"CAISSE_GATEWAY_READ_CONNECTIONS", CONFIG_INT, "1",
     "Postgres connections (each with its thread) that read GET /checkout-sessions/{id} in"
     " batches: the GETs waiting at the same time are one query; 0: each server thread reads"
     " its own",
     &cfg.read_connections, 0, 64},
    {"CAISSE_CREATE_WAIT_MS", CONFIG_INT, "2000",
     "How long a write (create, expire, complete) waits for the worker before answering 202",
     &cfg.create_wait_ms, 0, 60000},
    {"CAISSE_KAFKA_MESSAGE_TIMEOUT_MS", CONFIG_INT, "5000",
     "Kafka delivery timeout; past it a create answers 503", &cfg.kafka_timeout_ms, 1000, 300000},
    {"CAISSE_DB_STATEMENT_TIMEOUT_MS", CONFIG_INT, "5000",
     "PostgreSQL statement_timeout of the statements requests run; past it the request answers"
     " 503 (0: the server's own)",
     &cfg.statement_timeout_ms, 0, 600000},
    {"CAISSE_API_KEY_CACHE_TTL", CONFIG_INT, "30",
     "Seconds an API key lookup is cached (revocation delay)", &cfg.api_key_cache_ttl, 0, 3600},
    {"CAISSE_SESSION_TTL", CONFIG_INT, "3600", "Default session lifetime in seconds",
     &cfg.session_ttl, 1, 86400},
    {"CAISSE_SESSION_MIN_TTL", CONFIG_INT, "1800",
     "Earliest expires_at a merchant may ask for, in seconds from now", &cfg.session_min_ttl, 1,
     86400},
    {"CAISSE_SESSION_MAX_TTL", CONFIG_INT, "86400",
     "Latest expires_at a merchant may ask for, in seconds from now", &cfg.session_max_ttl, 60,
     604800},
    {"CAISSE_HTTP_CONNECTION_TIMEOUT", CONFIG_INT, "30", "Idle HTTP connection timeout in seconds",
     &cfg.connection_timeout, 1, 3600},
    {"CAISSE_HTTP_MAX_CONNECTIONS", CONFIG_INT, "1024",
     "Most open connections of the merchant API, split evenly between the server threads; more"
     " wait in the listen backlog",
     &cfg.max_connections, 1, 1000000},
    {"CAISSE_HTTP_MAX_CONNECTIONS_PER_IP", CONFIG_INT, "128",
     "Most open connections of the merchant API from one address (the TCP peer: behind a proxy,"
     " the proxy's); more are closed at once; 0: no limit",
     &cfg.max_connections_per_ip, 0, 1000000},
    {"CAISSE_HTTP_REQUEST_TIMEOUT", CONFIG_INT, "10",
     "Seconds a client has to send a whole request once its request line arrived (and the idle"
     " timeout plus this from the connection's start or its previous answer); 0: no deadline",
     &cfg.request_timeout, 0, 3600},
    {"CAISSE_RATE_LIMIT_KEY_PER_S", CONFIG_INT, "100",
     "Requests a second per API key, for the whole deployment (an organization's own limit, set"
     " with caisse-admin set-rate-limit, wins); 0: no limit",
     &cfg.rate_key_per_s, 0, 1000000},
    {"CAISSE_RATE_LIMIT_KEY_BURST", CONFIG_INT, "200", "Requests an API key may make at once",
     &cfg.rate_key_burst, 1, 1000000},
    {"CAISSE_RATE_LIMIT_CLIENT_PER_S", CONFIG_INT, "20",
     "Requests a second per client address without credentials (the API document, readiness,"
     " unknown routes); 0: no limit",
     &cfg.rate_client_per_s, 0, 1000000},
    {"CAISSE_RATE_LIMIT_CLIENT_BURST", CONFIG_INT, "40",
     "Requests without credentials a client address may make at once", &cfg.rate_client_burst, 1,
     1000000},
    {"CAISSE_RATE_LIMIT_AUTH_FAILURES_PER_S", CONFIG_INT, "1",
     "Failed authentications a second per client address; past them, that address gets 429"
     " for every key the gateway has not verified already; 0: no limit",
     &cfg.rate_auth_failures_per_s, 0, 1000000},
    {"CAISSE_RATE_LIMIT_AUTH_FAILURES_BURST", CONFIG_INT, "10",
     "Failed authentications a client address may make at once", &cfg.rate_auth_failures_burst, 1,
     1000000},
    {"CAISSE_RATE_LIMIT_PAGE_POSTS_PER_MIN", CONFIG_INT, "60",
     "Form posts of the hosted checkout page a minute per client address (on top of the"
     " per-client limit of every request without credentials); 0: no limit",
     &cfg.rate_page_posts_per_min, 0, 1000000},
    {"CAISSE_RATE_LIMIT_PAGE_POSTS_BURST", CONFIG_INT, "20",
     "Form posts of the hosted checkout page a client address may make at once",
     &cfg.rate_page_posts_burst, 1, 1000000},
    {"CAISSE_RATE_LIMIT_PAGE_COUPONS_PER_MIN", CONFIG_INT, "10",
     "Coupon codes a client address may try a minute on the hosted checkout page, so that codes"
     " cannot be guessed; 0: no limit",
     &cfg.rate_page_coupons_per_min, 0, 1000000},
    {"CAISSE_RATE_LIMIT_PAGE_COUPONS_BURST", CONFIG_INT, "5",
     "Coupon codes a client address may try at once on the hosted checkout page",
     &cfg.rate_page_coupons_burst, 1, 1000000},
    {"CAISSE_RATE_LIMIT_WEBHOOK_RETRIES_PER_MIN", CONFIG_INT, "30",
     "Manual retries (POST /webhook-deliveries/{id}/retry) a minute per webhook endpoint, on top"
     " of the API key's limit; past them, 429 with Retry-After; 0: no limit",
     &cfg.rate_webhook_retries_per_min, 0, 1000000},
    {"CAISSE_RATE_LIMIT_WEBHOOK_RETRIES_BURST", CONFIG_INT, "10",
     "Manual retries of one webhook endpoint's deliveries allowed at once",
     &cfg.rate_webhook_retries_burst, 1, 1000000},
    {"CAISSE_RATE_LIMIT_REPLICAS", CONFIG_INT, "1",
     "Gateways sharing the rate limits: each enforces the rates and bursts divided by this",
     &cfg.rate_replicas, 1, 1000},
    {"CAISSE_TRUSTED_PROXIES", CONFIG_STRING, "",
     "Comma-separated CIDRs of the proxies in front (the ingress): from them, the client address"
     " of the rate limits is read from X-Forwarded-For; empty: the TCP peer",
     &cfg.trusted_proxies, 0, 0},
    {"CAISSE_SHUTDOWN_DELAY_MS", CONFIG_INT, "0",
     "On SIGTERM, how long /readyz answers 503 while requests are still served, before the"
     " listeners close: the time a load balancer (a Kubernetes Service) needs to stop routing"
     " here; part of the grace period",
     &cfg.shutdown_delay_ms, 0, 600000},
    {"CAISSE_GATEWAY_INTERNAL_HOST", CONFIG_STRING, "127.0.0.1",
     "IPv4 address of the internal API (completion, health, metrics); keep it off the internet."
     " Kubernetes: 0.0.0.0 (the pod's own address; a NetworkPolicy keeps other pods out)",
     &cfg.internal_host, 0, 0},
    {"CAISSE_GATEWAY_INTERNAL_PORT", CONFIG_INT, "8081", "Port of the internal API",
     &cfg.internal_port, 1, 65535},
    {"CAISSE_INTERNAL_TOKEN", CONFIG_SECRET, "",
     "Service token for the internal API (Authorization: Bearer), at least 32 characters (e.g."
     " openssl rand -hex 32); empty disables completion",
     &cfg.internal_token, 0, 0},
    {"CAISSE_INTERNAL_TOKEN_PREVIOUS", CONFIG_SECRET, "",
     "The service token being replaced, accepted beside CAISSE_INTERNAL_TOKEN while the payment"
     " side moves to the new one (rotation); empty once it has",
     &cfg.internal_token_previous, 0, 0},
    {"CAISSE_IDEMPOTENCY_SECRET", CONFIG_SECRET, "",
     "Secret (at least 32 bytes, the same on every replica) under which a keyed create's session"
     " id is derived from its organization, environment and Idempotency-Key; empty: ids anyone"
     " can compute (local stacks only)",
     &cfg.idempotency_secret, 0, 0},
    {"CAISSE_COMMAND_MAC_KEY", CONFIG_SECRET, NULL,
     "<key id>:<secret> (secret of at least 32 bytes) under which every command produced to "
     "Kafka is signed (caisse-mac header); the session worker verifies with the same",
     &cfg_mac_key, 0, 0},
    {"CAISSE_COMMAND_MAC_KEY_PREVIOUS", CONFIG_SECRET, "",
     "<key id>:<secret> of the previous command MAC key during a rotation; the gateway only "
     "signs with the current one, so it needs none (accepted for one Secret shared with the "
     "session worker)",
     &cfg_mac_key_previous, 0, 0},
    {"CAISSE_WEBHOOK_ALLOWLIST", CONFIG_STRING, "",
     "Comma-separated CIDRs a webhook endpoint URL may resolve to although private or loopback"
     " (tests: 127.0.0.1/32); empty allows public addresses only",
     &cfg.webhook_allowlist, 0, 0},
    {"CAISSE_WEBHOOK_RESOLVE_TIMEOUT_MS", CONFIG_INT, "2000",
     "How long a webhook endpoint URL's host name may take to resolve (off the request threads);"
     " past it the create or update is a 400",
     &cfg.webhook_resolve_timeout_ms, 100, 30000},
    {"CAISSE_WEBHOOK_MAX_ENDPOINTS", CONFIG_INT, "16",
     "Most webhook endpoints (not deleted) an organization may have in one environment; a create"
     " past it is 409 limit_exceeded",
     &cfg.webhook_max_endpoints, 1, 100000},
    {"CAISSE_EVENT_RETENTION_DAYS", CONFIG_INT, "30",
     "Days an event stays visible through GET /events", &cfg.event_retention_days, 1, 3650},
};

/* ---- readiness: asked on the answering server thread, ctx its connection ---- */

static bool gateway_postgres_ready(void *ctx)
{
    struct db *db = ctx;
    return db != NULL && db_exec_command(db, "SELECT 1", 0, NULL) == C_OK;
}

static bool gateway_kafka_ready(void *ctx)
{
    (void)ctx;
    return pipeline_kafka_ready();
}

static bool gateway_notifications_ready(void *ctx)
{
    (void)ctx;
    return pipeline_listener_ready();
}

static const struct ops_check gateway_checks[] = {
    {"postgres", "postgres unreachable", gateway_postgres_ready},
    {"kafka", "kafka unreachable", gateway_kafka_ready},
    {"notifications", "not listening for commit notifications", gateway_notifications_ready},
};

static int gateway_check_config(const struct service_settings *s, struct error *err)
{
    if (cfg.shutdown_delay_ms >= s->shutdown_grace_ms && cfg.shutdown_delay_ms > 0)
        return error_set(err, "CAISSE_SHUTDOWN_DELAY_MS",
                         "CAISSE_SHUTDOWN_DELAY_MS (%ld) must be shorter than "
                         "CAISSE_SHUTDOWN_GRACE_MS (%ld): in-flight requests need time after it",
                         cfg.shutdown_delay_ms, s->shutdown_grace_ms);
    /* A short service token refuses to start, before anything listens. */
    if (auth_check_tokens(cfg.internal_token, cfg.internal_token_previous, err) != C_OK)
        return C_ERR;
    return command_mac_keys_load(cfg_mac_key, cfg_mac_key_previous, &gateway_mac_keys, err);
}

/* Orderly stop: unready first (readyz answers 503 from the signal on) so load
 * balancers move away, then no new connections, then let in-flight creates
 * resolve, then close. */
static void gateway_drain(const struct service_settings *s)
{
    int64_t deadline = clock_now_us() + s->shutdown_grace_ms * 1000;
    if (cfg.shutdown_delay_ms > 0) {
        /* Endpoints are removed from a Service only after the readiness probe
         * fails; until then new requests keep arriving and must be served. */
        log_fields(LOG_INFO, json_pack("{sI}", "delay_ms", (json_int_t)cfg.shutdown_delay_ms),
                   "shutting down: unready, still serving until load balancers move away");
        struct timespec ts = {.tv_sec = cfg.shutdown_delay_ms / 1000,
                              .tv_nsec = (cfg.shutdown_delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    log_info("shutting down: draining in-flight requests");
    server_quiesce();
    checkout_pay_shutdown();
    pipeline_shutdown(deadline);
    reads_shutdown();
    webhooks_shutdown();
    server_stop();
    auth_shutdown();
    throttle_shutdown();
}

static int gateway_run(const struct service_settings *s, struct db *db)
{
    (void)db;
    struct throttle_config tc = {
        .rates = {[THROTTLE_API_KEY] = {cfg.rate_key_per_s, cfg.rate_key_burst},
                  [THROTTLE_CLIENT] = {cfg.rate_client_per_s, cfg.rate_client_burst},
                  [THROTTLE_AUTH_FAILURE] = {cfg.rate_auth_failures_per_s,
                                             cfg.rate_auth_failures_burst},
                  [THROTTLE_PAGE_POST] = {cfg.rate_page_posts_per_min, cfg.rate_page_posts_burst},
                  [THROTTLE_COUPON] = {cfg.rate_page_coupons_per_min, cfg.rate_page_coupons_burst},
                  [THROTTLE_WEBHOOK_RETRY] = {cfg.rate_webhook_retries_per_min,
                                              cfg.rate_webhook_retries_burst}},
        .per_minute = {[THROTTLE_PAGE_POST] = true,
                       [THROTTLE_COUPON] = true,
                       [THROTTLE_WEBHOOK_RETRY] = true},
        .replicas = cfg.rate_replicas,
        .trusted_proxies = cfg.trusted_proxies,
    };
    struct error err = ERROR_INIT;
    if (throttle_init(&tc, &err) != C_OK) {
        log_error("%s", err.message);
        return C_ERR;
    }
    if (auth_init(cfg.api_key_cache_ttl, cfg.internal_token, cfg.internal_token_previous, &err) !=
        C_OK) {
        log_error("%s", err.message);
        return C_ERR;
    }
    struct reads_config rc = {
        .public_base_url = s->public_base_url,
        .database_url = s->database_url,
        .statement_timeout_ms = cfg.statement_timeout_ms,
        .connections = cfg.read_connections,
    };
    if (reads_init(&rc) != C_OK) {
        log_error("cannot start the read threads");
        return C_ERR;
    }
    page_init(s->public_base_url);
    struct create_config cc = {
        .public_base_url = s->public_base_url,
        .default_ttl_seconds = cfg.session_ttl,
        .min_ttl_seconds = cfg.session_min_ttl,
        .max_ttl_seconds = cfg.session_max_ttl,
        .idempotency_secret = cfg.idempotency_secret,
    };
    if (create_init(&cc) != C_OK) {
        reads_shutdown();
        return C_ERR;
    }
    closing_init(s->public_base_url);
    struct webhooks_config wc = {
        .allowlist = cfg.webhook_allowlist,
        .event_retention_days = cfg.event_retention_days,
        .resolve_timeout_ms = cfg.webhook_resolve_timeout_ms,
        .max_endpoints = cfg.webhook_max_endpoints,
        .secrets = s->secrets,
    };
    if (webhooks_init(&wc) != C_OK) {
        reads_shutdown();
        return C_ERR;
    }
    struct pipeline_config pc = {
        .database_url = s->database_url,
        .kafka_brokers = s->kafka_brokers,
        .wait_ms = cfg.create_wait_ms,
        .kafka_timeout_ms = cfg.kafka_timeout_ms,
        .statement_timeout_ms = cfg.statement_timeout_ms,
        .mac_keys = &gateway_mac_keys,
    };
    if (pipeline_init(&pc) != C_OK) {
        reads_shutdown();
        return C_ERR;
    }
    /* Pending payments settle every 2 s even if nobody looks at their page. */
    struct checkout_pay_config pay = {.public_base_url = s->public_base_url,
                                      .settle_interval_ms = 2000,
                                      .database_url = s->database_url,
                                      .statement_timeout_ms = cfg.statement_timeout_ms};
    if (checkout_pay_init(&pay) != C_OK) {
        pipeline_shutdown(0);
        reads_shutdown();
        return C_ERR;
    }
    struct server_config sc = {
        .host = cfg.host,
        .port = cfg.port,
        .threads = cfg.threads,
        .database_url = s->database_url,
        .statement_timeout_ms = cfg.statement_timeout_ms,
        .connection_timeout_s = cfg.connection_timeout,
        .max_connections = cfg.max_connections,
        .max_connections_per_ip = cfg.max_connections_per_ip,
        .request_timeout_s = cfg.request_timeout,
        .internal_host = cfg.internal_host,
        .internal_port = cfg.internal_port,
    };
    if (server_start(&sc) != C_OK) {
        checkout_pay_shutdown();
        pipeline_shutdown(0);
        reads_shutdown();
        return C_ERR;
    }
    log_fields(LOG_INFO,
               json_pack("{ss si si ss}", "host", cfg.host, "port", (int)cfg.port, "threads",
                         (int)cfg.threads, "kafka_brokers", s->kafka_brokers),
               "gateway listening");
    while (!service_stopping())
        service_sleep_ms(1000);
    gateway_drain(s);
    return C_OK;
}

static const struct service_spec gateway_spec = {
    .name = "gateway",
    .summary = "caisse-gateway: the Checkout Sessions REST API (POST/GET /checkout-sessions, also "
               "under /v1).",
    /* Its health and metrics are on its internal listener, not an ops listener. */
    .uses = SERVICE_USES_KAFKA | SERVICE_USES_PUBLIC_BASE_URL | SERVICE_USES_SECRETS_KEY,
    .config = gateway_config,
    .config_count = CONFIG_TABLE_SIZE(gateway_config),
    .shutdown_grace_min_ms = 0,
    .shutdown_grace_help = "On SIGTERM, how long in-flight requests may take to finish; 6 s "
                           "later (its last Kafka flush) the process exits anyway",
    .stop_margin_ms = GATEWAY_STOP_MARGIN_MS,
    .checks = gateway_checks,
    .check_count = sizeof(gateway_checks) / sizeof(gateway_checks[0]),
    .check_config = gateway_check_config,
    .run = gateway_run,
};

int main(int argc, char **argv)
{
    return service_run(argc, argv, &gateway_spec);
}
