#include "checkout_pay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "core/rfc3339.h"
#include "idempotency.h"
#include "infra/service.h"
#include "model/checkout_total.h"
#include "model/coupon.h"
#include "model/payment_attempt.h"
#include "payment.h"
#include "pipeline.h"

/* The background settle's pace: a pending attempt is asked about this often. */
#define CHECKOUT_PAY_SETTLE_BATCH 50
#define CHECKOUT_PAY_RETRY_MS 2000

static struct checkout_pay_config checkout_pay_cfg;
static pthread_t checkout_pay_thread;
static bool checkout_pay_thread_started;
static atomic_bool checkout_pay_stop;

void checkout_pay_attempt_id(const char *session_id, const char *attempt_key,
                             char out[UUID_STR_LEN])
{
    idempotency_payment_attempt_id(session_id, attempt_key, out);
}

#define CHECKOUT_PAY_ID_PLACEHOLDER "{CHECKOUT_SESSION_ID}"

int checkout_pay_success_url(const char *success_url, const char *id, char *out, size_t outlen)
{
    size_t used = 0;
    const size_t plen = strlen(CHECKOUT_PAY_ID_PLACEHOLDER), idlen = strlen(id);
    for (const char *p = success_url; *p != '\0';) {
        const char *piece = p;
        size_t len = 1;
        if (strncmp(p, CHECKOUT_PAY_ID_PLACEHOLDER, plen) == 0) {
            piece = id;
            len = idlen;
            p += plen;
        } else {
            p++;
        }
        if (used + len >= outlen)
            return C_ERR;
        memcpy(out + used, piece, len);
        used += len;
    }
    if (used >= outlen)
        return C_ERR;
    out[used] = '\0';
    return C_OK;
}

/* ---- the attempt's command ------------------------------------------------------ */

static void checkout_pay_copy(char *out, size_t outlen, const char *s)
{
    snprintf(out, outlen, "%s", s != NULL ? s : "");
}

/* Sets a's outcome from the provider's result, at now_ms. */
static void checkout_pay_outcome(struct payment_attempt *a, const struct payment_result *r,
                                 int64_t now_ms)
{
    a->status = r->status == PAYMENT_SUCCEEDED ? PAYMENT_ATTEMPT_SUCCEEDED
                : r->status == PAYMENT_FAILED  ? PAYMENT_ATTEMPT_FAILED
                                               : PAYMENT_ATTEMPT_PENDING;
    if (r->reference[0] != '\0')
        checkout_pay_copy(a->reference, sizeof(a->reference), r->reference);
    bool failed = a->status == PAYMENT_ATTEMPT_FAILED;
    checkout_pay_copy(a->failure_code, sizeof(a->failure_code), failed ? r->failure_code : "");
    checkout_pay_copy(a->failure_message, sizeof(a->failure_message),
                      failed ? r->failure_message : "");
    a->settled_at_ms = a->status == PAYMENT_ATTEMPT_PENDING ? 0 : now_ms;
}

/* An object of the given members whose value is set (NULL, or "": left out);
 * NULL when none is. names and values: n of each. */
static json_t *checkout_pay_object(const char *const *names, const char *const *values, size_t n,
                                   bool *oom)
{
    json_t *o = NULL;
    for (size_t i = 0; i < n; i++) {
        if (values[i] == NULL || values[i][0] == '\0')
            continue;
        if (o == NULL && (o = json_object()) == NULL)
            break;
        if (json_object_set_new(o, names[i], json_string(values[i])) != 0) {
            json_decref(o);
            o = NULL;
            break;
        }
    }
    for (size_t i = 0; o == NULL && i < n; i++)
        *oom = *oom || (values[i] != NULL && values[i][0] != '\0');
    return o;
}

/* ---- the answer ------------------------------------------------------------------- */

/* What the pay's decision needs once the request's session is gone. */
struct checkout_pay_ctx {
    char attempt_id[UUID_STR_LEN];
    enum payment_attempt_status sent; /* the status the command carries */
    char *page_path;                  /* where failures and pending ones go back to */
    char *success;                    /* success_url with the id, or NULL: the receipt */
};

static void checkout_pay_ctx_free(void *p)
{
    struct checkout_pay_ctx *ctx = p;
    if (ctx != NULL) {
        free(ctx->page_path);
        free(ctx->success);
    }
    free(ctx);
}

