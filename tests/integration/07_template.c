/*
 * Integration test of the template service (copied by make new-service): it
 * applies a consumed event once, records it, and emits its own event.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "support.h"

#define SERVICE "template"
#define EMITS   "NotificationSent"
#define PORT    19196

Test(template, applies_an_event_once_and_emits_its_own, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	const char *bootstrap = support_env("KAFKA_BOOTSTRAP");
	char in[128], out[128], group[128], dlq[160], id[40], order[64], sql[256];
	struct service_proc t;
	unsigned char *v;
	size_t len;
	json_t *emitted;

	support_unique(in, sizeof(in), "it-" SERVICE "-in");
	support_unique(out, sizeof(out), "it-" SERVICE "-out");
	support_unique(group, sizeof(group), "it-" SERVICE);
	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	support_create_topic(bootstrap, in, 1);
	support_create_topic(bootstrap, out, 1);
	support_create_topic(bootstrap, dlq, 1);
	support_service_start(&t, SERVICE, db, PORT, group, in, EMITS, out, NULL);
	support_unique(order, sizeof(order), "tmpl");
	v = support_encode_event(support_codec(), order, id, &len);
	support_produce(bootstrap, in, order, v, len);
	support_produce(bootstrap, in, order, v, len); /* a duplicate */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s_effects WHERE event_id = $1", SERVICE);
	cr_expect_eq(support_db_wait(db, sql, (const char *[]){id, NULL}, 1, 30000), 1);
	emitted = support_read_topic(bootstrap, out, 1, 30000);
	cr_assert_eq(json_array_size(emitted), 1, "no " EMITS " on %s", out);
	cr_expect_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(json_array_get(emitted, 0), "headers"), "event-type")),
	        EMITS);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(emitted, 0), "key")),
	                 order);
	cr_expect_eq(support_db_value(db, sql, (const char *[]){id, NULL}), 1,
	             "the duplicate had an effect");
	json_decref(emitted);
	support_service_stop(&t);
	free(v);
}
