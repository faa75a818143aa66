/* Time bounds of the gateway against slow dependencies, each on a gateway of
 * the test's own: a DNS server that does not answer never holds a request
 * thread (webhook URLs are resolved off them, within
 * CAISSE_WEBHOOK_RESOLVE_TIMEOUT_MS), and a PostgreSQL that accepts the
 * connection but never answers costs a request libpq's connect_timeout, not
 * forever. (The statement timeout and Kafka's are in faults.c, which may stop
 * the shared stack's dependencies.) */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "support.h"

#define SLOW_DNS "gateway-slow-dns"
#define NO_DB "gateway-no-db"

static void stop_slow_dns(void)
{
    test_own_gateway_stop(SLOW_DNS, 30000);
}

static void stop_no_db(void)
{
    test_own_gateway_stop(NO_DB, 30000);
}

struct timed_call {
    const char *url, *method, *path, *key, *body;
    long status;
    char message[256];
    long took_ms;
};

static void *timed_call_main(void *arg)
{
    struct timed_call *c = arg;
    const char *h[] = {"Content-Type: application/json", NULL};
    int64_t t0 = clock_now_ms();
    struct api_response r = test_api_at(c->url, c->method, c->path, c->key, c->body, h);
    c->took_ms = (long)(clock_now_ms() - t0);
    c->status = r.status;
    const char *m = json_string_value(json_object_get(r.json, "message"));
    snprintf(c->message, sizeof(c->message), "%s", m != NULL ? m : (r.text ? r.text : ""));
    test_api_free(&r);
    return NULL;
}

static void wait_ready(const char *url)
{
    for (int i = 0; i < 150; i++) {
        struct api_response r = test_api_at(url, "GET", "/readyz", NULL, NULL, NULL);
        long status = r.status;
        test_api_free(&r);
        if (status == 200)
            return;
        test_sleep_ms(200);
    }
    cr_assert_fail("%s did not become ready", url);
}

Test(bounds, a_dns_server_that_does_not_answer_never_holds_a_request_thread, .timeout = 120,
     .fini = stop_slow_dns)
{
    /* One server thread: if a lookup ran on it, every other request would wait. */
    char env[1024], url[128];
    snprintf(env, sizeof(env),
             "LD_PRELOAD=%s/build/lib/test-slow-getaddrinfo.so CAISSE_TEST_SLOW_DNS_MS=4000"
             " CAISSE_WEBHOOK_RESOLVE_TIMEOUT_MS=1000 CAISSE_GATEWAY_THREADS=1",
             test_env("CAISSE_TEST_REPO"));
    test_own_gateway_start(SLOW_DNS, 36, env, url, sizeof(url));
    wait_ready(url);
    const char *key = test_env("CAISSE_TEST_KEY_USD");

    struct timed_call slow = {
        .url = url,
        .method = "POST",
        .path = "/webhook-endpoints",
        .key = key,
        .body = "{\"url\": \"https://hooks.slow.test/caisse\", \"enabled_events\": [\"*\"]}"};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, timed_call_main, &slow), 0);
    test_sleep_ms(200);
    for (int i = 0; i < 5; i++) {
        struct timed_call get = {
            .url = url, .method = "GET", .path = "/checkout-sessions?limit=1", .key = key};
        timed_call_main(&get);
        cr_assert_eq(get.status, 200, "GET during the lookup: %ld %s", get.status, get.message);
        cr_assert_lt(get.took_ms, 700, "a GET waited %ld ms behind the lookup", get.took_ms);
    }
    pthread_join(t, NULL);
    cr_assert_eq(slow.status, 400, "%ld %s", slow.status, slow.message);
    cr_assert_str_eq(slow.message, "url host did not resolve within 1000 ms");
    cr_assert(slow.took_ms >= 900 && slow.took_ms < 3000, "answered after %ld ms", slow.took_ms);

    /* A name that resolves goes the same way and is checked like any address. */
    struct timed_call ok = {
        .url = url,
        .method = "POST",
        .path = "/webhook-endpoints",
        .key = key,
        .body = "{\"url\": \"http://hooks.loopback.test:9/caisse\", \"enabled_events\": "
                "[\"checkout.session.expired\"]}"};
    timed_call_main(&ok);
    cr_assert_eq(ok.status, 201, "%ld %s", ok.status, ok.message);
    struct api_response list = test_api_at(url, "GET", "/webhook-endpoints", key, NULL, NULL);
    size_t i;
    json_t *e;
    json_array_foreach(list.json, i, e)
    {
        const char *u = json_string_value(json_object_get(e, "url"));
        if (u == NULL || strstr(u, "hooks.loopback.test") == NULL)
            continue;
        char path[128];
        snprintf(path, sizeof(path), "/webhook-endpoints/%s",
                 json_string_value(json_object_get(e, "id")));
        struct api_response d = test_api_at(url, "DELETE", path, key, NULL, NULL);
        cr_assert_eq(d.status, 200);
        test_api_free(&d);
    }
    test_api_free(&list);

    /* SIGTERM with a lookup in flight: its request is answered (at its
     * deadline) before the server stops, and the gateway exits cleanly. */
    struct timed_call pending = slow;
    cr_assert_eq(pthread_create(&t, NULL, timed_call_main, &pending), 0);
    test_sleep_ms(300);
    int status = test_own_gateway_stop(SLOW_DNS, 20000);
    pthread_join(t, NULL);
    cr_assert_eq(status, 0, "the gateway exited with %d", status);
    cr_assert_eq(pending.status, 400, "%ld %s", pending.status, pending.message);
}

Test(bounds, a_postgresql_that_never_answers_costs_a_request_the_connect_timeout, .timeout = 120,
     .fini = stop_no_db)
{
    /* Accepts TCP connections (the kernel does, from the backlog) and never
     * says a word: libpq would wait for ever without connect_timeout. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(listen(fd, 64), 0);
    socklen_t len = sizeof(addr);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    char env[512], url[128];
    snprintf(env, sizeof(env), "CAISSE_DATABASE_URL=postgresql://caisse@127.0.0.1:%d/caisse",
             ntohs(addr.sin_port));
    test_own_gateway_start(NO_DB, 38, env, url, sizeof(url));

    struct timed_call ready = {.url = url, .method = "GET", .path = "/readyz"};
    timed_call_main(&ready);
    cr_assert_eq(ready.status, 503, "%ld %s", ready.status, ready.message);
    cr_assert_lt(ready.took_ms, 9000, "readyz took %ld ms", ready.took_ms);
    struct timed_call get = {.url = url,
                             .method = "GET",
                             .path = "/checkout-sessions?limit=1",
                             .key = test_env("CAISSE_TEST_KEY_A")};
    timed_call_main(&get);
    cr_assert_eq(get.status, 503, "%ld %s", get.status, get.message);
    cr_assert_lt(get.took_ms, 9000, "a read took %ld ms", get.took_ms);
    close(fd);
}
