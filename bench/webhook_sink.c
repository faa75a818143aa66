/* bench-webhook-sink: the fast local webhook receiver of make bench.
 *
 *   bench-webhook-sink --port P [--threads N] [--secrets FILE]
 *
 * Answers every POST with 204 at once, after checking its Standard Webhooks
 * signature (HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>" with the
 * endpoint's secret, computed here with OpenSSL, independently of
 * common/model/webhook_signature.c). Endpoints are paths: the secrets FILE has one
 * "<path> whsec_..." line per endpoint registered with the URL
 * http://127.0.0.1:P<path>. A delivery is counted once per (path, webhook-id),
 * i.e. per (endpoint, event); a second arrival is a duplicate.
 *
 *   GET  /_stats  {"received", "unique", "duplicates", "bad_signatures",
 *                  "unknown_endpoint", "first_ms", "last_ms"} (CLOCK_REALTIME ms)
 *   POST /_reset  zeroes everything
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/result.h"

#define SINK_MAX_ENDPOINTS 256
#define SINK_BODY_MAX (1024 * 1024)

struct sink_endpoint {
    char path[128];
    unsigned char key[128];
    int key_len;
};

struct sink_request {
    char *body;
    size_t len;
    bool too_large;
};

static struct sink_endpoint sink_endpoints[SINK_MAX_ENDPOINTS];
static int sink_endpoint_count;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *sink_set; /* open addressing; 0 is the empty slot */
static size_t sink_set_cap, sink_set_n;
static long sink_received, sink_duplicates, sink_bad_signatures, sink_unknown;
static int64_t sink_first_ms, sink_last_ms;
static volatile sig_atomic_t sink_stop;

static int64_t sink_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t sink_hash(const char *a, const char *b)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const char *p = a; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    h = (h ^ 0xffu) * 0x100000001b3ULL;
    for (const char *p = b; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    return h != 0 ? h : 1;
}

/* Adds h to the set (caller holds the lock); false if it was there. */
static bool sink_set_add(uint64_t h)
{
    if ((sink_set_n + 1) * 2 > sink_set_cap) {
        size_t cap = sink_set_cap > 0 ? sink_set_cap * 2 : 1u << 16;
        uint64_t *grown = calloc(cap, sizeof(*grown));
        if (grown == NULL)
            return true; /* out of memory: count, don't dedupe */
        for (size_t i = 0; i < sink_set_cap; i++) {
            if (sink_set[i] == 0)
                continue;
            size_t j = sink_set[i] & (cap - 1);
            while (grown[j] != 0)
                j = (j + 1) & (cap - 1);
            grown[j] = sink_set[i];
        }
        free(sink_set);
        sink_set = grown;
        sink_set_cap = cap;
    }
    size_t j = h & (sink_set_cap - 1);
    while (sink_set[j] != 0) {
        if (sink_set[j] == h)
            return false;
        j = (j + 1) & (sink_set_cap - 1);
    }
    sink_set[j] = h;
    sink_set_n++;
    return true;
}

static const struct sink_endpoint *sink_find_endpoint(const char *path)
{
    for (int i = 0; i < sink_endpoint_count; i++)
        if (strcmp(sink_endpoints[i].path, path) == 0)
            return &sink_endpoints[i];
    return NULL;
}

/* Whether one of the space-separated "v1,<base64>" signatures is ours. */
static bool sink_signature_ok(const struct sink_endpoint *e, const char *id, const char *ts,
                              const char *sigs, const char *body, size_t len)
{
    size_t id_len = strlen(id), ts_len = strlen(ts);
    size_t msg_len = id_len + 1 + ts_len + 1 + len;
    unsigned char *msg = malloc(msg_len);
    if (msg == NULL)
        return false;
    memcpy(msg, id, id_len);
    msg[id_len] = '.';
    memcpy(msg + id_len + 1, ts, ts_len);
    msg[id_len + 1 + ts_len] = '.';
    memcpy(msg + id_len + 2 + ts_len, body, len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    unsigned char *r = HMAC(EVP_sha256(), e->key, e->key_len, msg, msg_len, mac, &mac_len);
    free(msg);
    if (r == NULL)
        return false;
    char expected[4 + 64];
    memcpy(expected, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)expected + 3, mac, (int)mac_len);
    size_t exp_len = strlen(expected);
    for (const char *p = sigs; *p != '\0';) {
        size_t n = strcspn(p, " ");
        if (n == exp_len && memcmp(p, expected, n) == 0)
            return true;
        p += n;
        p += strspn(p, " ");
    }
    return false;
}

