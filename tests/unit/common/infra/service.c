/* The service skeleton (common/infra/service.c): the shared configuration
 * rows merged with a service's own, the start log's view of the loaded
 * configuration (secrets masked), and service_run's exit statuses. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/result.h"
#include "infra/service.h"
#include "../../leak_check.h"

TestSuite(service, .fini = unit_leak_check);

static long own_value;
static char *own_token;

static const struct config_entry own_rows[] = {
    {"CAISSE_UT_OWN", CONFIG_INT, "7", "a setting of the service's own", &own_value, 0, 100},
    {"CAISSE_UT_TOKEN", CONFIG_SECRET, "", "a secret of its own", &own_token, 0, 0},
};

static const struct config_entry *find(const struct config_entry *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    }
    return NULL;
}

static void expect_names(const struct config_entry *t, size_t n, const char *const *names)
{
    size_t i = 0;
    for (; names[i] != NULL; i++) {
        cr_assert_lt(i, n, "%s is missing", names[i]);
        cr_assert_str_eq(t[i].name, names[i], "row %zu", i);
    }
    cr_assert_eq(n, i, "%zu rows, expected %zu", n, i);
}

Test(service, a_workers_table_is_the_shared_rows_then_its_own)
{
    struct service_spec spec = {.name = "unit-worker",
                                .uses = SERVICE_USES_KAFKA | SERVICE_USES_PUBLIC_BASE_URL |
                                        SERVICE_OPS_LISTENER,
                                .config = own_rows,
                                .config_count = 2,
                                .shutdown_grace_min_ms = 1000,
                                .ops_port_default = "8099",
                                .gauges = "unit gauges"};
    struct config_entry t[SERVICE_CONFIG_MAX];
    size_t n = 0;
    cr_assert_eq(service_config_table(&spec, t, SERVICE_CONFIG_MAX, &n), C_OK);
    static const char *const names[] = {"CAISSE_DATABASE_URL",
                                        "CAISSE_KAFKA_BROKERS",
                                        "CAISSE_PUBLIC_BASE_URL",
                                        "CAISSE_LOG_LEVEL",
                                        "CAISSE_SHUTDOWN_GRACE_MS",
                                        "CAISSE_OPS_HOST",
                                        "CAISSE_OPS_PORT",
                                        "CAISSE_METRICS_REFRESH_MS",
                                        "CAISSE_KAFKA_SECURITY_PROTOCOL",
                                        "CAISSE_KAFKA_SASL_MECHANISM",
                                        "CAISSE_KAFKA_USERNAME",
                                        "CAISSE_KAFKA_PASSWORD",
                                        "CAISSE_KAFKA_CA_FILE",
                                        "CAISSE_KAFKA_CERT_FILE",
                                        "CAISSE_KAFKA_KEY_FILE",
                                        "CAISSE_KAFKA_VERIFY_HOSTNAME",
                                        "CAISSE_UT_OWN",
                                        "CAISSE_UT_TOKEN",
                                        NULL};
    expect_names(t, n, names);
    cr_assert_str_eq(find(t, n, "CAISSE_OPS_PORT")->default_value, "8099");
    cr_assert_not_null(strstr(find(t, n, "CAISSE_METRICS_REFRESH_MS")->help, "(unit gauges)"));
    cr_assert_eq(find(t, n, "CAISSE_SHUTDOWN_GRACE_MS")->min, 1000);
    /* The database URL is required and never logged as it is. */
    cr_assert_null(find(t, n, "CAISSE_DATABASE_URL")->default_value);
    cr_assert_eq(find(t, n, "CAISSE_DATABASE_URL")->type, CONFIG_SECRET);
    /* Nor is the Kafka password. */
    cr_assert_eq(find(t, n, "CAISSE_KAFKA_PASSWORD")->type, CONFIG_SECRET);
    /* Its own rows keep their targets. */
    cr_assert_eq(find(t, n, "CAISSE_UT_OWN")->target, &own_value);
}

Test(service, a_table_leaves_out_the_shared_rows_a_service_does_not_use)
{
    static const char *const help = "how long, for this one";
    struct service_spec spec = {.name = "unit-service", .shutdown_grace_help = help};
    struct config_entry t[SERVICE_CONFIG_MAX];
    size_t n = 0;
    cr_assert_eq(service_config_table(&spec, t, SERVICE_CONFIG_MAX, &n), C_OK);
    static const char *const names[] = {"CAISSE_DATABASE_URL", "CAISSE_LOG_LEVEL",
                                        "CAISSE_SHUTDOWN_GRACE_MS", NULL};
    expect_names(t, n, names);
    cr_assert_eq(find(t, n, "CAISSE_SHUTDOWN_GRACE_MS")->help, help);
    cr_assert_eq(find(t, n, "CAISSE_SHUTDOWN_GRACE_MS")->min, 0);
}

Test(service, a_table_that_does_not_fit_is_refused)
{
    struct service_spec spec = {.name = "unit-service", .config = own_rows, .config_count = 2};
    struct config_entry t[4];
    size_t n = 99;
    cr_assert_eq(service_config_table(&spec, t, 4, &n), C_ERR);
    cr_assert_eq(n, 99, "a refused table must not touch n");
}

