/*
 * probe - a container's healthcheck: GET one URL, succeed on a 2xx answer.
 * The daemons' image has no curl; this is all its healthchecks need.
 *
 *   probe http://localhost:9100/readyz [TIMEOUT_MS]
 *
 * Exit status: 0 for 2xx, 1 for any other answer or none (the status, or
 * why there was none, goes to standard error), 2 for a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "httpc.h"

int main(int argc, char **argv)
{
	struct httpc_target t;
	char errstr[256], resp[512];
	int timeout_ms = argc > 2 ? atoi(argv[2]) : 3000;

	if (argc < 2 || argc > 3 || timeout_ms <= 0) {
		fprintf(stderr, "usage: probe URL [TIMEOUT_MS]\n");
		return 2;
	}
	if (httpc_parse_url(&t, argv[1], errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "probe: %s\n", errstr);
		return 2;
	}
	int fd = httpc_connect(&t, timeout_ms);
	if (fd < 0) {
		fprintf(stderr, "probe: nothing answers at %s:%s\n", t.host, t.port);
		return 1;
	}
	int status = httpc_request(fd, &t, "GET", t.path, "", NULL, resp, sizeof(resp));
	close(fd);
	if (status < 200 || status > 299) {
		fprintf(stderr, "probe: %s answered %d\n", argv[1], status);
		return 1;
	}
	return 0;
}
