#include "customer.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"

#define CUSTOMER_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct customer, k, m, j, f, s)
static const struct resource_field customer_fields[] = {CUSTOMER_FIELDS(CUSTOMER_FIELD)};
const struct resource customer_resource = {"customer", customer_fields,
                                           sizeof(customer_fields) / sizeof(customer_fields[0]),
                                           sizeof(struct customer)};

/* The email filter is read by its index, customers_email (migration 0007),
 * whatever the statistics. */
static const struct resource_filter customer_filters[] = {
    {"email", RESOURCE_FILTER_CASELESS | RESOURCE_FILTER_INDEXED}};

/* What must be gone before a customer is (each column has its index:
 * checkout_sessions_customer, subscriptions_customer). */
static const struct resource_reference customer_references[] = {
    {"checkout_sessions", "customer_id", "a checkout session"},
    {"subscriptions", "customer_id", "a subscription"},
};

const struct resource_store customer_store = {
    .resource = &customer_resource,
    .table = "customers",
    .noun = "Customer",
    .plural = "customers",
    .path = "/customers",
    .command_create = CUSTOMER_COMMAND_CREATE,
    .command_update = CUSTOMER_COMMAND_UPDATE,
    .event_created = CUSTOMER_EVENT_CREATED,
    .event_updated = CUSTOMER_EVENT_UPDATED,
    .filters = customer_filters,
    .nfilters = sizeof(customer_filters) / sizeof(customer_filters[0]),
    .command_delete = CUSTOMER_COMMAND_DELETE,
    .event_deleted = CUSTOMER_EVENT_DELETED,
    .references = customer_references,
    .nreferences = sizeof(customer_references) / sizeof(customer_references[0]),
};

int customer_init(struct customer *c)
{
    return resource_init(&customer_resource, c);
}

void customer_free(struct customer *c)
{
    resource_free(&customer_resource, c);
}

/* *out = a copy of s (NULL stays NULL). */
static int customer_copy(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return C_OK;
    *out = strdup(s);
    return *out != NULL ? C_OK : C_ERR;
}

int customer_new(struct customer *c, const char *organization_id, const char *environment,
                 const char *email, const char *name, const char *phone, int64_t now)
{
    if (customer_init(c) != C_OK)
        return C_ERR;
    char id[UUID_STR_LEN];
    if (uuid_v7_string(id) != C_OK ||
        resource_store_prepare_new(&customer_store, c, id, organization_id, environment, now, NULL,
                                   NULL) != C_OK ||
        customer_copy(email, &c->email) != C_OK || customer_copy(name, &c->name) != C_OK ||
        customer_copy(phone, &c->phone) != C_OK) {
        customer_free(c);
        return C_ERR;
    }
    return C_OK;
}

static int customer_insert(struct db *db, const struct customer *c, const char *event_id,
                           struct outbox_batch *events, bool *inserted)
{
    return resource_store_insert(db, &customer_store, c, event_id, events, inserted);
}

/* The completing session's row, locked, and its tenant's newest customer
 * with its email, share-locked, by the key of customers_email (migration
 * 0007) as the email filter reads it. The session is found by its primary key
 * alone (OFFSET 0, as SESSION_BY_ID: without statistics, the guard's
 * conditions drew the planner to checkout_sessions_due, every open session),
 * then the completion's own guard is checked (now() is the transaction's
 * time, the same in the completion's UPDATE). */
static const char customer_completion_sql[] =
    "SELECT s.organization_id, s.environment, s.customer_email, s.customer_name,"
    " s.customer_phone,"
    " (SELECT c.id FROM customers c"
    "  WHERE (c.organization_id::text || c.environment || lower(c.email)) ="
    "   (s.organization_id::text || s.environment || lower(s.customer_email))"
    "  ORDER BY c.created_at DESC, c.id DESC LIMIT 1 FOR KEY SHARE)"
    " FROM (SELECT * FROM checkout_sessions WHERE id = $1 OFFSET 0) s"
    " WHERE s.status = 'open' AND s.expires_at > now()"
    " AND s.customer_id IS NULL AND s.customer_email IS NOT NULL"
    " FOR UPDATE OF s";

/* A column of r's row 0, NULL when SQL NULL. */
static const char *customer_value(const PGresult *r, int column)
{
    return PQgetisnull(r, 0, column) ? NULL : PQgetvalue(r, 0, column);
}

int customer_for_completion(struct db *db, const char *session_id, struct outbox_batch *events,
                            char customer_id[UUID_STR_LEN])
{
    customer_id[0] = '\0';
    const char *params[1] = {session_id};
    PGresult *r = db_exec(db, customer_completion_sql, 1, params);
    if (r == NULL)
        return C_ERR;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return C_OK;
    }
    const char *found = customer_value(r, 5);
    if (found != NULL) {
        snprintf(customer_id, UUID_STR_LEN, "%s", found);
        PQclear(r);
        return C_OK;
    }
    struct customer c;
    char event_id[UUID_STR_LEN];
    bool inserted = false;
    int rc = uuid_v7_string(event_id);
    if (rc == C_OK)
        rc = customer_new(&c, customer_value(r, 0), customer_value(r, 1), customer_value(r, 2),
                          customer_value(r, 3), customer_value(r, 4), rfc3339_now());
    PQclear(r);
    if (rc != C_OK)
        return C_ERR;
    rc = customer_insert(db, &c, event_id, events, &inserted);
    /* A new UUIDv7 id is nobody's yet. */
    assert(rc != C_OK || inserted);
    if (rc == C_OK)
        snprintf(customer_id, UUID_STR_LEN, "%s", c.id);
    customer_free(&c);
    return rc;
}
