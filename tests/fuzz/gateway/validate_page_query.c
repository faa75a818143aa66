/* The webhook and event lists' query (gateway/validate.c,
 * validate_page_query): any bytes in limit and starting_after, each present
 * or not. A refusal is a well-formed 400; an accepted query is in range, its
 * cursor a canonical UUID or "".
 *
 * Input: a presence mask, then limit and starting_after separated by a NUL. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "../../../gateway/validate.h"
#include "../fake_mhd.h"
#include "../fuzz_input.h"
#include "core/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    uint8_t present = fuzz_input_byte(&in);
    char *limit = fuzz_input_field(&in);
    char *cursor = fuzz_input_field(&in);
    const char *limit_arg = (present & 1) != 0 ? limit : NULL;
    const char *cursor_arg = (present & 2) != 0 ? cursor : NULL;

    long n = -1;
    char after[UUID_STR_LEN];
    memset(after, 'x', sizeof(after));
    struct error err = ERROR_INIT;
    if (validate_page_query(limit_arg, cursor_arg, "an event", &n, after, &err) != C_OK) {
        fake_mhd_check_validation_error(&err);
        FUZZ_CHECK(strcmp(err.param, "limit") == 0 || strcmp(err.param, "starting_after") == 0,
                   "param \"%s\"", err.param);
    } else {
        FUZZ_CHECK(n >= 1 && n <= 100, "limit %ld", n);
        FUZZ_CHECK(limit_arg != NULL || n == 20, "default limit %ld", n);
        if (cursor_arg == NULL) {
            FUZZ_CHECK(after[0] == '\0', "a cursor from nothing");
        } else {
            FUZZ_CHECK(uuid_is_valid(after) && strlen(cursor_arg) == 36, "cursor %s", after);
            for (int i = 0; i < 36; i++)
                FUZZ_CHECK(after[i] == tolower((unsigned char)cursor_arg[i]), "cursor %s from %s",
                           after, cursor_arg);
        }
    }
    free(limit);
    free(cursor);
    return 0;
}
