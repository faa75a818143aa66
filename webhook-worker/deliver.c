#include "deliver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/backoff.h"
#include "infra/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "outcome.h"
#include "core/result.h"
#include "infra/service.h"
#include "infra/startup.h"
#include "webhook_dispatch.h"
#include "model/webhook_signature.h"

/* Response bodies are kept for the attempt log up to this many bytes. */
#define DELIVER_BODY_MAX 20000
/* Most deliveries claimed by one statement. */
#define DELIVER_CLAIM_BATCH 100
/* Deliveries of one endpoint held at once (sending plus claimed ahead), as a
 * multiple of its concurrency cap: claiming ahead lets a freed slot start the
 * next request without a round trip to PostgreSQL, so one claim serves many
 * requests instead of one. */
#define DELIVER_PREFETCH_FACTOR 8
/* Most deliveries claimed ahead in all, as a multiple of max_in_flight. */
#define DELIVER_QUEUE_FACTOR 2
/* A claimed-ahead delivery starts only if its lease still covers a whole
 * request plus this; otherwise it is given back rather than risk being sent
 * by two workers. */
#define DELIVER_START_MARGIN_MS 2000
#define DELIVER_ENDPOINT_BUCKETS 256
/* Most outcomes recorded in one transaction. */
#define DELIVER_RECORD_MAX 1000
/* Outcomes waiting for the recorder past which no more is claimed (what is
 * held is still sent): sending must not outrun recording without bound. */
#define DELIVER_RECORD_BACKLOG_MAX (2 * DELIVER_RECORD_MAX)
#define DELIVER_BACKLOG_TICK_MS 5
#define DELIVER_DB_RETRY_MIN_MS 200
#define DELIVER_DB_RETRY_MAX_MS 5000
/* Loop tick while draining: in-flight transfers are driven by curl_multi_poll
 * anyway, this only bounds how late the drain deadline is noticed. */
#define DELIVER_DRAIN_TICK_MS 50
#define DELIVER_USER_AGENT "caisse-webhooks/1.0"

struct deliver_transfer {
    struct deliver_transfer *next;
    struct deliver *d;
    struct deliver_endpoint *ep; /* while claimed ahead or sending */
    struct webhook_dispatch_job job;
    int64_t claimed_ms; /* before the claim's statement: its lease runs from no earlier */
    CURL *easy;         /* NULL once finished (or never started) */
    struct curl_slist *headers;
    char *body; /* response, DELIVER_BODY_MAX + 1 bytes, allocated on first data */
    size_t body_len;
    bool forbidden;
    char forbidden_desc[128];
    char errbuf[CURL_ERROR_SIZE];
    int64_t started_ms;
    /* The result, once finished. */
    long duration_ms;
    long status_code;  /* as answered, even when the transfer failed afterwards */
    long verdict_code; /* status_code if the exchange completed, else 0 */
    long retry_after_s;
    char error[CURL_ERROR_SIZE + 64];
    bool has_error;
};

/* What this worker holds of one endpoint: requests sending, and deliveries
 * claimed ahead (leased, not started) in claim order. */
struct deliver_endpoint {
    struct deliver_endpoint *next; /* hash chain */
    char id[UUID_STR_LEN];
    long sending;
    long queued;
    struct deliver_transfer *queue, *queue_tail;
    /* The last claim filled this endpoint's allowance: more may be due, so
     * claim again once half of it is sent. */
    bool backlog;
};

struct deliver {
    struct deliver_options opt;
    pthread_t thread;
    CURLM *multi;
    atomic_bool wake;
    struct db db;
    struct deliver_transfer *active;     /* sending */
    struct deliver_transfer *unrecorded; /* finished, not yet handed to the recorder */
    long active_count;
    struct deliver_endpoint *endpoints[DELIVER_ENDPOINT_BUCKETS];
    long queued_count; /* claimed ahead, over all endpoints */
    int64_t db_retry_at;
    struct backoff db_backoff;
    struct metrics_family *outcomes; /* caisse_webhook_deliveries_total */
    /* The recorder: a thread with its own connection that writes the
     * outcomes, so a transaction in progress never stops requests from
     * being sent. Its fields below are guarded by rec_lock. */
    pthread_t recorder;
    pthread_mutex_t rec_lock;
    pthread_cond_t rec_cond;
    struct deliver_transfer *rec_queue; /* handed over, not yet recorded */
    long rec_count;                     /* rec_queue plus the batch being recorded */
    bool rec_stop;                      /* stop once everything is recorded */
    bool rec_abort;                     /* stop now, dropping what is queued */
    struct db rec_db;                   /* recorder thread only */
};

