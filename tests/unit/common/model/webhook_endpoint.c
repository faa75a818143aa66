/* The webhook endpoint's REST object and the event types it may subscribe to. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
