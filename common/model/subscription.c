#include "subscription.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_writer.h"
#include "core/result.h"

const char *const subscription_status_names[] = {"active", "past_due", "canceled", NULL};

#define SUBSCRIPTION_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct subscription, k, m, j, f, s)
static const struct resource_field subscription_fields[] = {
    SUBSCRIPTION_FIELDS(SUBSCRIPTION_FIELD)};
const struct resource subscription_resource = {
    "subscription", subscription_fields,
    sizeof(subscription_fields) / sizeof(subscription_fields[0]), sizeof(struct subscription)};

static const struct resource_filter subscription_filters[] = {{"customer_id", 0}, {"status", 0}};

/* Whole seconds, like every time of the model; canceled_at and updated_at
 * are the same instant (the transaction's). */
const struct resource_store_action subscription_cancel = {
    .name = "cancel",
    .command = SUBSCRIPTION_COMMAND_CANCEL,
    .event = SUBSCRIPTION_EVENT_CANCELED,
    .set_sql = "status = 'canceled', canceled_at = date_trunc('second', now())",
    .guard_sql = "status <> 'canceled'",
    .refusal = "is already canceled",
};

const struct resource_store subscription_store = {
    .resource = &subscription_resource,
    .table = "subscriptions",
    .noun = "Subscription",
    .plural = "subscriptions",
    .path = "/subscriptions",
    .event_created = SUBSCRIPTION_EVENT_CREATED,
    .filters = subscription_filters,
    .nfilters = sizeof(subscription_filters) / sizeof(subscription_filters[0]),
    .actions = &subscription_cancel,
    .nactions = 1,
};

int subscription_init(struct subscription *s)
{
    if (resource_init(&subscription_resource, s) != C_OK)
        return C_ERR;
    s->status = SUBSCRIPTION_ACTIVE;
    return C_OK;
}

void subscription_free(struct subscription *s)
{
    resource_free(&subscription_resource, s);
}

/* ---- periods ------------------------------------------------------------------------ */

#define SUBSCRIPTION_DAY_SECONDS INT64_C(86400)
/* 0001-01-01T00:00:00Z: the first second RFC 3339 times can show. */
#define SUBSCRIPTION_TIME_MIN INT64_C(-62135596800)

int subscription_interval_parse(const char *name, enum subscription_interval *out)
{
    static const char *const names[] = {"day", "week", "month", "year"};
    for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum subscription_interval)i;
            return C_OK;
        }
    }
    return C_ERR;
}

/* Days since 1970-01-01 of a date of the proleptic Gregorian calendar, and
 * back (the era arithmetic of H. Hinnant's civil calendar algorithms: 400-year
 * eras of 146097 days, years starting on March 1 so that February is last). */
static int64_t subscription_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void subscription_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int subscription_days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* start plus months calendar months, the day kept or cut to the month's last. */
static int64_t subscription_add_months(int64_t start, int64_t months)
{
    int64_t days = start / SUBSCRIPTION_DAY_SECONDS;
    int64_t secs = start % SUBSCRIPTION_DAY_SECONDS;
    if (secs < 0) {
        secs += SUBSCRIPTION_DAY_SECONDS;
        days--;
    }
    int64_t y;
    int m, d;
    subscription_civil_from_days(days, &y, &m, &d);
    int64_t index = y * 12 + (m - 1) + months; /* months since year 0, never negative here */
    int64_t ny = index / 12;
    int nm = (int)(index % 12) + 1;
    int last = subscription_days_in_month(ny, nm);
    int nd = d < last ? d : last;
    return subscription_days_from_civil(ny, nm, nd) * SUBSCRIPTION_DAY_SECONDS + secs;
}

