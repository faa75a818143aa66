#include "webhook_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/result.h"
#include "core/rfc3339.h"
#include "model/price.h"
#include "model/coupon.h"
#include "model/customer.h"
#include "model/product.h"
#include "model/session.h"
#include "model/webhook_signature.h"
#include "model/subscription.h"
#include "core/hex.h"

const char *const webhook_endpoint_event_types[] = {
    SESSION_EVENT_CREATED,
    SESSION_EVENT_COMPLETED,
    SESSION_EVENT_EXPIRED,
    PRODUCT_EVENT_CREATED,
    PRODUCT_EVENT_UPDATED,
    PRICE_EVENT_CREATED,
    PRICE_EVENT_UPDATED,
    COUPON_EVENT_CREATED,
    COUPON_EVENT_UPDATED,
    CUSTOMER_EVENT_CREATED,
    CUSTOMER_EVENT_UPDATED,
    CUSTOMER_EVENT_DELETED,
    SUBSCRIPTION_EVENT_CREATED,
    SUBSCRIPTION_EVENT_RENEWED,
    SUBSCRIPTION_EVENT_CANCELED,
    SUBSCRIPTION_EVENT_PAST_DUE,
    SESSION_EVENT_PAYMENT_FAILED,
    SESSION_EVENT_PAYMENT_REFUND_REQUIRED,
    NULL,
};

bool webhook_endpoint_event_type_is_valid(const char *name)
{
    if (strcmp(name, WEBHOOK_EVENT_ANY) == 0)
        return true;
    for (size_t i = 0; webhook_endpoint_event_types[i] != NULL; i++) {
        if (strcmp(name, webhook_endpoint_event_types[i]) == 0)
            return true;
    }
    return false;
}

void webhook_endpoint_event_types_text(char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; webhook_endpoint_event_types[i] != NULL && len < outlen; i++) {
        int w = snprintf(out + len, outlen - len, "%s%s", i > 0 ? ", " : "",
                         webhook_endpoint_event_types[i]);
        if (w < 0)
            return;
        len += (size_t)w;
    }
}

void webhook_endpoint_free(struct webhook_endpoint *e)
{
    free(e->url);
    free(e->description);
    free(e->disabled_reason);
    json_decref(e->enabled_events);
    json_decref(e->metadata);
    memset(e, 0, sizeof(*e));
}

void webhook_endpoint_array_free(struct webhook_endpoint *arr, size_t count)
{
    for (size_t i = 0; i < count; i++)
        webhook_endpoint_free(&arr[i]);
    free(arr);
}

