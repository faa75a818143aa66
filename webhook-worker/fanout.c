#include "fanout.h"

#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "infra/batch_consumer.h"
#include "event_id.h"
#include "infra/kafka.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "core/uuid.h"
#include "webhook_dispatch.h"

struct fanout_ctx {
    struct db *db;
    const struct fanout_options *opt;
    json_t *ids; /* event ids of the batch in hand */
    long inserted, unknown;
};

/* The event ids of the batch. A record that is not a CloudEvent with a UUID id
 * cannot match an outbox row: it is logged and skipped (its offset is still
 * stored, retrying it would never succeed). */
static json_t *fanout_event_ids(rd_kafka_message_t *const *msgs, size_t n, size_t *malformed)
{
    json_t *ids = json_array();
    if (ids == NULL)
        return NULL;
    *malformed = 0;
    for (size_t i = 0; i < n; i++) {
        char scanned[UUID_STR_LEN];
        json_t *ev = NULL;
        const char *id = NULL;
        if (event_id_scan(msgs[i]->payload, msgs[i]->len, scanned) == C_OK) {
            id = scanned;
        } else if (msgs[i]->payload != NULL) {
            json_error_t jerr;
            ev = json_loadb(msgs[i]->payload, msgs[i]->len, 0, &jerr);
            id = json_string_value(json_object_get(ev, "id"));
        }
        if (id == NULL || !uuid_is_valid(id)) {
            (*malformed)++;
            log_fields(LOG_WARN,
                       json_pack("{si sI}", "partition", (int)msgs[i]->partition, "offset",
                                 (json_int_t)msgs[i]->offset),
                       "skipping an event record without a valid id");
        } else if (json_array_append_new(ids, json_string(id)) != 0) {
            json_decref(ev);
            json_decref(ids);
            return NULL;
        }
        json_decref(ev);
    }
    return ids;
}

static int fanout_insert(void *p)
{
    struct fanout_ctx *c = p;
    return webhook_dispatch_fanout(c->db, c->ids, &c->inserted, &c->unknown);
}

static const char *fanout_db_error(void *p)
{
    return ((struct fanout_ctx *)p)->db->last_error;
}

/* Fans the batch out into delivery rows, retrying until PostgreSQL takes it
 * (ON CONFLICT DO NOTHING makes a redelivered batch harmless). */
static int fanout_apply(void *p, rd_kafka_message_t *const *msgs, size_t n)
{
    struct fanout_ctx *c = p;
    size_t malformed = 0;
    c->ids = fanout_event_ids(msgs, n, &malformed);
    if (c->ids == NULL) {
        log_error("out of memory decoding a batch of %zu events", n);
        return C_ERR;
    }
    int64_t started = clock_now_ms();
    c->inserted = c->unknown = 0;
    int rc = batch_consumer_retry(fanout_insert, fanout_db_error, c, "fan out batch", n);
    json_decref(c->ids);
    c->ids = NULL;
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
    };
    struct fanout_ctx ctx = {.db = db, .opt = opt};
    return batch_consumer_run(&bo, fanout_apply, &ctx);
}
