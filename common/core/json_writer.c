#include "json_writer.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

void json_writer_free(struct json_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = 0;
    w->cap = 0;
    w->failed = false;
}

void json_writer_clear(struct json_writer *w)
{
    w->len = 0;
    w->failed = false;
    if (w->buf != NULL)
        w->buf[0] = '\0';
}

size_t json_writer_begin(const struct json_writer *w)
{
    /* Every failure is reported by the json_writer_end of its unit. */
    assert(!w->failed);
    return w->len;
}

int json_writer_end(struct json_writer *w, size_t mark)
{
    if (!w->failed)
        return C_OK;
    w->failed = false;
    w->len = mark;
    if (w->buf != NULL)
        w->buf[mark] = '\0';
    return C_ERR;
}

/* Room for n more bytes and the terminator; false (and failed) if none. */
static bool json_writer_reserve(struct json_writer *w, size_t n)
{
    if (w->failed)
        return false;
    if (w->cap - w->len > n)
        return true;
    size_t need = w->len + n + 1;
    if (need < w->len) {
        w->failed = true;
        return false;
    }
    size_t cap = w->cap > 0 ? w->cap : 256;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    char *grown = w->grow != NULL ? w->grow(w->buf, cap) : realloc(w->buf, cap);
    if (grown == NULL) {
        w->failed = true;
        return false;
    }
    w->buf = grown;
    w->cap = cap;
    return true;
}

void json_writer_raw_grow(struct json_writer *w, const char *text, size_t len)
{
    if (!json_writer_reserve(w, len))
        return;
    memcpy(w->buf + w->len, text, len);
    w->len += len;
    w->buf[w->len] = '\0';
}

/* Bytes of the UTF-8 sequence at s (first byte not ASCII), 0 if it is not
 * one jansson accepts: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t json_writer_utf8_sequence(const unsigned char *s)
{
    size_t n;
    uint32_t cp;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        /* The terminator is not a continuation byte: no read past the end. */
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* What a byte of a string asks for: 0 nothing (copied as is), 1 an escape
 * (controls, '"', '\\'; NUL ends the string), 2 a check (the start of a
 * multibyte UTF-8 sequence, or a stray byte). */
#define JW_CTL 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
#define JW_ASCII 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define JW_HIGH 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2
static const unsigned char json_writer_class[256] = {
    JW_CTL,   JW_CTL, /* 0x00-0x1F */
    0,        0,        1,       0,       0,       0,       0,       0,
    0,        0,        0,       0,       0,       0,       0,       0, /* 0x20-0x2F: '"' */
    JW_ASCII, JW_ASCII,                                                 /* 0x30-0x4F */
    0,        0,        0,       0,       0,       0,       0,       0,
    0,        0,        0,       0,       1,       0,       0,       0,       /* 0x50-0x5F: '\\' */
    JW_ASCII, JW_ASCII,                                                       /* 0x60-0x7F */
    JW_HIGH,  JW_HIGH,  JW_HIGH, JW_HIGH, JW_HIGH, JW_HIGH, JW_HIGH, JW_HIGH, /* 0x80-0xFF */
};

void json_writer_string(struct json_writer *w, const char *s)
{
    if (s == NULL) {
        json_writer_literal(w, "null");
        return;
    }
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    json_writer_literal(w, "\"");
    while (*p != '\0' && !w->failed) {
        /* The run of bytes that need no escape goes in one copy. */
        const unsigned char *run = p;
        for (;;) {
            unsigned char c = json_writer_class[*p];
            if (c == 0) {
                p++;
                continue;
            }
            if (c == 1)
                break;
            size_t n = json_writer_utf8_sequence(p);
            if (n == 0) {
                w->failed = true;
                return;
            }
            p += n;
        }
        json_writer_raw(w, (const char *)run, (size_t)(p - run));
        if (*p == '\0')
            break;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (*p) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xF];
            len = 6;
            break;
        }
        json_writer_raw(w, esc, len);
        p++;
    }
    json_writer_literal(w, "\"");
}

void json_writer_int(struct json_writer *w, int64_t v)
{
    char digits[24];
    size_t i = sizeof(digits);
    /* Through the unsigned magnitude: -INT64_MIN does not fit an int64_t. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        digits[--i] = '-';
    json_writer_raw(w, digits + i, sizeof(digits) - i);
}

void json_writer_bool(struct json_writer *w, bool v)
{
    if (v)
        json_writer_literal(w, "true");
    else
        json_writer_literal(w, "false");
}

static int json_writer_dump_cb(const char *buffer, size_t size, void *data)
{
    struct json_writer *w = data;
    json_writer_raw(w, buffer, size);
    return w->failed ? -1 : 0;
}

void json_writer_value(struct json_writer *w, const json_t *v)
{
    if (w->failed)
        return;
    if (v == NULL ||
        json_dump_callback(v, json_writer_dump_cb, w, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        w->failed = true;
}