/* The attempt as the worker stored it: once it shows what the command said
 * (or was settled otherwise meanwhile), 303 to success_url for a payment
 * that completed the session, else back to the page. */
static unsigned checkout_pay_decide(struct pipeline_op *op, struct db *db, enum pipeline_reason why)
{
    struct checkout_pay_ctx *ctx = op->ctx;
    struct payment_attempt a;
    bool found = false;
    bool deadline = why == PIPELINE_DEADLINE;
    if (payment_attempt_get(db, ctx->attempt_id, &a, &found) != C_OK)
        found = false;
    const char *to = ctx->page_path;
    if (found) {
        bool applied = a.status == ctx->sent || a.status != PAYMENT_ATTEMPT_PENDING;
        if (!applied && !deadline) {
            payment_attempt_free(&a);
            return 0;
        }
        if (a.status == PAYMENT_ATTEMPT_SUCCEEDED && !a.refund_required && ctx->success != NULL)
            to = ctx->success;
        payment_attempt_free(&a);
    } else if (!deadline) {
        return 0; /* another command of the session: ours is not applied yet */
    }
    /* The wait ran out: the page shows whatever the database says by then. */
    if (pipeline_op_set_redirect(op, to) != C_OK)
        return deadline ? 503 : 0;
    return 303;
}

static enum MHD_Result checkout_pay_back(struct http_request *req, const char *page_path)
{
    return http_respond_redirect(req, 303, page_path);
}

/* The coupon the order pays with: the code typed, else the session's own. */
static int checkout_pay_coupon(struct db *db, const struct session *s, const char *code,
                               struct coupon *c, bool *found)
{
    *found = false;
    if (code == NULL || code[0] == '\0')
        code = s->coupon_code;
    if (code == NULL || code[0] == '\0')
        return C_OK;
    return coupon_find_by_code(db, s->organization_id, s->environment, code, c, found);
}

