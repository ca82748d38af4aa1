/*
 * Integration test of the template service as it runs in the stack (copied
 * by make new-service): an event of a type in its handler table, produced
 * to that type's topic, is applied once, recorded, and causes the event the
 * service emits, published through its outbox.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "event.h"
#include "support.h"

#define SERVICE  "template"
#define CONSUMES "OrderCompleted"
#define EMITS    "NotificationSent"
#define PORT     19196

/* An event of type CONSUMES about order, encoded; event_id (37 bytes) gets its id. */
static unsigned char *consumed_event(const char *order, char *event_id, size_t *len)
{
	json_t *from = json_pack("{s:s}", "order_id", order);
	json_t *rec = codec_record_from(support_codec(), CONSUMES, from);
	unsigned char *out = NULL;
	char why[256];

	cr_assert_not_null(rec, "no schema for %s", CONSUMES);
	json_object_set_new(rec, "metadata", event_metadata("it", NULL, order, NULL));
	snprintf(event_id, 37, "%s", event_meta(rec, "event_id"));
	cr_assert_eq(codec_encode(support_codec(), CONSUMES, rec, &out, len, why, sizeof(why)), 0,
	             "%s", why);
	json_decref(rec);
	json_decref(from);
	return out;
}

Test(template, applies_an_event_once_and_emits_its_own, .timeout = 120)
{
	const char *db = support_env("TEST_DATABASE_URL");
	const char *topic = codec_topic(support_codec(), CONSUMES);
	char group[128], dlq[160], group_setting[160], id[40], order[64], sql[256], line[256];
	/* A group of its own that starts at the end: only this test's events. */
	const char *extra[] = {group_setting, "CONSUMER_START_AT_END=true", NULL};
	struct service_proc t;
	unsigned char *v;
	size_t len;
	long long lag = -1;

	cr_assert_not_null(topic, "%s has no topic", CONSUMES);
	support_unique(group, sizeof(group), "it-" SERVICE);
	snprintf(group_setting, sizeof(group_setting), "CONSUMER_GROUP=%s", group);
	snprintf(dlq, sizeof(dlq), "dlq.%s", group);
	support_create_topic(dlq, 1);
	support_daemon_start(&t, SERVICE, db, PORT, extra);
	/* Its partitions are assigned once it reports their lag. */
	snprintf(line, sizeof(line),
	         "saga_consumer_lag{group=\"%s\",topic=\"%s\",partition=\"0\"} ", group, topic);
	for (int i = 0; i < 300 && lag < 0; i++) {
		lag = support_metric(PORT, line);
		if (lag < 0)
			usleep(100 * 1000);
	}
	cr_assert_geq(lag, 0, "%s never got its partitions of %s", SERVICE, topic);
	support_unique(order, sizeof(order), "tmpl");
	v = consumed_event(order, id, &len);
	support_produce(topic, order, v, len);
	support_produce(topic, order, v, len); /* a duplicate */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s_effects WHERE event_id = $1", SERVICE);
	cr_expect_eq(support_db_wait(db, sql, (const char *[]){id, NULL}, 1, 30000), 1);
	if (EMITS[0]) {
		long long published = 0;

		snprintf(line, sizeof(line), "saga_outbox_published_total{service=\"%s\"} ",
		         SERVICE);
		for (int i = 0; i < 300 && published < 1; i++) {
			published = support_metric(PORT, line);
			if (published < 1)
				usleep(100 * 1000);
		}
		cr_expect_geq(published, 1, "no " EMITS " was published");
	}
	cr_expect_eq(support_db_value(db, sql, (const char *[]){id, NULL}), 1,
	             "the duplicate had an effect");
	support_service_stop(&t);
	free(v);
}
