/* The create pipeline's state machine without libmicrohttpd, Kafka or
 * PostgreSQL: every order of delivery report, commit notification and
 * deadline, failed deliveries, several commands on one session, and that each
 * command is answered exactly once, never before its delivery report. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/uuid.h"
#include "../../../gateway/inflight.h"
#include "../leak_check.h"

#define SESSION_A "0190a6e4-6b2c-7d3e-8f41-00000000000a"
#define SESSION_B "0190a6e4-6b2c-7d3e-8f41-00000000000b"
#define SESSION_C "0190a6e4-6b2c-7d3e-8f41-00000000000c"
#define WAIT_US 2000000
#define MAX_DECISIONS 8

/* A command as a handler would own it, with a scripted decide hook. */
struct fake {
    struct inflight_command command;
    char session_id[UUID_STR_LEN + 1]; /* room for a test's longer id */
    /* What decide answers, call after call (the last one repeats; none: 0). */
    unsigned answers[MAX_DECISIONS];
    size_t answers_len;
    /* Instead, when set: what decide answers for each reason. */
    bool by_reason;
    unsigned answer_for[INFLIGHT_DEADLINE + 1];
    enum inflight_reason reasons[MAX_DECISIONS];
    int decided;
    int resumed;
    /* Something that happens on another thread while decide runs (once). */
    void (*meanwhile)(struct fake *f);
};

static struct inflight table;
static int64_t now_us;
static int listener_ctx; /* stands for the listener's database connection */

static struct fake *fake_of(struct inflight_command *c)
{
    return (struct fake *)(void *)((char *)c - offsetof(struct fake, command));
}

static unsigned fake_decide(struct inflight_command *c, enum inflight_reason why, void *ctx)
{
    struct fake *f = fake_of(c);
    cr_assert_eq(ctx, &listener_ctx, "decide gets the listener's context");
    cr_assert(c->deciding, "decided while not marked deciding");
    cr_assert_eq(f->resumed, 0, "asked to decide after being answered");
    cr_assert_lt(f->decided, MAX_DECISIONS);
    f->reasons[f->decided] = why;
    size_t i = (size_t)f->decided < f->answers_len ? (size_t)f->decided : f->answers_len - 1;
    f->decided++;
    if (f->meanwhile != NULL) {
        void (*meanwhile)(struct fake *) = f->meanwhile;
        f->meanwhile = NULL;
        meanwhile(f);
    }
    if (f->by_reason)
        return f->answer_for[why];
    return f->answers_len > 0 ? f->answers[i] : 0;
}

static void fake_resume(struct inflight_command *c)
{
    struct fake *f = fake_of(c);
    cr_assert(c->resolved, "resumed without an answer");
    cr_assert(c->delivered || c->delivery_failed || c->unavailable,
              "resumed before the delivery report");
    f->resumed++;
    cr_assert_eq(f->resumed, 1, "resumed twice");
}

static void setup(void)
{
    struct inflight_hooks hooks = {.decide = fake_decide, .resume = fake_resume};
    inflight_init(&table, &hooks, WAIT_US);
    now_us = 1000000;
}

static void teardown(void)
{
    inflight_destroy(&table);
    unit_leak_check();
}

TestSuite(inflight, .init = setup, .fini = teardown);

/* A command for session answering answers[] in turn (none: always 0). */
static void add(struct fake *f, const char *session, const unsigned *answers, size_t n)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->session_id, sizeof(f->session_id), "%s", session);
    if (n > 0)
        memcpy(f->answers, answers, n * sizeof(*answers));
    f->answers_len = n;
    inflight_add(&table, &f->command, f->session_id);
}

static void deliver(struct fake *f, bool ok)
{
    inflight_delivered(&table, &f->command, ok, now_us);
}

static void notify(const char *payload)
{
    inflight_notified(&table, payload, '+', ':', &listener_ctx);
}

/* Lets us of monotonic time pass, then runs the listener's deadline scan. */
static void pass(int64_t us)
{
    now_us += us;
    inflight_expire(&table, now_us, &listener_ctx);
}

