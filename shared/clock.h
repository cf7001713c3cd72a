/* The two clocks the daemons read: monotonic for intervals and timeouts,
 * wall for what outlives the process (expiries, sequences, logs).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_CLOCK_H
#define GLB_CLOCK_H

#include <stdint.h>

/* Seconds on the monotonic clock. */
double glb_mono(void);

/* Seconds since the Unix epoch. */
double glb_wall(void);

/* Milliseconds since the Unix epoch. */
uint64_t glb_wall_ms(void);

#endif
