#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

extern char **environ;

const char *support_env(const char *name)
{
	const char *v = getenv(name);

	cr_assert(v && *v, "%s is not set: run the tests through tests/run.sh", name);
	return v;
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
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {10, 0};
	char req[8192];
	char *resp = NULL;
	size_t len = 0, cap = 0;
	int fd, n, status = -1;
	const char *p;

	if (body && size)
		body[0] = '\0';
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	n = snprintf(req, sizeof(req),
	             "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
	             "Content-Length: %zu\r\n\r\n",
	             method, path, port, extra_headers ? extra_headers : "",
	             req_body ? strlen(req_body) : 0);
	if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n)
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
out:
	free(resp);
	close(fd);
	return status;
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

pid_t support_spawn(const char *bin, const char *const *env, const char *stderr_path)
{
	pid_t pid = fork();

	cr_assert(pid >= 0, "fork failed");
	if (pid == 0) {
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (stderr_path) {
			int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd >= 0)
				dup2(fd, STDERR_FILENO);
		}
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

void support_create_topic(const char *bootstrap, const char *topic, int partitions)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	const rd_kafka_topic_result_t **res;
	size_t nres;

	rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	cr_assert_not_null(rk, "%s", errstr);
	nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof(errstr));
	cr_assert_not_null(nt, "%s", errstr);
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = rd_kafka_queue_poll(q, 30000);
	cr_assert_not_null(ev, "CreateTopics timed out");
	cr_assert_eq(rd_kafka_event_error(ev), 0, "%s", rd_kafka_event_error_string(ev));
	res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
	cr_assert_eq(nres, 1);
	cr_assert_eq(rd_kafka_topic_result_error(res[0]), 0, "create %s: %s", topic,
	             rd_kafka_topic_result_error_string(res[0]));
	rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_destroy(rk);
}

int support_sh(const char *cmd)
{
	int rc = system(cmd);

	return rc == -1 ? -1 : WEXITSTATUS(rc);
}
