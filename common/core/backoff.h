/* Exponential backoff for retrying a dependency that is down (PostgreSQL
 * restarting, Kafka unreachable): short first waits so a blip costs little,
 * a ceiling so a long outage is probed often enough to resume quickly. */
#ifndef CAISSE_BACKOFF_H
#define CAISSE_BACKOFF_H

struct backoff {
    long min_ms;
    long max_ms;
    long next_ms;
};

void backoff_init(struct backoff *b, long min_ms, long max_ms);
/* The delay to wait now; the following one doubles, up to max_ms. */
long backoff_next(struct backoff *b);
/* After a success: the next failure starts again from min_ms. */
void backoff_reset(struct backoff *b);

#endif
