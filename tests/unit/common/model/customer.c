/* The customer's declaration: what the generic store needs, the REST object's
 * fields and order, what a new customer is, and the SQL of its email filter
 * and its delete guard (their indexes: migration 0007). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "model/customer.h"
#include "../../leak_check.h"

TestSuite(customer, .fini = unit_leak_check);

#define ORG_ID "789e0123-e89b-12d3-a456-426614174000"

Test(customer, the_declaration_has_what_the_store_needs)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_check(&customer_store, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(customer_store.table, "customers");
    cr_assert_str_eq(customer_store.command_delete, "customer.delete");
    cr_assert_str_eq(customer_store.event_deleted, "customer.deleted");
    cr_assert_eq(customer_store.nfilters, 1);
    cr_assert_str_eq(customer_store.filters[0].name, "email");
    cr_assert_eq(customer_store.filters[0].flags,
                 RESOURCE_FILTER_CASELESS | RESOURCE_FILTER_INDEXED);
}

Test(customer, the_rest_object_has_the_fields_in_order)
{
    static const char *const order[] = {"customer_id", "organization_id", "email",    "name",
                                        "phone",       "billing_address", "metadata", "environment",
                                        "created_at",  "updated_at"};
    size_t k = 0;
    for (size_t i = 0; i < customer_resource.nfields; i++) {
        const struct resource_field *f = &customer_resource.fields[i];
        if (f->json == NULL)
            continue;
        cr_assert_lt(k, sizeof(order) / sizeof(order[0]));
        cr_assert_str_eq(f->json, order[k++]);
    }
    cr_assert_eq(k, sizeof(order) / sizeof(order[0]));
    static const char *const updatable[] = {"email", "name", "phone", "billing_address",
                                            "metadata"};
    size_t n = 0;
    for (size_t i = 0; i < customer_resource.nfields; i++) {
        if ((customer_resource.fields[i].flags & RESOURCE_UPDATABLE) == 0)
            continue;
        cr_assert_str_eq(customer_resource.fields[i].json, updatable[n++]);
    }
    cr_assert_eq(n, sizeof(updatable) / sizeof(updatable[0]));
}

Test(customer, a_new_customer_has_the_details_given_and_nothing_else)
{
    struct customer c;
    cr_assert_eq(
        customer_new(&c, ORG_ID, "live", "awa@example.com", NULL, "+221771234567", 1705314600),
        C_OK);
    cr_assert(uuid_is_valid(c.id));
    cr_assert_str_eq(c.organization_id, ORG_ID);
    cr_assert_str_eq(c.environment, "live");
    cr_assert_str_eq(c.email, "awa@example.com");
    cr_assert_null(c.name);
    cr_assert_str_eq(c.phone, "+221771234567");
    cr_assert_null(c.billing_address);
    cr_assert_eq(json_object_size(c.metadata), 0);
    cr_assert_eq(c.created_at, 1705314600);
    cr_assert_eq(c.updated_at, 1705314600);
    cr_assert_null(c.idempotency_key);
    struct customer other;
    cr_assert_eq(customer_new(&other, ORG_ID, "live", NULL, NULL, NULL, 1705314600), C_OK);
    cr_assert_str_neq(other.id, c.id, "each its own id");
    customer_free(&other);
    customer_free(&c);
    customer_free(&c);
}

Test(customer,
     the_email_filter_uses_the_email_index_and_a_delete_looks_at_sessions_and_subscriptions)
{
    const char *list = resource_store_sql(&customer_store, RESOURCE_STORE_SQL_LIST_KEYED);
    cr_assert(strstr(list,
                     "FROM customers WHERE (organization_id::text || environment ||"
                     " lower(email)) = ($1::uuid::text || $2::text || lower($5::text))") != NULL,
              "%s", list);
    const char *referenced = resource_store_sql(&customer_store, RESOURCE_STORE_SQL_REFERENCED);
    cr_assert(strstr(referenced, "FROM checkout_sessions WHERE customer_id = $1 OFFSET 0") != NULL,
              "%s", referenced);
    cr_assert(strstr(referenced, "FROM subscriptions WHERE customer_id = $1 OFFSET 0") != NULL,
              "%s", referenced);
}
