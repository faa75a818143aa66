/* The product's declaration: what the generic store needs, the REST object's
 * fields and order, and what a new product is. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "model/product.h"
#include "../../leak_check.h"

TestSuite(product, .fini = unit_leak_check);

Test(product, the_declaration_has_what_the_store_needs)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(resource_store_check(&product_store, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(product_store.table, "products");
    cr_assert_eq(product_store.nfilters, 1);
    cr_assert_str_eq(product_store.filters[0].name, "active");
}

Test(product, a_new_product_is_active_without_description_or_metadata)
{
    struct product p;
    cr_assert_eq(product_init(&p), C_OK);
    cr_assert(p.active);
    cr_assert_null(p.name);
    cr_assert_null(p.description);
    cr_assert_str_eq(p.default_price_id, "");
    cr_assert_eq(json_object_size(p.metadata), 0);
    product_free(&p);
    product_free(&p);
}

Test(product, the_rest_object_has_the_fields_in_order)
{
    static const char *const order[] = {"product_id", "organization_id",  "name",     "description",
                                        "active",     "default_price_id", "metadata", "environment",
                                        "created_at", "updated_at"};
    size_t k = 0;
    for (size_t i = 0; i < product_resource.nfields; i++) {
        const struct resource_field *f = &product_resource.fields[i];
        if (f->json == NULL)
            continue;
        cr_assert_lt(k, sizeof(order) / sizeof(order[0]));
        cr_assert_str_eq(f->json, order[k++]);
    }
    cr_assert_eq(k, sizeof(order) / sizeof(order[0]));
    /* What an update may change, and only that. */
    static const char *const updatable[] = {"name", "description", "active", "default_price_id",
                                            "metadata"};
    size_t n = 0;
    for (size_t i = 0; i < product_resource.nfields; i++) {
        if ((product_resource.fields[i].flags & RESOURCE_UPDATABLE) == 0)
            continue;
        cr_assert_str_eq(product_resource.fields[i].json, updatable[n++]);
    }
    cr_assert_eq(n, sizeof(updatable) / sizeof(updatable[0]));
}
