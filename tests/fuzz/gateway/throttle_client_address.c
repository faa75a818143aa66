/* The client address the rate limits count (gateway/throttle.c,
 * throttle_client_address) from any peer, CAISSE_TRUSTED_PROXIES and
 * X-Forwarded-For values, held against throttle.h's rule written out here:
 * the peer, unless it is a trusted proxy; then the entries of every value,
 * read from the right, up to the first that is not trusted (a malformed
 * entry, or more than 32, stops at the trusted one before); IPv4 as
 * ::ffff:a.b.c.d, IPv6 as its /64. An untrusted peer is never replaced by
 * what a client wrote.
 *
 * Input: a family choice, 16 peer address bytes, the trusted proxies (up to
 * a NUL), then up to 8 X-Forwarded-For values separated by NULs.
 * Dictionary: tests/fuzz/dict/address.dict. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include "../../../gateway/throttle.h"
#include "../fuzz_input.h"
#include "core/result.h"

#define VALUES_MAX 8
#define HOPS_MAX 32

static bool parse_entry(const char *s, size_t n, unsigned char out[16])
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char text[64];
    if (n == 0 || n >= INET6_ADDRSTRLEN)
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    unsigned char v4[4];
    if (inet_pton(AF_INET, text, v4) == 1) {
        memset(out, 0, 16);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, text, out) == 1;
}

static bool trusted_address(const struct netguard_allowlist *a, const unsigned char addr[16])
{
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (memcmp(addr, mapped, 12) == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, addr + 12, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, addr, 16);
    }
    return netguard_allowlist_contains(a, (const struct sockaddr *)&ss);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    uint8_t family = fuzz_input_byte(&in) % 3;
    unsigned char peer_bytes[16];
    for (int i = 0; i < 16; i++)
        peer_bytes[i] = fuzz_input_byte(&in);
    char *spec = fuzz_input_field(&in);
    char *values[VALUES_MAX];
    size_t n = 0;
    for (char *v; n < VALUES_MAX && (v = fuzz_input_field(&in)) != NULL;)
        values[n++] = v;

    struct netguard_allowlist trusted;
    if (spec == NULL || netguard_allowlist_parse(spec, &trusted) != C_OK)
        memset(&trusted, 0, sizeof(trusted));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned char want[16];
    memset(want, 0, sizeof(want));
    want[10] = want[11] = 0xff;
    if (family == 0) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, peer_bytes, 4);
        memcpy(want + 12, peer_bytes, 4);
    } else if (family == 1) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, peer_bytes, 16);
        memcpy(want, peer_bytes, 16);
    } else {
        ss.ss_family = AF_UNIX;
    }

    unsigned char out[THROTTLE_ADDRESS_LEN];
    memset(out, 0xa5, sizeof(out));
    int rc = throttle_client_address((const struct sockaddr *)&ss, (const char *const *)values, n,
                                     &trusted, out);
    if (family == 2) {
        FUZZ_CHECK(rc == C_ERR, "an address for a unix socket");
    } else {
        FUZZ_CHECK(rc == C_OK, "no address for an IP peer");
        /* The walk from the right, over every value's comma-separated entries. */
        if (trusted.count > 0 && trusted_address(&trusted, want)) {
            int hops = 0;
            bool stop = false;
            for (size_t v = n; v-- > 0 && !stop;) {
                const char *s = values[v];
                size_t len = strlen(s), end = len;
                for (;;) {
                    size_t start = end;
                    while (start > 0 && s[start - 1] != ',')
                        start--;
                    unsigned char addr[16];
                    if (hops++ == HOPS_MAX || !parse_entry(s + start, end - start, addr)) {
                        stop = true;
                        break;
                    }
                    memcpy(want, addr, 16);
                    if (!trusted_address(&trusted, addr)) {
                        stop = true;
                        break;
                    }
                    if (start == 0)
                        break;
                    end = start - 1;
                }
            }
        }
        static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
        if (memcmp(want, mapped, 12) != 0)
            memset(want + 8, 0, 8);
        FUZZ_CHECK(memcmp(out, want, 16) == 0, "another client address than the rule's");
    }
    for (size_t i = 0; i < n; i++)
        free(values[i]);
    free(spec);
    return 0;
}
