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
        while (s->tenants[b] != NULL) {
            struct scheduler_tenant *t = s->tenants[b];
            s->tenants[b] = t->next;
            free(t);
        }
    }
}

long scheduler_tenant_cap(long max_in_flight, long share_percent)
{
    if (max_in_flight < 1)
        return 1;
    if (share_percent >= 100)
        return max_in_flight;
    long cap = share_percent <= 0 ? 1 : (max_in_flight * share_percent + 99) / 100;
    return cap < 1 ? 1 : cap;
}

long scheduler_tenant_allowance(const struct scheduler *s)
{
    return s->limits.tenant_max_in_flight * SCHEDULER_QUEUE_FACTOR;
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

json_t *scheduler_held_by_tenant(const struct scheduler *s)
{
    json_t *m = json_object();
    if (m == NULL)
        return NULL;
    for (size_t b = 0; b < SCHEDULER_BUCKETS; b++) {
        for (const struct scheduler_tenant *t = s->tenants[b]; t != NULL; t = t->next) {
            if (json_object_set_new(m, t->id, json_integer(t->sending + t->held)) != 0) {
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

/* The tenant's entry, created empty if missing (NULL: out of memory). */
static struct scheduler_tenant *scheduler_tenant_get(struct scheduler *s, const char *id)
{
    struct scheduler_tenant **head = &s->tenants[scheduler_bucket(id)];
    for (struct scheduler_tenant *t = *head; t != NULL; t = t->next) {
        if (strcmp(t->id, id) == 0)
            return t;
    }
    struct scheduler_tenant *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->next = *head;
    *head = t;
    return t;
}

/* Frees the tenant's entry once nothing of it is held or sending. */
static void scheduler_tenant_forget_if_idle(struct scheduler *s, struct scheduler_tenant *t)
{
    if (t->sending > 0 || t->held > 0)
        return;
    for (struct scheduler_tenant **p = &s->tenants[scheduler_bucket(t->id)]; *p != NULL;
         p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            free(t);
            return;
        }
    }
}

/* The endpoint's entry, created empty (for tenant_id) if missing; NULL: out
 * of memory, nothing created. An endpoint belongs to one tenant: an existing
 * entry keeps its own. */
static struct scheduler_endpoint *scheduler_endpoint_get(struct scheduler *s, const char *id,
                                                         const char *tenant_id)
{
    struct scheduler_endpoint **head = &s->buckets[scheduler_bucket(id)];
    for (struct scheduler_endpoint *e = *head; e != NULL; e = e->next) {
        if (strcmp(e->id, id) == 0)
            return e;
    }
    struct scheduler_endpoint *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->tenant = scheduler_tenant_get(s, tenant_id);
    if (e->tenant == NULL) {
        free(e);
        return NULL;
    }
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->next = *head;
    *head = e;
    return e;
}

/* Frees the entry once nothing of its endpoint is held or sending, and its
 * tenant's once nothing of the tenant is. */
static void scheduler_forget_if_idle(struct scheduler *s, struct scheduler_endpoint *e)
{
    if (e->sending > 0 || e->held > 0)
        return;
    for (struct scheduler_endpoint **p = &s->buckets[scheduler_bucket(e->id)]; *p != NULL;
         p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            scheduler_tenant_forget_if_idle(s, e->tenant);
            free(e);
            return;
        }
    }
}

int scheduler_hold(struct scheduler *s, struct scheduler_item *item, const char *endpoint_id,
                   const char *tenant_id, int64_t claimed_ms)
{
    assert(item->state == SCHEDULER_OUT);
    struct scheduler_endpoint *e = scheduler_endpoint_get(s, endpoint_id, tenant_id);
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
    e->tenant->held++;
    s->held++;
    return C_OK;
}

void scheduler_claim_done(struct scheduler *s)
{
    long allowance = scheduler_endpoint_allowance(s);
    long tenant_allowance = scheduler_tenant_allowance(s);
    for (size_t b = 0; b < SCHEDULER_BUCKETS; b++) {
        for (struct scheduler_endpoint *e = s->buckets[b]; e != NULL; e = e->next)
            e->backlog = e->sending + e->held >= allowance;
        for (struct scheduler_tenant *t = s->tenants[b]; t != NULL; t = t->next)
            t->backlog = t->sending + t->held >= tenant_allowance;
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
    e->tenant->held--;
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
    e->tenant->sending++;
    s->sending++;
}

/* Gives back the held deliveries at the head of e's queue whose lease no
 * longer covers a request (the queue is in claim order: the oldest claims
 * first). */
static void scheduler_give_back_stale(struct scheduler *s, struct scheduler_endpoint *e,
                                      int64_t now_ms, struct scheduler_item **give_back,
                                      bool *refill)
{
    while (e->queue != NULL && !scheduler_lease_covers(&s->limits, e->queue->claimed_ms, now_ms)) {
        struct scheduler_item *item = scheduler_pop_held(s, e);
        item->next = *give_back;
        *give_back = item;
        *refill = true;
    }
}

void scheduler_start_held(struct scheduler *s, int64_t now_ms, scheduler_start_fn start, void *arg,
                          struct scheduler_item **give_back, bool *refill)
{
    long allowance = scheduler_endpoint_allowance(s);
    long tenant_allowance = scheduler_tenant_allowance(s);
    for (size_t b = 0; b < SCHEDULER_BUCKETS; b++) {
        struct scheduler_endpoint *e = s->buckets[b];
        while (e != NULL) {
            struct scheduler_endpoint *next = e->next;
            struct scheduler_tenant *t = e->tenant;
            scheduler_give_back_stale(s, e, now_ms, give_back, refill);
            while (e->queue != NULL && e->sending < s->limits.endpoint_concurrency &&
                   t->sending < s->limits.tenant_max_in_flight &&
                   s->sending < s->limits.max_in_flight) {
                struct scheduler_item *item = scheduler_pop_held(s, e);
                if (start(arg, item) == C_OK)
                    scheduler_mark_sending(s, e, item);
            }
            if (e->backlog && e->held * 2 <= allowance) {
                e->backlog = false;
                *refill = true;
            }
            /* The tenant's held part of its allowance is half empty. */
            if (t->backlog && t->held * 2 <= tenant_allowance - s->limits.tenant_max_in_flight) {
                t->backlog = false;
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
    e->tenant->sending--;
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
