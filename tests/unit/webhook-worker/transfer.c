/* The response body's two caps: what is kept for the attempt log
 * (TRANSFER_BODY_MAX) and what is read at all before the connection is
 * closed (CAISSE_WEBHOOK_RESPONSE_MAX_BYTES), decided chunk by chunk. */
#include <criterion/criterion.h>

#include <stdint.h>

#include "../../../webhook-worker/transfer.h"
#include "../leak_check.h"

TestSuite(transfer, .fini = unit_leak_check);

Test(transfer, a_body_under_both_caps_is_read_and_kept_whole)
{
    size_t keep = 99;
    cr_assert(transfer_body_step(0, 0, 100, 20000, 65536, &keep));
    cr_assert_eq(keep, 100);
}

Test(transfer, past_the_kept_bytes_the_body_is_read_and_dropped)
{
    size_t keep = 99;
    cr_assert(transfer_body_step(19990, 19990, 100, 20000, 65536, &keep));
    cr_assert_eq(keep, 10, "only the room left is kept");
    cr_assert(transfer_body_step(20000, 30000, 100, 20000, 65536, &keep));
    cr_assert_eq(keep, 0);
}

Test(transfer, a_chunk_that_would_pass_the_read_cap_stops_the_transfer)
{
    size_t keep = 99;
    cr_assert(transfer_body_step(20000, 65000, 536, 20000, 65536, &keep),
              "exactly the cap is still read");
    cr_assert_not(transfer_body_step(20000, 65000, 537, 20000, 65536, &keep));
    cr_assert_eq(keep, 0, "nothing of a refused chunk is kept");
    cr_assert_not(transfer_body_step(0, 0, 1, 20000, 0, &keep), "a cap of 0 reads no body");
}

Test(transfer, huge_sizes_do_not_overflow_the_comparison)
{
    size_t keep = 99;
    cr_assert_not(transfer_body_step(0, 10, SIZE_MAX - 5, 20000, 65536, &keep));
    cr_assert_not(transfer_body_step(0, SIZE_MAX, 1, 20000, 65536, &keep));
}
