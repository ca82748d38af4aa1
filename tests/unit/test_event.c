/* Unit: event ids and metadata. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"

static void sleep_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};

	nanosleep(&ts, NULL);
}

Test(event, ids_are_version_7_uuids_that_sort_by_time)
{
	char a[40], b[40], c[40], hex[16];
	long long before = event_now_ms(), after, at;

	event_uuid(a);
	after = event_now_ms();
	sleep_ms(2);
	event_uuid(b);
	event_uuid(c);
	cr_assert_eq(strlen(a), 36);
	cr_expect(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-', "%s", a);
	cr_expect_eq(a[14], '7', "version nibble of %s", a);
	cr_expect(strchr("89ab", a[19]) != NULL, "variant of %s", a);
	/* The first 48 bits are the time in milliseconds. */
	snprintf(hex, sizeof(hex), "%.8s%.4s", a, a + 9);
	at = strtoll(hex, NULL, 16);
	cr_expect(at >= before && at <= after, "%s carries %lld, made in [%lld, %lld]", a, at,
	          before, after);
	cr_expect_lt(strcmp(a, b), 0, "%s made later sorts after %s", b, a);
	cr_expect_neq(strcmp(b, c), 0, "two ids in one millisecond differ");
}

Test(event, random_ids_are_version_4)
{
	char a[40], b[40];

	event_uuid_random(a);
	event_uuid_random(b);
	cr_expect_eq(a[14], '4', "%s", a);
	cr_expect_neq(strcmp(a, b), 0);
}
