/* The Prometheus registry: exact text format, escaping, histogram buckets,
 * registration rules, threads, and allocation failures. */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/result.h"
#include "../../leak_check.h"

TestSuite(metrics, .fini = unit_leak_check);

static char *render(struct metrics_registry *r)
{
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(metrics_render(r, &text, &len), C_OK);
    cr_assert_eq(strlen(text), len);
    return text;
}

static void assert_renders(struct metrics_registry *r, const char *expected)
{
    char *text = render(r);
    cr_assert_str_eq(text, expected);
    free(text);
}

Test(metrics, counter_renders_help_type_and_samples_exactly)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"route", "status", NULL};
    struct metrics_family *f =
        metrics_counter(r, "caisse_http_requests_total", "HTTP requests answered", labels);
    cr_assert_not_null(f);
    metrics_counter_add(metrics_series(f, (const char *[]){"/v1/a", "200"}), 3);
    metrics_counter_add(metrics_series(f, (const char *[]){"/v1/b", "404"}), 1);
    metrics_counter_add(metrics_series(f, (const char *[]){"/v1/a", "200"}), 2);
    assert_renders(r, "# HELP caisse_http_requests_total HTTP requests answered\n"
                      "# TYPE caisse_http_requests_total counter\n"
                      "caisse_http_requests_total{route=\"/v1/a\",status=\"200\"} 5\n"
                      "caisse_http_requests_total{route=\"/v1/b\",status=\"404\"} 1\n");
    metrics_registry_free(r);
}

Test(metrics, family_without_labels_shows_zero_before_any_observation)
{
    struct metrics_registry *r = metrics_registry_new();
    cr_assert_not_null(metrics_counter(r, "jobs_total", "Jobs", NULL));
    cr_assert_not_null(metrics_gauge(r, "queue_depth", "Depth", NULL));
    assert_renders(r, "# HELP jobs_total Jobs\n# TYPE jobs_total counter\njobs_total 0\n"
                      "# HELP queue_depth Depth\n# TYPE queue_depth gauge\nqueue_depth 0\n");
    metrics_registry_free(r);
}

Test(metrics, family_with_labels_and_no_series_has_only_its_header)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"topic", NULL};
    cr_assert_not_null(metrics_counter(r, "sent_total", "Sent", labels));
    assert_renders(r, "# HELP sent_total Sent\n# TYPE sent_total counter\n");
    metrics_registry_free(r);
}

Test(metrics, empty_registry_renders_empty_text)
{
    struct metrics_registry *r = metrics_registry_new();
    assert_renders(r, "");
    metrics_registry_free(r);
}

Test(metrics, gauge_values_are_whole_shortest_or_special)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"k", NULL};
    struct metrics_family *g = metrics_gauge(r, "g", "G", labels);
    metrics_gauge_set(metrics_series(g, (const char *[]){"whole"}), 1000000);
    metrics_gauge_set(metrics_series(g, (const char *[]){"fraction"}), 0.1);
    metrics_gauge_set(metrics_series(g, (const char *[]){"negative"}), -2.5);
    metrics_gauge_set(metrics_series(g, (const char *[]){"tiny"}), 1e-9);
    metrics_gauge_set(metrics_series(g, (const char *[]){"inf"}), INFINITY);
    metrics_gauge_set(metrics_series(g, (const char *[]){"minus_inf"}), -INFINITY);
    metrics_gauge_set(metrics_series(g, (const char *[]){"nan"}), NAN);
    struct metrics_series *added = metrics_series(g, (const char *[]){"added"});
    metrics_gauge_set(added, 1.5);
    metrics_gauge_add(added, -0.25);
    assert_renders(r, "# HELP g G\n# TYPE g gauge\n"
                      "g{k=\"whole\"} 1000000\n"
                      "g{k=\"fraction\"} 0.1\n"
                      "g{k=\"negative\"} -2.5\n"
                      "g{k=\"tiny\"} 1e-09\n"
                      "g{k=\"inf\"} +Inf\n"
                      "g{k=\"minus_inf\"} -Inf\n"
                      "g{k=\"nan\"} NaN\n"
                      "g{k=\"added\"} 1.25\n");
    metrics_registry_free(r);
}

Test(metrics, label_values_escape_backslash_quote_and_newline)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"v", NULL};
    struct metrics_family *c =
        metrics_counter(r, "c_total", "Help with \\ and\nnewline \"kept\"", labels);
    metrics_counter_add(metrics_series(c, (const char *[]){"a\\b\"c\nd"}), 1);
    assert_renders(r, "# HELP c_total Help with \\\\ and\\nnewline \"kept\"\n"
                      "# TYPE c_total counter\n"
                      "c_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
    metrics_registry_free(r);
}

