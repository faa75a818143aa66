#include "catalog.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_writer.h"
#include "core/result.h"
#include "core/rfc3339.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "idempotency.h"
#include "model/command_outcome.h"
#include "pipeline.h"
#include "validate.h"

/* The longest value a text filter takes (an email is at most 254). */
#define CATALOG_FILTER_TEXT_MAX 254

static const struct catalog_resource *catalog_of(const struct http_request *req)
{
    const struct catalog_resource *c = req->route.route->ctx;
    return c;
}

/* "a product": the noun in lower case with its article (every catalog noun
 * starts with a consonant). */
static void catalog_a_noun(const struct resource_store *store, char *out, size_t outlen)
{
    snprintf(out, outlen, "a %s", store->noun);
    for (char *p = out; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
}

/* The route's {id} as a canonical UUID in out. false: it is none, answered
 * with 400 "<Noun> id must be a UUID". */
static bool catalog_parse_id(struct http_request *req, const struct resource_store *store,
                             char out[UUID_STR_LEN], enum MHD_Result *rc)
{
    struct uuid u;
    if (uuid_parse(req->route.params[0], &u) != C_OK) {
        *rc = http_respond_error(req, 400, "validation_error", "id", "%s id must be a UUID",
                                 store->noun);
        return false;
    }
    uuid_format(&u, out);
    return true;
}

static enum MHD_Result catalog_not_found(struct http_request *req,
                                         const struct resource_store *store, const char *id)
{
    return http_respond_error(req, 404, "not_found", "id",
                              "%s with ID %s not found or access denied", store->noun, id);
}

/* A new, initialized object of store's resource; NULL when out of memory. */
static void *catalog_object_new(const struct resource_store *store)
{
    void *obj = malloc(store->resource->size);
    if (obj != NULL && resource_init(store->resource, obj) != C_OK) {
        free(obj);
        return NULL;
    }
    return obj;
}

static void catalog_object_free(const struct resource_store *store, void *obj)
{
    if (obj == NULL)
        return;
    resource_free(store->resource, obj);
    free(obj);
}

/* The REST object of obj as text, written by the resource's writer (a
 * HUNDREDTHS field's number exactly: 12.5, never a double's digits), which is
 * otherwise what json_dumps prints of resource_to_json. New string, NULL when
 * out of memory. */
static char *catalog_object_text(const struct resource_store *store, const void *obj)
{
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "{");
    resource_write_members(&w, store->resource, obj);
    json_writer_literal(&w, "}");
    if (json_writer_end(&w, mark) != C_OK) {
        json_writer_free(&w);
        return NULL;
    }
    return w.buf; /* taken */
}

/* Answers obj (its text: http_respond_json_text answers a bodiless 500 when
 * it could not be written). */
static enum MHD_Result catalog_respond_object(struct http_request *req, unsigned status,
                                              const struct resource_store *store, const void *obj,
                                              const char *const *headers)
{
    return http_respond_json_text(req, status, catalog_object_text(store, obj), headers);
}

/* The op's answer: obj as a tree (for the Location and comparisons) and as text. */
static bool catalog_op_set_object(struct pipeline_op *op, const struct resource_store *store,
                                  const void *obj)
{
    json_t *tree = resource_to_json(store->resource, obj);
    char *text = catalog_object_text(store, obj);
    if (tree == NULL || text == NULL) {
        json_decref(tree);
        free(text);
        return false;
    }
    pipeline_op_set_body_text(op, tree, text);
    return true;
}

/* A checked object read in a new allocation: *out NULL when not found. */
static int catalog_read(struct db *db, const struct resource_store *store,
                        const char *organization_id, const char *environment, const char *id,
                        void **out)
{
    *out = NULL;
    void *obj = malloc(store->resource->size);
    if (obj == NULL)
        return C_ERR;
    bool found = false;
    if (resource_store_get(db, store, organization_id, environment, id, obj, &found) != C_OK) {
        free(obj);
        return C_ERR;
    }
    if (!found) {
        free(obj);
        return C_OK;
    }
    *out = obj;
    return C_OK;
}

unsigned catalog_outcome_status(const char *code)
{
    if (strcmp(code, COMMAND_OUTCOME_NOT_FOUND) == 0)
        return 404;
    if (strcmp(code, COMMAND_OUTCOME_INVALID) == 0)
        return 400;
    return 409; /* resource_conflict, invalid_state */
}

