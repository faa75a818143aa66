/* bench-loadgen: an open-loop HTTP/1.1 load client for make bench.
 *
 * wrk is closed-loop: each connection sends its next request when the last
 * one is answered, so it finds the maximum rate but cannot hold a given rate,
 * and a slow answer delays the requests behind it, which then never count as
 * slow (coordinated omission). Latency "at half the max rate" needs the
 * opposite: job k is due at t0 + k / rate whatever happened before, and its
 * latency runs from that due time, so waiting for a free connection counts.
 *
 * One thread, epoll, a fixed set of keep-alive connections opened before t0,
 * plain sockets (no HTTP library in the measured path). Modes:
 *   post  POST /checkout-sessions, a fresh body and Idempotency-Key per job
 *   get   GET /checkout-sessions/<id>, ids drawn from --ids FILE
 *   raw   read-after-write: POST, then GET the returned id until 200; the
 *         job's latency is from its due time to that first 200
 * Prints one JSON object (counts by status, latency percentiles) on stdout. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/result.h"

#define LG_MAX_CONNS 4096
#define LG_REQ_MAX 4096
#define LG_ID_LEN 37
#define LG_RETRY_NS 1000000 /* raw mode: pause before GETting a session again after a 404 */

enum lg_mode { LG_POST, LG_GET, LG_RAW };

struct lg_options {
    enum lg_mode mode;
    char host[64];
    int port;
    const char *key;
    double rate;
    double duration_s;
    long count; /* > 0: this many jobs instead of rate x duration */
    int connections;
    double drain_s;
    long expires_in_s; /* > 0: POST bodies ask for expires_at = now + this */
    bool idempotency;
    const char *ids_path;
    const char *ids_out_path;
};

struct lg_conn {
    int fd;
    bool busy;
    /* the job in hand */
    long job;
    int64_t due_ns;
    int phase; /* 0: first request (POST or GET), 1: raw mode's GETs */
    int gets;
    int64_t retry_at_ns; /* raw mode: the next GET after a 404, 0 if none */
    char id[LG_ID_LEN];
    /* what is left to send */
    char out[LG_REQ_MAX];
    size_t out_len, out_off;
    /* what was received of the answer */
    char *in;
    size_t in_len, in_cap;
};

struct lg_samples {
    uint32_t *us;
    size_t n, cap;
};

static struct lg_options lg_opt;
static struct lg_conn *lg_conns;
static int *lg_idle;
static int lg_idle_n;
static int lg_epoll;
static char **lg_ids;
static size_t lg_ids_n;
static FILE *lg_ids_out;
static uint64_t lg_run_id;
static long lg_status[600];
static long lg_errors, lg_reconnects, lg_late, lg_completed, lg_inflight;
static long lg_get_attempts, lg_not_found, lg_get_unexpected;
static int64_t lg_max_start_delay_ns;
static struct lg_samples lg_lat, lg_post_lat;

static int64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t lg_mix(uint64_t x)
{
    /* splitmix64: a cheap, well-spread hash of a counter */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int lg_sample_add(struct lg_samples *s, int64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap > 0 ? s->cap * 2 : 65536;
        uint32_t *grown = realloc(s->us, cap * sizeof(*grown));
        if (grown == NULL)
            return C_ERR;
        s->us = grown;
        s->cap = cap;
    }
    int64_t us = ns / 1000;
    s->us[s->n++] = us > UINT32_MAX ? UINT32_MAX : (us < 0 ? 0 : (uint32_t)us);
    return C_OK;
}

static int lg_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentiles in ms (nearest rank), null when there is no sample. */
static json_t *lg_sample_json(struct lg_samples *s)
{
    if (s->n == 0)
        return json_null();
    qsort(s->us, s->n, sizeof(*s->us), lg_cmp_u32);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->us[i];
    const double ps[] = {50, 90, 99, 99.9};
    const char *names[] = {"p50", "p90", "p99", "p99_9"};
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        size_t rank = (size_t)((ps[i] / 100.0) * (double)s->n + 0.999999);
        if (rank < 1)
            rank = 1;
        if (rank > s->n)
            rank = s->n;
        json_object_set_new(o, names[i], json_real(s->us[rank - 1] / 1000.0));
    }
    json_object_set_new(o, "max", json_real(s->us[s->n - 1] / 1000.0));
    json_object_set_new(o, "mean", json_real(sum / (double)s->n / 1000.0));
    json_object_set_new(o, "count", json_integer((json_int_t)s->n));
    return o;
}

