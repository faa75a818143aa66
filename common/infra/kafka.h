/* Kafka clients configured the one way the design allows: an idempotent
 * producer (acks=all) and consumers that store offsets by hand only after the
 * work they carry is committed, with static membership. */
#ifndef CAISSE_KAFKA_H
#define CAISSE_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "core/error.h"

/* The largest event the API can produce is about 67 KB (a create's body is at
 * most 64 KiB, plus what the server adds); the documented maximum is
 * KAFKA_EVENT_MAX_BYTES. The topics are created with max.message.bytes 1 MiB,
 * and librdkafka's producer takes messages up to its message.max.bytes
 * (1 000 000 by default): both several times the maximum. */
#define KAFKA_EVENT_MAX_BYTES (128 * 1024)
#define KAFKA_TOPIC_MAX_MESSAGE_BYTES_TEXT "1048576"

#define KAFKA_TOPIC_COMMANDS "checkout.session.commands"
#define KAFKA_TOPIC_EVENTS "checkout.session.events"
/* How often a consumer's statistics refresh its lag gauges. */
#define KAFKA_STATS_INTERVAL_MS 5000

struct kafka_producer_options {
    const char *brokers;
    long message_timeout_ms; /* a delivery report fails after this */
    long linger_ms;
    /* Called from rd_kafka_poll() for each message; may be NULL. */
    void (*on_delivery)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
    void *opaque; /* on_delivery's last argument */
};

/* NULL with err filled on failure. Every delivery report is counted in
 * /metrics (caisse_kafka_messages_delivered_total, _failed_total) before
 * on_delivery sees it. Destroy with kafka_producer_destroy. */
rd_kafka_t *kafka_producer_new(const struct kafka_producer_options *opt, struct error *err);
/* rd_kafka_destroy, and the producer's own state; NULL is fine. */
void kafka_producer_destroy(rd_kafka_t *rk);

struct kafka_consumer_options {
    const char *brokers;
    const char *group_id;
    const char *instance_id; /* static membership; "" or NULL for dynamic */
    long session_timeout_ms;
};

/* Subscribed to topic, auto commit of *stored* offsets only. Its statistics
 * (every KAFKA_STATS_INTERVAL_MS, served by kafka_consume) set the gauge
 * caisse_kafka_consumer_lag{topic,partition} of the partitions it holds. */
rd_kafka_t *kafka_consumer_new(const struct kafka_consumer_options *opt, const char *topic,
                               struct error *err);

/* rd_kafka_consumer_poll that counts the records it returns
 * (caisse_kafka_messages_consumed_total). Same ownership: the caller
 * destroys the message. */
rd_kafka_message_t *kafka_consume(rd_kafka_t *consumer, int timeout_ms);

/* A plain client that produces nothing, for kafka_is_reachable probes.
 * NULL with err filled on failure; rd_kafka_destroy it. */
rd_kafka_t *kafka_probe_new(const char *brokers, struct error *err);

/* Produces value with key and the content-type header. The message is copied.
 * Counted in caisse_kafka_messages_produced_total, and in _failed_total when
 * the producer refuses it at once. */
rd_kafka_resp_err_t kafka_produce(rd_kafka_t *rk, const char *topic, const char *key,
                                  const char *value, size_t len, const char *content_type,
                                  void *msg_opaque);
/* The same without the copy: value is borrowed and must stay valid until the
 * message's delivery report (or its purge) has been served. */
rd_kafka_resp_err_t kafka_produce_borrowed(rd_kafka_t *rk, const char *topic, const char *key,
                                           const char *value, size_t len, const char *content_type,
                                           void *msg_opaque);

/* kafka_produce with one more header (header_name NULL: none), e.g. a
 * command's caisse-mac. */
rd_kafka_resp_err_t kafka_produce_with_header(rd_kafka_t *rk, const char *topic, const char *key,
                                              const char *value, size_t len,
                                              const char *content_type, const char *header_name,
                                              const char *header_value, void *msg_opaque);

/* True when the client has at least one broker up (metadata round trip). */
int kafka_is_reachable(rd_kafka_t *rk, int timeout_ms);

/* Creates topics (at most 8) with the given partitions and replication factor
 * (-1: the broker's default), and max.message.bytes
 * KAFKA_TOPIC_MAX_MESSAGE_BYTES_TEXT; an existing topic is fine and keeps its
 * own. */
int kafka_create_topics(const char *brokers, const char *const *topics, int count, int partitions,
                        int replication, struct error *err);

#endif
