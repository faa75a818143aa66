/* A merchant's webhook endpoint: the one place where its JSON form (the REST
 * object), its C form and its SQL form are defined. The gateway manages
 * endpoints through it; the webhook worker reads the subscribed ones (with
 * their signing secrets, which never leave this module in a REST object). */
#ifndef CAISSE_WEBHOOK_ENDPOINT_H
#define CAISSE_WEBHOOK_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "infra/db.h"
#include "infra/secretbox.h"
#include "core/uuid.h"

#define WEBHOOK_EVENT_ANY "*"
/* The reason stored when the merchant disables an endpoint (PATCH disabled). */
#define WEBHOOK_ENDPOINT_DISABLED_MANUAL "manual"

/* Strings are owned (NULL is JSON null). */
struct webhook_endpoint {
    char id[UUID_STR_LEN];
    char environment[5];
    char *url;
    json_t *enabled_events; /* owned array of strings, never NULL after a read */
    char *description;
    json_t *metadata; /* owned object, never NULL after a read */
    bool disabled;
    char *disabled_reason;
    int64_t created_at; /* epoch seconds */
    int64_t updated_at;
};

void webhook_endpoint_free(struct webhook_endpoint *e);
void webhook_endpoint_array_free(struct webhook_endpoint *arr, size_t count);

/* Every event type there is, NULL-terminated: the one list of what an
 * endpoint may subscribe to (enabled_events, with "*" for all of them) and of
 * what GET /events filters on. A resource's new event types go here. */
extern const char *const webhook_endpoint_event_types[];
/* Whether name is an event type an endpoint may subscribe to ("*" included). */
bool webhook_endpoint_event_type_is_valid(const char *name);
/* The types of the list, "a, b, c", for messages; cut to outlen. */
void webhook_endpoint_event_types_text(char *out, size_t outlen);

/* The REST object: id, url, enabled_events, description, metadata, status
 * ("enabled"/"disabled"), disabled_reason, environment, created_at,
 * updated_at. Never the secret: the caller adds it where it is shown. New
 * reference, NULL on allocation failure. */
json_t *webhook_endpoint_to_json(const struct webhook_endpoint *e);

/* What a merchant sets, as validated (validate_webhook_endpoint_*): create
 * has url and enabled_events; an update any subset. description NULL with
 * has_description clears it. */
struct webhook_endpoint_input {
    bool has_url;
    char *url;
    bool has_enabled_events;
    json_t *enabled_events; /* array of distinct type names */
    bool has_description;
    char *description;
    bool has_metadata;
    json_t *metadata; /* object */
    bool has_disabled;
    bool disabled;
};

void webhook_endpoint_input_free(struct webhook_endpoint_input *in);

/* ---- SQL -------------------------------------------------------------- */

/* All reads and writes of the merchant API are scoped by the tenant and never
 * see deleted endpoints; found false: no such endpoint for this tenant. */

/* Inserts a new endpoint (id generated here) with its secret, sealed under
 * kr's current key; *out is the row. */
int webhook_endpoint_store_create(struct db *db, const struct secretbox_keyring *kr,
                                  const char *organization_id, const char *environment,
                                  const struct webhook_endpoint_input *in, const char *secret,
                                  struct webhook_endpoint *out);
int webhook_endpoint_store_get(struct db *db, const char *organization_id, const char *environment,
                               const char *id, struct webhook_endpoint *out, bool *found);
/* Newest first (created_at, then id). starting_after: an endpoint id or NULL;
 * cursor_found false when it names no endpoint of the tenant. *out: new array
 * of *count endpoints (webhook_endpoint_array_free). */
int webhook_endpoint_store_list(struct db *db, const char *organization_id, const char *environment,
                                long limit, const char *starting_after,
                                struct webhook_endpoint **out, size_t *count, bool *cursor_found);
/* Applies the fields present in in. Disabling records the reason "manual"
 * (keeping the worker's reason if it was already disabled); re-enabling a
 * disabled endpoint clears disabled_reason and failing_since. */