static void lg_usage(FILE *out)
{
    fprintf(out, "usage: bench-loadgen --url http://HOST:PORT --mode post|get|raw --rate R\n"
                 "         [--duration S | --count N] [--connections C] [--drain S]\n"
                 "         [--ids FILE] [--ids-out FILE] [--expires-in S] [--no-idempotency]\n"
                 "The API key comes from BENCH_API_KEY. Prints one JSON object on stdout.\n");
}

static int lg_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return C_ERR;
    *out = v;
    return C_OK;
}

static int lg_parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return C_ERR;
    *out = v;
    return C_OK;
}

static int lg_parse_url(const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        return C_ERR;
    p += 7;
    const char *colon = strchr(p, ':');
    if (colon == NULL || (size_t)(colon - p) >= sizeof(lg_opt.host))
        return C_ERR;
    snprintf(lg_opt.host, sizeof(lg_opt.host), "%.*s", (int)(colon - p), p);
    long port;
    char portbuf[8];
    size_t plen = strcspn(colon + 1, "/");
    if (plen == 0 || plen >= sizeof(portbuf))
        return C_ERR;
    snprintf(portbuf, sizeof(portbuf), "%.*s", (int)plen, colon + 1);
    if (lg_parse_long(portbuf, &port) != C_OK || port < 1 || port > 65535)
        return C_ERR;
    lg_opt.port = (int)port;
    return C_OK;
}

static int lg_parse_args(int argc, char **argv)
{
    lg_opt.connections = 32;
    lg_opt.drain_s = 10;
    lg_opt.idempotency = true;
    lg_opt.key = getenv("BENCH_API_KEY");
    bool have_url = false, have_mode = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        if (strcmp(a, "--help") == 0) {
            lg_usage(stdout);
            exit(0);
        } else if (strcmp(a, "--no-idempotency") == 0) {
            lg_opt.idempotency = false;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "bench-loadgen: %s needs a value\n", a);
            return C_ERR;
        }
        i++;
        if (strcmp(a, "--url") == 0) {
            if (lg_parse_url(v) != C_OK) {
                fprintf(stderr, "bench-loadgen: --url must be http://HOST:PORT\n");
                return C_ERR;
            }
            have_url = true;
        } else if (strcmp(a, "--mode") == 0) {
            have_mode = true;
            if (strcmp(v, "post") == 0)
                lg_opt.mode = LG_POST;
            else if (strcmp(v, "get") == 0)
                lg_opt.mode = LG_GET;
            else if (strcmp(v, "raw") == 0)
                lg_opt.mode = LG_RAW;
            else
                have_mode = false;
        } else if (strcmp(a, "--rate") == 0) {
            if (lg_parse_double(v, &lg_opt.rate) != C_OK || lg_opt.rate <= 0)
                return C_ERR;
        } else if (strcmp(a, "--duration") == 0) {
            if (lg_parse_double(v, &lg_opt.duration_s) != C_OK)
                return C_ERR;
        } else if (strcmp(a, "--drain") == 0) {
            if (lg_parse_double(v, &lg_opt.drain_s) != C_OK)
                return C_ERR;
        } else if (strcmp(a, "--count") == 0) {
            if (lg_parse_long(v, &lg_opt.count) != C_OK)
                return C_ERR;
        } else if (strcmp(a, "--connections") == 0) {
            if (lg_parse_long(v, &l) != C_OK || l < 1 || l > LG_MAX_CONNS)
                return C_ERR;
            lg_opt.connections = (int)l;
        } else if (strcmp(a, "--expires-in") == 0) {
            if (lg_parse_long(v, &lg_opt.expires_in_s) != C_OK)
                return C_ERR;
        } else if (strcmp(a, "--ids") == 0) {
            lg_opt.ids_path = v;
        } else if (strcmp(a, "--ids-out") == 0) {
            lg_opt.ids_out_path = v;
        } else {
            fprintf(stderr, "bench-loadgen: unknown option %s\n", a);
            return C_ERR;
        }
    }
    if (!have_url || !have_mode || lg_opt.rate <= 0 ||
        (lg_opt.count == 0 && lg_opt.duration_s <= 0)) {
        lg_usage(stderr);
        return C_ERR;
    }
    if (lg_opt.key == NULL || lg_opt.key[0] == '\0') {
        fprintf(stderr, "bench-loadgen: BENCH_API_KEY is not set\n");
        return C_ERR;
    }
    if (lg_opt.mode == LG_GET && lg_opt.ids_path == NULL) {
        fprintf(stderr, "bench-loadgen: --mode get needs --ids FILE\n");
        return C_ERR;
    }
    return C_OK;
}

