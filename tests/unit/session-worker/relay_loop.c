/* The outbox relay's decisions against a fake outbox, lock and producer:
 * leadership (standby, lost connection), rounds bounded by the batch size,
 * publication in seq order, every delivery report awaited before marking,
 * the delivered prefix marked and the rest published again with backoff,
 * and the shutdown that gives up outstanding deliveries halfway through the
 * grace period. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "../../../session-worker/relay_loop.h"
#include "../leak_check.h"

#define MAX_ROWS 32
#define MAX_PRODUCED 128
#define POLL_MS 1000
#define GRACE_MS 10000

struct in_flight {
    struct relay_delivery *d;
    int64_t seq;
};

/* The world around the loop. */
static struct {
    /* the outbox: rows 1..rows, in seq order */
    size_t rows;
    bool published[MAX_ROWS + 1];
    int fetches;
    long fetch_limit;
    long fetch_max_bytes;
    int fetch_result;
    int marks;
    int mark_result;
    /* the connection and the lock */
    enum relay_lead lead;
    int lead_attempts;
    bool connected;
    unsigned long connects, lock_session;
    int disconnects;
    int waits;
    long wait_timeouts[64];
    int notify_at_wait; /* wait_rows hears a new row at this call (1-based) */
    int wait_result;
    /* the producer */
    int64_t produced[MAX_PRODUCED];
    size_t produced_len;
    struct in_flight in_flight[MAX_PRODUCED];
    size_t in_flight_len;
    int64_t refuse_seq;         /* produce refuses this row, once */
    int64_t fail_seq;           /* this row's delivery fails, once */
    bool fail_all_once;         /* every delivery of the next poll fails */
    bool hold_reports;          /* the broker does not answer (until purged) */
    bool one_report_last_first; /* one report per poll, the last produced first */
    bool purged;
    int polls, purges, producer_checks, flushes;
    /* the process */
    int64_t now_ms;
    int64_t stop_at_ms; /* SIGTERM at this time; 0: never */
    /* events that happen to the connection meanwhile */
    void (*on_poll)(void);
    void (*on_fetch)(void);
    void (*on_mark)(void);
} w;

static struct relay_loop loop;

static void reconnect_elsewhere(void)
{
    w.connects++; /* db_exec reconnected: a new session, without the lock */
}

static enum relay_lead fake_try_lead(void *ctx, struct error *err)
{
    cr_assert_eq(ctx, &w);
    w.lead_attempts++;
    if (w.lead == RELAY_LEAD_DB_DOWN)
        error_set(err, NULL, "connection refused");
    if (w.lead == RELAY_LEAD_ACQUIRED) {
        w.connected = true;
        w.lock_session = ++w.connects;
    }
    return w.lead;
}

static bool fake_same_session(void *ctx)
{
    cr_assert_eq(ctx, &w);
    return w.connected && w.connects == w.lock_session;
}

/* Every fake event's payload; the outbox's query keeps the prefix whose sizes
 * add up to max_bytes, and always the first row. */
#define FAKE_PAYLOAD "{\"type\":\"checkout.session.created\"}"
#define FAKE_PAYLOAD_LEN (sizeof(FAKE_PAYLOAD) - 1)

static int fake_fetch(void *ctx, long limit, long max_bytes, struct outbox_row **rows,
                      size_t *count)
{
    cr_assert_eq(ctx, &w);
    w.fetches++;
    w.fetch_limit = limit;
    w.fetch_max_bytes = max_bytes;
    if (w.on_fetch != NULL)
        w.on_fetch();
    if (w.fetch_result != C_OK)
        return C_ERR;
    struct outbox_row *out = calloc(MAX_ROWS, sizeof(*out));
    cr_assert_not_null(out);
    size_t n = 0;
    size_t bytes = 0;
    for (size_t seq = 1; seq <= w.rows && n < (size_t)limit; seq++) {
        if (w.published[seq])
            continue;
        if (n > 0 && bytes + FAKE_PAYLOAD_LEN > (size_t)max_bytes)
            break;
        bytes += FAKE_PAYLOAD_LEN;
        out[n].seq = (int64_t)seq;
        snprintf(out[n].id, sizeof(out[n].id), "0190a6e4-6b2c-7d3e-8f41-%012zx", seq);
        snprintf(out[n].subject_id, sizeof(out[n].subject_id), "0190a6e4-6b2c-7d3e-8f41-%012zx",
                 seq % 3);
        out[n].payload = strdup(FAKE_PAYLOAD);
        cr_assert_not_null(out[n].payload);
        out[n].payload_len = strlen(out[n].payload);
        n++;
    }
    if (n == 0) {
        free(out);
        out = NULL;
    }
    *rows = out;
    *count = n;
    return C_OK;
}

