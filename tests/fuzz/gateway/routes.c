/* The gateway's router (gateway/routes.c): routes_path on any URL, then
 * routes_match for any method on either listener, held against a matcher
 * written out here from routes.h's rules: segments after "/", a {name}
 * matches one non-empty segment, the first template of the table that
 * matches decides, its entries are the path's methods.
 *
 * Input: a listener choice, a method choice, a method field, then the URL
 * (up to its first NUL, as libmicrohttpd hands it over). Dictionary:
 * tests/fuzz/dict/routes.dict. */
#include <stdint.h>
#include <string.h>

#include "../../../gateway/routes.h"
#include "../fuzz_input.h"

/* Whether path matches template, segment by segment. */
static bool template_matches(const char *template, const char *path)
{
    for (;;) {
        size_t tl = strcspn(template, "/"), pl = strcspn(path, "/");
        if (template[0] == '{') {
            if (pl == 0)
                return false;
        } else if (tl != pl || memcmp(template, path, tl) != 0) {
            return false;
        }
        template += tl;
        path += pl;
        if (*template == '\0' || *path == '\0')
            return *template == *path;
        template ++, path++; /* both at a '/' */
    }
}

/* The template with its {names} replaced by params, as a path again. */
static void fill_template(const char *template, const struct routes_match *m, char *out, size_t cap)
{
    size_t used = 0, n = 0;
    out[0] = '\0';
    for (const char *t = template; *t != '\0';) {
        if (*t == '{') {
            int w = snprintf(out + used, cap - used, "%s", m->params[n++]);
            used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
            t = strchr(t, '}') + 1;
        } else if (used + 1 < cap) {
            out[used++] = *t++;
            out[used] = '\0';
        } else {
            t++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", "HEAD", "PUT"};
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    enum routes_listener listener = (fuzz_input_byte(&in) & 1) ? ROUTES_INTERNAL : ROUTES_MERCHANT;
    uint8_t method_choice = fuzz_input_byte(&in);
    char *method_field = fuzz_input_field(&in);
    char *url = fuzz_input_field(&in);
    const char *method = method_choice < 6 * 40 ? methods[method_choice % 6]
                                                : (method_field != NULL ? method_field : "");
    if (url == NULL)
        url = fuzz_input_strndup((const uint8_t *)"", 0);

    char path[256];
    memset(path, 'x', sizeof(path));
    routes_path(url, path, sizeof(path));
    size_t n = strnlen(path, sizeof(path));
    FUZZ_CHECK(n > 0 && n < sizeof(path), "path of %zu bytes", n);
    /* Only the one trailing slash is gone, and the /v1 prefix. */
    const char *rest = (strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0) ? url + 3 : url;
    size_t rl = strlen(rest);
    if (rl == 0)
        FUZZ_CHECK(strcmp(path, "/") == 0, "path %s for %s", path, url);
    else if (rl < sizeof(path) - 1)
        FUZZ_CHECK(strncmp(path, rest, n) == 0 &&
                       (n == rl || (n == rl - 1 && rest[rl - 1] == '/' && rl > 1)),
                   "path %s for %s", path, url);

    struct routes_match m;
    memset(&m, 0xa5, sizeof(m));
    routes_match(listener, method, path, &m);
    const struct route *first = NULL, *serving = NULL;
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        if ((r->listeners & listener) == 0)
            continue;
        if (first == NULL && template_matches(r->template, path))
            first = r;
        if (first != NULL && strcmp(r->template, first->template) == 0 &&
            strcmp(r->method, method) == 0 && serving == NULL)
            serving = r;
    }
    FUZZ_CHECK(routes_label(&m) != NULL, "no label");
    switch (m.outcome) {
    case ROUTES_FOUND: {
        FUZZ_CHECK(m.route == serving && serving != NULL, "%s %s: found another route", method,
                   path);
        FUZZ_CHECK(m.allow[0] == '\0', "an Allow on a found route");
        char again[512];
        fill_template(m.route->template, &m, again, sizeof(again));
        /* A segment too long for a parameter is cut (between characters, so
         * up to 3 bytes short of the limit): the path cannot come back whole. */
        bool cut = false;
        for (const char *seg = path; *seg != '\0';) {
            seg += *seg == '/';
            size_t sl = strcspn(seg, "/");
            cut = cut || sl >= ROUTES_PARAM_LEN;
            seg += sl;
        }
        for (int i = 0; i < ROUTES_PARAMS_MAX; i++) {
            size_t pl = strnlen(m.params[i], ROUTES_PARAM_LEN);
            FUZZ_CHECK(pl < ROUTES_PARAM_LEN, "parameter %d not terminated", i);
            FUZZ_CHECK(strchr(m.params[i], '/') == NULL, "a / in parameter %d", i);
        }
        FUZZ_CHECK(cut || strcmp(again, path) == 0, "%s does not give back %s", again, path);
        break;
    }
    case ROUTES_METHOD_NOT_ALLOWED:
        FUZZ_CHECK(serving == NULL && first != NULL && m.route == first, "%s %s: 405 with a route",
                   method, path);
        FUZZ_CHECK(m.allow[0] != '\0', "405 without Allow");
        for (size_t i = 0; i < routes_table_len; i++) {
            const struct route *r = &routes_table[i];
            if ((r->listeners & listener) != 0 && strcmp(r->template, first->template) == 0)
                FUZZ_CHECK(strstr(m.allow, r->method) != NULL, "Allow %s without %s", m.allow,
                           r->method);
        }
        break;
    case ROUTES_NOT_FOUND:
        FUZZ_CHECK(first == NULL && m.route == NULL, "%s: not found, yet %s matches", path,
                   first != NULL ? first->template : "");
        FUZZ_CHECK(strcmp(routes_label(&m), "other") == 0, "label %s", routes_label(&m));
        break;
    default:
        FUZZ_CHECK(0, "outcome %d", (int)m.outcome);
    }
    free(method_field);
    free(url);
    return 0;
}
