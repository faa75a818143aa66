/* The field declaration machinery, on a resource of the test's own: what the
 * next resources (products, prices...) get from a field list and a few
 * lines. The session's own behaviour is tested in session.c. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/error.h"
#include "core/json_writer.h"
#include "core/result.h"
#include "model/resource.h"
#include "../../leak_check.h"

TestSuite(resource, .fini = unit_leak_check);

enum thing_state { THING_NEW, THING_USED, THING_GONE };

/* ---- a resource: the list and the few lines ----------------------------- */

#define THING_FIELDS(X)                                                                            \
    X(UUID, id, "thing_id", 0, 0, ())                                                              \
    X(INT64, price, "price", 0, 0, (.min = 1, .max = 1000))                                        \
    X(INT32, stock, "stock", 0, 0, ())                                                             \
    X(CODE, size, "size", 0, 3, (.values = thing_sizes))                                           \
    X(CODE, color, "color", RESOURCE_NULLABLE, 8,                                                  \
      (.check = thing_is_lower, .check_failure = "is not lower"))                                  \
    X(ENUM, state, "state", 0, thing_state,                                                        \
      (.values = thing_states,                                                                     \
       .read_sql = "CASE WHEN sold_at IS NULL THEN state ELSE 'gone' END"))                        \
    X(STRING, name, "name", RESOURCE_NULLABLE, 0, ())                                              \
    X(UUID, owner_id, "owner_id", RESOURCE_NULLABLE, 0, ())                                        \
    X(BOOL, shiny, "shiny", 0, 0, ())                                                              \
    X(TIME, made_at, "made_at", 0, 0, ())                                                          \
    X(OBJECT, tags, "tags", 0, 0, ())                                                              \
    X(STRING, secret, NULL, RESOURCE_NULLABLE, 0, ())                                              \
    X(TIME, sold_at, NULL, RESOURCE_NOT_INSERTED, 0, ())

struct thing {
    THING_FIELDS(RESOURCE_MEMBER)
};

static const char *const thing_sizes[] = {"S", "M", "L", NULL};
static const char *const thing_states[] = {"new", "used", "gone", NULL};

static bool thing_is_lower(const char *s)
{
    for (; *s; s++)
        if (*s < 'a' || *s > 'z')
            return false;
    return true;
}

#define THING_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct thing, k, m, j, f, s)
static const struct resource_field thing_fields[] = {THING_FIELDS(THING_FIELD)};
static const struct resource thing_resource = {
    "thing", thing_fields, sizeof(thing_fields) / sizeof(thing_fields[0]), sizeof(struct thing)};

/* ---- helpers ------------------------------------------------------------- */

#define THING_ID "0190a6e4-6b2c-7d3e-8f41-123456789abc"
#define OWNER_ID "789e0123-e89b-12d3-a456-426614174000"

static void full_thing(struct thing *t)
{
    cr_assert_eq(resource_init(&thing_resource, t), C_OK);
    snprintf(t->id, sizeof(t->id), "%s", THING_ID);
    t->price = 250;
    t->stock = -3;
    snprintf(t->size, sizeof(t->size), "M");
    snprintf(t->color, sizeof(t->color), "red");
    t->state = THING_USED;
    t->name = strdup("Th\"ing\n");
    snprintf(t->owner_id, sizeof(t->owner_id), "%s", OWNER_ID);
    t->shiny = true;
    t->made_at = 1705314600;
    cr_assert_eq(json_object_set_new(t->tags, "a", json_integer(1)), 0);
    t->secret = strdup("hidden");
    t->sold_at = 1705318200;
}

static const char full_json[] =
    "{\"thing_id\":\"" THING_ID "\",\"price\":250,\"stock\":-3,\"size\":\"M\",\"color\":\"red\","
    "\"state\":\"used\",\"name\":\"Th\\\"ing\\n\",\"owner_id\":\"" OWNER_ID "\",\"shiny\":true,"
    "\"made_at\":\"2024-01-15T10:30:00Z\",\"tags\":{\"a\":1}}";

static char *members_text(const struct thing *t)
{
    struct json_writer w = JSON_WRITER_INIT;
    json_writer_literal(&w, "{");
    resource_write_members(&w, &thing_resource, t);
    json_writer_literal(&w, "}");
    cr_assert_not(w.failed);
    return w.buf;
}

