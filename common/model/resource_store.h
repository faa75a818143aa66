/* A resource merchants manage through the REST API, stored in a table of its
 * own (products now; prices, customers, coupons, subscriptions next): every
 * row scoped by tenant (organization_id, environment), written only by the
 * session worker from commands, each change with its event in the outbox in
 * the same transaction. Given the resource's field list (model/resource.h)
 * and a few names, this module has everything that does not depend on the
 * resource:
 *
 *   reads      get by id within the tenant (statistics-proof), a cursor list
 *              newest first with optional filters, find by Idempotency-Key;
 *   commands   the create, update and (for a resource that may be deleted)
 *              delete commands the gateway publishes, their decoding and their
 *              application in the worker's transaction (idempotent insert,
 *              update of the updatable fields, delete unless a reference holds
 *              the object), each with its event and its outcome
 *              (model/command_outcome.h);
 *   events     <thing>.created, <thing>.updated and <thing>.deleted,
 *              CloudEvents like the session's, data = the REST object, subject
 *              and Kafka key = the object's id.
 *
 * A resource declares its fields with these columns, and a struct
 * resource_store:
 *   id               UUID, the first field (REST name e.g. "product_id")
 *   organization_id  UUID, environment CODE (test or live)
 *   created_at, updated_at  TIME
 *   idempotency_key  STRING, request_hash CODE: nullable, not in the REST object
 * Fields flagged RESOURCE_UPDATABLE are those an update command may change.
 * resource_store_check tells whether a declaration has what is needed. */
#ifndef CAISSE_RESOURCE_STORE_H
#define CAISSE_RESOURCE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "core/json_writer.h"
#include "core/uuid.h"
#include "infra/db.h"
#include "model/command_outcome.h"
#include "model/outbox.h"
#include "model/resource.h"

#define RESOURCE_STORE_FILTERS_MAX 4
#define RESOURCE_STORE_ENV_LEN 5           /* "test" / "live" */
#define RESOURCE_STORE_REQUEST_HASH_LEN 65 /* hex SHA-256 */
/* The source of every command (the gateway's). */
#define RESOURCE_STORE_COMMAND_SOURCE "/caisse/gateway"

/* The values of every resource's environment field. */
extern const char *const resource_store_environments[];

/* A list filter: a query parameter named as the field it compares (its REST
 * name), equal to the value given. */
#define RESOURCE_FILTER_CASELESS 0x1u /* text compared as lower(column) = lower(value) */
/* Text served by an index of its own, on the tenant and the compared value
 * as one key, newest first:
 *     ((organization_id::text || environment || lower(column)), created_at DESC, id DESC)
 * (column itself without RESOURCE_FILTER_CASELESS). When the filter is given
 * the list compares that key instead of the tenant's columns, which the list
 * and idempotency indexes also lead with: the key's index is then the only
 * one that can serve it, with or without statistics (with the tenant and the
 * value as columns of their own, a database without statistics reads the
 * tenant's rows through its idempotency index). At most one per store. */
#define RESOURCE_FILTER_INDEXED 0x2u
struct resource_filter {
    const char *name;
    unsigned flags;
};

/* A change of state a command asks for by name, e.g. cancel a subscription
 * (POST <path>/{id}/<name>): the columns it sets and the guard under which it
 * applies, both SQL over the table's columns (constants, never input). The
 * worker applies it as one guarded update; when the guard does not hold it
 * records the command refused (invalid_state: "<Noun> <id> <refusal>"). */
#define RESOURCE_STORE_ACTIONS_MAX 4
struct resource_store_action {
    const char *name;      /* "cancel": the route's last segment */
    const char *command;   /* "subscription.cancel" */
    const char *event;     /* "subscription.canceled", written with the object after it */
    const char *set_sql;   /* "status = 'canceled', canceled_at = date_trunc('second', now())" */
    const char *guard_sql; /* "status <> 'canceled'" */
    const char *refusal;   /* "is already canceled" */
};

