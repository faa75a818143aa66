/* Name lookups off the request threads (gateway/resolver.c), with a fake
 * lookup: answers, failures, the deadline, and the bound on threads. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../../gateway/resolver.h"
#include "core/clock.h"
#include "core/result.h"
#include "../leak_check.h"

TestSuite(resolver, .fini = unit_leak_check);

/* "slow-<ms>.test" sleeps that long then resolves; "fail.test" fails; any
 * other name resolves to 192.0.2.1 at once. */
static int fake_lookup(const char *host, struct addrinfo **out)
{
    if (strncmp(host, "slow-", 5) == 0) {
        long ms = strtol(host + 5, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (strcmp(host, "fail.test") == 0)
        return EAI_NONAME;
    struct addrinfo *ai = calloc(1, sizeof(*ai));
    struct sockaddr_in *sin = calloc(1, sizeof(*sin));
    cr_assert(ai != NULL && sin != NULL);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
    ai->ai_family = AF_INET;
    ai->ai_addr = (struct sockaddr *)sin;
    ai->ai_addrlen = sizeof(*sin);
    *out = ai;
    return 0;
}

static void fake_free(struct addrinfo *ai)
{
    free(ai->ai_addr);
    free(ai);
}

struct done {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
    int64_t at_us;
};

static void on_done(void *arg)
{
    struct done *d = arg;
    pthread_mutex_lock(&d->lock);
    d->calls++;
    d->at_us = clock_now_us();
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void done_init(struct done *d)
{
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->calls = 0;
    d->at_us = 0;
}

/* Waits up to timeout_ms for on_done; its number of calls. */
static int done_wait(struct done *d, long timeout_ms)
{
    int64_t end = clock_now_us() + timeout_ms * 1000;
    pthread_mutex_lock(&d->lock);
    while (d->calls == 0 && clock_now_us() < end) {
        pthread_mutex_unlock(&d->lock);
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&d->lock);
    }
    int calls = d->calls;
    pthread_mutex_unlock(&d->lock);
    return calls;
}

static void start(long timeout_ms)
{
    struct resolver_config cfg = {
        .timeout_ms = timeout_ms, .lookup = fake_lookup, .lookup_free = fake_free};
    cr_assert_eq(resolver_init(&cfg), C_OK);
}

static void stop(void)
{
    /* Long enough for every fake lookup to end, so nothing is left running. */
    resolver_shutdown(clock_now_us() + 5000000);
}

Test(resolver, a_name_that_resolves_gives_its_addresses_once)
{
    start(1000);
    struct done d;
    done_init(&d);
    struct resolver_job *job = resolver_submit("merchant.test", on_done, &d);
    cr_assert(job != NULL);
    cr_assert_eq(done_wait(&d, 2000), 1);
    const struct addrinfo *addrs = NULL;
    cr_assert_eq(resolver_job_outcome(job, &addrs), RESOLVER_RESOLVED);
    cr_assert(addrs != NULL && addrs->ai_family == AF_INET);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((const struct sockaddr_in *)addrs->ai_addr)->sin_addr, text, sizeof(text));
    cr_assert_str_eq(text, "192.0.2.1");
    resolver_job_release(job);
    stop();
    cr_assert_eq(d.calls, 1);
}

Test(resolver, a_name_that_does_not_resolve_fails)
{
    start(1000);
    struct done d;
    done_init(&d);
    struct resolver_job *job = resolver_submit("fail.test", on_done, &d);
    cr_assert(job != NULL);
    cr_assert_eq(done_wait(&d, 2000), 1);
    const struct addrinfo *addrs = (const struct addrinfo *)&d;
    cr_assert_eq(resolver_job_outcome(job, &addrs), RESOLVER_FAILED);
    cr_assert_null(addrs);
    resolver_job_release(job);
    stop();
}

Test(resolver, a_slow_lookup_times_out_at_its_deadline_and_its_late_answer_is_dropped)
{
    start(150);
    struct done d;
    done_init(&d);
    int64_t t0 = clock_now_us();
    struct resolver_job *job = resolver_submit("slow-800.test", on_done, &d);
    cr_assert(job != NULL);
    cr_assert_eq(done_wait(&d, 2000), 1);
    int64_t took_ms = (d.at_us - t0) / 1000;
    cr_assert(took_ms >= 140 && took_ms < 600, "timed out after %ld ms", (long)took_ms);
    cr_assert_eq(resolver_job_outcome(job, NULL), RESOLVER_TIMED_OUT);
    /* The submitter lets go at once, as a request answered 400 does. */
    resolver_job_release(job);
    cr_assert_eq(resolver_pending(), 0);
    stop(); /* waits for the abandoned lookup to end */
    cr_assert_eq(d.calls, 1, "on_done must not be called again by the late answer");
}

Test(resolver, the_deadline_holds_for_each_of_several_lookups)
{
    start(200);
    enum { N = 8 };
    struct done d[N];
    struct resolver_job *jobs[N];
    int64_t t0 = clock_now_us();
    for (int i = 0; i < N; i++) {
        done_init(&d[i]);
        jobs[i] = resolver_submit(i % 2 ? "slow-1000.test" : "quick.test", on_done, &d[i]);
        cr_assert(jobs[i] != NULL);
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(done_wait(&d[i], 2000), 1, "lookup %d", i);
        enum resolver_outcome o = resolver_job_outcome(jobs[i], NULL);
        cr_assert_eq(o, i % 2 ? RESOLVER_TIMED_OUT : RESOLVER_RESOLVED, "lookup %d", i);
        cr_assert((d[i].at_us - t0) / 1000 < 800, "lookup %d answered late", i);
        resolver_job_release(jobs[i]);
    }
    stop();
}

Test(resolver, past_the_running_bound_a_submit_is_refused, .timeout = 20)
{
    start(100);
    static struct done d[RESOLVER_MAX_RUNNING + 1];
    struct resolver_job *jobs[RESOLVER_MAX_RUNNING];
    for (int i = 0; i < RESOLVER_MAX_RUNNING; i++) {
        done_init(&d[i]);
        jobs[i] = resolver_submit("slow-700.test", on_done, &d[i]);
        cr_assert(jobs[i] != NULL, "lookup %d", i);
    }
    done_init(&d[RESOLVER_MAX_RUNNING]);
    cr_assert_null(resolver_submit("quick.test", on_done, &d[RESOLVER_MAX_RUNNING]));
    /* Timed out, but still running: still counted. */
    for (int i = 0; i < RESOLVER_MAX_RUNNING; i++) {
        cr_assert_eq(done_wait(&d[i], 2000), 1);
        resolver_job_release(jobs[i]);
    }
    cr_assert_null(resolver_submit("quick.test", on_done, &d[RESOLVER_MAX_RUNNING]));
    stop();
    cr_assert_eq(d[RESOLVER_MAX_RUNNING].calls, 0);
}

Test(resolver, after_shutdown_nothing_is_started)
{
    start(1000);
    stop();
    struct done d;
    done_init(&d);
    cr_assert_null(resolver_submit("quick.test", on_done, &d));
}
