/* A resolver a test can make slow, loaded into a gateway of the test's own with
 * LD_PRELOAD (tests/integration/bounds.c): names ending in ".slow.test" take
 * CAISSE_TEST_SLOW_DNS_MS (default 5000) and then fail, as a DNS server that
 * does not answer would; names ending in ".loopback.test" are 127.0.0.1 at
 * once; every other name, and every numeric-only lookup (AI_NUMERICHOST), goes
 * to the real getaddrinfo. */
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    /* A numeric-only lookup never asks DNS: the real one answers it. */
    bool by_name = node != NULL && (hints == NULL || (hints->ai_flags & AI_NUMERICHOST) == 0);
    if (by_name && ends_with(node, ".slow.test")) {
        const char *env = getenv("CAISSE_TEST_SLOW_DNS_MS");
        long ms = env != NULL ? strtol(env, NULL, 10) : 5000;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
        return EAI_AGAIN;
    }
    if (by_name && ends_with(node, ".loopback.test")) {
        /* One block, as glibc allocates them, so its freeaddrinfo frees it. */
        struct {
            struct addrinfo ai;
            struct sockaddr_in sin;
        } *block = calloc(1, sizeof(*block));
        if (block == NULL)
            return EAI_MEMORY;
        block->sin.sin_family = AF_INET;
        block->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        block->ai.ai_family = AF_INET;
        block->ai.ai_socktype = SOCK_STREAM;
        block->ai.ai_addrlen = sizeof(block->sin);
        block->ai.ai_addr = (struct sockaddr *)&block->sin;
        *res = &block->ai;
        return 0;
    }
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(
            RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}
