#include "event_id.h"

#include <stdbool.h>
#include <string.h>

#include "core/result.h"

/* Nesting deeper than this is left to the full decoder. */
#define EVENT_ID_MAX_DEPTH 64

struct event_id_cursor {
    const char *s;
    size_t n, i;
};

static void event_id_skip_ws(struct event_id_cursor *c)
{
    while (c->i < c->n &&
           (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

/* Steps over the string at the cursor ('"'); *plain: it had no escape. */
static bool event_id_skip_string(struct event_id_cursor *c, bool *plain)
{
    *plain = true;
    c->i++;
    while (c->i < c->n) {
        char ch = c->s[c->i++];
        if (ch == '"')
            return true;
        if (ch == '\\') {
            *plain = false;
            if (c->i == c->n)
                return false;
            c->i++;
        } else if ((unsigned char)ch < 0x20) {
            return false;
        }
    }
    return false;
}

/* Steps over a number or literal: the characters up to the next separator. */
static bool event_id_skip_scalar(struct event_id_cursor *c)
{
    size_t start = c->i;
    while (c->i < c->n && strchr(",}] \t\n\r", c->s[c->i]) == NULL)
        c->i++;
    return c->i > start;
}

/* Steps over one value; objects and arrays by their brackets, outside strings. */
static bool event_id_skip_value(struct event_id_cursor *c)
{
    event_id_skip_ws(c);
    if (c->i == c->n)
        return false;
    bool plain;
    if (c->s[c->i] == '"')
        return event_id_skip_string(c, &plain);
    if (c->s[c->i] != '{' && c->s[c->i] != '[')
        return event_id_skip_scalar(c);
    char open[EVENT_ID_MAX_DEPTH];
    int depth = 0;
    while (c->i < c->n) {
        char ch = c->s[c->i];
        if (ch == '"') {
            if (!event_id_skip_string(c, &plain))
                return false;
            continue;
        }
        c->i++;
        if (ch == '{' || ch == '[') {
            if (depth == EVENT_ID_MAX_DEPTH)
                return false;
            open[depth++] = ch;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0 || open[depth - 1] != (ch == '}' ? '{' : '['))
                return false;
            if (--depth == 0)
                return true;
        }
    }
    return false;
}

int event_id_scan(const char *json, size_t len, char out[UUID_STR_LEN])
{
    struct event_id_cursor c = {.s = json, .n = len, .i = 0};
    const char *id = NULL;
    event_id_skip_ws(&c);
    if (json == NULL || c.i == c.n || json[c.i] != '{')
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
        bool is_id = plain && c.i - key - 1 == 2 && memcmp(json + key, "id", 2) == 0;
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
