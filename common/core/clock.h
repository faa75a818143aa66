/* Time for measuring and waiting: CLOCK_MONOTONIC, which never jumps with NTP
 * or a changed wall clock (wall-clock times are rfc3339's). */
#ifndef CAISSE_CLOCK_H
#define CAISSE_CLOCK_H

#include <stdint.h>

int64_t clock_now_us(void);
int64_t clock_now_ms(void);
double clock_now_seconds(void);

#endif
