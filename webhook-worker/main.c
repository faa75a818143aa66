/* caisse-webhook-worker: fans checkout.session.events out into durable
 * webhook_deliveries rows (one per event and subscribed endpoint, offsets
 * stored after commit) and delivers them as signed HTTP POSTs with retries,
 * leases and per-endpoint concurrency caps. The fan-out consumer runs in the
 * main thread, the delivery loop in its own (see fanout.h, deliver.h). */
#include <stdio.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "deliver.h"
#include "fanout.h"
#include "infra/netguard.h"
#include "infra/db.h"
#include "infra/service.h"
#include "model/webhook_endpoint.h"
#include "webhook_dispatch.h"
#include "webhook_schedule.h"

/* The jitter of the retry schedule: the Standard Webhooks +/-20 %. */
#define WEBHOOK_WORKER_JITTER 0.2
/* What the drain leaves of the shutdown grace for closing the consumer and
 * recording the last outcomes before the watchdog would exit 1. */
#define WEBHOOK_WORKER_GRACE_MARGIN_MS 3000
/* A lease must outlast a request by this much, for the outcome to be recorded
 * before another worker may take the delivery over. */
#define WEBHOOK_WORKER_LEASE_MARGIN_MS 5000

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
static long cfg_tenant_share;
static long cfg_response_max_bytes;
static long cfg_poll_ms;
static long cfg_disable_after_s;
static long cfg_dead_letter_after;

static const struct config_entry webhook_worker_config[] = {
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
    {"CAISSE_DEAD_LETTER_AFTER", CONFIG_INT, "5",
     "Failures (errors retrying cannot heal) of one event's fan-out before it is parked as a "
     "dead letter and consumption goes on past it",
     &cfg_dead_letter_after, 1, 1000},
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
    /* The allowlist is operator configuration, not a secret: the start log shows it. */
    {"CAISSE_WEBHOOK_ALLOWLIST", CONFIG_STRING, "",
     "Comma-separated CIDRs webhooks may reach although private/loopback/link-local "
     "(e.g. 127.0.0.1/32 in tests); empty: public addresses only",
     &cfg_allowlist, 0, 0},
    {"CAISSE_WEBHOOK_ENDPOINT_CONCURRENCY", CONFIG_INT, "4",
     "Most requests in flight to one endpoint from this worker", &cfg_endpoint_concurrency, 1,
     1000},
    {"CAISSE_WEBHOOK_MAX_IN_FLIGHT", CONFIG_INT, "256", "Most requests in flight in all",
     &cfg_max_in_flight, 1, 100000},
    {"CAISSE_WEBHOOK_TENANT_SHARE_PERCENT", CONFIG_INT, "25",
     "Most of CAISSE_WEBHOOK_MAX_IN_FLIGHT one organization's requests may hold, in percent "
     "(rounded up, at least 1); it also claims at most twice that ahead. A tenant whose "
     "endpoints never answer holds its share of the slots at most; 100: no share",
     &cfg_tenant_share, 1, 100},
    {"CAISSE_WEBHOOK_RESPONSE_MAX_BYTES", CONFIG_INT, "65536",
     "Most bytes of a response body read; past them the connection is closed and the attempt "
     "is what its status said (the first 20000 bytes are kept in the attempt log)",
     &cfg_response_max_bytes, 0, 16777216},
    {"CAISSE_WEBHOOK_POLL_MS", CONFIG_INT, "1000",
     "How often due deliveries (retries, other replicas' fan-out) are looked for", &cfg_poll_ms, 10,
     600000},
    {"CAISSE_WEBHOOK_DISABLE_AFTER_S", CONFIG_INT, "432000",
     "An endpoint failing continuously for longer than this is disabled (default 5 days)",
     &cfg_disable_after_s, 1, 315360000},
};

/* What check_config parses for the delivery loop. */
static struct webhook_schedule webhook_worker_schedule;
static struct netguard_allowlist webhook_worker_allowlist;

