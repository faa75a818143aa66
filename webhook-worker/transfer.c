#include "transfer.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/result.h"
#include "model/webhook_signature.h"
#include "outcome.h"

struct transfer *transfer_new(struct webhook_dispatch_job *job, const struct transfer_options *opt)
{
    struct transfer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->job = *job;
    memset(job, 0, sizeof(*job));
    t->opt = opt;
    return t;
}

/* Releases the connection handle (aborting the request if it runs). */
static void transfer_release_easy(struct transfer *t)
{
    if (t->easy == NULL)
        return;
    curl_multi_remove_handle(t->multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
}

void transfer_free(struct transfer *t)
{
    if (t == NULL)
        return;
    transfer_release_easy(t);
    curl_slist_free_all(t->headers);
    free(t->body);
    webhook_dispatch_job_clear(&t->job);
    free(t);
}

/* The SSRF guard: curl asks us for every socket it connects with, after DNS,
 * so the address checked is the one used (a name re-resolving to a private
 * address between registration and delivery is caught here). A refused
 * address makes no connection at all. */
static curl_socket_t transfer_open_socket(void *clientp, curlsocktype purpose,
                                          struct curl_sockaddr *address)
{
    struct transfer *t = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    const struct sockaddr *sa = &address->addr;
    if (!netguard_address_allowed(t->opt->allowlist, sa)) {
        char ip[INET6_ADDRSTRLEN] = "?";
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip,
                      sizeof(ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                      sizeof(ip));
        t->forbidden = true;
        snprintf(t->forbidden_desc, sizeof(t->forbidden_desc), "forbidden address: %s %s",
                 netguard_class_name(netguard_classify(sa)), ip);
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

bool transfer_body_step(size_t stored, size_t read, size_t n, size_t store_max, size_t read_max,
                        size_t *keep)
{
    *keep = 0;
    if (read > read_max || n > read_max - read)
        return false;
    size_t room = stored < store_max ? store_max - stored : 0;
    *keep = n < room ? n : room;
    return true;
}

static size_t transfer_on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    size_t keep;
    if (!transfer_body_step(t->body_len, t->body_read, n, TRANSFER_BODY_MAX, t->opt->body_read_max,
                            &keep)) {
        /* Past the cap: stop reading (curl ends with CURLE_WRITE_ERROR and
         * closes the connection); the answer is what its status line said. */
        t->body_capped = true;
        return 0;
    }
    t->body_read += n;
    if (keep == 0)
        return n;
    if (t->body == NULL) {
        t->body = malloc(TRANSFER_BODY_MAX + 1);
        if (t->body == NULL)
            return n; /* the body is only for the log: losing it is no failure */
    }
    memcpy(t->body + t->body_len, data, keep);
    t->body_len += keep;
    return n;
}

static void transfer_set_error(struct transfer *t, const char *msg)
{
    snprintf(t->error, sizeof(t->error), "%s", msg);
    t->has_error = true;
}

static int transfer_build_headers(struct transfer *t)
{
    int64_t ts = (int64_t)time(NULL);
    char sig[WEBHOOK_SIGNATURE_MAX], prev[WEBHOOK_SIGNATURE_MAX];
    const struct webhook_dispatch_job *j = &t->job;
    if (webhook_sign(j->secret, j->event_id, ts, j->payload, j->payload_len, sig) != C_OK)
        return C_ERR;
    /* During a rotation both secrets sign, so a receiver still holding either
     * one verifies the request (Standard Webhooks: space-separated list). */
    bool two = j->previous_secret != NULL && webhook_sign(j->previous_secret, j->event_id, ts,
                                                          j->payload, j->payload_len, prev) == C_OK;
    char h_id[64], h_ts[64], h_sig[2 * WEBHOOK_SIGNATURE_MAX + 32];
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", j->event_id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", (long long)ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s%s%s", sig, two ? " " : "",
             two ? prev : "");
    /* "Expect:" turns off 100-continue, which would hold bodies over 1 KB for
     * up to a second waiting for a reply most receivers never send. */
    const char *lines[] = {
        h_id,     h_ts, h_sig, "content-type: application/json", "user-agent: " TRANSFER_USER_AGENT,
        "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct curl_slist *l = curl_slist_append(t->headers, lines[i]);
        if (l == NULL)
            return C_ERR;
        t->headers = l;
    }
    return C_OK;
}

static int transfer_setup_easy(struct transfer *t, CURLM *multi)
{
    const struct transfer_options *o = t->opt;
    CURL *e = curl_easy_init();
    if (e == NULL)
        return C_ERR;
    t->easy = e;
    t->multi = multi;
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_URL, t->job.url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->job.payload);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->job.payload_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    /* A redirect is a failure: following it would send the signed event to a
     * target nobody registered. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* No proxy from the environment: the SSRF check must see the merchant's
     * address, not a proxy's. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, transfer_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, transfer_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    if (curl_multi_add_handle(multi, e) != CURLM_OK)
        return C_ERR;
    return C_OK;
}

int transfer_start(struct transfer *t, CURLM *multi)
{
    t->started_ms = clock_now_ms();
    const char *fail = NULL;
    if (t->job.secret == NULL)
        fail = "cannot sign: the endpoint secret does not open with CAISSE_SECRETS_KEY or "
               "CAISSE_SECRETS_KEY_PREVIOUS";
    else if (transfer_build_headers(t) != C_OK)
        fail = "cannot sign: the endpoint secret is malformed";
    else if (transfer_setup_easy(t, multi) != C_OK)
        fail = "cannot start the request (out of memory)";
    if (fail == NULL)
        return C_OK;
    transfer_release_easy(t);
    transfer_set_error(t, fail);
    return C_ERR;
}

static void transfer_finish(struct transfer *t, CURLcode result)
{
    t->duration_ms = (long)(clock_now_ms() - t->started_ms);
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status_code);
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0)
        t->retry_after_s =
            retry_after > (curl_off_t)LONG_MAX / 1000 ? LONG_MAX / 1000 : (long)retry_after;
    /* A body cut at the cap came after a whole status line and headers: the
     * exchange counts as completed, 2xx included. */
    if (result == CURLE_OK || (result == CURLE_WRITE_ERROR && t->body_capped)) {
        t->verdict_code = t->status_code;
        if (t->status_code >= 300 && t->status_code <= 399)
            transfer_set_error(t, "redirect not followed: only 2xx is success");
    } else if (t->forbidden) {
        transfer_set_error(t, t->forbidden_desc);
    } else {
        char msg[sizeof(t->error)];
        snprintf(msg, sizeof(msg), "%s",
                 t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(result));
        transfer_set_error(t, msg);
    }
    transfer_release_easy(t);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    if (t->body != NULL)
        t->body_len = outcome_sanitize_utf8(t->body, t->body_len);
}

struct transfer *transfer_next_done(CURLM *multi)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode result = msg->data.result; /* msg is invalid after remove_handle */
        transfer_finish(t, result);
        return t;
    }
    return NULL;
}