/* Rows of another table that name objects of a store (a checkout session's
 * customer_id). The table has the tenant's columns (organization_id,
 * environment) and an index that leads with column. */
struct resource_reference {
    const char *table;  /* "checkout_sessions" */
    const char *column; /* "customer_id" */
    const char *noun;   /* "a checkout session", in the refusal's message */
};

struct resource_store {
    const struct resource *resource;
    const char *table;  /* "products" */
    const char *noun;   /* "Product", in messages: "Product with ID ... not found ..." */
    const char *plural; /* "products": "starting_after must be the id of one of your products" */
    const char *path;   /* "/products": the REST collection; events' source is /caisse<path> */
    /* "product.create", "product.update"; NULL for a resource no request
     * creates or updates (subscriptions come from completions). */
    const char *command_create, *command_update;
    const char *event_created, *event_updated; /* "product.created", "product.updated" */
    const struct resource_filter *filters;     /* list filters, nfilters of them */
    size_t nfilters;
    /* Optional: the REST name of a STRING field unique in the tenant (a unique
     * index makes the create's insert do nothing): a create refused because
     * another object holds its value says "<Noun> with <field> <value> already
     * exists" (resource_conflict). */
    const char *unique;
    /* Optional: a condition the row must meet for an update to apply, an SQL
     * expression on the table's columns and $4, the changes ({column: value}).
     * The UPDATE checks it itself, so it holds against concurrent writers; an
     * update of an object that fails it is refused (validation_error) with
     * update_refusal as the message. */
    const char *update_guard;
    const char *update_refusal;
    const struct resource_store_action *actions; /* nactions of them */
    size_t nactions;
    /* A resource that may be deleted (NULL: never, e.g. products, archived
     * instead): its delete command and event ("customer.delete",
     * "customer.deleted"), and the tables whose rows hold it (a delete is
     * refused while one of the tenant's rows names it). */
    const char *command_delete, *event_deleted;
    const struct resource_reference *references;
    size_t nreferences;
};

/* C_OK when store's declaration has every column, kind and flag this module
 * relies on (above); otherwise err says what is wrong. For each resource's
 * unit test: the generic code asserts it holds. */
int resource_store_check(const struct resource_store *store, struct error *err);

/* The members of an object of the store's resource (a struct product * as
 * void *), by column. */
const char *resource_store_id(const struct resource_store *store, const void *obj);
const char *resource_store_organization_id(const struct resource_store *store, const void *obj);
const char *resource_store_environment(const struct resource_store *store, const void *obj);
int64_t resource_store_created_at(const struct resource_store *store, const void *obj);
int64_t resource_store_updated_at(const struct resource_store *store, const void *obj);
/* Fills what every new object has: id, tenant, created_at = updated_at = now,
 * and the create request's Idempotency-Key (NULL: none) and body hash. C_ERR:
 * out of memory (obj's other fields untouched). */
int resource_store_prepare_new(const struct resource_store *store, void *obj, const char *id,
                               const char *organization_id, const char *environment, int64_t now,
                               const char *idempotency_key, const char *request_hash);
/* The request hash and Idempotency-Key an object was created with ("" and NULL without). */
const char *resource_store_request_hash(const struct resource_store *store, const void *obj);
const char *resource_store_idempotency_key(const struct resource_store *store, const void *obj);

/* ---- reads --------------------------------------------------------------------- */

/* found: false when the tenant has no such object (not an error). out (an
 * object of the resource, not initialized) is filled only when found: the
 * caller frees it then (resource_free). */
int resource_store_get(struct db *db, const struct resource_store *store,
                       const char *organization_id, const char *environment, const char *id,
                       void *out, bool *found);
int resource_store_find_by_idempotency_key(struct db *db, const struct resource_store *store,
                                           const char *organization_id, const char *environment,
                                           const char *key, void *out, bool *found);

