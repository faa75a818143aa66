/* Session ids derived from Idempotency-Keys (gateway/idempotency.c). */
#include <criterion/criterion.h>

#include <string.h>

#include "../../../gateway/idempotency.h"
#include "core/result.h"
#include "core/uuid.h"
#include "../leak_check.h"

TestSuite(idempotency, .fini = unit_leak_check);

#define SECRET_A "0123456789abcdef0123456789abcdef-a"
#define SECRET_B "0123456789abcdef0123456789abcdef-b"
#define ORG "01a24bb4-a8f7-72eb-a120-d3d298949ee5"
#define ORG2 "01a24bb4-a8f7-72eb-a120-d3d298949ee6"

static void id_of(const char *org, const char *env, const char *key, char out[UUID_STR_LEN])
{
    idempotency_session_id(org, env, key, out);
}

Test(idempotency, the_same_key_gives_the_same_id_every_time)
{
    cr_assert_eq(idempotency_init(SECRET_A), C_OK);
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    id_of(ORG, "test", "order-12345", a);
    id_of(ORG, "test", "order-12345", b);
    cr_assert_str_eq(a, b);
    struct uuid u;
    cr_assert_eq(uuid_parse(a, &u), C_OK, "%s", a);
}

Test(idempotency, the_id_is_a_uuid_v8_of_the_rfc_variant)
{
    cr_assert_eq(idempotency_init(SECRET_A), C_OK);
    const char *const keys[] = {"a", "order-1", "order-2", "\xc3\xa9t\xc3\xa9", "k k"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
        char id[UUID_STR_LEN];
        id_of(ORG, "live", keys[i], id);
        struct uuid u;
        cr_assert_eq(uuid_parse(id, &u), C_OK);
        cr_assert_eq(uuid_version(&u), 8, "%s", id);
        cr_assert_eq(u.bytes[8] & 0xc0, 0x80, "%s: variant", id);
    }
}

Test(idempotency, organization_environment_key_and_secret_each_change_the_id)
{
    cr_assert_eq(idempotency_init(SECRET_A), C_OK);
    char base[UUID_STR_LEN], other[UUID_STR_LEN];
    id_of(ORG, "test", "order-1", base);
    id_of(ORG2, "test", "order-1", other);
    cr_assert_str_neq(base, other, "another organization");
    id_of(ORG, "live", "order-1", other);
    cr_assert_str_neq(base, other, "another environment");
    id_of(ORG, "test", "order-2", other);
    cr_assert_str_neq(base, other, "another key");
    /* The parts are separated: moving bytes between them is another tuple. */
    id_of(ORG, "tes", "torder-1", other);
    cr_assert_str_neq(base, other, "parts run into one another");
    cr_assert_eq(idempotency_init(SECRET_B), C_OK);
    id_of(ORG, "test", "order-1", other);
    cr_assert_str_neq(base, other, "another secret");
    cr_assert_eq(idempotency_init(SECRET_A), C_OK);
    id_of(ORG, "test", "order-1", other);
    cr_assert_str_eq(base, other, "the same secret again");
}

Test(idempotency, a_short_secret_is_refused_an_empty_one_allowed)
{
    cr_assert_eq(idempotency_init("too-short"), C_ERR);
    cr_assert_eq(idempotency_init(""), C_OK);
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    id_of(ORG, "test", "order-1", a);
    id_of(ORG, "test", "order-1", b);
    cr_assert_str_eq(a, b, "without a secret ids are still stable");
}

Test(idempotency, the_fingerprint_tells_secrets_apart_and_reveals_nothing_of_them)
{
    char fa[IDEMPOTENCY_FINGERPRINT_LEN], fb[IDEMPOTENCY_FINGERPRINT_LEN];
    cr_assert_eq(idempotency_init(SECRET_A), C_OK);
    idempotency_fingerprint(fa);
    cr_assert_eq(strlen(fa), 12);
    cr_assert(strstr(SECRET_A, fa) == NULL);
    cr_assert_eq(idempotency_init(SECRET_B), C_OK);
    idempotency_fingerprint(fb);
    cr_assert_str_neq(fa, fb);
    cr_assert_eq(idempotency_init(SECRET_A), C_OK);
    idempotency_fingerprint(fb);
    cr_assert_str_eq(fa, fb);
}

Test(idempotency, a_catalog_object_s_id_depends_on_its_kind_and_is_no_session_s)
{
    cr_assert_eq(idempotency_init(SECRET_A), C_OK);
    char session[UUID_STR_LEN], product[UUID_STR_LEN], again[UUID_STR_LEN], price[UUID_STR_LEN];
    id_of(ORG, "test", "order-1", session);
    idempotency_object_id("products", ORG, "test", "order-1", product);
    idempotency_object_id("products", ORG, "test", "order-1", again);
    idempotency_object_id("prices", ORG, "test", "order-1", price);
    cr_assert_str_eq(product, again);
    cr_assert_str_neq(product, session, "one key for a session and a product: two ids");
    cr_assert_str_neq(product, price, "another kind");
    struct uuid u;
    cr_assert_eq(uuid_parse(product, &u), C_OK);
    cr_assert_eq(uuid_version(&u), 8);
    /* A long key of 4-byte characters is taken whole: two keys that differ
     * only in their last character name two objects. */
    char k1[4 * 255 + 1], k2[4 * 255 + 1];
    for (int i = 0; i < 255; i++)
        memcpy(k1 + 4 * i, "\xf0\x9f\x98\x80", 4);
    k1[4 * 255] = '\0';
    memcpy(k2, k1, sizeof(k1));
    k2[4 * 255 - 1] = '\x81';
    idempotency_object_id("products", ORG, "test", k1, product);
    idempotency_object_id("products", ORG, "test", k2, again);
    cr_assert_str_neq(product, again);
}
