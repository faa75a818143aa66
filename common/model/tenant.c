#include "tenant.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "model/currency.h"
#include "core/result.h"
#include "core/utf8.h"
#include "core/hex.h"

/* api.md: "prefix + at least 32 random base62 characters"; we make 40. */
#define TENANT_KEY_MIN_RANDOM_CHARS 32

static const char tenant_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int tenant_api_key_generate(const char *environment, char out[TENANT_KEY_MAX_LEN])
{
    if (strcmp(environment, "test") != 0 && strcmp(environment, "live") != 0)
        return C_ERR;
    /* Built aside so a failed RAND_bytes leaves out untouched. */
    char key[TENANT_KEY_MAX_LEN];
    int pos = snprintf(key, sizeof(key), "sk_%s_", environment);
    int produced = 0;
    while (produced < TENANT_KEY_RANDOM_CHARS) {
        unsigned char buf[64];
        if (RAND_bytes(buf, sizeof(buf)) != 1)
            return C_ERR;
        for (size_t i = 0; i < sizeof(buf) && produced < TENANT_KEY_RANDOM_CHARS; i++) {
            /* Rejection sampling: 248 = 4 * 62 keeps every character equally likely. */
            if (buf[i] >= 248)
                continue;
            key[pos++] = tenant_base62[buf[i] % 62];
            produced++;
        }
    }
    key[pos] = '\0';
    memcpy(out, key, (size_t)pos + 1);
    return C_OK;
}

void tenant_sha256_hex(const char *text, char out[TENANT_SHA256_HEX_LEN])
{
    unsigned char digest[32];
    unsigned int len = 0;
    EVP_Digest(text, strlen(text), digest, &len, EVP_sha256(), NULL);
    hex_encode(digest, sizeof(digest), out);
}

const char *tenant_api_key_environment(const char *key)
{
    const char *env;
    if (strncmp(key, "sk_test_", 8) == 0)
        env = "test";
    else if (strncmp(key, "sk_live_", 8) == 0)
        env = "live";
    else
        return NULL;
    /* Well formed means what api.md promises (at least 32 base62 characters
     * after the prefix) and what fits TENANT_KEY_MAX_LEN, so junk that merely
     * starts like a key is turned away before any hashing or lookup. */
    size_t random_chars = strspn(key + 8, tenant_base62);
    if (key[8 + random_chars] != '\0' || random_chars < TENANT_KEY_MIN_RANDOM_CHARS ||
        8 + random_chars >= TENANT_KEY_MAX_LEN)
        return NULL;
    return env;
}

int tenant_store_create_organization(struct db *db, const char *name, const char *currency,
                                     char id_out[UUID_STR_LEN])
{
    static const char sql[] =
        "INSERT INTO organizations (id, name, default_currency) VALUES ($1, $2, $3)";
    if (currency_find(currency) == NULL)
        return C_ERR;
    char id[UUID_STR_LEN];
    if (uuid_v7_string(id) != C_OK)
        return C_ERR;
    const char *params[3] = {id, name, currency};
    if (db_exec_command(db, sql, 3, params) != C_OK)
        return C_ERR;
    memcpy(id_out, id, UUID_STR_LEN);
    return C_OK;
}

int tenant_store_create_api_key(struct db *db, const char *organization_id, const char *environment,
                                const char *description, char key_out[TENANT_KEY_MAX_LEN],
                                char id_out[UUID_STR_LEN])
{
    static const char sql[] = "INSERT INTO api_keys (id, organization_id, environment, key_sha256,"
                              " prefix, last4, description) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    char key[TENANT_KEY_MAX_LEN], id[UUID_STR_LEN], hash[TENANT_SHA256_HEX_LEN];
    if (tenant_api_key_generate(environment, key) != C_OK || uuid_v7_string(id) != C_OK)
        return C_ERR;
    tenant_sha256_hex(key, hash);
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "sk_%s_", environment);
    const char *last4 = key + strlen(key) - 4;
    const char *params[7] = {id, organization_id, environment, hash, prefix, last4, description};
    if (db_exec_command(db, sql, 7, params) != C_OK)
        return C_ERR;
    memcpy(key_out, key, TENANT_KEY_MAX_LEN);
    memcpy(id_out, id, UUID_STR_LEN);
    return C_OK;
}