/* The parameter a refusal names: the object's id when it is about the object
 * the path names (it is not there, or its state forbids the change). */
static const char *catalog_outcome_param(const char *code)
{
    return strcmp(code, COMMAND_OUTCOME_NOT_FOUND) == 0 ||
                   strcmp(code, COMMAND_OUTCOME_INVALID_STATE) == 0
               ? "id"
               : NULL;
}

/* The answer to a refused command: its outcome's error. */
static unsigned catalog_refused(struct pipeline_op *op, const struct command_outcome *o)
{
    pipeline_op_set_error(op, o->code, catalog_outcome_param(o->code), "%s", o->message);
    return catalog_outcome_status(o->code);
}

/* An Idempotency-Key reused for another object (an action's: its command id
 * comes from the key, its object from the path). */
static unsigned catalog_key_conflict(struct pipeline_op *op)
{
    pipeline_op_set_error(op, "idempotency_conflict", "Idempotency-Key",
                          "Idempotency-Key was reused with a different request payload");
    return 409;
}

enum catalog_check catalog_check_reference(struct db *db, const struct tenant_identity *who,
                                           const struct resource_store *store, const char *field,
                                           const char *id, struct error *err)
{
    void *obj;
    if (catalog_read(db, store, who->organization_id, who->environment, id, &obj) != C_OK)
        return CATALOG_CHECK_UNAVAILABLE;
    if (obj == NULL) {
        error_set(err, field, "%s %s not found", field, id);
        return CATALOG_CHECK_INVALID;
    }
    catalog_object_free(store, obj);
    return CATALOG_CHECK_OK;
}

/* ---- create ------------------------------------------------------------------------ */

/* What a create's decision needs once the request is gone. */
struct catalog_ctx {
    const struct resource_store *store;
    char organization_id[UUID_STR_LEN];
    char environment[RESOURCE_STORE_ENV_LEN];
    char command_id[UUID_STR_LEN];
    char *idempotency_key; /* create: NULL without the header */
    char request_hash[RESOURCE_STORE_REQUEST_HASH_LEN];
};

static void catalog_ctx_free(void *p)
{
    struct catalog_ctx *ctx = p;
    if (ctx != NULL)
        free(ctx->idempotency_key);
    free(ctx);
}

/* A keyed create: the object its Idempotency-Key names, as stored. The same
 * request (hash) answers with it, Idempotent-Replayed unless it is the op's
 * own as answered; another request under the key is a 409. 0: not readable
 * yet. */
static unsigned catalog_create_by_key(struct pipeline_op *op, struct db *db, bool deadline,
                                      const struct command_outcome *outcome)
{
    struct catalog_ctx *ctx = op->ctx;
    const struct resource_store *store = ctx->store;
    void *stored = malloc(store->resource->size);
    bool found = false;
    if (stored == NULL ||
        resource_store_find_by_idempotency_key(db, store, ctx->organization_id, ctx->environment,
                                               ctx->idempotency_key, stored, &found) != C_OK) {
        free(stored);
        return deadline ? 202 : 0;
    }
    if (!found) {
        free(stored);
        /* Refused for a unique value of its own (not the key), or not yet. */
        if (outcome != NULL && outcome->refused)
            return catalog_refused(op, outcome);
        return deadline ? 202 : 0;
    }
    unsigned status = 201;
    if (strcmp(resource_store_request_hash(store, stored), ctx->request_hash) != 0) {
        pipeline_op_set_error(op, "idempotency_conflict", "Idempotency-Key",
                              "Idempotency-Key was reused with a different request payload");
        status = 409;
    } else {
        json_t *as_stored = resource_to_json(store->resource, stored);
        /* Ours as stored, or a retry's identical to the second: nothing replayed. */
        if (as_stored != NULL && !(strcmp(resource_store_id(store, stored), op->object_id) == 0 &&
                                   json_equal(as_stored, op->body)))
            op->replayed = catalog_op_set_object(op, store, stored);
        json_decref(as_stored);
    }
    catalog_object_free(store, stored);
    return status;
}

/* The worker applied or refused a create (or the wait ran out). Inserted by
 * this op's own command (the notification named it): the object is the
 * request's, whose body the op holds. With an Idempotency-Key, the object id
 * is the key's (gateway/idempotency.h) and every retry of the key sent a
 * command for it: the object is whichever the worker applied first, read by
 * its key. Without, the command's outcome says: applied, or refused (its
 * error). */