static int fake_mark(void *ctx, const struct outbox_row *rows, size_t count)
{
    cr_assert_eq(ctx, &w);
    cr_assert_eq(loop.pending, 0, "marked with %ld delivery reports outstanding", loop.pending);
    cr_assert_gt(count, 0);
    w.marks++;
    if (w.on_mark != NULL)
        w.on_mark();
    if (w.mark_result != C_OK)
        return C_ERR;
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            cr_assert_gt(rows[i].seq, rows[i - 1].seq);
        cr_assert_not(w.published[rows[i].seq], "row %ld marked twice", (long)rows[i].seq);
        w.published[rows[i].seq] = true;
    }
    return C_OK;
}

static int fake_wait_rows(void *ctx, long timeout_ms, int *received)
{
    cr_assert_eq(ctx, &w);
    cr_assert_leq(timeout_ms, RELAY_LOOP_WAIT_SLICE_MS);
    if (w.waits < 64)
        w.wait_timeouts[w.waits] = timeout_ms;
    w.waits++;
    w.now_ms += timeout_ms;
    *received = w.waits == w.notify_at_wait ? 1 : 0;
    return w.wait_result;
}

static void fake_disconnect(void *ctx)
{
    cr_assert_eq(ctx, &w);
    w.connected = false;
    w.disconnects++;
}

