/*
 * Integration: a daemon's admin endpoints, readiness that follows
 * PostgreSQL going away and coming back, configuration errors, and SIGTERM.
 * Stops and starts the stack's PostgreSQL, so it runs last and alone.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "support.h"

#define ADMIN_PORT 19190

static pid_t start_template(void)
{
	static char db[1024], kafka[256];
	const char *env[] = {db, kafka, "ADMIN_PORT=19190", "LOG_LEVEL=info", NULL};
	pid_t pid;

	snprintf(db, sizeof(db), "DATABASE_URL=%s", support_env("TEST_DATABASE_URL"));
	snprintf(kafka, sizeof(kafka), "KAFKA_BOOTSTRAP=%s", support_env("KAFKA_BOOTSTRAP"));
	pid = support_spawn(support_bin("testd"), env, ".run/logs/it-template.log");
	cr_assert_eq(support_wait_status(ADMIN_PORT, "/healthz", 200, 30000), 0,
	             "the daemon did not answer /healthz (see .run/logs/it-template.log)");
	return pid;
}

static void stop_template(pid_t pid)
{
	long long t0 = support_now_ms();
	int status;

	cr_assert_eq(kill(pid, SIGTERM), 0);
	status = support_wait_exit(pid, 5000);
	if (status == -1)
		kill(pid, SIGKILL);
	cr_assert_neq(status, -1, "the daemon did not exit within 5 s of SIGTERM");
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "exit status %d (see .run/logs/it-template.log)",
	          WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
	cr_log_info("SIGTERM to exit: %lld ms", support_now_ms() - t0);
}

Test(daemon, admin_endpoints_answer, .timeout = 90)
{
	char body[8192];
	pid_t pid = start_template();

	cr_expect_eq(support_http(ADMIN_PORT, "GET", "/healthz", NULL, NULL, body, sizeof(body)),
	             200);
	cr_expect_str_eq(body, "{\"status\":\"ok\"}");
	cr_expect_eq(support_wait_status(ADMIN_PORT, "/readyz", 200, 20000), 0);
	cr_expect_eq(support_http(ADMIN_PORT, "GET", "/readyz", NULL, NULL, body, sizeof(body)),
	             200);
	cr_expect(strstr(body, "\"database\":\"ok\"") && strstr(body, "\"kafka\":\"ok\""), "%s",
	          body);
	cr_expect_eq(support_http(ADMIN_PORT, "GET", "/metrics", NULL, NULL, body, sizeof(body)),
	             200);
	cr_expect_eq(support_http(ADMIN_PORT, "GET", "/nope", NULL, NULL, body, sizeof(body)), 404);
	cr_expect(strstr(body, "\"status\":404") && strstr(body, "/nope"), "%s", body);
	cr_expect_eq(support_http(ADMIN_PORT, "POST", "/healthz", NULL, "x", body, sizeof(body)),
	             405);
	stop_template(pid);
}

Test(daemon, readiness_follows_postgres_down_and_up, .timeout = 180)
{
	char body[8192];
	pid_t pid = start_template();

	cr_assert_eq(support_wait_status(ADMIN_PORT, "/readyz", 200, 20000), 0);
	cr_assert_eq(support_sh("bash deploy/local/postgres.sh stop >/dev/null"), 0);
	cr_expect_eq(support_wait_status(ADMIN_PORT, "/readyz", 503, 20000), 0,
	             "/readyz stayed ready with PostgreSQL stopped");
	cr_expect_eq(support_http(ADMIN_PORT, "GET", "/readyz", NULL, NULL, body, sizeof(body)),
	             503);
	cr_expect(strstr(body, "\"status\":\"unready\"") && !strstr(body, "\"database\":\"ok\""),
	          "%s", body);
	cr_expect_eq(support_http(ADMIN_PORT, "GET", "/healthz", NULL, NULL, NULL, 0), 200,
	             "alive while unready");
	cr_assert_eq(support_sh("bash deploy/local/postgres.sh start >/dev/null"), 0);
	cr_expect_eq(support_wait_status(ADMIN_PORT, "/readyz", 200, 30000), 0,
	             "/readyz did not recover after PostgreSQL came back");
	stop_template(pid);
}

Test(daemon, every_bad_setting_is_named_and_exit_is_nonzero, .timeout = 30)
{
	const char *env[] = {"ADMIN_PORT=0", "CONSUMER_BATCH=soon", "DATABASE_URL=", NULL};
	char log[8192] = "";
	FILE *f;
	pid_t pid;
	int status;

	pid = support_spawn(support_bin("testd"), env, ".run/logs/it-badconfig.log");
	status = support_wait_exit(pid, 10000);
	cr_assert_neq(status, -1);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d", status);
	f = fopen(".run/logs/it-badconfig.log", "r");
	cr_assert_not_null(f);
	log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
	fclose(f);
	cr_expect(strstr(log, "ADMIN_PORT: 0 is out of range"), "%s", log);
	cr_expect(strstr(log, "CONSUMER_BATCH: \\\"soon\\\" is not an integer"), "%s", log);
	cr_expect(strstr(log, "DATABASE_URL: required but not set"), "%s", log);
}
