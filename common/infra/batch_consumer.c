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

/* Static members keep their partitions across a restart shorter than this
 * (a pod rescheduled), instead of triggering two rebalances. */
#define BATCH_CONSUMER_SESSION_TIMEOUT_MS 45000

/* batch_loop's source: the consumer's records; error events are logged here. */
static enum batch_loop_take batch_consumer_take(void *source, int timeout_ms,
                                                rd_kafka_message_t **out)
{
    rd_kafka_message_t *m = kafka_consume(source, timeout_ms);
    if (m == NULL)
        return BATCH_LOOP_NONE;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        *out = m;
        return BATCH_LOOP_RECORD;
    }
    bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
    if (fatal)
        log_error("kafka consumer fatal error: %s", rd_kafka_message_errstr(m));
    else
        log_fields(LOG_WARN, json_pack("{ss}", "error", rd_kafka_err2name(m->err)),
                   "kafka consumer error: %s", rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return fatal ? BATCH_LOOP_FATAL : BATCH_LOOP_SKIPPED;
}

static void batch_consumer_release(void *source, rd_kafka_message_t *m)
{
    (void)source;
    rd_kafka_message_destroy(m);
}

/* Stores offset+1 of the last record of each partition in the batch. */
static void batch_consumer_store_offsets(void *source, rd_kafka_message_t *const *msgs, size_t n)
{
    rd_kafka_t *rk = source;
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
    rd_kafka_t *rk = source;
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
    .now_ms = clock_now_ms,
    .stopping = service_stopping,
    .request_stop = service_request_stop,
    .sleep_ms = service_sleep_ms,
};

int batch_consumer_run(const struct batch_consumer_options *opt, batch_consumer_apply_fn apply,
                       void *ctx)
{
    struct error err = ERROR_INIT;
    struct kafka_consumer_options ko = {.brokers = opt->brokers,
                                        .group_id = opt->group_id,
                                        .instance_id = opt->instance_id,
                                        .session_timeout_ms = BATCH_CONSUMER_SESSION_TIMEOUT_MS};
    rd_kafka_t *rk = kafka_consumer_new(&ko, opt->topic, &err);
    if (rk == NULL) {
        log_error("cannot create the kafka consumer: %s", err.message);
        return C_ERR;
    }
    rd_kafka_message_t **msgs = calloc((size_t)opt->batch_max, sizeof(*msgs));
    if (msgs == NULL) {
        log_error("out of memory");
        rd_kafka_destroy(rk);
        return C_ERR;
    }
    struct batch_loop_io io = batch_consumer_io;
    io.source = rk;
    struct batch_loop_limits limits = {.batch_max = opt->batch_max,
                                       .batch_wait_ms = opt->batch_wait_ms};
    int rc = batch_loop_run(&io, &limits, msgs, apply, ctx);
    free(msgs);
    /* Commits the stored offsets and leaves the group (a static member stays
     * registered until its session times out, so a quick restart keeps its
     * partitions). */
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_warn("kafka consumer close: %s", rd_kafka_err2str(e));
    rd_kafka_destroy(rk);
    log_fields(LOG_INFO, json_pack("{ss}", "topic", opt->topic), "consumer stopped");
    return rc;
}

int batch_consumer_retry(int (*attempt)(void *ctx), const char *(*db_error)(void *ctx), void *ctx,
                         const char *what, size_t messages)
{
    return batch_loop_retry(&batch_consumer_io, attempt, db_error, ctx, what, messages);
}
