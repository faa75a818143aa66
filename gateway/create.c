#include "create.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "coupons.h"
#include "customers.h"
#include "idempotency.h"
#include "pipeline.h"
#include "core/result.h"
#include "core/rfc3339.h"
#include "model/session.h"
#include "session_catalog.h"
#include "session_subscription.h"
#include "validate.h"

static struct create_config create_cfg;
static const char *create_base_url;

int create_init(const struct create_config *cfg)
{
    create_cfg = *cfg;
    create_base_url = cfg->public_base_url;
    if (idempotency_init(cfg->idempotency_secret != NULL ? cfg->idempotency_secret : "") != C_OK)
        return C_ERR;
    char fingerprint[IDEMPOTENCY_FINGERPRINT_LEN];
    idempotency_fingerprint(fingerprint);
    log_fields(LOG_INFO, json_pack("{ss}", "fingerprint", fingerprint),
               "keyed creates derive their session ids under the idempotency secret with this"
               " fingerprint (the same on every replica that shares it)");
    return C_OK;
}

/* What a create's decision needs once the request's session is gone. */
struct create_ctx {
    char organization_id[UUID_STR_LEN];
    char environment[SESSION_ENV_LEN];
    char *idempotency_key; /* NULL without the header */
    char request_hash[SESSION_REQUEST_HASH_LEN];
};

static void create_ctx_free(void *p)
{
    struct create_ctx *ctx = p;
    if (ctx != NULL)
        free(ctx->idempotency_key);
    free(ctx);
}

/* The worker applied a command for this session id. Without an
 * Idempotency-Key that is our own session: readable, 201. With one, the id is
 * the key's (idempotency.h) and every retry of the key sent a command for it:
 * the session is whichever the worker applied first. Unless the pipeline
 * knows our own command inserted it (PIPELINE_INSERTED: the notification
 * named it, and nothing needs to be read; the common case, one query fewer per
 * create on the listener thread), it is read by its key: the same request
 * (hash) answers with the session as stored, Idempotent-Replayed when it is
 * not ours; another request under the same key is a 409. The key may also
 * name a session of another id (made under an earlier secret). */
static unsigned create_decide(struct pipeline_op *op, struct db *db, enum pipeline_reason why)
{
    struct create_ctx *ctx = op->ctx;
    struct session s;
    bool found = false;
    bool deadline = why == PIPELINE_DEADLINE;
    if (why == PIPELINE_INSERTED)
        return 201;
    if (ctx->idempotency_key == NULL) {
        if (!deadline)
            return 201;
        /* The wait ran out: one last look, a notification may have been missed. */
        if (session_store_get_any(db, op->object_id, &s, &found) != C_OK || !found)
            return 202;
        session_free(&s);
        return 201;
    }
    if (session_store_find_by_idempotency_key(db, ctx->organization_id, ctx->environment,
                                              ctx->idempotency_key, &s, &found) != C_OK ||
        !found)
        return deadline ? 202 : 0;
    unsigned status = 201;
    if (strcmp(s.request_hash, ctx->request_hash) != 0) {
        pipeline_op_set_error(op, "idempotency_conflict", "Idempotency-Key",
                              "Idempotency-Key was reused with a different request payload");
        status = 409;
    } else {
        json_t *stored = session_to_json(&s, create_base_url);
        /* Ours as stored, or a twin identical to the second: nothing replayed. */
        if (stored != NULL && !(strcmp(s.id, op->object_id) == 0 && json_equal(stored, op->body))) {
            pipeline_op_set_body(op, stored);
            op->replayed = true;
        } else {
            json_decref(stored);
        }
    }
    session_free(&s);
    return status;
}

static void create_request_hash(const json_t *body, char out[SESSION_REQUEST_HASH_LEN])
{
    /* Canonical form: the same JSON with other spacing or key order is the
     * same request. */
    char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    tenant_sha256_hex(canonical != NULL ? canonical : "", out);
    free(canonical);
}

static enum MHD_Result create_answer_existing(struct http_request *req, struct session *existing,
                                              const char *request_hash)
{
    if (strcmp(existing->request_hash, request_hash) != 0)
        return http_respond_error(req, 409, "idempotency_conflict", "Idempotency-Key",
                                  "Idempotency-Key was reused with a different request payload");
    char location[96];
    snprintf(location, sizeof(location), "/checkout-sessions/%s", existing->id);
    const char *headers[] = {"Idempotent-Replayed", "true", "Location", location, NULL};
    return http_respond_json(req, 201, session_to_json(existing, create_base_url), headers);
}

enum MHD_Result create_handle(struct http_request *req, struct db *db)
{
    json_t *body;
    enum MHD_Result rc = http_read_json_object(req, &body);
    if (body == NULL)
        return rc;
    const char *key = http_header(req, "Idempotency-Key");
    struct error kerr;
    if (key != NULL && validate_idempotency_key(key, &kerr) != C_OK) {
        json_decref(body);
        return http_respond_error(req, 400, "validation_error", kerr.param, "%s", kerr.message);
    }

