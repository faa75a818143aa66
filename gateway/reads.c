#include "reads.h"

#include <string.h>

#include "core/result.h"
#include "core/utf8.h"
#include "model/payment_attempt.h"
#include "model/session.h"
#include "validate.h"

/* The attempts GET of a session shows, oldest first: a page allows one at a
 * time, so a session rarely has more than a few. */
#define READS_MAX_ATTEMPTS 100

static const char *reads_base_url;

static const char *const reads_list_params[] = {"status", "limit", "offset", "starting_after"};

void reads_init(const char *public_base_url)
{
    reads_base_url = public_base_url;
}

enum MHD_Result reads_get(struct http_request *req, struct db *db)
{
    const char *id = req->route.params[0];
    struct uuid u;
    if (uuid_parse(id, &u) != C_OK)
        return http_respond_error(req, 400, "validation_error", "id",
                                  "Checkout session id must be a UUID");
    char canonical[UUID_STR_LEN];
    uuid_format(&u, canonical);
    /* The hosted page's payment attempts, when asked: the session object
     * itself stays the same everywhere (create, GET, events, webhooks). */
    const char *expand = http_query(req, "expand");
    if (expand != NULL && strcmp(expand, "payment_attempts") != 0)
        return http_respond_error(req, 400, "validation_error", "expand",
                                  "expand must be payment_attempts");
    struct session s;
    bool found = false;
    if (session_store_get(db, req->identity.organization_id, req->identity.environment, canonical,
                          &s, &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return http_respond_error(req, 404, "not_found", "id",
                                  "Checkout session with ID %s not found or access denied", id);
    json_t *body = session_to_json(&s, reads_base_url);
    session_free(&s);
    if (expand == NULL)
        return http_respond_json(req, 200, body, NULL);
    struct payment_attempt *attempts = NULL;
    size_t n = 0;
    if (body == NULL ||
        payment_attempt_list(db, canonical, READS_MAX_ATTEMPTS, &attempts, &n) != C_OK) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, payment_attempt_to_json(&attempts[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    payment_attempt_array_free(attempts, n);
    if (list == NULL || json_object_set_new(body, "payment_attempts", list) != 0) {
        json_decref(body);
        return http_respond_unavailable(req);
    }
    return http_respond_json(req, 200, body, NULL);
}

struct reads_unknown {
    char name[64];
    bool found;
};

static enum MHD_Result reads_find_unknown(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    (void)kind;
    (void)value;
    struct reads_unknown *u = cls;
    for (size_t i = 0; i < sizeof(reads_list_params) / sizeof(*reads_list_params); i++) {
        if (strcmp(key, reads_list_params[i]) == 0)
            return MHD_YES;
    }
    /* Valid UTF-8 (http_request_new refused the rest): cut between characters. */
    utf8_truncate(key, u->name, sizeof(u->name));
    u->found = true;
    return MHD_NO;
}

enum MHD_Result reads_list(struct http_request *req, struct db *db)
{
    struct reads_unknown unknown = {.found = false};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, reads_find_unknown, &unknown);
    if (unknown.found)
        return http_respond_error(req, 400, "validation_error", unknown.name,
                                  "Unknown query parameter: %s", unknown.name);
    struct session_list_query q;
    struct error verr;
    if (validate_list_query(http_query(req, "status"), http_query(req, "limit"),
                            http_query(req, "offset"), http_query(req, "starting_after"), &q,
                            &verr) != C_OK)
        return http_respond_error(req, 400, "validation_error", verr.param, "%s", verr.message);
    struct session *rows = NULL;
    size_t count = 0;
    bool cursor_found = true;
    if (session_store_list(db, req->identity.organization_id, req->identity.environment, &q, &rows,
                           &count, &cursor_found) != C_OK)
        return http_respond_unavailable(req);
    if (!cursor_found)
        return http_respond_error(req, 400, "validation_error", "starting_after",
                                  "starting_after must be the id of one of your checkout sessions");
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < count; i++) {
        json_t *o = session_to_json(&rows[i], reads_base_url);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    session_array_free(rows, count);
    if (arr == NULL)
        return http_respond_unavailable(req);
    return http_respond_json(req, 200, arr, NULL);
}
