/* The chaos ledger (issue 16, point 8; suite "faults": alone, after the
 * others, the stack put back in its .fini).
 *
 * A bounded steady load runs the whole time, as real clients would: merchant
 * creates with an Idempotency-Key, retried with the same key and body after
 * any transport error or 5xx until accepted; completions of half of the
 * long-lived sessions through the internal API, retried the same way; a
 * quarter of the sessions made on the short-TTL gateway (run.sh: 4 s), left to
 * the expiry worker; every event delivered as a webhook to two endpoints of
 * the receiver (tests/webhooks/receiver.mjs, standardwebhooks-verified), one
 * of them slow so that requests are in flight. Under it, in turn: kill -9 the
 * gateway, the session worker, the expiry worker and the webhook worker (each
 * restarted), restart Kafka, restart PostgreSQL, SIGSTOP the webhook worker
 * past its lease (CAISSE_WEBHOOK_LEASE_MS) then SIGCONT. After each fault the
 * load must make progress again within a bound.
 *
 * Once everything is quiet (bounded wait), the ledger:
 *  - every key's accepted answer (201/202, or 200 on a keyed retry) names one
 *    row, the key's; no row of the tenant that no request asked for; every row
 *    in the state its clients were told (complete, expired, or open);
 *  - the outbox follows the state machine, and on Kafka (kcat from the
 *    beginning) each session has exactly one distinct created event id and one
 *    per transition, the outbox row's; redeliveries of the same id are allowed
 *    (same bytes), counted and bounded by the faults that can cause them;
 *  - one webhook delivery per (event, endpoint), every one succeeded, and the
 *    receiver answered 200 to every (event id, endpoint), signatures verified;
 *    repeats of a webhook-id counted and bounded likewise;
 *  - nothing new in dead_letters;
 *  - services nobody killed were not restarted: after Kafka's and
 *    PostgreSQL's restarts they reconnected by themselves.
 * It replaces crash.c's PostgreSQL-and-Kafka restart test, whose assertions it
 * makes and more (keyed retries, completions, expiries after the restarts,
 * webhooks). The load is bounded (two clients, one session per 150 ms each);
 * the whole test takes about 70 s, a third of it Kafka's restart. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/uuid.h"
#include "support.h"
#include "webhook_support.h"

enum {
    CHAOS_THREADS = 2,
    CHAOS_MAX_OPS = 4000,
    CHAOS_PAUSE_MS = 150,     /* per thread, between two sessions */
    CHAOS_RETRY_MS = 250,     /* a client's pause before retrying */
    CHAOS_GIVE_UP_MS = 90000, /* a client retries one request that long at most */
    CHAOS_EXPIRE_EVERY = 4,   /* every 4th session on the short-TTL gateway */
    CHAOS_COMPLETE_EVERY = 2, /* every 2nd of the others completed */
    CHAOS_ENDPOINTS = 2,
    CHAOS_STATUSES = 600,
    CHAOS_PROGRESS = 5,        /* accepted creates after a fault, to call it survived */
    CHAOS_PROGRESS_MS = 60000, /* ... within this */
    CHAOS_QUIET_MS = 90000,    /* bound on waiting for quiescence */
    /* Faults that can make the relay publish an event again (its round's
     * acknowledgement lost): the session worker's kill, Kafka's restart,
     * PostgreSQL's restart. Each event reaches Kafka at most once more per
     * such fault. */
    CHAOS_RELAY_FAULTS = 3,
    /* Faults that can make the webhook worker send a request again (its answer
     * lost, or its lease over): its kill, its SIGSTOP, the two restarts. */
    CHAOS_WEBHOOK_FAULTS = 4,
};

struct chaos_op {
    char key[96];
    char id[64];      /* named by the accepted answer */
    long status;      /* the accepted answer (201, 202, 200), 0 if never accepted */
    long last_status; /* the last answer (0: transport error) */
    int attempts;
    bool expires;         /* made on the short-TTL gateway */
    bool complete_wanted; /* accepted and picked for completion */
    long complete_status; /* the last completion answer */
    int complete_attempts;
    long amount;
};

struct chaos_load {
    pthread_mutex_t lock;
    pthread_t threads[CHAOS_THREADS];
    int started;
    struct chaos_op *ops;
    size_t issued;
    long readable; /* creates answered 201: readable in time */
    bool stop;
    long create_answers[CHAOS_STATUSES];
    long complete_answers[CHAOS_STATUSES];
    char marker[UUID_STR_LEN];
    char key_header[256];
    char auth_header[256];
    const char *url, *short_url, *internal_url;
};

