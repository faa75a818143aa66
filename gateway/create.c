#include "create.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kafka.h"
#include "log.h"
#include "notify.h"
#include "result.h"
#include "rfc3339.h"
#include "service.h"
#include "session.h"
#include "validate.h"

#define CREATE_BUCKETS 4096

/* Lifecycle: created on the server thread, registered in the pending table,
 * resolved (status and body decided) by whichever of the Kafka poller or the
 * listener learns the outcome, removed from the table, then the connection is
 * resumed and the server thread answers and frees it with the request. */
struct create_op {
    char id[UUID_STR_LEN];
    struct http_request *req;
    struct session session;
    json_t *body; /* the session object we answer with */
    bool has_key;
    /* Guarded by create_lock while registered. */
    bool delivered, readable, resolved;
    int64_t deadline_us;
    unsigned status;
    json_t *override_body; /* idempotency race lost: the winner's object, or an error */
    bool replayed;
    struct create_op *next;
};

static struct create_config create_cfg;
static rd_kafka_t *create_producer;
static pthread_t create_poll_thread, create_listen_thread;
static atomic_bool create_threads_stop;
static atomic_bool create_kafka_up, create_listener_up;
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
static struct create_op *create_table[CREATE_BUCKETS];
static size_t create_count;

/* ---- pending table (create_lock held) ---------------------------------- */

static size_t create_bucket(const char *id)
{
    /* UUIDv7: the last characters are random. */
    size_t h = 5381;
    for (const char *p = id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % CREATE_BUCKETS;
}

static struct create_op *create_find_locked(const char *id)
{
    for (struct create_op *op = create_table[create_bucket(id)]; op != NULL; op = op->next) {
        if (strcmp(op->id, id) == 0)
            return op;
    }
    return NULL;
}

static void create_insert_locked(struct create_op *op)
{
    size_t b = create_bucket(op->id);
    op->next = create_table[b];
    create_table[b] = op;
    create_count++;
}

static void create_remove_locked(struct create_op *op)
{
    struct create_op **pp = &create_table[create_bucket(op->id)];
    while (*pp != NULL && *pp != op)
        pp = &(*pp)->next;
    if (*pp == op) {
        *pp = op->next;
        create_count--;
    }
    op->next = NULL;
}

/* Decides the answer and takes op out of the table; the caller resumes the
 * connection after dropping the lock. */
static void create_resolve_locked(struct create_op *op, unsigned status)
{
    op->status = status;
    op->resolved = true;
    create_remove_locked(op);
}

static void create_resume(struct create_op *op)
{
    MHD_resume_connection(op->req->conn);
}

/* ---- Kafka delivery reports -------------------------------------------- */

static void create_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct create_op *op = msg->_private;
    if (op == NULL)
        return;
    bool resume = false;
    pthread_mutex_lock(&create_lock);
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_fields(LOG_WARN,
                   json_pack("{ss ss}", "request_id", op->req->request_id, "session_id", op->id),
                   "create command not delivered: %s", rd_kafka_err2str(msg->err));
        /* A session the worker already applied exists whatever the report says. */
        create_resolve_locked(op, op->readable ? 201 : 503);
        resume = true;
    } else {
        op->delivered = true;
        op->deadline_us = http_now_us() + create_cfg.wait_ms * 1000;
        if (op->readable) {
            create_resolve_locked(op, 201);
            resume = true;
        }
    }
    pthread_mutex_unlock(&create_lock);
    if (resume)
        create_resume(op);
}

static void *create_poll_main(void *arg)
{
    (void)arg;
    int64_t next_check = 0;
    while (!atomic_load(&create_threads_stop)) {
        rd_kafka_poll(create_producer, 50);
        int64_t now = http_now_us();
        if (now >= next_check) {
            /* Readiness: a cheap metadata round trip every two seconds. */
            atomic_store(&create_kafka_up, kafka_is_reachable(create_producer, 1000) != 0);
            next_check = http_now_us() + 2000000;
        }
    }
    return NULL;
}

/* ---- commit notifications ---------------------------------------------- */

/* A notification for a request with an Idempotency-Key may mean the worker kept
 * another request's session for that key: answer with it, or 409 if the bodies
 * differ. The op is looked up again by id after the query, never held across
 * it: it may have been resolved and freed meanwhile. */
