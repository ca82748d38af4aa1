#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *err_name(int err)
{
	switch (err) {
	case ERR_OK: return "ok";
	case ERR_RETRY: return "retry";
	case ERR_INVALID: return "invalid";
	case ERR_NOTFOUND: return "not found";
	case ERR_CONFLICT: return "conflict";
	case ERR_NOMEM: return "out of memory";
	case ERR_FATAL: return "fatal";
	}
	return "unknown error";
}

void err_format(char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list ap;

	if (!errstr || !errstr_size)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr, errstr_size, fmt, ap);
	va_end(ap);
}
