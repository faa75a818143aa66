/* UUIDv7 generation (RFC 9562) and strict parsing of the canonical text form. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/result.h"
#include "core/uuid.h"
#include "../../leak_check.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

TestSuite(uuid, .fini = unit_leak_check);

Test(uuid, v7_sets_version_7_and_variant_10)
{
    for (int i = 0; i < 1000; i++) {
        struct uuid u;
        cr_assert_eq(uuid_v7_generate(&u), C_OK);
        cr_assert_eq(u.bytes[6] >> 4, 7);
        cr_assert_eq(uuid_version(&u), 7);
        cr_assert_eq(u.bytes[8] & 0xc0, 0x80, "variant bits of id %d", i);
    }
}

Test(uuid, v7_is_strictly_increasing_over_10000_ids)
{
    struct uuid prev, cur;
    char prev_text[UUID_STR_LEN], cur_text[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_generate(&prev), C_OK);
    uuid_format(&prev, prev_text);
    for (int i = 0; i < 10000; i++) {
        cr_assert_eq(uuid_v7_generate(&cur), C_OK);
        uuid_format(&cur, cur_text);
        cr_assert_lt(memcmp(prev.bytes, cur.bytes, 16), 0, "id %d did not increase", i);
        /* Text order is byte order: what a B-tree on uuid or text sees. */
        cr_assert_lt(strcmp(prev_text, cur_text), 0);
        prev = cur;
        memcpy(prev_text, cur_text, sizeof(prev_text));
    }
}

Test(uuid, v7_timestamp_is_now)
{
    uint64_t before = now_ms();
    struct uuid u;
    cr_assert_eq(uuid_v7_generate(&u), C_OK);
    uint64_t after = now_ms();
    uint64_t ts = uuid_v7_timestamp_ms(&u);
    cr_assert(ts >= before && ts <= after, "timestamp %llu outside [%llu, %llu]",
              (unsigned long long)ts, (unsigned long long)before, (unsigned long long)after);
}

Test(uuid, v7_timestamps_stay_close_to_now_during_a_burst)
{
    /* The counter may borrow a few future milliseconds in a burst, no more. */
    struct uuid u;
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(uuid_v7_generate(&u), C_OK);
    uint64_t ts = uuid_v7_timestamp_ms(&u);
    uint64_t now = now_ms();
    cr_assert(ts <= now + 100 && ts + 1000 >= now, "timestamp %llu, now %llu",
              (unsigned long long)ts, (unsigned long long)now);
}

struct burst {
    struct uuid ids[2500];
};

static void *burst_run(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < 2500; i++) {
        if (uuid_v7_generate(&b->ids[i]) != C_OK)
            return arg;
    }
    return NULL;
}

