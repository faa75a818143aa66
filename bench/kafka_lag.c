/* bench-kafka-lag: how far a consumer group is behind on a topic.
 *
 *   bench-kafka-lag BROKERS GROUP TOPIC
 *
 * Prints {"lag": N, "partitions": P, "committed": C, "end": E, "offsets": [[c, e], ...]}:
 * the sum over the topic's partitions of the high watermark minus the group's
 * committed offset (the low watermark where the group has none), and each
 * partition's pair, in partition order. It only reads offsets: it never joins
 * the group nor commits. make bench uses it to start a measurement only once a
 * worker has consumed everything produced before (the pairs tell that apart
 * from what a steady load keeps producing meanwhile). It reaches the brokers
 * as the services do, through the CAISSE_KAFKA_* security settings (the bench
 * stack's admin: the group's offsets need Describe on the group). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "core/config.h"
#include "core/result.h"
#include "infra/kafka.h"

#define LAG_TIMEOUT_MS 10000

static int lag_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bench-kafka-lag: %s: %s\n", name, err);
        return C_ERR;
    }
    return C_OK;
}

static int lag_measure(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt == NULL ||
        rd_kafka_metadata(rk, 0, rkt, &md, LAG_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench-kafka-lag: no metadata for %s\n", topic);
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        if (rkt != NULL)
            rd_kafka_topic_destroy(rkt);
        return C_ERR;
    }
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i);
    if (rd_kafka_committed(rk, parts, LAG_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench-kafka-lag: cannot read committed offsets\n");
        rd_kafka_topic_partition_list_destroy(parts);
        return C_ERR;
    }
    /* Each partition's (committed, end), printed once all are known (+1: never a
     * zero-size request, whose NULL would read as a failure). */
    int64_t *pairs = calloc((size_t)parts->cnt * 2 + 1, sizeof(*pairs));
    if (pairs == NULL) {
        fprintf(stderr, "bench-kafka-lag: out of memory\n");
        rd_kafka_topic_partition_list_destroy(parts);
        return C_ERR;
    }
    int64_t lag = 0, committed_sum = 0, end_sum = 0;
    int rc = C_OK;
    for (int i = 0; i < parts->cnt && rc == C_OK; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, parts->elems[i].partition, &lo, &hi,
                                             LAG_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "bench-kafka-lag: no watermarks for partition %d\n",
                    (int)parts->elems[i].partition);
            rc = C_ERR;
            break;
        }
        int64_t c = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;
        committed_sum += c;
        end_sum += hi;
        lag += hi > c ? hi - c : 0;
        pairs[2 * i] = c;
        pairs[2 * i + 1] = hi;
    }
    if (rc == C_OK) {
        printf("{\"lag\":%" PRId64 ",\"partitions\":%d,\"committed\":%" PRId64 ",\"end\":%" PRId64
               ",\"offsets\":[",
               lag, n, committed_sum, end_sum);
        for (int i = 0; i < parts->cnt; i++)
            printf("%s[%" PRId64 ",%" PRId64 "]", i > 0 ? "," : "", pairs[2 * i], pairs[2 * i + 1]);
        printf("]}\n");
    }
    free(pairs);
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench-kafka-lag BROKERS GROUP TOPIC\n");
        return 2;
    }
    static struct kafka_security security;
    static const struct config_entry security_config[] = {KAFKA_SECURITY_CONFIG(security)};
    struct error e = ERROR_INIT;
    if (config_load(security_config, CONFIG_TABLE_SIZE(security_config), &e) != C_OK) {
        fprintf(stderr, "bench-kafka-lag: %s\n", e.message);
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_security_apply(conf, &security, &e) != C_OK) {
        fprintf(stderr, "bench-kafka-lag: %s\n", e.message);
        rd_kafka_conf_destroy(conf);
        config_free(security_config, CONFIG_TABLE_SIZE(security_config));
        return 2;
    }
    config_free(security_config, CONFIG_TABLE_SIZE(security_config));
    if (lag_set(conf, "bootstrap.servers", argv[1]) != C_OK ||
        lag_set(conf, "group.id", argv[2]) != C_OK ||
        lag_set(conf, "enable.auto.commit", "false") != C_OK ||
        lag_set(conf, "log_level", "3") != C_OK) {
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "bench-kafka-lag: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    int rc = lag_measure(rk, argv[3]);
    rd_kafka_destroy(rk);
    return rc == C_OK ? 0 : 1;
}
