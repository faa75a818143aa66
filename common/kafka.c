#include "kafka.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "result.h"

static int kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                     size_t errlen)
{
    if (rd_kafka_conf_set(conf, name, value, err, errlen) != RD_KAFKA_CONF_OK)
        return C_ERR;
    return C_OK;
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

static rd_kafka_conf_t *kafka_base_conf(const char *brokers, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_set(conf, "bootstrap.servers", brokers, err, errlen) != C_OK ||
        kafka_set(conf, "client.id", "caisse", err, errlen) != C_OK ||
        kafka_set(conf, "log.connection.close", "false", err, errlen) != C_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    return conf;
}

rd_kafka_t *kafka_producer_new(const struct kafka_producer_options *opt, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_base_conf(opt->brokers, err, errlen);
    if (conf == NULL)
        return NULL;
    char timeout[32], linger[32];
    snprintf(timeout, sizeof(timeout), "%ld", opt->message_timeout_ms);
    snprintf(linger, sizeof(linger), "%ld", opt->linger_ms);
    /* Idempotence implies acks=all and bounded in-flight requests, which keeps
     * per-partition (so per-session) order across retries. */
    if (kafka_set(conf, "enable.idempotence", "true", err, errlen) != C_OK ||
        kafka_set(conf, "acks", "all", err, errlen) != C_OK ||
        kafka_set(conf, "message.timeout.ms", timeout, err, errlen) != C_OK ||
        kafka_set(conf, "linger.ms", linger, err, errlen) != C_OK ||
        kafka_set(conf, "compression.type", "lz4", err, errlen) != C_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (opt->on_delivery != NULL)
        rd_kafka_conf_set_dr_msg_cb(conf, opt->on_delivery);
    rd_kafka_conf_set_opaque(conf, opt->opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (rk == NULL)
        rd_kafka_conf_destroy(conf);
    return rk;
}

rd_kafka_t *kafka_consumer_new(const struct kafka_consumer_options *opt, const char *topic,
                               char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_base_conf(opt->brokers, err, errlen);
    if (conf == NULL)
        return NULL;
    char session_timeout[32];
    snprintf(session_timeout, sizeof(session_timeout), "%ld", opt->session_timeout_ms);
    /* Offsets are stored by us after the Postgres commit; librdkafka then
     * commits stored offsets in the background. roundrobin, not
     * cooperative-sticky, which has known bugs in librdkafka 2.0.2. */
    if (kafka_set(conf, "group.id", opt->group_id, err, errlen) != C_OK ||
        kafka_set(conf, "enable.auto.offset.store", "false", err, errlen) != C_OK ||
        kafka_set(conf, "enable.auto.commit", "true", err, errlen) != C_OK ||
        kafka_set(conf, "auto.commit.interval.ms", "1000", err, errlen) != C_OK ||
        kafka_set(conf, "auto.offset.reset", "earliest", err, errlen) != C_OK ||
        kafka_set(conf, "partition.assignment.strategy", "roundrobin", err, errlen) != C_OK ||
        kafka_set(conf, "session.timeout.ms", session_timeout, err, errlen) != C_OK ||
        kafka_set(conf, "enable.partition.eof", "false", err, errlen) != C_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (opt->instance_id != NULL && opt->instance_id[0] != '\0' &&
        kafka_set(conf, "group.instance.id", opt->instance_id, err, errlen) != C_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
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
        snprintf(err, errlen, "subscribe to %s: %s", topic, rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

rd_kafka_resp_err_t kafka_produce(rd_kafka_t *rk, const char *topic, const char *key,
                                  const char *value, size_t len, const char *content_type,
                                  void *msg_opaque)
{
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE((void *)value, len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_HEADER("content-type", content_type, -1),
                             RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
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
                        int replication, char *err, size_t errlen)
{
    /* Silently creating only the first 8 would report success for the rest. */
    if (count < 1 || count > 8) {
        snprintf(err, errlen, "between 1 and 8 topics at a time (got %d)", count);
        return C_ERR;
    }
    rd_kafka_conf_t *conf = kafka_base_conf(brokers, err, errlen);
    if (conf == NULL)
        return C_ERR;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return C_ERR;
    }
    int rc = C_ERR;
    rd_kafka_NewTopic_t *nt[8];
    int n = 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    for (; n < count && n < 8; n++) {
        nt[n] = rd_kafka_NewTopic_new(topics[n], partitions, replication, err, errlen);
        if (nt[n] == NULL)
            goto out;
    }
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, 30000, NULL, 0);
    rd_kafka_CreateTopics(rk, nt, (size_t)n, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (ev == NULL) {
        snprintf(err, errlen, "timed out creating topics");
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "%s", rd_kafka_event_error_string(ev));
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
        snprintf(err, errlen, "%s: %s", rd_kafka_topic_result_name(tr[i]),
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
