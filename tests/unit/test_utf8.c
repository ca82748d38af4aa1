/* Unit: UTF-8 text as the HTTP API meets it (common/utf8.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "utf8.h"

Test(utf8, characters_are_counted_as_json_schema_counts_them)
{
	cr_expect_eq(utf8_chars(""), 0);
	cr_expect_eq(utf8_chars("abc"), 3);
	/* 1, 2, 3 and 4 bytes: "a", "ü", "€", an emoji. */
	cr_expect_eq(utf8_chars("a\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80"), 4);
}

Test(utf8, within_a_limit_is_one_to_max_characters_of_at_most_four_bytes)
{
	cr_expect(utf8_within("\xE2\x82\xAC\xE2\x82\xAC", 2));
	cr_expect_not(utf8_within("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", 2));
	cr_expect_not(utf8_within("", 2));
	/* Bytes that continue nothing count as no character: the bytes bound them. */
	cr_expect_not(utf8_within("\x80\x80\x80\x80\x80\x80\x80\x80\x80", 2));
}

Test(utf8, only_rfc_3629_sequences_are_utf8)
{
	cr_expect(utf8_valid(""));
	cr_expect(utf8_valid("a\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80"));
	cr_expect(utf8_valid("\xF4\x8F\xBF\xBF"), "U+10FFFF");
	cr_expect_not(utf8_valid("\xFF"));
	cr_expect_not(utf8_valid("\x80"), "a continuation byte alone");
	cr_expect_not(utf8_valid("\xC0\xAF"), "an overlong '/'");
	cr_expect_not(utf8_valid("\xE0\x80\xAF"), "an overlong '/' in three bytes");
	cr_expect_not(utf8_valid("\xED\xA0\x80"), "a surrogate");
	cr_expect_not(utf8_valid("\xF4\x90\x80\x80"), "past U+10FFFF");
	cr_expect_not(utf8_valid("\xE2\x82"), "a character cut off");
}

Test(utf8, mending_turns_each_stray_byte_into_a_question_mark)
{
	char text[] = "a\x80"
	              "b\xE2\x82"
	              "c\xC0\xAF"
	              "d\xED\xA0\x80"
	              "e\xC3\xA9";

	utf8_mend(text);
	cr_expect_str_eq(text, "a?b??c??d???e\xC3\xA9");
	cr_expect(utf8_valid(text));
}
