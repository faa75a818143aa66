/* Which held delivery is sent when: an endpoint never has more requests in
 * flight than its cap nor the worker more than max_in_flight, held
 * deliveries start in claim order as slots free, a delivery whose lease could
 * no longer cover a request is given back unsent, and everything can be
 * taken out for a give-back on shutdown. No network, no database, no clock:
 * the tests drive the scheduler with their own time and start step. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/result.h"
#include "../../../webhook-worker/scheduler.h"
#include "../leak_check.h"

TestSuite(scheduler, .fini = unit_leak_check);

/* The endpoint ids of the tests (any text will do; UUIDs in production). */
#define EP_A "0190a0a0-0000-7000-8000-00000000000a"
#define EP_B "0190a0a0-0000-7000-8000-00000000000b"
#define EP_C "0190a0a0-0000-7000-8000-00000000000c"
/* The tenants (organizations); hold() puts every job in the first. */
#define TENANT "0190a0a0-0000-7000-8000-0000000000f1"
#define TENANT_2 "0190a0a0-0000-7000-8000-0000000000f2"

#define LEASE_MS 7000
#define REQUEST_MS 2000

/* A delivery of the tests: the scheduler's item, its number in claim order
 * and its endpoint. */
struct job {
    struct scheduler_item item;
    int number;
    const char *endpoint;
};

#define JOBS_MAX 64

/* What the fake start step saw, and what it answers. */
struct run {
    struct job jobs[JOBS_MAX];
    int njobs;
    int started[JOBS_MAX]; /* job numbers, in start order */
    int nstarted;
    int fail_number; /* the start of this job fails at once; -1: none */
    int in_flight[3];
    int in_flight_max[3];
};

static int endpoint_index(const char *id)
{
    return strcmp(id, EP_A) == 0 ? 0 : strcmp(id, EP_B) == 0 ? 1 : 2;
}

static struct job *job_of(struct scheduler_item *item)
{
    return (struct job *)(void *)((char *)item - offsetof(struct job, item));
}

static int fake_start(void *arg, struct scheduler_item *item)
{
    struct run *r = arg;
    struct job *j = job_of(item);
    cr_assert_eq(item->state, SCHEDULER_OUT, "a job is started while the scheduler holds it");
    r->started[r->nstarted++] = j->number;
    if (j->number == r->fail_number)
        return C_ERR;
    int e = endpoint_index(j->endpoint);
    r->in_flight[e]++;
    if (r->in_flight[e] > r->in_flight_max[e])
        r->in_flight_max[e] = r->in_flight[e];
    return C_OK;
}

static void setup_shared(struct scheduler *s, struct run *r, long concurrency, long max_in_flight,
                         long tenant_max_in_flight)
{
    struct scheduler_limits l = {.endpoint_concurrency = concurrency,
                                 .max_in_flight = max_in_flight,
                                 .tenant_max_in_flight = tenant_max_in_flight,
                                 .lease_ms = LEASE_MS,
                                 .request_ms = REQUEST_MS};
    scheduler_init(s, &l);
    memset(r, 0, sizeof(*r));
    r->fail_number = -1;
}

/* One tenant may use every slot. */
static void setup(struct scheduler *s, struct run *r, long concurrency, long max_in_flight)
{
    setup_shared(s, r, concurrency, max_in_flight, max_in_flight);
}

/* Holds a new job of endpoint of tenant, claimed at claimed_ms. */
static struct job *hold_for(struct scheduler *s, struct run *r, const char *endpoint,
                            const char *tenant, int64_t claimed_ms)
{
    cr_assert_lt(r->njobs, JOBS_MAX);
    struct job *j = &r->jobs[r->njobs];
    j->number = r->njobs++;
    j->endpoint = endpoint;
    cr_assert_eq(scheduler_hold(s, &j->item, endpoint, tenant, claimed_ms), C_OK);
    cr_assert_eq(j->item.state, SCHEDULER_HELD);
    return j;
}

/* Holds a new job of endpoint (of TENANT), claimed at claimed_ms. */
static struct job *hold(struct scheduler *s, struct run *r, const char *endpoint,
                        int64_t claimed_ms)
{
    return hold_for(s, r, endpoint, TENANT, claimed_ms);
}

