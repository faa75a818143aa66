#include "backoff.h"

void backoff_init(struct backoff *b, long min_ms, long max_ms)
{
    b->min_ms = min_ms;
    b->max_ms = max_ms < min_ms ? min_ms : max_ms;
    b->next_ms = min_ms;
}

long backoff_next(struct backoff *b)
{
    long delay = b->next_ms;
    b->next_ms = delay > b->max_ms / 2 ? b->max_ms : delay * 2;
    return delay;
}

void backoff_reset(struct backoff *b)
{
    b->next_ms = b->min_ms;
}
