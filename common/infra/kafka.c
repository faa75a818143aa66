#include "kafka.h"

#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"

/* ---- metrics -------------------------------------------------------------- */

static struct metrics_family *kafka_produced, *kafka_delivered, *kafka_failed, *kafka_consumed,
    *kafka_lag;
static pthread_once_t kafka_metrics_once = PTHREAD_ONCE_INIT;

static void kafka_metrics_init(void)
{
    static const char *const topic[] = {"topic", NULL};
    static const char *const partition[] = {"topic", "partition", NULL};
    struct metrics_registry *r = metrics_default();
    kafka_produced = metrics_counter(r, "caisse_kafka_messages_produced_total",
                                     "Messages handed to the Kafka producer", topic);
    kafka_delivered =
        metrics_counter(r, "caisse_kafka_messages_delivered_total",
                        "Messages the broker acknowledged (delivery report without error)", topic);
    kafka_failed = metrics_counter(
        r, "caisse_kafka_messages_failed_total",
        "Messages not delivered: refused by the producer or reported failed", topic);
    kafka_consumed = metrics_counter(r, "caisse_kafka_messages_consumed_total",
                                     "Records consumed (handed to the application)", topic);
    kafka_lag = metrics_gauge(r, "caisse_kafka_consumer_lag",
                              "Records of an assigned partition past this consumer's stored "
                              "offset (librdkafka statistics)",
                              partition);
}

static void kafka_count(struct metrics_family **family, const char *topic)
{
    pthread_once(&kafka_metrics_once, kafka_metrics_init);
    const char *values[] = {topic != NULL ? topic : ""};
    metrics_counter_add(metrics_series(*family, values), 1);
}

/* The lag of every partition the consumer fetches from; the stored offset
 * is our progress (stored after the PostgreSQL commit), the committed one
 * trails it by up to auto.commit.interval.ms. Partitions no longer held drop
 * out of the gauge. */
static int kafka_on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)rk;
    (void)opaque;
    pthread_once(&kafka_metrics_once, kafka_metrics_init);
    json_t *stats = json_loadb(json, json_len, 0, NULL);
    const char *topic_name;
    json_t *topic;
    json_object_foreach(json_object_get(stats, "topics"), topic_name, topic)
    {
        const char *key;
        json_t *p;
        json_object_foreach(json_object_get(topic, "partitions"), key, p)
        {
            const char *state = json_string_value(json_object_get(p, "fetch_state"));
            json_t *lag = json_object_get(p, "consumer_lag_stored");
            if (!json_is_integer(lag) || json_integer_value(lag) < 0)
                lag = json_object_get(p, "consumer_lag");
            /* Partition -1 is librdkafka's internal unassigned queue. */
            if (strcmp(key, "-1") == 0 || state == NULL || strcmp(state, "none") == 0 ||
                strcmp(state, "stopping") == 0 || strcmp(state, "stopped") == 0 ||
                !json_is_integer(lag) || json_integer_value(lag) < 0)
                continue;
            const char *values[] = {topic_name, key};
            metrics_gauge_set(metrics_series(kafka_lag, values), (double)json_integer_value(lag));
        }
    }
    metrics_gauge_sweep(kafka_lag);
    json_decref(stats);
    return 0; /* librdkafka frees json */
}

/* What a producer needs besides librdkafka's handle: the caller's delivery
 * callback, called after the report was counted. */
struct kafka_producer_hooks {
    void (*on_delivery)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
    void *opaque;
};

static void kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct kafka_producer_hooks *hooks = opaque;
    const char *topic = msg->rkt != NULL ? rd_kafka_topic_name(msg->rkt) : NULL;
    kafka_count(msg->err == RD_KAFKA_RESP_ERR_NO_ERROR ? &kafka_delivered : &kafka_failed, topic);
    if (hooks->on_delivery != NULL)
        hooks->on_delivery(rk, msg, hooks->opaque);
}

/* librdkafka writes its reasons into a buffer of this size. */
#define KAFKA_ERRSTR_MAX 512

