/*
 * support.h - helpers for integration and end-to-end tests: the stack's
 * settings (from .run/stack.env, exported by tests/run.sh), a tiny HTTP
 * client, child daemons, and throwaway topics.
 */
#ifndef TESTS_SUPPORT_H
#define TESTS_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "kafka.h"

#include "codec.h"

/* A required environment variable; fails the test when it is missing. */
const char *support_env(const char *name);

/* Path of a built binary: $BUILD_DIR/bin/name. Returns a static buffer. */
const char *support_bin(const char *name);

/* A name unique to this run, e.g. "it-kafka-4242-1700000000123". */
void support_unique(char *buf, size_t size, const char *prefix);

/*
 * One HTTP/1.1 request to 127.0.0.1:port (Connection: close). Returns the
 * status, or -1 when the server could not be reached. body (may be NULL)
 * receives the response body, NUL-terminated and cut to size.
 * extra_headers: NULL or "Name: value\r\n..." lines.
 */
int support_http(int port, const char *method, const char *path, const char *extra_headers,
                 const char *req_body, char *body, size_t size);

/* support_http that also keeps the status line and headers in head
 * ("HTTP/1.1 ...\r\nName: value\r\n...\r\n", cut to head_size). */
int support_http_full(int port, const char *method, const char *path, const char *extra_headers,
                      const char *req_body, char *head, size_t head_size, char *body, size_t size);

/* A header's value in head (case-insensitive name) into out, or NULL. */
const char *support_http_header(const char *head, const char *name, char *out, size_t size);

/* The value on a daemon's /metrics of the line starting with line (e.g.
 * "saga_consumer_lag{group=\"x\"} "), or -1 when absent or unreachable. */
long long support_metric(int port, const char *line);

/* Polls GET path until it answers want_status; 0 on success, -1 on timeout. */
int support_wait_status(int port, const char *path, int want_status, int timeout_ms);

/* Starts bin with the current environment plus NULL-terminated "K=V"
 * strings; stderr goes to stderr_path when it is not NULL. */
pid_t support_spawn(const char *bin, const char *const *env, const char *stderr_path);

/* Waits up to timeout_ms for pid; returns its wait status, or -1 on timeout. */
int support_wait_exit(pid_t pid, int timeout_ms);

/* The cluster as the environment (.run/stack.env) describes it: bootstrap
 * servers and the tests' principal (KAFKA_SASL_*). */
const struct kafka_endpoint *support_kafka(void);

/* A librdkafka configuration for support_kafka() (fails the test on error). */
rd_kafka_conf_t *support_kafka_conf(void);

/* Creates a topic through the admin API (fails the test on error). */
void support_create_topic(const char *topic, int partitions);

/* Runs a shell command from the repository root; returns its exit status. */
int support_sh(const char *cmd);

/* Milliseconds on a monotonic clock. */
long long support_now_ms(void);

/* A template daemon for plumbing tests. */
struct service_proc {
	pid_t pid;
	int port;
	char log[256];
};

/* Starts the test daemon (tests/testd: the template's handler) with its
 * database URL, admin port, consumer group, topics to consume, and an
 * optional NotificationSent emission to emit_topic; extra is NULL or more
 * "K=V" settings. Waits for /readyz. */
void support_template_start(struct service_proc *t, const char *db_url, int port, const char *group,
                            const char *topics, const char *emit_topic, const char *const *extra);
/* A service as it runs in the stack (program = its name), with its database
 * URL, admin port and extra "K=V" settings (NULL: none). Waits for /readyz. */
void support_daemon_start(struct service_proc *t, const char *program, const char *db_url, int port,
                          const char *const *extra);

/* SIGTERM and wait for a clean exit (fails the test otherwise). */
void support_service_stop(struct service_proc *t);

/* An OrderCancelled record for order_id with a new event id (written to
 * event_id, 37 bytes), encoded; *len receives the size. Caller frees. */
/* The codec of every event schema, made on first use and freed at exit. */
struct codec *support_codec(void);

unsigned char *support_encode_event(const struct codec *c, const char *order_id, char *event_id,
                                    size_t *len);

/* Produces one message and waits for its acknowledgement. */
void support_produce(const char *topic, const char *key, const void *value, size_t len);
/* support_produce with an event-type header (none when event_type is NULL). */
void support_produce_typed(const char *topic, const char *key, const void *value, size_t len,
                           const char *event_type);

/* Encodes rec (an event of type, metadata included) and produces it to its
 * schema's topic with key and an event-type header (fails the test on error). */
void support_produce_record(const char *type, const char *key, const json_t *rec);

/* Produces n encoded events with order ids "prefix-0" .. "prefix-(n-1)", keyed by them. */
void support_produce_events(const struct codec *c, const char *topic, const char *prefix, int n);

/* The same, all with one key (one partition, in order) unless key is NULL. */
void support_produce_events_keyed(const struct codec *c, const char *topic, const char *prefix,
                                  int n, const char *key);

/* Runs a query returning one number (params: NULL-terminated), or -1. */
long long support_db_value(const char *conninfo, const char *sql, const char *const *params);

/* Polls support_db_value until it equals want; returns the last value. */
long long support_db_wait(const char *conninfo, const char *sql, const char *const *params,
                          long long want, int timeout_ms);

/* Reads a topic from the beginning with a throwaway group until it has
 * seen at least want messages (want < 0: until every partition's end) or
 * timeout_ms passed; returns them as a JSON array of {key, value_hex,
 * headers:{}}. */
json_t *support_read_topic(const char *topic, int want, int timeout_ms);
#endif
