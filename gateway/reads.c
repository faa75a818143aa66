#include "reads.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/result.h"
#include "core/utf8.h"
#include "model/payment_attempt.h"
#include "model/session.h"
#include "read_batch.h"
#include "validate.h"

/* The attempts GET of a session shows, oldest first: a page allows one at a
 * time, so a session rarely has more than a few. */
#define READS_MAX_ATTEMPTS 100
/* Most GETs one statement reads (one index probe each): bounds a batch's
 * arrays and how long its first GET waits for its last row. */
#define READS_BATCH_MAX 128

static const char *reads_base_url;
static struct reads_config reads_cfg;
static struct read_batch reads_batch;
/* Read by every server thread; read_batch_submit refuses once the intake is
 * closed, so one that still saw it true falls back on its own connection. */
static atomic_bool reads_batching;
static struct metrics_series *reads_batch_sizes;

static const char *const reads_list_params[] = {"status", "limit", "offset", "starting_after"};

/* A GET waiting for its batch: owned by its request (resume_ctx). */
struct reads_pending {
    struct read_batch_item item;
    struct http_request *req;
    char organization_id[UUID_STR_LEN];
    char environment[8];
    char id[UUID_STR_LEN];
    const char *raw_id; /* as asked, for the 404's message (the request's) */
    bool taken;         /* by a batch: the fields below are its answer */
    bool unavailable;
    bool found;
    struct session session; /* when found */
};

static struct reads_pending *reads_pending_of(struct read_batch_item *it)
{
    return (struct reads_pending *)(void *)((char *)it - offsetof(struct reads_pending, item));
}

static void reads_pending_free(void *ctx)
{
    struct reads_pending *p = ctx;
    if (p != NULL && p->found)
        session_free(&p->session);
    free(p);
}

/* A batch thread's connection and its arrays, sized for READS_BATCH_MAX. */
struct reads_batch_thread {
    struct db db;
    struct session_key keys[READS_BATCH_MAX];
    struct session out[READS_BATCH_MAX];
    bool found[READS_BATCH_MAX];
};

static void *reads_batch_thread_start(void *cls)
{
    (void)cls;
    struct reads_batch_thread *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    if (db_init(&t->db, reads_cfg.database_url) != C_OK) {
        free(t);
        return NULL;
    }
    db_set_statement_timeout(&t->db, reads_cfg.statement_timeout_ms);
    return t;
}

static void reads_batch_thread_stop(void *cls, void *conn)
{
    (void)cls;
    struct reads_batch_thread *t = conn;
    if (t == NULL)
        return;
    db_close(&t->db);
    free(t);
}

static void reads_batch_run(void *cls, void *conn, struct read_batch_item **items, size_t n)
{
    (void)cls;
    struct reads_batch_thread *t = conn;
    for (size_t i = 0; i < n; i++) {
        struct reads_pending *p = reads_pending_of(items[i]);
        if (t != NULL)
            t->keys[i] = (struct session_key){p->organization_id, p->environment, p->id};
    }
    bool ok = t != NULL && session_store_get_many(&t->db, t->keys, n, t->out, t->found) == C_OK;
    if (reads_batch_sizes != NULL)
        metrics_histogram_observe(reads_batch_sizes, (double)n);
    for (size_t i = 0; i < n; i++) {
        struct reads_pending *p = reads_pending_of(items[i]);
        p->taken = true;
        p->unavailable = !ok;
        p->found = ok && t->found[i];
        if (p->found)
            p->session = t->out[i];
        /* The request is its server thread's again from here: p too. */
        MHD_resume_connection(p->req->conn);
    }
}

int reads_init(const struct reads_config *cfg)
{
    reads_cfg = *cfg;
    reads_base_url = cfg->public_base_url;
    atomic_store(&reads_batching, false);
    if (cfg->connections <= 0)
        return C_OK;
    static const double bounds[] = {1, 2, 4, 8, 16, 32, 64, 128};
    reads_batch_sizes = metrics_series(
        metrics_histogram(metrics_default(), "caisse_gateway_read_batch_size",
                          "GETs of a checkout session read by one statement (coalesced reads)",
                          NULL, bounds, sizeof(bounds) / sizeof(bounds[0])),
        NULL);
    struct read_batch_hooks hooks = {
        .thread_start = reads_batch_thread_start,
        .thread_stop = reads_batch_thread_stop,
        .run = reads_batch_run,
    };
    if (read_batch_start(&reads_batch, &hooks, (size_t)cfg->connections, READS_BATCH_MAX) != C_OK)
        return C_ERR;
    atomic_store(&reads_batching, true);
    return C_OK;
}

void reads_shutdown(void)
{
    if (!atomic_exchange(&reads_batching, false))
        return;
    read_batch_shutdown(&reads_batch);
}

/* Written as text directly: the jansson tree and its dump were an eighth of
 * a GET's time in the gateway. */
static enum MHD_Result reads_answer_session(struct http_request *req, struct session *s)
{
    char *text = session_to_json_text(s, reads_base_url);
    session_free(s);
    return http_respond_json_text(req, 200, text, NULL);
}

static enum MHD_Result reads_not_found(struct http_request *req, const char *id)
{
    return http_respond_error(req, 404, "not_found", "id",
                              "Checkout session with ID %s not found or access denied", id);
}

