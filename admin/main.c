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
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/config.h"
#include "model/currency.h"
#include "infra/db.h"
#include "infra/kafka.h"
#include "kafka_acls.h"
#include "core/log.h"
#include "migrate.h"
#include "core/result.h"
#include "core/utf8.h"
#include "infra/secretbox.h"
#include "model/command_mac.h"
#include "model/dead_letter.h"
#include "model/tenant.h"
#include "model/webhook_endpoint.h"
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
static char *admin_secrets_key;
static char *admin_secrets_key_previous;
static char *admin_command_mac_key;

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
    {"CAISSE_SECRETS_KEY", CONFIG_SECRET, "",
     "key of the webhook signing secrets at rest, <key id>:<base64 of 32 bytes> (secrets "
     "reencrypt; migrate seals plain-text secrets under it when it is set)",
     &admin_secrets_key, 0, 0},
    {"CAISSE_SECRETS_KEY_PREVIOUS", CONFIG_SECRET, "",
     "the key before CAISSE_SECRETS_KEY, whose secrets secrets reencrypt opens and seals anew",
     &admin_secrets_key_previous, 0, 0},
    {"CAISSE_COMMAND_MAC_KEY", CONFIG_SECRET, "",
     "<key id>:<secret>, the current command MAC key (dead-letters replay --resign only)",
     &admin_command_mac_key, 0, 0},
};
#define ADMIN_CONFIG_DB_FIRST 0
#define ADMIN_CONFIG_DB_COUNT 2
#define ADMIN_CONFIG_KAFKA_FIRST 1
#define ADMIN_CONFIG_KAFKA_COUNT (4 + KAFKA_SECURITY_CONFIG_COUNT)
#define ADMIN_CONFIG_SECRETS_FIRST (ADMIN_CONFIG_KAFKA_FIRST + ADMIN_CONFIG_KAFKA_COUNT)
#define ADMIN_CONFIG_SECRETS_COUNT 2

static const char admin_summary[] =
    "Administration of a caisse deployment.\n"
    "\n"
    "Commands:\n"
    "  migrate                          apply pending database migrations; with\n"
    "                                   CAISSE_SECRETS_KEY set, then seal every webhook\n"
    "                                   secret still in plain text\n"
    "  secrets reencrypt                seal every webhook secret under CAISSE_SECRETS_KEY\n"
    "                                   (plain text, or under CAISSE_SECRETS_KEY_PREVIOUS);\n"
    "                                   prints how many endpoints were rewritten\n"
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
    "  dead-letters list [--all] [--limit N] [--json]\n"
    "                                   the records the workers parked (not replayed yet;\n"
    "                                   --all: replayed ones too), newest first\n"
    "  dead-letters show ID             one dead letter with its key, headers and bytes\n"
    "  dead-letters replay ID [--resign]\n"
    "                                   produce its key, headers and bytes again to its\n"
    "                                   topic (CAISSE_KAFKA_BROKERS) and mark it replayed;\n"
    "                                   --resign: a command gets a new caisse-mac under\n"
    "                                   CAISSE_COMMAND_MAC_KEY (only after checking it)\n"
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

/* The keyring of the secrets settings; *have false when CAISSE_SECRETS_KEY is
 * unset. Usage error (printed) when a key is malformed. */
static int admin_secrets_keyring(struct secretbox_keyring *kr, bool *have)
{
    struct error err = ERROR_INIT;
    if (config_load(&admin_config[ADMIN_CONFIG_SECRETS_FIRST], ADMIN_CONFIG_SECRETS_COUNT, &err) !=
        C_OK) {
        fprintf(stderr, "%s: configuration error: %s\n", admin_program, err.message);
        return C_ERR;
    }
    *have = admin_secrets_key[0] != '\0';
    int rc = C_OK;
    if (*have &&
        secretbox_keyring_init(kr, admin_secrets_key, admin_secrets_key_previous, &err) != C_OK) {
        fprintf(stderr, "%s: configuration error: %s\n", admin_program, err.message);
        rc = C_ERR;
    } else if (!*have && admin_secrets_key_previous[0] != '\0') {
        fprintf(stderr,
                "%s: configuration error: CAISSE_SECRETS_KEY_PREVIOUS is set without "
                "CAISSE_SECRETS_KEY\n",
                admin_program);
        rc = C_ERR;
    }
    config_free(&admin_config[ADMIN_CONFIG_SECRETS_FIRST], ADMIN_CONFIG_SECRETS_COUNT);
    return rc;
}

