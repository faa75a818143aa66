/* The gateway's half of every write: publish a command to Kafka and keep the
 * HTTP connection suspended (no thread waits) until the session worker has
 * applied it, then answer. An op waits on the object its command changes (a
 * session, a product...): the worker's notification names it. Kafka's delivery report and the
 * worker's commit notification (LISTEN caisse_session_applied) resume the connection; a wait that
 * runs out is decided by one last look at PostgreSQL. When to answer is inflight.c's; this module
 * connects it to libmicrohttpd, Kafka and PostgreSQL.
 *
 * An op is owned by its HTTP request (http_request.op). Lifecycle: the handler
 * fills it and calls pipeline_submit; the pipeline decides its answer on one of
 * its own threads, takes it out of its table and resumes the connection; the
 * server thread then calls pipeline_answer and frees it with the request. */
#ifndef GATEWAY_PIPELINE_H
#define GATEWAY_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model/command_mac.h"
#include <microhttpd.h>

#include "infra/db.h"
#include "http.h"
#include "inflight.h"
#include "core/uuid.h"

struct pipeline_op;

/* Why an op is asked to decide: inflight.h's reasons under the handlers' names
 * (the worker applied a command naming the op's object; its batch inserted
 * that object's row; the wait ran out). */
enum pipeline_reason {
    PIPELINE_APPLIED = INFLIGHT_APPLIED,
    PIPELINE_INSERTED = INFLIGHT_INSERTED,
    PIPELINE_DEADLINE = INFLIGHT_DEADLINE,
};

/* How an op learns its answer. Called on the listener thread, never with the
 * in-flight table's lock held. Returns the HTTP status to answer with, having set
 * body or error via pipeline_op_set_*; 0 = not decided yet (never for
 * PIPELINE_DEADLINE): keep waiting. */
typedef unsigned (*pipeline_decide_fn)(struct pipeline_op *op, struct db *db,
                                       enum pipeline_reason why);

struct pipeline_op {
    char object_id[UUID_STR_LEN]; /* the command's subject: its Kafka key */
    /* Set when other requests may send commands for the same object id (a
     * keyed create's retries): the command's id. A commit notification that
     * marks the object inserted (PIPELINE_INSERTED) counts for this op only
     * if it names this command; otherwise it is PIPELINE_APPLIED. */
    char command_id[UUID_STR_LEN];
    pipeline_decide_fn decide;
    void *ctx; /* the handler's, freed with ctx_free */
    void (*ctx_free)(void *ctx);
    json_t *body; /* answer for 2xx; owned */
    /* The same answer as text, when the handler writes it itself (a number
     * a double would print inexactly); owned, NULL: body is printed. */
    char *body_text;
    bool replayed; /* Idempotent-Replayed: true */
    /* The 2xx answer's Location: <location_path>/<the body's location_member>;
     * NULL location_path: none. pipeline_op_new sets the session's. */
    const char *location_path;
    const char *location_member;
    /* The answer's Location when the decided status is a redirect (3xx: a
     * page's POST answered 303); owned, set by pipeline_op_set_redirect. */
    char *redirect;
    char error_code[40]; /* answer for 4xx/5xx */
    char error_param[40];
    char error_message[300];
    struct http_request *req;
    unsigned status;                 /* the answer, once resumed */
    struct inflight_command command; /* the pipeline's own, while in flight */
};

struct pipeline_config {
    const char *database_url;
    const char *kafka_brokers;
    long wait_ms;              /* applied within this, else the deadline decision */
    long kafka_timeout_ms;     /* delivery report deadline, then 503 */
    long statement_timeout_ms; /* of the decisions' queries; 0: the server's */
    /* Every command is signed under the current key (caisse-mac header,
     * model/command_mac.h); must outlive the pipeline. */
    const struct command_mac_keys *mac_keys;
};

int pipeline_init(const struct pipeline_config *cfg);
/* Waits for in-flight ops (bounded by deadline_us, monotonic), then stops. */
void pipeline_shutdown(int64_t deadline_us);

/* New op for a command on object_id with its decision function (Location:
 * the session's). NULL: out of memory. */
struct pipeline_op *pipeline_op_new(const char *object_id, pipeline_decide_fn decide);
void pipeline_op_free(struct pipeline_op *op);
void pipeline_op_set_body(struct pipeline_op *op, json_t *body); /* steals body */
/* body, and text its answer as the handler wrote it; steals both. */
void pipeline_op_set_body_text(struct pipeline_op *op, json_t *body, char *text);
void pipeline_op_set_error(struct pipeline_op *op, const char *code, const char *param,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A decide that returns a 3xx sets where it goes (copied). C_ERR: out of memory. */
int pipeline_op_set_redirect(struct pipeline_op *op, const char *location);

/* Suspends req's connection and publishes command (keyed by the op's object
 * id). Always returns MHD_YES: failures resolve the op as 503, and so does a
 * submit after pipeline_shutdown closed the intake (answered at once). Takes op. */
enum MHD_Result pipeline_submit(struct http_request *req, struct pipeline_op *op,
                                const json_t *command);
/* The same with the command as JSON text (NULL: out of memory, answered 503). */
enum MHD_Result pipeline_submit_text(struct http_request *req, struct pipeline_op *op,
                                     const char *command);
/* Publishes command keyed by object_id without any request waiting on it (a
 * payment settled in the background): its delivery is Kafka's; failures are
 * logged. C_ERR: it could not be enqueued (or the intake is closed). */
int pipeline_send(const char *object_id, const json_t *command);
/* After the connection was resumed: answers with the op's outcome. */
enum MHD_Result pipeline_answer(struct http_request *req);

bool pipeline_kafka_ready(void);
bool pipeline_listener_ready(void);
size_t pipeline_in_flight(void);

#endif