/* One pass of the loop at now_ms: returns what it gave back. */
static struct scheduler_item *pass(struct scheduler *s, struct run *r, int64_t now_ms, bool *refill)
{
    struct scheduler_item *give_back = NULL;
    bool ignored = false;
    scheduler_start_held(s, now_ms, fake_start, r, &give_back, refill != NULL ? refill : &ignored);
    return give_back;
}

static void finish(struct scheduler *s, struct run *r, struct job *j)
{
    cr_assert_eq(j->item.state, SCHEDULER_SENDING);
    scheduler_finished(s, &j->item);
    cr_assert_eq(j->item.state, SCHEDULER_OUT);
    r->in_flight[endpoint_index(j->endpoint)]--;
}

static int list_length(const struct scheduler_item *l)
{
    int n = 0;
    for (; l != NULL; l = l->next)
        n++;
    return n;
}

/* The scheduler holds nothing any more, and has forgotten every endpoint. */
static void assert_empty(struct scheduler *s)
{
    cr_assert_eq(s->sending, 0);
    cr_assert_eq(s->held, 0);
    json_t *m = scheduler_held_by_endpoint(s);
    cr_assert_not_null(m);
    cr_assert_eq(json_object_size(m), 0, "endpoints still known: %zu", json_object_size(m));
    json_decref(m);
    scheduler_destroy(s);
}

Test(scheduler, an_endpoint_never_has_more_requests_in_flight_than_its_cap)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 4, 256);
    for (int i = 0; i < 24; i++)
        hold(&s, &r, EP_A, 0);
    cr_assert_null(pass(&s, &r, 0, NULL));
    cr_assert_eq(r.nstarted, 4);
    cr_assert_eq(s.sending, 4);
    cr_assert_eq(s.held, 20);
    /* Another pass with no slot freed starts nothing. */
    pass(&s, &r, 1, NULL);
    cr_assert_eq(r.nstarted, 4);
    /* Finish the oldest request each time: the cap is reached again, never
     * passed, until the backlog is sent. */
    int next_to_finish = 0;
    while (r.nstarted < 24 || s.sending > 0) {
        finish(&s, &r, &r.jobs[r.started[next_to_finish++]]);
        pass(&s, &r, 2, NULL);
        cr_assert_leq(s.sending, 4);
    }
    cr_assert_eq(r.in_flight_max[0], 4);
    cr_assert_eq(r.nstarted, 24);
    assert_empty(&s);
}

Test(scheduler, the_worker_never_has_more_requests_in_flight_than_max_in_flight)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 4, 6);
    for (int i = 0; i < 5; i++) {
        hold(&s, &r, EP_A, 0);
        hold(&s, &r, EP_B, 0);
        hold(&s, &r, EP_C, 0);
    }
    pass(&s, &r, 0, NULL);
    cr_assert_eq(s.sending, 6);
    cr_assert_eq(r.nstarted, 6);
    cr_assert_eq(s.held, 9);
    /* One freed slot starts exactly one more. */
    finish(&s, &r, &r.jobs[r.started[0]]);
    pass(&s, &r, 1, NULL);
    cr_assert_eq(s.sending, 6);
    cr_assert_eq(r.nstarted, 7);
    for (int e = 0; e < 3; e++)
        cr_assert_leq(r.in_flight_max[e], 4);
    struct scheduler_item *sending = scheduler_take_sending(&s);
    struct scheduler_item *held = scheduler_take_held(&s);
    cr_assert_eq(list_length(sending), 6);
    cr_assert_eq(list_length(held), 8);
    assert_empty(&s);
}

Test(scheduler, held_deliveries_start_in_claim_order_as_slots_free)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 2, 256);
    for (int i = 0; i < 6; i++)
        hold(&s, &r, EP_A, 0);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(r.nstarted, 2);
    cr_assert_eq(r.started[0], 0);
    cr_assert_eq(r.started[1], 1);
    /* The later request finishing first frees a slot all the same. */
    finish(&s, &r, &r.jobs[1]);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(r.nstarted, 3);
    cr_assert_eq(r.started[2], 2);
    finish(&s, &r, &r.jobs[0]);
    finish(&s, &r, &r.jobs[2]);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(r.nstarted, 5);
    cr_assert_eq(r.started[3], 3);
    cr_assert_eq(r.started[4], 4);
    finish(&s, &r, &r.jobs[3]);
    finish(&s, &r, &r.jobs[4]);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(r.started[5], 5);
    finish(&s, &r, &r.jobs[5]);
    assert_empty(&s);
}