/* One POST as a merchant's client makes it: h1 and h2 (NULL: none) its
 * headers; a request the killed gateway took with it times out like a
 * client's own and is retried. */
static long chaos_post(CURL *c, const char *base_url, const char *path, const char *h1,
                       const char *h2, const char *body, char **out)
{
    const char *const extra[] = {h1, h2, NULL};
    return test_post_from_thread(c, base_url, path, extra, body, 30L, out);
}

static void chaos_count(long *answers, long status)
{
    answers[status >= 0 && status < CHAOS_STATUSES ? status : 0]++;
}

/* A client retries what may succeed later: no answer, 429, any 5xx. */
static bool chaos_retryable(long status)
{
    return status == 0 || status == 429 || status >= 500;
}

/* The completion call, in one place: what the payment provider's callback
 * sends for the session op, with the amount and currency it took (the
 * session's total: no coupon, no catalog). */
static char *chaos_completion_body(const struct chaos_op *op)
{
    json_t *body = json_pack("{ss+ sI ss}", "payment_reference", "pay-", op->id, "amount",
                             (json_int_t)op->amount, "currency_code", "XOF");
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

/* Creates slot's session through its gateway, retrying like a merchant does;
 * then, if it is picked, completes it through the internal API, retrying
 * through 404 (not readable yet) as well. */
static void chaos_one(struct chaos_load *l, CURL *c, size_t slot)
{
    struct chaos_op op = {0};
    snprintf(op.key, sizeof(op.key), "chaos-%s-%zu", l->marker, slot);
    op.expires = slot % CHAOS_EXPIRE_EVERY == CHAOS_EXPIRE_EVERY - 1;
    op.amount = 1000 + (long)slot;
    char title[64];
    snprintf(title, sizeof(title), "Chaos %zu", slot);
    /* One customer per session: a completion makes it (customer.created). */
    char email[96];
    snprintf(email, sizeof(email), "chaos-%zu@example.com", slot);
    json_t *body = json_pack("{sI ss ss ss s{ss si}}", "amount", (json_int_t)op.amount,
                             "currency_code", "XOF", "title", title, "customer_email", email,
                             "metadata", "chaos", l->marker, "seq", (int)slot);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char key_header[160];
    snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", op.key);
    const char *base = op.expires ? l->short_url : l->url;
    long deadline = clock_now_ms() + CHAOS_GIVE_UP_MS;
    while (text != NULL) {
        char *answer = NULL;
        long status =
            chaos_post(c, base, "/checkout-sessions", l->key_header, key_header, text, &answer);
        op.attempts++;
        op.last_status = status;
        json_t *j = answer != NULL ? json_loads(answer, 0, NULL) : NULL;
        const char *id = json_string_value(json_object_get(j, "checkout_session_id"));
        if ((status == 200 || status == 201 || status == 202) && id != NULL) {
            op.status = status;
            snprintf(op.id, sizeof(op.id), "%s", id);
        }
        json_decref(j);
        free(answer);
        pthread_mutex_lock(&l->lock);
        chaos_count(l->create_answers, status);
        pthread_mutex_unlock(&l->lock);
        if (op.status != 0 || !chaos_retryable(status) || clock_now_ms() > deadline)
            break;
        test_sleep_ms(CHAOS_RETRY_MS);
    }
    free(text);
    op.complete_wanted =
        op.status != 0 && !op.expires && (slot / CHAOS_EXPIRE_EVERY) % CHAOS_COMPLETE_EVERY == 0;
    pthread_mutex_lock(&l->lock);
    l->ops[slot] = op;
    l->readable += op.status == 201;
    pthread_mutex_unlock(&l->lock);
    if (!op.complete_wanted)
        return;

    char path[160];
    snprintf(path, sizeof(path), "/internal/checkout-sessions/%s/complete", op.id);
    char *completion = chaos_completion_body(&op);
    deadline = clock_now_ms() + CHAOS_GIVE_UP_MS;
    while (completion != NULL) {
        char *answer = NULL;
        long status =
            chaos_post(c, l->internal_url, path, l->auth_header, NULL, completion, &answer);
        free(answer);
        op.complete_attempts++;
        op.complete_status = status;
        pthread_mutex_lock(&l->lock);
        chaos_count(l->complete_answers, status);
        pthread_mutex_unlock(&l->lock);
        if ((!chaos_retryable(status) && status != 404) || clock_now_ms() > deadline)
            break;
        test_sleep_ms(CHAOS_RETRY_MS);
    }
    free(completion);
    pthread_mutex_lock(&l->lock);
    l->ops[slot] = op;
    pthread_mutex_unlock(&l->lock);
}

static void *chaos_thread(void *arg)
{
    struct chaos_load *l = arg;
    CURL *c = curl_easy_init();
    while (c != NULL) {
        pthread_mutex_lock(&l->lock);
        bool done = l->stop || l->issued >= CHAOS_MAX_OPS;
        size_t slot = l->issued;
        if (!done)
            l->issued++;
        pthread_mutex_unlock(&l->lock);
        if (done)
            break;
        chaos_one(l, c, slot);
        test_sleep_ms(CHAOS_PAUSE_MS);
    }
    if (c != NULL)
        curl_easy_cleanup(c);
    return NULL;
}

static struct chaos_load *chaos_load_start(const char *api_key)
{
    struct chaos_load *l = calloc(1, sizeof(*l));
    cr_assert(l != NULL);
    l->ops = calloc(CHAOS_MAX_OPS, sizeof(*l->ops));
    cr_assert(l->ops != NULL);
    pthread_mutex_init(&l->lock, NULL);
    cr_assert_eq(uuid_v7_string(l->marker), 0);
    snprintf(l->key_header, sizeof(l->key_header), "x-api-key: %s", api_key);
    snprintf(l->auth_header, sizeof(l->auth_header), "Authorization: Bearer %s",
             test_env("CAISSE_TEST_INTERNAL_TOKEN"));
    l->url = test_env("CAISSE_TEST_URL");
    l->short_url = test_env("CAISSE_TEST_SHORT_TTL_URL");
    l->internal_url = test_env("CAISSE_TEST_INTERNAL_URL");
    for (int i = 0; i < CHAOS_THREADS; i++) {
        cr_assert_eq(pthread_create(&l->threads[i], NULL, chaos_thread, l), 0);
        l->started++;
    }
    return l;
}

static long chaos_readable(struct chaos_load *l)
{
    pthread_mutex_lock(&l->lock);
    long n = l->readable;
    pthread_mutex_unlock(&l->lock);
    return n;
}

static void chaos_load_stop(struct chaos_load *l)
{
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_mutex_unlock(&l->lock);
    for (int i = 0; i < l->started; i++)
        pthread_join(l->threads[i], NULL);
    l->started = 0;
}

static void chaos_load_free(struct chaos_load *l)
{
    pthread_mutex_destroy(&l->lock);
    free(l->ops);
    free(l);
}

static void chaos_histogram(const long *answers, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int s = 0; s < CHAOS_STATUSES && used < outlen; s++)
        if (answers[s] > 0)
            used += (size_t)snprintf(out + used, outlen - used, "%s%d:%ld", used > 0 ? " " : "", s,
                                     answers[s]);
}