void webhook_endpoint_input_free(struct webhook_endpoint_input *in)
{
    free(in->url);
    free(in->description);
    json_decref(in->enabled_events);
    json_decref(in->metadata);
    memset(in, 0, sizeof(*in));
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *webhook_endpoint_json_string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *webhook_endpoint_to_json(const struct webhook_endpoint *e)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(o, "id", json_string(e->id));
    rc |= json_object_set_new(o, "url", webhook_endpoint_json_string_or_null(e->url));
    rc |= json_object_set_new(o, "enabled_events",
                              e->enabled_events != NULL ? json_deep_copy(e->enabled_events)
                                                        : json_array());
    rc |=
        json_object_set_new(o, "description", webhook_endpoint_json_string_or_null(e->description));
    rc |= json_object_set_new(o, "metadata",
                              e->metadata != NULL ? json_deep_copy(e->metadata) : json_object());
    rc |= json_object_set_new(o, "status", json_string(e->disabled ? "disabled" : "enabled"));
    rc |= json_object_set_new(o, "disabled_reason",
                              webhook_endpoint_json_string_or_null(e->disabled_reason));
    rc |= json_object_set_new(o, "environment", json_string(e->environment));
    rc |= json_object_set_new(o, "created_at", rfc3339_to_json(e->created_at));
    rc |= json_object_set_new(o, "updated_at", rfc3339_to_json(e->updated_at));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- SQL -------------------------------------------------------------- */

/* Times are whole seconds like every time of the API (floor, not rounding). */
#define WEBHOOK_ENDPOINT_COLUMNS                                                                   \
    "id, environment, url, array_to_json(enabled_events)::text, description, metadata::text,"      \
    " disabled, disabled_reason, floor(extract(epoch FROM created_at))::bigint,"                   \
    " floor(extract(epoch FROM updated_at))::bigint"

/* Tenant and liveness conditions shared by every merchant statement ($1, $2, $3 = id). */
#define WEBHOOK_ENDPOINT_MINE                                                                      \
    " WHERE id = $3 AND organization_id = $1 AND environment = $2 AND deleted_at IS NULL"

static char *webhook_endpoint_row_string(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static int webhook_endpoint_from_row(const PGresult *r, int row, struct webhook_endpoint *out)
{
    struct webhook_endpoint e;
    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "%s", PQgetvalue(r, row, 0));
    snprintf(e.environment, sizeof(e.environment), "%s", PQgetvalue(r, row, 1));
    e.url = webhook_endpoint_row_string(r, row, 2);
    e.enabled_events = json_loads(PQgetvalue(r, row, 3), 0, NULL);
    e.description = webhook_endpoint_row_string(r, row, 4);
    e.metadata = db_json_value(PQgetvalue(r, row, 5));
    e.disabled = PQgetvalue(r, row, 6)[0] == 't';
    e.disabled_reason = webhook_endpoint_row_string(r, row, 7);
    e.created_at = strtoll(PQgetvalue(r, row, 8), NULL, 10);
    e.updated_at = strtoll(PQgetvalue(r, row, 9), NULL, 10);
    if (e.url == NULL || !json_is_array(e.enabled_events) || !json_is_object(e.metadata)) {
        webhook_endpoint_free(&e);
        return C_ERR;
    }
    *out = e;
    return C_OK;
}

/* Runs a statement returning at most one endpoint. */
static int webhook_endpoint_store_one(struct db *db, const char *sql, int nparams,
                                      const char *const *params, struct webhook_endpoint *out,
                                      bool *found)
{
    PGresult *r = db_exec(db, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    bool any = PQntuples(r) > 0;
    if (any)
        rc = webhook_endpoint_from_row(r, 0, out);
    PQclear(r);
    if (found != NULL)
        *found = any;
    return rc;
}

/* JSON text of a JSON value for a parameter; NULL stays SQL NULL. Caller frees. */
static char *webhook_endpoint_json_param(const json_t *v)
{
    return v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
}

/* ---- sealed secrets ----------------------------------------------------- */

/* The additional data of a sealed secret: where it lives. */
static int webhook_endpoint_secret_aad(char *out, size_t outlen, const char *endpoint_id,
                                       const char *column)
{
    int n = snprintf(out, outlen, "caisse/webhook_endpoints.%s/%s", column, endpoint_id);
    return n > 0 && (size_t)n < outlen ? n : -1;
}

static char *webhook_endpoint_hex(const unsigned char *b, size_t len)
{
    char *out = malloc(2 * len + 1);
    if (out != NULL)
        hex_encode(b, len, out);
    return out;
}

int webhook_endpoint_secret_seal(const struct secretbox_keyring *kr, const char *endpoint_id,
                                 const char *column, const char *secret, char **hex,
                                 struct error *err)
{
    char aad[128];
    int aad_len = webhook_endpoint_secret_aad(aad, sizeof(aad), endpoint_id, column);
    size_t len = strlen(secret);
    if (aad_len < 0 || len >= WEBHOOK_SECRET_MAX)
        return error_set(err, NULL, "cannot seal a webhook secret: too long");
    unsigned char sealed[WEBHOOK_SECRET_MAX + SECRETBOX_OVERHEAD];
    if (secretbox_seal(kr, aad, (size_t)aad_len, secret, len, sealed, err) != C_OK)
        return C_ERR;
    char *h = webhook_endpoint_hex(sealed, len + SECRETBOX_OVERHEAD);
    if (h == NULL)
        return error_set(err, NULL, "out of memory");
    *hex = h;
    return C_OK;
}

int webhook_endpoint_secret_open(const struct secretbox_keyring *kr, const char *endpoint_id,
                                 const char *column, const char *key_id, const char *hex,
                                 char **secret, struct error *err)
{
    char aad[128];
    int aad_len = webhook_endpoint_secret_aad(aad, sizeof(aad), endpoint_id, column);
    size_t hex_len = strlen(hex);
    unsigned char sealed[WEBHOOK_SECRET_MAX + SECRETBOX_OVERHEAD];
    if (aad_len < 0 || hex_len % 2 != 0 || hex_len / 2 > sizeof(sealed) ||
        hex_len / 2 < SECRETBOX_OVERHEAD)
        return error_set(err, NULL, "sealed webhook secret of a wrong length");
    if (hex_decode(hex, hex_len, sealed) != C_OK)
        return error_set(err, NULL, "sealed webhook secret is not hex");
    char plain[WEBHOOK_SECRET_MAX + 1];
    size_t plain_len = 0;
    if (secretbox_open(kr, key_id, aad, (size_t)aad_len, sealed, hex_len / 2,
                       (unsigned char *)plain, &plain_len, err) != C_OK)
        return C_ERR;
    plain[plain_len] = '\0';
    char *out = strlen(plain) == plain_len ? strdup(plain) : NULL;
    OPENSSL_cleanse(plain, sizeof(plain));
    if (out == NULL)
        return error_set(err, NULL, "cannot open a webhook secret (out of memory or a NUL byte)");
    *secret = out;
    return C_OK;
}

/* The secret of a row: the plain text column when set (a row from before
 * migration 0011), else the sealed one opened. *secret: new string. */
static int webhook_endpoint_row_secret(const struct secretbox_keyring *kr, const char *endpoint_id,
                                       const char *column, const char *plain, const char *hex,
                                       const char *key_id, char **secret, struct error *err)
{
    if (plain != NULL) {
        char *copy = strdup(plain);
        if (copy == NULL)
            return error_set(err, NULL, "out of memory");
        *secret = copy;
        return C_OK;
    }
    if (hex == NULL || key_id == NULL) {
        *secret = NULL;
        return C_OK;
    }
    return webhook_endpoint_secret_open(kr, endpoint_id, column, key_id, hex, secret, err);
}

static void webhook_endpoint_secret_free(char *secret)
{
    if (secret != NULL) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}

int webhook_endpoint_store_create(struct db *db, const struct secretbox_keyring *kr,
                                  const char *organization_id, const char *environment,
                                  const struct webhook_endpoint_input *in, const char *secret,
                                  struct webhook_endpoint *out)
{
    static const char sql[] =
        "INSERT INTO webhook_endpoints (id, organization_id, environment, url, enabled_events,"
        " description, metadata, secret_ciphertext, secret_key_id)"
        " VALUES ($1, $2, $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6,"
        " coalesce($7::jsonb, '{}'), decode($8, 'hex'), $9)"
        " RETURNING " WEBHOOK_ENDPOINT_COLUMNS;
    char id[UUID_STR_LEN];
    if (uuid_v7_string(id) != C_OK)
        return C_ERR;
    struct error err = ERROR_INIT;
    char *sealed = NULL;
    if (webhook_endpoint_secret_seal(kr, id, WEBHOOK_ENDPOINT_SECRET, secret, &sealed, &err) !=
        C_OK) {
        log_error("%s", err.message);
        return C_ERR;
    }
    char *events = webhook_endpoint_json_param(in->enabled_events);
    char *metadata = in->has_metadata ? webhook_endpoint_json_param(in->metadata) : NULL;
    int rc = C_ERR;
    if (events != NULL && (!in->has_metadata || in->metadata == NULL || metadata != NULL)) {
        const char *params[9] = {id,       organization_id, environment,
                                 in->url,  events,          in->description,
                                 metadata, sealed,          kr->current.id};
        bool found;
        rc = webhook_endpoint_store_one(db, sql, 9, params, out, &found);
        if (rc == C_OK && !found)
            rc = C_ERR;
    }
    free(events);
    free(metadata);
    free(sealed);
    return rc;
}

int webhook_endpoint_store_get(struct db *db, const char *organization_id, const char *environment,
                               const char *id, struct webhook_endpoint *out, bool *found)
{
    static const char sql[] =
        "SELECT " WEBHOOK_ENDPOINT_COLUMNS " FROM webhook_endpoints" WEBHOOK_ENDPOINT_MINE;
    const char *params[3] = {organization_id, environment, id};
    return webhook_endpoint_store_one(db, sql, 3, params, out, found);
}

/* Adapters for db_rows_to_array. */
static int webhook_endpoint_row_cb(const PGresult *r, int row, void *out)
{
    return webhook_endpoint_from_row(r, row, out);
}

static void webhook_endpoint_free_cb(void *elem)
{
    webhook_endpoint_free(elem);
}

int webhook_endpoint_store_list(struct db *db, const char *organization_id, const char *environment,
                                long limit, const char *starting_after,
                                struct webhook_endpoint **out, size_t *count, bool *cursor_found)
{
    static const char cursor_sql[] = "SELECT 1 FROM webhook_endpoints" WEBHOOK_ENDPOINT_MINE;
    static const char sql[] =
        "WITH cursor AS (SELECT created_at, id FROM webhook_endpoints" WEBHOOK_ENDPOINT_MINE ")"
        " SELECT " WEBHOOK_ENDPOINT_COLUMNS " FROM webhook_endpoints"
        " WHERE organization_id = $1 AND environment = $2 AND deleted_at IS NULL"
        "   AND ($3::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM cursor))"
        " ORDER BY created_at DESC, id DESC LIMIT $4";
    *cursor_found = true;
    *out = NULL;
    *count = 0;
    if (starting_after != NULL) {
        const char *cp[3] = {organization_id, environment, starting_after};
        PGresult *cr = db_exec(db, cursor_sql, 3, cp);
        if (cr == NULL)
            return C_ERR;
        *cursor_found = PQntuples(cr) > 0;
        PQclear(cr);
        if (!*cursor_found)
            return C_OK;
    }
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[4] = {organization_id, environment, starting_after, lim};
    PGresult *r = db_exec(db, sql, 4, params);
    if (r == NULL)
        return C_ERR;
    void *arr = NULL;
    int rc = db_rows_to_array(r, sizeof(struct webhook_endpoint), webhook_endpoint_row_cb,
                              webhook_endpoint_free_cb, &arr, count);
    PQclear(r);
    if (rc == C_OK)
        *out = arr;
    return rc;
}

int webhook_endpoint_store_update(struct db *db, const char *organization_id,
                                  const char *environment, const char *id,
                                  const struct webhook_endpoint_input *in,
                                  struct webhook_endpoint *out, bool *found)
{
    /* One statement for any subset of fields: each $flag switches its field
     * on. SET expressions see the row as it was, which is what the disabled
     * rules need: disabling keeps a reason the worker already recorded;
     * re-enabling a disabled endpoint clears the reason and the failure clock. */
    static const char sql[] =
        "UPDATE webhook_endpoints SET"
        " url = CASE WHEN $4::bool THEN $5 ELSE url END,"
        " enabled_events = CASE WHEN $6::bool"
        "   THEN ARRAY(SELECT jsonb_array_elements_text($7::jsonb)) ELSE enabled_events END,"
        " description = CASE WHEN $8::bool THEN $9 ELSE description END,"
        " metadata = CASE WHEN $10::bool THEN coalesce($11::jsonb, '{}') ELSE metadata END,"
        " disabled = CASE WHEN $12::bool THEN $13::bool ELSE disabled END,"
        " disabled_reason = CASE"
        "   WHEN $12::bool AND $13::bool THEN"
        "     CASE WHEN disabled THEN coalesce(disabled_reason, '" WEBHOOK_ENDPOINT_DISABLED_MANUAL
        "')"
        "     ELSE '" WEBHOOK_ENDPOINT_DISABLED_MANUAL "' END"
        "   WHEN $12::bool AND NOT $13::bool THEN NULL"
        "   ELSE disabled_reason END,"
        " failing_since = CASE WHEN $12::bool AND NOT $13::bool AND disabled THEN NULL"
        "   ELSE failing_since END,"
        " updated_at = now()" WEBHOOK_ENDPOINT_MINE " RETURNING " WEBHOOK_ENDPOINT_COLUMNS;
    char *events = in->has_enabled_events ? webhook_endpoint_json_param(in->enabled_events) : NULL;
    char *metadata = in->has_metadata ? webhook_endpoint_json_param(in->metadata) : NULL;
    if ((in->has_enabled_events && events == NULL) ||
        (in->has_metadata && in->metadata != NULL && metadata == NULL)) {
        free(events);
        free(metadata);
        return C_ERR;
    }
    const char *params[13] = {organization_id,
                              environment,
                              id,
                              in->has_url ? "t" : "f",
                              in->url,
                              in->has_enabled_events ? "t" : "f",
                              events,
                              in->has_description ? "t" : "f",
                              in->description,
                              in->has_metadata ? "t" : "f",
                              metadata,
                              in->has_disabled ? "t" : "f",
                              in->disabled ? "t" : "f"};
    int rc = webhook_endpoint_store_one(db, sql, 13, params, out, found);
    free(events);
    free(metadata);
    return rc;
}

int webhook_endpoint_store_delete(struct db *db, const char *organization_id,
                                  const char *environment, const char *id, bool *found)
{
    static const char sql[] =
        "UPDATE webhook_endpoints SET deleted_at = now(), updated_at = now()" WEBHOOK_ENDPOINT_MINE;
    const char *params[3] = {organization_id, environment, id};
    PGresult *r = db_exec(db, sql, 3, params);
    if (r == NULL)
        return C_ERR;
    *found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return C_OK;
}

int webhook_endpoint_store_rotate_secret(struct db *db, const struct secretbox_keyring *kr,
                                         const char *organization_id, const char *environment,
                                         const char *id, const char *new_secret,
                                         struct webhook_endpoint *out, bool *found)
{
    static const char lock_sql[] = "SELECT secret, encode(secret_ciphertext, 'hex'), secret_key_id"
                                   " FROM webhook_endpoints" WEBHOOK_ENDPOINT_MINE " FOR UPDATE";
    static const char sql[] =
        "UPDATE webhook_endpoints SET previous_secret = NULL,"
        " previous_secret_ciphertext = decode($4, 'hex'), previous_secret_key_id = $5,"
        " previous_secret_expires_at = now() + interval '" WEBHOOK_ENDPOINT_ROTATION_OVERLAP "',"
        " secret = NULL, secret_ciphertext = decode($6, 'hex'), secret_key_id = $5,"
        " updated_at = now()" WEBHOOK_ENDPOINT_MINE " RETURNING " WEBHOOK_ENDPOINT_COLUMNS;
    const char *lock_params[3] = {organization_id, environment, id};
    if (db_begin(db) != C_OK)
        return C_ERR;
    PGresult *r = db_exec(db, lock_sql, 3, lock_params);
    if (r == NULL) {
        db_rollback(db);
        return C_ERR;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        db_rollback(db);
        *found = false;
        return C_OK;
    }
    struct error err = ERROR_INIT;
    char *old = NULL, *old_sealed = NULL, *new_sealed = NULL;
    int rc = webhook_endpoint_row_secret(
        kr, id, WEBHOOK_ENDPOINT_SECRET, PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0),
        PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1),
        PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2), &old, &err);
    PQclear(r);
    if (rc == C_OK && old == NULL)
        rc = error_set(&err, NULL, "the endpoint has no secret");
    if (rc == C_OK)
        rc = webhook_endpoint_secret_seal(kr, id, WEBHOOK_ENDPOINT_PREVIOUS_SECRET, old,
                                          &old_sealed, &err);
    if (rc == C_OK)
        rc = webhook_endpoint_secret_seal(kr, id, WEBHOOK_ENDPOINT_SECRET, new_secret, &new_sealed,
                                          &err);
    webhook_endpoint_secret_free(old);
    if (rc != C_OK) {
        log_fields(LOG_ERROR, json_pack("{ss}", "endpoint_id", id),
                   "cannot rotate a webhook secret: %s", err.message);
        free(old_sealed);
        db_rollback(db);
        return C_ERR;
    }
    const char *params[6] = {organization_id, environment,    id,
                             old_sealed,      kr->current.id, new_sealed};
    struct webhook_endpoint e;
    bool any = false;
    rc = webhook_endpoint_store_one(db, sql, 6, params, &e, &any);
    free(old_sealed);
    free(new_sealed);
    if (rc != C_OK || !any || db_commit(db) != C_OK) {
        if (rc == C_OK && any)
            webhook_endpoint_free(&e);
        db_rollback(db);
        return C_ERR;
    }
    *out = e;
    *found = true;
    return C_OK;
}