static void assert_answered(const struct fake *f, unsigned status)
{
    cr_assert_eq(f->resumed, 1, "answered %d times, expected once", f->resumed);
    cr_assert_eq(f->command.status, status, "answered %u, expected %u", f->command.status, status);
}

static void assert_waiting(const struct fake *f)
{
    cr_assert_eq(f->resumed, 0, "answered %u already", f->command.status);
}

/* ---- the usual orders ---------------------------------------------------------- */

Test(inflight, notification_after_the_delivery_report_answers_with_the_decision)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    cr_assert_eq(inflight_count(&table), 1);
    deliver(&f, true);
    assert_waiting(&f);
    notify(SESSION_A);
    assert_answered(&f, 201);
    cr_assert_eq(f.decided, 1);
    cr_assert_eq(f.reasons[0], INFLIGHT_APPLIED);
    cr_assert_not(f.command.unavailable);
    cr_assert_eq(inflight_count(&table), 0);
}

Test(inflight, inserted_mark_tells_decide_the_batch_inserted_the_row)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    deliver(&f, true);
    notify("+" SESSION_A);
    assert_answered(&f, 201);
    cr_assert_eq(f.reasons[0], INFLIGHT_INSERTED);
}

/* A keyed create's id is derived from its key, so a retry waits on the same
 * session: only the command the notification names inserted the row. */
Test(inflight, inserted_row_is_a_keyed_commands_own_only_when_the_notification_names_it)
{
    struct fake mine, retry;
    add(&mine, SESSION_A, (unsigned[]){201}, 1);
    mine.command.command_id = "cmd-1";
    add(&retry, SESSION_A, (unsigned[]){200}, 1);
    retry.command.command_id = "cmd-2";
    deliver(&mine, true);
    deliver(&retry, true);
    notify("+" SESSION_A ":cmd-1");
    assert_answered(&mine, 201);
    assert_answered(&retry, 200);
    cr_assert_eq(mine.reasons[0], INFLIGHT_INSERTED);
    cr_assert_eq(retry.reasons[0], INFLIGHT_APPLIED);
}

Test(inflight, inserted_row_without_a_named_command_is_only_applied_for_a_keyed_command)
{
    struct fake keyed, plain;
    add(&keyed, SESSION_A, (unsigned[]){200}, 1);
    keyed.command.command_id = "cmd-1";
    add(&plain, SESSION_B, (unsigned[]){201}, 1);
    deliver(&keyed, true);
    deliver(&plain, true);
    /* Several creates of A in the batch: none named; B's command has no id. */
    notify("+" SESSION_A ",+" SESSION_B ":cmd-9");
    assert_answered(&keyed, 200);
    assert_answered(&plain, 201);
    cr_assert_eq(keyed.reasons[0], INFLIGHT_APPLIED);
    cr_assert_eq(plain.reasons[0], INFLIGHT_INSERTED);
}

Test(inflight, decision_before_the_delivery_report_is_answered_when_the_report_comes)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    notify("+" SESSION_A);
    cr_assert_eq(f.decided, 1);
    assert_waiting(&f);
    cr_assert_eq(inflight_count(&table), 1, "still in flight until its report");
    deliver(&f, true);
    assert_answered(&f, 201);
    cr_assert_eq(inflight_count(&table), 0);
}

Test(inflight, decided_command_is_not_asked_again_before_its_report)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201, 409}, 2);
    notify(SESSION_A);
    notify(SESSION_A);
    pass(10 * WAIT_US);
    cr_assert_eq(f.decided, 1);
    deliver(&f, true);
    assert_answered(&f, 201);
}

Test(inflight, undecided_notification_keeps_waiting_and_the_deadline_answers_202)
{
    struct fake f;
    add(&f, SESSION_A, NULL, 0); /* decide never knows */
    deliver(&f, true);
    notify(SESSION_A);
    cr_assert_eq(f.decided, 1);
    assert_waiting(&f);
    pass(WAIT_US);
    assert_answered(&f, 202);
    cr_assert_eq(f.decided, 2);
    cr_assert_eq(f.reasons[1], INFLIGHT_DEADLINE);
}

