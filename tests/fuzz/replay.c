/*
 * Replays fuzz inputs through a harness without libFuzzer, so every build
 * (gcc, sanitizers) checks the seed corpus and past crashes:
 *   fuzz-replay-decode tests/fuzz/corpus/decode/ *.bin
 * Prints "N passed, 0 failed"; a crash aborts the run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	int ran = 0;

	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf;
		long n;

		if (!f) {
			fprintf(stderr, "cannot open %s\n", argv[i]);
			return 2;
		}
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		buf = malloc(n > 0 ? (size_t)n : 1);
		if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
			fclose(f);
			free(buf);
			return 2;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)n);
		free(buf);
		ran++;
	}
	printf("fuzz-replay: %d passed, 0 failed\n", ran);
	return 0;
}
