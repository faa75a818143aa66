/* The batch consumer's loop with a scripted message source and clock: how a
 * batch is taken (the first record, the window, batch_max), that offsets are
 * stored only after the batch is applied, the retry of a failing apply, the
 * renewal of a fenced source, and the ways the loop ends (stop request, fatal
 * source error, failed apply). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "infra/batch_loop.h"
#include "../../leak_check.h"

#define MAX_EVENTS 64

/* What the source has for the loop, at a time of the fake clock. */
enum event_kind {
    RECORD,
    ERROR_EVENT, /* a consumer error the source logs and drops */
    FATAL_EVENT,
    FENCED_EVENT, /* a static member fenced: a new source would do */
    STOP,         /* SIGTERM: the stop flag goes up */
};

struct event {
    int64_t at_ms;
    enum event_kind kind;
};

static struct {
    const struct event *script;
    size_t script_len, next;
    bool stop_when_dry; /* the test is over once the script is */
    int64_t now_ms;
    bool stopping;
    int stop_requests;
    int takes;
    int timeouts[MAX_EVENTS]; /* of the first takes */
    int64_t next_offset;
    int taken, released;
    int store_calls;
    int64_t stored[MAX_EVENTS]; /* offsets, in order */
    size_t stored_len;
    int joined_calls, joined_after;
    long slept[MAX_EVENTS];
    size_t slept_len;
    bool stop_in_sleep; /* SIGTERM during the next sleep */
    int renew_calls;
    int renew_result; /* C_OK unless set to C_ERR */
    int64_t renewed_at[MAX_EVENTS];
    /* apply */
    int apply_results[MAX_EVENTS]; /* C_OK unless set to C_ERR */
    int apply_calls;
    size_t batch_sizes[MAX_EVENTS];
    int64_t applied[MAX_EVENTS];
    size_t applied_len;
} fake;

static enum batch_loop_take fake_take(void *source, int timeout_ms, rd_kafka_message_t **out)
{
    cr_assert_eq(source, &fake);
    cr_assert_geq(timeout_ms, 0);
    if (fake.takes < MAX_EVENTS)
        fake.timeouts[fake.takes] = timeout_ms;
    fake.takes++;
    if (fake.next == fake.script_len || fake.script[fake.next].at_ms > fake.now_ms + timeout_ms) {
        fake.now_ms += timeout_ms;
        if (fake.next == fake.script_len && fake.stop_when_dry)
            fake.stopping = true;
        return BATCH_LOOP_NONE;
    }
    const struct event *e = &fake.script[fake.next++];
    if (e->at_ms > fake.now_ms)
        fake.now_ms = e->at_ms;
    switch (e->kind) {
    case RECORD: {
        rd_kafka_message_t *m = calloc(1, sizeof(*m));
        cr_assert_not_null(m);
        m->offset = fake.next_offset++;
        fake.taken++;
        *out = m;
        return BATCH_LOOP_RECORD;
    }
    case ERROR_EVENT:
        return BATCH_LOOP_SKIPPED;
    case FATAL_EVENT:
        return BATCH_LOOP_FATAL;
    case FENCED_EVENT:
        return BATCH_LOOP_FENCED;
    case STOP:
        fake.stopping = true;
        return BATCH_LOOP_NONE;
    }
    return BATCH_LOOP_NONE;
}

static void fake_release(void *source, rd_kafka_message_t *m)
{
    cr_assert_eq(source, &fake);
    fake.released++;
    free(m);
}

static void fake_store(void *source, rd_kafka_message_t *const *msgs, size_t n)
{
    cr_assert_eq(source, &fake);
    cr_assert_eq(fake.store_calls, fake.apply_calls - 1, "stored before its batch was applied");
    cr_assert_eq(fake.apply_results[fake.apply_calls - 1], C_OK, "stored a batch not applied");
    fake.store_calls++;
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(fake.stored_len, MAX_EVENTS);
        fake.stored[fake.stored_len++] = msgs[i]->offset;
    }
}

static bool fake_joined(void *source)
{
    cr_assert_eq(source, &fake);
    return ++fake.joined_calls >= fake.joined_after;
}

