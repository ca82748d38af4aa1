/*
 * topics - creates the topics listed in a file (deploy/topics.conf) through
 * librdkafka's admin API. Topics that exist already are left alone, so it is
 * safe to run again.
 *
 *   KAFKA_BOOTSTRAP=127.0.0.1:19092 KAFKA_PARTITIONS=6 topics deploy/topics.conf
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

#define MAX_TOPICS  64
#define MAX_CONFIGS 8

struct topics_cfg {
	char *bootstrap;
	long partitions;
	long replication;
	long timeout_ms;
};

static const struct config_var vars[] = {
        CONFIG_STR("KAFKA_BOOTSTRAP", "127.0.0.1:19092", struct topics_cfg, bootstrap,
                   "Kafka bootstrap servers"),
        CONFIG_INT("KAFKA_PARTITIONS", "6", 1, 1000, struct topics_cfg, partitions,
                   "partitions of each new topic"),
        CONFIG_INT("KAFKA_REPLICATION", "1", 1, 10, struct topics_cfg, replication,
                   "replication factor of each new topic"),
        CONFIG_INT("TOPICS_TIMEOUT_MS", "30000", 1000, 600000, struct topics_cfg, timeout_ms,
                   "how long to wait for the cluster"),
};

struct topic_line {
	char name[250];
	char conf[MAX_CONFIGS][2][128];
	int nconf;
};

/* Parses one non-comment line; returns 1 for a topic, 0 for a blank line, -1 when bad. */
static int parse_line(char *line, struct topic_line *t)
{
	char *save = NULL;
	char *tok = strtok_r(line, " \t\r\n", &save);

	memset(t, 0, sizeof(*t));
	if (!tok || tok[0] == '#')
		return 0;
	if (strlen(tok) >= sizeof(t->name))
		return -1;
	memcpy(t->name, tok, strlen(tok) + 1);
	while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq || t->nconf == MAX_CONFIGS || (size_t)(eq - tok) >= 128 ||
		    strlen(eq + 1) >= 128)
			return -1;
		*eq = '\0';
		snprintf(t->conf[t->nconf][0], 128, "%s", tok);
		snprintf(t->conf[t->nconf][1], 128, "%s", eq + 1);
		t->nconf++;
	}
	return 1;
}

static int read_topics(const char *path, struct topic_line *topics, int *n)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int lineno = 0;

	*n = 0;
	if (!f) {
		LOG(ERROR, "could not open topics file \"%s\"", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		int rc;

		lineno++;
		if (*n == MAX_TOPICS) {
			LOG(ERROR, "%s: more than %d topics", path, MAX_TOPICS);
			fclose(f);
			return -1;
		}
		rc = parse_line(line, &topics[*n]);
		if (rc < 0) {
			LOG(ERROR, "%s:%d: invalid line", path, lineno);
			fclose(f);
			return -1;
		}
		*n += rc;
	}
	fclose(f);
	return 0;
}

static int create_topics(rd_kafka_t *rk, const struct topics_cfg *cfg,
                         const struct topic_line *topics, int n)
{
	rd_kafka_NewTopic_t *nt[MAX_TOPICS] = {0};
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opts =
	        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **results;
	char errstr[512];
	size_t nres = 0;
	int failed = 0;

	rd_kafka_AdminOptions_set_operation_timeout(opts, (int)cfg->timeout_ms, errstr,
	                                            sizeof(errstr));
	rd_kafka_AdminOptions_set_request_timeout(opts, (int)cfg->timeout_ms, errstr,
	                                          sizeof(errstr));
	for (int i = 0; i < n; i++) {
		nt[i] = rd_kafka_NewTopic_new(topics[i].name, (int)cfg->partitions,
		                              (int)cfg->replication, errstr, sizeof(errstr));
		if (!nt[i]) {
			LOG(ERROR, "invalid topic \"%s\": %s", topics[i].name, errstr);
			failed = 1;
			goto out;
		}
		for (int c = 0; c < topics[i].nconf; c++)
			rd_kafka_NewTopic_set_config(nt[i], topics[i].conf[c][0],
			                             topics[i].conf[c][1]);
	}
	rd_kafka_CreateTopics(rk, nt, (size_t)n, opts, q);
	ev = rd_kafka_queue_poll(q, (int)cfg->timeout_ms + 5000);
	if (!ev || rd_kafka_event_error(ev)) {
		LOG(ERROR, "could not create topics: %s",
		    ev ? rd_kafka_event_error_string(ev) : "timed out");
		failed = 1;
		goto out;
	}
	res = rd_kafka_event_CreateTopics_result(ev);
	results = rd_kafka_CreateTopics_result_topics(res, &nres);
	for (size_t i = 0; i < nres; i++) {
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
		const char *name = rd_kafka_topic_result_name(results[i]);

		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			printf("created topic %s\n", name);
		} else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			printf("topic %s exists\n", name);
		} else {
			LOG(ERROR, "could not create topic \"%s\": %s", name,
			    rd_kafka_topic_result_error_string(results[i]));
			failed = 1;
		}
	}
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	for (int i = 0; i < n; i++)
		rd_kafka_NewTopic_destroy(nt[i]);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	static struct topic_line topics[MAX_TOPICS];
	struct topics_cfg cfg = {0};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	char errstr[512];
	int n = 0;
	int rc = 1;

	log_init("topics", LOG_LEVEL_INFO);
	daemon_load_config(&cfg, vars, sizeof(vars) / sizeof(vars[0]), argc, argv);
	if (argc != 2) {
		fprintf(stderr, "usage: %s TOPICS_FILE\n", argv[0]);
		goto out;
	}
	if (read_topics(argv[1], topics, &n) < 0)
		goto out;
	if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg.bootstrap, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK) {
		LOG(ERROR, "KAFKA_BOOTSTRAP: %s", errstr);
		goto out;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		LOG(ERROR, "could not create the kafka client: %s", errstr);
		goto out;
	}
	conf = NULL;
	rc = create_topics(rk, &cfg, topics, n) < 0 ? 1 : 0;
	rd_kafka_destroy(rk);
out:
	if (conf)
		rd_kafka_conf_destroy(conf);
	config_release(&cfg, vars, sizeof(vars) / sizeof(vars[0]));
	return rc;
}
