/* The page's languages: Accept-Language and ?lang= choose French or English,
 * and both catalogues hold a text for every msgid of either. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../gateway/i18n.h"
#include "../../../gateway/payment.h"
#include "../leak_check.h"

TestSuite(i18n, .fini = unit_leak_check);

Test(i18n, accept_language_picks_the_supported_language_of_highest_quality)
{
    cr_assert_eq(i18n_from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"), I18N_FR);
    cr_assert_eq(i18n_from_accept_language("en-GB,en;q=0.9,fr;q=0.8"), I18N_EN);
    cr_assert_eq(i18n_from_accept_language("de-DE,de;q=0.9,fr;q=0.5,en;q=0.4"), I18N_FR);
    cr_assert_eq(i18n_from_accept_language("en;q=0.2, fr;q=0.7"), I18N_FR);
    cr_assert_eq(i18n_from_accept_language("fr-SN"), I18N_FR);
    cr_assert_eq(i18n_from_accept_language("FR"), I18N_FR);
}

Test(i18n, english_when_nothing_supported_is_asked)
{
    cr_assert_eq(i18n_from_accept_language(NULL), I18N_EN);
    cr_assert_eq(i18n_from_accept_language(""), I18N_EN);
    cr_assert_eq(i18n_from_accept_language("de,wo;q=0.5"), I18N_EN);
    cr_assert_eq(i18n_from_accept_language("fr;q=0"), I18N_EN, "q=0 refuses");
    cr_assert_eq(i18n_from_accept_language("*"), I18N_EN);
    cr_assert_eq(i18n_from_accept_language("frx,fra"), I18N_EN);
    cr_assert_eq(i18n_from_accept_language(",,;;q=,\xff\xfe"), I18N_EN);
}

Test(i18n, lang_codes_parse_with_an_optional_region)
{
    enum i18n_lang l;
    cr_assert_eq(i18n_parse("fr", &l), 0);
    cr_assert_eq(l, I18N_FR);
    cr_assert_eq(i18n_parse("en-US", &l), 0);
    cr_assert_eq(l, I18N_EN);
    cr_assert_eq(i18n_parse("de", &l), -1);
    cr_assert_eq(i18n_parse("", &l), -1);
    cr_assert_eq(i18n_parse("fr\"><script>", &l), -1);
    cr_assert_eq(i18n_parse(NULL, &l), -1);
    cr_assert_str_eq(i18n_code(I18N_FR), "fr");
    cr_assert_str_eq(i18n_code(I18N_EN), "en");
}

Test(i18n, every_msgid_has_a_text_in_both_catalogues)
{
    for (int a = 0; a < I18N_LANGS; a++) {
        size_t n;
        const struct i18n_message *c = i18n_catalog((enum i18n_lang)a, &n);
        cr_assert_gt(n, 50);
        for (size_t i = 0; i < n; i++) {
            cr_assert(c[i].msgstr[0] != '\0', "%s: %s is empty", i18n_code(a), c[i].msgid);
            for (int b = 0; b < I18N_LANGS; b++)
                cr_assert_not_null(i18n_text((enum i18n_lang)b, c[i].msgid), "%s has no %s text",
                                   c[i].msgid, i18n_code(b));
        }
    }
    cr_assert_str_eq(i18n_text(I18N_FR, "pay_amount"), "Payer {{total}}");
    cr_assert_str_eq(i18n_text(I18N_EN, "pay_amount"), "Pay {{total}}");
    cr_assert_null(i18n_text(I18N_EN, "no_such_msgid"));
}

/* The same {{names}} in both languages' texts of a msgid: a translation that
 * drops or misspells a value would show less, or nothing. */
Test(i18n, both_texts_of_a_msgid_name_the_same_values)
{
    size_t n;
    const struct i18n_message *c = i18n_catalog(I18N_EN, &n);
    for (size_t i = 0; i < n; i++) {
        const char *fr = i18n_text(I18N_FR, c[i].msgid);
        for (const char *p = strstr(c[i].msgstr, "{{"); p != NULL; p = strstr(p + 2, "{{")) {
            const char *end = strstr(p, "}}");
            cr_assert_not_null(end);
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(end - p + 2), p);
            cr_assert_not_null(strstr(fr, name), "%s: the French text lacks %s", c[i].msgid, name);
        }
    }
}

/* GNU gettext's own check of the catalogues' syntax and header, when msgfmt is
 * installed (deploy/install-deps.sh installs gettext). */
Test(i18n, the_catalogues_pass_msgfmt_check)
{
    if (system("command -v msgfmt >/dev/null 2>&1") != 0)
        cr_skip_test("msgfmt is not installed");
    const char *const files[] = {"gateway/page/en.po", "gateway/page/fr.po"};
    for (size_t i = 0; i < 2; i++) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "msgfmt --check -o /dev/null %s 2>&1", files[i]);
        cr_assert_eq(system(cmd), 0, "msgfmt --check %s", files[i]);
    }
}

/* A declined payment's reason is shown in the customer's language: every
 * failure code a provider gives (gateway/payment.h) has its text. */
Test(i18n, every_payment_failure_code_has_a_text)
{
    const char *codes[] = {PAYMENT_FAILURE_DECLINED,       PAYMENT_FAILURE_INSUFFICIENT_FUNDS,
                           PAYMENT_FAILURE_INVALID_NUMBER, PAYMENT_FAILURE_CUSTOMER_DECLINED,
                           PAYMENT_FAILURE_NOT_CONFIGURED, "generic"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char msgid[96];
        snprintf(msgid, sizeof(msgid), "payment_failed_%s", codes[i]);
        for (int l = 0; l < I18N_LANGS; l++)
            cr_assert_not_null(i18n_text((enum i18n_lang)l, msgid), "%s has no %s text", msgid,
                               i18n_code((enum i18n_lang)l));
    }
}