int webhook_endpoint_store_update(struct db *db, const char *organization_id,
                                  const char *environment, const char *id,
                                  const struct webhook_endpoint_input *in,
                                  struct webhook_endpoint *out, bool *found);
/* Soft delete: sets deleted_at; the endpoint is gone for every read after. */
int webhook_endpoint_store_delete(struct db *db, const char *organization_id,
                                  const char *environment, const char *id, bool *found);
/* new_secret becomes the secret; the old one becomes previous_secret, valid
 * for another 24 hours (WEBHOOK_ENDPOINT_ROTATION_OVERLAP). Both are sealed
 * under kr's current key (the old one is opened and sealed again for its new
 * column, in one transaction with the row locked). */
#define WEBHOOK_ENDPOINT_ROTATION_OVERLAP "24 hours"
int webhook_endpoint_store_rotate_secret(struct db *db, const struct secretbox_keyring *kr,
                                         const char *organization_id, const char *environment,
                                         const char *id, const char *new_secret,
                                         struct webhook_endpoint *out, bool *found);

/* ---- signing secrets at rest ------------------------------------------- */

/* A secret is stored sealed (infra/secretbox.h) in <column>_ciphertext with
 * the key's id in <column>_key_id; the additional data is the table, the
 * column and the endpoint id, so a sealed secret does not open in another
 * row or column. Rows from before migration 0011 may still hold the plain
 * text in <column> until caisse-admin moves it (secrets reencrypt). */
#define WEBHOOK_ENDPOINT_SECRET "secret"
#define WEBHOOK_ENDPOINT_PREVIOUS_SECRET "previous_secret"

/* Seals secret for column of endpoint id under kr's current key: *hex (new
 * string, the caller frees) is the sealed bytes in hex, for decode($n, 'hex'). */
int webhook_endpoint_secret_seal(const struct secretbox_keyring *kr, const char *endpoint_id,
                                 const char *column, const char *secret, char **hex,
                                 struct error *err);
/* Opens what webhook_endpoint_secret_seal made (hex as encode(col, 'hex')
 * reads it) under key_id: *secret is a new string the caller cleanses and
 * frees. C_ERR: unknown key id, altered value, or another row's or column's. */
int webhook_endpoint_secret_open(const struct secretbox_keyring *kr, const char *endpoint_id,
                                 const char *column, const char *key_id, const char *hex,
                                 char **secret, struct error *err);

/* caisse-admin: seals again under kr's current key every secret of every
 * endpoint (deleted ones too) that is in plain text or under another key,
 * and clears the plain text; a batch of rows per transaction. *changed: rows
 * rewritten. C_ERR (err says which endpoint) when a secret cannot be opened
 * with kr: the rows done before it stay done. */
int webhook_endpoint_secrets_reencrypt(struct db *db, const struct secretbox_keyring *kr,
                                       long *changed, struct error *err);
/* Endpoints whose secrets are still in plain text, or sealed under a key
 * other than current_key_id (NULL: any sealed one counts as done). */
int webhook_endpoint_secrets_pending(struct db *db, const char *current_key_id, long *count);

/* The guard of a create under a cap of endpoints per tenant: inside the
 * caller's transaction, takes the tenant's transaction-level advisory lock
 * (so that concurrent creates of one tenant are decided one after the other)
 * and counts its endpoints not deleted. The caller creates only when *count
 * is under its cap, then commits, which releases the lock. */
int webhook_endpoint_store_lock_tenant(struct db *db, const char *organization_id,
                                       const char *environment, long *count);

/* Endpoints disabled (by their merchant, a 410 or failing too long) and not
 * deleted, across tenants, for the webhook worker's gauge. Endpoints are few
 * per merchant, so a scan of the table is cheap at a gauge's pace. */
int webhook_endpoint_count_disabled(struct db *db, long long *count);

#endif