/* Jitter only needs to spread retries, but getrandom costs nothing and needs
 * no seeding or locking. */
static double deliver_random01(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)clock_now_ms() * 2654435761u;
    return (double)(r >> 11) / (double)(UINT64_C(1) << 53);
}

static void deliver_transfer_free(struct deliver_transfer *t)
{
    if (t->easy != NULL) {
        curl_multi_remove_handle(t->d->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    free(t->body);
    webhook_dispatch_job_clear(&t->job);
    free(t);
}

/* The SSRF guard: curl asks us for every socket it connects with, after DNS,
 * so the address checked is the one used (a name re-resolving to a private
 * address between registration and delivery is caught here). A refused
 * address makes no connection at all. */
static curl_socket_t deliver_open_socket(void *clientp, curlsocktype purpose,
                                         struct curl_sockaddr *address)
{
    struct deliver_transfer *t = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    const struct sockaddr *sa = &address->addr;
    if (!netguard_address_allowed(&t->d->opt.allowlist, sa)) {
        char ip[INET6_ADDRSTRLEN] = "?";
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip,
                      sizeof(ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                      sizeof(ip));
        t->forbidden = true;
        snprintf(t->forbidden_desc, sizeof(t->forbidden_desc), "forbidden address: %s %s",
                 netguard_class_name(netguard_classify(sa)), ip);
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

static size_t deliver_on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct deliver_transfer *t = userdata;
    size_t n = size * nmemb;
    if (t->body == NULL) {
        t->body = malloc(DELIVER_BODY_MAX + 1);
        if (t->body == NULL)
            return n; /* the body is only for the log: losing it is no failure */
    }
    size_t room = DELIVER_BODY_MAX - t->body_len;
    size_t take = n < room ? n : room;
    memcpy(t->body + t->body_len, data, take);
    t->body_len += take;
    /* The rest is read and dropped: stopping the transfer would turn a 2xx
     * with a large body into a failure. */
    return n;
}

static void deliver_set_error(struct deliver_transfer *t, const char *msg)
{
    snprintf(t->error, sizeof(t->error), "%s", msg);
    t->has_error = true;
}

static int deliver_build_headers(struct deliver_transfer *t)
{
    int64_t ts = (int64_t)time(NULL);
    char sig[WEBHOOK_SIGNATURE_MAX], prev[WEBHOOK_SIGNATURE_MAX];
    const struct webhook_dispatch_job *j = &t->job;
    if (webhook_sign(j->secret, j->event_id, ts, j->payload, j->payload_len, sig) != C_OK)
        return C_ERR;
    /* During a rotation both secrets sign, so a receiver still holding either
     * one verifies the request (Standard Webhooks: space-separated list). */
    bool two = j->previous_secret != NULL && webhook_sign(j->previous_secret, j->event_id, ts,
                                                          j->payload, j->payload_len, prev) == C_OK;
    char h_id[64], h_ts[64], h_sig[2 * WEBHOOK_SIGNATURE_MAX + 32];
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", j->event_id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", (long long)ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s%s%s", sig, two ? " " : "",
             two ? prev : "");
    /* "Expect:" turns off 100-continue, which would hold bodies over 1 KB for
     * up to a second waiting for a reply most receivers never send. */
    const char *lines[] = {
        h_id,     h_ts, h_sig, "content-type: application/json", "user-agent: " DELIVER_USER_AGENT,
        "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct curl_slist *l = curl_slist_append(t->headers, lines[i]);
        if (l == NULL)
            return C_ERR;
        t->headers = l;
    }
    return C_OK;
}

static int deliver_setup_easy(struct deliver_transfer *t)
{
    const struct deliver_options *o = &t->d->opt;
    CURL *e = curl_easy_init();
    if (e == NULL)
        return C_ERR;
    t->easy = e;
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_URL, t->job.url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->job.payload);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->job.payload_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    /* A redirect is a failure: following it would send the signed event to a
     * target nobody registered. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* No proxy from the environment: the SSRF check must see the merchant's
     * address, not a proxy's. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, deliver_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, deliver_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    if (curl_multi_add_handle(t->d->multi, e) != CURLM_OK)
        return C_ERR;
    return C_OK;
}

static size_t deliver_endpoint_bucket(const char *id)
{
    /* FNV-1a over the id's text. */
    uint32_t h = 2166136261u;
    for (const char *p = id; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h % DELIVER_ENDPOINT_BUCKETS;
}

/* The endpoint's entry, created empty if missing (NULL: out of memory). */
static struct deliver_endpoint *deliver_endpoint_get(struct deliver *d, const char *id)
{
    struct deliver_endpoint **head = &d->endpoints[deliver_endpoint_bucket(id)];
    for (struct deliver_endpoint *e = *head; e != NULL; e = e->next) {
        if (strcmp(e->id, id) == 0)
            return e;
    }
    struct deliver_endpoint *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->next = *head;
    *head = e;
    return e;
}

/* Frees the entry once this worker holds nothing of its endpoint. */
static void deliver_endpoint_forget_if_idle(struct deliver *d, struct deliver_endpoint *e)
{
    if (e->sending > 0 || e->queued > 0)
        return;
    for (struct deliver_endpoint **p = &d->endpoints[deliver_endpoint_bucket(e->id)]; *p != NULL;
         p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            free(e);
            return;
        }
    }
}

/* Holds the claimed job (taking ownership of it) until a slot of its
 * endpoint is free. */
static void deliver_queue_job(struct deliver *d, struct webhook_dispatch_job *job,
                              int64_t claimed_ms)
{
    struct deliver_transfer *t = calloc(1, sizeof(*t));
    struct deliver_endpoint *e = t != NULL ? deliver_endpoint_get(d, job->endpoint_id) : NULL;
    if (e == NULL) {
        /* The lease ends and the delivery is retaken; nothing else to do. */
        log_error("out of memory holding delivery %s", job->delivery_id);
        free(t);
        webhook_dispatch_job_clear(job);
        return;
    }
    t->d = d;
    t->ep = e;
    t->job = *job;
    memset(job, 0, sizeof(*job));
    t->claimed_ms = claimed_ms;
    if (e->queue_tail != NULL)
        e->queue_tail->next = t;
    else
        e->queue = t;
    e->queue_tail = t;
    e->queued++;
    d->queued_count++;
}

/* Sends a held job now. A job that cannot even be sent (malformed secret, out
 * of memory) finishes at once as a failed attempt, so the schedule still
 * applies. */
static void deliver_send(struct deliver *d, struct deliver_transfer *t)
{
    t->started_ms = clock_now_ms();
    const char *fail = NULL;
    if (deliver_build_headers(t) != C_OK)
        fail = "cannot sign: the endpoint secret is malformed";
    else if (deliver_setup_easy(t) != C_OK)
        fail = "cannot start the request (out of memory)";
    if (fail != NULL) {
        if (t->easy != NULL) {
            curl_multi_remove_handle(d->multi, t->easy);
            curl_easy_cleanup(t->easy);
            t->easy = NULL;
        }
        deliver_set_error(t, fail);
        t->ep = NULL;
        t->next = d->unrecorded;
        d->unrecorded = t;
        return;
    }
    t->ep->sending++;
    t->next = d->active;
    d->active = t;
    d->active_count++;
}

/* Takes the first held job of endpoint e off its queue. */
static struct deliver_transfer *deliver_endpoint_pop(struct deliver *d, struct deliver_endpoint *e)
{
    struct deliver_transfer *t = e->queue;
    e->queue = t->next;
    if (e->queue == NULL)
        e->queue_tail = NULL;
    t->next = NULL;
    e->queued--;
    d->queued_count--;
    return t;
}

/* Gives the leases of the listed held deliveries back (freeing them), so
 * that any worker may send them now rather than after their lease. */
static void deliver_release_held(struct deliver *d, struct deliver_transfer *list, const char *why)
{
    json_t *ids = json_array();
    long n = 0;
    while (list != NULL) {
        struct deliver_transfer *t = list;
        list = t->next;
        if (ids != NULL)
            json_array_append_new(ids, json_string(t->job.delivery_id));
        deliver_transfer_free(t);
        n++;
    }
    if (n > 0 && (ids == NULL || webhook_dispatch_release(&d->db, ids, d->opt.worker_id) != C_OK))
        log_warn("could not give back %ld held deliveries (%s); their leases end on their own: %s",
                 n, why, d->db.last_error);
    json_decref(ids);
}

/* Starts held jobs wherever their endpoint has a free slot. *refill: an
 * endpoint with more due is running low, claim again now. */
static void deliver_start_held(struct deliver *d, bool *refill)
{
    long prefetch = d->opt.endpoint_concurrency * DELIVER_PREFETCH_FACTOR;
    struct deliver_transfer *stale = NULL;
    for (size_t b = 0; b < DELIVER_ENDPOINT_BUCKETS; b++) {
        struct deliver_endpoint *e = d->endpoints[b];
        while (e != NULL) {
            struct deliver_endpoint *next = e->next;
            while (e->queue != NULL && e->sending < d->opt.endpoint_concurrency &&
                   d->active_count < d->opt.max_in_flight) {
                struct deliver_transfer *t = deliver_endpoint_pop(d, e);
                if (clock_now_ms() + d->opt.timeout_ms + DELIVER_START_MARGIN_MS >
                    t->claimed_ms + d->opt.lease_ms) {
                    t->ep = NULL;
                    t->next = stale;
                    stale = t;
                    continue;
                }
                deliver_send(d, t);
            }
            if (e->backlog && e->queued * 2 <= prefetch) {
                e->backlog = false;
                *refill = true;
            }
            deliver_endpoint_forget_if_idle(d, e);
            e = next;
        }
    }
    if (stale != NULL) {
        *refill = true;
        deliver_release_held(d, stale, "held past their lease");
    }
}

/* Gives back every held job (stopping: only what is sending finishes). */
static void deliver_release_all_held(struct deliver *d)
{
    struct deliver_transfer *all = NULL;
    for (size_t b = 0; b < DELIVER_ENDPOINT_BUCKETS; b++) {
        struct deliver_endpoint *e = d->endpoints[b];
        while (e != NULL) {
            struct deliver_endpoint *next = e->next;
            while (e->queue != NULL) {
                struct deliver_transfer *t = deliver_endpoint_pop(d, e);
                t->ep = NULL;
                t->next = all;
                all = t;
            }
            deliver_endpoint_forget_if_idle(d, e);
            e = next;
        }
    }
    deliver_release_held(d, all, "stopping");
}

/* {"<endpoint id>": deliveries held} over sending and claimed-ahead ones. */
static json_t *deliver_held_map(const struct deliver *d)
{
    json_t *m = json_object();
    if (m == NULL)
        return NULL;
    for (size_t b = 0; b < DELIVER_ENDPOINT_BUCKETS; b++) {
        for (const struct deliver_endpoint *e = d->endpoints[b]; e != NULL; e = e->next) {
            if (json_object_set_new(m, e->id, json_integer(e->sending + e->queued)) != 0) {
                json_decref(m);
                return NULL;
            }
        }
    }
    return m;
}

/* Counts an attempt (or a delivery given up without one) once recorded. A
 * success is "success" in the metric, the value the deployed alerts
 * (deploy/OPERATIONS.md) were written against; the log says "succeeded". */
static void deliver_count(struct deliver *d, const char *outcome)
{
    const char *values[] = {strcmp(outcome, "succeeded") == 0 ? "success" : outcome};
    metrics_counter_add(metrics_series(d->outcomes, values), 1);
}

static void deliver_abandon(struct deliver *d, const struct webhook_dispatch_job *j,
                            const char *reason)
{
    /* A failure here leaves the lease to end; the next claim decides again. */
    if (webhook_dispatch_abandon(&d->db, j->delivery_id, d->opt.worker_id, reason) != C_OK)
        return;
    deliver_count(d, "abandoned");
    log_fields(LOG_INFO,
               json_pack("{ss ss ss ss}", "delivery_id", j->delivery_id, "endpoint_id",
                         j->endpoint_id, "event_id", j->event_id, "reason", reason),
               "webhook delivery failed without an attempt");
}

/* Claims what is due, up to each endpoint's allowance of held deliveries,
 * and holds it. *more: the claim was full, more may be due. */
static int deliver_claim(struct deliver *d, bool *more)
{
    *more = false;
    long room = d->opt.max_in_flight * DELIVER_QUEUE_FACTOR - d->queued_count;
    if (room <= 0)
        return C_OK;
    long limit = room < DELIVER_CLAIM_BATCH ? room : DELIVER_CLAIM_BATCH;
    long prefetch = d->opt.endpoint_concurrency * DELIVER_PREFETCH_FACTOR;
    json_t *held = deliver_held_map(d);
    if (held == NULL)
        return C_ERR;
    struct webhook_dispatch_claim c = {.limit = limit,
                                       .lease_ms = d->opt.lease_ms,
                                       .worker = d->opt.worker_id,
                                       .endpoint_cap = prefetch,
                                       .in_flight = held};
    struct webhook_dispatch_job *jobs = NULL;
    size_t n = 0;
    int64_t claimed_ms = clock_now_ms();
    int rc = webhook_dispatch_claim(&d->db, &c, &jobs, &n);
    json_decref(held);
    if (rc != C_OK)
        return C_ERR;
    for (size_t i = 0; i < n; i++) {
        struct webhook_dispatch_job *j = &jobs[i];
        if (j->endpoint_deleted)
            deliver_abandon(d, j, "endpoint deleted");
        else if (j->endpoint_disabled)
            deliver_abandon(d, j, "endpoint disabled");
        else if (j->payload == NULL)
            deliver_abandon(d, j, "event no longer stored");
        else
            deliver_queue_job(d, j, claimed_ms);
    }
    webhook_dispatch_jobs_free(jobs, n);
    /* An endpoint given its whole allowance may have more due. */
    for (size_t b = 0; b < DELIVER_ENDPOINT_BUCKETS; b++) {
        for (struct deliver_endpoint *e = d->endpoints[b]; e != NULL; e = e->next)
            e->backlog = e->sending + e->queued >= prefetch;
    }
    *more = (long)n >= limit;
    return C_OK;
}

static void deliver_finish(struct deliver *d, struct deliver_transfer *t, CURLcode result)
{
    t->duration_ms = (long)(clock_now_ms() - t->started_ms);
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status_code);
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0)
        t->retry_after_s =
            retry_after > (curl_off_t)LONG_MAX / 1000 ? LONG_MAX / 1000 : (long)retry_after;
    if (result == CURLE_OK) {
        t->verdict_code = t->status_code;
        if (t->status_code >= 300 && t->status_code <= 399)
            deliver_set_error(t, "redirect not followed: only 2xx is success");
    } else if (t->forbidden) {
        deliver_set_error(t, t->forbidden_desc);
    } else {
        char msg[sizeof(t->error)];
        snprintf(msg, sizeof(msg), "%s",
                 t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(result));
        deliver_set_error(t, msg);
    }
    curl_multi_remove_handle(d->multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    if (t->body != NULL)
        t->body_len = outcome_sanitize_utf8(t->body, t->body_len);
}