Test(metrics, histogram_buckets_are_cumulative_and_bounds_inclusive)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"route", NULL};
    static const double bounds[] = {0.005, 0.1, 1};
    struct metrics_family *h = metrics_histogram(r, "req_seconds", "Latency", labels, bounds, 3);
    cr_assert_not_null(h);
    struct metrics_series *s = metrics_series(h, (const char *[]){"/x"});
    metrics_histogram_observe(s, 0.005); /* exactly on a bound: that bucket */
    metrics_histogram_observe(s, 0.0050001);
    metrics_histogram_observe(s, 0.1);
    metrics_histogram_observe(s, 1.5); /* above every bound: +Inf only */
    metrics_histogram_observe(s, 0);
    metrics_histogram_observe(s, NAN); /* ignored */
    assert_renders(r, "# HELP req_seconds Latency\n# TYPE req_seconds histogram\n"
                      "req_seconds_bucket{route=\"/x\",le=\"0.005\"} 2\n"
                      "req_seconds_bucket{route=\"/x\",le=\"0.1\"} 4\n"
                      "req_seconds_bucket{route=\"/x\",le=\"1\"} 4\n"
                      "req_seconds_bucket{route=\"/x\",le=\"+Inf\"} 5\n"
                      "req_seconds_sum{route=\"/x\"} 1.6100001\n"
                      "req_seconds_count{route=\"/x\"} 5\n");
    metrics_registry_free(r);
}

Test(metrics, histogram_without_labels_puts_only_le_in_braces)
{
    struct metrics_registry *r = metrics_registry_new();
    static const double bounds[] = {2.5};
    struct metrics_family *h = metrics_histogram(r, "h", "H", NULL, bounds, 1);
    metrics_histogram_observe(metrics_series(h, NULL), 3);
    assert_renders(r, "# HELP h H\n# TYPE h histogram\n"
                      "h_bucket{le=\"2.5\"} 0\n"
                      "h_bucket{le=\"+Inf\"} 1\n"
                      "h_sum 3\n"
                      "h_count 1\n");
    metrics_registry_free(r);
}

Test(metrics, registering_again_returns_the_same_family_or_null_for_another_shape)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const ab[] = {"a", "b", NULL};
    static const char *const ba[] = {"b", "a", NULL};
    static const double b1[] = {1, 2}, b2[] = {1, 3};
    struct metrics_family *f = metrics_counter(r, "x_total", "X", ab);
    cr_assert_not_null(f);
    cr_assert_eq(metrics_counter(r, "x_total", "other help is fine", ab), f);
    cr_assert_null(metrics_gauge(r, "x_total", "X", ab));
    cr_assert_null(metrics_counter(r, "x_total", "X", ba));
    cr_assert_null(metrics_counter(r, "x_total", "X", NULL));
    struct metrics_family *h = metrics_histogram(r, "h", "H", NULL, b1, 2);
    cr_assert_eq(metrics_histogram(r, "h", "H", NULL, b1, 2), h);
    cr_assert_null(metrics_histogram(r, "h", "H", NULL, b2, 2));
    cr_assert_null(metrics_histogram(r, "h", "H", NULL, b1, 1));
    metrics_registry_free(r);
}

Test(metrics, invalid_names_labels_and_buckets_are_refused)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const dup[] = {"a", "a", NULL};
    static const char *const reserved[] = {"__name", NULL};
    static const char *const le[] = {"le", NULL};
    static const char *const colon[] = {"a:b", NULL};
    static const char *const five[] = {"a", "b", "c", "d", "e", NULL};
    static const double down[] = {2, 1}, inf[] = {1, INFINITY};
    cr_assert_null(metrics_counter(r, "", "x", NULL));
    cr_assert_null(metrics_counter(r, "1abc", "x", NULL));
    cr_assert_null(metrics_counter(r, "a-b", "x", NULL));
    cr_assert_not_null(metrics_counter(r, "ns:sub_total", "colons are allowed in names", NULL));
    cr_assert_null(metrics_counter(r, "d_total", "x", dup));
    cr_assert_null(metrics_counter(r, "r_total", "x", reserved));
    cr_assert_null(metrics_counter(r, "c_total", "x", colon));
    cr_assert_null(metrics_counter(r, "f_total", "x", five));
    cr_assert_not_null(metrics_counter(r, "le_total", "le is fine outside histograms", le));
    cr_assert_null(metrics_histogram(r, "h1", "x", le, (const double[]){1}, 1));
    cr_assert_null(metrics_histogram(r, "h2", "x", NULL, down, 2));
    cr_assert_null(metrics_histogram(r, "h3", "x", NULL, inf, 2));
    cr_assert_null(metrics_histogram(r, "h4", "x", NULL, NULL, 0));
    metrics_registry_free(r);
}

