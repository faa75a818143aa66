#include "transition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/utf8.h"

int transition_kind_parse(const char *type, enum transition_kind *out)
{
    if (type != NULL && strcmp(type, SESSION_COMMAND_COMPLETE) == 0) {
        *out = TRANSITION_COMPLETE;
        return C_OK;
    }
    if (type != NULL && strcmp(type, SESSION_COMMAND_EXPIRE) == 0) {
        *out = TRANSITION_EXPIRE;
        return C_OK;
    }
    return C_ERR;
}

/* A string field without NUL: jansson only lets one in with JSON_ALLOW_NUL,
 * but libpq would cut the value there, so it is refused wherever it came from. */
static const char *transition_string(const json_t *data, const char *name, bool nullable,
                                     bool *present, char *err, size_t errlen)
{
    const json_t *v = json_object_get(data, name);
    *present = v != NULL && !json_is_null(v);
    if (!*present) {
        if (!nullable)
            snprintf(err, errlen, "field %s is missing", name);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v))) {
        snprintf(err, errlen, "field %s is not a string", name);
        return NULL;
    }
    return json_string_value(v);
}

/* A UUID field into out ("" when nullable and null or absent). */
static int transition_uuid(const json_t *data, const char *name, bool nullable,
                           char out[UUID_STR_LEN], char *err, size_t errlen)
{
    bool present;
    const char *s = transition_string(data, name, nullable, &present, err, errlen);
    out[0] = '\0';
    if (!present)
        return nullable ? C_OK : C_ERR;
    if (s == NULL)
        return C_ERR;
    if (!uuid_is_valid(s)) {
        snprintf(err, errlen, "field %s is not a UUID", name);
        return C_ERR;
    }
    snprintf(out, UUID_STR_LEN, "%s", s);
    return C_OK;
}

/* Characters, as the CHECK on payment_reference counts them: jansson has
 * validated the UTF-8, so every byte that is not a continuation byte starts one. */
static size_t transition_utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int transition_decode_complete(const json_t *data, struct transition *t, char *err,
                                      size_t errlen)
{
    bool present;
    const char *ref = transition_string(data, "payment_reference", false, &present, err, errlen);
    if (ref == NULL)
        return C_ERR;
    size_t len = transition_utf8_length(ref);
    if (len < 1 || len > SESSION_PAYMENT_REFERENCE_MAX) {
        snprintf(err, errlen, "field payment_reference must have 1 to %d characters",
                 SESSION_PAYMENT_REFERENCE_MAX);
        return C_ERR;
    }
    if (transition_uuid(data, "customer_id", true, t->customer_id, err, errlen) != C_OK)
        return C_ERR;
    t->payment_reference = strdup(ref);
    if (t->payment_reference == NULL) {
        snprintf(err, errlen, "out of memory");
        return C_ERR;
    }
    return C_OK;
}

static int transition_decode_expire(const json_t *data, struct transition *t, char *err,
                                    size_t errlen)
{
    if (transition_uuid(data, "organization_id", false, t->organization_id, err, errlen) != C_OK)
        return C_ERR;
    bool present;
    const char *env = transition_string(data, "environment", false, &present, err, errlen);
    if (env == NULL)
        return C_ERR;
    if (strcmp(env, "test") != 0 && strcmp(env, "live") != 0) {
        snprintf(err, errlen, "field environment must be test or live");
        return C_ERR;
    }
    snprintf(t->environment, sizeof(t->environment), "%s", env);
    return C_OK;
}

int transition_decode(enum transition_kind kind, const json_t *data, struct transition *out,
                      char *err, size_t errlen)
{
    if (!json_is_object(data)) {
        snprintf(err, errlen, "data is not a JSON object");
        return C_ERR;
    }
    struct transition t;
    memset(&t, 0, sizeof(t));
    t.kind = kind;
    if (transition_uuid(data, "checkout_session_id", false, t.session_id, err, errlen) != C_OK)
        return C_ERR;
    int rc = kind == TRANSITION_COMPLETE ? transition_decode_complete(data, &t, err, errlen)
                                         : transition_decode_expire(data, &t, err, errlen);
    if (rc != C_OK) {
        transition_free(&t);
        return C_ERR;
    }
    *out = t;
    return C_OK;
}

void transition_free(struct transition *t)
{
    free(t->payment_reference);
    t->payment_reference = NULL;
}

int transition_apply(struct db *db, const struct transition *t, const char *public_base_url,
                     bool *applied)
{
    struct session s;
    int rc;
    *applied = false;
    if (t->kind == TRANSITION_COMPLETE)
        rc = session_store_complete(db, t->session_id, t->payment_reference,
                                    t->customer_id[0] != '\0' ? t->customer_id : NULL, t->event_id,
                                    public_base_url, &s, applied);
    else
        rc = session_store_expire(db, t->session_id, t->organization_id, t->environment,
                                  t->event_id, public_base_url, &s, applied);
    /* The session after the change is not needed here: the event written in
     * the same transaction already carries it. */
    if (rc == C_OK && *applied)
        session_free(&s);
    return rc;
}
