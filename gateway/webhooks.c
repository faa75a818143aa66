#include "webhooks.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/clock.h"
#include "event.h"
#include "core/log.h"
#include "infra/netguard.h"
#include "core/result.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "resolver.h"
#include "throttle.h"
#include "validate.h"
#include "model/webhook_delivery.h"
#include "model/webhook_endpoint.h"
#include "model/webhook_signature.h"

static struct netguard_allowlist webhooks_allowlist;
static long webhooks_retention_days = 30;
static long webhooks_resolve_timeout_ms = 2000;
static long webhooks_max_endpoints = 16;
static const struct secretbox_keyring *webhooks_secrets;

int webhooks_init(const struct webhooks_config *cfg)
{
    if (netguard_allowlist_parse(cfg->allowlist, &webhooks_allowlist) != C_OK) {
        log_error("CAISSE_WEBHOOK_ALLOWLIST is not a list of CIDRs: %s", cfg->allowlist);
        return C_ERR;
    }
    webhooks_retention_days = cfg->event_retention_days;
    webhooks_resolve_timeout_ms = cfg->resolve_timeout_ms;
    webhooks_max_endpoints = cfg->max_endpoints;
    webhooks_secrets = cfg->secrets;
    struct resolver_config rc = {.timeout_ms = cfg->resolve_timeout_ms};
    if (resolver_init(&rc) != C_OK) {
        log_error("cannot start the webhook URL resolver");
        return C_ERR;
    }
    return C_OK;
}

void webhooks_shutdown(void)
{
    /* Every suspended request is answered once the pending lookups are; the
     * threads of abandoned ones (still in getaddrinfo) end with the process. */
    resolver_shutdown(clock_now_us());
}

/* ---- helpers ---------------------------------------------------------------- */

struct webhooks_unknown {
    const char *const *allowed; /* NULL-terminated */
    char name[64];
    bool found;
};

static enum MHD_Result webhooks_find_unknown(void *cls, enum MHD_ValueKind kind, const char *key,
                                             const char *value)
{
    (void)kind;
    (void)value;
    struct webhooks_unknown *u = cls;
    for (size_t i = 0; u->allowed[i] != NULL; i++) {
        if (strcmp(key, u->allowed[i]) == 0)
            return MHD_YES;
    }
    /* Valid UTF-8 (http_request_new refused the rest): cut between characters. */
    utf8_truncate(key, u->name, sizeof(u->name));
    u->found = true;
    return MHD_NO;
}

/* false: a query parameter outside allowed was given, and answered with 400. */
static bool webhooks_query_ok(struct http_request *req, const char *const *allowed)
{
    struct webhooks_unknown u = {.allowed = allowed, .found = false};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, webhooks_find_unknown, &u);
    if (!u.found)
        return true;
    http_respond_error(req, 400, "validation_error", u.name, "Unknown query parameter: %s", u.name);
    return false;
}

/* The route's {id} as a canonical UUID in out. false: it is none (answered
 * with 400 "<what> id must be a UUID"). */
static bool webhooks_parse_id(struct http_request *req, const char *what, char out[UUID_STR_LEN])
{
    struct uuid u;
    if (uuid_parse(req->route.params[0], &u) != C_OK) {
        http_respond_error(req, 400, "validation_error", "id", "%s id must be a UUID", what);
        return false;
    }
    uuid_format(&u, out);
    return true;
}

/* The body of an action (rotate-secret, retry): none, or an object without
 * fields. false: answered (413, 415, 400). */
static bool webhooks_empty_body(struct http_request *req, enum MHD_Result *rc)
{
    if (req->body_len == 0 && !req->body_too_large)
        return true;
    json_t *body;
    *rc = http_read_json_object(req, &body);
    if (body == NULL)
        return false;
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        char shown[64];
        utf8_truncate(key, shown, sizeof(shown));
        json_decref(body);
        *rc =
            http_respond_error(req, 400, "validation_error", shown, "Unknown parameter: %s", shown);
        return false;
    }
    json_decref(body);
    return true;
}