Test(inflight, deadline_answers_what_the_last_look_finds)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    deliver(&f, true);
    pass(WAIT_US);
    assert_answered(&f, 201);
    cr_assert_eq(f.reasons[0], INFLIGHT_DEADLINE);
}

Test(inflight, wait_counts_from_the_delivery_report)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    pass(10 * WAIT_US); /* Kafka is slow: no deadline before the report */
    cr_assert_eq(f.decided, 0);
    deliver(&f, true);
    pass(WAIT_US - 1);
    cr_assert_eq(f.decided, 0, "decided before its wait ran out");
    pass(INFLIGHT_EXPIRE_SCAN_US);
    assert_answered(&f, 201);
}

Test(inflight, deadlines_are_looked_for_at_most_once_per_scan_interval)
{
    struct fake f, g;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    add(&g, SESSION_B, (unsigned[]){201}, 1);
    deliver(&f, true);
    pass(WAIT_US); /* scans: f is due */
    assert_answered(&f, 201);
    now_us -= WAIT_US; /* g delivered at the same time as f... */
    deliver(&g, true);
    now_us += WAIT_US;
    pass(INFLIGHT_EXPIRE_SCAN_US - 1); /* ...but the last scan was just now */
    assert_waiting(&g);
    pass(1);
    assert_answered(&g, 201);
}

/* Every order of delivery report (D), notification (N) and deadline (T), with
 * a decide that knows from the notification (201) and one that does not (0),
 * and whose last look at the deadline finds nothing (202). A last deadline
 * settles what is still waiting. */
Test(inflight, every_order_of_report_notification_and_deadline_answers_once)
{
    static const struct {
        const char *events;
        unsigned knows, dunno; /* the answer when the notification decides, or not */
    } orders[] = {
        {"DNT", 201, 202}, {"DTN", 202, 202}, /* the deadline came first */
        {"NDT", 201, 202}, {"NTD", 201, 202}, {"TDN", 201, 202}, {"TND", 201, 202},
    };
    for (size_t o = 0; o < sizeof(orders) / sizeof(orders[0]); o++) {
        for (unsigned applied = 0; applied <= 201; applied += 201) {
            struct fake f;
            add(&f, SESSION_A, NULL, 0);
            f.by_reason = true;
            f.answer_for[INFLIGHT_APPLIED] = applied;
            for (const char *e = orders[o].events; *e != '\0'; e++) {
                if (*e == 'D')
                    deliver(&f, true);
                else if (*e == 'N')
                    notify(SESSION_A);
                else
                    pass(WAIT_US + INFLIGHT_EXPIRE_SCAN_US);
            }
            pass(WAIT_US + INFLIGHT_EXPIRE_SCAN_US);
            unsigned expected = applied != 0 ? orders[o].knows : orders[o].dunno;
            cr_assert_eq(f.resumed, 1, "order %s, decide %u: answered %d times", orders[o].events,
                         applied, f.resumed);
            cr_assert_eq(f.command.status, expected, "order %s, decide %u: answered %u, not %u",
                         orders[o].events, applied, f.command.status, expected);
            cr_assert_eq(inflight_count(&table), 0);
        }
    }
}

/* ---- Kafka's delivery report says no ---------------------------------------------- */

Test(inflight, failed_delivery_before_any_decision_answers_503)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    deliver(&f, false);
    assert_answered(&f, 503);
    cr_assert(f.command.unavailable);
    cr_assert_eq(f.decided, 0);
    notify(SESSION_A); /* the worker got it anyway: too late, nobody waits */
    pass(10 * WAIT_US);
    cr_assert_eq(f.decided, 0);
    cr_assert_eq(inflight_count(&table), 0);
}

Test(inflight, failed_delivery_after_a_decision_answers_the_decision)
{
    /* The worker applied it: the command did reach Kafka, whatever the report says. */
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    notify("+" SESSION_A);
    assert_waiting(&f);
    deliver(&f, false);
    assert_answered(&f, 201);
    cr_assert_not(f.command.unavailable);
}