int tenant_store_lookup_api_key(struct db *db, const char *key, struct tenant_identity *out,
                                bool *found)
{
    static const char sql[] = "SELECT k.id, k.organization_id, k.environment, o.default_currency,"
                              " o.api_rate_limit_per_s"
                              " FROM api_keys k JOIN organizations o ON o.id = k.organization_id"
                              " WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL";
    char hash[TENANT_SHA256_HEX_LEN];
    tenant_sha256_hex(key, hash);
    const char *params[1] = {hash};
    PGresult *r = db_exec(db, sql, 1, params);
    if (r == NULL)
        return C_ERR;
    *found = PQntuples(r) == 1;
    if (*found) {
        snprintf(out->key_id, sizeof(out->key_id), "%s", PQgetvalue(r, 0, 0));
        snprintf(out->organization_id, sizeof(out->organization_id), "%s", PQgetvalue(r, 0, 1));
        snprintf(out->environment, sizeof(out->environment), "%s", PQgetvalue(r, 0, 2));
        snprintf(out->default_currency, sizeof(out->default_currency), "%s", PQgetvalue(r, 0, 3));
        out->rate_limit_per_s = TENANT_RATE_LIMIT_DEFAULT;
        char *end = NULL;
        const char *limit = PQgetvalue(r, 0, 4);
        long value = PQgetisnull(r, 0, 4) ? -1 : strtol(limit, &end, 10);
        /* The column's CHECK keeps it in range; anything else means the default. */
        if (value >= 0 && value <= TENANT_RATE_LIMIT_MAX && end != limit && *end == '\0')
            out->rate_limit_per_s = value;
    }
    PQclear(r);
    return C_OK;
}

int tenant_store_list_api_keys(struct db *db, const char *organization_id, json_t **out)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object('id', id, 'organization_id', organization_id,"
        " 'environment', environment, 'key', prefix || '…' || last4, 'description', description,"
        " 'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " 'revoked', revoked_at IS NOT NULL) ORDER BY created_at), '[]')::text"
        " FROM api_keys WHERE $1::uuid IS NULL OR organization_id = $1::uuid";
    const char *params[1] = {organization_id};
    return db_query_json_array(db, sql, 1, params, out);
}

int tenant_store_revoke_api_key(struct db *db, const char *key_id, bool *found)
{
    static const char sql[] =
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL";
    const char *params[1] = {key_id};
    PGresult *r = db_exec(db, sql, 1, params);
    if (r == NULL)
        return C_ERR;
    *found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return C_OK;
}

int tenant_store_list_organizations(struct db *db, json_t **out)
{
    static const char sql[] = "SELECT coalesce(json_agg(json_build_object('id', id, 'name', name,"
                              " 'default_currency', default_currency) ORDER BY created_at), "
                              "'[]')::text FROM organizations";
    return db_query_json_array(db, sql, 0, NULL, out);
}

int tenant_store_set_rate_limit(struct db *db, const char *organization_id, long per_second,
                                bool *found)
{
    static const char sql[] = "UPDATE organizations SET api_rate_limit_per_s = $2::integer"
                              " WHERE id = $1::uuid";
    if (per_second != TENANT_RATE_LIMIT_DEFAULT &&
        (per_second < 0 || per_second > TENANT_RATE_LIMIT_MAX))
        return C_ERR;
    char value[24];
    snprintf(value, sizeof(value), "%ld", per_second);
    const char *params[2] = {organization_id,
                             per_second == TENANT_RATE_LIMIT_DEFAULT ? NULL : value};
    PGresult *r = db_exec(db, sql, 2, params);
    if (r == NULL)
        return C_ERR;
    *found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return C_OK;
}

int tenant_store_set_display_name(struct db *db, const char *organization_id,
                                  const char *display_name, bool *found)
{
    static const char sql[] = "UPDATE organizations SET display_name = $2 WHERE id = $1::uuid";
    if (display_name != NULL) {
        /* Checked here too so that a caller's mistake is not a CHECK violation's log line. */
        size_t chars =
            utf8_valid(display_name, strlen(display_name)) ? utf8_length(display_name) : 0;
        if (chars == 0 || chars > TENANT_DISPLAY_NAME_MAX)
            return C_ERR;
    }
    const char *params[2] = {organization_id, display_name};
    PGresult *r = db_exec(db, sql, 2, params);
    if (r == NULL)
        return C_ERR;
    *found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return C_OK;
}

int tenant_display_name(struct db *db, const char *organization_id, char *out, size_t outlen)
{
    static const char sql[] =
        "SELECT coalesce(display_name, name) FROM organizations WHERE id = $1::uuid";
    assert(outlen > 0);
    const char *params[1] = {organization_id};
    PGresult *r = db_exec(db, sql, 1, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_ERR;
    if (PQntuples(r) == 1) {
        utf8_truncate(PQgetvalue(r, 0, 0), out, outlen);
        rc = C_OK;
    }
    PQclear(r);
    return rc;
}
