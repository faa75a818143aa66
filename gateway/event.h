/* The events API's view of the outbox: a tenant's events (the CloudEvents the
 * relay publishes, stored as published), kept for a retention period. Rows
 * older than the retention are never shown, even before any cleanup ran. */
#ifndef CAISSE_EVENT_H
#define CAISSE_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "infra/db.h"

struct event_list_query {
    const char *type; /* NULL: every type */
    long limit;
    const char *starting_after; /* an event id or NULL */
    long retention_days;
};

/* Newest first (commit order, seq). *out: new JSON array of the CloudEvents.
 * cursor_found false when starting_after names no event of the tenant within
 * the retention. */
int event_store_list(struct db *db, const char *organization_id, const char *environment,
                     const struct event_list_query *q, json_t **out, bool *cursor_found);
/* The CloudEvent text exactly as stored and published; *payload is a new
 * string (free), NULL with found false when the tenant has no such event. */
int event_store_get(struct db *db, const char *organization_id, const char *environment,
                    const char *id, long retention_days, char **payload, bool *found);

#endif