static int kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, struct error *err)
{
    char why[KAFKA_ERRSTR_MAX];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return error_set(err, NULL, "%s", why);
    return C_OK;
}

/* rd_kafka_new, with its reason in err. conf is librdkafka's on success,
 * still the caller's on failure. */
static rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, struct error *err)
{
    char why[KAFKA_ERRSTR_MAX];
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof(why));
    if (rk == NULL)
        error_set(err, NULL, "%s", why);
    return rk;
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    enum log_level l = level <= 3   ? LOG_ERROR
                       : level <= 4 ? LOG_WARN
                       : level <= 6 ? LOG_INFO
                                    : LOG_DEBUG;
    log_fields(l, json_pack("{ss}", "facility", fac), "kafka: %s", buf);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        log_error("kafka fatal error %s: %s", rd_kafka_err2name(orig), fatal);
        return;
    }
    /* Transport errors are retried by librdkafka; they are worth a warning. */
    log_warn("kafka error %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ---- security ----------------------------------------------------------- */

static bool kafka_is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* One of names, compared without case; its canonical spelling or NULL. */
static const char *kafka_one_of(const char *value, const char *const *names)
{
    for (; *names != NULL; names++) {
        if (value != NULL && strcasecmp(value, *names) == 0)
            return *names;
    }
    return NULL;
}

int kafka_security_apply(rd_kafka_conf_t *conf, const struct kafka_security *sec, struct error *err)
{
    static const char *const protocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL", NULL};
    static const char *const mechanisms[] = {"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", NULL};
    const char *protocol = kafka_one_of(sec->protocol, protocols);
    if (protocol == NULL)
        return error_set(err, "CAISSE_KAFKA_SECURITY_PROTOCOL",
                         "CAISSE_KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, SASL_PLAINTEXT "
                         "or SASL_SSL (got \"%s\")",
                         sec->protocol != NULL ? sec->protocol : "");
    bool sasl = strncmp(protocol, "SASL_", 5) == 0;
    bool tls = strcmp(protocol, "SSL") == 0 || strcmp(protocol, "SASL_SSL") == 0;
    if (kafka_set(conf, "security.protocol", protocol, err) != C_OK)
        return C_ERR;
    if (sasl) {
        const char *mechanism = kafka_one_of(sec->sasl_mechanism, mechanisms);
        if (mechanism == NULL)
            return error_set(err, "CAISSE_KAFKA_SASL_MECHANISM",
                             "CAISSE_KAFKA_SASL_MECHANISM must be SCRAM-SHA-512, SCRAM-SHA-256 "
                             "or PLAIN (got \"%s\")",
                             sec->sasl_mechanism != NULL ? sec->sasl_mechanism : "");
        if (!kafka_is_set(sec->username))
            return error_set(err, "CAISSE_KAFKA_USERNAME",
                             "CAISSE_KAFKA_USERNAME is required with %s", protocol);
        if (!kafka_is_set(sec->password))
            return error_set(err, "CAISSE_KAFKA_PASSWORD",
                             "CAISSE_KAFKA_PASSWORD is required with %s", protocol);
        if (kafka_set(conf, "sasl.mechanisms", mechanism, err) != C_OK ||
            kafka_set(conf, "sasl.username", sec->username, err) != C_OK ||
            kafka_set(conf, "sasl.password", sec->password, err) != C_OK)
            return C_ERR;
    }
    if (kafka_is_set(sec->cert_file) != kafka_is_set(sec->key_file))
        return error_set(err, "CAISSE_KAFKA_CERT_FILE",
                         "CAISSE_KAFKA_CERT_FILE and CAISSE_KAFKA_KEY_FILE go together");
    if (!tls) {
        /* TLS files with a protocol that does not use them are a mistake to
         * point out, not to ignore: the operator believes the link is secured. */
        if (kafka_is_set(sec->ca_file) || kafka_is_set(sec->cert_file))
            return error_set(err, "CAISSE_KAFKA_SECURITY_PROTOCOL",
                             "CAISSE_KAFKA_CA_FILE and CAISSE_KAFKA_CERT_FILE need "
                             "CAISSE_KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL (got %s)",
                             protocol);
        return C_OK;
    }
    if (kafka_set(conf, "ssl.endpoint.identification.algorithm",
                  sec->verify_hostname ? "https" : "none", err) != C_OK)
        return C_ERR;
    if (kafka_is_set(sec->ca_file) && kafka_set(conf, "ssl.ca.location", sec->ca_file, err) != C_OK)
        return C_ERR;
    if (kafka_is_set(sec->cert_file) &&
        (kafka_set(conf, "ssl.certificate.location", sec->cert_file, err) != C_OK ||
         kafka_set(conf, "ssl.key.location", sec->key_file, err) != C_OK))
        return C_ERR;
    return C_OK;
}

/* The process's security (kafka_security_use): owned copies. */
static char kafka_plaintext[] = "PLAINTEXT";
static struct kafka_security kafka_security_current = {.protocol = kafka_plaintext};
static bool kafka_security_owned;

static void kafka_security_free(struct kafka_security *s)
{
    free(s->protocol);
    free(s->sasl_mechanism);
    free(s->username);
    if (s->password != NULL) {
        /* Not left in freed memory. */
        volatile char *p = s->password;
        while (*p != '\0')
            *p++ = '\0';
    }
    free(s->password);
    free(s->ca_file);
    free(s->cert_file);
    free(s->key_file);
}

static char *kafka_strdup(const char *s, bool *failed)
{
    char *copy = strdup(s != NULL ? s : "");
    if (copy == NULL)
        *failed = true;
    return copy;
}

int kafka_security_use(const struct kafka_security *sec, struct error *err)
{
    /* Checked on a scratch configuration: the same function later sets it. */
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    int rc = kafka_security_apply(scratch, sec, err);
    rd_kafka_conf_destroy(scratch);
    if (rc != C_OK)
        return C_ERR;
    bool failed = false;
    struct kafka_security copy = {.protocol = kafka_strdup(sec->protocol, &failed),
                                  .sasl_mechanism = kafka_strdup(sec->sasl_mechanism, &failed),
                                  .username = kafka_strdup(sec->username, &failed),
                                  .password = kafka_strdup(sec->password, &failed),
                                  .ca_file = kafka_strdup(sec->ca_file, &failed),
                                  .cert_file = kafka_strdup(sec->cert_file, &failed),
                                  .key_file = kafka_strdup(sec->key_file, &failed),
                                  .verify_hostname = sec->verify_hostname};
    if (failed) {
        kafka_security_free(&copy);
        return error_set(err, NULL, "out of memory");
    }
    if (kafka_security_owned)
        kafka_security_free(&kafka_security_current);
    kafka_security_current = copy;
    kafka_security_owned = true;
    return C_OK;
}

static rd_kafka_conf_t *kafka_base_conf(const char *brokers, struct error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_set(conf, "bootstrap.servers", brokers, err) != C_OK ||
        kafka_security_apply(conf, &kafka_security_current, err) != C_OK ||
        kafka_set(conf, "client.id", "caisse", err) != C_OK ||
        kafka_set(conf, "log.connection.close", "false", err) != C_OK ||
        /* librdkafka notices a message's timeout (a producer's 503) and its
         * way back to a restarted broker only when it tries to reconnect; its
         * default backoff grows to 10 s, which made a 5 s timeout answer after
         * up to 15 s. At most a second between attempts bounds both. */
        kafka_set(conf, "reconnect.backoff.max.ms", "1000", err) != C_OK ||
        /* Nagle's algorithm held a small request back until the broker's
         * delayed ACK of the previous one (~40 ms): over TLS a request goes
         * out in several writes, and creates took 53 ms at 300/s. */
        kafka_set(conf, "socket.nagle.disable", "true", err) != C_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    return conf;
}

rd_kafka_t *kafka_producer_new(const struct kafka_producer_options *opt, struct error *err)
{
    rd_kafka_conf_t *conf = kafka_base_conf(opt->brokers, err);
    if (conf == NULL)
        return NULL;
    char timeout[32], linger[32];
    snprintf(timeout, sizeof(timeout), "%ld", opt->message_timeout_ms);
    snprintf(linger, sizeof(linger), "%ld", opt->linger_ms);
    /* Idempotence implies acks=all and bounded in-flight requests, which keeps
     * per-partition (so per-session) order across retries. */
    if (kafka_set(conf, "enable.idempotence", "true", err) != C_OK ||
        kafka_set(conf, "acks", "all", err) != C_OK ||
        kafka_set(conf, "message.timeout.ms", timeout, err) != C_OK ||
        kafka_set(conf, "linger.ms", linger, err) != C_OK ||
        kafka_set(conf, "compression.type", "lz4", err) != C_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    struct kafka_producer_hooks *hooks = malloc(sizeof(*hooks));
    if (hooks == NULL) {
        error_set(err, NULL, "out of memory");
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    hooks->on_delivery = opt->on_delivery;
    hooks->opaque = opt->opaque;
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_on_delivery);
    rd_kafka_conf_set_opaque(conf, hooks);
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, conf, err);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        free(hooks);
    }
    return rk;
}

