#include "utf8.h"

#include <string.h>

/* The length of the UTF-8 sequence at s, or 0 when none starts there; reads
 * no further than a byte that ends it (the NUL at the end included). */
static size_t sequence(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, lo = s[0] == 0xE0 ? 0xA0 : 0x80, hi = s[0] == 0xED ? 0x9F : 0xBF;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, lo = s[0] == 0xF0 ? 0x90 : 0x80, hi = s[0] == 0xF4 ? 0x8F : 0xBF;
	else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = sequence(p);

		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

bool utf8_within(const char *s, size_t max)
{
	size_t bytes = strlen(s);

	return bytes > 0 && bytes <= 4 * max && utf8_chars(s) <= max;
}

void utf8_mend(char *text)
{
	unsigned char *s = (unsigned char *)text;

	while (*s) {
		size_t n = sequence(s);

		if (n == 0)
			*s++ = '?';
		else
			s += n;
	}
}