static unsigned catalog_create_decide(struct pipeline_op *op, struct db *db,
                                      enum pipeline_reason why)
{
    struct catalog_ctx *ctx = op->ctx;
    bool deadline = why == PIPELINE_DEADLINE;
    if (why == PIPELINE_INSERTED)
        return 201;
    struct command_outcome o;
    bool found = false;
    if (command_outcome_get(db, ctx->command_id, &o, &found) != C_OK)
        return deadline ? 202 : 0;
    if (ctx->idempotency_key != NULL)
        return catalog_create_by_key(op, db, deadline, found ? &o : NULL);
    if (!found)
        return deadline ? 202 : 0;
    return o.refused ? catalog_refused(op, &o) : 201;
}

static void catalog_request_hash(const json_t *body, char out[RESOURCE_STORE_REQUEST_HASH_LEN])
{
    /* Canonical form: the same JSON with other spacing or key order is the
     * same request. */
    char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    tenant_sha256_hex(canonical != NULL ? canonical : "", out);
    free(canonical);
}

/* An earlier create with the same Idempotency-Key: the same object again
 * (201, Idempotent-Replayed), or 409 when the bodies differ. */
static enum MHD_Result catalog_answer_existing(struct http_request *req,
                                               const struct resource_store *store,
                                               const void *existing, const char *request_hash)
{
    if (strcmp(resource_store_request_hash(store, existing), request_hash) != 0)
        return http_respond_error(req, 409, "idempotency_conflict", "Idempotency-Key",
                                  "Idempotency-Key was reused with a different request payload");
    char location[128];
    snprintf(location, sizeof(location), "%s/%s", store->path, resource_store_id(store, existing));
    const char *headers[] = {"Idempotent-Replayed", "true", "Location", location, NULL};
    return catalog_respond_object(req, 201, store, existing, headers);
}

/* Validation, the database's checks and the Idempotency-Key's earlier create:
 * true when the create goes on (obj filled, hash set), false when answered. */
static bool catalog_create_prepare(struct http_request *req, struct db *db,
                                   const struct catalog_resource *c, const json_t *body,
                                   const char *key, void *obj,
                                   char hash[RESOURCE_STORE_REQUEST_HASH_LEN], enum MHD_Result *rc)
{
    const struct resource_store *store = c->store;
    struct error err = ERROR_INIT;
    if (c->validate_create(body, &req->identity, obj, &err) != C_OK) {
        *rc = http_respond_error(req, 400, "validation_error", err.param, "%s", err.message);
        return false;
    }
    enum catalog_check check =
        c->check_create != NULL ? c->check_create(db, &req->identity, obj, &err) : CATALOG_CHECK_OK;
    if (check != CATALOG_CHECK_OK) {
        *rc = check == CATALOG_CHECK_INVALID
                  ? http_respond_error(req, 400, "validation_error", err.param, "%s", err.message)
                  : http_respond_unavailable(req);
        return false;
    }
    catalog_request_hash(body, hash);
    if (key == NULL)
        return true;
    void *existing = malloc(store->resource->size);
    bool found = false;
    if (existing == NULL || resource_store_find_by_idempotency_key(
                                db, store, req->identity.organization_id, req->identity.environment,
                                key, existing, &found) != C_OK) {
        free(existing);
        *rc = http_respond_unavailable(req);
        return false;
    }
    if (!found) {
        free(existing);
        return true;
    }
    *rc = catalog_answer_existing(req, store, existing, hash);
    catalog_object_free(store, existing);
    return false;
}

enum MHD_Result catalog_create(struct http_request *req, struct db *db)
{
    const struct catalog_resource *c = catalog_of(req);
    const struct resource_store *store = c->store;
    json_t *body;
    enum MHD_Result rc = http_read_json_object(req, &body);
    if (body == NULL)
        return rc;
    const char *key = http_header(req, "Idempotency-Key");
    struct error kerr = ERROR_INIT;
    if (key != NULL && validate_idempotency_key(key, &kerr) != C_OK) {
        json_decref(body);
        return http_respond_error(req, 400, "validation_error", kerr.param, "%s", kerr.message);
    }
    void *obj = catalog_object_new(store);
    if (obj == NULL) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    char hash[RESOURCE_STORE_REQUEST_HASH_LEN];
    bool go_on = catalog_create_prepare(req, db, c, body, key, obj, hash, &rc);
    json_decref(body);
    if (!go_on) {
        catalog_object_free(store, obj);
        return rc;
    }

