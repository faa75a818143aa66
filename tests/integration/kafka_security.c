/* The broker's boundaries (deploy/kafka.sh: SASL_SSL, the stack's CA, ACLs
 * from caisse-admin grant-kafka-acls), tried with kcat, an independent
 * client: each service's user may do what its service needs and nothing
 * else, and a client without a valid login or trust in the stack's CA does not
 * get in. Each refusal is checked by the broker's own reason, next to the
 * same request by the allowed user succeeding, so a broker that is merely
 * down cannot pass for one that refuses. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "core/uuid.h"

/* A command's standard output and error together (all of it: a topic read
 * may be large), and its exit status. Free with run_free. */
struct run {
    char *out;
    int status;
};

static struct run *run_shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct run *run_shell(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n < sizeof(cmd) - 8);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    struct run *r = calloc(1, sizeof(*r));
    cr_assert_not_null(r);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t len = 0, cap = 65536;
    r->out = malloc(cap);
    cr_assert_not_null(r->out);
    for (size_t got; (got = fread(r->out + len, 1, cap - len - 1, p)) > 0;) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            r->out = realloc(r->out, cap);
            cr_assert_not_null(r->out);
        }
    }
    r->out[len] = '\0';
    r->status = pclose(p);
    return r;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r);
}

/* The kcat configuration of a user of the stack (deploy/kafka.sh writes them). */
static const char *conf(const char *user)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/%s.kcat.conf", test_env("CAISSE_KAFKA_SECURITY_DIR"), user);
    return path;
}

/* kcat as user: the topic's records from the start (-e: up to its end). */
static struct run *consume(const char *user, const char *topic)
{
    return run_shell("timeout 60 kcat -F %s -b %s -C -t %s -o beginning -e -q -f '%%k\\n'",
                     conf(user), test_env("CAISSE_KAFKA_BROKERS"), topic);
}

/* kcat as user: one record keyed key (a marker to look for afterwards). */
static struct run *produce(const char *user, const char *topic, const char *key)
{
    return run_shell("printf '%%s\\t{}\\n' %s | timeout 60 kcat -F %s -b %s -P -t %s -K '\\t'", key,
                     conf(user), test_env("CAISSE_KAFKA_BROKERS"), topic);
}

static void new_marker(char out[UUID_STR_LEN])
{
    cr_assert_eq(uuid_v7_string(out), 0);
}

Test(kafka_security, the_reader_reads_the_events_and_the_gateway_user_cannot, .timeout = 180)
{
    struct run *ok = consume("caisse-reader", "checkout.session.events");
    cr_assert_eq(ok->status, 0, "the reader could not read the events: %.2000s", ok->out);
    struct run *refused = consume("caisse-gateway", "checkout.session.events");
    cr_assert_neq(refused->status, 0, "the gateway's user read the events: %.2000s", refused->out);
    cr_assert_not_null(strstr(refused->out, "Topic authorization failed"), "%.2000s", refused->out);
    run_free(ok);
    run_free(refused);
}

Test(kafka_security, the_gateway_user_writes_commands_but_cannot_write_events, .timeout = 180)
{
    char marker[UUID_STR_LEN];
    new_marker(marker);
    struct run *refused = produce("caisse-gateway", "checkout.session.events", marker);
    cr_assert_neq(refused->status, 0, "the gateway's user wrote an event: %.2000s", refused->out);
    cr_assert_not_null(strstr(refused->out, "Topic authorization failed"), "%.2000s", refused->out);
    /* Nothing of it on the topic (read by the allowed reader). */
    struct run *events = consume("caisse-reader", "checkout.session.events");
    cr_assert_eq(events->status, 0, "%.2000s", events->out);
    cr_assert_null(strstr(events->out, marker), "the refused event is on the topic");
    run_free(refused);
    run_free(events);
}

Test(kafka_security, the_webhook_worker_user_cannot_write_or_read_commands, .timeout = 180)
{
    char marker[UUID_STR_LEN];
    new_marker(marker);
    struct run *refused = produce("caisse-webhook-worker", "checkout.session.commands", marker);
    cr_assert_neq(refused->status, 0, "the webhook worker's user wrote a command: %.2000s",
                  refused->out);
    cr_assert_not_null(strstr(refused->out, "Topic authorization failed"), "%.2000s", refused->out);
    struct run *read = consume("caisse-webhook-worker", "checkout.session.commands");
    cr_assert_neq(read->status, 0, "the webhook worker's user read the commands: %.2000s",
                  read->out);
    cr_assert_not_null(strstr(read->out, "Topic authorization failed"), "%.2000s", read->out);
    /* The commands as the admin sees them: the refused one is not there. */
    struct run *commands = consume("admin", "checkout.session.commands");
    cr_assert_eq(commands->status, 0, "%.2000s", commands->out);
    cr_assert_null(strstr(commands->out, marker), "the refused command is on the topic");
    run_free(refused);
    run_free(read);
    run_free(commands);
}