static enum MHD_Result webhooks_endpoint_not_found(struct http_request *req, const char *id)
{
    return http_respond_error(req, 404, "not_found", "id",
                              "Webhook endpoint with ID %s not found or access denied", id);
}

/* An endpoint create or update whose input is valid, until its URL is known
 * to be allowed: owned by the handler, or by the request (resume_ctx) while
 * its host is being looked up. */
struct webhooks_pending {
    struct webhook_endpoint_input in;
    bool update;
    char id[UUID_STR_LEN]; /* update: the endpoint */
    struct resolver_job *job;
};

static void webhooks_pending_free(void *ctx)
{
    struct webhooks_pending *p = ctx;
    if (p == NULL)
        return;
    resolver_job_release(p->job);
    webhook_endpoint_input_free(&p->in);
    free(p);
}

static void webhooks_resume(void *conn)
{
    MHD_resume_connection(conn);
}

enum webhooks_url_check {
    WEBHOOKS_URL_ALLOWED,  /* go on */
    WEBHOOKS_URL_ANSWERED, /* refused: answered */
    WEBHOOKS_URL_LOOKING,  /* its host is being looked up: p is the request's now */
};

static enum MHD_Result webhooks_url_resolved(struct http_request *req, struct db *db);

/* Where an endpoint may send: netguard's rules, https only for live keys. An
 * address written in the URL is checked at once; a host name is looked up on a
 * resolver thread, the connection suspended meanwhile, and the request goes on
 * in webhooks_url_resolved. */
static enum webhooks_url_check webhooks_check_url(struct http_request *req,
                                                  struct webhooks_pending *p)
{
    struct error why = ERROR_INIT;
    char host[NETGUARD_HOST_MAX + 1];
    bool live = strcmp(req->identity.environment, "live") == 0;
    if (netguard_check_url_syntax(p->in.url, live, host, sizeof(host), &why) != C_OK) {
        http_respond_error(req, 400, "validation_error", "url", "%s", why.message);
        return WEBHOOKS_URL_ANSWERED;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST; /* no DNS: an address, or nothing */
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        int rc = netguard_check_addresses(res, &webhooks_allowlist, &why);
        freeaddrinfo(res);
        if (rc == C_OK)
            return WEBHOOKS_URL_ALLOWED;
        http_respond_error(req, 400, "validation_error", "url", "%s", why.message);
        return WEBHOOKS_URL_ANSWERED;
    }
    req->resume = webhooks_url_resolved;
    req->resume_ctx = p;
    req->resume_ctx_free = webhooks_pending_free;
    /* Suspended before the lookup starts: its answer may come at once. */
    MHD_suspend_connection(req->conn);
    p->job = resolver_submit(host, webhooks_resume, req->conn);
    if (p->job == NULL)
        MHD_resume_connection(req->conn); /* webhooks_url_resolved answers 503 */
    return WEBHOOKS_URL_LOOKING;
}

static enum MHD_Result webhooks_store_create(struct http_request *req, struct db *db,
                                             struct webhooks_pending *p);
static enum MHD_Result webhooks_store_update(struct http_request *req, struct db *db,
                                             struct webhooks_pending *p);

static enum MHD_Result webhooks_url_resolved(struct http_request *req, struct db *db)
{
    struct webhooks_pending *p = req->resume_ctx;
    if (p->job == NULL) {
        log_warn("webhook URL lookup not started: shutting down or %d lookups running",
                 RESOLVER_MAX_RUNNING);
        return http_respond_unavailable(req);
    }
    const struct addrinfo *addrs = NULL;
    struct error why = ERROR_INIT;
    switch (resolver_job_outcome(p->job, &addrs)) {
    case RESOLVER_TIMED_OUT:
        return http_respond_error(req, 400, "validation_error", "url",
                                  "url host did not resolve within %ld ms",
                                  webhooks_resolve_timeout_ms);
    case RESOLVER_PENDING: /* never after on_done */
    case RESOLVER_FAILED:
        return http_respond_error(req, 400, "validation_error", "url", "url host does not resolve");
    case RESOLVER_RESOLVED:
        break;
    }
    if (netguard_check_addresses(addrs, &webhooks_allowlist, &why) != C_OK)
        return http_respond_error(req, 400, "validation_error", "url", "%s", why.message);
    return p->update ? webhooks_store_update(req, db, p) : webhooks_store_create(req, db, p);
}

