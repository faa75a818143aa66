#include "key_setting.h"

#include <stdbool.h>
#include <string.h>

#include "result.h"

static bool key_setting_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int key_setting_split(const char *text, const char *variable, char id[KEY_SETTING_ID_MAX + 1],
                      const char **secret, struct error *err)
{
    const char *colon = text != NULL ? strchr(text, ':') : NULL;
    if (colon == NULL)
        return error_set(err, variable, "%s must be <key id>:<secret>", variable);
    size_t id_len = (size_t)(colon - text);
    if (id_len == 0 || id_len > KEY_SETTING_ID_MAX)
        return error_set(err, variable, "%s: the key id must have 1 to %d characters", variable,
                         KEY_SETTING_ID_MAX);
    for (size_t i = 0; i < id_len; i++) {
        if (!key_setting_id_char(text[i]))
            return error_set(err, variable,
                             "%s: the key id may only have letters, digits, '_', '-' and '.'",
                             variable);
    }
    memcpy(id, text, id_len);
    id[id_len] = '\0';
    *secret = colon + 1;
    return C_OK;
}