/* Seals every secret still in plain text or under another key; one line on
 * stdout. */
static int admin_secrets_reencrypt(struct db *db, const struct secretbox_keyring *kr)
{
    long changed = 0;
    struct error err = ERROR_INIT;
    if (webhook_endpoint_secrets_reencrypt(db, kr, &changed, &err) != C_OK) {
        fprintf(stderr, "%s: secrets reencrypt failed after %ld endpoint%s: %s\n", admin_program,
                changed, changed == 1 ? "" : "s", err.message);
        return ADMIN_EXIT_FAILED;
    }
    printf("sealed the webhook secrets of %ld endpoint%s under key %s\n", changed,
           changed == 1 ? "" : "s", kr->current.id);
    return 0;
}

static int admin_cmd_migrate(int argc, char **argv)
{
    if (admin_parse_args("migrate", argc, argv, NULL, 0, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    struct secretbox_keyring kr;
    bool have_key = false;
    if (admin_secrets_keyring(&kr, &have_key) != C_OK)
        return ADMIN_EXIT_USAGE;
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0) {
        secretbox_keyring_clear(&kr);
        return rc;
    }
    int applied = 0;
    if (migrate_run(&db, &applied) != C_OK) {
        rc = admin_db_failed(&db, "migrate");
    } else {
        printf("applied %d migration%s (%d known)\n", applied, applied == 1 ? "" : "s",
               migrate_file_count);
        long plain = 0;
        if (have_key) {
            rc = admin_secrets_reencrypt(&db, &kr);
        } else if (webhook_endpoint_secrets_pending(&db, NULL, &plain) == C_OK && plain > 0) {
            fprintf(stderr,
                    "%s: %ld webhook endpoint%s still keep their signing secrets in plain text: "
                    "set CAISSE_SECRETS_KEY and run '%s secrets reencrypt'\n",
                    admin_program, plain, plain == 1 ? "" : "s", admin_program);
        }
    }
    secretbox_keyring_clear(&kr);
    admin_db_close(&db);
    return rc;
}

static int admin_cmd_secrets(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "reencrypt") != 0)
        return admin_usage_error("secrets", "the one subcommand is \"reencrypt\"");
    if (admin_parse_args("secrets reencrypt", argc - 1, argv + 1, NULL, 0, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    struct secretbox_keyring kr;
    bool have_key = false;
    if (admin_secrets_keyring(&kr, &have_key) != C_OK)
        return ADMIN_EXIT_USAGE;
    if (!have_key)
        return admin_usage_error("secrets reencrypt", "CAISSE_SECRETS_KEY is required");
    struct db db;
    int rc = admin_db_open(&db);
    if (rc == 0) {
        rc = admin_secrets_reencrypt(&db, &kr);
        admin_db_close(&db);
    }
    secretbox_keyring_clear(&kr);
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

/* ---- dead letters ------------------------------------------------------ */

/* Loads the one configuration row called name. */
static int admin_load_row(const char *name)
{
    for (size_t i = 0; i < CONFIG_TABLE_SIZE(admin_config); i++) {
        if (strcmp(admin_config[i].name, name) != 0)
            continue;
        struct error err = ERROR_INIT;
        if (config_load(&admin_config[i], 1, &err) != C_OK) {
            fprintf(stderr, "%s: configuration error: %s\n", admin_program, err.message);
            return C_ERR;
        }
        return C_OK;
    }
    return C_ERR;
}

static void admin_free_row(const char *name)
{
    for (size_t i = 0; i < CONFIG_TABLE_SIZE(admin_config); i++) {
        if (strcmp(admin_config[i].name, name) == 0)
            config_free(&admin_config[i], 1);
    }
}

/* A dead letter's id: a positive integer. */
static int admin_parse_dead_letter_id(const char *command, const char *text, long long *id)
{
    long v = 0;
    if (config_parse_long(text, 1, LONG_MAX, &v) != C_OK) {
        admin_usage_error(command, "ID must be a dead letter's id (a positive integer), not \"%s\"",
                          text);
        return C_ERR;
    }
    *id = v;
    return C_OK;
}

/* bytes as a JSON string when they are UTF-8, else base64 under name_base64. */
static void admin_set_bytes(json_t *obj, const char *name, const unsigned char *bytes, size_t len)
{
    if (bytes == NULL) {
        json_object_set_new(obj, name, json_null());
        return;
    }
    if (utf8_valid((const char *)bytes, len) && memchr(bytes, '\0', len) == NULL) {
        json_object_set_new(obj, name, json_stringn((const char *)bytes, len));
        return;
    }
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (b64 == NULL)
        return;
    EVP_EncodeBlock((unsigned char *)b64, bytes, (int)len);
    char key[64];
    snprintf(key, sizeof(key), "%s_base64", name);
    json_object_set_new(obj, key, json_string(b64));
    free(b64);
}

static void admin_print_dead_letters(const json_t *rows)
{
    printf("%-8s  %-14s  %-25s  %4s  %10s  %-9s  %8s  %-24s  %s\n", "ID", "CONSUMER", "TOPIC",
           "PART", "OFFSET", "REASON", "FAILURES", "LAST FAILED", "ERROR");
    size_t i;
    json_t *d;
    json_array_foreach(rows, i, d)
    {
        char error[81];
        utf8_truncate(admin_json_str(d, "error"), error, sizeof(error));
        printf("%-8lld  %-14s  %-25s  %4lld  %10lld  %-9s  %8lld  %-24s  %s%s\n",
               (long long)json_integer_value(json_object_get(d, "id")),
               admin_json_str(d, "consumer"), admin_json_str(d, "topic"),
               (long long)json_integer_value(json_object_get(d, "partition")),
               (long long)json_integer_value(json_object_get(d, "offset")),
               admin_json_str(d, "reason"),
               (long long)json_integer_value(json_object_get(d, "failure_count")),
               admin_json_str(d, "last_failed_at"), error,
               json_is_string(json_object_get(d, "replayed_at")) ? " (replayed)" : "");
    }
}

static int admin_dead_letters_list(int argc, char **argv)
{
    struct admin_option opts[] = {{"--all", false, NULL, false},
                                  {"--limit", true, NULL, false},
                                  {"--json", false, NULL, false}};
    if (admin_parse_args("dead-letters list", argc, argv, opts, 3, NULL, NULL) != C_OK)
        return ADMIN_EXIT_USAGE;
    long limit = 100;
    if (opts[1].value != NULL && config_parse_long(opts[1].value, 1, 100000, &limit) != C_OK)
        return admin_usage_error("dead-letters list", "--limit must be 1 to 100000");
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    json_t *rows = NULL;
    if (dead_letter_list(&db, limit, opts[0].seen, &rows) != C_OK) {
        rc = admin_db_failed(&db, "dead-letters list");
    } else {
        if (opts[2].seen)
            admin_print_json(rows);
        else
            admin_print_dead_letters(rows);
        json_decref(rows);
    }
    admin_db_close(&db);
    return rc;
}

/* Reads dead letter id (exit status on failure, 0 when found). */
static int admin_dead_letter_read(struct db *db, const char *command, long long id,
                                  struct dead_letter *d)
{
    bool found = false;
    if (dead_letter_get(db, id, d, &found) != C_OK)
        return admin_db_failed(db, command);
    if (!found) {
        fprintf(stderr, "%s: %s: no dead letter with id %lld\n", admin_program, command, id);
        return ADMIN_EXIT_FAILED;
    }
    return 0;
}

static int admin_dead_letters_show(int argc, char **argv)
{
    const char *arg = NULL;
    long long id = 0;
    if (admin_parse_args("dead-letters show", argc, argv, NULL, 0, "ID", &arg) != C_OK ||
        admin_parse_dead_letter_id("dead-letters show", arg, &id) != C_OK)
        return ADMIN_EXIT_USAGE;
    struct db db;
    int rc = admin_db_open(&db);
    if (rc != 0)
        return rc;
    struct dead_letter d;
    rc = admin_dead_letter_read(&db, "dead-letters show", id, &d);
    if (rc == 0) {
        json_t *o =
            json_pack("{sI ss ss si sI sO ss ss si ss ss}", "id", (json_int_t)d.id, "consumer",
                      d.consumer, "topic", d.topic, "partition", (int)d.partition, "offset",
                      (json_int_t)d.offset, "headers", d.headers, "reason", d.reason, "error",
                      d.error, "failure_count", d.failure_count, "first_failed_at",
                      d.first_failed_at, "last_failed_at", d.last_failed_at);
        if (o != NULL) {
            json_object_set_new(o, "replayed_at",
                                d.replayed_at[0] != '\0' ? json_string(d.replayed_at)
                                                         : json_null());
            admin_set_bytes(o, "key", d.key, d.key_len);
            admin_set_bytes(o, "value", d.value, d.value_len);
            char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (text != NULL)
                printf("%s\n", text);
            free(text);
            json_decref(o);
        }
        dead_letter_free(&d);
    }
    admin_db_close(&db);
    return rc;
}

/* The replay's delivery report. */
struct admin_delivery {
    bool done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
};

static void admin_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct admin_delivery *d = m->_private != NULL ? m->_private : opaque;
    d->done = true;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
}

/* The stored headers, with caisse-mac made anew under keys when keys is not
 * NULL. NULL when out of memory or a header cannot be read back. */
static rd_kafka_headers_t *admin_replay_headers(const struct dead_letter *d,
                                                const struct command_mac_keys *keys)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(json_array_size(d->headers) + 1);
    size_t i;
    json_t *h;
    json_array_foreach(d->headers, i, h)
    {
        const char *name = json_string_value(json_object_get(h, "name"));
        if (name == NULL)
            goto fail;
        if (keys != NULL && strcmp(name, COMMAND_MAC_HEADER) == 0)
            continue;
        json_t *text = json_object_get(h, "value");
        json_t *b64 = json_object_get(h, "value_base64");
        if (json_is_string(text)) {
            rd_kafka_header_add(hdrs, name, -1, json_string_value(text),
                                (ssize_t)json_string_length(text));
        } else if (json_is_string(b64)) {
            size_t n = json_string_length(b64);
            unsigned char *raw = malloc(n / 4 * 3 + 3);
            int len =
                raw != NULL
                    ? EVP_DecodeBlock(raw, (const unsigned char *)json_string_value(b64), (int)n)
                    : -1;
            if (len < 0) {
                free(raw);
                goto fail;
            }
            /* EVP_DecodeBlock counts the padding's bytes too. */
            const char *t = json_string_value(b64);
            while (n > 0 && t[n - 1] == '=') {
                n--;
                len--;
            }
            rd_kafka_header_add(hdrs, name, -1, raw, len);
            free(raw);
        } else {
            rd_kafka_header_add(hdrs, name, -1, NULL, 0);
        }
    }
    if (keys != NULL) {
        char mac[COMMAND_MAC_HEADER_MAX];
        if (command_mac_sign(keys, d->key, d->key != NULL ? d->key_len : 0, d->value,
                             d->value != NULL ? d->value_len : 0, mac) != C_OK)
            goto fail;
        rd_kafka_header_add(hdrs, COMMAND_MAC_HEADER, -1, mac, -1);
    }
    return hdrs;
fail:
    rd_kafka_headers_destroy(hdrs);
    return NULL;
}

