#include "pipeline.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infra/kafka.h"
#include "core/clock.h"
#include "core/log.h"
#include "infra/notify.h"
#include "core/result.h"
#include "infra/service.h"

#define PIPELINE_BUCKETS 4096

static struct pipeline_config pipeline_cfg;
static rd_kafka_t *pipeline_producer;
static pthread_t pipeline_poll_thread, pipeline_listen_thread;
static atomic_bool pipeline_stop;
static atomic_bool pipeline_kafka_up, pipeline_listener_up;
static pthread_mutex_t pipeline_lock = PTHREAD_MUTEX_INITIALIZER;
/* Several ops may wait on one session (a completion and a retry of it). */
static struct pipeline_op *pipeline_table[PIPELINE_BUCKETS];
static size_t pipeline_count;

/* ---- ops ---------------------------------------------------------------- */

struct pipeline_op *pipeline_op_new(const char *session_id, pipeline_decide_fn decide)
{
    struct pipeline_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    snprintf(op->session_id, sizeof(op->session_id), "%s", session_id);
    op->decide = decide;
    return op;
}

void pipeline_op_free(struct pipeline_op *op)
{
    if (op == NULL)
        return;
    if (op->ctx_free != NULL)
        op->ctx_free(op->ctx);
    json_decref(op->body);
    free(op);
}

void pipeline_op_set_body(struct pipeline_op *op, json_t *body)
{
    json_decref(op->body);
    op->body = body;
}

void pipeline_op_set_error(struct pipeline_op *op, const char *code, const char *param,
                           const char *fmt, ...)
{
    snprintf(op->error_code, sizeof(op->error_code), "%s", code);
    snprintf(op->error_param, sizeof(op->error_param), "%s", param != NULL ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->error_message, sizeof(op->error_message), fmt, ap);
    va_end(ap);
}

/* ---- the table (pipeline_lock held) -------------------------------------- */

static size_t pipeline_bucket(const char *id)
{
    size_t h = 5381;
    for (const char *p = id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % PIPELINE_BUCKETS;
}

static void pipeline_insert_locked(struct pipeline_op *op)
{
    size_t b = pipeline_bucket(op->session_id);
    op->next = pipeline_table[b];
    pipeline_table[b] = op;
    pipeline_count++;
}

static void pipeline_remove_locked(struct pipeline_op *op)
{
    struct pipeline_op **pp = &pipeline_table[pipeline_bucket(op->session_id)];
    while (*pp != NULL && *pp != op)
        pp = &(*pp)->next;
    if (*pp == op) {
        *pp = op->next;
        pipeline_count--;
    }
    op->next = NULL;
}

/* Decides the answer and takes op out of the table; the caller resumes the
 * connection after dropping the lock. */
static void pipeline_resolve_locked(struct pipeline_op *op, unsigned status)
{
    op->status = status;
    op->resolved = true;
    pipeline_remove_locked(op);
}

static void pipeline_resume(struct pipeline_op *op)
{
    MHD_resume_connection(op->req->conn);
}

/* ---- Kafka ----------------------------------------------------------------- */

static void pipeline_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct pipeline_op *op = msg->_private;
    if (op == NULL)
        return;
    bool resume = false;
    pthread_mutex_lock(&pipeline_lock);
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_fields(
            LOG_WARN,
            json_pack("{ss ss}", "request_id", op->req->request_id, "session_id", op->session_id),
            "command not delivered to Kafka: %s", rd_kafka_err2str(msg->err));
        if (op->deciding) {
            op->delivery_failed = true; /* the listener resolves it when done */
        } else {
            /* A command the worker already applied counts, whatever the report says. */
            if (op->decided_status == 0)
                pipeline_op_set_error(op, "service_unavailable", NULL,
                                      "Service temporarily unavailable, please retry");
            pipeline_resolve_locked(op, op->decided_status != 0 ? op->decided_status : 503);
            resume = true;
        }
    } else {
        op->delivered = true;
        op->deadline_us = clock_now_us() + pipeline_cfg.wait_ms * 1000;
        if (op->decided_status != 0) {
            pipeline_resolve_locked(op, op->decided_status);
            resume = true;
        }
    }
    pthread_mutex_unlock(&pipeline_lock);
    if (resume)
        pipeline_resume(op);
}

static void *pipeline_poll_main(void *arg)
{
    (void)arg;
    int64_t next_check = 0;
    while (!atomic_load(&pipeline_stop)) {
        rd_kafka_poll(pipeline_producer, 50);
        if (clock_now_us() >= next_check) {
            /* Readiness: a cheap metadata round trip every two seconds. */
            atomic_store(&pipeline_kafka_up, kafka_is_reachable(pipeline_producer, 1000) != 0);
            next_check = clock_now_us() + 2000000;
        }
    }
    return NULL;
}

/* ---- decisions -------------------------------------------------------------- */

/* Runs op's decide function outside the lock. The op cannot be freed
 * meanwhile: only this thread resolves an op marked deciding. */