Test(metrics, series_needs_every_label_value)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"a", "b", NULL};
    struct metrics_family *f = metrics_counter(r, "x_total", "X", labels);
    cr_assert_null(metrics_series(f, NULL));
    cr_assert_null(metrics_series(f, (const char *[]){"only-a", NULL}));
    struct metrics_series *s = metrics_series(f, (const char *[]){"1", "2"});
    cr_assert_not_null(s);
    cr_assert_eq(metrics_series(f, (const char *[]){"1", "2"}), s);
    metrics_registry_free(r);
}

Test(metrics, operations_of_another_type_and_null_handles_do_nothing)
{
    struct metrics_registry *r = metrics_registry_new();
    struct metrics_series *c = metrics_series(metrics_counter(r, "c_total", "C", NULL), NULL);
    struct metrics_series *g = metrics_series(metrics_gauge(r, "g", "G", NULL), NULL);
    metrics_gauge_set(c, 7);
    metrics_histogram_observe(c, 7);
    metrics_counter_add(g, 7);
    metrics_counter_add(NULL, 1);
    metrics_gauge_set(NULL, 1);
    metrics_gauge_add(NULL, 1);
    metrics_histogram_observe(NULL, 1);
    metrics_gauge_sweep(NULL);
    cr_assert_null(metrics_series(NULL, NULL));
    cr_assert_null(metrics_counter(NULL, "x_total", "X", NULL));
    assert_renders(r, "# HELP c_total C\n# TYPE c_total counter\nc_total 0\n"
                      "# HELP g G\n# TYPE g gauge\ng 0\n");
    metrics_registry_free(r);
}

Test(metrics, sweep_removes_gauges_not_set_since_the_last_sweep)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"partition", NULL};
    struct metrics_family *lag = metrics_gauge(r, "lag", "Lag", labels);
    metrics_gauge_set(metrics_series(lag, (const char *[]){"0"}), 5);
    metrics_gauge_set(metrics_series(lag, (const char *[]){"1"}), 6);
    metrics_gauge_sweep(lag); /* both were set: both stay */
    metrics_gauge_set(metrics_series(lag, (const char *[]){"1"}), 7);
    metrics_gauge_set(metrics_series(lag, (const char *[]){"2"}), 8);
    metrics_gauge_sweep(lag); /* 0 was not set again: gone */
    assert_renders(r, "# HELP lag Lag\n# TYPE lag gauge\n"
                      "lag{partition=\"1\"} 7\nlag{partition=\"2\"} 8\n");
    /* New series after a sweep go at the end of the list as usual. */
    metrics_gauge_set(metrics_series(lag, (const char *[]){"3"}), 9);
    metrics_gauge_sweep(lag);
    metrics_gauge_sweep(lag);
    assert_renders(r, "# HELP lag Lag\n# TYPE lag gauge\n");
    metrics_gauge_set(metrics_series(lag, (const char *[]){"4"}), 1);
    assert_renders(r, "# HELP lag Lag\n# TYPE lag gauge\nlag{partition=\"4\"} 1\n");
    metrics_registry_free(r);
}

/* ---- threads ------------------------------------------------------------------ */

enum { THREADS = 8, ROUNDS = 20000 };

struct worker_arg {
    struct metrics_family *counter, *gauge, *histogram;
    int id;
};

static void *hammer(void *p)
{
    struct worker_arg *a = p;
    char own[16];
    snprintf(own, sizeof(own), "t%d", a->id);
    for (int i = 0; i < ROUNDS; i++) {
        /* Shared series, looked up each time as the HTTP metrics do, and a
         * series of this thread's own, created concurrently with the others. */
        metrics_counter_add(metrics_series(a->counter, (const char *[]){"shared"}), 1);
        metrics_counter_add(metrics_series(a->counter, (const char *[]){own}), 2);
        metrics_gauge_add(metrics_series(a->gauge, NULL), 1);
        metrics_histogram_observe(metrics_series(a->histogram, NULL), (i % 3) * 0.5);
    }
    return NULL;
}

static long long sample_value(const char *text, const char *line_prefix)
{
    const char *p = strstr(text, line_prefix);
    cr_assert_not_null(p, "no sample %s in\n%s", line_prefix, text);
    return strtoll(p + strlen(line_prefix), NULL, 10);
}