/* Moves finished transfers from active to unrecorded. *finished: how many. */
static void deliver_collect(struct deliver *d, long *finished)
{
    *finished = 0;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct deliver_transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode result = msg->data.result; /* msg is invalid after remove_handle */
        deliver_finish(d, t, result);
        for (struct deliver_transfer **p = &d->active; *p != NULL; p = &(*p)->next) {
            if (*p == t) {
                *p = t->next;
                break;
            }
        }
        d->active_count--;
        /* The slot is free once the request is over; recording needs none. */
        struct deliver_endpoint *e = t->ep;
        t->ep = NULL;
        e->sending--;
        deliver_endpoint_forget_if_idle(d, e);
        t->next = d->unrecorded;
        d->unrecorded = t;
        (*finished)++;
    }
}

static const char *deliver_verdict_name(enum webhook_dispatch_verdict v)
{
    switch (v) {
    case WEBHOOK_DISPATCH_SUCCEEDED:
        return "succeeded";
    case WEBHOOK_DISPATCH_RETRY:
        return "retry";
    case WEBHOOK_DISPATCH_FAILED:
        return "failed";
    case WEBHOOK_DISPATCH_GONE:
        return "gone";
    }
    return "failed";
}

/* Logs what recording transfer t with outcome out did. */
static void deliver_log_attempt(const struct deliver_transfer *t, const struct outcome *out,
                                long attempt, bool lease_lost, const char *disabled)
{
    json_t *f = json_pack("{ss ss ss si sI ss}", "delivery_id", t->job.delivery_id, "endpoint_id",
                          t->job.endpoint_id, "event_id", t->job.event_id, "attempt", (int)attempt,
                          "duration_ms", (json_int_t)t->duration_ms, "outcome",
                          deliver_verdict_name(out->verdict));
    if (f != NULL) {
        json_object_set_new(f, "status_code",
                            t->status_code > 0 ? json_integer(t->status_code) : json_null());
        if (t->has_error)
            json_object_set_new(f, "error", json_string(t->error));
        if (out->verdict == WEBHOOK_DISPATCH_RETRY)
            json_object_set_new(f, "retry_in_ms", json_integer(out->retry_in_ms));
        if (lease_lost)
            json_object_set_new(f, "lease_lost", json_true());
    }
    log_fields(lease_lost ? LOG_WARN : LOG_INFO, f, "webhook attempt");
    if (disabled != NULL)
        log_fields(LOG_WARN,
                   json_pack("{ss ss}", "endpoint_id", t->job.endpoint_id, "reason", disabled),
                   "webhook endpoint disabled");
}