/* ---- C form -------------------------------------------------------------- */

Test(resource, the_struct_has_a_member_of_the_declared_type_per_field)
{
    struct thing t;
    cr_assert_eq(sizeof(t.id), 37);
    cr_assert_eq(sizeof(t.size), 3);
    cr_assert_eq(sizeof(t.color), 8);
    cr_assert_eq(sizeof(t.price), 8);
    cr_assert_eq(sizeof(t.stock), 4);
    cr_assert_eq(sizeof(t.state), sizeof(enum thing_state));
    cr_assert_eq(thing_resource.nfields, 13);
    cr_assert_str_eq(thing_fields[0].column, "id");
    cr_assert_str_eq(thing_fields[0].json, "thing_id");
    cr_assert_null(thing_fields[11].json);
}

Test(resource, init_makes_nulls_and_empty_objects_free_releases_them)
{
    struct thing t;
    memset(&t, 0x5a, sizeof(t));
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    cr_assert_str_eq(t.id, "");
    cr_assert_null(t.name);
    cr_assert_eq(t.price, 0);
    cr_assert(json_is_object(t.tags));
    cr_assert_eq(json_object_size(t.tags), 0);
    resource_free(&thing_resource, &t);
    cr_assert_null(t.tags);
    resource_free(&thing_resource, &t);
}

/* ---- JSON ------------------------------------------------------------------ */

Test(resource, to_json_and_the_writer_give_the_same_object_in_field_order)
{
    struct thing t;
    full_thing(&t);
    json_t *j = resource_to_json(&thing_resource, &t);
    cr_assert_not_null(j);
    char *dumped = json_dumps(j, JSON_COMPACT);
    cr_assert_str_eq(dumped, full_json);
    char *written = members_text(&t);
    cr_assert_str_eq(written, full_json);
    free(written);
    free(dumped);
    json_decref(j);
    resource_free(&thing_resource, &t);
}

Test(resource, null_fields_are_json_null_and_fields_outside_the_object_are_left_out)
{
    struct thing t;
    full_thing(&t);
    free(t.name);
    t.name = NULL;
    t.owner_id[0] = '\0';
    t.color[0] = '\0';
    char *written = members_text(&t);
    json_t *j = json_loads(written, 0, NULL);
    cr_assert_not_null(j);
    cr_assert(json_is_null(json_object_get(j, "name")));
    cr_assert(json_is_null(json_object_get(j, "owner_id")));
    cr_assert(json_is_null(json_object_get(j, "color")));
    cr_assert_null(json_object_get(j, "secret"));
    cr_assert_null(json_object_get(j, "sold_at"));
    /* A field that is not nullable is written as it is, even empty. */
    t.id[0] = '\0';
    free(written);
    written = members_text(&t);
    cr_assert_not_null(strstr(written, "\"thing_id\":\"\""));
    json_decref(j);
    free(written);
    resource_free(&thing_resource, &t);
}

Test(resource, columns_are_the_inserted_fields_keyed_by_column)
{
    struct thing t;
    full_thing(&t);
    struct json_writer w = JSON_WRITER_INIT;
    json_writer_literal(&w, "{");
    resource_write_columns(&w, &thing_resource, &t);
    json_writer_literal(&w, "}");
    cr_assert_str_eq(w.buf, "{\"id\":\"" THING_ID "\",\"price\":250,\"stock\":-3,\"size\":\"M\","
                            "\"color\":\"red\",\"state\":\"used\",\"name\":\"Th\\\"ing\\n\","
                            "\"owner_id\":\"" OWNER_ID "\",\"shiny\":true,"
                            "\"made_at\":\"2024-01-15T10:30:00Z\",\"tags\":{\"a\":1},"
                            "\"secret\":\"hidden\"}");
    json_writer_free(&w);
    resource_free(&thing_resource, &t);
}

