#include "uuid.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "core/result.h"
#include "hex.h"

static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t uuid_last_ms;
static uint16_t uuid_last_seq; /* 12-bit rand_a used as a counter (RFC 9562, method 1) */

int uuid_v7_generate(struct uuid *out)
{
    uint8_t rnd[10];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return C_ERR;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;

    pthread_mutex_lock(&uuid_lock);
    uint16_t seq;
    if (ms <= uuid_last_ms) {
        /* Same millisecond, or the clock stepped back: keep ids increasing. */
        ms = uuid_last_ms;
        seq = (uint16_t)(uuid_last_seq + 1);
        if (seq > 0x0fff) {
            ms++;
            seq = (uint16_t)(rnd[0] & 0x07); /* leave room to count up */
        }
    } else {
        /* Random start, high bit clear, so a burst still has room to count. */
        seq = (uint16_t)(((rnd[0] << 8) | rnd[1]) & 0x07ff);
    }
    uuid_last_ms = ms;
    uuid_last_seq = seq;
    pthread_mutex_unlock(&uuid_lock);

    uint8_t *b = out->bytes;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | ((seq >> 8) & 0x0f));
    b[7] = (uint8_t)(seq & 0xff);
    b[8] = (uint8_t)(0x80 | (rnd[2] & 0x3f));
    memcpy(&b[9], &rnd[3], 7);
    return C_OK;
}

int uuid_parse(const char *text, struct uuid *out)
{
    if (text == NULL || strlen(text) != 36)
        return C_ERR;
    struct uuid u;
    int nibble = 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return C_ERR;
            continue;
        }
        int v = hex_digit_value(text[i]);
        if (v < 0)
            return C_ERR;
        if (nibble % 2 == 0)
            u.bytes[nibble / 2] = (uint8_t)(v << 4);
        else
            u.bytes[nibble / 2] |= (uint8_t)v;
        nibble++;
    }
    *out = u;
    return C_OK;
}

int uuid_is_valid(const char *text)
{
    struct uuid u;
    return uuid_parse(text, &u) == C_OK;
}

void uuid_format(const struct uuid *u, char out[UUID_STR_LEN])
{
    /* 8-4-4-4-12 digits: groups of 4, 2, 2, 2 and 6 bytes. */
    static const int group[] = {4, 2, 2, 2, 6};
    size_t pos = 0, byte = 0;
    for (size_t g = 0; g < sizeof(group) / sizeof(group[0]); g++) {
        if (g > 0)
            out[pos++] = '-';
        hex_encode(u->bytes + byte, (size_t)group[g], out + pos);
        pos += 2 * (size_t)group[g];
        byte += (size_t)group[g];
    }
}

int uuid_v7_string(char out[UUID_STR_LEN])
{
    struct uuid u;
    if (uuid_v7_generate(&u) != C_OK)
        return C_ERR;
    uuid_format(&u, out);
    return C_OK;
}

uint64_t uuid_v7_timestamp_ms(const struct uuid *u)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = (ms << 8) | u->bytes[i];
    return ms;
}

int uuid_version(const struct uuid *u)
{
    return u->bytes[6] >> 4;
}
