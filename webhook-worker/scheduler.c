#include "scheduler.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"

void scheduler_init(struct scheduler *s, const struct scheduler_limits *limits)
{
    memset(s, 0, sizeof(*s));
    s->limits = *limits;
}

void scheduler_destroy(struct scheduler *s)
{
    assert(s->sending == 0 && s->held == 0);
    for (size_t b = 0; b < SCHEDULER_BUCKETS; b++) {
        while (s->buckets[b] != NULL) {
            struct scheduler_endpoint *e = s->buckets[b];
            s->buckets[b] = e->next;
            free(e);
        }
    }
}

long scheduler_endpoint_allowance(const struct scheduler *s)
{
    return s->limits.endpoint_concurrency * SCHEDULER_PREFETCH_FACTOR;
}

long scheduler_claim_limit(const struct scheduler *s)
{
    long room = s->limits.max_in_flight * SCHEDULER_QUEUE_FACTOR - s->held;
    if (room <= 0)
        return 0;
    return room < SCHEDULER_CLAIM_BATCH ? room : SCHEDULER_CLAIM_BATCH;
}

json_t *scheduler_held_by_endpoint(const struct scheduler *s)
{
    json_t *m = json_object();
    if (m == NULL)
        return NULL;
    for (size_t b = 0; b < SCHEDULER_BUCKETS; b++) {
        for (const struct scheduler_endpoint *e = s->buckets[b]; e != NULL; e = e->next) {
            if (json_object_set_new(m, e->id, json_integer(e->sending + e->held)) != 0) {
                json_decref(m);
                return NULL;
            }
        }
    }
    return m;
}

static size_t scheduler_bucket(const char *id)
{
    /* FNV-1a over the id's text. */
    uint32_t h = 2166136261u;
    for (const char *p = id; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h % SCHEDULER_BUCKETS;
}

/* The endpoint's entry, created empty if missing (NULL: out of memory). */
static struct scheduler_endpoint *scheduler_endpoint_get(struct scheduler *s, const char *id)
{
    struct scheduler_endpoint **head = &s->buckets[scheduler_bucket(id)];
    for (struct scheduler_endpoint *e = *head; e != NULL; e = e->next) {
        if (strcmp(e->id, id) == 0)
            return e;
    }
    struct scheduler_endpoint *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->next = *head;
    *head = e;
    return e;
}

/* Frees the entry once nothing of its endpoint is held or sending. */
static void scheduler_forget_if_idle(struct scheduler *s, struct scheduler_endpoint *e)
{
    if (e->sending > 0 || e->held > 0)
        return;
    for (struct scheduler_endpoint **p = &s->buckets[scheduler_bucket(e->id)]; *p != NULL;
         p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            free(e);
            return;
        }
    }
}

int scheduler_hold(struct scheduler *s, struct scheduler_item *item, const char *endpoint_id,
                   int64_t claimed_ms)
{
    assert(item->state == SCHEDULER_OUT);
    struct scheduler_endpoint *e = scheduler_endpoint_get(s, endpoint_id);
    if (e == NULL)
        return C_ERR;
    item->endpoint = e;
    item->claimed_ms = claimed_ms;
    item->state = SCHEDULER_HELD;
    item->next = NULL;
    item->prev = NULL;
    if (e->queue_tail != NULL)
        e->queue_tail->next = item;
    else
        e->queue = item;
    e->queue_tail = item;
    e->held++;
    s->held++;
    return C_OK;
}

void scheduler_claim_done(struct scheduler *s)
{
    long allowance = scheduler_endpoint_allowance(s);
    for (size_t b = 0; b < SCHEDULER_BUCKETS; b++) {
        for (struct scheduler_endpoint *e = s->buckets[b]; e != NULL; e = e->next)
            e->backlog = e->sending + e->held >= allowance;
    }
}

