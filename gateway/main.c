/* caisse-gateway: the merchant-facing REST API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "auth.h"
#include "closing.h"
#include "core/clock.h"
#include "core/config.h"
#include "create.h"
#include "pipeline.h"
#include "http.h"
#include "core/log.h"
#include "core/metrics.h"
#include "reads.h"
#include "core/result.h"
#include "server.h"
#include "infra/service.h"
#include "webhooks.h"

static struct {
    char *database_url;
    char *kafka_brokers;
    char *public_base_url;
    char *host;
    char *log_level;
    char *internal_host;
    char *internal_token;
    char *idempotency_secret;
    char *webhook_allowlist;
    long event_retention_days;
    long webhook_resolve_timeout_ms;
    long internal_port;
    long port;
    long threads;
    long create_wait_ms;
    long kafka_timeout_ms;
    long statement_timeout_ms;
    long api_key_cache_ttl;
    long session_ttl;
    long session_min_ttl;
    long session_max_ttl;
    long connection_timeout;
    long shutdown_grace_ms;
    long shutdown_delay_ms;
} cfg;

static const struct config_entry gateway_config[] = {
    {"CAISSE_DATABASE_URL", CONFIG_STRING, NULL,
     "PostgreSQL connection string (libpq URI or key=value)", &cfg.database_url, 0, 0},
    {"CAISSE_KAFKA_BROKERS", CONFIG_STRING, "127.0.0.1:9092", "Kafka bootstrap servers",
     &cfg.kafka_brokers, 0, 0},
    {"CAISSE_PUBLIC_BASE_URL", CONFIG_STRING, "http://localhost:8080",
     "Base of the hosted page URL returned as `url`", &cfg.public_base_url, 0, 0},
    {"CAISSE_GATEWAY_HOST", CONFIG_STRING, "0.0.0.0", "IPv4 address to listen on", &cfg.host, 0, 0},
    {"CAISSE_GATEWAY_PORT", CONFIG_INT, "8080", "Port of the merchant API", &cfg.port, 1, 65535},
    {"CAISSE_GATEWAY_THREADS", CONFIG_INT, "4",
     "HTTP server threads (each holds one Postgres connection)", &cfg.threads, 1, 256},
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
    {"CAISSE_SHUTDOWN_GRACE_MS", CONFIG_INT, "20000",
     "On SIGTERM, how long in-flight requests may take to finish", &cfg.shutdown_grace_ms, 0,
     600000},
    {"CAISSE_SHUTDOWN_DELAY_MS", CONFIG_INT, "0",
     "On SIGTERM, how long /readyz answers 503 while requests are still served, before the"
     " listeners close: the time a load balancer (a Kubernetes Service) needs to stop routing"
     " here; part of the grace period",
     &cfg.shutdown_delay_ms, 0, 600000},
    {"CAISSE_GATEWAY_INTERNAL_HOST", CONFIG_STRING, "0.0.0.0",
     "IPv4 address of the internal API (completion, health, metrics); keep it off the internet",
     &cfg.internal_host, 0, 0},
    {"CAISSE_GATEWAY_INTERNAL_PORT", CONFIG_INT, "8081", "Port of the internal API",
     &cfg.internal_port, 1, 65535},
    {"CAISSE_INTERNAL_TOKEN", CONFIG_STRING, "",
     "Service token for the internal API (Authorization: Bearer); empty disables completion",
     &cfg.internal_token, 0, 0},
    {"CAISSE_IDEMPOTENCY_SECRET", CONFIG_STRING, "",
     "Secret (at least 32 bytes, the same on every replica) under which a keyed create's session"
     " id is derived from its organization, environment and Idempotency-Key; empty: ids anyone"
     " can compute (local stacks only)",
     &cfg.idempotency_secret, 0, 0},
    {"CAISSE_WEBHOOK_ALLOWLIST", CONFIG_STRING, "",
     "Comma-separated CIDRs a webhook endpoint URL may resolve to although private or loopback"
     " (tests: 127.0.0.1/32); empty allows public addresses only",
     &cfg.webhook_allowlist, 0, 0},
    {"CAISSE_WEBHOOK_RESOLVE_TIMEOUT_MS", CONFIG_INT, "2000",
     "How long a webhook endpoint URL's host name may take to resolve (off the request threads);"
     " past it the create or update is a 400",
     &cfg.webhook_resolve_timeout_ms, 100, 30000},
    {"CAISSE_EVENT_RETENTION_DAYS", CONFIG_INT, "30",
     "Days an event stays visible through GET /events", &cfg.event_retention_days, 1, 3650},
    {"CAISSE_LOG_LEVEL", CONFIG_STRING, "info", "debug, info, warn or error", &cfg.log_level, 0, 0},
};

int main(int argc, char **argv)
{
    service_init_or_exit(argc, argv, "gateway",
                         "caisse-gateway: the Checkout Sessions REST API (POST/GET "
                         "/checkout-sessions, also under /v1).",
                         gateway_config, CONFIG_TABLE_SIZE(gateway_config), &cfg.log_level);
    if (cfg.shutdown_delay_ms >= cfg.shutdown_grace_ms && cfg.shutdown_delay_ms > 0) {
        log_error("CAISSE_SHUTDOWN_DELAY_MS (%ld) must be shorter than CAISSE_SHUTDOWN_GRACE_MS "
                  "(%ld): in-flight requests need time after it",
                  cfg.shutdown_delay_ms, cfg.shutdown_grace_ms);
        config_free(gateway_config, CONFIG_TABLE_SIZE(gateway_config));
        return 2;
    }
    metrics_register_process("gateway");
    auth_init(cfg.api_key_cache_ttl, cfg.internal_token);
    reads_init(cfg.public_base_url);
    struct pipeline_config pc = {
        .database_url = cfg.database_url,
        .kafka_brokers = cfg.kafka_brokers,
        .wait_ms = cfg.create_wait_ms,
        .kafka_timeout_ms = cfg.kafka_timeout_ms,
        .statement_timeout_ms = cfg.statement_timeout_ms,
    };
    struct create_config cc = {
        .public_base_url = cfg.public_base_url,
        .default_ttl_seconds = cfg.session_ttl,
        .min_ttl_seconds = cfg.session_min_ttl,
        .max_ttl_seconds = cfg.session_max_ttl,
        .idempotency_secret = cfg.idempotency_secret,
    };
    if (create_init(&cc) != C_OK)
        return 2;
    closing_init(cfg.public_base_url);
    struct webhooks_config wc = {
        .allowlist = cfg.webhook_allowlist,
        .event_retention_days = cfg.event_retention_days,
        .resolve_timeout_ms = cfg.webhook_resolve_timeout_ms,
    };
    if (webhooks_init(&wc) != C_OK)
        return 1;
    if (pipeline_init(&pc) != C_OK)
        return 1;
    struct server_config sc = {
        .host = cfg.host,
        .port = cfg.port,
        .threads = cfg.threads,
        .database_url = cfg.database_url,
        .statement_timeout_ms = cfg.statement_timeout_ms,
        .connection_timeout_s = cfg.connection_timeout,
        .internal_host = cfg.internal_host,
        .internal_port = cfg.internal_port,
    };
    if (server_start(&sc) != C_OK) {
        pipeline_shutdown(0);
        return 1;
    }
    log_fields(LOG_INFO,
               json_pack("{ss si si ss}", "host", cfg.host, "port", (int)cfg.port, "threads",
                         (int)cfg.threads, "kafka_brokers", cfg.kafka_brokers),
               "gateway listening");

    while (!service_stopping())
        service_sleep_ms(1000);

    /* Orderly stop: unready first so load balancers move away, then no new
     * connections, then let in-flight creates resolve, then close. */
    int64_t deadline = clock_now_us() + cfg.shutdown_grace_ms * 1000;
    server_set_draining();
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
    pipeline_shutdown(deadline);
    webhooks_shutdown();
    server_stop();
    auth_shutdown();
    log_info("gateway stopped");
    config_free(gateway_config, CONFIG_TABLE_SIZE(gateway_config));
    return 0;
}