int subscription_period_end(int64_t start, enum subscription_interval interval, int count,
                            int64_t *end)
{
    if (count < 1 || count > SUBSCRIPTION_INTERVAL_COUNT_MAX || start < SUBSCRIPTION_TIME_MIN ||
        start > SUBSCRIPTION_TIME_MAX)
        return C_ERR;
    int64_t t;
    switch (interval) {
    case SUBSCRIPTION_INTERVAL_DAY:
        t = start + count * SUBSCRIPTION_DAY_SECONDS;
        break;
    case SUBSCRIPTION_INTERVAL_WEEK:
        t = start + count * 7 * SUBSCRIPTION_DAY_SECONDS;
        break;
    case SUBSCRIPTION_INTERVAL_MONTH:
        t = subscription_add_months(start, count);
        break;
    case SUBSCRIPTION_INTERVAL_YEAR:
        t = subscription_add_months(start, (int64_t)count * 12);
        break;
    default:
        return C_ERR;
    }
    if (t > SUBSCRIPTION_TIME_MAX)
        return C_ERR;
    *end = t;
    return C_OK;
}

/* ---- SQL ------------------------------------------------------------------------------ */

#define SUBSCRIPTION_NOW_SECONDS "date_trunc('second', now())"

/* Templates of resource_sql_format ({select} is every field, as reads show it). */
static const char *const subscription_sql_templates[SUBSCRIPTION_SQL_COUNT] = {
    /* The tenant's recurring price, found by its primary key first (the
     * statistics-proof shape of every lookup by id), with the transaction's
     * time in whole seconds (the start of a new period) and whether $4 is a
     * customer of the tenant (NULL: no). */
    [SUBSCRIPTION_SQL_PRICE] =
        "SELECT p.product_id, p.recurring_interval, p.recurring_interval_count,"
        " extract(epoch FROM " SUBSCRIPTION_NOW_SECONDS ")::bigint,"
        " EXISTS (SELECT 1 FROM customers c WHERE c.id = $4::uuid"
        "   AND c.organization_id = $2 AND c.environment = $3)"
        " FROM (SELECT * FROM prices WHERE id = $1 OFFSET 0) p"
        " WHERE p.organization_id = $2 AND p.environment = $3 AND p.type = 'recurring'",
    /* ON CONFLICT (id): the same subscription started again (a replay). */
    [SUBSCRIPTION_SQL_INSERT] =
        "WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x({recordset}))"
        " INSERT INTO subscriptions ({columns}) SELECT {columns} FROM input"
        " ON CONFLICT (id) DO NOTHING RETURNING {select}",
    /* The row locked until the caller's transaction ends, so that a renewal,
     * a cancel and the past_due sweep of the same subscription follow each
     * other. */
    [SUBSCRIPTION_SQL_LOCK] =
        "SELECT {select} FROM (SELECT * FROM subscriptions WHERE id = $1 OFFSET 0 FOR UPDATE) s"
        " WHERE organization_id = $2 AND environment = $3",
    [SUBSCRIPTION_SQL_RENEW] =
        "UPDATE subscriptions SET status = 'active', current_period_start = "
        "to_timestamp($2::bigint),"
        " current_period_end = to_timestamp($3::bigint), latest_checkout_session_id = $4::uuid,"
        " updated_at = " SUBSCRIPTION_NOW_SECONDS " WHERE id = $1 AND status <> 'canceled'"
        " RETURNING {select}",
    /* As the sessions' expiry (model/session.c): MATERIALIZED keeps the claim
     * with its row locks a step of its own, SKIP LOCKED gives replicas
     * disjoint batches, the status guard makes a repeat a no-op. The partial
     * index subscriptions_due holds exactly the active rows in
     * current_period_end order, so the claim reads only due rows, whatever
     * the statistics. */
    [SUBSCRIPTION_SQL_PAST_DUE] =
        "WITH due AS MATERIALIZED ("
        " SELECT id AS due_id FROM subscriptions"
        " WHERE status = 'active' AND current_period_end <= now()"
        " ORDER BY current_period_end LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE subscriptions SET status = 'past_due', updated_at = " SUBSCRIPTION_NOW_SECONDS
        " FROM due WHERE id = due.due_id AND status = 'active'"
        " RETURNING {select}",
    /* What a completed session says about subscriptions, by its primary key. */
    [SUBSCRIPTION_SQL_SESSION] =
        "SELECT organization_id, environment, customer_id, price_id, subscription_id"
        " FROM checkout_sessions WHERE id = $1",
    /* A renewal session's terms: the subscription by its primary key, then
     * its price and product by theirs. */
    [SUBSCRIPTION_SQL_RENEWAL] =
        "SELECT s.status, s.customer_id, s.price_id, s.product_id, p.currency_code,"
        " coalesce(p.unit_amount, 0), pr.name"
        " FROM (SELECT * FROM subscriptions WHERE id = $1 OFFSET 0) s"
        " JOIN prices p ON p.id = s.price_id JOIN products pr ON pr.id = s.product_id"
        " WHERE s.organization_id = $2 AND s.environment = $3",
};

