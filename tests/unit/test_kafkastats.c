/* Unit tests: Kafka request counters from librdkafka's statistics documents. */
#include <criterion/criterion.h>

#include "kafkastats.h"
#include "metrics.h"

static int64_t requests(struct metrics *m, const char *api)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "api=\"%s\"", api);
	return metric_value(metrics_counter(m, "saga_kafka_requests_total", "", labels));
}

/* A statistics document with every broker handle's Fetch and Produce counts. */
static void report(const rd_kafka_t *rk, int fetch1, int fetch2, int produce)
{
	char json[512];
	int n = snprintf(
	        json, sizeof(json),
	        "{\"name\":\"c#consumer-1\",\"brokers\":{"
	        "\"sasl_plaintext://127.0.0.1:19092/1\":{\"req\":{\"Fetch\":%d,"
	        "\"Produce\":%d,\"ApiVersion\":3}},"
	        "\"sasl_plaintext://127.0.0.1:19092/bootstrap\":{\"req\":{\"Fetch\":%d}}}}",
	        fetch1, produce, fetch2);

	kafka_stats_apply(rk, json, (size_t)n);
}

Test(kafkastats, counts_what_each_client_sent_since_its_last_report)
{
	struct metrics *m;
	int slots[2]; /* two clients: only their addresses matter */
	const rd_kafka_t *a = (const rd_kafka_t *)&slots[0], *b = (const rd_kafka_t *)&slots[1];

	cr_assert_eq(metrics_new(&m), 0);
	kafka_stats_attach(m);
	report(a, 10, 2, 5);
	cr_expect_eq(requests(m, "Fetch"), 12, "every broker handle's requests add up");
	cr_expect_eq(requests(m, "Produce"), 5);
	report(a, 30, 2, 5);
	cr_expect_eq(requests(m, "Fetch"), 32, "a later report adds only the difference");
	report(b, 1, 0, 0);
	cr_expect_eq(requests(m, "Fetch"), 33, "another client's count adds to the process's");
	report(a, 4, 0, 1);
	cr_expect_eq(requests(m, "Fetch"), 37, "a count below the last is a new client's");
	cr_expect_eq(requests(m, "Produce"), 6);
	cr_expect_eq(requests(m, "OffsetCommit"), 0, "a kind not in the document stays 0");
	kafka_stats_apply(a, "not json", 8);
	cr_expect_eq(requests(m, "Fetch"), 37, "a document that does not parse changes nothing");
	report(a, 5, 0, 1);
	cr_expect_eq(requests(m, "Fetch"), 38, "nor the next report's difference");
	metrics_free(m);
}

Test(kafkastats, a_client_config_reports_only_once_attached)
{
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char value[32];
	size_t size = sizeof(value);
	struct metrics *m;

	cr_assert_eq(kafka_stats_enable(conf, errstr, sizeof(errstr)), 0);
	cr_assert_eq(rd_kafka_conf_get(conf, "statistics.interval.ms", value, &size),
	             RD_KAFKA_CONF_OK);
	cr_expect_str_eq(value, "0", "no statistics before kafka_stats_attach");
	cr_assert_eq(metrics_new(&m), 0);
	kafka_stats_attach(m);
	cr_assert_eq(kafka_stats_enable(conf, errstr, sizeof(errstr)), 0);
	size = sizeof(value);
	cr_assert_eq(rd_kafka_conf_get(conf, "statistics.interval.ms", value, &size),
	             RD_KAFKA_CONF_OK);
	cr_expect_str_eq(value, KAFKA_STATS_INTERVAL_MS);
	rd_kafka_conf_destroy(conf);
	metrics_free(m);
}
