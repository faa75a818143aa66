#include "consumer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "apply.h"
#include "backoff.h"
#include "kafka.h"
#include "log.h"
#include "result.h"
#include "service.h"

/* How long the first message of a batch is waited for: short enough to see a
 * stop request quickly, long enough not to spin. */
#define CONSUMER_FIRST_POLL_MS 500
/* Static members keep their partitions across a restart shorter than this
 * (a pod rescheduled), instead of triggering two rebalances. */
#define CONSUMER_SESSION_TIMEOUT_MS 45000
#define CONSUMER_RETRY_MIN_MS 100
#define CONSUMER_RETRY_MAX_MS 5000

static int64_t consumer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A consumer error event (not a message). *fatal: the client is unusable. */
static void consumer_log_error(const rd_kafka_message_t *m, bool *fatal)
{
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        log_error("kafka consumer fatal error: %s", rd_kafka_message_errstr(m));
        *fatal = true;
        return;
    }
    log_fields(LOG_WARN, json_pack("{ss}", "error", rd_kafka_err2name(m->err)),
               "kafka consumer error: %s", rd_kafka_message_errstr(m));
}

/* Fills msgs with up to batch_max messages: waits for the first, then keeps
 * taking what arrives within batch_wait_ms. Returns the count. */
static size_t consumer_fill(rd_kafka_t *rk, rd_kafka_message_t **msgs,
                            const struct consumer_options *opt, bool *fatal)
{
    size_t n = 0;
    int64_t deadline = 0;
    while (n < (size_t)opt->batch_max && !*fatal) {
        int timeout = CONSUMER_FIRST_POLL_MS;
        if (n > 0) {
            int64_t left = deadline - consumer_now_ms();
            /* A stop request ends the filling, not the batch in hand. */
            if (left <= 0 || service_stopping())
                break;
            timeout = (int)left;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, timeout);
        if (m == NULL) {
            if (n == 0)
                break;
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            consumer_log_error(m, fatal);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (n == 0)
            deadline = consumer_now_ms() + opt->batch_wait_ms;
        msgs[n++] = m;
    }
    return n;
}

/* Stores offset+1 of the last message of each partition in the batch. */
static void consumer_store_offsets(rd_kafka_t *rk, rd_kafka_message_t *const *msgs, size_t n)
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
         * new owner gets these messages again and finds them applied. */
        log_fields(
            LOG_WARN,
            json_pack("{ss si sI ss}", "topic", p->topic, "partition", (int)p->partition, "offset",
                      (json_int_t)p->offset, "error",
                      rd_kafka_err2name(p->err != RD_KAFKA_RESP_ERR_NO_ERROR ? p->err : err)),
            "could not store offset; the messages will be redelivered");
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Applies the batch, retrying the same messages until PostgreSQL takes them:
 * a batch is never skipped for a database error. C_ERR: stopped first, nothing
 * stored, Kafka redelivers the batch (inserts and guarded transitions are
 * idempotent). */
static int consumer_apply(struct db *db, rd_kafka_t *rk, rd_kafka_message_t *const *msgs, size_t n,
                          const struct consumer_options *opt)
{
    struct backoff b;
    backoff_init(&b, CONSUMER_RETRY_MIN_MS, CONSUMER_RETRY_MAX_MS);
    struct apply_batch batch;
    while (apply_prepare(&batch, msgs, n, opt->public_base_url) != C_OK) {
        log_error("out of memory decoding a batch of %zu commands; retrying", n);
        if (service_stopping())
            return C_ERR;
        service_sleep_ms(backoff_next(&b));
    }
    int64_t started = consumer_now_ms();
    struct apply_stats stats;
    for (int attempt = 1;; attempt++) {
        if (apply_commit(db, &batch, &stats) == C_OK)
            break;
        if (service_stopping()) {
            log_fields(LOG_WARN, json_pack("{si}", "messages", (int)n),
                       "stopping with a batch not applied; kafka will redeliver it");
            apply_batch_free(&batch);
            return C_ERR;
        }
        long delay = backoff_next(&b);
        log_fields(LOG_ERROR,
                   json_pack("{si si si}", "messages", (int)n, "attempt", attempt, "retry_in_ms",
                             (int)delay),
                   "could not apply batch, retrying it: %s", db->last_error);
        service_sleep_ms(delay);
    }
    log_fields(LOG_DEBUG,
               json_pack("{si si si si si si si si sI}", "messages", (int)n, "inserted",
                         (int)stats.inserted, "existing", (int)stats.existing, "completed",
                         (int)stats.completed, "expired", (int)stats.expired, "ignored",
                         (int)stats.ignored, "malformed", (int)batch.malformed, "rejected",
                         (int)stats.rejected, "duration_ms",
                         (json_int_t)(consumer_now_ms() - started)),
               "batch applied");
    apply_batch_free(&batch);
    consumer_store_offsets(rk, msgs, n);
    return C_OK;
}

int consumer_run(struct db *db, const struct consumer_options *opt)
{
    char err[512];
    struct kafka_consumer_options ko = {.brokers = opt->brokers,
                                        .group_id = opt->group_id,
                                        .instance_id = opt->instance_id,
                                        .session_timeout_ms = CONSUMER_SESSION_TIMEOUT_MS};
    rd_kafka_t *rk = kafka_consumer_new(&ko, KAFKA_TOPIC_COMMANDS, err, sizeof(err));
    if (rk == NULL) {
        log_error("cannot create the kafka consumer: %s", err);
        return C_ERR;
    }
    rd_kafka_message_t **msgs = calloc((size_t)opt->batch_max, sizeof(*msgs));
    if (msgs == NULL) {
        log_error("out of memory");
        rd_kafka_destroy(rk);
        return C_ERR;
    }
    bool fatal = false;
    while (!service_stopping() && !fatal) {
        size_t n = consumer_fill(rk, msgs, opt, &fatal);
        if (n > 0 && consumer_apply(db, rk, msgs, n, opt) != C_OK)
            log_info("batch left for redelivery");
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
    log_info("consumer stopped");
    return fatal ? C_ERR : C_OK;
}
