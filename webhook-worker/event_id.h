/* The id of a CloudEvent record, read without decoding the whole event: the
 * fan-out needs nothing else of it, and decoding every event of a burst with
 * jansson was a quarter of the webhook worker's CPU (make bench, perf). */
#ifndef WEBHOOK_WORKER_EVENT_ID_H
#define WEBHOOK_WORKER_EVENT_ID_H

#include <stddef.h>

#include "core/uuid.h"

/* Finds the top-level "id" member of the JSON object in json[0..len) and
 * copies its string value into out. C_OK only when the text is one
 * well-formed JSON object whose single top-level "id" (spelled without
 * escapes) is a string of UUID_STR_LEN - 1 plain characters; C_ERR
 * otherwise, out untouched: the caller then decodes the record in full, so
 * a record this cannot read is judged exactly as before. */
int event_id_scan(const char *json, size_t len, char out[UUID_STR_LEN]);

#endif
