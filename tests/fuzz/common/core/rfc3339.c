/* RFC 3339 parsing (common/core/rfc3339.c, rfc3339_parse) on any text, held
 * against a reading written out here with sscanf and timegm: the same texts
 * pass and give the same second. What passes and lies in years 0000..9999
 * formats back (rfc3339_format) to a text that parses to the same second.
 *
 * Input: the text (up to its first NUL). Dictionary: tests/fuzz/dict/rfc3339.dict. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../../fuzz_input.h"
#include "core/result.h"
#include "core/rfc3339.h"

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Epoch seconds of text per RFC 3339 section 5.6 (leap seconds refused, as
 * the API never shows one); false when it is not such a time. */
static bool reference_parse(const char *s, int64_t *out)
{
    size_t len = strlen(s);
    if (len < 20 || !all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) || s[7] != '-' ||
        !all_digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !all_digits(s + 11, 2) ||
        s[13] != ':' || !all_digits(s + 14, 2) || s[16] != ':' || !all_digits(s + 17, 2))
        return false;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y, mo, d, h, mi, sec;
    if (sscanf(s, "%4d-%2d-%2d%*c%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return false;
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        sec > 59)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        size_t digits = strspn(p + 1, "0123456789");
        if (digits == 0)
            return false;
        p += 1 + digits;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && all_digits(p + 1, 2) && p[3] == ':' &&
               all_digits(p + 4, 2)) {
        long oh = (p[1] - '0') * 10 + (p[2] - '0'), om = (p[4] - '0') * 10 + (p[5] - '0');
        if (oh > 23 || om > 59)
            return false;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - offset;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_input_strndup(data, size);
    int64_t got = INT64_MIN, want = INT64_MIN;
    int rc = rfc3339_parse(text, &got);
    bool valid = reference_parse(text, &want);
    FUZZ_CHECK((rc == C_OK) == valid, "\"%s\": parse %d, reference %d", text, rc, valid);
    if (valid) {
        FUZZ_CHECK(got == want, "\"%s\": %lld, reference %lld", text, (long long)got,
                   (long long)want);
        /* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z */
        if (got >= -62167219200LL && got <= 253402300799LL) {
            char back[RFC3339_LEN];
            rfc3339_format(got, back);
            int64_t again = INT64_MIN;
            FUZZ_CHECK(strlen(back) == RFC3339_LEN - 1 && rfc3339_parse(back, &again) == C_OK &&
                           again == got,
                       "\"%s\" formats as \"%s\"", text, back);
        }
    }
    free(text);
    return 0;
}