Test(kafka_security, the_reader_cannot_write_events_nor_read_commands, .timeout = 180)
{
    char marker[UUID_STR_LEN];
    new_marker(marker);
    struct run *write = produce("caisse-reader", "checkout.session.events", marker);
    cr_assert_neq(write->status, 0, "the reader wrote an event: %.2000s", write->out);
    cr_assert_not_null(strstr(write->out, "Topic authorization failed"), "%.2000s", write->out);
    struct run *read = consume("caisse-reader", "checkout.session.commands");
    cr_assert_neq(read->status, 0, "the reader read the commands: %.2000s", read->out);
    cr_assert_not_null(strstr(read->out, "Topic authorization failed"), "%.2000s", read->out);
    run_free(write);
    run_free(read);
}

/* -F /dev/null: no configuration file at all (not even KCAT_CONFIG's). */
Test(kafka_security, a_client_without_sasl_or_tls_cannot_connect, .timeout = 120)
{
    const char *brokers = test_env("CAISSE_KAFKA_BROKERS");
    struct run *plain = run_shell("timeout 60 kcat -F /dev/null -b %s -L -m 5", brokers);
    cr_assert_not_null(strstr(plain->out, "Failed to acquire metadata"),
                       "a PLAINTEXT client got metadata: %.2000s", plain->out);
    /* TLS that trusts the stack's CA, but no login. */
    struct run *tls = run_shell("timeout 60 kcat -F /dev/null -b %s -X security.protocol=SSL"
                                " -X ssl.ca.location=%s -L -m 5",
                                brokers, test_env("CAISSE_KAFKA_CA_FILE"));
    cr_assert_not_null(strstr(tls->out, "Failed to acquire metadata"),
                       "a client without SASL got metadata: %.2000s", tls->out);
    struct run *ok =
        run_shell("timeout 60 kcat -F %s -b %s -L -m 30", conf("caisse-reader"), brokers);
    cr_assert_eq(ok->status, 0, "%.2000s", ok->out);
    cr_assert_not_null(strstr(ok->out, "checkout.session.events"), "%.2000s", ok->out);
    run_free(plain);
    run_free(tls);
    run_free(ok);
}

Test(kafka_security, a_wrong_password_is_refused, .timeout = 120)
{
    char wrong[1024];
    snprintf(wrong, sizeof(wrong), "%s/run/kcat-wrong-password.conf", test_env("CAISSE_STACK_DIR"));
    cr_assert_eq(test_shell("sed 's/^sasl.password=.*/sasl.password=not-the-password/' %s >%s",
                            conf("caisse-reader"), wrong),
                 0);
    struct run *r =
        run_shell("timeout 60 kcat -F %s -b %s -L -m 5", wrong, test_env("CAISSE_KAFKA_BROKERS"));
    unlink(wrong);
    cr_assert_not_null(strstr(r->out, "Authentication failed"), "%.2000s", r->out);
    cr_assert_not_null(strstr(r->out, "Failed to acquire metadata"), "%.2000s", r->out);
    run_free(r);
}

Test(kafka_security, a_client_that_does_not_trust_the_stack_ca_does_not_connect, .timeout = 120)
{
    /* The reader's login, the system's CAs instead of the stack's. */
    char other[1024];
    snprintf(other, sizeof(other), "%s/run/kcat-system-ca.conf", test_env("CAISSE_STACK_DIR"));
    cr_assert_eq(test_shell("grep -v '^ssl.ca.location=' %s >%s", conf("caisse-reader"), other), 0);
    struct run *r =
        run_shell("timeout 60 kcat -F %s -b %s -L -m 5", other, test_env("CAISSE_KAFKA_BROKERS"));
    unlink(other);
    cr_assert_not_null(strstr(r->out, "certificate verify failed"), "%.2000s", r->out);
    cr_assert_not_null(strstr(r->out, "Failed to acquire metadata"), "%.2000s", r->out);
    run_free(r);
}

/* The same users exist as SCRAM-SHA-512 credentials (made when the storage was
 * formatted): Kafka's own Java tools log in with them (deploy/kafka.sh
 * create-topics runs kafka-topics as admin over SCRAM; the C clients use
 * PLAIN, librdkafka 2.0.2's SCRAM being refused by Kafka 4). */
Test(kafka_security, the_admin_logs_in_over_scram_with_kafkas_own_tools, .timeout = 180)
{
    struct run *r =
        run_shell("bash %s/deploy/kafka.sh create-topics", test_env("CAISSE_TEST_REPO"));
    cr_assert_eq(r->status, 0, "kafka-topics over SCRAM-SHA-512 failed: %.2000s", r->out);
    run_free(r);
    char wrong[1024];
    snprintf(wrong, sizeof(wrong), "%s/run/scram-wrong.properties", test_env("CAISSE_STACK_DIR"));
    cr_assert_eq(test_shell("sed 's/password=\"[^\"]*\"/password=\"not-the-password\"/' "
                            "%s/admin.client.properties >%s",
                            test_env("CAISSE_KAFKA_SECURITY_DIR"), wrong),
                 0);
    r = run_shell("timeout 60 java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp '%s/*'"
                  " org.apache.kafka.tools.TopicCommand --bootstrap-server %s"
                  " --command-config %s --list",
                  test_env("CAISSE_KAFKA_LIBS"), test_env("CAISSE_KAFKA_BROKERS"), wrong);
    unlink(wrong);
    cr_assert_neq(r->status, 0, "a wrong SCRAM password listed the topics: %.2000s", r->out);
    cr_assert_not_null(strstr(r->out, "Authentication failed"), "%.2000s", r->out);
    run_free(r);
}
