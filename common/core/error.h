/* The one error convention (as in Redis and curl): a function that can fail
 * returns C_OK or C_ERR (core/result.h), leaves the caller's state unchanged
 * on C_ERR, and says why in a struct error the caller passes (NULL: the
 * caller does not want to know). The message is for a person (a log line, an
 * API error body); param names the input at fault, "" when none.
 *
 *     struct error err = ERROR_INIT;
 *     if (thing_do(..., &err) != C_OK)
 *         log_error("cannot do the thing: %s", err.message);
 *
 * Impossible states are assert()s, never errors. */
#ifndef CAISSE_ERROR_H
#define CAISSE_ERROR_H

#include <stddef.h>

#define ERROR_MESSAGE_MAX 512
#define ERROR_PARAM_MAX 64

struct error {
    char message[ERROR_MESSAGE_MAX];
    char param[ERROR_PARAM_MAX];
};

#define ERROR_INIT                                                                                 \
    {                                                                                              \
        {0},                                                                                       \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Fills err (when not NULL) and returns C_ERR, so a failure is one line:
 *     return error_set(err, "amount", "amount must be an integer");
 * param may be NULL. The message is cut on a UTF-8 boundary if too long. */
int error_set(struct error *err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes err's message with context ("relay: " + message); C_ERR. */
int error_wrap(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
