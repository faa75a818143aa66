/* The generic store of the catalog's resources, on a resource of the test's
 * own (a widget) and on products: what a declaration must have, the
 * statements built from it, the events and the commands (written by the
 * gateway, decoded by the worker). The same against PostgreSQL is
 * tests/integration/products.c. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json_writer.h"
#include "core/result.h"
#include "model/product.h"
#include "model/resource_store.h"
#include "../../leak_check.h"

TestSuite(resource_store, .fini = unit_leak_check);

#define WIDGET_ID "0190a6e4-6b2c-7d3e-8f41-123456789abc"
#define ORG_ID "789e0123-e89b-12d3-a456-426614174000"
#define OWNER_ID "456e7890-e89b-12d3-a456-426614174000"
#define COMMAND_ID "0190a6e4-6b2c-7d3e-8f41-0000000000c1"
#define EVENT_ID "0190a6e4-6b2c-7d3e-8f41-0000000000e1"

enum widget_kind { WIDGET_ROUND, WIDGET_SQUARE };

/* A resource with one field of each kind a filter can compare. */
#define WIDGET_FIELDS(X)                                                                           \
    X(UUID, id, "widget_id", 0, 0, ())                                                             \
    X(UUID, organization_id, "organization_id", 0, 0, ())                                          \
    X(STRING, email, "email", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())                       \
    X(UUID, owner_id, "owner_id", RESOURCE_NULLABLE, 0, ())                                        \
    X(ENUM, kind, "kind", RESOURCE_UPDATABLE, widget_kind, (.values = widget_kinds))               \
    X(INT64, size, "size", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, (.min = 1, .max = 99))       \
    X(BOOL, active, "active", RESOURCE_UPDATABLE, 0, ())                                           \
    X(OBJECT, metadata, "metadata", RESOURCE_UPDATABLE, 0, ())                                     \
    X(CODE, environment, "environment", 0, RESOURCE_STORE_ENV_LEN,                                 \
      (.values = resource_store_environments))                                                     \
    X(TIME, created_at, "created_at", 0, 0, ())                                                    \
    X(TIME, updated_at, "updated_at", 0, 0, ())                                                    \
    X(STRING, idempotency_key, NULL, RESOURCE_NULLABLE, 0, ())                                     \
    X(CODE, request_hash, NULL, RESOURCE_NULLABLE, RESOURCE_STORE_REQUEST_HASH_LEN, ())

struct widget {
    WIDGET_FIELDS(RESOURCE_MEMBER)
};

static const char *const widget_kinds[] = {"round", "square", NULL};

#define WIDGET_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct widget, k, m, j, f, s)
static const struct resource_field widget_fields[] = {WIDGET_FIELDS(WIDGET_FIELD)};
static const struct resource widget_resource = {"widget", widget_fields,
                                                sizeof(widget_fields) / sizeof(widget_fields[0]),
                                                sizeof(struct widget)};
static const struct resource_filter widget_filters[] = {
    {"active", 0}, {"owner_id", 0}, {"email", RESOURCE_FILTER_CASELESS}, {"kind", 0}};

/* An action: retire an active widget. */
static const struct resource_store_action widget_retire = {
    .name = "retire",
    .command = "widget.retire",
    .event = "widget.retired",
    .set_sql = "active = false",
    .guard_sql = "active",
    .refusal = "is retired already",
};

static const struct resource_store widget_store = {
    .resource = &widget_resource,
    .table = "widgets",
    .noun = "Widget",
    .plural = "widgets",
    .path = "/widgets",
    .command_create = "widget.create",
    .command_update = "widget.update",
    .event_created = "widget.created",
    .event_updated = "widget.updated",
    .filters = widget_filters,
    .nfilters = sizeof(widget_filters) / sizeof(widget_filters[0]),
    .actions = &widget_retire,
    .nactions = 1,
};

static void new_widget(struct widget *w, const char *key)
{
    cr_assert_eq(resource_init(&widget_resource, w), C_OK);
    cr_assert_eq(resource_store_prepare_new(&widget_store, w, WIDGET_ID, ORG_ID, "test", 1705314600,
                                            key, key != NULL ? "ab12" : NULL),
                 C_OK);
    w->email = strdup("Ada@example.com");
    w->kind = WIDGET_SQUARE;
    w->size = 7;
    w->active = true;
    cr_assert_eq(json_object_set_new(w->metadata, "a", json_string("b")), 0);
}