    char id[UUID_STR_LEN];
    struct catalog_ctx *ctx = calloc(1, sizeof(*ctx));
    struct pipeline_op *op = NULL;
    char *command = NULL;
    bool answered = false;
    /* A keyed create's id is the key's, so that every retry names one object
     * whatever the worker's lag (gateway/idempotency.h). */
    if (key != NULL)
        idempotency_object_id(store->table, req->identity.organization_id,
                              req->identity.environment, key, id);
    if (ctx != NULL && (key != NULL || uuid_v7_string(id) == C_OK) &&
        uuid_v7_string(ctx->command_id) == C_OK &&
        resource_store_prepare_new(store, obj, id, req->identity.organization_id,
                                   req->identity.environment, rfc3339_now(), key, hash) == C_OK &&
        (key == NULL || (ctx->idempotency_key = strdup(key)) != NULL)) {
        ctx->store = store;
        memcpy(ctx->organization_id, req->identity.organization_id, UUID_STR_LEN);
        memcpy(ctx->environment, req->identity.environment, sizeof(ctx->environment));
        memcpy(ctx->request_hash, hash, sizeof(ctx->request_hash));
        op = pipeline_op_new(id, catalog_create_decide);
        answered = op != NULL && catalog_op_set_object(op, store, obj);
        command = resource_store_command_create_text(store, obj, ctx->command_id);
    }
    catalog_object_free(store, obj);
    if (op == NULL || !answered || command == NULL) {
        catalog_ctx_free(ctx);
        pipeline_op_free(op);
        free(command);
        return http_respond_unavailable(req);
    }
    op->ctx = ctx;
    op->ctx_free = catalog_ctx_free;
    op->location_path = store->path;
    op->location_member = store->resource->fields[0].json;
    /* The key's retries send commands for the same id: only a notification
     * naming this command says it inserted the row. */
    if (key != NULL)
        memcpy(op->command_id, ctx->command_id, sizeof(op->command_id));
    rc = pipeline_submit_text(req, op, command);
    free(command);
    return rc;
}

/* ---- get ------------------------------------------------------------------------------ */

enum MHD_Result catalog_get(struct http_request *req, struct db *db)
{
    const struct resource_store *store = catalog_of(req)->store;
    char id[UUID_STR_LEN];
    enum MHD_Result rc;
    if (!catalog_parse_id(req, store, id, &rc))
        return rc;
    void *obj;
    if (catalog_read(db, store, req->identity.organization_id, req->identity.environment, id,
                     &obj) != C_OK)
        return http_respond_unavailable(req);
    if (obj == NULL)
        return catalog_not_found(req, store, req->route.params[0]);
    rc = catalog_respond_object(req, 200, store, obj, NULL);
    catalog_object_free(store, obj);
    return rc;
}

/* ---- list ------------------------------------------------------------------------------ */

struct catalog_unknown {
    const struct resource_store *store;
    char name[64];
    bool found;
};

static enum MHD_Result catalog_find_unknown(void *cls, enum MHD_ValueKind kind, const char *key,
                                            const char *value)
{
    (void)kind;
    (void)value;
    struct catalog_unknown *u = cls;
    if (strcmp(key, "limit") == 0 || strcmp(key, "starting_after") == 0)
        return MHD_YES;
    for (size_t i = 0; i < u->store->nfilters; i++) {
        if (strcmp(key, u->store->filters[i].name) == 0)
            return MHD_YES;
    }
    utf8_truncate(key, u->name, sizeof(u->name));
    u->found = true;
    return MHD_NO;
}

/* One filter's value, checked against its field: into *out as the list
 * statement takes it (canonical; text kept in buf). */
