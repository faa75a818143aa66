#include "resource.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"
#include "infra/db.h"

#define RESOURCE_AT(obj, f) ((char *)(obj) + (f)->offset)
#define RESOURCE_CONST_AT(obj, f) ((const char *)(obj) + (f)->offset)

static char **resource_string_member(void *obj, const struct resource_field *f)
{
    return (char **)(void *)RESOURCE_AT(obj, f);
}

static json_t **resource_object_member(void *obj, const struct resource_field *f)
{
    return (json_t **)(void *)RESOURCE_AT(obj, f);
}

/* An enum member is read and written as an int: the size of every enum of
 * the model. */
static int resource_enum_value(const void *obj, const struct resource_field *f)
{
    assert(f->size == sizeof(int));
    int v;
    memcpy(&v, RESOURCE_CONST_AT(obj, f), sizeof(v));
    return v;
}

/* The kinds whose member is an int32_t. */
static bool resource_is_int32(enum resource_kind kind)
{
    return kind == RESOURCE_INT32 || kind == RESOURCE_HUNDREDTHS;
}

static int64_t resource_int_value(const void *obj, const struct resource_field *f)
{
    assert(f->size == (resource_is_int32(f->kind) ? sizeof(int32_t) : sizeof(int64_t)));
    if (resource_is_int32(f->kind)) {
        int32_t v;
        memcpy(&v, RESOURCE_CONST_AT(obj, f), sizeof(v));
        return v;
    }
    int64_t v;
    memcpy(&v, RESOURCE_CONST_AT(obj, f), sizeof(v));
    return v;
}

static void resource_set_int(void *obj, const struct resource_field *f, int64_t v)
{
    if (resource_is_int32(f->kind)) {
        int32_t narrow = (int32_t)v;
        memcpy(RESOURCE_AT(obj, f), &narrow, sizeof(narrow));
    } else {
        memcpy(RESOURCE_AT(obj, f), &v, sizeof(v));
    }
}

static bool resource_nullable(const struct resource_field *f)
{
    return (f->flags & RESOURCE_NULLABLE) != 0;
}

/* The C value of null for a nullable integer or time field. */
static int64_t resource_null_int(const struct resource_field *f)
{
    return resource_is_int32(f->kind) ? RESOURCE_NULL_INT32 : RESOURCE_NULL_INT64;
}

static bool resource_is_int(enum resource_kind kind)
{
    return kind == RESOURCE_INT64 || kind == RESOURCE_INT32 || kind == RESOURCE_TIME ||
           kind == RESOURCE_HUNDREDTHS;
}

int resource_init(const struct resource *r, void *obj)
{
    memset(obj, 0, r->size);
    for (size_t i = 0; i < r->nfields; i++) {
        const struct resource_field *f = &r->fields[i];
        if (resource_is_int(f->kind) && resource_nullable(f))
            resource_set_int(obj, f, resource_null_int(f));
        if (f->kind != RESOURCE_OBJECT || resource_nullable(f))
            continue;
        json_t *o = json_object();
        if (o == NULL) {
            resource_free(r, obj);
            return C_ERR;
        }
        *resource_object_member(obj, f) = o;
    }
    return C_OK;
}

void resource_free(const struct resource *r, void *obj)
{
    for (size_t i = 0; i < r->nfields; i++) {
        const struct resource_field *f = &r->fields[i];
        if (f->kind == RESOURCE_STRING)
            free(*resource_string_member(obj, f));
        else if (f->kind == RESOURCE_OBJECT)
            json_decref(*resource_object_member(obj, f));
    }
    memset(obj, 0, r->size);
}

