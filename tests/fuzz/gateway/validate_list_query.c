/* GET /checkout-sessions's query (gateway/validate.c, validate_list_query):
 * any bytes in status, limit, offset and starting_after, each present or
 * not. A refusal is a well-formed 400 naming the parameter; an accepted query
 * is in range, its cursor a canonical UUID.
 *
 * Input: a presence mask, then the four values separated by NUL bytes. */
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
    char *fields[4];
    for (int i = 0; i < 4; i++)
        fields[i] = fuzz_input_field(&in);
    const char *arg[4];
    for (int i = 0; i < 4; i++)
        arg[i] = (present & (1u << i)) != 0 && fields[i] != NULL ? fields[i] : NULL;

    struct session_list_query q;
    memset(&q, 0xa5, sizeof(q));
    struct error err = ERROR_INIT;
    if (validate_list_query(arg[0], arg[1], arg[2], arg[3], &q, &err) != C_OK) {
        fake_mhd_check_validation_error(&err);
        FUZZ_CHECK(strcmp(err.param, "status") == 0 || strcmp(err.param, "limit") == 0 ||
                       strcmp(err.param, "offset") == 0 || strcmp(err.param, "starting_after") == 0,
                   "param \"%s\"", err.param);
    } else {
        FUZZ_CHECK(q.has_status == (arg[0] != NULL), "has_status");
        FUZZ_CHECK(q.limit >= 1 && q.limit <= 100, "limit %ld", q.limit);
        FUZZ_CHECK(arg[1] != NULL || q.limit == 20, "default limit %ld", q.limit);
        FUZZ_CHECK(q.offset >= 0, "offset %ld", q.offset);
        FUZZ_CHECK(arg[2] != NULL || q.offset == 0, "default offset %ld", q.offset);
        if (arg[3] == NULL) {
            FUZZ_CHECK(q.starting_after[0] == '\0', "a cursor from nothing");
        } else {
            FUZZ_CHECK(uuid_is_valid(q.starting_after) && strlen(arg[3]) == 36, "cursor %s",
                       q.starting_after);
            for (int i = 0; i < 36; i++)
                FUZZ_CHECK(q.starting_after[i] == tolower((unsigned char)arg[3][i]),
                           "cursor %s from %s", q.starting_after, arg[3]);
        }
    }
    for (int i = 0; i < 4; i++)
        free(fields[i]);
    return 0;
}