static void pipeline_decide(struct db *db, struct pipeline_op *op, enum pipeline_reason why)
{
    bool deadline = why == PIPELINE_DEADLINE;
    unsigned status = op->decide(op, db, why);
    if (deadline && status == 0)
        status = 202;
    bool resume = false;
    pthread_mutex_lock(&pipeline_lock);
    op->deciding = false;
    /* Never before the delivery report: it still refers to the op. */
    if (status != 0 && (op->delivered || op->delivery_failed)) {
        pipeline_resolve_locked(op, status);
        resume = true;
    } else if (status != 0) {
        op->decided_status = status; /* answered when the delivery report comes */
    } else if (op->delivery_failed) {
        pipeline_op_set_error(op, "service_unavailable", NULL,
                              "Service temporarily unavailable, please retry");
        pipeline_resolve_locked(op, 503);
        resume = true;
    }
    pthread_mutex_unlock(&pipeline_lock);
    if (resume)
        pipeline_resume(op);
}

/* Marks every undecided op of the session as deciding and returns them. */
static size_t pipeline_claim(const char *session_id, bool deadline_only, int64_t now,
                             struct pipeline_op **out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&pipeline_lock);
    /* A session's ops are all in its bucket; only the deadline scan walks
     * them all. */
    size_t first = session_id != NULL ? pipeline_bucket(session_id) : 0;
    size_t last = session_id != NULL ? first + 1 : PIPELINE_BUCKETS;
    for (size_t b = first; b < last && n < max; b++) {
        for (struct pipeline_op *op = pipeline_table[b]; op != NULL && n < max; op = op->next) {
            if (op->resolved || op->deciding || op->decided_status != 0)
                continue;
            if (session_id != NULL && strcmp(op->session_id, session_id) != 0)
                continue;
            if (deadline_only && !(op->delivered && op->deadline_us <= now))
                continue;
            op->deciding = true;
            out[n++] = op;
        }
    }
    pthread_mutex_unlock(&pipeline_lock);
    return n;
}

/* An inserted session whose id other requests share (op->command_id) was
 * inserted by this op's command only if the notification names it. */
static enum pipeline_reason pipeline_reason_for(const struct pipeline_op *op,
                                                enum pipeline_reason why, const char *inserted_by)
{
    if (why != PIPELINE_INSERTED || op->command_id[0] == '\0')
        return why;
    bool ours = inserted_by != NULL && strcmp(inserted_by, op->command_id) == 0;
    return ours ? PIPELINE_INSERTED : PIPELINE_APPLIED;
}

static void pipeline_on_notify(struct db *db, const char *payload)
{
    char *copy = strdup(payload);
    if (copy == NULL)
        return;
    char *save = NULL;
    for (char *id = strtok_r(copy, ",", &save); id != NULL; id = strtok_r(NULL, ",", &save)) {
        enum pipeline_reason why = PIPELINE_APPLIED;
        const char *inserted_by = NULL;
        if (id[0] == NOTIFY_INSERTED_MARK) {
            why = PIPELINE_INSERTED;
            id++;
            char *sep = strchr(id, NOTIFY_COMMAND_SEPARATOR);
            if (sep != NULL) {
                *sep = '\0';
                inserted_by = sep + 1;
            }
        }
        struct pipeline_op *ops[64];
        size_t n = pipeline_claim(id, false, 0, ops, 64);
        for (size_t i = 0; i < n; i++)
            pipeline_decide(db, ops[i], pipeline_reason_for(ops[i], why, inserted_by));
    }
    free(copy);
}

/* Waits that ran out get one last look in PostgreSQL (a notification can be
 * missed while the listener reconnects). The scan walks the whole table
 * under the lock: at most every PIPELINE_EXPIRE_SCAN_US, not after every
 * notification (profile: a quarter of the gateway's CPU under load), which
 * delays a 202 by that much at most. */
#define PIPELINE_EXPIRE_SCAN_US 50000
static void pipeline_expire_waits(struct db *db)
{
    static int64_t next_scan_us;
    int64_t now = clock_now_us();
    if (now < next_scan_us)
        return;
    next_scan_us = now + PIPELINE_EXPIRE_SCAN_US;
    struct pipeline_op *ops[256];
    size_t n = pipeline_claim(NULL, true, now, ops, 256);
    for (size_t i = 0; i < n; i++)
        pipeline_decide(db, ops[i], PIPELINE_DEADLINE);
}

/* Two connections: one only LISTENs, so a query that reconnects (db_exec
 * retries after a server restart) can never silently drop the LISTEN; the
 * other runs the decisions' queries. */
