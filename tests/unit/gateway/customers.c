/* The customers' rules: every field of POST and PATCH /customers with the exact
 * message and param a client sees, the billing address as stored, and the
 * changes an update makes. The handlers themselves run against the stack
 * (tests/integration/customers.c). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "../../../gateway/customers.h"
#include "../leak_check.h"

TestSuite(customers, .fini = unit_leak_check);

static const struct tenant_identity who = {.organization_id =
                                               "789e0123-e89b-12d3-a456-426614174000",
                                           .environment = "test",
                                           .default_currency = "XOF"};

static json_t *parse(const char *text)
{
    json_error_t jerr;
    /* JSON_ALLOW_NUL: the rules, not the parser, must stop "\u0000". */
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(j, "test body does not parse: %s (%s)", jerr.text, text);
    return j;
}

static int create(const char *text, struct customer *c, struct error *err)
{
    json_t *body = parse(text);
    cr_assert_eq(customer_init(c), C_OK);
    int rc = customers_validate_create(body, &who, c, err);
    json_decref(body);
    return rc;
}

static void expect_create_error(const char *text, const char *param, const char *message)
{
    struct customer c;
    struct error err = ERROR_INIT;
    cr_assert_eq(create(text, &c, &err), C_ERR, "accepted %s", text);
    cr_assert_str_eq(err.message, message, "%s", text);
    cr_assert_str_eq(err.param, param, "%s", text);
    customer_free(&c);
}

