#include "err.h"

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
