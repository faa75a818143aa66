/* The CAISSE_KAFKA_* security settings as librdkafka properties
 * (kafka_security_apply): what each protocol sets, what it refuses. */
#include <criterion/criterion.h>

#include <librdkafka/rdkafka.h>
#include <string.h>

#include "infra/kafka.h"
#include "core/result.h"
#include "../../leak_check.h"

TestSuite(kafka_security, .fini = unit_leak_check);

static char s_plaintext[] = "plaintext", s_ssl[] = "SSL", s_sasl_ssl[] = "sasl_ssl",
            s_sasl_plaintext[] = "SASL_PLAINTEXT", s_bogus[] = "TLS", s_scram[] = "scram-sha-512",
            s_plain[] = "PLAIN", s_md5[] = "DIGEST-MD5", s_user[] = "caisse-gateway",
            s_password[] = "s3cret", s_ca[] = "/etc/caisse/ca.pem", s_cert[] = "/etc/caisse/c.pem",
            s_key[] = "/etc/caisse/c.key", s_empty[] = "";

static struct kafka_security base(char *protocol)
{
    return (struct kafka_security){.protocol = protocol,
                                   .sasl_mechanism = s_scram,
                                   .username = s_empty,
                                   .password = s_empty,
                                   .ca_file = s_empty,
                                   .cert_file = s_empty,
                                   .key_file = s_empty,
                                   .verify_hostname = true};
}

/* The value of a property, "" when librdkafka has none. */
static const char *get(rd_kafka_conf_t *conf, const char *name)
{
    static char value[512];
    size_t size = sizeof(value);
    if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK)
        value[0] = '\0';
    return value;
}

Test(kafka_security, plaintext_sets_only_the_protocol)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct kafka_security sec = base(s_plaintext);
    struct error err = ERROR_INIT;
    cr_assert_eq(kafka_security_apply(conf, &sec, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(get(conf, "security.protocol"), "plaintext");
    cr_assert_str_eq(get(conf, "sasl.username"), "");
    rd_kafka_conf_destroy(conf);
}

Test(kafka_security, sasl_ssl_sets_the_login_the_ca_and_the_hostname_check)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct kafka_security sec = base(s_sasl_ssl);
    sec.username = s_user;
    sec.password = s_password;
    sec.ca_file = s_ca;
    struct error err = ERROR_INIT;
    cr_assert_eq(kafka_security_apply(conf, &sec, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(get(conf, "security.protocol"), "sasl_ssl");
    cr_assert_str_eq(get(conf, "sasl.mechanisms"), "SCRAM-SHA-512");
    cr_assert_str_eq(get(conf, "sasl.username"), "caisse-gateway");
    cr_assert_str_eq(get(conf, "sasl.password"), "s3cret");
    cr_assert_str_eq(get(conf, "ssl.ca.location"), "/etc/caisse/ca.pem");
    cr_assert_str_eq(get(conf, "ssl.endpoint.identification.algorithm"), "https");
    rd_kafka_conf_destroy(conf);
}

Test(kafka_security, ssl_with_a_client_certificate_and_no_hostname_check)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct kafka_security sec = base(s_ssl);
    sec.cert_file = s_cert;
    sec.key_file = s_key;
    sec.verify_hostname = false;
    struct error err = ERROR_INIT;
    cr_assert_eq(kafka_security_apply(conf, &sec, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(get(conf, "security.protocol"), "ssl");
    cr_assert_str_eq(get(conf, "ssl.certificate.location"), "/etc/caisse/c.pem");
    cr_assert_str_eq(get(conf, "ssl.key.location"), "/etc/caisse/c.key");
    cr_assert_str_eq(get(conf, "ssl.endpoint.identification.algorithm"), "none");
    cr_assert_str_eq(get(conf, "sasl.username"), "", "SSL alone sets no SASL login");
    rd_kafka_conf_destroy(conf);
}

Test(kafka_security, sasl_plaintext_takes_the_plain_mechanism)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct kafka_security sec = base(s_sasl_plaintext);
    sec.sasl_mechanism = s_plain;
    sec.username = s_user;
    sec.password = s_password;
    struct error err = ERROR_INIT;
    cr_assert_eq(kafka_security_apply(conf, &sec, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(get(conf, "sasl.mechanisms"), "PLAIN");
    rd_kafka_conf_destroy(conf);
}

/* Each refusal names the setting at fault. */
static void refused(struct kafka_security *sec, const char *param)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct error err = ERROR_INIT;
    cr_assert_eq(kafka_security_apply(conf, sec, &err), C_ERR);
    cr_assert_str_eq(err.param, param, "%s", err.message);
    cr_assert_null(strstr(err.message, "s3cret"), "the password in a message: %s", err.message);
    rd_kafka_conf_destroy(conf);
}

Test(kafka_security, an_unknown_protocol_or_mechanism_is_refused)
{
    struct kafka_security sec = base(s_bogus);
    refused(&sec, "CAISSE_KAFKA_SECURITY_PROTOCOL");
    sec = base(s_sasl_ssl);
    sec.sasl_mechanism = s_md5;
    sec.username = s_user;
    sec.password = s_password;
    refused(&sec, "CAISSE_KAFKA_SASL_MECHANISM");
}

Test(kafka_security, sasl_without_a_user_or_a_password_is_refused)
{
    struct kafka_security sec = base(s_sasl_ssl);
    sec.password = s_password;
    refused(&sec, "CAISSE_KAFKA_USERNAME");
    sec = base(s_sasl_ssl);
    sec.username = s_user;
    refused(&sec, "CAISSE_KAFKA_PASSWORD");
}

Test(kafka_security, tls_files_without_tls_or_a_certificate_without_its_key_are_refused)
{
    struct kafka_security sec = base(s_plaintext);
    sec.ca_file = s_ca;
    refused(&sec, "CAISSE_KAFKA_SECURITY_PROTOCOL");
    sec = base(s_ssl);
    sec.cert_file = s_cert;
    refused(&sec, "CAISSE_KAFKA_CERT_FILE");
}

Test(kafka_security, use_takes_a_valid_security_and_refuses_an_invalid_one)
{
    struct kafka_security good = base(s_sasl_ssl);
    good.username = s_user;
    good.password = s_password;
    struct error err = ERROR_INIT;
    cr_assert_eq(kafka_security_use(&good, &err), C_OK, "%s", err.message);
    struct kafka_security bad = base(s_bogus);
    cr_assert_eq(kafka_security_use(&bad, &err), C_ERR);
    /* Back to PLAINTEXT for whatever runs next in this process. */
    struct kafka_security plain = base(s_plaintext);
    cr_assert_eq(kafka_security_use(&plain, &err), C_OK, "%s", err.message);
}
