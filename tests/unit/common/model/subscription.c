/* The subscription: its declaration (what the store needs, the REST object),
 * the period arithmetic in UTC calendar terms, the cancel action and the
 * statements of the changes (start, renew, the past_due sweep). The same
 * against PostgreSQL is tests/integration/subscriptions.c. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"
#include "model/subscription.h"
#include "../../leak_check.h"

TestSuite(subscription, .fini = unit_leak_check);

/* ---- the declaration -------------------------------------------------------------- */

Test(subscription, the_declaration_has_what_the_store_needs)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_check(&subscription_store, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(subscription_store.table, "subscriptions");
    cr_assert_str_eq(subscription_store.noun, "Subscription");
    cr_assert_eq(subscription_store.nfilters, 2);
    cr_assert_str_eq(subscription_store.filters[0].name, "customer_id");
    cr_assert_str_eq(subscription_store.filters[1].name, "status");
    /* Created by completions only: no create or update command. */
    cr_assert_null(subscription_store.command_create);
    cr_assert_null(subscription_store.command_update);
    cr_assert_eq(subscription_store.nactions, 1);
    cr_assert_eq(resource_store_action_find(&subscription_store, "cancel", true),
                 &subscription_cancel);
    cr_assert_eq(resource_store_action_find(&subscription_store, "subscription.cancel", false),
                 &subscription_cancel);
    cr_assert_null(resource_store_action_find(&subscription_store, "renew", true));
}

Test(subscription, the_rest_object_has_the_fields_in_order_and_none_is_updatable)
{
    static const char *const order[] = {"subscription_id",
                                        "organization_id",
                                        "customer_id",
                                        "price_id",
                                        "product_id",
                                        "status",
                                        "current_period_start",
                                        "current_period_end",
                                        "latest_checkout_session_id",
                                        "canceled_at",
                                        "metadata",
                                        "environment",
                                        "created_at",
                                        "updated_at"};
    size_t k = 0;
    for (size_t i = 0; i < subscription_resource.nfields; i++) {
        const struct resource_field *f = &subscription_resource.fields[i];
        cr_assert_eq(f->flags & RESOURCE_UPDATABLE, 0, "%s", f->column);
        if (f->json == NULL)
            continue;
        cr_assert_lt(k, sizeof(order) / sizeof(order[0]));
        cr_assert_str_eq(f->json, order[k++]);
    }
    cr_assert_eq(k, sizeof(order) / sizeof(order[0]));
}

Test(subscription, a_new_subscription_is_active_and_not_canceled)
{
    struct subscription s;
    cr_assert_eq(subscription_init(&s), C_OK);
    cr_assert_eq(s.status, SUBSCRIPTION_ACTIVE);
    cr_assert_eq(s.canceled_at, RESOURCE_NULL_INT64);
    cr_assert_eq(json_object_size(s.metadata), 0);
    json_t *j = resource_to_json(&subscription_resource, &s);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "active");
    cr_assert(json_is_null(json_object_get(j, "canceled_at")));
    json_decref(j);
    subscription_free(&s);
    subscription_free(&s);
}

Test(subscription, reads_show_past_due_once_the_period_has_ended)
{
    const struct resource_field *f = resource_field_by_json(&subscription_resource, "status");
    cr_assert_not_null(f);
    cr_assert_str_eq(f->read_sql, "CASE WHEN status = 'active' AND current_period_end <= now()"
                                  " THEN 'past_due' ELSE status END");
    /* The list's status filter compares what reads show, not the column. */
    const char *list = resource_store_sql(&subscription_store, RESOURCE_STORE_SQL_LIST);
    cr_assert_not_null(strstr(list, " AND ($5::uuid IS NULL OR customer_id = $5::uuid)"), "%s",
                       list);
    cr_assert_not_null(strstr(list, " AND ($6::text IS NULL OR (CASE WHEN status = 'active' AND"
                                    " current_period_end <= now() THEN 'past_due' ELSE status"
                                    " END) = $6::text)"),
                       "%s", list);
}

Test(subscription, cancel_is_one_guarded_update_found_by_primary_key)
{
    const char *sql = resource_store_action_sql(&subscription_store, &subscription_cancel);
    cr_assert_not_null(sql);
    const char *head =
        "UPDATE subscriptions SET status = 'canceled', canceled_at = date_trunc('second', now()),"
        " updated_at = date_trunc('second', now()) WHERE id = (SELECT s.id FROM (SELECT * FROM"
        " subscriptions WHERE id = $1 OFFSET 0) s WHERE s.organization_id = $2 AND"
        " s.environment = $3) AND (status <> 'canceled') RETURNING ";
    cr_assert_eq(strncmp(sql, head, strlen(head)), 0, "%s", sql);
    cr_assert_eq(sql, resource_store_action_sql(&subscription_store, &subscription_cancel),
                 "built once");
}

/* ---- periods ------------------------------------------------------------------------ */

static int64_t at(const char *text)
{
    int64_t t;
    cr_assert_eq(rfc3339_parse(text, &t), C_OK, "%s", text);
    return t;
}

