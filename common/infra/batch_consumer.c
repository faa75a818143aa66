#include "batch_consumer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/backoff.h"
#include "infra/kafka.h"
#include "core/log.h"
#include "infra/ops_http.h"
#include "core/result.h"
#include "infra/service.h"

/* How long the first record of a batch is waited for: short enough to see a
 * stop request quickly, long enough not to spin. */
#define BATCH_CONSUMER_FIRST_POLL_MS 500
/* Static members keep their partitions across a restart shorter than this
 * (a pod rescheduled), instead of triggering two rebalances. */
#define BATCH_CONSUMER_SESSION_TIMEOUT_MS 45000
#define BATCH_CONSUMER_RETRY_MIN_MS 100
#define BATCH_CONSUMER_RETRY_MAX_MS 5000

/* A consumer error event (not a record). *fatal: the client is unusable. */
static void batch_consumer_log_error(const rd_kafka_message_t *m, bool *fatal)
{
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        log_error("kafka consumer fatal error: %s", rd_kafka_message_errstr(m));
        *fatal = true;
        return;
    }
    log_fields(LOG_WARN, json_pack("{ss}", "error", rd_kafka_err2name(m->err)),
               "kafka consumer error: %s", rd_kafka_message_errstr(m));
}

static size_t batch_consumer_fill(rd_kafka_t *rk, rd_kafka_message_t **msgs,
                                  const struct batch_consumer_options *opt, bool *fatal)
{
    size_t n = 0;
    int64_t deadline = 0;
    while (n < (size_t)opt->batch_max && !*fatal) {
        int timeout = BATCH_CONSUMER_FIRST_POLL_MS;
        if (n > 0) {
            /* A stop request ends the filling, not the batch in hand. */
            if (service_stopping())
                break;
            /* Past the wait, still take what is already fetched: records that
             * arrived while the last batch was being applied join this one
             * (group commit), without waiting for more. */
            int64_t left = deadline - clock_now_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        rd_kafka_message_t *m = kafka_consume(rk, timeout);
        if (m == NULL) {
            if (n == 0 || timeout == 0)
                break;
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            batch_consumer_log_error(m, fatal);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (n == 0)
            deadline = clock_now_ms() + opt->batch_wait_ms;
        msgs[n++] = m;
    }
    return n;
}

/* Stores offset+1 of the last record of each partition in the batch. */
static void batch_consumer_store_offsets(rd_kafka_t *rk, rd_kafka_message_t *const *msgs, size_t n)
{
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
 * readiness probe says so. Asked after each poll until it has joined. */
static bool batch_consumer_joined(rd_kafka_t *rk)
{
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
    bool fatal = false, joined = false;
    while (!service_stopping() && !fatal) {
        size_t n = batch_consumer_fill(rk, msgs, opt, &fatal);
        if (!joined)
            joined = batch_consumer_joined(rk);
        if (n > 0) {
            if (apply(ctx, msgs, n) == C_OK) {
                batch_consumer_store_offsets(rk, msgs, n);
            } else {
                log_fields(LOG_WARN, json_pack("{si}", "messages", (int)n),
                           "stopping with a batch not applied; kafka will redeliver it");
                /* Going on would store later offsets past this batch: stop, so
                 * a fresh consumer gets it again. */
                service_request_stop();
            }
        }
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    if (fatal)
        service_request_stop();
    /* Commits the stored offsets and leaves the group (a static member stays
     * registered until its session times out, so a quick restart keeps its
     * partitions). */
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_warn("kafka consumer close: %s", rd_kafka_err2str(e));
    rd_kafka_destroy(rk);
    log_fields(LOG_INFO, json_pack("{ss}", "topic", opt->topic), "consumer stopped");
    return fatal ? C_ERR : C_OK;
}

int batch_consumer_retry(int (*attempt)(void *ctx), const char *(*db_error)(void *ctx), void *ctx,
                         const char *what, size_t messages)
{
    struct backoff b;
    backoff_init(&b, BATCH_CONSUMER_RETRY_MIN_MS, BATCH_CONSUMER_RETRY_MAX_MS);
    for (int tries = 1;; tries++) {
        if (attempt(ctx) == C_OK)
            return C_OK;
        if (service_stopping())
            return C_ERR;
        long delay = backoff_next(&b);
        log_fields(LOG_ERROR,
                   json_pack("{si si si}", "messages", (int)messages, "attempt", tries,
                             "retry_in_ms", (int)delay),
                   "could not %s, retrying it: %s", what,
                   db_error != NULL ? db_error(ctx) : "see the previous log lines");
        service_sleep_ms(delay);
    }
}
