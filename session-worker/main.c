/* caisse-session-worker: applies checkout session commands from Kafka to
 * PostgreSQL in batches (one transaction each, offsets stored after commit)
 * and relays the outbox to checkout.session.events. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "consumer.h"
#include "infra/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "infra/ops_http.h"
#include "model/outbox.h"
#include "relay.h"
#include "core/result.h"
#include "infra/service.h"
#include "infra/startup.h"

static char *cfg_database_url;
static char *cfg_brokers;
static char *cfg_public_base_url;
static char *cfg_log_level;
static char *cfg_group;
static char *cfg_instance_id;
static long cfg_batch_max;
static long cfg_batch_wait_ms;
static long cfg_outbox_batch;
static long cfg_outbox_poll_ms;
static long cfg_message_timeout_ms;
static long cfg_shutdown_grace_ms;
static char *cfg_ops_host;
static long cfg_ops_port;
static long cfg_metrics_refresh_ms;

static const struct config_entry config_table[] = {
    {"CAISSE_DATABASE_URL", CONFIG_STRING, NULL, "PostgreSQL connection string (URI or key=value)",
     &cfg_database_url, 0, 0},
    {"CAISSE_KAFKA_BROKERS", CONFIG_STRING, "127.0.0.1:9092", "Kafka bootstrap servers",
     &cfg_brokers, 0, 0},
    {"CAISSE_PUBLIC_BASE_URL", CONFIG_STRING, "http://localhost:8080",
     "Public base URL; the url field of event data is <base>/checkout/<id>", &cfg_public_base_url,
     0, 0},
    {"CAISSE_LOG_LEVEL", CONFIG_STRING, "info", "debug, info, warn or error", &cfg_log_level, 0, 0},
    {"CAISSE_SESSION_WORKER_GROUP", CONFIG_STRING, "caisse-session-worker",
     "Kafka consumer group of the command consumers", &cfg_group, 0, 0},
    {"CAISSE_INSTANCE_ID", CONFIG_STRING, "",
     "Static group membership id (group.instance.id), unique per replica, e.g. the pod name; "
     "empty for dynamic membership",
     &cfg_instance_id, 0, 0},
    {"CAISSE_BATCH_MAX", CONFIG_INT, "500", "Most commands applied in one transaction",
     &cfg_batch_max, 1, 100000},
    {"CAISSE_BATCH_WAIT_MS", CONFIG_INT, "0",
     "How long a batch keeps filling after its first message; 0: it takes only what is already"
     " fetched (records that came while the last batch was applied), adding no latency",
     &cfg_batch_wait_ms, 0, 60000},
    /* A round costs a fetch, a wait for Kafka's acknowledgements and a delete whatever its
     * size: 5000 rows (about 10 MB of events held) publish a backlog about 3x faster than 500
     * did (make bench's expiry burst); a quiet round still takes only what is there. */
    {"CAISSE_OUTBOX_BATCH", CONFIG_INT, "5000", "Most outbox rows the relay publishes per round",
     &cfg_outbox_batch, 1, 100000},
    {"CAISSE_OUTBOX_POLL_MS", CONFIG_INT, "1000",
     "Relay: standby retry interval, and idle poll besides LISTEN/NOTIFY", &cfg_outbox_poll_ms, 10,
     600000},
    {"CAISSE_KAFKA_MESSAGE_TIMEOUT_MS", CONFIG_INT, "10000",
     "Relay: an event not acknowledged by Kafka within this is retried", &cfg_message_timeout_ms,
     1000, 600000},
    {"CAISSE_SHUTDOWN_GRACE_MS", CONFIG_INT, "20000",
     "Longest orderly shutdown after SIGTERM before the process exits anyway",
     &cfg_shutdown_grace_ms, 1000, 600000},
    {"CAISSE_OPS_HOST", CONFIG_STRING, "0.0.0.0",
     "IPv4 address of the ops listener (GET /healthz, /readyz, /metrics)", &cfg_ops_host, 0, 0},
    {"CAISSE_OPS_PORT", CONFIG_INT, "8091",
     "Port of the ops listener (GET /healthz, /readyz, /metrics); 0 disables it", &cfg_ops_port, 0,
     65535},
    {"CAISSE_METRICS_REFRESH_MS", CONFIG_INT, "5000",
     "How often the gauges read from PostgreSQL (outbox backlog and age) are refreshed",
     &cfg_metrics_refresh_ms, 100, 3600000},
};

