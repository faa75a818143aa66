#include "format.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>
#include <stdlib.h>

#include <unicode/ucol.h>
#include <unicode/udat.h>
#include <unicode/uloc.h>
#include <unicode/ucal.h>
#include <unicode/unum.h>
#include <unicode/ureldatefmt.h>
#include <unicode/ustring.h>

#include "core/result.h"
#include "country.h"
#include "model/currency.h"

#define FORMAT_UCHARS 128

static int format_to_utf8(const UChar *text, int32_t n, char *out, size_t outlen, struct error *err)
{
    UErrorCode status = U_ZERO_ERROR;
    char tmp[FORMAT_TEXT_MAX * 2];
    int32_t written = 0;
    u_strToUTF8(tmp, (int32_t)sizeof(tmp), &written, text, n, &status);
    if (U_FAILURE(status) || (size_t)written >= outlen || (size_t)written >= sizeof(tmp))
        return error_set(err, NULL, "format: the text does not fit (%s)", u_errorName(status));
    memcpy(out, tmp, (size_t)written);
    out[written] = '\0';
    return C_OK;
}

/* The language in the currency's home country when CLDR has a symbol there
 * (en_GH: "GH₵", en_NG: "₦", en_KE: "Ksh"); ICU falls back to the language
 * alone where it knows no such locale. */
static void format_icu_locale(enum i18n_lang lang, const char *code, char *out, size_t outlen)
{
    static const struct {
        const char *currency, *region;
    } homes[] = {{"GHS", "GH"}, {"NGN", "NG"}, {"KES", "KE"}, {"XOF", "SN"}, {"XAF", "CM"},
                 {"ZAR", "ZA"}, {"UGX", "UG"}, {"TZS", "TZ"}, {"RWF", "RW"}, {"MAD", "MA"}};
    for (size_t i = 0; i < sizeof(homes) / sizeof(homes[0]); i++) {
        if (strcmp(homes[i].currency, code) == 0) {
            snprintf(out, outlen, "%s_%s", i18n_locale(lang), homes[i].region);
            return;
        }
    }
    snprintf(out, outlen, "%s", i18n_locale(lang));
}

/* Opening an ICU formatter costs tens of microseconds (locale data lookups,
 * patterns): each thread keeps the ones it opened, for its lifetime. ICU's
 * formatters are not thread-safe, so none is shared. */
#define FORMAT_AMOUNT_CACHE 8

static _Thread_local struct {
    enum i18n_lang lang;
    char code[4];
    UNumberFormat *f;
} format_amount_cache[FORMAT_AMOUNT_CACHE];
static _Thread_local unsigned format_amount_next;
static _Thread_local UDateFormat *format_date_cache[I18N_LANGS];
static _Thread_local URelativeDateTimeFormatter *format_left_cache[I18N_LANGS];

static pthread_key_t format_thread_key;
static pthread_once_t format_thread_once = PTHREAD_ONCE_INIT;

/* At a thread's exit: the formatters it kept. */
static void format_thread_free(void *unused)
{
    (void)unused;
    for (unsigned i = 0; i < FORMAT_AMOUNT_CACHE; i++) {
        unum_close(format_amount_cache[i].f);
        format_amount_cache[i].f = NULL;
    }
    for (int l = 0; l < I18N_LANGS; l++) {
        if (format_date_cache[l] != NULL)
            udat_close(format_date_cache[l]);
        ureldatefmt_close(format_left_cache[l]);
        format_date_cache[l] = NULL;
        format_left_cache[l] = NULL;
    }
}

static void format_thread_key_make(void)
{
    if (pthread_key_create(&format_thread_key, format_thread_free) != 0)
        abort(); /* no key at startup: nothing can work */
}

/* Keeps f's place in the thread's cache: its exit will close it. */
static void format_thread_keeps(void)
{
    pthread_once(&format_thread_once, format_thread_key_make);
    if (pthread_getspecific(format_thread_key) == NULL)
        pthread_setspecific(format_thread_key, &format_amount_next);
}