static int lg_load_ids(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench-loadgen: cannot open %s\n", path);
        return C_ERR;
    }
    char line[128];
    size_t cap = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strlen(line) != LG_ID_LEN - 1)
            continue;
        if (lg_ids_n == cap) {
            cap = cap > 0 ? cap * 2 : 1024;
            char **grown = realloc(lg_ids, cap * sizeof(*grown));
            if (grown == NULL) {
                fclose(f);
                return C_ERR;
            }
            lg_ids = grown;
        }
        lg_ids[lg_ids_n] = strdup(line);
        if (lg_ids[lg_ids_n] == NULL) {
            fclose(f);
            return C_ERR;
        }
        lg_ids_n++;
    }
    fclose(f);
    if (lg_ids_n == 0) {
        fprintf(stderr, "bench-loadgen: no session id in %s\n", path);
        return C_ERR;
    }
    return C_OK;
}

static int lg_connect(struct lg_conn *c, int index)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return C_ERR;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lg_opt.port)};
    int one = 1;
    if (inet_pton(AF_INET, lg_opt.host, &addr.sin_addr) != 1 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        close(fd);
        return C_ERR;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
    if (epoll_ctl(lg_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return C_ERR;
    }
    c->fd = fd;
    c->in_len = 0;
    return C_OK;
}

static void lg_disconnect(struct lg_conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(lg_epoll, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->in_len = 0;
}

static void lg_set_writable_interest(struct lg_conn *c, int index, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.u32 = (uint32_t)index};
    epoll_ctl(lg_epoll, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends what is left of c->out; C_ERR if the connection broke. */
static int lg_flush(struct lg_conn *c, int index)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            lg_set_writable_interest(c, index, true);
            return C_OK;
        }
        return C_ERR;
    }
    return C_OK;
}

static void lg_format_expires(char *out, size_t len)
{
    time_t t = time(NULL) + lg_opt.expires_in_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The request of the job in hand into c->out. */
static int lg_build_request(struct lg_conn *c)
{
    int n;
    if (c->phase == 0 && (lg_opt.mode == LG_POST || lg_opt.mode == LG_RAW)) {
        uint64_t h = lg_mix(lg_run_id ^ (uint64_t)c->job);
        char expires[64] = "";
        if (lg_opt.expires_in_s > 0) {
            char at[32];
            lg_format_expires(at, sizeof(at));
            snprintf(expires, sizeof(expires), ",\"expires_at\":\"%s\"", at);
        }
        char body[768];
        int blen =
            snprintf(body, sizeof(body),
                     "{\"amount\":%" PRIu64 ",\"currency_code\":\"XOF\","
                     "\"title\":\"Bench order %ld\","
                     "\"customer_email\":\"buyer%" PRIu64 "@example.com\","
                     "\"success_url\":\"https://shop.example/success\","
                     "\"metadata\":{\"order_id\":\"lg-%016" PRIx64 "-%ld\"}%s}",
                     100 + h % 1000000, c->job, (h >> 20) % 100000, lg_run_id, c->job, expires);
        if (blen < 0 || (size_t)blen >= sizeof(body))
            return C_ERR;
        char idem[96] = "";
        if (lg_opt.idempotency)
            snprintf(idem, sizeof(idem), "Idempotency-Key: lg-%016" PRIx64 "-%ld\r\n", lg_run_id,
                     c->job);
        n = snprintf(c->out, sizeof(c->out),
                     "POST /checkout-sessions HTTP/1.1\r\nHost: %s:%d\r\nx-api-key: %s\r\n"
                     "Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s",
                     lg_opt.host, lg_opt.port, lg_opt.key, idem, blen, body);
    } else {
        const char *id =
            c->phase == 1 ? c->id : lg_ids[lg_mix(lg_run_id ^ (uint64_t)c->job) % lg_ids_n];
        n = snprintf(c->out, sizeof(c->out),
                     "GET /checkout-sessions/%s HTTP/1.1\r\nHost: %s:%d\r\nx-api-key: %s\r\n\r\n",
                     id, lg_opt.host, lg_opt.port, lg_opt.key);
    }
    if (n < 0 || (size_t)n >= sizeof(c->out))
        return C_ERR;
    c->out_len = (size_t)n;
    c->out_off = 0;
    return C_OK;
}

/* The job in hand on c failed; c is free again. */
static void lg_job_failed(struct lg_conn *c, int index)
{
    lg_errors++;
    lg_completed++;
    lg_inflight--;
    c->busy = false;
    lg_idle[lg_idle_n++] = index;
}

/* Sends the job's current request on c, reconnecting once if the kept-alive
 * connection turned out closed. */
static void lg_send(struct lg_conn *c, int index)
{
    if (lg_build_request(c) != C_OK) {
        lg_job_failed(c, index);
        return;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0) {
            if (lg_connect(c, index) != C_OK)
                break;
            lg_reconnects++;
        }
        if (lg_flush(c, index) == C_OK)
            return;
        lg_disconnect(c);
        c->out_off = 0;
    }
    lg_job_failed(c, index);
}