static void session_worker_log_start(void)
{
    char target[512];
    db_describe_target(cfg_database_url, target, sizeof(target));
    log_fields(LOG_INFO,
               json_pack("{ss ss ss ss ss si si si si si si}", "database", target, "kafka_brokers",
                         cfg_brokers, "public_base_url", cfg_public_base_url, "group", cfg_group,
                         "instance_id", cfg_instance_id, "batch_max", (int)cfg_batch_max,
                         "batch_wait_ms", (int)cfg_batch_wait_ms, "outbox_batch",
                         (int)cfg_outbox_batch, "outbox_poll_ms", (int)cfg_outbox_poll_ms,
                         "message_timeout_ms", (int)cfg_message_timeout_ms, "shutdown_grace_ms",
                         (int)cfg_shutdown_grace_ms),
               "session worker starting");
}

/* On the ops listener's probe thread, every CAISSE_METRICS_REFRESH_MS. */
static void session_worker_refresh_gauges(struct db *db)
{
    long long rows = 0;
    double oldest_age_s = 0;
    if (outbox_measure_backlog(db, &rows, &oldest_age_s) != C_OK)
        return;
    struct metrics_registry *r = metrics_default();
    metrics_gauge_set(
        metrics_series(metrics_gauge(r, "caisse_outbox_backlog",
                                     "Outbox rows (events) not yet published to Kafka", NULL),
                       NULL),
        (double)rows);
    metrics_gauge_set(metrics_series(metrics_gauge(r, "caisse_outbox_oldest_age_seconds",
                                                   "Age of the oldest unpublished outbox row, 0 "
                                                   "when every event is published",
                                                   NULL),
                                     NULL),
                      oldest_age_s);
}

int main(int argc, char **argv)
{
    service_init_or_exit(argc, argv, "session-worker",
                         "Applies checkout session commands from Kafka to PostgreSQL and publishes "
                         "the outbox to checkout.session.events.",
                         config_table, CONFIG_TABLE_SIZE(config_table), &cfg_log_level);
    session_worker_log_start();

    if (service_start_watchdog(cfg_shutdown_grace_ms) != C_OK) {
        log_error("cannot start the shutdown watchdog");
        return 1;
    }
    struct ops_http_options oo = {.service = "session-worker",
                                  .host = cfg_ops_host,
                                  .port = cfg_ops_port,
                                  .database_url = cfg_database_url,
                                  .kafka_brokers = cfg_brokers,
                                  .refresh_ms = cfg_metrics_refresh_ms,
                                  .refresh = session_worker_refresh_gauges};
    if (ops_http_start(&oo) != C_OK) {
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }

    struct error err = ERROR_INIT;
    struct relay_options ro = {.database_url = cfg_database_url,
                               .brokers = cfg_brokers,
                               .batch = cfg_outbox_batch,
                               .poll_ms = cfg_outbox_poll_ms,
                               .message_timeout_ms = cfg_message_timeout_ms,
                               .shutdown_grace_ms = cfg_shutdown_grace_ms};
    struct relay *relay = relay_start(&ro, &err);
    if (relay == NULL) {
        log_error("cannot start the outbox relay: %s", err.message);
        ops_http_stop();
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }

    int rc = C_OK;
    struct db db;
    if (db_init(&db, cfg_database_url) != C_OK) {
        log_error("out of memory");
        service_request_stop();
        rc = C_ERR;
    } else {
        /* Joining the consumer group before PostgreSQL answers would only hold
         * partitions this replica cannot apply. */
        if (startup_wait_postgres(&db) == C_OK) {
            struct consumer_options co = {.brokers = cfg_brokers,
                                          .group_id = cfg_group,
                                          .instance_id = cfg_instance_id,
                                          .public_base_url = cfg_public_base_url,
                                          .batch_max = cfg_batch_max,
                                          .batch_wait_ms = cfg_batch_wait_ms};
            rc = consumer_run(&db, &co);
            ops_http_set_accepting(false);
        }
        db_close(&db);
    }
    /* The consumer only returns once a stop was requested (or on a fatal
     * error, which requests one): the relay follows. */
    service_request_stop();
    relay_join(relay);
    ops_http_stop();
    log_info("session worker stopped");
    config_free(config_table, CONFIG_TABLE_SIZE(config_table));
    return rc == C_OK ? 0 : 1;
}
