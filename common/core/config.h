/* Configuration from environment variables, described by one table per binary
 * (as in PgBouncer): each entry names a variable, its type, default, bounds and
 * the field it fills. The same table drives parsing, validation and --help. */
#ifndef CAISSE_CONFIG_H
#define CAISSE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

/* CONFIG_SECRET is a string that must never reach a log (a token, a URL with
 * a password): the same as CONFIG_STRING for parsing and --help. */
enum config_type { CONFIG_STRING, CONFIG_SECRET, CONFIG_INT, CONFIG_BOOL };

struct config_entry {
    const char *name; /* environment variable */
    enum config_type type;
    const char *default_value; /* NULL: required */
    const char *help;
    void *target;  /* char ** (strings and secrets: owned by config, freed by config_free),
                      long *, bool * */
    long min, max; /* CONFIG_INT bounds, inclusive */
};

/* Fills every target from the environment or its default. On C_ERR says why
 * in err (param: the variable) and frees whatever it had set. */
int config_load(const struct config_entry *table, size_t n, struct error *err);
void config_free(const struct config_entry *table, size_t n);
void config_print_help(FILE *out, const char *program, const char *summary,
                       const struct config_entry *table, size_t n);

/* The common entry point of every binary: handles --help (prints, exits 0),
 * rejects unknown arguments (exit 2) and loads the table (exit 2 on error). */
void config_init_or_exit(int argc, char **argv, const char *summary,
                         const struct config_entry *table, size_t n);

/* Parses a whole decimal integer in [min, max]; rejects junk, blanks and overflow. */
int config_parse_long(const char *text, long min, long max, long *out);

#define CONFIG_TABLE_SIZE(t) (sizeof(t) / sizeof((t)[0]))

#endif
