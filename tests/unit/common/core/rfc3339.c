/* RFC 3339 times: whole-second UTC formatting and strict parsing. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/result.h"
#include "core/rfc3339.h"
#include "../../leak_check.h"

static void expect_format(int64_t t, const char *expected)
{
    char out[RFC3339_LEN];
    memset(out, 'x', sizeof(out));
    rfc3339_format(t, out);
    cr_assert_str_eq(out, expected);
}

static void expect_parse(const char *text, int64_t expected)
{
    int64_t t = -12345;
    cr_assert_eq(rfc3339_parse(text, &t), C_OK, "rejected \"%s\"", text);
    cr_assert_eq(t, expected, "\"%s\" parsed as %lld", text, (long long)t);
}

static void expect_reject(const char *text)
{
    int64_t t = -12345;
    cr_assert_eq(rfc3339_parse(text, &t), C_ERR, "accepted \"%s\"", text ? text : "(null)");
    cr_assert_eq(t, -12345, "a rejected parse must not touch the output");
}

TestSuite(rfc3339, .fini = unit_leak_check);

Test(rfc3339, format_writes_whole_seconds_in_utc_with_z)
{
    expect_format(0, "1970-01-01T00:00:00Z");
    expect_format(1705314600, "2024-01-15T10:30:00Z");
    expect_format(1709208000, "2024-02-29T12:00:00Z");
    expect_format(951868799, "2000-02-29T23:59:59Z");
    expect_format(2147483648LL, "2038-01-19T03:14:08Z");
    expect_format(4107542400LL, "2100-03-01T00:00:00Z");
    expect_format(-1, "1969-12-31T23:59:59Z");
    expect_format(253402300799LL, "9999-12-31T23:59:59Z");
}

Test(rfc3339, format_agrees_with_gmtime_and_strftime_from_year_1000_to_9999)
{
    /* The formatter is arithmetic; the C library is the reference. A step
     * that is not a whole number of days visits every time of day, and the
     * edges of the four-digit years are checked on both sides (before year
     * 1000, strftime's "999-…" is no reference: see the next test). */
    const int64_t edges[] = {-30610224000LL, 253402300799LL, 253402300799LL + 1};
    for (int64_t t = -30610224000LL; t <= 253402300799LL; t += 86399LL * 97 + 3607) {
        char out[RFC3339_LEN], expected[RFC3339_LEN];
        time_t tt = (time_t)t;
        struct tm tm;
        cr_assert_not_null(gmtime_r(&tt, &tm));
        cr_assert_neq(strftime(expected, sizeof(expected), "%Y-%m-%dT%H:%M:%SZ", &tm), 0);
        rfc3339_format(t, out);
        cr_assert_str_eq(out, expected, "at %lld", (long long)t);
    }
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        char out[RFC3339_LEN], expected[RFC3339_LEN];
        time_t tt = (time_t)edges[i];
        struct tm tm;
        cr_assert_not_null(gmtime_r(&tt, &tm));
        if (strftime(expected, sizeof(expected), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            snprintf(expected, sizeof(expected), "9999-12-31T23:59:59Z");
        rfc3339_format(edges[i], out);
        cr_assert_str_eq(out, expected, "at %lld", (long long)edges[i]);
    }
}

/* Found by tests/fuzz/common/core/rfc3339.c: strftime's %Y wrote year 999 as
 * "999", a text rfc3339_parse (and every RFC 3339 reader) refuses. */
Test(rfc3339, format_writes_four_digit_years_before_1000)
{
    expect_format(-62167219200LL, "0000-01-01T00:00:00Z");
    expect_format(-30641760000LL, "0999-01-01T00:00:00Z");
    expect_format(-59011459201LL, "0099-12-31T23:59:59Z");
    expect_format(-30610224000LL - 1, "0999-12-31T23:59:59Z");
    int64_t t = 0;
    cr_assert_eq(rfc3339_parse("0999-01-01T00:00:00Z", &t), C_OK);
    expect_format(t, "0999-01-01T00:00:00Z");
}

Test(rfc3339, format_clamps_times_outside_years_0000_to_9999)
{
    expect_format(253402300800LL, "9999-12-31T23:59:59Z");
    expect_format(INT64_MAX, "9999-12-31T23:59:59Z");
    expect_format(-62167219201LL, "0000-01-01T00:00:00Z");
    expect_format(INT64_MIN, "0000-01-01T00:00:00Z");
}

Test(rfc3339, format_output_is_always_20_characters)
{
    char out[RFC3339_LEN];
    rfc3339_format(1705314600, out);
    cr_assert_eq(strlen(out), 20);
    cr_assert_eq(RFC3339_LEN, 21);
}

Test(rfc3339, parse_reads_utc_z)
{
    expect_parse("2024-01-15T10:30:00Z", 1705314600);
    expect_parse("1970-01-01T00:00:00Z", 0);
    expect_parse("1969-12-31T23:59:59Z", -1);
}

Test(rfc3339, parse_accepts_lower_case_t_and_z)
{
    expect_parse("2024-01-15t10:30:00z", 1705314600);
    expect_parse("2024-01-15T10:30:00z", 1705314600);
    expect_parse("2024-01-15t10:30:00Z", 1705314600);
}

Test(rfc3339, parse_applies_offsets)
{
    expect_parse("2024-01-15T11:30:00+01:00", 1705314600);
    expect_parse("2024-01-15T05:30:00-05:00", 1705314600);
    expect_parse("2024-01-15T16:15:00+05:45", 1705314600);
    expect_parse("2024-01-15T10:30:00+00:00", 1705314600);
    expect_parse("2024-01-15T10:30:00-00:00", 1705314600);
    /* Offsets can move the date across a day or year boundary. */
    expect_parse("2024-01-16T00:30:00+14:00", 1705314600);
    expect_parse("2023-12-31T23:00:00-01:00", 1704067200); /* 2024-01-01T00:00:00Z */
}