static int catalog_filter_value(const struct resource_field *f, const char *name, const char *value,
                                char *buf, size_t buflen, const char **out, struct error *err)
{
    struct uuid u;
    switch (f->kind) {
    case RESOURCE_BOOL:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return error_set(err, name, "%s must be true or false", name);
        *out = value;
        return C_OK;
    case RESOURCE_UUID:
        if (uuid_parse(value, &u) != C_OK)
            return error_set(err, name, "%s must be a UUID", name);
        uuid_format(&u, buf);
        *out = buf;
        return C_OK;
    case RESOURCE_ENUM:
    case RESOURCE_CODE:
        if (f->values != NULL) {
            for (size_t i = 0; f->values[i] != NULL; i++) {
                if (strcmp(value, f->values[i]) == 0) {
                    *out = value;
                    return C_OK;
                }
            }
            char allowed[200];
            size_t len = 0;
            allowed[0] = '\0';
            for (size_t i = 0; f->values[i] != NULL && len < sizeof(allowed); i++)
                len += (size_t)snprintf(allowed + len, sizeof(allowed) - len, "%s%s",
                                        i > 0 ? ", " : "", f->values[i]);
            return error_set(err, name, "%s must be one of %s", name, allowed);
        }
        break;
    case RESOURCE_INT64:
    case RESOURCE_INT32: {
        char *end;
        long long v = strtoll(value, &end, 10);
        if (value[0] == '\0' || *end != '\0')
            return error_set(err, name, "%s must be an integer", name);
        snprintf(buf, buflen, "%lld", v);
        *out = buf;
        return C_OK;
    }
    default:
        break;
    }
    if (value[0] == '\0' || utf8_length(value) > CATALOG_FILTER_TEXT_MAX)
        return error_set(err, name, "%s must be 1 to %d characters", name, CATALOG_FILTER_TEXT_MAX);
    *out = value;
    return C_OK;
}

/* limit, starting_after and the store's filters of the request's query. */
static int catalog_list_query(struct http_request *req, const struct resource_store *store,
                              struct resource_store_list_query *q,
                              char values[RESOURCE_STORE_FILTERS_MAX][UUID_STR_LEN],
                              struct error *err)
{
    char noun[64];
    catalog_a_noun(store, noun, sizeof(noun));
    memset(q, 0, sizeof(*q));
    if (validate_page_query(http_query(req, "limit"), http_query(req, "starting_after"), noun,
                            &q->limit, q->starting_after, err) != C_OK)
        return C_ERR;
    for (size_t i = 0; i < store->nfilters; i++) {
        const char *name = store->filters[i].name;
        const char *value = http_query(req, name);
        if (value == NULL)
            continue;
        const struct resource_field *f = resource_field_by_json(store->resource, name);
        if (catalog_filter_value(f, name, value, values[i], UUID_STR_LEN, &q->filters[i], err) !=
            C_OK)
            return C_ERR;
    }
    return C_OK;
}

enum MHD_Result catalog_list(struct http_request *req, struct db *db)
{
    const struct resource_store *store = catalog_of(req)->store;
    struct catalog_unknown unknown = {.store = store, .found = false};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, catalog_find_unknown, &unknown);
    if (unknown.found)
        return http_respond_error(req, 400, "validation_error", unknown.name,
                                  "Unknown query parameter: %s", unknown.name);
    struct resource_store_list_query q;
    char values[RESOURCE_STORE_FILTERS_MAX][UUID_STR_LEN];
    struct error err = ERROR_INIT;
    if (catalog_list_query(req, store, &q, values, &err) != C_OK)
        return http_respond_error(req, 400, "validation_error", err.param, "%s", err.message);
    void *rows = NULL;
    size_t count = 0;
    bool cursor_found = true;
    if (resource_store_list(db, store, req->identity.organization_id, req->identity.environment, &q,
                            &rows, &count, &cursor_found) != C_OK)
        return http_respond_unavailable(req);
    if (!cursor_found)
        return http_respond_error(req, 400, "validation_error", "starting_after",
                                  "starting_after must be the id of one of your %s", store->plural);
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "[");
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            json_writer_literal(&w, ",");
        json_writer_literal(&w, "{");
        resource_write_members(&w, store->resource, (char *)rows + i * store->resource->size);
        json_writer_literal(&w, "}");
    }
    json_writer_literal(&w, "]");
    resource_store_array_free(store, rows, count);
    if (json_writer_end(&w, mark) != C_OK) {
        json_writer_free(&w);
        return http_respond_unavailable(req);
    }
    return http_respond_json_text(req, 200, w.buf, NULL);
}

/* ---- update ---------------------------------------------------------------------------- */

