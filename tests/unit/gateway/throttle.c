/* The client address the per-client limits count by: the TCP peer, or behind
 * trusted proxies the rightmost untrusted X-Forwarded-For entry, never what a
 * client wrote itself; IPv6 by its /64. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "../../../gateway/throttle.h"
#include "../leak_check.h"

TestSuite(throttle, .fini = unit_leak_check);

static struct sockaddr_in peer_v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(40000)};
    cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

/* The 16 bytes the limits use for an address written as text. */
static void expected(const char *ip, unsigned char out[16])
{
    unsigned char v4[4];
    if (inet_pton(AF_INET, ip, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        return;
    }
    cr_assert_eq(inet_pton(AF_INET6, ip, out), 1, "%s", ip);
}

static void assert_client(const char *peer, const char *trusted_spec, const char *const *xff,
                          size_t n, const char *want)
{
    struct netguard_allowlist trusted;
    cr_assert_eq(netguard_allowlist_parse(trusted_spec, &trusted), 0, "%s", trusted_spec);
    struct sockaddr_in p = peer_v4(peer);
    unsigned char got[THROTTLE_ADDRESS_LEN], want_bytes[16];
    cr_assert_eq(throttle_client_address((const struct sockaddr *)&p, xff, n, &trusted, got), 0);
    expected(want, want_bytes);
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, got, text, sizeof(text));
    cr_assert(memcmp(got, want_bytes, 16) == 0, "peer %s, trusted \"%s\": got %s, want %s", peer,
              trusted_spec, text, want);
}

Test(throttle, without_trusted_proxies_the_client_is_the_peer)
{
    const char *xff[] = {"198.51.100.7"};
    assert_client("203.0.113.5", "", xff, 1, "203.0.113.5");
    assert_client("203.0.113.5", "", NULL, 0, "203.0.113.5");
}

Test(throttle, an_untrusted_peer_cannot_name_another_client)
{
    const char *xff[] = {"198.51.100.7"};
    assert_client("203.0.113.5", "10.0.0.0/8", xff, 1, "203.0.113.5");
}

Test(throttle, behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client)
{
    /* The client wrote "1.2.3.4" itself; the ingress appended what it saw. */
    const char *one[] = {"1.2.3.4, 198.51.100.7"};
    assert_client("10.1.2.3", "10.0.0.0/8", one, 1, "198.51.100.7");
    /* Two proxies of ours: the inner one's address is skipped too. */
    const char *chain[] = {"1.2.3.4, 198.51.100.7, 10.9.9.9"};
    assert_client("10.1.2.3", "10.0.0.0/8", chain, 1, "198.51.100.7");
    /* Several headers read as one list, in order. */
    const char *split[] = {"1.2.3.4", "198.51.100.7 ,10.9.9.9"};
    assert_client("10.1.2.3", "10.0.0.0/8", split, 2, "198.51.100.7");
}

Test(throttle, a_trusted_proxy_without_a_header_is_the_client)
{
    assert_client("10.1.2.3", "10.0.0.0/8", NULL, 0, "10.1.2.3");
}

Test(throttle, a_malformed_entry_stops_at_the_last_trusted_address)
{
    const char *xff[] = {"198.51.100.7, bogus, 10.9.9.9"};
    assert_client("10.1.2.3", "10.0.0.0/8", xff, 1, "10.9.9.9");
    const char *empty[] = {""};
    assert_client("10.1.2.3", "10.0.0.0/8", empty, 1, "10.1.2.3");
    const char *trailing[] = {"198.51.100.7,"};
    assert_client("10.1.2.3", "10.0.0.0/8", trailing, 1, "10.1.2.3");
}

Test(throttle, when_every_entry_is_trusted_the_leftmost_is_the_client)
{
    const char *xff[] = {"10.5.5.5, 10.6.6.6"};
    assert_client("10.1.2.3", "10.0.0.0/8", xff, 1, "10.5.5.5");
}

Test(throttle, an_ipv6_client_counts_as_its_64)
{
    const char *xff[] = {"2001:db8:1:2:aaaa:bbbb:cccc:dddd"};
    assert_client("10.1.2.3", "10.0.0.0/8", xff, 1, "2001:db8:1:2::");
    const char *mapped[] = {"::ffff:198.51.100.7"};
    assert_client("10.1.2.3", "10.0.0.0/8", mapped, 1, "198.51.100.7");
}

Test(throttle, an_ipv4_mapped_proxy_address_is_trusted_as_ipv4)
{
    const char *xff[] = {"198.51.100.7, ::ffff:10.9.9.9"};
    assert_client("10.1.2.3", "10.0.0.0/8", xff, 1, "198.51.100.7");
}

Test(throttle, a_peer_that_is_not_ip_has_no_address)
{
    struct sockaddr s = {.sa_family = AF_UNIX};
    unsigned char out[THROTTLE_ADDRESS_LEN];
    cr_assert_neq(throttle_client_address(&s, NULL, 0, NULL, out), 0);
    cr_assert_neq(throttle_client_address(NULL, NULL, 0, NULL, out), 0);
}
