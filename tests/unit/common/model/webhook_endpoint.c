/* The webhook endpoint's REST object and the event types it may subscribe to. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "model/webhook_endpoint.h"
#include "../../leak_check.h"

TestSuite(webhook_endpoint, .fini = unit_leak_check);

Test(webhook_endpoint, event_types)
{
    cr_assert(webhook_endpoint_event_type_is_valid("checkout.session.created"));
    cr_assert(webhook_endpoint_event_type_is_valid("checkout.session.completed"));
    cr_assert(webhook_endpoint_event_type_is_valid("checkout.session.expired"));
    cr_assert(webhook_endpoint_event_type_is_valid("*"));
    cr_assert(!webhook_endpoint_event_type_is_valid("checkout.session.create"));
    cr_assert(!webhook_endpoint_event_type_is_valid(""));
}

Test(webhook_endpoint, the_catalog_s_event_types_are_subscribable_and_listed_once)
{
    cr_assert(webhook_endpoint_event_type_is_valid("product.created"));
    cr_assert(webhook_endpoint_event_type_is_valid("product.updated"));
    cr_assert(!webhook_endpoint_event_type_is_valid("product.create"));
    cr_assert(webhook_endpoint_event_type_is_valid("coupon.created"));
    cr_assert(webhook_endpoint_event_type_is_valid("coupon.updated"));
    char text[512];
    webhook_endpoint_event_types_text(text, sizeof(text));
    cr_assert_str_eq(text,
                     "checkout.session.created, checkout.session.completed,"
                     " checkout.session.expired, product.created, product.updated, price.created,"
                     " price.updated, coupon.created, coupon.updated, customer.created,"
                     " customer.updated, customer.deleted, subscription.created,"
                     " subscription.renewed, subscription.canceled, subscription.past_due,"
                     " checkout.session.payment_failed, checkout.session.payment_refund_required");
    /* Every listed type is valid; "*" is not a type of the list. */
    for (size_t i = 0; webhook_endpoint_event_types[i] != NULL; i++) {
        cr_assert(webhook_endpoint_event_type_is_valid(webhook_endpoint_event_types[i]));
        cr_assert_str_neq(webhook_endpoint_event_types[i], "*");
    }
    char small[20];
    webhook_endpoint_event_types_text(small, sizeof(small));
    cr_assert_eq(strlen(small), sizeof(small) - 1, "cut to fit");
}

Test(webhook_endpoint, rest_object_has_the_fields_and_never_a_secret)
{
    struct webhook_endpoint e;
    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "%s", "123e4567-e89b-12d3-a456-426614174000");
    memcpy(e.environment, "live", 5);
    e.url = strdup("https://a.example/h");
    e.enabled_events = json_pack("[s]", "*");
    e.metadata = json_object();
    e.disabled = true;
    e.disabled_reason = strdup("manual");
    e.created_at = 1705314600;
    e.updated_at = 1705314601;
    json_t *o = webhook_endpoint_to_json(&e);
    cr_assert_not_null(o);
    cr_assert_eq(json_object_size(o), 10);
    cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "disabled");
    cr_assert_str_eq(json_string_value(json_object_get(o, "disabled_reason")), "manual");
    cr_assert(json_is_null(json_object_get(o, "description")));
    cr_assert_str_eq(json_string_value(json_object_get(o, "environment")), "live");
    cr_assert_str_eq(json_string_value(json_object_get(o, "created_at")), "2024-01-15T10:30:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(o, "updated_at")), "2024-01-15T10:30:01Z");
    cr_assert_null(json_object_get(o, "secret"));
    json_decref(o);
    webhook_endpoint_free(&e);
}

/* ---- signing secrets at rest ------------------------------------------- */

#define SEAL_KEY "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SEAL_ID "0190a0a0-0000-7000-8000-000000000003"
#define SEAL_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

Test(webhook_endpoint, a_sealed_secret_is_hex_without_the_secret_and_opens_in_its_place)
{
    struct secretbox_keyring kr;
    struct error err = ERROR_INIT;
    cr_assert_eq(secretbox_keyring_init(&kr, SEAL_KEY, NULL, &err), C_OK);
    char *hex = NULL;
    cr_assert_eq(webhook_endpoint_secret_seal(&kr, SEAL_ID, WEBHOOK_ENDPOINT_SECRET, SEAL_SECRET,
                                              &hex, &err),
                 C_OK, "%s", err.message);
    cr_assert_eq(strlen(hex), 2 * (strlen(SEAL_SECRET) + SECRETBOX_OVERHEAD));
    cr_assert_eq(strspn(hex, "0123456789abcdef"), strlen(hex));
    char *out = NULL;
    cr_assert_eq(
        webhook_endpoint_secret_open(&kr, SEAL_ID, WEBHOOK_ENDPOINT_SECRET, "k1", hex, &out, &err),
        C_OK, "%s", err.message);
    cr_assert_str_eq(out, SEAL_SECRET);
    free(out);
    out = NULL;
    cr_assert_eq(webhook_endpoint_secret_open(&kr, SEAL_ID, WEBHOOK_ENDPOINT_PREVIOUS_SECRET, "k1",
                                              hex, &out, &err),
                 C_ERR, "a current secret does not open as the previous one");
    cr_assert_eq(webhook_endpoint_secret_open(&kr, "0190a0a0-0000-7000-8000-000000000004",
                                              WEBHOOK_ENDPOINT_SECRET, "k1", hex, &out, &err),
                 C_ERR, "nor as another endpoint's");
    cr_assert_eq(
        webhook_endpoint_secret_open(&kr, SEAL_ID, WEBHOOK_ENDPOINT_SECRET, "k0", hex, &out, &err),
        C_ERR, "nor under another key id");
    hex[3] = hex[3] == '0' ? '1' : '0';
    cr_assert_eq(
        webhook_endpoint_secret_open(&kr, SEAL_ID, WEBHOOK_ENDPOINT_SECRET, "k1", hex, &out, &err),
        C_ERR, "nor altered");
    cr_assert_eq(
        webhook_endpoint_secret_open(&kr, SEAL_ID, WEBHOOK_ENDPOINT_SECRET, "k1", "zz", &out, &err),
        C_ERR, "nor malformed");
    cr_assert_null(out);
    free(hex);
}
