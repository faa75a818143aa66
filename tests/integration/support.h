/* What every integration test needs: HTTP calls to the gateway through libcurl,
 * Kafka reads through kcat (an independent client), and direct SQL checks. */
#ifndef TESTS_INTEGRATION_SUPPORT_H
#define TESTS_INTEGRATION_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

struct api_response {
    long status;
    char *text;   /* raw body */
    json_t *json; /* parsed body or NULL */
    char request_id[160];
    char location[256];
    char content_type[128];
    bool idempotent_replayed;
    json_t *headers; /* every response header, lower-case name -> value */
};

/* Environment variable of the runner (tests/integration/run.sh); aborts if unset. */
const char *test_env(const char *name);

/* headers: NULL-terminated "Name: value" strings, or NULL. body may be NULL.
 * HEAD asks for the headers only. */
struct api_response test_api(const char *method, const char *path, const char *api_key,
                             const char *body, const char *const *headers);
/* The same against another listener (the internal API, the short-TTL gateway). */
struct api_response test_api_at(const char *base_url, const char *method, const char *path,
                                const char *api_key, const char *body, const char *const *headers);
/* The same, for a listener that may not be up (a service restarting): a
 * transport error (connection refused, reset, timeout) answers status 0
 * instead of failing the test. */
struct api_response test_api_try_at(const char *base_url, const char *method, const char *path,
                                    const char *api_key, const char *body,
                                    const char *const *headers);
void test_api_free(struct api_response *r);

/* Polls base_url/readyz every 250 ms until it answers want or `seconds` have
 * passed, through refused connections (a listener restarting); returns the
 * last status (0: no answer) and, in reason (may be NULL), the last body's
 * reason ("" without one). */
long test_wait_readyz(const char *base_url, long want, int seconds, char *reason, size_t reasonlen);

/* POST /checkout-sessions with a JSON body and a JSON content type. */
struct api_response test_create(const char *api_key, const char *body);
/* A minimal valid body; extra (a JSON object text, may be NULL) is merged in. */
char *test_body(const char *extra);

/* ---- responses for the OpenAPI check (tests/openapi) ------------------------------ */

/* With CAISSE_TEST_HTTP_CAPTURE naming a file (run.sh sets it), every response a
 * gateway listener gives the tests is appended to it as one JSON line: listener
 * ("merchant" or "internal"), method, path as requested (query included), status,
 * headers (lower-case names), body (text). tests/openapi validates each against
 * common/contracts/openapi.json. Other servers (the webhook receiver) are not recorded.
 * test_api and test_api_at record by themselves; code with its own HTTP client
 * records through the functions below. */

/* A libcurl CURLOPT_HEADERFUNCTION gathering the headers into userdata, a json_t
 * object (emptied at each status line, so only the final response's remain). */
size_t test_capture_header_cb(char *line, size_t size, size_t nitems, void *headers);
/* Records one response of base_url's listener. Never asserts (the traffic threads
 * use it): -1 and a line on stderr if the file cannot be written, else 0. */
int test_capture_response(const char *base_url, const char *method, const char *path, long status,
                          const json_t *headers, const char *body, size_t body_len);
/* One JSON POST of path on base_url with c (reset first) for a thread that
 * may not assert (load generators): extra_headers NULL-terminated, a
 * timeout like a client's own. Recorded for the OpenAPI check. Returns the
 * HTTP status, 0 for a transport error; *out the body (caller frees, may be
 * NULL). */
long test_post_from_thread(CURL *c, const char *base_url, const char *path,
                           const char *const *extra_headers, const char *body, long timeout_s,
                           char **out);
/* Records a response curl(1) saved with -D header_file -o body_file. */
void test_capture_curl_files(const char *base_url, const char *method, const char *path,
                             const char *header_file, const char *body_file);

/* Asserts the error body of api.md: statusCode, message, error, code, param, request_id. */
void test_assert_error(const struct api_response *r, long status, const char *code,
                       const char *param, const char *message);

/* Events on checkout.session.events whose subject is session_id, read with
 * kcat; waits up to timeout_ms for at least min_count. New JSON array of the
 * CloudEvents, each with "_headers" and "_key" added from the Kafka record. */
json_t *test_kafka_events_for(const char *session_id, size_t min_count, int timeout_ms);
/* Every record of a topic as kcat -J objects (key, payload, headers...). */
json_t *test_kafka_read_all(const char *topic);

/* The first value of a query against the stack's database, with one text
 * parameter ($1, may be NULL if unused); NULL if no row. Caller frees. */
char *test_sql_value(const char *sql, const char *param);

