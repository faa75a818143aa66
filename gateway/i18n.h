/* The hosted checkout page's languages: French and English, their texts in one
 * GNU gettext catalogue each (gateway/page/<lang>.po, compiled into the binary
 * by gateway/page/embed.sh), and the choice of one from a request. */
#ifndef GATEWAY_I18N_H
#define GATEWAY_I18N_H

#include <stddef.h>

enum i18n_lang { I18N_EN = 0, I18N_FR, I18N_LANGS };

struct i18n_message {
    const char *msgid, *msgstr;
};

/* The generated catalogues (build/gen/page_files.c), in .po order. */
extern const struct i18n_message i18n_catalog_en[], i18n_catalog_fr[];
extern const size_t i18n_catalog_en_len, i18n_catalog_fr_len;

/* "en" / "fr": the html lang, Content-Language, the ?lang= value. */
const char *i18n_code(enum i18n_lang lang);
/* The ICU locale the page formats amounts and dates in. */
const char *i18n_locale(enum i18n_lang lang);
/* "en"/"fr" (any case, an optional region: "fr-SN"): 0 and *out; -1 otherwise. */
int i18n_parse(const char *code, enum i18n_lang *out);
/* The language an Accept-Language header asks for: the supported one of
 * highest q (the first listed on a tie; q=0 refuses), English when it names
 * neither or is NULL. */
enum i18n_lang i18n_from_accept_language(const char *header);
/* The catalogue of lang and its size. */
const struct i18n_message *i18n_catalog(enum i18n_lang lang, size_t *len);
/* msgid's text in lang, or NULL when the catalogue has none. */
const char *i18n_text(enum i18n_lang lang, const char *msgid);

#endif
