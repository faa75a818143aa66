/* The COPY text-format writer behind bulk inserts (db_copy_append_text). */
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