/* The REST object of new_widget's widget. */
#define WIDGET_JSON                                                                                \
    "{\"widget_id\":\"" WIDGET_ID "\",\"organization_id\":\"" ORG_ID "\","                         \
    "\"email\":\"Ada@example.com\",\"owner_id\":null,\"kind\":\"square\",\"size\":7,"              \
    "\"active\":true,\"metadata\":{\"a\":\"b\"},\"environment\":\"test\","                         \
    "\"created_at\":\"2024-01-15T10:30:00Z\",\"updated_at\":\"2024-01-15T10:30:00Z\"}"

/* ---- the declaration -------------------------------------------------------------- */

Test(resource_store, the_products_and_the_test_declarations_are_complete)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_check(&product_store, &err), C_OK, "%s", err.message);
    cr_assert_eq(resource_store_check(&widget_store, &err), C_OK, "%s", err.message);
}

Test(resource_store, an_incomplete_declaration_says_what_is_missing)
{
    /* created_at missing: the widget's fields without it. */
    struct resource_field fields[sizeof(widget_fields) / sizeof(widget_fields[0])];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(widget_fields) / sizeof(widget_fields[0]); i++) {
        if (strcmp(widget_fields[i].column, "created_at") != 0)
            fields[n++] = widget_fields[i];
    }
    struct resource r = widget_resource;
    r.fields = fields;
    r.nfields = n;
    struct resource_store s = widget_store;
    s.resource = &r;
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "widgets: no field created_at");
    /* The tenant cannot be changed by an update. */
    memcpy(fields, widget_fields, sizeof(widget_fields));
    r.nfields = sizeof(widget_fields) / sizeof(widget_fields[0]);
    fields[1].flags |= RESOURCE_UPDATABLE;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "widgets: field organization_id cannot be updatable");
    /* A filter on a time, or on no field. */
    fields[1].flags = 0;
    static const struct resource_filter bad[] = {{"created_at", 0}};
    s.filters = bad;
    s.nfilters = 1;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "widgets: filter created_at is not a field that can be compared");
}

Test(resource_store, new_objects_get_their_id_tenant_times_and_key)
{
    struct widget w;
    new_widget(&w, "order-1");
    cr_assert_str_eq(resource_store_id(&widget_store, &w), WIDGET_ID);
    cr_assert_str_eq(resource_store_organization_id(&widget_store, &w), ORG_ID);
    cr_assert_str_eq(resource_store_environment(&widget_store, &w), "test");
    cr_assert_eq(resource_store_created_at(&widget_store, &w), 1705314600);
    cr_assert_eq(resource_store_updated_at(&widget_store, &w), 1705314600);
    cr_assert_str_eq(resource_store_idempotency_key(&widget_store, &w), "order-1");
    cr_assert_str_eq(resource_store_request_hash(&widget_store, &w), "ab12");
    resource_free(&widget_resource, &w);
}

/* ---- statements ---------------------------------------------------------------------- */

#define WIDGET_SELECT                                                                              \
    "id, organization_id, email, owner_id, kind, size, active, metadata::text, environment,"       \
    " floor(extract(epoch FROM created_at))::bigint, floor(extract(epoch FROM "                    \
    "updated_at))::bigint,"                                                                        \
    " idempotency_key, request_hash"

Test(resource_store, reads_find_the_row_by_its_primary_key_then_check_the_tenant)
{
    cr_assert_str_eq(resource_store_sql(&widget_store, RESOURCE_STORE_SQL_GET),
                     "SELECT " WIDGET_SELECT
                     " FROM (SELECT * FROM widgets WHERE id = $3 OFFSET 0) s"
                     " WHERE organization_id = $1 AND environment = $2");
    cr_assert_str_eq(resource_store_sql(&widget_store, RESOURCE_STORE_SQL_FIND_BY_KEY),
                     "SELECT " WIDGET_SELECT " FROM widgets WHERE organization_id = $1"
                     " AND environment = $2 AND idempotency_key = $3");
    cr_assert_str_eq(resource_store_sql(&widget_store, RESOURCE_STORE_SQL_EXISTS),
                     "SELECT 1 FROM widgets WHERE id = $1");
    /* Built once: the same text each time, so it is prepared once per connection. */
    cr_assert_eq(resource_store_sql(&widget_store, RESOURCE_STORE_SQL_GET),
                 resource_store_sql(&widget_store, RESOURCE_STORE_SQL_GET));
}

