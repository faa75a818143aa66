#include "webhook_support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"
#include "core/uuid.h"

long wh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void admin_line(char *out, size_t outlen, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", test_env("CAISSE_TEST_ADMIN"), args);
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL);
    out[0] = '\0';
    char *ok = fgets(out, (int)outlen, p);
    int rc = pclose(p);
    cr_assert(ok != NULL && rc == 0, "caisse-admin %s failed", args);
    out[strcspn(out, "\n")] = '\0';
}

void wh_tenant_new(struct wh_tenant *t, const char *name)
{
    char args[512];
    snprintf(args, sizeof(args), "create-org --name '%s' --currency XOF", name);
    admin_line(t->org, sizeof(t->org), args);
    snprintf(args, sizeof(args), "create-key --org %s --env test --description webhooks", t->org);
    admin_line(t->key_test, sizeof(t->key_test), args);
    snprintf(args, sizeof(args), "create-key --org %s --env live --description webhooks", t->org);
    admin_line(t->key_live, sizeof(t->key_live), args);
}

void wh_unique_path(char *out, size_t outlen, const char *label)
{
    char id[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(id), 0);
    snprintf(out, outlen, "/wh/%s/%s", label, id);
}

void wh_receiver_url(char *out, size_t outlen, const char *path)
{
    snprintf(out, outlen, "%s%s", test_env("CAISSE_TEST_WEBHOOK_RECEIVER_URL"), path);
}

static void receiver_control(const char *route, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct api_response r =
        test_api_at(test_env("CAISSE_TEST_WEBHOOK_RECEIVER_URL"), "POST", route, NULL, text, h);
    cr_assert_eq(r.status, 200, "receiver %s: %s", route, r.text);
    test_api_free(&r);
    free(text);
}

void wh_receiver_secret(const char *path, const char *secret)
{
    receiver_control("/_control/secret", json_pack("{ss ss}", "path", path, "secret", secret));
}

void wh_receiver_behavior(const char *path, const char *behavior, long delay_ms)
{
    receiver_control("/_control/behavior", json_pack("{ss ss sI}", "path", path, "behavior",
                                                     behavior, "delay_ms", (json_int_t)delay_ms));
}

json_t *wh_receiver_requests(const char *path)
{
    char route[512];
    snprintf(route, sizeof(route), "/_control/requests?path=%s", path);
    struct api_response r =
        test_api_at(test_env("CAISSE_TEST_WEBHOOK_RECEIVER_URL"), "GET", route, NULL, NULL, NULL);
    cr_assert_eq(r.status, 200, "receiver: %s", r.text);
    cr_assert(json_is_array(r.json), "receiver: %s", r.text);
    json_t *records = json_incref(r.json);
    test_api_free(&r);
    return records;
}

json_t *wh_receiver_wait(const char *path, size_t min, long timeout_ms)
{
    for (long deadline = wh_now_ms() + timeout_ms;; test_sleep_ms(200)) {
        json_t *records = wh_receiver_requests(path);
        if (json_array_size(records) >= min || wh_now_ms() >= deadline)
            return records;
        json_decref(records);
    }
}

const char *wh_record_header(const json_t *record, const char *name)
{
    return json_string_value(json_object_get(json_object_get(record, "headers"), name));
}

void wh_endpoint_create(struct wh_endpoint *e, const char *api_key, const char *label,
                        const char *enabled_events)
{
    memset(e, 0, sizeof(*e));
    wh_unique_path(e->path, sizeof(e->path), label);
    char url[512];
    wh_receiver_url(url, sizeof(url), e->path);
    json_t *events = json_loads(enabled_events, 0, NULL);
    cr_assert(json_is_array(events), "bad enabled_events %s", enabled_events);
    json_t *body =
        json_pack("{ss so ss}", "url", url, "enabled_events", events, "description", label);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct api_response r = test_api("POST", "/webhook-endpoints", api_key, text, h);
    free(text);
    cr_assert_eq(r.status, 201, "POST /webhook-endpoints: %ld %s", r.status, r.text);
    const char *id = json_string_value(json_object_get(r.json, "id"));
    const char *secret = json_string_value(json_object_get(r.json, "secret"));
    cr_assert(id != NULL && uuid_is_valid(id), "endpoint id: %s", r.text);
    cr_assert(secret != NULL && strncmp(secret, "whsec_", 6) == 0, "secret: %s", r.text);
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->secret, sizeof(e->secret), "%s", secret);
    test_api_free(&r);
    wh_receiver_secret(e->path, e->secret);
}

/* A well-formed secret (base64 of 24 bytes): the endpoints inserted with SQL
 * must never be signed for, they must never be reached. */
#define WH_SQL_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

void wh_endpoint_insert(struct wh_endpoint *e, const char *org, const char *environment,
                        const char *url, const char *enabled_event)
{
    memset(e, 0, sizeof(*e));
    cr_assert_eq(uuid_v7_string(e->id), 0);
    snprintf(e->secret, sizeof(e->secret), "%s", WH_SQL_SECRET);
    cr_assert(strchr(url, '\'') == NULL && strchr(enabled_event, '\'') == NULL);
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "INSERT INTO webhook_endpoints (id, organization_id, environment, url, "
             "enabled_events, secret) VALUES ('%s', $1, '%s', '%s', ARRAY['%s'], '%s') "
             "RETURNING id",
             e->id, environment, url, enabled_event, e->secret);
    char *id = test_sql_value(sql, org);
    cr_assert(id != NULL && strcmp(id, e->id) == 0);
    free(id);
}

