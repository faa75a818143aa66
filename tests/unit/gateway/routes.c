/* The gateway's route table against the OpenAPI document both ways (every route
 * documented, every documented operation routed, on the same listeners with
 * the same authentication), the table's own rules, and the matcher: 404 and
 * 405 with Allow, /v1 and the trailing slash, path parameters. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../../gateway/catalog.h"
#include "../../../gateway/openapi.h"
#include "../../../gateway/customers.h"
#include "../../../gateway/products.h"
#include "../../../gateway/routes.h"
#include "../leak_check.h"

TestSuite(routes, .fini = unit_leak_check);

#define SOME_ID "123e4567-e89b-12d3-a456-426614174000"

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

static json_t *load_document(void)
{
    json_error_t err;
    json_t *doc = json_loadb((const char *)openapi_document, openapi_document_len, 0, &err);
    cr_assert_not_null(doc, "openapi.json: %s", err.text);
    return doc;
}

static const char *listener_name(unsigned bit)
{
    return bit == ROUTES_MERCHANT ? "merchant" : "internal";
}

/* The listeners (enum routes_listener bits) of a servers array, from each
 * server's x-caisse-listener; its /v1 twin names the same listener. */
static unsigned listeners_of(const json_t *servers, const char *where)
{
    unsigned bits = 0;
    size_t i;
    const json_t *server;
    cr_assert(json_is_array(servers), "%s: no servers", where);
    json_array_foreach(servers, i, server)
    {
        const char *name = json_string_value(json_object_get(server, "x-caisse-listener"));
        cr_assert_not_null(name, "%s: server %zu has no x-caisse-listener", where, i);
        if (strcmp(name, "merchant") == 0)
            bits |= ROUTES_MERCHANT;
        else if (strcmp(name, "internal") == 0)
            bits |= ROUTES_INTERNAL;
        else
            cr_assert_fail("%s: unknown x-caisse-listener %s", where, name);
    }
    return bits;
}

/* The authentication an operation's security requirement asks for. */
static enum routes_auth auth_of(const json_t *security, const char *where)
{
    cr_assert(json_is_array(security), "%s: no security", where);
    if (json_array_size(security) == 0)
        return ROUTES_AUTH_NONE;
    const json_t *first = json_array_get(security, 0);
    if (json_object_get(first, "InternalToken") != NULL)
        return ROUTES_AUTH_INTERNAL_TOKEN;
    cr_assert(json_object_get(first, "ApiKey") != NULL ||
                  json_object_get(first, "ApiKeyBearer") != NULL,
              "%s: a security requirement the router does not know", where);
    return ROUTES_AUTH_API_KEY;
}

/* One operation of the document as the router should see it. */
struct documented {
    bool found;
    unsigned listeners;
    enum routes_auth auth;
    const json_t *responses;
};

/* The operation method (lower case) of template in doc: its listeners and
 * authentication. The document may write a template with or without /v1. */
static struct documented documented_operation(const json_t *doc, const char *template,
                                              const char *method)
{
    struct documented d = {.found = false};
    const char *key;
    const json_t *item;
    json_object_foreach((json_t *)json_object_get(doc, "paths"), key, item)
    {
        char path[256];
        routes_path(key, path, sizeof(path));
        const json_t *op = json_object_get(item, method);
        if (strcmp(path, template) != 0 || op == NULL)
            continue;
        char where[300];
        snprintf(where, sizeof(where), "%s %s", method, key);
        const json_t *servers = json_object_get(op, "servers");
        if (servers == NULL)
            servers = json_object_get(item, "servers");
        if (servers == NULL)
            servers = json_object_get(doc, "servers");
        const json_t *security = json_object_get(op, "security");
        if (security == NULL)
            security = json_object_get(doc, "security");
        d.found = true;
        d.listeners |= listeners_of(servers, where);
        d.auth = auth_of(security, where);
        d.responses = json_object_get(op, "responses");
    }
    return d;
}

