#include "retention.h"

#include <stdint.h>
#include <time.h>

#include "model/command_outcome.h"
#include "model/dead_letter.h"
#include "model/outbox.h"
#include "core/clock.h"
#include "core/result.h"
#include "infra/service.h"
#include "model/webhook_delivery.h"

int retention_purge(struct db *db, long days, long batch, long budget_ms,
                    struct retention_totals *totals, bool *finished)
{
    int64_t deadline = clock_now_ms() + budget_ms;
    *finished = false;
    /* Deliveries first: a delivery never outlives the event it carries. */
    long n = batch;
    while (n >= batch) {
        if (service_stopping() || clock_now_ms() >= deadline)
            return C_OK;
        if (webhook_delivery_purge_older_than(db, days, batch, &n) != C_OK)
            return C_ERR;
        totals->deliveries += n;
    }
    n = batch;
    while (n >= batch) {
        if (service_stopping() || clock_now_ms() >= deadline)
            return C_OK;
        if (outbox_purge_older_than(db, days, batch, &n) != C_OK)
            return C_ERR;
        totals->events += n;
    }
    n = batch;
    while (n >= batch) {
        if (service_stopping() || clock_now_ms() >= deadline)
            return C_OK;
        if (command_outcome_purge_older_than(db, days, batch, &n) != C_OK)
            return C_ERR;
        totals->outcomes += n;
    }
    n = batch;
    while (n >= batch) {
        if (service_stopping() || clock_now_ms() >= deadline)
            return C_OK;
        if (dead_letter_purge_replayed_older_than(db, days, batch, &n) != C_OK)
            return C_ERR;
        totals->dead_letters += n;
    }
    *finished = true;
    return C_OK;
}
