/* The fan-out's fast path to an event's id: the top-level "id" of a
 * CloudEvent, never a nested one; anything it cannot read with certainty is
 * refused, and the record is then decoded in full. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/result.h"
#include "../../../webhook-worker/event_id.h"
#include "../leak_check.h"

TestSuite(event_id, .fini = unit_leak_check);

#define ID "01a210ca-87ac-7041-8bec-e77381ef94b7"
#define OTHER "01a210ca-0000-7000-8000-000000000000"

static int scan(const char *json, char out[UUID_STR_LEN])
{
    return event_id_scan(json, strlen(json), out);
}

static void assert_finds(const char *json)
{
    char out[UUID_STR_LEN] = "";
    cr_assert_eq(scan(json, out), C_OK, "refused: %s", json);
    cr_assert_str_eq(out, ID);
}

static void assert_refuses(const char *json)
{
    char out[UUID_STR_LEN] = "untouched";
    cr_assert_eq(scan(json, out), C_ERR, "accepted: %s", json);
    cr_assert_str_eq(out, "untouched", "out changed on refusal");
}

Test(event_id, finds_the_id_of_a_cloudevent_as_the_relay_publishes_it)
{
    assert_finds("{\"specversion\":\"1.0\",\"id\":\"" ID "\",\"source\":\"/caisse\","
                 "\"type\":\"checkout.session.expired\",\"subject\":\"" OTHER "\","
                 "\"time\":\"2026-11-25T03:40:38.239Z\",\"datacontenttype\":\"application/json\","
                 "\"data\":{\"id\":\"" OTHER
                 "\",\"amount\":1000,\"metadata\":{\"a\":[1,2,{\"b\":null}]},"
                 "\"paid\":false,\"x\":-1.5e3}}");
}

Test(event_id, skips_a_nested_id_that_comes_before_the_top_level_one)
{
    assert_finds("{\"data\":{\"id\":\"" OTHER "\",\"list\":[{\"id\":\"" OTHER "\"}]},\"id\":\"" ID
                 "\"}");
}

Test(event_id, skips_strings_holding_brackets_quotes_and_escapes)
{
    assert_finds("{\"title\":\"a } ] { [ \\\" \\\\ \\u00e9 \\\"id\\\":\",\"data\":{\"k\":\"}\"},"
                 "\"id\":\"" ID "\"}");
}

Test(event_id, allows_whitespace_anywhere_json_does)
{
    assert_finds(" \n{ \"a\" : [ 1 , 2 ] ,\r\n\t\"id\"\t:\t\"" ID "\" } \n");
}

Test(event_id, refuses_two_top_level_ids)
{
    assert_refuses("{\"id\":\"" ID "\",\"id\":\"" OTHER "\"}");
}

Test(event_id, refuses_an_id_that_is_not_a_plain_36_character_string)
{
    assert_refuses("{\"id\":42}");
    assert_refuses("{\"id\":null}");
    assert_refuses("{\"id\":\"" ID "0\"}");
    assert_refuses("{\"id\":\"01a210ca-87ac-7041-8bec-e77381ef94b\"}");
    assert_refuses("{\"id\":\"01a210ca-87ac-7041-8bec-e77381ef9\\u0034b7\"}");
}

Test(event_id, refuses_an_escaped_id_key_for_the_full_decoder)
{
    assert_refuses("{\"\\u0069d\":\"" ID "\"}");
}

Test(event_id, refuses_what_is_not_one_well_formed_object)
{
    assert_refuses("");
    assert_refuses("{}");
    assert_refuses("[\"" ID "\"]");
    assert_refuses("\"" ID "\"");
    assert_refuses("{\"id\":\"" ID "\"");
    assert_refuses("{\"id\":\"" ID "\"} {}");
    assert_refuses("{\"id\":\"" ID "\",}");
    assert_refuses("{\"id\" \"" ID "\"}");
    assert_refuses("{\"data\":{\"a\":[1}],\"id\":\"" ID "\"}");
    assert_refuses("{\"data\":{\"a\":\"unterminated},\"id\":\"" ID "\"}");
    assert_refuses("{\"data\":\"raw\ncontrol\",\"id\":\"" ID "\"}");
}

/* Found by tests/fuzz/webhook-worker/event_id.c: the scanner only matched
 * brackets inside a value, so it read an id from records the full decoder
 * refuses, and such a record was fanned out instead of skipped as malformed. */
