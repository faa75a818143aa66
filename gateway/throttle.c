#include "throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/metrics.h"
#include "core/result.h"
#include "core/uuid.h"
#include "http.h"
#include "ratelimit.h"

/* Buckets kept at once: far more API keys than one deployment has busy, and
 * enough client addresses that a crowd of them only forgets full buckets. */
#define THROTTLE_KEY_BUCKETS 16384
#define THROTTLE_CLIENT_BUCKETS 65536
#define THROTTLE_FORWARDED_MAX 8   /* X-Forwarded-For headers read */
#define THROTTLE_FORWARDED_HOPS 32 /* entries walked, from the right */

static const char *const throttle_scope_names[THROTTLE_SCOPES] = {
    "api_key", "client", "auth_failure", "page_post", "coupon", "webhook_retry"};

static struct {
    struct ratelimit_table *keys;    /* THROTTLE_API_KEY, and the per-object scopes */
    struct ratelimit_table *clients; /* the per-client scopes */
    struct ratelimit_policy policies[THROTTLE_SCOPES];
    struct throttle_rate rates[THROTTLE_SCOPES];
    long replicas;
    struct netguard_allowlist trusted;
    struct metrics_series *limited[THROTTLE_SCOPES];
} throttle;

int throttle_init(const struct throttle_config *cfg, struct error *err)
{
    struct netguard_allowlist trusted;
    if (netguard_allowlist_parse(cfg->trusted_proxies, &trusted) != C_OK)
        return error_set(err, "CAISSE_TRUSTED_PROXIES",
                         "CAISSE_TRUSTED_PROXIES must be at most %d comma-separated addresses or"
                         " CIDRs (got \"%s\")",
                         NETGUARD_ALLOWLIST_MAX, cfg->trusted_proxies);
    struct ratelimit_table *keys = ratelimit_table_new(THROTTLE_KEY_BUCKETS);
    struct ratelimit_table *clients = ratelimit_table_new(THROTTLE_CLIENT_BUCKETS);
    if (keys == NULL || clients == NULL) {
        ratelimit_table_free(keys);
        ratelimit_table_free(clients);
        return error_set(err, NULL, "out of memory for the rate limits");
    }
    throttle.keys = keys;
    throttle.clients = clients;
    throttle.trusted = trusted;
    throttle.replicas = cfg->replicas;
    static const char *const labels[] = {"scope", NULL};
    struct metrics_family *f = metrics_counter(
        metrics_default(), "caisse_http_rate_limited_total",
        "Requests answered 429 by a rate limit, by scope (api_key, client, auth_failure,"
        " page_post, coupon, webhook_retry)",
        labels);
    for (int s = 0; s < THROTTLE_SCOPES; s++) {
        throttle.rates[s] = cfg->rates[s];
        ratelimit_policy_init(&throttle.policies[s], cfg->rates[s].per_second, cfg->rates[s].burst,
                              cfg->replicas);
        /* A rate a minute: each request is worth 60 times as long. */
        if (cfg->per_minute[s] && ratelimit_policy_limits(&throttle.policies[s]))
            throttle.policies[s].interval_us *= 60;
        const char *value[] = {throttle_scope_names[s]};
        throttle.limited[s] = metrics_series(f, value);
    }
    return C_OK;
}

void throttle_shutdown(void)
{
    ratelimit_table_free(throttle.keys);
    ratelimit_table_free(throttle.clients);
    throttle.keys = throttle.clients = NULL;
}

static enum MHD_Result throttle_refuse(struct http_request *req, enum throttle_scope scope,
                                       const struct ratelimit_verdict *v)
{
    char retry[24], limit[24], remaining[24], reset[24];
    snprintf(retry, sizeof(retry), "%ld", v->retry_after_s);
    snprintf(limit, sizeof(limit), "%ld", v->limit);
    snprintf(remaining, sizeof(remaining), "%ld", v->remaining);
    snprintf(reset, sizeof(reset), "%ld", v->reset_s);
    const char *headers[] = {"Retry-After",
                             retry,
                             "RateLimit-Limit",
                             limit,
                             "RateLimit-Remaining",
                             remaining,
                             "RateLimit-Reset",
                             reset,
                             NULL};
    metrics_counter_add(throttle.limited[scope], 1);
    req->error_headers = headers;
    enum MHD_Result rc;
    switch (scope) {
    case THROTTLE_API_KEY:
        rc = http_respond_error(req, 429, "rate_limit_error", NULL,
                                "Too many requests for this API key; retry after %ld seconds",
                                v->retry_after_s);
        break;
    case THROTTLE_WEBHOOK_RETRY:
        rc = http_respond_error(req, 429, "rate_limit_error", NULL,
                                "Too many manual retries of this webhook endpoint's deliveries;"
                                " retry after %ld seconds",
                                v->retry_after_s);
        break;
    case THROTTLE_AUTH_FAILURE:
        rc = http_respond_error(req, 429, "rate_limit_error", NULL,
                                "Too many failed authentication attempts from this address;"
                                " retry after %ld seconds",
                                v->retry_after_s);
        break;
    default:
        rc = http_respond_error(req, 429, "rate_limit_error", NULL,
                                "Too many requests from this address; retry after %ld seconds",
                                v->retry_after_s);
        break;
    }
    req->error_headers = NULL;
    return rc;
}

