/* ISO 3166-1 alpha-2 codes: found exactly as ISO writes them, nothing else. */
#include <criterion/criterion.h>

#include <string.h>

#include "../../../gateway/country.h"
#include "../leak_check.h"

TestSuite(country, .fini = unit_leak_check);

Test(country, an_assigned_code_in_upper_case_is_found_with_its_name)
{
    const struct country *c = country_find("SN");
    cr_assert_not_null(c);
    cr_assert_str_eq(c->code, "SN");
    cr_assert_str_eq(c->name, "Senegal");
    cr_assert_str_eq(country_find("FR")->name, "France");
    cr_assert_str_eq(country_find("AD")->code, "AD", "the first");
    cr_assert_str_eq(country_find("ZW")->code, "ZW", "the last");
}

Test(country, anything_else_is_not_a_country)
{
    const char *const not_countries[] = {"sn", "Sn", "XX", "SEN", "S", "", "UK", "EU", "ZZ", NULL};
    for (size_t i = 0; not_countries[i] != NULL; i++)
        cr_assert_null(country_find(not_countries[i]), "%s", not_countries[i]);
    cr_assert_null(country_find(NULL));
}

Test(country, the_table_holds_every_assigned_code_once_sorted)
{
    cr_assert_eq(country_count, 249);
    for (size_t i = 0; i < country_count; i++) {
        const struct country *c = &country_table[i];
        cr_assert_eq(strlen(c->code), 2);
        cr_assert(c->code[0] >= 'A' && c->code[0] <= 'Z' && c->code[1] >= 'A' && c->code[1] <= 'Z');
        cr_assert(c->name != NULL && c->name[0] != '\0');
        if (i > 0)
            cr_assert_lt(strcmp(country_table[i - 1].code, c->code), 0, "%s", c->code);
        cr_assert_eq(country_find(c->code), c);
    }
}
