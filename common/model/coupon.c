#include "coupon.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "model/command_outcome.h"
#include "model/currency.h"

bool coupon_currency_is_supported(const char *code)
{
    return currency_find(code) != NULL;
}

#define COUPON_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct coupon, k, m, j, f, s)
static const struct resource_field coupon_fields[] = {COUPON_FIELDS(COUPON_FIELD)};
const struct resource coupon_resource = {"coupon", coupon_fields,
                                         sizeof(coupon_fields) / sizeof(coupon_fields[0]),
                                         sizeof(struct coupon)};

static const struct resource_filter coupon_filters[] = {{"active", 0}};

const struct resource_store coupon_store = {
    .resource = &coupon_resource,
    .table = "coupons",
    .noun = "Coupon",
    .plural = "coupons",
    .path = "/coupons",
    .command_create = COUPON_COMMAND_CREATE,
    .command_update = COUPON_COMMAND_UPDATE,
    .event_created = COUPON_EVENT_CREATED,
    .event_updated = COUPON_EVENT_UPDATED,
    .filters = coupon_filters,
    .nfilters = sizeof(coupon_filters) / sizeof(coupon_filters[0]),
    /* The unique index coupons_code (tenant, lower(code)) decides a duplicate
     * in the worker, where concurrent creates meet. */
    .unique = "code",
    /* A completion may count a redemption between the gateway's check and
     * this update: the CHECK (times_redeemed <= max_redemptions) would then
     * fail the worker's transaction; the guard refuses the update instead. */
    .update_guard = "($4::jsonb->>'max_redemptions') IS NULL"
                    " OR ($4::jsonb->>'max_redemptions')::integer >= times_redeemed",
    .update_refusal = "max_redemptions must be at least times_redeemed",
};

int coupon_init(struct coupon *c)
{
    if (resource_init(&coupon_resource, c) != C_OK)
        return C_ERR;
    c->active = true;
    json_t *ids = json_array();
    if (ids == NULL || json_object_set_new(c->applies_to, "product_ids", ids) != 0) {
        coupon_free(c);
        return C_ERR;
    }
    return C_OK;
}

void coupon_free(struct coupon *c)
{
    resource_free(&coupon_resource, c);
}

bool coupon_code_is_valid(const char *code)
{
    size_t n = 0;
    for (const char *p = code; *p != '\0'; p++, n++) {
        char ch = *p;
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        if (!ok || n >= COUPON_CODE_MAX)
            return false;
    }
    return n > 0;
}

/* ---- statements ---------------------------------------------------------------------- */

/* The unique index coupons_code is (organization_id, environment, lower(code)):
 * with all three compared for equality it is the only index that finds one
 * row, so a database without statistics takes it too. Codes are ASCII, whose
 * lower() no collation changes. */
#define COUPON_FIND_BY_CODE                                                                        \
    "SELECT {select} FROM coupons"                                                                 \
    " WHERE organization_id = $1 AND environment = $2 AND lower(code) = lower($3)"

/* The session is locked first (FOR UPDATE), as its completion will lock it,
 * and only while its completion's guard holds. The coupon is found by primary
 * key (the initplan's value, whatever the statistics) and must be the
 * session's tenant's; the count's guard is the UPDATE's own condition, so a
 * concurrent redemption that committed first is seen (PostgreSQL re-reads the
 * row it waited for and checks the condition again on it). One row: the
 * session is open, with its coupon's code and whether it counted. */
#define COUPON_REDEEM                                                                              \
    "WITH s AS (SELECT coupon_id, coupon_code, organization_id, environment"                       \
    " FROM checkout_sessions WHERE id = $1 AND status = 'open' AND expires_at > now()"             \
    " AND coupon_id IS NOT NULL FOR UPDATE),"                                                      \
    " r AS (UPDATE coupons SET times_redeemed = times_redeemed + 1"                                \
    " WHERE id = (SELECT coupon_id FROM s)"                                                        \
    " AND (organization_id, environment) = (SELECT organization_id, environment FROM s)"           \
    " AND (max_redemptions IS NULL OR times_redeemed < max_redemptions)"                           \
    " RETURNING id)"                                                                               \
    " SELECT s.coupon_code, (SELECT count(*) FROM r) FROM s"

static char *coupon_statements[COUPON_SQL_COUNT];
static pthread_once_t coupon_statements_once = PTHREAD_ONCE_INIT;

static void coupon_statements_build(void)
{
    static const char *const templates[COUPON_SQL_COUNT] = {
        [COUPON_SQL_FIND_BY_CODE] = COUPON_FIND_BY_CODE,
        [COUPON_SQL_REDEEM] = COUPON_REDEEM,
    };
    for (size_t i = 0; i < COUPON_SQL_COUNT; i++) {
        enum { COUPON_SQL_MAX = 4096 };
        char *out = malloc(COUPON_SQL_MAX);
        if (out != NULL &&
            resource_sql_format(&coupon_resource, templates[i], out, COUPON_SQL_MAX) != C_OK) {
            free(out);
            out = NULL;
        }
        coupon_statements[i] = out; /* kept for the process's life; NULL: out of memory */
    }
}