bool throttle_api_key(struct http_request *req, enum MHD_Result *rc)
{
    const struct tenant_identity *id = &req->identity;
    struct ratelimit_policy own;
    const struct ratelimit_policy *p = &throttle.policies[THROTTLE_API_KEY];
    if (id->rate_limit_per_s != TENANT_RATE_LIMIT_DEFAULT) {
        /* An organization's own rate keeps the default's burst to rate ratio. */
        const struct throttle_rate *d = &throttle.rates[THROTTLE_API_KEY];
        long burst = d->per_second > 0 ? id->rate_limit_per_s * d->burst / d->per_second
                                       : id->rate_limit_per_s;
        ratelimit_policy_init(&own, id->rate_limit_per_s, burst < 1 ? 1 : burst, throttle.replicas);
        p = &own;
    }
    struct uuid key_id;
    if (!ratelimit_policy_limits(p) || throttle.keys == NULL ||
        uuid_parse(id->key_id, &key_id) != C_OK)
        return true;
    struct ratelimit_key key = {.scope = THROTTLE_API_KEY};
    memcpy(key.bytes, key_id.bytes, sizeof(key.bytes));
    struct ratelimit_verdict v;
    ratelimit_take(throttle.keys, &key, p, req->started_us, &v);
    if (v.allowed)
        return true;
    *rc = throttle_refuse(req, THROTTLE_API_KEY, &v);
    return false;
}

bool throttle_object(struct http_request *req, enum throttle_scope scope, const char *id,
                     enum MHD_Result *rc)
{
    const struct ratelimit_policy *p = &throttle.policies[scope];
    struct uuid object;
    if (!ratelimit_policy_limits(p) || throttle.keys == NULL || uuid_parse(id, &object) != C_OK)
        return true;
    struct ratelimit_key key = {.scope = (uint32_t)scope};
    memcpy(key.bytes, object.bytes, sizeof(key.bytes));
    struct ratelimit_verdict v;
    ratelimit_take(throttle.keys, &key, p, req->started_us, &v);
    if (v.allowed)
        return true;
    *rc = throttle_refuse(req, scope, &v);
    return false;
}

/* ---- the client's address ------------------------------------------------------------ */

/* addr as a sockaddr netguard can match: an IPv4-mapped IPv6 address as IPv4. */
static void throttle_sockaddr_of(const unsigned char addr[16], struct sockaddr_storage *ss)
{
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(ss, 0, sizeof(*ss));
    if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, addr + 12, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, addr, 16);
    }
}

static bool throttle_trusted(const struct netguard_allowlist *trusted, const unsigned char addr[16])
{
    struct sockaddr_storage ss;
    throttle_sockaddr_of(addr, &ss);
    return netguard_allowlist_contains(trusted, (const struct sockaddr *)&ss);
}

/* One X-Forwarded-For entry, spaces around it allowed; C_ERR if not an address. */
static int throttle_parse_entry(const char *start, const char *end, unsigned char out[16])
{
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    char text[INET6_ADDRSTRLEN];
    size_t n = (size_t)(end - start);
    if (n == 0 || n >= sizeof(text))
        return C_ERR;
    memcpy(text, start, n);
    text[n] = '\0';
    unsigned char v4[4];
    if (inet_pton(AF_INET, text, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        return C_OK;
    }
    return inet_pton(AF_INET6, text, out) == 1 ? C_OK : C_ERR;
}

static int throttle_peer_address(const struct sockaddr *peer, unsigned char out[16])
{
    if (peer == NULL)
        return C_ERR;
    if (peer->sa_family == AF_INET) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        return C_OK;
    }
    if (peer->sa_family == AF_INET6) {
        memcpy(out, ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr, 16);
        return C_OK;
    }
    return C_ERR;
}

/* The client named by forwarded, right to left, starting from the trusted
 * proxy at current (which it overwrites). */
