/* How a connection plans its statements (common/infra/db.h, db_planning): the
 * workers' statements are planned at every call, so a plan made on a new,
 * empty database (a sequential scan of what becomes a big table) never stays;
 * the gateway's are prepared once. Seen from the connection itself: what it
 * holds in pg_prepared_statements. */
#include <criterion/criterion.h>

#include <stdlib.h>

#include "core/result.h"
#include "infra/db.h"
#include "support.h"

/* Runs one data statement on a fresh connection made under planning, then
 * returns how many statements that connection holds prepared. */
static long prepared_after_a_statement(enum db_planning planning)
{
    db_set_planning(planning);
    struct db db;
    cr_assert_eq(db_init(&db, test_env("CAISSE_DATABASE_URL")), C_OK);
    db_set_planning(DB_PLAN_CACHED);
    const char *params[1] = {"41"};
    for (int i = 0; i < 7; i++) {
        PGresult *r = db_exec(&db, "SELECT $1::int + 1", 1, params);
        cr_assert_not_null(r, "%s", db.last_error);
        cr_assert_str_eq(PQgetvalue(r, 0, 0), "42");
        PQclear(r);
    }
    PGresult *r = db_exec(&db, "SELECT count(*) FROM pg_prepared_statements", 0, NULL);
    cr_assert_not_null(r, "%s", db.last_error);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    db_close(&db);
    return n;
}

TestSuite(planning);

Test(planning, a_worker_connection_plans_every_statement_at_each_call)
{
    cr_assert_eq(prepared_after_a_statement(DB_PLAN_EVERY_CALL), 0,
                 "a connection planning every call prepared a statement");
}

Test(planning, a_gateway_connection_prepares_its_statements_once)
{
    /* The statement run seven times and the count itself. */
    cr_assert_eq(prepared_after_a_statement(DB_PLAN_CACHED), 2);
}