bool resource_is_null(const struct resource_field *f, const void *obj)
{
    if (!resource_nullable(f))
        return false;
    switch (f->kind) {
    case RESOURCE_UUID:
    case RESOURCE_CODE:
        return RESOURCE_CONST_AT(obj, f)[0] == '\0';
    case RESOURCE_STRING:
    case RESOURCE_OBJECT:
        return *(void *const *)(const void *)RESOURCE_CONST_AT(obj, f) == NULL;
    case RESOURCE_INT64:
    case RESOURCE_INT32:
    case RESOURCE_TIME:
    case RESOURCE_HUNDREDTHS:
        return resource_int_value(obj, f) == resource_null_int(f);
    case RESOURCE_BOOL:
    case RESOURCE_ENUM:
        break;
    }
    return false;
}

const struct resource_field *resource_field_by_column(const struct resource *r, const char *column)
{
    for (size_t i = 0; i < r->nfields; i++) {
        if (strcmp(r->fields[i].column, column) == 0)
            return &r->fields[i];
    }
    return NULL;
}

const struct resource_field *resource_field_by_json(const struct resource *r, const char *json)
{
    for (size_t i = 0; i < r->nfields; i++) {
        if (r->fields[i].json != NULL && strcmp(r->fields[i].json, json) == 0)
            return &r->fields[i];
    }
    return NULL;
}

/* ---- JSON ----------------------------------------------------------------- */

/* The length of the group a field's REST name puts it in ("recurring" of
 * "recurring.interval"), 0 when it is a member of its own. */
static size_t resource_group_len(const struct resource_field *f)
{
    const char *dot = strchr(f->json, '.');
    return dot != NULL ? (size_t)(dot - f->json) : 0;
}

/* The field's name within its object: after the group's dot, if any. */
static const char *resource_member_name(const struct resource_field *f)
{
    size_t g = resource_group_len(f);
    return g > 0 ? f->json + g + 1 : f->json;
}

/* The end (one past the last field) of the group that starts at fields[i],
 * and whether every member of it is null in obj. Members of a group are
 * consecutive and nullable. */
static size_t resource_group_end(const struct resource *r, size_t i, const void *obj,
                                 bool *all_null)
{
    const struct resource_field *first = &r->fields[i];
    size_t len = resource_group_len(first);
    size_t j = i;
    *all_null = true;
    while (j < r->nfields && r->fields[j].json != NULL &&
           resource_group_len(&r->fields[j]) == len &&
           strncmp(r->fields[j].json, first->json, len) == 0) {
        assert(resource_nullable(&r->fields[j])); /* a null group means null members */
        *all_null = *all_null && resource_is_null(&r->fields[j], obj);
        j++;
    }
    return j;
}

/* The text of a UUID or CODE member; NULL when it is null. */
static const char *resource_text(const void *obj, const struct resource_field *f)
{
    const char *s = RESOURCE_CONST_AT(obj, f);
    return s[0] == '\0' && resource_nullable(f) ? NULL : s;
}

static json_t *resource_value_to_json(const void *obj, const struct resource_field *f)
{
    char when[RFC3339_LEN];
    const char *text;
    if (resource_is_null(f, obj))
        return json_null();
    switch (f->kind) {
    case RESOURCE_UUID:
    case RESOURCE_CODE:
        text = resource_text(obj, f);
        return text != NULL ? json_string(text) : json_null();
    case RESOURCE_STRING:
        text = *(char *const *)(const void *)RESOURCE_CONST_AT(obj, f);
        return text != NULL ? json_string(text) : json_null();
    case RESOURCE_BOOL:
        return json_boolean(*(const bool *)(const void *)RESOURCE_CONST_AT(obj, f));
    case RESOURCE_INT64:
    case RESOURCE_INT32:
        return json_integer(resource_int_value(obj, f));
    case RESOURCE_TIME:
        rfc3339_format(resource_int_value(obj, f), when);
        return json_string(when);
    case RESOURCE_OBJECT:
        return json_incref(*(json_t *const *)(const void *)RESOURCE_CONST_AT(obj, f));
    case RESOURCE_ENUM:
        return json_string(f->values[resource_enum_value(obj, f)]);
    case RESOURCE_HUNDREDTHS: {
        /* A whole number stays an integer in the tree; the others are the
         * double nearest to them, which reads back as the same hundredths
         * (resource_hundredths_from_json). Text is written by
         * resource_write_hundredths, never by printing the double. */
        int64_t v = resource_int_value(obj, f);
        return v % 100 == 0 ? json_integer(v / 100) : json_real((double)v / 100.0);
    }
    }
    return NULL;
}

