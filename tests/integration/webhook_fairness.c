/* Webhook fairness: one tenant cannot take the webhook service from the others.
 *  - suite webhook_fairness (with the stack as run.sh starts it:
 *    CAISSE_WEBHOOK_MAX_ENDPOINTS=10, CAISSE_RATE_LIMIT_WEBHOOK_RETRIES_BURST=5):
 *    the cap of endpoints per tenant, concurrent creates included; manual
 *    retries past the per-endpoint limit are 429 with Retry-After; a response
 *    body that never ends is cut at CAISSE_WEBHOOK_RESPONSE_MAX_BYTES, the
 *    attempt a success long before the request timeout;
 *  - suite faults (alone, after the others: it restarts the webhook worker with
 *    8 slots, 2 per endpoint, 50 % per tenant): a tenant with 10 endpoints that
 *    never answer before the timeout, and another tenant's deliveries still
 *    arrive within a bound while the first one's are still timing out. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "support.h"
#include "webhook_support.h"

#define WORKER "webhook-worker"
/* run.sh's CAISSE_WEBHOOK_MAX_ENDPOINTS and CAISSE_RATE_LIMIT_WEBHOOK_RETRIES_BURST. */
#define MAX_ENDPOINTS 10
#define RETRIES_BURST 5

/* Wall-clock milliseconds, the receiver's received_at_ms clock. */
static long epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long count_endpoints(const char *org)
{
    char *v = test_sql_value("SELECT count(*) FROM webhook_endpoints"
                             " WHERE organization_id = $1 AND environment = 'test'"
                             " AND deleted_at IS NULL",
                             org);
    cr_assert_not_null(v);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static struct api_response create_endpoint(const char *key, const char *label)
{
    char path[256], url[512], body[800];
    wh_unique_path(path, sizeof(path), label);
    wh_receiver_url(url, sizeof(url), path);
    snprintf(body, sizeof(body), "{\"url\": \"%s\", \"enabled_events\": [\"*\"]}", url);
    const char *h[] = {"Content-Type: application/json", NULL};
    return test_api("POST", "/webhook-endpoints", key, body, h);
}

Test(webhook_fairness, the_endpoint_past_the_cap_is_a_409_and_creates_nothing, .timeout = 120)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Fairness cap");
    struct wh_endpoint eps[MAX_ENDPOINTS];
    for (int i = 0; i < MAX_ENDPOINTS; i++)
        wh_endpoint_create(&eps[i], t.key_test, "cap", "[\"checkout.session.created\"]");
    struct api_response r = create_endpoint(t.key_test, "cap-over");
    char msg[200];
    snprintf(msg, sizeof(msg),
             "This organization already has %d webhook endpoints in test mode, the most allowed"
             " (%d); delete one first",
             MAX_ENDPOINTS, MAX_ENDPOINTS);
    test_assert_error(&r, 409, "limit_exceeded", NULL, msg);
    test_api_free(&r);
    cr_assert_eq(count_endpoints(t.org), MAX_ENDPOINTS, "the refused create created something");

    /* The cap is per environment: the live mode has its own. */
    const char *h[] = {"Content-Type: application/json", NULL};
    r = test_api("POST", "/webhook-endpoints", t.key_live,
                 "{\"url\": \"https://127.0.0.1:9/cap-live\", \"enabled_events\": [\"*\"]}", h);
    cr_assert_eq(r.status, 201, "live: %ld %s", r.status, r.text);
    test_api_free(&r);
    /* A deleted endpoint no longer counts. */
    char del[200];
    snprintf(del, sizeof(del), "/webhook-endpoints/%.64s", eps[0].id);
    r = test_api("DELETE", del, t.key_test, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    r = create_endpoint(t.key_test, "cap-again");
    cr_assert_eq(r.status, 201, "after a delete: %ld %s", r.status, r.text);
    test_api_free(&r);
    r = create_endpoint(t.key_test, "cap-over-again");
    cr_assert_eq(r.status, 409, "%s", r.text);
    test_api_free(&r);
}

/* One create on a connection of its own, off the test's thread: no assertion
 * here (Criterion's belong to the test's thread), only the status. */
struct concurrent_create {
    const char *key;
    char body[800];
    long status;
    pthread_barrier_t *start;
};

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static void *concurrent_create_main(void *arg)
{
    struct concurrent_create *c = arg;
    char url[512], keyh[256];
    snprintf(url, sizeof(url), "%s/webhook-endpoints", test_env("CAISSE_TEST_URL"));
    snprintf(keyh, sizeof(keyh), "x-api-key: %s", c->key);
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, keyh);
    h = curl_slist_append(h, "Content-Type: application/json");
    c->status = -1;
    if (e != NULL && h != NULL) {
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        pthread_barrier_wait(c->start);
        if (curl_easy_perform(e) == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
    } else {
        pthread_barrier_wait(c->start);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return NULL;
}

Test(webhook_fairness, concurrent_creates_never_pass_the_cap, .timeout = 120)
{
    enum { N = 2 * MAX_ENDPOINTS };
    struct wh_tenant t;
    wh_tenant_new(&t, "Fairness concurrent cap");
    struct concurrent_create calls[N];
    pthread_t threads[N];
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, N), 0);
    for (int i = 0; i < N; i++) {
        char path[256], url[512];
        wh_unique_path(path, sizeof(path), "concurrent");
        wh_receiver_url(url, sizeof(url), path);
        calls[i].key = t.key_test;
        calls[i].start = &start;
        snprintf(calls[i].body, sizeof(calls[i].body),
                 "{\"url\": \"%s\", \"enabled_events\": [\"*\"]}", url);
        cr_assert_eq(pthread_create(&threads[i], NULL, concurrent_create_main, &calls[i]), 0);
    }
    int created = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        if (calls[i].status == 201)
            created++;
        else if (calls[i].status == 409)
            refused++;
        else
            cr_assert_fail("a create answered %ld", calls[i].status);
    }
    pthread_barrier_destroy(&start);
    cr_log_info("%d concurrent creates: %d created, %d refused", N, created, refused);
    cr_assert_eq(created, MAX_ENDPOINTS, "%d created of a cap of %d", created, MAX_ENDPOINTS);
    cr_assert_eq(refused, N - MAX_ENDPOINTS);
    cr_assert_eq(count_endpoints(t.org), MAX_ENDPOINTS);
}