static int fake_renew(void *source)
{
    cr_assert_eq(source, &fake);
    cr_assert_lt(fake.renew_calls, MAX_EVENTS);
    fake.renewed_at[fake.renew_calls++] = fake.now_ms;
    return fake.renew_result;
}

static int64_t fake_now_ms(void)
{
    return fake.now_ms;
}

static bool fake_stopping(void)
{
    return fake.stopping;
}

static void fake_request_stop(void)
{
    fake.stop_requests++;
    fake.stopping = true;
}

static void fake_sleep_ms(long ms)
{
    cr_assert_lt(fake.slept_len, MAX_EVENTS);
    fake.slept[fake.slept_len++] = ms;
    fake.now_ms += ms;
    if (fake.stop_in_sleep)
        fake.stopping = true;
}

static const struct batch_loop_io io = {
    .source = &fake,
    .take = fake_take,
    .release = fake_release,
    .store = fake_store,
    .joined = fake_joined,
    .renew = fake_renew,
    .now_ms = fake_now_ms,
    .stopping = fake_stopping,
    .request_stop = fake_request_stop,
    .sleep_ms = fake_sleep_ms,
};

static int fake_apply(void *ctx, rd_kafka_message_t *const *msgs, size_t n)
{
    cr_assert_eq(ctx, &fake);
    cr_assert_lt(fake.apply_calls, MAX_EVENTS);
    cr_assert_eq(fake.store_calls, fake.apply_calls, "the last batch was not stored first");
    fake.batch_sizes[fake.apply_calls] = n;
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(fake.applied_len, MAX_EVENTS);
        fake.applied[fake.applied_len++] = msgs[i]->offset;
    }
    return fake.apply_results[fake.apply_calls++];
}

static void script(const struct event *events, size_t n)
{
    fake.script = events;
    fake.script_len = n;
}

#define SCRIPT(...)                                                                                \
    do {                                                                                           \
        static const struct event events_[] = {__VA_ARGS__};                                       \
        script(events_, sizeof(events_) / sizeof(events_[0]));                                     \
    } while (0)

static rd_kafka_message_t *batch[MAX_EVENTS];

static void release_batch(size_t n)
{
    for (size_t i = 0; i < n; i++)
        fake_release(&fake, batch[i]);
}

static void check_every_record_released(void)
{
    cr_assert_eq(fake.released, fake.taken, "%d records taken, %d released", fake.taken,
                 fake.released);
    unit_leak_check();
}

TestSuite(batch_loop, .fini = check_every_record_released);

/* ---- taking a batch ---------------------------------------------------------------- */

Test(batch_loop, fill_waits_for_a_first_record_and_returns_nothing_without_one)
{
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 5};
    enum batch_loop_take failure = BATCH_LOOP_NONE;
    cr_assert_eq(batch_loop_fill(&io, &limits, batch, &failure), 0);
    cr_assert_eq(fake.takes, 1);
    cr_assert_eq(fake.timeouts[0], BATCH_LOOP_FIRST_WAIT_MS);
    cr_assert_eq(failure, BATCH_LOOP_NONE);
}

Test(batch_loop, fill_takes_what_arrives_within_the_window_after_the_first_record)
{
    SCRIPT({100, RECORD}, {103, RECORD}, {108, RECORD}, {112, RECORD});
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    enum batch_loop_take failure = BATCH_LOOP_NONE;
    size_t n = batch_loop_fill(&io, &limits, batch, &failure);
    cr_assert_eq(n, 3, "the record at 112 ms came after the window (100 + 10 ms)");
    cr_assert_eq(fake.timeouts[0], BATCH_LOOP_FIRST_WAIT_MS);
    cr_assert_eq(fake.timeouts[1], 10, "the window starts at the first record");
    cr_assert_eq(fake.timeouts[2], 7);
    cr_assert_eq(fake.now_ms, 110, "waited the window out, not longer");
    release_batch(n);
    n = batch_loop_fill(&io, &limits, batch, &failure);
    cr_assert_eq(n, 1);
    cr_assert_eq(batch[0]->offset, 3);
    release_batch(n);
}