Test(resource_store, the_list_has_one_condition_per_filter_switched_off_by_null)
{
    cr_assert_str_eq(
        resource_store_sql(&widget_store, RESOURCE_STORE_SQL_LIST),
        "WITH cursor AS (SELECT created_at, id FROM (SELECT * FROM widgets WHERE id = $3::uuid"
        " OFFSET 0) s WHERE organization_id = $1 AND environment = $2) SELECT " WIDGET_SELECT
        " FROM widgets WHERE organization_id = $1 AND environment = $2"
        " AND ($3::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM cursor))"
        " AND ($5::boolean IS NULL OR active = $5::boolean)"
        " AND ($6::uuid IS NULL OR owner_id = $6::uuid)"
        " AND ($7::text IS NULL OR lower(email) = lower($7::text))"
        " AND ($8::text IS NULL OR kind = $8::text)"
        " ORDER BY created_at DESC, id DESC LIMIT $4");
}

Test(resource_store, insert_and_update_come_from_the_fields)
{
    cr_assert_str_eq(
        resource_store_sql(&widget_store, RESOURCE_STORE_SQL_INSERT),
        "WITH input AS ( SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid,"
        " organization_id uuid, email text, owner_id uuid, kind text, size bigint, active boolean,"
        " metadata jsonb, environment text, created_at timestamptz, updated_at timestamptz,"
        " idempotency_key text, request_hash text)) INSERT INTO widgets (id, organization_id,"
        " email, owner_id, kind, size, active, metadata, environment, created_at, updated_at,"
        " idempotency_key, request_hash) SELECT id, organization_id, email, owner_id, kind, size,"
        " active, metadata, environment, created_at, updated_at, idempotency_key, request_hash"
        " FROM input ON CONFLICT DO NOTHING RETURNING id");
    /* Only the updatable fields, each taking the change's value when it names it. */
    cr_assert_str_eq(
        resource_store_sql(&widget_store, RESOURCE_STORE_SQL_UPDATE),
        "UPDATE widgets SET email = CASE WHEN $4::jsonb ? 'email' THEN $4::jsonb->>'email'"
        " ELSE email END, kind = CASE WHEN $4::jsonb ? 'kind' THEN $4::jsonb->>'kind' ELSE kind"
        " END, size = CASE WHEN $4::jsonb ? 'size' THEN ($4::jsonb->>'size')::bigint ELSE size"
        " END, active = CASE WHEN $4::jsonb ? 'active' THEN ($4::jsonb->>'active')::boolean"
        " ELSE active END, metadata = CASE WHEN $4::jsonb ? 'metadata' THEN"
        " nullif($4::jsonb->'metadata', 'null'::jsonb) ELSE metadata END,"
        " updated_at = date_trunc('second', now()) WHERE id = (SELECT s.id FROM (SELECT * FROM"
        " widgets WHERE id = $1 OFFSET 0) s WHERE s.organization_id = $2 AND s.environment = $3)"
        " RETURNING " WIDGET_SELECT);
}

/* ---- events ------------------------------------------------------------------------- */

Test(resource_store, the_event_is_a_cloudevent_of_the_rest_object)
{
    struct widget w;
    new_widget(&w, NULL);
    struct json_writer jw = JSON_WRITER_INIT;
    cr_assert_eq(
        resource_store_event_write(&jw, &widget_store, &w, "widget.created", EVENT_ID, 1705314600),
        C_OK);
    cr_assert_str_eq(jw.buf, "{\"specversion\":\"1.0\",\"id\":\"" EVENT_ID "\","
                             "\"source\":\"/caisse/widgets\",\"type\":\"widget.created\","
                             "\"subject\":\"" WIDGET_ID "\",\"time\":\"2024-01-15T10:30:00Z\","
                             "\"datacontenttype\":\"application/json\","
                             "\"organizationid\":\"" ORG_ID "\",\"environment\":\"test\","
                             "\"data\":" WIDGET_JSON "}");
    json_writer_free(&jw);
    resource_free(&widget_resource, &w);
}