static void lg_start_job(long job, int64_t due_ns, int64_t now)
{
    int index = lg_idle[--lg_idle_n];
    struct lg_conn *c = &lg_conns[index];
    c->busy = true;
    c->job = job;
    c->due_ns = due_ns;
    c->phase = 0;
    c->gets = 0;
    c->retry_at_ns = 0;
    c->id[0] = '\0';
    lg_inflight++;
    int64_t delay = now - due_ns;
    if (delay > 1000000)
        lg_late++;
    if (delay > lg_max_start_delay_ns)
        lg_max_start_delay_ns = delay;
    lg_send(c, index);
}

/* The session id of a create's answer into c->id. */
static int lg_take_id(struct lg_conn *c, const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "checkout_session_id"));
    int rc = C_ERR;
    if (id != NULL && strlen(id) == LG_ID_LEN - 1) {
        memcpy(c->id, id, LG_ID_LEN);
        rc = C_OK;
    }
    json_decref(j);
    return rc;
}

static void lg_job_done(struct lg_conn *c, int index)
{
    c->busy = false;
    lg_inflight--;
    lg_completed++;
    lg_idle[lg_idle_n++] = index;
}

/* One whole answer of status with body arrived on c. */
static void lg_on_response(struct lg_conn *c, int index, int status, const char *body, size_t len)
{
    int64_t now = lg_now_ns();
    bool create = c->phase == 0 && lg_opt.mode != LG_GET;
    if (c->phase == 0)
        lg_status[status >= 0 && status < 600 ? status : 0]++;
    if (create && (status == 201 || status == 202)) {
        if ((lg_ids_out != NULL || lg_opt.mode == LG_RAW) && lg_take_id(c, body, len) != C_OK) {
            lg_job_failed(c, index);
            return;
        }
        if (lg_ids_out != NULL)
            fprintf(lg_ids_out, "%s\n", c->id);
    }
    if (lg_opt.mode == LG_RAW) {
        if (c->phase == 0) {
            lg_sample_add(&lg_post_lat, now - c->due_ns);
            if (status != 201 && status != 202) {
                lg_job_done(c, index);
                return;
            }
            c->phase = 1;
            c->gets = 1;
            lg_get_attempts++;
            lg_send(c, index);
            return;
        }
        if (status == 404) {
            /* Not readable yet (a 202): ask again in a moment, not in a tight loop. */
            c->gets++;
            lg_get_attempts++;
            lg_not_found++;
            c->retry_at_ns = now + LG_RETRY_NS;
            return;
        }
        if (status == 200)
            lg_sample_add(&lg_lat, now - c->due_ns);
        else
            lg_get_unexpected++;
        lg_job_done(c, index);
        return;
    }
    lg_sample_add(&lg_lat, now - c->due_ns);
    lg_job_done(c, index);
}

static const char *lg_find_header(const char *head, size_t head_len, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = head; p + n + 2 < head + head_len; p++) {
        if (p[0] == '\r' && p[1] == '\n' && strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
            return p + 3 + n;
    }
    return NULL;
}

