/*
 * End to end: the gateway under a slowloris attack. 2,000 connections from
 * 127.0.0.2 each send one header byte per second and never finish, while
 * ordinary orders arrive from 127.0.0.1 at 100/s. At least 99 % of the
 * ordinary orders are answered 202; the gateway's threads stay bounded (a
 * pool, not a thread per connection); every slow connection is closed: at
 * once beyond the per-client limit, the rest after the header timeout.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"
#include "support.h"

#define SLOW          2000
#define ORDER_WORKERS 4
#define ORDER_RATE    100 /* per second, all workers */
#define ATTACK_S      16  /* header timeout (10 s) and a margin */

static atomic_int sent, accepted;
static atomic_bool done;
static char body[1024];

static int gateway_port(void)
{
	const char *url = support_env("GATEWAY_URL");
	const char *colon = strrchr(url, ':');

	cr_assert_not_null(colon, "GATEWAY_URL has no port: %s", url);
	return (int)strtol(colon + 1, NULL, 10);
}

static int gateway_threads(void)
{
	char path[64], pid[32] = "";
	FILE *f = fopen(".run/pids/gateway.pid", "r");
	int n = 0;

	cr_assert_not_null(f, "no .run/pids/gateway.pid: is the stack's gateway running?");
	cr_assert_not_null(fgets(pid, sizeof(pid), f));
	fclose(f);
	pid[strcspn(pid, "\n")] = '\0';
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "the gateway (pid %s) is not running", pid);
	while (fgets(path, sizeof(path), f))
		if (!strncmp(path, "Threads:", 8))
			n = (int)strtol(path + 8, NULL, 10);
	fclose(f);
	return n;
}

/* Ordinary orders from 127.0.0.1, ORDER_RATE / ORDER_WORKERS per second each. */
static void *orders(void *arg)
{
	long long next = support_now_ms();

	(void)arg;
	while (!atomic_load(&done)) {
		int status = e2e_post_order(body, NULL, NULL, NULL, NULL, 0);

		atomic_fetch_add(&sent, 1);
		if (status == 202)
			atomic_fetch_add(&accepted, 1);
		next += 1000 * ORDER_WORKERS / ORDER_RATE;
		if (next > support_now_ms())
			usleep((useconds_t)(next - support_now_ms()) * 1000);
	}
	return NULL;
}

/* A non-blocking connection from 127.0.0.2 to the gateway; -1 when refused. */
static int slow_connect(int port)
{
	struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	to.sin_port = htons((uint16_t)port);
	cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0, "bind 127.0.0.2: %s",
	             strerror(errno));
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True when the server has closed fd (EOF or reset). */
static bool closed_by_server(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[512];

	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLERR | POLLHUP))
		return true;
	if (p.revents & POLLIN) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		return n == 0 || (n < 0 && errno != EAGAIN);
	}
	return false;
}

Test(slow_clients, a_slowloris_from_one_address_does_not_stop_the_others, .timeout = 180)
{
	static const char request[] = "GET /v1/products HTTP/1.1\r\nHost: gateway\r\nX-Slow: ";
	static int fds[SLOW];
	static long long closed_at[SLOW];
	struct rlimit rl;
	pthread_t workers[ORDER_WORKERS];
	int port = gateway_port(), threads_before, threads_max = 0, open = 0, slow;
	int closed_early = 0, closed_late = 0, still_open = 0;
	long long t0;

	/* Room for 2,000 sockets in this process. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < SLOW + 256) {
		rl.rlim_cur = rl.rlim_max < SLOW + 256 ? rl.rlim_max : SLOW + 256;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	/* A machine that allows fewer open files gets as many as fit, said loudly. */
	slow = rl.rlim_cur >= SLOW + 256 ? SLOW : (int)rl.rlim_cur - 256;
	cr_assert_geq(slow, 500, "this machine allows only %lu open files",
	              (unsigned long)rl.rlim_cur);
	if (slow < SLOW)
		cr_log_warn("only %d slow connections: the open-files limit is %lu", slow,
		            (unsigned long)rl.rlim_cur);
	snprintf(body, sizeof(body), "%s",
	         e2e_order_body("slowloris-bystander", "1 Patient Street", "p-0001", 1));
	threads_before = gateway_threads();
	for (int i = 0; i < ORDER_WORKERS; i++)
		pthread_create(&workers[i], NULL, orders, NULL);
	t0 = support_now_ms();
	for (int i = 0; i < slow; i++) {
		fds[i] = slow_connect(port);
		closed_at[i] = fds[i] < 0 ? t0 : 0;
	}
	/* One more header byte per second on every connection still open. */
	for (int second = 0; second < ATTACK_S; second++) {
		long long tick = t0 + 1000LL * (second + 1);

		open = 0;
		for (int i = 0; i < slow; i++) {
			if (closed_at[i])
				continue;
			if (closed_by_server(fds[i]) ||
			    (send(fds[i], request + (second % (sizeof(request) - 1)), 1,
			          MSG_NOSIGNAL) < 0 &&
			     errno != EAGAIN && errno != ENOTCONN)) {
				closed_at[i] = support_now_ms();
				continue;
			}
			open++;
		}
		if (gateway_threads() > threads_max)
			threads_max = gateway_threads();
		while (support_now_ms() < tick)
			usleep(20 * 1000);
	}
	atomic_store(&done, true);
	for (int i = 0; i < ORDER_WORKERS; i++)
		pthread_join(workers[i], NULL);
	for (int i = 0; i < slow; i++) {
		if (!closed_at[i] && closed_by_server(fds[i]))
			closed_at[i] = support_now_ms();
		if (!closed_at[i])
			still_open++;
		else if (closed_at[i] - t0 < 3000)
			closed_early++;
		else
			closed_late++;
		if (fds[i] >= 0)
			close(fds[i]);
	}
	cr_log_info("slow connections: %d closed within 3 s (over the per-client limit), %d "
	            "after the header timeout, %d still open; orders %d/%d answered 202; "
	            "gateway threads %d before, at most %d during",
	            closed_early, closed_late, still_open, atomic_load(&accepted),
	            atomic_load(&sent), threads_before, threads_max);
	cr_expect_geq(atomic_load(&sent), ORDER_RATE * ATTACK_S / 2,
	              "only %d ordinary orders were sent", atomic_load(&sent));
	cr_expect_geq(atomic_load(&accepted) * 100, atomic_load(&sent) * 99,
	              "%d of %d ordinary orders answered 202", atomic_load(&accepted),
	              atomic_load(&sent));
	cr_expect_eq(still_open, 0, "%d slow connections were still open after %d s", still_open,
	             ATTACK_S);
	cr_expect_gt(closed_early, slow / 2, "only %d connections were refused at once",
	             closed_early);
	cr_expect_gt(closed_late, 0, "no connection was let in and then timed out");
	cr_expect_leq(threads_max, threads_before + 4, "the gateway grew from %d to %d threads",
	              threads_before, threads_max);
}