json_t *wh_endpoint_get(const char *api_key, const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s", id);
    struct api_response r = test_api("GET", path, api_key, NULL, NULL);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.text);
    cr_assert(json_is_object(r.json), "%s", r.text);
    json_t *o = json_incref(r.json);
    test_api_free(&r);
    return o;
}

bool wh_endpoint_is_disabled(const json_t *endpoint)
{
    const char *status = json_string_value(json_object_get(endpoint, "status"));
    if (status != NULL)
        return strcmp(status, "disabled") == 0;
    return json_is_true(json_object_get(endpoint, "disabled"));
}

char *wh_session_create(const char *api_key)
{
    char *body = test_body(NULL);
    struct api_response r = test_create(api_key, body);
    free(body);
    cr_assert_eq(r.status, 201, "create: %ld %s", r.status, r.text);
    char *id = strdup(json_string_value(json_object_get(r.json, "checkout_session_id")));
    test_api_free(&r);
    return id;
}

void wh_session_complete(const char *session_id)
{
    char path[256], auth[256], body[256];
    snprintf(path, sizeof(path), "/internal/checkout-sessions/%s/complete", session_id);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
             test_env("CAISSE_TEST_INTERNAL_TOKEN"));
    snprintf(body, sizeof(body), "{\"payment_reference\": \"pay-%s\"}", session_id);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    char *full = test_completion_body(session_id, body);
    struct api_response r =
        test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "POST", path, NULL, full, h);
    free(full);
    cr_assert_eq(r.status, 200, "complete %s: %ld %s", session_id, r.status, r.text);
    test_api_free(&r);
}

json_t *wh_kafka_event(const char *session_id, const char *type)
{
    for (long deadline = wh_now_ms() + 20000;; test_sleep_ms(250)) {
        json_t *events = test_kafka_events_for(session_id, 1, 5000);
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            if (strcmp(json_string_value(json_object_get(ev, "type")), type) == 0) {
                json_t *copy = json_deep_copy(ev);
                json_object_del(copy, "_headers");
                json_object_del(copy, "_key");
                json_decref(events);
                return copy;
            }
        }
        json_decref(events);
        cr_assert(wh_now_ms() < deadline, "no %s event for %s on Kafka", type, session_id);
    }
}

static json_t *api_items(const struct api_response *r)
{
    if (json_is_array(r->json))
        return json_incref(r->json);
    json_t *data = json_object_get(r->json, "data");
    cr_assert(json_is_array(data), "not a list: %s", r->text);
    return json_incref(data);
}

json_t *wh_deliveries(const char *api_key, const char *endpoint_id)
{
    char path[256];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s/deliveries", endpoint_id);
    struct api_response r = test_api("GET", path, api_key, NULL, NULL);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.text);
    json_t *items = api_items(&r);
    test_api_free(&r);
    return items;
}

json_t *wh_wait_delivery(const char *api_key, const char *endpoint_id, const char *event_id,
                         const char *status, long timeout_ms)
{
    for (long deadline = wh_now_ms() + timeout_ms;; test_sleep_ms(250)) {
        json_t *items = wh_deliveries(api_key, endpoint_id);
        size_t i;
        json_t *d;
        json_array_foreach(items, i, d)
        {
            const char *ev = json_string_value(json_object_get(d, "event_id"));
            const char *st = json_string_value(json_object_get(d, "status"));
            if ((event_id == NULL || (ev != NULL && strcmp(ev, event_id) == 0)) && st != NULL &&
                strcmp(st, status) == 0) {
                json_incref(d);
                json_decref(items);
                return d;
            }
        }
        json_decref(items);
        if (wh_now_ms() >= deadline)
            return NULL;
    }
}

json_t *wh_delivery_get(const char *api_key, const char *delivery_id)
{
    char path[256];
    snprintf(path, sizeof(path), "/webhook-deliveries/%s", delivery_id);
    struct api_response r = test_api("GET", path, api_key, NULL, NULL);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.text);
    cr_assert(json_is_array(json_object_get(r.json, "attempts")), "no attempts: %s", r.text);
    json_t *o = json_incref(r.json);
    test_api_free(&r);
    return o;
}

json_t *wh_wait_attempts(const char *api_key, const char *delivery_id, size_t n, long timeout_ms)
{
    for (long deadline = wh_now_ms() + timeout_ms;; test_sleep_ms(250)) {
        json_t *d = wh_delivery_get(api_key, delivery_id);
        if (json_array_size(json_object_get(d, "attempts")) >= n || wh_now_ms() >= deadline)
            return d;
        json_decref(d);
    }
}

long wh_int(const json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

bool wh_request_in_flight(const struct wh_endpoint *eps, size_t n)
{
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        json_t *records = wh_receiver_requests(eps[i].path);
        size_t j;
        json_t *rec;
        json_array_foreach(records, j, rec)
        {
            if (json_is_null(json_object_get(rec, "response_status")) &&
                !json_is_true(json_object_get(rec, "client_gone")))
                found = true;
        }
        json_decref(records);
    }
    return found;
}