static void unset_all(void)
{
    static const char *const names[] = {"CAISSE_DATABASE_URL",      "CAISSE_LOG_LEVEL",
                                        "CAISSE_SHUTDOWN_GRACE_MS", "CAISSE_UT_OWN",
                                        "CAISSE_UT_TOKEN",          "CAISSE_KAFKA_BROKERS"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

Test(service, the_start_log_masks_secrets_and_the_database_password, .init = unset_all)
{
    struct service_spec spec = {.name = "unit-service", .config = own_rows, .config_count = 2};
    struct config_entry t[SERVICE_CONFIG_MAX];
    size_t n = 0;
    cr_assert_eq(service_config_table(&spec, t, SERVICE_CONFIG_MAX, &n), C_OK);
    setenv("CAISSE_DATABASE_URL", "postgresql://shop:hunter2@db.internal:6432/caisse", 1);
    setenv("CAISSE_UT_TOKEN", "s3cr3t-t0ken", 1);
    setenv("CAISSE_UT_OWN", "42", 1);
    struct error err = ERROR_INIT;
    cr_assert_eq(config_load(t, n, &err), C_OK, "%s", err.message);
    json_t *seen = service_describe_config(t, n);
    cr_assert_not_null(seen);
    char *text = json_dumps(seen, JSON_COMPACT);
    cr_assert_null(strstr(text, "hunter2"), "%s", text);
    cr_assert_null(strstr(text, "s3cr3t"), "%s", text);
    cr_assert_str_eq(json_string_value(json_object_get(seen, "CAISSE_DATABASE_URL")),
                     "shop@db.internal:6432/caisse");
    cr_assert_str_eq(json_string_value(json_object_get(seen, "CAISSE_UT_TOKEN")), "(set)");
    cr_assert_eq(json_integer_value(json_object_get(seen, "CAISSE_UT_OWN")), 42);
    cr_assert_str_eq(json_string_value(json_object_get(seen, "CAISSE_LOG_LEVEL")), "info");
    cr_assert_eq(json_integer_value(json_object_get(seen, "CAISSE_SHUTDOWN_GRACE_MS")), 20000);
    cr_assert_eq(json_object_size(seen), n, "one field per row");
    free(text);
    json_decref(seen);
    config_free(t, n);
}

Test(service, the_start_log_shows_an_empty_secret_as_empty, .init = unset_all)
{
    struct service_spec spec = {.name = "unit-service", .config = own_rows, .config_count = 2};
    struct config_entry t[SERVICE_CONFIG_MAX];
    size_t n = 0;
    cr_assert_eq(service_config_table(&spec, t, SERVICE_CONFIG_MAX, &n), C_OK);
    setenv("CAISSE_DATABASE_URL", "host=/tmp dbname=caisse", 1);
    struct error err = ERROR_INIT;
    cr_assert_eq(config_load(t, n, &err), C_OK, "%s", err.message);
    json_t *seen = service_describe_config(t, n);
    cr_assert_str_eq(json_string_value(json_object_get(seen, "CAISSE_UT_TOKEN")), "");
    cr_assert_str_eq(json_string_value(json_object_get(seen, "CAISSE_DATABASE_URL")),
                     "@/tmp:/caisse");
    json_decref(seen);
    config_free(t, n);
}

/* ---- service_run ------------------------------------------------------------------ */

static int run_status;

static int unit_run(const struct service_settings *s, struct db *db)
{
    cr_assert_null(db, "no wait for PostgreSQL was asked");
    cr_assert_str_eq(s->database_url, "postgresql://unit@127.0.0.1:1/unit");
    cr_assert_str_eq(s->kafka_brokers, "127.0.0.1:9092");
    cr_assert_null(s->public_base_url, "a setting the spec does not use is NULL");
    cr_assert_eq(s->shutdown_grace_ms, 20000);
    cr_assert_eq(own_value, 7);
    return run_status;
}

static int refuse_config(const struct service_settings *s, struct error *err)
{
    (void)s;
    return error_set(err, "CAISSE_UT_OWN", "CAISSE_UT_OWN does not go with the rest");
}

static const struct service_spec unit_spec = {.name = "unit-service",
                                              .summary = "Runs a unit test.",
                                              .uses = SERVICE_USES_KAFKA,
                                              .config = own_rows,
                                              .config_count = 2,
                                              .run = unit_run};

static void run_env(void)
{
    unset_all();
    setenv("CAISSE_DATABASE_URL", "postgresql://unit@127.0.0.1:1/unit", 1);
    cr_redirect_stderr();
    cr_redirect_stdout();
}

Test(service, run_exits_0_when_the_loop_ends_well, .init = run_env)
{
    char *argv[] = {"unit-service", NULL};
    run_status = C_OK;
    cr_assert_eq(service_run(1, argv, &unit_spec), 0);
    cr_assert(service_stopping(), "whatever still runs is asked to stop");
    cr_assert_null(own_token, "the configuration is freed");
}

Test(service, run_exits_1_when_the_loop_fails, .init = run_env)
{
    char *argv[] = {"unit-service", NULL};
    run_status = C_ERR;
    cr_assert_eq(service_run(1, argv, &unit_spec), 1);
}

Test(service, run_exits_2_when_the_service_refuses_its_configuration, .init = run_env,
     .exit_code = 2)
{
    struct service_spec spec = unit_spec;
    spec.check_config = refuse_config;
    char *argv[] = {"unit-service", NULL};
    service_run(1, argv, &spec);
    cr_assert_fail("a refused configuration must exit");
}

Test(service, run_exits_2_on_a_bad_log_level, .init = run_env, .exit_code = 2)
{
    setenv("CAISSE_LOG_LEVEL", "loud", 1);
    char *argv[] = {"unit-service", NULL};
    service_run(1, argv, &unit_spec);
    cr_assert_fail("a bad log level must exit");
}

Test(service, run_exits_2_without_the_database_url, .init = run_env, .exit_code = 2)
{
    unsetenv("CAISSE_DATABASE_URL");
    char *argv[] = {"unit-service", NULL};
    service_run(1, argv, &unit_spec);
    cr_assert_fail("a missing required setting must exit");
}
