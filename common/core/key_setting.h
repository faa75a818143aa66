#ifndef CAISSE_CORE_KEY_SETTING_H
#define CAISSE_CORE_KEY_SETTING_H

#include <stddef.h>

#include "error.h"

/* A key given in a setting as "<key id>:<secret>" (the secrets key, the
 * command MAC key): the id names the key beside what it sealed or signed,
 * so that a current and a previous key can both be in force during a
 * rotation. What the secret must be is the caller's rule. */

#define KEY_SETTING_ID_MAX 32 /* characters of a key id: A-Z a-z 0-9 . _ - */

/* Splits text at its first ':'. C_OK: the id copied into id (a NUL after
 * it) and *secret pointing past the colon, into text. C_ERR (id and
 * *secret untouched): no colon, an id of no or too many characters or of
 * others than those above; err names variable, never the secret. */
int key_setting_split(const char *text, const char *variable, char id[KEY_SETTING_ID_MAX + 1],
                      const char **secret, struct error *err);

#endif
