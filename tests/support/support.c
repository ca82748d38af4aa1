#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "kafka.h"
#include "registry.h"

#include "event.h"

extern char **environ;

const char *support_env(const char *name)
{
	const char *v = getenv(name);

	cr_assert(v && *v, "%s is not set: run the tests through tests/run.sh", name);
	return v;
}

static struct support_kafka_cfg {
	struct kafka_endpoint kafka;
} kafka_cfg;
static const struct config_var kafka_vars[] = {
        KAFKA_ENDPOINT_VARS(struct support_kafka_cfg, kafka),
};
#define KAFKA_NVARS (sizeof(kafka_vars) / sizeof(kafka_vars[0]))

static void release_kafka(void)
{
	config_release(&kafka_cfg, kafka_vars, KAFKA_NVARS);
}

const struct kafka_endpoint *support_kafka(void)
{
	static bool loaded;
	char why[512];

	if (!loaded) {
		support_env("KAFKA_BOOTSTRAP");
		cr_assert_eq(config_load(&kafka_cfg, kafka_vars, KAFKA_NVARS, NULL, NULL, why,
		                         sizeof(why)),
		             0, "%s", why);
		atexit(release_kafka);
		loaded = true;
	}
	return &kafka_cfg.kafka;
}

rd_kafka_conf_t *support_kafka_conf(void)
{
	char why[512];
	rd_kafka_conf_t *conf = kafka_conf_new(support_kafka(), "it", why, sizeof(why));

	cr_assert_not_null(conf, "%s", why);
	return conf;
}

const char *support_bin(const char *name)
{
	static char path[512];
	const char *dir = getenv("BUILD_DIR");

	snprintf(path, sizeof(path), "%s/bin/%s", dir ? dir : "build/asan", name);
	cr_assert(access(path, X_OK) == 0, "%s is not built", path);
	return path;
}

long long support_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void support_unique(char *buf, size_t size, const char *prefix)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, size, "%s-%d-%lld%03ld", prefix, (int)getpid(), (long long)ts.tv_sec,
	         ts.tv_nsec / 1000000);
}

int support_http(int port, const char *method, const char *path, const char *extra_headers,
                 const char *req_body, char *body, size_t size)
{
	return support_http_full(port, method, path, extra_headers, req_body, NULL, 0, body, size);
}