/* Sets the members of fields[i..end) in o, each under its member name.
 * json_object_set_new takes the value even when it fails. */
static int resource_members_to_json(const struct resource *r, size_t i, size_t end, const void *obj,
                                    json_t *o)
{
    for (; i < end; i++) {
        const struct resource_field *f = &r->fields[i];
        if (f->json == NULL)
            continue;
        if (json_object_set_new(o, resource_member_name(f), resource_value_to_json(obj, f)) != 0)
            return C_ERR;
    }
    return C_OK;
}

json_t *resource_to_json(const struct resource *r, const void *obj)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < r->nfields;) {
        const struct resource_field *f = &r->fields[i];
        size_t glen = f->json != NULL ? resource_group_len(f) : 0;
        if (glen == 0) {
            if (resource_members_to_json(r, i, i + 1, obj, o) != C_OK)
                goto fail;
            i++;
            continue;
        }
        bool all_null;
        size_t end = resource_group_end(r, i, obj, &all_null);
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)glen, f->json);
        json_t *group = all_null ? json_null() : json_object();
        if (group != NULL && !all_null && resource_members_to_json(r, i, end, obj, group) != C_OK) {
            json_decref(group);
            goto fail;
        }
        if (json_object_set_new(o, name, group) != 0)
            goto fail;
        i = end;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

void resource_write_value(struct json_writer *w, const struct resource_field *f, const void *obj)
{
    char when[RFC3339_LEN];
    if (resource_is_null(f, obj)) {
        json_writer_literal(w, "null");
        return;
    }
    switch (f->kind) {
    case RESOURCE_UUID:
    case RESOURCE_CODE:
        json_writer_string(w, resource_text(obj, f));
        return;
    case RESOURCE_STRING:
        json_writer_string(w, *(char *const *)(const void *)RESOURCE_CONST_AT(obj, f));
        return;
    case RESOURCE_BOOL:
        json_writer_bool(w, *(const bool *)(const void *)RESOURCE_CONST_AT(obj, f));
        return;
    case RESOURCE_INT64:
    case RESOURCE_INT32:
        json_writer_int(w, resource_int_value(obj, f));
        return;
    case RESOURCE_TIME:
        rfc3339_format(resource_int_value(obj, f), when);
        json_writer_string(w, when);
        return;
    case RESOURCE_OBJECT:
        json_writer_value(w, *(json_t *const *)(const void *)RESOURCE_CONST_AT(obj, f));
        return;
    case RESOURCE_ENUM:
        json_writer_string(w, f->values[resource_enum_value(obj, f)]);
        return;
    case RESOURCE_HUNDREDTHS:
        resource_write_hundredths(w, resource_int_value(obj, f));
        return;
    }
}

void resource_write_hundredths(struct json_writer *w, int64_t hundredths)
{
    /* Through the unsigned magnitude: -INT64_MIN does not fit an int64_t. */
    uint64_t m = hundredths < 0 ? (uint64_t)0 - (uint64_t)hundredths : (uint64_t)hundredths;
    unsigned cents = (unsigned)(m % 100);
    char text[40];
    int len;
    if (cents == 0)
        len = snprintf(text, sizeof(text), "%s%" PRIu64, hundredths < 0 ? "-" : "", m / 100);
    else if (cents % 10 == 0)
        len = snprintf(text, sizeof(text), "%s%" PRIu64 ".%u", hundredths < 0 ? "-" : "", m / 100,
                       cents / 10);
    else
        len = snprintf(text, sizeof(text), "%s%" PRIu64 ".%02u", hundredths < 0 ? "-" : "", m / 100,
                       cents);
    assert(len > 0 && (size_t)len < sizeof(text));
    json_writer_raw(w, text, (size_t)len);
}