Test(event_id, refuses_a_nested_value_that_is_not_json)
{
    assert_refuses("{\"data\":{\"000-000000000000\"},\"id\":\"" ID "\"}");
    assert_refuses("{\"data\":{\"a\" 1},\"id\":\"" ID "\"}");
    assert_refuses("{\"data\":{\"a\":1,},\"id\":\"" ID "\"}");
    assert_refuses("{\"data\":[1 2],\"id\":\"" ID "\"}");
    assert_refuses("{\"data\":[,],\"id\":\"" ID "\"}");
    assert_refuses("{\"data\":{1:2},\"id\":\"" ID "\"}");
}

Test(event_id, refuses_literals_and_numbers_the_decoder_refuses)
{
    static const char *const values[] = {"tru",
                                         "nul",
                                         "True",
                                         "01",
                                         "1.",
                                         ".5",
                                         "-",
                                         "+1",
                                         "1e",
                                         "0x10",
                                         "NaN",
                                         "1e400",
                                         "-1e309",
                                         "99999999999999999999",
                                         "1.5.2",
                                         "9223372036854775808",
                                         "-9223372036854775809"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char json[200];
        snprintf(json, sizeof(json), "{\"n\":%s,\"id\":\"" ID "\"}", values[i]);
        assert_refuses(json);
    }
}

Test(event_id, reads_the_numbers_and_literals_the_relay_writes)
{
    static const char *const values[] = {"0",
                                         "-0",
                                         "1000",
                                         "-1.5e3",
                                         "1.5e+300",
                                         "2E-400",
                                         "0.25",
                                         "123456789012345678",
                                         "9223372036854775807",
                                         "-9223372036854775808",
                                         "true",
                                         "false",
                                         "null",
                                         "[]",
                                         "{}",
                                         "[1,[2,{\"a\":null}]]"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char json[200];
        snprintf(json, sizeof(json), "{\"n\":%s,\"id\":\"" ID "\"}", values[i]);
        assert_finds(json);
    }
}

Test(event_id, refuses_strings_the_decoder_refuses)
{
    assert_refuses("{\"t\":\"\xff\",\"id\":\"" ID "\"}");             /* not UTF-8 */
    assert_refuses("{\"t\":\"\xc3\",\"id\":\"" ID "\"}");             /* cut sequence */
    assert_refuses("{\"t\":\"\xc0\xaf\",\"id\":\"" ID "\"}");         /* overlong */
    assert_refuses("{\"t\":\"\xed\xa0\x80\",\"id\":\"" ID "\"}");     /* surrogate */
    assert_refuses("{\"t\":\"\xf4\x90\x80\x80\",\"id\":\"" ID "\"}"); /* past U+10FFFF */
    assert_refuses("{\"t\":\"\\x41\",\"id\":\"" ID "\"}");            /* unknown escape */
    assert_refuses("{\"t\":\"\\u00g1\",\"id\":\"" ID "\"}");          /* not hex */
    assert_refuses("{\"t\":\"\\u0000\",\"id\":\"" ID "\"}");          /* NUL */
    assert_refuses("{\"t\":\"\\udc00\",\"id\":\"" ID "\"}");          /* lone surrogate */
    assert_refuses("{\"t\":\"a\tb\",\"id\":\"" ID "\"}");             /* raw control */
    assert_finds("{\"t\":\"\xc3\xa9\xf0\x9f\x98\x80\\n\\/\\u00e9\",\"id\":\"" ID "\"}");
}

/* The decoder keeps the last of two equal keys, and "\u0069d" is "id". */
Test(event_id, refuses_an_escaped_key_beside_a_plain_id)
{
    assert_refuses("{\"id\":\"" ID "\",\"\\u0069d\":\"" OTHER "\"}");
    assert_refuses("{\"\\u0069d\":\"" OTHER "\",\"id\":\"" ID "\"}");
}

Test(event_id, refuses_a_record_without_a_payload)
{
    char out[UUID_STR_LEN] = "untouched";
    cr_assert_eq(event_id_scan(NULL, 0, out), C_ERR);
    cr_assert_str_eq(out, "untouched");
}

Test(event_id, reads_only_the_given_length)
{
    const char *json = "{\"id\":\"" ID "\"}trailing";
    char out[UUID_STR_LEN];
    cr_assert_eq(event_id_scan(json, strlen(json) - strlen("trailing"), out), C_OK);
    cr_assert_str_eq(out, ID);
}

Test(event_id, refuses_nesting_deeper_than_it_tracks)
{
    char json[400];
    size_t k = 0;
    k += (size_t)snprintf(json + k, sizeof(json) - k, "{\"d\":");
    for (int i = 0; i < 70; i++)
        json[k++] = '[';
    for (int i = 0; i < 70; i++)
        json[k++] = ']';
    snprintf(json + k, sizeof(json) - k, ",\"id\":\"" ID "\"}");
    assert_refuses(json);
}
