#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/result.h"

static char log_service[64] = "caisse";
static enum log_level log_min_level = LOG_INFO;
static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return C_OK;
        }
    }
    return C_ERR;
}

int log_init(const char *service, const char *level_name)
{
    enum log_level level;
    if (level_name != NULL && log_level_parse(level_name, &level) != C_OK)
        return C_ERR;
    if (level_name != NULL)
        log_min_level = level;
    snprintf(log_service, sizeof(log_service), "%s", service);
    return C_OK;
}

int log_enabled(enum log_level level)
{
    return level >= log_min_level;
}

void log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
{
    if (!log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    json_t *line = json_object();
    if (line == NULL) {
        json_decref(fields);
        return;
    }
    json_object_set_new(line, "time", json_string(when));
    json_object_set_new(line, "level", json_string(log_level_names[level]));
    json_object_set_new(line, "service", json_string(log_service));
    /* Invalid UTF-8 in a message (e.g. echoed client input) must not drop the line. */
    json_t *m = json_string(msg);
    json_object_set_new(line, "msg", m != NULL ? m : json_string("(message not valid UTF-8)"));
    if (fields != NULL)
        json_object_update(line, fields);
    json_decref(fields);

    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(line);
    if (text == NULL)
        return;
    /* A single locked write keeps lines from different threads whole. */
    flockfile(stderr);
    fputs(text, stderr);
    fputc('\n', stderr);
    funlockfile(stderr);
    fflush(stderr);
    free(text);
}
