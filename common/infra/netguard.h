/* Where our outgoing HTTP (webhooks) may go. Merchant-supplied URLs must never
 * reach our own network: loopback, private, link-local (cloud metadata),
 * CGNAT, multicast, unique-local and other special ranges are refused unless
 * an operator allowlist names them (tests allow 127.0.0.1). Checked at
 * registration and again on every connection, on the address actually used,
 * so DNS rebinding cannot get around it. */
#ifndef CAISSE_NETGUARD_H
#define CAISSE_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/error.h"

enum netguard_class {
    NETGUARD_PUBLIC = 0,
    NETGUARD_UNSPECIFIED,  /* 0.0.0.0/8, :: */
    NETGUARD_LOOPBACK,     /* 127/8, ::1 */
    NETGUARD_PRIVATE,      /* 10/8, 172.16/12, 192.168/16 */
    NETGUARD_LINK_LOCAL,   /* 169.254/16, fe80::/10 */
    NETGUARD_CGNAT,        /* 100.64/10 */
    NETGUARD_MULTICAST,    /* 224/4, ff00::/8 */
    NETGUARD_UNIQUE_LOCAL, /* fc00::/7 */
    NETGUARD_RESERVED,     /* 240/4, broadcast, documentation, benchmarking, 192.0.0/24 … */
};

#define NETGUARD_ALLOWLIST_MAX 32
#define NETGUARD_HOST_MAX 253 /* longest DNS name */

struct addrinfo;

struct netguard_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};

struct netguard_allowlist {
    struct netguard_cidr entries[NETGUARD_ALLOWLIST_MAX];
    size_t count;
};

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) is classified as its IPv4 address. */
enum netguard_class netguard_classify(const struct sockaddr *sa);
const char *netguard_class_name(enum netguard_class c);
/* spec: comma-separated CIDRs or addresses ("127.0.0.1/32,::1"); "" = empty.
 * Entries match addresses of their own family only: an IPv4 entry does not
 * admit the IPv4-mapped IPv6 spelling of the same address. */
int netguard_allowlist_parse(const char *spec, struct netguard_allowlist *out);
bool netguard_allowlist_contains(const struct netguard_allowlist *a, const struct sockaddr *sa);
/* Whether a connection to sa may be made: public, or allowlisted. */
bool netguard_address_allowed(const struct netguard_allowlist *a, const struct sockaddr *sa);

/* Checks a webhook URL at registration: absolute http(s) (https only when
 * require_https), at most 2048 characters, no credentials, a host that
 * resolves (getaddrinfo; numeric forms such as decimal "2130706433" are what
 * the resolver makes of them) and whose every address is allowed. C_ERR with
 * a message fit for the API client in err (param "url"). */
int netguard_check_url(const char *url, bool require_https, const struct netguard_allowlist *a,
                       struct error *err);
/* netguard_check_url in two halves, for a caller that resolves the host
 * itself (the gateway, off its request threads): everything but the lookup,
 * the host (unbracketed, at most NETGUARD_HOST_MAX bytes, hostcap > that) into
 * host; then the addresses the lookup gave (NULL: it found none). */
int netguard_check_url_syntax(const char *url, bool require_https, char *host, size_t hostcap,
                              struct error *err);
int netguard_check_addresses(const struct addrinfo *res, const struct netguard_allowlist *a,
                             struct error *err);

#endif
