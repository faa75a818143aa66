/* POST /checkout-sessions (gateway/validate.c, validate_create_request): any
 * body, read as the gateway reads it (http_read_json_object). A refusal is a
 * well-formed 400; an accepted request is within every documented bound, and
 * the command the gateway then publishes decodes in the session worker
 * (session_from_json) to the same session: "a command that reaches the
 * session worker is always well formed" (validate.h), and its metadata
 * reads back from PostgreSQL (jsonb_model.h).
 *
 * Input: a default-currency choice, then the body. Dictionary:
 * tests/fuzz/dict/json.dict. */
#include <stdint.h>
#include <string.h>

#include "../../../gateway/validate.h"
#include "../fake_mhd.h"
#include "../fuzz_input.h"
#include "../jsonb_model.h"
#include "core/result.h"
#include "core/utf8.h"
#include "model/currency.h"

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define BASE_URL "http://localhost:8080"

static void check_string(const char *what, const char *a, const char *b)
{
    FUZZ_CHECK((a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0),
               "%s changed on the way to the worker: \"%s\" / \"%s\"", what, a ? a : "(null)",
               b ? b : "(null)");
}

static void check_bounded(const char *what, const char *s, size_t max_chars)
{
    FUZZ_CHECK(s == NULL || utf8_length(s) <= max_chars, "%s longer than %zu characters", what,
               max_chars);
}

/* What create_handle does with an accepted request, up to the command's
 * bytes on Kafka, then what the worker's apply_decode does with them. */
static void check_worker_decodes(struct session *s)
{
    memcpy(s->id, "01a210ca-87ac-7041-8bec-e77381ef94b7", UUID_STR_LEN);
    memcpy(s->organization_id, "01a210ca-0000-7000-8000-000000000001", UUID_STR_LEN);
    memcpy(s->created_by, "01a210ca-0000-7000-8000-000000000002", UUID_STR_LEN);
    memcpy(s->environment, "test", 5);
    s->status = SESSION_OPEN;
    s->created_at = s->updated_at = NOW;
    json_t *answer = session_to_json(s, BASE_URL);
    FUZZ_CHECK(answer != NULL, "the 201's body cannot be built");
    json_decref(answer);
    json_t *command = session_command_create(s, BASE_URL, "01a210ca-0000-7000-8000-000000000003");
    FUZZ_CHECK(command != NULL, "the command cannot be built");
    char *text = json_dumps(command, JSON_COMPACT);
    json_decref(command);
    FUZZ_CHECK(text != NULL, "the command cannot be written");
    json_error_t jerr;
    json_t *read = json_loads(text, 0, &jerr);
    FUZZ_CHECK(read != NULL, "the worker cannot read the command: %s", jerr.text);
    free(text);
    struct session w;
    struct error err = ERROR_INIT;
    FUZZ_CHECK(session_from_json(json_object_get(read, "data"), &w, &err) == C_OK,
               "the worker refuses an accepted request: %s", err.message);
    json_decref(read);
    FUZZ_CHECK(
        w.amount == s->amount && strcmp(w.currency_code, s->currency_code) == 0 &&
            w.expires_at == s->expires_at && w.quantity == s->quantity &&
            strcmp(w.customer_id, s->customer_id) == 0 &&
            strcmp(w.product_id, s->product_id) == 0 && strcmp(w.price_id, s->price_id) == 0 &&
            strcmp(w.subscription_id, s->subscription_id) == 0 &&
            w.allow_quantity == s->allow_quantity && w.allow_coupon_code == s->allow_coupon_code &&
            w.require_billing_address == s->require_billing_address,
        "a field changed on the way to the worker");
    check_string("title", s->title, w.title);
    check_string("description", s->description, w.description);
    check_string("customer_email", s->customer_email, w.customer_email);
    check_string("customer_name", s->customer_name, w.customer_name);
    check_string("customer_phone", s->customer_phone, w.customer_phone);
    check_string("success_url", s->success_url, w.success_url);
    check_string("cancel_url", s->cancel_url, w.cancel_url);
    FUZZ_CHECK(json_equal(w.metadata, s->metadata), "metadata changed on the way to the worker");
    session_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const currencies[] = {"XOF", "USD", "EUR"};
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    const char *currency = currencies[fuzz_input_byte(&in) % 3];
    size_t len;
    const uint8_t *bytes = fuzz_input_rest(&in, &len);
    json_t *body = fake_mhd_json_body((const char *)bytes, len);
    if (body == NULL)
        return 0;

    struct validate_create_options opt = {
        .default_currency = currency,
        .now = NOW,
        .default_ttl_seconds = 3600,
        .min_ttl_seconds = 1800,
        .max_ttl_seconds = 86400,
    };
    struct session s;
    FUZZ_CHECK(session_init(&s) == C_OK, "out of memory");
    struct error err = ERROR_INIT;
    if (validate_create_request(body, &opt, &s, &err) != C_OK) {
        fake_mhd_check_validation_error(&err);
    } else {
        /* Without an amount, a product or price of the catalog gives it later,
         * or the subscription a renewal names (with its customer). */
        bool renewal = s.subscription_id[0] != '\0';
        bool from_catalog =
            s.amount == 0 && (s.product_id[0] != '\0' || s.price_id[0] != '\0' || renewal);
        FUZZ_CHECK(from_catalog || (s.amount >= 1 && s.amount <= 1000000000000LL), "amount %lld",
                   (long long)s.amount);
        if (from_catalog)
            s.amount = 1; /* what the worker is sent is whole */
        FUZZ_CHECK(currency_find(s.currency_code) != NULL, "currency %s", s.currency_code);
        FUZZ_CHECK(renewal || s.customer_id[0] != '\0' || s.customer_email != NULL, "no customer");
        FUZZ_CHECK(s.quantity >= 1 && s.quantity <= 10000, "quantity %d", (int)s.quantity);
        FUZZ_CHECK(s.expires_at >= NOW + opt.min_ttl_seconds &&
                       s.expires_at <= NOW + opt.max_ttl_seconds,
                   "expires_at %lld", (long long)s.expires_at);
        check_bounded("title", s.title, 250);
        check_bounded("description", s.description, 2000);
        check_bounded("customer_name", s.customer_name, 250);
        check_bounded("customer_email", s.customer_email, 254);
        FUZZ_CHECK(s.success_url == NULL || validate_http_url(s.success_url) == C_OK,
                   "success_url");
        FUZZ_CHECK(s.cancel_url == NULL || validate_http_url(s.cancel_url) == C_OK, "cancel_url");
        FUZZ_CHECK(json_object_size(s.metadata) <= 50, "metadata keys");
        FUZZ_CHECK(jsonb_model_reads_back(s.metadata), "metadata PostgreSQL gives back unreadable");
        /* The idempotency check hashes this canonical form. */
        char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        FUZZ_CHECK(canonical != NULL, "no canonical form");
        free(canonical);
        check_worker_decodes(&s);
    }
    session_free(&s);
    json_decref(body);
    return 0;
}
