/* The address guard (common/infra/netguard.c) on any allowlist text and any
 * address, held against relations that must hold whatever the ranges are:
 * an IPv4 address is classified as its IPv4-mapped and NAT64 spellings are
 * (and 6to4's, never public); an accepted allowlist writes back (inet_ntop
 * and prefix) to a text that parses to the same list; an address is in it
 * exactly when an entry of its family has the same first prefix bits;
 * netguard_address_allowed is public-or-allowlisted.
 *
 * Input: a family choice, 16 address bytes, then the allowlist text (up to
 * its first NUL). Dictionary: tests/fuzz/dict/address.dict. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../fuzz_input.h"
#include "core/result.h"
#include "infra/netguard.h"

static bool prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    for (int i = 0; i < bits; i++) {
        int mask = 0x80 >> (i % 8);
        if ((a[i / 8] & mask) != (b[i / 8] & mask))
            return false;
    }
    return true;
}

static bool reference_contains(const struct netguard_allowlist *a, int family,
                               const unsigned char *addr)
{
    for (size_t i = 0; i < a->count; i++) {
        if (a->entries[i].family == family &&
            prefix_equal(addr, a->entries[i].addr, a->entries[i].prefix))
            return true;
    }
    return false;
}

static enum netguard_class classify6(const unsigned char b[16])
{
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    memcpy(s6.sin6_addr.s6_addr, b, 16);
    return netguard_classify((const struct sockaddr *)&s6);
}

static void check_allowlist_round_trip(const struct netguard_allowlist *a)
{
    char spec[NETGUARD_ALLOWLIST_MAX * (INET6_ADDRSTRLEN + 6)];
    size_t used = 0;
    spec[0] = '\0';
    FUZZ_CHECK(a->count <= NETGUARD_ALLOWLIST_MAX, "%zu entries", a->count);
    for (size_t i = 0; i < a->count; i++) {
        const struct netguard_cidr *c = &a->entries[i];
        FUZZ_CHECK((c->family == AF_INET && c->prefix >= 0 && c->prefix <= 32) ||
                       (c->family == AF_INET6 && c->prefix >= 0 && c->prefix <= 128),
                   "entry %zu: family %d, prefix %d", i, c->family, c->prefix);
        char text[INET6_ADDRSTRLEN];
        FUZZ_CHECK(inet_ntop(c->family, c->addr, text, sizeof(text)) != NULL, "inet_ntop");
        used += (size_t)snprintf(spec + used, sizeof(spec) - used, "%s%s/%d", i > 0 ? "," : "",
                                 text, c->prefix);
    }
    struct netguard_allowlist again;
    FUZZ_CHECK(netguard_allowlist_parse(spec, &again) == C_OK, "\"%s\" does not parse again", spec);
    FUZZ_CHECK(again.count == a->count, "\"%s\": %zu entries, then %zu", spec, a->count,
               again.count);
    for (size_t i = 0; i < a->count; i++)
        FUZZ_CHECK(again.entries[i].family == a->entries[i].family &&
                       again.entries[i].prefix == a->entries[i].prefix &&
                       memcmp(again.entries[i].addr, a->entries[i].addr, 16) == 0,
                   "\"%s\": entry %zu changed", spec, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    uint8_t family_choice = fuzz_input_byte(&in);
    unsigned char addr[16];
    for (int i = 0; i < 16; i++)
        addr[i] = fuzz_input_byte(&in);
    size_t len;
    const uint8_t *rest = fuzz_input_rest(&in, &len);
    char *spec = fuzz_input_strndup(rest, len);

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int family = (family_choice & 1) ? AF_INET6 : AF_INET;
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, addr, 4);
        enum netguard_class c = netguard_classify((const struct sockaddr *)&ss);
        unsigned char mapped[16] = {[10] = 0xff, [11] = 0xff};
        memcpy(mapped + 12, addr, 4);
        FUZZ_CHECK(classify6(mapped) == c, "::ffff:%u.%u.%u.%u", addr[0], addr[1], addr[2],
                   addr[3]);
        unsigned char nat64[16] = {0x00, 0x64, 0xff, 0x9b};
        memcpy(nat64 + 12, addr, 4);
        FUZZ_CHECK(classify6(nat64) == c, "64:ff9b::%u.%u.%u.%u", addr[0], addr[1], addr[2],
                   addr[3]);
        unsigned char sixto4[16] = {0x20, 0x02};
        memcpy(sixto4 + 2, addr, 4);
        FUZZ_CHECK(classify6(sixto4) == (c == NETGUARD_PUBLIC ? NETGUARD_RESERVED : c),
                   "2002:%02x%02x:%02x%02x::", addr[0], addr[1], addr[2], addr[3]);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        memcpy(s6->sin6_addr.s6_addr, addr, 16);
    }
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    enum netguard_class c = netguard_classify(sa);
    FUZZ_CHECK(c >= NETGUARD_PUBLIC && c <= NETGUARD_RESERVED, "class %d", (int)c);
    FUZZ_CHECK(netguard_class_name(c) != NULL, "no name for class %d", (int)c);

    struct netguard_allowlist a;
    if (netguard_allowlist_parse(spec, &a) == C_OK) {
        check_allowlist_round_trip(&a);
        bool contains = netguard_allowlist_contains(&a, sa);
        FUZZ_CHECK(contains == reference_contains(&a, family, addr), "contains: %d", contains);
        FUZZ_CHECK(netguard_address_allowed(&a, sa) == (c == NETGUARD_PUBLIC || contains),
                   "allowed");
    }
    FUZZ_CHECK(netguard_address_allowed(NULL, sa) == (c == NETGUARD_PUBLIC),
               "allowed without list");
    free(spec);
    return 0;
}
