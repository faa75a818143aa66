/* What one server thread remembers of API key lookups: the SHA-256 of a key,
 * whether it was valid and whose it is, until it expires. Valid and invalid
 * keys live in two least-recently-used lists of their own sizes, so a flood
 * of unknown keys only ever pushes out other unknown keys, never a merchant's
 * valid one. Not thread-safe: each thread has its own (auth.c), which is what
 * keeps the authenticated hot path free of locks. */
#ifndef GATEWAY_AUTH_CACHE_H
#define GATEWAY_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tenant.h"

struct auth_cache;

/* At most valid_max valid and invalid_max invalid entries (each at least 1).
 * NULL: out of memory. */
struct auth_cache *auth_cache_new(size_t valid_max, size_t invalid_max);
void auth_cache_free(struct auth_cache *c);

/* true: hash is known and has not expired at now_ms; *valid says how it was
 * found and, when valid, *identity is the key's. A hit makes the entry the
 * most recently used of its list. */
bool auth_cache_get(struct auth_cache *c, const char hash[TENANT_SHA256_HEX_LEN], int64_t now_ms,
                    bool *valid, struct tenant_identity *identity);
/* Remembers hash as valid (with identity) or invalid until expires_ms,
 * replacing what was known of it; the least recently used entry of that list
 * makes room when it is full. C_ERR: out of memory, the cache is unchanged. */
int auth_cache_put(struct auth_cache *c, const char hash[TENANT_SHA256_HEX_LEN], bool valid,
                   const struct tenant_identity *identity, int64_t expires_ms);
/* How many valid (or invalid) entries it holds, expired ones included. */
size_t auth_cache_count(const struct auth_cache *c, bool valid);

#endif
