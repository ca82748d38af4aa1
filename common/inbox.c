#include "inbox.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"

int inbox_prune(PGconn *conn, const char *group, long hours, int limit, char *errstr,
                size_t errstr_size)
{
	char h[24], n[24];
	const char *p[3] = {group, h, n};
	PGresult *res = NULL;
	int rc;

	snprintf(h, sizeof(h), "%ld", hours);
	snprintf(n, sizeof(n), "%d", limit);
	rc = db_exec(conn,
	             "DELETE FROM inbox WHERE consumer = $1 AND event_id IN"
	             " (SELECT event_id FROM inbox WHERE consumer = $1"
	             " AND consumed_at < now() - $2::int * interval '1 hour'"
	             " ORDER BY consumed_at LIMIT $3::int)",
	             3, p, &res, errstr, errstr_size);
	if (rc < 0)
		return rc;
	rc = atoi(PQcmdTuples(res));
	PQclear(res);
	return rc;
}