void resource_write_column_value(struct json_writer *w, const struct resource_field *f,
                                 const void *obj)
{
    if (f->kind == RESOURCE_HUNDREDTHS && !resource_is_null(f, obj))
        json_writer_int(w, resource_int_value(obj, f));
    else
        resource_write_value(w, f, obj);
}

int resource_hundredths_from_json(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i > INT64_MAX / 100 || i < INT64_MIN / 100)
            return C_ERR;
        *out = (int64_t)i * 100;
        return C_OK;
    }
    if (!json_is_real(v))
        return C_ERR;
    double d = json_real_value(v);
    /* Past 2^53 / 100 the hundredths are no longer exact in a double. */
    if (!isfinite(d) || fabs(d) > 9e13)
        return C_ERR;
    double hundredths = round(d * 100.0);
    /* The parser gave the double nearest to the decimal text, and so does this
     * division for a number of two decimals (both are correctly rounded):
     * equality says the text had at most two decimals, up to what a double
     * can tell apart. */
    if (hundredths / 100.0 != d)
        return C_ERR;
    *out = (int64_t)hundredths;
    return C_OK;
}

/* A member name: every name of the model is plain ASCII, written as is. */
static void resource_write_name(struct json_writer *w, const char *name, bool first)
{
    if (!first)
        json_writer_literal(w, ",");
    json_writer_literal(w, "\"");
    json_writer_raw(w, name, strlen(name));
    json_writer_literal(w, "\":");
}

/* A group's name: the first glen bytes of its members' REST names. */
static void resource_write_group_name(struct json_writer *w, const char *json, size_t glen,
                                      bool first)
{
    if (!first)
        json_writer_literal(w, ",");
    json_writer_literal(w, "\"");
    json_writer_raw(w, json, glen);
    json_writer_literal(w, "\":");
}

void resource_write_members(struct json_writer *w, const struct resource *r, const void *obj)
{
    bool first = true;
    for (size_t i = 0; i < r->nfields;) {
        const struct resource_field *f = &r->fields[i];
        if (f->json == NULL) {
            i++;
            continue;
        }
        size_t glen = resource_group_len(f);
        if (glen == 0) {
            resource_write_name(w, f->json, first);
            resource_write_value(w, f, obj);
            first = false;
            i++;
            continue;
        }
        bool all_null;
        size_t end = resource_group_end(r, i, obj, &all_null);
        resource_write_group_name(w, f->json, glen, first);
        first = false;
        if (all_null) {
            json_writer_literal(w, "null");
        } else {
            json_writer_literal(w, "{");
            for (size_t k = i; k < end; k++) {
                resource_write_name(w, resource_member_name(&r->fields[k]), k == i);
                resource_write_value(w, &r->fields[k], obj);
            }
            json_writer_literal(w, "}");
        }
        i = end;
    }
}

void resource_write_columns(struct json_writer *w, const struct resource *r, const void *obj)
{
    bool first = true;
    for (size_t i = 0; i < r->nfields; i++) {
        const struct resource_field *f = &r->fields[i];
        if ((f->flags & RESOURCE_NOT_INSERTED) != 0)
            continue;
        resource_write_name(w, f->column, first);
        resource_write_column_value(w, f, obj);
        first = false;
    }
}

