/* The currency table: ISO 4217 codes and exponents, exact-match lookup. */
#include <criterion/criterion.h>

#include <string.h>

#include "model/currency.h"
#include "../../leak_check.h"

static void expect_currency(const char *code, int exponent)
{
    const struct currency *c = currency_find(code);
    cr_assert_not_null(c, "%s is not supported", code);
    cr_assert_str_eq(c->code, code);
    cr_assert_eq(c->exponent, exponent, "%s", code);
    cr_assert_not_null(c->name);
    cr_assert_gt(strlen(c->name), 0);
}

TestSuite(currency, .fini = unit_leak_check);

Test(currency, cfa_francs_and_guinean_franc_have_no_minor_unit)
{
    expect_currency("XOF", 0);
    expect_currency("XAF", 0);
    expect_currency("GNF", 0);
}

Test(currency, dollar_and_euro_have_two_decimals)
{
    expect_currency("USD", 2);
    expect_currency("EUR", 2);
}

Test(currency, every_currency_api_md_requires_is_supported)
{
    expect_currency("GHS", 2);
    expect_currency("NGN", 2);
    expect_currency("KES", 2);
}

Test(currency, names_are_the_iso_names)
{
    cr_assert_str_eq(currency_find("XOF")->name, "West African CFA franc");
    cr_assert_str_eq(currency_find("XAF")->name, "Central African CFA franc");
}

Test(currency, find_rejects_lower_case)
{
    cr_assert_null(currency_find("xof"));
    cr_assert_null(currency_find("Xof"));
    cr_assert_null(currency_find("usd"));
}

Test(currency, find_rejects_unknown_and_malformed_codes)
{
    cr_assert_null(currency_find("ABC"));
    cr_assert_null(currency_find("XBT"));
    cr_assert_null(currency_find(""));
    cr_assert_null(currency_find(NULL));
    cr_assert_null(currency_find("XO"));
    cr_assert_null(currency_find("XOFX"));
    cr_assert_null(currency_find("XOF "));
    cr_assert_null(currency_find(" XOF"));
}

Test(currency, table_is_sorted_unique_and_well_formed)
{
    size_t n = currency_count();
    cr_assert_geq(n, 8);
    for (size_t i = 0; i < n; i++) {
        const struct currency *c = currency_at(i);
        cr_assert_not_null(c);
        cr_assert_eq(strlen(c->code), 3);
        for (int k = 0; k < 3; k++)
            cr_assert(c->code[k] >= 'A' && c->code[k] <= 'Z', "%s", c->code);
        cr_assert(c->exponent >= 0 && c->exponent <= 3, "%s", c->code);
        cr_assert_eq(currency_find(c->code), c, "%s is not found by its own code", c->code);
        if (i > 0)
            cr_assert_lt(strcmp(currency_at(i - 1)->code, c->code), 0, "not sorted at %s", c->code);
    }
}

Test(currency, at_past_the_end_is_null)
{
    cr_assert_null(currency_at(currency_count()));
    cr_assert_null(currency_at((size_t)-1));
}
