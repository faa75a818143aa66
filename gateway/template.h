/* The hosted checkout page's templates: HTML files (the .html of gateway/page/) with
 * a few tags, filled from named string values.
 *
 *   {{name}}          the value, through html_escape; nothing when unset
 *   {{>name}}         the value as it is: only markup the page built itself
 *                     (with html_escape) goes there
 *   {{#name}}..{{/name}}  the part only when the value is set and not ""
 *   {{^name}}..{{/name}}  the part only when it is unset or ""
 *   {{t:msgid}}       msgid's text in the language (i18n.h), whose own
 *                     {{name}} tags are filled the same way; the text is escaped
 *   {{t=name}}        the same for the msgid that the value of name holds
 *
 * Sections of one name do not nest in themselves. */
#ifndef GATEWAY_TEMPLATE_H
#define GATEWAY_TEMPLATE_H

#include <stddef.h>

#include "core/error.h"
#include "html.h"
#include "i18n.h"

#define TEMPLATE_VARS_MAX 64

struct template_vars {
    enum i18n_lang lang;
    size_t n;
    struct {
        const char *name, *value; /* borrowed: they must outlive the rendering */
    } items[TEMPLATE_VARS_MAX];
};

/* Sets name to value (NULL: unset), replacing an earlier value. */
void template_set(struct template_vars *v, const char *name, const char *value);
/* name's value, NULL when unset. */
const char *template_get(const struct template_vars *v, const char *name);
/* Renders the len bytes of tpl with v into out. C_ERR (out may hold part of
 * the page): a tag is malformed or unclosed, a msgid has no text in the
 * language, or an allocation failed. */
int template_render(struct html_buf *out, const char *tpl, size_t len,
                    const struct template_vars *v, struct error *err);

#endif