/* Produces d's key, headers and bytes to its topic and waits for the
 * acknowledgement. C_OK with *delivery filled. */
static int admin_replay_produce(const struct dead_letter *d, const struct command_mac_keys *keys,
                                struct admin_delivery *delivery)
{
    struct error err = ERROR_INIT;
    struct kafka_producer_options po = {.brokers = admin_kafka_brokers,
                                        .message_timeout_ms = 15000,
                                        .linger_ms = 0,
                                        .on_delivery = admin_on_delivery,
                                        .opaque = delivery};
    rd_kafka_t *rk = kafka_producer_new(&po, &err);
    if (rk == NULL) {
        fprintf(stderr, "%s: dead-letters replay: %s\n", admin_program, err.message);
        return C_ERR;
    }
    rd_kafka_headers_t *hdrs = admin_replay_headers(d, keys);
    if (hdrs == NULL) {
        fprintf(stderr, "%s: dead-letters replay: the stored headers cannot be read back\n",
                admin_program);
        kafka_producer_destroy(rk);
        return C_ERR;
    }
    size_t key_len = d->key != NULL ? d->key_len : 0;
    size_t value_len = d->value != NULL ? d->value_len : 0;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(d->topic), RD_KAFKA_V_KEY(d->key, key_len),
        RD_KAFKA_V_VALUE(d->value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(delivery), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(hdrs);
        delivery->done = true;
        delivery->err = e;
    }
    rd_kafka_flush(rk, 20000);
    kafka_producer_destroy(rk);
    if (!delivery->done || delivery->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "%s: dead-letters replay: not delivered to %s: %s\n", admin_program,
                d->topic, delivery->done ? rd_kafka_err2str(delivery->err) : "no delivery report");
        return C_ERR;
    }
    return C_OK;
}

