/* The subscriptions' descriptor and routes: reads and the cancel action of the
 * subscription store, nothing a request could create or change. The handlers
 * run against the stack in tests/integration/subscriptions.c. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../../gateway/catalog.h"
#include "../../../gateway/routes.h"
#include "../../../gateway/subscriptions.h"
#include "../leak_check.h"

TestSuite(subscriptions, .fini = unit_leak_check);

Test(subscriptions, the_descriptor_names_the_store_and_no_rules_of_writes)
{
    cr_assert_eq(subscriptions_catalog.store, &subscription_store);
    cr_assert_null(subscriptions_catalog.validate_create);
    cr_assert_null(subscriptions_catalog.validate_update);
}

Test(subscriptions, the_routes_are_a_list_a_get_and_the_cancel_action_only)
{
    size_t seen = 0;
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        if (r->ctx != &subscriptions_catalog)
            continue;
        seen++;
        if (strcmp(r->template, "/subscriptions") == 0)
            cr_assert(strcmp(r->method, "GET") == 0 && r->handler == catalog_list);
        else if (strcmp(r->template, "/subscriptions/{id}") == 0)
            cr_assert(strcmp(r->method, "GET") == 0 && r->handler == catalog_get);
        else if (strcmp(r->template, "/subscriptions/{id}/cancel") == 0)
            cr_assert(strcmp(r->method, "POST") == 0 && r->handler == catalog_action);
        else
            cr_assert_fail("unexpected route %s %s", r->method, r->template);
    }
    cr_assert_eq(seen, 3);
}

Test(subscriptions, every_action_route_names_an_action_of_its_store)
{
    /* catalog_action finds its action by the template's last segment. */
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        if (r->handler != catalog_action)
            continue;
        const struct catalog_resource *c = r->ctx;
        cr_assert_not_null(c, "%s", r->template);
        const char *name = strrchr(r->template, '/') + 1;
        cr_assert_not_null(resource_store_action_find(c->store, name, true), "%s", r->template);
    }
}
