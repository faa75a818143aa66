/* JSON-lines logging on stderr: one object per line, safe from any thread. */
#ifndef CAISSE_LOG_H
#define CAISSE_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* service is copied; level_name is "debug", "info", "warn" or "error". */
int log_init(const char *service, const char *level_name);
int log_level_parse(const char *name, enum log_level *out);
int log_enabled(enum log_level level);

/* msg is printf-formatted. fields (may be NULL) is merged into the line and
 * its reference is stolen, so callers can write log_fields(..., json_pack(...)). */
void log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_fields(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_fields(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_fields(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_fields(LOG_ERROR, NULL, __VA_ARGS__)

#endif
