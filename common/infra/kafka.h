/* Kafka clients configured the one way the design allows: an idempotent
 * producer (acks=all) and consumers that store offsets by hand only after the
 * work they carry is committed, with static membership. */
#ifndef CAISSE_KAFKA_H
#define CAISSE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "core/config.h"
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

/* How a client authenticates to the brokers and checks them: the
 * CAISSE_KAFKA_* security settings (KAFKA_SECURITY_CONFIG). A string may be
 * "" (not set); the strings belong to whoever filled the struct. */
struct kafka_security {
    char *protocol;       /* PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (any case) */
    char *sasl_mechanism; /* SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (SASL_* only) */
    char *username;       /* SASL_* only, required there */
    char *password;       /* a secret: never logged */
    char *ca_file;        /* PEM CA bundle the brokers are checked against; "": the system's */
    char *cert_file;      /* client certificate (PEM) for mutual TLS, with key_file */
    char *key_file;
    bool verify_hostname; /* the broker certificate must name the host connected to */
};

/* The configuration rows of struct kafka_security s (an lvalue), the same
 * in every program that makes Kafka clients. */
/* clang-format off */
#define KAFKA_SECURITY_CONFIG(s)                                                               \
    {"CAISSE_KAFKA_SECURITY_PROTOCOL", CONFIG_STRING, "PLAINTEXT",                            \
     "How clients reach the brokers: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",             \
     &(s).protocol, 0, 0},                                                                    \
    {"CAISSE_KAFKA_SASL_MECHANISM", CONFIG_STRING, "SCRAM-SHA-512",                           \
     "SASL mechanism (SASL_* protocols): SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN",              \
     &(s).sasl_mechanism, 0, 0},                                                              \
    {"CAISSE_KAFKA_USERNAME", CONFIG_STRING, "",                                              \
     "SASL user name of this program (required with SASL_*)", &(s).username, 0, 0},           \
    {"CAISSE_KAFKA_PASSWORD", CONFIG_SECRET, "",                                              \
     "SASL password of that user (required with SASL_*; never logged)", &(s).password, 0, 0}, \
    {"CAISSE_KAFKA_CA_FILE", CONFIG_STRING, "",                                               \
     "PEM file of the CA(s) that signed the brokers' certificates (SSL, SASL_SSL); empty: "   \
     "the system's CAs", &(s).ca_file, 0, 0},                                                 \
    {"CAISSE_KAFKA_CERT_FILE", CONFIG_STRING, "",                                             \
     "PEM client certificate for mutual TLS (SSL, SASL_SSL; with CAISSE_KAFKA_KEY_FILE)",     \
     &(s).cert_file, 0, 0},                                                                   \
    {"CAISSE_KAFKA_KEY_FILE", CONFIG_STRING, "",                                              \
     "PEM private key of CAISSE_KAFKA_CERT_FILE (unencrypted: mount it from a Secret)",       \
     &(s).key_file, 0, 0},                                                                    \
    {"CAISSE_KAFKA_VERIFY_HOSTNAME", CONFIG_BOOL, "true",                                     \
     "The broker's certificate must name the host connected to (SSL, SASL_SSL)",              \
     &(s).verify_hostname, 0, 0}
/* clang-format on */
#define KAFKA_SECURITY_CONFIG_COUNT 8

/* Checks sec and sets it on conf: security.protocol, and the sasl.* and
 * ssl.* properties its protocol uses. On C_ERR err says why (param: the
 * setting at fault); conf may then hold some of them. */
int kafka_security_apply(rd_kafka_conf_t *conf, const struct kafka_security *sec,
                         struct error *err);

/* Makes a copy of sec the security of every client this process makes from
 * now on (producers, consumers, probes, admin clients); call it before any
 * is made. Checked first: on C_ERR the previous one (PLAINTEXT at start)
 * stays. */
int kafka_security_use(const struct kafka_security *sec, struct error *err);

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
