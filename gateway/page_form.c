#include "page_form.h"

#include <string.h>
#include <sys/random.h>

#include "core/result.h"
#include "core/utf8.h"
#include "core/hex.h"

#define PAGE_FORM_FIELDS_MAX 64

struct page_form_field {
    const char *name;
    size_t offset, size;
};

#define PAGE_FORM_FIELD(f)                                                                         \
    {                                                                                              \
#f, offsetof(struct page_form, f), sizeof(((struct page_form *)0)->f)                      \
    }

static const struct page_form_field page_form_fields[] = {
    PAGE_FORM_FIELD(action),  PAGE_FORM_FIELD(csrf),     PAGE_FORM_FIELD(attempt),
    PAGE_FORM_FIELD(lang),    PAGE_FORM_FIELD(quantity), PAGE_FORM_FIELD(coupon),
    PAGE_FORM_FIELD(email),   PAGE_FORM_FIELD(name),     PAGE_FORM_FIELD(phone),
    PAGE_FORM_FIELD(line1),   PAGE_FORM_FIELD(city),     PAGE_FORM_FIELD(postal_code),
    PAGE_FORM_FIELD(country), PAGE_FORM_FIELD(method),   PAGE_FORM_FIELD(account),
};
#define PAGE_FORM_NFIELDS (sizeof(page_form_fields) / sizeof(page_form_fields[0]))

/* Decodes the n bytes at s into out (size bytes with the NUL). C_ERR: a bad
 * escape, or longer than size - 1. */
static int page_form_unescape(const char *s, size_t n, char *out, size_t size, size_t *outlen)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return C_ERR;
            int hi = hex_digit_value(s[i + 1]), lo = hex_digit_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return C_ERR;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (w + 1 >= size)
            return C_ERR;
        out[w++] = c;
    }
    out[w] = '\0';
    *outlen = w;
    return C_OK;
}

/* No control character at all: a form's fields are one line each. */
static bool page_form_text_ok(const char *s, size_t n)
{
    if (!utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        /* C1 controls: U+0080..U+009F are C2 80..C2 9F. */
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] < 0xA0)
            return false;
    }
    return true;
}

int page_form_decode(const char *body, size_t len, struct page_form *form, struct error *err)
{
    struct page_form decoded;
    memset(&decoded, 0, sizeof(decoded));
    bool seen[PAGE_FORM_NFIELDS] = {false};
    size_t pairs = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && body[end] != '&')
            end++;
        if (end > pos) {
            if (++pairs > PAGE_FORM_FIELDS_MAX)
                return error_set(err, NULL, "the form has more than %d fields",
                                 PAGE_FORM_FIELDS_MAX);
            size_t eq = pos;
            while (eq < end && body[eq] != '=')
                eq++;
            char name[24];
            size_t name_len;
            if (page_form_unescape(body + pos, eq - pos, name, sizeof(name), &name_len) != C_OK)
                goto next; /* longer than any of ours, or a bad escape in a name: not ours */
            const struct page_form_field *f = NULL;
            size_t index = 0;
            for (; index < PAGE_FORM_NFIELDS; index++) {
                if (strlen(page_form_fields[index].name) == name_len &&
                    memcmp(page_form_fields[index].name, name, name_len) == 0) {
                    f = &page_form_fields[index];
                    break;
                }
            }
            if (f == NULL)
                goto next;
            if (seen[index])
                return error_set(err, f->name, "field %s is given twice", f->name);
            seen[index] = true;
            char *value = (char *)&decoded + f->offset;
            size_t value_len;
            const char *v = eq < end ? body + eq + 1 : body + end;
            if (page_form_unescape(v, (size_t)(body + end - v), value, f->size, &value_len) != C_OK)
                return error_set(err, f->name, "field %s is too long or badly escaped", f->name);
            if (!page_form_text_ok(value, value_len))
                return error_set(err, f->name, "field %s is not one line of UTF-8 text", f->name);
        }
    next:
        pos = end + 1;
    }
    *form = decoded;
    return C_OK;
}

int page_form_token(char out[PAGE_FORM_TOKEN_LEN + 1], struct error *err)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char bytes[24];
    if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
        return error_set(err, NULL, "getrandom failed");
    for (size_t i = 0, o = 0; i < sizeof(bytes); i += 3) {
        unsigned v = (unsigned)bytes[i] << 16 | (unsigned)bytes[i + 1] << 8 | bytes[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    out[PAGE_FORM_TOKEN_LEN] = '\0';
    return C_OK;
}

bool page_form_token_is_valid(const char *s)
{
    if (s == NULL || strlen(s) != PAGE_FORM_TOKEN_LEN)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
           PAGE_FORM_TOKEN_LEN;
}

bool page_form_csrf_matches(const char *cookie, const char *form_token)
{
    if (!page_form_token_is_valid(cookie) || !page_form_token_is_valid(form_token))
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < PAGE_FORM_TOKEN_LEN; i++)
        diff |= (unsigned char)(cookie[i] ^ form_token[i]);
    return diff == 0;
}
