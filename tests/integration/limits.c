/* Limits and abuse against real gateways of the tests' own (their limits are
 * low, and their buckets see only these requests): an API key past its rate,
 * an organization's own rate set with caisse-admin, requests without
 * credentials and failed authentications per client address (behind a
 * trusted proxy, by X-Forwarded-For), and a flood of 2,000 idle and trickling
 * connections from one address while a client on another keeps being served.
 * Every 429 is recorded for the OpenAPI check. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "metrics_support.h"
#include "support.h"

/* ---- gateways of the tests' own --------------------------------------------------------- */

struct own_gateway {
    char pid_file[512];
    char url[128];
    char internal[128];
};

static struct own_gateway own;

static int base_port(void)
{
    const char *text = test_env("CAISSE_GATEWAY_PORT");
    char *end = NULL;
    long port = strtol(text, &end, 10);
    cr_assert(end != text && *end == '\0' && port > 0 && port < 65400, "port %s", text);
    return (int)port;
}

static void stop_own_gateway(void)
{
    if (own.pid_file[0] == '\0')
        return;
    test_shell("pid=$(cat '%s' 2>/dev/null) && kill -TERM \"$pid\" 2>/dev/null &&"
               " for i in $(seq 1 100); do kill -0 \"$pid\" 2>/dev/null || break; sleep 0.1; done;"
               " rm -f '%s'",
               own.pid_file, own.pid_file);
    own.pid_file[0] = '\0';
}

/* A gateway on the stack's port + offset (+1 internal) with env before it;
 * the pid file is run/gateway-<name>.pid, which run.sh cleans up after a crash. */
static void start_own_gateway(const char *name, int offset, const char *env)
{
    const char *dir = test_env("CAISSE_STACK_DIR");
    int port = base_port() + offset;
    snprintf(own.pid_file, sizeof(own.pid_file), "%s/run/gateway-%s.pid", dir, name);
    cr_assert_eq(test_shell("CAISSE_GATEWAY_PORT=%d CAISSE_GATEWAY_INTERNAL_PORT=%d %s"
                            " setsid %s/build/bin/caisse-gateway >>%s/logs/gateway-%s.log"
                            " 2>&1 </dev/null & echo $! >%s",
                            port, port + 1, env, test_env("CAISSE_TEST_REPO"), dir, name,
                            own.pid_file),
                 0);
    snprintf(own.url, sizeof(own.url), "http://127.0.0.1:%d", port);
    snprintf(own.internal, sizeof(own.internal), "http://127.0.0.1:%d", port + 1);
    for (long deadline = clock_now_ms() + 30000; clock_now_ms() < deadline; test_sleep_ms(200)) {
        if (test_shell("curl -fsS -o /dev/null %s/readyz 2>/dev/null", own.internal) == 0)
            return;
    }
    cr_assert_fail("the gateway %s did not become ready on %s", name, own.url);
}

/* A 429 of a merchant listener, recorded for tests/openapi like the stack's own. */
static void record(const char *method, const char *path, const struct api_response *r)
{
    test_capture_response(test_env("CAISSE_TEST_URL"), method, path, r->status, r->headers,
                          r->text != NULL ? r->text : "", r->text != NULL ? strlen(r->text) : 0);
}

static const char *header(const struct api_response *r, const char *name)
{
    return json_string_value(json_object_get(r->headers, name));
}

static long header_long(const struct api_response *r, const char *name)
{
    const char *v = header(r, name);
    cr_assert_not_null(v, "no %s header: %s", name, r->text);
    char *end = NULL;
    long n = strtol(v, &end, 10);
    cr_assert(end != v && *end == '\0', "%s: \"%s\"", name, v);
    return n;
}

