/* One result convention for the whole project (as in Redis): functions that can
 * fail for expected reasons return C_OK or C_ERR and leave the caller's state
 * unchanged on C_ERR. Impossible states are assert()s, not error codes. */
#ifndef CAISSE_RESULT_H
#define CAISSE_RESULT_H

#define C_OK 0
#define C_ERR -1

#endif
