#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "result.h"
#include "utf8.h"

/* vsnprintf cuts at a byte; an error message ends up in JSON bodies, which
 * jansson refuses to build around half a character. */
static void error_format(char *out, size_t outlen, const char *fmt, va_list ap)
{
    char buf[ERROR_MESSAGE_MAX * 2];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    utf8_truncate(buf, out, outlen);
}

int error_set(struct error *err, const char *param, const char *fmt, ...)
{
    if (err == NULL)
        return C_ERR;
    va_list ap;
    va_start(ap, fmt);
    error_format(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    utf8_truncate(param != NULL ? param : "", err->param, sizeof(err->param));
    return C_ERR;
}

int error_wrap(struct error *err, const char *fmt, ...)
{
    if (err == NULL)
        return C_ERR;
    char prefix[ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    error_format(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char joined[ERROR_MESSAGE_MAX * 2];
    snprintf(joined, sizeof(joined), "%s%s", prefix, err->message);
    utf8_truncate(joined, err->message, sizeof(err->message));
    return C_ERR;
}
