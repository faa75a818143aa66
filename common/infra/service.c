#include "service.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "infra/kafka.h"
#include "infra/startup.h"

/* ---- signals and stopping ------------------------------------------------------ */

static volatile sig_atomic_t service_stop_flag;

static void service_on_signal(int sig)
{
    (void)sig;
    service_stop_flag = 1;
}

static int service_install_signal_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = service_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return C_ERR;
    /* A client that hangs up must not kill the process mid-write. */
    signal(SIGPIPE, SIG_IGN);
    return C_OK;
}

bool service_stopping(void)
{
    return service_stop_flag != 0;
}

void service_request_stop(void)
{
    service_stop_flag = 1;
}

void service_sleep_ms(long ms)
{
    while (ms > 0 && !service_stopping()) {
        long step = ms < 100 ? ms : 100;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

void service_init_or_exit(int argc, char **argv, const char *service, const char *summary,
                          const struct config_entry *table, size_t n, char *const *log_level)
{
    config_init_or_exit(argc, argv, summary, table, n);
    if (log_init(service, *log_level) != C_OK) {
        fprintf(stderr, "%s: CAISSE_LOG_LEVEL must be debug, info, warn or error (got \"%s\")\n",
                service, *log_level);
        config_free(table, n);
        exit(2);
    }
    if (service_install_signal_handlers() != C_OK) {
        log_error("cannot install signal handlers");
        config_free(table, n);
        exit(1);
    }
}

/* ---- the shutdown watchdog ------------------------------------------------------- */

static long service_watchdog_ms;

/* The last resort of a shutdown: once a stop was requested, the process exits
 * with 1 after service_watchdog_ms whatever is still running (a statement hung
 * on a frozen server), before an orchestrator would SIGKILL it anyway. */
static void *service_watchdog_main(void *arg)
{
    (void)arg;
    while (!service_stopping())
        service_sleep_ms(100);
    struct timespec ts = {service_watchdog_ms / 1000, (service_watchdog_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    log_error("shutdown did not finish within CAISSE_SHUTDOWN_GRACE_MS (%ld ms in all); exiting",
              service_watchdog_ms);
    _exit(1);
    return NULL;
}

static int service_start_watchdog(long ms)
{
    service_watchdog_ms = ms;
    pthread_t t;
    if (pthread_create(&t, NULL, service_watchdog_main, NULL) != 0)
        return C_ERR;
    return pthread_detach(t) == 0 ? C_OK : C_ERR;
}

/* ---- configuration ----------------------------------------------------------------- */

/* The shared settings' storage: the targets of the shared rows. */
static struct {
    char *database_url;
    char *kafka_brokers;
    char *public_base_url;
    char *log_level;
    long shutdown_grace_ms;
    char *ops_host;
    long ops_port;
    long metrics_refresh_ms;
    long kafka_session_timeout_ms;
    char *secrets_key;
    char *secrets_key_previous;
    struct kafka_security kafka_security;
} service_cfg;

/* SERVICE_USES_SECRETS_KEY: parsed from the two settings once loaded. */
static struct secretbox_keyring service_secrets;

/* The Kafka security rows, after the broker list when the service uses Kafka. */
static const struct config_entry service_kafka_security_rows[] = {
    KAFKA_SECURITY_CONFIG(service_cfg.kafka_security)};

static char service_refresh_help[256];

#define SERVICE_GRACE_HELP "Longest orderly shutdown after SIGTERM before the process exits anyway"

int service_config_table(const struct service_spec *spec, struct config_entry *out, size_t max,
                         size_t *n)
{
    bool ops = (spec->uses & SERVICE_OPS_LISTENER) != 0;
    snprintf(service_refresh_help, sizeof(service_refresh_help),
             "How often the gauges read from PostgreSQL (%s) are refreshed",
             spec->gauges != NULL ? spec->gauges : "none");
    /* Declared once for every service; a row whose condition is false is left out. */
    const struct {
        bool used;
        struct config_entry row;
    } shared[] = {
        {true,
         {"CAISSE_DATABASE_URL", CONFIG_SECRET, NULL,
          "PostgreSQL connection string (libpq URI or key=value)", &service_cfg.database_url, 0,
          0}},
        {(spec->uses & SERVICE_USES_KAFKA) != 0,
         {"CAISSE_KAFKA_BROKERS", CONFIG_STRING, "127.0.0.1:9092", "Kafka bootstrap servers",
          &service_cfg.kafka_brokers, 0, 0}},
        {(spec->uses & SERVICE_USES_KAFKA_CONSUMER) != 0,
         {"CAISSE_KAFKA_SESSION_TIMEOUT_MS", CONFIG_INT, "45000",
          "Kafka consumer group session: a static member keeps its partitions across a restart"
          " shorter than this (a pod rescheduled) instead of two rebalances; an outage longer"
          " than it gets the member fenced and renewed",
          &service_cfg.kafka_session_timeout_ms, 6000, 300000}},
        {(spec->uses & SERVICE_USES_PUBLIC_BASE_URL) != 0,
         {"CAISSE_PUBLIC_BASE_URL", CONFIG_STRING, "http://localhost:8080",
          "Public base URL of the hosted payment page: a session's url (in API answers and event"
          " data) is <base>/checkout/<id>",
          &service_cfg.public_base_url, 0, 0}},
        {true,
         {"CAISSE_LOG_LEVEL", CONFIG_STRING, "info", "debug, info, warn or error",
          &service_cfg.log_level, 0, 0}},
        {true,
         {"CAISSE_SHUTDOWN_GRACE_MS", CONFIG_INT, "20000",
          spec->shutdown_grace_help != NULL ? spec->shutdown_grace_help : SERVICE_GRACE_HELP,
          &service_cfg.shutdown_grace_ms, spec->shutdown_grace_min_ms, 600000}},
        {ops,
         {"CAISSE_OPS_HOST", CONFIG_STRING, "0.0.0.0",
          "IPv4 address of the ops listener (GET /healthz, /readyz, /metrics)",
          &service_cfg.ops_host, 0, 0}},
        {ops,
         {"CAISSE_OPS_PORT", CONFIG_INT, spec->ops_port_default,
          "Port of the ops listener (GET /healthz, /readyz, /metrics); 0 disables it",
          &service_cfg.ops_port, 0, 65535}},
        {(spec->uses & SERVICE_USES_SECRETS_KEY) != 0,
         {"CAISSE_SECRETS_KEY", CONFIG_SECRET, NULL,
          "Key of the webhook signing secrets at rest (AES-256-GCM): <key id>:<base64 of 32"
          " bytes>, e.g. k2026:$(openssl rand -base64 32); new secrets are sealed under it",
          &service_cfg.secrets_key, 0, 0}},
        {(spec->uses & SERVICE_USES_SECRETS_KEY) != 0,
         {"CAISSE_SECRETS_KEY_PREVIOUS", CONFIG_SECRET, "",
          "The key before CAISSE_SECRETS_KEY during a rotation (same form): only opens secrets"
          " sealed under it, until caisse-admin secrets reencrypt has moved them all",
          &service_cfg.secrets_key_previous, 0, 0}},
        {ops,
         {"CAISSE_METRICS_REFRESH_MS", CONFIG_INT, "5000", service_refresh_help,
          &service_cfg.metrics_refresh_ms, 100, 3600000}},
    };
    size_t k = 0;
    for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
        if (!shared[i].used)
            continue;
        if (k == max)
            return C_ERR;
        out[k++] = shared[i].row;
    }
    for (size_t i = 0; (spec->uses & SERVICE_USES_KAFKA) != 0 &&
                       i < CONFIG_TABLE_SIZE(service_kafka_security_rows);
         i++) {
        if (k == max)
            return C_ERR;
        out[k++] = service_kafka_security_rows[i];
    }
    for (size_t i = 0; i < spec->config_count; i++) {
        if (k == max)
            return C_ERR;
        out[k++] = spec->config[i];
    }
    *n = k;
    return C_OK;
}

json_t *service_describe_config(const struct config_entry *table, size_t n)
{
    json_t *out = json_object();
    for (size_t i = 0; out != NULL && i < n; i++) {
        const struct config_entry *e = &table[i];
        json_t *v = NULL;
        switch (e->type) {
        case CONFIG_STRING:
            v = json_string(*(char **)e->target);
            break;
        case CONFIG_SECRET: {
            const char *secret = *(char **)e->target;
            if (strcmp(e->name, "CAISSE_DATABASE_URL") == 0) {
                char target[512];
                db_describe_target(secret, target, sizeof(target));
                v = json_string(target);
            } else {
                v = json_string(secret != NULL && secret[0] != '\0' ? "(set)" : "");
            }
            break;
        }
        case CONFIG_INT:
            v = json_integer(*(long *)e->target);
            break;
        case CONFIG_BOOL:
            v = json_boolean(*(bool *)e->target);
            break;
        }
        if (json_object_set_new(out, e->name, v) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

/* ---- the service ----------------------------------------------------------------------- */

/* The loop, with a connection that answered when the spec asks for one. */
static int service_run_loop(const struct service_spec *spec, const struct service_settings *s)
{
    if ((spec->uses & SERVICE_WAITS_FOR_POSTGRES) == 0)
        return spec->run(s, NULL);
    struct db db;
    if (db_init(&db, s->database_url) != C_OK) {
        log_error("out of memory");
        return C_ERR;
    }
    int rc = C_OK;
    /* A stop during the wait is an orderly one: nothing was taken yet. */
    if (startup_wait_postgres(&db) == C_OK)
        rc = spec->run(s, &db);
    db_close(&db);
    return rc;
}

/* The readiness checks, and a worker's listener with its probe. Checks are
 * all in place before any listener answers. */
static int service_start_ops(const struct service_spec *spec)
{
    if ((spec->uses & SERVICE_OPS_LISTENER) == 0) {
        if (ops_http_add_checks(spec->checks, spec->check_count) != C_OK) {
            log_error("too many readiness checks");
            return C_ERR;
        }
        return C_OK;
    }
    struct ops_http_options oo = {.host = service_cfg.ops_host,
                                  .port = service_cfg.ops_port,
                                  .database_url = service_cfg.database_url,
                                  .kafka_brokers = service_cfg.kafka_brokers,
                                  .refresh_ms = service_cfg.metrics_refresh_ms,
                                  .refresh = spec->refresh_gauges,
                                  .checks = spec->checks,
                                  .check_count = spec->check_count};
    return ops_http_start(&oo);
}

int service_run(int argc, char **argv, const struct service_spec *spec)
{
    struct config_entry table[SERVICE_CONFIG_MAX];
    size_t n = 0;
    if (service_config_table(spec, table, SERVICE_CONFIG_MAX, &n) != C_OK) {
        fprintf(stderr, "%s: more than %d configuration rows\n", spec->name, SERVICE_CONFIG_MAX);
        return 2;
    }
    service_init_or_exit(argc, argv, spec->name, spec->summary, table, n, &service_cfg.log_level);
    struct service_settings s = {.database_url = service_cfg.database_url,
                                 .kafka_brokers = service_cfg.kafka_brokers,
                                 .public_base_url = service_cfg.public_base_url,
                                 .shutdown_grace_ms = service_cfg.shutdown_grace_ms,
                                 .kafka_session_timeout_ms = service_cfg.kafka_session_timeout_ms};
    struct error err = ERROR_INIT;
    if ((spec->uses & SERVICE_USES_KAFKA) != 0 &&
        kafka_security_use(&service_cfg.kafka_security, &err) != C_OK) {
        log_error("configuration error: %s", err.message);
        config_free(table, n);
        exit(2);
    }
    if ((spec->uses & SERVICE_USES_SECRETS_KEY) != 0) {
        if (secretbox_keyring_init(&service_secrets, service_cfg.secrets_key,
                                   service_cfg.secrets_key_previous, &err) != C_OK) {
            log_error("%s", err.message);
            config_free(table, n);
            exit(2);
        }
        s.secrets = &service_secrets;
    }
    if (spec->check_config != NULL && spec->check_config(&s, &err) != C_OK) {
        log_error("%s", err.message);
        config_free(table, n);
        exit(2);
    }
    log_fields(LOG_INFO, json_pack("{so?}", "config", service_describe_config(table, n)),
               "%s starting", spec->name);
    metrics_register_process(spec->name);
    if (service_start_watchdog(s.shutdown_grace_ms + spec->stop_margin_ms) != C_OK) {
        log_error("cannot start the shutdown watchdog");
        config_free(table, n);
        exit(1);
    }
    if (service_start_ops(spec) != C_OK) {
        config_free(table, n);
        exit(1);
    }
    int rc = service_run_loop(spec, &s);
    /* The loop only returns once a stop was requested, or on a fatal error:
     * whatever still runs follows it. */
    service_request_stop();
    ops_http_set_accepting(false);
    ops_http_stop();
    log_info("%s stopped", spec->name);
    secretbox_keyring_clear(&service_secrets);
    config_free(table, n);
    return rc == C_OK ? 0 : 1;
}
