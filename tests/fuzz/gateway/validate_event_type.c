/* GET /events's type filter (gateway/validate.c, validate_event_type): any
 * bytes. Exactly the event types pass (the sessions', their payments' and the catalog's);
 * anything else, "*" included, is a well-formed 400 on param type.
 *
 * Input: the type's bytes (up to a NUL, as the query value arrives). */
#include <stdint.h>
#include <string.h>

#include "../../../gateway/validate.h"
#include "../fake_mhd.h"
#include "../fuzz_input.h"
#include "core/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *type = fuzz_input_strndup(data, size);
    struct error err = ERROR_INIT;
    static const char *const types[] = {"checkout.session.created",
                                        "checkout.session.completed",
                                        "checkout.session.expired",
                                        "product.created",
                                        "product.updated",
                                        "price.created",
                                        "price.updated",
                                        "coupon.created",
                                        "coupon.updated",
                                        "customer.created",
                                        "customer.updated",
                                        "customer.deleted",
                                        "subscription.created",
                                        "subscription.renewed",
                                        "subscription.canceled",
                                        "subscription.past_due",
                                        "checkout.session.payment_failed",
                                        "checkout.session.payment_refund_required"};
    bool known = false;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        known = known || strcmp(type, types[i]) == 0;
    if (validate_event_type(type, &err) == C_OK) {
        FUZZ_CHECK(known, "accepted \"%s\"", type);
    } else {
        FUZZ_CHECK(!known, "refused \"%s\"", type);
        FUZZ_CHECK(strcmp(err.param, "type") == 0, "param \"%s\"", err.param);
        fake_mhd_check_validation_error(&err);
    }
    free(type);
    return 0;
}
