/* Configuration from the environment: defaults, required settings, bounds,
 * junk that strtol alone would accept, boolean words, and --help. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/result.h"
#include "../../leak_check.h"

/* ---- config_parse_long -------------------------------------------------- */

static void expect_long(const char *text, long min, long max, long expected)
{
    long v = -777;
    cr_assert_eq(config_parse_long(text, min, max, &v), C_OK, "rejected \"%s\"", text);
    cr_assert_eq(v, expected);
}

static void expect_no_long(const char *text, long min, long max)
{
    long v = -777;
    cr_assert_eq(config_parse_long(text, min, max, &v), C_ERR, "accepted \"%s\"",
                 text ? text : "(null)");
    cr_assert_eq(v, -777, "a rejected value must not touch the output");
}

TestSuite(config, .fini = unit_leak_check);

Test(config, parse_long_reads_whole_decimal_integers)
{
    expect_long("12", 0, 100, 12);
    expect_long("0", 0, 100, 0);
    expect_long("007", 0, 100, 7);
    expect_long("-5", -10, 10, -5);
    expect_long("9223372036854775807", 0, LONG_MAX, LONG_MAX);
}

Test(config, parse_long_bounds_are_inclusive)
{
    expect_long("1", 1, 100, 1);
    expect_long("100", 1, 100, 100);
    expect_no_long("0", 1, 100);
    expect_no_long("101", 1, 100);
    expect_no_long("-1", 0, 100);
}

Test(config, parse_long_rejects_junk_strtol_would_accept)
{
    expect_no_long("12abc", 0, 100);
    expect_no_long(" 5", 0, 100);
    expect_no_long("5 ", 0, 100);
    expect_no_long("+5", 0, 100);
    expect_no_long("\t5", 0, 100);
    expect_no_long("0x10", 0, 100);
    expect_no_long("1e2", 0, 1000);
    expect_no_long("2.0", 0, 100);
    expect_no_long("--5", -10, 10);
    expect_no_long("-", -10, 10);
    expect_no_long("- 5", -10, 10);
}

Test(config, parse_long_rejects_empty_null_and_overflow)
{
    expect_no_long("", 0, 100);
    expect_no_long(NULL, 0, 100);
    expect_no_long("9223372036854775808", 0, LONG_MAX);
    expect_no_long("99999999999999999999", 0, LONG_MAX);
    expect_no_long("-99999999999999999999", LONG_MIN, 0);
}

/* ---- config_load ------------------------------------------------------ */

static char *t_url;
static char *t_name;
static long t_port;
static long t_partitions;
static bool t_flag;
static bool t_other_flag;

static const struct config_entry table[] = {
    {"CAISSE_UT_URL", CONFIG_STRING, NULL, "where to connect", &t_url, 0, 0},
    {"CAISSE_UT_NAME", CONFIG_STRING, "caisse", "a name", &t_name, 0, 0},
    {"CAISSE_UT_PORT", CONFIG_INT, "8080", "port to listen on", &t_port, 1, 65535},
    {"CAISSE_UT_PARTITIONS", CONFIG_INT, "12", "partitions", &t_partitions, 1, 1000},
    {"CAISSE_UT_FLAG", CONFIG_BOOL, "false", "a switch", &t_flag, 0, 0},
    {"CAISSE_UT_OTHER_FLAG", CONFIG_BOOL, "true", "another switch", &t_other_flag, 0, 0},
};
#define N CONFIG_TABLE_SIZE(table)

static void clean_env(void)
{
    for (size_t i = 0; i < N; i++)
        unsetenv(table[i].name);
    setenv("CAISSE_UT_URL", "postgresql://db/caisse", 1);
}

static void expect_load_error(const char *message)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(config_load(table, N, &err), C_ERR);
    cr_assert_str_eq(err.message, message);
    /* The variable at fault is the error's param. */
    cr_assert_eq(strncmp(message, err.param, strlen(err.param)), 0, "param %s", err.param);
    cr_assert_neq(err.param[0], '\0');
    /* Whatever it had set is freed. */
    cr_assert_null(t_url);
    cr_assert_null(t_name);
}