static void meanwhile_delivery_fails(struct fake *f)
{
    deliver(f, false);
    assert_waiting(f); /* its decider answers */
}

static void meanwhile_delivered(struct fake *f)
{
    deliver(f, true);
    assert_waiting(f);
}

Test(inflight, failed_delivery_during_a_decision_answers_the_decision)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){409}, 1);
    f.meanwhile = meanwhile_delivery_fails;
    notify(SESSION_A);
    assert_answered(&f, 409);
    cr_assert_not(f.command.unavailable);
}

Test(inflight, failed_delivery_during_an_undecided_look_answers_503)
{
    struct fake f;
    add(&f, SESSION_A, NULL, 0);
    f.meanwhile = meanwhile_delivery_fails;
    notify(SESSION_A);
    assert_answered(&f, 503);
    cr_assert(f.command.unavailable);
}

Test(inflight, delivery_during_a_decision_is_answered_by_the_decider)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    f.meanwhile = meanwhile_delivered;
    notify(SESSION_A);
    assert_answered(&f, 201);
}

Test(inflight, delivery_during_an_undecided_look_starts_the_wait)
{
    struct fake f;
    add(&f, SESSION_A, NULL, 0);
    f.meanwhile = meanwhile_delivered;
    notify(SESSION_A);
    assert_waiting(&f);
    pass(WAIT_US);
    assert_answered(&f, 202);
}

Test(inflight, command_kafka_refused_at_once_answers_503)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    inflight_refused(&table, &f.command);
    assert_answered(&f, 503);
    cr_assert(f.command.unavailable);
    cr_assert_eq(inflight_count(&table), 0);
    notify(SESSION_A);
    cr_assert_eq(f.decided, 0);
}

/* ---- notifications ------------------------------------------------------------- */

Test(inflight, notification_for_an_unknown_session_changes_nothing)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    deliver(&f, true);
    notify(SESSION_B);
    notify("+" SESSION_C);
    notify("");
    notify(",+,,");
    cr_assert_eq(f.decided, 0);
    assert_waiting(&f);
    cr_assert_eq(inflight_count(&table), 1);
}

Test(inflight, session_ids_match_whole_never_by_prefix)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    deliver(&f, true);
    char shorter[UUID_STR_LEN];
    snprintf(shorter, sizeof(shorter), "%.35s", SESSION_A);
    notify(shorter);
    notify(SESSION_A "0");
    notify("+" SESSION_A "0," SESSION_B);
    cr_assert_eq(f.decided, 0);
    notify(SESSION_B "," SESSION_A);
    assert_answered(&f, 201);
}

/* These two ids share a bucket of the table (found offline for its hash). */
#define BUCKET_MATE "0190a6e4-6b2c-7d3e-8f41-000000000008"
#define BUCKET_MATE_LONGER BUCKET_MATE "@"

Test(inflight, session_ids_match_whole_even_in_one_bucket)
{
    struct fake longer, shorter;
    add(&longer, BUCKET_MATE_LONGER, (unsigned[]){201}, 1);
    add(&shorter, BUCKET_MATE, (unsigned[]){201}, 1);
    deliver(&longer, true);
    deliver(&shorter, true);
    notify(BUCKET_MATE);
    assert_answered(&shorter, 201);
    assert_waiting(&longer);
    cr_assert_eq(longer.decided, 0);
    notify(BUCKET_MATE_LONGER);
    assert_answered(&longer, 201);
}

Test(inflight, one_notification_decides_every_session_it_names)
{
    struct fake a, b, c;
    add(&a, SESSION_A, (unsigned[]){201}, 1);
    add(&b, SESSION_B, (unsigned[]){200}, 1);
    add(&c, SESSION_C, (unsigned[]){409}, 1);
    deliver(&a, true);
    deliver(&b, true);
    deliver(&c, true);
    notify("+" SESSION_A "," SESSION_B ",+" SESSION_C);
    assert_answered(&a, 201);
    assert_answered(&b, 200);
    assert_answered(&c, 409);
    cr_assert_eq(a.reasons[0], INFLIGHT_INSERTED);
    cr_assert_eq(b.reasons[0], INFLIGHT_APPLIED);
    cr_assert_eq(c.reasons[0], INFLIGHT_INSERTED);
}

