/* Request validation for the REST API: complete, so that a command that reaches
 * the session worker is always well formed. Messages are the API's contract. */
#ifndef CAISSE_VALIDATE_H
#define CAISSE_VALIDATE_H

#include <stdint.h>

#include <jansson.h>

#include "model/session.h"
#include "core/error.h"
#include "core/uuid.h"
#include "model/webhook_endpoint.h"

struct validate_create_options {
    const char *default_currency; /* the organization's */
    int64_t now;                  /* epoch seconds */
    long default_ttl_seconds;
    long min_ttl_seconds;
    long max_ttl_seconds;
};

/* Checks a parsed POST /checkout-sessions body and fills the request fields of
 * out (which must be session_init()ed). Tenancy, ids and times other than
 * expires_at are the caller's. A body naming a product_id or price_id may
 * leave amount out: out->amount is then 0 until the catalog's price gives it
 * (gateway/session_catalog.h). On C_ERR err says why; out may hold partial
 * values and is still freed by session_free. */
int validate_create_request(const json_t *body, const struct validate_create_options *opt,
                            struct session *out, struct error *err);

/* The deepest offset GET /checkout-sessions takes; starting_after goes further. */
#define VALIDATE_MAX_LIST_OFFSET 10000

/* A JSON number that is a whole value (JSON Schema's integer): 10000.0
 * counts, 10000.5 does not, nor anything past 9e15. C_ERR: not one. */
int validate_whole_number(const json_t *v, long long *out);

/* Query parameters of GET /checkout-sessions; NULL = absent. */
int validate_list_query(const char *status, const char *limit, const char *offset,
                        const char *starting_after, struct session_list_query *out,
                        struct error *err);

/* POST /webhook-endpoints: url and enabled_events required, description and
 * metadata optional. PATCH /webhook-endpoints/:id: any of those and disabled.
 * out must be zeroed; on C_ERR it may hold partial values and is still freed
 * by webhook_endpoint_input_free. The url's address rules are netguard's. */
int validate_webhook_endpoint_create(const json_t *body, struct webhook_endpoint_input *out,
                                     struct error *err);
int validate_webhook_endpoint_update(const json_t *body, struct webhook_endpoint_input *out,
                                     struct error *err);
/* limit (1..100, default 20) and starting_after of the webhook and event
 * lists; NULL = absent. noun names the cursor's object in the message
 * ("a webhook endpoint"); starting_after_out is "" when absent. */
int validate_page_query(const char *limit, const char *starting_after, const char *noun,
                        long *limit_out, char starting_after_out[UUID_STR_LEN], struct error *err);
/* The type filter of GET /events: one of the event types
 * (webhook_endpoint_event_types). */
int validate_event_type(const char *type, struct error *err);

/* The Idempotency-Key header: 1 to 255 characters of UTF-8 text without
 * control characters (it is stored, compared and echoed in logs as text). */
int validate_idempotency_key(const char *key, struct error *err);

/* ---- the rules every resource's validation uses --------------------------------------- */

/* 400 "Unknown parameter: <name>" for a member of body not among fields[0..n). */
int validate_known_fields(const json_t *body, const char *const *fields, size_t n,
                          struct error *err);
/* An optional string member: absent or null leaves *out as it is; else a
 * string without NUL of at most max_chars characters, copied into *out (the
 * old value freed). */
int validate_optional_string(const json_t *body, const char *name, size_t max_chars, char **out,
                             struct error *err);
/* An optional UUID member, in canonical lower case into out (left as it is
 * when absent or null). */
int validate_optional_uuid(const json_t *body, const char *name, char out[UUID_STR_LEN],
                           struct error *err);
/* An optional boolean member (left as it is when absent or null). */
int validate_optional_bool(const json_t *body, const char *name, bool *out, struct error *err);
/* The metadata rules (keys, values, sizes) of a given value (not null); *out
 * gets a copy (the old one released). */
int validate_metadata_value(const json_t *v, json_t **out, struct error *err);

/* Helpers shared with the tests. */
int validate_email(const char *s);
int validate_e164(const char *s);
int validate_http_url(const char *s);

#endif
