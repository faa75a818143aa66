/* Retention: events (outbox rows), finished webhook deliveries, the
 * outcomes of catalog commands and replayed dead letters older than
 * CAISSE_EVENT_RETENTION_DAYS are
 * deleted in short batches. The events API already hides old events, and no
 * gateway waits that long for a command; this keeps the tables from growing
 * without bound. Sessions and the catalog themselves are kept: they are the
 * merchant's records. */
#ifndef CAISSE_EXPIRY_RETENTION_H
#define CAISSE_EXPIRY_RETENTION_H

#include <stdbool.h>

#include "infra/db.h"

struct retention_totals {
    long events;
    long deliveries;
    long outcomes;
    long dead_letters; /* replayed ones only */
};

/* Deletes in batches of batch rows, each its own statement, until nothing
 * older than days is left (*finished true), budget_ms has passed or a stop is
 * requested (*finished false: call again soon), so expiry sweeps on the same
 * connection are never held up for long. Adds what it deleted to *totals,
 * also before a failure (C_ERR; deleting is always safe to retry). */
int retention_purge(struct db *db, long days, long batch, long budget_ms,
                    struct retention_totals *totals, bool *finished);

#endif
