/* caisse-expiry-worker: expires open checkout sessions whose expires_at has
 * passed, in batches (see expire.h), writing their checkout.session.expired
 * events to the outbox in the same transactions; likewise makes active
 * subscriptions whose period ended without a renewal past_due
 * (subscription.past_due). It needs no Kafka: the session worker's outbox
 * relay publishes the events. Any number of replicas may run. */
#include "core/config.h"
#include "core/metrics.h"
#include "core/result.h"
#include "expire.h"
#include "infra/db.h"
#include "infra/service.h"
#include "model/session.h"

static long cfg_interval_ms;
static long cfg_batch;
static long cfg_concurrency;
static long cfg_retention_days;
static long cfg_retention_interval_ms;
static long cfg_lag_log_ms;
static long cfg_lag_warn_s;

/* CAISSE_EXPIRY_BATCH is capped because a batch is one transaction and its
 * events are held in memory until they are copied to the outbox, about 2 KB
 * per session: 20000 keeps that near 40 MB. */
static const struct config_entry expiry_worker_config[] = {
    {"CAISSE_EXPIRY_INTERVAL_MS", CONFIG_INT, "2000",
     "Pause between sweeps when the last one did not fill a batch", &cfg_interval_ms, 10, 3600000},
    {"CAISSE_EXPIRY_BATCH", CONFIG_INT, "1000",
     "Most sessions expired (and, in a transaction of its own, most subscriptions made past_due)"
     " per transaction; a full batch is followed at once by another",
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
};

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

/* Each sweeper connects (and waits for PostgreSQL) on its own. */
static int expiry_worker_run(const struct service_settings *s, struct db *db)
{
    (void)db;
    struct expire_options o = {.database_url = s->database_url,
                               .public_base_url = s->public_base_url,
                               .batch = cfg_batch,
                               .concurrency = cfg_concurrency,
                               .interval_ms = cfg_interval_ms,
                               .lag_log_ms = cfg_lag_log_ms,
                               .lag_warn_s = cfg_lag_warn_s,
                               .retention_days = cfg_retention_days,
                               .retention_interval_ms = cfg_retention_interval_ms};
    return expire_run_sweepers(&o);
}

static const struct service_spec expiry_worker_spec = {
    .name = "expiry-worker",
    .summary = "Expires open checkout sessions whose expires_at has passed, and makes active "
               "subscriptions whose period ended without a renewal past_due, in batches, writing "
               "their checkout.session.expired and subscription.past_due events to the outbox.",
    .uses = SERVICE_USES_PUBLIC_BASE_URL | SERVICE_OPS_LISTENER,
    .config = expiry_worker_config,
    .config_count = CONFIG_TABLE_SIZE(expiry_worker_config),
    .shutdown_grace_min_ms = 1000,
    .ops_port_default = "8092",
    .gauges = "expiry lag",
    .refresh_gauges = expiry_worker_refresh_gauges,
    .run = expiry_worker_run,
};

int main(int argc, char **argv)
{
    /* Each statement handles a batch: planned at every call with the tables'
     * sizes of the moment, never a plan cached on a new, empty database (db.h). */
    db_set_planning(DB_PLAN_EVERY_CALL);
    return service_run(argc, argv, &expiry_worker_spec);
}
