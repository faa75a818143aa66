/* caisse-webhook-worker. For now it only loads its configuration, waits until
 * PostgreSQL and Kafka answer, and idles until SIGTERM: its real work (to
 * consume checkout.session.events, fan them out into the deliveries table and deliver signed
 * webhooks with retries) comes in a later issue. Starting it already lets the deployment (compose,
 * Kubernetes) and the shutdown path be exercised. */
#include <stdlib.h>

#include "config.h"
#include "db.h"
#include "kafka.h"
#include "log.h"
#include "result.h"
#include "service.h"
#include "startup.h"

static char *cfg_database_url;
static char *cfg_brokers;
static char *cfg_log_level;

static const struct config_entry config_table[] = {
    {"CAISSE_DATABASE_URL", CONFIG_STRING, NULL, "PostgreSQL connection string (URI or key=value)",
     &cfg_database_url, 0, 0},
    {"CAISSE_KAFKA_BROKERS", CONFIG_STRING, "127.0.0.1:9092", "Kafka bootstrap servers",
     &cfg_brokers, 0, 0},
    {"CAISSE_LOG_LEVEL", CONFIG_STRING, "info", "debug, info, warn or error", &cfg_log_level, 0, 0},
};

/* The probe client below sends no messages; any valid timeout will do. */
#define WEBHOOK_WORKER_KAFKA_TIMEOUT_MS 10000

int main(int argc, char **argv)
{
    service_init_or_exit(argc, argv, "webhook-worker",
                         "Delivers checkout session events to merchant webhook endpoints (not yet: "
                         "idle placeholder).",
                         config_table, CONFIG_TABLE_SIZE(config_table), &cfg_log_level);
    char target[512];
    db_describe_target(cfg_database_url, target, sizeof(target));
    log_fields(LOG_INFO, json_pack("{ss ss}", "database", target, "kafka_brokers", cfg_brokers),
               "webhook worker starting");

    int rc = 0;
    struct db db;
    char err[512];
    struct kafka_producer_options ko = {.brokers = cfg_brokers,
                                        .message_timeout_ms = WEBHOOK_WORKER_KAFKA_TIMEOUT_MS};
    rd_kafka_t *rk;
    if (db_init(&db, cfg_database_url) != C_OK) {
        log_error("out of memory");
        config_free(config_table, CONFIG_TABLE_SIZE(config_table));
        return 1;
    }
    /* A producer handle is the lightest Kafka client: it joins no group, so an
     * idle worker holds no partitions. It only checks that the brokers answer. */
    rk = kafka_producer_new(&ko, err, sizeof(err));
    if (rk == NULL) {
        log_error("cannot create the kafka client: %s", err);
        rc = 1;
    } else if (startup_wait_postgres(&db) == C_OK && startup_wait_kafka(rk) == C_OK) {
        log_info("webhook worker idle: its work is not implemented yet; waiting for SIGTERM");
        while (!service_stopping())
            service_sleep_ms(1000);
    }
    if (rk != NULL)
        rd_kafka_destroy(rk);
    db_close(&db);
    log_info("webhook worker stopped");
    config_free(config_table, CONFIG_TABLE_SIZE(config_table));
    return rc;
}