/* The delivery of the session's created event to e, once it exists. */
static char *delivery_of(const struct wh_tenant *t, const struct wh_endpoint *e)
{
    json_t *d = wh_wait_delivery(t->key_test, e->id, NULL, "succeeded", 30000);
    cr_assert_not_null(d, "no delivery succeeded at %s", e->path);
    char *id = strdup(json_string_value(json_object_get(d, "id")));
    json_decref(d);
    return id;
}

static struct api_response retry(const char *key, const char *delivery_id)
{
    char path[200];
    snprintf(path, sizeof(path), "/webhook-deliveries/%s/retry", delivery_id);
    return test_api("POST", path, key, NULL, NULL);
}

Test(webhook_fairness, manual_retries_past_the_endpoints_limit_are_429_with_retry_after,
     .timeout = 120)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Fairness retries");
    struct wh_endpoint a, b;
    wh_endpoint_create(&a, t.key_test, "retries-a", "[\"checkout.session.created\"]");
    wh_endpoint_create(&b, t.key_test, "retries-b", "[\"checkout.session.created\"]");
    free(wh_session_create(t.key_test));
    char *da = delivery_of(&t, &a);
    char *db = delivery_of(&t, &b);
    for (int i = 0; i < RETRIES_BURST; i++) {
        struct api_response r = retry(t.key_test, da);
        cr_assert_eq(r.status, 200, "retry %d: %ld %s", i + 1, r.status, r.text);
        test_api_free(&r);
    }
    char *before =
        test_sql_value("SELECT updated_at::text FROM webhook_deliveries WHERE id = $1", da);
    struct api_response r = retry(t.key_test, da);
    cr_assert_eq(r.status, 429, "retry %d: %ld %s", RETRIES_BURST + 1, r.status, r.text);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "code")), "rate_limit_error");
    const char *ra = json_string_value(json_object_get(r.headers, "retry-after"));
    cr_assert(ra != NULL && strtol(ra, NULL, 10) >= 1, "Retry-After: %s", ra ? ra : "(none)");
    cr_assert(strstr(json_string_value(json_object_get(r.json, "message")), "manual retries") !=
                  NULL,
              "%s", r.text);
    test_api_free(&r);
    /* Nothing changed by the refused retry (the worker may have sent the
     * earlier ones meanwhile: only the refused one is compared). */
    char *after = test_sql_value("SELECT updated_at::text FROM webhook_deliveries WHERE id = $1"
                                 " AND status = 'pending'",
                                 da);
    if (after != NULL)
        cr_assert_str_eq(after, before, "the refused retry changed the delivery");
    free(after);
    free(before);
    /* The limit is the endpoint's: another endpoint of the tenant still retries. */
    r = retry(t.key_test, db);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    free(da);
    free(db);
}

