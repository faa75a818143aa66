/* The commands the gateway has published and not answered yet, and when each
 * is answered: the create pipeline's state machine, without libmicrohttpd,
 * Kafka or PostgreSQL (pipeline.c connects it to them), so every order of
 * events can be played in a unit test.
 *
 * A command waits for two things: Kafka's delivery report, and the session
 * worker's commit notification naming its object (the session, product...
 * it changes). The notification (or, once
 * delivered, a wait of wait_us without one) asks the command's decide hook for
 * its answer; the answer is given (the resume hook) only once the delivery
 * report came, because the report still refers to the command. A delivery
 * that failed answers 503 unless the worker applied the command anyway.
 *
 * Events come from three threads (the HTTP server's on add/refused, the
 * Kafka poller's on delivered/undelivered, the listener's on notified/expire);
 * the table has its own lock, and calls both hooks without it. Each command
 * is resumed exactly once, and is out of the table by then.
 *
 * A command is owned by its caller (embedded in the request's op); the table
 * only links it. */
#ifndef GATEWAY_INFLIGHT_H
#define GATEWAY_INFLIGHT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INFLIGHT_BUCKETS 4096
/* Waits that ran out are looked for at most this often: the scan walks the
 * whole table under the lock (profiled: a quarter of the gateway's CPU under
 * load when it ran after every notification); a 202 is late by this at most. */
#define INFLIGHT_EXPIRE_SCAN_US 50000
/* Commands decided per object named in a notification, and per scan. */
#define INFLIGHT_CLAIM_PER_OBJECT 64
#define INFLIGHT_CLAIM_PER_SCAN 256
/* The answer given when the wait ran out and decide had none. */
#define INFLIGHT_STATUS_ACCEPTED 202
/* The answer to a command that may not have reached Kafka. */
#define INFLIGHT_STATUS_UNAVAILABLE 503

/* Why a command is asked to decide. */
enum inflight_reason {
    INFLIGHT_APPLIED,  /* the worker applied a command naming its object */
    INFLIGHT_INSERTED, /* ...and its batch inserted that object's row */
    INFLIGHT_DEADLINE, /* the wait ran out */
};

struct inflight_command {
    const char *object_id; /* borrowed: must outlive the command */
    /* The command's own id when other requests may share its object id (a
     * keyed create: the id is derived from the key), else NULL. borrowed. */
    const char *command_id;
    /* The answer, readable once resumed: the decided HTTP status, or
     * INFLIGHT_STATUS_UNAVAILABLE with unavailable set. */
    unsigned status;
    bool unavailable;
    /* The table's own, under its lock. */
    bool delivered, delivery_failed, deciding, resolved;
    unsigned decided_status; /* decided before the delivery report came */
    int64_t deadline_us;
    struct inflight_command *next;
};

struct inflight_hooks {
    /* The command's answer, as an HTTP status; 0: not decided yet (keep
     * waiting). A 0 for INFLIGHT_DEADLINE answers INFLIGHT_STATUS_ACCEPTED.
     * ctx is the one given to inflight_notified or inflight_expire. */
    unsigned (*decide)(struct inflight_command *c, enum inflight_reason why, void *ctx);
    /* c is answered (c->status) and out of the table: its connection can go on. */
    void (*resume)(struct inflight_command *c);
};

struct inflight {
    pthread_mutex_t lock;
    struct inflight_hooks hooks;
    int64_t wait_us; /* after the delivery report, before the deadline decision */
    int64_t next_scan_us;
    size_t count;
    /* Several commands may wait on one object (a completion and a retry of it). */
    struct inflight_command *buckets[INFLIGHT_BUCKETS];
};

void inflight_init(struct inflight *t, const struct inflight_hooks *hooks, int64_t wait_us);
/* Once no thread uses t (the gateway's table lives as long as the process). */
void inflight_destroy(struct inflight *t);

/* c (reset here) starts waiting for a command on object_id to be applied.
 * Call before producing: the delivery report may come before the producer
 * returns. */
void inflight_add(struct inflight *t, struct inflight_command *c, const char *object_id);
/* Kafka refused the command at once (no delivery report will come): resumes
 * c with INFLIGHT_STATUS_UNAVAILABLE. */
void inflight_refused(struct inflight *t, struct inflight_command *c);
/* Kafka's delivery report for c, at now_us; ok false: not delivered. */
void inflight_delivered(struct inflight *t, struct inflight_command *c, bool ok, int64_t now_us);

/* A commit notification: comma-separated object ids, each marked with
 * inserted_mark when the batch inserted its row. Asks every waiting command of
 * those objects to decide; ids nobody waits for are ignored. */
void inflight_notified(struct inflight *t, const char *payload, char inserted_mark,
                       char command_separator, void *ctx);
/* Asks the delivered commands whose wait ran out by now_us to decide (at most
 * once per INFLIGHT_EXPIRE_SCAN_US). */
void inflight_expire(struct inflight *t, int64_t now_us, void *ctx);

/* Commands not answered yet. */
size_t inflight_count(struct inflight *t);

#endif