enum MHD_Result checkout_pay_submit(struct http_request *req, struct db *db,
                                    const struct session *s, const struct checkout_order *o)
{
    const struct payment_provider *provider = payment_provider_for(s);
    /* Nothing to pay with, or nothing to pay for: the page says why. */
    bool method_known = o->method != NULL &&
                        (strcmp(o->method, "mobile_money") == 0 || strcmp(o->method, "card") == 0);
    if (provider == NULL || s->status != SESSION_OPEN || !method_known || o->attempt_key == NULL ||
        o->attempt_key[0] == '\0' || strlen(o->attempt_key) > 255)
        return checkout_pay_back(req, o->page_path);
    char attempt_id[UUID_STR_LEN];
    checkout_pay_attempt_id(s->id, o->attempt_key, attempt_id);
    /* A payment pending or done already (another tab, a refresh): no new one.
     * The same attempt key again goes on (a double submit: the same payment). */
    struct payment_attempt latest;
    bool found = false;
    if (payment_attempt_latest(db, s->id, &latest, &found) != C_OK)
        return http_respond_unavailable(req);
    if (found) {
        bool busy = strcmp(latest.id, attempt_id) != 0 &&
                    (latest.status == PAYMENT_ATTEMPT_PENDING ||
                     (latest.status == PAYMENT_ATTEMPT_SUCCEEDED && !latest.refund_required));
        payment_attempt_free(&latest);
        if (busy)
            return checkout_pay_back(req, o->page_path);
    }
    /* The amount is the server's, whatever the form said. */
    struct coupon coupon;
    bool has_coupon = false;
    if (checkout_pay_coupon(db, s, o->coupon_code, &coupon, &has_coupon) != C_OK)
        return http_respond_unavailable(req);
    struct checkout_total total;
    enum discount_refusal refusal = DISCOUNT_APPLIES;
    struct error err = ERROR_INIT;
    int rc = checkout_total_with_coupon(s, o->quantity, has_coupon ? &coupon : NULL, rfc3339_now(),
                                        &total, &refusal, &err);
    bool refused = (o->coupon_code != NULL && o->coupon_code[0] != '\0' && !has_coupon) ||
                   refusal != DISCOUNT_APPLIES;
    if (rc != C_OK || refused || total.total <= 0) {
        if (has_coupon)
            coupon_free(&coupon);
        /* The page checked the order; what changed since, it shows again. */
        return checkout_pay_back(req, o->page_path);
    }

    struct payment_request pr = {.attempt_id = attempt_id,
                                 .session_id = s->id,
                                 .environment = s->environment,
                                 .currency_code = s->currency_code,
                                 .amount = total.total,
                                 .method = o->method,
                                 .account = o->account,
                                 .email = o->email,
                                 .name = o->name,
                                 .phone = o->phone};
    struct payment_result result;
    memset(&result, 0, sizeof(result));
    if (provider->start(&pr, &result, &err) != C_OK) {
        if (has_coupon)
            coupon_free(&coupon);
        log_fields(LOG_WARN,
                   json_pack("{ss ss ss}", "checkout_session_id", s->id, "provider", provider->name,
                             "error", err.message),
                   "payment provider could not start a payment");
        return http_respond_unavailable(req);
    }

    struct payment_attempt a;
    payment_attempt_init(&a);
    int64_t now_ms = rfc3339_now_ms();
    checkout_pay_copy(a.id, sizeof(a.id), attempt_id);
    checkout_pay_copy(a.session_id, sizeof(a.session_id), s->id);
    checkout_pay_copy(a.organization_id, sizeof(a.organization_id), s->organization_id);
    checkout_pay_copy(a.environment, sizeof(a.environment), s->environment);
    checkout_pay_copy(a.provider, sizeof(a.provider), provider->name);
    checkout_pay_copy(a.method, sizeof(a.method), o->method);
    payment_attempt_last4(o->account, a.account_last4);
    checkout_pay_copy(a.currency_code, sizeof(a.currency_code), s->currency_code);
    a.amount = total.total;
    a.quantity = total.quantity;
    a.amount_subtotal = total.subtotal;
    a.amount_discount = total.discount;
    if (has_coupon) {
        checkout_pay_copy(a.coupon_id, sizeof(a.coupon_id), coupon.id);
        checkout_pay_copy(a.coupon_code, sizeof(a.coupon_code), coupon.code);
        coupon_free(&coupon);
    }
    a.started_at_ms = now_ms;
    checkout_pay_outcome(&a, &result, now_ms);
    bool oom = false;
    static const char *const detail_names[] = {"email", "name", "phone"};
    const char *details[] = {o->email, o->name, o->phone};
    a.customer_details = checkout_pay_object(detail_names, details, 3, &oom);
    if (s->require_billing_address) {
        static const char *const address_names[] = {"line1", "city", "postal_code", "country"};
        const char *address[] = {o->line1, o->city, o->postal_code, o->country};
        a.billing_address = checkout_pay_object(address_names, address, 4, &oom);
    }

    char command_id[UUID_STR_LEN];
    struct checkout_pay_ctx *ctx = calloc(1, sizeof(*ctx));
    json_t *command = NULL;
    struct pipeline_op *op = NULL;
    if (!oom && ctx != NULL && uuid_v7_string(command_id) == C_OK) {
        memcpy(ctx->attempt_id, attempt_id, sizeof(ctx->attempt_id));
        ctx->sent = a.status;
        ctx->page_path = strdup(o->page_path);
        if (s->success_url != NULL) {
            size_t len = strlen(s->success_url) * 2 + UUID_STR_LEN * 4 + 1;
            ctx->success = malloc(len);
            if (ctx->success != NULL &&
                checkout_pay_success_url(s->success_url, s->id, ctx->success, len) != C_OK) {
                free(ctx->success);
                ctx->success = NULL;
            }
        }
        command = payment_attempt_command(&a, command_id);
        op = pipeline_op_new(s->id, checkout_pay_decide);
    }
    payment_attempt_free(&a);
    if (command == NULL || op == NULL || ctx->page_path == NULL ||
        (s->success_url != NULL && ctx->success == NULL)) {
        checkout_pay_ctx_free(ctx);
        pipeline_op_free(op);
        json_decref(command);
        return http_respond_unavailable(req);
    }
    op->ctx = ctx;
    op->ctx_free = checkout_pay_ctx_free;
    op->location_path = NULL;
    enum MHD_Result answer = pipeline_submit(req, op, command);
    json_decref(command);
    return answer;
}

/* ---- the internal route ------------------------------------------------------------ */

/* A string member: absent or null gives NULL; else a string of 1..max bytes. */
static int checkout_pay_field(const json_t *obj, const char *name, size_t max, bool required,
                              const char **out, struct error *err)
{
    const json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return required ? error_set(err, name, "%s is required", name) : C_OK;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        return error_set(err, name, "%s must be a string of 1 to %zu characters", name, max);
    *out = json_string_value(v);
    return C_OK;
}