Test(resource_store, the_event_goes_to_the_outbox_with_the_object_as_subject)
{
    struct widget w;
    new_widget(&w, NULL);
    struct outbox_batch events = OUTBOX_BATCH_INIT;
    struct json_writer jw = JSON_WRITER_INIT;
    cr_assert_eq(resource_store_add_event(&events, &jw, &widget_store, &w, "widget.updated",
                                          EVENT_ID, 1705318200),
                 C_OK);
    cr_assert_eq(events.count, 1);
    const char prefix[] = EVENT_ID "\t" WIDGET_ID "\t" ORG_ID "\ttest\twidget.updated\t";
    cr_assert_eq(strncmp(events.copy, prefix, strlen(prefix)), 0, "%s", events.copy);
    outbox_batch_free(&events);
    json_writer_free(&jw);
    resource_free(&widget_resource, &w);
}

/* ---- commands -------------------------------------------------------------------------- */

static json_t *parsed(json_t *cmd)
{
    cr_assert_not_null(cmd);
    char *text = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    json_t *back = json_loads(text, 0, NULL);
    free(text);
    return back;
}

Test(resource_store, a_create_command_carries_the_object_and_its_key)
{
    struct widget w;
    new_widget(&w, "order-1");
    json_t *cmd = parsed(resource_store_command_create(&widget_store, &w, COMMAND_ID));
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "type")), "widget.create");
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "id")), COMMAND_ID);
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "subject")), WIDGET_ID);
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "source")), "/caisse/gateway");
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "idempotencykey")), "order-1");
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "requesthash")), "ab12");
    json_t *data = json_loads(WIDGET_JSON, 0, NULL);
    cr_assert(json_equal(json_object_get(cmd, "data"), data));
    json_decref(data);

    /* The worker reads back the same object, key and hash included. */
    struct resource_store_command c;
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_command_decode(&widget_store, RESOURCE_STORE_CREATE, cmd, &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_eq(c.op, RESOURCE_STORE_CREATE);
    cr_assert_str_eq(c.command_id, COMMAND_ID);
    cr_assert_str_eq(c.id, WIDGET_ID);
    const struct widget *back = c.object;
    cr_assert_str_eq(back->email, "Ada@example.com");
    cr_assert_eq(back->kind, WIDGET_SQUARE);
    cr_assert_str_eq(back->idempotency_key, "order-1");
    cr_assert_str_eq(back->request_hash, "ab12");
    resource_store_command_free(&c);
    resource_store_command_free(&c); /* twice is harmless */
    json_decref(cmd);
    resource_free(&widget_resource, &w);
}

Test(resource_store, an_update_command_carries_the_changes_and_the_worker_gets_them_by_column)
{
    json_t *changes =
        json_loads("{\"email\": \"b@example.com\", \"size\": null, \"kind\": \"round\","
                   " \"active\": false, \"metadata\": {\"n\": 1}}",
                   0, NULL);
    json_t *cmd = parsed(resource_store_command_update(&widget_store, WIDGET_ID, ORG_ID, "live",
                                                       changes, COMMAND_ID));
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "type")), "widget.update");
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "subject")), WIDGET_ID);
    json_t *data = json_object_get(cmd, "data");
    cr_assert_str_eq(json_string_value(json_object_get(data, "widget_id")), WIDGET_ID);
    cr_assert_str_eq(json_string_value(json_object_get(data, "organization_id")), ORG_ID);
    cr_assert_str_eq(json_string_value(json_object_get(data, "environment")), "live");
    cr_assert(json_equal(json_object_get(data, "changes"), changes));

    struct resource_store_command c;
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_command_decode(&widget_store, RESOURCE_STORE_UPDATE, cmd, &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_str_eq(c.id, WIDGET_ID);
    cr_assert_str_eq(c.organization_id, ORG_ID);
    cr_assert_str_eq(c.environment, "live");
    cr_assert_null(c.object);
    cr_assert_str_eq(c.changes, "{\"email\":\"b@example.com\",\"size\":null,\"kind\":\"round\","
                                "\"active\":false,\"metadata\":{\"n\":1}}");
    resource_store_command_free(&c);
    json_decref(cmd);
    json_decref(changes);
}

