#include "rfc3339.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/result.h"

/* The times the format can write: years 0000 to 9999. */
#define RFC3339_FIRST (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define RFC3339_LAST 253402300799LL    /* 9999-12-31T23:59:59Z */

/* The civil date of a day count from 1970-01-01 (proleptic Gregorian): the
 * inverse of rfc3339_days_from_civil. */
static void rfc3339_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void rfc3339_put(char *out, int64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void rfc3339_format(int64_t epoch_seconds, char out[RFC3339_LEN])
{
    /* Arithmetic rather than gmtime_r and strftime, which cost most of the
     * time of writing an event (four times each). Other years than 0000 to
     * 9999 do not fit the format; they never occur in a valid session. Four
     * digits always: strftime's %Y wrote year 999 as "999", which no RFC 3339
     * reader (rfc3339_parse included) takes. */
    if (epoch_seconds < RFC3339_FIRST)
        epoch_seconds = RFC3339_FIRST;
    if (epoch_seconds > RFC3339_LAST)
        epoch_seconds = RFC3339_LAST;
    int64_t days = epoch_seconds / 86400, secs = epoch_seconds % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    rfc3339_civil_from_days(days, &y, &m, &d);
    memcpy(out, "0000-00-00T00:00:00Z", RFC3339_LEN);
    rfc3339_put(out, y, 4);
    rfc3339_put(out + 5, m, 2);
    rfc3339_put(out + 8, d, 2);
    rfc3339_put(out + 11, secs / 3600, 2);
    rfc3339_put(out + 14, secs / 60 % 60, 2);
    rfc3339_put(out + 17, secs % 60, 2);
}

json_t *rfc3339_to_json(int64_t epoch_seconds)
{
    char buf[RFC3339_LEN];
    rfc3339_format(epoch_seconds, buf);
    return json_string(buf);
}

int64_t rfc3339_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t rfc3339_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rfc3339_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return C_ERR;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return C_OK;
}

/* Days from 1970-01-01 to the given civil date (proleptic Gregorian). */
static int64_t rfc3339_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int rfc3339_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

int rfc3339_parse(const char *s, int64_t *epoch_seconds)
{
    int y, mo, d, h, mi, sec;
    if (s == NULL || strlen(s) < 20)
        return C_ERR;
    if (rfc3339_digits(s, 4, &y) || s[4] != '-' || rfc3339_digits(s + 5, 2, &mo) || s[7] != '-' ||
        rfc3339_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        rfc3339_digits(s + 11, 2, &h) || s[13] != ':' || rfc3339_digits(s + 14, 2, &mi) ||
        s[16] != ':' || rfc3339_digits(s + 17, 2, &sec))
        return C_ERR;
    if (mo < 1 || mo > 12 || d < 1 || d > rfc3339_days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return C_ERR;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return C_ERR;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (rfc3339_digits(p + 1, 2, &oh) || p[3] != ':' || rfc3339_digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return C_ERR;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return C_ERR;
    }
    if (*p != '\0')
        return C_ERR;
    *epoch_seconds = rfc3339_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    return C_OK;
}