static void create_verify_idempotent(struct db *db, const char *id)
{
    char org[UUID_STR_LEN], env[SESSION_ENV_LEN], hash[SESSION_REQUEST_HASH_LEN];
    char *key = NULL;
    pthread_mutex_lock(&create_lock);
    struct create_op *op = create_find_locked(id);
    if (op != NULL) {
        memcpy(org, op->session.organization_id, sizeof(org));
        memcpy(env, op->session.environment, sizeof(env));
        memcpy(hash, op->session.request_hash, sizeof(hash));
        key = strdup(op->session.idempotency_key);
    }
    pthread_mutex_unlock(&create_lock);
    if (key == NULL)
        return;
    struct session winner;
    bool found = false;
    int rc = session_store_find_by_idempotency_key(db, org, env, key, &winner, &found);
    free(key);
    if (rc != C_OK || !found)
        return; /* the deadline check decides */
    json_t *override = NULL;
    unsigned status = 201;
    if (strcmp(winner.id, id) != 0) {
        if (strcmp(winner.request_hash, hash) == 0)
            override = session_to_json(&winner, create_cfg.public_base_url);
        else
            status = 409;
    }
    session_free(&winner);
    bool resume = false;
    pthread_mutex_lock(&create_lock);
    op = create_find_locked(id);
    if (op != NULL && !op->resolved) {
        op->readable = true;
        op->replayed = override != NULL;
        op->override_body = override;
        override = NULL;
        op->status = status;
        if (op->delivered || status == 409) {
            create_resolve_locked(op, status);
            resume = true;
        }
    }
    pthread_mutex_unlock(&create_lock);
    json_decref(override);
    if (resume)
        create_resume(op);
}

static void create_on_notify(struct db *db, const char *payload)
{
    char *copy = strdup(payload);
    if (copy == NULL)
        return;
    char *save = NULL;
    for (char *id = strtok_r(copy, ",", &save); id != NULL; id = strtok_r(NULL, ",", &save)) {
        bool resume = false, verify = false;
        pthread_mutex_lock(&create_lock);
        struct create_op *op = create_find_locked(id);
        if (op != NULL && op->has_key) {
            verify = true;
        } else if (op != NULL) {
            op->readable = true;
            if (op->delivered) {
                create_resolve_locked(op, 201);
                resume = true;
            }
        }
        pthread_mutex_unlock(&create_lock);
        if (verify)
            create_verify_idempotent(db, id);
        if (resume)
            create_resume(op);
    }
    free(copy);
}

/* Waits that ran out get one last look in Postgres (a NOTIFY can be missed
 * while the listener reconnects), then 201 or 202. */
static void create_expire_waits(struct db *db)
{
    char due[256][UUID_STR_LEN];
    size_t n = 0;
    int64_t now = http_now_us();
    pthread_mutex_lock(&create_lock);
    for (size_t b = 0; b < CREATE_BUCKETS && n < 256; b++) {
        for (struct create_op *op = create_table[b]; op != NULL && n < 256; op = op->next) {
            if (op->delivered && !op->resolved && op->deadline_us <= now)
                memcpy(due[n++], op->id, UUID_STR_LEN);
        }
    }
    pthread_mutex_unlock(&create_lock);
    if (n == 0)
        return;
    json_t *ids = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(ids, json_string(due[i]));
    json_t *existing = NULL;
    if (session_store_existing_ids(db, ids, &existing) != C_OK)
        existing = json_array();
    json_decref(ids);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        size_t j;
        json_t *v;
        json_array_foreach(existing, j, v)
        {
            found = found || strcmp(json_string_value(v), due[i]) == 0;
        }
        pthread_mutex_lock(&create_lock);
        struct create_op *op = create_find_locked(due[i]);
        bool resume = op != NULL && !op->resolved;
        if (resume)
            create_resolve_locked(op, found ? 201 : 202);
        pthread_mutex_unlock(&create_lock);
        if (resume)
            create_resume(op);
    }
    json_decref(existing);
}

/* Two connections: one only LISTENs, so a query that reconnects (db_exec
 * retries after a server restart) can never silently drop the LISTEN; the
 * other runs the listener's queries. */
