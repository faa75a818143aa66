/* Idempotency-Key on POST /checkout-sessions. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "core/uuid.h"
#include "model/session.h"

static struct api_response create_with_key(const char *api_key, const char *idem, const char *body)
{
    char h[400];
    snprintf(h, sizeof(h), "Idempotency-Key: %s", idem);
    const char *headers[] = {"Content-Type: application/json", h, NULL};
    return test_api("POST", "/checkout-sessions", api_key, body, headers);
}

static void fresh_key(char out[UUID_STR_LEN])
{
    cr_assert_eq(uuid_v7_string(out), 0);
}

Test(idempotency, same_key_and_body_returns_the_same_session)
{
    char k[UUID_STR_LEN];
    fresh_key(k);
    const char *key = test_env("CAISSE_TEST_KEY_A");
    char *body = test_body(NULL);
    struct api_response a = create_with_key(key, k, body);
    cr_assert_eq(a.status, 201, "%s", a.text);
    cr_assert(!a.idempotent_replayed);
    struct api_response b = create_with_key(key, k, body);
    cr_assert_eq(b.status, 201, "%s", b.text);
    cr_assert(b.idempotent_replayed);
    cr_assert(json_equal(a.json, b.json), "%s\n%s", a.text, b.text);
    /* Whitespace and key order do not make another request. */
    struct api_response c =
        create_with_key(key, k,
                        "{ \"customer_email\": \"john@example.com\", \"title\": \"Premium "
                        "Subscription\",  \"currency_code\": \"XOF\", \"amount\": 10000 }");
    cr_assert_eq(c.status, 201, "%s", c.text);
    cr_assert_str_eq(json_string_value(json_object_get(c.json, "checkout_session_id")),
                     json_string_value(json_object_get(a.json, "checkout_session_id")));
    char *n =
        test_sql_value("SELECT count(*) FROM checkout_sessions WHERE idempotency_key = $1", k);
    cr_assert_str_eq(n, "1");
    free(n);
    test_api_free(&a);
    test_api_free(&b);
    test_api_free(&c);
    free(body);
}

Test(idempotency, same_key_with_different_body_is_409)
{
    char k[UUID_STR_LEN];
    fresh_key(k);
    const char *key = test_env("CAISSE_TEST_KEY_A");
    char *body = test_body(NULL);
    struct api_response a = create_with_key(key, k, body);
    cr_assert_eq(a.status, 201, "%s", a.text);
    char *other = test_body("{\"amount\": 20000}");
    struct api_response b = create_with_key(key, k, other);
    test_assert_error(&b, 409, "idempotency_conflict", "Idempotency-Key",
                      "Idempotency-Key was reused with a different request payload");
    test_api_free(&a);
    test_api_free(&b);
    free(body);
    free(other);
}

Test(idempotency, keys_are_scoped_per_tenant)
{
    char k[UUID_STR_LEN];
    fresh_key(k);
    char *body = test_body(NULL);
    struct api_response a = create_with_key(test_env("CAISSE_TEST_KEY_A"), k, body);
    struct api_response b = create_with_key(test_env("CAISSE_TEST_KEY_B"), k, body);
    struct api_response c = create_with_key(test_env("CAISSE_TEST_KEY_A_LIVE"), k, body);
    cr_assert_eq(a.status, 201);
    cr_assert_eq(b.status, 201);
    cr_assert_eq(c.status, 201);
    cr_assert(!b.idempotent_replayed && !c.idempotent_replayed);
    const char *ida = json_string_value(json_object_get(a.json, "checkout_session_id"));
    cr_assert_str_neq(ida, json_string_value(json_object_get(b.json, "checkout_session_id")));
    cr_assert_str_neq(ida, json_string_value(json_object_get(c.json, "checkout_session_id")));
    test_api_free(&a);
    test_api_free(&b);
    test_api_free(&c);
    free(body);
}

Test(idempotency, concurrent_retries_create_one_session)
{
    /* Fire the same keyed request from several processes at once: exactly one
     * session, every answer names it. */
    char k[UUID_STR_LEN];
    fresh_key(k);
    char *body = test_body(NULL);
    char bodyfile[] = "/tmp/caisse-idem-XXXXXX";
    int fd = mkstemp(bodyfile);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    close(fd);
    char outdir[] = "/tmp/caisse-idem-out-XXXXXX";
    cr_assert(mkdtemp(outdir) != NULL);
    int rc = test_shell(
        "for i in 1 2 3 4 5 6; do curl -s -o %s/$i -D %s/$i.h -X POST %s/checkout-sessions"
        " -H 'x-api-key: %s' -H 'Content-Type: application/json' -H 'Idempotency-Key: %s'"
        " --data-binary @%s & done; wait",
        outdir, outdir, test_env("CAISSE_TEST_URL"), test_env("CAISSE_TEST_KEY_A"), k, bodyfile);
    cr_assert_eq(rc, 0);
    char first[64] = "";
    for (int i = 1; i <= 6; i++) {
        char path[128], headers[160];
        snprintf(path, sizeof(path), "%s/%d", outdir, i);
        snprintf(headers, sizeof(headers), "%s.h", path);
        test_capture_curl_files(test_env("CAISSE_TEST_URL"), "POST", "/checkout-sessions", headers,
                                path);
        unlink(headers);
        json_t *o = json_load_file(path, 0, NULL);
        cr_assert(o != NULL, "answer %d is not JSON", i);
        const char *id = json_string_value(json_object_get(o, "checkout_session_id"));
        cr_assert(id != NULL, "answer %d has no session", i);
        if (first[0] == '\0')
            snprintf(first, sizeof(first), "%s", id);
        cr_assert_str_eq(id, first);
        json_decref(o);
        unlink(path);
    }
    rmdir(outdir);
    unlink(bodyfile);
    char *n =
        test_sql_value("SELECT count(*) FROM checkout_sessions WHERE idempotency_key = $1", k);
    cr_assert_str_eq(n, "1");
    free(n);
    free(body);
}

