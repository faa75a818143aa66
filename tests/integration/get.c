/* GET /checkout-sessions/:id */
#include <criterion/criterion.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_support.h"
#include "model/session.h"
#include "support.h"

Test(get, malformed_id_is_400)
{
    const char *ids[] = {
        "not-a-uuid", "987e6543-e89b-12d3-a456-42661417400", "987e6543e89b12d3a456426614174000",
        "{987e6543-e89b-12d3-a456-426614174000}", "987e6543-e89b-12d3-a456-42661417400g"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/checkout-sessions/%s", ids[i]);
        struct api_response r = test_api("GET", path, test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
        test_assert_error(&r, 400, "validation_error", "id", "Checkout session id must be a UUID");
        test_api_free(&r);
    }
}

Test(get, unknown_id_is_404_with_the_reference_message)
{
    struct api_response r =
        test_api("GET", "/checkout-sessions/987e6543-e89b-12d3-a456-426614174000",
                 test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
    test_assert_error(
        &r, 404, "not_found", "id",
        "Checkout session with ID 987e6543-e89b-12d3-a456-426614174000 not found or access denied");
    test_api_free(&r);
}

Test(get, accepts_upper_case_ids_and_v1_prefix)
{
    char *body = test_body(NULL);
    struct api_response c = test_create(test_env("CAISSE_TEST_KEY_A"), body);
    free(body);
    cr_assert_eq(c.status, 201);
    char id[64], path[128];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(c.json, "checkout_session_id")));
    for (char *p = id; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(path, sizeof(path), "/v1/checkout-sessions/%s", id);
    struct api_response r = test_api("GET", path, test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_equal(r.json, c.json));
    test_api_free(&r);
    test_api_free(&c);
}

Test(get, never_shows_open_past_expires_at)
{
    /* The expiry worker may not have run yet (it sweeps every few seconds);
     * the read must say expired as soon as expires_at has passed, whether the
     * stored status is still open or already expired. Own tenant: list-live. */
    const char *key = test_env("CAISSE_TEST_KEY_LIST_LIVE");
    char *body = test_body(NULL);
    struct api_response c = test_create(key, body);
    free(body);
    cr_assert_eq(c.status, 201);
    const char *id = json_string_value(json_object_get(c.json, "checkout_session_id"));
    char path[128];
    char *stored =
        test_sql_value("UPDATE checkout_sessions SET expires_at = now() - interval '1 second'"
                       " WHERE id = $1 RETURNING status",
                       id);
    cr_assert_str_eq(stored, "open");
    free(stored);
    snprintf(path, sizeof(path), "/checkout-sessions/%s", id);
    struct api_response r = test_api("GET", path, key, NULL, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "expired");
    test_api_free(&r);
    r = test_api("GET", "/checkout-sessions?status=open&limit=100", key, NULL, NULL);
    size_t i;
    json_t *s;
    json_array_foreach(r.json, i, s)
    {
        cr_assert_str_neq(json_string_value(json_object_get(s, "checkout_session_id")), id);
    }
    test_api_free(&r);
    r = test_api("GET", "/checkout-sessions?status=expired&limit=100", key, NULL, NULL);
    bool seen = false;
    json_array_foreach(r.json, i, s)
    {
        seen =
            seen || strcmp(json_string_value(json_object_get(s, "checkout_session_id")), id) == 0;
        cr_assert_str_eq(json_string_value(json_object_get(s, "status")), "expired");
    }
    cr_assert(seen, "expired filter misses a session past its expires_at");
    test_api_free(&r);
    test_api_free(&c);
}

/* Many GETs at once, of two tenants, each asking for its own session and for
 * the other's: the gateway reads concurrent GETs together (one statement for
 * several requests, gateway/reads.c), and every answer must still be the
 * asker's own session, or 404 for the other tenant's. */
#define CROSS_THREADS 16
#define CROSS_ROUNDS 40

struct cross_tenant {
    char id_a[64], id_b[64];
    const char *key_a, *key_b;
    atomic_int wrong;
    char first_wrong[256];
    atomic_flag noted;
};

static void cross_note(struct cross_tenant *t, const char *fmt, const char *what, long status)
{
    atomic_fetch_add(&t->wrong, 1);
    if (!atomic_flag_test_and_set(&t->noted))
        snprintf(t->first_wrong, sizeof(t->first_wrong), fmt, what, status);
}

/* Asks for id with key: want_own is true when id is the key's tenant's. */
static void cross_get(struct cross_tenant *t, const char *key, const char *id, bool want_own)
{
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", id);
    struct api_response r = test_api("GET", path, key, NULL, NULL);
    if (want_own) {
        const char *got = json_string_value(json_object_get(r.json, "checkout_session_id"));
        if (r.status != 200 || got == NULL || strcmp(got, id) != 0)
            cross_note(t, "own session %s answered %ld or another session", id, r.status);
    } else if (r.status != 404) {
        cross_note(t, "the other tenant's session %s answered %ld, not 404", id, r.status);
    }
    test_api_free(&r);
}

static void *cross_main(void *arg)
{
    struct cross_tenant *t = arg;
    for (int i = 0; i < CROSS_ROUNDS; i++) {
        cross_get(t, t->key_a, t->id_a, true);
        cross_get(t, t->key_b, t->id_b, true);
        cross_get(t, t->key_a, t->id_b, false);
        cross_get(t, t->key_b, t->id_a, false);
    }
    return NULL;
}

Test(get, concurrent_gets_of_two_tenants_each_see_only_their_own_session, .timeout = 120)
{
    struct cross_tenant t = {.key_a = test_env("CAISSE_TEST_KEY_A"),
                             .key_b = test_env("CAISSE_TEST_KEY_B"),
                             .noted = ATOMIC_FLAG_INIT};
    char *body = test_body(NULL);
    struct api_response a = test_create(t.key_a, body);
    struct api_response b = test_create(t.key_b, body);
    free(body);
    cr_assert_eq(a.status, 201, "%s", a.text);
    cr_assert_eq(b.status, 201, "%s", b.text);
    snprintf(t.id_a, sizeof(t.id_a), "%s",
             json_string_value(json_object_get(a.json, "checkout_session_id")));
    snprintf(t.id_b, sizeof(t.id_b), "%s",
             json_string_value(json_object_get(b.json, "checkout_session_id")));
    test_api_free(&a);
    test_api_free(&b);
    struct prom_scrape *before = prom_scrape(test_env("CAISSE_TEST_INTERNAL_URL"));
    cr_assert_not_null(before);
    pthread_t threads[CROSS_THREADS];
    for (int i = 0; i < CROSS_THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, cross_main, &t), 0);
    for (int i = 0; i < CROSS_THREADS; i++)
        pthread_join(threads[i], NULL);
    cr_assert_eq(atomic_load(&t.wrong), 0, "%d wrong answers, the first: %s", atomic_load(&t.wrong),
                 t.first_wrong);
    /* And they were read together: some statement read more than one GET. */
    struct prom_scrape *after = prom_scrape(test_env("CAISSE_TEST_INTERNAL_URL"));
    cr_assert_not_null(after);
    double gets = prom_value(after, "caisse_gateway_read_batch_size_sum", NULL) -
                  prom_value(before, "caisse_gateway_read_batch_size_sum", NULL);
    double batches = prom_value(after, "caisse_gateway_read_batch_size_count", NULL) -
                     prom_value(before, "caisse_gateway_read_batch_size_count", NULL);
    cr_assert_gt(gets, batches, "%.0f coalesced GETs in %.0f statements", gets, batches);
    prom_free(before);
    prom_free(after);
}