/* C_ERR when obj has a member not in allowed (n names): the contract says
 * which fields exist, and anything else is refused rather than ignored. */
static int checkout_pay_known_members(const json_t *obj, const char *const *allowed, size_t n,
                                      const char *prefix, struct error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        bool ok = false;
        for (size_t i = 0; i < n; i++)
            ok = ok || strcmp(key, allowed[i]) == 0;
        if (!ok)
            return error_set(err, NULL, "Unknown parameter: %s%.60s", prefix, key);
    }
    return C_OK;
}

/* The order of a JSON body, borrowing its strings. */
static int checkout_pay_order_of(const json_t *body, const struct session *s,
                                 struct checkout_order *o, struct error *err)
{
    static const char *const allowed[] = {"attempt",  "method",      "account",
                                          "quantity", "coupon_code", "email",
                                          "name",     "phone",       "billing_address"};
    static const char *const address[] = {"line1", "city", "postal_code", "country"};
    if (checkout_pay_known_members(body, allowed, sizeof(allowed) / sizeof(allowed[0]), "", err) !=
        C_OK)
        return C_ERR;
    o->quantity = s->quantity;
    const json_t *q = json_object_get(body, "quantity");
    if (q != NULL && !json_is_null(q)) {
        if (!json_is_integer(q) || json_integer_value(q) < 1 ||
            json_integer_value(q) > SESSION_MAX_QUANTITY)
            return error_set(err, "quantity", "quantity must be an integer from 1 to %d",
                             SESSION_MAX_QUANTITY);
        o->quantity = (int32_t)json_integer_value(q);
    }
    if (checkout_pay_field(body, "attempt", 255, true, &o->attempt_key, err) != C_OK ||
        checkout_pay_field(body, "method", 16, true, &o->method, err) != C_OK ||
        checkout_pay_field(body, "account", 64, true, &o->account, err) != C_OK ||
        checkout_pay_field(body, "coupon_code", COUPON_CODE_MAX, false, &o->coupon_code, err) !=
            C_OK ||
        checkout_pay_field(body, "email", 254, false, &o->email, err) != C_OK ||
        checkout_pay_field(body, "name", 250, false, &o->name, err) != C_OK ||
        checkout_pay_field(body, "phone", 32, false, &o->phone, err) != C_OK)
        return C_ERR;
    if (strcmp(o->method, "mobile_money") != 0 && strcmp(o->method, "card") != 0)
        return error_set(err, "method", "method must be mobile_money or card");
    const json_t *billing = json_object_get(body, "billing_address");
    if (billing != NULL && !json_is_null(billing) && !json_is_object(billing))
        return error_set(err, "billing_address", "billing_address must be an object");
    if (json_is_object(billing) &&
        checkout_pay_known_members(billing, address, sizeof(address) / sizeof(address[0]),
                                   "billing_address.", err) != C_OK)
        return C_ERR;
    if (s->require_billing_address &&
        (checkout_pay_field(billing, "line1", 200, true, &o->line1, err) != C_OK ||
         checkout_pay_field(billing, "city", 200, true, &o->city, err) != C_OK ||
         checkout_pay_field(billing, "postal_code", 20, false, &o->postal_code, err) != C_OK ||
         checkout_pay_field(billing, "country", 2, true, &o->country, err) != C_OK))
        return C_ERR;
    if (o->country != NULL && (strlen(o->country) != 2 || o->country[0] < 'A' ||
                               o->country[0] > 'Z' || o->country[1] < 'A' || o->country[1] > 'Z'))
        return error_set(err, "country", "country must be an ISO 3166-1 alpha-2 code (SN)");
    return C_OK;
}

enum MHD_Result checkout_pay_internal(struct http_request *req, struct db *db)
{
    const char *raw_id = req->route.params[0];
    struct uuid u;
    if (uuid_parse(raw_id, &u) != C_OK)
        return http_respond_error(req, 400, "validation_error", "id",
                                  "Checkout session id must be a UUID");
    char id[UUID_STR_LEN];
    uuid_format(&u, id);
    json_t *body;
    enum MHD_Result rc = http_read_json_object(req, &body);
    if (body == NULL)
        return rc;
    struct session s;
    bool found = false;
    if (session_store_get_any(db, id, &s, &found) != C_OK) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    if (!found) {
        json_decref(body);
        return http_respond_error(req, 404, "not_found", "id",
                                  "Checkout session with ID %s not found", id);
    }
    struct checkout_order o;
    memset(&o, 0, sizeof(o));
    struct error err = ERROR_INIT;
    char page_path[128];
    if (s.page_secret[0] != '\0')
        snprintf(page_path, sizeof(page_path), "/checkout/%s/%s", s.id, s.page_secret);
    else
        snprintf(page_path, sizeof(page_path), "/checkout/%s", s.id);
    o.page_path = page_path;
    if (checkout_pay_order_of(body, &s, &o, &err) != C_OK)
        rc = http_respond_error(req, 400, "validation_error",
                                err.param[0] != '\0' ? err.param : NULL, "%s", err.message);
    else
        rc = checkout_pay_submit(req, db, &s, &o);
    session_free(&s);
    json_decref(body);
    return rc;
}