/* Appends text as it is (nothing to escape in it), then sep. */
static int resource_copy_raw(char **buf, size_t *len, size_t *cap, const char *text, char sep)
{
    size_t n = strlen(text);
    if (*len + n + 2 > *cap) {
        size_t ncap = *cap > 0 ? *cap : 4096;
        while (ncap < *len + n + 2)
            ncap *= 2;
        char *nbuf = realloc(*buf, ncap);
        if (nbuf == NULL)
            return C_ERR;
        *buf = nbuf;
        *cap = ncap;
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[(*len)++] = sep;
    (*buf)[*len] = '\0';
    return C_OK;
}

/* One field of a COPY row: its column's input text, escaped where text can
 * hold COPY's special bytes. */
static int resource_copy_field(const struct resource_field *f, const void *obj,
                               struct json_writer *scratch, char **buf, size_t *len, size_t *cap,
                               char sep)
{
    char text[RFC3339_LEN > 24 ? RFC3339_LEN : 24];
    if (resource_is_null(f, obj))
        return resource_copy_raw(buf, len, cap, "\\N", sep);
    switch (f->kind) {
    case RESOURCE_UUID:
    case RESOURCE_CODE:
        return db_copy_append_text(buf, len, cap, resource_text(obj, f), sep);
    case RESOURCE_STRING:
        return db_copy_append_text(buf, len, cap,
                                   *(char *const *)(const void *)RESOURCE_CONST_AT(obj, f), sep);
    case RESOURCE_BOOL:
        return resource_copy_raw(
            buf, len, cap, *(const bool *)(const void *)RESOURCE_CONST_AT(obj, f) ? "t" : "f", sep);
    case RESOURCE_INT64:
    case RESOURCE_INT32:
    case RESOURCE_HUNDREDTHS: /* the column holds the integer of hundredths */
        snprintf(text, sizeof(text), "%" PRId64, resource_int_value(obj, f));
        return resource_copy_raw(buf, len, cap, text, sep);
    case RESOURCE_TIME:
        rfc3339_format(resource_int_value(obj, f), text);
        return resource_copy_raw(buf, len, cap, text, sep);
    case RESOURCE_OBJECT:
        json_writer_clear(scratch);
        json_writer_value(scratch, *(json_t *const *)(const void *)RESOURCE_CONST_AT(obj, f));
        if (json_writer_end(scratch, 0) != C_OK)
            return C_ERR;
        return db_copy_append_text(buf, len, cap, scratch->buf, sep);
    case RESOURCE_ENUM:
        return resource_copy_raw(buf, len, cap, f->values[resource_enum_value(obj, f)], sep);
    }
    return C_ERR;
}

int resource_write_copy_row(const struct resource *r, const void *obj, struct json_writer *scratch,
                            char **buf, size_t *len, size_t *cap)
{
    size_t last = 0, start = *len;
    for (size_t i = 0; i < r->nfields; i++) {
        if ((r->fields[i].flags & RESOURCE_NOT_INSERTED) == 0)
            last = i;
    }
    for (size_t i = 0; i < r->nfields; i++) {
        const struct resource_field *f = &r->fields[i];
        if ((f->flags & RESOURCE_NOT_INSERTED) != 0)
            continue;
        if (resource_copy_field(f, obj, scratch, buf, len, cap, i == last ? '\n' : '\t') != C_OK) {
            *len = start;
            return C_ERR;
        }
    }
    return C_OK;
}

/* "test or live", "a, b or c" */
static void resource_values_text(const char *const *values, char *out, size_t outlen)
{
    size_t n = 0, len = 0;
    while (values[n] != NULL)
        n++;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < outlen; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(out + len, outlen - len, "%s%s", sep, values[i]);
        if (w < 0)
            return;
        len += (size_t)w;
    }
}

static bool resource_in(const char *const *values, const char *s, int *index)
{
    for (int i = 0; values[i] != NULL; i++) {
        if (strcmp(values[i], s) == 0) {
            *index = i;
            return true;
        }
    }
    return false;
}

static int resource_wrong_type(const struct resource_field *f, struct error *err)
{
    if (f->kind == RESOURCE_BOOL)
        return error_set(err, f->json, "field %s is missing or not a boolean", f->json);
    return error_set(err, f->json, "field %s is missing or has the wrong type", f->json);
}

static json_type resource_json_type(enum resource_kind kind)
{
    switch (kind) {
    case RESOURCE_BOOL:
        return JSON_TRUE; /* either boolean: checked apart */
    case RESOURCE_INT64:
    case RESOURCE_INT32:
        return JSON_INTEGER;
    case RESOURCE_OBJECT:
        return JSON_OBJECT;
    default:
        return JSON_STRING;
    }
}

