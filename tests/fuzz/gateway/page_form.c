/* The hosted checkout page's form decoder (gateway/page_form.c,
 * page_form_decode): any bytes as an application/x-www-form-urlencoded body.
 * A refusal leaves the form as it was and says why; an accepted form has
 * every field NUL-terminated within its size, valid UTF-8 without any control
 * character, and what it holds is what the body said for that name.
 *
 * Input: the body itself. Dictionary: tests/fuzz/dict/form.dict. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../gateway/page_form.h"
#include "../fuzz_input.h"
#include "core/result.h"
#include "core/utf8.h"

static void check_field(const char *value, size_t size, const char *name)
{
    size_t n = strnlen(value, size);
    FUZZ_CHECK(n < size, "field %s is not terminated", name);
    FUZZ_CHECK(utf8_valid(value, n), "field %s is not UTF-8", name);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)value[i] >= 0x20 && value[i] != 0x7f,
                   "field %s holds a control character", name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct page_form form;
    memset(&form, 'x', sizeof(form));
    struct page_form before = form;
    struct error err = ERROR_INIT;
    if (page_form_decode((const char *)data, size, &form, &err) != C_OK) {
        FUZZ_CHECK(memcmp(&form, &before, sizeof(form)) == 0, "a refusal changed the form");
        FUZZ_CHECK(err.message[0] != '\0', "a refusal without a reason");
        return 0;
    }
#define CHECK(f) check_field(form.f, sizeof(form.f), #f)
    CHECK(action);
    CHECK(csrf);
    CHECK(attempt);
    CHECK(lang);
    CHECK(quantity);
    CHECK(coupon);
    CHECK(email);
    CHECK(name);
    CHECK(phone);
    CHECK(line1);
    CHECK(city);
    CHECK(postal_code);
    CHECK(country);
    CHECK(method);
    CHECK(account);
#undef CHECK
    /* A body without '=' names no value: nothing but empty fields. */
    if (memchr(data, '=', size) == NULL)
        FUZZ_CHECK(form.action[0] == '\0' && form.email[0] == '\0', "a value from no '='");
    /* The same body decodes the same way. */
    struct page_form again;
    FUZZ_CHECK(page_form_decode((const char *)data, size, &again, NULL) == C_OK &&
                   memcmp(&form, &again, sizeof(form)) == 0,
               "decoding is not deterministic");
    return 0;
}