/* The endpoint object, plus the secret when it is being shown (create and
 * rotate: the only two moments a merchant sees it). */
static enum MHD_Result webhooks_respond_endpoint(struct http_request *req, unsigned status,
                                                 struct webhook_endpoint *e, const char *secret)
{
    json_t *o = webhook_endpoint_to_json(e);
    webhook_endpoint_free(e);
    if (o != NULL && secret != NULL && json_object_set_new(o, "secret", json_string(secret)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o == NULL)
        return http_respond_unavailable(req);
    return http_respond_json(req, status, o, NULL);
}

static bool webhooks_new_secret(char secret[WEBHOOK_SECRET_MAX])
{
    if (webhook_secret_generate(secret) == C_OK)
        return true;
    log_error("cannot generate a webhook secret (random source)");
    return false;
}

/* ---- endpoints -------------------------------------------------------------- */

static enum MHD_Result webhooks_store_create(struct http_request *req, struct db *db,
                                             struct webhooks_pending *p)
{
    /* The tenant's lock makes concurrent creates count one after the other,
     * so that together they never pass the cap. */
    const char *org = req->identity.organization_id;
    const char *env = req->identity.environment;
    long count = 0;
    if (db_begin(db) != C_OK)
        return http_respond_unavailable(req);
    if (webhook_endpoint_store_lock_tenant(db, org, env, &count) != C_OK) {
        db_rollback(db);
        return http_respond_unavailable(req);
    }
    if (count >= webhooks_max_endpoints) {
        db_rollback(db);
        return http_respond_error(req, 409, "limit_exceeded", NULL,
                                  "This organization already has %ld webhook endpoints in %s"
                                  " mode, the most allowed (%ld); delete one first",
                                  count, env, webhooks_max_endpoints);
    }
    char secret[WEBHOOK_SECRET_MAX];
    struct webhook_endpoint e;
    if (!webhooks_new_secret(secret) ||
        webhook_endpoint_store_create(db, webhooks_secrets, org, env, &p->in, secret, &e) != C_OK) {
        OPENSSL_cleanse(secret, sizeof(secret));
        db_rollback(db);
        return http_respond_unavailable(req);
    }
    if (db_commit(db) != C_OK) {
        OPENSSL_cleanse(secret, sizeof(secret));
        webhook_endpoint_free(&e);
        return http_respond_unavailable(req);
    }
    enum MHD_Result rc = webhooks_respond_endpoint(req, 201, &e, secret);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

/* Creates or updates once the URL is allowed; p is freed here unless the
 * request took it over for a lookup. */
static enum MHD_Result webhooks_store_when_allowed(struct http_request *req, struct db *db,
                                                   struct webhooks_pending *p)
{
    enum webhooks_url_check check = WEBHOOKS_URL_ALLOWED;
    if (!p->update || p->in.has_url)
        check = webhooks_check_url(req, p);
    if (check == WEBHOOKS_URL_LOOKING)
        return MHD_YES;
    enum MHD_Result rc = MHD_YES;
    if (check == WEBHOOKS_URL_ALLOWED)
        rc = p->update ? webhooks_store_update(req, db, p) : webhooks_store_create(req, db, p);
    webhooks_pending_free(p);
    return rc;
}

enum MHD_Result webhooks_endpoint_create(struct http_request *req, struct db *db)
{
    json_t *body;
    enum MHD_Result rc = http_read_json_object(req, &body);
    if (body == NULL)
        return rc;
    struct webhooks_pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    struct error verr;
    int valid = validate_webhook_endpoint_create(body, &p->in, &verr);
    json_decref(body);
    if (valid != C_OK) {
        webhooks_pending_free(p);
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    }
    return webhooks_store_when_allowed(req, db, p);
}

enum MHD_Result webhooks_endpoint_list(struct http_request *req, struct db *db)
{
    static const char *const allowed[] = {"limit", "starting_after", NULL};
    if (!webhooks_query_ok(req, allowed))
        return MHD_YES;
    long limit;
    char after[UUID_STR_LEN];
    struct error verr;
    if (validate_page_query(http_query(req, "limit"), http_query(req, "starting_after"),
                            "a webhook endpoint", &limit, after, &verr) != C_OK)
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    struct webhook_endpoint *rows = NULL;
    size_t count = 0;
    bool cursor_found = true;
    if (webhook_endpoint_store_list(db, req->identity.organization_id, req->identity.environment,
                                    limit, after[0] != '\0' ? after : NULL, &rows, &count,
                                    &cursor_found) != C_OK)
        return http_respond_unavailable(req);
    if (!cursor_found)
        return http_respond_error(req, 400, "validation_error", "starting_after",
                                  "starting_after must be the id of one of your webhook endpoints");
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < count; i++) {
        json_t *o = webhook_endpoint_to_json(&rows[i]);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    webhook_endpoint_array_free(rows, count);
    if (arr == NULL)
        return http_respond_unavailable(req);
    return http_respond_json(req, 200, arr, NULL);
}

enum MHD_Result webhooks_endpoint_get(struct http_request *req, struct db *db)
{
    char id[UUID_STR_LEN];
    if (!webhooks_parse_id(req, "Webhook endpoint", id))
        return MHD_YES;
    static const char *const allowed[] = {NULL};
    if (!webhooks_query_ok(req, allowed))
        return MHD_YES;
    struct webhook_endpoint e;
    bool found = false;
    if (webhook_endpoint_store_get(db, req->identity.organization_id, req->identity.environment, id,
                                   &e, &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return webhooks_endpoint_not_found(req, id);
    return webhooks_respond_endpoint(req, 200, &e, NULL);
}

static enum MHD_Result webhooks_store_update(struct http_request *req, struct db *db,
                                             struct webhooks_pending *p)
{
    struct webhook_endpoint e;
    bool found = false;
    if (webhook_endpoint_store_update(db, req->identity.organization_id, req->identity.environment,
                                      p->id, &p->in, &e, &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return webhooks_endpoint_not_found(req, p->id);
    return webhooks_respond_endpoint(req, 200, &e, NULL);
}

enum MHD_Result webhooks_endpoint_update(struct http_request *req, struct db *db)
{
    char id[UUID_STR_LEN];
    if (!webhooks_parse_id(req, "Webhook endpoint", id))
        return MHD_YES;
    json_t *body;
    enum MHD_Result rc = http_read_json_object(req, &body);
    if (body == NULL)
        return rc;
    struct webhooks_pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    p->update = true;
    memcpy(p->id, id, sizeof(p->id));
    struct error verr;
    int valid = validate_webhook_endpoint_update(body, &p->in, &verr);
    json_decref(body);
    if (valid != C_OK) {
        webhooks_pending_free(p);
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    }
    return webhooks_store_when_allowed(req, db, p);
}

enum MHD_Result webhooks_endpoint_delete(struct http_request *req, struct db *db)
{
    char id[UUID_STR_LEN];
    if (!webhooks_parse_id(req, "Webhook endpoint", id))
        return MHD_YES;
    bool found = false;
    if (webhook_endpoint_store_delete(db, req->identity.organization_id, req->identity.environment,
                                      id, &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return webhooks_endpoint_not_found(req, id);
    return http_respond_json(req, 200, json_pack("{ss sb}", "id", id, "deleted", 1), NULL);
}

enum MHD_Result webhooks_endpoint_rotate_secret(struct http_request *req, struct db *db)
{
    char id[UUID_STR_LEN];
    if (!webhooks_parse_id(req, "Webhook endpoint", id))
        return MHD_YES;
    enum MHD_Result rc = MHD_YES;
    if (!webhooks_empty_body(req, &rc))
        return rc;
    char secret[WEBHOOK_SECRET_MAX];
    struct webhook_endpoint e;
    bool found = false;
    if (!webhooks_new_secret(secret) ||
        webhook_endpoint_store_rotate_secret(db, webhooks_secrets, req->identity.organization_id,
                                             req->identity.environment, id, secret, &e,
                                             &found) != C_OK) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return http_respond_unavailable(req);
    }
    if (!found) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return webhooks_endpoint_not_found(req, id);
    }
    rc = webhooks_respond_endpoint(req, 200, &e, secret);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

/* ---- deliveries ------------------------------------------------------------- */

static enum MHD_Result webhooks_delivery_not_found(struct http_request *req, const char *id)
{
    return http_respond_error(req, 404, "not_found", "id",
                              "Webhook delivery with ID %s not found or access denied", id);
}

static json_t *webhooks_delivery_array(struct webhook_delivery *rows, size_t count)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < count; i++) {
        json_t *o = webhook_delivery_to_json(&rows[i]);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

enum MHD_Result webhooks_endpoint_deliveries(struct http_request *req, struct db *db)
{
    char endpoint_id[UUID_STR_LEN];
    if (!webhooks_parse_id(req, "Webhook endpoint", endpoint_id))
        return MHD_YES;
    static const char *const allowed[] = {"limit", "starting_after", NULL};
    if (!webhooks_query_ok(req, allowed))
        return MHD_YES;
    long limit;
    char after[UUID_STR_LEN];
    struct error verr;
    if (validate_page_query(http_query(req, "limit"), http_query(req, "starting_after"),
                            "a webhook delivery", &limit, after, &verr) != C_OK)
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    const char *org = req->identity.organization_id;
    const char *env = req->identity.environment;
    struct webhook_endpoint e;
    bool found = false;
    if (webhook_endpoint_store_get(db, org, env, endpoint_id, &e, &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return webhooks_endpoint_not_found(req, endpoint_id);
    webhook_endpoint_free(&e);
    struct webhook_delivery *rows = NULL;
    size_t count = 0;
    bool cursor_found = true;
    if (webhook_delivery_store_list(db, org, env, endpoint_id, limit,
                                    after[0] != '\0' ? after : NULL, &rows, &count,
                                    &cursor_found) != C_OK)
        return http_respond_unavailable(req);
    if (!cursor_found)
        return http_respond_error(req, 400, "validation_error", "starting_after",
                                  "starting_after must be the id of one of this endpoint's "
                                  "deliveries");
    json_t *arr = webhooks_delivery_array(rows, count);
    webhook_delivery_array_free(rows, count);
    if (arr == NULL)
        return http_respond_unavailable(req);
    return http_respond_json(req, 200, arr, NULL);
}

enum MHD_Result webhooks_delivery_get(struct http_request *req, struct db *db)
{
    char id[UUID_STR_LEN];
    if (!webhooks_parse_id(req, "Webhook delivery", id))
        return MHD_YES;
    static const char *const allowed[] = {NULL};
    if (!webhooks_query_ok(req, allowed))
        return MHD_YES;
    struct webhook_delivery d;
    bool found = false;
    if (webhook_delivery_store_get(db, req->identity.organization_id, req->identity.environment, id,
                                   &d, &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return webhooks_delivery_not_found(req, id);
    json_t *o = webhook_delivery_to_json(&d);
    webhook_delivery_free(&d);
    json_t *attempts = NULL;
    if (o == NULL || webhook_delivery_store_attempts(db, id, &attempts) != C_OK ||
        json_object_set_new(o, "attempts", attempts) != 0) {
        json_decref(o);
        return http_respond_unavailable(req);
    }
    return http_respond_json(req, 200, o, NULL);
}

enum MHD_Result webhooks_delivery_retry(struct http_request *req, struct db *db)
{
    char id[UUID_STR_LEN];
    if (!webhooks_parse_id(req, "Webhook delivery", id))
        return MHD_YES;
    enum MHD_Result rc = MHD_YES;
    if (!webhooks_empty_body(req, &rc))
        return rc;
    struct webhook_delivery d;
    bool found = false, disabled = false;
    /* Manual retries are limited per endpoint (CAISSE_RATE_LIMIT_WEBHOOK_RETRIES_*):
     * the delivery is read first for its endpoint. */
    if (webhook_delivery_store_get(db, req->identity.organization_id, req->identity.environment, id,
                                   &d, &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return webhooks_delivery_not_found(req, id);
    char endpoint_id[UUID_STR_LEN];
    memcpy(endpoint_id, d.endpoint_id, sizeof(endpoint_id));
    webhook_delivery_free(&d);
    if (!throttle_object(req, THROTTLE_WEBHOOK_RETRY, endpoint_id, &rc))
        return rc;
    if (webhook_delivery_store_retry(db, req->identity.organization_id, req->identity.environment,
                                     id, &d, &found, &disabled) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return webhooks_delivery_not_found(req, id);
    if (disabled)
        return http_respond_error(req, 409, "invalid_state", "id",
                                  "The endpoint of webhook delivery %s is disabled; enable it "
                                  "before retrying",
                                  id);
    json_t *o = webhook_delivery_to_json(&d);
    webhook_delivery_free(&d);
    if (o == NULL)
        return http_respond_unavailable(req);
    return http_respond_json(req, 200, o, NULL);
}

/* ---- events ----------------------------------------------------------------- */

enum MHD_Result webhooks_event_list(struct http_request *req, struct db *db)
{
    static const char *const allowed[] = {"type", "limit", "starting_after", NULL};
    if (!webhooks_query_ok(req, allowed))
        return MHD_YES;
    const char *type = http_query(req, "type");
    struct error verr;
    struct event_list_query q = {.type = type, .retention_days = webhooks_retention_days};
    char after[UUID_STR_LEN];
    if ((type != NULL && validate_event_type(type, &verr) != C_OK) ||
        validate_page_query(http_query(req, "limit"), http_query(req, "starting_after"), "an event",
                            &q.limit, after, &verr) != C_OK)
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    q.starting_after = after[0] != '\0' ? after : NULL;
    json_t *arr = NULL;
    bool cursor_found = true;
    if (event_store_list(db, req->identity.organization_id, req->identity.environment, &q, &arr,
                         &cursor_found) != C_OK)
        return http_respond_unavailable(req);
    if (!cursor_found)
        return http_respond_error(req, 400, "validation_error", "starting_after",
                                  "starting_after must be the id of one of your events");
    return http_respond_json(req, 200, arr, NULL);
}

enum MHD_Result webhooks_event_get(struct http_request *req, struct db *db)
{
    char id[UUID_STR_LEN];
    if (!webhooks_parse_id(req, "Event", id))
        return MHD_YES;
    static const char *const allowed[] = {NULL};
    if (!webhooks_query_ok(req, allowed))
        return MHD_YES;
    char *payload = NULL;
    bool found = false;
    if (event_store_get(db, req->identity.organization_id, req->identity.environment, id,
                        webhooks_retention_days, &payload, &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return http_respond_error(req, 404, "not_found", "id",
                                  "Event with ID %s not found or access denied", id);
    /* Byte for byte what was published on Kafka and is signed in webhooks. */
    return http_respond_json_text(req, 200, payload, NULL);
}
