/* Amounts, dates and durations by ICU, per currency and language. ICU's
 * spaces are what CLDR says: a French group separator is U+202F (narrow
 * no-break space), the space before a currency sign U+00A0. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <string.h>

#include "../../../gateway/format.h"
#include "../leak_check.h"
#include "core/result.h"

TestSuite(format, .fini = unit_leak_check);

#define NNBSP "\xe2\x80\xaf" /* U+202F */
#define NBSP "\xc2\xa0"      /* U+00A0 */

static void assert_amount(enum i18n_lang lang, const char *currency, int64_t minor,
                          const char *expected)
{
    char out[FORMAT_TEXT_MAX];
    struct error err = ERROR_INIT;
    cr_assert_eq(format_amount(lang, currency, minor, out, sizeof(out), &err), C_OK, "%s",
                 err.message);
    cr_assert_str_eq(out, expected, "%s %lld in %s", currency, (long long)minor, i18n_code(lang));
}

Test(format, xof_has_no_decimals_and_a_french_group_space)
{
    assert_amount(I18N_FR, "XOF", 10000, "10" NNBSP "000" NBSP "F" NNBSP "CFA");
    assert_amount(I18N_FR, "XOF", 5, "5" NBSP "F" NNBSP "CFA");
}

Test(format, euro_is_written_the_french_and_the_english_way)
{
    assert_amount(I18N_FR, "EUR", 1000, "10,00" NBSP "€");
    assert_amount(I18N_EN, "EUR", 1000, "€10.00");
    assert_amount(I18N_EN, "EUR", 5, "€0.05");
    assert_amount(I18N_EN, "EUR", 123456789, "€1,234,567.89");
}

Test(format, dollars_and_african_currencies)
{
    assert_amount(I18N_EN, "USD", 1000, "$10.00");
    assert_amount(I18N_FR, "USD", 1000, "10,00" NBSP "$US");
    assert_amount(I18N_EN, "GHS", 1000, "GH₵10.00");
    assert_amount(I18N_EN, "NGN", 250000, "₦2,500.00");
    assert_amount(I18N_EN, "KES", 1000, "Ksh" NBSP "10.00");
    assert_amount(I18N_FR, "GHS", 1000, "10,00" NBSP "GHS");
    assert_amount(I18N_EN, "UGX", 5000, "USh" NBSP "5,000");
}

Test(format, an_unsupported_currency_is_an_error)
{
    char out[FORMAT_TEXT_MAX] = "unchanged";
    struct error err = ERROR_INIT;
    cr_assert_eq(format_amount(I18N_EN, "ABC", 1, out, sizeof(out), &err), C_ERR);
    cr_assert_str_eq(out, "unchanged");
    cr_assert_eq(format_amount(I18N_EN, "EUR", 1, out, 4, &err), C_ERR, "too small a buffer");
}

Test(format, dates_are_medium_with_a_short_time_in_utc)
{
    char out[FORMAT_TEXT_MAX];
    struct error err = ERROR_INIT;
    /* 2026-12-06T20:30:00Z */
    cr_assert_eq(format_datetime(I18N_FR, 1796589000, out, sizeof(out), &err), C_OK);
    cr_assert_str_eq(out, "6 déc. 2026, 20:30 UTC");
    cr_assert_eq(format_datetime(I18N_EN, 1796589000, out, sizeof(out), &err), C_OK);
    cr_assert_str_eq(out, "Dec 6, 2026, 8:30" NNBSP "PM UTC");
}

Test(format, time_left_is_in_minutes_rounded_up_then_in_hours)
{
    char out[FORMAT_TEXT_MAX];
    struct error err = ERROR_INIT;
    cr_assert_eq(format_time_left(I18N_EN, 1799, out, sizeof(out), &err), C_OK);
    cr_assert_str_eq(out, "in 30 minutes");
    cr_assert_eq(format_time_left(I18N_FR, 1799, out, sizeof(out), &err), C_OK);
    cr_assert_str_eq(out, "dans 30 minutes");
    cr_assert_eq(format_time_left(I18N_EN, 30, out, sizeof(out), &err), C_OK);
    cr_assert_str_eq(out, "in 1 minute");
    cr_assert_eq(format_time_left(I18N_EN, 24 * 3600, out, sizeof(out), &err), C_OK);
    cr_assert_str_eq(out, "in 24 hours");
}

Test(format, countries_are_named_and_sorted_in_the_language)
{
    const struct format_country *fr, *en;
    size_t nfr = format_countries(I18N_FR, &fr);
    size_t nen = format_countries(I18N_EN, &en);
    cr_assert_eq(nfr, nen);
    cr_assert_gt(nfr, 240);
    const char *sn = NULL, *eg_before = NULL;
    for (size_t i = 0; i < nfr; i++) {
        if (strcmp(fr[i].code, "SN") == 0)
            sn = fr[i].name;
        if (strcmp(fr[i].code, "EG") == 0 && i + 1 < nfr)
            eg_before = fr[i + 1].name;
    }
    cr_assert_str_eq(sn, "Sénégal");
    /* Collation, not bytes: É sorts among the E, not after Z. */
    cr_assert_not_null(eg_before);
    cr_assert(eg_before[0] == 'E' || strncmp(eg_before, "É", 2) == 0, "after Égypte: %s",
              eg_before);
    for (size_t i = 0; i < nen; i++) {
        if (strcmp(en[i].code, "SN") == 0)
            cr_assert_str_eq(en[i].name, "Senegal");
    }
    cr_assert_str_eq(en[0].name, "Afghanistan");
}

Test(format, the_script_formats_in_the_currency_s_locale)
{
    char out[16];
    format_currency_locale(I18N_EN, "GHS", out, sizeof(out));
    cr_assert_str_eq(out, "en-GH");
    format_currency_locale(I18N_FR, "EUR", out, sizeof(out));
    cr_assert_str_eq(out, "fr");
}

/* Each thread keeps its own formatters: threads formatting at once, in more
 * currencies than a thread keeps, all get the right text. */
static void *format_many(void *arg)
{
    const char *const codes[] = {"XOF", "EUR", "USD", "GHS", "NGN",
                                 "KES", "XAF", "MAD", "ZAR", "UGX"};
    long bad = 0;
    for (int i = 0; i < 300; i++) {
        const char *code = codes[(i + (int)(long)arg) % 10];
        char out[FORMAT_TEXT_MAX], again[FORMAT_TEXT_MAX];
        enum i18n_lang lang = (enum i18n_lang)(i % 2);
        if (format_amount(lang, code, 123456, out, sizeof(out), NULL) != C_OK ||
            format_amount(lang, code, 123456, again, sizeof(again), NULL) != C_OK ||
            strcmp(out, again) != 0 || strstr(out, "1") == NULL)
            bad++;
        if (strcmp(code, "EUR") == 0 && lang == I18N_EN && strcmp(out, "€1,234.56") != 0)
            bad++;
    }
    return (void *)bad;
}

Test(format, threads_format_at_once_with_their_own_formatters)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, format_many, (void *)i);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        cr_assert_eq((long)bad, 0, "thread %d formatted %ld amounts wrong", i, (long)bad);
    }
}