/* A completion's body: the members of body (a JSON object's text), with the
 * session's amount_total and currency_code (read from the database) added
 * unless body states its own; amount 1 and XOF when there is no such
 * session. New string (free it). */
char *test_completion_body(const char *session_id, const char *body);

/* The largest create body the API takes (issue 16's maximum event size): up
 * to 64 KiB (the body limit) less a few bytes, with every long field at its
 * limit (title, description, the URLs) and the 50 metadata keys of 40
 * characters sharing the rest; metadata.marker is marker when not NULL.
 * New string (free it). */
char *test_largest_session_body(const char *marker);

/* Runs a shell command, returns its exit status. */
int test_shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void test_sleep_ms(long ms);

/* ---- crash and restart tests (traffic.c) ------------------------------------------ */

/* Background traffic: threads that create sessions on the merchant API, with
 * metadata {"traffic": marker, "seq": n}, and complete every complete_every-th
 * acknowledged one through the internal API (payment_reference "pay-<id>"),
 * one round behind the creates. A completion answered 404 (the acknowledged
 * create is not readable yet) is retried later, after the creates for up to
 * completion_deadline_s. Stops after `creates` creates or test_traffic_stop.
 * The threads record every answer and never assert. */
struct test_traffic_options {
    const char *api_key;
    const char *marker;
    int threads; /* 1..16 */
    int creates; /* most creates in all */
    int complete_every;
    long pause_ms; /* per thread, between creates */
    int completion_deadline_s;
};

struct test_traffic_op {
    char id[64];           /* session id when the create was acknowledged (201/202) */
    long create_status;    /* HTTP status, 0 for a transport error */
    bool complete_wanted;  /* acknowledged and picked for completion */
    int complete_attempts; /* 404s included */
    long complete_status;  /* the last completion answer */
};

struct test_traffic;
struct test_traffic *test_traffic_start(const struct test_traffic_options *o);
/* Creates answered with status so far (0: transport errors; -1: all answers). */
long test_traffic_count(struct test_traffic *t, long status);
/* Every create has been answered (completions may still be running). */
bool test_traffic_done(struct test_traffic *t);
/* Asks the threads to finish early; test_traffic_join waits for them. */
void test_traffic_stop(struct test_traffic *t);
void test_traffic_join(struct test_traffic *t);
/* After join: the creates in the order they were issued. */
const struct test_traffic_op *test_traffic_ops(const struct test_traffic *t, size_t *n);
/* "creates {201:120 202:30 503:2} completions {200:50 202:10}" */
void test_traffic_summary(const struct test_traffic *t, char *out, size_t outlen);
void test_traffic_free(struct test_traffic *t);

/* Every event on checkout.session.events whose subject is a key of subjects
 * (an object used as a set), as subject -> {type -> {event id -> deliveries}}. */
json_t *test_kafka_tally(const json_t *subjects);

/* Every row of a query (one optional text parameter) as an array of arrays of
 * strings, JSON null for SQL NULL. */
json_t *test_sql_rows(const char *sql, const char *param);

/* Stack services (deploy/stack.sh, pid files in $CAISSE_STACK_DIR/run). The
 * pid of a running service, 0 if it is not running. */
pid_t test_service_pid(const char *name);
/* kill -9, waits until the process is gone, removes its pid file. */
void test_service_kill9(const char *name);
/* SIGTERM, then waits up to timeout_ms for the process to exit: its exit
 * status (stack.sh's supervisor records it), or -1 if it had not exited by
 * then. *took_ms (may be NULL): from the signal to the exit being seen. */
int test_service_sigterm(const char *name, long timeout_ms, long *took_ms);
/* stack.sh start-service, with env ("NAME=value ..." or NULL) before it. */
void test_service_start(const char *name, const char *env);
/* stack.sh stop-service (SIGTERM, graceful). */
void test_service_stop(const char *name);

/* ---- gateways of a test's own -------------------------------------------------------- */

/* Starts a caisse-gateway named name (pid in $CAISSE_STACK_DIR/run/<name>.pid, exit
 * status in run/<name>.exit, log in logs/<name>.log, all reaped by run.sh if a test
 * crashes) on CAISSE_GATEWAY_PORT + offset (its internal API on + offset + 1), the
 * stack's settings otherwise, with env ("NAME=value ...", may be NULL) in front;
 * waits up to 30 s for its /healthz. url: its merchant base URL. */
void test_own_gateway_start(const char *name, int offset, const char *env, char *url,
                            size_t urllen);
/* SIGTERM, then waits up to timeout_ms for it to exit: its exit status, or -1 if it
 * was still running (it is then killed). -2 if it was not running. */
int test_own_gateway_stop(const char *name, long timeout_ms);

#endif