int support_http_full(int port, const char *method, const char *path, const char *extra_headers,
                      const char *req_body, char *head, size_t head_size, char *body, size_t size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {10, 0};
	size_t req_size =
	        512 + strlen(method) + strlen(path) + (extra_headers ? strlen(extra_headers) : 0);
	char *req = NULL;
	char *resp = NULL;
	size_t len = 0, cap = 0;
	int fd, n, status = -1;
	const char *p;

	if (body && size)
		body[0] = '\0';
	if (head && head_size)
		head[0] = '\0';
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || !(req = malloc(req_size)))
		goto out;
	n = snprintf(req, req_size,
	             "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
	             "Content-Length: %zu\r\n\r\n",
	             method, path, port, extra_headers ? extra_headers : "",
	             req_body ? strlen(req_body) : 0);
	if (n < 0 || (size_t)n >= req_size || write(fd, req, (size_t)n) != n)
		goto out;
	if (req_body && *req_body) {
		size_t off = 0, blen = strlen(req_body);

		while (off < blen) {
			ssize_t w = write(fd, req_body + off, blen - off);

			if (w <= 0)
				break; /* the server may answer early (413) and close */
			off += (size_t)w;
		}
	}
	for (;;) {
		ssize_t r;

		if (len + 4096 + 1 > cap) {
			char *grown = realloc(resp, cap = cap * 2 + 8192);

			if (!grown)
				goto out;
			resp = grown;
		}
		r = read(fd, resp + len, cap - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (!resp || len < 12 || strncmp(resp, "HTTP/1.", 7) != 0)
		goto out;
	resp[len] = '\0';
	status = (int)strtol(resp + 9, NULL, 10);
	p = strstr(resp, "\r\n\r\n");
	if (body && size && p)
		snprintf(body, size, "%s", p + 4);
	if (head && head_size && p)
		snprintf(head, head_size, "%.*s\r\n", (int)(p - resp), resp);
out:
	free(req);
	free(resp);
	close(fd);
	return status;
}

const char *support_http_header(const char *head, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	for (const char *line = strstr(head, "\r\n"); line && line[2];
	     line = strstr(line + 2, "\r\n")) {
		const char *h = line + 2, *end = strstr(h, "\r\n");

		if (end && strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ')
				h++;
			snprintf(out, size, "%.*s", (int)(end - h), h);
			return out;
		}
	}
	return NULL;
}

long long support_metric(int port, const char *line)
{
	char *body = malloc(65536);
	const char *p;
	long long v = -1;

	if (body && support_http(port, "GET", "/metrics", NULL, NULL, body, 65536) == 200 &&
	    (p = strstr(body, line)))
		v = strtoll(p + strlen(line), NULL, 10);
	free(body);
	return v;
}

int support_wait_status(int port, const char *path, int want_status, int timeout_ms)
{
	long long deadline = support_now_ms() + timeout_ms;

	do {
		if (support_http(port, "GET", path, NULL, NULL, NULL, 0) == want_status)
			return 0;
		usleep(100 * 1000);
	} while (support_now_ms() < deadline);
	return -1;
}

/* SUPPORT_WRAPPER: a command the daemons run under, e.g. "valgrind -q ...";
 * slower to start and stop, so the waits for them are longer. */
static const char *wrapper(void)
{
	const char *w = getenv("SUPPORT_WRAPPER");

	return w && *w ? w : NULL;
}

/* execvp of wrapper's words followed by bin; returns only on failure. */
static void exec_wrapped(const char *wrap, const char *bin)
{
	char *words = strdup(wrap), *save = NULL;
	char *argv[32];
	int n = 0;

	for (char *w = strtok_r(words, " ", &save); w && n < 30; w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n++] = (char *)bin;
	argv[n] = NULL;
	execvp(argv[0], argv);
}

pid_t support_spawn(const char *bin, const char *const *env, const char *stderr_path)
{
	pid_t pid = fork();

	cr_assert(pid >= 0, "fork failed");
	if (pid == 0) {
		/* A daemon never outlives the test that started it, even a failed one. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (stderr_path) {
			int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd >= 0)
				dup2(fd, STDERR_FILENO);
		}
		if (wrapper())
			exec_wrapped(wrapper(), bin);
		else
			execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	return pid;
}

int support_wait_exit(pid_t pid, int timeout_ms)
{
	long long deadline = support_now_ms() + timeout_ms;
	int status;

	do {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		usleep(20 * 1000);
	} while (support_now_ms() < deadline);
	return -1;
}

void support_create_topic(const char *topic, int partitions)
{
	/* As many replicas as the stack has brokers (stack.env's KAFKA_BROKERS). */
	const char *brokers = getenv("KAFKA_BROKERS");
	struct kafka_new_topic t = {topic, partitions, brokers ? atoi(brokers) : 1, NULL, false};
	char errstr[512];

	cr_assert_eq(kafka_create_topics(support_kafka(), &t, 1, 30000, errstr, sizeof(errstr)), 0,
	             "%s", errstr);
	cr_assert(t.created, "topic %s existed already", topic);
}

int support_sh(const char *cmd)
{
	int rc = system(cmd);

	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* --- plumbing helpers ------------------------------------------------------ */

void support_daemon_start(struct service_proc *t, const char *program, const char *db_url, int port,
                          const char *const *extra)
{
	static char vars[3][1024];
	const char *env[24];
	size_t n = 0;

	snprintf(vars[0], sizeof(vars[0]), "DATABASE_URL=%s", db_url);
	snprintf(vars[1], sizeof(vars[1]), "KAFKA_BOOTSTRAP=%s", support_env("KAFKA_BOOTSTRAP"));
	snprintf(vars[2], sizeof(vars[2]), "ADMIN_PORT=%d", port);
	for (int i = 0; i < 3; i++)
		env[n++] = vars[i];
	for (size_t i = 0; extra && extra[i] && n < 23; i++)
		env[n++] = extra[i];
	env[n] = NULL;
	snprintf(t->log, sizeof(t->log), ".run/logs/it-%s-%d.log", program, port);
	t->port = port;
	t->pid = support_spawn(support_bin(program), env, t->log);
	cr_assert_eq(support_wait_status(port, "/readyz", 200, wrapper() ? 120000 : 30000), 0,
	             "the %s daemon on port %d did not become ready (see %s)", program, port,
	             t->log);
}

void support_template_start(struct service_proc *t, const char *db_url, int port, const char *group,
                            const char *topics, const char *emit_topic, const char *const *extra)
{
	static char vars[4][1024];
	const char *settings[24];
	size_t n = 0;

	snprintf(vars[0], sizeof(vars[0]), "GROUP=%s", group);
	snprintf(vars[1], sizeof(vars[1]), "CONSUME_TOPICS=%s", topics);
	snprintf(vars[2], sizeof(vars[2]), "EMIT_TYPE=%s", emit_topic ? "NotificationSent" : "");
	snprintf(vars[3], sizeof(vars[3]), "EMIT_TOPIC=%s", emit_topic ? emit_topic : "");
	for (int i = 0; i < 4; i++)
		settings[n++] = vars[i];
	for (size_t i = 0; extra && extra[i] && n < 20; i++)
		settings[n++] = extra[i];
	settings[n] = NULL;
	support_daemon_start(t, "testd", db_url, port, settings);
}

void support_service_stop(struct service_proc *t)
{
	int status;

	if (t->pid <= 0)
		return;
	kill(t->pid, SIGTERM);
	status = support_wait_exit(t->pid, wrapper() ? 60000 : 10000);
	if (status == -1)
		kill(t->pid, SIGKILL);
	cr_expect(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "the daemon on port %d did not exit cleanly (status %d, see %s)", t->port, status,
	          t->log);
	t->pid = 0;
}

static struct codec *shared_codec;

static struct registry *shared_registry;

static void free_shared_codec(void)
{
	codec_free(shared_codec);
	registry_free(shared_registry);
}

struct codec *support_codec(void)
{
	char err[256];

	if (!shared_codec) {
		cr_assert_eq(codec_new(&shared_codec, err, sizeof(err)), 0, "%s", err);
		/* With the registry on (SCHEMA_REGISTRY_URL), the tests write what
		 * the daemons write: the Confluent framing. */
		cr_assert_eq(
		        registry_from_env(shared_codec, true, &shared_registry, err, sizeof(err)),
		        0, "%s", err);
		atexit(free_shared_codec);
	}
	return shared_codec;
}

unsigned char *support_encode_event(const struct codec *c, const char *order_id, char *event_id,
                                    size_t *len)
{
	json_t *rec = json_pack("{s:s, s:s, s:s}", "order_id", order_id, "customer_id", "it",
	                        "reason", "TEST");
	json_t *meta = event_metadata("it", NULL, order_id, NULL);
	unsigned char *out;
	char err[256];

	json_object_set_new(rec, "metadata", meta);
	snprintf(event_id, 37, "%s", event_meta(rec, "event_id"));
	cr_assert_eq(codec_encode(c, "OrderCancelled", rec, &out, len, err, sizeof(err)), 0, "%s",
	             err);
	json_decref(rec);
	return out;
}

void support_produce(const char *topic, const char *key, const void *value, size_t len)
{
	support_produce_typed(topic, key, value, len, NULL);
}

void support_produce_record(const char *type, const char *key, const json_t *rec)
{
	unsigned char *out = NULL;
	size_t len;
	char err[256];

	cr_assert_eq(codec_encode(support_codec(), type, rec, &out, &len, err, sizeof(err)), 0,
	             "%s: %s", type, err);
	support_produce_typed(codec_topic(support_codec(), type), key, out, len, type);
	free(out);
}

void support_produce_typed(const char *topic, const char *key, const void *value, size_t len,
                           const char *event_type)
{
	char errstr[256];
	rd_kafka_conf_t *conf = support_kafka_conf();
	rd_kafka_headers_t *headers = NULL; /* producev takes it */
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "message.max.bytes", "2000000", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	cr_assert_not_null(rk, "%s", errstr);
	if (event_type) {
		headers = rd_kafka_headers_new(1);
		rd_kafka_header_add(headers, "event-type", -1, event_type, -1);
	}
	cr_assert_eq(
	        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
	                          RD_KAFKA_V_VALUE((void *)value, len),
	                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                          RD_KAFKA_V_HEADERS(event_type ? headers : NULL), RD_KAFKA_V_END),
	        0);
	cr_assert_eq(rd_kafka_flush(rk, 30000), 0, "produce to %s timed out", topic);
	rd_kafka_destroy(rk);
}

long long support_db_value(const char *conninfo, const char *sql, const char *const *params)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;
	long long v = -1;
	int n = 0;

	while (params && params[n])
		n++;
	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	PQfinish(c);
	return v;
}

long long support_db_wait(const char *conninfo, const char *sql, const char *const *params,
                          long long want, int timeout_ms)
{
	long long deadline = support_now_ms() + timeout_ms;
	long long v;

	do {
		v = support_db_value(conninfo, sql, params);
		if (v == want)
			return v;
		usleep(100 * 1000);
	} while (support_now_ms() < deadline);
	return v;
}

/* Every assigned partition has been read to its end. */
static bool all_at_end(rd_kafka_t *rk, const bool *at_end)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	bool all;

	if (rd_kafka_assignment(rk, &parts) != 0 || !parts)
		return false;
	all = parts->cnt > 0;
	for (int i = 0; i < parts->cnt; i++)
		if (parts->elems[i].partition >= 64 || !at_end[parts->elems[i].partition])
			all = false;
	rd_kafka_topic_partition_list_destroy(parts);
	return all;
}

