/* caisse-session-worker: applies checkout session commands from Kafka to
 * PostgreSQL in batches (one transaction each, offsets stored after commit)
 * and relays the outbox to checkout.session.events. */
#include "consumer.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "infra/db.h"
#include "infra/service.h"
#include "model/command_mac.h"
#include "model/dead_letter.h"
#include "model/outbox.h"
#include "relay.h"

static char *cfg_group;
static char *cfg_instance_id;
static long cfg_batch_max;
static long cfg_batch_wait_ms;
static long cfg_outbox_batch;
static long cfg_outbox_batch_bytes;
static long cfg_outbox_poll_ms;
static long cfg_message_timeout_ms;
static char *cfg_mac_key;
static char *cfg_mac_key_previous;
static long cfg_dead_letter_after;
/* Parsed from the two keys by check_config. */
static struct command_mac_keys session_worker_mac_keys;

static const struct config_entry session_worker_config[] = {
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
    /* A round holds its events once (the producer borrows them) plus the fetch's result while
     * it is copied: about twice this at the peak, well inside the pod's 256 Mi. */
    {"CAISSE_OUTBOX_BATCH_BYTES", CONFIG_INT, "16777216",
     "Most bytes of events the relay reads and publishes per round (always at least one event);"
     " bounds the relay's memory during a backlog",
     &cfg_outbox_batch_bytes, 65536, 1073741824},
    {"CAISSE_OUTBOX_POLL_MS", CONFIG_INT, "1000",
     "Relay: standby retry interval, and idle poll besides LISTEN/NOTIFY", &cfg_outbox_poll_ms, 10,
     600000},
    {"CAISSE_KAFKA_MESSAGE_TIMEOUT_MS", CONFIG_INT, "10000",
     "Relay: an event not acknowledged by Kafka within this is retried", &cfg_message_timeout_ms,
     1000, 600000},
    {"CAISSE_COMMAND_MAC_KEY", CONFIG_SECRET, NULL,
     "<key id>:<secret> (secret of at least 32 bytes) under which every command's caisse-mac "
     "header is verified; the gateway signs with the same. A command without a valid MAC is "
     "parked as a dead letter, never applied",
     &cfg_mac_key, 0, 0},
    {"CAISSE_COMMAND_MAC_KEY_PREVIOUS", CONFIG_SECRET, "",
     "<key id>:<secret> of the previous command MAC key, still accepted while a rotation is in "
     "progress; empty: none",
     &cfg_mac_key_previous, 0, 0},
    {"CAISSE_DEAD_LETTER_AFTER", CONFIG_INT, "5",
     "Failures (errors retrying cannot heal) of one command before it is parked as a dead letter "
     "and consumption goes on past it",
     &cfg_dead_letter_after, 1, 1000},
};

static int session_worker_check_config(const struct service_settings *s, struct error *err)
{
    (void)s;
    return command_mac_keys_load(cfg_mac_key, cfg_mac_key_previous, &session_worker_mac_keys, err);
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
    /* Every consumer's, here (one query for the whole deployment). */
    json_t *parked = NULL;
    if (dead_letter_count_unreplayed(db, &parked) != C_OK)
        return;
    static const char *const labels[] = {"consumer", NULL};
    static const char *const consumers[] = {"session-worker", "webhook-worker"};
    struct metrics_family *unreplayed =
        metrics_gauge(r, "caisse_dead_letters_unreplayed",
                      "Dead letters not replayed yet, per consumer (all replicas)", labels);
    for (size_t i = 0; i < sizeof(consumers) / sizeof(consumers[0]); i++) {
        const char *values[] = {consumers[i]};
        json_t *n = json_object_get(parked, consumers[i]);
        metrics_gauge_set(metrics_series(unreplayed, values),
                          n != NULL ? (double)json_integer_value(n) : 0);
    }
    json_decref(parked);
}

/* The relay runs beside the consumer; once the consumer returns (a stop was
 * requested, or a fatal error requested one), the relay follows. Joining the
 * consumer group only once PostgreSQL answers (the skeleton waits for it)
 * holds no partition this replica cannot apply. */
static int session_worker_run(const struct service_settings *s, struct db *db)
{
    struct error err = ERROR_INIT;
    struct relay_options ro = {.database_url = s->database_url,
                               .brokers = s->kafka_brokers,
                               .batch = cfg_outbox_batch,
                               .batch_bytes = cfg_outbox_batch_bytes,
                               .poll_ms = cfg_outbox_poll_ms,
                               .message_timeout_ms = cfg_message_timeout_ms,
                               .shutdown_grace_ms = s->shutdown_grace_ms};
    struct relay *relay = relay_start(&ro, &err);
    if (relay == NULL) {
        log_error("cannot start the outbox relay: %s", err.message);
        return C_ERR;
    }
    struct consumer_options co = {.brokers = s->kafka_brokers,
                                  .session_timeout_ms = s->kafka_session_timeout_ms,
                                  .group_id = cfg_group,
                                  .instance_id = cfg_instance_id,
                                  .public_base_url = s->public_base_url,
                                  .batch_max = cfg_batch_max,
                                  .batch_wait_ms = cfg_batch_wait_ms,
                                  .mac_keys = &session_worker_mac_keys,
                                  .dead_letter_after = cfg_dead_letter_after};
    int rc = consumer_run(db, &co);
    service_request_stop();
    relay_join(relay);
    return rc;
}

static const struct service_spec session_worker_spec = {
    .name = "session-worker",
    .summary = "Applies checkout session commands from Kafka to PostgreSQL and publishes the "
               "outbox to checkout.session.events.",
    .uses = SERVICE_USES_KAFKA | SERVICE_USES_KAFKA_CONSUMER | SERVICE_USES_PUBLIC_BASE_URL |
            SERVICE_OPS_LISTENER | SERVICE_WAITS_FOR_POSTGRES,
    .config = session_worker_config,
    .config_count = CONFIG_TABLE_SIZE(session_worker_config),
    .shutdown_grace_min_ms = 1000,
    .ops_port_default = "8091",
    .gauges = "outbox backlog and age, unreplayed dead letters",
    .refresh_gauges = session_worker_refresh_gauges,
    .check_config = session_worker_check_config,
    .run = session_worker_run,
};

int main(int argc, char **argv)
{
    /* Each statement handles a batch: planned at every call with the tables'
     * sizes of the moment, never a plan cached on a new, empty database (db.h). */
    db_set_planning(DB_PLAN_EVERY_CALL);
    return service_run(argc, argv, &session_worker_spec);
}