Test(batch_loop, fill_takes_records_already_fetched_without_a_window)
{
    /* Records that came while the last batch was applied: one group commit. */
    SCRIPT({0, RECORD}, {0, RECORD}, {0, RECORD}, {1, RECORD});
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 0};
    enum batch_loop_take failure = BATCH_LOOP_NONE;
    size_t n = batch_loop_fill(&io, &limits, batch, &failure);
    cr_assert_eq(n, 3);
    cr_assert_eq(fake.timeouts[1], 0);
    cr_assert_eq(fake.now_ms, 0, "no wait for more");
    release_batch(n);
}

Test(batch_loop, fill_stops_at_batch_max)
{
    SCRIPT({0, RECORD}, {0, RECORD}, {0, RECORD}, {0, RECORD}, {0, RECORD}, {0, RECORD},
           {0, RECORD});
    struct batch_loop_limits limits = {.batch_max = 3, .batch_wait_ms = 50};
    enum batch_loop_take failure = BATCH_LOOP_NONE;
    size_t sizes[3];
    for (size_t i = 0; i < 3; i++) {
        sizes[i] = batch_loop_fill(&io, &limits, batch, &failure);
        release_batch(sizes[i]);
    }
    cr_assert_eq(sizes[0], 3);
    cr_assert_eq(sizes[1], 3);
    cr_assert_eq(sizes[2], 1);
}

Test(batch_loop, fill_drops_error_events_and_goes_on_filling)
{
    SCRIPT({0, ERROR_EVENT}, {1, RECORD}, {2, ERROR_EVENT}, {3, RECORD});
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 20};
    enum batch_loop_take failure = BATCH_LOOP_NONE;
    size_t n = batch_loop_fill(&io, &limits, batch, &failure);
    cr_assert_eq(n, 2);
    cr_assert_eq(batch[0]->offset, 0);
    cr_assert_eq(batch[1]->offset, 1);
    cr_assert_eq(failure, BATCH_LOOP_NONE);
    release_batch(n);
}

Test(batch_loop, stop_request_ends_the_filling_with_the_batch_in_hand)
{
    SCRIPT({0, RECORD}, {1, RECORD}, {2, STOP}, {3, RECORD});
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 20};
    enum batch_loop_take failure = BATCH_LOOP_NONE;
    size_t n = batch_loop_fill(&io, &limits, batch, &failure);
    cr_assert_eq(n, 2);
    cr_assert_eq(fake.takes, 3, "took nothing after the stop request");
    release_batch(n);
}

Test(batch_loop, fatal_error_ends_the_filling_and_keeps_what_was_taken)
{
    SCRIPT({0, RECORD}, {1, FATAL_EVENT}, {2, RECORD});
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 20};
    enum batch_loop_take failure = BATCH_LOOP_NONE;
    size_t n = batch_loop_fill(&io, &limits, batch, &failure);
    cr_assert_eq(n, 1);
    cr_assert_eq(failure, BATCH_LOOP_FATAL);
    release_batch(n);
}

/* ---- applying and storing ------------------------------------------------------------ */

Test(batch_loop, offsets_are_stored_after_each_batch_is_applied)
{
    SCRIPT({0, RECORD}, {1, RECORD}, {100, RECORD}, {101, RECORD}, {102, RECORD});
    fake.stop_when_dry = true;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.apply_calls, 2);
    cr_assert_eq(fake.batch_sizes[0], 2);
    cr_assert_eq(fake.batch_sizes[1], 3);
    cr_assert_eq(fake.store_calls, 2);
    cr_assert_eq(fake.stored_len, 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(fake.stored[i], (int64_t)i);
    cr_assert_eq(fake.stop_requests, 0);
}

Test(batch_loop, failed_apply_stores_nothing_and_stops_the_loop)
{
    SCRIPT({0, RECORD}, {1, RECORD}, {100, RECORD}, {101, RECORD}, {200, RECORD});
    fake.apply_results[1] = C_ERR;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.apply_calls, 2);
    cr_assert_eq(fake.store_calls, 1, "the batch not applied was stored");
    cr_assert_eq(fake.stored_len, 2);
    cr_assert_eq(fake.stop_requests, 1, "going on would store offsets past the batch");
    cr_assert_eq(fake.taken, 4, "took records after the failed batch");
}