static void resource_int_bounds(const struct resource_field *f, int64_t *min, int64_t *max)
{
    *min = f->min;
    *max = f->max;
    if (*min == 0 && *max == 0) {
        *min = resource_is_int32(f->kind) ? INT32_MIN : INT64_MIN;
        *max = resource_is_int32(f->kind) ? INT32_MAX : INT64_MAX;
    }
    /* The smallest value is null's in C. */
    if (resource_nullable(f) && *min == resource_null_int(f))
        (*min)++;
}

static int resource_read_code(const struct resource_field *f, const char *s, void *obj,
                              struct error *err)
{
    if (f->values != NULL) {
        int ignored;
        if (!resource_in(f->values, s, &ignored)) {
            char allowed[200];
            resource_values_text(f->values, allowed, sizeof(allowed));
            return error_set(err, f->json, "field %s must be %s", f->json, allowed);
        }
    } else if (f->check != NULL && !f->check(s)) {
        return error_set(err, f->json, "field %s %s", f->json, f->check_failure);
    }
    if (strlen(s) >= f->size)
        return error_set(err, f->json, "field %s is too long", f->json);
    memcpy(RESOURCE_AT(obj, f), s, strlen(s) + 1);
    return C_OK;
}

/* Gives a nullable field its null. */
static void resource_set_null(const struct resource_field *f, void *obj)
{
    switch (f->kind) {
    case RESOURCE_UUID:
    case RESOURCE_CODE:
        RESOURCE_AT(obj, f)[0] = '\0';
        return;
    case RESOURCE_STRING:
        free(*resource_string_member(obj, f));
        *resource_string_member(obj, f) = NULL;
        return;
    case RESOURCE_OBJECT:
        json_decref(*resource_object_member(obj, f));
        *resource_object_member(obj, f) = NULL;
        return;
    case RESOURCE_INT64:
    case RESOURCE_INT32:
    case RESOURCE_TIME:
    case RESOURCE_HUNDREDTHS:
        resource_set_int(obj, f, resource_null_int(f));
        return;
    case RESOURCE_BOOL:
    case RESOURCE_ENUM:
        break;
    }
    assert(!"BOOL and ENUM fields are never nullable");
}

static int resource_read_hundredths(const struct resource_field *f, const json_t *v, void *obj,
                                    struct error *err)
{
    if (!json_is_number(v))
        return resource_wrong_type(f, err);
    int64_t h, min, max;
    if (resource_hundredths_from_json(v, &h) != C_OK)
        return error_set(err, f->json, "field %s must have at most 2 decimal places", f->json);
    resource_int_bounds(f, &min, &max);
    if (h < min || h > max)
        return error_set(err, f->json, "field %s is out of range", f->json);
    resource_set_int(obj, f, h);
    return C_OK;
}