Test(resource, a_copy_row_is_the_inserted_columns_in_copy_text_format)
{
    struct thing t;
    full_thing(&t);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    struct json_writer scratch = JSON_WRITER_INIT;
    cr_assert_eq(resource_write_copy_row(&thing_resource, &t, &scratch, &buf, &len, &cap), C_OK);
    /* Tab-separated, one line; the newline inside the name escaped, a
     * boolean as t, a time as its RFC 3339 text, an object as JSON; never
     * the field that is not inserted (sold_at). */
    cr_assert_str_eq(buf, THING_ID "\t250\t-3\tM\tred\tused\tTh\"ing\\n\t" OWNER_ID
                                   "\tt\t2024-01-15T10:30:00Z\t{\"a\":1}\thidden\n");
    cr_assert_eq(len, strlen(buf));
    free(buf);
    json_writer_free(&scratch);
    resource_free(&thing_resource, &t);
}

Test(resource, a_copy_row_writes_null_as_backslash_n_and_escapes_copy_bytes)
{
    struct thing t;
    full_thing(&t);
    t.color[0] = '\0';
    t.owner_id[0] = '\0';
    free(t.secret);
    t.secret = NULL;
    free(t.name);
    t.name = strdup("a\tb\\c\r");
    t.shiny = false;
    cr_assert_eq(json_object_set_new(t.tags, "q", json_string("x\ty")), 0);
    char *buf = strdup("before\n");
    size_t len = strlen(buf), cap = len + 1;
    struct json_writer scratch = JSON_WRITER_INIT;
    cr_assert_eq(resource_write_copy_row(&thing_resource, &t, &scratch, &buf, &len, &cap), C_OK);
    /* Appended after what was there; a JSON escape's backslash doubled too. */
    cr_assert_str_eq(buf, "before\n" THING_ID "\t250\t-3\tM\t\\N\tused\ta\\tb\\\\c\\r\t\\N"
                          "\tf\t2024-01-15T10:30:00Z\t{\"a\":1,\"q\":\"x\\\\ty\"}\t\\N\n");
    free(buf);
    json_writer_free(&scratch);
    resource_free(&thing_resource, &t);
}

/* Reads full_json with one member replaced (NULL: removed), expecting message. */
static void expect_read_error(const char *name, json_t *replacement, const char *message)
{
    json_t *j = json_loads(full_json, 0, NULL);
    cr_assert_not_null(j);
    if (replacement != NULL)
        cr_assert_eq(json_object_set_new(j, name, replacement), 0);
    else
        cr_assert_eq(json_object_del(j, name), 0);
    struct thing t;
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_read_json(&thing_resource, j, &t, &err), C_ERR, "%s", name);
    cr_assert_str_eq(err.message, message);
    cr_assert_str_eq(err.param, name);
    resource_free(&thing_resource, &t);
    json_decref(j);
}

Test(resource, read_json_round_trips)
{
    struct thing t, back;
    full_thing(&t);
    json_t *j = resource_to_json(&thing_resource, &t);
    cr_assert_eq(resource_init(&thing_resource, &back), C_OK);
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_read_json(&thing_resource, j, &back, &err), C_OK, "%s", err.message);
    char *a = members_text(&t), *b = members_text(&back);
    cr_assert_str_eq(a, b);
    cr_assert_null(back.secret, "fields outside the REST object are not read");
    cr_assert_eq(back.sold_at, 0);
    free(a);
    free(b);
    json_decref(j);
    resource_free(&thing_resource, &t);
    resource_free(&thing_resource, &back);
}

Test(resource, read_json_checks_each_kind_with_its_message)
{
    expect_read_error("thing_id", NULL, "field thing_id is missing or has the wrong type");
    expect_read_error("thing_id", json_string("x"), "field thing_id is not a UUID");
    expect_read_error("price", json_integer(0), "field price is out of range");
    expect_read_error("price", json_integer(1001), "field price is out of range");
    expect_read_error("price", json_real(5.0), "field price is missing or has the wrong type");
    expect_read_error("stock", json_integer(2147483648LL), "field stock is out of range");
    expect_read_error("stock", json_integer(-2147483649LL), "field stock is out of range");
    expect_read_error("size", json_string("XL"), "field size must be S, M or L");
    expect_read_error("color", json_string("Red"), "field color is not lower");
    expect_read_error("color", json_string("abcdefgh"), "field color is too long");
    expect_read_error("state", json_string("broken"), "field state has an unknown value");
    expect_read_error("name", json_integer(1), "field name is missing or has the wrong type");
    expect_read_error("owner_id", json_string("nope"), "field owner_id is not a UUID");
    expect_read_error("shiny", json_string("true"), "field shiny is missing or not a boolean");
    expect_read_error("shiny", NULL, "field shiny is missing or not a boolean");
    expect_read_error("made_at", json_string("2024-13-01T00:00:00Z"),
                      "field made_at is not an RFC 3339 time");
    expect_read_error("tags", json_array(), "field tags is missing or has the wrong type");
}

