/* UUID parsing (common/core/uuid.c, uuid_parse) on any text, held against
 * the canonical 8-4-4-4-12 form written out here: the same texts pass, and
 * what passes formats back (uuid_format) to the text in lower case.
 *
 * Input: the text (up to its first NUL). */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "../../fuzz_input.h"
#include "core/result.h"
#include "core/uuid.h"

static bool reference_valid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_input_strndup(data, size);
    struct uuid u;
    memset(&u, 0xa5, sizeof(u));
    int rc = uuid_parse(text, &u);
    bool valid = reference_valid(text);
    FUZZ_CHECK((rc == C_OK) == valid, "\"%s\": parse %d, reference %d", text, rc, valid);
    FUZZ_CHECK(uuid_is_valid(text) == valid, "\"%s\": uuid_is_valid", text);
    if (valid) {
        char back[UUID_STR_LEN];
        uuid_format(&u, back);
        for (int i = 0; i < 36; i++)
            FUZZ_CHECK(back[i] == tolower((unsigned char)text[i]), "\"%s\" formats as \"%s\"", text,
                       back);
        FUZZ_CHECK(back[36] == '\0', "not terminated");
    }
    free(text);
    return 0;
}
