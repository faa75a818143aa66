/* caisse-webhook-worker: fans checkout.session.events out into durable
 * webhook_deliveries rows (one per event and subscribed endpoint, offsets
 * stored after commit) and delivers them as signed HTTP POSTs with retries,
 * leases and per-endpoint concurrency caps. The fan-out consumer runs in the
 * main thread, the delivery loop in its own (see fanout.h, deliver.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "infra/db.h"
#include "deliver.h"
#include "fanout.h"
#include "core/log.h"
#include "core/metrics.h"
#include "infra/ops_http.h"
#include "infra/netguard.h"
#include "core/result.h"
#include "infra/service.h"
#include "infra/startup.h"
#include "webhook_dispatch.h"
#include "model/webhook_endpoint.h"
#include "webhook_schedule.h"

/* The jitter of the retry schedule: the Standard Webhooks +/-20 %. */
#define WEBHOOK_WORKER_JITTER 0.2
/* What the drain leaves of the shutdown grace for closing the consumer and
 * recording the last outcomes before the watchdog would exit 1. */
#define WEBHOOK_WORKER_GRACE_MARGIN_MS 3000
/* A lease must outlast a request by this much, for the outcome to be recorded
 * before another worker may take the delivery over. */
#define WEBHOOK_WORKER_LEASE_MARGIN_MS 5000

static char *cfg_database_url;
static char *cfg_brokers;
static char *cfg_log_level;
static char *cfg_group;
static char *cfg_instance_id;
static long cfg_batch_max;
static long cfg_batch_wait_ms;
static long cfg_timeout_ms;
static long cfg_connect_timeout_ms;
static long cfg_lease_ms;
static char *cfg_schedule;
static char *cfg_allowlist;
static long cfg_endpoint_concurrency;
static long cfg_max_in_flight;
static long cfg_poll_ms;
static long cfg_disable_after_s;
static long cfg_shutdown_grace_ms;
static char *cfg_ops_host;
static long cfg_ops_port;
static long cfg_metrics_refresh_ms;

static const struct config_entry config_table[] = {
    {"CAISSE_DATABASE_URL", CONFIG_STRING, NULL, "PostgreSQL connection string (URI or key=value)",
     &cfg_database_url, 0, 0},
    {"CAISSE_KAFKA_BROKERS", CONFIG_STRING, "127.0.0.1:9092", "Kafka bootstrap servers",
     &cfg_brokers, 0, 0},
    {"CAISSE_LOG_LEVEL", CONFIG_STRING, "info", "debug, info, warn or error", &cfg_log_level, 0, 0},
    {"CAISSE_WEBHOOK_WORKER_GROUP", CONFIG_STRING, "caisse-webhook-worker",
     "Kafka consumer group of the event fan-out", &cfg_group, 0, 0},
    {"CAISSE_INSTANCE_ID", CONFIG_STRING, "",
     "Static group membership id (group.instance.id), unique per replica, e.g. the pod name; "
     "empty for dynamic membership. Also names this worker's leases",
     &cfg_instance_id, 0, 0},
    {"CAISSE_BATCH_MAX", CONFIG_INT, "500", "Most events fanned out in one transaction",
     &cfg_batch_max, 1, 100000},
    {"CAISSE_BATCH_WAIT_MS", CONFIG_INT, "10",
     "How long a batch keeps filling after its first event", &cfg_batch_wait_ms, 0, 60000},
    {"CAISSE_WEBHOOK_TIMEOUT_MS", CONFIG_INT, "15000",
     "Whole-request timeout of a webhook POST; longer is a failed attempt", &cfg_timeout_ms, 100,
     600000},
    {"CAISSE_WEBHOOK_CONNECT_TIMEOUT_MS", CONFIG_INT, "5000", "Connect timeout of a webhook POST",
     &cfg_connect_timeout_ms, 100, 600000},
    {"CAISSE_WEBHOOK_LEASE_MS", CONFIG_INT, "60000",
     "How long a claimed delivery belongs to this worker; a crashed worker's deliveries are "
     "retaken after it. Must exceed CAISSE_WEBHOOK_TIMEOUT_MS by 5 s",
     &cfg_lease_ms, 1000, 86400000},
    {"CAISSE_WEBHOOK_SCHEDULE", CONFIG_STRING, WEBHOOK_SCHEDULE_DEFAULT,
     "Retry schedule: delay in seconds before each attempt (+/-20 % jitter); after the last, the "
     "delivery has failed",
     &cfg_schedule, 0, 0},
    {"CAISSE_WEBHOOK_ALLOWLIST", CONFIG_STRING, "",
     "Comma-separated CIDRs webhooks may reach although private/loopback/link-local "
     "(e.g. 127.0.0.1/32 in tests); empty: public addresses only",
     &cfg_allowlist, 0, 0},
    {"CAISSE_WEBHOOK_ENDPOINT_CONCURRENCY", CONFIG_INT, "4",
     "Most requests in flight to one endpoint from this worker", &cfg_endpoint_concurrency, 1,
     1000},
    {"CAISSE_WEBHOOK_MAX_IN_FLIGHT", CONFIG_INT, "256", "Most requests in flight in all",
     &cfg_max_in_flight, 1, 100000},
    {"CAISSE_WEBHOOK_POLL_MS", CONFIG_INT, "1000",
     "How often due deliveries (retries, other replicas' fan-out) are looked for", &cfg_poll_ms, 10,
     600000},
    {"CAISSE_WEBHOOK_DISABLE_AFTER_S", CONFIG_INT, "432000",
     "An endpoint failing continuously for longer than this is disabled (default 5 days)",
     &cfg_disable_after_s, 1, 315360000},
    {"CAISSE_SHUTDOWN_GRACE_MS", CONFIG_INT, "20000",
     "Longest orderly shutdown after SIGTERM before the process exits anyway; in-flight "
     "requests get this minus 3 s to finish",
     &cfg_shutdown_grace_ms, 4000, 600000},
    {"CAISSE_OPS_HOST", CONFIG_STRING, "0.0.0.0",
     "IPv4 address of the ops listener (GET /healthz, /readyz, /metrics)", &cfg_ops_host, 0, 0},
    {"CAISSE_OPS_PORT", CONFIG_INT, "8093",
     "Port of the ops listener (GET /healthz, /readyz, /metrics); 0 disables it", &cfg_ops_port, 0,
     65535},
    {"CAISSE_METRICS_REFRESH_MS", CONFIG_INT, "5000",
     "How often the gauges read from PostgreSQL (retry queue depth, disabled endpoints) are "
     "refreshed",
     &cfg_metrics_refresh_ms, 100, 3600000},
};