Test(resource, read_json_takes_null_or_absent_for_nullable_fields)
{
    json_t *j = json_loads(full_json, 0, NULL);
    cr_assert_eq(json_object_set_new(j, "name", json_null()), 0);
    cr_assert_eq(json_object_del(j, "owner_id"), 0);
    cr_assert_eq(json_object_set_new(j, "color", json_null()), 0);
    struct thing t;
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_read_json(&thing_resource, j, &t, &err), C_OK, "%s", err.message);
    cr_assert_null(t.name);
    cr_assert_str_eq(t.owner_id, "");
    cr_assert_str_eq(t.color, "");
    json_decref(j);
    resource_free(&thing_resource, &t);
}

Test(resource, read_json_reports_the_first_field_in_declaration_order)
{
    json_t *j = json_loads(full_json, 0, NULL);
    cr_assert_eq(json_object_set_new(j, "made_at", json_string("never")), 0);
    cr_assert_eq(json_object_set_new(j, "stock", json_string("many")), 0);
    struct thing t;
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_read_json(&thing_resource, j, &t, &err), C_ERR);
    cr_assert_str_eq(err.message, "field stock is missing or has the wrong type");
    json_decref(j);
    resource_free(&thing_resource, &t);
}

/* ---- SQL ------------------------------------------------------------------- */

Test(resource, sql_lists_come_from_the_fields)
{
    char out[2048];
    cr_assert_eq(
        resource_sql_format(&thing_resource, "SELECT {select} FROM things", out, sizeof(out)),
        C_OK);
    cr_assert_str_eq(out, "SELECT id, price, stock, size, color,"
                          " CASE WHEN sold_at IS NULL THEN state ELSE 'gone' END, name, owner_id,"
                          " shiny, floor(extract(epoch FROM made_at))::bigint, tags::text, secret,"
                          " floor(extract(epoch FROM sold_at))::bigint FROM things");
    cr_assert_eq(resource_sql_format(&thing_resource, "INSERT INTO things ({columns}) VALUES", out,
                                     sizeof(out)),
                 C_OK);
    cr_assert_str_eq(out, "INSERT INTO things (id, price, stock, size, color, state, name,"
                          " owner_id, shiny, made_at, tags, secret) VALUES");
    cr_assert_eq(
        resource_sql_format(&thing_resource, "x({recordset}) '{}' {other}", out, sizeof(out)),
        C_OK);
    cr_assert_str_eq(out, "x(id uuid, price bigint, stock integer, size text, color text,"
                          " state text, name text, owner_id uuid, shiny boolean,"
                          " made_at timestamptz, tags jsonb, secret text) '{}' {other}");
}

Test(resource, sql_format_refuses_a_buffer_too_small)
{
    char out[40];
    cr_assert_eq(resource_sql_format(&thing_resource, "SELECT {select}", out, sizeof(out)), C_ERR);
    cr_assert_eq(resource_sql_format(&thing_resource, "SELECT 1", out, 8), C_ERR);
    cr_assert_eq(resource_sql_format(&thing_resource, "SELECT 1", out, 9), C_OK);
    cr_assert_str_eq(out, "SELECT 1");
}

/* A result as libpq would give it for the select list, built by hand. */
static PGresult *thing_result(const char *const *values, int ncols)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    cr_assert_not_null(r);
    PGresAttDesc attrs[16];
    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i < ncols; i++) {
        attrs[i].name = (char *)"c";
        attrs[i].format = 0;
    }
    cr_assert(PQsetResultAttrs(r, ncols, attrs));
    for (int i = 0; i < ncols; i++)
        cr_assert(PQsetvalue(r, 0, i, (char *)values[i], values[i] ? (int)strlen(values[i]) : -1));
    return r;
}