const char *coupon_sql(enum coupon_statement st)
{
    assert(st < COUPON_SQL_COUNT);
    pthread_once(&coupon_statements_once, coupon_statements_build);
    return coupon_statements[st];
}

int coupon_find_by_code(struct db *db, const char *organization_id, const char *environment,
                        const char *code, struct coupon *out, bool *found)
{
    *found = false;
    if (!coupon_code_is_valid(code))
        return C_OK;
    const char *sql = coupon_sql(COUPON_SQL_FIND_BY_CODE);
    if (sql == NULL)
        return C_ERR;
    const char *params[3] = {organization_id, environment, code};
    PGresult *r = db_exec(db, sql, 3, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    if (PQntuples(r) > 0) {
        struct coupon c;
        rc = coupon_init(&c) == C_OK && resource_read_row(&coupon_resource, r, 0, &c) == C_OK
                 ? C_OK
                 : C_ERR;
        if (rc == C_OK) {
            *out = c;
            *found = true;
        } else {
            coupon_free(&c);
        }
    }
    PQclear(r);
    return rc;
}

int coupon_redeem_for_completion(struct db *db, const char *session_id, const char *command_id,
                                 bool *refused)
{
    *refused = false;
    const char *sql = coupon_sql(COUPON_SQL_REDEEM);
    if (sql == NULL)
        return C_ERR;
    const char *params[1] = {session_id};
    PGresult *r = db_exec(db, sql, 1, params);
    if (r == NULL)
        return C_ERR;
    if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 1), "0") != 0) {
        PQclear(r);
        return C_OK;
    }
    struct command_outcome o;
    command_outcome_refused(&o, command_id, session_id, COMMAND_OUTCOME_INVALID_STATE,
                            "Coupon %s has been redeemed its maximum number of times: checkout"
                            " session %s was not completed",
                            PQgetvalue(r, 0, 0), session_id);
    PQclear(r);
    *refused = true;
    /* Without a command id (none to answer) the refusal stands unrecorded. */
    if (command_id[0] != '\0' && command_outcome_insert(db, &o, 1) != C_OK)
        return C_ERR;
    return C_OK;
}

int coupon_redeem(struct db *db, const char *coupon_id, const char *organization_id,
                  const char *environment, bool *redeemed)
{
    static const char sql[] = "UPDATE coupons SET times_redeemed = times_redeemed + 1"
                              " WHERE id = $1 AND organization_id = $2 AND environment = $3"
                              " AND (max_redemptions IS NULL OR times_redeemed < max_redemptions)";
    const char *params[3] = {coupon_id, organization_id, environment};
    long affected = 0;
    if (db_exec_affected(db, sql, 3, params, &affected) != C_OK)
        return C_ERR;
    *redeemed = affected == 1;
    return C_OK;
}

/* ---- the discount -------------------------------------------------------------------- */

enum discount_refusal coupon_discount(const struct coupon *c, const struct discount_purchase *p,
                                      int64_t *discount)
{
    if (c == NULL)
        return discount_compute(NULL, p, discount);
    const json_t *ids = json_object_get(c->applies_to, "product_ids");
    const char *product_ids[COUPON_PRODUCT_IDS_MAX];
    size_t n = 0;
    /* At most COUPON_PRODUCT_IDS_MAX: the gateway takes no more. */
    for (size_t i = 0; i < json_array_size(ids) && n < COUPON_PRODUCT_IDS_MAX; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (id != NULL)
            product_ids[n++] = id;
    }
    struct discount_terms t = {
        .percent_off_bp = c->percent_off_bp != RESOURCE_NULL_INT32 ? c->percent_off_bp : 0,
        .amount_off = c->amount_off != RESOURCE_NULL_INT64 ? c->amount_off : 0,
        .currency_code = c->currency_code[0] != '\0' ? c->currency_code : NULL,
        .active = c->active,
        .valid_from = c->valid_from != RESOURCE_NULL_INT64 ? c->valid_from : DISCOUNT_NO_TIME,
        .valid_until = c->valid_until != RESOURCE_NULL_INT64 ? c->valid_until : DISCOUNT_NO_TIME,
        .max_redemptions = c->max_redemptions != RESOURCE_NULL_INT32 ? c->max_redemptions : 0,
        .times_redeemed = c->times_redeemed,
        .product_ids = product_ids,
        .nproduct_ids = n,
    };
    return discount_compute(&t, p, discount);
}

void coupon_refusal_message(enum discount_refusal r, const struct coupon *c, const char *code,
                            const struct discount_purchase *p, char *out, size_t outlen)
{
    struct discount_terms t = {
        .currency_code = NULL, .valid_from = DISCOUNT_NO_TIME, .valid_until = DISCOUNT_NO_TIME};
    if (c != NULL) {
        t.currency_code = c->currency_code[0] != '\0' ? c->currency_code : NULL;
        t.valid_from = c->valid_from;
        t.valid_until = c->valid_until;
        code = c->code;
    }
    discount_refusal_message(r, code, &t, p, out, outlen);
}
