/* Amounts, dates and durations as the hosted checkout page shows them, per
 * language, by ICU's C API (CLDR data): XOF 10000 is "10 000 F CFA" in French,
 * EUR 1000 "10,00 €" in French and "€10.00" in English. Nothing is formatted
 * by hand. Outputs are UTF-8; ICU's spaces are kept (a French group separator
 * is U+202F, the space before a currency sign U+00A0). */
#ifndef GATEWAY_FORMAT_H
#define GATEWAY_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "i18n.h"

#define FORMAT_TEXT_MAX 96

/* minor units of currency_code (model/currency.h's exponent) in lang. C_ERR:
 * an unsupported currency, or ICU failed (out unchanged). */
int format_amount(enum i18n_lang lang, const char *currency_code, int64_t minor, char *out,
                  size_t outlen, struct error *err);
/* The time epoch_s (UTC) as a medium date and a short time, with its zone:
 * "6 Dec 2026, 20:30 UTC", "6 déc. 2026, 20:30 UTC". */
int format_datetime(enum i18n_lang lang, int64_t epoch_s, char *out, size_t outlen,
                    struct error *err);
/* How far seconds_left (> 0) is from now, in whole minutes rounded up (in
 * hours past 90 minutes): "in 30 minutes", "dans 30 minutes". */
int format_time_left(enum i18n_lang lang, int64_t seconds_left, char *out, size_t outlen,
                     struct error *err);

/* The locale amounts of currency_code are formatted in, for lang, as a BCP 47
 * tag ("en-GH", "fr"): the page's script formats the live total with it. */
void format_currency_locale(enum i18n_lang lang, const char *currency_code, char *out,
                            size_t outlen);

/* A country of ISO 3166-1 with its name in a language (CLDR's). */
struct format_country {
    char code[3];
    char name[80]; /* UTF-8 */
};

/* Every country of gateway/country.c named in lang, sorted by name as the
 * language sorts (ICU's collation): *out points into a table made once. */
size_t format_countries(enum i18n_lang lang, const struct format_country **out);

#endif
