/* What the webhook tests share: their own tenants, the Node receiver
 * (tests/webhooks/receiver.mjs, started by run.sh) that records every
 * delivery and verifies its signature with the npm standardwebhooks library,
 * endpoints registered through the API or inserted with SQL, and the
 * deliveries API. */
#ifndef TESTS_INTEGRATION_WEBHOOK_SUPPORT_H
#define TESTS_INTEGRATION_WEBHOOK_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

long wh_now_ms(void);

/* A fresh organization with a test and a live key (caisse-admin). */
struct wh_tenant {
    char org[64];
    char key_test[160];
    char key_live[160];
};
void wh_tenant_new(struct wh_tenant *t, const char *name);

/* A receiver path nobody else uses: "/wh/<label>/<uuid>". */
void wh_unique_path(char *out, size_t outlen, const char *label);
/* The receiver's URL for path ("http://127.0.0.1:<port><path>"). */
void wh_receiver_url(char *out, size_t outlen, const char *path);
void wh_receiver_secret(const char *path, const char *secret);
/* behavior: ok, fail-twice, gone, timeout, redirect, fail, slow (delay_ms),
 * endless (200 and a body that never ends). */
void wh_receiver_behavior(const char *path, const char *behavior, long delay_ms);
/* The records of path, oldest first (receiver.mjs documents their fields). */
json_t *wh_receiver_requests(const char *path);
/* Waits up to timeout_ms for at least min records at path; returns them all. */
json_t *wh_receiver_wait(const char *path, size_t min, long timeout_ms);
/* A record's header (receiver.mjs keeps node's lower-case names). */
const char *wh_record_header(const json_t *record, const char *name);

struct wh_endpoint {
    char id[64];
    char secret[160];
    char path[256];
};
/* POST /webhook-endpoints for the receiver's path (a new unique one with
 * label), enabled_events a JSON array text; asserts 201 and a whsec_ secret,
 * and registers the secret with the receiver. */
void wh_endpoint_create(struct wh_endpoint *e, const char *api_key, const char *label,
                        const char *enabled_events);
/* Inserts an endpoint straight into the table (for URLs the API refuses). */
void wh_endpoint_insert(struct wh_endpoint *e, const char *org, const char *environment,
                        const char *url, const char *enabled_event);
/* GET /webhook-endpoints/:id (asserts 200); new reference. */
json_t *wh_endpoint_get(const char *api_key, const char *id);
bool wh_endpoint_is_disabled(const json_t *endpoint);

/* A session of the key's tenant (201), completed through the internal API. */
char *wh_session_create(const char *api_key);
void wh_session_complete(const char *session_id);
/* The event of type for the session as read from Kafka (without the test's
 * _headers/_key); new reference; asserts it exists. */
json_t *wh_kafka_event(const char *session_id, const char *type);

/* GET /webhook-endpoints/:id/deliveries: the items (a bare array or "data"). */
json_t *wh_deliveries(const char *api_key, const char *endpoint_id);
/* Waits for a delivery of endpoint (for event_id, or any if NULL) whose
 * status is status; NULL when the time ran out. New reference. */
json_t *wh_wait_delivery(const char *api_key, const char *endpoint_id, const char *event_id,
                         const char *status, long timeout_ms);
/* GET /webhook-deliveries/:id (asserts 200), with its "attempts". */
json_t *wh_delivery_get(const char *api_key, const char *delivery_id);
/* Waits until the delivery has at least n attempts in its log. */
json_t *wh_wait_attempts(const char *api_key, const char *delivery_id, size_t n, long timeout_ms);
/* A delivery's or attempt's integer field, -1 when absent or null. */
long wh_int(const json_t *o, const char *field);

/* Whether a request to one of the n endpoints is at the receiver, not
 * answered yet and its client still there (a fault can land mid-request). */
bool wh_request_in_flight(const struct wh_endpoint *eps, size_t n);

#endif