static const char *const full_row[] = {THING_ID,     "250",       "-3",        "M", "red",
                                       "used",       "Th\"ing\n", OWNER_ID,    "t", "1705314600",
                                       "{\"a\": 1}", "hidden",    "1705318200"};

Test(resource, read_row_reads_every_column_into_the_struct)
{
    PGresult *r = thing_result(full_row, 13);
    struct thing t, expected;
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    cr_assert_eq(resource_read_row(&thing_resource, r, 0, &t), C_OK);
    full_thing(&expected);
    char *a = members_text(&t), *b = members_text(&expected);
    cr_assert_str_eq(a, b);
    cr_assert_str_eq(t.secret, "hidden");
    cr_assert_eq(t.sold_at, 1705318200);
    free(a);
    free(b);
    PQclear(r);
    resource_free(&thing_resource, &t);
    resource_free(&thing_resource, &expected);
}

Test(resource, read_row_takes_sql_null_for_nullable_fields_only)
{
    const char *row[13];
    memcpy(row, full_row, sizeof(row));
    row[4] = NULL; /* color */
    row[6] = NULL; /* name */
    row[7] = NULL; /* owner_id */
    PGresult *r = thing_result(row, 13);
    struct thing t;
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    cr_assert_eq(resource_read_row(&thing_resource, r, 0, &t), C_OK);
    cr_assert_str_eq(t.color, "");
    cr_assert_null(t.name);
    cr_assert_str_eq(t.owner_id, "");
    PQclear(r);
    resource_free(&thing_resource, &t);
    memcpy(row, full_row, sizeof(row));
    row[1] = NULL; /* price: never NULL in a table that fits */
    r = thing_result(row, 13);
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    cr_assert_eq(resource_read_row(&thing_resource, r, 0, &t), C_ERR);
    PQclear(r);
    resource_free(&thing_resource, &t);
}

Test(resource, read_row_refuses_a_row_that_does_not_fit)
{
    const char *row[13];
    struct thing t;
    PGresult *r = thing_result(full_row, 12);
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    cr_assert_eq(resource_read_row(&thing_resource, r, 0, &t), C_ERR, "one column short");
    PQclear(r);
    resource_free(&thing_resource, &t);
    memcpy(row, full_row, sizeof(row));
    row[5] = "USED";
    r = thing_result(row, 13);
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    cr_assert_eq(resource_read_row(&thing_resource, r, 0, &t), C_ERR, "unknown enum name");
    PQclear(r);
    resource_free(&thing_resource, &t);
    memcpy(row, full_row, sizeof(row));
    row[10] = "[1]";
    r = thing_result(row, 13);
    cr_assert_eq(resource_init(&thing_resource, &t), C_OK);
    cr_assert_eq(resource_read_row(&thing_resource, r, 0, &t), C_ERR, "an object column");
    PQclear(r);
    resource_free(&thing_resource, &t);
}

/* ---- nullable numbers, times and objects; nested objects ------------------------- */

/* A resource of the catalog's shapes: a nullable amount and count, a
 * nullable time and object, and two nested objects ("range" and "every"). */
#define GADGET_FIELDS(X)                                                                           \
    X(UUID, id, "gadget_id", 0, 0, ())                                                             \
    X(INT64, amount, "amount", RESOURCE_NULLABLE, 0, ())                                           \
    X(INT32, count, "count", RESOURCE_NULLABLE, 0, (.min = 1, .max = 10))                          \
    X(TIME, ends_at, "ends_at", RESOURCE_NULLABLE, 0, ())                                          \
    X(OBJECT, address, "address", RESOURCE_NULLABLE, 0, ())                                        \
    X(INT64, range_min, "range.minimum", RESOURCE_NULLABLE, 0, ())                                 \
    X(INT64, range_max, "range.maximum", RESOURCE_NULLABLE, 0, ())                                 \
    X(CODE, every_unit, "every.unit", RESOURCE_NULLABLE, 6, (.values = gadget_units))              \
    X(INT32, every_count, "every.count", RESOURCE_NULLABLE, 0, ())                                 \
    X(BOOL, on, "on", RESOURCE_UPDATABLE, 0, ())