Test(scheduler, one_endpoints_backlog_does_not_take_another_endpoints_slots)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 2, 4);
    for (int i = 0; i < 10; i++)
        hold(&s, &r, EP_A, 0);
    struct job *b = hold(&s, &r, EP_B, 0);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(s.sending, 3);
    cr_assert_eq(r.in_flight[0], 2);
    cr_assert_eq(r.in_flight[1], 1);
    cr_assert_eq(b->item.state, SCHEDULER_SENDING);
    scheduler_take_sending(&s);
    scheduler_take_held(&s);
    assert_empty(&s);
}

Test(scheduler, a_lease_covers_a_request_plus_the_margin_or_the_delivery_does_not_start)
{
    struct scheduler_limits l = {.endpoint_concurrency = 1,
                                 .max_in_flight = 1,
                                 .lease_ms = LEASE_MS,
                                 .request_ms = REQUEST_MS};
    /* 7 s lease - 2 s request - 2 s margin: 3 s after the claim at most. */
    cr_assert(scheduler_lease_covers(&l, 1000, 1000));
    cr_assert(scheduler_lease_covers(&l, 1000, 4000));
    cr_assert_not(scheduler_lease_covers(&l, 1000, 4001));
    cr_assert_not(scheduler_lease_covers(&l, 1000, 60000));
}

Test(scheduler, a_held_delivery_whose_lease_cannot_cover_a_request_is_given_back_unsent)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 1, 256);
    struct job *first = hold(&s, &r, EP_A, 0);
    struct job *old = hold(&s, &r, EP_A, 0);
    struct job *fresh = hold(&s, &r, EP_A, 2000);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(first->item.state, SCHEDULER_SENDING);
    finish(&s, &r, first);
    /* 3001 ms after its claim, old's lease would end within a request and
     * the margin: it goes back unsent and the next one starts instead, in the
     * same pass. */
    bool refill = false;
    struct scheduler_item *back = pass(&s, &r, 3001, &refill);
    cr_assert_eq(back, &old->item);
    cr_assert_null(back->next);
    cr_assert_eq(old->item.state, SCHEDULER_OUT);
    cr_assert_null(old->item.endpoint);
    cr_assert(refill, "a give-back calls for a new claim");
    cr_assert_eq(r.nstarted, 2);
    cr_assert_eq(r.started[1], fresh->number, "the stale delivery was started");
    cr_assert_eq(s.held, 0);
    finish(&s, &r, fresh);
    assert_empty(&s);
}

Test(scheduler, a_start_that_fails_at_once_frees_its_slot_for_the_next_held_delivery)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 1, 256);
    struct job *bad = hold(&s, &r, EP_A, 0);
    struct job *good = hold(&s, &r, EP_A, 0);
    r.fail_number = bad->number;
    pass(&s, &r, 0, NULL);
    cr_assert_eq(r.nstarted, 2);
    cr_assert_eq(bad->item.state, SCHEDULER_OUT);
    cr_assert_eq(good->item.state, SCHEDULER_SENDING);
    cr_assert_eq(s.sending, 1);
    finish(&s, &r, good);
    assert_empty(&s);
}

Test(scheduler, on_shutdown_every_held_delivery_is_taken_and_the_sending_ones_stay)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 2, 256);
    for (int i = 0; i < 5; i++) {
        hold(&s, &r, EP_A, 0);
        hold(&s, &r, EP_B, 0);
    }
    hold(&s, &r, EP_C, 0);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(s.sending, 5);
    struct scheduler_item *held = scheduler_take_held(&s);
    cr_assert_eq(list_length(held), 6);
    for (struct scheduler_item *i = held; i != NULL; i = i->next) {
        cr_assert_eq(i->state, SCHEDULER_OUT);
        cr_assert_null(i->endpoint);
    }
    cr_assert_eq(s.held, 0);
    cr_assert_eq(s.sending, 5);
    /* What is sending still counts against its endpoint. */
    json_t *m = scheduler_held_by_endpoint(&s);
    cr_assert_eq(json_integer_value(json_object_get(m, EP_A)), 2);
    cr_assert_eq(json_integer_value(json_object_get(m, EP_B)), 2);
    cr_assert_eq(json_integer_value(json_object_get(m, EP_C)), 1);
    json_decref(m);
    /* Nothing held is left to start. */
    pass(&s, &r, 0, NULL);
    cr_assert_eq(r.nstarted, 5);
    /* The drain deadline: what is still sending is taken too, slots freed. */
    struct scheduler_item *sending = scheduler_take_sending(&s);
    cr_assert_eq(list_length(sending), 5);
    for (struct scheduler_item *i = sending; i != NULL; i = i->next)
        cr_assert_eq(i->state, SCHEDULER_OUT);
    assert_empty(&s);
}

