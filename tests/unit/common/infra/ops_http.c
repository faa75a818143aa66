/* The answers of the ops routes (common/infra/ops_http.c), as every listener
 * serves them: liveness, readiness from the registered checks, metrics. The
 * listener and its probe need a network and a database: tests/integration. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/result.h"
#include "infra/ops_http.h"
#include "infra/service.h"
#include "../../leak_check.h"

TestSuite(ops_http, .fini = unit_leak_check);

static bool always(void *ctx)
{
    (void)ctx;
    return true;
}

static bool never(void *ctx)
{
    (void)ctx;
    return false;
}

static void *seen_ctx;

static bool remember_ctx(void *ctx)
{
    seen_ctx = ctx;
    return true;
}

/* The reply's body as JSON; frees the body. */
static json_t *reply_json(struct ops_reply *r)
{
    cr_assert_not_null(r->body);
    cr_assert_str_eq(r->content_type, "application/json");
    cr_assert_eq(r->len, strlen(r->body));
    json_t *body = json_loadb(r->body, r->len, 0, NULL);
    cr_assert_not_null(body, "not JSON: %s", r->body);
    free(r->body);
    return body;
}

static bool check_value(json_t *body, const char *name)
{
    json_t *v = json_object_get(json_object_get(body, "checks"), name);
    cr_assert(json_is_boolean(v), "checks.%s is missing", name);
    return json_is_true(v);
}

Test(ops_http, healthz_is_200_ok)
{
    struct ops_reply r;
    ops_http_healthz(&r);
    cr_assert_eq(r.status, 200);
    json_t *body = reply_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(body, "status")), "ok");
    cr_assert_eq(json_object_size(body), 1);
    json_decref(body);
}

Test(ops_http, readyz_is_200_ready_when_every_check_passes)
{
    static const struct ops_check checks[] = {{"postgres", "postgres unreachable", always},
                                              {"kafka", "kafka unreachable", always}};
    cr_assert_eq(ops_http_add_checks(checks, 2), C_OK);
    struct ops_reply r;
    ops_http_readyz(NULL, &r);
    cr_assert_eq(r.status, 200);
    json_t *body = reply_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(body, "status")), "ready");
    cr_assert_null(json_object_get(body, "reason"));
    cr_assert(check_value(body, "postgres"));
    cr_assert(check_value(body, "kafka"));
    cr_assert_not(check_value(body, "draining"));
    cr_assert_eq(json_object_size(json_object_get(body, "checks")), 3);
    json_decref(body);
}

Test(ops_http, readyz_is_503_with_the_first_failing_checks_reason)
{
    static const struct ops_check checks[] = {{"postgres", "postgres unreachable", always},
                                              {"kafka", "kafka unreachable", never},
                                              {"notifications", "not listening", never}};
    cr_assert_eq(ops_http_add_checks(checks, 3), C_OK);
    struct ops_reply r;
    ops_http_readyz(NULL, &r);
    cr_assert_eq(r.status, 503);
    json_t *body = reply_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(body, "status")), "unavailable");
    cr_assert_str_eq(json_string_value(json_object_get(body, "reason")), "kafka unreachable");
    cr_assert(check_value(body, "postgres"));
    cr_assert_not(check_value(body, "kafka"));
    cr_assert_not(check_value(body, "notifications"));
    json_decref(body);
}

Test(ops_http, readyz_is_503_shutting_down_once_a_stop_was_requested)
{
    static const struct ops_check checks[] = {{"postgres", "postgres unreachable", never}};
    cr_assert_eq(ops_http_add_checks(checks, 1), C_OK);
    service_request_stop();
    struct ops_reply r;
    ops_http_readyz(NULL, &r);
    cr_assert_eq(r.status, 503);
    json_t *body = reply_json(&r);
    /* Shutting down comes before any dependency. */
    cr_assert_str_eq(json_string_value(json_object_get(body, "reason")), "shutting down");
    cr_assert(check_value(body, "draining"));
    json_decref(body);
}

Test(ops_http, readyz_without_checks_is_ready_until_a_stop)
{
    struct ops_reply r;
    ops_http_readyz(NULL, &r);
    cr_assert_eq(r.status, 200);
    json_decref(reply_json(&r));
    service_request_stop();
    ops_http_readyz(NULL, &r);
    cr_assert_eq(r.status, 503);
    json_decref(reply_json(&r));
}

Test(ops_http, readyz_hands_the_listeners_context_to_the_checks)
{
    static const struct ops_check checks[] = {{"postgres", "postgres unreachable", remember_ctx}};
    cr_assert_eq(ops_http_add_checks(checks, 1), C_OK);
    int thread_connection;
    struct ops_reply r;
    ops_http_readyz(&thread_connection, &r);
    cr_assert_eq(seen_ctx, &thread_connection);
    free(r.body);
}

Test(ops_http, add_checks_refuses_more_than_the_maximum)
{
    struct ops_check many[OPS_HTTP_CHECKS_MAX + 1];
    for (size_t i = 0; i < OPS_HTTP_CHECKS_MAX + 1; i++)
        many[i] = (struct ops_check){"c", "c down", always};
    cr_assert_eq(ops_http_add_checks(many, OPS_HTTP_CHECKS_MAX + 1), C_ERR);
    cr_assert_eq(ops_http_add_checks(many, OPS_HTTP_CHECKS_MAX), C_OK);
    cr_assert_eq(ops_http_add_checks(many, 1), C_ERR);
}

Test(ops_http, metrics_is_the_default_registry_in_the_text_format)
{
    metrics_register_process("unit-test");
    struct ops_reply r;
    ops_http_metrics(&r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.content_type, METRICS_CONTENT_TYPE);
    cr_assert_not_null(r.body);
    cr_assert_eq(r.len, strlen(r.body));
    cr_assert_not_null(strstr(r.body, "caisse_build_info{"), "%s", r.body);
    free(r.body);
}