/* The object as it is now, as the op's body: true when it could be read. */
static bool catalog_body_from_row(struct pipeline_op *op, struct db *db,
                                  const struct catalog_ctx *ctx)
{
    void *obj;
    if (catalog_read(db, ctx->store, ctx->organization_id, ctx->environment, op->object_id, &obj) !=
            C_OK ||
        obj == NULL)
        return false;
    bool set = catalog_op_set_object(op, ctx->store, obj);
    catalog_object_free(ctx->store, obj);
    return set;
}

/* Applied: 200 with the object after the change (read back: another update
 * may have come between). Refused: its error. The wait ran out: 202 with the
 * object as it is. */
static unsigned catalog_update_decide(struct pipeline_op *op, struct db *db,
                                      enum pipeline_reason why)
{
    struct catalog_ctx *ctx = op->ctx;
    bool deadline = why == PIPELINE_DEADLINE;
    struct command_outcome o;
    bool found = false;
    if (command_outcome_get(db, ctx->command_id, &o, &found) != C_OK || !found) {
        if (deadline)
            catalog_body_from_row(op, db, ctx);
        return deadline ? 202 : 0;
    }
    /* A keyed action's command id is the key's: the outcome of that key's
     * first use, maybe on another object. */
    if (strcmp(o.object_id, op->object_id) != 0)
        return catalog_key_conflict(op);
    if (o.refused)
        return catalog_refused(op, &o);
    if (!catalog_body_from_row(op, db, ctx))
        return deadline ? 202 : 0;
    return 200;
}

/* The tenant's object and the body's changes: true when the update goes on
 * (*current and *changes set, changes not empty), false when answered. */
static bool catalog_update_prepare(struct http_request *req, struct db *db,
                                   const struct catalog_resource *c, const char *id, void **current,
                                   json_t **changes, enum MHD_Result *rc)
{
    const struct resource_store *store = c->store;
    json_t *body;
    *rc = http_read_json_object(req, &body);
    if (body == NULL)
        return false;
    struct error err = ERROR_INIT;
    *changes = NULL;
    int valid = c->validate_update(body, changes, &err);
    json_decref(body);
    if (valid != C_OK) {
        json_decref(*changes);
        *rc = http_respond_error(req, 400, "validation_error", err.param, "%s", err.message);
        return false;
    }
    if (catalog_read(db, store, req->identity.organization_id, req->identity.environment, id,
                     current) != C_OK) {
        json_decref(*changes);
        *rc = http_respond_unavailable(req);
        return false;
    }
    if (*current == NULL) {
        json_decref(*changes);
        *rc = catalog_not_found(req, store, req->route.params[0]);
        return false;
    }
    enum catalog_check check = c->check_update != NULL
                                   ? c->check_update(db, &req->identity, *current, *changes, &err)
                                   : CATALOG_CHECK_OK;
    /* Nothing to change: the object as it is, without a command or an event. */
    if (check == CATALOG_CHECK_OK && json_object_size(*changes) == 0)
        *rc = catalog_respond_object(req, 200, store, *current, NULL);
    else if (check == CATALOG_CHECK_INVALID)
        *rc = http_respond_error(req, 400, "validation_error", err.param, "%s", err.message);
    else if (check == CATALOG_CHECK_UNAVAILABLE)
        *rc = http_respond_unavailable(req);
    else
        return true;
    catalog_object_free(store, *current);
    json_decref(*changes);
    return false;
}

enum MHD_Result catalog_update(struct http_request *req, struct db *db)
{
    const struct catalog_resource *c = catalog_of(req);
    const struct resource_store *store = c->store;
    char id[UUID_STR_LEN];
    enum MHD_Result rc;
    if (!catalog_parse_id(req, store, id, &rc))
        return rc;
    void *current;
    json_t *changes;
    if (!catalog_update_prepare(req, db, c, id, &current, &changes, &rc))
        return rc;
    catalog_object_free(store, current);