/* A request path for template: every {name} replaced by SOME_ID. */
static void concrete_path(const char *template, char *out, size_t size)
{
    size_t used = 0;
    for (const char *t = template; *t != '\0' && used + 1 < size;) {
        if (*t == '{') {
            used += (size_t)snprintf(out + used, size - used, "%s", SOME_ID);
            t = strchr(t, '}') + 1;
        } else {
            out[used++] = *t++;
        }
    }
    out[used < size ? used : size - 1] = '\0';
}

static char *upper(const char *s, char *out, size_t size)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < size; i++)
        out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
    out[i] = '\0';
    return out;
}

/* ---- the table and the document ---------------------------------------------- */

Test(routes, every_route_of_the_table_is_a_documented_operation)
{
    json_t *doc = load_document();
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        char method[16];
        snprintf(method, sizeof(method), "%s", r->method);
        for (char *c = method; *c != '\0'; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        struct documented d = documented_operation(doc, r->template, method);
        cr_assert(d.found, "%s %s is routed but not in common/contracts/openapi.json", r->method,
                  r->template);
        for (unsigned bit = ROUTES_MERCHANT; bit <= ROUTES_INTERNAL; bit <<= 1) {
            if ((r->listeners & bit) != 0)
                cr_assert((d.listeners & bit) != 0,
                          "%s %s is routed on the %s listener, which its servers do not name",
                          r->method, r->template, listener_name(bit));
        }
        /* The page's secret is in its path: no security scheme documents it. */
        enum routes_auth documented_as =
            r->auth == ROUTES_AUTH_PAGE_SECRET ? ROUTES_AUTH_NONE : r->auth;
        cr_assert_eq(documented_as, d.auth, "%s %s: the route's authentication is not its security",
                     r->method, r->template);
    }
    json_decref(doc);
}

Test(routes, every_documented_operation_is_routed_on_its_listeners)
{
    json_t *doc = load_document();
    const char *key;
    const json_t *item;
    size_t operations = 0;
    json_object_foreach(json_object_get(doc, "paths"), key, item)
    {
        cr_assert_null(json_object_get(item, "$ref"), "%s: a $ref path item", key);
        char template[256];
        routes_path(key, template, sizeof(template));
        for (size_t m = 0; m < sizeof(http_methods) / sizeof(*http_methods); m++) {
            if (json_object_get(item, http_methods[m]) == NULL)
                continue;
            operations++;
            struct documented d = documented_operation(doc, template, http_methods[m]);
            char method[16];
            upper(http_methods[m], method, sizeof(method));
            for (unsigned bit = ROUTES_MERCHANT; bit <= ROUTES_INTERNAL; bit <<= 1) {
                if ((d.listeners & bit) == 0)
                    continue;
                bool routed = false;
                for (size_t i = 0; i < routes_table_len && !routed; i++) {
                    const struct route *r = &routes_table[i];
                    routed = strcmp(r->method, method) == 0 && strcmp(r->template, template) == 0 &&
                             (r->listeners & bit) != 0;
                }
                cr_assert(routed,
                          "%s %s is documented on the %s listener but no route of the table "
                          "serves it",
                          method, key, listener_name(bit));
            }
        }
    }
    cr_assert_gt(operations, 0);
    json_decref(doc);
}

Test(routes, method_not_allowed_lists_the_documented_methods_of_each_path)
{
    json_t *doc = load_document();
    const char *key;
    const json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), key, item)
    {
        char template[256], path[256];
        routes_path(key, template, sizeof(template));
        concrete_path(template, path, sizeof(path));
        unsigned listeners = 0;
        bool documented[sizeof(http_methods) / sizeof(*http_methods)] = {false};
        for (size_t m = 0; m < sizeof(http_methods) / sizeof(*http_methods); m++) {
            if (json_object_get(item, http_methods[m]) == NULL)
                continue;
            documented[m] = true;
            listeners |= documented_operation(doc, template, http_methods[m]).listeners;
        }
        for (unsigned bit = ROUTES_MERCHANT; bit <= ROUTES_INTERNAL; bit <<= 1) {
            if ((listeners & bit) == 0)
                continue;
            struct routes_match match;
            routes_match(bit, "BREW", path, &match);
            cr_assert_eq(match.outcome, ROUTES_METHOD_NOT_ALLOWED, "BREW %s on %s", path,
                         listener_name(bit));
            /* Allow is exactly the documented methods, each once. */
            size_t listed = 0;
            for (size_t m = 0; m < sizeof(http_methods) / sizeof(*http_methods); m++) {
                char method[16];
                upper(http_methods[m], method, sizeof(method));
                bool in_allow = false;
                char copy[ROUTES_ALLOW_MAX];
                snprintf(copy, sizeof(copy), "%s", match.allow);
                char *save = NULL;
                for (char *t = strtok_r(copy, ", ", &save); t != NULL;
                     t = strtok_r(NULL, ", ", &save))
                    in_allow = in_allow || strcmp(t, method) == 0;
                cr_assert_eq(in_allow, documented[m], "%s on %s: Allow \"%s\" and %s", key,
                             listener_name(bit), match.allow, method);
                listed += in_allow;
            }
            size_t commas = 0;
            for (const char *c = match.allow; *c != '\0'; c++)
                commas += *c == ',';
            cr_assert_eq(commas + 1, listed, "%s: Allow \"%s\" repeats a method", key, match.allow);
        }
    }
    json_decref(doc);
}