static int compare_uuid(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

Test(uuid, v7_ids_from_concurrent_threads_are_unique_and_each_increasing)
{
    enum { THREADS = 4 };
    struct burst *bursts = calloc(THREADS, sizeof(*bursts));
    cr_assert_not_null(bursts);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, burst_run, &bursts[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        void *failed = NULL;
        pthread_join(t[i], &failed);
        cr_assert_null(failed);
        for (int j = 1; j < 2500; j++)
            cr_assert_lt(memcmp(bursts[i].ids[j - 1].bytes, bursts[i].ids[j].bytes, 16), 0);
    }
    struct uuid *all = (struct uuid *)bursts;
    qsort(all, THREADS * 2500, sizeof(struct uuid), compare_uuid);
    for (int i = 1; i < THREADS * 2500; i++)
        cr_assert_neq(memcmp(all[i - 1].bytes, all[i].bytes, 16), 0, "duplicate id");
    free(bursts);
}

Test(uuid, v7_string_is_canonical_lower_case)
{
    char text[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(text), C_OK);
    cr_assert_eq(strlen(text), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            cr_assert_eq(text[i], '-', "%s", text);
        else
            cr_assert(strchr("0123456789abcdef", text[i]) != NULL, "%s", text);
    }
    cr_assert_eq(text[14], '7');
    cr_assert(strchr("89ab", text[19]) != NULL, "%s", text);
    cr_assert(uuid_is_valid(text));
}

Test(uuid, timestamp_of_the_rfc9562_example)
{
    /* RFC 9562 appendix A.6: unix_ts_ms 0x017F22E279B0. */
    struct uuid u;
    cr_assert_eq(uuid_parse("017F22E2-79B0-7CC3-98C4-DC0C0C07398F", &u), C_OK);
    cr_assert_eq(uuid_v7_timestamp_ms(&u), 1645557742000ULL);
    cr_assert_eq(uuid_version(&u), 7);
    char text[UUID_STR_LEN];
    uuid_format(&u, text);
    cr_assert_str_eq(text, "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
}

Test(uuid, parse_accepts_either_case_and_formats_lower_case)
{
    struct uuid a, b;
    cr_assert_eq(uuid_parse("123e4567-e89b-12d3-a456-426614174000", &a), C_OK);
    cr_assert_eq(uuid_parse("123E4567-E89B-12D3-A456-426614174000", &b), C_OK);
    cr_assert_eq(memcmp(a.bytes, b.bytes, 16), 0);
    static const uint8_t expected[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3,
                                         0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00};
    cr_assert_eq(memcmp(a.bytes, expected, 16), 0);
    cr_assert_eq(uuid_version(&a), 1);
    char text[UUID_STR_LEN];
    uuid_format(&b, text);
    cr_assert_str_eq(text, "123e4567-e89b-12d3-a456-426614174000");
}

Test(uuid, parse_accepts_nil_and_max)
{
    struct uuid u;
    cr_assert_eq(uuid_parse("00000000-0000-0000-0000-000000000000", &u), C_OK);
    cr_assert_eq(uuid_parse("ffffffff-ffff-ffff-ffff-ffffffffffff", &u), C_OK);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(u.bytes[i], 0xff);
}

static void expect_rejected(const char *text)
{
    struct uuid u;
    memset(&u, 0xa5, sizeof(u));
    cr_assert_eq(uuid_parse(text, &u), C_ERR, "accepted \"%s\"", text ? text : "(null)");
    for (int i = 0; i < 16; i++)
        cr_assert_eq(u.bytes[i], 0xa5, "a rejected parse must not touch the output");
    cr_assert_not(uuid_is_valid(text));
}

Test(uuid, parse_rejects_wrong_lengths)
{
    expect_rejected("");
    expect_rejected(NULL);
    expect_rejected("123e4567-e89b-12d3-a456-42661417400");   /* 35 */
    expect_rejected("123e4567-e89b-12d3-a456-4266141740000"); /* 37 */
    expect_rejected("123e4567e89b12d3a456426614174000");      /* no dashes */
    expect_rejected(" 123e4567-e89b-12d3-a456-426614174000");
    expect_rejected("123e4567-e89b-12d3-a456-426614174000\n");
}

Test(uuid, parse_rejects_bad_hex)
{
    expect_rejected("123e4567-e89b-12d3-a456-42661417400g");
    expect_rejected("g23e4567-e89b-12d3-a456-426614174000");
    expect_rejected("123e4567-e89b-12d3-a456-4266141740 0");
    expect_rejected("123e4567-e89b-12d3-a4+6-426614174000");
    expect_rejected("123e4567-e89b-12d3-a456-42661417400\xc3");
}

Test(uuid, parse_rejects_misplaced_dashes)
{
    expect_rejected("123e456-7e89b-12d3-a456-426614174000");
    expect_rejected("123e4567-e89b1-2d3-a456-426614174000");
    expect_rejected("123e4567-e89b-12d3a-456-426614174000");
    expect_rejected("123e4567-e89b-12d3-a4564-26614174000");
    expect_rejected("123e4567-e89b-12d3-a456-42661417-000");
    expect_rejected("123e4567_e89b_12d3_a456_426614174000");
}

Test(uuid, parse_rejects_braces_and_urn_forms)
{
    expect_rejected("{123e4567-e89b-12d3-a456-426614174000}");
    expect_rejected("{123e4567-e89b-12d3-a456-42661417400}");
    expect_rejected("urn:uuid:123e4567-e89b-12d3-a456-426614174000");
}

Test(uuid, format_then_parse_round_trips_random_ids)
{
    for (int i = 0; i < 1000; i++) {
        struct uuid u, back;
        cr_assert_eq(uuid_v7_generate(&u), C_OK);
        char text[UUID_STR_LEN];
        uuid_format(&u, text);
        cr_assert_eq(uuid_parse(text, &back), C_OK);
        cr_assert_eq(memcmp(u.bytes, back.bytes, 16), 0);
    }
}
