/*
 * libFuzzer harness for the event decoder: whatever the bytes, codec_decode
 * returns a value or ERR_INVALID, without crashing, leaking or reading out
 * of bounds. `make fuzz` runs it; tests/run.sh replays the seed corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct codec *codec;
	const char *type;
	json_t *value;
	char err[256];

	if (!codec && codec_new(&codec, err, sizeof(err)) < 0)
		abort();
	if (codec_decode(codec, data, size, &type, &value, err, sizeof(err)) == 0) {
		/* Whatever decodes must encode again. */
		unsigned char *out;
		size_t len;

		if (codec_encode(codec, type, value, &out, &len, err, sizeof(err)) != 0)
			abort();
		free(out);
		json_decref(value);
	}
	return 0;
}