static int resource_read_field(const struct resource_field *f, const json_t *v, void *obj,
                               struct error *err)
{
    if (v == NULL || json_is_null(v)) {
        if (!resource_nullable(f))
            return resource_wrong_type(f, err);
        resource_set_null(f, obj);
        return C_OK;
    }
    if (f->kind == RESOURCE_BOOL) {
        if (!json_is_boolean(v))
            return resource_wrong_type(f, err);
        *(bool *)(void *)RESOURCE_AT(obj, f) = json_is_true(v);
        return C_OK;
    }
    if (f->kind == RESOURCE_HUNDREDTHS)
        return resource_read_hundredths(f, v, obj, err);
    if (json_typeof(v) != resource_json_type(f->kind))
        return resource_wrong_type(f, err);
    const char *s = json_string_value(v);
    int64_t min, max, t;
    int index;
    json_t *copy;
    switch (f->kind) {
    case RESOURCE_UUID:
        if (!uuid_is_valid(s))
            return error_set(err, f->json, "field %s is not a UUID", f->json);
        snprintf(RESOURCE_AT(obj, f), UUID_STR_LEN, "%s", s);
        return C_OK;
    case RESOURCE_STRING: {
        char *text = strdup(s);
        if (text == NULL)
            return error_set(err, f->json, "out of memory reading %s", f->json);
        free(*resource_string_member(obj, f));
        *resource_string_member(obj, f) = text;
        return C_OK;
    }
    case RESOURCE_CODE:
        return resource_read_code(f, s, obj, err);
    case RESOURCE_INT64:
    case RESOURCE_INT32:
        resource_int_bounds(f, &min, &max);
        if (json_integer_value(v) < min || json_integer_value(v) > max)
            return error_set(err, f->json, "field %s is out of range", f->json);
        resource_set_int(obj, f, json_integer_value(v));
        return C_OK;
    case RESOURCE_TIME:
        if (rfc3339_parse(s, &t) != C_OK)
            return error_set(err, f->json, "field %s is not an RFC 3339 time", f->json);
        resource_set_int(obj, f, t);
        return C_OK;
    case RESOURCE_OBJECT:
        copy = json_deep_copy(v);
        if (copy == NULL)
            return error_set(err, f->json, "out of memory reading %s", f->json);
        json_decref(*resource_object_member(obj, f));
        *resource_object_member(obj, f) = copy;
        return C_OK;
    case RESOURCE_ENUM:
        if (!resource_in(f->values, s, &index))
            return error_set(err, f->json, "field %s has an unknown value", f->json);
        assert(f->size == sizeof(index));
        memcpy(RESOURCE_AT(obj, f), &index, sizeof(index));
        return C_OK;
    case RESOURCE_BOOL:
    case RESOURCE_HUNDREDTHS:
        break;
    }
    return C_ERR;
}

int resource_read_value(const struct resource_field *f, const json_t *in, void *obj,
                        struct error *err)
{
    return resource_read_field(f, in, obj, err);
}

/* The value of f in the REST object in: its member, or its member of its
 * group's object (NULL when the group is null or absent). C_ERR: the group
 * is neither an object nor null. */
static int resource_json_value(const struct resource_field *f, const json_t *in, const json_t **out,
                               struct error *err)
{
    size_t glen = resource_group_len(f);
    if (glen == 0) {
        *out = json_object_get(in, f->json);
        return C_OK;
    }
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)glen, f->json);
    const json_t *group = json_object_get(in, name);
    *out = NULL;
    if (group == NULL || json_is_null(group))
        return C_OK;
    if (!json_is_object(group))
        return error_set(err, name, "field %s is missing or has the wrong type", name);
    *out = json_object_get(group, resource_member_name(f));
    return C_OK;
}

int resource_read_json(const struct resource *r, const json_t *in, void *obj, struct error *err)
{
    for (size_t i = 0; i < r->nfields; i++) {
        const struct resource_field *f = &r->fields[i];
        if (f->json == NULL)
            continue;
        const json_t *v;
        if (resource_json_value(f, in, &v, err) != C_OK ||
            resource_read_field(f, v, obj, err) != C_OK)
            return C_ERR;
    }
    return C_OK;
}

/* ---- SQL ------------------------------------------------------------------ */

static const char *resource_sql_type(enum resource_kind kind)
{
    switch (kind) {
    case RESOURCE_UUID:
        return "uuid";
    case RESOURCE_BOOL:
        return "boolean";
    case RESOURCE_INT64:
        return "bigint";
    case RESOURCE_INT32:
    case RESOURCE_HUNDREDTHS:
        return "integer";
    case RESOURCE_TIME:
        return "timestamptz";
    case RESOURCE_OBJECT:
        return "jsonb";
    default:
        return "text";
    }
}

/* Appends to out[*len..outlen); C_ERR when it does not fit. */
static int resource_sql_append(char *out, size_t outlen, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int resource_sql_append(char *out, size_t outlen, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out + *len, outlen - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= outlen - *len)
        return C_ERR;
    *len += (size_t)w;
    return C_OK;
}

