/* Webhook deliveries (one per event and endpoint) and their attempt log, as
 * the merchant API reads them. The webhook worker owns every other write; the
 * only one here is the merchant's "send again now". */
#ifndef CAISSE_WEBHOOK_DELIVERY_H
#define CAISSE_WEBHOOK_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "infra/db.h"
#include "core/uuid.h"

/* Strings are owned (NULL is JSON null). */
struct webhook_delivery {
    char id[UUID_STR_LEN];
    char event_id[UUID_STR_LEN];
    char endpoint_id[UUID_STR_LEN];
    char *event_type;
    char status[16]; /* pending, succeeded, failed */
    long attempt_count;
    bool has_last_status_code;
    long last_status_code;
    char *last_error;
    bool has_next_attempt_at;
    int64_t next_attempt_at; /* epoch seconds */
    int64_t created_at;
    int64_t updated_at;
};

void webhook_delivery_free(struct webhook_delivery *d);
void webhook_delivery_array_free(struct webhook_delivery *arr, size_t count);

/* The REST object: id, endpoint_id, event_id, event_type, status,
 * attempt_count, last_status_code, last_error, next_attempt_at, created_at,
 * updated_at. New reference, NULL on allocation failure. */
json_t *webhook_delivery_to_json(const struct webhook_delivery *d);

/* Every read is scoped by the tenant and ignores deliveries of deleted
 * endpoints; found false: no such delivery for this tenant. */

/* The deliveries of one endpoint, newest first (created_at, then id).
 * starting_after: a delivery id of that endpoint or NULL (cursor_found false
 * when it is not one). *out: new array (webhook_delivery_array_free). */
int webhook_delivery_store_list(struct db *db, const char *organization_id, const char *environment,
                                const char *endpoint_id, long limit, const char *starting_after,
                                struct webhook_delivery **out, size_t *count, bool *cursor_found);
int webhook_delivery_store_get(struct db *db, const char *organization_id, const char *environment,
                               const char *id, struct webhook_delivery *out, bool *found);
/* The attempts of a delivery in the order they were made, as a new JSON
 * array of {attempted_at, duration_ms, status_code, response_body, error}. */
int webhook_delivery_store_attempts(struct db *db, const char *delivery_id, json_t **out);
/* Sends again now: status pending, next_attempt_at now, lease cleared (a
 * worker holding it loses it; at worst the receiver gets one more duplicate
 * with the same webhook-id, which it must tolerate anyway). Only while the
 * endpoint is enabled: *endpoint_disabled true (and nothing changed)
 * otherwise. */
int webhook_delivery_store_retry(struct db *db, const char *organization_id,
                                 const char *environment, const char *id,
                                 struct webhook_delivery *out, bool *found,
                                 bool *endpoint_disabled);

/* Deletes up to limit finished deliveries (succeeded or failed) created more
 * than days ago, with their attempt logs. *deleted < limit: nothing older is
 * left to delete for now. */
int webhook_delivery_purge_older_than(struct db *db, long days, long limit, long *deleted);

#endif