TestSuite(config_load, .init = clean_env, .fini = unit_leak_check);

Test(config_load, applies_defaults_when_unset)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(config_load(table, N, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(t_url, "postgresql://db/caisse");
    cr_assert_str_eq(t_name, "caisse");
    cr_assert_eq(t_port, 8080);
    cr_assert_eq(t_partitions, 12);
    cr_assert_eq(t_flag, false);
    cr_assert_eq(t_other_flag, true);
    config_free(table, N);
    cr_assert_null(t_url);
    cr_assert_null(t_name);
}

Test(config_load, reads_values_from_the_environment)
{
    setenv("CAISSE_UT_NAME", "gateway-1", 1);
    setenv("CAISSE_UT_PORT", "65535", 1);
    setenv("CAISSE_UT_PARTITIONS", "1", 1);
    setenv("CAISSE_UT_FLAG", "true", 1);
    setenv("CAISSE_UT_OTHER_FLAG", "off", 1);
    struct error err = ERROR_INIT;
    cr_assert_eq(config_load(table, N, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(t_name, "gateway-1");
    cr_assert_eq(t_port, 65535);
    cr_assert_eq(t_partitions, 1);
    cr_assert_eq(t_flag, true);
    cr_assert_eq(t_other_flag, false);
    config_free(table, N);
}

Test(config_load, fails_when_a_required_setting_is_missing)
{
    unsetenv("CAISSE_UT_URL");
    expect_load_error("CAISSE_UT_URL is required");
}

Test(config_load, treats_an_empty_required_string_as_missing)
{
    setenv("CAISSE_UT_URL", "", 1);
    expect_load_error("CAISSE_UT_URL is required");
}

Test(config_load, keeps_an_empty_optional_string)
{
    setenv("CAISSE_UT_NAME", "", 1);
    struct error err = ERROR_INIT;
    cr_assert_eq(config_load(table, N, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(t_name, "");
    config_free(table, N);
}

Test(config_load, uses_the_default_for_an_empty_integer_or_bool)
{
    setenv("CAISSE_UT_PORT", "", 1);
    setenv("CAISSE_UT_OTHER_FLAG", "", 1);
    struct error err = ERROR_INIT;
    cr_assert_eq(config_load(table, N, &err), C_OK, "%s", err.message);
    cr_assert_eq(t_port, 8080);
    cr_assert_eq(t_other_flag, true);
    config_free(table, N);
}

Test(config_load, rejects_integers_out_of_bounds)
{
    setenv("CAISSE_UT_PORT", "0", 1);
    expect_load_error("CAISSE_UT_PORT must be an integer from 1 to 65535 (got \"0\")");
    setenv("CAISSE_UT_PORT", "65536", 1);
    expect_load_error("CAISSE_UT_PORT must be an integer from 1 to 65535 (got \"65536\")");
}

Test(config_load, rejects_integer_junk)
{
    static const char *const junk[] = {"12abc", " 5", "+5", "5 ", "0x10", "12.0", "twelve"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        setenv("CAISSE_UT_PARTITIONS", junk[i], 1);
        char message[160];
        snprintf(message, sizeof(message),
                 "CAISSE_UT_PARTITIONS must be an integer from 1 to 1000 (got \"%s\")", junk[i]);
        expect_load_error(message);
    }
}

Test(config_load, accepts_every_bool_word)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    struct error err = ERROR_INIT;
    for (int i = 0; i < 4; i++) {
        setenv("CAISSE_UT_FLAG", yes[i], 1);
        cr_assert_eq(config_load(table, N, &err), C_OK, "%s", err.message);
        cr_assert_eq(t_flag, true, "%s", yes[i]);
        config_free(table, N);
        setenv("CAISSE_UT_FLAG", no[i], 1);
        cr_assert_eq(config_load(table, N, &err), C_OK, "%s", err.message);
        cr_assert_eq(t_flag, false, "%s", no[i]);
        config_free(table, N);
    }
}

Test(config_load, rejects_other_bool_words)
{
    static const char *const bad[] = {"maybe", "TRUE", "Yes", "2", "enabled", " true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("CAISSE_UT_FLAG", bad[i], 1);
        char message[160];
        snprintf(message, sizeof(message), "CAISSE_UT_FLAG must be true or false (got \"%s\")",
                 bad[i]);
        expect_load_error(message);
    }
}

Test(config_load, reports_the_first_bad_setting_in_table_order)
{
    setenv("CAISSE_UT_PORT", "x", 1);
    setenv("CAISSE_UT_FLAG", "x", 1);
    expect_load_error("CAISSE_UT_PORT must be an integer from 1 to 65535 (got \"x\")");
}

/* ---- help and the common entry point ----------------------------------- */

Test(config, print_help_documents_every_variable)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    config_print_help(out, "caisse-test", "Does testing.", table, N);
    fclose(out);
    cr_assert_not_null(strstr(text, "Usage: caisse-test [--help]\n\nDoes testing.\n"));
    cr_assert_not_null(strstr(text, "  CAISSE_UT_URL                        string, required\n"
                                    "      where to connect\n"));
    cr_assert_not_null(
        strstr(text, "  CAISSE_UT_PORT                       integer 1..65535, default \"8080\"\n"
                     "      port to listen on\n"));
    cr_assert_not_null(strstr(text, "  CAISSE_UT_FLAG                       bool, default "
                                    "\"false\"\n"));
    for (size_t i = 0; i < N; i++)
        cr_assert_not_null(strstr(text, table[i].name), "%s is undocumented", table[i].name);
    free(text);
}

static void redirect_all(void)
{
    cr_redirect_stdout();
    cr_redirect_stderr();
}

Test(config, init_prints_help_and_exits_0, .init = redirect_all, .exit_code = 0)
{
    char *argv[] = {"caisse-test", "--help", NULL};
    config_init_or_exit(2, argv, "Does testing.", table, N);
    cr_assert_fail("--help must exit");
}

Test(config, init_exits_2_on_an_unknown_argument, .init = redirect_all, .exit_code = 2)
{
    char *argv[] = {"caisse-test", "--port=80", NULL};
    config_init_or_exit(2, argv, "Does testing.", table, N);
    cr_assert_fail("an unknown argument must exit");
}

Test(config, init_exits_2_on_a_configuration_error, .init = redirect_all, .exit_code = 2)
{
    unsetenv("CAISSE_UT_URL");
    char *argv[] = {"caisse-test", NULL};
    config_init_or_exit(1, argv, "Does testing.", table, N);
    cr_assert_fail("a missing required setting must exit");
}

Test(config, init_loads_the_table_when_all_is_well, .init = redirect_all)
{
    setenv("CAISSE_UT_URL", "postgresql://x/y", 1);
    char *argv[] = {"caisse-test", NULL};
    config_init_or_exit(1, argv, "Does testing.", table, N);
    cr_assert_str_eq(t_url, "postgresql://x/y");
    config_free(table, N);
}

/* ---- secrets --------------------------------------------------------------- */

static char *t_secret;

static const struct config_entry secret_table[] = {
    {"CAISSE_UT_SECRET", CONFIG_SECRET, "", "a token", &t_secret, 0, 0},
};

Test(config_load, loads_and_frees_a_secret_like_a_string, .init = clean_env)
{
    setenv("CAISSE_UT_SECRET", "t0ken", 1);
    struct error err = ERROR_INIT;
    cr_assert_eq(config_load(secret_table, 1, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(t_secret, "t0ken");
    config_free(secret_table, 1);
    cr_assert_null(t_secret);
    unsetenv("CAISSE_UT_SECRET");
}

Test(config, print_help_shows_a_secret_as_a_string)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    config_print_help(out, "caisse-test", "Does testing.", secret_table, 1);
    fclose(out);
    cr_assert_not_null(
        strstr(text, "  CAISSE_UT_SECRET                     string, default \"\"\n"), "%s", text);
    free(text);
}