static void webhook_worker_log_start(const char *worker_id)
{
    char target[512];
    db_describe_target(cfg_database_url, target, sizeof(target));
    /* The allowlist is operator configuration, not a secret. */
    log_fields(LOG_INFO,
               json_pack("{ss ss ss ss ss si si si ss ss si si si si}", "database", target,
                         "kafka_brokers", cfg_brokers, "group", cfg_group, "instance_id",
                         cfg_instance_id, "worker_id", worker_id, "timeout_ms", (int)cfg_timeout_ms,
                         "connect_timeout_ms", (int)cfg_connect_timeout_ms, "lease_ms",
                         (int)cfg_lease_ms, "schedule", cfg_schedule, "allowlist", cfg_allowlist,
                         "endpoint_concurrency", (int)cfg_endpoint_concurrency, "max_in_flight",
                         (int)cfg_max_in_flight, "poll_ms", (int)cfg_poll_ms, "disable_after_s",
                         (int)cfg_disable_after_s),
               "webhook worker starting");
}

/* Cross-field checks the config table cannot express. Exit 2 like any other
 * configuration error. */
static void webhook_worker_check_config(struct deliver_options *o)
{
    const char *bad = NULL;
    if (webhook_schedule_parse(cfg_schedule, WEBHOOK_WORKER_JITTER, &o->schedule) != C_OK)
        bad = "CAISSE_WEBHOOK_SCHEDULE must be comma-separated delays in seconds";
    else if (netguard_allowlist_parse(cfg_allowlist, &o->allowlist) != C_OK)
        bad = "CAISSE_WEBHOOK_ALLOWLIST must be comma-separated addresses or CIDRs";
    else if (cfg_lease_ms < cfg_timeout_ms + WEBHOOK_WORKER_LEASE_MARGIN_MS)
        bad = "CAISSE_WEBHOOK_LEASE_MS must exceed CAISSE_WEBHOOK_TIMEOUT_MS by at least 5000";
    if (bad != NULL) {
        log_error("%s", bad);
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        exit(2);
    }
}