/* One batch of the re-encryption, in one transaction: rows after *after (by
 * id) that need it, locked. *done: no such row was left. */
static int webhook_endpoint_reencrypt_batch(struct db *db, const struct secretbox_keyring *kr,
                                            char after[UUID_STR_LEN], long *changed, bool *done,
                                            struct error *err)
{
    static const char select_sql[] =
        "SELECT id, secret, encode(secret_ciphertext, 'hex'), secret_key_id, previous_secret,"
        " encode(previous_secret_ciphertext, 'hex'), previous_secret_key_id"
        " FROM webhook_endpoints"
        " WHERE id > $1::uuid AND (secret IS NOT NULL OR previous_secret IS NOT NULL"
        "   OR secret_key_id IS DISTINCT FROM $2 OR previous_secret_key_id <> $2)"
        " ORDER BY id LIMIT 100 FOR UPDATE";
    static const char update_sql[] =
        "UPDATE webhook_endpoints SET secret = NULL, secret_ciphertext = decode($2, 'hex'),"
        " secret_key_id = $3, previous_secret = NULL,"
        " previous_secret_ciphertext = decode($4, 'hex'),"
        " previous_secret_key_id = CASE WHEN $4::text IS NULL THEN NULL ELSE $3 END"
        " WHERE id = $1";
    const char *sp[2] = {after, kr->current.id};
    if (db_begin(db) != C_OK)
        return error_set(err, NULL, "%s", db->last_error);
    PGresult *r = db_exec(db, select_sql, 2, sp);
    if (r == NULL) {
        error_set(err, NULL, "%s", db->last_error);
        db_rollback(db);
        return C_ERR;
    }
    int n = PQntuples(r);
    int rc = C_OK;
    long count = 0;
    for (int i = 0; i < n && rc == C_OK; i++) {
#define WEBHOOK_ENDPOINT_CELL(c) (PQgetisnull(r, i, (c)) ? NULL : PQgetvalue(r, i, (c)))
        const char *id = PQgetvalue(r, i, 0);
        char *cur = NULL, *prev = NULL, *cur_sealed = NULL, *prev_sealed = NULL;
        rc = webhook_endpoint_row_secret(kr, id, WEBHOOK_ENDPOINT_SECRET, WEBHOOK_ENDPOINT_CELL(1),
                                         WEBHOOK_ENDPOINT_CELL(2), WEBHOOK_ENDPOINT_CELL(3), &cur,
                                         err);
        if (rc == C_OK)
            rc = webhook_endpoint_row_secret(kr, id, WEBHOOK_ENDPOINT_PREVIOUS_SECRET,
                                             WEBHOOK_ENDPOINT_CELL(4), WEBHOOK_ENDPOINT_CELL(5),
                                             WEBHOOK_ENDPOINT_CELL(6), &prev, err);
#undef WEBHOOK_ENDPOINT_CELL
        if (rc == C_OK && cur == NULL)
            rc = error_set(err, NULL, "no secret at all");
        if (rc == C_OK)
            rc = webhook_endpoint_secret_seal(kr, id, WEBHOOK_ENDPOINT_SECRET, cur, &cur_sealed,
                                              err);
        if (rc == C_OK && prev != NULL)
            rc = webhook_endpoint_secret_seal(kr, id, WEBHOOK_ENDPOINT_PREVIOUS_SECRET, prev,
                                              &prev_sealed, err);
        webhook_endpoint_secret_free(cur);
        webhook_endpoint_secret_free(prev);
        if (rc == C_OK) {
            const char *up[4] = {id, cur_sealed, kr->current.id, prev_sealed};
            if (db_exec_command(db, update_sql, 4, up) != C_OK)
                rc = error_set(err, NULL, "%s", db->last_error);
            else
                count++;
        } else {
            error_wrap(err, "endpoint %s: ", id);
        }
        free(cur_sealed);
        free(prev_sealed);
        if (rc == C_OK)
            snprintf(after, UUID_STR_LEN, "%s", id);
    }
    PQclear(r);
    if (rc != C_OK) {
        db_rollback(db);
        return C_ERR;
    }
    if (db_commit(db) != C_OK)
        return error_set(err, NULL, "%s", db->last_error);
    *changed += count;
    *done = n == 0;
    return C_OK;
}