static void throttle_walk_forwarded(const char *const *forwarded, size_t nforwarded,
                                    const struct netguard_allowlist *trusted,
                                    unsigned char current[16])
{
    int hops = 0;
    for (size_t v = nforwarded; v-- > 0;) {
        const char *value = forwarded[v];
        const char *end = value + strlen(value);
        for (;;) {
            const char *start = end;
            while (start > value && start[-1] != ',')
                start--;
            unsigned char addr[16];
            if (hops++ == THROTTLE_FORWARDED_HOPS || throttle_parse_entry(start, end, addr) != C_OK)
                return;
            memcpy(current, addr, 16);
            if (!throttle_trusted(trusted, addr))
                return;
            if (start == value)
                break;
            end = start - 1; /* the comma before this entry */
        }
    }
}

static void throttle_mask_v6(unsigned char addr[16])
{
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) != 0)
        memset(addr + 8, 0, 8);
}

int throttle_client_address(const struct sockaddr *peer, const char *const *forwarded,
                            size_t nforwarded, const struct netguard_allowlist *trusted,
                            unsigned char out[THROTTLE_ADDRESS_LEN])
{
    unsigned char current[16];
    if (throttle_peer_address(peer, current) != C_OK)
        return C_ERR;
    if (trusted != NULL && trusted->count > 0 && throttle_trusted(trusted, current))
        throttle_walk_forwarded(forwarded, nforwarded, trusted, current);
    throttle_mask_v6(current);
    memcpy(out, current, 16);
    return C_OK;
}

struct throttle_forwarded {
    const char *values[THROTTLE_FORWARDED_MAX];
    size_t n;
    bool overflow;
};

static enum MHD_Result throttle_collect_forwarded(void *cls, enum MHD_ValueKind kind,
                                                  const char *key, const char *value)
{
    (void)kind;
    struct throttle_forwarded *f = cls;
    if (value == NULL || strcasecmp(key, "X-Forwarded-For") != 0)
        return MHD_YES;
    if (f->n == THROTTLE_FORWARDED_MAX) {
        /* Keep the last ones: the right end is what trusted proxies wrote. */
        memmove(f->values, f->values + 1, (THROTTLE_FORWARDED_MAX - 1) * sizeof(f->values[0]));
        f->n--;
    }
    f->values[f->n++] = value;
    return MHD_YES;
}

/* false: no address to count the request by (not an IP connection). */
static bool throttle_client_key(struct http_request *req, enum throttle_scope scope,
                                struct ratelimit_key *key)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *peer = ci != NULL ? ci->client_addr : NULL;
    struct throttle_forwarded f = {.n = 0};
    if (throttle.trusted.count > 0)
        MHD_get_connection_values(req->conn, MHD_HEADER_KIND, throttle_collect_forwarded, &f);
    key->scope = (uint32_t)scope;
    return throttle_client_address(peer, f.values, f.n, &throttle.trusted, key->bytes) == C_OK;
}

static bool throttle_client_visit(struct http_request *req, enum throttle_scope scope, bool take,
                                  enum MHD_Result *rc)
{
    const struct ratelimit_policy *p = &throttle.policies[scope];
    struct ratelimit_key key;
    if (!ratelimit_policy_limits(p) || throttle.clients == NULL ||
        !throttle_client_key(req, scope, &key))
        return true;
    struct ratelimit_verdict v;
    if (take)
        ratelimit_take(throttle.clients, &key, p, req->started_us, &v);
    else
        ratelimit_peek(throttle.clients, &key, p, req->started_us, &v);
    if (v.allowed)
        return true;
    *rc = throttle_refuse(req, scope, &v);
    return false;
}

bool throttle_client_take(struct http_request *req, enum throttle_scope scope, long *retry_after_s)
{
    const struct ratelimit_policy *p = &throttle.policies[scope];
    struct ratelimit_key key;
    *retry_after_s = 0;
    if (!ratelimit_policy_limits(p) || throttle.clients == NULL ||
        !throttle_client_key(req, scope, &key))
        return true;
    struct ratelimit_verdict v;
    ratelimit_take(throttle.clients, &key, p, req->started_us, &v);
    if (v.allowed)
        return true;
    metrics_counter_add(throttle.limited[scope], 1);
    *retry_after_s = v.retry_after_s;
    return false;
}

bool throttle_client(struct http_request *req, enum throttle_scope scope, enum MHD_Result *rc)
{
    return throttle_client_visit(req, scope, true, rc);
}

bool throttle_client_has_room(struct http_request *req, enum throttle_scope scope,
                              enum MHD_Result *rc)
{
    return throttle_client_visit(req, scope, false, rc);
}