/* Decoding cmd (text) as op must fail with message. */
static void expect_malformed(enum resource_store_op op, const char *text, const char *message)
{
    json_t *cmd = json_loads(text, 0, NULL);
    cr_assert_not_null(cmd, "%s", text);
    struct resource_store_command c;
    memset(&c, 0x5a, sizeof(c));
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_command_decode(&widget_store, op, cmd, &c, &err), C_ERR, "%s",
                 text);
    cr_assert_str_eq(err.message, message);
    json_decref(cmd);
}

#define UPDATE_HEAD "{\"id\": \"" COMMAND_ID "\", \"data\": {\"widget_id\": \"" WIDGET_ID "\","

Test(resource_store, a_malformed_command_is_refused_with_the_reason)
{
    expect_malformed(RESOURCE_STORE_CREATE, "{\"id\": \"cmd-1\", \"data\": {}}",
                     "the command id is missing or not a UUID");
    expect_malformed(RESOURCE_STORE_CREATE, "{\"id\": \"" COMMAND_ID "\", \"data\": 5}",
                     "data is not a JSON object");
    expect_malformed(RESOURCE_STORE_CREATE,
                     "{\"id\": \"" COMMAND_ID "\", \"idempotencykey\": 5, \"data\": {}}",
                     "idempotencykey or requesthash is not a string");
    expect_malformed(RESOURCE_STORE_CREATE, "{\"id\": \"" COMMAND_ID "\", \"data\": {}}",
                     "field widget_id is missing or has the wrong type");
    expect_malformed(RESOURCE_STORE_UPDATE,
                     UPDATE_HEAD " \"organization_id\": \"x\", \"environment\": \"test\","
                                 " \"changes\": {}}}",
                     "field organization_id is missing or not a UUID");
    expect_malformed(RESOURCE_STORE_UPDATE,
                     UPDATE_HEAD " \"organization_id\": \"" ORG_ID "\", \"environment\": \"prod\","
                                 " \"changes\": {}}}",
                     "field environment must be test or live");
    expect_malformed(RESOURCE_STORE_UPDATE,
                     UPDATE_HEAD " \"organization_id\": \"" ORG_ID
                                 "\", \"environment\": \"test\"}}",
                     "field changes is missing or not an object");
    expect_malformed(RESOURCE_STORE_UPDATE,
                     UPDATE_HEAD " \"organization_id\": \"" ORG_ID "\", \"environment\": \"test\","
                                 " \"changes\": {\"owner_id\": \"" ORG_ID "\"}}}",
                     "field owner_id cannot be changed");
    expect_malformed(RESOURCE_STORE_UPDATE,
                     UPDATE_HEAD " \"organization_id\": \"" ORG_ID "\", \"environment\": \"test\","
                                 " \"changes\": {\"created_at\": \"2024-01-15T10:30:00Z\"}}}",
                     "field created_at cannot be changed");
    expect_malformed(RESOURCE_STORE_UPDATE,
                     UPDATE_HEAD " \"organization_id\": \"" ORG_ID "\", \"environment\": \"test\","
                                 " \"changes\": {\"size\": 100}}}",
                     "field size is out of range");
    expect_malformed(RESOURCE_STORE_UPDATE,
                     UPDATE_HEAD " \"organization_id\": \"" ORG_ID "\", \"environment\": \"test\","
                                 " \"changes\": {\"kind\": \"oval\"}}}",
                     "field kind has an unknown value");
    expect_malformed(RESOURCE_STORE_UPDATE,
                     UPDATE_HEAD " \"organization_id\": \"" ORG_ID "\", \"environment\": \"test\","
                                 " \"changes\": {\"active\": null}}}",
                     "field active is missing or not a boolean");
}

