/* Unit tests of the template service's domain rules (copied by make new-service). */
#include <criterion/criterion.h>
#include <string.h>

#include "template.h"

Test(template, accepts_an_event_that_names_an_order)
{
	json_t *ok = json_pack("{s:s}", "order_id", "o-1");
	json_t *empty = json_pack("{s:s}", "order_id", "");
	json_t *none = json_pack("{s:s}", "customer_id", "c");
	char why[128];

	cr_expect(template_accepts(ok, why, sizeof(why)));
	cr_expect_not(template_accepts(empty, why, sizeof(why)));
	cr_expect_not(template_accepts(none, why, sizeof(why)));
	cr_expect_str_eq(why, "the event has no order_id");
	json_decref(ok);
	json_decref(empty);
	json_decref(none);
}
