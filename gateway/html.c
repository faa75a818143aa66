#include "html.h"

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

void html_buf_free(struct html_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

static bool html_buf_reserve(struct html_buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap > 0 ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
        b->failed = true;
        return false;
    }
    b->data = grown;
    b->cap = cap;
    return true;
}

void html_buf_append(struct html_buf *b, const char *s, size_t n)
{
    if (!html_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void html_buf_puts(struct html_buf *b, const char *s)
{
    html_buf_append(b, s, strlen(s));
}

void html_escape(struct html_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *ref = NULL;
        switch (c) {
        case '&':
            ref = "&amp;";
            break;
        case '<':
            ref = "&lt;";
            break;
        case '>':
            ref = "&gt;";
            break;
        case '"':
            ref = "&quot;";
            break;
        case '\'':
            ref = "&#39;";
            break;
        default:
            break;
        }
        if (ref != NULL) {
            html_buf_puts(b, ref);
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            if (c == '\t' || c == '\n' || c == '\r')
                html_buf_append(b, s + i, 1);
            i++;
            continue;
        }
        if (c < 0x80) {
            /* A run of plain characters at once. */
            size_t run = i + 1;
            while (run < n && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f &&
                   strchr("&<>\"'", s[run]) == NULL)
                run++;
            html_buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        int len = utf8_sequence_length(s + i, n - i);
        if (len <= 0) {
            html_buf_puts(b, "\xEF\xBF\xBD");
            i++;
            continue;
        }
        html_buf_append(b, s + i, (size_t)len);
        i += (size_t)len;
    }
}

char *html_buf_take(struct html_buf *b, size_t *len)
{
    char *text = NULL;
    if (!b->failed) {
        if (b->data == NULL)
            html_buf_append(b, "", 0);
        text = b->data;
        *len = b->len;
        b->data = NULL;
    }
    html_buf_free(b);
    return text;
}