Test(batch_loop, fatal_error_applies_the_batch_in_hand_then_ends_with_an_error)
{
    SCRIPT({0, RECORD}, {1, RECORD}, {2, FATAL_EVENT}, {3, RECORD});
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_ERR);
    cr_assert_eq(fake.apply_calls, 1);
    cr_assert_eq(fake.stored_len, 2);
    cr_assert_eq(fake.stop_requests, 1, "the whole service stops");
}

Test(batch_loop, stop_request_mid_batch_applies_and_stores_the_batch_in_hand)
{
    SCRIPT({0, RECORD}, {1, RECORD}, {2, STOP}, {3, RECORD});
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.apply_calls, 1);
    cr_assert_eq(fake.stored_len, 2);
    cr_assert_eq(fake.taken, 2, "took a record after the stop request");
}

Test(batch_loop, nothing_is_taken_once_a_stop_was_requested)
{
    SCRIPT({0, RECORD});
    fake.stopping = true;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.takes, 0);
    cr_assert_eq(fake.apply_calls, 0);
}

Test(batch_loop, empty_batches_are_not_applied)
{
    SCRIPT({2000, RECORD});
    fake.stop_when_dry = true;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.apply_calls, 1, "applied an empty batch");
    cr_assert_eq(fake.batch_sizes[0], 1);
}

Test(batch_loop, joined_is_asked_after_each_batch_until_it_says_so)
{
    SCRIPT({0, RECORD}, {1000, RECORD}, {2000, RECORD}, {3000, RECORD});
    fake.stop_when_dry = true;
    fake.joined_after = 3;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_gt(fake.takes, 4, "empty waits are batches too");
    cr_assert_eq(fake.joined_calls, 3);
}

/* ---- renewing a fenced source ---------------------------------------------------------- */

Test(batch_loop, fenced_source_applies_the_batch_in_hand_then_is_renewed_and_goes_on)
{
    SCRIPT({0, RECORD}, {1, RECORD}, {2, FENCED_EVENT}, {3000, RECORD});
    fake.stop_when_dry = true;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.stop_requests, 0, "a fence stopped the service");
    cr_assert_eq(fake.renew_calls, 1);
    cr_assert_eq(fake.slept_len, 1);
    cr_assert_eq(fake.slept[0], BATCH_LOOP_RENEW_MIN_MS, "renewed without a pause");
    cr_assert_eq(fake.renewed_at[0], 2 + BATCH_LOOP_RENEW_MIN_MS);
    cr_assert_eq(fake.apply_calls, 2);
    cr_assert_eq(fake.batch_sizes[0], 2, "the batch in hand was not applied");
    cr_assert_eq(fake.batch_sizes[1], 1, "nothing taken after the renewal");
    cr_assert_eq(fake.stored_len, 3);
    cr_assert_eq(fake.joined_calls, 2, "joined not asked again of the new source");
}

Test(batch_loop, fences_in_a_row_are_renewed_after_doubling_pauses_up_to_the_ceiling)
{
    SCRIPT({0, FENCED_EVENT}, {0, FENCED_EVENT}, {0, FENCED_EVENT}, {0, FENCED_EVENT},
           {0, FENCED_EVENT}, {0, FENCED_EVENT}, {0, FENCED_EVENT}, {0, FENCED_EVENT}, {0, RECORD});
    fake.stop_when_dry = true;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.renew_calls, 8);
    static const long want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
    cr_assert_eq(fake.slept_len, 8);
    for (size_t i = 0; i < 8; i++)
        cr_assert_eq(fake.slept[i], want[i], "pause %zu: %ld ms", i, fake.slept[i]);
    cr_assert_eq(fake.stop_requests, 0);
    cr_assert_eq(fake.applied_len, 1);
}