static char subscription_sql_text[SUBSCRIPTION_SQL_COUNT][4096];
static pthread_once_t subscription_sql_once = PTHREAD_ONCE_INIT;

static void subscription_sql_build(void)
{
    for (int i = 0; i < SUBSCRIPTION_SQL_COUNT; i++) {
        int rc = resource_sql_format(&subscription_resource, subscription_sql_templates[i],
                                     subscription_sql_text[i], sizeof(subscription_sql_text[i]));
        assert(rc == C_OK); /* the buffers fit every statement */
        (void)rc;
    }
}

const char *subscription_sql(enum subscription_statement st)
{
    pthread_once(&subscription_sql_once, subscription_sql_build);
    return subscription_sql_text[st];
}

/* ---- changes ---------------------------------------------------------------------------- */

/* Row row of a {select} result into out (not initialized; the caller frees
 * it on C_OK). */
static int subscription_from_row(const PGresult *r, int row, struct subscription *out)
{
    if (subscription_init(out) != C_OK)
        return C_ERR;
    if (resource_read_row(&subscription_resource, r, row, out) != C_OK) {
        subscription_free(out);
        return C_ERR;
    }
    return C_OK;
}

static int subscription_add_event(struct outbox_batch *events, const struct subscription *s,
                                  const char *type, const char *event_id, int64_t time)
{
    struct json_writer w = JSON_WRITER_INIT;
    int rc = resource_store_add_event(events, &w, &subscription_store, s, type, event_id, time);
    json_writer_free(&w);
    return rc;
}

/* The first row of r into out when out is given, else into a scratch
 * subscription; its event of type added to events (time: created_at for the
 * created event, updated_at for the others). */
static int subscription_changed(const PGresult *r, const char *type, const char *event_id,
                                struct outbox_batch *events, struct subscription *out)
{
    struct subscription s;
    if (subscription_from_row(r, 0, &s) != C_OK)
        return C_ERR;
    int64_t time = strcmp(type, SUBSCRIPTION_EVENT_CREATED) == 0 ? s.created_at : s.updated_at;
    if (subscription_add_event(events, &s, type, event_id, time) != C_OK) {
        subscription_free(&s);
        return C_ERR;
    }
    if (out != NULL)
        *out = s;
    else
        subscription_free(&s);
    return C_OK;
}

/* What a price gives a period: found false when it is no recurring price of
 * the tenant. now: the transaction's time, whole seconds. customer_found:
 * the customer asked about is the tenant's. */
struct subscription_price {
    bool found;
    bool customer_found;
    char product_id[UUID_STR_LEN];
    enum subscription_interval interval;
    int count;
    int64_t now;
};

static int subscription_read_price(struct db *db, const char *price_id, const char *organization_id,
                                   const char *environment, const char *customer_id,
                                   struct subscription_price *p)
{
    const char *params[4] = {price_id, organization_id, environment, customer_id};
    PGresult *r = db_exec(db, subscription_sql(SUBSCRIPTION_SQL_PRICE), 4, params);
    if (r == NULL)
        return C_ERR;
    memset(p, 0, sizeof(*p));
    int rc = C_OK;
    if (PQntuples(r) > 0) {
        snprintf(p->product_id, sizeof(p->product_id), "%s", PQgetvalue(r, 0, 0));
        /* The prices' CHECKs: recurring has both, the count within 1..365. */
        rc = subscription_interval_parse(PQgetvalue(r, 0, 1), &p->interval);
        p->count = (int)strtol(PQgetvalue(r, 0, 2), NULL, 10);
        p->now = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        p->customer_found = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
        p->found = rc == C_OK;
    }
    PQclear(r);
    return rc;
}

