/* COPY into a table that already holds a row (common/infra/db.h, db_copy_in):
 * whether that is an error is the caller's to say. The session insert expects
 * it (a redelivered batch) and sorts it out; any other caller meeting it has a
 * fault, which must show in caisse_db_errors_total like any failed statement. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/result.h"
#include "infra/db.h"
#include "support.h"

/* The value of caisse_db_errors_total for statement (0 before its first). */
static long errors_of(const char *statement)
{
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(metrics_render(metrics_default(), &text, &len), C_OK);
    char needle[160];
    snprintf(needle, sizeof(needle), "caisse_db_errors_total{statement=\"%s\"} ", statement);
    const char *at = strstr(text, needle);
    long n = at == NULL ? 0 : strtol(at + strlen(needle), NULL, 10);
    free(text);
    return n;
}

/* On a fresh connection, in one transaction: a temporary table with one row,
 * then the same row again by COPY under the statement name given, which must
 * fail as a unique violation; returns caisse_db_errors_total for that name. */
static long errors_after_copying_an_existing_row(const char *statement,
                                                 enum db_copy_conflicts conflicts)
{
    struct db db;
    cr_assert_eq(db_init(&db, test_env("CAISSE_DATABASE_URL")), C_OK);
    cr_assert_eq(db_begin(&db), C_OK, "%s", db.last_error);
    cr_assert_eq(db_exec_command(&db,
                                 "CREATE TEMPORARY TABLE copy_twice (id int PRIMARY KEY)"
                                 " ON COMMIT DROP",
                                 0, NULL),
                 C_OK, "%s", db.last_error);
    cr_assert_eq(
        db_copy_in_as(&db, statement, "COPY copy_twice (id) FROM STDIN", "1\n", 2, conflicts), C_OK,
        "%s", db.last_error);
    cr_assert_eq(
        db_copy_in_as(&db, statement, "COPY copy_twice (id) FROM STDIN", "1\n", 2, conflicts),
        C_ERR);
    cr_assert_str_eq(db_last_sqlstate(&db), DB_UNIQUE_VIOLATION);
    db_rollback(&db);
    db_close(&db);
    return errors_of(statement);
}

Test(db_copy, a_conflict_the_caller_expects_is_not_counted_as_an_error)
{
    cr_assert_eq(
        errors_after_copying_an_existing_row("copy_expecting_conflicts", DB_COPY_CONFLICT_EXPECTED),
        0);
}

Test(db_copy, a_conflict_any_other_caller_meets_is_counted_as_an_error)
{
    cr_assert_eq(errors_after_copying_an_existing_row("copy_not_expecting_conflicts",
                                                      DB_COPY_CONFLICT_FAILS),
                 1);
}
