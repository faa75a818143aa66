#include "netguard.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/result.h"

#define NETGUARD_URL_MAX 2048

struct netguard_v4_range {
    uint32_t net;
    int prefix;
    enum netguard_class cls;
};

/* IANA IPv4 special-purpose registry, the parts a webhook must not reach.
 * 192.88.99/24 is the retired 6to4 relay anycast: nothing legitimate is there. */
static const struct netguard_v4_range netguard_v4_ranges[] = {
    {0x00000000u, 8, NETGUARD_UNSPECIFIED}, /* 0.0.0.0/8 */
    {0x0a000000u, 8, NETGUARD_PRIVATE},     /* 10.0.0.0/8 */
    {0x64400000u, 10, NETGUARD_CGNAT},      /* 100.64.0.0/10 */
    {0x7f000000u, 8, NETGUARD_LOOPBACK},    /* 127.0.0.0/8 */
    {0xa9fe0000u, 16, NETGUARD_LINK_LOCAL}, /* 169.254.0.0/16, cloud metadata */
    {0xac100000u, 12, NETGUARD_PRIVATE},    /* 172.16.0.0/12 */
    {0xc0000000u, 24, NETGUARD_RESERVED},   /* 192.0.0.0/24, IETF protocol assignments */
    {0xc0000200u, 24, NETGUARD_RESERVED},   /* 192.0.2.0/24, TEST-NET-1 */
    {0xc0586300u, 24, NETGUARD_RESERVED},   /* 192.88.99.0/24, 6to4 relay */
    {0xc0a80000u, 16, NETGUARD_PRIVATE},    /* 192.168.0.0/16 */
    {0xc6120000u, 15, NETGUARD_RESERVED},   /* 198.18.0.0/15, benchmarking */
    {0xc6336400u, 24, NETGUARD_RESERVED},   /* 198.51.100.0/24, TEST-NET-2 */
    {0xcb007100u, 24, NETGUARD_RESERVED},   /* 203.0.113.0/24, TEST-NET-3 */
    {0xe0000000u, 4, NETGUARD_MULTICAST},   /* 224.0.0.0/4 */
    {0xf0000000u, 4, NETGUARD_RESERVED},    /* 240.0.0.0/4, with 255.255.255.255 */
};