Test(resource_store, a_product_command_round_trips)
{
    struct product p;
    cr_assert_eq(product_init(&p), C_OK);
    cr_assert(p.active, "a new product is active");
    cr_assert_eq(resource_store_prepare_new(&product_store, &p, WIDGET_ID, ORG_ID, "test",
                                            1705314600, NULL, NULL),
                 C_OK);
    p.name = strdup("Premium plan");
    json_t *cmd = parsed(resource_store_command_create(&product_store, &p, COMMAND_ID));
    cr_assert_null(json_object_get(cmd, "idempotencykey"), "no key, no attribute");
    cr_assert_null(json_object_get(cmd, "requesthash"));
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "type")), PRODUCT_COMMAND_CREATE);
    char *data = json_dumps(json_object_get(cmd, "data"), JSON_COMPACT);
    cr_assert_str_eq(data, "{\"product_id\":\"" WIDGET_ID "\",\"organization_id\":\"" ORG_ID "\","
                           "\"name\":\"Premium plan\",\"description\":null,\"active\":true,"
                           "\"default_price_id\":null,\"metadata\":{},\"environment\":\"test\","
                           "\"created_at\":\"2024-01-15T10:30:00Z\","
                           "\"updated_at\":\"2024-01-15T10:30:00Z\"}");
    free(data);
    struct resource_store_command c;
    struct error err = ERROR_INIT;
    cr_assert_eq(
        resource_store_command_decode(&product_store, RESOURCE_STORE_CREATE, cmd, &c, &err), C_OK,
        "%s", err.message);
    cr_assert_str_eq(((struct product *)c.object)->name, "Premium plan");
    cr_assert_null(((struct product *)c.object)->idempotency_key);
    resource_store_command_free(&c);
    json_decref(cmd);
    product_free(&p);
}

/* ---- actions ------------------------------------------------------------------------- */

Test(resource_store, a_store_without_commands_or_with_an_incomplete_action_is_told_apart)
{
    struct error err = ERROR_INIT;
    /* Created elsewhere (a subscription by a completion): no create or update command. */
    struct resource_store s = widget_store;
    s.command_create = NULL;
    s.command_update = NULL;
    s.event_updated = NULL;
    cr_assert_eq(resource_store_check(&s, &err), C_OK, "%s", err.message);
    /* A command needs its event. */
    s.command_update = "widget.update";
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "widgets: a name is missing");
    s = widget_store;
    struct resource_store_action half = widget_retire;
    half.guard_sql = NULL;
    s.actions = &half;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "widgets: action 0 lacks a name, a statement or a message");
    s.actions = &widget_retire;
    s.nactions = RESOURCE_STORE_ACTIONS_MAX + 1;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "widgets: more than 4 actions");
}

Test(resource_store, an_action_is_one_update_where_its_guard_holds)
{
    cr_assert_str_eq(
        resource_store_action_sql(&widget_store, &widget_retire),
        "UPDATE widgets SET active = false, updated_at = date_trunc('second', now())"
        " WHERE id = (SELECT s.id FROM (SELECT * FROM widgets WHERE id = $1 OFFSET 0) s"
        " WHERE s.organization_id = $2 AND s.environment = $3) AND (active)"
        " RETURNING " WIDGET_SELECT);
    cr_assert_eq(resource_store_action_sql(&widget_store, &widget_retire),
                 resource_store_action_sql(&widget_store, &widget_retire), "built once");
    cr_assert_eq(resource_store_action_find(&widget_store, "retire", true), &widget_retire);
    cr_assert_eq(resource_store_action_find(&widget_store, "widget.retire", false), &widget_retire);
    cr_assert_null(resource_store_action_find(&widget_store, "widget.retire", true));
    cr_assert_null(resource_store_action_find(&widget_store, NULL, false));
}

