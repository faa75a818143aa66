/* The recorder: a thread of its own that writes the outcomes of finished
 * requests, so a recording transaction in progress never stops requests
 * from being sent. The delivery loop hands finished items over; the recorder
 * records them in order, at most RECORDER_BATCH_MAX per transaction, and
 * retries a batch that failed (before anything handed over after it) after a
 * backoff. Past RECORDER_BACKLOG_MAX waiting, the loop claims nothing more,
 * so sending cannot outrun recording without bound.
 *
 * The thread records through a record step given to it: the webhook worker's
 * (recorder_record_attempts, below) writes the attempts of finished
 * transfers to PostgreSQL; the unit tests give their own. The queue is plain
 * data and its decisions are tested without a thread. */
#ifndef WEBHOOK_WORKER_RECORDER_H
#define WEBHOOK_WORKER_RECORDER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/metrics.h"
#include "infra/db.h"
#include "webhook_schedule.h"

/* Most outcomes recorded in one transaction: a backlog recorded in one
 * statement would hold its locks and its memory for long. */
#define RECORDER_BATCH_MAX 1000
/* Outcomes waiting (queued or being recorded) from which the loop claims no
 * more; what it holds is still sent. */
#define RECORDER_BACKLOG_MAX (2 * RECORDER_BATCH_MAX)

/* One finished request waiting to be recorded, embedded in its owner
 * (struct transfer). Lists are chained through next. */
struct recorder_item {
    struct recorder_item *next;
};

/* Outcomes in the order they were handed over, plus the count of those taken
 * as a batch and not yet recorded. */
struct recorder_queue {
    struct recorder_item *head, *tail;
    size_t queued; /* in the list */
    size_t taken;  /* taken as a batch, neither recorded nor put back yet */
};

#define RECORDER_QUEUE_INIT                                                                        \
    {                                                                                              \
        NULL, NULL, 0, 0                                                                           \
    }

/* Appends item at the end. */
void recorder_queue_push(struct recorder_queue *q, struct recorder_item *item);
/* Moves everything of from (in order) to the end of q; from ends empty. */
void recorder_queue_move(struct recorder_queue *q, struct recorder_queue *from);
/* Takes the first items, at most max, as a batch (a list ending in NULL):
 * *n of them. NULL (and *n = 0) when empty. */
struct recorder_item *recorder_queue_take(struct recorder_queue *q, size_t max, size_t *n);
/* The batch of n taken is recorded. */
void recorder_queue_done(struct recorder_queue *q, size_t n);
/* The batch of n taken could not be recorded: back in front, to be retried
 * before anything queued after it. */
void recorder_queue_put_back(struct recorder_queue *q, struct recorder_item *batch, size_t n);
/* Outcomes not yet recorded: queued and taken. */
size_t recorder_queue_waiting(const struct recorder_queue *q);
/* Whether claiming should pause until the recorder catches up. */
bool recorder_queue_backlogged(const struct recorder_queue *q);

/* Records batch (n items, in order) in one transaction, on the recorder's
 * thread. C_OK: recorded, and the items are the step's (it frees them).
 * C_ERR with err set: nothing recorded, the batch is left as it was. */
typedef int (*recorder_record_fn)(void *arg, struct recorder_item *batch, size_t n,
                                  struct error *err);
/* Frees items that will never be recorded (an abort). */
typedef void (*recorder_discard_fn)(void *arg, struct recorder_item *list);

struct recorder_options {
    recorder_record_fn record;
    recorder_discard_fn discard;
    void *arg;
    long retry_min_ms; /* backoff between attempts at a failing batch */
    long retry_max_ms;
};

struct recorder;

/* Starts the thread. NULL with err set on failure. */
struct recorder *recorder_start(const struct recorder_options *o, struct error *err);
/* Hands the finished items of q over (q ends empty). Any thread. */
void recorder_hand_over(struct recorder *r, struct recorder_queue *q);
/* Outcomes handed over and not yet recorded. */
size_t recorder_waiting(struct recorder *r);
/* recorder_queue_backlogged of what was handed over. */
bool recorder_backlogged(struct recorder *r);
/* Ends the thread once everything handed over is recorded, or at once if
 * abort, discarding the rest; then frees r. A failing batch's retry wait is
 * cut short only by an abort. */
void recorder_stop(struct recorder *r, bool abort);

/* ---- the webhook worker's record step --------------------------------------- */

/* What recording attempts needs; used on the recorder's thread only. */
struct recorder_attempts {
    struct db db; /* the recorder's own connection */
    const struct webhook_schedule *schedule;
    const char *worker_id; /* leased_by */
    long disable_after_s;
    struct metrics_family *outcomes; /* caisse_webhook_deliveries_total */
};

/* The record step for finished transfers (struct transfer's record item;
 * arg: a struct recorder_attempts): decides each attempt's outcome and
 * records the batch in one transaction (group commit: under load, what
 * finished meanwhile goes in together), then logs, counts and frees the
 * transfers. On an error the batch is left as it was, for a retry. */
int recorder_record_attempts(void *arg, struct recorder_item *batch, size_t n, struct error *err);
/* The discard step for transfers: frees them. */
void recorder_discard_transfers(void *arg, struct recorder_item *list);

#endif