/* ---- the faults --------------------------------------------------------------------- */

static const char *const chaos_services[] = {"gateway", "session-worker", "expiry-worker",
                                             "webhook-worker"};
#define CHAOS_SERVICES (sizeof(chaos_services) / sizeof(chaos_services[0]))

static void chaos_restore(void)
{
    const char *repo = test_env("CAISSE_TEST_REPO");
    pid_t webhook = test_service_pid("webhook-worker");
    if (webhook > 0)
        kill(webhook, SIGCONT);
    test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", repo);
    test_shell("bash %s/deploy/pg.sh start >/dev/null 2>&1", repo);
    for (size_t i = 0; i < CHAOS_SERVICES; i++)
        if (test_service_pid(chaos_services[i]) == 0)
            test_shell("bash %s/deploy/stack.sh start-service %s >/dev/null 2>&1", repo,
                       chaos_services[i]);
    test_wait_readyz(test_env("CAISSE_TEST_URL"), 200, 60, NULL, 0);
}

static void chaos_histogram(const long *answers, char *out, size_t outlen);

/* Until the load has had CHAOS_PROGRESS more creates answered 201: the whole
 * pipeline (gateway, Kafka, session worker, PostgreSQL) works again. */
static void chaos_progress(struct chaos_load *l, const char *after)
{
    long base = chaos_readable(l), started = clock_now_ms();
    while (chaos_readable(l) < base + CHAOS_PROGRESS &&
           clock_now_ms() < started + CHAOS_PROGRESS_MS)
        test_sleep_ms(100);
    if (chaos_readable(l) >= base + CHAOS_PROGRESS)
        return;
    char creates[512], completes[512];
    pthread_mutex_lock(&l->lock);
    chaos_histogram(l->create_answers, creates, sizeof(creates));
    chaos_histogram(l->complete_answers, completes, sizeof(completes));
    pthread_mutex_unlock(&l->lock);
    cr_assert_fail("after %s, only %ld creates were answered 201 in %d s; answers so far: creates"
                   " {%s} completions {%s}",
                   after, chaos_readable(l) - base, CHAOS_PROGRESS_MS / 1000, creates, completes);
}

