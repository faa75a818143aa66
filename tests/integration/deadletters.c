/* Unforgeable commands and dead letters, against the real stack: commands written to
 * checkout.session.commands by kcat without the gateway's MAC, or with a wrong one,
 * create and complete nothing and are parked in dead_letters (and counted); a command
 * that is not one is parked as malformed while the commands after it still apply; a
 * command MAC'd with the previous key is accepted during a rotation; caisse-admin
 * lists, shows and replays dead letters (re-signing only when told to). PostgreSQL down
 * parks nothing: tests/integration/faults.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command_support.h"
#include "core/uuid.h"
#include "support.h"

/* A key of the same shape as the stack's that is not it: what a forger would try. */
#define FORGED_KEY "local1:0000000000000000000000000000000000000000000000000000000000000000"

Test(deadletters, a_create_without_or_with_a_wrong_mac_creates_nothing_and_is_parked,
     .timeout = 120)
{
    json_t *tmpl = test_command_template();
    pid_t worker = test_service_pid("session-worker");
    double before = test_dead_letters_metric("bad_mac");
    char marker[UUID_STR_LEN], unsigned_id[UUID_STR_LEN], forged_id[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    char *unsigned_cmd = test_command_forge_create(tmpl, marker, unsigned_id);
    char *forged_cmd = test_command_forge_create(tmpl, marker, forged_id);
    char mac[128];
    test_command_sign(FORGED_KEY, forged_id, forged_cmd, mac, sizeof(mac));
    /* Without a MAC the record breaks the contract on purpose: marked for its check. */
    test_command_produce(unsigned_id, unsigned_cmd, NULL, true);
    test_command_produce(forged_id, forged_cmd, mac, false);
    cr_assert_eq(test_dead_letters_wait(unsigned_id, "bad_mac", 1, 30000), 1);
    cr_assert_eq(test_dead_letters_wait(forged_id, "bad_mac", 1, 30000), 1);
    /* Parked before anything after them is applied: nothing of theirs ever is. */
    char *n = test_sql_value("SELECT count(*) FROM checkout_sessions WHERE id = $1", unsigned_id);
    cr_assert_str_eq(n, "0");
    free(n);
    n = test_sql_value("SELECT count(*) FROM checkout_sessions WHERE id = $1", forged_id);
    cr_assert_str_eq(n, "0");
    free(n);
    n = test_sql_value("SELECT count(*) FROM outbox WHERE session_id = $1", forged_id);
    cr_assert_str_eq(n, "0");
    free(n);
    /* What the row keeps: the key, the headers, the bytes, why. */
    json_t *rows = test_sql_rows(
        "SELECT encode(key, 'escape') AS key, headers::text AS headers, "
        "convert_from(value, 'UTF8') AS value, error, failure_count::text AS failures, "
        "topic FROM dead_letters WHERE position(convert_to($1, 'UTF8') IN value) > 0",
        forged_id);
    cr_assert_eq(json_array_size(rows), 1);
    json_t *row = json_array_get(rows, 0); /* its columns in the SELECT's order */
    cr_assert_str_eq(json_string_value(json_array_get(row, 0)), forged_id);
    cr_assert_str_eq(json_string_value(json_array_get(row, 2)), forged_cmd);
    cr_assert_str_eq(json_string_value(json_array_get(row, 5)), "checkout.session.commands");
    cr_assert_str_eq(json_string_value(json_array_get(row, 4)), "1");
    cr_assert(strstr(json_string_value(json_array_get(row, 1)), mac) != NULL);
    cr_assert(strstr(json_string_value(json_array_get(row, 3)), "mismatch") != NULL, "%s",
              json_string_value(json_array_get(row, 3)));
    json_decref(rows);
    /* Counted, unless the worker restarted meanwhile (the crash suite kills it). */
    if (test_service_pid("session-worker") == worker)
        cr_assert_geq(test_dead_letters_metric("bad_mac") - before, 2);
    free(unsigned_cmd);
    free(forged_cmd);
    json_decref(tmpl);
}

Test(deadletters, a_completion_without_or_with_a_wrong_mac_completes_nothing, .timeout = 120)
{
    char *body = test_body(NULL);
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    char id[UUID_STR_LEN];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(r.json, "checkout_session_id")));
    /* What the payment side took: the session's total, as the worker checks. */
    json_t *total = json_object_get(r.json, "amount_total");
    int64_t amount = (int64_t)json_integer_value(
        json_is_integer(total) ? total : json_object_get(r.json, "amount"));
    char currency[8];
    snprintf(currency, sizeof(currency), "%s",
             json_string_value(json_object_get(r.json, "currency_code")));
    test_api_free(&r);
    char *unsigned_cmd = test_command_complete(id, amount, currency);
    char *forged_cmd = test_command_complete(id, amount, currency);
    char mac[128];
    test_command_sign(FORGED_KEY, id, forged_cmd, mac, sizeof(mac));
    test_command_produce(id, unsigned_cmd, NULL, true);
    test_command_produce(id, forged_cmd, mac, false);
    cr_assert_eq(test_dead_letters_wait(id, "bad_mac", 2, 30000), 2);
    char *status = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1", id);
    cr_assert_str_eq(status, "open");
    free(status);
    char *events = test_sql_value(
        "SELECT count(*) FROM outbox WHERE session_id = $1 AND type <> 'checkout.session.created'",
        id);
    cr_assert_str_eq(events, "0");
    free(events);
    /* The same completion signed with the stack's key completes it: the refusal was the
     * MAC's, not the command's. */
    char good[128];
    test_command_sign(test_env("CAISSE_COMMAND_MAC_KEY"), id, forged_cmd, good, sizeof(good));
    test_command_produce(id, forged_cmd, good, false);
    for (int waited = 0; waited < 30000; waited += 250) {
        status = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1", id);
        bool done = strcmp(status, "complete") == 0;
        free(status);
        if (done)
            break;
        test_sleep_ms(250);
    }
    status = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1", id);
    cr_assert_str_eq(status, "complete");
    free(status);
    free(unsigned_cmd);
    free(forged_cmd);
}