static uint32_t netguard_mask4(int prefix)
{
    return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static enum netguard_class netguard_classify_v4(uint32_t a)
{
    for (size_t i = 0; i < sizeof(netguard_v4_ranges) / sizeof(netguard_v4_ranges[0]); i++) {
        const struct netguard_v4_range *r = &netguard_v4_ranges[i];
        if ((a & netguard_mask4(r->prefix)) == r->net)
            return r->cls;
    }
    return NETGUARD_PUBLIC;
}

static uint32_t netguard_v4_at(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Whether the first prefix bits of a and b are equal. */
static bool netguard_prefix_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
    int bytes = prefix / 8, bits = prefix % 8;
    if (memcmp(a, b, (size_t)bytes) != 0)
        return false;
    if (bits == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - bits));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

static bool netguard_v6_in(const unsigned char *a, const char *net, int prefix)
{
    unsigned char n[16];
    if (inet_pton(AF_INET6, net, n) != 1)
        return false;
    return netguard_prefix_equal(a, n, prefix);
}

/* A packet to an address that embeds an IPv4 one reaches that IPv4 host: the
 * mapped form through our own stack, NAT64 (RFC 6052) and 6to4 through a
 * translator. They are classified as what they reach, so ::ffff:127.0.0.1 or
 * 64:ff9b::a9fe:a9fe cannot stand in for a forbidden IPv4 address. */
static enum netguard_class netguard_classify_v6(const unsigned char *a)
{
    static const unsigned char zero[16];
    if (memcmp(a, zero, 16) == 0)
        return NETGUARD_UNSPECIFIED;
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return NETGUARD_LOOPBACK;
    if (netguard_v6_in(a, "::ffff:0:0", 96))
        return netguard_classify_v4(netguard_v4_at(a + 12));
    if (netguard_v6_in(a, "64:ff9b::", 96))
        return netguard_classify_v4(netguard_v4_at(a + 12));
    if (netguard_v6_in(a, "2002::", 16)) {
        enum netguard_class c = netguard_classify_v4(netguard_v4_at(a + 2));
        /* 6to4 is deprecated: even a public embedded address goes through
         * a relay we do not trust, so it is never public. */
        return c == NETGUARD_PUBLIC ? NETGUARD_RESERVED : c;
    }
    if (netguard_v6_in(a, "fe80::", 10))
        return NETGUARD_LINK_LOCAL;
    if (netguard_v6_in(a, "fc00::", 7))
        return NETGUARD_UNIQUE_LOCAL;
    if (netguard_v6_in(a, "ff00::", 8))
        return NETGUARD_MULTICAST;
    /* Global unicast is 2000::/3; anything else (IPv4-compatible ::/96, the
     * deprecated site-local fec0::/10, discard-only 100::/64, unassigned
     * space) is reserved. Inside 2000::/3 a few blocks are special too:
     * Teredo, benchmarking and the documentation prefixes. */
    if (!netguard_v6_in(a, "2000::", 3))
        return NETGUARD_RESERVED;
    if (netguard_v6_in(a, "2001::", 32) || netguard_v6_in(a, "2001:2::", 48) ||
        netguard_v6_in(a, "2001:db8::", 32) || netguard_v6_in(a, "3fff::", 20))
        return NETGUARD_RESERVED;
    return NETGUARD_PUBLIC;
}

enum netguard_class netguard_classify(const struct sockaddr *sa)
{
    if (sa == NULL)
        return NETGUARD_RESERVED;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return netguard_classify_v4(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return netguard_classify_v6(in6->sin6_addr.s6_addr);
    }
    /* Unix sockets and the like are never a webhook destination. */
    return NETGUARD_RESERVED;
}

const char *netguard_class_name(enum netguard_class c)
{
    switch (c) {
    case NETGUARD_PUBLIC:
        return "public";
    case NETGUARD_UNSPECIFIED:
        return "unspecified";
    case NETGUARD_LOOPBACK:
        return "loopback";
    case NETGUARD_PRIVATE:
        return "private";
    case NETGUARD_LINK_LOCAL:
        return "link-local";
    case NETGUARD_CGNAT:
        return "cgnat";
    case NETGUARD_MULTICAST:
        return "multicast";
    case NETGUARD_UNIQUE_LOCAL:
        return "unique-local";
    case NETGUARD_RESERVED:
        return "reserved";
    }
    return "reserved";
}

static bool netguard_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* One allowlist entry, [start, end): an address or address/prefix. */
static int netguard_cidr_parse(const char *start, const char *end, struct netguard_cidr *out)
{
    while (start < end && netguard_is_space(*start))
        start++;
    while (end > start && netguard_is_space(end[-1]))
        end--;
    char buf[INET6_ADDRSTRLEN + 8];
    size_t len = (size_t)(end - start);
    if (len == 0 || len >= sizeof(buf))
        return C_ERR;
    memcpy(buf, start, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    int prefix = -1;
    if (slash) {
        *slash = '\0';
        const char *p = slash + 1;
        size_t plen = strlen(p);
        /* Digits only: strtol would take a sign, spaces and "0x". */
        if (plen == 0 || plen > 3)
            return C_ERR;
        prefix = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return C_ERR;
            prefix = prefix * 10 + (*p - '0');
        }
    }
    struct netguard_cidr c;
    memset(&c, 0, sizeof(c));
    /* inet_pton's AF_INET form is strict dotted quad: no "127.1" or octal. */
    if (inet_pton(AF_INET, buf, c.addr) == 1) {
        c.family = AF_INET;
        if (prefix < 0)
            prefix = 32;
        if (prefix > 32)
            return C_ERR;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        c.family = AF_INET6;
        if (prefix < 0)
            prefix = 128;
        if (prefix > 128)
            return C_ERR;
    } else {
        return C_ERR;
    }
    c.prefix = prefix;
    *out = c;
    return C_OK;
}

int netguard_allowlist_parse(const char *spec, struct netguard_allowlist *out)
{
    if (spec == NULL)
        return C_ERR;
    struct netguard_allowlist a;
    memset(&a, 0, sizeof(a));
    if (*spec != '\0') {
        const char *p = spec;
        for (;;) {
            const char *comma = strchr(p, ',');
            const char *end = comma ? comma : p + strlen(p);
            if (a.count == NETGUARD_ALLOWLIST_MAX)
                return C_ERR;
            if (netguard_cidr_parse(p, end, &a.entries[a.count]) != C_OK)
                return C_ERR;
            a.count++;
            if (comma == NULL)
                break;
            p = comma + 1;
        }
    }
    *out = a;
    return C_OK;
}

bool netguard_allowlist_contains(const struct netguard_allowlist *a, const struct sockaddr *sa)
{
    if (a == NULL || sa == NULL)
        return false;
    int family;
    unsigned char addr[16];
    if (sa->sa_family == AF_INET) {
        family = AF_INET;
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        /* Matched as written, never through its embedded IPv4: an operator who
         * allows "127.0.0.1/32" allows that address, not every spelling of
         * loopback ([::ffff:127.0.0.1] is a classic filter bypass). Deny by
         * default; list the IPv6 form too if it is really wanted. */
        family = AF_INET6;
        memcpy(addr, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
    } else {
        return false;
    }
    for (size_t i = 0; i < a->count; i++) {
        const struct netguard_cidr *c = &a->entries[i];
        if (c->family == family && netguard_prefix_equal(addr, c->addr, c->prefix))
            return true;
    }
    return false;
}

bool netguard_address_allowed(const struct netguard_allowlist *a, const struct sockaddr *sa)
{
    if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return false;
    return netguard_classify(sa) == NETGUARD_PUBLIC || netguard_allowlist_contains(a, sa);
}

static int netguard_fail(struct error *err, const char *msg)
{
    return error_set(err, "url", "%s", msg);
}

static bool netguard_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* Strict on purpose: whatever we accept here must mean the same host to
 * libcurl, so anything a parser could read two ways is refused. */
int netguard_check_url_syntax(const char *url, bool require_https, char *host, size_t hostcap,
                              struct error *err)
{
    size_t len = strnlen(url, NETGUARD_URL_MAX + 1);
    if (len == 0)
        return netguard_fail(err, "url must not be empty");
    if (len > NETGUARD_URL_MAX)
        return netguard_fail(err, "url must be at most 2048 characters");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return netguard_fail(err,
                                 "url must not contain spaces, control or non-ASCII characters");
    }
    const char *sep = strstr(url, "://");
    if (sep == NULL)
        return netguard_fail(err, "url must be absolute (http:// or https://)");
    size_t slen = (size_t)(sep - url);
    bool https = slen == 5 && strncasecmp(url, "https", 5) == 0;
    bool http = slen == 4 && strncasecmp(url, "http", 4) == 0;
    if (!https && !http)
        return netguard_fail(err, "url must use http or https");
    if (require_https && !https)
        return netguard_fail(err, "url must use https for live keys");

    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    if (memchr(auth, '@', alen))
        return netguard_fail(err, "url must not contain credentials");
    const char *aend = auth + alen;
    const char *hstart, *hend, *rest;
    if (alen > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (close == NULL)
            return netguard_fail(err, "url has an invalid host");
        hstart = auth + 1;
        hend = close;
        rest = close + 1;
    } else {
        const char *colon = memchr(auth, ':', alen);
        hstart = auth;
        hend = colon ? colon : aend;
        rest = hend;
        for (const char *p = hstart; p < hend; p++)
            /* Also stops a backslash, which WHATWG parsers read as '/'. */
            if (!netguard_host_char(*p))
                return netguard_fail(err, "url has an invalid host");
    }
    size_t hlen = (size_t)(hend - hstart);
    if (hlen == 0)
        return netguard_fail(err, "url must have a host");
    if (hlen > NETGUARD_HOST_MAX || hlen >= hostcap)
        return netguard_fail(err, "url has an invalid host");
    memcpy(host, hstart, hlen);
    host[hlen] = '\0';
    if (auth[0] == '[') {
        /* Only a plain IPv6 literal: no zone id ("%25eth0"), no IPvFuture. */
        unsigned char tmp[16];
        if (inet_pton(AF_INET6, host, tmp) != 1)
            return netguard_fail(err, "url has an invalid host");
    }
    if (rest < aend) {
        if (*rest != ':')
            return netguard_fail(err, "url has an invalid host");
        const char *p = rest + 1;
        size_t plen = (size_t)(aend - p);
        if (plen == 0 || plen > 5)
            return netguard_fail(err, "url has an invalid port");
        long port = 0;
        for (; p < aend; p++) {
            if (*p < '0' || *p > '9')
                return netguard_fail(err, "url has an invalid port");
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return netguard_fail(err, "url has an invalid port");
    }
    return C_OK;
}

int netguard_check_addresses(const struct addrinfo *res, const struct netguard_allowlist *a,
                             struct error *err)
{
    if (res == NULL)
        return netguard_fail(err, "url host does not resolve");
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (netguard_address_allowed(a, ai->ai_addr))
            continue;
        char text[INET6_ADDRSTRLEN] = "?";
        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, text,
                      sizeof(text));
        else if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, text,
                      sizeof(text));
        return error_set(err, "url", "url resolves to a forbidden address (%s %s)",
                         netguard_class_name(netguard_classify(ai->ai_addr)), text);
    }
    return C_OK;
}

int netguard_check_url(const char *url, bool require_https, const struct netguard_allowlist *a,
                       struct error *err)
{
    if (url == NULL)
        return netguard_fail(err, "url must not be empty");
    char host[NETGUARD_HOST_MAX + 1];
    if (netguard_check_url_syntax(url, require_https, host, sizeof(host), err) != C_OK)
        return C_ERR;

    /* AF_UNSPEC and no AI_ADDRCONFIG: every address the name has, since the
     * connection may use any of them. */
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
        if (res)
            freeaddrinfo(res);
        return netguard_fail(err, "url host does not resolve");
    }
    int rc = netguard_check_addresses(res, a, err);
    freeaddrinfo(res);
    return rc;
}
