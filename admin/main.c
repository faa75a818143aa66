/* caisse-admin: the operator's tool for what has no REST API on purpose
 * (schema, topics, organizations, API keys).
 *
 * Output contract: results go to stdout and nothing else does, so scripts can
 * capture them (`ORG=$(caisse-admin create-org --name Shop)`). Messages meant
 * for the operator (usage errors, "no such key", the one-time key notice) are
 * plain lines on stderr that no setting silences. The JSON log lines of the
 * library (SQL errors, Kafka, each migration applied) go to stderr too, but
 * only errors unless -v asks for them all (at CAISSE_LOG_LEVEL): a tool run
 * by hand or by a script should say its result, not narrate.
 * Exit status: 0 done, 1 failed or not found, 2 usage or configuration error. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "model/currency.h"
#include "infra/db.h"
#include "infra/kafka.h"
#include "kafka_acls.h"
#include "core/log.h"
#include "migrate.h"
#include "core/result.h"
#include "core/utf8.h"
#include "model/tenant.h"
#include "core/uuid.h"

#define ADMIN_EXIT_FAILED 1
#define ADMIN_EXIT_USAGE 2
#define ADMIN_ORG_NAME_MAX 200 /* the organizations.name CHECK */

static const char admin_program[] = "caisse-admin";
/* -v or --verbose, anywhere on the command line: log at CAISSE_LOG_LEVEL. */
static bool admin_verbose;

static char *admin_database_url;
static char *admin_log_level;
static char *admin_kafka_brokers;
static long admin_kafka_partitions;
static long admin_kafka_replication;
static struct kafka_security admin_kafka_security;

/* Ordered so that each command loads one contiguous slice: the database
 * commands [0, 2), create-topics and grant-kafka-acls [1, 13). Neither needs the other's settings,
 * so creating topics works without a database URL and vice versa. */
static const struct config_entry admin_config[] = {
    {"CAISSE_DATABASE_URL", CONFIG_SECRET, NULL,
     "PostgreSQL connection URL (every command except create-topics)", &admin_database_url, 0, 0},
    {"CAISSE_LOG_LEVEL", CONFIG_STRING, "info",
     "debug, info, warn or error: the log level with -v; without -v only errors are logged",
     &admin_log_level, 0, 0},
    {"CAISSE_KAFKA_BROKERS", CONFIG_STRING, "127.0.0.1:9092",
     "Kafka bootstrap servers, comma separated (create-topics)", &admin_kafka_brokers, 0, 0},
    {"CAISSE_KAFKA_PARTITIONS", CONFIG_INT, "12", "partitions of each topic (create-topics)",
     &admin_kafka_partitions, 1, 10000},
    {"CAISSE_KAFKA_REPLICATION", CONFIG_INT, "1",
     "replication factor of each topic (create-topics)", &admin_kafka_replication, 1, 32767},
    /* The Kafka commands run as an administrator (create topics, ACLs). */
    KAFKA_SECURITY_CONFIG(admin_kafka_security),
};
#define ADMIN_CONFIG_DB_FIRST 0
#define ADMIN_CONFIG_DB_COUNT 2
#define ADMIN_CONFIG_KAFKA_FIRST 1
#define ADMIN_CONFIG_KAFKA_COUNT (4 + KAFKA_SECURITY_CONFIG_COUNT)

