/* caisse-expiry-worker: expires open checkout sessions whose expires_at has
 * passed, in batches (see expire.h), writing their checkout.session.expired
 * events to the outbox in the same transactions. It needs no Kafka: the
 * session worker's outbox relay publishes the events. Any number of replicas
 * may run. */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "infra/db.h"
#include "expire.h"
#include "core/log.h"
#include "core/metrics.h"
#include "infra/ops_http.h"
#include "core/result.h"
#include "infra/service.h"
#include "model/session.h"
#include "infra/startup.h"

static char *cfg_database_url;
static char *cfg_public_base_url;
static char *cfg_log_level;
static long cfg_interval_ms;
static long cfg_batch;
static long cfg_concurrency;
static long cfg_retention_days;
static long cfg_retention_interval_ms;
static long cfg_lag_log_ms;
static long cfg_lag_warn_s;
static long cfg_shutdown_grace_ms;
static char *cfg_ops_host;
static long cfg_ops_port;
static long cfg_metrics_refresh_ms;

/* CAISSE_EXPIRY_BATCH is capped because a batch is one transaction and its
 * events are held in memory until they are copied to the outbox, about 2 KB
 * per session: 20000 keeps that near 40 MB. */
static const struct config_entry config_table[] = {
    {"CAISSE_DATABASE_URL", CONFIG_STRING, NULL, "PostgreSQL connection string (URI or key=value)",
     &cfg_database_url, 0, 0},
    {"CAISSE_PUBLIC_BASE_URL", CONFIG_STRING, "http://localhost:8080",
     "Public base URL; the url field of event data is <base>/checkout/<id>", &cfg_public_base_url,
     0, 0},
    {"CAISSE_LOG_LEVEL", CONFIG_STRING, "info", "debug, info, warn or error", &cfg_log_level, 0, 0},
    {"CAISSE_EXPIRY_INTERVAL_MS", CONFIG_INT, "2000",
     "Pause between sweeps when the last one did not fill a batch", &cfg_interval_ms, 10, 3600000},
    {"CAISSE_EXPIRY_BATCH", CONFIG_INT, "1000",
     "Most sessions expired per transaction; a full batch is followed at once by another",
     &cfg_batch, 1, 20000},
    {"CAISSE_EXPIRY_CONCURRENCY", CONFIG_INT, "2",
     "Sweeps in flight at once, each on its own PostgreSQL connection: while one builds its"
     " events another runs in the database, which drains a backlog faster",
     &cfg_concurrency, 1, 16},
    {"CAISSE_EXPIRY_LAG_LOG_MS", CONFIG_INT, "30000",
     "How often the expiry lag (age of the oldest due open session) is logged", &cfg_lag_log_ms,
     1000, 86400000},
    {"CAISSE_EXPIRY_LAG_WARN_S", CONFIG_INT, "60",
     "Lag in seconds above which it is logged as a warning instead of info", &cfg_lag_warn_s, 1,
     86400},
    {"CAISSE_EVENT_RETENTION_DAYS", CONFIG_INT, "30",
     "Events and finished webhook deliveries older than this many days are deleted (the gateway"
     " stops showing them at the same age)",
     &cfg_retention_days, 1, 3650},
    {"CAISSE_RETENTION_INTERVAL_MS", CONFIG_INT, "3600000",
     "How often the retention purge looks for rows past the retention period",
     &cfg_retention_interval_ms, 1000, 86400000},
    {"CAISSE_SHUTDOWN_GRACE_MS", CONFIG_INT, "20000",
     "Longest orderly shutdown after SIGTERM before the process exits anyway",
     &cfg_shutdown_grace_ms, 1000, 600000},
    {"CAISSE_OPS_HOST", CONFIG_STRING, "0.0.0.0",
     "IPv4 address of the ops listener (GET /healthz, /readyz, /metrics)", &cfg_ops_host, 0, 0},
    {"CAISSE_OPS_PORT", CONFIG_INT, "8092",
     "Port of the ops listener (GET /healthz, /readyz, /metrics); 0 disables it", &cfg_ops_port, 0,
     65535},
    {"CAISSE_METRICS_REFRESH_MS", CONFIG_INT, "5000",
     "How often the gauges read from PostgreSQL (expiry lag) are refreshed",
     &cfg_metrics_refresh_ms, 100, 3600000},
};

static void expiry_worker_log_start(void)
{
    char target[512];
    db_describe_target(cfg_database_url, target, sizeof(target));
    log_fields(LOG_INFO,
               json_pack("{ss ss sI sI sI sI sI sI}", "database", target, "public_base_url",
                         cfg_public_base_url, "interval_ms", (json_int_t)cfg_interval_ms, "batch",
                         (json_int_t)cfg_batch, "concurrency", (json_int_t)cfg_concurrency,
                         "lag_log_ms", (json_int_t)cfg_lag_log_ms, "lag_warn_s",
                         (json_int_t)cfg_lag_warn_s, "shutdown_grace_ms",
                         (json_int_t)cfg_shutdown_grace_ms),
               "expiry worker starting");
}

/* On the ops listener's probe thread, every CAISSE_METRICS_REFRESH_MS. */
static void expiry_worker_refresh_gauges(struct db *db)
{
    double lag = 0;
    if (session_store_expiry_lag(db, &lag) != C_OK)
        return;
    metrics_gauge_set(
        metrics_series(metrics_gauge(metrics_default(), "caisse_expiry_lag_seconds",
                                     "How long the oldest open session past its expires_at has "
                                     "been due, 0 when none is",
                                     NULL),
                       NULL),
        lag);
}

int main(int argc, char **argv)
{
    service_init_or_exit(argc, argv, "expiry-worker",
                         "Expires open checkout sessions whose expires_at has passed, in batches, "
                         "writing their checkout.session.expired events to the outbox.",
                         config_table, CONFIG_TABLE_SIZE(config_table), &cfg_log_level);
    expiry_worker_log_start();

    if (service_start_watchdog(cfg_shutdown_grace_ms) != C_OK) {
        log_error("cannot start the shutdown watchdog");
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }

    struct ops_http_options oo = {.service = "expiry-worker",
                                  .host = cfg_ops_host,
                                  .port = cfg_ops_port,
                                  .database_url = cfg_database_url,
                                  .kafka_brokers = NULL,
                                  .refresh_ms = cfg_metrics_refresh_ms,
                                  .refresh = expiry_worker_refresh_gauges};
    if (ops_http_start(&oo) != C_OK) {
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }
    struct expire_options o = {.database_url = cfg_database_url,
                               .public_base_url = cfg_public_base_url,
                               .batch = cfg_batch,
                               .concurrency = cfg_concurrency,
                               .interval_ms = cfg_interval_ms,
                               .lag_log_ms = cfg_lag_log_ms,
                               .lag_warn_s = cfg_lag_warn_s,
                               .retention_days = cfg_retention_days,
                               .retention_interval_ms = cfg_retention_interval_ms};
    int rc = expire_run_sweepers(&o);
    ops_http_set_accepting(false);
    ops_http_stop();
    if (rc != C_OK) {
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }
    log_info("expiry worker stopped");
    config_free(config_table, CONFIG_TABLE_SIZE(config_table));
    return 0;
}