/* The end of a period from start, as RFC 3339. */
static void expect_end(const char *start, enum subscription_interval interval, int count,
                       const char *expected)
{
    int64_t end = 0;
    cr_assert_eq(subscription_period_end(at(start), interval, count, &end), C_OK, "%s + %d", start,
                 count);
    char text[RFC3339_LEN];
    rfc3339_format(end, text);
    cr_assert_str_eq(text, expected, "%s + %d of %d", start, count, (int)interval);
}

Test(subscription, days_and_weeks_are_fixed_lengths_of_utc_time)
{
    expect_end("2024-01-15T10:30:00Z", SUBSCRIPTION_INTERVAL_DAY, 1, "2024-01-16T10:30:00Z");
    expect_end("2024-02-28T23:59:59Z", SUBSCRIPTION_INTERVAL_DAY, 1, "2024-02-29T23:59:59Z");
    expect_end("2023-02-28T00:00:00Z", SUBSCRIPTION_INTERVAL_DAY, 1, "2023-03-01T00:00:00Z");
    expect_end("2024-12-31T12:00:00Z", SUBSCRIPTION_INTERVAL_DAY, 365, "2025-12-31T12:00:00Z");
    expect_end("2024-01-15T10:30:00Z", SUBSCRIPTION_INTERVAL_WEEK, 1, "2024-01-22T10:30:00Z");
    expect_end("2024-12-25T08:00:00Z", SUBSCRIPTION_INTERVAL_WEEK, 2, "2025-01-08T08:00:00Z");
}