/* Until a webhook request is at the receiver, unanswered (the slow endpoint's
 * 0.3 s make that frequent), for the fault to land on. */
static void chaos_wait_in_flight(const struct wh_endpoint *eps, const char *fault)
{
    bool in_flight = false;
    for (long deadline = clock_now_ms() + 20000; !in_flight && clock_now_ms() < deadline;
         test_sleep_ms(20))
        in_flight = wh_request_in_flight(eps, CHAOS_ENDPOINTS);
    cr_assert(in_flight, "no webhook request was ever in flight for %s", fault);
}

static void chaos_kill9_restart(const char *service, pid_t *pid)
{
    test_service_kill9(service);
    test_service_start(service, NULL);
    *pid = test_service_pid(service);
}

/* ---- the ledger ----------------------------------------------------------------------- */

static long chaos_sql_long(const char *sql, const char *param)
{
    char *v = test_sql_value(sql, param);
    cr_assert(v != NULL, "%s: no row", sql);
    char *end = NULL;
    long n = strtol(v, &end, 10);
    cr_assert(end != v && *end == '\0', "%s: %s", sql, v);
    free(v);
    return n;
}

/* The newest dead letter's id (0: none yet): a row parked later has a
 * greater one, whatever the retention purge deletes meanwhile. */
static long chaos_dead_letters_newest(void)
{
    return chaos_sql_long("SELECT coalesce(max(id), 0) FROM dead_letters", NULL);
}

/* What is left to do before the ledger can be read: acknowledged writes not
 * applied, short-lived sessions not expired, events not relayed, deliveries
 * not succeeded. 0: quiet. */
static long chaos_unsettled(const char *org, long accepted, long completions, long expiring,
                            char *what, size_t whatlen)
{
    json_t *rows = test_sql_rows(
        "SELECT (SELECT count(*) FROM checkout_sessions WHERE organization_id = $1::uuid),"
        " (SELECT count(*) FROM checkout_sessions WHERE organization_id = $1::uuid"
        "   AND status = 'complete'),"
        " (SELECT count(*) FROM checkout_sessions WHERE organization_id = $1::uuid"
        "   AND status = 'expired'),"
        " (SELECT count(*) FROM outbox o JOIN outbox_pending p ON p.seq = o.seq"
        "   WHERE o.organization_id = $1::uuid),"
        " (SELECT count(*) FROM outbox WHERE organization_id = $1::uuid),"
        " (SELECT count(*) FROM webhook_deliveries WHERE organization_id = $1::uuid"
        "   AND status = 'succeeded')",
        org);
    json_t *r = json_array_get(rows, 0);
    long v[6];
    for (size_t i = 0; i < 6; i++)
        v[i] = strtol(json_string_value(json_array_get(r, i)), NULL, 10);
    json_decref(rows);
    snprintf(what, whatlen,
             "%ld/%ld sessions, %ld/%ld complete, %ld/%ld expired, %ld events unpublished,"
             " %ld/%ld deliveries succeeded",
             v[0], accepted, v[1], completions, v[2], expiring, v[3], v[5], v[4] * CHAOS_ENDPOINTS);
    return (accepted - v[0] > 0 ? accepted - v[0] : 0) +
           (completions - v[1] > 0 ? completions - v[1] : 0) +
           (expiring - v[2] > 0 ? expiring - v[2] : 0) + v[3] + (v[4] * CHAOS_ENDPOINTS - v[5]);
}