Test(rfc3339, parse_truncates_fractions_of_a_second)
{
    expect_parse("2024-01-15T10:30:00.0Z", 1705314600);
    expect_parse("2024-01-15T10:30:00.999999999Z", 1705314600);
    expect_parse("2024-01-15T11:30:00.5+01:00", 1705314600);
}

Test(rfc3339, parse_accepts_leap_days_of_leap_years)
{
    expect_parse("2024-02-29T12:00:00Z", 1709208000);
    expect_parse("2000-02-29T23:59:59Z", 951868799);
}

Test(rfc3339, parse_rejects_feb_29_of_common_years)
{
    expect_reject("2023-02-29T00:00:00Z");
    expect_reject("1900-02-29T00:00:00Z");
    expect_reject("2100-02-29T00:00:00Z");
}

Test(rfc3339, parse_rejects_impossible_dates)
{
    expect_reject("2024-02-30T10:00:00Z");
    expect_reject("2024-04-31T10:00:00Z");
    expect_reject("2024-06-31T10:00:00Z");
    expect_reject("2024-01-32T10:00:00Z");
    expect_reject("2024-00-10T10:00:00Z");
    expect_reject("2024-13-10T10:00:00Z");
    expect_reject("2024-01-00T10:00:00Z");
}

Test(rfc3339, parse_rejects_impossible_times)
{
    expect_reject("2024-01-15T24:00:00Z");
    expect_reject("2024-01-15T10:60:00Z");
    expect_reject("2024-01-15T10:30:60Z"); /* leap seconds are not kept */
    expect_reject("2024-01-15T10:30:00+24:00");
    expect_reject("2024-01-15T10:30:00+01:60");
}

Test(rfc3339, parse_rejects_missing_or_malformed_offsets)
{
    expect_reject("2024-01-15T10:30:00");
    expect_reject("2024-01-15T10:30:00+0100");
    expect_reject("2024-01-15T10:30:00+1:00");
    expect_reject("2024-01-15T10:30:00+01");
    expect_reject("2024-01-15T10:30:00+01:0");
    expect_reject("2024-01-15T10:30:00 +01:00");
    expect_reject("2024-01-15T10:30:00UTC");
}

Test(rfc3339, parse_rejects_other_shapes)
{
    expect_reject(NULL);
    expect_reject("");
    expect_reject("2024-01-15");
    expect_reject("2024-01-15 10:30:00Z");
    expect_reject("2024-1-15T10:30:00Z");
    expect_reject("24-01-15T10:30:00Z");
    expect_reject("2024/01/15T10:30:00Z");
    expect_reject("2024-01-15T10:30Z");
    expect_reject("2024-01-15T10:30:00.Z");
    expect_reject("2024-01-15T10:30:00,5Z");
    expect_reject("2024-01-15T10:30:00Z ");
    expect_reject("2024-01-15T10:30:00Zjunk");
    expect_reject(" 2024-01-15T10:30:00Z");
    expect_reject("+2024-01-15T10:30:00Z");
    expect_reject("1705314600");
}

Test(rfc3339, format_then_parse_round_trips_two_centuries)
{
    /* A step that is not a whole number of days visits every time of day. */
    for (int64_t t = -86400LL * 365; t < 4102444800LL; t += 86399LL * 7 + 3607) {
        char out[RFC3339_LEN];
        rfc3339_format(t, out);
        int64_t back = 0;
        cr_assert_eq(rfc3339_parse(out, &back), C_OK, "%s", out);
        cr_assert_eq(back, t, "%s", out);
    }
}

Test(rfc3339, parse_agrees_with_timegm_on_every_day_of_leap_and_common_years)
{
    for (int year = 1999; year <= 2001; year++) {
        for (int month = 1; month <= 12; month++) {
            for (int day = 1; day <= 31; day++) {
                struct tm tm = {.tm_year = year - 1900,
                                .tm_mon = month - 1,
                                .tm_mday = day,
                                .tm_hour = 13,
                                .tm_min = 7,
                                .tm_sec = 9};
                time_t expected = timegm(&tm);
                bool real = tm.tm_mday == day; /* timegm normalizes Feb 30 to Mar 1/2 */
                char text[64];
                snprintf(text, sizeof(text), "%04d-%02d-%02dT13:07:09Z", year, month, day);
                int64_t t = 0;
                int rc = rfc3339_parse(text, &t);
                cr_assert_eq(rc, real ? C_OK : C_ERR, "%s", text);
                if (real)
                    cr_assert_eq(t, (int64_t)expected, "%s", text);
            }
        }
    }
}

Test(rfc3339, now_is_the_wall_clock_in_seconds)
{
    /* Bracketed with CLOCK_REALTIME itself: time() reads the coarse clock,
     * which can lag a tick behind and so be a second behind at a boundary. */
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    int64_t now = rfc3339_now();
    clock_gettime(CLOCK_REALTIME, &after);
    cr_assert(now >= before.tv_sec && now <= after.tv_sec, "%lld not in [%lld, %lld]",
              (long long)now, (long long)before.tv_sec, (long long)after.tv_sec);
}

Test(rfc3339, to_json_is_the_api_string)
{
    json_t *j = rfc3339_to_json(1705314600);
    cr_assert(json_is_string(j));
    cr_assert_str_eq(json_string_value(j), "2024-01-15T10:30:00Z");
    json_decref(j);
}
