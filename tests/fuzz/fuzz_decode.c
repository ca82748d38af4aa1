/*
 * libFuzzer harness for the event decoder: whatever the bytes, codec_decode
 * returns a value or ERR_INVALID, without crashing, leaking or reading out
 * of bounds, in either framing (a Confluent-framed record's id N names the
 * built-in schema N - 1, as a registry would; the confluent-*.bin seeds are
 * numbered so, schemas in file order). `make fuzz` runs it;
 * tests/run.sh replays the seed corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static int lookup(void *arg, int32_t id, char **text, char *errstr, size_t errstr_size)
{
	(void)arg;
	(void)errstr;
	(void)errstr_size;
	if (id < 1 || (size_t)id > codec_nbuiltin_schemas)
		return ERR_NOTFOUND;
	*text = strdup(codec_builtin_schemas[id - 1].text);
	return *text ? 0 : ERR_NOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct codec *codec;
	const char *type;
	json_t *value;
	char err[256];

	if (!codec) {
		if (codec_new(&codec, err, sizeof(err)) < 0)
			abort();
		codec_use_registry(codec, lookup, NULL);
	}
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