/* The thread's currency formatter of c in lang, NULL if ICU cannot make one. */
static UNumberFormat *format_amount_formatter(enum i18n_lang lang, const struct currency *c)
{
    for (unsigned i = 0; i < FORMAT_AMOUNT_CACHE; i++) {
        if (format_amount_cache[i].f != NULL && format_amount_cache[i].lang == lang &&
            strcmp(format_amount_cache[i].code, c->code) == 0)
            return format_amount_cache[i].f;
    }
    UErrorCode status = U_ZERO_ERROR;
    char locale[16];
    format_icu_locale(lang, c->code, locale, sizeof(locale));
    UNumberFormat *f = unum_open(UNUM_CURRENCY, NULL, 0, locale, NULL, &status);
    UChar code[4];
    u_charsToUChars(c->code, code, 4);
    unum_setTextAttribute(f, UNUM_CURRENCY_CODE, code, 3, &status);
    if (U_FAILURE(status)) {
        unum_close(f);
        return NULL;
    }
    /* The currency's own exponent, whatever CLDR's habit (ICU rounds some to 0). */
    unum_setAttribute(f, UNUM_MIN_FRACTION_DIGITS, c->exponent);
    unum_setAttribute(f, UNUM_MAX_FRACTION_DIGITS, c->exponent);
    format_thread_keeps();
    unsigned slot = format_amount_next++ % FORMAT_AMOUNT_CACHE;
    unum_close(format_amount_cache[slot].f);
    format_amount_cache[slot].lang = lang;
    memcpy(format_amount_cache[slot].code, c->code, sizeof(format_amount_cache[slot].code));
    format_amount_cache[slot].f = f;
    return f;
}

/* The thread's date formatter of lang: a medium date, a short time, the zone. */
static UDateFormat *format_date_formatter(enum i18n_lang lang)
{
    if (format_date_cache[lang] != NULL)
        return format_date_cache[lang];
    UErrorCode status = U_ZERO_ERROR;
    static const UChar utc[] = {'U', 'T', 'C', 0};
    UDateFormat *f =
        udat_open(UDAT_SHORT, UDAT_MEDIUM, i18n_locale(lang), utc, -1, NULL, 0, &status);
    if (U_FAILURE(status)) {
        if (f != NULL)
            udat_close(f);
        return NULL;
    }
    /* The pattern's time without seconds, and the zone named. */
    UChar pattern[FORMAT_UCHARS];
    int32_t pn = udat_toPattern(f, false, pattern, FORMAT_UCHARS - 8, &status);
    if (U_SUCCESS(status) && pn < FORMAT_UCHARS - 8) {
        static const UChar zone[] = {' ', 'z', 0};
        pattern[pn] = 0;
        u_strcat(pattern, zone);
        udat_applyPattern(f, false, pattern, -1);
    }
    format_thread_keeps();
    format_date_cache[lang] = f;
    return f;
}

static URelativeDateTimeFormatter *format_left_formatter(enum i18n_lang lang)
{
    if (format_left_cache[lang] != NULL)
        return format_left_cache[lang];
    UErrorCode status = U_ZERO_ERROR;
    URelativeDateTimeFormatter *f = ureldatefmt_open(i18n_locale(lang), NULL, UDAT_STYLE_LONG,
                                                     UDISPCTX_CAPITALIZATION_NONE, &status);
    if (U_FAILURE(status)) {
        ureldatefmt_close(f);
        return NULL;
    }
    format_thread_keeps();
    format_left_cache[lang] = f;
    return f;
}

int format_amount(enum i18n_lang lang, const char *currency_code, int64_t minor, char *out,
                  size_t outlen, struct error *err)
{
    const struct currency *c = currency_find(currency_code);
    if (c == NULL)
        return error_set(err, NULL, "format: unsupported currency %s", currency_code);
    /* The amount as an exact decimal string: no binary floating point. */
    char digits[24], decimal[48];
    uint64_t magnitude = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    int n_digits = snprintf(digits, sizeof(digits), "%" PRIu64, magnitude);
    int exponent = c->exponent;
    assert(exponent >= 0 && exponent <= 4 && n_digits > 0);
    /* At least one digit before the point: 5 cents are 0.05. */
    char all[32];
    size_t len = 0;
    for (int i = n_digits; i <= exponent; i++)
        all[len++] = '0';
    memcpy(all + len, digits, (size_t)n_digits);
    len += (size_t)n_digits;
    size_t w = 0;
    if (minor < 0)
        decimal[w++] = '-';
    size_t whole = len - (size_t)exponent;
    memcpy(decimal + w, all, whole);
    w += whole;
    if (exponent > 0) {
        decimal[w++] = '.';
        memcpy(decimal + w, all + whole, (size_t)exponent);
        w += (size_t)exponent;
    }
    decimal[w] = '\0';
    UErrorCode status = U_ZERO_ERROR;
    UNumberFormat *f = format_amount_formatter(lang, c);
    if (f == NULL)
        return error_set(err, NULL, "format: ICU has no formatter for %s", c->code);
    UChar text[FORMAT_UCHARS];
    int32_t n = unum_formatDecimal(f, decimal, -1, text, FORMAT_UCHARS, NULL, &status);
    if (U_FAILURE(status) || n >= FORMAT_UCHARS)
        return error_set(err, NULL, "format: ICU cannot format %s %s: %s", decimal, c->code,
                         u_errorName(status));
    return format_to_utf8(text, n, out, outlen, err);
}

