/* Unit: the rights file's lines (common/acl.c), without a broker. */
#include <criterion/criterion.h>
#include <string.h>

#include "acl.h"

static bool has(const struct acl_set *s, rd_kafka_ResourceType_t type, const char *name,
                const char *principal, rd_kafka_AclOperation_t op)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rules[i].type == type && s->rules[i].operation == op &&
		    !strcmp(s->rules[i].name, name) && !strcmp(s->rules[i].principal, principal))
			return true;
	return false;
}

Test(acl, a_line_grants_its_topics_its_dead_letters_and_its_group)
{
	struct acl_set s = {0};
	char why[256];

	cr_assert_eq(acl_parse_line(&s, "# a comment\n", why, sizeof(why)), 0);
	cr_assert_eq(acl_parse_line(&s, "   \n", why, sizeof(why)), 0);
	cr_assert_eq(acl_parse_line(&s, "inventory inventory-events,product-catalog order-events\n",
	                            why, sizeof(why)),
	             0, "%s", why);
	cr_expect_eq(s.nprincipals, 1);
	cr_expect_str_eq(s.principals[0], "User:inventory");
	cr_expect_eq(s.n, 5, "%zu rules", s.n);
	cr_expect(has(&s, RD_KAFKA_RESOURCE_TOPIC, "inventory-events", "User:inventory",
	              RD_KAFKA_ACL_OPERATION_WRITE));
	cr_expect(has(&s, RD_KAFKA_RESOURCE_TOPIC, "product-catalog", "User:inventory",
	              RD_KAFKA_ACL_OPERATION_WRITE));
	cr_expect(has(&s, RD_KAFKA_RESOURCE_TOPIC, "dlq.inventory", "User:inventory",
	              RD_KAFKA_ACL_OPERATION_WRITE));
	cr_expect(has(&s, RD_KAFKA_RESOURCE_TOPIC, "order-events", "User:inventory",
	              RD_KAFKA_ACL_OPERATION_READ));
	cr_expect(has(&s, RD_KAFKA_RESOURCE_GROUP, "inventory", "User:inventory",
	              RD_KAFKA_ACL_OPERATION_READ));
	cr_expect_not(has(&s, RD_KAFKA_RESOURCE_TOPIC, "order-events", "User:inventory",
	                  RD_KAFKA_ACL_OPERATION_WRITE));
	cr_assert_eq(acl_parse_line(&s, "audit - order-events,order-events\n", why, sizeof(why)),
	             0);
	cr_expect_eq(s.n, 5 + 3, "a repeated topic is one rule (%zu)", s.n);
	acl_set_release(&s);
}

Test(acl, malformed_lines_are_refused_with_the_reason)
{
	static const char *const bad[] = {
	        "order order-events",                        /* no reads */
	        "order order-events order-events extra",     /* a fourth word */
	        "Order! order-events order-events",          /* not a name */
	        "order order-events,bad/topic order-events", /* not a topic */
	};
	struct acl_set s = {0};
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		cr_expect_eq(acl_parse_line(&s, bad[i], why, sizeof(why)), ERR_INVALID, "%s",
		             bad[i]);
		cr_expect_neq(why[0], '\0', "no reason for \"%s\"", bad[i]);
	}
	cr_assert_eq(acl_parse_line(&s, "order order-events order-requests", why, sizeof(why)), 0);
	cr_expect_eq(acl_parse_line(&s, "order - order-requests", why, sizeof(why)), ERR_INVALID,
	             "two lines for one principal");
	cr_expect(strstr(why, "two lines"), "%s", why);
	acl_set_release(&s);
}
