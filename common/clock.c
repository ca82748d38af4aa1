#include "clock.h"

#include <stdlib.h>
#include <time.h>

#include "signals.h"

static int64_t read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
	return read_ms(CLOCK_MONOTONIC);
}

int64_t clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_wall_ms(void)
{
	return read_ms(CLOCK_REALTIME);
}

void clock_sleep_ms(int ms)
{
	while (ms > 0 && !signals_stopping()) {
		int step = ms < 250 ? ms : 250; /* a stop waits at most this long */
		struct timespec ts = {0, (long)step * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

int clock_backoff_ms(int attempt, int base_ms, int cap_ms)
{
	long ceiling = base_ms;

	for (int i = 0; i < attempt && ceiling < cap_ms; i++)
		ceiling *= 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	if (ceiling <= base_ms)
		return base_ms;
	return base_ms + (int)((unsigned long)rand() % (unsigned long)(ceiling - base_ms + 1));
}

void clock_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

void clock_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t at_ms)
{
	struct timespec at = {(time_t)(at_ms / 1000), (long)(at_ms % 1000) * 1000000L};

	pthread_cond_timedwait(cond, lock, &at);
}