    struct session s;
    if (session_init(&s) != C_OK) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    int64_t now = rfc3339_now();
    struct validate_create_options vo = {
        .default_currency = req->identity.default_currency,
        .now = now,
        .default_ttl_seconds = create_cfg.default_ttl_seconds,
        .min_ttl_seconds = create_cfg.min_ttl_seconds,
        .max_ttl_seconds = create_cfg.max_ttl_seconds,
    };
    struct error verr;
    char coupon_code[COUPON_CODE_MAX + 1];
    if (validate_create_request(body, &vo, &s, &verr) != C_OK ||
        coupons_session_code(body, coupon_code, &verr) != C_OK) {
        json_decref(body);
        session_free(&s);
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    }
    create_request_hash(body, s.request_hash);
    struct session_catalog_given given;
    session_catalog_given_of(body, &given);
    json_decref(body);

    if (key != NULL) {
        struct session existing;
        bool found = false;
        if (session_store_find_by_idempotency_key(db, req->identity.organization_id,
                                                  req->identity.environment, key, &existing,
                                                  &found) != C_OK) {
            session_free(&s);
            return http_respond_unavailable(req);
        }
        if (found) {
            rc = create_answer_existing(req, &existing, s.request_hash);
            session_free(&existing);
            session_free(&s);
            return rc;
        }
        s.idempotency_key = strdup(key);
    }
    /* A renewal takes its amount, price and customer from the subscription;
     * another session naming the catalog reads it; the others make no query. */
    if (s.subscription_id[0] != '\0' || session_catalog_needed(&s)) {
        enum catalog_check check =
            s.subscription_id[0] != '\0'
                ? session_subscription_resolve(db, &req->identity, &given, &s, &verr)
                : session_catalog_resolve(db, &req->identity, &given, &s, &verr);
        if (check != CATALOG_CHECK_OK) {
            session_free(&s);
            if (check == CATALOG_CHECK_INVALID)
                return http_respond_error(req, 400, "validation_error", verr.param, "%s",
                                          verr.message);
            return http_respond_unavailable(req);
        }
    }

    /* The totals, and the coupon's rules: a query only for a coupon_code. */
    enum catalog_check coupon =
        coupons_apply_to_session(db, &req->identity, coupon_code, now, &s, &verr);
    if (coupon != CATALOG_CHECK_OK) {
        session_free(&s);
        if (coupon == CATALOG_CHECK_UNAVAILABLE)
            return http_respond_unavailable(req);
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    }
    if (s.customer_id[0] != '\0') {
        struct error cerr = ERROR_INIT;
        enum catalog_check check = customers_fill_session(db, &req->identity, &s, &cerr);
        if (check != CATALOG_CHECK_OK) {
            session_free(&s);
            if (check == CATALOG_CHECK_INVALID)
                return http_respond_error(req, 400, "validation_error", cerr.param, "%s",
                                          cerr.message);
            return http_respond_unavailable(req);
        }
    }

    char command_id[UUID_STR_LEN];
    struct create_ctx *ctx = calloc(1, sizeof(*ctx));
    if (key != NULL)
        idempotency_session_id(req->identity.organization_id, req->identity.environment, key, s.id);
    if (ctx == NULL || (key == NULL && uuid_v7_string(s.id) != C_OK) ||
        uuid_v7_string(command_id) != C_OK || (key != NULL && s.idempotency_key == NULL) ||
        session_page_secret_generate(s.page_secret) != C_OK) {
        free(ctx);
        session_free(&s);
        return http_respond_unavailable(req);
    }
    memcpy(s.organization_id, req->identity.organization_id, UUID_STR_LEN);
    memcpy(s.environment, req->identity.environment, sizeof(s.environment));
    memcpy(s.created_by, req->identity.key_id, UUID_STR_LEN);
    s.status = SESSION_OPEN;
    s.created_at = s.updated_at = now;
    memcpy(ctx->organization_id, s.organization_id, UUID_STR_LEN);
    memcpy(ctx->environment, s.environment, sizeof(ctx->environment));
    memcpy(ctx->request_hash, s.request_hash, sizeof(ctx->request_hash));
    ctx->idempotency_key = key != NULL ? strdup(key) : NULL;

    struct pipeline_op *op = pipeline_op_new(s.id, create_decide);
    json_t *answer = session_to_json(&s, create_base_url);
    json_t *command = session_command_create(&s, create_base_url, command_id);
    session_free(&s);
    if (op == NULL || answer == NULL || command == NULL ||
        (key != NULL && ctx->idempotency_key == NULL)) {
        create_ctx_free(ctx);
        pipeline_op_free(op);
        json_decref(answer);
        json_decref(command);
        return http_respond_unavailable(req);
    }
    op->ctx = ctx;
    op->ctx_free = create_ctx_free;
    /* Other requests (the key's retries) may send commands for this id: only
     * a notification naming this command says it inserted the row. */
    if (key != NULL)
        memcpy(op->command_id, command_id, sizeof(op->command_id));
    pipeline_op_set_body(op, answer);
    rc = pipeline_submit(req, op, command);
    json_decref(command);
    return rc;
}
