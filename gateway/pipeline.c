#include "pipeline.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
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
#include "model/command_mac.h"

static struct pipeline_config pipeline_cfg;
static rd_kafka_t *pipeline_producer;
static pthread_t pipeline_poll_thread, pipeline_listen_thread;
static atomic_bool pipeline_stop;
/* Closed once the drain stops taking commands: a request that arrives on a
 * kept-alive connection after that answers 503 instead of producing through
 * a producer about to be destroyed. Submits hold it for reading. */
static pthread_rwlock_t pipeline_intake = PTHREAD_RWLOCK_INITIALIZER;
static bool pipeline_closed;
static atomic_bool pipeline_kafka_up, pipeline_listener_up;
static struct inflight pipeline_inflight;

/* ---- ops ---------------------------------------------------------------- */

struct pipeline_op *pipeline_op_new(const char *object_id, pipeline_decide_fn decide)
{
    struct pipeline_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    snprintf(op->object_id, sizeof(op->object_id), "%s", object_id);
    op->decide = decide;
    op->location_path = "/checkout-sessions";
    op->location_member = "checkout_session_id";
    return op;
}

void pipeline_op_free(struct pipeline_op *op)
{
    if (op == NULL)
        return;
    if (op->ctx_free != NULL)
        op->ctx_free(op->ctx);
    json_decref(op->body);
    free(op->body_text);
    free(op->redirect);
    free(op);
}

void pipeline_op_set_body(struct pipeline_op *op, json_t *body)
{
    pipeline_op_set_body_text(op, body, NULL);
}

void pipeline_op_set_body_text(struct pipeline_op *op, json_t *body, char *text)
{
    json_decref(op->body);
    op->body = body;
    free(op->body_text);
    op->body_text = text;
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

int pipeline_op_set_redirect(struct pipeline_op *op, const char *location)
{
    char *copy = strdup(location);
    if (copy == NULL)
        return C_ERR;
    free(op->redirect);
    op->redirect = copy;
    return C_OK;
}

/* ---- the state machine's hooks --------------------------------------------- */

static struct pipeline_op *pipeline_op_of(struct inflight_command *c)
{
    return (struct pipeline_op *)(void *)((char *)c - offsetof(struct pipeline_op, command));
}

/* Runs on the listener thread; ctx is its query connection. */
static unsigned pipeline_decide(struct inflight_command *c, enum inflight_reason why, void *ctx)
{
    struct pipeline_op *op = pipeline_op_of(c);
    return op->decide(op, ctx, (enum pipeline_reason)why);
}

static void pipeline_resume(struct inflight_command *c)
{
    struct pipeline_op *op = pipeline_op_of(c);
    op->status = c->status;
    if (c->unavailable)
        pipeline_op_set_error(op, "service_unavailable", NULL,
                              "Service temporarily unavailable, please retry");
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
    bool ok = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    /* The op is not answered before its report: reading it is safe. */
    if (!ok)
        log_fields(
            LOG_WARN,
            json_pack("{ss ss}", "request_id", op->req->request_id, "subject_id", op->object_id),
            "command not delivered to Kafka: %s", rd_kafka_err2str(msg->err));
    inflight_delivered(&pipeline_inflight, &op->command, ok, clock_now_us());
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
                inflight_expire(&pipeline_inflight, clock_now_us(), &query_db);
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
            inflight_notified(&pipeline_inflight, n->extra, NOTIFY_INSERTED_MARK,
                              NOTIFY_COMMAND_SEPARATOR, &query_db);
            PQfreemem(n);
        }
        /* Waits that ran out get one last look in PostgreSQL: a notification
         * can be missed while the listener reconnects. */
        inflight_expire(&pipeline_inflight, clock_now_us(), &query_db);
    }
    db_close(&listen_db);
    db_close(&query_db);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------- */