/* The first node of an EXPLAIN (FORMAT JSON) plan that reads checkout_sessions. */
static const json_t *first_session_scan(const json_t *node)
{
    const char *rel = json_string_value(json_object_get(node, "Relation Name"));
    if (rel != NULL && strcmp(rel, "checkout_sessions") == 0)
        return node;
    size_t i;
    const json_t *child;
    json_array_foreach(json_object_get(node, "Plans"), i, child)
    {
        const json_t *found = first_session_scan(child);
        if (found != NULL)
            return found;
    }
    return NULL;
}

/* Coalesced GETs read their rows by primary key alone: the suite's database
 * is new (no ANALYZE yet), and the plan must not depend on statistics. */
Test(get, coalesced_reads_use_the_primary_key_whatever_the_statistics)
{
    const char *sql = session_store_get_many_sql();
    const char *ids = "'{00000000-0000-7000-8000-000000000001,"
                      "00000000-0000-7000-8000-000000000002}'::uuid[]";
    const char *param = strstr(sql, "$1::uuid[]");
    cr_assert_not_null(param, "%s", sql);
    char explain[8192];
    int n = snprintf(explain, sizeof(explain), "EXPLAIN (FORMAT JSON) %.*s%s%s", (int)(param - sql),
                     sql, ids, param + strlen("$1::uuid[]"));
    cr_assert(n > 0 && (size_t)n < sizeof(explain));
    char *text = test_sql_value(explain, NULL);
    cr_assert_not_null(text);
    json_error_t jerr;
    json_t *plan = json_loads(text, 0, &jerr);
    cr_assert_not_null(plan, "%s: %s", jerr.text, text);
    const json_t *scan = first_session_scan(json_object_get(json_array_get(plan, 0), "Plan"));
    cr_assert_not_null(scan, "%s", text);
    const char *type = json_string_value(json_object_get(scan, "Node Type"));
    if (type != NULL && strcmp(type, "Bitmap Heap Scan") == 0) {
        scan = json_array_get(json_object_get(scan, "Plans"), 0);
        type = json_string_value(json_object_get(scan, "Node Type"));
    }
    cr_assert(type != NULL && strstr(type, "Index") != NULL, "%s", text);
    const char *index = json_string_value(json_object_get(scan, "Index Name"));
    cr_assert(index != NULL && strcmp(index, "checkout_sessions_pkey") == 0, "%s", text);
    json_decref(plan);
    free(text);
}
