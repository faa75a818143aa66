/* Nothing leaves the process, and the outcome depends only on the number and
 * the start time, so starting the same attempt twice answers the same. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"
#include "payment_test.h"

/* What a test number does. */
enum payment_test_scenario {
    PAYMENT_TEST_SUCCEEDS,
    PAYMENT_TEST_INSUFFICIENT_FUNDS,
    PAYMENT_TEST_DECLINED,
    PAYMENT_TEST_PENDING_SUCCEEDS,
    PAYMENT_TEST_PENDING_FAILS,
    PAYMENT_TEST_INVALID,
};

struct payment_test_number {
    const char *method;
    const char *number;
    enum payment_test_scenario scenario;
};

static const struct payment_test_number payment_test_numbers[] = {
    {"mobile_money", "+221700000001", PAYMENT_TEST_SUCCEEDS},
    {"mobile_money", "+221700000002", PAYMENT_TEST_INSUFFICIENT_FUNDS},
    {"mobile_money", "+221700000003", PAYMENT_TEST_PENDING_SUCCEEDS},
    {"mobile_money", "+221700000004", PAYMENT_TEST_PENDING_FAILS},
    {"card", "4242424242424242", PAYMENT_TEST_SUCCEEDS},
    {"card", "4000000000000002", PAYMENT_TEST_DECLINED},
    {"card", "4000000000009995", PAYMENT_TEST_INSUFFICIENT_FUNDS},
    {"card", "4000000000003220", PAYMENT_TEST_PENDING_SUCCEEDS},
};

/* The scenario's tag in a reference: tp_<tag>_<attempt id>. */
static const char *const payment_test_tags[] = {
    [PAYMENT_TEST_SUCCEEDS] = "ok",       [PAYMENT_TEST_INSUFFICIENT_FUNDS] = "nsf",
    [PAYMENT_TEST_DECLINED] = "ko",       [PAYMENT_TEST_PENDING_SUCCEEDS] = "pok",
    [PAYMENT_TEST_PENDING_FAILS] = "pko", [PAYMENT_TEST_INVALID] = "inv",
};

/* The number without the spaces, dashes and dots people type in it. */
static void payment_test_normalize(const char *account, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = account != NULL ? account : ""; *p != '\0' && n + 1 < outlen; p++) {
        if (*p != ' ' && *p != '-' && *p != '.')
            out[n++] = *p;
    }
    out[n] = '\0';
}

static enum payment_test_scenario payment_test_scenario_of(const char *method, const char *account)
{
    char number[64];
    payment_test_normalize(account, number, sizeof(number));
    for (size_t i = 0; i < sizeof(payment_test_numbers) / sizeof(payment_test_numbers[0]); i++) {
        const struct payment_test_number *t = &payment_test_numbers[i];
        if (method != NULL && strcmp(t->method, method) == 0 && strcmp(t->number, number) == 0)
            return t->scenario;
    }
    return PAYMENT_TEST_INVALID;
}

static void payment_test_fail(struct payment_result *out, const char *code, const char *message)
{
    out->status = PAYMENT_FAILED;
    snprintf(out->failure_code, sizeof(out->failure_code), "%s", code);
    snprintf(out->failure_message, sizeof(out->failure_message), "%s", message);
}

/* The outcome of scenario at elapsed_ms after the start. */
static void payment_test_outcome(enum payment_test_scenario scenario, int64_t elapsed_ms,
                                 struct payment_result *out)
{
    out->status = PAYMENT_SUCCEEDED;
    out->failure_code[0] = out->failure_message[0] = '\0';
    switch (scenario) {
    case PAYMENT_TEST_SUCCEEDS:
        break;
    case PAYMENT_TEST_INSUFFICIENT_FUNDS:
        payment_test_fail(out, PAYMENT_FAILURE_INSUFFICIENT_FUNDS, "Insufficient funds.");
        break;
    case PAYMENT_TEST_DECLINED:
        payment_test_fail(out, PAYMENT_FAILURE_DECLINED, "The payment was declined.");
        break;
    case PAYMENT_TEST_PENDING_SUCCEEDS:
        if (elapsed_ms < PAYMENT_TEST_PENDING_MS)
            out->status = PAYMENT_PENDING;
        break;
    case PAYMENT_TEST_PENDING_FAILS:
        if (elapsed_ms < PAYMENT_TEST_PENDING_MS)
            out->status = PAYMENT_PENDING;
        else
            payment_test_fail(out, PAYMENT_FAILURE_CUSTOMER_DECLINED,
                              "The customer declined the payment on the phone.");
        break;
    case PAYMENT_TEST_INVALID:
        payment_test_fail(out, PAYMENT_FAILURE_INVALID_NUMBER,
                          "This number is not one of the test provider's numbers.");
        break;
    }
}

static int payment_test_start(const struct payment_request *req, struct payment_result *out,
                              struct error *err)
{
    (void)err;
    enum payment_test_scenario scenario = payment_test_scenario_of(req->method, req->account);
    struct payment_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.reference, sizeof(r.reference), "tp_%s_%s", payment_test_tags[scenario],
             req->attempt_id);
    payment_test_outcome(scenario, 0, &r);
    *out = r;
    return C_OK;
}

static int payment_test_poll(const char *reference, int64_t started_at_ms,
                             struct payment_result *out, struct error *err)
{
    for (size_t s = 0; s < sizeof(payment_test_tags) / sizeof(payment_test_tags[0]); s++) {
        size_t n = strlen(payment_test_tags[s]);
        if (strncmp(reference, "tp_", 3) != 0 ||
            strncmp(reference + 3, payment_test_tags[s], n) != 0 || reference[3 + n] != '_')
            continue;
        struct payment_result r;
        memset(&r, 0, sizeof(r));
        snprintf(r.reference, sizeof(r.reference), "%s", reference);
        payment_test_outcome((enum payment_test_scenario)s, rfc3339_now_ms() - started_at_ms, &r);
        *out = r;
        return C_OK;
    }
    return error_set(err, "reference", "%s is not a test provider reference", reference);
}

const struct payment_provider payment_test_provider = {
    .name = "test", .start = payment_test_start, .poll = payment_test_poll};