int pipeline_init(const struct pipeline_config *cfg)
{
    pipeline_cfg = *cfg;
    struct inflight_hooks hooks = {.decide = pipeline_decide, .resume = pipeline_resume};
    inflight_init(&pipeline_inflight, &hooks, cfg->wait_ms * 1000);
    struct error err = ERROR_INIT;
    struct kafka_producer_options po = {
        .brokers = cfg->kafka_brokers,
        .message_timeout_ms = cfg->kafka_timeout_ms,
        .linger_ms = 1,
        .on_delivery = pipeline_on_delivery,
    };
    pipeline_producer = kafka_producer_new(&po, &err);
    if (pipeline_producer == NULL) {
        log_error("cannot create Kafka producer: %s", err.message);
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

/* Every op resolves by itself within the Kafka timeout plus the wait; gives
 * them that long, within the grace period. */
static void pipeline_wait_in_flight(int64_t deadline_us)
{
    while (pipeline_in_flight() > 0 && clock_now_us() < deadline_us) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void pipeline_shutdown(int64_t deadline_us)
{
    pipeline_wait_in_flight(deadline_us);
    pthread_rwlock_wrlock(&pipeline_intake);
    pipeline_closed = true;
    pthread_rwlock_unlock(&pipeline_intake);
    /* Those submitted while the first wait ended. */
    pipeline_wait_in_flight(deadline_us);
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
    return inflight_count(&pipeline_inflight);
}

/* ---- requests --------------------------------------------------------------- */

/* Produces a command keyed by object_id with its caisse-mac header (the MAC
 * covers the key and the text). */
static rd_kafka_resp_err_t pipeline_produce(const char *object_id, const char *text, void *opaque)
{
    char mac[COMMAND_MAC_HEADER_MAX];
    if (command_mac_sign(pipeline_cfg.mac_keys, object_id, strlen(object_id), text, strlen(text),
                         mac) != C_OK)
        return RD_KAFKA_RESP_ERR__FAIL;
    return kafka_produce_with_header(pipeline_producer, KAFKA_TOPIC_COMMANDS, object_id, text,
                                     strlen(text), "application/cloudevents+json",
                                     COMMAND_MAC_HEADER, mac, opaque);
}

enum MHD_Result pipeline_submit(struct http_request *req, struct pipeline_op *op,
                                const json_t *command)
{
    char *text = json_dumps(command, JSON_COMPACT);
    enum MHD_Result rc = pipeline_submit_text(req, op, text);
    free(text);
    return rc;
}

enum MHD_Result pipeline_submit_text(struct http_request *req, struct pipeline_op *op,
                                     const char *text)
{
    op->req = req;
    req->op = op;
    pthread_rwlock_rdlock(&pipeline_intake);
    if (pipeline_closed) {
        pthread_rwlock_unlock(&pipeline_intake);
        return http_respond_unavailable(req);
    }
    /* Register and suspend before producing: the delivery report may arrive on
     * another thread before this function returns. */
    op->command.command_id = op->command_id[0] != '\0' ? op->command_id : NULL;
    inflight_add(&pipeline_inflight, &op->command, op->object_id);
    MHD_suspend_connection(req->conn);
    rd_kafka_resp_err_t err =
        text == NULL ? RD_KAFKA_RESP_ERR__FAIL : pipeline_produce(op->object_id, text, op);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_fields(LOG_WARN, json_pack("{ss}", "request_id", req->request_id),
                   "cannot enqueue command: %s", rd_kafka_err2str(err));
        inflight_refused(&pipeline_inflight, &op->command);
    }
    pthread_rwlock_unlock(&pipeline_intake);
    return MHD_YES;
}

int pipeline_send(const char *object_id, const json_t *command)
{
    char *text = json_dumps(command, JSON_COMPACT);
    if (text == NULL)
        return C_ERR;
    pthread_rwlock_rdlock(&pipeline_intake);
    rd_kafka_resp_err_t err =
        pipeline_closed ? RD_KAFKA_RESP_ERR__STATE : pipeline_produce(object_id, text, NULL);
    pthread_rwlock_unlock(&pipeline_intake);
    free(text);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_fields(LOG_WARN, json_pack("{ss}", "subject_id", object_id),
                   "cannot enqueue command: %s", rd_kafka_err2str(err));
        return C_ERR;
    }
    return C_OK;
}

enum MHD_Result pipeline_answer(struct http_request *req)
{
    struct pipeline_op *op = req->op;
    if (op->status >= 400)
        return http_respond_error(req, op->status, op->error_code,
                                  op->error_param[0] != '\0' ? op->error_param : NULL, "%s",
                                  op->error_message);
    if (op->status >= 300 && op->status < 400 && op->redirect != NULL)
        return http_respond_redirect(req, op->status, op->redirect);
    /* Accepted, but the wait ran out and PostgreSQL could not be read to
     * show the object: no 2xx without its body. The command is applied in
     * time; a retry (idempotent) learns the outcome. */
    if (op->body == NULL)
        return http_respond_error(req, 503, "service_unavailable", NULL,
                                  "Service temporarily unavailable, please retry");
    char location[96];
    const char *headers[5] = {NULL};
    size_t n = 0;
    if (op->location_path != NULL) {
        const char *id = json_string_value(json_object_get(op->body, op->location_member));
        snprintf(location, sizeof(location), "%s/%s", op->location_path,
                 id != NULL ? id : op->object_id);
        headers[n++] = "Location";
        headers[n++] = location;
    }
    if (op->replayed) {
        headers[n++] = "Idempotent-Replayed";
        headers[n++] = "true";
    }
    if (op->body_text != NULL) {
        char *text = strdup(op->body_text);
        return http_respond_json_text(req, op->status, text, headers);
    }
    return http_respond_json(req, op->status, json_incref(op->body), headers);
}
