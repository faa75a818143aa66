/* HTML text built in memory for the hosted checkout page: a growing buffer,
 * and html_escape, the one function through which every value that is not
 * our own markup (a session's title, a customer's name, a form's echo, a
 * translation, a URL) reaches the page. */
#ifndef GATEWAY_HTML_H
#define GATEWAY_HTML_H

#include <stdbool.h>
#include <stddef.h>

/* Zero-initialised is an empty buffer. Once an allocation failed, failed is
 * set and every append is a no-op, so a caller checks once, at the end. */
struct html_buf {
    char *data; /* owned, NUL-terminated once anything was appended */
    size_t len, cap;
    bool failed;
};

void html_buf_free(struct html_buf *b);
/* Our own markup, as it is. */
void html_buf_append(struct html_buf *b, const char *s, size_t n);
void html_buf_puts(struct html_buf *b, const char *s);
/* Appends s (n bytes) escaped for HTML text and for a quoted attribute value:
 * & < > " ' as character references, a NUL and any other control character
 * but tab, newline and carriage return dropped, and every byte that is not
 * part of a valid UTF-8 character as U+FFFD. */
void html_escape(struct html_buf *b, const char *s, size_t n);
/* The text, handed to the caller (free()), and its length; NULL if an
 * allocation failed. The buffer is empty again either way. */
char *html_buf_take(struct html_buf *b, size_t *len);

#endif
