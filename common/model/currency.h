/* The supported currencies and their ISO 4217 exponents. Amounts everywhere are
 * integers of the currency's minor unit; the exponent says how to display them. */
#ifndef CAISSE_CURRENCY_H
#define CAISSE_CURRENCY_H

#include <stddef.h>

struct currency {
    const char *code;
    int exponent; /* digits after the decimal point: XOF 0, USD 2 */
    const char *name;
};

/* NULL when the code is not supported. Codes are upper case, exactly three letters. */
const struct currency *currency_find(const char *code);
size_t currency_count(void);
const struct currency *currency_at(size_t i);

#endif
