/* The webhook URL guard (common/infra/netguard.c, netguard_check_url_syntax: all of
 * netguard_check_url but the resolution; a fuzzer never asks DNS) on any
 * text. netguard.c's promise is held against libcurl's own URL parser, the
 * one that later sends the webhook: whatever the guard accepts, libcurl
 * accepts too and reads as the same host; the scheme is http or https
 * (https when required); a refusal is a well-formed 400 on param url.
 *
 * Input: require_https (the low bit), then the URL (up to its first NUL).
 * Dictionary: tests/fuzz/dict/url.dict. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "../../fuzz_input.h"
#include "core/result.h"
#include "infra/netguard.h"

/* Whether two spellings of a host name the same thing to the resolver:
 * equal but for case, or the same IPv4 or IPv6 address (libcurl rewrites
 * "2130706433" as "127.0.0.1" and "[0::1]" as "[::1]"). */
static bool same_host(const char *ours, const char *curls)
{
    if (strcasecmp(ours, curls) == 0)
        return true;
    struct in_addr a4, b4;
    if (inet_aton(ours, &a4) == 1 && inet_aton(curls, &b4) == 1)
        return a4.s_addr == b4.s_addr;
    size_t n = strlen(curls);
    if (n > 2 && curls[0] == '[' && curls[n - 1] == ']') {
        char inner[64];
        unsigned char a6[16], b6[16];
        if (n - 2 >= sizeof(inner))
            return false;
        memcpy(inner, curls + 1, n - 2);
        inner[n - 2] = '\0';
        return inet_pton(AF_INET6, ours, a6) == 1 && inet_pton(AF_INET6, inner, b6) == 1 &&
               memcmp(a6, b6, 16) == 0;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    bool require_https = (fuzz_input_byte(&in) & 1) != 0;
    size_t len;
    const uint8_t *rest = fuzz_input_rest(&in, &len);
    char *url = fuzz_input_strndup(rest, len);

    char host[NETGUARD_HOST_MAX + 1];
    struct error err = ERROR_INIT;
    if (netguard_check_url_syntax(url, require_https, host, sizeof(host), &err) != C_OK) {
        FUZZ_CHECK(strcmp(err.param, "url") == 0 && err.message[0] != '\0', "error \"%s\" (%s)",
                   err.message, err.param);
        free(url);
        return 0;
    }
    size_t hl = strlen(host);
    FUZZ_CHECK(hl > 0 && hl <= NETGUARD_HOST_MAX, "host of %zu bytes", hl);
    FUZZ_CHECK(strncasecmp(url, "https://", 8) == 0 ||
                   (!require_https && strncasecmp(url, "http://", 7) == 0),
               "scheme of %s", url);

    /* As deliver's easy handle parses CURLOPT_URL. */
    CURLU *u = curl_url();
    FUZZ_CHECK(u != NULL, "out of memory");
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    FUZZ_CHECK(rc == CURLUE_OK, "%s: accepted, libcurl refuses it (%s)", url,
               curl_url_strerror(rc));
    char *curl_host = NULL, *curl_user = NULL;
    FUZZ_CHECK(curl_url_get(u, CURLUPART_HOST, &curl_host, 0) == CURLUE_OK,
               "%s: no host for libcurl", url);
    FUZZ_CHECK(same_host(host, curl_host), "%s: host \"%s\", libcurl's \"%s\"", url, host,
               curl_host);
    FUZZ_CHECK(curl_url_get(u, CURLUPART_USER, &curl_user, 0) == CURLUE_NO_USER,
               "%s: credentials for libcurl", url);
    curl_free(curl_host);
    curl_free(curl_user);
    curl_url_cleanup(u);
    free(url);
    return 0;
}