Test(inflight, replayed_notification_after_the_answer_does_nothing)
{
    /* Kafka redelivers a batch the worker applied: it notifies again. */
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    deliver(&f, true);
    notify("+" SESSION_A);
    notify("+" SESSION_A);
    notify(SESSION_A);
    assert_answered(&f, 201);
    cr_assert_eq(f.decided, 1);
}

Test(inflight, request_and_its_retry_on_one_session_are_each_answered_once)
{
    struct fake first, retry;
    add(&first, SESSION_A, (unsigned[]){201}, 1);
    add(&retry, SESSION_A, (unsigned[]){200}, 1);
    cr_assert_eq(inflight_count(&table), 2);
    deliver(&retry, true);
    notify(SESSION_A);
    assert_answered(&retry, 200);
    assert_waiting(&first); /* decided, waits for its own report */
    cr_assert_eq(first.decided, 1);
    deliver(&first, true);
    assert_answered(&first, 201);
    cr_assert_eq(inflight_count(&table), 0);
}

static void meanwhile_notified_again(struct fake *f)
{
    (void)f;
    notify(SESSION_A);
}

Test(inflight, notification_during_a_decision_does_not_decide_it_twice)
{
    struct fake f;
    add(&f, SESSION_A, (unsigned[]){201}, 1);
    deliver(&f, true);
    f.meanwhile = meanwhile_notified_again;
    notify(SESSION_A);
    cr_assert_eq(f.decided, 1);
    assert_answered(&f, 201);
}

/* ---- many, and shutdown ------------------------------------------------------------ */

Test(inflight, more_due_commands_than_one_scan_takes_are_all_answered)
{
    enum { N = INFLIGHT_CLAIM_PER_SCAN + 44 };
    static struct fake f[N];
    for (size_t i = 0; i < N; i++) {
        char id[UUID_STR_LEN];
        snprintf(id, sizeof(id), "0190a6e4-6b2c-7d3e-8f41-%012zx", i);
        add(&f[i], id, NULL, 0);
        deliver(&f[i], true);
    }
    cr_assert_eq(inflight_count(&table), N);
    pass(WAIT_US);
    cr_assert_eq(inflight_count(&table), N - INFLIGHT_CLAIM_PER_SCAN);
    pass(INFLIGHT_EXPIRE_SCAN_US);
    cr_assert_eq(inflight_count(&table), 0);
    for (size_t i = 0; i < N; i++)
        assert_answered(&f[i], 202);
}

/* What the gateway's shutdown waits for (pipeline_in_flight): every command
 * in flight, in whatever state, is answered by the events that still come
 * (reports, notifications, deadlines), exactly once, and the count drops to 0. */
Test(inflight, shutdown_sees_every_command_in_flight_until_each_is_answered)
{
    struct fake unreported, waiting, decided, deciding_fails;
    add(&unreported, SESSION_A, (unsigned[]){201}, 1);
    add(&waiting, SESSION_B, NULL, 0);
    add(&decided, SESSION_C, (unsigned[]){201}, 1);
    add(&deciding_fails, SESSION_C, (unsigned[]){409}, 1);
    deliver(&waiting, true);
    notify(SESSION_C); /* decides both commands of C before their reports */
    cr_assert_eq(inflight_count(&table), 4);

    pass(WAIT_US); /* waiting: the deadline answers */
    assert_answered(&waiting, 202);
    cr_assert_eq(inflight_count(&table), 3);
    deliver(&decided, true);
    deliver(&deciding_fails, false);
    deliver(&unreported, false); /* Kafka's timeout */
    cr_assert_eq(inflight_count(&table), 0);
    assert_answered(&decided, 201);
    assert_answered(&deciding_fails, 409);
    assert_answered(&unreported, 503);
}