static const char admin_summary[] =
    "Administration of a caisse deployment.\n"
    "\n"
    "Commands:\n"
    "  migrate                          apply pending database migrations\n"
    "  create-topics                    create the Kafka topics (existing ones are kept)\n"
    "  grant-kafka-acls [--gateway USER] [--session-worker USER] [--webhook-worker USER]\n"
    "                   [--session-worker-group GROUP] [--webhook-worker-group GROUP]\n"
    "                   [--reader USER] [--reader-group-prefix PREFIX]\n"
    "                                   allow each service's Kafka user what it needs and\n"
    "                                   no more (defaults: caisse-gateway,\n"
    "                                   caisse-session-worker, caisse-webhook-worker and the\n"
    "                                   services' default groups; no reader unless given);\n"
    "                                   existing ACLs are kept\n"
    "  create-org --name NAME [--currency CODE]\n"
    "                                   create an organization (default currency XOF);\n"
    "                                   prints its id\n"
    "  create-key --org ORG_ID --env test|live [--description TEXT]\n"
    "                                   create an API key; prints the key, which is\n"
    "                                   shown this once only\n"
    "  list-keys [--org ORG_ID] [--json]\n"
    "                                   list API keys (the key itself is never shown)\n"
    "  list-orgs [--json]               list organizations\n"
    "  revoke-key KEY_ID                revoke an API key (gateways stop accepting it\n"
    "                                   within their key cache TTL)\n"
    "  set-rate-limit --org ORG_ID --per-second N|default\n"
    "                                   requests a second each API key of the organization\n"
    "                                   may make (0: no limit; default: the gateways'\n"
    "                                   CAISSE_RATE_LIMIT_KEY_PER_S), within the key cache TTL\n"
    "  set-display-name --org ORG_ID --display-name TEXT\n"
    "                                   the name the hosted checkout page shows customers\n"
    "                                   (1 to 200 characters; \"\" clears it: the page then\n"
    "                                   shows the organization's name)\n"
    "\n"
    "Options of every command:\n"
    "  -v, --verbose                    JSON log lines on stderr at CAISSE_LOG_LEVEL\n"
    "                                   (without it only errors are logged)\n"
    "\n"
    "Results go to stdout, messages to stderr. Exit status: 0 success, 1 failure,\n"
    "2 usage or configuration error.";

static void admin_usage(FILE *out)
{
    config_print_help(out, "caisse-admin COMMAND [OPTIONS]", admin_summary, admin_config,
                      CONFIG_TABLE_SIZE(admin_config));
}

static int admin_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "caisse-admin: [command: ]message" and a pointer to --help. */
static int admin_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", admin_program);
    if (command != NULL)
        fprintf(stderr, "%s: ", command);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun '%s --help' for usage.\n", admin_program);
    return ADMIN_EXIT_USAGE;
}

/* ---- argument parsing ------------------------------------------------- */

struct admin_option {
    const char *name; /* "--org" */
    bool takes_value;
    const char *value; /* set by the parser; NULL when absent */
    bool seen;
};

/* Strict parsing of a command's arguments: known options only, each at most
 * once, "--opt VALUE" or "--opt=VALUE", and one positional argument exactly
 * when positional_name is not NULL. On C_ERR the message is printed. */
static bool admin_is_verbose_flag(const char *arg)
{
    return strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0;
}

static int admin_parse_args(const char *command, int argc, char **argv, struct admin_option *opts,
                            size_t nopts, const char *positional_name, const char **positional)
{
    bool have_positional = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (admin_is_verbose_flag(arg)) {
            admin_verbose = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (arg[0] == '-' && arg[1] != '\0') {
                admin_usage_error(command, "unknown option \"%s\"", arg);
                return C_ERR;
            }
            if (positional_name == NULL || have_positional) {
                admin_usage_error(command, "unexpected argument \"%s\"", arg);
                return C_ERR;
            }
            *positional = arg;
            have_positional = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        struct admin_option *opt = NULL;
        for (size_t j = 0; j < nopts; j++) {
            if (strlen(opts[j].name) == name_len && strncmp(opts[j].name, arg, name_len) == 0)
                opt = &opts[j];
        }
        if (opt == NULL) {
            admin_usage_error(command, "unknown option \"%s\"", arg);
            return C_ERR;
        }
        if (opt->seen) {
            admin_usage_error(command, "option %s given twice", opt->name);
            return C_ERR;
        }
        opt->seen = true;
        if (!opt->takes_value) {
            if (eq != NULL) {
                admin_usage_error(command, "option %s takes no value", opt->name);
                return C_ERR;
            }
            continue;
        }
        if (eq != NULL) {
            opt->value = eq + 1;
        } else if (i + 1 < argc) {
            opt->value = argv[++i];
        } else {
            admin_usage_error(command, "option %s needs a value", opt->name);
            return C_ERR;
        }
    }
    if (positional_name != NULL && !have_positional) {
        admin_usage_error(command, "%s is required", positional_name);
        return C_ERR;
    }
    return C_OK;
}

/* Canonical (lower-case) form of a UUID argument; malformed is a usage error. */
static int admin_parse_uuid_arg(const char *command, const char *what, const char *text,
                                char out[UUID_STR_LEN])
{
    struct uuid u;
    if (uuid_parse(text, &u) != C_OK) {
        fprintf(stderr, "%s: %s: %s \"%s\" is not a UUID\n", admin_program, command, what, text);
        return C_ERR;
    }
    uuid_format(&u, out);
    return C_OK;
}

