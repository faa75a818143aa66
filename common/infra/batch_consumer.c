#include "batch_consumer.h"

#include <stdbool.h>
#include <stdlib.h>

#include "core/clock.h"
#include "infra/batch_loop.h"
#include "infra/kafka.h"
#include "core/log.h"
#include "infra/ops_http.h"
#include "core/result.h"
#include "infra/service.h"

/* batch_loop's source: a consumer, replaced by a new one when it is fenced. */
struct batch_consumer_source {
    struct kafka_consumer_options options;
    const char *topic;
    rd_kafka_t *rk; /* NULL only after a failed renewal */
};

/* The consumer's records; error events are logged here. The one fatal error
 * a consumer raises is the group coordinator fencing this static member:
 * another JoinGroup with its group.instance.id took its place. After a
 * coordinator outage longer than the session timeout, librdkafka gives up
 * its member id and joins again as a new member under the same instance id;
 * a request it still sends under the member id it gave up (the auto commit
 * of its lost assignment's stored offsets) is then refused as coming from a
 * fenced member, and the consumer is unusable for good. A new one joins
 * cleanly. Two replicas with the same CAISSE_INSTANCE_ID fence each other
 * the same way. */
static enum batch_loop_take batch_consumer_take(void *source, int timeout_ms,
                                                rd_kafka_message_t **out)
{
    struct batch_consumer_source *s = source;
    rd_kafka_message_t *m = kafka_consume(s->rk, timeout_ms);
    if (m == NULL)
        return BATCH_LOOP_NONE;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        *out = m;
        return BATCH_LOOP_RECORD;
    }
    enum batch_loop_take took = BATCH_LOOP_SKIPPED;
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_resp_err_t why = rd_kafka_fatal_error(s->rk, NULL, 0);
        took = why == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID ? BATCH_LOOP_FENCED : BATCH_LOOP_FATAL;
        log_error("kafka consumer fatal error: %s", rd_kafka_message_errstr(m));
        /* Not taking work until a new consumer has joined. */
        if (took == BATCH_LOOP_FENCED)
            ops_http_set_accepting(false);
    } else {
        log_fields(LOG_WARN, json_pack("{ss}", "error", rd_kafka_err2name(m->err)),
                   "kafka consumer error: %s", rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
    return took;
}

/* Commits the stored offsets and leaves the group (a static member stays
 * registered until its session times out, so a quick restart keeps its
 * partitions), then frees the consumer. */
static void batch_consumer_close(rd_kafka_t *rk)
{
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_warn("kafka consumer close: %s", rd_kafka_err2str(e));
    rd_kafka_destroy(rk);
}

/* A new consumer in place of a fenced one: it joins under the same
 * group.instance.id (fencing the old member id, which nothing uses any more)
 * and resumes from the committed offsets; the records after them are applied
 * again, which is idempotent. */
static int batch_consumer_renew(void *source)
{
    struct batch_consumer_source *s = source;
    /* A fenced consumer can neither commit nor leave (librdkafka refuses its
     * close): only free it. */
    rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    s->rk = NULL;
    struct error err = ERROR_INIT;
    s->rk = kafka_consumer_new(&s->options, s->topic, &err);
    if (s->rk == NULL) {
        log_error("cannot create a new kafka consumer: %s", err.message);
        return C_ERR;
    }
    log_fields(LOG_INFO, json_pack("{ss}", "topic", s->topic),
               "new kafka consumer created in place of the fenced one");
    return C_OK;
}

static void batch_consumer_release(void *source, rd_kafka_message_t *m)
{
    (void)source;
    rd_kafka_message_destroy(m);
}

/* Stores offset+1 of the last record of each partition in the batch. */
static void batch_consumer_store_offsets(void *source, rd_kafka_message_t *const *msgs, size_t n)
{
    rd_kafka_t *rk = ((struct batch_consumer_source *)source)->rk;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(list, topic, msgs[i]->partition);
        if (p == NULL)
            p = rd_kafka_topic_partition_list_add(list, topic, msgs[i]->partition);
        if (msgs[i]->offset + 1 > p->offset)
            p->offset = msgs[i]->offset + 1;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk, list);
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &list->elems[i];
        if (p->err == RD_KAFKA_RESP_ERR_NO_ERROR && err == RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        /* Typically the partition was revoked while the batch was applied: its
         * new owner gets these records again and finds them applied. */
        log_fields(
            LOG_WARN,
            json_pack("{ss si sI ss}", "topic", p->topic, "partition", (int)p->partition, "offset",
                      (json_int_t)p->offset, "error",
                      rd_kafka_err2name(p->err != RD_KAFKA_RESP_ERR_NO_ERROR ? p->err : err)),
            "could not store offset; the records will be redelivered");
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* A worker takes work once its consumer is in the group (the coordinator
 * gave it a member id): before that, what is produced waits for it, and the
 * readiness probe says so. Asked after each batch until it has joined. */
static bool batch_consumer_joined(void *source)
{
    rd_kafka_t *rk = ((struct batch_consumer_source *)source)->rk;
    char *member = rd_kafka_memberid(rk);
    bool joined = member != NULL && member[0] != '\0';
    if (member != NULL)
        rd_kafka_mem_free(rk, member);
    if (joined) {
        log_info("kafka consumer joined its group");
        ops_http_set_accepting(true);
    }
    return joined;
}

/* The service's clock and stop flag; the source is set per consumer. */
static const struct batch_loop_io batch_consumer_io = {
    .take = batch_consumer_take,
    .release = batch_consumer_release,
    .store = batch_consumer_store_offsets,
    .joined = batch_consumer_joined,
    .renew = batch_consumer_renew,
    .now_ms = clock_now_ms,
    .stopping = service_stopping,
    .request_stop = service_request_stop,
    .sleep_ms = service_sleep_ms,
};

int batch_consumer_run(const struct batch_consumer_options *opt, batch_consumer_apply_fn apply,
                       void *ctx)
{
    struct error err = ERROR_INIT;
    struct batch_consumer_source source = {
        .options = {.brokers = opt->brokers,
                    .group_id = opt->group_id,
                    .instance_id = opt->instance_id,
                    .session_timeout_ms = opt->session_timeout_ms},
        .topic = opt->topic,
    };
    source.rk = kafka_consumer_new(&source.options, opt->topic, &err);
    if (source.rk == NULL) {
        log_error("cannot create the kafka consumer: %s", err.message);
        return C_ERR;
    }
    rd_kafka_message_t **msgs = calloc((size_t)opt->batch_max, sizeof(*msgs));
    if (msgs == NULL) {
        log_error("out of memory");
        rd_kafka_destroy(source.rk);
        return C_ERR;
    }
    struct batch_loop_io io = batch_consumer_io;
    io.source = &source;
    struct batch_loop_limits limits = {.batch_max = opt->batch_max,
                                       .batch_wait_ms = opt->batch_wait_ms};
    int rc = batch_loop_run(&io, &limits, msgs, apply, ctx);
    free(msgs);
    if (source.rk != NULL)
        batch_consumer_close(source.rk);
    log_fields(LOG_INFO, json_pack("{ss}", "topic", opt->topic), "consumer stopped");
    return rc;
}

int batch_consumer_retry(int (*attempt)(void *ctx), const char *(*db_error)(void *ctx), void *ctx,
                         const char *what, size_t messages)
{
    return batch_loop_retry(&batch_consumer_io, attempt, db_error, ctx, what, messages);
}

int batch_consumer_apply_isolating(const struct batch_loop_isolation *iso, void *ctx,
                                   rd_kafka_message_t *const *msgs, size_t n)
{
    return batch_loop_apply_isolating(&batch_consumer_io, iso, ctx, msgs, n);
}