static int webhook_worker_check_config(const struct service_settings *s, struct error *err)
{
    (void)s;
    if (webhook_schedule_parse(cfg_schedule, WEBHOOK_WORKER_JITTER, &webhook_worker_schedule) !=
        C_OK)
        return error_set(err, "CAISSE_WEBHOOK_SCHEDULE",
                         "CAISSE_WEBHOOK_SCHEDULE must be comma-separated delays in seconds");
    if (netguard_allowlist_parse(cfg_allowlist, &webhook_worker_allowlist) != C_OK)
        return error_set(err, "CAISSE_WEBHOOK_ALLOWLIST",
                         "CAISSE_WEBHOOK_ALLOWLIST must be comma-separated addresses or CIDRs");
    if (cfg_lease_ms < cfg_timeout_ms + WEBHOOK_WORKER_LEASE_MARGIN_MS)
        return error_set(
            err, "CAISSE_WEBHOOK_LEASE_MS",
            "CAISSE_WEBHOOK_LEASE_MS must exceed CAISSE_WEBHOOK_TIMEOUT_MS by at least 5000");
    return C_OK;
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

/* The delivery loop runs in its own thread beside the fan-out; once the
 * fan-out returns (a stop was requested, or a fatal error), the loop drains
 * its in-flight requests and follows. The fan-out joins its group only once
 * PostgreSQL answers (the skeleton waits for it): before, it would hold
 * partitions this replica cannot fan out. */
static int webhook_worker_run(const struct service_settings *s, struct db *db)
{
    /* leased_by names this process: the instance id (pod name) or host name,
     * and the pid, so two processes never mistake each other's leases. */
    char host[256] = "";
    if (cfg_instance_id[0] == '\0' && gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "unknown");
    char worker_id[320];
    snprintf(worker_id, sizeof(worker_id), "%s:%ld",
             cfg_instance_id[0] != '\0' ? cfg_instance_id : host, (long)getpid());
    log_fields(LOG_INFO, json_pack("{ss}", "worker_id", worker_id), "leasing deliveries as %s",
               worker_id);
    struct deliver_options o = {.database_url = s->database_url,
                                .worker_id = worker_id,
                                .schedule = webhook_worker_schedule,
                                .allowlist = webhook_worker_allowlist,
                                .timeout_ms = cfg_timeout_ms,
                                .connect_timeout_ms = cfg_connect_timeout_ms,
                                .lease_ms = cfg_lease_ms,
                                .endpoint_concurrency = cfg_endpoint_concurrency,
                                .max_in_flight = cfg_max_in_flight,
                                .tenant_share_percent = cfg_tenant_share,
                                .response_max_bytes = cfg_response_max_bytes,
                                .poll_ms = cfg_poll_ms,
                                .disable_after_s = cfg_disable_after_s,
                                .drain_ms = s->shutdown_grace_ms - WEBHOOK_WORKER_GRACE_MARGIN_MS};
    webhook_dispatch_set_keyring(s->secrets);
    struct error err = ERROR_INIT;
    struct deliver *d = deliver_start(&o, &err);
    if (d == NULL) {
        log_error("cannot start the delivery loop: %s", err.message);
        return C_ERR;
    }
    struct fanout_options fo = {.brokers = s->kafka_brokers,
                                .session_timeout_ms = s->kafka_session_timeout_ms,
                                .group_id = cfg_group,
                                .instance_id = cfg_instance_id,
                                .batch_max = cfg_batch_max,
                                .batch_wait_ms = cfg_batch_wait_ms,
                                .on_new_deliveries = deliver_wake,
                                .arg = d,
                                .dead_letter_after = cfg_dead_letter_after};
    int rc = fanout_run(db, &fo);
    service_request_stop();
    deliver_join(d);
    return rc;
}

static const struct service_spec webhook_worker_spec = {
    .name = "webhook-worker",
    .summary = "Fans checkout session events out to subscribed webhook endpoints and delivers "
               "them as signed HTTP POSTs with retries.",
    .uses = SERVICE_USES_KAFKA | SERVICE_USES_KAFKA_CONSUMER | SERVICE_OPS_LISTENER |
            SERVICE_WAITS_FOR_POSTGRES | SERVICE_USES_SECRETS_KEY,
    .config = webhook_worker_config,
    .config_count = CONFIG_TABLE_SIZE(webhook_worker_config),
    /* The drain gets the grace minus WEBHOOK_WORKER_GRACE_MARGIN_MS: 1 s at least. */
    .shutdown_grace_min_ms = 4000,
    .shutdown_grace_help = "Longest orderly shutdown after SIGTERM before the process exits "
                           "anyway; in-flight requests get this minus 3 s to finish",
    .ops_port_default = "8093",
    .gauges = "retry queue depth, disabled endpoints",
    .refresh_gauges = webhook_worker_refresh_gauges,
    .check_config = webhook_worker_check_config,
    .run = webhook_worker_run,
};

int main(int argc, char **argv)
{
    /* Each statement handles a batch: planned at every call with the tables'
     * sizes of the moment, never a plan cached on a new, empty database (db.h). */
    db_set_planning(DB_PLAN_EVERY_CALL);
    return service_run(argc, argv, &webhook_worker_spec);
}