Test(batch_loop, a_fence_long_after_the_last_renewal_pauses_the_least_again)
{
    SCRIPT({0, FENCED_EVENT}, {0, FENCED_EVENT}, {0, FENCED_EVENT},
           {7000 + BATCH_LOOP_RENEW_QUIET_MS, FENCED_EVENT});
    fake.stop_when_dry = true;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.renew_calls, 4);
    cr_assert_eq(fake.slept[2], 4000);
    cr_assert_eq(fake.slept[3], BATCH_LOOP_RENEW_MIN_MS, "the pause kept growing: %ld ms",
                 fake.slept[3]);
}

Test(batch_loop, a_fence_close_to_the_last_renewal_keeps_the_pause_growing)
{
    SCRIPT({0, FENCED_EVENT}, {0, FENCED_EVENT}, {0, FENCED_EVENT},
           {BATCH_LOOP_RENEW_QUIET_MS, FENCED_EVENT});
    fake.stop_when_dry = true;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.renew_calls, 4);
    cr_assert_eq(fake.slept[3], 8000);
}

Test(batch_loop, a_source_that_cannot_be_renewed_ends_with_an_error)
{
    SCRIPT({0, RECORD}, {1, FENCED_EVENT}, {2, RECORD});
    fake.renew_result = C_ERR;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_ERR);
    cr_assert_eq(fake.renew_calls, 1);
    cr_assert_eq(fake.stored_len, 1, "the batch in hand was not stored");
    cr_assert_eq(fake.stop_requests, 1, "the whole service stops");
    cr_assert_eq(fake.taken, 1, "took a record after the failed renewal");
}

Test(batch_loop, a_fenced_source_without_renew_is_fatal)
{
    SCRIPT({0, RECORD}, {1, FENCED_EVENT}, {2, RECORD});
    struct batch_loop_io no_renew = io;
    no_renew.renew = NULL;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&no_renew, &limits, batch, fake_apply, &fake), C_ERR);
    cr_assert_eq(fake.slept_len, 0);
    cr_assert_eq(fake.stored_len, 1);
    cr_assert_eq(fake.stop_requests, 1);
}

Test(batch_loop, a_stop_during_the_renewal_pause_ends_the_loop_without_renewing)
{
    SCRIPT({0, RECORD}, {1, FENCED_EVENT}, {2, RECORD});
    fake.stop_in_sleep = true;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.renew_calls, 0);
    cr_assert_eq(fake.stop_requests, 0);
    cr_assert_eq(fake.taken, 1);
}

Test(batch_loop, a_fence_with_the_batch_in_hand_not_applied_stops_without_renewing)
{
    SCRIPT({0, RECORD}, {1, FENCED_EVENT}, {2, RECORD});
    fake.apply_results[0] = C_ERR;
    struct batch_loop_limits limits = {.batch_max = 10, .batch_wait_ms = 10};
    cr_assert_eq(batch_loop_run(&io, &limits, batch, fake_apply, &fake), C_OK);
    cr_assert_eq(fake.renew_calls, 0);
    cr_assert_eq(fake.stored_len, 0);
    cr_assert_eq(fake.stop_requests, 1);
}

/* ---- retrying an apply ---------------------------------------------------------------- */

static int attempts, failures_left;

static int flaky_attempt(void *ctx)
{
    cr_assert_eq(ctx, &fake);
    attempts++;
    if (failures_left > 0) {
        failures_left--;
        return C_ERR;
    }
    return C_OK;
}

static const char *fake_db_error(void *ctx)
{
    cr_assert_eq(ctx, &fake);
    return "connection refused";
}

Test(batch_loop, retry_succeeding_at_once_does_not_wait)
{
    cr_assert_eq(batch_loop_retry(&io, flaky_attempt, fake_db_error, &fake, "apply batch", 3),
                 C_OK);
    cr_assert_eq(attempts, 1);
    cr_assert_eq(fake.slept_len, 0);
}

