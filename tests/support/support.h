/*
 * support.h - helpers for integration and end-to-end tests: the stack's
 * settings (from .run/stack.env, exported by tests/run.sh), a tiny HTTP
 * client, child daemons, and throwaway topics.
 */
#ifndef TESTS_SUPPORT_H
#define TESTS_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

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

/* Polls GET path until it answers want_status; 0 on success, -1 on timeout. */
int support_wait_status(int port, const char *path, int want_status, int timeout_ms);

/* Starts bin with the current environment plus NULL-terminated "K=V"
 * strings; stderr goes to stderr_path when it is not NULL. */
pid_t support_spawn(const char *bin, const char *const *env, const char *stderr_path);

/* Waits up to timeout_ms for pid; returns its wait status, or -1 on timeout. */
int support_wait_exit(pid_t pid, int timeout_ms);

/* Creates a topic through the admin API (fails the test on error). */
void support_create_topic(const char *bootstrap, const char *topic, int partitions);

/* Runs a shell command from the repository root; returns its exit status. */
int support_sh(const char *cmd);

/* Milliseconds on a monotonic clock. */
long long support_now_ms(void);

#endif