Test(metrics, concurrent_observations_from_threads_all_count)
{
    struct metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"who", NULL};
    static const double bounds[] = {0.5};
    struct worker_arg args[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct worker_arg){
            .counter = metrics_counter(r, "ops_total", "Ops", labels),
            .gauge = metrics_gauge(r, "level", "Level", NULL),
            .histogram = metrics_histogram(r, "obs", "Obs", NULL, bounds, 1),
            .id = i,
        };
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    /* Rendering while the threads write must neither crash nor block them. */
    for (int i = 0; i < 20; i++)
        free(render(r));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = render(r);
    cr_assert_eq(sample_value(text, "ops_total{who=\"shared\"} "), (long long)THREADS * ROUNDS);
    for (int i = 0; i < THREADS; i++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "ops_total{who=\"t%d\"} ", i);
        cr_assert_eq(sample_value(text, prefix), 2LL * ROUNDS);
    }
    cr_assert_eq(sample_value(text, "\nlevel "), (long long)THREADS * ROUNDS);
    cr_assert_eq(sample_value(text, "obs_count "), (long long)THREADS * ROUNDS);
    /* i % 3 is 0, 1, 2: values 0 and 0.5 land in le=0.5, 1.0 in +Inf only. */
    long long per_thread_low = 0;
    for (int i = 0; i < ROUNDS; i++)
        per_thread_low += i % 3 != 2;
    cr_assert_eq(sample_value(text, "obs_bucket{le=\"0.5\"} "), THREADS * per_thread_low);
    free(text);
    metrics_registry_free(r);
}

/* ---- allocation failures -------------------------------------------------------- */

static atomic_bool fail_allocations;
static atomic_int allocations_refused;

static void *flaky_alloc(size_t size)
{
    if (atomic_load(&fail_allocations)) {
        atomic_fetch_add(&allocations_refused, 1);
        return NULL;
    }
    return malloc(size);
}

Test(metrics, allocation_failure_costs_the_new_series_only)
{
    atomic_store(&fail_allocations, false);
    atomic_store(&allocations_refused, 0);
    struct metrics_registry *r = metrics_registry_new_with_allocator(flaky_alloc, free);
    cr_assert_not_null(r);
    static const char *const labels[] = {"k", NULL};
    static const double bounds[] = {1};
    struct metrics_family *c = metrics_counter(r, "c_total", "C", labels);
    struct metrics_series *a = metrics_series(c, (const char *[]){"a"});
    metrics_counter_add(a, 1);

    atomic_store(&fail_allocations, true);
    cr_assert_null(metrics_series(c, (const char *[]){"b"}));
    cr_assert_null(metrics_gauge(r, "g", "G", NULL));
    cr_assert_null(metrics_histogram(r, "h", "H", labels, bounds, 1));
    /* Existing series keep working without allocating. */
    cr_assert_eq(metrics_series(c, (const char *[]){"a"}), a);
    metrics_counter_add(a, 1);
    metrics_counter_add(metrics_series(c, (const char *[]){"b"}), 1); /* a no-op, no crash */
    cr_assert_geq(atomic_load(&allocations_refused), 3);
    assert_renders(r, "# HELP c_total C\n# TYPE c_total counter\nc_total{k=\"a\"} 2\n");

    atomic_store(&fail_allocations, false);
    metrics_counter_add(metrics_series(c, (const char *[]){"b"}), 5);
    cr_assert_not_null(metrics_gauge(r, "g", "G", NULL));
    assert_renders(r, "# HELP c_total C\n# TYPE c_total counter\n"
                      "c_total{k=\"a\"} 2\nc_total{k=\"b\"} 5\n"
                      "# HELP g G\n# TYPE g gauge\ng 0\n");
    metrics_registry_free(r);
}

Test(metrics, failed_registry_creation_returns_null)
{
    atomic_store(&fail_allocations, true);
    cr_assert_null(metrics_registry_new_with_allocator(flaky_alloc, free));
    atomic_store(&fail_allocations, false);
}

Test(metrics, process_metrics_name_the_service_and_build)
{
    metrics_register_process("unit");
    char *text = render(metrics_default());
    char expected[256];
    snprintf(expected, sizeof(expected), "caisse_build_info{service=\"unit\",version=\"%s\"} 1\n",
             metrics_build_version);
    cr_assert_not_null(strstr(text, expected), "%s", text);
    cr_assert_not_null(strstr(text, "# TYPE process_start_time_seconds gauge\n"));
    double started = strtod(strstr(text, "\nprocess_start_time_seconds ") + 28, NULL);
    cr_assert_gt(started, 1.7e9);
    free(text);
}