Test(batch_loop, retry_backs_off_doubling_up_to_the_ceiling)
{
    failures_left = 8;
    cr_assert_eq(batch_loop_retry(&io, flaky_attempt, NULL, &fake, "apply batch", 3), C_OK);
    cr_assert_eq(attempts, 9);
    static const long expected[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    cr_assert_eq(fake.slept_len, 8);
    for (size_t i = 0; i < 8; i++)
        cr_assert_eq(fake.slept[i], expected[i], "wait %zu: %ld ms, expected %ld", i, fake.slept[i],
                     expected[i]);
}

static void sleep_then_stop(long ms)
{
    fake_sleep_ms(ms);
    if (fake.slept_len == 2)
        fake.stopping = true;
}

Test(batch_loop, retry_gives_up_after_a_failure_once_a_stop_was_requested)
{
    failures_left = 100;
    struct batch_loop_io stopping_io = io;
    stopping_io.sleep_ms = sleep_then_stop;
    cr_assert_eq(
        batch_loop_retry(&stopping_io, flaky_attempt, fake_db_error, &fake, "apply batch", 3),
        C_ERR);
    cr_assert_eq(attempts, 3, "one attempt after the stop request, then no more");
    cr_assert_eq(fake.slept_len, 2);
}

Test(batch_loop, retry_that_succeeds_after_a_stop_request_counts)
{
    failures_left = 2;
    struct batch_loop_io stopping_io = io;
    stopping_io.sleep_ms = sleep_then_stop;
    cr_assert_eq(batch_loop_retry(&stopping_io, flaky_attempt, NULL, &fake, "apply batch", 3),
                 C_OK);
    cr_assert_eq(attempts, 3);
}

/* ---- isolating a record that cannot be applied ------------------------------------ */

/* What each record does when applied: fails persistently, transiently a number of
 * times, or applies. */
static struct {
    bool poison[MAX_EVENTS];   /* by offset: always fails persistently */
    int transient[MAX_EVENTS]; /* by offset: fails transiently this many more times */
    int transient_batches;     /* the next attempts at more than one record fail transiently */
    int attempts;
    size_t attempt_sizes[MAX_EVENTS];
    int64_t applied[MAX_EVENTS]; /* offsets, in the order they were committed */
    size_t applied_len;
    int64_t parked[MAX_EVENTS];
    int parked_failures[MAX_EVENTS];
    size_t parked_len;
    int park_failures_left; /* the next parks fail */
} iso_fake;

static enum batch_loop_result iso_attempt(void *ctx, rd_kafka_message_t *const *msgs, size_t n)
{
    cr_assert_eq(ctx, &iso_fake);
    cr_assert_lt(iso_fake.attempts, MAX_EVENTS);
    iso_fake.attempt_sizes[iso_fake.attempts++] = n;
    if (n > 1 && iso_fake.transient_batches > 0) {
        iso_fake.transient_batches--;
        return BATCH_LOOP_TRANSIENT;
    }
    /* All or nothing, like a transaction. */
    for (size_t i = 0; i < n; i++) {
        if (iso_fake.poison[msgs[i]->offset])
            return BATCH_LOOP_PERSISTENT;
        if (iso_fake.transient[msgs[i]->offset] > 0) {
            iso_fake.transient[msgs[i]->offset]--;
            return BATCH_LOOP_TRANSIENT;
        }
    }
    for (size_t i = 0; i < n; i++)
        iso_fake.applied[iso_fake.applied_len++] = msgs[i]->offset;
    return BATCH_LOOP_APPLIED;
}

static int iso_park(void *ctx, const rd_kafka_message_t *m, const char *error, int failures)
{
    cr_assert_eq(ctx, &iso_fake);
    cr_assert_str_eq(error, "boom");
    if (iso_fake.park_failures_left > 0) {
        iso_fake.park_failures_left--;
        return C_ERR;
    }
    iso_fake.parked_failures[iso_fake.parked_len] = failures;
    iso_fake.parked[iso_fake.parked_len++] = m->offset;
    return C_OK;
}

static const char *iso_error(void *ctx)
{
    (void)ctx;
    return "boom";
}

static const struct batch_loop_isolation isolation = {.attempt = iso_attempt,
                                                      .park = iso_park,
                                                      .error = iso_error,
                                                      .dead_letter_after = 3,
                                                      .what = "apply test records"};

/* n records at offsets 0..n-1 in batch. */
static void iso_batch(size_t n)
{
    memset(&iso_fake, 0, sizeof(iso_fake));
    for (size_t i = 0; i < n; i++) {
        batch[i] = calloc(1, sizeof(rd_kafka_message_t));
        cr_assert_not_null(batch[i]);
        batch[i]->offset = (int64_t)i;
        fake.taken++;
    }
}

Test(batch_loop, a_batch_that_applies_is_one_attempt)
{
    iso_batch(4);
    cr_assert_eq(batch_loop_apply_isolating(&io, &isolation, &iso_fake, batch, 4), C_OK);
    cr_assert_eq(iso_fake.attempts, 1);
    cr_assert_eq(iso_fake.applied_len, 4);
    cr_assert_eq(iso_fake.parked_len, 0);
    cr_assert_eq(fake.slept_len, 0);
    release_batch(4);
}

Test(batch_loop, a_poison_record_is_parked_after_n_failures_and_the_others_apply_in_order)
{
    iso_batch(5);
    iso_fake.poison[2] = true;
    cr_assert_eq(batch_loop_apply_isolating(&io, &isolation, &iso_fake, batch, 5), C_OK);
    /* The batch once, then each record alone, the poison one dead_letter_after times. */
    cr_assert_eq(iso_fake.attempt_sizes[0], 5);
    cr_assert_eq(iso_fake.attempts, 1 + 4 + 3);
    cr_assert_eq(iso_fake.applied_len, 4);
    const int64_t order[] = {0, 1, 3, 4};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(iso_fake.applied[i], order[i]);
    cr_assert_eq(iso_fake.parked_len, 1);
    cr_assert_eq(iso_fake.parked[0], 2);
    cr_assert_eq(iso_fake.parked_failures[0], 3);
    /* Paused between its failures, not after the last. */
    cr_assert_eq(fake.slept_len, 2);
    release_batch(5);
}

Test(batch_loop, transient_failures_are_waited_out_and_park_nothing)
{
    iso_batch(3);
    iso_fake.transient_batches = 20; /* far more than dead_letter_after */
    cr_assert_eq(batch_loop_apply_isolating(&io, &isolation, &iso_fake, batch, 3), C_OK);
    cr_assert_eq(iso_fake.attempts, 21);
    cr_assert_eq(iso_fake.applied_len, 3);
    cr_assert_eq(iso_fake.parked_len, 0);
    cr_assert_eq(fake.slept_len, 20);
    /* Backing off to the cap. */
    cr_assert_eq(fake.slept[0], BATCH_LOOP_RETRY_MIN_MS);
    cr_assert_eq(fake.slept[19], BATCH_LOOP_RETRY_MAX_MS);
    release_batch(3);
}

Test(batch_loop, a_record_alone_failing_transiently_is_not_counted_towards_its_park)
{
    iso_batch(2);
    iso_fake.poison[0] = true;
    iso_fake.transient[1] = 10;
    cr_assert_eq(batch_loop_apply_isolating(&io, &isolation, &iso_fake, batch, 2), C_OK);
    cr_assert_eq(iso_fake.parked_len, 1);
    cr_assert_eq(iso_fake.parked[0], 0);
    cr_assert_eq(iso_fake.applied_len, 1);
    cr_assert_eq(iso_fake.applied[0], 1);
    release_batch(2);
}

Test(batch_loop, a_failed_park_is_retried_until_it_commits)
{
    iso_batch(1);
    iso_fake.poison[0] = true;
    iso_fake.park_failures_left = 2;
    cr_assert_eq(batch_loop_apply_isolating(&io, &isolation, &iso_fake, batch, 1), C_OK);
    cr_assert_eq(iso_fake.attempts, 3);
    cr_assert_eq(iso_fake.parked_len, 1);
    release_batch(1);
}

Test(batch_loop, a_stop_while_isolating_leaves_the_batch_to_be_redelivered)
{
    iso_batch(3);
    iso_fake.poison[1] = true;
    fake.stop_in_sleep = true;
    cr_assert_eq(batch_loop_apply_isolating(&io, &isolation, &iso_fake, batch, 3), C_ERR);
    cr_assert_eq(iso_fake.parked_len, 0);
    cr_assert_eq(iso_fake.applied_len, 1); /* the record before it, idempotently */
    release_batch(3);
}
