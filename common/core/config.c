#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"

int config_parse_long(const char *text, long min, long max, long *out)
{
    /* strtol alone would also take leading blanks and a plus sign. */
    if (text == NULL ||
        !(isdigit((unsigned char)text[0]) || (text[0] == '-' && isdigit((unsigned char)text[1]))))
        return C_ERR;
    errno = 0;
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return C_ERR;
    *out = v;
    return C_OK;
}

static int config_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(text, yes[i]) == 0) {
            *out = true;
            return C_OK;
        }
        if (strcmp(text, no[i]) == 0) {
            *out = false;
            return C_OK;
        }
    }
    return C_ERR;
}

static bool config_is_string(const struct config_entry *e)
{
    return e->type == CONFIG_STRING || e->type == CONFIG_SECRET;
}

static int config_set_entry(const struct config_entry *e, const char *value, struct error *err)
{
    switch (e->type) {
    case CONFIG_STRING:
    case CONFIG_SECRET: {
        char *copy = strdup(value);
        if (copy == NULL)
            return error_set(err, e->name, "%s: out of memory", e->name);
        *(char **)e->target = copy;
        return C_OK;
    }
    case CONFIG_INT:
        if (config_parse_long(value, e->min, e->max, (long *)e->target) != C_OK)
            return error_set(err, e->name, "%s must be an integer from %ld to %ld (got \"%s\")",
                             e->name, e->min, e->max, value);
        return C_OK;
    case CONFIG_BOOL:
        if (config_parse_bool(value, (bool *)e->target) != C_OK)
            return error_set(err, e->name, "%s must be true or false (got \"%s\")", e->name, value);
        return C_OK;
    }
    assert(!"unknown config type");
    return C_ERR;
}

int config_load(const struct config_entry *table, size_t n, struct error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (config_is_string(&table[i]))
            *(char **)table[i].target = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct config_entry *e = &table[i];
        const char *value = getenv(e->name);
        if (value == NULL || (*value == '\0' && !config_is_string(e)))
            value = e->default_value;
        /* An empty required string (VAR= in a compose file) is a forgotten
         * setting, not a value: "" as a database URL means the local socket. */
        if (value == NULL || (*value == '\0' && e->default_value == NULL)) {
            config_free(table, n);
            return error_set(err, e->name, "%s is required", e->name);
        }
        if (config_set_entry(e, value, err) != C_OK) {
            config_free(table, n);
            return C_ERR;
        }
    }
    return C_OK;
}

void config_free(const struct config_entry *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (config_is_string(&table[i])) {
            free(*(char **)table[i].target);
            *(char **)table[i].target = NULL;
        }
    }
}

void config_print_help(FILE *out, const char *program, const char *summary,
                       const struct config_entry *table, size_t n)
{
    fprintf(out, "Usage: %s [--help]\n\n%s\n\nConfiguration (environment variables):\n", program,
            summary);
    for (size_t i = 0; i < n; i++) {
        const struct config_entry *e = &table[i];
        const char *type = e->type == CONFIG_INT    ? "integer"
                           : e->type == CONFIG_BOOL ? "bool"
                                                    : "string";
        fprintf(out, "  %-36s %s", e->name, type);
        if (e->type == CONFIG_INT)
            fprintf(out, " %ld..%ld", e->min, e->max);
        if (e->default_value == NULL)
            fprintf(out, ", required\n");
        else
            fprintf(out, ", default \"%s\"\n", e->default_value);
        fprintf(out, "      %s\n", e->help);
    }
}

void config_init_or_exit(int argc, char **argv, const char *summary,
                         const struct config_entry *table, size_t n)
{
    const char *program = argc > 0 ? argv[0] : "caisse";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_print_help(stdout, program, summary, table, n);
            exit(0);
        }
        fprintf(
            stderr,
            "%s: unknown argument \"%s\" (configuration comes from the environment; see --help)\n",
            program, argv[i]);
        exit(2);
    }
    struct error err = ERROR_INIT;
    if (config_load(table, n, &err) != C_OK) {
        fprintf(stderr, "%s: configuration error: %s\n", program, err.message);
        exit(2);
    }
}