/* ---- settling pending attempts ----------------------------------------------------- */

/* Asks a's provider about pending a; sends the command of its outcome when
 * it has one. */
static int checkout_pay_settle(struct payment_attempt *a, struct error *err)
{
    const struct payment_provider *provider = payment_provider_named(a->provider);
    if (provider == NULL)
        return error_set(err, "provider", "no payment provider named %s", a->provider);
    struct payment_result r;
    memset(&r, 0, sizeof(r));
    if (provider->poll(a->reference, a->started_at_ms, &r, err) != C_OK)
        return C_ERR;
    if (r.status == PAYMENT_PENDING)
        return C_OK;
    checkout_pay_outcome(a, &r, rfc3339_now_ms());
    char command_id[UUID_STR_LEN];
    if (uuid_v7_string(command_id) != C_OK)
        return error_set(err, NULL, "out of memory");
    json_t *command = payment_attempt_command(a, command_id);
    if (command == NULL)
        return error_set(err, NULL, "out of memory");
    int rc = pipeline_send(a->session_id, command);
    json_decref(command);
    return rc == C_OK ? C_OK : error_set(err, NULL, "the command could not be sent");
}

int checkout_pay_poll(struct db *db, const struct session *s, struct error *err)
{
    struct payment_attempt a;
    bool found = false;
    if (payment_attempt_latest(db, s->id, &a, &found) != C_OK)
        return error_set(err, NULL, "the payment attempts could not be read");
    if (!found)
        return C_OK;
    int rc = a.status == PAYMENT_ATTEMPT_PENDING ? checkout_pay_settle(&a, err) : C_OK;
    payment_attempt_free(&a);
    return rc;
}

static void *checkout_pay_settle_main(void *arg)
{
    (void)arg;
    struct db db;
    if (db_init(&db, checkout_pay_cfg.database_url) != C_OK)
        return NULL;
    db_set_statement_timeout(&db, checkout_pay_cfg.statement_timeout_ms);
    while (!atomic_load(&checkout_pay_stop)) {
        struct payment_attempt *due = NULL;
        size_t n = 0;
        if (payment_attempt_claim_due(&db, CHECKOUT_PAY_SETTLE_BATCH, CHECKOUT_PAY_RETRY_MS, &due,
                                      &n) == C_OK) {
            for (size_t i = 0; i < n; i++) {
                struct error err = ERROR_INIT;
                if (checkout_pay_settle(&due[i], &err) != C_OK)
                    log_fields(LOG_WARN,
                               json_pack("{ss ss ss}", "checkout_session_id", due[i].session_id,
                                         "payment_attempt_id", due[i].id, "error", err.message),
                               "pending payment not settled; asking again later");
            }
            payment_attempt_array_free(due, n);
        }
        for (long waited = 0;
             waited < checkout_pay_cfg.settle_interval_ms && !atomic_load(&checkout_pay_stop);
             waited += 100)
            service_sleep_ms(100);
    }
    db_close(&db);
    return NULL;
}

int checkout_pay_init(const struct checkout_pay_config *cfg)
{
    checkout_pay_cfg = *cfg;
    atomic_store(&checkout_pay_stop, false);
    if (cfg->settle_interval_ms <= 0)
        return C_OK;
    if (pthread_create(&checkout_pay_thread, NULL, checkout_pay_settle_main, NULL) != 0)
        return C_ERR;
    checkout_pay_thread_started = true;
    return C_OK;
}

void checkout_pay_shutdown(void)
{
    if (!checkout_pay_thread_started)
        return;
    atomic_store(&checkout_pay_stop, true);
    pthread_join(checkout_pay_thread, NULL);
    checkout_pay_thread_started = false;
}