Test(routes, a_rate_limited_route_documents_429_and_no_other_does)
{
    json_t *doc = load_document();
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        char method[16];
        snprintf(method, sizeof(method), "%s", r->method);
        for (char *c = method; *c != '\0'; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        struct documented d = documented_operation(doc, r->template, method);
        /* Limits apply on the merchant listener only. */
        bool limited = (r->listeners & ROUTES_MERCHANT) != 0 && r->limit != ROUTES_LIMIT_NONE;
        bool documented = json_object_get(d.responses, "429") != NULL;
        cr_assert_eq(documented, limited, "%s %s: %s", r->method, r->template,
                     limited ? "rate limited, but 429 is not documented"
                             : "documents 429, but no limit applies to it");
    }
    const json_t *unrouted =
        json_object_get(json_object_get(doc, "x-caisse-unrouted"), "responses");
    cr_assert_not_null(json_object_get(unrouted, "429"),
                       "unrouted answers are limited per client: x-caisse-unrouted needs 429");
    json_decref(doc);
}

/* ---- the table's own rules ------------------------------------------------------ */

Test(routes, api_key_routes_are_limited_per_key_and_only_they)
{
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        cr_assert_eq(r->auth == ROUTES_AUTH_API_KEY, r->limit == ROUTES_LIMIT_API_KEY, "%s %s",
                     r->method, r->template);
    }
}

Test(routes, unrouted_answers_are_limited_per_client_on_the_merchant_listener_only)
{
    struct routes_match m;
    routes_match(ROUTES_MERCHANT, "GET", "/no/such/thing", &m);
    cr_assert_eq(m.outcome, ROUTES_NOT_FOUND);
    cr_assert_eq(routes_limit_of(&m), ROUTES_LIMIT_CLIENT);
    routes_match(ROUTES_MERCHANT, "BREW", "/checkout-sessions", &m);
    cr_assert_eq(m.outcome, ROUTES_METHOD_NOT_ALLOWED);
    cr_assert_eq(routes_limit_of(&m), ROUTES_LIMIT_CLIENT);
    routes_match(ROUTES_MERCHANT, "GET", "/checkout-sessions", &m);
    cr_assert_eq(routes_limit_of(&m), ROUTES_LIMIT_API_KEY);
    routes_match(ROUTES_INTERNAL, "GET", "/no/such/thing", &m);
    cr_assert_eq(routes_limit_of(&m), ROUTES_LIMIT_NONE);
    routes_match(ROUTES_INTERNAL, "GET", "/readyz", &m);
    cr_assert_eq(routes_limit_of(&m), ROUTES_LIMIT_NONE, "the probes' listener has no limits");
    routes_match(ROUTES_MERCHANT, "GET", "/healthz", &m);
    cr_assert_eq(routes_limit_of(&m), ROUTES_LIMIT_NONE);
}