Test(scheduler, a_claim_fills_the_held_queues_up_to_twice_max_in_flight_100_at_a_time)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 4, 30);
    cr_assert_eq(scheduler_endpoint_allowance(&s), 32);
    cr_assert_eq(scheduler_claim_limit(&s), 60);
    for (int i = 0; i < 50; i++)
        hold(&s, &r, i % 2 == 0 ? EP_A : EP_B, 0);
    cr_assert_eq(scheduler_claim_limit(&s), 10);
    for (int i = 0; i < 10; i++)
        hold(&s, &r, EP_C, 0);
    cr_assert_eq(scheduler_claim_limit(&s), 0);
    /* Sending ones leave room: only held ones count. */
    pass(&s, &r, 0, NULL);
    cr_assert_eq(s.sending, 12);
    cr_assert_eq(scheduler_claim_limit(&s), 12);
    json_t *m = scheduler_held_by_endpoint(&s);
    cr_assert_eq(json_integer_value(json_object_get(m, EP_A)), 25);
    cr_assert_eq(json_integer_value(json_object_get(m, EP_C)), 10);
    json_decref(m);
    scheduler_take_sending(&s);
    scheduler_take_held(&s);

    struct scheduler big;
    setup(&big, &r, 4, 256);
    cr_assert_eq(scheduler_claim_limit(&big), SCHEDULER_CLAIM_BATCH);
    assert_empty(&big);
    assert_empty(&s);
}

Test(scheduler, an_endpoint_whose_claim_was_full_asks_for_more_once_half_is_sent)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 1, 256); /* allowance 8 */
    for (int i = 0; i < 8; i++)
        hold(&s, &r, EP_A, 0);
    hold(&s, &r, EP_B, 0);
    scheduler_claim_done(&s);
    int refills = 0;
    for (int round = 0; round < 9; round++) {
        bool refill = false;
        pass(&s, &r, 0, &refill);
        long held_a = 8 - (round + 1); /* one starts per round */
        if (refill) {
            refills++;
            cr_assert_eq(held_a, 4, "refill asked with %ld held", held_a);
        }
        if (round < 8)
            finish(&s, &r, &r.jobs[round]);
        if (round == 0)
            finish(&s, &r, &r.jobs[8]); /* EP_B's, never full: never asks */
    }
    cr_assert_eq(refills, 1);
    assert_empty(&s);
}

Test(scheduler, a_hold_after_a_give_back_creates_the_endpoint_again)
{
    struct scheduler s;
    struct run r;
    setup(&s, &r, 1, 256);
    hold(&s, &r, EP_A, 0);
    cr_assert_eq(list_length(scheduler_take_held(&s)), 1);
    json_t *m = scheduler_held_by_endpoint(&s);
    cr_assert_eq(json_object_size(m), 0);
    json_decref(m);
    struct job *j = hold(&s, &r, EP_A, 0);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(j->item.state, SCHEDULER_SENDING);
    finish(&s, &r, j);
    assert_empty(&s);
}

Test(scheduler, a_tenants_share_is_its_percent_of_the_slots_rounded_up_and_at_least_one)
{
    cr_assert_eq(scheduler_tenant_cap(256, 25), 64);
    cr_assert_eq(scheduler_tenant_cap(8, 50), 4);
    cr_assert_eq(scheduler_tenant_cap(10, 33), 4, "3.3 slots round up to 4");
    cr_assert_eq(scheduler_tenant_cap(3, 1), 1, "never no slot at all");
    cr_assert_eq(scheduler_tenant_cap(5, 100), 5, "100 percent: no share");
    cr_assert_eq(scheduler_tenant_cap(5, 0), 1);
    cr_assert_eq(scheduler_tenant_cap(0, 25), 1);
}

