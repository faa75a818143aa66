/* The COPY text-format writer behind bulk inserts (db_copy_append_text), and
 * db_json_value, the reader of the json PostgreSQL prints. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "infra/db.h"
#include "core/result.h"
#include "../../leak_check.h"

TestSuite(db, .fini = unit_leak_check);

Test(db, copy_row_separates_fields_with_tabs_and_ends_with_newline)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cr_assert_eq(db_copy_append_text(&buf, &len, &cap, "a", '\t'), C_OK);
    cr_assert_eq(db_copy_append_text(&buf, &len, &cap, "", '\t'), C_OK);
    cr_assert_eq(db_copy_append_text(&buf, &len, &cap, "c", '\n'), C_OK);
    cr_assert_str_eq(buf, "a\t\tc\n");
    cr_assert_eq(len, strlen("a\t\tc\n"));
    free(buf);
}

Test(db, copy_escapes_backslash_tab_newline_and_carriage_return)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    /* JSON escapes like \" and \u00e9 must reach PostgreSQL unchanged. */
    cr_assert_eq(db_copy_append_text(&buf, &len, &cap, "{\"k\":\"a\\\"b\\u00e9\"}\t\n\r", '\n'),
                 C_OK);
    cr_assert_str_eq(buf, "{\"k\":\"a\\\\\"b\\\\u00e9\"}\\t\\n\\r\n");
    free(buf);
}

Test(db, copy_keeps_utf8_bytes_as_they_are)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cr_assert_eq(db_copy_append_text(&buf, &len, &cap, "Dakar \xc3\xa9t\xc3\xa9", '\n'), C_OK);
    cr_assert_str_eq(buf, "Dakar \xc3\xa9t\xc3\xa9\n");
    free(buf);
}

Test(db, copy_buffer_grows_across_many_rows)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char field[1000];
    memset(field, 'x', sizeof(field) - 1);
    field[sizeof(field) - 1] = '\0';
    for (int i = 0; i < 100; i++)
        cr_assert_eq(db_copy_append_text(&buf, &len, &cap, field, '\n'), C_OK);
    cr_assert_eq(len, 100 * sizeof(field));
    cr_assert_geq(cap, len + 1);
    cr_assert_eq(buf[len - 1], '\n');
    cr_assert_eq(buf[len], '\0');
    free(buf);
}

Test(db, json_value_reads_what_postgresql_prints)
{
    json_t *v = db_json_value("{\"n\": 3, \"r\": 1.5, \"s\": \"x\"}");
    cr_assert(json_is_object(v));
    cr_assert(json_is_integer(json_object_get(v, "n")), "small integers stay integers");
    cr_assert_eq(json_integer_value(json_object_get(v, "n")), 3);
    json_decref(v);
    /* jsonb prints 1.28e77 as its 78 digits: a real, not a failure. */
    v = db_json_value("{\"n\": -128185250234917320000000000000000000000000000000000000000000000000"
                      "000000000000}");
    cr_assert(json_is_object(v));
    cr_assert(json_is_real(json_object_get(v, "n")));
    cr_assert(json_real_value(json_object_get(v, "n")) < -1.28e77);
    json_decref(v);
    cr_assert_null(db_json_value("{not json"));
}