/* Asserts a 429 of scope's message with its headers, and records it. */
static void assert_limited(const char *method, const char *path, const struct api_response *r,
                           const char *message_start, long limit)
{
    test_assert_error(r, 429, "rate_limit_error", NULL, NULL);
    const char *message = json_string_value(json_object_get(r->json, "message"));
    cr_assert(strncmp(message, message_start, strlen(message_start)) == 0, "message: %s", message);
    long retry = header_long(r, "retry-after");
    cr_assert(retry >= 1 && retry <= 2, "Retry-After %ld", retry);
    cr_assert_eq(header_long(r, "ratelimit-limit"), limit);
    cr_assert_eq(header_long(r, "ratelimit-remaining"), 0);
    long reset = header_long(r, "ratelimit-reset");
    cr_assert(reset >= 1 && reset <= limit + 1, "RateLimit-Reset %ld", reset);
    record(method, path, r);
}

static char *admin_line(const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", test_env("CAISSE_TEST_ADMIN"), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[256] = "";
    char *got = fgets(line, sizeof(line), p);
    cr_assert_eq(pclose(p), 0, "caisse-admin %s failed", args);
    cr_assert_not_null(got, "caisse-admin %s printed nothing", args);
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

/* A new organization and a test key of it: buckets nobody else touches. */
static char *new_key(const char *name, char **org_out)
{
    char args[256];
    snprintf(args, sizeof(args), "create-org --name '%s' --currency XOF", name);
    char *org = admin_line(args);
    snprintf(args, sizeof(args), "create-key --org %s --env test", org);
    char *key = admin_line(args);
    if (org_out != NULL)
        *org_out = org;
    else
        free(org);
    return key;
}

static long get_status(const char *path, const char *key, const char *const *headers)
{
    struct api_response r = test_api_at(own.url, "GET", path, key, NULL, headers);
    long status = r.status;
    test_api_free(&r);
    return status;
}

static double scrape(const char *name, const char *const *labels)
{
    struct prom_scrape *s = prom_scrape(own.internal);
    double v = prom_value(s, name, labels);
    prom_free(s);
    return v;
}

/* ---- per API key ------------------------------------------------------------------------- */

#define LIST "/v1/checkout-sessions?limit=1"

Test(limits, an_api_key_past_its_rate_gets_429_until_its_bucket_refills, .timeout = 120,
     .fini = stop_own_gateway)
{
    start_own_gateway("limits-keys", 40,
                      "CAISSE_RATE_LIMIT_KEY_PER_S=1 CAISSE_RATE_LIMIT_KEY_BURST=3"
                      " CAISSE_RATE_LIMIT_CLIENT_PER_S=1000 CAISSE_RATE_LIMIT_CLIENT_BURST=1000");
    char *key = new_key("Limits keys", NULL);
    char *other = new_key("Limits keys other", NULL);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(get_status(LIST, key, NULL), 200, "request %d of the burst", i + 1);
    struct api_response r = test_api_at(own.url, "GET", LIST, key, NULL, NULL);
    assert_limited("GET", LIST, &r, "Too many requests for this API key", 3);
    long retry = header_long(&r, "retry-after");
    test_api_free(&r);
    /* Writes share the key's bucket, and a refused one does nothing. */
    char *body = test_body(NULL);
    const char *json[] = {"Content-Type: application/json", NULL};
    r = test_api_at(own.url, "POST", "/checkout-sessions", key, body, json);
    cr_assert_eq(r.status, 429, "%s", r.text);
    record("POST", "/checkout-sessions", &r);
    test_api_free(&r);
    free(body);
    cr_assert_eq(get_status(LIST, other, NULL), 200, "another key has its own bucket");

    test_sleep_ms(retry * 1000 + 100);
    cr_assert_eq(get_status(LIST, key, NULL), 200, "served again after Retry-After");
    const char *scope[] = {"scope", "api_key", NULL};
    cr_assert_geq(scrape("caisse_http_rate_limited_total", scope), 2);
    free(key);
    free(other);
}

Test(limits, an_organizations_own_rate_set_with_caisse_admin_wins, .timeout = 120,
     .fini = stop_own_gateway)
{
    start_own_gateway("limits-orgs", 42,
                      "CAISSE_RATE_LIMIT_KEY_PER_S=2 CAISSE_RATE_LIMIT_KEY_BURST=4"
                      " CAISSE_RATE_LIMIT_CLIENT_PER_S=1000 CAISSE_RATE_LIMIT_CLIENT_BURST=1000");
    char *org = NULL;
    char *key = new_key("Limits own rate", &org);
    char args[256];
    snprintf(args, sizeof(args), "set-rate-limit --org %s --per-second 0", org);
    char *said = admin_line(args);
    cr_assert(strstr(said, "no rate limit") != NULL, "%s", said);
    free(said);
    for (int i = 0; i < 30; i++)
        cr_assert_eq(get_status(LIST, key, NULL), 200, "no limit: request %d", i + 1);

    /* Half the default rate keeps the default's burst ratio: 1 a second, 2 at once. */
    snprintf(args, sizeof(args), "set-rate-limit --org %s --per-second 1", org);
    free(admin_line(args));
    test_sleep_ms(1500); /* CAISSE_API_KEY_CACHE_TTL=1 in the test stack */
    cr_assert_eq(get_status(LIST, key, NULL), 200);
    cr_assert_eq(get_status(LIST, key, NULL), 200);
    struct api_response r = test_api_at(own.url, "GET", LIST, key, NULL, NULL);
    assert_limited("GET", LIST, &r, "Too many requests for this API key", 2);
    test_api_free(&r);

    snprintf(args, sizeof(args), "set-rate-limit --org %s --per-second default", org);
    free(admin_line(args));
    cr_assert_neq(test_shell("%s set-rate-limit --org %s --per-second -3 >/dev/null 2>&1",
                             test_env("CAISSE_TEST_ADMIN"), org),
                  0, "a negative rate is refused");
    cr_assert_neq(test_shell("%s set-rate-limit --org 00000000-0000-7000-8000-000000000000"
                             " --per-second 5 >/dev/null 2>&1",
                             test_env("CAISSE_TEST_ADMIN")),
                  0, "an unknown organization is refused");
    char *stored = test_sql_value(
        "SELECT coalesce(api_rate_limit_per_s::text, 'default') FROM organizations WHERE id = $1",
        org);
    cr_assert_str_eq(stored, "default");
    free(stored);
    free(key);
    free(org);
}

/* ---- per client address ------------------------------------------------------------------ */

Test(limits, requests_without_credentials_and_failed_logins_are_limited_per_client, .timeout = 120,
     .fini = stop_own_gateway)
{
    /* The tests' requests come from 127.0.0.1, named a trusted proxy: each
     * scenario below is another client by its X-Forwarded-For. One server
     * thread, so one key cache: which keys it knows is certain. */
    char *unseen = new_key("Limits unseen key", NULL);
    start_own_gateway("limits-clients", 44,
                      "CAISSE_GATEWAY_THREADS=1"
                      " CAISSE_RATE_LIMIT_CLIENT_PER_S=1 CAISSE_RATE_LIMIT_CLIENT_BURST=3"
                      " CAISSE_RATE_LIMIT_AUTH_FAILURES_PER_S=1"
                      " CAISSE_RATE_LIMIT_AUTH_FAILURES_BURST=2"
                      " CAISSE_TRUSTED_PROXIES=127.0.0.1/32");
    const char *anonymous[] = {"X-Forwarded-For: 198.51.100.1", NULL};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(get_status("/openapi.json", NULL, anonymous), 200, "request %d", i + 1);
    struct api_response r = test_api_at(own.url, "GET", "/openapi.json", NULL, NULL, anonymous);
    assert_limited("GET", "/openapi.json", &r, "Too many requests from this address", 3);
    test_api_free(&r);
    /* Unknown routes and readiness draw on the same budget; liveness never does. */
    r = test_api_at(own.url, "GET", "/no/such/route", NULL, NULL, anonymous);
    assert_limited("GET", "/no/such/route", &r, "Too many requests from this address", 3);
    test_api_free(&r);
    r = test_api_at(own.url, "GET", "/readyz", NULL, NULL, anonymous);
    assert_limited("GET", "/readyz", &r, "Too many requests from this address", 3);
    test_api_free(&r);
    cr_assert_eq(get_status("/healthz", NULL, anonymous), 200);
    /* A client cannot get a fresh budget by writing its own X-Forwarded-For:
     * the proxy appends the address it saw, and that one counts. */
    const char *spoofing[] = {"X-Forwarded-For: 203.0.113.77, 198.51.100.1", NULL};
    cr_assert_eq(get_status("/openapi.json", NULL, spoofing), 429);
    const char *another[] = {"X-Forwarded-For: 198.51.100.2", NULL};
    cr_assert_eq(get_status("/openapi.json", NULL, another), 200, "another client");
    /* A merchant behind the same address is limited by its key, not by this. */
    cr_assert_eq(get_status(LIST, test_env("CAISSE_TEST_KEY_A"), anonymous), 200);
    /* The internal listener has no limits. */
    struct api_response ready = test_api_at(own.internal, "GET", "/readyz", NULL, NULL, anonymous);
    cr_assert_eq(ready.status, 200);
    test_api_free(&ready);

    /* Failed authentication: two 401s, then 429, and no more lookups. */
    const char *guesser[] = {"X-Forwarded-For: 198.51.100.3", NULL};
    const char *bad = "sk_test_0000000000000000000000000000000000000000";
    for (int i = 0; i < 2; i++)
        cr_assert_eq(get_status(LIST, bad, guesser), 401, "failure %d", i + 1);
    r = test_api_at(own.url, "GET", LIST, bad, NULL, guesser);
    assert_limited("GET", LIST, &r, "Too many failed authentication attempts from this address", 2);
    test_api_free(&r);
    r = test_api_at(own.url, "GET", LIST, NULL, NULL, guesser);
    assert_limited("GET", LIST, &r, "Too many failed authentication attempts from this address", 2);
    test_api_free(&r);
    cr_assert_eq(get_status(LIST, test_env("CAISSE_TEST_KEY_A"), guesser), 200,
                 "a valid key the gateway knows still works from that address");
    /* One it has not looked up yet is a guess like any other until the
     * address's budget refills: that is what spares the database. */
    cr_assert_eq(get_status(LIST, unseen, guesser), 429);
    test_sleep_ms(1100);
    cr_assert_eq(get_status(LIST, unseen, guesser), 200, "looked up once a failure is allowed");
    test_sleep_ms(1100);
    cr_assert_eq(get_status(LIST, bad, guesser), 401, "one more try a second");

    const char *client[] = {"scope", "client", NULL};
    const char *failures[] = {"scope", "auth_failure", NULL};
    cr_assert_geq(scrape("caisse_http_rate_limited_total", client), 4);
    cr_assert_geq(scrape("caisse_http_rate_limited_total", failures), 3);
    free(unseen);
}

/* ---- connections ------------------------------------------------------------------------- */

#define FLOOD 2000
#define FLOOD_PER_IP 64
#define FLOOD_REQUEST_TIMEOUT_S 2
#define FLOOD_IDLE_TIMEOUT_S 3
#define FLOOD_RUN_MS 10000
/* No flood connection outlives idle + request timeouts, plus the reaper's
 * sweep and scheduling on a busy machine. */
#define FLOOD_MAX_LIFE_MS ((FLOOD_IDLE_TIMEOUT_S + FLOOD_REQUEST_TIMEOUT_S) * 1000 + 2000)

struct flood_socket {
    int fd;
    bool trickle;
    bool connected;
    int64_t opened_ms;
    int64_t next_byte_ms;
    size_t sent;
};

/* The normal client: on another loopback address, a new connection per GET. */
struct steady_client {
    int port;
    const char *key;
    atomic_bool stop;
    long requests, ok;
    long slowest_ms;
    long last_status;
};

static size_t discard(char *data, size_t size, size_t n, void *user)
{
    (void)data;
    (void)user;
    return size * n;
}

static void *steady_run(void *arg)
{
    struct steady_client *c = arg;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d" LIST, c->port);
    char auth[160];
    snprintf(auth, sizeof(auth), "x-api-key: %s", c->key);
    while (!atomic_load(&c->stop)) {
        CURL *h = curl_easy_init();
        struct curl_slist *hdr = curl_slist_append(NULL, auth);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_INTERFACE, "127.0.0.2");
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        int64_t t0 = clock_now_ms();
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        long took = (long)(clock_now_ms() - t0);
        curl_slist_free_all(hdr);
        curl_easy_cleanup(h);
        c->requests++;
        c->ok += status == 200;
        c->last_status = status;
        if (took > c->slowest_ms)
            c->slowest_ms = took;
        test_sleep_ms(200);
    }
    return NULL;
}

