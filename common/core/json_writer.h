/* JSON text written straight into a growing buffer: for the hot paths that
 * used to build a jansson tree only to print it (every session event, every
 * batch of inserted sessions). What it writes is byte for byte what
 * json_dumps(..., JSON_COMPACT) prints for the same values: strings escaped
 * the same way (\" \\ \b \f \n \r \t, other controls as \u00XX, the rest as
 * UTF-8), integers in decimal, no spaces. Parsing stays with jansson.
 *
 * The appenders never report a failure themselves: one that fails (out of
 * memory, a string that is not UTF-8, which jansson would not hold either)
 * marks the writer failed and the following ones do nothing. A unit of text
 * is written between json_writer_begin and json_writer_end, which reports the
 * failure and takes the writer back to where the unit began:
 *
 *     size_t mark = json_writer_begin(w);
 *     json_writer_literal(w, "{\"id\":");
 *     json_writer_string(w, id);
 *     json_writer_literal(w, "}");
 *     if (json_writer_end(w, mark) != C_OK) ...  (w holds what it held before)
 */
#ifndef CAISSE_JSON_WRITER_H
#define CAISSE_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

struct json_writer {
    char *buf; /* owned; NUL-terminated at len once anything was written */
    size_t len;
    size_t cap;
    bool failed; /* an append failed since json_writer_begin */
    /* How buf grows; NULL: realloc. Tests put a failing one here. */
    void *(*grow)(void *ptr, size_t size);
};

#define JSON_WRITER_INIT                                                                           \
    {                                                                                              \
        NULL, 0, 0, false, NULL                                                                    \
    }

void json_writer_free(struct json_writer *w);
/* Forgets the text, keeps the memory for the next one. */
void json_writer_clear(struct json_writer *w);

/* The start of a unit of text: the mark to give json_writer_end. */
size_t json_writer_begin(const struct json_writer *w);
/* C_OK: every append since mark succeeded. C_ERR: one failed; the text is
 * cut back to mark and the writer can be used again. */
int json_writer_end(struct json_writer *w, size_t mark);

/* json_writer_raw when the buffer must grow first. */
void json_writer_raw_grow(struct json_writer *w, const char *text, size_t len);
/* text as it is (the caller vouches that it is valid JSON where it goes).
 * Inline: most appends are a few bytes into room already there. */
static inline void json_writer_raw(struct json_writer *w, const char *text, size_t len)
{
    if (w->failed || w->cap - w->len <= len) {
        json_writer_raw_grow(w, text, len);
        return;
    }
    memcpy(w->buf + w->len, text, len);
    w->len += len;
    w->buf[w->len] = '\0';
}
/* text: a string literal (a pointer would not compile). */
#define json_writer_literal(w, text) json_writer_raw((w), "" text, sizeof(text) - 1)
/* A JSON string of s (NUL-terminated UTF-8); NULL writes null. */
void json_writer_string(struct json_writer *w, const char *s);
void json_writer_int(struct json_writer *w, int64_t v);
void json_writer_bool(struct json_writer *w, bool v);
/* Any jansson value, as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) prints it. */
void json_writer_value(struct json_writer *w, const json_t *v);

#endif