/* Reads what arrived on c and handles every complete answer. */
static void lg_on_readable(struct lg_conn *c, int index)
{
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap > 0 ? c->in_cap * 2 : 16384;
            char *grown = realloc(c->in, cap);
            if (grown == NULL)
                break;
            c->in = grown;
            c->in_cap = cap;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
        if (r > 0) {
            c->in_len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* closed or broken: the job in hand (if any) failed */
        lg_disconnect(c);
        if (c->busy)
            lg_job_failed(c, index);
        return;
    }
    if (!c->busy) {
        c->in_len = 0; /* nothing is expected: drop it */
        return;
    }
    c->in[c->in_len] = '\0';
    char *end = strstr(c->in, "\r\n\r\n");
    if (end == NULL)
        return;
    size_t head_len = (size_t)(end - c->in) + 2;
    int status = 0;
    if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0 ||
        sscanf(c->in + 9, "%3d", &status) != 1) {
        lg_disconnect(c);
        lg_job_failed(c, index);
        return;
    }
    const char *cl = lg_find_header(c->in, head_len, "Content-Length");
    long body_len = 0;
    if (cl != NULL) {
        body_len = strtol(cl, NULL, 10);
        if (body_len < 0 || body_len > 16 * 1024 * 1024) {
            lg_disconnect(c);
            lg_job_failed(c, index);
            return;
        }
    } else if (lg_find_header(c->in, head_len, "Transfer-Encoding") != NULL) {
        fprintf(stderr, "bench-loadgen: chunked answers are not supported\n");
        exit(1);
    }
    size_t total = head_len + 2 + (size_t)body_len;
    if (c->in_len < total)
        return; /* the rest is on its way */
    const char *conn_hdr = lg_find_header(c->in, head_len, "Connection");
    bool close_after =
        conn_hdr != NULL && strncasecmp(conn_hdr + strspn(conn_hdr, " "), "close", 5) == 0;
    /* No pipelining: nothing follows an answer. */
    char *body = c->in + head_len + 2;
    body[body_len] = '\0';
    c->in_len = 0;
    if (close_after)
        lg_disconnect(c);
    lg_on_response(c, index, status, body, (size_t)body_len);
}

static void lg_on_writable(struct lg_conn *c, int index)
{
    if (lg_flush(c, index) != C_OK) {
        lg_disconnect(c);
        if (c->busy)
            lg_job_failed(c, index);
        return;
    }
    if (c->out_off == c->out_len)
        lg_set_writable_interest(c, index, false);
}

