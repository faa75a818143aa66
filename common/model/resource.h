/* A resource of the model (a checkout session; products, prices, customers...
 * next) is declared once, as a list of fields, and everything that follows
 * the fields comes from that list: the C struct, the REST object (as a
 * jansson tree for the gateway and as text for events), the reader of that
 * object with its checks and messages, the SQL select list and the row
 * reader, and the insert's recordset. A field is one line of an X-macro:
 *
 *     #define THING_FIELDS(X)                                              \
 *         X(UUID, id, "thing_id", 0, 0, ())                                 \
 *         X(INT64, amount, "amount", 0, 0, (.min = 1, .max = 100))          \
 *         X(STRING, note, NULL, RESOURCE_NULLABLE, 0, ())
 *
 * X(kind, member, json, flags, arg, spec):
 *   kind    UUID, STRING, CODE, BOOL, INT64, INT32, TIME, OBJECT, ENUM or
 *           HUNDREDTHS (below)
 *   member  the C member, which is also the SQL column
 *   json    its name in the REST object, NULL when it is not part of it;
 *           "group.member" puts it in a nested object (below)
 *   flags   RESOURCE_NULLABLE, RESOURCE_NOT_INSERTED, RESOURCE_UPDATABLE
 *   arg     CODE: the array size (terminator included); ENUM: the enum's tag
 *           (session_status for enum session_status); else 0
 *   spec    more of struct resource_field, in parentheses: bounds, allowed
 *           values, a shape check, a computed select expression
 *
 * and the module of the resource writes
 *
 *     struct thing { THING_FIELDS(RESOURCE_MEMBER) };
 *     #define THING_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct thing, k, m, j, f, s)
 *     static const struct resource_field thing_fields[] = {THING_FIELDS(THING_FIELD)};
 *     static const struct resource thing_resource = {"thing", thing_fields,
 *         sizeof(thing_fields) / sizeof(thing_fields[0]), sizeof(struct thing)};
 *
 * The order of the list is the order of the REST object and of the select list.
 *
 * Nested objects: consecutive fields named "recurring.interval" and
 * "recurring.interval_count" are the members of one REST member, "recurring":
 * {"interval": ..., "interval_count": ...}, which is null when every one of
 * them is null (they must all be nullable). Their columns stay flat. */
#ifndef CAISSE_RESOURCE_H
#define CAISSE_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core/error.h"
#include "core/json_writer.h"
#include "core/uuid.h"

enum resource_kind {
    RESOURCE_UUID,   /* char[UUID_STR_LEN]; "" is null */
    RESOURCE_STRING, /* char *, owned; NULL is null; SQL text */
    RESOURCE_CODE,   /* char[arg]: a short code ("live", "XOF"); "" is null; SQL text */
    RESOURCE_BOOL,   /* bool */
    RESOURCE_INT64,  /* int64_t; SQL bigint */
    RESOURCE_INT32,  /* int32_t; SQL integer */
    RESOURCE_TIME,   /* int64_t epoch seconds; RFC 3339 in JSON, timestamptz in SQL */
    RESOURCE_OBJECT, /* json_t *, an owned JSON object, never NULL after init; SQL jsonb */
    RESOURCE_ENUM,   /* an enum, named in JSON and SQL by values[value]; SQL text */
    /* int32_t counting hundredths (1250 is 12.5, a percentage in basis points):
     * in JSON a number of at most two decimals, written exactly (12.5, 10, 0.01,
     * never a double's 12.4999...); SQL integer, the hundredths. min and max
     * bound the hundredths. */
    RESOURCE_HUNDREDTHS,
};

/* null is a value of the field (JSON null or absent, SQL NULL). In C, null is
 * "" for UUID and CODE, NULL for STRING and OBJECT, RESOURCE_NULL_INT64 for
 * INT64 and TIME, RESOURCE_NULL_INT32 for INT32 and HUNDREDTHS (resource_init
 * sets these);
 * BOOL and ENUM fields cannot be null. */
#define RESOURCE_NULLABLE 0x1u
/* Set by later changes, never by the insert that creates the row. */
#define RESOURCE_NOT_INSERTED 0x2u
/* A command may change it after the create (model/resource_store.h: the
 * update statement and command take only these). */
#define RESOURCE_UPDATABLE 0x4u

#define RESOURCE_NULL_INT64 INT64_MIN
#define RESOURCE_NULL_INT32 INT32_MIN

struct resource_field {
    const char *json;   /* name in the REST object; NULL: not part of it */
    const char *column; /* SQL column (the C member's name) */
    enum resource_kind kind;
    unsigned flags;
    size_t offset; /* of the member in the struct */
    size_t size;   /* of the member */
    /* INT64/INT32: the accepted range, "out of range" outside; both 0: the type's. */
    int64_t min, max;
    /* ENUM: the names, indexed by value. CODE: the only values accepted
     * ("must be test or live"), or NULL for any. NULL-terminated. */
    const char *const *values;
    /* CODE: a test of the value's shape, and what the message says when it
     * fails ("is not a currency code"). */
    bool (*check)(const char *value);
    const char *check_failure;
    /* The select expression read in place of the column, e.g. a status
     * computed from other columns. */
    const char *read_sql;
};

struct resource {
    const char *name; /* "session": in messages */
    const struct resource_field *fields;
    size_t nfields;
    size_t size; /* of the C struct */
};

/* ---- declaring ------------------------------------------------------------ */

