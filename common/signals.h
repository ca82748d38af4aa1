/*
 * signals.h - the stop flag.
 *
 * SIGTERM or SIGINT sets the flag; the daemon's loop sees it, stops taking
 * work, drains and exits 0. A second signal exits at once (status 1), for an
 * operator whose shutdown is stuck.
 */
#ifndef COMMON_SIGNALS_H
#define COMMON_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

#include "err.h"

/* Installs the handlers for SIGTERM and SIGINT and ignores SIGPIPE. */
int signals_install(void) WARN_UNUSED;

/* True once a stop was asked for. */
bool signals_stopping(void);

/* Asks for a stop from inside the process (tests, fatal errors in threads). */
void signals_request_stop(void);

#endif