Test(idempotency, rejects_overlong_key)
{
    char k[300];
    memset(k, 'k', 256);
    k[256] = '\0';
    char *body = test_body(NULL);
    struct api_response r = create_with_key(test_env("CAISSE_TEST_KEY_A"), k, body);
    test_assert_error(&r, 400, "validation_error", "Idempotency-Key",
                      "Idempotency-Key must be 1 to 255 characters");
    test_api_free(&r);
    free(body);
}

/* Every node of an EXPLAIN (FORMAT JSON) plan that scans checkout_sessions,
 * appended to scans. */
static void collect_session_scans(const json_t *node, json_t *scans)
{
    const char *rel = json_string_value(json_object_get(node, "Relation Name"));
    if (rel != NULL && strcmp(rel, "checkout_sessions") == 0)
        json_array_append(scans, (json_t *)node);
    size_t i;
    const json_t *child;
    json_array_foreach(json_object_get(node, "Plans"), i, child)
        collect_session_scans(child, scans);
}

/* The lookup of every create with an Idempotency-Key reads the session by its
 * key alone (the tenant checked on the row), so its only index is the one that
 * starts with the key, whatever the statistics. The suite's database is new
 * (no ANALYZE yet); a lookup with the tenant in its scan could use the tenant's
 * list index and read every session of the tenant per create (session.c,
 * migration 0015). */
Test(idempotency, key_lookup_reads_the_key_index_whatever_the_statistics)
{
    /* The model's own statement, its parameters as literals of their types. */
    const char *sql = session_store_idempotency_sql();
    char explain[8192];
    size_t n = (size_t)snprintf(explain, sizeof(explain), "EXPLAIN (FORMAT JSON) ");
    for (const char *p = sql; *p != '\0' && n + 64 < sizeof(explain); p++) {
        const char *lit = NULL;
        if (p[0] == '$' && p[1] == '1')
            lit = "'00000000-0000-7000-8000-000000000000'::uuid";
        else if (p[0] == '$' && p[1] == '2')
            lit = "'test'::text";
        else if (p[0] == '$' && p[1] == '3')
            lit = "'plan-guard'::text";
        if (lit != NULL) {
            n += (size_t)snprintf(explain + n, sizeof(explain) - n, "%s", lit);
            p++;
        } else {
            explain[n++] = *p;
            explain[n] = '\0';
        }
    }
    cr_assert_lt(n + 64, sizeof(explain), "the statement does not fit: %s", sql);
    char *text = test_sql_value(explain, NULL);
    cr_assert_not_null(text);
    json_error_t jerr;
    json_t *plan = json_loads(text, 0, &jerr);
    cr_assert_not_null(plan, "%s: %s", jerr.text, text);
    json_t *scans = json_array();
    collect_session_scans(json_object_get(json_array_get(plan, 0), "Plan"), scans);
    cr_assert_eq(json_array_size(scans), 1, "one scan of checkout_sessions: %s", text);
    const json_t *scan = json_array_get(scans, 0);
    const char *type = json_string_value(json_object_get(scan, "Node Type"));
    /* An index scan, or a bitmap scan (the planner's choice once the suite's
     * rows gave it statistics) whose one input is an index scan. */
    if (type != NULL && strcmp(type, "Bitmap Heap Scan") == 0) {
        const json_t *inputs = json_object_get(scan, "Plans");
        cr_assert_eq(json_array_size(inputs), 1, "%s", text);
        scan = json_array_get(inputs, 0);
        type = json_string_value(json_object_get(scan, "Node Type"));
        cr_assert(type != NULL && strcmp(type, "Bitmap Index Scan") == 0, "%s", text);
    } else {
        cr_assert(type != NULL &&
                      (strcmp(type, "Index Scan") == 0 || strcmp(type, "Index Only Scan") == 0),
                  "%s", text);
    }
    const char *index = json_string_value(json_object_get(scan, "Index Name"));
    const char *cond = json_string_value(json_object_get(scan, "Index Cond"));
    cr_assert(index != NULL && strcmp(index, "checkout_sessions_idempotency_key") == 0, "%s", text);
    /* The tenant stays out of the scan: with it there, the list index (which
     * starts with the tenant) would be a candidate again. */
    cr_assert(cond != NULL && strstr(cond, "idempotency_key") != NULL, "%s", text);
    cr_assert(strstr(cond, "organization_id") == NULL && strstr(cond, "environment") == NULL, "%s",
              text);
    json_decref(scans);
    json_decref(plan);
    free(text);
}