int webhook_endpoint_secrets_reencrypt(struct db *db, const struct secretbox_keyring *kr,
                                       long *changed, struct error *err)
{
    char after[UUID_STR_LEN] = "00000000-0000-0000-0000-000000000000";
    long count = 0;
    bool done = false;
    while (!done) {
        if (webhook_endpoint_reencrypt_batch(db, kr, after, &count, &done, err) != C_OK) {
            *changed = count;
            return C_ERR;
        }
    }
    *changed = count;
    return C_OK;
}

int webhook_endpoint_secrets_pending(struct db *db, const char *current_key_id, long *count)
{
    static const char sql[] = "SELECT count(*) FROM webhook_endpoints"
                              " WHERE secret IS NOT NULL OR previous_secret IS NOT NULL"
                              "   OR ($1::text IS NOT NULL AND (secret_key_id IS DISTINCT FROM $1"
                              "     OR previous_secret_key_id <> $1))";
    const char *params[1] = {current_key_id};
    PGresult *r = db_exec(db, sql, 1, params);
    if (r == NULL)
        return C_ERR;
    *count = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return C_OK;
}

int webhook_endpoint_count_disabled(struct db *db, long long *count)
{
    PGresult *r =
        db_exec(db, "SELECT count(*) FROM webhook_endpoints WHERE disabled AND deleted_at IS NULL",
                0, NULL);
    if (r == NULL)
        return C_ERR;
    *count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return C_OK;
}

/* The first key of the advisory locks of endpoint creates ("whep"); the
 * two-key space never meets the one-key locks (outbox.c's relay lock). */
#define WEBHOOK_ENDPOINT_CREATE_LOCK_CLASS "1919248752"

int webhook_endpoint_store_lock_tenant(struct db *db, const char *organization_id,
                                       const char *environment, long *count)
{
    /* Two statements: the count's snapshot must be taken after the lock is
     * held, so that it sees what the previous holder committed. */
    static const char lock_sql[] =
        "SELECT pg_advisory_xact_lock(" WEBHOOK_ENDPOINT_CREATE_LOCK_CLASS
        ", hashtext($1::text || '/' || $2::text))";
    static const char count_sql[] = "SELECT count(*) FROM webhook_endpoints"
                                    " WHERE organization_id = $1 AND environment = $2"
                                    " AND deleted_at IS NULL";
    const char *params[2] = {organization_id, environment};
    if (db_exec_command(db, lock_sql, 2, params) != C_OK)
        return C_ERR;
    PGresult *r = db_exec(db, count_sql, 2, params);
    if (r == NULL)
        return C_ERR;
    *count = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return C_OK;
}