    struct catalog_ctx *ctx = calloc(1, sizeof(*ctx));
    struct pipeline_op *op = NULL;
    json_t *command = NULL;
    if (ctx != NULL && uuid_v7_string(ctx->command_id) == C_OK) {
        ctx->store = store;
        memcpy(ctx->organization_id, req->identity.organization_id, UUID_STR_LEN);
        memcpy(ctx->environment, req->identity.environment, sizeof(ctx->environment));
        op = pipeline_op_new(id, catalog_update_decide);
        command =
            resource_store_command_update(store, id, req->identity.organization_id,
                                          req->identity.environment, changes, ctx->command_id);
    }
    json_decref(changes);
    if (op == NULL || command == NULL) {
        catalog_ctx_free(ctx);
        pipeline_op_free(op);
        json_decref(command);
        return http_respond_unavailable(req);
    }
    op->ctx = ctx;
    op->ctx_free = catalog_ctx_free;
    op->location_path = NULL; /* an update names no new resource */
    rc = pipeline_submit(req, op, command);
    json_decref(command);
    return rc;
}

/* ---- actions ---------------------------------------------------------------------------- */

/* The action the route names: its template's last segment
 * ("/subscriptions/{id}/cancel"). */
static const struct resource_store_action *catalog_action_of(const struct http_request *req)
{
    const char *slash = strrchr(req->route.route->template, '/');
    const struct resource_store_action *a =
        resource_store_action_find(catalog_of(req)->store, slash + 1, true);
    assert(a != NULL); /* routes.c names only declared actions (tests/unit/gateway/routes.c) */
    return a;
}

/* No body, or an empty object: an action takes no parameter. true when the
 * request goes on, false when answered. */
static bool catalog_action_body(struct http_request *req, enum MHD_Result *rc)
{
    if (req->body_len == 0 && !req->body_too_large)
        return true;
    json_t *body;
    *rc = http_read_json_object(req, &body);
    if (body == NULL)
        return false;
    struct error err = ERROR_INIT;
    int known = validate_known_fields(body, NULL, 0, &err);
    json_decref(body);
    if (known != C_OK) {
        *rc = http_respond_error(req, 400, "validation_error", err.param, "%s", err.message);
        return false;
    }
    return true;
}

/* A keyed action whose key was used already (its outcome is recorded): the
 * same answer again, or 409 when the key was used for another object. true
 * when answered. */
static bool catalog_action_replay(struct http_request *req, struct db *db,
                                  const struct resource_store *store, const char *id,
                                  const char *command_id, enum MHD_Result *rc)
{
    struct command_outcome o;
    bool found = false;
    if (command_outcome_get(db, command_id, &o, &found) != C_OK) {
        *rc = http_respond_unavailable(req);
        return true;
    }
    if (!found)
        return false;
    if (strcmp(o.object_id, id) != 0) {
        *rc = http_respond_error(req, 409, "idempotency_conflict", "Idempotency-Key",
                                 "Idempotency-Key was reused with a different request payload");
        return true;
    }
    if (o.refused) {
        *rc = http_respond_error(req, catalog_outcome_status(o.code), o.code,
                                 catalog_outcome_param(o.code), "%s", o.message);
        return true;
    }
    void *obj;
    if (catalog_read(db, store, req->identity.organization_id, req->identity.environment, id,
                     &obj) != C_OK ||
        obj == NULL) {
        *rc = http_respond_unavailable(req);
        return true;
    }
    const char *headers[] = {"Idempotent-Replayed", "true", NULL};
    *rc = http_respond_json(req, 200, resource_to_json(store->resource, obj), headers);
    catalog_object_free(store, obj);
    return true;
}