static rd_kafka_resp_err_t fake_produce(void *ctx, const struct outbox_row *row,
                                        struct relay_delivery *d)
{
    cr_assert_eq(ctx, &w);
    if (row->seq == w.refuse_seq) {
        w.refuse_seq = 0;
        return RD_KAFKA_RESP_ERR__QUEUE_FULL;
    }
    cr_assert_lt(w.produced_len, MAX_PRODUCED);
    w.produced[w.produced_len++] = row->seq;
    w.in_flight[w.in_flight_len++] = (struct in_flight){d, row->seq};
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void fake_report(size_t i)
{
    struct in_flight f = w.in_flight[i];
    memmove(&w.in_flight[i], &w.in_flight[i + 1], (w.in_flight_len - i - 1) * sizeof(f));
    w.in_flight_len--;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (w.purged)
        err = RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
    else if (w.fail_all_once)
        err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
    else if (f.seq == w.fail_seq)
        err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
    relay_loop_delivered(&loop, f.d, err);
}

/* Serves the reports that are in, or waits timeout_ms for none. */
static void fake_poll(void *ctx, int timeout_ms)
{
    cr_assert_eq(ctx, &w);
    cr_assert_geq(timeout_ms, 0);
    w.polls++;
    if (w.on_poll != NULL)
        w.on_poll();
    size_t served = 0;
    if (w.hold_reports && !w.purged) {
        /* the broker is silent */
    } else if (w.one_report_last_first) {
        if (w.in_flight_len > 0)
            fake_report(w.in_flight_len - 1);
        served = 1;
    } else {
        bool failed_some = false;
        while (w.in_flight_len > 0) {
            failed_some |= w.in_flight[0].seq == w.fail_seq || w.fail_all_once;
            fake_report(0);
            served++;
        }
        if (failed_some) {
            w.fail_seq = 0;
            w.fail_all_once = false;
        }
        w.purged = false;
    }
    if (served == 0)
        w.now_ms += timeout_ms;
}

static void fake_purge(void *ctx)
{
    cr_assert_eq(ctx, &w);
    w.purges++;
    w.purged = true;
}

static void fake_check_producer(void *ctx)
{
    cr_assert_eq(ctx, &w);
    w.producer_checks++;
}

static void fake_flush(void *ctx)
{
    cr_assert_eq(ctx, &w);
    w.flushes++;
}

static int64_t fake_now_ms(void)
{
    return w.now_ms;
}

static bool fake_stopping(void)
{
    return w.stop_at_ms != 0 && w.now_ms >= w.stop_at_ms;
}

static void setup(void)
{
    w.now_ms = 1000000;
    w.lead = RELAY_LEAD_ACQUIRED;
    struct relay_loop_io io = {
        .ctx = &w,
        .try_lead = fake_try_lead,
        .same_session = fake_same_session,
        .fetch = fake_fetch,
        .mark = fake_mark,
        .wait_rows = fake_wait_rows,
        .disconnect = fake_disconnect,
        .produce = fake_produce,
        .poll = fake_poll,
        .purge = fake_purge,
        .check_producer = fake_check_producer,
        .flush = fake_flush,
        .now_ms = fake_now_ms,
        .stopping = fake_stopping,
    };
    struct relay_loop_options opt = {
        .batch = 10, .batch_bytes = 1 << 20, .poll_ms = POLL_MS, .shutdown_grace_ms = GRACE_MS};
    relay_loop_init(&loop, &io, &opt);
}

TestSuite(relay_loop, .init = setup, .fini = unit_leak_check);

static void lead(void)
{
    relay_loop_step(&loop);
    cr_assert(loop.leader, "did not take the free lock");
}

static void assert_produced(const int64_t *seqs, size_t n)
{
    cr_assert_eq(w.produced_len, n, "%zu messages produced, expected %zu", w.produced_len, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(w.produced[i], seqs[i], "message %zu is row %ld, expected row %ld", i,
                     (long)w.produced[i], (long)seqs[i]);
}

static size_t published_count(void)
{
    size_t n = 0;
    for (size_t seq = 1; seq <= w.rows; seq++)
        n += w.published[seq];
    return n;
}

/* ---- leadership -------------------------------------------------------------------- */

Test(relay_loop, standby_tries_the_lock_again_every_poll_interval)
{
    w.lead = RELAY_LEAD_STANDBY;
    w.rows = 3;
    int64_t start = w.now_ms;
    relay_loop_step(&loop);
    cr_assert_not(loop.leader);
    cr_assert_eq(w.lead_attempts, 1);
    cr_assert_eq(w.now_ms - start, POLL_MS, "waited %ld ms", (long)(w.now_ms - start));
    relay_loop_step(&loop);
    cr_assert_eq(w.lead_attempts, 2);
    cr_assert_eq(w.fetches, 0, "a standby read the outbox");
    cr_assert_eq(w.produced_len, 0);
}

Test(relay_loop, unreachable_or_failing_database_leaves_it_standing_by)
{
    w.lead = RELAY_LEAD_DB_DOWN;
    relay_loop_step(&loop);
    relay_loop_step(&loop);
    cr_assert_not(loop.leader);
    w.lead = RELAY_LEAD_FAILED;
    relay_loop_step(&loop);
    cr_assert_not(loop.leader);
    cr_assert_eq(w.fetches, 0);
    w.lead = RELAY_LEAD_ACQUIRED;
    lead();
}

Test(relay_loop, standby_takes_over_once_the_lock_is_free)
{
    w.lead = RELAY_LEAD_STANDBY;
    w.rows = 2;
    relay_loop_step(&loop);
    w.lead = RELAY_LEAD_ACQUIRED; /* the leader died: its connection closed */
    lead();
    relay_loop_step(&loop);
    assert_produced((int64_t[]){1, 2}, 2);
    cr_assert_eq(published_count(), 2);
}

/* ---- rounds ---------------------------------------------------------------------------- */

Test(relay_loop, leader_publishes_pending_rows_in_seq_order_and_marks_them)
{
    w.rows = 5;
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    assert_produced((int64_t[]){1, 2, 3, 4, 5}, 5);
    cr_assert_eq(published_count(), 5);
    cr_assert_eq(w.marks, 1, "one mark per round");
    cr_assert_eq(relay_loop_round(&loop), RELAY_IDLE);
}

Test(relay_loop, a_round_stops_at_the_byte_budget)
{
    /* CAISSE_OUTBOX_BATCH_BYTES: room for two and a half events */
    loop.opt.batch_bytes = (long)(FAKE_PAYLOAD_LEN * 5 / 2);
    w.rows = 5;
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    cr_assert_eq(w.fetch_max_bytes, loop.opt.batch_bytes, "the budget goes to the fetch");
    assert_produced((int64_t[]){1, 2}, 2);
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    assert_produced((int64_t[]){1, 2, 3, 4, 5}, 5);
    cr_assert_eq(w.marks, 3);
    cr_assert_eq(relay_loop_round(&loop), RELAY_IDLE);
}

Test(relay_loop, an_event_larger_than_the_byte_budget_still_moves)
{
    loop.opt.batch_bytes = 1;
    w.rows = 2;
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    assert_produced((int64_t[]){1}, 1);
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    assert_produced((int64_t[]){1, 2}, 2);
    cr_assert_eq(relay_loop_round(&loop), RELAY_IDLE);
}

Test(relay_loop, a_round_takes_at_most_batch_rows)
{
    /* CAISSE_OUTBOX_BATCH */
    loop.opt.batch = 3;
    w.rows = 7;
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    cr_assert_eq(w.fetch_limit, 3);
    assert_produced((int64_t[]){1, 2, 3}, 3);
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    assert_produced((int64_t[]){1, 2, 3, 4, 5, 6, 7}, 7);
    cr_assert_eq(w.marks, 3);
    cr_assert_eq(relay_loop_round(&loop), RELAY_IDLE);
}

Test(relay_loop, every_delivery_report_is_awaited_before_any_row_is_marked)
{
    w.rows = 5;
    w.one_report_last_first = true; /* fake_mark asserts none is outstanding */
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    cr_assert_geq(w.polls, 5);
    cr_assert_eq(published_count(), 5);
}

Test(relay_loop, failed_delivery_marks_the_prefix_and_publishes_again_from_it)
{
    w.rows = 5;
    w.fail_seq = 3;
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_FAILED);
    cr_assert(w.published[1] && w.published[2]);
    cr_assert_not(w.published[3] || w.published[4] || w.published[5],
                  "a row after the failed one was marked: order would break");
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    /* Rows 4 and 5 twice: a duplicate with the same id, never a gap. */
    assert_produced((int64_t[]){1, 2, 3, 4, 5, 3, 4, 5}, 8);
    cr_assert_eq(published_count(), 5);
}

Test(relay_loop, unacknowledged_round_is_published_again_whole)
{
    w.rows = 3;
    w.fail_all_once = true;
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_FAILED);
    cr_assert_eq(w.marks, 0, "marked with no row delivered");
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    assert_produced((int64_t[]){1, 2, 3, 1, 2, 3}, 6);
    cr_assert_eq(published_count(), 3);
}

