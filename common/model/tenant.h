/* Organizations and their API keys. A key is shown once when created; only its
 * SHA-256 is stored, with a prefix and last four characters for listings. */
#ifndef CAISSE_TENANT_H
#define CAISSE_TENANT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "infra/db.h"
#include "core/uuid.h"

#define TENANT_KEY_RANDOM_CHARS 40
#define TENANT_KEY_MAX_LEN 64 /* "sk_live_" + 40 base62 + terminator fits */
#define TENANT_SHA256_HEX_LEN 65

/* An organization without its own rate limit: the gateways' default applies. */
#define TENANT_RATE_LIMIT_DEFAULT (-1)
#define TENANT_RATE_LIMIT_MAX 1000000

/* Who is calling: everything the gateway scopes and limits by. */
struct tenant_identity {
    char key_id[UUID_STR_LEN];
    char organization_id[UUID_STR_LEN];
    char environment[5];
    char default_currency[4];
    /* Requests a second each of the organization's API keys may make
     * (caisse-admin set-rate-limit): TENANT_RATE_LIMIT_DEFAULT, 0 for none. */
    long rate_limit_per_s;
};

/* environment is "test" or "live"; out gets "sk_<env>_" and 40 base62 chars. */
int tenant_api_key_generate(const char *environment, char out[TENANT_KEY_MAX_LEN]);
void tenant_sha256_hex(const char *text, char out[TENANT_SHA256_HEX_LEN]);
/* "test"/"live" from a well-formed key's prefix, else NULL. */
const char *tenant_api_key_environment(const char *key);

int tenant_store_create_organization(struct db *db, const char *name, const char *currency,
                                     char id_out[UUID_STR_LEN]);
/* Prints nothing: the caller shows key_out once. */
int tenant_store_create_api_key(struct db *db, const char *organization_id, const char *environment,
                                const char *description, char key_out[TENANT_KEY_MAX_LEN],
                                char id_out[UUID_STR_LEN]);
/* found is false for unknown and revoked keys alike. */
int tenant_store_lookup_api_key(struct db *db, const char *key, struct tenant_identity *out,
                                bool *found);
/* organization_id may be NULL for all. *out: new array of key objects. */
int tenant_store_list_api_keys(struct db *db, const char *organization_id, json_t **out);
/* found false: no such key, or already revoked. */
int tenant_store_revoke_api_key(struct db *db, const char *key_id, bool *found);
int tenant_store_list_organizations(struct db *db, json_t **out);
/* Sets the organization's rate limit: per_second 0 … TENANT_RATE_LIMIT_MAX
 * (0: none), or TENANT_RATE_LIMIT_DEFAULT to follow the gateways' default.
 * found false: no such organization. */
int tenant_store_set_rate_limit(struct db *db, const char *organization_id, long per_second,
                                bool *found);

/* Characters of an organization's display name (the organizations.display_name CHECK). */
#define TENANT_DISPLAY_NAME_MAX 200
/* Sets the name the hosted checkout page shows (1 to TENANT_DISPLAY_NAME_MAX characters
 * of valid UTF-8), or clears it when display_name is NULL (the page then shows the
 * organization's name). found false: no such organization. */
int tenant_store_set_display_name(struct db *db, const char *organization_id,
                                  const char *display_name, bool *found);
/* The name to show customers of the organization: its display name, else its name,
 * copied into out (cut before a character that would not fit). C_ERR, out untouched, when
 * the database fails or the organization does not exist. */
int tenant_display_name(struct db *db, const char *organization_id, char *out, size_t outlen);

#endif