/* Inserts s (one row); *inserted false when its id exists. */
static int subscription_insert(struct db *db, const struct subscription *s, const char *event_id,
                               struct outbox_batch *events, struct subscription *out,
                               bool *inserted)
{
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "[{");
    resource_write_columns(&w, &subscription_resource, s);
    json_writer_literal(&w, "}]");
    if (json_writer_end(&w, mark) != C_OK) {
        json_writer_free(&w);
        return C_ERR;
    }
    const char *params[1] = {w.buf};
    PGresult *r = db_exec(db, subscription_sql(SUBSCRIPTION_SQL_INSERT), 1, params);
    json_writer_free(&w);
    if (r == NULL)
        return C_ERR;
    *inserted = PQntuples(r) > 0;
    int rc = *inserted ? subscription_changed(r, SUBSCRIPTION_EVENT_CREATED, event_id, events, out)
                       : C_OK;
    PQclear(r);
    return rc;
}

int subscription_store_start(struct db *db, const struct subscription_start *in,
                             struct outbox_batch *events, struct subscription *out,
                             enum subscription_change *change)
{
    struct subscription_price p;
    const char *customer =
        in->customer_id != NULL && in->customer_id[0] != '\0' ? in->customer_id : NULL;
    if (subscription_read_price(db, in->price_id, in->organization_id, in->environment, customer,
                                &p) != C_OK)
        return C_ERR;
    if (!p.found || !p.customer_found) {
        *change = p.found ? SUBSCRIPTION_NO_CUSTOMER : SUBSCRIPTION_NOT_RECURRING;
        return C_OK;
    }
    struct subscription s;
    if (subscription_init(&s) != C_OK)
        return C_ERR;
    int rc = resource_store_prepare_new(&subscription_store, &s, in->id, in->organization_id,
                                        in->environment, p.now, NULL, NULL);
    if (rc == C_OK)
        rc = subscription_period_end(p.now, p.interval, p.count, &s.current_period_end);
    if (rc == C_OK && in->metadata != NULL) {
        json_t *copy = json_deep_copy(in->metadata);
        rc = json_is_object(copy) ? C_OK : C_ERR;
        if (rc == C_OK) {
            json_decref(s.metadata);
            s.metadata = copy;
        } else {
            json_decref(copy);
        }
    }
    bool inserted = false;
    if (rc == C_OK) {
        snprintf(s.customer_id, sizeof(s.customer_id), "%s", in->customer_id);
        snprintf(s.price_id, sizeof(s.price_id), "%s", in->price_id);
        snprintf(s.product_id, sizeof(s.product_id), "%s", p.product_id);
        snprintf(s.latest_checkout_session_id, sizeof(s.latest_checkout_session_id), "%s",
                 in->checkout_session_id);
        s.status = SUBSCRIPTION_ACTIVE;
        s.current_period_start = p.now;
        rc = subscription_insert(db, &s, in->event_id, events, out, &inserted);
    }
    subscription_free(&s);
    if (rc == C_OK)
        *change = inserted ? SUBSCRIPTION_CHANGED : SUBSCRIPTION_UNCHANGED;
    return rc;
}

/* The tenant's subscription id, locked; found false when there is none. */
static int subscription_lock(struct db *db, const char *organization_id, const char *environment,
                             const char *id, struct subscription *s, bool *found)
{
    const char *params[3] = {id, organization_id, environment};
    PGresult *r = db_exec(db, subscription_sql(SUBSCRIPTION_SQL_LOCK), 3, params);
    if (r == NULL)
        return C_ERR;
    *found = PQntuples(r) > 0;
    int rc = *found ? subscription_from_row(r, 0, s) : C_OK;
    PQclear(r);
    return rc;
}

