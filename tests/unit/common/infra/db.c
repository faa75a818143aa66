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

Test(db, json_value_reads_a_document_as_it_is)
{
    json_t *v = db_json_value("{\"n\": 1, \"r\": 1.5, \"s\": \"x\"}");
    cr_assert(json_is_integer(json_object_get(v, "n")));
    cr_assert(json_is_real(json_object_get(v, "r")));
    cr_assert_str_eq(json_string_value(json_object_get(v, "s")), "x");
    json_decref(v);
    cr_assert_null(db_json_value("{\"n\": "));
}

/* What PostgreSQL gives back of {"n": 1e+19}: an integer past int64. Read
 * as a real rather than refused, so the row it is in stays readable (a
 * refused one stopped every expiry sweep that claimed it). */
Test(db, json_value_reads_integers_past_int64_as_reals)
{
    json_t *v = db_json_value("{\"n\": 10000000000000000000, \"k\": \"v\", \"m\": 2}");
    cr_assert_not_null(v);
    cr_assert(json_is_real(json_object_get(v, "n")));
    cr_assert_eq(json_real_value(json_object_get(v, "n")), 1e19);
    cr_assert_eq(json_number_value(json_object_get(v, "m")), 2.0);
    cr_assert_str_eq(json_string_value(json_object_get(v, "k")), "v");
    json_decref(v);
}

/* What a consumer waits out (retries as is) and what it may park as a dead letter. */
Test(db, transient_errors_are_the_servers_and_the_deployments_not_the_datas)
{
    const char *transient[] = {"",      "08006", "08001", "25P02", "40001",
                               "40P01", "42P01", "42703", "42501", "53300",
                               "55P03", "57P01", "57014", "58030", "F0000"};
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        cr_assert(db_error_is_transient(transient[i]), "%s", transient[i]);
    cr_assert(db_error_is_transient(NULL));
    const char *persistent[] = {"22001", "22P02", "23505", "23514", "54000",
                                "P0001", "XX000", "21000", "2F005"};
    for (size_t i = 0; i < sizeof(persistent) / sizeof(persistent[0]); i++)
        cr_assert(!db_error_is_transient(persistent[i]), "%s", persistent[i]);
}
