#include "inflight.h"

#include <assert.h>
#include <string.h>

void inflight_init(struct inflight *t, const struct inflight_hooks *hooks, int64_t wait_us)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->hooks = *hooks;
    t->wait_us = wait_us;
}

void inflight_destroy(struct inflight *t)
{
    pthread_mutex_destroy(&t->lock);
}

/* ---- the table (lock held) ------------------------------------------------- */

static size_t inflight_bucket(const char *id, size_t len)
{
    size_t h = 5381;
    for (size_t i = 0; i < len; i++)
        h = h * 33 + (unsigned char)id[i];
    return h % INFLIGHT_BUCKETS;
}

static void inflight_remove_locked(struct inflight *t, struct inflight_command *c)
{
    const char *id = c->object_id;
    struct inflight_command **pp = &t->buckets[inflight_bucket(id, strlen(id))];
    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next;
    assert(*pp == c);
    *pp = c->next;
    c->next = NULL;
    t->count--;
}

/* Gives c its answer and takes it out of the table; the caller resumes it
 * once the lock is dropped. */
static void inflight_resolve_locked(struct inflight *t, struct inflight_command *c, unsigned status)
{
    assert(!c->resolved && !c->deciding);
    c->status = status;
    c->resolved = true;
    inflight_remove_locked(t, c);
}

static void inflight_resolve_unavailable_locked(struct inflight *t, struct inflight_command *c)
{
    c->unavailable = true;
    inflight_resolve_locked(t, c, INFLIGHT_STATUS_UNAVAILABLE);
}

/* Whether c waits for a decision: not answered, not being decided, not
 * decided and waiting for its delivery report. */
static bool inflight_undecided(const struct inflight_command *c)
{
    return !c->resolved && !c->deciding && c->decided_status == 0;
}

/* ---- events -------------------------------------------------------------- */

void inflight_add(struct inflight *t, struct inflight_command *c, const char *object_id)
{
    memset(c, 0, sizeof(*c));
    c->object_id = object_id;
    pthread_mutex_lock(&t->lock);
    size_t b = inflight_bucket(object_id, strlen(object_id));
    c->next = t->buckets[b];
    t->buckets[b] = c;
    t->count++;
    pthread_mutex_unlock(&t->lock);
}

void inflight_refused(struct inflight *t, struct inflight_command *c)
{
    pthread_mutex_lock(&t->lock);
    inflight_resolve_unavailable_locked(t, c);
    pthread_mutex_unlock(&t->lock);
    t->hooks.resume(c);
}