/* The renewal of the locked subscription s by the session, its price p. */
static int subscription_advance(struct db *db, const struct subscription *s,
                                const struct subscription_price *p, const char *checkout_session_id,
                                const char *event_id, struct outbox_batch *events,
                                struct subscription *out)
{
    int64_t start = s->current_period_end > p->now ? s->current_period_end : p->now;
    int64_t end;
    if (subscription_period_end(start, p->interval, p->count, &end) != C_OK)
        return C_ERR;
    char start_text[24], end_text[24];
    snprintf(start_text, sizeof(start_text), "%lld", (long long)start);
    snprintf(end_text, sizeof(end_text), "%lld", (long long)end);
    const char *params[4] = {s->id, start_text, end_text, checkout_session_id};
    PGresult *r = db_exec(db, subscription_sql(SUBSCRIPTION_SQL_RENEW), 4, params);
    if (r == NULL)
        return C_ERR;
    /* Locked and not canceled: the guard holds. */
    int rc = PQntuples(r) > 0
                 ? subscription_changed(r, SUBSCRIPTION_EVENT_RENEWED, event_id, events, out)
                 : C_ERR;
    PQclear(r);
    return rc;
}

int subscription_store_renew(struct db *db, const char *organization_id, const char *environment,
                             const char *id, const char *checkout_session_id, const char *event_id,
                             struct outbox_batch *events, struct subscription *out,
                             enum subscription_change *change)
{
    struct subscription s;
    bool found = false;
    if (subscription_lock(db, organization_id, environment, id, &s, &found) != C_OK)
        return C_ERR;
    if (!found) {
        *change = SUBSCRIPTION_NOT_FOUND;
        return C_OK;
    }
    int rc = C_OK;
    if (s.status == SUBSCRIPTION_CANCELED) {
        *change = SUBSCRIPTION_IS_CANCELED;
    } else if (strcmp(s.latest_checkout_session_id, checkout_session_id) == 0) {
        *change = SUBSCRIPTION_UNCHANGED;
    } else {
        struct subscription_price p;
        rc = subscription_read_price(db, s.price_id, organization_id, environment, NULL, &p);
        if (rc == C_OK && !p.found)
            *change = SUBSCRIPTION_NOT_RECURRING; /* a price changed by hand */
        else if (rc == C_OK)
            rc = subscription_advance(db, &s, &p, checkout_session_id, event_id, events, out);
        if (rc == C_OK && p.found)
            *change = SUBSCRIPTION_CHANGED;
    }
    subscription_free(&s);
    return rc;
}

int subscription_store_mark_past_due(struct db *db, long limit, long *moved)
{
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[1] = {lim};
    PGresult *r = db_exec(db, subscription_sql(SUBSCRIPTION_SQL_PAST_DUE), 1, params);
    if (r == NULL)
        return C_ERR;
    int n = PQntuples(r);
    struct outbox_batch events = OUTBOX_BATCH_INIT;
    int rc = C_OK;
    for (int i = 0; rc == C_OK && i < n; i++) {
        struct subscription s;
        char event_id[UUID_STR_LEN];
        rc = uuid_v7_string(event_id);
        if (rc == C_OK)
            rc = subscription_from_row(r, i, &s);
        if (rc == C_OK) {
            rc = subscription_add_event(&events, &s, SUBSCRIPTION_EVENT_PAST_DUE, event_id,
                                        s.updated_at);
            subscription_free(&s);
        }
    }
    PQclear(r);
    if (rc == C_OK && n > 0)
        rc = outbox_insert(db, &events);
    outbox_batch_free(&events);
    if (rc == C_OK)
        *moved = n;
    return rc;
}