Test(routes, no_two_entries_serve_the_same_method_on_the_same_path_and_listener)
{
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *a = &routes_table[i];
        cr_assert(a->listeners != 0 && (a->listeners & ~(unsigned)ROUTES_BOTH) == 0);
        cr_assert_not_null(a->handler, "%s %s has no handler", a->method, a->template);
        for (size_t j = i + 1; j < routes_table_len; j++) {
            const struct route *b = &routes_table[j];
            cr_assert(strcmp(a->method, b->method) != 0 || strcmp(a->template, b->template) != 0 ||
                          (a->listeners & b->listeners) == 0,
                      "%s %s twice", a->method, a->template);
        }
    }
}

Test(routes, every_template_is_reached_by_its_own_paths)
{
    /* A template placed after one that matches the same paths would never be
     * reached; its parameters must fit the match. */
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        size_t params = 0;
        for (const char *t = r->template; (t = strchr(t, '{')) != NULL; t++) {
            cr_assert_eq(t[-1], '/', "%s: a {name} is a whole segment", r->template);
            const char *end = strchr(t, '}');
            cr_assert(end != NULL && (end[1] == '\0' || end[1] == '/'),
                      "%s: a {name} is a whole segment", r->template);
            params++;
        }
        cr_assert_leq(params, ROUTES_PARAMS_MAX, "%s", r->template);
        char path[256];
        concrete_path(r->template, path, sizeof(path));
        for (unsigned bit = ROUTES_MERCHANT; bit <= ROUTES_INTERNAL; bit <<= 1) {
            if ((r->listeners & bit) == 0)
                continue;
            struct routes_match match;
            routes_match(bit, r->method, path, &match);
            cr_assert_eq(match.outcome, ROUTES_FOUND, "%s %s", r->method, path);
            cr_assert_eq(match.route, r, "%s %s reaches %s %s", r->method, path,
                         match.route->method, match.route->template);
            for (size_t p = 0; p < params; p++)
                cr_assert_str_eq(match.params[p], SOME_ID);
        }
    }
}

Test(routes, metrics_label_is_the_template_one_per_path)
{
    /* The merchant API's labels always carried /v1; everything else is its
     * template as it is. */
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        char expected[256];
        snprintf(expected, sizeof(expected), "%s%s", r->auth == ROUTES_AUTH_API_KEY ? "/v1" : "",
                 r->template);
        cr_assert_str_eq(r->label, expected, "%s %s", r->method, r->template);
    }
}

Test(routes, the_catalog_s_routes_name_their_resource_and_only_they_have_a_context)
{
    size_t catalog_routes = 0;
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        bool generic = r->handler == catalog_create || r->handler == catalog_get ||
                       r->handler == catalog_list || r->handler == catalog_update ||
                       r->handler == catalog_action || r->handler == catalog_delete;
        cr_assert_eq(generic, r->ctx != NULL, "%s %s: a catalog handler needs its descriptor",
                     r->method, r->template);
        if (!generic)
            continue;
        catalog_routes++;
        /* The descriptor's collection is the route's. */
        const struct catalog_resource *c = r->ctx;
        cr_assert_eq(strncmp(r->template, c->store->path, strlen(c->store->path)), 0, "%s %s",
                     r->method, r->template);
    }
    cr_assert_geq(catalog_routes, 4);
    struct routes_match m;
    routes_match(ROUTES_MERCHANT, "PATCH", "/products/" SOME_ID, &m);
    cr_assert_eq(m.outcome, ROUTES_FOUND);
    cr_assert_eq(m.route->ctx, &products_catalog);
    routes_match(ROUTES_MERCHANT, "DELETE", "/products/" SOME_ID, &m);
    cr_assert_eq(m.outcome, ROUTES_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(m.allow, "GET, PATCH", "products are archived, never deleted");
    routes_match(ROUTES_MERCHANT, "DELETE", "/customers/" SOME_ID, &m);
    cr_assert_eq(m.outcome, ROUTES_FOUND);
    cr_assert_eq(m.route->handler, catalog_delete);
    cr_assert_eq(m.route->ctx, &customers_catalog);
}

/* ---- the matcher ------------------------------------------------------------------ */

static struct routes_match match_url(enum routes_listener listener, const char *method,
                                     const char *url)
{
    char path[256];
    routes_path(url, path, sizeof(path));
    struct routes_match m;
    memset(&m, 0xAA, sizeof(m)); /* whatever was there before */
    routes_match(listener, method, path, &m);
    return m;
}