/* The server thread's step once its batch answered, or at once when the
 * intake was closed (not taken: read here, on db). */
static enum MHD_Result reads_get_resumed(struct http_request *req, struct db *db)
{
    struct reads_pending *p = req->resume_ctx;
    if (!p->taken) {
        if (session_store_get(db, p->organization_id, p->environment, p->id, &p->session,
                              &p->found) != C_OK)
            return http_respond_unavailable(req);
    } else if (p->unavailable) {
        return http_respond_unavailable(req);
    }
    if (!p->found)
        return reads_not_found(req, p->raw_id);
    p->found = false; /* the session is the answer's now */
    return reads_answer_session(req, &p->session);
}

/* Suspends req until a batch has read its session. */
static enum MHD_Result reads_get_coalesced(struct http_request *req, const char *canonical)
{
    struct reads_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return http_respond_unavailable(req);
    p->req = req;
    snprintf(p->organization_id, sizeof(p->organization_id), "%s", req->identity.organization_id);
    snprintf(p->environment, sizeof(p->environment), "%s", req->identity.environment);
    snprintf(p->id, sizeof(p->id), "%s", canonical);
    p->raw_id = req->route.params[0];
    req->resume = reads_get_resumed;
    req->resume_ctx = p;
    req->resume_ctx_free = reads_pending_free;
    /* Suspended before it is queued: a batch may answer it at once. */
    MHD_suspend_connection(req->conn);
    if (read_batch_submit(&reads_batch, &p->item) != C_OK)
        MHD_resume_connection(req->conn); /* closed: reads_get_resumed reads it */
    return MHD_YES;
}

enum MHD_Result reads_get(struct http_request *req, struct db *db)
{
    const char *id = req->route.params[0];
    struct uuid u;
    if (uuid_parse(id, &u) != C_OK)
        return http_respond_error(req, 400, "validation_error", "id",
                                  "Checkout session id must be a UUID");
    char canonical[UUID_STR_LEN];
    uuid_format(&u, canonical);
    /* The hosted page's payment attempts, when asked: the session object
     * itself stays the same everywhere (create, GET, events, webhooks). */
    const char *expand = http_query(req, "expand");
    if (expand != NULL && strcmp(expand, "payment_attempts") != 0)
        return http_respond_error(req, 400, "validation_error", "expand",
                                  "expand must be payment_attempts");
    /* A GET alone reads here, without a hand-off to a read thread and back;
     * one that overlaps others joins the next batch. */
    bool alone = false;
    if (expand == NULL && atomic_load(&reads_batching)) {
        if (!read_batch_try_alone(&reads_batch))
            return reads_get_coalesced(req, canonical);
        alone = true;
    }
    struct session s;
    bool found = false;
    int rc = session_store_get(db, req->identity.organization_id, req->identity.environment,
                               canonical, &s, &found);
    if (alone)
        read_batch_alone_done(&reads_batch);
    if (rc != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return reads_not_found(req, id);
    if (expand == NULL)
        return reads_answer_session(req, &s);
    json_t *body = session_to_json(&s, reads_base_url);
    session_free(&s);
    struct payment_attempt *attempts = NULL;
    size_t n = 0;
    if (body == NULL ||
        payment_attempt_list(db, canonical, READS_MAX_ATTEMPTS, &attempts, &n) != C_OK) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, payment_attempt_to_json(&attempts[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    payment_attempt_array_free(attempts, n);
    if (list == NULL || json_object_set_new(body, "payment_attempts", list) != 0) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    return http_respond_json(req, 200, body, NULL);
}

struct reads_unknown {
    char name[64];
    bool found;
};

static enum MHD_Result reads_find_unknown(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    (void)kind;
    (void)value;
    struct reads_unknown *u = cls;
    for (size_t i = 0; i < sizeof(reads_list_params) / sizeof(*reads_list_params); i++) {
        if (strcmp(key, reads_list_params[i]) == 0)
            return MHD_YES;
    }
    /* Valid UTF-8 (http_request_new refused the rest): cut between characters. */
    utf8_truncate(key, u->name, sizeof(u->name));
    u->found = true;
    return MHD_NO;
}

enum MHD_Result reads_list(struct http_request *req, struct db *db)
{
    struct reads_unknown unknown = {.found = false};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, reads_find_unknown, &unknown);
    if (unknown.found)
        return http_respond_error(req, 400, "validation_error", unknown.name,
                                  "Unknown query parameter: %s", unknown.name);
    struct session_list_query q;
    struct error verr;
    if (validate_list_query(http_query(req, "status"), http_query(req, "limit"),
                            http_query(req, "offset"), http_query(req, "starting_after"), &q,
                            &verr) != C_OK)
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    struct session *rows = NULL;
    size_t count = 0;
    bool cursor_found = true;
    if (session_store_list(db, req->identity.organization_id, req->identity.environment, &q, &rows,
                           &count, &cursor_found) != C_OK)
        return http_respond_unavailable(req);
    if (!cursor_found)
        return http_respond_error(req, 400, "validation_error", "starting_after",
                                  "starting_after must be the id of one of your checkout sessions");
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < count; i++) {
        json_t *o = session_to_json(&rows[i], reads_base_url);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    session_array_free(rows, count);
    if (arr == NULL)
        return http_respond_unavailable(req);
    return http_respond_json(req, 200, arr, NULL);
}
