/*
 * err.h - the project's error codes.
 *
 * Every function that can fail returns 0 or one of these negative values.
 * The caller decides from the code alone whether trying again can help
 * (err_is_retriable); the human-readable reason travels separately, in an
 * errstr buffer or the log.
 */
#ifndef COMMON_ERR_H
#define COMMON_ERR_H

#include <stdbool.h>
#include <stddef.h>

enum err {
	ERR_OK = 0,
	ERR_RETRY = -1,    /* transient: a server is away or busy; try again */
	ERR_INVALID = -2,  /* bad input: retrying the same thing cannot help */
	ERR_NOTFOUND = -3, /* the thing asked for does not exist */
	ERR_CONFLICT = -4, /* the request contradicts stored state */
	ERR_NOMEM = -5,    /* out of memory */
	ERR_FATAL = -6,    /* anything else that cannot be recovered here */
};

#define WARN_UNUSED __attribute__((warn_unused_result))

/* Static name of an error code, e.g. "retry". Never NULL. */
const char *err_name(int err);

/* Formats a reason into a caller's errstr buffer (NULL or size 0: nothing). */
void err_format(char *errstr, size_t errstr_size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static inline bool err_is_retriable(int err)
{
	return err == ERR_RETRY;
}

#endif