struct gadget {
    GADGET_FIELDS(RESOURCE_MEMBER)
};

static const char *const gadget_units[] = {"day", "month", NULL};

#define GADGET_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct gadget, k, m, j, f, s)
static const struct resource_field gadget_fields[] = {GADGET_FIELDS(GADGET_FIELD)};
static const struct resource gadget_resource = {"gadget", gadget_fields,
                                                sizeof(gadget_fields) / sizeof(gadget_fields[0]),
                                                sizeof(struct gadget)};

static const char null_gadget_json[] =
    "{\"gadget_id\":\"" THING_ID "\",\"amount\":null,\"count\":null,\"ends_at\":null,"
    "\"address\":null,\"range\":null,\"every\":null,\"on\":false}";

static char *gadget_text(const struct gadget *g)
{
    struct json_writer w = JSON_WRITER_INIT;
    json_writer_literal(&w, "{");
    resource_write_members(&w, &gadget_resource, g);
    json_writer_literal(&w, "}");
    cr_assert_not(w.failed);
    return w.buf;
}

/* to_json and the writer agree, and give expected. */
static void assert_gadget_json(const struct gadget *g, const char *expected)
{
    char *written = gadget_text(g);
    cr_assert_str_eq(written, expected);
    json_t *j = resource_to_json(&gadget_resource, g);
    char *dumped = json_dumps(j, JSON_COMPACT);
    cr_assert_str_eq(dumped, expected);
    free(dumped);
    json_decref(j);
    free(written);
}

Test(resource, init_makes_nullable_numbers_times_and_objects_null)
{
    struct gadget g;
    cr_assert_eq(resource_init(&gadget_resource, &g), C_OK);
    cr_assert_eq(g.amount, RESOURCE_NULL_INT64);
    cr_assert_eq(g.count, RESOURCE_NULL_INT32);
    cr_assert_eq(g.ends_at, RESOURCE_NULL_INT64);
    cr_assert_null(g.address);
    for (size_t i = 1; i < 9; i++)
        cr_assert(resource_is_null(&gadget_fields[i], &g), "%s", gadget_fields[i].column);
    cr_assert_not(resource_is_null(&gadget_fields[9], &g), "a boolean is never null");
    snprintf(g.id, sizeof(g.id), "%s", THING_ID);
    assert_gadget_json(&g, null_gadget_json);
    resource_free(&gadget_resource, &g);
}

Test(resource, a_group_is_an_object_of_its_members_and_null_when_they_all_are)
{
    struct gadget g;
    cr_assert_eq(resource_init(&gadget_resource, &g), C_OK);
    snprintf(g.id, sizeof(g.id), "%s", THING_ID);
    g.amount = 0;
    g.count = 3;
    g.ends_at = 1705314600;
    g.address = json_pack("{ss}", "city", "Dakar");
    g.range_min = 100;
    snprintf(g.every_unit, sizeof(g.every_unit), "month");
    g.every_count = 1;
    g.on = true;
    assert_gadget_json(&g, "{\"gadget_id\":\"" THING_ID "\",\"amount\":0,\"count\":3,"
                           "\"ends_at\":\"2024-01-15T10:30:00Z\",\"address\":{\"city\":\"Dakar\"},"
                           "\"range\":{\"minimum\":100,\"maximum\":null},"
                           "\"every\":{\"unit\":\"month\",\"count\":1},\"on\":true}");
    /* The columns stay flat. */
    struct json_writer w = JSON_WRITER_INIT;
    resource_write_columns(&w, &gadget_resource, &g);
    cr_assert_not_null(strstr(w.buf, "\"range_min\":100,\"range_max\":null,"
                                     "\"every_unit\":\"month\",\"every_count\":1"));
    json_writer_free(&w);
    resource_free(&gadget_resource, &g);
}