int format_datetime(enum i18n_lang lang, int64_t epoch_s, char *out, size_t outlen,
                    struct error *err)
{
    UErrorCode status = U_ZERO_ERROR;
    UDateFormat *f = format_date_formatter(lang);
    if (f == NULL)
        return error_set(err, NULL, "format: ICU has no date formatter for %s", i18n_code(lang));
    UChar text[FORMAT_UCHARS];
    int32_t n = udat_format(f, (UDate)epoch_s * 1000.0, text, FORMAT_UCHARS, NULL, &status);
    if (U_FAILURE(status) || n >= FORMAT_UCHARS)
        return error_set(err, NULL, "format: ICU cannot format a date: %s", u_errorName(status));
    return format_to_utf8(text, n, out, outlen, err);
}

int format_time_left(enum i18n_lang lang, int64_t seconds_left, char *out, size_t outlen,
                     struct error *err)
{
    if (seconds_left < 1)
        seconds_left = 1;
    int64_t minutes = (seconds_left + 59) / 60;
    URelativeDateTimeUnit unit = UDAT_REL_UNIT_MINUTE;
    double value = (double)minutes;
    if (minutes > 90) {
        unit = UDAT_REL_UNIT_HOUR;
        value = (double)((minutes + 59) / 60);
    }
    UErrorCode status = U_ZERO_ERROR;
    URelativeDateTimeFormatter *f = format_left_formatter(lang);
    if (f == NULL)
        return error_set(err, NULL, "format: ICU has no duration formatter for %s",
                         i18n_code(lang));
    UChar text[FORMAT_UCHARS];
    int32_t n = ureldatefmt_formatNumeric(f, value, unit, text, FORMAT_UCHARS, &status);
    if (U_FAILURE(status) || n >= FORMAT_UCHARS)
        return error_set(err, NULL, "format: ICU cannot format a duration: %s",
                         u_errorName(status));
    return format_to_utf8(text, n, out, outlen, err);
}

void format_currency_locale(enum i18n_lang lang, const char *currency_code, char *out,
                            size_t outlen)
{
    format_icu_locale(lang, currency_code, out, outlen);
    for (char *p = out; *p != '\0'; p++)
        if (*p == '_')
            *p = '-';
}

#define FORMAT_COUNTRIES_MAX 256

static struct format_country format_country_table[I18N_LANGS][FORMAT_COUNTRIES_MAX];
static size_t format_country_count[I18N_LANGS];
static pthread_once_t format_countries_once = PTHREAD_ONCE_INIT;

static int format_country_compare(const void *a, const void *b, void *collator)
{
    const struct format_country *x = a, *y = b;
    UErrorCode status = U_ZERO_ERROR;
    UCollationResult r = ucol_strcollUTF8(collator, x->name, -1, y->name, -1, &status);
    if (U_FAILURE(status))
        return strcmp(x->name, y->name);
    return r == UCOL_LESS ? -1 : r == UCOL_GREATER ? 1 : 0;
}

/* Both languages' tables at once, the first time a page needs one: the names
 * CLDR gives (ISO's English one when it has none), sorted by the language's
 * collation. */
static void format_countries_init(void)
{
    for (int l = 0; l < I18N_LANGS; l++) {
        const char *display = i18n_locale((enum i18n_lang)l);
        size_t n = 0;
        for (size_t i = 0; i < country_count && n < FORMAT_COUNTRIES_MAX; i++, n++) {
            struct format_country *c = &format_country_table[l][n];
            memcpy(c->code, country_table[i].code, sizeof(c->code));
            char locale[8];
            snprintf(locale, sizeof(locale), "_%s", country_table[i].code);
            UChar name[64];
            UErrorCode status = U_ZERO_ERROR;
            int32_t len = uloc_getDisplayCountry(locale, display, name, 64, &status);
            if (U_FAILURE(status) || len <= 0 || len >= 64 ||
                format_to_utf8(name, len, c->name, sizeof(c->name), NULL) != C_OK ||
                strcmp(c->name, country_table[i].code) == 0)
                snprintf(c->name, sizeof(c->name), "%s", country_table[i].name);
        }
        format_country_count[l] = n;
        UErrorCode status = U_ZERO_ERROR;
        UCollator *collator = ucol_open(display, &status);
        if (U_SUCCESS(status))
            qsort_r(format_country_table[l], n, sizeof(struct format_country),
                    format_country_compare, collator);
        ucol_close(collator);
    }
}

size_t format_countries(enum i18n_lang lang, const struct format_country **out)
{
    pthread_once(&format_countries_once, format_countries_init);
    int l = lang == I18N_FR ? I18N_FR : I18N_EN;
    *out = format_country_table[l];
    return format_country_count[l];
}
