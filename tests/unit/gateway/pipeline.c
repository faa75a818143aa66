/* A pipeline op's own memory: what a handler gives it (context, body) is
 * freed with it, once, and a later answer replaces an earlier one. The
 * state machine it goes through is tests/unit/gateway/inflight.c's. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "../../../gateway/pipeline.h"
#include "../leak_check.h"

#define SESSION_ID "0190a6e4-6b2c-7d3e-8f41-123456789abc"

TestSuite(pipeline, .fini = unit_leak_check);

static unsigned never_decides(struct pipeline_op *op, struct db *db, enum pipeline_reason why)
{
    (void)op;
    (void)db;
    (void)why;
    return 0;
}

static int ctx_frees;

static void count_ctx_free(void *ctx)
{
    ctx_frees++;
    free(ctx);
}

Test(pipeline, new_op_names_its_session_and_decide_function)
{
    struct pipeline_op *op = pipeline_op_new(SESSION_ID, never_decides);
    cr_assert_not_null(op);
    cr_assert_str_eq(op->object_id, SESSION_ID);
    cr_assert_eq(op->decide, never_decides);
    cr_assert_null(op->body);
    cr_assert_eq(op->status, 0);
    pipeline_op_free(op);
}

Test(pipeline, free_releases_the_context_and_body_once)
{
    struct pipeline_op *op = pipeline_op_new(SESSION_ID, never_decides);
    cr_assert_not_null(op);
    op->ctx = strdup("the handler's");
    op->ctx_free = count_ctx_free;
    pipeline_op_set_body(op, json_pack("{ss}", "checkout_session_id", SESSION_ID));
    pipeline_op_free(op);
    cr_assert_eq(ctx_frees, 1);
    pipeline_op_free(NULL);
}

Test(pipeline, later_body_replaces_the_earlier_one)
{
    struct pipeline_op *op = pipeline_op_new(SESSION_ID, never_decides);
    cr_assert_not_null(op);
    pipeline_op_set_body(op, json_pack("{ss}", "status", "open"));
    json_t *replay = json_pack("{ss}", "status", "complete");
    pipeline_op_set_body(op, replay);
    cr_assert_eq(op->body, replay);
    pipeline_op_free(op);
}

Test(pipeline, error_keeps_code_param_and_formatted_message)
{
    struct pipeline_op *op = pipeline_op_new(SESSION_ID, never_decides);
    cr_assert_not_null(op);
    pipeline_op_set_error(op, "invalid_state", "id", "Checkout session %s is complete", SESSION_ID);
    cr_assert_str_eq(op->error_code, "invalid_state");
    cr_assert_str_eq(op->error_param, "id");
    cr_assert_str_eq(op->error_message, "Checkout session " SESSION_ID " is complete");
    pipeline_op_set_error(op, "service_unavailable", NULL, "retry");
    cr_assert_str_eq(op->error_param, "");
    pipeline_op_free(op);
}

Test(pipeline, a_redirect_is_kept_as_a_copy_and_replaced_by_a_later_one)
{
    struct pipeline_op *op = pipeline_op_new(SESSION_ID, never_decides);
    cr_assert_not_null(op);
    cr_assert_null(op->redirect);
    char where[64] = "/checkout/" SESSION_ID;
    cr_assert_eq(pipeline_op_set_redirect(op, where), 0);
    where[0] = 'X';
    cr_assert_str_eq(op->redirect, "/checkout/" SESSION_ID);
    cr_assert_eq(pipeline_op_set_redirect(op, "https://shop.example/ok"), 0);
    cr_assert_str_eq(op->redirect, "https://shop.example/ok");
    pipeline_op_free(op);
}
