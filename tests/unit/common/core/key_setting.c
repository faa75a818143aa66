#include <criterion/criterion.h>
#include <string.h>

#include "core/key_setting.h"
#include "core/result.h"

Test(key_setting, an_id_and_a_secret_split_at_the_first_colon)
{
    char id[KEY_SETTING_ID_MAX + 1];
    const char *secret = NULL;
    struct error err = ERROR_INIT;
    cr_assert_eq(key_setting_split("k.2026-12_x:a:b", "CAISSE_X", id, &secret, &err), C_OK);
    cr_assert_str_eq(id, "k.2026-12_x");
    cr_assert_str_eq(secret, "a:b", "a colon in the secret is the secret's");
}

Test(key_setting, a_bad_id_is_refused_naming_the_variable_and_never_the_secret)
{
    static const char *const bad[] = {
        "no-colon-here",
        ":secret",
        "sp ace:secret",
        "é:secret",
        "0123456789012345678901234567890123:secret", /* 34 characters */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char id[KEY_SETTING_ID_MAX + 1] = "untouched";
        const char *secret = NULL;
        struct error err = ERROR_INIT;
        cr_assert_eq(key_setting_split(bad[i], "CAISSE_X", id, &secret, &err), C_ERR, "%s", bad[i]);
        cr_assert_str_eq(err.param, "CAISSE_X");
        cr_assert(strstr(err.message, "CAISSE_X") != NULL, "%s", err.message);
        cr_assert_str_eq(id, "untouched", "the caller's state is unchanged");
        cr_assert_null(secret);
    }
    char id[KEY_SETTING_ID_MAX + 1];
    const char *secret = NULL;
    cr_assert_eq(key_setting_split(NULL, "CAISSE_X", id, &secret, NULL), C_ERR);
}