/* A nullable text column of row 0 into out ("" for NULL). */
static void subscription_column(const PGresult *r, int col, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

int subscription_store_complete(struct db *db, const char *checkout_session_id,
                                struct outbox_batch *events, enum subscription_completion *what)
{
    *what = SUBSCRIPTION_COMPLETION_NONE;
    const char *params[1] = {checkout_session_id};
    PGresult *r = db_exec(db, subscription_sql(SUBSCRIPTION_SQL_SESSION), 1, params);
    if (r == NULL)
        return C_ERR;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return C_OK;
    }
    char org[UUID_STR_LEN], env[RESOURCE_STORE_ENV_LEN], customer[UUID_STR_LEN];
    char price[UUID_STR_LEN], renewed[UUID_STR_LEN];
    subscription_column(r, 0, org, sizeof(org));
    subscription_column(r, 1, env, sizeof(env));
    subscription_column(r, 2, customer, sizeof(customer));
    subscription_column(r, 3, price, sizeof(price));
    subscription_column(r, 4, renewed, sizeof(renewed));
    PQclear(r);
    if (renewed[0] == '\0' && price[0] == '\0')
        return C_OK; /* no catalog: the common case costs this one read */
    char event_id[UUID_STR_LEN];
    if (uuid_v7_string(event_id) != C_OK)
        return C_ERR;
    enum subscription_change change;
    if (renewed[0] != '\0') {
        if (subscription_store_renew(db, org, env, renewed, checkout_session_id, event_id, events,
                                     NULL, &change) != C_OK)
            return C_ERR;
        *what = change == SUBSCRIPTION_CHANGED ? SUBSCRIPTION_COMPLETION_RENEWED
                                               : SUBSCRIPTION_COMPLETION_NOT_RENEWED;
        return C_OK;
    }
    char id[UUID_STR_LEN];
    if (uuid_v7_string(id) != C_OK)
        return C_ERR;
    struct subscription_start in = {.id = id,
                                    .organization_id = org,
                                    .environment = env,
                                    .customer_id = customer,
                                    .price_id = price,
                                    .checkout_session_id = checkout_session_id,
                                    .metadata = NULL,
                                    .event_id = event_id};
    if (subscription_store_start(db, &in, events, NULL, &change) != C_OK)
        return C_ERR;
    if (change == SUBSCRIPTION_CHANGED)
        *what = SUBSCRIPTION_COMPLETION_STARTED;
    else if (change == SUBSCRIPTION_NO_CUSTOMER)
        *what = SUBSCRIPTION_COMPLETION_NO_CUSTOMER;
    return C_OK;
}

int subscription_store_renewal(struct db *db, const char *organization_id, const char *environment,
                               const char *id, struct subscription_renewal *out, bool *found)
{
    memset(out, 0, sizeof(*out));
    const char *params[3] = {id, organization_id, environment};
    PGresult *r = db_exec(db, subscription_sql(SUBSCRIPTION_SQL_RENEWAL), 3, params);
    if (r == NULL)
        return C_ERR;
    *found = PQntuples(r) > 0;
    int rc = C_OK;
    if (*found) {
        const char *status = PQgetvalue(r, 0, 0);
        out->status = SUBSCRIPTION_ACTIVE;
        for (int i = 0; subscription_status_names[i] != NULL; i++) {
            if (strcmp(status, subscription_status_names[i]) == 0)
                out->status = (enum subscription_status)i;
        }
        subscription_column(r, 1, out->customer_id, sizeof(out->customer_id));
        subscription_column(r, 2, out->price_id, sizeof(out->price_id));
        subscription_column(r, 3, out->product_id, sizeof(out->product_id));
        subscription_column(r, 4, out->currency_code, sizeof(out->currency_code));
        out->unit_amount = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
        out->product_name = strdup(PQgetvalue(r, 0, 6));
        rc = out->product_name != NULL ? C_OK : C_ERR;
    }
    PQclear(r);
    return rc;
}

void subscription_renewal_free(struct subscription_renewal *r)
{
    free(r->product_name);
    r->product_name = NULL;
}