static int flood_open(int port, struct flood_socket *s, bool trickle, int64_t now)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    *s = (struct flood_socket){.fd = fd, .trickle = trickle, .opened_ms = now, .next_byte_ms = now};
    return 0;
}

static void flood_close(struct flood_socket *s)
{
    close(s->fd);
    s->fd = -1;
}

/* The slow sender: a request line at once, then one header byte every 500 ms,
 * always well inside the idle timeout. */
static const char trickle_text[] = "GET /healthz HTTP/1.1\r\nHost: caisse\r\n"
                                   "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static void flood_trickle(struct flood_socket *s, int64_t now)
{
    if (!s->trickle || !s->connected || now < s->next_byte_ms ||
        s->sent >= sizeof(trickle_text) - 1)
        return;
    size_t n = s->sent == 0 ? strlen("GET /healthz HTTP/1.1\r\n") : 1;
    ssize_t w = send(s->fd, trickle_text + s->sent, n, MSG_NOSIGNAL);
    if (w > 0)
        s->sent += (size_t)w;
    s->next_byte_ms = now + 500;
}

Test(limits, a_flood_of_idle_and_trickling_connections_leaves_other_clients_served, .timeout = 180,
     .fini = stop_own_gateway)
{
    /* 2,000 sockets here and as many in the gateway: both need the room. */
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= FLOOD + 512,
              "the open files hard limit (ulimit -Hn) is %lu: this test needs %d",
              (unsigned long)rl.rlim_max, FLOOD + 512);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < FLOOD + 512) {
        rl.rlim_cur = FLOOD + 512;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    char env[256];
    snprintf(env, sizeof(env),
             "CAISSE_HTTP_MAX_CONNECTIONS_PER_IP=%d CAISSE_HTTP_REQUEST_TIMEOUT=%d"
             " CAISSE_HTTP_CONNECTION_TIMEOUT=%d",
             FLOOD_PER_IP, FLOOD_REQUEST_TIMEOUT_S, FLOOD_IDLE_TIMEOUT_S);
    start_own_gateway("limits-flood", 46, env);
    int port = base_port() + 46;
    cr_assert_eq(get_status("/healthz", NULL, NULL), 200);

    struct steady_client steady = {.port = port, .key = test_env("CAISSE_TEST_KEY_A")};
    pthread_t steady_thread;
    cr_assert_eq(pthread_create(&steady_thread, NULL, steady_run, &steady), 0);

    static struct flood_socket socks[FLOOD];
    static struct pollfd pfd[FLOOD];
    int64_t start = clock_now_ms();
    long opened = 0, failed_to_open = 0, closed_by_server = 0, longest_ms = 0;
    long most_held = 0; /* sockets open for over a second at once: accepted ones */
    long unconnected_too_long = 0;
    for (int i = 0; i < FLOOD; i++) {
        if (flood_open(port, &socks[i], i % 2 == 1, start) == 0)
            opened++;
        else
            socks[i].fd = -1, failed_to_open++;
    }
    /* The attacker keeps it up: a socket the server closed is opened again a
     * second later, until the run's last two seconds. */
    int64_t reopen_at[FLOOD] = {0};
    for (int64_t now = start; now - start < FLOOD_RUN_MS; now = clock_now_ms()) {
        nfds_t n = 0;
        int index[FLOOD];
        for (int i = 0; i < FLOOD; i++) {
            if (socks[i].fd < 0) {
                if (reopen_at[i] != 0 && now >= reopen_at[i] && now - start < FLOOD_RUN_MS - 2000) {
                    reopen_at[i] = 0;
                    if (flood_open(port, &socks[i], i % 2 == 1, now) == 0)
                        opened++;
                }
                continue;
            }
            flood_trickle(&socks[i], now);
            pfd[n] =
                (struct pollfd){.fd = socks[i].fd, .events = socks[i].connected ? POLLIN : POLLOUT};
            index[n++] = i;
        }
        poll(pfd, n, 50);
        now = clock_now_ms();
        long held = 0;
        for (nfds_t k = 0; k < n; k++) {
            struct flood_socket *s = &socks[index[k]];
            if (!s->connected && (pfd[k].revents & POLLOUT) != 0) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                s->connected = err == 0;
            }
            bool gone = (pfd[k].revents & (POLLERR | POLLHUP)) != 0;
            if (!gone && (pfd[k].revents & POLLIN) != 0) {
                char buf[512];
                ssize_t r = recv(s->fd, buf, sizeof(buf), 0);
                gone = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
                cr_assert(r <= 0, "a flood connection was answered: %.*s", (int)r, buf);
            }
            long life = (long)(now - s->opened_ms);
            if (!gone && !s->connected) {
                unconnected_too_long += life > FLOOD_MAX_LIFE_MS;
                continue;
            }
            if (gone) {
                closed_by_server++;
                if (life > longest_ms)
                    longest_ms = life;
                flood_close(s);
                reopen_at[index[k]] = now + 1000;
                continue;
            }
            cr_assert_leq(life, FLOOD_MAX_LIFE_MS, "a %s connection is still open after %ld ms",
                          s->trickle ? "trickling" : "idle", life);
            held += s->connected && life > 1000;
        }
        if (held > most_held)
            most_held = held;
    }
    atomic_store(&steady.stop, true);
    pthread_join(steady_thread, NULL);
    for (int i = 0; i < FLOOD; i++) {
        if (socks[i].fd >= 0)
            flood_close(&socks[i]);
    }

    fprintf(
        stderr,
        "limits: flood: %ld connections opened (%ld failed), %ld closed by the gateway, at most "
        "%ld held at once, the longest %ld ms; the steady client: %ld of %ld GETs 200, "
        "the slowest %ld ms\n",
        opened, failed_to_open, closed_by_server, most_held, longest_ms, steady.ok, steady.requests,
        steady.slowest_ms);
    cr_assert_geq(opened, FLOOD);
    cr_assert_eq(unconnected_too_long, 0, "connects that never completed: the backlog overflowed");
    cr_assert_leq(most_held, FLOOD_PER_IP, "one address held %ld connections", most_held);
    cr_assert_geq(steady.requests, 20, "the steady client made %ld requests", steady.requests);
    cr_assert_eq(steady.ok, steady.requests, "%ld of %ld GETs answered 200 (last %ld)", steady.ok,
                 steady.requests, steady.last_status);
    cr_assert_leq(steady.slowest_ms, 2000, "the slowest GET took %ld ms", steady.slowest_ms);

    const char *merchant[] = {"listener", "merchant", NULL};
    cr_assert_geq(scrape("caisse_http_connections_refused_total", merchant), FLOOD - FLOOD_PER_IP);
    cr_assert_geq(scrape("caisse_http_request_timeouts_total", merchant), FLOOD_PER_IP / 4,
                  "trickling connections are closed by the request deadline");
    cr_assert_eq(get_status("/healthz", NULL, NULL), 200, "the gateway is fine afterwards");
}