Test(resource, read_json_takes_groups_and_nulls_back)
{
    static const char text[] = "{\"gadget_id\":\"" THING_ID "\",\"amount\":-5,\"count\":null,"
                               "\"ends_at\":\"2024-01-15T10:30:00Z\",\"address\":{\"a\":1},"
                               "\"range\":{\"minimum\":1,\"maximum\":9},\"every\":null,"
                               "\"on\":true}";
    json_t *in = json_loads(text, 0, NULL);
    struct gadget g;
    cr_assert_eq(resource_init(&gadget_resource, &g), C_OK);
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_read_json(&gadget_resource, in, &g, &err), C_OK, "%s", err.message);
    cr_assert_eq(g.amount, -5);
    cr_assert_eq(g.count, RESOURCE_NULL_INT32);
    cr_assert_eq(g.range_max, 9);
    cr_assert_str_eq(g.every_unit, "");
    cr_assert_eq(g.every_count, RESOURCE_NULL_INT32);
    assert_gadget_json(&g, text);
    /* A null read over a value makes it null again (an update's change). */
    cr_assert_eq(resource_read_value(&gadget_fields[4], json_null(), &g, &err), C_OK);
    cr_assert_null(g.address);
    cr_assert_eq(resource_read_value(&gadget_fields[1], NULL, &g, &err), C_OK);
    cr_assert_eq(g.amount, RESOURCE_NULL_INT64);
    json_decref(in);
    resource_free(&gadget_resource, &g);
}

Test(resource, read_json_checks_groups_and_nullable_numbers)
{
    struct {
        const char *json, *message, *param;
    } cases[] = {
        {"{\"gadget_id\":\"" THING_ID "\",\"range\":5,\"on\":true}",
         "field range is missing or has the wrong type", "range"},
        {"{\"gadget_id\":\"" THING_ID "\",\"every\":{\"unit\":\"year\"},\"on\":true}",
         "field every.unit must be day or month", "every.unit"},
        {"{\"gadget_id\":\"" THING_ID "\",\"count\":0,\"on\":true}", "field count is out of range",
         "count"},
        /* The smallest int64 is null's in C: never a value. */
        {"{\"gadget_id\":\"" THING_ID "\",\"amount\":-9223372036854775808,\"on\":true}",
         "field amount is out of range", "amount"},
        {"{\"gadget_id\":\"" THING_ID "\",\"address\":[],\"on\":true}",
         "field address is missing or has the wrong type", "address"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = json_loads(cases[i].json, 0, NULL);
        cr_assert_not_null(in, "%s", cases[i].json);
        struct gadget g;
        cr_assert_eq(resource_init(&gadget_resource, &g), C_OK);
        struct error err = ERROR_INIT;
        cr_assert_eq(resource_read_json(&gadget_resource, in, &g, &err), C_ERR, "%s",
                     cases[i].json);
        cr_assert_str_eq(err.message, cases[i].message);
        cr_assert_str_eq(err.param, cases[i].param);
        json_decref(in);
        resource_free(&gadget_resource, &g);
    }
}

Test(resource, read_row_takes_sql_null_for_nullable_numbers_times_and_objects)
{
    const char *row[10] = {THING_ID, NULL, NULL, NULL, NULL, "7", NULL, NULL, NULL, "f"};
    PGresult *r = thing_result(row, 10);
    struct gadget g;
    cr_assert_eq(resource_init(&gadget_resource, &g), C_OK);
    g.amount = 5; /* made null by the row */
    cr_assert_eq(resource_read_row(&gadget_resource, r, 0, &g), C_OK);
    cr_assert_eq(g.amount, RESOURCE_NULL_INT64);
    cr_assert_eq(g.ends_at, RESOURCE_NULL_INT64);
    cr_assert_null(g.address);
    cr_assert_eq(g.range_min, 7);
    cr_assert_eq(g.range_max, RESOURCE_NULL_INT64);
    PQclear(r);
    resource_free(&gadget_resource, &g);
}

Test(resource, fields_are_found_by_column_and_by_rest_name)
{
    cr_assert_eq(resource_field_by_column(&gadget_resource, "range_max"), &gadget_fields[6]);
    cr_assert_eq(resource_field_by_json(&gadget_resource, "every.count"), &gadget_fields[8]);
    cr_assert_null(resource_field_by_json(&gadget_resource, "every"));
    cr_assert_null(resource_field_by_column(&gadget_resource, "nope"));
    cr_assert_eq(gadget_fields[9].flags & RESOURCE_UPDATABLE, RESOURCE_UPDATABLE);
}