Test(resource_store, an_action_command_names_the_object_and_its_tenant)
{
    json_t *cmd = parsed(resource_store_command_action(&widget_store, &widget_retire, WIDGET_ID,
                                                       ORG_ID, "live", COMMAND_ID));
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "type")), "widget.retire");
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "subject")), WIDGET_ID);
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "id")), COMMAND_ID);
    char *data = json_dumps(json_object_get(cmd, "data"), JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(data, "{\"environment\":\"live\",\"organization_id\":\"" ORG_ID
                           "\",\"widget_id\":\"" WIDGET_ID "\"}");
    free(data);
    struct resource_store_command c;
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_command_decode(&widget_store, RESOURCE_STORE_ACTION, cmd, &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_eq(c.op, RESOURCE_STORE_ACTION);
    cr_assert_eq(c.action, &widget_retire);
    cr_assert_str_eq(c.command_id, COMMAND_ID);
    cr_assert_str_eq(c.id, WIDGET_ID);
    cr_assert_str_eq(c.organization_id, ORG_ID);
    cr_assert_str_eq(c.environment, "live");
    cr_assert_null(c.object);
    cr_assert_null(c.changes);
    resource_store_command_free(&c);
    json_decref(cmd);
}

Test(resource_store, a_malformed_action_command_is_refused_with_the_reason)
{
    expect_malformed(RESOURCE_STORE_ACTION,
                     "{\"id\": \"" COMMAND_ID "\", \"type\": \"widget.polish\", \"data\": {}}",
                     "widget.polish is no action of widgets");
    expect_malformed(RESOURCE_STORE_ACTION,
                     "{\"id\": \"" COMMAND_ID "\", \"type\": \"widget.retire\", \"data\": 5}",
                     "data is not a JSON object");
    expect_malformed(RESOURCE_STORE_ACTION,
                     "{\"id\": \"" COMMAND_ID "\", \"type\": \"widget.retire\", \"data\":"
                     " {\"widget_id\": \"" WIDGET_ID "\", \"organization_id\": \"" ORG_ID "\"}}",
                     "field environment must be test or live");
    expect_malformed(RESOURCE_STORE_ACTION,
                     "{\"id\": \"" COMMAND_ID "\", \"type\": \"widget.retire\", \"data\":"
                     " {\"widget_id\": 7, \"organization_id\": \"" ORG_ID "\"}}",
                     "field widget_id is missing or not a UUID");
}
/* ---- deletes and the indexed filter (customers) -------------------------------------- */

static const struct resource_filter gadget_filters[] = {
    {"active", 0}, {"email", RESOURCE_FILTER_CASELESS | RESOURCE_FILTER_INDEXED}};
static const struct resource_reference gadget_references[] = {
    {"orders", "widget_id", "an order"},
    {"loans", "widget_id", "a loan"},
};

/* A widget that may be deleted while nothing refers to it, listed by email. */
static const struct resource_store gadget_store = {
    .resource = &widget_resource,
    .table = "gadgets",
    .noun = "Gadget",
    .plural = "gadgets",
    .path = "/gadgets",
    .command_create = "gadget.create",
    .command_update = "gadget.update",
    .event_created = "gadget.created",
    .event_updated = "gadget.updated",
    .filters = gadget_filters,
    .nfilters = sizeof(gadget_filters) / sizeof(gadget_filters[0]),
    .command_delete = "gadget.delete",
    .event_deleted = "gadget.deleted",
    .references = gadget_references,
    .nreferences = sizeof(gadget_references) / sizeof(gadget_references[0]),
};

Test(resource_store, a_deletable_declaration_needs_its_delete_names)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_check(&gadget_store, &err), C_OK, "%s", err.message);
    struct resource_store s = gadget_store;
    s.event_deleted = NULL;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "gadgets: a delete needs both its command and its event");
    s.command_delete = NULL;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "gadgets: references hold only what may be deleted");
    static const struct resource_filter two[] = {{"email", RESOURCE_FILTER_INDEXED},
                                                 {"environment", RESOURCE_FILTER_INDEXED}};
    s = gadget_store;
    s.filters = two;
    s.nfilters = 2;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "gadgets: more than one indexed filter");
    static const struct resource_filter size[] = {{"size", RESOURCE_FILTER_INDEXED}};
    s.filters = size;
    s.nfilters = 1;
    cr_assert_eq(resource_store_check(&s, &err), C_ERR);
    cr_assert_str_eq(err.message, "gadgets: filter size is indexed but not text");
}