void inflight_delivered(struct inflight *t, struct inflight_command *c, bool ok, int64_t now_us)
{
    bool resume = false;
    pthread_mutex_lock(&t->lock);
    assert(!c->resolved && !c->delivered && !c->delivery_failed);
    if (!ok) {
        c->delivery_failed = true;
        if (c->deciding) {
            /* its decider answers when done */
        } else if (c->decided_status != 0) {
            /* A command the worker already applied counts, whatever the report says. */
            inflight_resolve_locked(t, c, c->decided_status);
            resume = true;
        } else {
            inflight_resolve_unavailable_locked(t, c);
            resume = true;
        }
    } else {
        c->delivered = true;
        c->deadline_us = now_us + t->wait_us;
        if (c->decided_status != 0) {
            inflight_resolve_locked(t, c, c->decided_status);
            resume = true;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (resume)
        t->hooks.resume(c);
}

/* Runs c's decide hook without the lock. c cannot be answered meanwhile:
 * only the thread that marked it deciding resolves it. */
static void inflight_decide(struct inflight *t, struct inflight_command *c,
                            enum inflight_reason why, void *ctx)
{
    unsigned status = t->hooks.decide(c, why, ctx);
    if (why == INFLIGHT_DEADLINE && status == 0)
        status = INFLIGHT_STATUS_ACCEPTED;
    bool resume = false;
    pthread_mutex_lock(&t->lock);
    assert(c->deciding);
    c->deciding = false;
    /* Never before the delivery report: it still refers to the command. */
    if (status != 0 && (c->delivered || c->delivery_failed)) {
        inflight_resolve_locked(t, c, status);
        resume = true;
    } else if (status != 0) {
        c->decided_status = status; /* answered when the delivery report comes */
    } else if (c->delivery_failed) {
        inflight_resolve_unavailable_locked(t, c);
        resume = true;
    }
    pthread_mutex_unlock(&t->lock);
    if (resume)
        t->hooks.resume(c);
}

/* Marks up to max undecided commands of the object id[0..len) as deciding. */
static size_t inflight_claim_object(struct inflight *t, const char *id, size_t len,
                                    struct inflight_command **out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (struct inflight_command *c = t->buckets[inflight_bucket(id, len)]; c != NULL && n < max;
         c = c->next) {
        if (!inflight_undecided(c) || strncmp(c->object_id, id, len) != 0 ||
            c->object_id[len] != '\0')
            continue;
        c->deciding = true;
        out[n++] = c;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* An inserted session whose id other requests share (a command_id) was
 * inserted by this command only if the notification names it; for the
 * others it is only applied (a retry, or a request that lost the race). */
static enum inflight_reason inflight_reason_for(const struct inflight_command *c,
                                                enum inflight_reason why, const char *by,
                                                size_t by_len)
{
    if (why != INFLIGHT_INSERTED || c->command_id == NULL || c->command_id[0] == '\0')
        return why;
    bool ours =
        by != NULL && strncmp(c->command_id, by, by_len) == 0 && c->command_id[by_len] == '\0';
    return ours ? INFLIGHT_INSERTED : INFLIGHT_APPLIED;
}

void inflight_notified(struct inflight *t, const char *payload, char inserted_mark,
                       char command_separator, void *ctx)
{
    const char *p = payload;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *id = p;
        p += len;
        if (*p == ',')
            p++;
        enum inflight_reason why = INFLIGHT_APPLIED;
        const char *by = NULL;
        size_t by_len = 0;
        if (len > 0 && id[0] == inserted_mark) {
            why = INFLIGHT_INSERTED;
            id++;
            len--;
            /* "+<id>:<command id>": the id ends at the separator. */
            const char *sep = memchr(id, command_separator, len);
            if (sep != NULL) {
                by = sep + 1;
                by_len = len - (size_t)(by - id);
                len = (size_t)(sep - id);
            }
        }
        if (len == 0)
            continue;
        struct inflight_command *claimed[INFLIGHT_CLAIM_PER_OBJECT];
        size_t n = inflight_claim_object(t, id, len, claimed, INFLIGHT_CLAIM_PER_OBJECT);
        for (size_t i = 0; i < n; i++)
            inflight_decide(t, claimed[i], inflight_reason_for(claimed[i], why, by, by_len), ctx);
    }
}

void inflight_expire(struct inflight *t, int64_t now_us, void *ctx)
{
    struct inflight_command *claimed[INFLIGHT_CLAIM_PER_SCAN];
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    if (now_us >= t->next_scan_us) {
        t->next_scan_us = now_us + INFLIGHT_EXPIRE_SCAN_US;
        for (size_t b = 0; b < INFLIGHT_BUCKETS && n < INFLIGHT_CLAIM_PER_SCAN; b++) {
            for (struct inflight_command *c = t->buckets[b];
                 c != NULL && n < INFLIGHT_CLAIM_PER_SCAN; c = c->next) {
                if (!inflight_undecided(c) || !c->delivered || c->deadline_us > now_us)
                    continue;
                c->deciding = true;
                claimed[n++] = c;
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < n; i++)
        inflight_decide(t, claimed[i], INFLIGHT_DEADLINE, ctx);
}

size_t inflight_count(struct inflight *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}