Test(faults, chaos_ledger_every_accepted_write_once_every_event_once_every_webhook_delivered,
     .timeout = 420, .fini = chaos_restore)
{
    long t0 = clock_now_ms();
    const char *repo = test_env("CAISSE_TEST_REPO");
    cr_assert_eq(test_wait_readyz(test_env("CAISSE_TEST_URL"), 200, 60, NULL, 0), 200);
    long lease_ms = strtol(test_env("CAISSE_WEBHOOK_LEASE_MS"), NULL, 10);
    cr_assert_gt(lease_ms, 0);
    long dead_newest = chaos_dead_letters_newest();

    struct wh_tenant t;
    wh_tenant_new(&t, "Chaos ledger");
    struct wh_endpoint eps[CHAOS_ENDPOINTS];
    wh_endpoint_create(&eps[0], t.key_test, "chaos", "[\"*\"]");
    wh_endpoint_create(&eps[1], t.key_test, "chaos-slow", "[\"*\"]");
    /* Answers after 0.3 s (under the 2 s timeout): requests are in flight when
     * the worker is killed or stopped. */
    wh_receiver_behavior(eps[1].path, "slow", 300);

    pid_t pids[CHAOS_SERVICES];
    for (size_t i = 0; i < CHAOS_SERVICES; i++) {
        pids[i] = test_service_pid(chaos_services[i]);
        cr_assert(pids[i] > 0, "%s is not running", chaos_services[i]);
    }
    pid_t short_gateway = test_service_pid("gateway-short-ttl");

    struct chaos_load *l = chaos_load_start(t.key_test);
    chaos_progress(l, "the start");
    char log[2048] = "";
    size_t used = 0;
#define CHAOS_LOG(...)                                                                             \
    do {                                                                                           \
        if (used < sizeof(log))                                                                    \
            used += (size_t)snprintf(log + used, sizeof(log) - used, __VA_ARGS__);                 \
    } while (0)

    /* kill -9 each service in turn, restarted at once. */
    for (size_t i = 0; i < CHAOS_SERVICES; i++) {
        long at = clock_now_ms();
        if (strcmp(chaos_services[i], "webhook-worker") == 0)
            chaos_wait_in_flight(eps, "the kill");
        chaos_kill9_restart(chaos_services[i], &pids[i]);
        if (i == 0)
            cr_assert_eq(test_wait_readyz(test_env("CAISSE_TEST_URL"), 200, 60, NULL, 0), 200);
        chaos_progress(l, chaos_services[i]);
        CHAOS_LOG("kill -9 %s: %ld ms; ", chaos_services[i], clock_now_ms() - at);
    }

    long at = clock_now_ms();
    cr_assert_eq(test_shell("bash %s/deploy/kafka.sh stop >/dev/null 2>&1", repo), 0);
    cr_assert_eq(test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", repo), 0);
    chaos_progress(l, "Kafka's restart");
    CHAOS_LOG("Kafka restart: %ld ms; ", clock_now_ms() - at);

    at = clock_now_ms();
    cr_assert_eq(test_shell("bash %s/deploy/pg.sh stop >/dev/null 2>&1", repo), 0);
    cr_assert_eq(test_shell("bash %s/deploy/pg.sh start >/dev/null 2>&1", repo), 0);
    chaos_progress(l, "PostgreSQL's restart");
    CHAOS_LOG("PostgreSQL restart: %ld ms; ", clock_now_ms() - at);

    /* Frozen with its requests and leases, past the lease, then thawed. */
    at = clock_now_ms();
    pid_t webhook = test_service_pid("webhook-worker");
    cr_assert(webhook > 0);
    chaos_wait_in_flight(eps, "the SIGSTOP");
    cr_assert_eq(kill(webhook, SIGSTOP), 0);
    test_sleep_ms(lease_ms + 2000);
    cr_assert_eq(kill(webhook, SIGCONT), 0);
    chaos_progress(l, "the webhook worker's SIGSTOP");
    CHAOS_LOG("SIGSTOP webhook worker: %ld ms", clock_now_ms() - at);
    fprintf(stderr, "chaos: %s\n", log);

    chaos_load_stop(l);
    long faults_done = clock_now_ms();

    /* What the clients were told. */
    long accepted = 0, completions = 0, expiring = 0;
    json_t *by_id = json_object(); /* accepted id -> op index */
    for (size_t i = 0; i < l->issued; i++) {
        const struct chaos_op *op = &l->ops[i];
        cr_assert_neq(op->status, 0,
                      "create %s was never accepted: %d attempts, last answer %ld (0: none)",
                      op->key, op->attempts, op->last_status);
        cr_assert(json_object_get(by_id, op->id) == NULL, "two keys were answered the id %s",
                  op->id);
        json_object_set_new(by_id, op->id, json_integer((json_int_t)i));
        accepted++;
        expiring += op->expires;
        if (op->complete_wanted) {
            cr_assert(op->complete_status == 200 || op->complete_status == 202,
                      "completion of %s ended with %ld after %d attempts", op->id,
                      op->complete_status, op->complete_attempts);
            completions++;
        }
    }
    char creates[512], completes[512];
    chaos_histogram(l->create_answers, creates, sizeof(creates));
    chaos_histogram(l->complete_answers, completes, sizeof(completes));
    fprintf(stderr,
            "chaos: %ld creates accepted (%ld to expire), %ld completed; answers: creates"
            " {%s} completions {%s}\n",
            accepted, expiring, completions, creates, completes);
    /* Only answers a client may meet while services restart: none (connection
     * refused), 503 (Kafka or PostgreSQL away), and the acceptances; for
     * completions 404 too (the accepted create not readable yet). */
    for (int s = 0; s < CHAOS_STATUSES; s++) {
        cr_assert(l->create_answers[s] == 0 || s == 0 || s == 200 || s == 201 || s == 202 ||
                      s == 503,
                  "%ld creates were answered %d: {%s}", l->create_answers[s], s, creates);
        cr_assert(l->complete_answers[s] == 0 || s == 0 || s == 200 || s == 202 || s == 404 ||
                      s == 503,
                  "%ld completions were answered %d: {%s}", l->complete_answers[s], s, completes);
    }

    /* Quiet: everything applied, expired, relayed, delivered. */
    char what[512] = "";
    long left = -1;
    long quiet_from = clock_now_ms();
    for (long deadline = quiet_from + CHAOS_QUIET_MS; clock_now_ms() < deadline;
         test_sleep_ms(500)) {
        left = chaos_unsettled(t.org, accepted, completions, expiring, what, sizeof(what));
        if (left == 0)
            break;
    }
    fprintf(stderr, "chaos: quiet after %.1f s: %s\n",
            (double)(clock_now_ms() - quiet_from) / 1000.0, what);
    cr_assert_eq(left, 0, "not quiet after %d s: %s", CHAOS_QUIET_MS / 1000, what);

    /* Every accepted id is one row, the key's, in the state its client was
     * told; no row nobody asked for. */
    json_t *rows =
        test_sql_rows("SELECT id::text, status, idempotency_key, payment_reference, amount::text"
                      " FROM checkout_sessions WHERE organization_id = $1::uuid",
                      t.org);
    json_t *status_of = json_object();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *id = json_string_value(json_array_get(row, 0));
        const char *status = json_string_value(json_array_get(row, 1));
        const char *key = json_string_value(json_array_get(row, 2));
        json_t *index = json_object_get(by_id, id);
        cr_assert(index != NULL, "session %s (key %s) was never accepted by any answer", id,
                  key != NULL ? key : "(none)");
        const struct chaos_op *op = &l->ops[json_integer_value(index)];
        cr_assert(key != NULL && strcmp(key, op->key) == 0, "session %s has the key %s, not %s", id,
                  key != NULL ? key : "(none)", op->key);
        cr_assert_eq(strtol(json_string_value(json_array_get(row, 4)), NULL, 10), op->amount);
        const char *want = op->expires ? "expired" : op->complete_wanted ? "complete" : "open";
        cr_assert_str_eq(status, want, "session %s (%s) is %s", id, op->key, status);
        if (op->complete_wanted) {
            char reference[96];
            snprintf(reference, sizeof(reference), "pay-%s", id);
            const char *ref = json_string_value(json_array_get(row, 3));
            cr_assert(ref != NULL && strcmp(ref, reference) == 0, "session %s paid by %s", id,
                      ref != NULL ? ref : "(none)");
        }
        json_object_set_new(status_of, id, json_string(status));
    }
    cr_assert_eq(json_array_size(rows), (size_t)accepted, "%zu rows for %ld accepted creates",
                 json_array_size(rows), accepted);
    json_decref(rows);

    /* The outbox against the state machine. */
    json_t *outbox = test_sql_rows("SELECT id::text, session_id::text, type FROM outbox"
                                   " WHERE organization_id = $1::uuid",
                                   t.org);
    json_t *outbox_of = json_object(); /* subject -> {type -> event id} */
    json_t *event_ids = json_object(); /* event id -> true */
    json_array_foreach(outbox, i, row)
    {
        const char *eid = json_string_value(json_array_get(row, 0));
        const char *sid = json_string_value(json_array_get(row, 1));
        const char *type = json_string_value(json_array_get(row, 2));
        /* The sessions' events, and the customer.created of the customers
         * their completions made (subject: the customer). */
        if (strncmp(type, "checkout.session.", 17) == 0)
            cr_assert(sid != NULL && json_object_get(status_of, sid) != NULL,
                      "outbox event %s (%s) is not of one of the sessions", eid, type);
        else
            cr_assert(strcmp(type, "customer.created") == 0 &&
                          json_object_get(status_of, sid) == NULL,
                      "outbox event %s of %s has the type %s", eid, sid, type);
        json_t *types = json_object_get(outbox_of, sid);
        if (types == NULL) {
            types = json_object();
            json_object_set_new(outbox_of, sid, types);
        }
        cr_assert(json_object_get(types, type) == NULL,
                  "session %s has two %s events in the outbox", sid, type);
        json_object_set_new(types, type, json_string(eid));
        json_object_set_new(event_ids, eid, json_true());
    }
    const char *sid;
    json_t *st;
    json_object_foreach(status_of, sid, st)
    {
        json_t *types = json_object_get(outbox_of, sid);
        const char *status = json_string_value(st);
        size_t want = 1 + (strcmp(status, "open") != 0);
        cr_assert(json_object_get(types, "checkout.session.created") != NULL,
                  "session %s has no created event", sid);
        if (strcmp(status, "complete") == 0)
            cr_assert(json_object_get(types, "checkout.session.completed") != NULL,
                      "session %s is complete without a completed event", sid);
        if (strcmp(status, "expired") == 0)
            cr_assert(json_object_get(types, "checkout.session.expired") != NULL,
                      "session %s is expired without an expired event", sid);
        cr_assert_eq(json_object_size(types), want, "session %s (%s) has %zu events", sid, status,
                     json_object_size(types));
    }

    cr_assert_eq(json_object_size(outbox_of) - json_object_size(status_of), (size_t)completions,
                 "%zu customers were created for %ld completions",
                 json_object_size(outbox_of) - json_object_size(status_of), completions);

    /* Kafka, from the beginning: for each session and type one distinct event
     * id, the outbox's; repeats of it are the same bytes and bounded. */
    json_t *records = test_kafka_read_all("checkout.session.events");
    json_t *first_payload = json_object(); /* event id -> payload */
    json_t *seen = json_object();          /* event id -> times */
    long kafka_duplicates = 0, most = 0;
    json_t *rec;
    json_array_foreach(records, i, rec)
    {
        const char *payload = json_string_value(json_object_get(rec, "payload"));
        json_t *ev = payload != NULL ? json_loads(payload, 0, NULL) : NULL;
        const char *subject = json_string_value(json_object_get(ev, "subject"));
        if (subject == NULL || json_object_get(outbox_of, subject) == NULL) {
            json_decref(ev);
            continue;
        }
        const char *eid = json_string_value(json_object_get(ev, "id"));
        const char *type = json_string_value(json_object_get(ev, "type"));
        cr_assert(eid != NULL && type != NULL, "an event of %s without id or type", subject);
        const char *expected =
            json_string_value(json_object_get(json_object_get(outbox_of, subject), type));
        cr_assert(expected != NULL && strcmp(expected, eid) == 0,
                  "session %s: a %s event with the id %s on Kafka, the outbox's is %s", subject,
                  type, eid, expected != NULL ? expected : "(none)");
        json_t *first = json_object_get(first_payload, eid);
        if (first == NULL) {
            json_object_set_new(first_payload, eid, json_string(payload));
            json_object_set_new(seen, eid, json_integer(1));
        } else {
            cr_assert_str_eq(payload, json_string_value(first),
                             "event %s was redelivered with other bytes", eid);
            json_int_t n = json_integer_value(json_object_get(seen, eid)) + 1;
            json_object_set_new(seen, eid, json_integer(n));
            kafka_duplicates++;
            most = (long)n > most ? (long)n : most;
        }
        json_decref(ev);
    }
    json_decref(records);
    const char *eid;
    json_t *v;
    json_object_foreach(event_ids, eid, v)
    {
        cr_assert(json_object_get(seen, eid) != NULL, "outbox event %s is not on Kafka", eid);
    }
    cr_assert_eq(json_object_size(seen), json_object_size(event_ids));
    fprintf(stderr,
            "chaos: %zu events on Kafka, %ld same-id redeliveries (at most %ld times one event)\n",
            json_object_size(seen), kafka_duplicates, most > 0 ? most : 1);
    cr_assert_leq(most, 1 + CHAOS_RELAY_FAULTS,
                  "an event was published %ld times; %d faults could repeat it", most,
                  CHAOS_RELAY_FAULTS);
    json_decref(seen);
    json_decref(first_payload);

    /* One delivery per (event, endpoint), every one succeeded. */
    cr_assert_eq(chaos_sql_long("SELECT count(*) FROM webhook_deliveries"
                                " WHERE organization_id = $1::uuid",
                                t.org),
                 (long)json_object_size(event_ids) * CHAOS_ENDPOINTS);
    cr_assert_eq(chaos_sql_long("SELECT count(*) FROM webhook_deliveries"
                                " WHERE organization_id = $1::uuid AND status <> 'succeeded'",
                                t.org),
                 0);
    cr_assert_eq(chaos_sql_long("SELECT count(*) FROM outbox o JOIN webhook_endpoints e"
                                " ON e.organization_id = o.organization_id"
                                " AND e.environment = o.environment"
                                " WHERE o.organization_id = $1::uuid AND NOT EXISTS (SELECT 1"
                                " FROM webhook_deliveries d WHERE d.event_id = o.id"
                                " AND d.endpoint_id = e.id)",
                                t.org),
                 0, "an (event, endpoint) pair has no delivery");

    /* The receiver answered 200 to every (event id, endpoint), signatures
     * verified, nothing it does not know of; repeats counted and bounded. */
    long webhook_repeats = 0, webhook_most = 0, cut = 0;
    for (size_t k = 0; k < CHAOS_ENDPOINTS; k++) {
        json_t *recs = wh_receiver_requests(eps[k].path);
        json_t *ok = json_object();
        json_array_foreach(recs, i, rec)
        {
            cr_assert(json_is_true(json_object_get(rec, "verified")),
                      "a delivery to %s failed standardwebhooks verification", eps[k].path);
            cut += json_is_true(json_object_get(rec, "client_gone"));
            const char *wid = wh_record_header(rec, "webhook-id");
            cr_assert(wid != NULL && json_object_get(event_ids, wid) != NULL,
                      "the receiver got webhook-id %s, not an event of the sessions",
                      wid != NULL ? wid : "(none)");
            if (json_integer_value(json_object_get(rec, "response_status")) != 200)
                continue;
            json_int_t n = json_integer_value(json_object_get(ok, wid)) + 1;
            json_object_set_new(ok, wid, json_integer(n));
            if (n > 1)
                webhook_repeats++;
            webhook_most = (long)n > webhook_most ? (long)n : webhook_most;
        }
        json_object_foreach(event_ids, eid, v)
        {
            cr_assert(json_object_get(ok, eid) != NULL, "event %s never answered 200 at %s", eid,
                      eps[k].path);
        }
        json_decref(ok);
        json_decref(recs);
    }
    fprintf(stderr,
            "chaos: %zu deliveries to %d endpoints; %ld answered 200 again (at most %ld times"
            " one), %ld requests cut\n",
            json_object_size(event_ids) * CHAOS_ENDPOINTS, CHAOS_ENDPOINTS, webhook_repeats,
            webhook_most, cut);
    cr_assert_leq(webhook_most, 1 + CHAOS_WEBHOOK_FAULTS,
                  "a webhook was answered 200 %ld times at one endpoint; %d faults could repeat"
                  " it",
                  webhook_most, CHAOS_WEBHOOK_FAULTS);

    /* Nothing parked: every fault was transient. */
    char newest[24];
    snprintf(newest, sizeof(newest), "%ld", dead_newest);
    long parked = chaos_sql_long("SELECT count(*) FROM dead_letters WHERE id > $1::bigint", newest);
    cr_assert_eq(parked, 0, "%ld messages were parked in dead_letters", parked);

    /* Services nobody killed were not restarted: they came through Kafka's and
     * PostgreSQL's restarts by themselves. */
    for (size_t k = 0; k < CHAOS_SERVICES; k++)
        cr_assert_eq(test_service_pid(chaos_services[k]), pids[k], "%s was restarted or died",
                     chaos_services[k]);
    if (short_gateway > 0)
        cr_assert_eq(test_service_pid("gateway-short-ttl"), short_gateway,
                     "the short-TTL gateway died");

    fprintf(stderr, "chaos: faults %.1f s, quiet and checked %.1f s, in all %.1f s\n",
            (double)(faults_done - t0) / 1000.0, (double)(clock_now_ms() - faults_done) / 1000.0,
            (double)(clock_now_ms() - t0) / 1000.0);
    json_decref(outbox);
    json_decref(outbox_of);
    json_decref(event_ids);
    json_decref(status_of);
    json_decref(by_id);
    chaos_load_free(l);
}