Test(routes, unknown_path_is_not_found_and_labelled_other)
{
    const char *const urls[] = {"/nope",
                                "/",
                                "/checkout",
                                "/checkout-sessionsx",
                                "/checkout-sessions/" SOME_ID "/unknown",
                                "/checkout-sessions/" SOME_ID "/expire/now",
                                "/events/a/b"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
        struct routes_match m = match_url(ROUTES_MERCHANT, "GET", urls[i]);
        cr_assert_eq(m.outcome, ROUTES_NOT_FOUND, "%s", urls[i]);
        cr_assert_null(m.route);
        cr_assert_str_eq(m.allow, "");
        cr_assert_str_eq(routes_label(&m), "other");
    }
}

Test(routes, known_path_with_another_method_is_405_with_the_allow_of_today)
{
    struct {
        enum routes_listener listener;
        const char *method, *url, *allow, *label;
    } cases[] = {
        {ROUTES_MERCHANT, "POST", "/openapi.json", "GET", "/openapi.json"},
        {ROUTES_MERCHANT, "DELETE", "/checkout-sessions", "GET, POST", "/v1/checkout-sessions"},
        {ROUTES_MERCHANT, "PUT", "/v1/checkout-sessions", "GET, POST", "/v1/checkout-sessions"},
        {ROUTES_MERCHANT, "POST", "/checkout-sessions/" SOME_ID, "GET",
         "/v1/checkout-sessions/{id}"},
        {ROUTES_MERCHANT, "HEAD", "/checkout-sessions/" SOME_ID, "GET",
         "/v1/checkout-sessions/{id}"},
        {ROUTES_MERCHANT, "GET", "/v1/checkout-sessions/" SOME_ID "/expire", "POST",
         "/v1/checkout-sessions/{id}/expire"},
        {ROUTES_MERCHANT, "PUT", "/webhook-endpoints/" SOME_ID, "GET, PATCH, DELETE",
         "/v1/webhook-endpoints/{id}"},
        {ROUTES_MERCHANT, "DELETE", "/webhook-endpoints", "GET, POST", "/v1/webhook-endpoints"},
        {ROUTES_MERCHANT, "POST", "/events", "GET", "/v1/events"},
        {ROUTES_MERCHANT, "POST", "/healthz", "GET, HEAD", "/healthz"},
        {ROUTES_INTERNAL, "DELETE", "/readyz", "GET, HEAD", "/readyz"},
        {ROUTES_INTERNAL, "POST", "/metrics", "GET, HEAD", "/metrics"},
        {ROUTES_INTERNAL, "GET", "/internal/checkout-sessions/" SOME_ID "/complete", "POST",
         "/internal/checkout-sessions/{id}/complete"},
        /* Method names are case-sensitive (RFC 9110). */
        {ROUTES_MERCHANT, "get", "/checkout-sessions", "GET, POST", "/v1/checkout-sessions"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct routes_match m = match_url(cases[i].listener, cases[i].method, cases[i].url);
        cr_assert_eq(m.outcome, ROUTES_METHOD_NOT_ALLOWED, "%s %s", cases[i].method, cases[i].url);
        cr_assert_str_eq(m.allow, cases[i].allow, "%s %s", cases[i].method, cases[i].url);
        cr_assert_str_eq(routes_label(&m), cases[i].label, "%s %s", cases[i].method, cases[i].url);
    }
}

Test(routes, each_listener_serves_only_its_own_routes)
{
    struct {
        enum routes_listener listener;
        const char *method, *url;
    } absent[] = {
        {ROUTES_INTERNAL, "GET", "/openapi.json"},
        {ROUTES_INTERNAL, "GET", "/checkout-sessions"},
        {ROUTES_INTERNAL, "POST", "/checkout-sessions/" SOME_ID "/expire"},
        {ROUTES_MERCHANT, "GET", "/metrics"},
        {ROUTES_MERCHANT, "POST", "/internal/checkout-sessions/" SOME_ID "/complete"},
    };
    for (size_t i = 0; i < sizeof(absent) / sizeof(*absent); i++) {
        struct routes_match m = match_url(absent[i].listener, absent[i].method, absent[i].url);
        cr_assert_eq(m.outcome, ROUTES_NOT_FOUND, "%s %s", absent[i].method, absent[i].url);
    }
    const char *const both[] = {"/healthz", "/readyz"};
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(match_url(ROUTES_MERCHANT, "HEAD", both[i]).outcome, ROUTES_FOUND);
        cr_assert_eq(match_url(ROUTES_INTERNAL, "GET", both[i]).outcome, ROUTES_FOUND);
    }
}