#define RESOURCE_MEMBER(kind, member, json, flags, arg, spec) RESOURCE_MEMBER_##kind(member, arg);
#define RESOURCE_MEMBER_UUID(m, arg) char m[UUID_STR_LEN]
#define RESOURCE_MEMBER_STRING(m, arg) char *m
#define RESOURCE_MEMBER_CODE(m, arg) char m[arg]
#define RESOURCE_MEMBER_BOOL(m, arg) bool m
#define RESOURCE_MEMBER_INT64(m, arg) int64_t m
#define RESOURCE_MEMBER_INT32(m, arg) int32_t m
#define RESOURCE_MEMBER_TIME(m, arg) int64_t m
#define RESOURCE_MEMBER_OBJECT(m, arg) json_t *m
#define RESOURCE_MEMBER_ENUM(m, arg) enum arg m
#define RESOURCE_MEMBER_HUNDREDTHS(m, arg) int32_t m

#define RESOURCE_UNPAREN(...) __VA_ARGS__
#define RESOURCE_FIELD(type, k, m, j, f, s)                                                        \
    {.json = (j),                                                                                  \
     .column = #m,                                                                                 \
     .kind = RESOURCE_##k,                                                                         \
     .flags = (f),                                                                                 \
     .offset = offsetof(type, m),                                                                  \
     .size = sizeof(((type *)0)->m),                                                               \
     RESOURCE_UNPAREN s},

/* ---- C form --------------------------------------------------------------- */

/* Every field null, zero or false, objects empty (null when nullable). C_ERR:
 * out of memory (obj then holds nothing to free). */
int resource_init(const struct resource *r, void *obj);
/* Frees the owned members and zeroes obj: freeing twice is harmless. */
void resource_free(const struct resource *r, void *obj);

/* ---- JSON ----------------------------------------------------------------- */

/* The REST object's members as a new jansson object, in field order; NULL
 * when out of memory (or a string is not UTF-8). */
json_t *resource_to_json(const struct resource *r, const void *obj);
/* The same members as text, "name":value pairs separated by commas, without
 * the braces (the caller may add members of its own). */
void resource_write_members(struct json_writer *w, const struct resource *r, const void *obj);
/* The row the insert takes (an element of its recordset): the members of
 * every inserted field, keyed by SQL column, values as the columns hold them
 * (resource_write_column_value); no braces either. */
void resource_write_columns(struct json_writer *w, const struct resource *r, const void *obj);
/* Appends the same row (every inserted field, in {columns} order) to *buf
 * (*len bytes used of *cap, grown with realloc) as one line of COPY's text
 * format: values as their columns' input takes them, \N for null, escaped
 * with db_copy_append_text. scratch is the caller's, for objects' text. On
 * C_ERR (out of memory) *len is as it was. */
int resource_write_copy_row(const struct resource *r, const void *obj, struct json_writer *scratch,
                            char **buf, size_t *len, size_t *cap);
/* One field's value as its column holds it, for the insert's recordset and an
 * update's changes: the REST value, but HUNDREDTHS as the integer of hundredths. */
void resource_write_column_value(struct json_writer *w, const struct resource_field *f,
                                 const void *obj);
/* The hundredths of a JSON number of at most two decimals (12.5 gives 1250):
 * C_ERR when v is not a number, is not the double nearest to a number of two
 * decimals (12.499 is refused; 12.50000000000000001 parses to 12.5 and is
 * taken), or its hundredths would not fit an int64. */
int resource_hundredths_from_json(const json_t *v, int64_t *out);
/* Writes hundredths as that number, exactly: 1250 as 12.5, 1000 as 10, 1 as 0.01. */
void resource_write_hundredths(struct json_writer *w, int64_t hundredths);
/* Reads the REST object's fields of a JSON object into obj (resource_init
 * done by the caller), checking each as declared, in field order; the first
 * failure stops it with "field <name> ..." in err (param: the field's name).
 * Unknown members are ignored, fields outside the REST object left alone. On
 * C_ERR obj may hold part of what was read: the caller frees it. */
int resource_read_json(const struct resource *r, const json_t *in, void *obj, struct error *err);

/* Whether f's value in obj is null (never for a field that is not nullable). */
bool resource_is_null(const struct resource_field *f, const void *obj);
/* The field whose SQL column (C member) is column, or NULL. */
const struct resource_field *resource_field_by_column(const struct resource *r, const char *column);
/* The field whose REST name is json ("recurring.interval" for a nested one), or NULL. */
const struct resource_field *resource_field_by_json(const struct resource *r, const char *json);
/* One field of obj as it would be in the REST object (a nested one on its own),
 * as text; the same value resource_write_columns writes for it. */
void resource_write_value(struct json_writer *w, const struct resource_field *f, const void *obj);
/* Reads in (the field's value: a JSON value, NULL when absent) into obj as
 * resource_read_json would, with the same checks and messages. */
int resource_read_value(const struct resource_field *f, const json_t *in, void *obj,
                        struct error *err);

/* ---- SQL ------------------------------------------------------------------ */

/* Copies tmpl into out, replacing
 *   {select}     the select list: every field, read expressions for times
 *                (epoch seconds), objects (text) and fields with read_sql;
 *   {columns}    the inserted columns, comma-separated;
 *   {recordset}  the same as a column definition list ("id uuid, ...").
 * C_ERR when out is too small. */
int resource_sql_format(const struct resource *r, const char *tmpl, char *out, size_t outlen);
/* Reads row of a result whose columns are {select} into obj (resource_init
 * done by the caller). C_ERR on a row that does not fit (wrong column count,
 * NULL where the field is not nullable, unknown enum name, an object column
 * that holds no object) or out of memory; obj may then hold part of the row:
 * the caller frees it. */
int resource_read_row(const struct resource *r, const PGresult *res, int row, void *obj);

#endif
