#include "catalog_support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void admin_line(const char *args, char *out, size_t outlen)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", test_env("CAISSE_TEST_ADMIN"), args);
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL);
    out[0] = '\0';
    cr_assert(fgets(out, (int)outlen, p) != NULL, "%s printed nothing", cmd);
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
}

void ct_tenant_new(struct ct_tenant *t, const char *org_name)
{
    char args[256];
    snprintf(args, sizeof(args), "create-org --name '%s' --currency XOF", org_name);
    admin_line(args, t->org, sizeof(t->org));
    cr_assert(uuid_is_valid(t->org), "org: %s", t->org);
    snprintf(args, sizeof(args), "create-key --org %s --env test", t->org);
    admin_line(args, t->key, sizeof(t->key));
    snprintf(args, sizeof(args), "create-key --org %s --env live", t->org);
    admin_line(args, t->live, sizeof(t->live));
}

struct api_response ct_call(const char *method, const char *path, const char *key, const char *body)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    return test_api(method, path, key, body, body != NULL ? h : NULL);
}

struct api_response ct_call_keyed(const char *path, const char *key, const char *idem,
                                  const char *body)
{
    char h[400];
    snprintf(h, sizeof(h), "Idempotency-Key: %s", idem);
    const char *headers[] = {"Content-Type: application/json", h, NULL};
    return test_api("POST", path, key, body, headers);
}

const char *ct_str(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

json_t *ct_create(const char *path, const char *key, const char *body)
{
    struct api_response r = ct_call("POST", path, key, body);
    cr_assert_eq(r.status, 201, "%s %s: %ld %s", path, body, r.status, r.text);
    json_t *o = json_incref(r.json);
    test_api_free(&r);
    return o;
}

void ct_create_id(const char *path, const char *key, const char *body, const char *member,
                  char id[UUID_STR_LEN])
{
    struct api_response r = ct_call("POST", path, key, body);
    cr_assert_eq(r.status, 201, "%s %s: %ld %s", path, body, r.status, r.text);
    snprintf(id, UUID_STR_LEN, "%s", ct_str(r.json, member));
    test_api_free(&r);
}

json_t *ct_session_create(const char *key, const char *body)
{
    struct api_response r = test_create(key, body);
    cr_assert_eq(r.status, 201, "%s: %ld %s", body, r.status, r.text);
    json_t *s = json_incref(r.json);
    test_api_free(&r);
    return s;
}

void ct_expect_error(const char *key, const char *method, const char *path, const char *body,
                     long status, const char *code, const char *param, const char *message)
{
    struct api_response r = ct_call(method, path, key, body);
    test_assert_error(&r, status, code, param, message);
    test_api_free(&r);
}

void ct_expect_400(const char *key, const char *method, const char *path, const char *body,
                   const char *param, const char *message)
{
    ct_expect_error(key, method, path, body, 400, "validation_error", param, message);
}

struct api_response ct_session_complete(const char *session_id, const char *body)
{
    char path[256], auth[256];
    snprintf(path, sizeof(path), "/internal/checkout-sessions/%s/complete", session_id);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
             test_env("CAISSE_TEST_INTERNAL_TOKEN"));
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    /* What the payment took: the session's amount_total and currency. */
    char *full = test_completion_body(session_id, body);
    struct api_response r =
        test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "POST", path, NULL, full, h);
    free(full);
    return r;
}

void ct_assert_event(const json_t *ev, const char *source, const char *type, const char *id,
                     const char *org, const json_t *data, const char *time)
{
    cr_assert_str_eq(ct_str(ev, "specversion"), "1.0");
    cr_assert_str_eq(ct_str(ev, "type"), type);
    cr_assert_str_eq(ct_str(ev, "source"), source);
    cr_assert_str_eq(ct_str(ev, "subject"), id);
    cr_assert_str_eq(ct_str(ev, "_key"), id, "the Kafka key is the object's id");
    cr_assert(uuid_is_valid(ct_str(ev, "id")));
    cr_assert_str_eq(ct_str(ev, "datacontenttype"), "application/json");
    cr_assert_str_eq(ct_str(ev, "organizationid"), org);
    cr_assert_str_eq(ct_str(ev, "environment"), "test");
    cr_assert_str_eq(ct_str(ev, "time"), time);
    cr_assert_str_eq(ct_event_header(ev, "content-type"), "application/cloudevents+json");
    cr_assert(json_equal(json_object_get(ev, "data"), data), "data is the REST object");
}

const char *ct_event_header(const json_t *ev, const char *name)
{
    const json_t *h = json_object_get(ev, "_headers");
    for (size_t i = 0; i + 1 < json_array_size(h); i += 2) {
        if (strcmp(json_string_value(json_array_get(h, i)), name) == 0)
            return json_string_value(json_array_get(h, i + 1));
    }
    return NULL;
}

void ct_restore_session_worker(void)
{
    if (test_service_pid("session-worker") == 0)
        test_service_start("session-worker", NULL);
}