/* Records the finished transfers of list in one transaction (group commit:
 * under load, what finished meanwhile goes in together), then logs, counts
 * and frees them. On a database error the list is left as it was, for a
 * retry. Recorder thread only. */
static int deliver_record(struct deliver *d, struct deliver_transfer *list, size_t n)
{
    struct webhook_dispatch_outcome *o = calloc(n, sizeof(*o));
    struct outcome *out = calloc(n, sizeof(*out));
    bool *lease_lost = calloc(n, sizeof(*lease_lost));
    char **disabled = calloc(n, sizeof(*disabled));
    int rc = o != NULL && out != NULL && lease_lost != NULL && disabled != NULL ? C_OK : C_ERR;
    size_t i = 0;
    for (struct deliver_transfer *t = list; rc == C_OK && t != NULL; t = t->next, i++) {
        struct outcome_input in = {.status_code = t->verdict_code,
                                   .retry_after_s = t->retry_after_s,
                                   .attempts_done = t->job.attempt_count + 1,
                                   .random01 = deliver_random01()};
        outcome_decide(&d->opt.schedule, &in, &out[i]);
        o[i] = (struct webhook_dispatch_outcome){.delivery_id = t->job.delivery_id,
                                                 .endpoint_id = t->job.endpoint_id,
                                                 .worker = d->opt.worker_id,
                                                 .duration_ms = t->duration_ms,
                                                 .status_code = t->status_code,
                                                 .body = t->body_len > 0 ? t->body : NULL,
                                                 .error = t->has_error ? t->error : NULL,
                                                 .verdict = out[i].verdict,
                                                 .retry_in_ms = out[i].retry_in_ms,
                                                 .disable_after_s = d->opt.disable_after_s};
    }
    if (rc == C_OK)
        rc = webhook_dispatch_record(&d->rec_db, o, n, lease_lost, disabled);
    if (rc == C_OK) {
        i = 0;
        while (list != NULL) {
            struct deliver_transfer *t = list;
            deliver_log_attempt(t, &out[i], t->job.attempt_count + 1, lease_lost[i], disabled[i]);
            deliver_count(d, deliver_verdict_name(out[i].verdict));
            free(disabled[i]);
            list = t->next;
            deliver_transfer_free(t);
            i++;
        }
    }
    free(o);
    free(out);
    free(lease_lost);
    free(disabled);
    return rc;
}