void kafka_producer_destroy(rd_kafka_t *rk)
{
    if (rk == NULL)
        return;
    /* Reports are only served by rd_kafka_poll/flush, never after destroy. */
    struct kafka_producer_hooks *hooks = rd_kafka_opaque(rk);
    rd_kafka_destroy(rk);
    free(hooks);
}

rd_kafka_t *kafka_probe_new(const char *brokers, struct error *err)
{
    rd_kafka_conf_t *conf = kafka_base_conf(brokers, err);
    if (conf == NULL)
        return NULL;
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, conf, err);
    if (rk == NULL)
        rd_kafka_conf_destroy(conf);
    return rk;
}

rd_kafka_message_t *kafka_consume(rd_kafka_t *consumer, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, timeout_ms);
    if (m != NULL && m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        kafka_count(&kafka_consumed, m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : NULL);
    return m;
}

rd_kafka_t *kafka_consumer_new(const struct kafka_consumer_options *opt, const char *topic,
                               struct error *err)
{
    rd_kafka_conf_t *conf = kafka_base_conf(opt->brokers, err);
    if (conf == NULL)
        return NULL;
    char session_timeout[32], stats_interval[32];
    snprintf(session_timeout, sizeof(session_timeout), "%ld", opt->session_timeout_ms);
    snprintf(stats_interval, sizeof(stats_interval), "%d", KAFKA_STATS_INTERVAL_MS);
    /* Offsets are stored by us after the Postgres commit; librdkafka then
     * commits stored offsets in the background. roundrobin, not
     * cooperative-sticky, which has known bugs in librdkafka 2.0.2. */
    if (kafka_set(conf, "group.id", opt->group_id, err) != C_OK ||
        kafka_set(conf, "enable.auto.offset.store", "false", err) != C_OK ||
        kafka_set(conf, "enable.auto.commit", "true", err) != C_OK ||
        kafka_set(conf, "auto.commit.interval.ms", "1000", err) != C_OK ||
        kafka_set(conf, "auto.offset.reset", "earliest", err) != C_OK ||
        kafka_set(conf, "partition.assignment.strategy", "roundrobin", err) != C_OK ||
        kafka_set(conf, "session.timeout.ms", session_timeout, err) != C_OK ||
        kafka_set(conf, "enable.partition.eof", "false", err) != C_OK ||
        kafka_set(conf, "statistics.interval.ms", stats_interval, err) != C_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_stats_cb(conf, kafka_on_stats);
    if (opt->instance_id != NULL && opt->instance_id[0] != '\0' &&
        kafka_set(conf, "group.instance.id", opt->instance_id, err) != C_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = kafka_new(RD_KAFKA_CONSUMER, conf, err);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error_set(err, NULL, "subscribe to %s: %s", topic, rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/* One header more than content-type when header_name is not NULL. msgflags:
 * RD_KAFKA_MSG_F_COPY, or 0 when the caller keeps value alive until its
 * delivery report (the relay's rows: no second copy of a large event). */
static rd_kafka_resp_err_t kafka_produce_flags(rd_kafka_t *rk, const char *topic, const char *key,
                                               const char *value, size_t len,
                                               const char *content_type, const char *header_name,
                                               const char *header_value, void *msg_opaque,
                                               int msgflags)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(hdrs, "content-type", -1, content_type, -1);
    if (header_name != NULL)
        rd_kafka_header_add(hdrs, header_name, -1, header_value, -1);
    rd_kafka_resp_err_t e =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(msgflags),
                          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    /* The headers are the message's once it is produced, still ours if not. */
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_headers_destroy(hdrs);
    kafka_count(&kafka_produced, topic);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        kafka_count(&kafka_failed, topic);
    return e;
}

rd_kafka_resp_err_t kafka_produce(rd_kafka_t *rk, const char *topic, const char *key,
                                  const char *value, size_t len, const char *content_type,
                                  void *msg_opaque)
{
    return kafka_produce_flags(rk, topic, key, value, len, content_type, NULL, NULL, msg_opaque,
                               RD_KAFKA_MSG_F_COPY);
}

rd_kafka_resp_err_t kafka_produce_with_header(rd_kafka_t *rk, const char *topic, const char *key,
                                              const char *value, size_t len,
                                              const char *content_type, const char *header_name,
                                              const char *header_value, void *msg_opaque)
{
    return kafka_produce_flags(rk, topic, key, value, len, content_type, header_name, header_value,
                               msg_opaque, RD_KAFKA_MSG_F_COPY);
}

rd_kafka_resp_err_t kafka_produce_borrowed(rd_kafka_t *rk, const char *topic, const char *key,
                                           const char *value, size_t len, const char *content_type,
                                           void *msg_opaque)
{
    return kafka_produce_flags(rk, topic, key, value, len, content_type, NULL, NULL, msg_opaque, 0);
}

int kafka_is_reachable(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    int ok = md->broker_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return ok;
}

int kafka_create_topics(const char *brokers, const char *const *topics, int count, int partitions,
                        int replication, struct error *err)
{
    /* Silently creating only the first 8 would report success for the rest. */
    if (count < 1 || count > 8)
        return error_set(err, NULL, "between 1 and 8 topics at a time (got %d)", count);
    rd_kafka_conf_t *conf = kafka_base_conf(brokers, err);
    if (conf == NULL)
        return C_ERR;
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, conf, err);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return C_ERR;
    }
    int rc = C_ERR;
    rd_kafka_NewTopic_t *nt[8];
    int n = 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    char why[KAFKA_ERRSTR_MAX];
    for (; n < count && n < 8; n++) {
        nt[n] = rd_kafka_NewTopic_new(topics[n], partitions, replication, why, sizeof(why));
        if (nt[n] == NULL) {
            error_set(err, NULL, "%s: %s", topics[n], why);
            goto out;
        }
        /* Stated, not inherited from whatever the broker's default is. */
        if (rd_kafka_NewTopic_set_config(nt[n], "max.message.bytes",
                                         KAFKA_TOPIC_MAX_MESSAGE_BYTES_TEXT) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            error_set(err, NULL, "%s: cannot set max.message.bytes", topics[n]);
            n++;
            goto out;
        }
    }
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, 30000, NULL, 0);
    rd_kafka_CreateTopics(rk, nt, (size_t)n, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (ev == NULL) {
        error_set(err, NULL, "timed out creating topics");
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error_set(err, NULL, "%s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        goto out;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t rn;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &rn);
    rc = C_OK;
    for (size_t i = 0; i < rn; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            continue;
        error_set(err, NULL, "%s: %s", rd_kafka_topic_result_name(tr[i]),
                  rd_kafka_topic_result_error_string(tr[i]));
        rc = C_ERR;
    }
    rd_kafka_event_destroy(ev);
out:
    for (int i = 0; i < n; i++) {
        if (nt[i] != NULL)
            rd_kafka_NewTopic_destroy(nt[i]);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
