#include "checkout_pay.h"

#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"
#include "idempotency.h"
#include "model/checkout_total.h"

static struct checkout_pay_config checkout_pay_cfg;

int checkout_pay_init(const struct checkout_pay_config *cfg)
{
    checkout_pay_cfg = *cfg;
    return C_OK;
}

void checkout_pay_shutdown(void)
{
}

void checkout_pay_attempt_id(const char *session_id, const char *attempt_key,
                             char out[UUID_STR_LEN])
{
    idempotency_payment_attempt_id(session_id, attempt_key, out);
}

#define CHECKOUT_PAY_ID_PLACEHOLDER "{CHECKOUT_SESSION_ID}"

int checkout_pay_success_url(const char *success_url, const char *id, char *out, size_t outlen)
{
    size_t used = 0;
    const size_t plen = strlen(CHECKOUT_PAY_ID_PLACEHOLDER), idlen = strlen(id);
    for (const char *p = success_url; *p != '\0';) {
        const char *piece = p;
        size_t len = 1;
        if (strncmp(p, CHECKOUT_PAY_ID_PLACEHOLDER, plen) == 0) {
            piece = id;
            len = idlen;
            p += plen;
        } else {
            p++;
        }
        if (used + len >= outlen)
            return C_ERR;
        memcpy(out + used, piece, len);
        used += len;
    }
    if (used >= outlen)
        return C_ERR;
    out[used] = '\0';
    return C_OK;
}

enum MHD_Result checkout_pay_submit(struct http_request *req, struct db *db,
                                    const struct session *s, const struct checkout_order *o)
{
    /* The amount is the server's, whatever the form said. */
    (void)db;
    struct checkout_total total;
    enum discount_refusal refusal;
    struct error err = ERROR_INIT;
    if (checkout_total_compute(s, o->quantity, NULL, s->product_id, rfc3339_now(), &total, &refusal,
                               &err) != C_OK)
        return http_respond_error(req, 400, "validation_error", err.param, "%s", err.message);
    /* Not there yet: starting the payment and its command come next. */
    return http_respond_unavailable(req);
}

int checkout_pay_poll(struct db *db, const struct session *s, struct error *err)
{
    (void)db;
    (void)s;
    (void)err;
    return C_OK;
}
