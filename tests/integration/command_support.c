#include "command_support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/result.h"
#include "metrics_support.h"
#include "model/command_mac.h"
#include "model/session.h"
#include "support.h"

json_t *test_command_template(void)
{
    char marker[UUID_STR_LEN], extra[128];
    cr_assert_eq(uuid_v7_string(marker), 0);
    snprintf(extra, sizeof(extra), "{\"metadata\": {\"dl\": \"%s\"}}", marker);
    char *body = test_body(extra);
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    test_api_free(&r);
    for (int waited = 0; waited < 20000; waited += 500) {
        json_t *all = test_kafka_read_all("checkout.session.commands");
        size_t i;
        json_t *rec;
        json_array_foreach(all, i, rec)
        {
            const char *payload = json_string_value(json_object_get(rec, "payload"));
            if (payload != NULL && strstr(payload, marker) != NULL) {
                json_t *cmd = json_loads(payload, 0, NULL);
                json_decref(all);
                cr_assert(json_is_object(cmd));
                return cmd;
            }
        }
        json_decref(all);
        test_sleep_ms(500);
    }
    cr_assert_fail("the create command of %s never reached Kafka", marker);
    return NULL;
}

char *test_command_forge_create(const json_t *tmpl, const char *marker, char id[UUID_STR_LEN])
{
    json_t *cmd = json_deep_copy(tmpl);
    char command_id[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(id), 0);
    cr_assert_eq(uuid_v7_string(command_id), 0);
    json_object_set_new(cmd, "id", json_string(command_id));
    json_object_set_new(cmd, "subject", json_string(id));
    /* No Idempotency-Key of its own: a keyed create's id derives from its key. */
    json_object_del(cmd, "idempotencykey");
    json_object_del(cmd, "requesthash");
    json_t *data = json_object_get(cmd, "data");
    json_object_set_new(data, "checkout_session_id", json_string(id));
    json_object_set_new(data, "metadata", json_pack("{ss}", "dl", marker));
    char *text = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    return text;
}

char *test_command_complete(const char *id, int64_t amount, const char *currency_code)
{
    char command_id[UUID_STR_LEN], reference[64];
    cr_assert_eq(uuid_v7_string(command_id), 0);
    snprintf(reference, sizeof(reference), "forged-%s", command_id);
    json_t *cmd = session_command_complete(id, reference, NULL, amount, currency_code, command_id);
    cr_assert_not_null(cmd);
    char *text = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    return text;
}

void test_command_sign(const char *key_setting, const char *key, const char *value, char *out,
                       size_t outlen)
{
    struct command_mac_keys keys;
    struct error err = ERROR_INIT;
    cr_assert_eq(command_mac_keys_load(key_setting, NULL, &keys, &err), C_OK, "%s", err.message);
    char mac[COMMAND_MAC_HEADER_MAX];
    cr_assert_eq(command_mac_sign(&keys, key, strlen(key), value, strlen(value), mac), C_OK);
    command_mac_keys_clear(&keys);
    snprintf(out, outlen, "%s", mac);
}

void test_command_produce(const char *key, const char *value, const char *mac, bool test_input)
{
    char file[] = "/tmp/caisse-command-XXXXXX";
    int fd = mkstemp(file);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s\t%s\n", key, value);
    fclose(f);
    char mac_header[128] = "";
    if (mac != NULL)
        snprintf(mac_header, sizeof(mac_header), " -H caisse-mac=%s", mac);
    /* As the gateway: the one Kafka user allowed to write commands. */
    cr_assert_eq(test_shell("kcat -F %s/caisse-gateway.kcat.conf -P -b %s"
                            " -t checkout.session.commands -K '\\t' -H"
                            " content-type=application/cloudevents+json%s%s -l %s",
                            test_env("CAISSE_KAFKA_SECURITY_DIR"), test_env("CAISSE_KAFKA_BROKERS"),
                            mac_header, test_input ? " -H caisse-test-input=malformed" : "", file),
                 0);
    unlink(file);
}

long test_dead_letters_wait(const char *needle, const char *reason, long count, int timeout_ms)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM dead_letters WHERE consumer = 'session-worker' AND "
             "reason = '%s' AND position(convert_to($1, 'UTF8') IN value) > 0",
             reason);
    long n = 0;
    for (int waited = 0;; waited += 250) {
        char *text = test_sql_value(sql, needle);
        n = strtol(text, NULL, 10);
        free(text);
        if (n >= count || waited >= timeout_ms)
            return n;
        test_sleep_ms(250);
    }
}

bool test_session_wait(const char *id, int timeout_ms)
{
    for (int waited = 0;; waited += 250) {
        char *n = test_sql_value("SELECT count(*) FROM checkout_sessions WHERE id = $1", id);
        bool found = strcmp(n, "1") == 0;
        free(n);
        if (found || waited >= timeout_ms)
            return found;
        test_sleep_ms(250);
    }
}

double test_dead_letters_metric(const char *reason)
{
    const char *const labels[] = {"consumer", "session-worker", "reason", reason, NULL};
    struct prom_scrape *s = prom_scrape(test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL"));
    double v = prom_has(s, "caisse_dead_letters_total", labels)
                   ? prom_value(s, "caisse_dead_letters_total", labels)
                   : 0;
    prom_free(s);
    return v;
}
