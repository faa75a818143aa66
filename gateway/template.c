#include "template.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "core/result.h"

/* Translations may name values but hold no sections or translations: one level. */
#define TEMPLATE_DEPTH_MAX 2

void template_set(struct template_vars *v, const char *name, const char *value)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->items[i].name, name) == 0) {
            v->items[i].value = value;
            return;
        }
    }
    assert(v->n < TEMPLATE_VARS_MAX);
    v->items[v->n].name = name;
    v->items[v->n].value = value;
    v->n++;
}

/* The value of the name of n bytes at name. */
static const char *template_lookup(const struct template_vars *v, const char *name, size_t n)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strlen(v->items[i].name) == n && memcmp(v->items[i].name, name, n) == 0)
            return v->items[i].value;
    }
    return NULL;
}

const char *template_get(const struct template_vars *v, const char *name)
{
    return template_lookup(v, name, strlen(name));
}

static int template_render_at(struct html_buf *out, const char *tpl, size_t len,
                              const struct template_vars *v, int depth, struct error *err);

static int template_translate(struct html_buf *out, const char *msgid, size_t n,
                              const struct template_vars *v, int depth, struct error *err)
{
    char id[96];
    if (n == 0 || n >= sizeof(id))
        return error_set(err, NULL, "template: a msgid of %zu bytes", n);
    memcpy(id, msgid, n);
    id[n] = '\0';
    const char *text = i18n_text(v->lang, id);
    if (text == NULL)
        return error_set(err, NULL, "template: no %s text for \"%s\"", i18n_code(v->lang), id);
    return template_render_at(out, text, strlen(text), v, depth + 1, err);
}

/* The end of the section of name (n bytes) opened before p: where its closing
 * tag starts, NULL if it is not closed. */
static const char *template_section_end(const char *p, const char *end, const char *name, size_t n)
{
    for (const char *q = p; q + n + 5 <= end; q++) {
        if (q[0] == '{' && q[1] == '{' && q[2] == '/' && memcmp(q + 3, name, n) == 0 &&
            q[3 + n] == '}' && q[4 + n] == '}')
            return q;
    }
    return NULL;
}

static int template_render_at(struct html_buf *out, const char *tpl, size_t len,
                              const struct template_vars *v, int depth, struct error *err)
{
    if (depth >= TEMPLATE_DEPTH_MAX)
        return error_set(err, NULL, "template: a translation holds a translation");
    /* A translation's own text is not markup: escaped like a value. */
    bool literal_is_text = depth > 0;
    const char *p = tpl, *end = tpl + len;
    while (p < end) {
        const char *open = NULL;
        for (const char *q = p; q + 1 < end; q++) {
            if (q[0] == '{' && q[1] == '{') {
                open = q;
                break;
            }
        }
        if (open == NULL)
            open = end;
        if (literal_is_text)
            html_escape(out, p, (size_t)(open - p));
        else
            html_buf_append(out, p, (size_t)(open - p));
        if (open == end)
            break;
        const char *tag = open + 2, *close = NULL;
        for (const char *q = tag; q + 1 < end; q++) {
            if (q[0] == '}' && q[1] == '}') {
                close = q;
                break;
            }
        }
        if (close == NULL || close == tag)
            return error_set(err, NULL, "template: a tag is not closed");
        size_t n = (size_t)(close - tag);
        p = close + 2;
        bool plain = strchr("#^>/", tag[0]) == NULL &&
                     !(n > 2 && tag[0] == 't' && (tag[1] == ':' || tag[1] == '='));
        if (depth > 0 && !plain)
            return error_set(err, NULL, "template: a translation holds a tag other than {{name}}");
        if (tag[0] == '#' || tag[0] == '^') {
            const char *section_end = template_section_end(p, end, tag + 1, n - 1);
            if (section_end == NULL)
                return error_set(err, NULL, "template: section %.*s is not closed", (int)n - 1,
                                 tag + 1);
            const char *value = template_lookup(v, tag + 1, n - 1);
            bool set = value != NULL && value[0] != '\0';
            if (set == (tag[0] == '#') &&
                template_render_at(out, p, (size_t)(section_end - p), v, depth, err) != C_OK)
                return C_ERR;
            p = section_end + n + 4;
        } else if (tag[0] == '/') {
            return error_set(err, NULL, "template: %.*s closes no section", (int)n, tag);
        } else if (tag[0] == '>') {
            const char *value = template_lookup(v, tag + 1, n - 1);
            if (value != NULL)
                html_buf_puts(out, value);
        } else if (n > 2 && tag[0] == 't' && tag[1] == ':') {
            if (template_translate(out, tag + 2, n - 2, v, depth, err) != C_OK)
                return C_ERR;
        } else if (n > 2 && tag[0] == 't' && tag[1] == '=') {
            const char *msgid = template_lookup(v, tag + 2, n - 2);
            if (msgid != NULL &&
                template_translate(out, msgid, strlen(msgid), v, depth, err) != C_OK)
                return C_ERR;
        } else {
            const char *value = template_lookup(v, tag, n);
            if (value != NULL)
                html_escape(out, value, strlen(value));
        }
    }
    if (out->failed)
        return error_set(err, NULL, "template: out of memory");
    return C_OK;
}

int template_render(struct html_buf *out, const char *tpl, size_t len,
                    const struct template_vars *v, struct error *err)
{
    return template_render_at(out, tpl, len, v, 0, err);
}
