/* batch_consumer_retry: batch_loop's retry with the service's own stop flag
 * (the one SIGTERM raises), as the workers' apply functions call it. The
 * loop itself is tests/unit/common/infra/batch_loop.c's, with a fake source. */
#include <criterion/criterion.h>

#include "core/result.h"
#include "infra/batch_consumer.h"
#include "infra/service.h"
#include "../../leak_check.h"

TestSuite(batch_consumer, .fini = unit_leak_check);

static int attempts;

static int fails_once(void *ctx)
{
    (void)ctx;
    return ++attempts == 1 ? C_ERR : C_OK;
}

static int always_fails(void *ctx)
{
    (void)ctx;
    attempts++;
    return C_ERR;
}

Test(batch_consumer, retry_tries_again_after_a_failure)
{
    cr_assert_eq(batch_consumer_retry(fails_once, NULL, NULL, "apply batch", 1), C_OK);
    cr_assert_eq(attempts, 2);
}

Test(batch_consumer, retry_gives_up_once_the_service_is_stopping)
{
    service_request_stop();
    cr_assert_eq(batch_consumer_retry(always_fails, NULL, NULL, "apply batch", 1), C_ERR);
    cr_assert_eq(attempts, 1);
}