bool scheduler_lease_covers(const struct scheduler_limits *limits, int64_t claimed_ms,
                            int64_t now_ms)
{
    return now_ms + limits->request_ms + SCHEDULER_START_MARGIN_MS <= claimed_ms + limits->lease_ms;
}

/* Takes the first held item of endpoint e off its queue; the item is out,
 * its entry not yet forgotten. */
static struct scheduler_item *scheduler_pop_held(struct scheduler *s, struct scheduler_endpoint *e)
{
    struct scheduler_item *item = e->queue;
    e->queue = item->next;
    if (e->queue == NULL)
        e->queue_tail = NULL;
    item->next = NULL;
    item->endpoint = NULL;
    item->state = SCHEDULER_OUT;
    e->held--;
    s->held--;
    return item;
}

static void scheduler_mark_sending(struct scheduler *s, struct scheduler_endpoint *e,
                                   struct scheduler_item *item)
{
    item->endpoint = e;
    item->state = SCHEDULER_SENDING;
    item->prev = NULL;
    item->next = s->sending_list;
    if (s->sending_list != NULL)
        s->sending_list->prev = item;
    s->sending_list = item;
    e->sending++;
    s->sending++;
}

void scheduler_start_held(struct scheduler *s, int64_t now_ms, scheduler_start_fn start, void *arg,
                          struct scheduler_item **give_back, bool *refill)
{
    long allowance = scheduler_endpoint_allowance(s);
    for (size_t b = 0; b < SCHEDULER_BUCKETS; b++) {
        struct scheduler_endpoint *e = s->buckets[b];
        while (e != NULL) {
            struct scheduler_endpoint *next = e->next;
            while (e->queue != NULL && e->sending < s->limits.endpoint_concurrency &&
                   s->sending < s->limits.max_in_flight) {
                struct scheduler_item *item = scheduler_pop_held(s, e);
                if (!scheduler_lease_covers(&s->limits, item->claimed_ms, now_ms)) {
                    item->next = *give_back;
                    *give_back = item;
                    *refill = true;
                    continue;
                }
                if (start(arg, item) == C_OK)
                    scheduler_mark_sending(s, e, item);
            }
            if (e->backlog && e->held * 2 <= allowance) {
                e->backlog = false;
                *refill = true;
            }
            scheduler_forget_if_idle(s, e);
            e = next;
        }
    }
}

static void scheduler_unlink_sending(struct scheduler *s, struct scheduler_item *item)
{
    assert(item->state == SCHEDULER_SENDING);
    if (item->prev != NULL)
        item->prev->next = item->next;
    else
        s->sending_list = item->next;
    if (item->next != NULL)
        item->next->prev = item->prev;
    struct scheduler_endpoint *e = item->endpoint;
    item->next = NULL;
    item->prev = NULL;
    item->endpoint = NULL;
    item->state = SCHEDULER_OUT;
    e->sending--;
    s->sending--;
    scheduler_forget_if_idle(s, e);
}

void scheduler_finished(struct scheduler *s, struct scheduler_item *item)
{
    scheduler_unlink_sending(s, item);
}

struct scheduler_item *scheduler_take_held(struct scheduler *s)
{
    struct scheduler_item *all = NULL;
    for (size_t b = 0; b < SCHEDULER_BUCKETS; b++) {
        struct scheduler_endpoint *e = s->buckets[b];
        while (e != NULL) {
            struct scheduler_endpoint *next = e->next;
            while (e->queue != NULL) {
                struct scheduler_item *item = scheduler_pop_held(s, e);
                item->next = all;
                all = item;
            }
            scheduler_forget_if_idle(s, e);
            e = next;
        }
    }
    return all;
}

struct scheduler_item *scheduler_take_sending(struct scheduler *s)
{
    struct scheduler_item *all = NULL;
    while (s->sending_list != NULL) {
        struct scheduler_item *item = s->sending_list;
        scheduler_unlink_sending(s, item);
        item->next = all;
        all = item;
    }
    return all;
}