json_t *support_read_topic(const char *topic, int want, int timeout_ms)
{
	char errstr[256], group[128];
	rd_kafka_conf_t *conf = support_kafka_conf();
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	json_t *out = json_array();
	long long deadline = support_now_ms() + timeout_ms;
	bool at_end[64] = {false};
	rd_kafka_t *rk;

	support_unique(group, sizeof(group), "it-reader");
	rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.partition.eof", want < 0 ? "true" : "false", errstr,
	                  sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	cr_assert_not_null(rk, "%s", errstr);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	while ((want < 0 || (int)json_array_size(out) < want) && support_now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		rd_kafka_headers_t *hdrs = NULL;
		json_t *h = json_object();
		char *hex;
		const char *name;
		const void *val;
		size_t len;

		if (!m) {
			json_decref(h);
			continue;
		}
		if (m->err) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition < 64)
				at_end[m->partition] = true;
			rd_kafka_message_destroy(m);
			json_decref(h);
			if (want < 0 && all_at_end(rk, at_end))
				break;
			continue;
		}
		if (m->partition < 64)
			at_end[m->partition] = false;
		if (rd_kafka_message_headers(m, &hdrs) == 0)
			for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &len) == 0;
			     i++)
				json_object_set_new(h, name, json_stringn(val ? val : "", len));
		hex = malloc(m->len * 2 + 1);
		for (size_t i = 0; i < m->len; i++)
			snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)m->payload)[i]);
		hex[m->len * 2] = '\0';
		json_array_append_new(out, json_pack("{s:s%, s:s, s:o, s:i, s:I}", "key",
		                                     m->key ? (const char *)m->key : "", m->key_len,
		                                     "value_hex", hex, "headers", h, "partition",
		                                     (int)m->partition, "offset",
		                                     (json_int_t)m->offset));
		free(hex);
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return out;
}

void support_produce_events(const struct codec *c, const char *topic, const char *prefix, int n)
{
	support_produce_events_keyed(c, topic, prefix, n, NULL);
}

void support_produce_events_keyed(const struct codec *c, const char *topic, const char *prefix,
                                  int n, const char *key)
{
	char errstr[256];
	rd_kafka_conf_t *conf = support_kafka_conf();
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	cr_assert_not_null(rk, "%s", errstr);
	for (int i = 0; i < n; i++) {
		char order[128], id[40];
		size_t len;
		unsigned char *v;

		snprintf(order, sizeof(order), "%s-%d", prefix, i);
		v = support_encode_event(c, order, id, &len);
		while (rd_kafka_producev(
		               rk, RD_KAFKA_V_TOPIC(topic),
		               RD_KAFKA_V_KEY(key ? key : order, strlen(key ? key : order)),
		               RD_KAFKA_V_VALUE(v, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 10);
		rd_kafka_poll(rk, 0);
		free(v);
	}
	cr_assert_eq(rd_kafka_flush(rk, 60000), 0, "producing %d events timed out", n);
	rd_kafka_destroy(rk);
}
