#include "event_id.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/result.h"
#include "core/hex.h"

/* Nesting deeper than this is left to the full decoder. */
#define EVENT_ID_MAX_DEPTH 64
/* A real whose value could reach DBL_MAX (about 1.8e308) is left to the full
 * decoder, which refuses an overflowing one. Integers are read as jansson
 * does, into an int64. */
#define EVENT_ID_MAX_DECIMAL_EXPONENT 308

/* The scanner accepts a subset of what jansson (json_loadb, no flags)
 * accepts, never more: a record it passes is one the full decoder reads the
 * same way. Whatever it is unsure of, it refuses. */
struct event_id_cursor {
    const char *s;
    size_t n, i;
    int depth;
};

static void event_id_skip_ws(struct event_id_cursor *c)
{
    while (c->i < c->n &&
           (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static bool event_id_is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* One UTF-8 sequence of two to four bytes at the cursor, as jansson checks
 * them: no overlong form, no surrogate, nothing past U+10FFFF. */
static bool event_id_utf8_sequence(struct event_id_cursor *c)
{
    unsigned char lead = (unsigned char)c->s[c->i];
    size_t more;
    uint32_t cp;
    if (lead >= 0xc2 && lead <= 0xdf)
        more = 1, cp = lead & 0x1fu;
    else if (lead >= 0xe0 && lead <= 0xef)
        more = 2, cp = lead & 0x0fu;
    else if (lead >= 0xf0 && lead <= 0xf4)
        more = 3, cp = lead & 0x07u;
    else
        return false;
    if (c->n - c->i <= more)
        return false;
    for (size_t k = 1; k <= more; k++) {
        unsigned char next = (unsigned char)c->s[c->i + k];
        if ((next & 0xc0) != 0x80)
            return false;
        cp = cp << 6 | (next & 0x3fu);
    }
    if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return false;
    c->i += more + 1;
    return true;
}

/* Steps over the string at the cursor ('"'); *plain: it had no escape. A
 * \u escape of U+0000 or of a surrogate (half of a pair, or a lone one) is
 * refused: jansson refuses the first and the lone ones, and pairs never
 * occur in what the relay writes. */
static bool event_id_skip_string(struct event_id_cursor *c, bool *plain)
{
    *plain = true;
    c->i++;
    while (c->i < c->n) {
        unsigned char ch = (unsigned char)c->s[c->i];
        if (ch == '"') {
            c->i++;
            return true;
        }
        if (ch < 0x20)
            return false;
        if (ch >= 0x80) {
            if (!event_id_utf8_sequence(c))
                return false;
            continue;
        }
        c->i++;
        if (ch != '\\')
            continue;
        *plain = false;
        if (c->i == c->n)
            return false;
        char esc = c->s[c->i++];
        if (esc == 'u') {
            if (c->n - c->i < 4)
                return false;
            int v = 0;
            for (int k = 0; k < 4; k++) {
                int h = hex_digit_value(c->s[c->i + (size_t)k]);
                if (h < 0)
                    return false;
                v = v << 4 | h;
            }
            if (v == 0 || (v >= 0xd800 && v <= 0xdfff))
                return false;
            c->i += 4;
        } else if (strchr("\"\\/bfnrt", esc) == NULL || esc == '\0') {
            return false;
        }
    }
    return false;
}

static size_t event_id_skip_digits(struct event_id_cursor *c)
{
    size_t start = c->i;
    while (c->i < c->n && event_id_is_digit(c->s[c->i]))
        c->i++;
    return c->i - start;
}

/* Steps over a number in JSON's grammar, refusing the ones jansson would
 * refuse as too big (see the limits above). */
static bool event_id_skip_number(struct event_id_cursor *c)
{
    bool minus = c->i < c->n && c->s[c->i] == '-';
    if (minus)
        c->i++;
    if (c->i == c->n || !event_id_is_digit(c->s[c->i]))
        return false;
    const char *digits = c->s + c->i;
    size_t int_digits = 1;
    if (c->s[c->i] == '0')
        c->i++;
    else
        int_digits = event_id_skip_digits(c);
    bool real = false;
    if (c->i < c->n && c->s[c->i] == '.') {
        c->i++;
        if (event_id_skip_digits(c) == 0)
            return false;
        real = true;
    }
    long exponent = 0;
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        bool negative = false;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
            negative = c->s[c->i++] == '-';
        if (c->i == c->n || !event_id_is_digit(c->s[c->i]))
            return false;
        for (; c->i < c->n && event_id_is_digit(c->s[c->i]); c->i++) {
            if (exponent <= EVENT_ID_MAX_DECIMAL_EXPONENT)
                exponent = exponent * 10 + (c->s[c->i] - '0');
        }
        if (negative)
            exponent = -exponent;
        real = true;
    }
    if (!real) {
        /* Within int64: fewer than 19 digits, or 19 up to its limit (same
         * length, so comparing the text compares the values). */
        const char *limit = minus ? "9223372036854775808" : "9223372036854775807";
        return int_digits < 19 || (int_digits == 19 && memcmp(digits, limit, 19) <= 0);
    }
    /* The value is below 10^(int_digits + exponent). */
    return (long)int_digits + exponent <= EVENT_ID_MAX_DECIMAL_EXPONENT;
}

static bool event_id_skip_word(struct event_id_cursor *c, const char *word)
{
    size_t len = strlen(word);
    if (c->n - c->i < len || memcmp(c->s + c->i, word, len) != 0)
        return false;
    c->i += len;
    return true;
}

static bool event_id_skip_value(struct event_id_cursor *c);

/* Steps over the object or array at the cursor, checking its grammar. */
static bool event_id_skip_container(struct event_id_cursor *c)
{
    char close = c->s[c->i] == '{' ? '}' : ']';
    if (c->depth == EVENT_ID_MAX_DEPTH)
        return false;
    c->depth++;
    c->i++;
    event_id_skip_ws(c);
    if (c->i < c->n && c->s[c->i] == close) {
        c->i++;
        c->depth--;
        return true;
    }
    for (;;) {
        bool plain;
        if (close == '}') {
            if (c->i == c->n || c->s[c->i] != '"' || !event_id_skip_string(c, &plain))
                return false;
            event_id_skip_ws(c);
            if (c->i == c->n || c->s[c->i] != ':')
                return false;
            c->i++;
        }
        if (!event_id_skip_value(c))
            return false;
        event_id_skip_ws(c);
        if (c->i == c->n)
            return false;
        if (c->s[c->i] == close) {
            c->i++;
            c->depth--;
            return true;
        }
        if (c->s[c->i] != ',')
            return false;
        c->i++;
        event_id_skip_ws(c);
    }
}

/* Steps over one value and the whitespace before it. */
static bool event_id_skip_value(struct event_id_cursor *c)
{
    event_id_skip_ws(c);
    if (c->i == c->n)
        return false;
    bool plain;
    switch (c->s[c->i]) {
    case '"':
        return event_id_skip_string(c, &plain);
    case '{':
    case '[':
        return event_id_skip_container(c);
    case 't':
        return event_id_skip_word(c, "true");
    case 'f':
        return event_id_skip_word(c, "false");
    case 'n':
        return event_id_skip_word(c, "null");
    default:
        return event_id_skip_number(c);
    }
}

int event_id_scan(const char *json, size_t len, char out[UUID_STR_LEN])
{
    struct event_id_cursor c = {.s = json, .n = len, .i = 0, .depth = 1};
    const char *id = NULL;
    if (json == NULL)
        return C_ERR;
    event_id_skip_ws(&c);
    if (c.i == c.n || json[c.i] != '{')
        return C_ERR;
    c.i++;
    event_id_skip_ws(&c);
    if (c.i < c.n && json[c.i] == '}')
        return C_ERR; /* no member at all */
    for (;;) {
        event_id_skip_ws(&c);
        if (c.i == c.n || json[c.i] != '"')
            return C_ERR;
        size_t key = c.i + 1;
        bool plain;
        if (!event_id_skip_string(&c, &plain))
            return C_ERR;
        /* An escaped key may spell "id" ("\u0069d"), and the decoder keeps the
         * last of two: which one that is, is the decoder's to say. */
        if (!plain)
            return C_ERR;
        bool is_id = c.i - key - 1 == 2 && memcmp(json + key, "id", 2) == 0;
        event_id_skip_ws(&c);
        if (c.i == c.n || json[c.i] != ':')
            return C_ERR;
        c.i++;
        event_id_skip_ws(&c);
        size_t value = c.i;
        if (!event_id_skip_value(&c))
            return C_ERR;
        if (is_id) {
            /* Two ids: which one a decoder keeps is its choice, not ours. */
            if (id != NULL)
                return C_ERR;
            if (json[value] != '"' || c.i - value != UUID_STR_LEN + 1 ||
                memchr(json + value + 1, '\\', UUID_STR_LEN - 1) != NULL)
                return C_ERR;
            id = json + value + 1;
        }
        event_id_skip_ws(&c);
        if (c.i == c.n)
            return C_ERR;
        if (json[c.i] == ',') {
            c.i++;
            continue;
        }
        if (json[c.i] != '}')
            return C_ERR;
        c.i++;
        break;
    }
    event_id_skip_ws(&c);
    if (c.i != c.n || id == NULL)
        return C_ERR;
    memcpy(out, id, UUID_STR_LEN - 1);
    out[UUID_STR_LEN - 1] = '\0';
    return C_OK;
}
