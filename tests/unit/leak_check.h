/* Per-test leak checking for make unit-asan.
 *
 * LeakSanitizer normally reports at process exit, but Criterion has recorded
 * the test as passed by then and ignores the worker's exit status: a leak
 * would print a report and still leave the run green. Each suite therefore
 * runs the leak checker in its .fini (inside the test's worker process) and
 * fails the test when anything leaked. Without ASan it does nothing. */
#ifndef CAISSE_UNIT_LEAK_CHECK_H
#define CAISSE_UNIT_LEAK_CHECK_H

#include <criterion/criterion.h>

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNIT_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNIT_HAVE_LSAN 1
#endif
#endif

#ifdef UNIT_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static inline void unit_leak_check(void)
{
#ifdef UNIT_HAVE_LSAN
    if (__lsan_do_recoverable_leak_check() != 0)
        abort();
#endif
}

#endif