struct resource_store_list_query {
    long limit;
    char starting_after[UUID_STR_LEN]; /* "" when absent */
    /* The value of each of store->filters as text ("true", a UUID...), NULL
     * when not given: the gateway has checked it fits the field. */
    const char *filters[RESOURCE_STORE_FILTERS_MAX];
};

/* Newest first (created_at, then id). *out is a new array of *count objects
 * (resource_store_array_free), NULL when none. cursor_found is false when
 * starting_after names no object of the tenant. */
int resource_store_list(struct db *db, const struct resource_store *store,
                        const char *organization_id, const char *environment,
                        const struct resource_store_list_query *q, void **out, size_t *count,
                        bool *cursor_found);
void resource_store_array_free(const struct resource_store *store, void *arr, size_t count);

/* Inserts obj (a new object, resource_store_prepare_new) in the caller's
 * transaction unless its row exists (ON CONFLICT DO NOTHING); *inserted
 * true: this call inserted it, and its created event (id event_id, time
 * created_at) is added to events. For the model's own writes in the worker's
 * transaction (a completion's new customer) as for create commands. */
int resource_store_insert(struct db *db, const struct resource_store *store, const void *obj,
                          const char *event_id, struct outbox_batch *events, bool *inserted);

/* ---- events ------------------------------------------------------------------------ */

/* The event of a change of obj, as the outbox keeps it: a CloudEvent (structured
 * mode) with the session events' attributes (organizationid, environment),
 * source /caisse<path>, subject the object's id, data the REST object. C_ERR:
 * w as it was. */
int resource_store_event_write(struct json_writer *w, const struct resource_store *store,
                               const void *obj, const char *type, const char *event_id,
                               int64_t time);
/* That event, added to events (w is scratch). */
int resource_store_add_event(struct outbox_batch *events, struct json_writer *w,
                             const struct resource_store *store, const void *obj, const char *type,
                             const char *event_id, int64_t time);

/* ---- commands ---------------------------------------------------------------------- */

/* Create obj: a CloudEvent whose data is the REST object; the idempotency key
 * and request hash ride as extension attributes when obj has a key. New
 * reference, NULL when out of memory. */
json_t *resource_store_command_create(const struct resource_store *store, const void *obj,
                                      const char *command_id);
/* The same command as the JSON text to publish, its data written as events'
 * is (resource_write_members: a HUNDREDTHS field's number exactly, as the REST
 * answer shows it). New string, NULL when out of memory. */
char *resource_store_command_create_text(const struct resource_store *store, const void *obj,
                                         const char *command_id);
/* Update the tenant's object id: data {<id>, organization_id, environment,
 * changes}, changes a REST object of updatable fields only, with their new
 * values. New reference (changes is not stolen), NULL when out of memory. */
json_t *resource_store_command_update(const struct resource_store *store, const char *id,
                                      const char *organization_id, const char *environment,
                                      const json_t *changes, const char *command_id);
/* Apply action (one of store's) to the tenant's object id: data {<id>,
 * organization_id, environment}. New reference, NULL when out of memory. */
json_t *resource_store_command_action(const struct resource_store *store,
                                      const struct resource_store_action *action, const char *id,
                                      const char *organization_id, const char *environment,
                                      const char *command_id);
/* The action of store whose command type or name (which is which says by_name) is
 * text; NULL when none. */
const struct resource_store_action *resource_store_action_find(const struct resource_store *store,
                                                               const char *text, bool by_name);

/* Delete the tenant's object id (store->command_delete): data {<id>,
 * organization_id, environment}. New reference, NULL when out of memory. */
json_t *resource_store_command_delete(const struct resource_store *store, const char *id,
                                      const char *organization_id, const char *environment,
                                      const char *command_id);

enum resource_store_op {
    RESOURCE_STORE_CREATE,
    RESOURCE_STORE_UPDATE,
    RESOURCE_STORE_DELETE,
    RESOURCE_STORE_ACTION
};