/* ---- configuration and connections ------------------------------------ */

static int admin_load_config(size_t first, size_t count)
{
    struct error err = ERROR_INIT;
    if (config_load(&admin_config[first], count, &err) != C_OK) {
        fprintf(stderr, "%s: configuration error: %s\n", admin_program, err.message);
        return C_ERR;
    }
    enum log_level level;
    if (log_level_parse(admin_log_level, &level) != C_OK) {
        fprintf(stderr,
                "%s: configuration error: CAISSE_LOG_LEVEL must be debug, info, warn or error "
                "(got \"%s\")\n",
                admin_program, admin_log_level);
        config_free(&admin_config[first], count);
        return C_ERR;
    }
    log_init(admin_program, admin_verbose ? admin_log_level : "error");
    return C_OK;
}

static int admin_db_open(struct db *db)
{
    if (admin_load_config(ADMIN_CONFIG_DB_FIRST, ADMIN_CONFIG_DB_COUNT) != C_OK)
        return ADMIN_EXIT_USAGE;
    if (db_init(db, admin_database_url) != C_OK) {
        fprintf(stderr, "%s: out of memory\n", admin_program);
        config_free(&admin_config[ADMIN_CONFIG_DB_FIRST], ADMIN_CONFIG_DB_COUNT);
        return ADMIN_EXIT_FAILED;
    }
    /* Fail here with the connection error rather than later with a statement's. */
    if (db_ensure(db) != C_OK) {
        fprintf(stderr, "%s: cannot connect to PostgreSQL: %s\n", admin_program, db->last_error);
        db_close(db);
        config_free(&admin_config[ADMIN_CONFIG_DB_FIRST], ADMIN_CONFIG_DB_COUNT);
        return ADMIN_EXIT_FAILED;
    }
    return 0;
}

static void admin_db_close(struct db *db)
{
    db_close(db);
    config_free(&admin_config[ADMIN_CONFIG_DB_FIRST], ADMIN_CONFIG_DB_COUNT);
}

/* One line for a failed statement; the JSON log already has the details. */
static int admin_db_failed(const struct db *db, const char *what)
{
    /* 42P01 undefined_table: the usual first-run mistake. */
    const char *hint =
        strcmp(db_last_sqlstate(db), "42P01") == 0 ? " (run 'caisse-admin migrate' first)" : "";
    fprintf(stderr, "%s: %s failed: %s%s\n", admin_program, what, db->last_error, hint);
    return ADMIN_EXIT_FAILED;
}

/* ---- commands --------------------------------------------------------- */

