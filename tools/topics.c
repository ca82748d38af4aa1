/*
 * topics - creates the topics listed in a file (deploy/topics.conf) and,
 * given the services' manifest (deploy/services.conf), each service's
 * dead-letter topic dlq.<name>, through librdkafka's admin API; given the
 * rights file (deploy/kafka-acls.conf), it then makes the services'
 * principals' ACLs exactly what the file says. Topics that exist already are
 * left alone, so it is safe to run again. It runs as the admin principal.
 *
 *   KAFKA_BOOTSTRAP=127.0.0.1:19092 KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD=... \
 *       topics deploy/topics.conf deploy/services.conf deploy/kafka-acls.conf
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "acl.h"
#include "config.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "manifest.h"

#define MAX_TOPICS  64
#define MAX_CONFIGS 8

struct topics_cfg {
	struct kafka_endpoint kafka;
	long partitions;
	long replication;
	long timeout_ms;
};

static const struct config_var vars[] = {
        KAFKA_ENDPOINT_VARS(struct topics_cfg, kafka),
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

/* Adds dlq.<name> for each service in the manifest. */
static int add_dead_letter_topics(const char *path, struct topic_line *topics, int *n)
{
	char names[MAX_TOPICS][MANIFEST_NAME_MAX], why[256];
	int count = manifest_names(path, names, MAX_TOPICS, why, sizeof(why));

	if (count < 0) {
		LOG(ERROR, "%s", why);
		return -1;
	}
	for (int i = 0; i < count; i++) {
		bool listed = false;

		for (int t = 0; t < *n && !listed; t++)
			listed = !strncmp(topics[t].name, "dlq.", 4) &&
			         !strcmp(topics[t].name + 4, names[i]);
		if (listed)
			continue;
		if (*n == MAX_TOPICS) {
			LOG(ERROR, "more than %d topics", MAX_TOPICS);
			return -1;
		}
		memset(&topics[*n], 0, sizeof(topics[*n]));
		snprintf(topics[*n].name, sizeof(topics[*n].name), "dlq.%.63s", names[i]);
		(*n)++;
	}
	return 0;
}

static int apply_acls(const struct topics_cfg *cfg, const char *path)
{
	struct acl_set set;
	size_t created, deleted;
	char why[512];
	int rc = acl_read_file(&set, path, why, sizeof(why));

	if (rc == 0)
		rc = acl_apply(&cfg->kafka, &set, (int)cfg->timeout_ms, &created, &deleted, why,
		               sizeof(why));
	if (rc < 0)
		LOG(ERROR, "%s", why);
	else
		printf("acls: %zu rules for %zu principals, %zu created, %zu deleted\n", set.n,
		       set.nprincipals, created, deleted);
	acl_set_release(&set);
	return rc;
}

int main(int argc, char **argv)
{
	static struct topic_line lines[MAX_TOPICS];
	struct kafka_new_topic topics[MAX_TOPICS];
	const char *config[MAX_TOPICS][2 * MAX_CONFIGS + 1];
	struct topics_cfg cfg = {0};
	char errstr[512];
	int n = 0;
	int rc = 1;

	log_init("topics", LOG_LEVEL_INFO);
	config_load_or_exit(&cfg, vars, sizeof(vars) / sizeof(vars[0]), argc, argv);
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s TOPICS_FILE [SERVICES_MANIFEST [ACLS_FILE]]\n", argv[0]);
		goto out;
	}
	if (read_topics(argv[1], lines, &n) < 0 ||
	    (argc >= 3 && add_dead_letter_topics(argv[2], lines, &n) < 0))
		goto out;
	for (int i = 0; i < n; i++) {
		int k = 0;

		for (int c = 0; c < lines[i].nconf; c++) {
			config[i][k++] = lines[i].conf[c][0];
			config[i][k++] = lines[i].conf[c][1];
		}
		config[i][k] = NULL;
		topics[i] = (struct kafka_new_topic){lines[i].name, (int)cfg.partitions,
		                                     (int)cfg.replication, config[i], false};
	}
	if (kafka_create_topics(&cfg.kafka, topics, (size_t)n, (int)cfg.timeout_ms, errstr,
	                        sizeof(errstr)) < 0) {
		LOG(ERROR, "%s", errstr);
		goto out;
	}
	for (int i = 0; i < n; i++)
		printf(topics[i].created ? "created topic %s\n" : "topic %s exists\n",
		       topics[i].name);
	if (argc == 4 && apply_acls(&cfg, argv[3]) < 0)
		goto out;
	rc = 0;
out:
	config_release(&cfg, vars, sizeof(vars) / sizeof(vars[0]));
	return rc;
}
