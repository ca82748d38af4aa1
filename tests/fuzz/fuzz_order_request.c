/*
 * libFuzzer harness for the gateway's order validation: any body gets 0 or
 * 400 with a field and a reason, never a crash or a leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct order_limits limits = {"EUR,USD", 50, 1000};
	char field[64], detail[256];
	json_t *out = NULL;
	int rc = order_request_validate((const char *)data, size, &limits, &out, field,
	                                sizeof(field), detail, sizeof(detail));

	if ((rc == 0) != (out != NULL) || (rc != 0 && rc != 400))
		abort();
	json_decref(out);
	return 0;
}
