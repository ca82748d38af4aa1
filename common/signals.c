#include "signals.h"

#include <string.h>
#include <unistd.h>

/* The only global: written by the signal handler, read by the loops. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	if (stop_requested)
		_exit(1);
	stop_requested = 1;
}

int signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return ERR_FATAL;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return ERR_FATAL;
	return 0;
}

bool signals_stopping(void)
{
	return stop_requested != 0;
}

void signals_request_stop(void)
{
	stop_requested = 1;
}