enum MHD_Result catalog_action(struct http_request *req, struct db *db)
{
    const struct resource_store *store = catalog_of(req)->store;
    const struct resource_store_action *action = catalog_action_of(req);
    char id[UUID_STR_LEN];
    enum MHD_Result rc;
    if (!catalog_parse_id(req, store, id, &rc) || !catalog_action_body(req, &rc))
        return rc;
    const char *key = http_header(req, "Idempotency-Key");
    struct error kerr = ERROR_INIT;
    if (key != NULL && validate_idempotency_key(key, &kerr) != C_OK)
        return http_respond_error(req, 400, "validation_error", kerr.param, "%s", kerr.message);
    struct catalog_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return http_respond_unavailable(req);
    ctx->store = store;
    memcpy(ctx->organization_id, req->identity.organization_id, UUID_STR_LEN);
    memcpy(ctx->environment, req->identity.environment, sizeof(ctx->environment));
    /* With a key, the command's id is the key's: every retry sends the same
     * command, which the worker applies once, and its outcome answers them
     * all. */
    if (key != NULL)
        idempotency_object_id(action->command, ctx->organization_id, ctx->environment, key,
                              ctx->command_id);
    else if (uuid_v7_string(ctx->command_id) != C_OK) {
        catalog_ctx_free(ctx);
        return http_respond_unavailable(req);
    }
    if (key != NULL && catalog_action_replay(req, db, store, id, ctx->command_id, &rc)) {
        catalog_ctx_free(ctx);
        return rc;
    }
    void *current;
    if (catalog_read(db, store, ctx->organization_id, ctx->environment, id, &current) != C_OK) {
        catalog_ctx_free(ctx);
        return http_respond_unavailable(req);
    }
    if (current == NULL) {
        catalog_ctx_free(ctx);
        return catalog_not_found(req, store, req->route.params[0]);
    }
    catalog_object_free(store, current);
    /* The worker decides: the guard holds in its transaction or the command
     * is refused (invalid_state), whatever happened since this read. */
    struct pipeline_op *op = pipeline_op_new(id, catalog_update_decide);
    json_t *command = resource_store_command_action(store, action, id, ctx->organization_id,
                                                    ctx->environment, ctx->command_id);
    if (op == NULL || command == NULL) {
        catalog_ctx_free(ctx);
        pipeline_op_free(op);
        json_decref(command);
        return http_respond_unavailable(req);
    }
    op->ctx = ctx;
    op->ctx_free = catalog_ctx_free;
    op->location_path = NULL; /* an action names no new resource */
    rc = pipeline_submit(req, op, command);
    json_decref(command);
    return rc;
}

/* ---- delete ---------------------------------------------------------------------------- */

/* Applied: 200 with the deletion's receipt. Refused: its error (404, 409).
 * The wait ran out: 202 with the object as it was read before the command
 * (the op's body already). */
static unsigned catalog_delete_decide(struct pipeline_op *op, struct db *db,
                                      enum pipeline_reason why)
{
    struct catalog_ctx *ctx = op->ctx;
    bool deadline = why == PIPELINE_DEADLINE;
    struct command_outcome o;
    bool found = false;
    if (command_outcome_get(db, ctx->command_id, &o, &found) != C_OK || !found)
        return deadline ? 202 : 0;
    if (o.refused)
        return catalog_refused(op, &o);
    json_t *receipt =
        json_pack("{ss sb}", ctx->store->resource->fields[0].json, op->object_id, "deleted", 1);
    if (receipt == NULL)
        return deadline ? 202 : 0;
    pipeline_op_set_body(op, receipt);
    return 200;
}

enum MHD_Result catalog_delete(struct http_request *req, struct db *db)
{
    const struct resource_store *store = catalog_of(req)->store;
    assert(store->command_delete != NULL); /* routed only for a store that deletes */
    char id[UUID_STR_LEN];
    enum MHD_Result rc;
    if (!catalog_parse_id(req, store, id, &rc))
        return rc;
    void *current;
    if (catalog_read(db, store, req->identity.organization_id, req->identity.environment, id,
                     &current) != C_OK)
        return http_respond_unavailable(req);
    if (current == NULL)
        return catalog_not_found(req, store, req->route.params[0]);
    json_t *as_is = resource_to_json(store->resource, current);
    catalog_object_free(store, current);

    struct catalog_ctx *ctx = calloc(1, sizeof(*ctx));
    struct pipeline_op *op = NULL;
    json_t *command = NULL;
    if (as_is != NULL && ctx != NULL && uuid_v7_string(ctx->command_id) == C_OK) {
        ctx->store = store;
        memcpy(ctx->organization_id, req->identity.organization_id, UUID_STR_LEN);
        memcpy(ctx->environment, req->identity.environment, sizeof(ctx->environment));
        op = pipeline_op_new(id, catalog_delete_decide);
        command = resource_store_command_delete(store, id, req->identity.organization_id,
                                                req->identity.environment, ctx->command_id);
    }
    if (op == NULL || command == NULL) {
        json_decref(as_is);
        catalog_ctx_free(ctx);
        pipeline_op_free(op);
        json_decref(command);
        return http_respond_unavailable(req);
    }
    op->ctx = ctx;
    op->ctx_free = catalog_ctx_free;
    op->location_path = NULL;
    pipeline_op_set_body(op, as_is); /* the 202's; an applied delete replaces it */
    rc = pipeline_submit(req, op, command);
    json_decref(command);
    return rc;
}
