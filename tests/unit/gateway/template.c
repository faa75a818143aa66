/* The page's templates: values escaped, markup fragments as they are,
 * sections, and translations that name values. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "../../../gateway/template.h"
#include "../leak_check.h"
#include "core/result.h"

TestSuite(template, .fini = unit_leak_check);

static char *render(const char *tpl, const struct template_vars *v)
{
    struct html_buf b = {0};
    struct error err = ERROR_INIT;
    int rc = template_render(&b, tpl, strlen(tpl), v, &err);
    cr_assert_eq(rc, C_OK, "%s: %s", tpl, err.message);
    size_t len;
    return html_buf_take(&b, &len);
}

static int render_fails(const char *tpl, const struct template_vars *v)
{
    struct html_buf b = {0};
    struct error err = ERROR_INIT;
    int rc = template_render(&b, tpl, strlen(tpl), v, &err);
    html_buf_free(&b);
    return rc == C_ERR && err.message[0] != '\0';
}

Test(template, values_are_escaped_and_fragments_are_not)
{
    struct template_vars v = {0};
    template_set(&v, "title", "<b>\"Tom & Jerry\"</b>");
    template_set(&v, "frag", "<li>ok</li>");
    char *t = render("<h1>{{title}}</h1><ul>{{>frag}}</ul>{{unset}}", &v);
    cr_assert_str_eq(t,
                     "<h1>&lt;b&gt;&quot;Tom &amp; Jerry&quot;&lt;/b&gt;</h1><ul><li>ok</li></ul>");
    free(t);
}

Test(template, a_section_shows_when_its_value_is_set_and_not_empty)
{
    struct template_vars v = {0};
    template_set(&v, "yes", "1");
    template_set(&v, "empty", "");
    char *t = render("{{#yes}}A{{/yes}}{{#empty}}B{{/empty}}{{#unset}}C{{/unset}}"
                     "{{^yes}}D{{/yes}}{{^empty}}E{{/empty}}{{^unset}}F{{/unset}}",
                     &v);
    cr_assert_str_eq(t, "AEF");
    free(t);
    t = render("{{#yes}}<{{#empty}}x{{/empty}}{{^empty}}in{{/empty}}>{{/yes}}", &v);
    cr_assert_str_eq(t, "<in>");
    free(t);
}

Test(template, a_translation_fills_its_values_escaped_in_the_language)
{
    struct template_vars v = {.lang = I18N_FR};
    template_set(&v, "total", "10 000 F CFA");
    char *t = render("<button>{{t:pay_amount}}</button>", &v);
    cr_assert_str_eq(t, "<button>Payer 10 000 F CFA</button>");
    free(t);
    v.lang = I18N_EN;
    template_set(&v, "coupon", "<X>");
    template_set(&v, "msg", "coupon_unknown");
    t = render("{{t=msg}}", &v);
    cr_assert_str_eq(t, "Coupon &lt;X&gt; does not exist.");
    free(t);
    /* A translation's own apostrophe is text too. */
    v.lang = I18N_FR;
    t = render("{{t:expired_body}}", &v);
    cr_assert_not_null(strstr(t, "n&#39;a"));
    free(t);
}

Test(template, malformed_templates_and_unknown_msgids_are_errors)
{
    struct template_vars v = {0};
    template_set(&v, "x", "1");
    template_set(&v, "msg", "no_such_msgid");
    cr_assert(render_fails("{{x", &v));
    cr_assert(render_fails("{{}}", &v));
    cr_assert(render_fails("{{#x}}never closed", &v));
    cr_assert(render_fails("{{/x}}", &v));
    cr_assert(render_fails("{{t:no_such_msgid}}", &v));
    cr_assert(render_fails("{{t=msg}}", &v));
}

Test(template, setting_a_value_again_replaces_it)
{
    struct template_vars v = {0};
    template_set(&v, "a", "1");
    template_set(&v, "a", "2");
    cr_assert_eq(v.n, 1);
    cr_assert_str_eq(template_get(&v, "a"), "2");
    template_set(&v, "a", NULL);
    cr_assert_null(template_get(&v, "a"));
}
