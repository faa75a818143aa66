/* Outgoing address guard: classification of IPv4 and IPv6 addresses, the
 * operator allowlist, and the webhook URL check (numeric hosts and
 * "localhost" only: the test machine has no DNS for public names). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "infra/netguard.h"
#include "core/result.h"
#include "../../leak_check.h"

TestSuite(netguard, .fini = unit_leak_check);

/* A sockaddr for a textual IPv4 or IPv6 address. */
static const struct sockaddr *addr_of(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
    } else {
        cr_assert_eq(inet_pton(AF_INET6, text, &in6->sin6_addr), 1, "bad test address %s", text);
        in6->sin6_family = AF_INET6;
    }
    return (const struct sockaddr *)ss;
}

static enum netguard_class classify(const char *text)
{
    struct sockaddr_storage ss;
    return netguard_classify(addr_of(text, &ss));
}

struct case_ {
    const char *addr;
    enum netguard_class cls;
};

Test(netguard, classifies_ipv4)
{
    static const struct case_ cases[] = {
        {"0.0.0.0", NETGUARD_UNSPECIFIED},
        {"0.255.255.255", NETGUARD_UNSPECIFIED},
        {"127.0.0.1", NETGUARD_LOOPBACK},
        {"127.255.255.254", NETGUARD_LOOPBACK},
        {"10.0.0.1", NETGUARD_PRIVATE},
        {"10.255.255.255", NETGUARD_PRIVATE},
        {"172.16.0.1", NETGUARD_PRIVATE},
        {"172.31.255.255", NETGUARD_PRIVATE},
        {"172.15.255.255", NETGUARD_PUBLIC},
        {"172.32.0.0", NETGUARD_PUBLIC},
        {"192.168.1.1", NETGUARD_PRIVATE},
        {"169.254.169.254", NETGUARD_LINK_LOCAL},
        {"169.254.0.1", NETGUARD_LINK_LOCAL},
        {"100.64.0.1", NETGUARD_CGNAT},
        {"100.127.255.255", NETGUARD_CGNAT},
        {"100.63.255.255", NETGUARD_PUBLIC},
        {"100.128.0.0", NETGUARD_PUBLIC},
        {"224.0.0.1", NETGUARD_MULTICAST},
        {"239.255.255.250", NETGUARD_MULTICAST},
        {"240.0.0.1", NETGUARD_RESERVED},
        {"255.255.255.255", NETGUARD_RESERVED},
        {"192.0.0.8", NETGUARD_RESERVED},
        {"192.0.2.1", NETGUARD_RESERVED},
        {"198.18.0.1", NETGUARD_RESERVED},
        {"198.19.255.255", NETGUARD_RESERVED},
        {"198.20.0.0", NETGUARD_PUBLIC},
        {"198.51.100.7", NETGUARD_RESERVED},
        {"203.0.113.9", NETGUARD_RESERVED},
        {"192.88.99.1", NETGUARD_RESERVED},
        {"93.184.216.34", NETGUARD_PUBLIC},
        {"8.8.8.8", NETGUARD_PUBLIC},
        {"1.1.1.1", NETGUARD_PUBLIC},
        {"192.0.1.255", NETGUARD_PUBLIC},
        {"223.255.255.255", NETGUARD_PUBLIC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(classify(cases[i].addr), cases[i].cls, "%s is %s, not %s", cases[i].addr,
                     netguard_class_name(classify(cases[i].addr)),
                     netguard_class_name(cases[i].cls));
}

Test(netguard, classifies_ipv6)
{
    static const struct case_ cases[] = {
        {"::", NETGUARD_UNSPECIFIED},
        {"::1", NETGUARD_LOOPBACK},
        {"fe80::1", NETGUARD_LINK_LOCAL},
        {"febf:ffff::1", NETGUARD_LINK_LOCAL},
        {"fc00::1", NETGUARD_UNIQUE_LOCAL},
        {"fd12:3456:789a::1", NETGUARD_UNIQUE_LOCAL},
        {"ff02::1", NETGUARD_MULTICAST},
        {"ff05::1:3", NETGUARD_MULTICAST},
        {"2001:db8::1", NETGUARD_RESERVED},
        {"2001:db8:ffff::1", NETGUARD_RESERVED},
        {"2001::1", NETGUARD_RESERVED}, /* Teredo */
        {"100::1", NETGUARD_RESERVED},  /* discard-only */
        {"fec0::1", NETGUARD_RESERVED}, /* deprecated site-local */
        {"::2", NETGUARD_RESERVED},     /* IPv4-compatible, deprecated */
        {"2606:2800:220:1::1", NETGUARD_PUBLIC},
        {"2a00:1450:4007:80e::200e", NETGUARD_PUBLIC},
        /* Mapped, NAT64 and 6to4 forms are what they embed. */
        {"::ffff:127.0.0.1", NETGUARD_LOOPBACK},
        {"::ffff:10.0.0.1", NETGUARD_PRIVATE},
        {"::ffff:169.254.169.254", NETGUARD_LINK_LOCAL},
        {"::ffff:0.0.0.0", NETGUARD_UNSPECIFIED},
        {"::ffff:93.184.216.34", NETGUARD_PUBLIC},
        {"64:ff9b::127.0.0.1", NETGUARD_LOOPBACK},
        {"64:ff9b::a9fe:a9fe", NETGUARD_LINK_LOCAL},
        {"64:ff9b::93.184.216.34", NETGUARD_PUBLIC},
        {"2002:7f00:1::", NETGUARD_LOOPBACK},
        {"2002:5db8:d822::1", NETGUARD_RESERVED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(classify(cases[i].addr), cases[i].cls, "%s is %s, not %s", cases[i].addr,
                     netguard_class_name(classify(cases[i].addr)),
                     netguard_class_name(cases[i].cls));
}

Test(netguard, class_names)
{
    cr_assert_str_eq(netguard_class_name(NETGUARD_PUBLIC), "public");
    cr_assert_str_eq(netguard_class_name(NETGUARD_LOOPBACK), "loopback");
    cr_assert_str_eq(netguard_class_name(NETGUARD_LINK_LOCAL), "link-local");
    cr_assert_str_eq(netguard_class_name(NETGUARD_UNIQUE_LOCAL), "unique-local");
    cr_assert_str_eq(netguard_class_name(NETGUARD_RESERVED), "reserved");
}

Test(netguard, other_families_are_never_allowed)
{
    struct sockaddr sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    cr_assert_eq(netguard_classify(&sa), NETGUARD_RESERVED);
    cr_assert_not(netguard_address_allowed(NULL, &sa));
    cr_assert_not(netguard_address_allowed(NULL, NULL));
}

Test(netguard, allowlist_parses_v4_v6_and_bare_addresses)
{
    struct netguard_allowlist a;
    cr_assert_eq(netguard_allowlist_parse("127.0.0.1/32, ::1,10.0.0.0/8,fd00::/8,192.168.1.5", &a),
                 C_OK);
    cr_assert_eq(a.count, 5);
    cr_assert_eq(a.entries[0].family, AF_INET);
    cr_assert_eq(a.entries[0].prefix, 32);
    cr_assert_eq(a.entries[1].family, AF_INET6);
    cr_assert_eq(a.entries[1].prefix, 128);
    cr_assert_eq(a.entries[2].prefix, 8);
    cr_assert_eq(a.entries[3].family, AF_INET6);
    cr_assert_eq(a.entries[3].prefix, 8);
    cr_assert_eq(a.entries[4].prefix, 32);

    struct sockaddr_storage ss;
    cr_assert(netguard_allowlist_contains(&a, addr_of("127.0.0.1", &ss)));
    cr_assert_not(netguard_allowlist_contains(&a, addr_of("127.0.0.2", &ss)));
    /* An IPv4 entry never admits the IPv4-mapped IPv6 spelling (a filter bypass). */
    cr_assert_not(netguard_allowlist_contains(&a, addr_of("::ffff:127.0.0.1", &ss)));
    cr_assert(netguard_allowlist_contains(&a, addr_of("::1", &ss)));
    cr_assert(netguard_allowlist_contains(&a, addr_of("10.200.3.4", &ss)));
    cr_assert_not(netguard_allowlist_contains(&a, addr_of("11.0.0.1", &ss)));
    cr_assert(netguard_allowlist_contains(&a, addr_of("fd12::9", &ss)));
    cr_assert_not(netguard_allowlist_contains(&a, addr_of("fc00::1", &ss)));
    cr_assert(netguard_allowlist_contains(&a, addr_of("192.168.1.5", &ss)));
    cr_assert_not(netguard_allowlist_contains(&a, addr_of("192.168.1.6", &ss)));

    cr_assert_eq(netguard_allowlist_parse("", &a), C_OK);
    cr_assert_eq(a.count, 0);
    cr_assert_not(netguard_allowlist_contains(&a, addr_of("127.0.0.1", &ss)));

    /* Odd prefixes split a byte. */
    cr_assert_eq(netguard_allowlist_parse("100.64.0.0/10,2001:db8::/33,0.0.0.0/0", &a), C_OK);
    cr_assert(netguard_allowlist_contains(&a, addr_of("100.127.1.1", &ss)));
    cr_assert(netguard_allowlist_contains(&a, addr_of("2001:db8:7fff::1", &ss)));
    cr_assert_not(netguard_allowlist_contains(&a, addr_of("2001:db8:8000::1", &ss)));
    cr_assert(netguard_allowlist_contains(&a, addr_of("8.8.8.8", &ss)));
}

Test(netguard, allowlist_rejects_bad_entries)
{
    static const char *const bad[] = {
        "127.0.0.1/33",
        "::1/129",
        "127.0.0.1/",
        "127.0.0.1/-1",
        "127.0.0.1/+8",
        "127.0.0.1/8x",
        "127.0.0.1/0x8",
        "127.1",
        "0x7f.0.0.1",
        "2130706433",
        "localhost",
        "127.0.0.1,",
        ",127.0.0.1",
        "127.0.0.1,,::1",
        "1.2.3.4.5",
        "256.0.0.1",
        "::1/1000",
        "fe80::1%eth0",
        " ",
        "127.0.0.1/ 8",
    };
    struct netguard_allowlist a, before;
    cr_assert_eq(netguard_allowlist_parse("127.0.0.1", &a), C_OK);
    before = a;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(netguard_allowlist_parse(bad[i], &a), C_ERR, "accepted \"%s\"", bad[i]);
        cr_assert_eq(memcmp(&a, &before, sizeof(a)), 0);
    }
    cr_assert_eq(netguard_allowlist_parse(NULL, &a), C_ERR);

    char many[1024] = "";
    size_t len = 0;
    for (int i = 0; i < NETGUARD_ALLOWLIST_MAX; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%s10.0.0.%d", i ? "," : "", i);
    cr_assert_eq(netguard_allowlist_parse(many, &a), C_OK);
    cr_assert_eq(a.count, NETGUARD_ALLOWLIST_MAX);
    snprintf(many + len, sizeof(many) - len, ",10.0.1.1");
    cr_assert_eq(netguard_allowlist_parse(many, &a), C_ERR);
}

Test(netguard, address_allowed_is_public_or_allowlisted)
{
    struct netguard_allowlist a;
    cr_assert_eq(netguard_allowlist_parse("127.0.0.1/32", &a), C_OK);
    struct sockaddr_storage ss;
    cr_assert(netguard_address_allowed(NULL, addr_of("93.184.216.34", &ss)));
    cr_assert_not(netguard_address_allowed(NULL, addr_of("127.0.0.1", &ss)));
    cr_assert(netguard_address_allowed(&a, addr_of("127.0.0.1", &ss)));
    cr_assert_not(netguard_address_allowed(&a, addr_of("10.0.0.1", &ss)));
    cr_assert_not(netguard_address_allowed(&a, addr_of("::1", &ss)));
}

static int check(const char *url, bool https, const char *allow, struct error *err)
{
    struct netguard_allowlist a;
    cr_assert_eq(netguard_allowlist_parse(allow, &a), C_OK);
    *err = (struct error)ERROR_INIT;
    int rc = netguard_check_url(url, https, &a, err);
    if (rc != C_OK)
        cr_assert_str_eq(err->param, "url", "%s", url);
    return rc;
}

#define REFUSED(url, https, allow, expected)                                                       \
    do {                                                                                           \
        struct error err_;                                                                         \
        cr_assert_eq(check(url, https, allow, &err_), C_ERR, "accepted %s", url);                  \
        cr_assert_str_eq(err_.message, expected, "%s", url);                                       \
    } while (0)

#define ALLOWED(url, https, allow)                                                                 \
    do {                                                                                           \
        struct error err_;                                                                         \
        cr_assert_eq(check(url, https, allow, &err_), C_OK, "%s: %s", url, err_.message);          \
    } while (0)

Test(netguard, forbidden_targets_are_refused)
{
    REFUSED("http://169.254.169.254/latest/meta-data/", false, "",
            "url resolves to a forbidden address (link-local 169.254.169.254)");
    REFUSED("http://10.0.0.1/hook", false, "",
            "url resolves to a forbidden address (private 10.0.0.1)");
    REFUSED("http://[::ffff:127.0.0.1]/hook", false, "",
            "url resolves to a forbidden address (loopback ::ffff:127.0.0.1)");
    REFUSED("http://[::1]:8080/hook", false, "",
            "url resolves to a forbidden address (loopback ::1)");
    /* What the resolver makes of numeric forms, not what they look like. */
    REFUSED("http://2130706433/hook", false, "",
            "url resolves to a forbidden address (loopback 127.0.0.1)");
    REFUSED("http://0x7f.1/hook", false, "",
            "url resolves to a forbidden address (loopback 127.0.0.1)");
    REFUSED("http://100.64.0.1/", false, "",
            "url resolves to a forbidden address (cgnat 100.64.0.1)");
    REFUSED("http://[fd00::1]/", false, "",
            "url resolves to a forbidden address (unique-local fd00::1)");
    REFUSED("http://[64:ff9b::a9fe:a9fe]/", false, "",
            "url resolves to a forbidden address (link-local 64:ff9b::a9fe:a9fe)");
    REFUSED("http://0.0.0.0:8080/", false, "",
            "url resolves to a forbidden address (unspecified 0.0.0.0)");
    /* An allowlist for one address admits no other. */
    REFUSED("http://10.0.0.1/hook", false, "127.0.0.1/32",
            "url resolves to a forbidden address (private 10.0.0.1)");
}

Test(netguard, localhost_is_refused_without_allowlist)
{
    struct error err;
    cr_assert_eq(check("http://localhost:8080/hook", false, "", &err), C_ERR);
    /* localhost may resolve to 127.0.0.1 or ::1 first, depending on /etc/hosts. */
    cr_assert(strncmp(err.message, "url resolves to a forbidden address (loopback ", 46) == 0, "%s",
              err.message);
    cr_assert_eq(check("http://LOCALHOST/", false, "", &err), C_ERR);
    /* Every address must be allowed: an allowlist of 127.0.0.1 alone passes
     * only if localhost has no ::1 entry, so allow both. */
    cr_assert_eq(check("http://localhost:8080/hook", false, "127.0.0.0/8,::1", &err), C_OK, "%s",
                 err.message);
}

Test(netguard, allowlisted_and_public_literals_pass)
{
    ALLOWED("http://127.0.0.1:8080/hook", false, "127.0.0.1/32");
    ALLOWED("http://127.0.0.1/", false, "127.0.0.1");
    ALLOWED("https://93.184.216.34/hook", true, "");
    ALLOWED("http://93.184.216.34", false, "");
    ALLOWED("HTTPS://93.184.216.34:443/a/b?c=d#e", true, "");
    ALLOWED("hTTp://93.184.216.34:1", false, "");
    ALLOWED("http://93.184.216.34:65535?x", false, "");
    ALLOWED("https://[2606:2800:220:1:248:1893:25c8:1946]:8443/hook", true, "");
    ALLOWED("http://[::1]:9000/", false, "::1");
}

Test(netguard, url_syntax_is_strict)
{
    REFUSED("http://93.184.216.34/", true, "", "url must use https for live keys");
    REFUSED("ftp://93.184.216.34/", false, "", "url must use http or https");
    REFUSED("httpx://93.184.216.34/", false, "", "url must use http or https");
    REFUSED("://93.184.216.34/", false, "", "url must use http or https");
    REFUSED("93.184.216.34/hook", false, "", "url must be absolute (http:// or https://)");
    REFUSED("http:/93.184.216.34/", false, "", "url must be absolute (http:// or https://)");
    REFUSED("", false, "", "url must not be empty");
    REFUSED("https://user:pass@93.184.216.34/", false, "", "url must not contain credentials");
    REFUSED("https://user@93.184.216.34/", false, "", "url must not contain credentials");
    REFUSED("http://93.184.216.34@127.0.0.1/", false, "", "url must not contain credentials");
    REFUSED("http:///hook", false, "", "url must have a host");
    REFUSED("http://", false, "", "url must have a host");
    REFUSED("http://:80/", false, "", "url must have a host");
    REFUSED("http://[]/", false, "", "url must have a host");
    REFUSED("http://93.184.216.34:0/", false, "", "url has an invalid port");
    REFUSED("http://93.184.216.34:65536/", false, "", "url has an invalid port");
    REFUSED("http://93.184.216.34:/", false, "", "url has an invalid port");
    REFUSED("http://93.184.216.34:8o/", false, "", "url has an invalid port");
    REFUSED("http://93.184.216.34:-1/", false, "", "url has an invalid port");
    REFUSED("http://93.184.216.34:000080/", false, "", "url has an invalid port");
    REFUSED("http://[::1/", false, "", "url has an invalid host");
    REFUSED("http://[127.0.0.1]/", false, "", "url has an invalid host");
    REFUSED("http://[fe80::1%25eth0]/", false, "", "url has an invalid host");
    REFUSED("http://[::1]x/", false, "", "url has an invalid host");
    REFUSED("http://93.184.216.34\\@127.0.0.1/", false, "", "url must not contain credentials");
    REFUSED("http://127.0.0.1\\.example.com/", false, "", "url has an invalid host");
    REFUSED("http://exa%6dple.com/", false, "", "url has an invalid host");
    REFUSED("http://93.184.216.34/a b", false, "",
            "url must not contain spaces, control or non-ASCII characters");
    REFUSED("http://93.184.216.34/\xc3\xa9", false, "",
            "url must not contain spaces, control or non-ASCII characters");
    REFUSED("http://93.184.216.34/\r\nHost: x", false, "",
            "url must not contain spaces, control or non-ASCII characters");
    REFUSED("http://no-such-host.invalid/", false, "", "url host does not resolve");

    char long_url[2100];
    int n = snprintf(long_url, sizeof(long_url), "https://93.184.216.34/");
    memset(long_url + n, 'a', sizeof(long_url) - 1 - (size_t)n);
    long_url[2048] = '\0';
    ALLOWED(long_url, true, "");
    long_url[2048] = 'a';
    long_url[2049] = '\0';
    REFUSED(long_url, true, "", "url must be at most 2048 characters");

    /* A NULL err is tolerated. */
    cr_assert_eq(netguard_check_url("ftp://x/", false, NULL, NULL), C_ERR);
    cr_assert_eq(netguard_check_url(NULL, false, NULL, NULL), C_ERR);
}

/* The checks without the resolver, for callers (and the fuzzer) that must not
 * ask DNS: the host as libcurl will read it, or the same refusal. */
Test(netguard, url_host_checks_without_resolving)
{
    char host[NETGUARD_HOST_MAX + 1];
    struct error err = ERROR_INIT;
    cr_assert_eq(netguard_check_url_syntax("https://Shop.Example:8443/a?b#c", true, host,
                                           sizeof(host), &err),
                 C_OK, "%s", err.message);
    cr_assert_str_eq(host, "Shop.Example");
    cr_assert_eq(
        netguard_check_url_syntax("http://[::ffff:127.0.0.1]:80/", false, host, sizeof(host), &err),
        C_OK);
    cr_assert_str_eq(host, "::ffff:127.0.0.1");
    /* No lookup: a name that does not resolve still has its host. */
    cr_assert_eq(
        netguard_check_url_syntax("http://no-such-host.invalid/", false, host, sizeof(host), &err),
        C_OK);
    cr_assert_str_eq(host, "no-such-host.invalid");
    cr_assert_eq(netguard_check_url_syntax("http://shop.example/", true, host, sizeof(host), &err),
                 C_ERR);
    cr_assert_str_eq(err.message, "url must use https for live keys");
    cr_assert_str_eq(err.param, "url");
    cr_assert_eq(
        netguard_check_url_syntax("http://u@shop.example/", false, host, sizeof(host), &err),
        C_ERR);
    cr_assert_str_eq(err.message, "url must not contain credentials");
    cr_assert_eq(netguard_check_url_syntax(NULL, false, host, sizeof(host), &err), C_ERR);
    cr_assert_str_eq(err.message, "url must not be empty");

    char long_host[300];
    memcpy(long_host, "http://", 7);
    memset(long_host + 7, 'a', 254);
    long_host[7 + 254] = '\0';
    cr_assert_eq(netguard_check_url_syntax(long_host, false, host, sizeof(host), &err), C_ERR);
    cr_assert_str_eq(err.message, "url has an invalid host");
    long_host[7 + 253] = '\0';
    cr_assert_eq(netguard_check_url_syntax(long_host, false, host, sizeof(host), &err), C_OK);
    cr_assert_eq(strlen(host), NETGUARD_HOST_MAX);
}