Test(routes, found_route_carries_its_entry_parameter_and_label)
{
    struct routes_match m = match_url(ROUTES_MERCHANT, "GET", "/checkout-sessions/abc");
    cr_assert_eq(m.outcome, ROUTES_FOUND);
    cr_assert_str_eq(m.route->method, "GET");
    cr_assert_str_eq(m.route->template, "/checkout-sessions/{id}");
    cr_assert_eq(m.route->auth, ROUTES_AUTH_API_KEY);
    cr_assert_str_eq(m.params[0], "abc");
    cr_assert_str_eq(m.params[1], "");
    cr_assert_str_eq(m.allow, "");
    cr_assert_str_eq(routes_label(&m), "/v1/checkout-sessions/{id}");

    m = match_url(ROUTES_MERCHANT, "POST", "/checkout-sessions");
    cr_assert_eq(m.outcome, ROUTES_FOUND);
    cr_assert_str_eq(m.route->method, "POST");
    cr_assert_str_eq(m.params[0], "");

    m = match_url(ROUTES_INTERNAL, "POST", "/internal/checkout-sessions/xyz/complete");
    cr_assert_eq(m.outcome, ROUTES_FOUND);
    cr_assert_eq(m.route->auth, ROUTES_AUTH_INTERNAL_TOKEN);
    cr_assert_str_eq(m.params[0], "xyz");

    m = match_url(ROUTES_MERCHANT, "GET", "/openapi.json");
    cr_assert_eq(m.outcome, ROUTES_FOUND);
    cr_assert_eq(m.route->auth, ROUTES_AUTH_NONE);
}

Test(routes, v1_prefix_and_one_trailing_slash_are_the_same_route)
{
    const char *const urls[] = {"/checkout-sessions/" SOME_ID, "/v1/checkout-sessions/" SOME_ID,
                                "/checkout-sessions/" SOME_ID "/",
                                "/v1/checkout-sessions/" SOME_ID "/"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
        struct routes_match m = match_url(ROUTES_MERCHANT, "GET", urls[i]);
        cr_assert_eq(m.outcome, ROUTES_FOUND, "%s", urls[i]);
        cr_assert_str_eq(m.route->template, "/checkout-sessions/{id}", "%s", urls[i]);
        cr_assert_str_eq(m.params[0], SOME_ID, "%s", urls[i]);
    }
    cr_assert_eq(match_url(ROUTES_MERCHANT, "GET", "/v1/healthz").outcome, ROUTES_FOUND);
    cr_assert_eq(match_url(ROUTES_INTERNAL, "GET", "/v1/metrics/").outcome, ROUTES_FOUND);
    /* One prefix, one slash, a whole segment. */
    const char *const not_found[] = {"/v1/v1/checkout-sessions", "/checkout-sessions//",
                                     "/v2/checkout-sessions", "/v1checkout-sessions",
                                     "/V1/checkout-sessions"};
    for (size_t i = 0; i < sizeof(not_found) / sizeof(*not_found); i++)
        cr_assert_eq(match_url(ROUTES_MERCHANT, "GET", not_found[i]).outcome, ROUTES_NOT_FOUND,
                     "%s", not_found[i]);
}