static int admin_cmd_migrate(int argc, char **argv)
{
    if (admin_parse_args("migrate", argc, argv, NULL, 0, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    int applied = 0;
    if (migrate_run(&db, &applied) != C_OK) {
        rc = admin_db_failed(&db, "migrate");
    } else {
        printf("applied %d migration%s (%d known)\n", applied, applied == 1 ? "" : "s",
               migrate_file_count);
    }
    admin_db_close(&db);
    return rc;
}

/* The Kafka slice of the configuration, its security in force. */
static int admin_load_kafka_config(void)
{
    if (admin_load_config(ADMIN_CONFIG_KAFKA_FIRST, ADMIN_CONFIG_KAFKA_COUNT) != C_OK)
        return C_ERR;
    struct error err = ERROR_INIT;
    if (kafka_security_use(&admin_kafka_security, &err) != C_OK) {
        fprintf(stderr, "%s: configuration error: %s\n", admin_program, err.message);
        config_free(&admin_config[ADMIN_CONFIG_KAFKA_FIRST], ADMIN_CONFIG_KAFKA_COUNT);
        return C_ERR;
    }
    return C_OK;
}

static int admin_cmd_create_topics(int argc, char **argv)
{
    if (admin_parse_args("create-topics", argc, argv, NULL, 0, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    if (admin_load_kafka_config() != C_OK)
        return ADMIN_EXIT_USAGE;
    static const char *const topics[] = {KAFKA_TOPIC_COMMANDS, KAFKA_TOPIC_EVENTS};
    struct error err = ERROR_INIT;
    int rc = 0;
    if (kafka_create_topics(admin_kafka_brokers, topics, 2, (int)admin_kafka_partitions,
                            (int)admin_kafka_replication, &err) != C_OK) {
        fprintf(stderr, "%s: create-topics on %s failed: %s\n", admin_program, admin_kafka_brokers,
                err.message);
        rc = ADMIN_EXIT_FAILED;
    } else {
        /* An existing topic keeps its own partition count; say what was asked. */
        printf("topics %s and %s exist (new ones created with %ld partitions, replication %ld)\n",
               topics[0], topics[1], admin_kafka_partitions, admin_kafka_replication);
    }
    config_free(&admin_config[ADMIN_CONFIG_KAFKA_FIRST], ADMIN_CONFIG_KAFKA_COUNT);
    return rc;
}

static int admin_cmd_grant_kafka_acls(int argc, char **argv)
{
    struct admin_option opts[] = {{"--gateway", true, NULL, false},
                                  {"--session-worker", true, NULL, false},
                                  {"--webhook-worker", true, NULL, false},
                                  {"--session-worker-group", true, NULL, false},
                                  {"--webhook-worker-group", true, NULL, false},
                                  {"--reader", true, NULL, false},
                                  {"--reader-group-prefix", true, NULL, false}};
    if (admin_parse_args("grant-kafka-acls", argc, argv, opts, CONFIG_TABLE_SIZE(opts), NULL,
                         NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    for (size_t i = 0; i < CONFIG_TABLE_SIZE(opts); i++) {
        if (opts[i].value != NULL && opts[i].value[0] == '\0' && i != 5 && i != 6)
            return admin_usage_error("grant-kafka-acls", "%s must not be empty", opts[i].name);
    }
    const struct kafka_acls_principals p = {
        .gateway = opts[0].value != NULL ? opts[0].value : "caisse-gateway",
        .session_worker = opts[1].value != NULL ? opts[1].value : "caisse-session-worker",
        .webhook_worker = opts[2].value != NULL ? opts[2].value : "caisse-webhook-worker",
        .session_worker_group = opts[3].value != NULL ? opts[3].value : "caisse-session-worker",
        .webhook_worker_group = opts[4].value != NULL ? opts[4].value : "caisse-webhook-worker",
        .reader = opts[5].value != NULL ? opts[5].value : "",
        .reader_group_prefix = opts[6].value != NULL ? opts[6].value : ""};
    if (admin_load_kafka_config() != C_OK)
        return ADMIN_EXIT_USAGE;
    struct error err = ERROR_INIT;
    int rc = 0, count = 0;
    if (kafka_acls_grant(admin_kafka_brokers, &p, &count, &err) != C_OK) {
        fprintf(stderr, "%s: grant-kafka-acls on %s failed: %s\n", admin_program,
                admin_kafka_brokers, err.message);
        rc = ADMIN_EXIT_FAILED;
    } else {
        printf("%d Kafka ACLs in place for %s, %s, %s%s%s\n", count, p.gateway, p.session_worker,
               p.webhook_worker, p.reader[0] != '\0' ? " and " : "", p.reader);
    }
    config_free(&admin_config[ADMIN_CONFIG_KAFKA_FIRST], ADMIN_CONFIG_KAFKA_COUNT);
    return rc;
}

static void admin_print_currencies(FILE *out)
{
    for (size_t i = 0; i < currency_count(); i++)
        fprintf(out, "%s%s", i > 0 ? ", " : "", currency_at(i)->code);
}

static int admin_cmd_create_org(int argc, char **argv)
{
    struct admin_option opts[] = {{"--name", true, NULL, false}, {"--currency", true, NULL, false}};
    if (admin_parse_args("create-org", argc, argv, opts, 2, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    const char *name = opts[0].value;
    const char *currency = opts[1].value != NULL ? opts[1].value : "XOF";
    if (name == NULL)
        return admin_usage_error("create-org", "%s is required", "--name");
    /* Checked here so the operator gets a sentence, not a CHECK violation. */
    size_t name_chars = utf8_length(name);
    if (name_chars == 0 || name_chars > ADMIN_ORG_NAME_MAX) {
        fprintf(stderr, "%s: create-org: --name must be 1 to %d characters\n", admin_program,
                ADMIN_ORG_NAME_MAX);
        return ADMIN_EXIT_USAGE;
    }
    if (currency_find(currency) == NULL) {
        fprintf(stderr, "%s: create-org: unsupported currency \"%s\" (supported: ", admin_program,
                currency);
        admin_print_currencies(stderr);
        fprintf(stderr, ")\n");
        return ADMIN_EXIT_USAGE;
    }
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    char id[UUID_STR_LEN];
    if (tenant_store_create_organization(&db, name, currency, id) != C_OK) {
        rc = admin_db_failed(&db, "create-org");
    } else {
        printf("%s\n", id);
        log_fields(LOG_INFO, json_pack("{ss ss}", "organization_id", id, "currency", currency),
                   "organization created");
    }
    admin_db_close(&db);
    return rc;
}

static int admin_org_exists(struct db *db, const char *org_id, bool *exists)
{
    const char *params[1] = {org_id};
    PGresult *r = db_exec(db, "SELECT 1 FROM organizations WHERE id = $1", 1, params);
    if (r == NULL)
        return C_ERR;
    *exists = PQntuples(r) > 0;
    PQclear(r);
    return C_OK;
}

static int admin_cmd_create_key(int argc, char **argv)
{
    struct admin_option opts[] = {{"--org", true, NULL, false},
                                  {"--env", true, NULL, false},
                                  {"--description", true, NULL, false}};
    if (admin_parse_args("create-key", argc, argv, opts, 3, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    const char *env = opts[1].value;
    const char *description = opts[2].value;
    if (opts[0].value == NULL)
        return admin_usage_error("create-key", "%s is required", "--org");
    if (env == NULL)
        return admin_usage_error("create-key", "%s is required", "--env");
    char org[UUID_STR_LEN];
    if (admin_parse_uuid_arg("create-key", "--org", opts[0].value, org) != C_OK)
        return ADMIN_EXIT_USAGE;
    if (strcmp(env, "test") != 0 && strcmp(env, "live") != 0)
        return admin_usage_error("create-key", "--env must be test or live (got \"%s\")", env);
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    bool exists = false;
    char key[TENANT_KEY_MAX_LEN], key_id[UUID_STR_LEN];
    if (admin_org_exists(&db, org, &exists) != C_OK) {
        rc = admin_db_failed(&db, "create-key");
    } else if (!exists) {
        fprintf(stderr, "%s: create-key: organization %s does not exist\n", admin_program, org);
        rc = ADMIN_EXIT_FAILED;
    } else if (tenant_store_create_api_key(&db, org, env, description, key, key_id) != C_OK) {
        rc = admin_db_failed(&db, "create-key");
    } else {
        printf("%s\n", key);
        fflush(stdout);
        fprintf(stderr,
                "%s: created %s API key %s for organization %s; the key above is shown only "
                "this once and cannot be shown again\n",
                admin_program, env, key_id, org);
        /* The key id only: the key itself must never reach a log. */
        log_fields(
            LOG_INFO,
            json_pack("{ss ss ss}", "key_id", key_id, "organization_id", org, "environment", env),
            "api key created");
        explicit_bzero(key, sizeof(key));
    }
    admin_db_close(&db);
    return rc;
}

static const char *admin_json_str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s != NULL ? s : "";
}

/* printf's width counts bytes; the key column holds "…" (3 bytes, 1 column). */
static void admin_print_padded(const char *s, size_t width)
{
    size_t chars = utf8_length(s);
    fputs(s, stdout);
    for (size_t i = chars; i < width; i++)
        fputc(' ', stdout);
}

static void admin_print_json(json_t *arr)
{
    char *text = json_dumps(arr, JSON_INDENT(2));
    if (text != NULL) {
        puts(text);
        free(text);
    }
}

static void admin_print_keys_table(json_t *keys)
{
    printf("%-36s  %-36s  %-4s  %-16s  %-20s  %-7s  %s\n", "ID", "ORGANIZATION", "ENV", "KEY",
           "CREATED", "REVOKED", "DESCRIPTION");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        printf("%-36s  %-36s  %-4s  ", admin_json_str(k, "id"),
               admin_json_str(k, "organization_id"), admin_json_str(k, "environment"));
        admin_print_padded(admin_json_str(k, "key"), 16);
        printf("  %-20s  %-7s  %s\n", admin_json_str(k, "created_at"),
               json_is_true(json_object_get(k, "revoked")) ? "yes" : "no",
               admin_json_str(k, "description"));
    }
}

static int admin_cmd_list_keys(int argc, char **argv)
{
    struct admin_option opts[] = {{"--org", true, NULL, false}, {"--json", false, NULL, false}};
    if (admin_parse_args("list-keys", argc, argv, opts, 2, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    char org[UUID_STR_LEN] = "";
    if (opts[0].value != NULL &&
        admin_parse_uuid_arg("list-keys", "--org", opts[0].value, org) != C_OK)
        return ADMIN_EXIT_USAGE;
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    json_t *keys = NULL;
    if (tenant_store_list_api_keys(&db, org[0] != '\0' ? org : NULL, &keys) != C_OK) {
        rc = admin_db_failed(&db, "list-keys");
    } else {
        if (opts[1].seen)
            admin_print_json(keys);
        else
            admin_print_keys_table(keys);
        json_decref(keys);
    }
    admin_db_close(&db);
    return rc;
}

static int admin_cmd_list_orgs(int argc, char **argv)
{
    struct admin_option opts[] = {{"--json", false, NULL, false}};
    if (admin_parse_args("list-orgs", argc, argv, opts, 1, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    json_t *orgs = NULL;
    if (tenant_store_list_organizations(&db, &orgs) != C_OK) {
        rc = admin_db_failed(&db, "list-orgs");
    } else {
        if (opts[0].seen) {
            admin_print_json(orgs);
        } else {
            printf("%-36s  %-8s  %s\n", "ID", "CURRENCY", "NAME");
            size_t i;
            json_t *o;
            json_array_foreach(orgs, i, o)
            {
                printf("%-36s  %-8s  %s\n", admin_json_str(o, "id"),
                       admin_json_str(o, "default_currency"), admin_json_str(o, "name"));
            }
        }
        json_decref(orgs);
    }
    admin_db_close(&db);
    return rc;
}

static int admin_cmd_revoke_key(int argc, char **argv)
{
    const char *arg = NULL;
    if (admin_parse_args("revoke-key", argc, argv, NULL, 0, "KEY_ID", &arg) != C_OK)
        return ADMIN_EXIT_USAGE;
    char key_id[UUID_STR_LEN];
    if (admin_parse_uuid_arg("revoke-key", "KEY_ID", arg, key_id) != C_OK)
        return ADMIN_EXIT_USAGE;
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    bool found = false;
    if (tenant_store_revoke_api_key(&db, key_id, &found) != C_OK) {
        rc = admin_db_failed(&db, "revoke-key");
    } else if (!found) {
        fprintf(stderr,
                "%s: revoke-key: no active API key with id %s (unknown or already revoked)\n",
                admin_program, key_id);
        rc = ADMIN_EXIT_FAILED;
    } else {
        printf("revoked %s\n", key_id);
        log_fields(LOG_INFO, json_pack("{ss}", "key_id", key_id), "api key revoked");
    }
    admin_db_close(&db);
    return rc;
}

static int admin_cmd_set_rate_limit(int argc, char **argv)
{
    struct admin_option opts[] = {{"--org", true, NULL, false},
                                  {"--per-second", true, NULL, false}};
    if (admin_parse_args("set-rate-limit", argc, argv, opts, 2, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    if (opts[0].value == NULL)
        return admin_usage_error("set-rate-limit", "%s is required", "--org");
    if (opts[1].value == NULL)
        return admin_usage_error("set-rate-limit", "%s is required", "--per-second");
    char org[UUID_STR_LEN];
    if (admin_parse_uuid_arg("set-rate-limit", "--org", opts[0].value, org) != C_OK)
        return ADMIN_EXIT_USAGE;
    long per_second = TENANT_RATE_LIMIT_DEFAULT;
    if (strcmp(opts[1].value, "default") != 0 &&
        config_parse_long(opts[1].value, 0, TENANT_RATE_LIMIT_MAX, &per_second) != C_OK)
        return admin_usage_error("set-rate-limit",
                                 "--per-second must be 0 to %d or \"default\" (got \"%s\")",
                                 TENANT_RATE_LIMIT_MAX, opts[1].value);
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    bool found = false;
    if (tenant_store_set_rate_limit(&db, org, per_second, &found) != C_OK) {
        rc = admin_db_failed(&db, "set-rate-limit");
    } else if (!found) {
        fprintf(stderr, "%s: set-rate-limit: organization %s does not exist\n", admin_program, org);
        rc = ADMIN_EXIT_FAILED;
    } else {
        if (per_second == TENANT_RATE_LIMIT_DEFAULT)
            printf("organization %s: the gateways' default rate limit\n", org);
        else if (per_second == 0)
            printf("organization %s: no rate limit\n", org);
        else
            printf("organization %s: %ld requests a second per API key\n", org, per_second);
        log_fields(LOG_INFO,
                   json_pack("{ss sI}", "organization_id", org, "rate_limit_per_s",
                             (json_int_t)per_second),
                   "organization rate limit set");
    }
    admin_db_close(&db);
    return rc;
}

static int admin_cmd_set_display_name(int argc, char **argv)
{
    struct admin_option opts[] = {{"--org", true, NULL, false},
                                  {"--display-name", true, NULL, false}};
    if (admin_parse_args("set-display-name", argc, argv, opts, 2, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    if (opts[0].value == NULL)
        return admin_usage_error("set-display-name", "%s is required", "--org");
    if (opts[1].value == NULL)
        return admin_usage_error("set-display-name", "%s is required", "--display-name");
    char org[UUID_STR_LEN];
    if (admin_parse_uuid_arg("set-display-name", "--org", opts[0].value, org) != C_OK)
        return ADMIN_EXIT_USAGE;
    /* "" is the operator's way back to the organization's name. */
    const char *display_name = opts[1].value[0] == '\0' ? NULL : opts[1].value;
    if (display_name != NULL) {
        size_t len = strlen(display_name);
        size_t chars = utf8_valid(display_name, len) ? utf8_length(display_name) : 0;
        if (chars == 0 || chars > TENANT_DISPLAY_NAME_MAX)
            return admin_usage_error("set-display-name",
                                     "--display-name must be 1 to %d characters of UTF-8 text,"
                                     " or \"\" to clear it",
                                     TENANT_DISPLAY_NAME_MAX);
    }
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    bool found = false;
    if (tenant_store_set_display_name(&db, org, display_name, &found) != C_OK) {
        rc = admin_db_failed(&db, "set-display-name");
    } else if (!found) {
        fprintf(stderr, "%s: set-display-name: organization %s does not exist\n", admin_program,
                org);
        rc = ADMIN_EXIT_FAILED;
    } else {
        if (display_name == NULL)
            printf("organization %s: the page shows its name\n", org);
        else
            printf("organization %s: the page shows \"%s\"\n", org, display_name);
        log_fields(
            LOG_INFO,
            json_pack("{ss sb}", "organization_id", org, "display_name_set", display_name != NULL),
            "organization display name set");
    }
    admin_db_close(&db);
    return rc;
}

struct admin_command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct admin_command admin_commands[] = {
    {"migrate", admin_cmd_migrate},
    {"create-topics", admin_cmd_create_topics},
    {"grant-kafka-acls", admin_cmd_grant_kafka_acls},
    {"create-org", admin_cmd_create_org},
    {"create-key", admin_cmd_create_key},
    {"list-keys", admin_cmd_list_keys},
    {"list-orgs", admin_cmd_list_orgs},
    {"revoke-key", admin_cmd_revoke_key},
    {"set-rate-limit", admin_cmd_set_rate_limit},
    {"set-display-name", admin_cmd_set_display_name},
};

static bool admin_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

int main(int argc, char **argv)
{
    /* -v before the command ("caisse-admin -v migrate") as well as after it. */
    while (argc > 1 && admin_is_verbose_flag(argv[1])) {
        admin_verbose = true;
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (argc < 2) {
        /* No command is a mistake in a script: usage on stderr, non-zero status. */
        admin_usage(stderr);
        return ADMIN_EXIT_USAGE;
    }
    if (admin_is_help(argv[1])) {
        admin_usage(stdout);
        return 0;
    }
    /* "caisse-admin create-key --help" helps rather than failing on --help. */
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            admin_usage(stdout);
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(admin_commands) / sizeof(admin_commands[0]); i++) {
        if (strcmp(argv[1], admin_commands[i].name) == 0)
            return admin_commands[i].run(argc - 2, argv + 2);
    }
    return admin_usage_error(NULL, "unknown command \"%s\"", argv[1]);
}