Test(resource_store, the_indexed_filter_compares_its_index_s_key)
{
    /* The other filters stay switched off by NULL; the tenant and the value
     * are compared as one key, which only the filter's index has. */
    cr_assert_str_eq(
        resource_store_sql(&gadget_store, RESOURCE_STORE_SQL_LIST_KEYED),
        "WITH cursor AS (SELECT created_at, id FROM (SELECT * FROM gadgets WHERE id = $3::uuid"
        " OFFSET 0) s WHERE organization_id = $1 AND environment = $2) SELECT " WIDGET_SELECT
        " FROM gadgets WHERE (organization_id::text || environment || lower(email)) ="
        " ($1::uuid::text || $2::text || lower($6::text))"
        " AND ($3::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM cursor))"
        " AND ($5::boolean IS NULL OR active = $5::boolean)"
        " ORDER BY created_at DESC, id DESC LIMIT $4");
    /* Without it, the list is the usual one. */
    cr_assert(strstr(resource_store_sql(&gadget_store, RESOURCE_STORE_SQL_LIST),
                     " AND ($6::text IS NULL OR lower(email) = lower($6::text))") != NULL);
}

Test(resource_store, a_delete_locks_the_object_then_looks_for_what_refers_to_it)
{
    cr_assert_str_eq(resource_store_sql(&gadget_store, RESOURCE_STORE_SQL_LOCK),
                     "SELECT " WIDGET_SELECT " FROM gadgets WHERE id = (SELECT s.id FROM"
                     " (SELECT * FROM gadgets WHERE id = $3 OFFSET 0) s"
                     " WHERE s.organization_id = $1 AND s.environment = $2) FOR UPDATE");
    /* Each reference read by its column's index alone. */
    cr_assert_str_eq(resource_store_sql(&gadget_store, RESOURCE_STORE_SQL_REFERENCED),
                     "SELECT EXISTS (SELECT 1 FROM (SELECT organization_id, environment FROM orders"
                     " WHERE widget_id = $1 OFFSET 0) r"
                     " WHERE r.organization_id = $2 AND r.environment = $3),"
                     " EXISTS (SELECT 1 FROM (SELECT organization_id, environment FROM loans"
                     " WHERE widget_id = $1 OFFSET 0) r"
                     " WHERE r.organization_id = $2 AND r.environment = $3)");
    cr_assert_str_eq(resource_store_sql(&gadget_store, RESOURCE_STORE_SQL_DELETE),
                     "DELETE FROM gadgets WHERE id = $1 RETURNING " WIDGET_SELECT);
}

Test(resource_store, a_delete_command_names_the_object_and_its_tenant)
{
    json_t *cmd =
        parsed(resource_store_command_delete(&gadget_store, WIDGET_ID, ORG_ID, "test", COMMAND_ID));
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "type")), "gadget.delete");
    cr_assert_str_eq(json_string_value(json_object_get(cmd, "subject")), WIDGET_ID);
    char *data = json_dumps(json_object_get(cmd, "data"), JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(data, "{\"environment\":\"test\",\"organization_id\":\"" ORG_ID
                           "\",\"widget_id\":\"" WIDGET_ID "\"}");
    free(data);
    cr_assert_str_eq(resource_store_command_type(&gadget_store, RESOURCE_STORE_DELETE),
                     "gadget.delete");
    struct resource_store_command c;
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_command_decode(&gadget_store, RESOURCE_STORE_DELETE, cmd, &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_eq(c.op, RESOURCE_STORE_DELETE);
    cr_assert_str_eq(c.id, WIDGET_ID);
    cr_assert_str_eq(c.organization_id, ORG_ID);
    cr_assert_str_eq(c.environment, "test");
    cr_assert_null(c.object);
    cr_assert_null(c.changes);
    resource_store_command_free(&c);
    /* A store that never deletes refuses the command as malformed. */
    cr_assert_eq(resource_store_command_decode(&widget_store, RESOURCE_STORE_DELETE, cmd, &c, &err),
                 C_ERR);
    cr_assert_str_eq(err.message, "widgets are never deleted");
    json_decref(cmd);
}