static json_t *lg_report(int64_t t0, int64_t t_end, long scheduled, long timeouts)
{
    json_t *status = json_object();
    long ok = 0;
    for (int s = 0; s < 600; s++) {
        if (lg_status[s] == 0)
            continue;
        char k[8];
        snprintf(k, sizeof(k), "%d", s);
        json_object_set_new(status, k, json_integer(lg_status[s]));
    }
    const char *mode = lg_opt.mode == LG_POST ? "post" : lg_opt.mode == LG_GET ? "get" : "raw";
    if (lg_opt.mode == LG_GET)
        ok = lg_status[200];
    else
        ok = lg_status[201]; /* raw: a job is ok once readable, counted in latency */
    double elapsed = (double)(t_end - t0) / 1e9;
    json_t *o = json_object();
    json_object_set_new(o, "mode", json_string(mode));
    json_object_set_new(o, "rate_target", json_real(lg_opt.rate));
    json_object_set_new(o, "connections", json_integer(lg_opt.connections));
    json_object_set_new(o, "scheduled", json_integer(scheduled));
    json_object_set_new(o, "completed", json_integer(lg_completed));
    json_object_set_new(o, "ok", json_integer(lg_opt.mode == LG_RAW ? (long)lg_lat.n : ok));
    json_object_set_new(o, "status", status);
    json_object_set_new(o, "errors", json_integer(lg_errors));
    json_object_set_new(o, "timeouts", json_integer(timeouts));
    json_object_set_new(o, "reconnects", json_integer(lg_reconnects));
    json_object_set_new(o, "late_starts", json_integer(lg_late));
    json_object_set_new(o, "max_start_delay_ms", json_real((double)lg_max_start_delay_ns / 1e6));
    json_object_set_new(o, "elapsed_s", json_real(elapsed));
    json_object_set_new(o, "rate_achieved",
                        json_real(elapsed > 0 ? (double)lg_completed / elapsed : 0));
    json_object_set_new(o, "latency_ms", lg_sample_json(&lg_lat));
    if (lg_opt.mode == LG_RAW) {
        json_object_set_new(o, "post_latency_ms", lg_sample_json(&lg_post_lat));
        json_object_set_new(o, "get_attempts", json_integer(lg_get_attempts));
        json_object_set_new(o, "get_not_found", json_integer(lg_not_found));
        json_object_set_new(o, "get_unexpected", json_integer(lg_get_unexpected));
    }
    return o;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (lg_parse_args(argc, argv) != C_OK)
        return 2;
    if (lg_opt.ids_path != NULL && lg_load_ids(lg_opt.ids_path) != C_OK)
        return 1;
    if (lg_opt.ids_out_path != NULL) {
        lg_ids_out = fopen(lg_opt.ids_out_path, "w");
        if (lg_ids_out == NULL) {
            fprintf(stderr, "bench-loadgen: cannot write %s\n", lg_opt.ids_out_path);
            return 1;
        }
    }
    if (getrandom(&lg_run_id, sizeof(lg_run_id), 0) != (ssize_t)sizeof(lg_run_id))
        lg_run_id = (uint64_t)lg_now_ns() ^ (uint64_t)getpid();
    lg_epoll = epoll_create1(0);
    lg_conns = calloc((size_t)lg_opt.connections, sizeof(*lg_conns));
    lg_idle = calloc((size_t)lg_opt.connections, sizeof(*lg_idle));
    if (lg_epoll < 0 || lg_conns == NULL || lg_idle == NULL)
        return 1;
    for (int i = 0; i < lg_opt.connections; i++) {
        lg_conns[i].fd = -1;
        if (lg_connect(&lg_conns[i], i) != C_OK) {
            fprintf(stderr, "bench-loadgen: cannot connect to %s:%d: %s\n", lg_opt.host,
                    lg_opt.port, strerror(errno));
            return 1;
        }
        lg_idle[lg_idle_n++] = lg_opt.connections - 1 - i;
    }

    long total = lg_opt.count > 0 ? lg_opt.count : (long)(lg_opt.rate * lg_opt.duration_s);
    double interval_ns = 1e9 / lg_opt.rate;
    int64_t t0 = lg_now_ns();
    int64_t last_due = t0 + (int64_t)(interval_ns * (double)(total > 0 ? total - 1 : 0));
    int64_t give_up = last_due + (int64_t)(lg_opt.drain_s * 1e9);
    long started = 0;
    struct epoll_event events[256];
    for (;;) {
        int64_t now = lg_now_ns();
        /* jobs due by now: job k is due at t0 + k * interval */
        long due = (long)((double)(now - t0) / interval_ns) + 1;
        if (due > total)
            due = total;
        while (started < due && lg_idle_n > 0) {
            int64_t due_ns = t0 + (int64_t)(interval_ns * (double)started);
            lg_start_job(started, due_ns, now);
            started++;
        }
        /* raw mode: GETs due again after a 404 */
        int64_t next_retry = 0;
        for (int i = 0; i < lg_opt.connections; i++) {
            struct lg_conn *c = &lg_conns[i];
            if (c->retry_at_ns == 0)
                continue;
            if (c->retry_at_ns <= now) {
                c->retry_at_ns = 0;
                lg_send(c, i);
            } else if (next_retry == 0 || c->retry_at_ns < next_retry) {
                next_retry = c->retry_at_ns;
            }
        }
        if (started >= total && lg_inflight == 0)
            break;
        if (now > give_up)
            break;
        /* Sleep until the next job is due (if a connection is free for it),
         * a retry is due, or an answer arrives. */
        int64_t wait_ns = 50000000;
        if (started < total && lg_idle_n > 0) {
            int64_t next = t0 + (int64_t)(interval_ns * (double)started);
            wait_ns = next - now;
        }
        if (next_retry != 0 && next_retry - now < wait_ns)
            wait_ns = next_retry - now;
        if (wait_ns < 0)
            wait_ns = 0;
        struct timespec ts = {.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
        int n = epoll_pwait2(lg_epoll, events, 256, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            perror("bench-loadgen: epoll_pwait2");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int index = (int)events[i].data.u32;
            struct lg_conn *c = &lg_conns[index];
            if (c->fd < 0)
                continue;
            if (events[i].events & EPOLLOUT)
                lg_on_writable(c, index);
            if (c->fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                lg_on_readable(c, index);
        }
    }
    int64_t t_end = lg_now_ns();
    long timeouts = lg_inflight + (total - started);
    if (lg_ids_out != NULL)
        fclose(lg_ids_out);
    json_t *report = lg_report(t0, t_end, total, timeouts);
    char *text = json_dumps(report, JSON_COMPACT);
    json_decref(report);
    if (text == NULL)
        return 1;
    printf("%s\n", text);
    free(text);
    for (int i = 0; i < lg_opt.connections; i++) {
        lg_disconnect(&lg_conns[i]);
        free(lg_conns[i].in);
    }
    for (size_t i = 0; i < lg_ids_n; i++)
        free(lg_ids[i]);
    free(lg_ids);
    free(lg_conns);
    free(lg_idle);
    free(lg_lat.us);
    free(lg_post_lat.us);
    close(lg_epoll);
    return 0;
}