static void *pipeline_listen_main(void *arg)
{
    (void)arg;
    struct db listen_db, query_db;
    if (db_init(&listen_db, pipeline_cfg.database_url) != C_OK)
        return NULL;
    if (db_init(&query_db, pipeline_cfg.database_url) != C_OK) {
        db_close(&listen_db);
        return NULL;
    }
    db_set_statement_timeout(&query_db, pipeline_cfg.statement_timeout_ms);
    bool listening = false;
    while (!atomic_load(&pipeline_stop)) {
        if (!listening || !db_is_connected(&listen_db)) {
            atomic_store(&pipeline_listener_up, false);
            listening = notify_listen(&listen_db, NOTIFY_SESSION_APPLIED) == C_OK;
            atomic_store(&pipeline_listener_up, listening);
            if (!listening) {
                pipeline_expire_waits(&query_db);
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
            pipeline_on_notify(&query_db, n->extra);
            PQfreemem(n);
        }
        pipeline_expire_waits(&query_db);
    }
    db_close(&listen_db);
    db_close(&query_db);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------- */

int pipeline_init(const struct pipeline_config *cfg)
{
    pipeline_cfg = *cfg;
    char err[512];
    struct kafka_producer_options po = {
        .brokers = cfg->kafka_brokers,
        .message_timeout_ms = cfg->kafka_timeout_ms,
        .linger_ms = 1,
        .on_delivery = pipeline_on_delivery,
    };
    pipeline_producer = kafka_producer_new(&po, err, sizeof(err));
    if (pipeline_producer == NULL) {
        log_error("cannot create Kafka producer: %s", err);
        return C_ERR;
    }
    atomic_store(&pipeline_stop, false);
    if (pthread_create(&pipeline_poll_thread, NULL, pipeline_poll_main, NULL) != 0) {
        kafka_producer_destroy(pipeline_producer);
        return C_ERR;
    }
    if (pthread_create(&pipeline_listen_thread, NULL, pipeline_listen_main, NULL) != 0) {
        atomic_store(&pipeline_stop, true);
        pthread_join(pipeline_poll_thread, NULL);
        kafka_producer_destroy(pipeline_producer);
        return C_ERR;
    }
    return C_OK;
}

void pipeline_shutdown(int64_t deadline_us)
{
    /* Every op resolves by itself within the Kafka timeout plus the wait;
     * give them that long, within the grace period. */
    while (pipeline_in_flight() > 0 && clock_now_us() < deadline_us) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_store(&pipeline_stop, true);
    pthread_join(pipeline_listen_thread, NULL);
    pthread_join(pipeline_poll_thread, NULL);
    rd_kafka_flush(pipeline_producer, 5000);
    kafka_producer_destroy(pipeline_producer);
}

bool pipeline_kafka_ready(void)
{
    return atomic_load(&pipeline_kafka_up);
}

bool pipeline_listener_ready(void)
{
    return atomic_load(&pipeline_listener_up);
}

size_t pipeline_in_flight(void)
{
    pthread_mutex_lock(&pipeline_lock);
    size_t n = pipeline_count;
    pthread_mutex_unlock(&pipeline_lock);
    return n;
}

/* ---- requests --------------------------------------------------------------- */

enum MHD_Result pipeline_submit(struct http_request *req, struct pipeline_op *op,
                                const json_t *command)
{
    op->req = req;
    req->op = op;
    char *text = json_dumps(command, JSON_COMPACT);
    /* Register and suspend before producing: the delivery report may arrive on
     * another thread before this function returns. */
    pthread_mutex_lock(&pipeline_lock);
    pipeline_insert_locked(op);
    pthread_mutex_unlock(&pipeline_lock);
    MHD_suspend_connection(req->conn);
    rd_kafka_resp_err_t err =
        text == NULL ? RD_KAFKA_RESP_ERR__FAIL
                     : kafka_produce(pipeline_producer, KAFKA_TOPIC_COMMANDS, op->session_id, text,
                                     strlen(text), "application/cloudevents+json", op);
    free(text);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_fields(LOG_WARN, json_pack("{ss}", "request_id", req->request_id),
                   "cannot enqueue command: %s", rd_kafka_err2str(err));
        pthread_mutex_lock(&pipeline_lock);
        pipeline_op_set_error(op, "service_unavailable", NULL,
                              "Service temporarily unavailable, please retry");
        pipeline_resolve_locked(op, 503);
        pthread_mutex_unlock(&pipeline_lock);
        MHD_resume_connection(req->conn);
    }
    return MHD_YES;
}

enum MHD_Result pipeline_answer(struct http_request *req)
{
    struct pipeline_op *op = req->op;
    if (op->status >= 400)
        return http_respond_error(req, op->status, op->error_code,
                                  op->error_param[0] != '\0' ? op->error_param : NULL, "%s",
                                  op->error_message);
    /* Accepted, but the wait ran out and PostgreSQL could not be read to
     * show the session: no 2xx without its body. The command is applied in
     * time; a retry (idempotent) learns the outcome. */
    if (op->body == NULL)
        return http_respond_error(req, 503, "service_unavailable", NULL,
                                  "Service temporarily unavailable, please retry");
    const char *id = json_string_value(json_object_get(op->body, "checkout_session_id"));
    char location[96];
    snprintf(location, sizeof(location), "/checkout-sessions/%s", id != NULL ? id : op->session_id);
    const char *headers[] = {"Location", location, op->replayed ? "Idempotent-Replayed" : NULL,
                             "true", NULL};
    return http_respond_json(req, op->status, json_incref(op->body), headers);
}