Test(webhook_fairness, an_endless_response_body_is_cut_at_the_cap_and_the_attempt_succeeds,
     .timeout = 120)
{
    /* Without the cap the worker would read until its 2 s timeout and count
     * a failure; with it, it reads 64 KiB, closes, and the 200 decides. */
    struct wh_tenant t;
    wh_tenant_new(&t, "Fairness endless body");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "endless", "[\"checkout.session.created\"]");
    wh_receiver_behavior(e.path, "endless", 0);
    free(wh_session_create(t.key_test));
    json_t *d = wh_wait_delivery(t.key_test, e.id, NULL, "succeeded", 30000);
    cr_assert_not_null(d, "the endless body never made a success");
    json_t *full = wh_delivery_get(t.key_test, json_string_value(json_object_get(d, "id")));
    json_t *attempts = json_object_get(full, "attempts");
    cr_assert_eq(json_array_size(attempts), 1, "one attempt was enough");
    json_t *a0 = json_array_get(attempts, 0);
    cr_assert_eq(wh_int(a0, "status_code"), 200);
    cr_assert(json_is_null(json_object_get(a0, "error")), "error: %s",
              json_string_value(json_object_get(a0, "error")));
    const char *kept = json_string_value(json_object_get(a0, "response_body"));
    cr_assert(kept != NULL && strlen(kept) == 20000, "kept %zu bytes of the body",
              kept != NULL ? strlen(kept) : 0);
    long took = wh_int(a0, "duration_ms");
    cr_assert_lt(took, 1500, "the attempt took %ld ms: the body was read until the timeout", took);
    /* The receiver saw the connection closed under it, its body unfinished. */
    json_t *records = wh_receiver_requests(e.path);
    json_t *rec = json_array_get(records, 0);
    cr_assert(json_is_integer(json_object_get(rec, "body_closed_at_ms")),
              "the worker never closed the connection");
    cr_log_info("endless body: closed after %lld bytes written by the receiver, attempt %ld ms",
                json_integer_value(json_object_get(rec, "body_bytes_sent")), took);
    json_decref(records);
    json_decref(full);
    json_decref(d);
}

/* ---- the tarpit (suite faults) ---------------------------------------------- */

/* The worker as the stack runs it (run.sh's environment), whatever the test did. */
static void restore_webhook_worker(void)
{
    test_shell("bash %s/deploy/stack.sh stop-service " WORKER " >/dev/null 2>&1",
               test_env("CAISSE_TEST_REPO"));
    if (test_service_pid(WORKER) == 0) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/run/" WORKER ".pid", test_env("CAISSE_STACK_DIR"));
        unlink(path);
    }
    test_shell("bash %s/deploy/stack.sh start-service " WORKER " >/dev/null 2>&1",
               test_env("CAISSE_TEST_REPO"));
}

#define TARPIT_SESSIONS 8
#define FAIR_SESSIONS 3
/* How long the other tenant's deliveries may take, from their session's
 * create to the receiver: well under the tarpit's timeout (2 s) times its
 * attempts (5), which is what an unfair worker makes them wait at least. */
#define FAIR_BOUND_MS 6000