/* The changes of a PATCH body, as sorted compact JSON (a new string). */
static char *update(const char *text, struct error *err)
{
    json_t *body = parse(text);
    json_t *changes = NULL;
    int rc = customers_validate_update(body, &changes, err);
    json_decref(body);
    if (rc != C_OK) {
        cr_assert_null(changes, "no changes given on failure");
        return NULL;
    }
    cr_assert_not_null(changes);
    char *out = json_dumps(changes, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(changes);
    return out;
}

static void expect_update_error(const char *text, const char *param, const char *message)
{
    struct error err = ERROR_INIT;
    char *changes = update(text, &err);
    cr_assert_null(changes, "accepted %s", text);
    cr_assert_str_eq(err.message, message, "%s", text);
    cr_assert_str_eq(err.param, param, "%s", text);
}

/* Both a create and an update refuse text with param and message. */
static void expect_error(const char *text, const char *param, const char *message)
{
    expect_create_error(text, param, message);
    expect_update_error(text, param, message);
}

Test(customers, a_full_create_fills_every_field_and_the_address_has_all_its_members)
{
    struct customer c;
    struct error err = ERROR_INIT;
    cr_assert_eq(create("{\"email\": \"Awa.Diop@example.com\", \"name\": \"Awa Diop\","
                        " \"phone\": \"+221771234567\", \"billing_address\": {\"country\": \"SN\","
                        " \"city\": \"Dakar\", \"line1\": \"12 rue Carnot\"},"
                        " \"metadata\": {\"crm\": 7}}",
                        &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_str_eq(c.email, "Awa.Diop@example.com", "kept as given");
    cr_assert_str_eq(c.name, "Awa Diop");
    cr_assert_str_eq(c.phone, "+221771234567");
    char *address = json_dumps(c.billing_address, JSON_COMPACT);
    cr_assert_str_eq(address, "{\"line1\":\"12 rue Carnot\",\"line2\":null,\"city\":\"Dakar\","
                              "\"postal_code\":null,\"state\":null,\"country\":\"SN\"}");
    free(address);
    cr_assert_eq(json_integer_value(json_object_get(c.metadata, "crm")), 7);
    customer_free(&c);
}

Test(customers, nothing_is_required_and_null_is_none)
{
    struct customer c;
    struct error err = ERROR_INIT;
    cr_assert_eq(create("{}", &c, &err), C_OK, "%s", err.message);
    cr_assert_null(c.email);
    cr_assert_null(c.name);
    cr_assert_null(c.phone);
    cr_assert_null(c.billing_address);
    cr_assert_eq(json_object_size(c.metadata), 0);
    customer_free(&c);
    cr_assert_eq(create("{\"email\": null, \"name\": null, \"phone\": null,"
                        " \"billing_address\": null, \"metadata\": null}",
                        &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_null(c.email);
    cr_assert_null(c.billing_address);
    cr_assert_eq(json_object_size(c.metadata), 0);
    customer_free(&c);
}

Test(customers, email_name_and_phone_follow_the_rules_of_a_session_s_customer)
{
    char body[700], text[400];
    expect_error("{\"email\": 5}", "email", "email must be a string");
    expect_error("{\"email\": \"nobody\"}", "email", "email must be a valid email address");
    expect_error("{\"email\": \"a@localhost\"}", "email", "email must be a valid email address");
    expect_error("{\"email\": \"a@b.co\\u0000x\"}", "email",
                 "email must not contain NUL characters");
    memset(text, 'a', 250);
    memcpy(text + 250, "@b.co", 6);
    snprintf(body, sizeof(body), "{\"email\": \"%s\"}", text);
    expect_error(body, "email", "email must be at most 254 characters");
    expect_error("{\"name\": []}", "name", "name must be a string");
    memset(text, 'n', 251);
    text[251] = '\0';
    snprintf(body, sizeof(body), "{\"name\": \"%s\"}", text);
    expect_error(body, "name", "name must be at most 250 characters");
    expect_error("{\"phone\": 221771234567}", "phone", "phone must be a string");
    expect_error("{\"phone\": \"771234567\"}", "phone",
                 "phone must be in E.164 format (+ followed by 8 to 15 digits)");
    expect_error("{\"phone\": \"+0771234567\"}", "phone",
                 "phone must be in E.164 format (+ followed by 8 to 15 digits)");
    expect_error("{\"phone\": \"+1234567890123456\"}", "phone",
                 "phone must be in E.164 format (+ followed by 8 to 15 digits)");
    expect_error("{\"metadata\": []}", "metadata", "metadata must be an object");
    expect_error("{\"customer_id\": \"x\"}", "customer_id", "Unknown parameter: customer_id");
    expect_error("{\"created_at\": \"2024-01-15T10:30:00Z\"}", "created_at",
                 "Unknown parameter: created_at");
}

Test(customers, a_billing_address_is_checked_member_by_member)
{
    const char *wrong = "billing_address.country must be an ISO 3166-1 alpha-2 country code in"
                        " upper case, such as SN";
    expect_error("{\"billing_address\": \"12 rue Carnot\"}", "billing_address",
                 "billing_address must be an object or null");
    expect_error("{\"billing_address\": {}}", "billing_address.line1",
                 "billing_address.line1 is required");
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"country\": \"SN\"}}",
                 "billing_address.city", "billing_address.city is required");
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\"}}",
                 "billing_address.country", "billing_address.country is required");
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\","
                 " \"country\": \"sn\"}}",
                 "billing_address.country", wrong);
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\","
                 " \"country\": \"XX\"}}",
                 "billing_address.country", wrong);
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\","
                 " \"country\": \"SEN\"}}",
                 "billing_address.country", wrong);
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\","
                 " \"country\": 221}}",
                 "billing_address.country", "billing_address.country must be a string");
    expect_error("{\"billing_address\": {\"line1\": \"  \", \"city\": \"Dakar\","
                 " \"country\": \"SN\"}}",
                 "billing_address.line1", "billing_address.line1 must not be empty");
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"line2\": \"\", \"city\": \"Dakar\","
                 " \"country\": \"SN\"}}",
                 "billing_address.line2", "billing_address.line2 must not be empty");
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\","
                 " \"postal_code\": \"123456789012345678901\", \"country\": \"SN\"}}",
                 "billing_address.postal_code",
                 "billing_address.postal_code must be at most 20 characters");
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"city\": \"Da\\u0000kar\","
                 " \"country\": \"SN\"}}",
                 "billing_address.city", "billing_address.city must not contain NUL characters");
    expect_error("{\"billing_address\": {\"line1\": \"x\", \"city\": \"Dakar\", \"country\":"
                 " \"SN\", \"street\": \"x\"}}",
                 "billing_address.street", "Unknown parameter: billing_address.street");
    /* Optional members given as null are none; every country of the table is taken. */
    struct customer c;
    struct error err = ERROR_INIT;
    cr_assert_eq(create("{\"billing_address\": {\"line1\": \"1 Main St\", \"line2\": null,"
                        " \"city\": \"Paris\", \"postal_code\": \"75001\", \"state\": null,"
                        " \"country\": \"FR\"}}",
                        &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(c.billing_address, "postal_code")), "75001");
    cr_assert(json_is_null(json_object_get(c.billing_address, "state")));
    customer_free(&c);
}

Test(customers, an_update_gives_only_the_changes_named_null_clearing_them)
{
    struct error err = ERROR_INIT;
    char *c = update("{}", &err);
    cr_assert_str_eq(c, "{}", "nothing to change");
    free(c);
    c = update("{\"name\": \"Awa\", \"phone\": null, \"email\": null, \"billing_address\": null,"
               " \"metadata\": null}",
               &err);
    cr_assert_str_eq(c, "{\"billing_address\":null,\"email\":null,\"metadata\":{},\"name\":\"Awa\","
                        "\"phone\":null}");
    free(c);
    c = update(
        "{\"billing_address\": {\"line1\": \"x\", \"city\": \"Thiès\", \"country\": \"SN\"}}",
        &err);
    cr_assert_str_eq(c,
                     "{\"billing_address\":{\"city\":\"Thiès\",\"country\":\"SN\",\"line1\":"
                     "\"x\",\"line2\":null,\"postal_code\":null,\"state\":null}}",
                     "replaced whole, with every member");
    free(c);
}

Test(customers, the_descriptor_names_the_store_and_the_rules)
{
    cr_assert_eq(customers_catalog.store, &customer_store);
    cr_assert_eq(customers_catalog.validate_create, customers_validate_create);
    cr_assert_eq(customers_catalog.validate_update, customers_validate_update);
    cr_assert_null(customers_catalog.check_create, "a customer names no other object");
}