/* Replays without --resign by default: a command parked for its MAC
 * (missing or wrong) may be a forgery, and signing it would make the
 * gateway's signature vouch for bytes no gateway wrote; an operator who has
 * read it (dead-letters show) and wants it applied says so with --resign.
 * A command whose MAC was valid keeps it and is verified again. */
static int admin_dead_letters_replay(int argc, char **argv)
{
    const char *arg = NULL;
    long long id = 0;
    struct admin_option opts[] = {{"--resign", false, NULL, false}};
    if (admin_parse_args("dead-letters replay", argc, argv, opts, 1, "ID", &arg) != C_OK ||
        admin_parse_dead_letter_id("dead-letters replay", arg, &id) != C_OK)
        return ADMIN_EXIT_USAGE;
    bool resign = opts[0].seen;
    struct command_mac_keys keys;
    if (admin_load_kafka_config() != C_OK)
        return ADMIN_EXIT_USAGE;
    if (admin_load_row("CAISSE_COMMAND_MAC_KEY") != C_OK) {
        config_free(&admin_config[ADMIN_CONFIG_KAFKA_FIRST], ADMIN_CONFIG_KAFKA_COUNT);
        return ADMIN_EXIT_USAGE;
    }
    if (resign) {
        struct error err = ERROR_INIT;
        if (command_mac_keys_load(admin_command_mac_key, NULL, &keys, &err) != C_OK) {
            fprintf(stderr, "%s: dead-letters replay --resign: configuration error: %s\n",
                    admin_program, err.message);
            config_free(&admin_config[ADMIN_CONFIG_KAFKA_FIRST], ADMIN_CONFIG_KAFKA_COUNT);
            admin_free_row("CAISSE_COMMAND_MAC_KEY");
            return ADMIN_EXIT_USAGE;
        }
    }
    struct db db;
    int rc = admin_db_open(&db);
    if (rc == 0) {
        struct dead_letter d;
        rc = admin_dead_letter_read(&db, "dead-letters replay", id, &d);
        if (rc == 0) {
            if (resign && strcmp(d.topic, KAFKA_TOPIC_COMMANDS) != 0) {
                fprintf(stderr, "%s: dead-letters replay: --resign is for commands (%s) only\n",
                        admin_program, KAFKA_TOPIC_COMMANDS);
                rc = ADMIN_EXIT_USAGE;
            } else {
                struct admin_delivery delivery = {0};
                if (admin_replay_produce(&d, resign ? &keys : NULL, &delivery) != C_OK)
                    rc = ADMIN_EXIT_FAILED;
                else if (dead_letter_mark_replayed(&db, id) != C_OK)
                    rc = admin_db_failed(&db, "dead-letters replay (it was produced)");
                else
                    printf("replayed dead letter %lld to %s (partition %d, offset %lld)%s\n", id,
                           d.topic, (int)delivery.partition, (long long)delivery.offset,
                           resign ? ", signed anew" : "");
                log_fields(LOG_INFO,
                           json_pack("{sI ss sb}", "dead_letter_id", (json_int_t)id, "topic",
                                     d.topic, "resigned", resign),
                           "dead letter replayed");
            }
            dead_letter_free(&d);
        }
        admin_db_close(&db);
    }
    if (resign)
        command_mac_keys_clear(&keys);
    config_free(&admin_config[ADMIN_CONFIG_KAFKA_FIRST], ADMIN_CONFIG_KAFKA_COUNT);
    admin_free_row("CAISSE_COMMAND_MAC_KEY");
    return rc;
}

static int admin_cmd_dead_letters(int argc, char **argv)
{
    if (argc < 1)
        return admin_usage_error("dead-letters", "list, show ID or replay ID");
    if (strcmp(argv[0], "list") == 0)
        return admin_dead_letters_list(argc - 1, argv + 1);
    if (strcmp(argv[0], "show") == 0)
        return admin_dead_letters_show(argc - 1, argv + 1);
    if (strcmp(argv[0], "replay") == 0)
        return admin_dead_letters_replay(argc - 1, argv + 1);
    return admin_usage_error("dead-letters", "unknown subcommand \"%s\" (list, show or replay)",
                             argv[0]);
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
    {"secrets", admin_cmd_secrets},
    {"dead-letters", admin_cmd_dead_letters},
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