Test(faults, a_tenant_whose_endpoints_never_answer_does_not_delay_another_tenants_webhooks,
     .timeout = 240, .fini = restore_webhook_worker)
{
    /* 8 slots, 2 per endpoint, half per tenant: the tarpit's 10 endpoints
     * could take all 8 (20 even) without the share. */
    test_service_stop(WORKER);
    test_service_start(WORKER,
                       "CAISSE_WEBHOOK_MAX_IN_FLIGHT=8 CAISSE_WEBHOOK_ENDPOINT_CONCURRENCY=2"
                       " CAISSE_WEBHOOK_TENANT_SHARE_PERCENT=50");
    struct wh_tenant slow, fair;
    wh_tenant_new(&slow, "Fairness tarpit");
    wh_tenant_new(&fair, "Fairness victim");
    struct wh_endpoint tarpit[MAX_ENDPOINTS];
    for (int i = 0; i < MAX_ENDPOINTS; i++) {
        wh_endpoint_create(&tarpit[i], slow.key_test, "tarpit", "[\"checkout.session.created\"]");
        wh_receiver_behavior(tarpit[i].path, "timeout", 0);
    }
    /* The 11th is refused (run.sh's cap of 10). */
    struct api_response r = create_endpoint(slow.key_test, "tarpit-over");
    cr_assert_eq(r.status, 409, "%s", r.text);
    test_api_free(&r);
    struct wh_endpoint ok;
    wh_endpoint_create(&ok, fair.key_test, "victim", "[\"checkout.session.created\"]");

    /* The tarpit's backlog first: 80 deliveries that each hold a slot 2 s. */
    for (int i = 0; i < TARPIT_SESSIONS; i++)
        free(wh_session_create(slow.key_test));
    /* Wait until the worker is busy with it. */
    long busy = 0;
    for (long deadline = wh_now_ms() + 30000; wh_now_ms() < deadline && busy < 4;
         test_sleep_ms(200)) {
        busy = 0;
        for (int i = 0; i < MAX_ENDPOINTS; i++) {
            json_t *recs = wh_receiver_requests(tarpit[i].path);
            busy += (long)json_array_size(recs);
            json_decref(recs);
        }
    }
    cr_assert_geq(busy, 4, "the tarpit's deliveries never started");

    long created_at[FAIR_SESSIONS];
    for (int i = 0; i < FAIR_SESSIONS; i++) {
        created_at[i] = epoch_ms();
        free(wh_session_create(fair.key_test));
        test_sleep_ms(300);
    }
    json_t *got = wh_receiver_wait(ok.path, FAIR_SESSIONS, 60000);
    cr_assert_eq(json_array_size(got), FAIR_SESSIONS, "the other tenant got %zu of %d webhooks",
                 json_array_size(got), FAIR_SESSIONS);
    long worst = 0;
    for (int i = 0; i < FAIR_SESSIONS; i++) {
        json_t *rec = json_array_get(got, (size_t)i);
        long at = (long)json_integer_value(json_object_get(rec, "received_at_ms"));
        cr_assert(json_is_true(json_object_get(rec, "verified")), "unsigned webhook");
        long waited = at - created_at[i];
        if (waited > worst)
            worst = waited;
    }
    json_decref(got);
    /* And the tarpit is still timing out: none of its deliveries succeeded,
     * many are still pending. */
    char *pending =
        test_sql_value("SELECT count(*) FILTER (WHERE status = 'pending') || ' '"
                       " || count(*) FILTER (WHERE status = 'succeeded') FROM webhook_deliveries"
                       " WHERE organization_id = $1",
                       slow.org);
    long still_pending = 0, succeeded = -1;
    cr_assert_eq(sscanf(pending, "%ld %ld", &still_pending, &succeeded), 2, "%s", pending);
    free(pending);
    cr_log_info("the other tenant's webhooks arrived within %ld ms (bound %d ms) while %ld of the"
                " tarpit's %d deliveries were pending",
                worst, FAIR_BOUND_MS, still_pending, TARPIT_SESSIONS * MAX_ENDPOINTS);
    cr_assert_eq(succeeded, 0, "a tarpit delivery succeeded");
    cr_assert_gt(still_pending, 0, "the tarpit's backlog was gone before the check");
    cr_assert_lt(worst, FAIR_BOUND_MS, "the other tenant waited %ld ms behind the tarpit", worst);

    /* The tarpit's endpoints go, so the restored worker is not busy with them. */
    for (int i = 0; i < MAX_ENDPOINTS; i++) {
        char del[200];
        snprintf(del, sizeof(del), "/webhook-endpoints/%.64s", tarpit[i].id);
        r = test_api("DELETE", del, slow.key_test, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.text);
        test_api_free(&r);
    }
}
