#include "consumer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "apply.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "infra/batch_consumer.h"
#include "infra/kafka.h"
#include "infra/service.h"
#include "model/dead_letter.h"

struct consumer_ctx {
    struct db *db;
    struct apply_store store; /* PostgreSQL through db */
    const struct consumer_options *opt;
    /* The records the batch in hand was decoded from: an attempt at the same
     * records (a retry) applies the same decoded batch, with the same event
     * ids. */
    rd_kafka_message_t *const *msgs;
    size_t n;
    bool prepared;
    struct apply_batch batch;
    struct apply_stats stats, total;
    /* The park in hand, for consumer_park_once. */
    const rd_kafka_message_t *park_msg;
    const char *park_reason, *park_error;
    int park_failures;
    char error[512]; /* the last failure, for the logs and the dead letter */
};

static const char *consumer_error(void *p)
{
    return ((struct consumer_ctx *)p)->error;
}

static void consumer_forget(struct consumer_ctx *c)
{
    if (c->prepared)
        apply_batch_free(&c->batch);
    c->prepared = false;
    c->msgs = NULL;
    c->n = 0;
}

static void consumer_add_stats(struct apply_stats *t, const struct apply_stats *s)
{
    t->inserted += s->inserted;
    t->existing += s->existing;
    t->completed += s->completed;
    t->expired += s->expired;
    t->payments += s->payments;
    t->ignored += s->ignored;
    t->rejected += s->rejected;
    t->stored += s->stored;
    t->refused += s->refused;
}

/* One attempt at msgs[0..n) in one transaction. */
static enum batch_loop_result consumer_attempt(void *p, rd_kafka_message_t *const *msgs, size_t n)
{
    struct consumer_ctx *c = p;
    if (!c->prepared || c->msgs != msgs || c->n != n) {
        consumer_forget(c);
        if (apply_prepare(&c->batch, msgs, n, c->opt->public_base_url) != C_OK) {
            snprintf(c->error, sizeof(c->error), "out of memory decoding commands");
            return BATCH_LOOP_TRANSIENT;
        }
        c->prepared = true;
        c->msgs = msgs;
        c->n = n;
    }
    if (apply_commit(&c->store, &c->batch, &c->stats) == C_OK) {
        consumer_add_stats(&c->total, &c->stats);
        return BATCH_LOOP_APPLIED;
    }
    const char *sqlstate = db_last_sqlstate(c->db);
    snprintf(c->error, sizeof(c->error), "%s%s%s", sqlstate[0] != '\0' ? sqlstate : "",
             sqlstate[0] != '\0' ? ": " : "", c->db->last_error);
    return db_error_is_transient(sqlstate) ? BATCH_LOOP_TRANSIENT : BATCH_LOOP_PERSISTENT;
}

static int consumer_park_once(void *p)
{
    struct consumer_ctx *c = p;
    bool inserted = false;
    if (dead_letter_park(c->db, CONSUMER_NAME, c->park_msg, c->park_reason, c->park_error,
                         c->park_failures, &inserted) != C_OK) {
        snprintf(c->error, sizeof(c->error), "%s", c->db->last_error);
        return C_ERR;
    }
    return C_OK;
}

static const char *consumer_db_error(void *p)
{
    return ((struct consumer_ctx *)p)->db->last_error;
}

/* Parks m, retrying until PostgreSQL takes it. C_ERR: a stop was requested. */
static int consumer_park(struct consumer_ctx *c, const rd_kafka_message_t *m, const char *reason,
                         const char *error, int failures)
{
    c->park_msg = m;
    c->park_reason = reason;
    c->park_error = error;
    c->park_failures = failures;
    log_fields(LOG_ERROR,
               json_pack("{ss si sI ss ss}", "topic", rd_kafka_topic_name(m->rkt), "partition",
                         (int)m->partition, "offset", (json_int_t)m->offset, "reason", reason,
                         "error", error),
               "parking a command as a dead letter; it is not applied");
    return batch_consumer_retry(consumer_park_once, consumer_db_error, c, "park a dead letter", 1);
}

static int consumer_park_failed(void *p, const rd_kafka_message_t *m, const char *error,
                                int failures)
{
    struct consumer_ctx *c = p;
    c->park_msg = m;
    c->park_reason = DEAD_LETTER_FAILED;
    c->park_error = error;
    c->park_failures = failures;
    /* batch_loop retries a failed park itself. */
    return consumer_park_once(c);
}

