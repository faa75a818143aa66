#include "consumer.h"

#include <stdint.h>
#include <time.h>

#include "apply.h"
#include "infra/batch_consumer.h"
#include "infra/kafka.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"

struct consumer_ctx {
    struct db *db;
    struct apply_store store; /* PostgreSQL through db */
    const struct consumer_options *opt;
    /* The batch in hand, for the retried steps. */
    rd_kafka_message_t *const *msgs;
    size_t n;
    struct apply_batch batch;
    struct apply_stats stats;
};

static int consumer_prepare(void *p)
{
    struct consumer_ctx *c = p;
    return apply_prepare(&c->batch, c->msgs, c->n, c->opt->public_base_url);
}

static int consumer_commit(void *p)
{
    struct consumer_ctx *c = p;
    return apply_commit(&c->store, &c->batch, &c->stats);
}

static const char *consumer_db_error(void *p)
{
    return ((struct consumer_ctx *)p)->db->last_error;
}

/* Applies the batch, retrying the same records until PostgreSQL takes them:
 * a batch is never skipped for a database error (inserts and guarded
 * transitions are idempotent, so a redelivery is harmless). */
static int consumer_apply(void *p, rd_kafka_message_t *const *msgs, size_t n)
{
    struct consumer_ctx *c = p;
    c->msgs = msgs;
    c->n = n;
    /* Only an allocation can fail here; it may heal. */
    if (batch_consumer_retry(consumer_prepare, NULL, c, "decode a batch of commands", n) != C_OK)
        return C_ERR;
    int64_t started = clock_now_ms();
    int rc = batch_consumer_retry(consumer_commit, consumer_db_error, c, "apply batch", n);
    if (rc == C_OK)
        log_fields(LOG_DEBUG,
                   json_pack("{si si si si si si si si si si sI}", "messages", (int)n, "inserted",
                             (int)c->stats.inserted, "existing", (int)c->stats.existing,
                             "completed", (int)c->stats.completed, "expired", (int)c->stats.expired,
                             "ignored", (int)c->stats.ignored, "malformed", (int)c->batch.malformed,
                             "rejected", (int)c->stats.rejected, "catalog_applied",
                             (int)c->stats.stored, "catalog_refused", (int)c->stats.refused,
                             "duration_ms", (json_int_t)(clock_now_ms() - started)),
                   "batch applied");
    apply_batch_free(&c->batch);
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
    };
    struct consumer_ctx ctx = {.db = db, .store = apply_store_postgres(db), .opt = opt};
    return batch_consumer_run(&bo, consumer_apply, &ctx);
}
