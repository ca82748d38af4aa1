/* Unit tests: Prometheus text rendering and backoff bounds. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics.h"

Test(metrics, renders_counters_gauges_grouped_by_name)
{
	struct metrics *m;
	char *text;
	size_t len;

	cr_assert_eq(metrics_new(&m), 0);
	struct metric *a =
	        metrics_counter(m, "saga_consumed_total", "events consumed", "topic=\"a\"");
	struct metric *g = metrics_gauge(m, "saga_backlog", "rows waiting", NULL);
	struct metric *b =
	        metrics_counter(m, "saga_consumed_total", "events consumed", "topic=\"b\"");
	cr_expect_eq(metrics_counter(m, "saga_consumed_total", "x", "topic=\"a\""), a,
	             "same name and labels give the same metric");
	metric_add(a, 3);
	metric_add(b, 1);
	metric_set(g, 42);
	metric_add(NULL, 1); /* harmless */
	cr_assert_eq(metrics_render(m, &text, &len), 0);
	cr_expect_str_eq(text, "# HELP saga_consumed_total events consumed\n"
	                       "# TYPE saga_consumed_total counter\n"
	                       "saga_consumed_total{topic=\"a\"} 3\n"
	                       "saga_consumed_total{topic=\"b\"} 1\n"
	                       "# HELP saga_backlog rows waiting\n"
	                       "# TYPE saga_backlog gauge\n"
	                       "saga_backlog 42\n");
	cr_expect_eq(len, strlen(text));
	free(text);
	metrics_free(m);
}

Test(metrics, histogram_buckets_are_cumulative)
{
	const double bounds[] = {0.01, 0.1};
	struct metrics *m;
	char *text;
	size_t len;

	cr_assert_eq(metrics_new(&m), 0);
	struct metric *h = metrics_histogram(m, "lat_seconds", "latency", NULL, bounds, 2);
	metric_observe(h, 0.005);
	metric_observe(h, 0.05);
	metric_observe(h, 0.05);
	metric_observe(h, 3);
	cr_assert_eq(metrics_render(m, &text, &len), 0);
	cr_expect(strstr(text, "lat_seconds_bucket{le=\"0.01\"} 1\n"), "%s", text);
	cr_expect(strstr(text, "lat_seconds_bucket{le=\"0.1\"} 3\n"), "%s", text);
	cr_expect(strstr(text, "lat_seconds_bucket{le=\"+Inf\"} 4\n"), "%s", text);
	cr_expect(strstr(text, "lat_seconds_sum 3.105000\n"), "%s", text);
	cr_expect(strstr(text, "lat_seconds_count 4\n"), "%s", text);
	free(text);
	metrics_free(m);
}

Test(daemon, backoff_stays_within_bounds_and_grows)
{
	int max_seen = 0;

	for (int i = 0; i < 200; i++) {
		int d0 = clock_backoff_ms(0, 100, 5000);
		int d5 = clock_backoff_ms(5, 100, 5000);
		int d20 = clock_backoff_ms(20, 100, 5000);

		cr_expect_eq(d0, 100);
		cr_expect(d5 >= 100 && d5 <= 3200, "attempt 5 gave %d", d5);
		cr_expect(d20 >= 100 && d20 <= 5000, "attempt 20 gave %d", d20);
		if (d20 > max_seen)
			max_seen = d20;
	}
	cr_expect_gt(max_seen, 1000, "jitter spreads over the range");
}