static int resource_sql_list(const struct resource *r, const char *which, char *out, size_t outlen,
                             size_t *len)
{
    int rc = C_OK;
    bool first = true;
    for (size_t i = 0; rc == C_OK && i < r->nfields; i++) {
        const struct resource_field *f = &r->fields[i];
        const char *sep = first ? "" : ", ";
        if (strcmp(which, "select") == 0) {
            if (f->read_sql != NULL)
                rc = resource_sql_append(out, outlen, len, "%s%s", sep, f->read_sql);
            else if (f->kind == RESOURCE_TIME)
                rc = resource_sql_append(out, outlen, len,
                                         "%sfloor(extract(epoch FROM %s))::bigint", sep, f->column);
            else if (f->kind == RESOURCE_OBJECT)
                rc = resource_sql_append(out, outlen, len, "%s%s::text", sep, f->column);
            else
                rc = resource_sql_append(out, outlen, len, "%s%s", sep, f->column);
        } else if ((f->flags & RESOURCE_NOT_INSERTED) != 0) {
            continue;
        } else if (strcmp(which, "columns") == 0) {
            rc = resource_sql_append(out, outlen, len, "%s%s", sep, f->column);
        } else {
            rc = resource_sql_append(out, outlen, len, "%s%s %s", sep, f->column,
                                     resource_sql_type(f->kind));
        }
        first = false;
    }
    return rc;
}

int resource_sql_format(const struct resource *r, const char *tmpl, char *out, size_t outlen)
{
    static const char *const lists[] = {"select", "columns", "recordset"};
    size_t len = 0;
    if (outlen == 0)
        return C_ERR;
    out[0] = '\0';
    for (const char *p = tmpl; *p != '\0';) {
        bool replaced = false;
        for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]) && !replaced; i++) {
            size_t n = strlen(lists[i]);
            if (p[0] == '{' && strncmp(p + 1, lists[i], n) == 0 && p[n + 1] == '}') {
                if (resource_sql_list(r, lists[i], out, outlen, &len) != C_OK)
                    return C_ERR;
                p += n + 2;
                replaced = true;
            }
        }
        if (replaced)
            continue;
        if (len + 1 >= outlen)
            return C_ERR;
        out[len++] = *p++;
        out[len] = '\0';
    }
    return C_OK;
}

int resource_read_row(const struct resource *r, const PGresult *res, int row, void *obj)
{
    if (PQnfields(res) != (int)r->nfields)
        return C_ERR;
    for (size_t i = 0; i < r->nfields; i++) {
        const struct resource_field *f = &r->fields[i];
        int col = (int)i;
        if (PQgetisnull(res, row, col)) {
            if (!resource_nullable(f))
                return C_ERR;
            resource_set_null(f, obj);
            continue;
        }
        const char *s = PQgetvalue(res, row, col);
        int index;
        json_t *o;
        switch (f->kind) {
        case RESOURCE_UUID:
        case RESOURCE_CODE:
            snprintf(RESOURCE_AT(obj, f), f->size, "%s", s);
            break;
        case RESOURCE_STRING:
            *resource_string_member(obj, f) = strdup(s);
            if (*resource_string_member(obj, f) == NULL)
                return C_ERR;
            break;
        case RESOURCE_BOOL:
            *(bool *)(void *)RESOURCE_AT(obj, f) = s[0] == 't';
            break;
        case RESOURCE_INT64:
        case RESOURCE_INT32:
        case RESOURCE_TIME:
        case RESOURCE_HUNDREDTHS:
            resource_set_int(obj, f, strtoll(s, NULL, 10));
            break;
        case RESOURCE_OBJECT:
            o = db_json_value(s); /* stored numbers past int64 read as reals */
            if (!json_is_object(o)) {
                json_decref(o);
                return C_ERR;
            }
            json_decref(*resource_object_member(obj, f));
            *resource_object_member(obj, f) = o;
            break;
        case RESOURCE_ENUM:
            if (!resource_in(f->values, s, &index))
                return C_ERR;
            assert(f->size == sizeof(index));
            memcpy(RESOURCE_AT(obj, f), &index, sizeof(index));
            break;
        }
    }
    return C_OK;
}