Test(scheduler, a_tenant_with_many_endpoints_never_holds_more_than_its_share_of_the_slots)
{
    /* The tarpit: TENANT's two endpoints could take all 8 slots (4 each),
     * its share is 4; TENANT_2's endpoint gets its requests started at once. */
    struct scheduler s;
    struct run r;
    setup_shared(&s, &r, 4, 8, 4);
    for (int i = 0; i < 8; i++) {
        hold_for(&s, &r, EP_A, TENANT, 0);
        hold_for(&s, &r, EP_B, TENANT, 0);
    }
    for (int i = 0; i < 3; i++)
        hold_for(&s, &r, EP_C, TENANT_2, 0);
    pass(&s, &r, 0, NULL);
    cr_assert_eq(r.in_flight[0] + r.in_flight[1], 4, "the tenant took %d slots",
                 r.in_flight[0] + r.in_flight[1]);
    cr_assert_eq(r.in_flight[2], 3, "the other tenant waits: %d of 3 started", r.in_flight[2]);
    cr_assert_eq(s.sending, 7);
    /* One of the tenant's requests ends (a timeout): one more of its own
     * starts, never one more than its share. */
    int first = 0;
    while (strcmp(r.jobs[r.started[first]].endpoint, EP_C) == 0)
        first++;
    finish(&s, &r, &r.jobs[r.started[first]]);
    pass(&s, &r, 1, NULL);
    cr_assert_eq(r.in_flight[0] + r.in_flight[1], 4);
    /* The tenant's held deliveries and its sending ones count per tenant. */
    json_t *m = scheduler_held_by_tenant(&s);
    cr_assert_not_null(m);
    cr_assert_eq(json_integer_value(json_object_get(m, TENANT)), 15);
    cr_assert_eq(json_integer_value(json_object_get(m, TENANT_2)), 3);
    json_decref(m);
    scheduler_take_sending(&s);
    scheduler_take_held(&s);
    assert_empty(&s);
}

Test(scheduler, held_deliveries_past_their_lease_are_given_back_even_without_a_free_slot)
{
    /* One slot, taken by a request that never ends (a tarpit): the held
     * deliveries behind it must not stay leased to this worker forever. */
    struct scheduler s;
    struct run r;
    setup(&s, &r, 1, 256);
    for (int i = 0; i < 3; i++)
        hold(&s, &r, EP_A, 0);
    cr_assert_null(pass(&s, &r, 0, NULL));
    cr_assert_eq(s.sending, 1);
    cr_assert_eq(s.held, 2);
    /* Still covered: nothing given back. */
    int64_t last_ok = LEASE_MS - REQUEST_MS - SCHEDULER_START_MARGIN_MS;
    cr_assert_null(pass(&s, &r, last_ok, NULL));
    bool refill = false;
    struct scheduler_item *back = pass(&s, &r, last_ok + 1, &refill);
    cr_assert_eq(list_length(back), 2, "the held deliveries past their lease are given back");
    cr_assert(refill, "a give-back asks for a claim");
    cr_assert_eq(s.held, 0);
    cr_assert_eq(s.sending, 1);
    cr_assert_eq(r.nstarted, 1, "none of them was started");
    scheduler_take_sending(&s);
    assert_empty(&s);
}

Test(scheduler, a_tenant_filled_to_its_allowance_asks_for_a_claim_once_half_its_queue_is_sent)
{
    struct scheduler s;
    struct run r;
    setup_shared(&s, &r, 8, 16, 2);
    cr_assert_eq(scheduler_tenant_allowance(&s), 2 * SCHEDULER_QUEUE_FACTOR);
    for (int i = 0; i < 4; i++)
        hold(&s, &r, EP_A, 0);
    scheduler_claim_done(&s);
    bool refill = false;
    pass(&s, &r, 0, &refill);
    cr_assert_eq(s.sending, 2);
    cr_assert_not(refill, "two still held: the tenant's queue is full");
    finish(&s, &r, &r.jobs[r.started[0]]);
    pass(&s, &r, 1, &refill);
    cr_assert_eq(s.held, 1);
    cr_assert(refill, "half of the tenant's queue is sent: claim again");
    scheduler_take_sending(&s);
    scheduler_take_held(&s);
    assert_empty(&s);
}
