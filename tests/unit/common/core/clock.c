/* The monotonic clock (common/core/clock.c). */
#include <criterion/criterion.h>

#include <time.h>

#include "core/clock.h"
#include "../../leak_check.h"

TestSuite(clock, .fini = unit_leak_check);

Test(clock, never_goes_back_and_units_agree)
{
    int64_t us = clock_now_us();
    int64_t ms = clock_now_ms();
    double s = clock_now_seconds();
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    cr_assert_geq(clock_now_us() - us, 2000);
    cr_assert_geq(clock_now_ms(), ms + 1);
    cr_assert_geq(clock_now_seconds(), s + 0.002);
    /* The same clock in three units: within a second of each other. */
    cr_assert_lt(clock_now_ms() - clock_now_us() / 1000, 1000);
    cr_assert_lt(clock_now_seconds() - (double)clock_now_ms() / 1000, 1.0);
}
