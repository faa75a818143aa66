#include "fanout.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "infra/batch_consumer.h"
#include "event_id.h"
#include "infra/kafka.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "core/uuid.h"
#include "model/dead_letter.h"
#include "webhook_dispatch.h"

struct fanout_ctx {
    struct db *db;
    const struct fanout_options *opt;
    long inserted, unknown;
    char error[512]; /* the last failure, for the logs and the dead letter */
    /* The park in hand, for fanout_park_once. */
    const rd_kafka_message_t *park_msg;
    const char *park_reason, *park_error;
    int park_failures;
};

/* The event id of m into id; C_ERR when it has none that could match an
 * outbox row (not a CloudEvent with a UUID id). */
static int fanout_event_id(const rd_kafka_message_t *m, char id[UUID_STR_LEN])
{
    if (event_id_scan(m->payload, m->len, id) == C_OK)
        return C_OK;
    if (m->payload == NULL)
        return C_ERR;
    json_error_t jerr;
    json_t *ev = json_loadb(m->payload, m->len, 0, &jerr);
    const char *text = json_string_value(json_object_get(ev, "id"));
    int rc = C_ERR;
    if (text != NULL && uuid_is_valid(text)) {
        snprintf(id, UUID_STR_LEN, "%s", text);
        rc = C_OK;
    }
    json_decref(ev);
    return rc;
}

/* One attempt at fanning msgs[0..n) out (every one has an id). */
static enum batch_loop_result fanout_attempt(void *p, rd_kafka_message_t *const *msgs, size_t n)
{
    struct fanout_ctx *c = p;
    json_t *ids = json_array();
    for (size_t i = 0; ids != NULL && i < n; i++) {
        char id[UUID_STR_LEN];
        if (fanout_event_id(msgs[i], id) == C_OK &&
            json_array_append_new(ids, json_string(id)) != 0) {
            json_decref(ids);
            ids = NULL;
        }
    }
    if (ids == NULL) {
        snprintf(c->error, sizeof(c->error), "out of memory decoding events");
        return BATCH_LOOP_TRANSIENT;
    }
    long inserted = 0, unknown = 0;
    int rc = webhook_dispatch_fanout(c->db, ids, &inserted, &unknown);
    json_decref(ids);
    if (rc == C_OK) {
        c->inserted += inserted;
        c->unknown += unknown;
        return BATCH_LOOP_APPLIED;
    }
    const char *sqlstate = db_last_sqlstate(c->db);
    snprintf(c->error, sizeof(c->error), "%s%s%s", sqlstate, sqlstate[0] != '\0' ? ": " : "",
             c->db->last_error);
    return db_error_is_transient(sqlstate) ? BATCH_LOOP_TRANSIENT : BATCH_LOOP_PERSISTENT;
}

static const char *fanout_error(void *p)
{
    return ((struct fanout_ctx *)p)->error;
}

static const char *fanout_db_error(void *p)
{
    return ((struct fanout_ctx *)p)->db->last_error;
}

static int fanout_park_once(void *p)
{
    struct fanout_ctx *c = p;
    bool inserted = false;
    if (dead_letter_park(c->db, FANOUT_CONSUMER_NAME, c->park_msg, c->park_reason, c->park_error,
                         c->park_failures, &inserted) != C_OK) {
        snprintf(c->error, sizeof(c->error), "%s", c->db->last_error);
        return C_ERR;
    }
    return C_OK;
}

static int fanout_park_failed(void *p, const rd_kafka_message_t *m, const char *error, int failures)
{
    struct fanout_ctx *c = p;
    c->park_msg = m;
    c->park_reason = DEAD_LETTER_FAILED;
    c->park_error = error;
    c->park_failures = failures;
    return fanout_park_once(c);
}

/* Parks the records that are not events with an id (retrying until
 * PostgreSQL takes them), then fans the others out: a batch that fails with
 * an error retrying cannot heal is fanned out event by event, and one that
 * keeps failing is parked; PostgreSQL down is waited out (ON CONFLICT DO
 * NOTHING makes a redelivered batch harmless). */
static int fanout_apply(void *p, rd_kafka_message_t *const *msgs, size_t n)
{
    struct fanout_ctx *c = p;
    rd_kafka_message_t **good = calloc(n, sizeof(*good));
    if (good == NULL) {
        log_error("out of memory decoding a batch of %zu events", n);
        return C_ERR;
    }
    size_t n_good = 0, malformed = 0;
    int rc = C_OK;
    for (size_t i = 0; rc == C_OK && i < n; i++) {
        char id[UUID_STR_LEN];
        if (fanout_event_id(msgs[i], id) == C_OK) {
            good[n_good++] = msgs[i];
            continue;
        }
        malformed++;
        log_fields(LOG_WARN,
                   json_pack("{si sI}", "partition", (int)msgs[i]->partition, "offset",
                             (json_int_t)msgs[i]->offset),
                   "parking an event record without a valid id as a dead letter");
        c->park_msg = msgs[i];
        c->park_reason = DEAD_LETTER_MALFORMED;
        c->park_error = "not a CloudEvent with a UUID id";
        c->park_failures = 1;
        rc = batch_consumer_retry(fanout_park_once, fanout_db_error, c, "park a dead letter", 1);
    }
    int64_t started = clock_now_ms();
    c->inserted = c->unknown = 0;
    struct batch_loop_isolation iso = {.attempt = fanout_attempt,
                                       .park = fanout_park_failed,
                                       .error = fanout_error,
                                       .dead_letter_after = c->opt->dead_letter_after,
                                       .what = "fan out events"};
    if (rc == C_OK)
        rc = batch_consumer_apply_isolating(&iso, c, good, n_good);
    free(good);
    if (rc != C_OK)
        return C_ERR;
    /* An id without an outbox row: the event was purged by retention before
     * this (late) replay, so there is nothing left to deliver. */
    log_fields(c->unknown > 0 ? LOG_WARN : LOG_DEBUG,
               json_pack("{si sI sI si sI}", "messages", (int)n, "deliveries",
                         (json_int_t)c->inserted, "unknown_events", (json_int_t)c->unknown,
                         "malformed", (int)malformed, "duration_ms",
                         (json_int_t)(clock_now_ms() - started)),
               "events fanned out");
    if (c->inserted > 0 && c->opt->on_new_deliveries != NULL)
        c->opt->on_new_deliveries(c->opt->arg);
    return C_OK;
}

int fanout_run(struct db *db, const struct fanout_options *opt)
{
    struct batch_consumer_options bo = {
        .brokers = opt->brokers,
        .topic = KAFKA_TOPIC_EVENTS,
        .group_id = opt->group_id,
        .instance_id = opt->instance_id,
        .batch_max = opt->batch_max,
        .batch_wait_ms = opt->batch_wait_ms,
        .session_timeout_ms = opt->session_timeout_ms,
    };
    struct fanout_ctx ctx = {.db = db, .opt = opt};
    return batch_consumer_run(&bo, fanout_apply, &ctx);
}