Test(routes, path_of_a_url_drops_v1_and_one_trailing_slash)
{
    struct {
        const char *url, *path;
    } cases[] = {
        {"/v1/checkout-sessions", "/checkout-sessions"},
        {"/v1/checkout-sessions/", "/checkout-sessions"},
        {"/checkout-sessions/", "/checkout-sessions"},
        {"/checkout-sessions//", "/checkout-sessions/"},
        {"/v1", "/"},
        {"/v1/", "/"},
        {"/", "/"},
        {"", "/"},
        {"/v10/x", "/v10/x"},
        {"/v1x", "/v1x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char path[256];
        routes_path(cases[i].url, path, sizeof(path));
        cr_assert_str_eq(path, cases[i].path, "%s", cases[i].url);
    }
    char small[8];
    routes_path("/v1/checkout-sessions", small, sizeof(small));
    cr_assert_str_eq(small, "/checko");
}

Test(routes, too_long_id_still_routes_cut_so_validation_refuses_it)
{
    char url[300], id[200];
    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    snprintf(url, sizeof(url), "/checkout-sessions/%s/expire", id);
    struct routes_match m = match_url(ROUTES_MERCHANT, "POST", url);
    cr_assert_eq(m.outcome, ROUTES_FOUND);
    cr_assert_str_eq(m.route->template, "/checkout-sessions/{id}/expire");
    cr_assert_eq(strlen(m.params[0]), ROUTES_PARAM_LEN - 1);
    cr_assert_eq(strncmp(m.params[0], id, ROUTES_PARAM_LEN - 1), 0);
}

Test(routes, empty_segment_is_no_parameter)
{
    const char *const urls[] = {"/checkout-sessions//expire", "/webhook-endpoints//deliveries",
                                "/webhook-deliveries//retry", "/v1/events//",
                                "/internal/checkout-sessions//complete"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
        enum routes_listener l =
            strncmp(urls[i], "/internal", 9) == 0 ? ROUTES_INTERNAL : ROUTES_MERCHANT;
        struct routes_match m = match_url(l, "POST", urls[i]);
        cr_assert_eq(m.outcome, ROUTES_NOT_FOUND, "%s", urls[i]);
    }
}

Test(routes, path_is_cut_between_utf8_characters_never_inside_one)
{
    char small[8];
    /* "/abcde" then é: a 7-byte cut would keep half of it. */
    routes_path("/abcde\xc3\xa9xyz", small, sizeof(small));
    cr_assert_str_eq(small, "/abcde");
}

Test(routes, long_multibyte_parameter_is_cut_between_characters)
{
    char url[400];
    size_t n = (size_t)snprintf(url, sizeof(url), "/checkout-sessions/");
    /* 31 é (62 bytes) then a 3-byte €: the 63-byte cut falls inside the €. */
    for (int i = 0; i < 31; i++, n += 2)
        memcpy(url + n, "\xc3\xa9", 2);
    memcpy(url + n, "\xe2\x82\xac\xe2\x82\xac", 7);
    struct routes_match m = match_url(ROUTES_MERCHANT, "GET", url);
    cr_assert_eq(m.outcome, ROUTES_FOUND);
    cr_assert_eq(strlen(m.params[0]), 62, "%zu", strlen(m.params[0]));
    for (size_t i = 0; i < 62; i += 2)
        cr_assert_eq(memcmp(m.params[0] + i, "\xc3\xa9", 2), 0);
}

Test(routes, a_hosted_page_s_secret_is_redacted_from_the_path_once_routed)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"/checkout/abc/SECRETSECRET", "/checkout/abc/{secret}"},
        {"/checkout/abc/SECRETSECRET/status", "/checkout/abc/{secret}/status"},
        {"/checkout/abc/SECRET/a/b", "/checkout/abc/{secret}/a/b"},
        {"/checkout/abc", "/checkout/abc"},
        {"/checkout/abc/", "/checkout/abc/"},
        {"/checkout/assets/checkout.css", "/checkout/assets/checkout.css"},
        {"/checkout-sessions/abc/expire", "/checkout-sessions/abc/expire"},
        {"/", "/"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s", cases[i].in);
        routes_redact_path(path, sizeof(path));
        cr_assert_str_eq(path, cases[i].out, "%s", cases[i].in);
    }
    struct routes_match m;
    routes_match(ROUTES_MERCHANT, "GET", "/checkout/abc/SECRETSECRET", &m);
    cr_assert_str_eq(m.params[1], "SECRETSECRET", "routing saw the secret before");
}