/* On the ops listener's probe thread, every CAISSE_METRICS_REFRESH_MS. */
static void webhook_worker_refresh_gauges(struct db *db)
{
    struct metrics_registry *r = metrics_default();
    long long n = 0;
    if (webhook_dispatch_retry_queue_depth(db, &n) == C_OK)
        metrics_gauge_set(
            metrics_series(metrics_gauge(r, "caisse_webhook_retry_queue_depth",
                                         "Webhook deliveries waiting for a retry (pending after "
                                         "a failed attempt)",
                                         NULL),
                           NULL),
            (double)n);
    if (webhook_endpoint_count_disabled(db, &n) == C_OK)
        metrics_gauge_set(
            metrics_series(metrics_gauge(r, "caisse_webhook_disabled_endpoints",
                                         "Webhook endpoints disabled and not deleted, all tenants",
                                         NULL),
                           NULL),
            (double)n);
}

int main(int argc, char **argv)
{
    service_init_or_exit(argc, argv, "webhook-worker",
                         "Fans checkout session events out to subscribed webhook endpoints and "
                         "delivers them as signed HTTP POSTs with retries.",
                         config_table, CONFIG_TABLE_SIZE(config_table), &cfg_log_level);
    struct deliver_options o = {.database_url = cfg_database_url,
                                .timeout_ms = cfg_timeout_ms,
                                .connect_timeout_ms = cfg_connect_timeout_ms,
                                .lease_ms = cfg_lease_ms,
                                .endpoint_concurrency = cfg_endpoint_concurrency,
                                .max_in_flight = cfg_max_in_flight,
                                .poll_ms = cfg_poll_ms,
                                .disable_after_s = cfg_disable_after_s,
                                .drain_ms = cfg_shutdown_grace_ms - WEBHOOK_WORKER_GRACE_MARGIN_MS};
    webhook_worker_check_config(&o);
    /* leased_by names this process: the instance id (pod name) or host name,
     * and the pid, so two processes never mistake each other's leases. */
    char host[256] = "";
    if (cfg_instance_id[0] == '\0' && gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "unknown");
    char worker_id[320];
    snprintf(worker_id, sizeof(worker_id), "%s:%ld",
             cfg_instance_id[0] != '\0' ? cfg_instance_id : host, (long)getpid());
    o.worker_id = worker_id;
    webhook_worker_log_start(worker_id);

    if (service_start_watchdog(cfg_shutdown_grace_ms) != C_OK) {
        log_error("cannot start the shutdown watchdog");
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }
    struct ops_http_options oo = {.service = "webhook-worker",
                                  .host = cfg_ops_host,
                                  .port = cfg_ops_port,
                                  .database_url = cfg_database_url,
                                  .kafka_brokers = cfg_brokers,
                                  .refresh_ms = cfg_metrics_refresh_ms,
                                  .refresh = webhook_worker_refresh_gauges};
    if (ops_http_start(&oo) != C_OK) {
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }
    struct error err = ERROR_INIT;
    struct deliver *d = deliver_start(&o, &err);
    if (d == NULL) {
        log_error("cannot start the delivery loop: %s", err.message);
        ops_http_stop();
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }
    int rc = C_OK;
    struct db db;
    if (db_init(&db, cfg_database_url) != C_OK) {
        log_error("out of memory");
        rc = C_ERR;
    } else {
        /* Joining the group before PostgreSQL answers would only hold
         * partitions this replica cannot fan out. */
        if (startup_wait_postgres(&db) == C_OK) {
            struct fanout_options fo = {.brokers = cfg_brokers,
                                        .group_id = cfg_group,
                                        .instance_id = cfg_instance_id,
                                        .batch_max = cfg_batch_max,
                                        .batch_wait_ms = cfg_batch_wait_ms,
                                        .on_new_deliveries = deliver_wake,
                                        .arg = d};
            rc = fanout_run(&db, &fo);
            ops_http_set_accepting(false);
        }
        db_close(&db);
    }
    /* The fan-out only returns once a stop was requested (or on a fatal
     * error): the delivery loop drains its in-flight requests and follows. */
    service_request_stop();
    deliver_join(d);
    ops_http_stop();
    log_info("webhook worker stopped");
    config_free(config_table, CONFIG_TABLE_SIZE(config_table));
    return rc == C_OK ? 0 : 1;
}