/* Whether m carries a valid MAC; *why says what is wrong otherwise. */
static bool consumer_mac_valid(const struct consumer_ctx *c, const rd_kafka_message_t *m, char *why,
                               size_t why_len)
{
    const void *header = NULL;
    size_t header_len = 0;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, COMMAND_MAC_HEADER, &header, &header_len) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
        header = NULL;
    enum command_mac_verdict v = command_mac_verify(c->opt->mac_keys, header, header_len, m->key,
                                                    m->key != NULL ? m->key_len : 0, m->payload,
                                                    m->payload != NULL ? m->len : 0);
    if (v == COMMAND_MAC_VALID)
        return true;
    snprintf(why, why_len, "the command's %s header is %s", COMMAND_MAC_HEADER,
             command_mac_verdict_name(v));
    return false;
}

/* Applies the batch: parks the commands without a valid MAC and those that
 * cannot be decoded, then applies the rest (batch_loop_apply_isolating: a
 * command that keeps failing is parked, PostgreSQL down is waited out).
 * Every park is committed before this returns, so before the offsets are
 * stored. */
static int consumer_apply(void *p, rd_kafka_message_t *const *msgs, size_t n)
{
    struct consumer_ctx *c = p;
    c->total = (struct apply_stats){0};
    rd_kafka_message_t **signed_msgs = calloc(n, sizeof(*signed_msgs));
    rd_kafka_message_t **good = calloc(n, sizeof(*good));
    if (signed_msgs == NULL || good == NULL) {
        free(signed_msgs);
        free(good);
        log_error("out of memory taking a batch of %zu commands", n);
        return C_ERR;
    }
    int rc = C_OK;
    size_t n_signed = 0, n_good = 0, bad_mac = 0, malformed = 0;
    for (size_t i = 0; rc == C_OK && i < n; i++) {
        char why[128];
        if (consumer_mac_valid(c, msgs[i], why, sizeof(why))) {
            signed_msgs[n_signed++] = msgs[i];
            continue;
        }
        bad_mac++;
        rc = consumer_park(c, msgs[i], DEAD_LETTER_BAD_MAC, why, 1);
    }
    /* Decoded once: the malformed ones are parked, the batch of the others
     * is the first attempt's. Only an allocation can fail here. */
    while (rc == C_OK && n_signed > 0 &&
           apply_prepare(&c->batch, signed_msgs, n_signed, c->opt->public_base_url) != C_OK) {
        if (service_stopping())
            rc = C_ERR;
        else
            service_sleep_ms(BATCH_LOOP_RETRY_MIN_MS);
    }
    if (rc == C_OK && n_signed > 0) {
        size_t k = 0;
        for (size_t i = 0; i < n_signed; i++) {
            if (k < c->batch.malformed && c->batch.malformed_index[k] == i) {
                if (rc == C_OK)
                    rc = consumer_park(c, signed_msgs[i], DEAD_LETTER_MALFORMED,
                                       c->batch.malformed_reasons[k], 1);
                k++;
                continue;
            }
            good[n_good++] = signed_msgs[i];
        }
        malformed = c->batch.malformed;
        c->prepared = true;
        c->msgs = good;
        c->n = n_good;
    }
    int64_t started = clock_now_ms();
    struct batch_loop_isolation iso = {.attempt = consumer_attempt,
                                       .park = consumer_park_failed,
                                       .error = consumer_error,
                                       .dead_letter_after = c->opt->dead_letter_after,
                                       .what = "apply commands"};
    if (rc == C_OK)
        rc = batch_consumer_apply_isolating(&iso, c, good, n_good);
    if (rc == C_OK)
        log_fields(LOG_DEBUG,
                   json_pack("{si si si si si si si si si si si sI}", "messages", (int)n,
                             "inserted", (int)c->total.inserted, "existing", (int)c->total.existing,
                             "completed", (int)c->total.completed, "expired", (int)c->total.expired,
                             "ignored", (int)c->total.ignored, "malformed", (int)malformed,
                             "bad_mac", (int)bad_mac, "rejected", (int)c->total.rejected,
                             "catalog_applied", (int)c->total.stored, "catalog_refused",
                             (int)c->total.refused, "duration_ms",
                             (json_int_t)(clock_now_ms() - started)),
                   "batch applied");
    consumer_forget(c);
    free(signed_msgs);
    free(good);
    return rc;
}

int consumer_run(struct db *db, const struct consumer_options *opt)
{
    struct batch_consumer_options bo = {
        .brokers = opt->brokers,
        .topic = KAFKA_TOPIC_COMMANDS,
        .group_id = opt->group_id,
        .instance_id = opt->instance_id,
        .batch_max = opt->batch_max,
        .batch_wait_ms = opt->batch_wait_ms,
        .session_timeout_ms = opt->session_timeout_ms,
    };
    struct consumer_ctx ctx = {.db = db, .store = apply_store_postgres(db), .opt = opt};
    return batch_consumer_run(&bo, consumer_apply, &ctx);
}
