/*
 * utf8.h - UTF-8 text as the HTTP API meets it: lengths in characters (as
 * JSON Schema's maxLength counts them), whether bytes a client sent are
 * UTF-8 at all, and mending text to quote it in JSON.
 */
#ifndef COMMON_UTF8_H
#define COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s is UTF-8 (RFC 3629: no overlong form, no surrogate, nothing
 * past U+10FFFF). */
bool utf8_valid(const char *s);

/* The characters of the UTF-8 text s: its bytes that do not continue a
 * character (of text that is not UTF-8, a count no larger than its bytes). */
size_t utf8_chars(const char *s);

/* Whether s holds 1 to max characters in at most four bytes each: the
 * API's limits (docs/openapi.yaml's minLength 1 and maxLength), which also
 * bound the bytes of text that is not UTF-8. */
bool utf8_within(const char *s, size_t max);

/* Makes text UTF-8 in place: each byte that starts no sequence, such as
 * one of a character cut off at the end, becomes '?'. */
void utf8_mend(char *text);

#endif
