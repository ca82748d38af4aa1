/*
 * clock.h - time, two kinds of it.
 *
 * Spans and deadlines (timeouts, backoff, batch gathering, timers) use the
 * monotonic clock, which never jumps when the wall clock is set. Only
 * timestamps that leave the process (an event's occurred_at, a log line)
 * use the wall clock.
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <pthread.h>
#include <stdint.h>

/* Milliseconds and microseconds on the monotonic clock: for spans only. */
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);

/* Milliseconds since the Unix epoch on the wall clock: for timestamps only. */
int64_t clock_wall_ms(void);

/* Sleeps up to ms milliseconds, waking early when a stop is asked for
 * (signals.h). */
void clock_sleep_ms(int ms);

/* A condition variable whose timed waits run on the monotonic clock. */
void clock_cond_init(pthread_cond_t *cond);
/* Waits on cond until signalled or until the monotonic time at_ms. */
void clock_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t at_ms);

/* Exponential backoff with full jitter: a delay in [base, min(cap, base*2^attempt)]. */
int clock_backoff_ms(int attempt, int base_ms, int cap_ms);

#endif