Test(relay_loop, refused_row_ends_the_round_before_anything_overtakes_it)
{
    w.rows = 4;
    w.refuse_seq = 2;
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_FAILED);
    assert_produced((int64_t[]){1}, 1);
    cr_assert(w.published[1]);
    cr_assert_eq(published_count(), 1);
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    assert_produced((int64_t[]){1, 2, 3, 4}, 4);
}

Test(relay_loop, failed_mark_keeps_the_lead_and_publishes_the_rows_again)
{
    w.rows = 2;
    w.mark_result = C_ERR;
    lead();
    cr_assert_eq(relay_loop_round(&loop), RELAY_FAILED);
    cr_assert(loop.leader);
    w.mark_result = C_OK;
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    assert_produced((int64_t[]){1, 2, 1, 2}, 4);
}

Test(relay_loop, producer_is_checked_after_every_round_that_produced)
{
    w.rows = 2;
    lead();
    relay_loop_round(&loop);
    relay_loop_round(&loop); /* idle */
    cr_assert_eq(w.producer_checks, 1);
}

/* Lets a step run and returns how long it waited (the fake clock). */
static int64_t step_duration(void)
{
    int64_t start = w.now_ms;
    relay_loop_step(&loop);
    return w.now_ms - start;
}

Test(relay_loop, failed_rounds_back_off_doubling_and_a_success_resets_it)
{
    w.rows = 1;
    lead();
    w.fetch_result = C_ERR;
    cr_assert_eq(step_duration(), 100);
    cr_assert_eq(step_duration(), 200);
    cr_assert_eq(step_duration(), 400);
    cr_assert(loop.leader, "a failed statement is no reason to step down");
    w.fetch_result = C_OK;
    cr_assert_eq(step_duration(), 0, "published at once");
    cr_assert(w.published[1]);
    w.fetch_result = C_ERR;
    cr_assert_eq(step_duration(), 100);
}

/* ---- losing the connection that holds the lock ---------------------------------------- */