static void *create_listen_main(void *arg)
{
    (void)arg;
    struct db listen_db, query_db;
    if (db_init(&listen_db, create_cfg.database_url) != C_OK)
        return NULL;
    if (db_init(&query_db, create_cfg.database_url) != C_OK) {
        db_close(&listen_db);
        return NULL;
    }
    bool listening = false;
    while (!atomic_load(&create_threads_stop)) {
        if (!listening || !db_is_connected(&listen_db)) {
            atomic_store(&create_listener_up, false);
            listening = notify_listen(&listen_db, NOTIFY_SESSION_APPLIED) == C_OK;
            atomic_store(&create_listener_up, listening);
            if (!listening) {
                create_expire_waits(&query_db);
                service_sleep_ms(200);
                continue;
            }
        }
        struct pollfd pfd = {.fd = PQsocket(listen_db.conn), .events = POLLIN};
        if (poll(&pfd, 1, 20) > 0 && PQconsumeInput(listen_db.conn) == 0) {
            log_warn("notification listener lost Postgres: %s", PQerrorMessage(listen_db.conn));
            db_disconnect(&listen_db);
            listening = false;
            continue;
        }
        PGnotify *n;
        while ((n = PQnotifies(listen_db.conn)) != NULL) {
            create_on_notify(&query_db, n->extra);
            PQfreemem(n);
        }
        create_expire_waits(&query_db);
    }
    db_close(&listen_db);
    db_close(&query_db);
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------- */

int create_init(const struct create_config *cfg)
{
    create_cfg = *cfg;
    char err[512];
    struct kafka_producer_options po = {
        .brokers = cfg->kafka_brokers,
        .message_timeout_ms = cfg->kafka_timeout_ms,
        .linger_ms = 1,
        .on_delivery = create_on_delivery,
    };
    create_producer = kafka_producer_new(&po, err, sizeof(err));
    if (create_producer == NULL) {
        log_error("cannot create Kafka producer: %s", err);
        return C_ERR;
    }
    atomic_store(&create_threads_stop, false);
    if (pthread_create(&create_poll_thread, NULL, create_poll_main, NULL) != 0) {
        rd_kafka_destroy(create_producer);
        return C_ERR;
    }
    if (pthread_create(&create_listen_thread, NULL, create_listen_main, NULL) != 0) {
        atomic_store(&create_threads_stop, true);
        pthread_join(create_poll_thread, NULL);
        rd_kafka_destroy(create_producer);
        return C_ERR;
    }
    return C_OK;
}

void create_shutdown(int64_t deadline_us)
{
    /* Every in-flight create resolves by itself within the Kafka timeout plus
     * the wait; give them that long, within the grace period. */
    while (create_in_flight() > 0 && http_now_us() < deadline_us) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_store(&create_threads_stop, true);
    pthread_join(create_listen_thread, NULL);
    pthread_join(create_poll_thread, NULL);
    rd_kafka_flush(create_producer, 5000);
    rd_kafka_destroy(create_producer);
}

bool create_kafka_ready(void)
{
    return atomic_load(&create_kafka_up);
}

bool create_listener_ready(void)
{
    return atomic_load(&create_listener_up);
}

size_t create_in_flight(void)
{
    pthread_mutex_lock(&create_lock);
    size_t n = create_count;
    pthread_mutex_unlock(&create_lock);
    return n;
}

void create_op_free(struct create_op *op)
{
    if (op == NULL)
        return;
    session_free(&op->session);
    json_decref(op->body);
    json_decref(op->override_body);
    free(op);
}

/* ---- request handling -------------------------------------------------- */

static bool create_is_json(const char *content_type)
{
    if (content_type == NULL)
        return false;
    size_t n = strlen("application/json");
    if (strncasecmp(content_type, "application/json", n) != 0)
        return false;
    char next = content_type[n];
    return next == '\0' || next == ';' || next == ' ';
}

static void create_request_hash(const json_t *body, char out[SESSION_REQUEST_HASH_LEN])
{
    /* Canonical form: the same JSON with other spacing or key order is the
     * same request. */
    char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    tenant_sha256_hex(canonical != NULL ? canonical : "", out);
    free(canonical);
}

static enum MHD_Result create_answer_existing(struct http_request *req, struct session *existing,
                                              const char *request_hash)
{
    if (strcmp(existing->request_hash, request_hash) != 0)
        return http_respond_error(req, 409, "idempotency_conflict", "Idempotency-Key",
                                  "Idempotency-Key was reused with a different request payload");
    char location[96];
    snprintf(location, sizeof(location), "/checkout-sessions/%s", existing->id);
    const char *headers[] = {"Idempotent-Replayed", "true", "Location", location, NULL};
    return http_respond_json(req, 201, session_to_json(existing, create_cfg.public_base_url),
                             headers);
}

enum MHD_Result create_handle(struct http_request *req, struct db *db)
{
    if (req->body_too_large)
        return http_respond_error(req, 413, "payload_too_large", NULL,
                                  "Request body must not exceed %d bytes", HTTP_MAX_BODY);
    if (!create_is_json(http_header(req, "Content-Type")))
        return http_respond_error(req, 415, "unsupported_media_type", NULL,
                                  "Content-Type must be application/json");
    json_error_t jerr;
    json_t *body = json_loadb(req->body != NULL ? req->body : "", req->body_len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL)
        return http_respond_error(req, 400, "validation_error", NULL,
                                  "Request body must be valid JSON (line %d, column %d)", jerr.line,
                                  jerr.column);
    const char *key = http_header(req, "Idempotency-Key");
    if (key != NULL && (key[0] == '\0' || strlen(key) > 255)) {
        json_decref(body);
        return http_respond_error(req, 400, "validation_error", "Idempotency-Key",
                                  "Idempotency-Key must be 1 to 255 characters");
    }

    struct create_op *op = calloc(1, sizeof(*op));
    if (op == NULL || session_init(&op->session) != C_OK) {
        free(op);
        json_decref(body);
        return http_respond_unavailable(req);
    }
    struct session *s = &op->session;
    int64_t now = rfc3339_now();
    struct validate_create_options vo = {
        .default_currency = req->identity.default_currency,
        .now = now,
        .default_ttl_seconds = create_cfg.default_ttl_seconds,
        .min_ttl_seconds = create_cfg.min_ttl_seconds,
        .max_ttl_seconds = create_cfg.max_ttl_seconds,
    };
    struct validate_error verr;
    if (validate_create_request(body, &vo, s, &verr) != C_OK) {
        json_decref(body);
        create_op_free(op);
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    }
    create_request_hash(body, s->request_hash);
    json_decref(body);

    if (key != NULL) {
        struct session existing;
        bool found = false;
        if (session_store_find_by_idempotency_key(db, req->identity.organization_id,
                                                  req->identity.environment, key, &existing,
                                                  &found) != C_OK) {
            create_op_free(op);
            return http_respond_unavailable(req);
        }
        if (found) {
            enum MHD_Result rc = create_answer_existing(req, &existing, s->request_hash);
            session_free(&existing);
            create_op_free(op);
            return rc;
        }
        s->idempotency_key = strdup(key);
        op->has_key = true;
    }

    char command_id[UUID_STR_LEN];
    if (uuid_v7_string(s->id) != C_OK || uuid_v7_string(command_id) != C_OK ||
        (key != NULL && s->idempotency_key == NULL)) {
        create_op_free(op);
        return http_respond_unavailable(req);
    }
    memcpy(op->id, s->id, UUID_STR_LEN);
    memcpy(s->organization_id, req->identity.organization_id, UUID_STR_LEN);
    memcpy(s->environment, req->identity.environment, sizeof(s->environment));
    memcpy(s->created_by, req->identity.key_id, UUID_STR_LEN);
    s->status = SESSION_OPEN;
    s->created_at = s->updated_at = now;
    op->body = session_to_json(s, create_cfg.public_base_url);
    json_t *command = session_command_create(s, create_cfg.public_base_url, command_id);
    char *text = command != NULL ? json_dumps(command, JSON_COMPACT) : NULL;
    json_decref(command);
    if (op->body == NULL || text == NULL) {
        free(text);
        create_op_free(op);
        return http_respond_unavailable(req);
    }

    /* Register and suspend before producing: the delivery report may arrive on
     * another thread before this function returns. */
    op->req = req;
    req->create = op;
    pthread_mutex_lock(&create_lock);
    create_insert_locked(op);
    pthread_mutex_unlock(&create_lock);
    MHD_suspend_connection(req->conn);
    rd_kafka_resp_err_t err = kafka_produce(create_producer, KAFKA_TOPIC_COMMANDS, op->id, text,
                                            strlen(text), "application/cloudevents+json", op);
    free(text);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_fields(LOG_WARN, json_pack("{ss}", "request_id", req->request_id),
                   "cannot enqueue create command: %s", rd_kafka_err2str(err));
        pthread_mutex_lock(&create_lock);
        create_resolve_locked(op, 503);
        pthread_mutex_unlock(&create_lock);
        MHD_resume_connection(req->conn);
    }
    return MHD_YES;
}

enum MHD_Result create_finish(struct http_request *req)
{
    struct create_op *op = req->create;
    if (op->status == 503)
        return http_respond_unavailable(req);
    if (op->status == 409)
        return http_respond_error(req, 409, "idempotency_conflict", "Idempotency-Key",
                                  "Idempotency-Key was reused with a different request payload");
    json_t *answer = op->override_body != NULL ? op->override_body : op->body;
    const char *id = json_string_value(json_object_get(answer, "checkout_session_id"));
    char location[96];
    snprintf(location, sizeof(location), "/checkout-sessions/%s", id != NULL ? id : op->id);
    const char *headers[] = {"Location", location, op->replayed ? "Idempotent-Replayed" : NULL,
                             "true", NULL};
    return http_respond_json(req, op->status, json_incref(answer), headers);
}