Test(subscription, a_month_keeps_the_day_or_takes_the_month_s_last)
{
    expect_end("2024-01-15T10:30:00Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "2024-02-15T10:30:00Z");
    /* From January 31: the last day of February, 29 in a leap year, 28 otherwise. */
    expect_end("2024-01-31T10:30:00Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "2024-02-29T10:30:00Z");
    expect_end("2023-01-31T10:30:00Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "2023-02-28T10:30:00Z");
    expect_end("2100-01-31T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "2100-02-28T00:00:00Z");
    expect_end("2000-01-31T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "2000-02-29T00:00:00Z");
    expect_end("2024-03-31T23:59:59Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "2024-04-30T23:59:59Z");
    expect_end("2024-08-31T06:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "2024-09-30T06:00:00Z");
    /* Across the year, and several months at once from the start (not month by month). */
    expect_end("2024-12-15T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "2025-01-15T00:00:00Z");
    expect_end("2024-01-31T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 3, "2024-04-30T00:00:00Z");
    expect_end("2024-01-31T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 2, "2024-03-31T00:00:00Z");
    expect_end("2024-05-31T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 12, "2025-05-31T00:00:00Z");
    expect_end("2024-02-29T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 12, "2025-02-28T00:00:00Z");
    expect_end("2024-01-01T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 365, "2054-06-01T00:00:00Z");
}

Test(subscription, a_year_from_february_29_is_february_28_unless_leap)
{
    expect_end("2024-02-29T12:00:00Z", SUBSCRIPTION_INTERVAL_YEAR, 1, "2025-02-28T12:00:00Z");
    expect_end("2024-02-29T12:00:00Z", SUBSCRIPTION_INTERVAL_YEAR, 4, "2028-02-29T12:00:00Z");
    expect_end("2096-02-29T12:00:00Z", SUBSCRIPTION_INTERVAL_YEAR, 4, "2100-02-28T12:00:00Z");
    expect_end("2024-01-15T10:30:00Z", SUBSCRIPTION_INTERVAL_YEAR, 1, "2025-01-15T10:30:00Z");
    expect_end("2023-03-01T00:00:00Z", SUBSCRIPTION_INTERVAL_YEAR, 1, "2024-03-01T00:00:00Z");
    /* Before the epoch too (negative seconds). */
    expect_end("1969-12-31T23:59:59Z", SUBSCRIPTION_INTERVAL_YEAR, 1, "1970-12-31T23:59:59Z");
    expect_end("1968-02-29T00:00:00Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "1968-03-29T00:00:00Z");
}

Test(subscription, a_count_outside_the_prices_range_or_an_end_past_year_9999_is_refused)
{
    int64_t end = 42;
    int64_t start = at("2024-01-15T10:30:00Z");
    cr_assert_eq(subscription_period_end(start, SUBSCRIPTION_INTERVAL_MONTH, 0, &end), C_ERR);
    cr_assert_eq(subscription_period_end(start, SUBSCRIPTION_INTERVAL_DAY, -1, &end), C_ERR);
    cr_assert_eq(subscription_period_end(start, SUBSCRIPTION_INTERVAL_YEAR, 366, &end), C_ERR);
    cr_assert_eq(
        subscription_period_end(at("9999-06-01T00:00:00Z"), SUBSCRIPTION_INTERVAL_YEAR, 1, &end),
        C_ERR);
    cr_assert_eq(
        subscription_period_end(SUBSCRIPTION_TIME_MAX + 1, SUBSCRIPTION_INTERVAL_DAY, 1, &end),
        C_ERR);
    cr_assert_eq(end, 42, "untouched on failure");
    expect_end("9999-11-30T23:59:59Z", SUBSCRIPTION_INTERVAL_MONTH, 1, "9999-12-30T23:59:59Z");
    expect_end("9998-12-31T23:59:59Z", SUBSCRIPTION_INTERVAL_YEAR, 1, "9999-12-31T23:59:59Z");
}

Test(subscription, every_day_of_four_centuries_advances_by_a_month_as_the_calendar_says)
{
    /* Day by day from 2000-01-01 to 2399-12-31: a month later is the same day
     * of the next month, or its last day; never a day more than 31 away. */
    int64_t day = at("2000-01-01T07:08:09Z");
    for (int i = 0; i < 146097; i++, day += 86400) {
        char text[RFC3339_LEN], next[RFC3339_LEN];
        rfc3339_format(day, text);
        int64_t end;
        cr_assert_eq(subscription_period_end(day, SUBSCRIPTION_INTERVAL_MONTH, 1, &end), C_OK);
        rfc3339_format(end, next);
        int y = (int)strtol(text, NULL, 10), m = (int)strtol(text + 5, NULL, 10),
            d = (int)strtol(text + 8, NULL, 10);
        int ny = (int)strtol(next, NULL, 10), nm = (int)strtol(next + 5, NULL, 10);
        int nd = (int)strtol(next + 8, NULL, 10);
        int want_y = m == 12 ? y + 1 : y, want_m = m == 12 ? 1 : m + 1;
        static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (want_y % 4 == 0 && want_y % 100 != 0) || want_y % 400 == 0;
        int last = want_m == 2 && leap ? 29 : len[want_m - 1];
        if (ny != want_y || nm != want_m || nd != (d < last ? d : last) ||
            strcmp(text + 10, next + 10) != 0)
            cr_assert_fail("%s + 1 month = %s", text, next);
        cr_assert_leq(end - day, 31 * 86400);
    }
}

Test(subscription, intervals_are_named_as_prices_name_them)
{
    enum subscription_interval i;
    cr_assert_eq(subscription_interval_parse("day", &i), C_OK);
    cr_assert_eq(i, SUBSCRIPTION_INTERVAL_DAY);
    cr_assert_eq(subscription_interval_parse("week", &i), C_OK);
    cr_assert_eq(i, SUBSCRIPTION_INTERVAL_WEEK);
    cr_assert_eq(subscription_interval_parse("month", &i), C_OK);
    cr_assert_eq(i, SUBSCRIPTION_INTERVAL_MONTH);
    cr_assert_eq(subscription_interval_parse("year", &i), C_OK);
    cr_assert_eq(i, SUBSCRIPTION_INTERVAL_YEAR);
    cr_assert_eq(subscription_interval_parse("Month", &i), C_ERR);
    cr_assert_eq(subscription_interval_parse("", &i), C_ERR);
    cr_assert_eq(subscription_interval_parse(NULL, &i), C_ERR);
}

/* ---- the statements of the changes --------------------------------------------------- */

Test(subscription, the_past_due_sweep_claims_due_active_rows_and_guards_the_update)
{
    const char *sql = subscription_sql(SUBSCRIPTION_SQL_PAST_DUE);
    cr_assert_not_null(strstr(sql, "WITH due AS MATERIALIZED ( SELECT id AS due_id FROM"
                                   " subscriptions WHERE status = 'active' AND"
                                   " current_period_end <= now() ORDER BY current_period_end"
                                   " LIMIT $1 FOR UPDATE SKIP LOCKED)"),
                       "%s", sql);
    cr_assert_not_null(strstr(sql, " UPDATE subscriptions SET status = 'past_due', updated_at ="
                                   " date_trunc('second', now()) FROM due WHERE id = due.due_id"
                                   " AND status = 'active' RETURNING "),
                       "%s", sql);
}

Test(subscription, a_renewal_never_revives_a_canceled_subscription)
{
    const char *sql = subscription_sql(SUBSCRIPTION_SQL_RENEW);
    cr_assert_not_null(strstr(sql, "WHERE id = $1 AND status <> 'canceled' RETURNING "), "%s", sql);
    cr_assert_not_null(strstr(subscription_sql(SUBSCRIPTION_SQL_LOCK),
                              "(SELECT * FROM subscriptions WHERE id = $1 OFFSET 0 FOR UPDATE) s"
                              " WHERE organization_id = $2 AND environment = $3"));
    /* The price read by its primary key, of the tenant, recurring only. */
    cr_assert_not_null(strstr(subscription_sql(SUBSCRIPTION_SQL_PRICE),
                              "FROM (SELECT * FROM prices WHERE id = $1 OFFSET 0) p WHERE"
                              " p.organization_id = $2 AND p.environment = $3 AND"
                              " p.type = 'recurring'"));
    /* A start again under the same id (a replay) inserts nothing. */
    cr_assert_not_null(
        strstr(subscription_sql(SUBSCRIPTION_SQL_INSERT), "ON CONFLICT (id) DO NOTHING"));
}
