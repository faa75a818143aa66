/* The gateway's rate limits, on ratelimit.c's token buckets: each API key's
 * requests, and per client address the requests that carry no credentials
 * and the failed authentications. Past a limit the answer is 429
 * rate_limit_error with Retry-After and RateLimit-Limit / -Remaining /
 * -Reset, counted in caisse_http_rate_limited_total{scope}.
 *
 * The router applies them from the route table (routes.c); any handler that
 * wants a per-client budget of its own (the hosted page's form posts) calls
 * throttle_client with a scope of its own, added below with its setting.
 *
 * Limits are per process: each of CAISSE_RATE_LIMIT_REPLICAS gateways
 * enforces its share of the configured rates (deploy/OPERATIONS.md, "Limits
 * and abuse"). */
#ifndef GATEWAY_THROTTLE_H
#define GATEWAY_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/error.h"
#include "infra/netguard.h"

struct http_request;

enum throttle_scope {
    THROTTLE_API_KEY,       /* every request of one API key */
    THROTTLE_CLIENT,        /* requests without credentials, per client address */
    THROTTLE_AUTH_FAILURE,  /* failed authentications, per client address */
    THROTTLE_PAGE_POST,     /* the hosted page's form posts, per client address */
    THROTTLE_COUPON,        /* coupon codes tried on the hosted page, per client address */
    THROTTLE_WEBHOOK_RETRY, /* manual retries of webhook deliveries, per endpoint */
    THROTTLE_SCOPES
};

struct throttle_rate {
    long per_second; /* 0: no limit */
    long burst;      /* requests allowed at once */
};

struct throttle_config {
    struct throttle_rate rates[THROTTLE_SCOPES]; /* the whole deployment's */
    /* rates[s].per_second counts requests a minute instead (the page's limits). */
    bool per_minute[THROTTLE_SCOPES];
    long replicas; /* gateways sharing those rates */
    /* CAISSE_TRUSTED_PROXIES: comma-separated CIDRs whose X-Forwarded-For
     * names the client; "" trusts none (the client is the TCP peer). */
    const char *trusted_proxies;
};

/* C_ERR with the reason in err: trusted_proxies does not parse, or out of memory. */
int throttle_init(const struct throttle_config *cfg, struct error *err);
void throttle_shutdown(void);

/* Takes one request from the bucket of req->identity's API key (its
 * organization's own limit, or the default). true: go on; false: answered
 * 429, *rc is the access handler's result. */
bool throttle_api_key(struct http_request *req, enum MHD_Result *rc);
/* Takes one request from the client address's bucket of scope (a per-client
 * scope). true: go on; false: answered 429 in *rc. */
bool throttle_client(struct http_request *req, enum throttle_scope scope, enum MHD_Result *rc);
/* Whether the client's bucket of scope still has a request, without taking
 * it; false: answered 429 in *rc. */
bool throttle_client_has_room(struct http_request *req, enum throttle_scope scope,
                              enum MHD_Result *rc);

/* Takes one request from the client address's bucket of scope, answering
 * nothing: the caller answers a refusal its own way (the hosted page's HTML).
 * true: go on; false: refused (counted), *retry_after_s seconds to wait. */
bool throttle_client_take(struct http_request *req, enum throttle_scope scope, long *retry_after_s);

/* Takes one request from the bucket of id (a UUID: what scope counts per
 * object, e.g. the endpoint of THROTTLE_WEBHOOK_RETRY). true: go on; false:
 * answered 429 in *rc. An id that is not a UUID is not limited. */
bool throttle_object(struct http_request *req, enum throttle_scope scope, const char *id,
                     enum MHD_Result *rc);

#define THROTTLE_ADDRESS_LEN 16

/* The client's address as the limits count it: the TCP peer, unless the peer
 * is one of trusted's proxies; then, reading forwarded (the X-Forwarded-For
 * values in the order received, each a comma-separated list) from the right,
 * the first address that is not a trusted proxy. A malformed entry stops the
 * walk at the trusted address before it; if every entry is trusted, the
 * leftmost is the client. IPv4 is written as ::ffff:a.b.c.d, and an IPv6
 * client counts as its /64 (what one subscriber gets). C_ERR: the peer is
 * neither IPv4 nor IPv6. */
int throttle_client_address(const struct sockaddr *peer, const char *const *forwarded,
                            size_t nforwarded, const struct netguard_allowlist *trusted,
                            unsigned char out[THROTTLE_ADDRESS_LEN]);

#endif