static void deliver_free_list(struct deliver_transfer *list)
{
    while (list != NULL) {
        struct deliver_transfer *t = list;
        list = t->next;
        deliver_transfer_free(t);
    }
}

/* The recorder thread: records what the loop hands over, batch by batch; on
 * a database error it retries the batch (with what came meanwhile) after a
 * backoff. The deliveries stay leased meanwhile; if this takes longer than
 * their lease, the record finds the lease lost and says so. */
static void *deliver_recorder_main(void *arg)
{
    struct deliver *d = arg;
    struct backoff retry;
    backoff_init(&retry, DELIVER_DB_RETRY_MIN_MS, DELIVER_DB_RETRY_MAX_MS);
    pthread_mutex_lock(&d->rec_lock);
    for (;;) {
        while (d->rec_queue == NULL && !d->rec_stop && !d->rec_abort)
            pthread_cond_wait(&d->rec_cond, &d->rec_lock);
        if (d->rec_abort || d->rec_queue == NULL)
            break;
        /* At most DELIVER_RECORD_MAX per transaction: a backlog recorded in
         * one statement would hold its locks and its memory for long. */
        struct deliver_transfer *batch = d->rec_queue, *tail = batch;
        size_t n = 1;
        while (tail->next != NULL && n < DELIVER_RECORD_MAX) {
            tail = tail->next;
            n++;
        }
        d->rec_queue = tail->next;
        tail->next = NULL;
        pthread_mutex_unlock(&d->rec_lock);
        int rc = deliver_record(d, batch, n);
        long delay = 0;
        if (rc == C_OK) {
            backoff_reset(&retry);
        } else {
            delay = backoff_next(&retry);
            log_fields(
                LOG_WARN,
                json_pack("{sI sI}", "attempts", (json_int_t)n, "retry_in_ms", (json_int_t)delay),
                "could not record webhook attempts, retrying: %s", d->rec_db.last_error);
        }
        pthread_mutex_lock(&d->rec_lock);
        if (rc == C_OK) {
            d->rec_count -= (long)n;
        } else {
            tail->next = d->rec_queue;
            d->rec_queue = batch;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += delay / 1000;
            until.tv_nsec += (delay % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            while (!d->rec_abort && pthread_cond_timedwait(&d->rec_cond, &d->rec_lock, &until) == 0)
                ;
        }
        pthread_cond_broadcast(&d->rec_cond);
    }
    long dropped = d->rec_count;
    struct deliver_transfer *left = d->rec_queue;
    d->rec_queue = NULL;
    d->rec_count = 0;
    pthread_cond_broadcast(&d->rec_cond);
    pthread_mutex_unlock(&d->rec_lock);
    deliver_free_list(left);
    if (dropped > 0)
        log_fields(LOG_WARN, json_pack("{sI}", "unrecorded", (json_int_t)dropped),
                   "stopped with attempts unrecorded: those deliveries are sent again after "
                   "their lease");
    return NULL;
}

/* Hands the finished transfers to the recorder. */
static void deliver_hand_over(struct deliver *d)
{
    if (d->unrecorded == NULL)
        return;
    long n = 0;
    struct deliver_transfer *tail = NULL;
    for (struct deliver_transfer *t = d->unrecorded; t != NULL; t = t->next) {
        tail = t;
        n++;
    }
    pthread_mutex_lock(&d->rec_lock);
    tail->next = d->rec_queue;
    d->rec_queue = d->unrecorded;
    d->rec_count += n;
    pthread_cond_signal(&d->rec_cond);
    pthread_mutex_unlock(&d->rec_lock);
    d->unrecorded = NULL;
}

/* Outcomes handed to the recorder and not yet recorded. */
static long deliver_unrecorded(struct deliver *d)
{
    pthread_mutex_lock(&d->rec_lock);
    long n = d->rec_count;
    pthread_mutex_unlock(&d->rec_lock);
    return n;
}

/* Ends the recorder: once everything handed over is recorded, or at once
 * (dropping the rest) if abort. */
static void deliver_recorder_stop(struct deliver *d, bool abort)
{
    pthread_mutex_lock(&d->rec_lock);
    d->rec_stop = true;
    d->rec_abort = d->rec_abort || abort;
    pthread_cond_broadcast(&d->rec_cond);
    pthread_mutex_unlock(&d->rec_lock);
    pthread_join(d->recorder, NULL);
}

/* The drain deadline passed: aborts what is still sending and gives its
 * leases back so another worker sends it now rather than after the lease. */
static void deliver_abort_all(struct deliver *d)
{
    json_t *ids = json_array();
    long n = 0;
    while (d->active != NULL) {
        struct deliver_transfer *t = d->active;
        d->active = t->next;
        if (ids != NULL)
            json_array_append_new(ids, json_string(t->job.delivery_id));
        t->ep->sending--;
        deliver_endpoint_forget_if_idle(d, t->ep);
        deliver_transfer_free(t);
        n++;
    }
    d->active_count = 0;
    if (ids != NULL && n > 0 && webhook_dispatch_release(&d->db, ids, d->opt.worker_id) != C_OK)
        log_warn("could not release leases; they end on their own: %s", d->db.last_error);
    json_decref(ids);
    if (n > 0)
        log_fields(LOG_WARN, json_pack("{sI}", "aborted", (json_int_t)n),
                   "drain deadline passed: aborted requests are sent again after their lease");
    deliver_free_list(d->unrecorded);
    d->unrecorded = NULL;
}

static void *deliver_main(void *arg)
{
    struct deliver *d = arg;
    if (startup_wait_postgres(&d->db) != C_OK) {
        deliver_recorder_stop(d, true);
        return NULL;
    }
    log_info("delivery loop started");
    int64_t next_claim = 0;
    int64_t drain_deadline = -1;
    for (;;) {
        int64_t now = clock_now_ms();
        bool stopping = service_stopping();
        if (stopping && drain_deadline < 0) {
            drain_deadline = now + d->opt.drain_ms;
            log_fields(LOG_INFO,
                       json_pack("{sI sI}", "in_flight", (json_int_t)d->active_count, "held",
                                 (json_int_t)d->queued_count),
                       "delivery loop draining: no new claims, held deliveries given back");
            deliver_release_all_held(d);
        }
        bool woken = atomic_exchange(&d->wake, false);
        if (!stopping && deliver_unrecorded(d) >= DELIVER_RECORD_BACKLOG_MAX) {
            /* Look again shortly, once the recorder has caught up. */
            next_claim = now + DELIVER_BACKLOG_TICK_MS;
        } else if (!stopping && (woken || now >= next_claim) && now >= d->db_retry_at) {
            bool more = false;
            if (deliver_claim(d, &more) != C_OK) {
                long delay = backoff_next(&d->db_backoff);
                d->db_retry_at = now + delay;
                log_fields(LOG_WARN, json_pack("{sI}", "retry_in_ms", (json_int_t)delay),
                           "could not claim webhook deliveries, retrying: %s", d->db.last_error);
            } else {
                backoff_reset(&d->db_backoff);
                next_claim = more ? now : now + d->opt.poll_ms;
            }
        }
        bool refill = false;
        /* Freed slots take their endpoint's next held job at once, before the
         * outcomes are recorded, so recording never holds a slot. A fast
         * receiver's answer can arrive within one perform: collect again
         * until nothing finishes, or the poll below would sleep on requests
         * that are already over. */
        for (;;) {
            if (!stopping)
                deliver_start_held(d, &refill);
            int running = 0;
            curl_multi_perform(d->multi, &running);
            long finished = 0;
            deliver_collect(d, &finished);
            if (finished == 0)
                break;
        }
        if (refill)
            next_claim = now;
        deliver_hand_over(d);
        if (stopping) {
            if (d->active == NULL && deliver_unrecorded(d) == 0)
                break;
            if (clock_now_ms() >= drain_deadline) {
                deliver_abort_all(d);
                deliver_recorder_stop(d, true);
                log_info("delivery loop stopped");
                return NULL;
            }
        }
        long timeout = stopping ? DELIVER_DRAIN_TICK_MS : (long)(next_claim - clock_now_ms());
        if (timeout < 0)
            timeout = 0;
        if (timeout > d->opt.poll_ms)
            timeout = d->opt.poll_ms;
        curl_multi_poll(d->multi, NULL, 0, (int)timeout, NULL);
    }
    deliver_recorder_stop(d, false);
    log_info("delivery loop stopped");
    return NULL;
}

struct deliver *deliver_start(const struct deliver_options *opt, char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed");
        return NULL;
    }
    struct deliver *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->opt = *opt;
    static const char *const labels[] = {"outcome", NULL};
    d->outcomes = metrics_counter(
        metrics_default(), "caisse_webhook_deliveries_total",
        "Webhook attempts recorded, by what they meant for their delivery: success, retry "
        "(failed, tried again later), failed (no attempt left), gone (410: endpoint disabled); "
        "abandoned: a delivery failed without an attempt (endpoint disabled or deleted, event "
        "purged)",
        labels);
    /* Every outcome shows from the start, so a rate over them never lacks a series. */
    static const char *const outcomes[] = {"success", "retry", "failed", "gone", "abandoned"};
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        metrics_series(d->outcomes, (const char *[]){outcomes[i]});
    atomic_init(&d->wake, false);
    backoff_init(&d->db_backoff, DELIVER_DB_RETRY_MIN_MS, DELIVER_DB_RETRY_MAX_MS);
    d->multi = curl_multi_init();
    if (d->multi == NULL || db_init(&d->db, opt->database_url) != C_OK) {
        snprintf(err, errlen, "out of memory");
        if (d->multi != NULL)
            curl_multi_cleanup(d->multi);
        free(d);
        return NULL;
    }
    if (db_init(&d->rec_db, opt->database_url) != C_OK) {
        snprintf(err, errlen, "out of memory");
        db_close(&d->db);
        curl_multi_cleanup(d->multi);
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->rec_lock, NULL);
    pthread_cond_init(&d->rec_cond, NULL);
    if (pthread_create(&d->recorder, NULL, deliver_recorder_main, d) != 0) {
        snprintf(err, errlen, "cannot start the recorder thread");
        goto fail;
    }
    if (pthread_create(&d->thread, NULL, deliver_main, d) != 0) {
        snprintf(err, errlen, "cannot start the delivery thread");
        deliver_recorder_stop(d, true);
        goto fail;
    }
    return d;
fail:
    pthread_cond_destroy(&d->rec_cond);
    pthread_mutex_destroy(&d->rec_lock);
    db_close(&d->rec_db);
    db_close(&d->db);
    curl_multi_cleanup(d->multi);
    free(d);
    return NULL;
}

void deliver_wake(void *arg)
{
    struct deliver *d = arg;
    atomic_store(&d->wake, true);
    curl_multi_wakeup(d->multi);
}

void deliver_join(struct deliver *d)
{
    if (d == NULL)
        return;
    /* The loop also ends on its own once service_stopping() and drained. */
    curl_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);
    while (d->active != NULL) {
        struct deliver_transfer *t = d->active;
        d->active = t->next;
        deliver_transfer_free(t);
    }
    for (size_t b = 0; b < DELIVER_ENDPOINT_BUCKETS; b++) {
        while (d->endpoints[b] != NULL) {
            struct deliver_endpoint *e = d->endpoints[b];
            d->endpoints[b] = e->next;
            while (e->queue != NULL) {
                struct deliver_transfer *t = e->queue;
                e->queue = t->next;
                deliver_transfer_free(t);
            }
            free(e);
        }
    }
    curl_multi_cleanup(d->multi);
    pthread_cond_destroy(&d->rec_cond);
    pthread_mutex_destroy(&d->rec_lock);
    db_close(&d->rec_db);
    db_close(&d->db);
    free(d);
    curl_global_cleanup();
}
