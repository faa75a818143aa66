/* The catalog's generic handlers: what a refused command's outcome answers.
 * The handlers themselves run against the stack (tests/integration/products.c). */
#include <criterion/criterion.h>

#include "model/command_outcome.h"
#include "../../../gateway/catalog.h"
#include "../leak_check.h"

TestSuite(catalog, .fini = unit_leak_check);

Test(catalog, a_refused_command_answers_the_status_of_its_code)
{
    cr_assert_eq(catalog_outcome_status(COMMAND_OUTCOME_NOT_FOUND), 404);
    cr_assert_eq(catalog_outcome_status(COMMAND_OUTCOME_INVALID), 400);
    cr_assert_eq(catalog_outcome_status(COMMAND_OUTCOME_CONFLICT), 409);
    cr_assert_eq(catalog_outcome_status(COMMAND_OUTCOME_INVALID_STATE), 409);
}
