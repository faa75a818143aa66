/* The skeleton every service runs in: a main.c is its spec and its loop,
 *
 *     int main(int argc, char **argv) { return service_run(argc, argv, &spec); }
 *
 * and service_run does the rest the same way for all of them: the shared
 * configuration rows declared once here and merged with the service's own
 * (--help prints them), JSON logging, a start log line generated from the
 * configuration table (secrets masked), signal handlers, the shutdown
 * watchdog, /metrics' process series, readiness checks and a worker's ops
 * listener (/healthz, /readyz, /metrics), the wait for PostgreSQL, then the
 * loop, then an orderly stop.
 *
 * SIGTERM/SIGINT only set a flag (as in Redis); loops poll service_stopping()
 * and wind down in order. */
#ifndef CAISSE_SERVICE_H
#define CAISSE_SERVICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"
#include "infra/db.h"
#include "infra/ops_http.h"
#include "infra/secretbox.h"

/* Which shared settings and duties a service takes (service_spec.uses).
 * CAISSE_DATABASE_URL, CAISSE_LOG_LEVEL and CAISSE_SHUTDOWN_GRACE_MS are
 * every service's. */
enum service_uses {
    SERVICE_USES_KAFKA = 1 << 0,           /* CAISSE_KAFKA_BROKERS, KAFKA_SECURITY_CONFIG */
    SERVICE_USES_PUBLIC_BASE_URL = 1 << 1, /* CAISSE_PUBLIC_BASE_URL */
    /* CAISSE_OPS_HOST, CAISSE_OPS_PORT, CAISSE_METRICS_REFRESH_MS: a worker's
     * ops listener, whose readiness also checks PostgreSQL (and Kafka with
     * SERVICE_USES_KAFKA) and that the loop takes work (ops_http_set_accepting). */
    SERVICE_OPS_LISTENER = 1 << 2,
    /* The loop gets a connection that answered: the skeleton waits for
     * PostgreSQL (retrying with backoff, honouring SIGTERM) before it. */
    SERVICE_WAITS_FOR_POSTGRES = 1 << 3,
    /* CAISSE_SECRETS_KEY (required) and CAISSE_SECRETS_KEY_PREVIOUS: the key
     * of the webhook signing secrets at rest (infra/secretbox.h). A missing
     * or malformed key is a configuration error (exit 2). */
    SERVICE_USES_SECRETS_KEY = 1 << 4,
    /* CAISSE_KAFKA_SESSION_TIMEOUT_MS: a consumer group member's session. */
    SERVICE_USES_KAFKA_CONSUMER = 1 << 5,
};

/* The shared settings, as loaded; those a service does not use are NULL.
 * Valid until service_run returns. */
struct service_settings {
    const char *database_url;
    const char *kafka_brokers;
    const char *public_base_url;
    long shutdown_grace_ms;
    long kafka_session_timeout_ms; /* SERVICE_USES_KAFKA_CONSUMER, else 0 */
    /* SERVICE_USES_SECRETS_KEY: the keyring, else NULL. */
    const struct secretbox_keyring *secrets;
};

struct service_spec {
    const char *name;    /* "session-worker": the log's service, caisse_build_info */
    const char *summary; /* the paragraph of --help */
    unsigned uses;       /* enum service_uses */
    /* The service's own configuration rows, printed after the shared ones. */
    const struct config_entry *config;
    size_t config_count;
    /* CAISSE_SHUTDOWN_GRACE_MS: the least grace the service can drain in, and
     * its help text when it says more than the common one (may be NULL). */
    long shutdown_grace_min_ms;
    const char *shutdown_grace_help;
    /* How long the stop may run past CAISSE_SHUTDOWN_GRACE_MS (work the
     * service does after its drain, e.g. a last Kafka flush) before the
     * watchdog exits 1. */
    long stop_margin_ms;
    /* SERVICE_OPS_LISTENER: CAISSE_OPS_PORT's default, the gauges
     * refresh_gauges reads (for CAISSE_METRICS_REFRESH_MS' help), and the
     * function, run on the probe thread every CAISSE_METRICS_REFRESH_MS (may
     * be NULL). */
    const char *ops_port_default;
    const char *gauges;
    void (*refresh_gauges)(struct db *db);
    /* Readiness checks of the service's own, after the listener's. */
    const struct ops_check *checks;
    size_t check_count;
    /* Cross-field checks the table cannot express, once loaded (may be NULL):
     * C_ERR is a configuration error (exit 2). */
    int (*check_config)(const struct service_settings *s, struct error *err);
    /* The loop: returns once service_stopping() (C_OK), or on a fatal error
     * (C_ERR: exit 1). db is connected with SERVICE_WAITS_FOR_POSTGRES, else
     * NULL. */
    int (*run)(const struct service_settings *s, struct db *db);
};

/* Runs the service; its return value is the process's exit status (0, or 1
 * when the loop failed). Exits itself: 0 after --help, 2 on a configuration
 * error, 1 when the handlers, the watchdog or the listener cannot start. */
int service_run(int argc, char **argv, const struct service_spec *spec);

#define SERVICE_CONFIG_MAX 64
/* The whole configuration table of spec: the shared rows it uses, then its
 * own (whose targets it keeps). The shared rows' targets and help texts are
 * the skeleton's own storage (one service per process). C_ERR if more than
 * max rows. */
int service_config_table(const struct service_spec *spec, struct config_entry *out, size_t max,
                         size_t *n);
/* The loaded table as the start log shows it: {"CAISSE_X": value, ...}, a
 * secret as "(set)" or "", CAISSE_DATABASE_URL as user@host:port/db (no
 * password). New reference; NULL when out of memory. */
json_t *service_describe_config(const struct config_entry *table, size_t n);

/* For a program that is not a service (bench/http_ceiling.c): configuration
 * from the environment (--help prints it), JSON logging at the level
 * *log_level names, signal handlers. Exits 2 on a configuration error, 1 if
 * the handlers cannot be installed. */
void service_init_or_exit(int argc, char **argv, const char *service, const char *summary,
                          const struct config_entry *table, size_t n, char *const *log_level);
bool service_stopping(void);
/* Lets a test or an internal error start the same orderly shutdown. */
void service_request_stop(void);
/* Sleeps up to ms, returning early once a stop was requested. */
void service_sleep_ms(long ms);

#endif