Test(deadletters, a_malformed_command_is_parked_and_the_next_one_applies, .timeout = 120)
{
    json_t *tmpl = test_command_template();
    char marker[UUID_STR_LEN], id[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    char *good = test_command_forge_create(tmpl, marker, id);
    /* Signed, so only its content is wrong; the same key, so the same partition, before
     * the good one. */
    char bad[256], mac[128];
    snprintf(bad, sizeof(bad), "{\"type\": \"checkout.session.create\", \"marker\": \"%s\"", id);
    test_command_sign(test_env("CAISSE_COMMAND_MAC_KEY"), id, bad, mac, sizeof(mac));
    test_command_produce(id, bad, mac, true);
    test_command_sign(test_env("CAISSE_COMMAND_MAC_KEY"), id, good, mac, sizeof(mac));
    test_command_produce(id, good, mac, false);
    cr_assert(test_session_wait(id, 30000), "the command after the malformed one never applied");
    cr_assert_eq(test_dead_letters_wait(id, "malformed", 1, 5000), 1);
    free(good);
    json_decref(tmpl);
}

/* Restarts the session worker with the stack's own key, whatever a test left. */
static void restore_worker(void)
{
    test_service_stop("session-worker");
    test_service_start("session-worker", NULL);
    test_wait_readyz(test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL"), 200, 60, NULL, 0);
}

Test(deadletters, during_a_rotation_the_previous_key_is_accepted, .timeout = 180,
     .fini = restore_worker)
{
    json_t *tmpl = test_command_template();
    const char *old_key = test_env("CAISSE_COMMAND_MAC_KEY");
    const char *new_key = "rot2:abcdefghijklmnopqrstuvwxyz0123456789ABCD";
    char env[512];
    snprintf(env, sizeof(env), "CAISSE_COMMAND_MAC_KEY=%s CAISSE_COMMAND_MAC_KEY_PREVIOUS=%s",
             new_key, old_key);
    test_service_stop("session-worker");
    test_service_start("session-worker", env);
    cr_assert_eq(test_wait_readyz(test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL"), 200, 60, NULL, 0),
                 200);
    char marker[UUID_STR_LEN], by_old[UUID_STR_LEN], by_new[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    char *old_cmd = test_command_forge_create(tmpl, marker, by_old);
    char *new_cmd = test_command_forge_create(tmpl, marker, by_new);
    char mac[128];
    test_command_sign(old_key, by_old, old_cmd, mac, sizeof(mac));
    test_command_produce(by_old, old_cmd, mac, false);
    test_command_sign(new_key, by_new, new_cmd, mac, sizeof(mac));
    test_command_produce(by_new, new_cmd, mac, false);
    cr_assert(test_session_wait(by_old, 30000), "a command under the previous key was refused");
    cr_assert(test_session_wait(by_new, 30000), "a command under the new key was refused");
    /* The gateways still sign with the old key: still accepted. */
    char *body = test_body(NULL);
    struct api_response r = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    test_api_free(&r);
    cr_assert_eq(test_dead_letters_wait(marker, "bad_mac", 1, 0), 0);
    free(old_cmd);
    free(new_cmd);
    json_decref(tmpl);
}

/* caisse-admin with the stack's settings; its stdout. */
static char *admin(const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s %s 2>&1", test_env("CAISSE_TEST_ADMIN"), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[len] = '\0';
    pclose(p);
    return out;
}

Test(deadletters, the_admin_tool_lists_shows_and_replays_them, .timeout = 120)
{
    json_t *tmpl = test_command_template();
    char marker[UUID_STR_LEN], id[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    char *cmd = test_command_forge_create(tmpl, marker, id);
    test_command_produce(id, cmd, NULL, true);
    cr_assert_eq(test_dead_letters_wait(id, "bad_mac", 1, 30000), 1);
    char *dl_id = test_sql_value(
        "SELECT id::text FROM dead_letters WHERE position(convert_to($1, 'UTF8') IN value) > 0",
        id);
    char args[128];
    char *out = admin("dead-letters list --json");
    cr_assert(strstr(out, id) != NULL, "list: %s", out);
    free(out);
    snprintf(args, sizeof(args), "dead-letters show %s", dl_id);
    out = admin(args);
    json_t *shown = json_loads(out, 0, NULL);
    cr_assert(json_is_object(shown), "show: %s", out);
    cr_assert_str_eq(json_string_value(json_object_get(shown, "key")), id);
    cr_assert_str_eq(json_string_value(json_object_get(shown, "value")), cmd);
    cr_assert_str_eq(json_string_value(json_object_get(shown, "reason")), "bad_mac");
    json_decref(shown);
    free(out);
    /* As it was: still without a MAC, so parked again (a new record, a new row). */
    snprintf(args, sizeof(args), "dead-letters replay %s", dl_id);
    out = admin(args);
    cr_assert(strstr(out, "replayed dead letter") != NULL, "replay: %s", out);
    free(out);
    cr_assert_eq(test_dead_letters_wait(id, "bad_mac", 2, 30000), 2);
    char *n = test_sql_value("SELECT count(*) FROM checkout_sessions WHERE id = $1", id);
    cr_assert_str_eq(n, "0");
    free(n);
    n = test_sql_value("SELECT (replayed_at IS NOT NULL)::text FROM dead_letters WHERE id = "
                       "$1::bigint",
                       dl_id);
    cr_assert_str_eq(n, "true");
    free(n);
    /* Vouched for by the operator: signed anew, applied. */
    snprintf(args, sizeof(args), "dead-letters replay %s --resign", dl_id);
    out = admin(args);
    cr_assert(strstr(out, "signed anew") != NULL, "replay --resign: %s", out);
    free(out);
    cr_assert(test_session_wait(id, 30000), "the re-signed command was not applied");
    /* Replayed rows leave the default list. */
    out = admin("dead-letters list --json");
    json_t *listed = json_loads(out, 0, NULL);
    size_t i;
    json_t *row;
    json_array_foreach(listed, i, row)
    {
        cr_assert_neq(json_integer_value(json_object_get(row, "id")), strtoll(dl_id, NULL, 10));
    }
    json_decref(listed);
    free(out);
    free(dl_id);
    free(cmd);
    json_decref(tmpl);
}
