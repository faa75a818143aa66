#include "i18n.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *i18n_code(enum i18n_lang lang)
{
    return lang == I18N_FR ? "fr" : "en";
}

const char *i18n_locale(enum i18n_lang lang)
{
    return lang == I18N_FR ? "fr" : "en";
}

/* A language range of n bytes: its primary subtag, if supported. */
static int i18n_parse_range(const char *s, size_t n, enum i18n_lang *out)
{
    size_t primary = 0;
    while (primary < n && s[primary] != '-' && s[primary] != '_')
        primary++;
    if (primary != 2)
        return -1;
    if (strncasecmp(s, "fr", 2) == 0)
        *out = I18N_FR;
    else if (strncasecmp(s, "en", 2) == 0)
        *out = I18N_EN;
    else
        return -1;
    return 0;
}

int i18n_parse(const char *code, enum i18n_lang *out)
{
    if (code == NULL)
        return -1;
    size_t n = strlen(code);
    if (n > 16)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = code[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
              (c >= '0' && c <= '9')))
            return -1;
    }
    return i18n_parse_range(code, n, out);
}

/* The q of one element's parameters ("; q=0.5"), in thousandths; 1000 without one,
 * -1 when malformed. */
static int i18n_quality(const char *p, const char *end)
{
    int q = 1000;
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            p += 2;
            if (p >= end || (*p != '0' && *p != '1'))
                return -1;
            q = (*p - '0') * 1000;
            p++;
            if (p < end && *p == '.') {
                p++;
                int scale = 100;
                while (p < end && *p >= '0' && *p <= '9' && scale > 0) {
                    q += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
            if (q > 1000)
                return -1;
        }
        while (p < end && *p != ';')
            p++;
    }
    return q;
}

enum i18n_lang i18n_from_accept_language(const char *header)
{
    enum i18n_lang best = I18N_EN;
    int best_q = 0;
    if (header == NULL)
        return best;
    const char *p = header;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *tag = p;
        while (tag < end && (*tag == ' ' || *tag == '\t'))
            tag++;
        const char *tag_end = tag;
        while (tag_end < end && *tag_end != ';' && *tag_end != ' ' && *tag_end != '\t')
            tag_end++;
        enum i18n_lang lang;
        int q = i18n_quality(tag_end, end);
        if (q > best_q && i18n_parse_range(tag, (size_t)(tag_end - tag), &lang) == 0) {
            best = lang;
            best_q = q;
        }
        p = *end == ',' ? end + 1 : end;
    }
    return best;
}

const struct i18n_message *i18n_catalog(enum i18n_lang lang, size_t *len)
{
    if (lang == I18N_FR) {
        *len = i18n_catalog_fr_len;
        return i18n_catalog_fr;
    }
    *len = i18n_catalog_en_len;
    return i18n_catalog_en;
}

const char *i18n_text(enum i18n_lang lang, const char *msgid)
{
    size_t n;
    const struct i18n_message *c = i18n_catalog(lang, &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(c[i].msgid, msgid) == 0)
            return c[i].msgstr;
    }
    return NULL;
}