static enum MHD_Result sink_answer(struct MHD_Connection *conn, unsigned status, const char *body)
{
    size_t len = body != NULL ? strlen(body) : 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(body != NULL ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (body != NULL)
        MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result sink_stats(struct MHD_Connection *conn)
{
    char text[512];
    pthread_mutex_lock(&sink_lock);
    snprintf(text, sizeof(text),
             "{\"received\":%ld,\"unique\":%zu,\"duplicates\":%ld,\"bad_signatures\":%ld,"
             "\"unknown_endpoint\":%ld,\"first_ms\":%lld,\"last_ms\":%lld}",
             sink_received, sink_set_n, sink_duplicates, sink_bad_signatures, sink_unknown,
             (long long)sink_first_ms, (long long)sink_last_ms);
    pthread_mutex_unlock(&sink_lock);
    return sink_answer(conn, 200, text);
}

static void sink_reset(void)
{
    pthread_mutex_lock(&sink_lock);
    free(sink_set);
    sink_set = NULL;
    sink_set_cap = sink_set_n = 0;
    sink_received = sink_duplicates = sink_bad_signatures = sink_unknown = 0;
    sink_first_ms = sink_last_ms = 0;
    pthread_mutex_unlock(&sink_lock);
}

static enum MHD_Result sink_delivery(struct MHD_Connection *conn, const char *url,
                                     const struct sink_request *req)
{
    const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-id");
    const char *ts = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-timestamp");
    const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-signature");
    const struct sink_endpoint *e = sink_find_endpoint(url);
    bool signed_ok =
        e != NULL && id != NULL && ts != NULL && sig != NULL && !req->too_large &&
        sink_signature_ok(e, id, ts, sig, req->body != NULL ? req->body : "", req->len);
    uint64_t h = sink_hash(url, id != NULL ? id : "");
    int64_t now = sink_now_ms();
    pthread_mutex_lock(&sink_lock);
    sink_received++;
    if (sink_first_ms == 0)
        sink_first_ms = now;
    sink_last_ms = now;
    if (e == NULL)
        sink_unknown++;
    else if (!signed_ok)
        sink_bad_signatures++;
    if (!sink_set_add(h))
        sink_duplicates++;
    pthread_mutex_unlock(&sink_lock);
    return sink_answer(conn, 204, NULL);
}

static enum MHD_Result sink_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct sink_request *req = *con_cls;
    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large || req->len + n > SINK_BODY_MAX) {
            req->too_large = true;
            return MHD_YES;
        }
        char *grown = realloc(req->body, req->len + n + 1);
        if (grown == NULL)
            return MHD_NO;
        memcpy(grown + req->len, upload_data, n);
        req->len += n;
        grown[req->len] = '\0';
        req->body = grown;
        return MHD_YES;
    }
    if (strcmp(url, "/_stats") == 0)
        return sink_stats(conn);
    if (strcmp(url, "/_reset") == 0 && strcmp(method, "POST") == 0) {
        sink_reset();
        return sink_answer(conn, 200, "{\"reset\":true}");
    }
    if (strcmp(method, "POST") != 0)
        return sink_answer(conn, 405, NULL);
    return sink_delivery(conn, url, req);
}

static void sink_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct sink_request *req = *con_cls;
    if (req != NULL) {
        free(req->body);
        free(req);
    }
    *con_cls = NULL;
}

static int sink_load_secrets(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench-webhook-sink: cannot open %s\n", path);
        return C_ERR;
    }
    char line[512];
    while (fgets(line, sizeof(line), f) != NULL) {
        char p[128], secret[256];
        if (sscanf(line, "%127s %255s", p, secret) != 2)
            continue;
        if (sink_endpoint_count == SINK_MAX_ENDPOINTS || strncmp(secret, "whsec_", 6) != 0) {
            fclose(f);
            fprintf(stderr, "bench-webhook-sink: bad or too many secrets in %s\n", path);
            return C_ERR;
        }
        struct sink_endpoint *e = &sink_endpoints[sink_endpoint_count];
        snprintf(e->path, sizeof(e->path), "%s", p);
        const char *b64 = secret + 6;
        size_t b64_len = strlen(b64);
        if (b64_len % 4 != 0 || b64_len / 4 * 3 > sizeof(e->key)) {
            fclose(f);
            return C_ERR;
        }
        int n = EVP_DecodeBlock(e->key, (const unsigned char *)b64, (int)b64_len);
        if (n < 0) {
            fclose(f);
            return C_ERR;
        }
        /* EVP_DecodeBlock counts the padding as zero bytes: drop them. */
        if (b64_len > 0 && b64[b64_len - 1] == '=')
            n--;
        if (b64_len > 1 && b64[b64_len - 2] == '=')
            n--;
        e->key_len = n;
        sink_endpoint_count++;
    }
    fclose(f);
    return C_OK;
}

static void sink_on_signal(int sig)
{
    (void)sig;
    sink_stop = 1;
}

static int sink_parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > max)
        return C_ERR;
    *out = v;
    return C_OK;
}

int main(int argc, char **argv)
{
    long port = 0, threads = 2;
    const char *secrets = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0 && sink_parse_int(argv[i + 1], 1, 65535, &port) == C_OK)
            continue;
        if (strcmp(argv[i], "--threads") == 0 &&
            sink_parse_int(argv[i + 1], 1, 64, &threads) == C_OK)
            continue;
        if (strcmp(argv[i], "--secrets") == 0) {
            secrets = argv[i + 1];
            continue;
        }
        port = 0;
        break;
    }
    if (port == 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: bench-webhook-sink --port P [--threads N] [--secrets FILE]\n");
        return 2;
    }
    if (secrets != NULL && sink_load_secrets(secrets) != C_OK)
        return 1;
    signal(SIGTERM, sink_on_signal);
    signal(SIGINT, sink_on_signal);
    signal(SIGPIPE, SIG_IGN);
    /* Loopback only: the stack reaches it through CAISSE_WEBHOOK_ALLOWLIST. */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, sink_access, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)threads, MHD_OPTION_NOTIFY_COMPLETED, sink_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bench-webhook-sink: cannot listen on port %ld\n", port);
        return 1;
    }
    fprintf(stderr, "bench-webhook-sink: listening on %ld with %d endpoint(s)\n", port,
            sink_endpoint_count);
    while (!sink_stop)
        usleep(100000);
    MHD_stop_daemon(d);
    free(sink_set);
    return 0;
}