/* The command type of op on store ("product.update"); NULL for an action
 * (its type is the action's: resource_store_action_find). */
const char *resource_store_command_type(const struct resource_store *store,
                                        enum resource_store_op op);

/* A command, decoded. */
struct resource_store_command {
    const struct resource_store *store;
    enum resource_store_op op;
    char command_id[UUID_STR_LEN]; /* the CloudEvent's id */
    /* The object's id as the command spelled it, so the notification names it
     * the way the waiting gateway does. */
    char id[UUID_STR_LEN];
    void *object; /* create: the new object (owned), its key and hash included */
    /* update, delete and action: */
    char organization_id[UUID_STR_LEN];
    char environment[RESOURCE_STORE_ENV_LEN];
    char *changes; /* update, owned: JSON text, {column: new value} for the update statement */
    const struct resource_store_action *action; /* action: which (the command's type) */
};

/* Decodes cmd, a command of store of kind op (the caller knows its type; an
 * action's is found among store's actions).
 * Refuses what PostgreSQL would refuse (a command id or object id that is no
 * UUID, a field of the wrong kind or out of its declared range, a change of a
 * field that is not updatable) so that one bad message is reported as such.
 * C_ERR with the reason in err (out untouched) when malformed or out of memory. */
int resource_store_command_decode(const struct resource_store *store, enum resource_store_op op,
                                  const json_t *cmd, struct resource_store_command *out,
                                  struct error *err);
void resource_store_command_free(struct resource_store_command *c);

/* Applies c in the caller's transaction and says what happened in *outcome:
 *   create: inserts the object unless its row exists (ON CONFLICT DO NOTHING);
 *           *inserted true: this call inserted it, and its created event (id
 *           event_id, time created_at) is added to events. Not inserted: applied
 *           when the row is there (a replay), else refused (another object holds
 *           the Idempotency-Key or a unique value: resource_conflict).
 *   update: changes the tenant's object, sets updated_at, adds the updated event
 *           (time updated_at); refused (not_found) when the tenant has no such
 *           object, or (validation_error) when it fails the store's
 *           update_guard.
 *   action: the same with the action's columns, only where its guard holds,
 *           and the action's event; refused (invalid_state) when the guard
 *           does not hold, (not_found) when the tenant has no such object.
 *   delete: locks the tenant's object (refused, not_found, when there is none),
 *           refuses (resource_conflict) while a row of one of the store's
 *           references names it, else deletes it and adds the deleted event
 *           (data: the object as it was; time: now). The lock makes a reference
 *           protected by a foreign key (a subscription's) wait for the delete's
 *           decision; one without (a session's customer_id) is only seen once
 *           committed.
 * C_ERR: PostgreSQL failed (sqlstate in db), nothing to keep. */
int resource_store_command_apply(struct db *db, const struct resource_store_command *c,
                                 const char *event_id, struct outbox_batch *events,
                                 struct command_outcome *outcome, bool *inserted);

/* ---- SQL, for tests ------------------------------------------------------------------ */

enum resource_store_statement {
    RESOURCE_STORE_SQL_GET,
    RESOURCE_STORE_SQL_FIND_BY_KEY,
    RESOURCE_STORE_SQL_LIST,
    RESOURCE_STORE_SQL_INSERT,
    RESOURCE_STORE_SQL_EXISTS,
    RESOURCE_STORE_SQL_UPDATE,
    RESOURCE_STORE_SQL_LIST_KEYED,
    RESOURCE_STORE_SQL_LOCK,
    RESOURCE_STORE_SQL_REFERENCED,
    RESOURCE_STORE_SQL_DELETE,
    RESOURCE_STORE_SQL_COUNT
};

/* The text of a statement of store, built once from its declaration. */
const char *resource_store_sql(const struct resource_store *store,
                               enum resource_store_statement st);
/* The guarded update of one of store's actions, built once like the others. */
const char *resource_store_action_sql(const struct resource_store *store,
                                      const struct resource_store_action *action);

#endif