Test(relay_loop, connection_lost_while_awaiting_reports_steps_down_without_marking)
{
    w.rows = 3;
    lead();
    w.on_poll = reconnect_elsewhere;
    cr_assert_eq(relay_loop_round(&loop), RELAY_FAILED);
    cr_assert_eq(w.marks, 0, "marked on a connection without the lock");
    cr_assert_not(loop.leader);
    cr_assert_eq(w.disconnects, 1, "the connection was not closed: the lock could linger");
    w.on_poll = NULL;
    lead();
    relay_loop_step(&loop);
    cr_assert_eq(published_count(), 3);
}

Test(relay_loop, rows_read_without_the_lock_are_not_published)
{
    w.rows = 3;
    lead();
    w.on_fetch = reconnect_elsewhere;
    cr_assert_eq(relay_loop_round(&loop), RELAY_FAILED);
    cr_assert_eq(w.produced_len, 0);
    cr_assert_not(loop.leader);
}

Test(relay_loop, broken_connection_is_not_read_from)
{
    w.rows = 3;
    lead();
    w.connected = false;
    cr_assert_eq(relay_loop_round(&loop), RELAY_FAILED);
    cr_assert_eq(w.fetches, 0);
    cr_assert_not(loop.leader);
}

Test(relay_loop, connection_lost_while_marking_steps_down)
{
    w.rows = 3;
    lead();
    w.on_mark = reconnect_elsewhere;
    cr_assert_eq(relay_loop_round(&loop), RELAY_FAILED);
    cr_assert_not(loop.leader);
}

Test(relay_loop, failed_round_that_lost_the_lead_does_not_back_off)
{
    w.rows = 3;
    lead();
    w.on_fetch = reconnect_elsewhere;
    cr_assert_eq(step_duration(), 0, "a standby does not wait a leader's backoff");
    w.on_fetch = NULL;
    cr_assert_eq(w.lead_attempts, 1);
    relay_loop_step(&loop);
    cr_assert_eq(w.lead_attempts, 2);
}

/* ---- idle --------------------------------------------------------------------------------- */

Test(relay_loop, idle_leader_waits_poll_ms_in_slices_for_new_rows)
{
    lead();
    cr_assert_eq(step_duration(), POLL_MS);
    cr_assert_eq(w.waits, POLL_MS / RELAY_LOOP_WAIT_SLICE_MS);
    cr_assert(loop.leader);
}

Test(relay_loop, notification_of_new_rows_ends_the_idle_wait)
{
    lead();
    w.notify_at_wait = 2;
    cr_assert_eq(step_duration(), 2 * RELAY_LOOP_WAIT_SLICE_MS);
    w.rows = 1;
    relay_loop_step(&loop);
    cr_assert(w.published[1]);
}

Test(relay_loop, connection_lost_while_idle_steps_down)
{
    lead();
    w.wait_result = C_ERR;
    relay_loop_step(&loop);
    cr_assert_not(loop.leader);
    cr_assert_eq(w.disconnects, 1);
}

/* ---- shutdown ----------------------------------------------------------------------------- */

Test(relay_loop, run_ends_at_once_when_stopping_and_releases_the_lead)
{
    w.stop_at_ms = w.now_ms;
    relay_loop_run(&loop);
    cr_assert_eq(w.lead_attempts, 0);
    cr_assert_eq(w.flushes, 1);
    cr_assert_eq(w.disconnects, 1, "the lock must go with the connection");
}

Test(relay_loop, shutdown_gives_up_outstanding_reports_halfway_through_the_grace)
{
    w.rows = 3;
    w.hold_reports = true;
    lead();
    int64_t stop = w.now_ms + 300;
    w.stop_at_ms = stop;
    relay_loop_run(&loop);
    cr_assert_eq(w.purges, 1);
    cr_assert_geq(w.now_ms - stop, GRACE_MS / 2, "purged before half the grace");
    cr_assert_lt(w.now_ms - stop, GRACE_MS / 2 + 1000, "waited long past half the grace");
    cr_assert_eq(w.marks, 0, "purged deliveries are not published");
    cr_assert_eq(loop.pending, 0);
    cr_assert_eq(w.flushes, 1);
    cr_assert_geq(w.disconnects, 1);
}

Test(relay_loop, shutdown_lets_a_round_in_flight_finish_when_reports_come)
{
    w.rows = 3;
    lead();
    w.stop_at_ms = w.now_ms; /* SIGTERM as the round starts */
    cr_assert_eq(relay_loop_round(&loop), RELAY_PUBLISHED);
    cr_assert_eq(w.purges, 0);
    cr_assert_eq(published_count(), 3);
}
