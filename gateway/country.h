/* The countries of ISO 3166-1: their alpha-2 codes ("SN", "FR") and short
 * English names, for the addresses the API takes (a customer's billing
 * address) and the hosted page's country list. */
#ifndef GATEWAY_COUNTRY_H
#define GATEWAY_COUNTRY_H

#include <stddef.h>

struct country {
    char code[3];     /* ISO 3166-1 alpha-2, upper case */
    const char *name; /* the ISO short name in English, UTF-8 */
};

/* Every officially assigned code, sorted by code. */
extern const struct country country_table[];
extern const size_t country_count;

/* The country of an alpha-2 code, exactly as ISO writes it (upper case);
 * NULL for anything else ("sn", "XX", "SEN"). */
const struct country *country_find(const char *code);

#endif
