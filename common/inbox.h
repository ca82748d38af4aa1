/*
 * inbox.h - upkeep of the consumed-event record (the inbox table, see
 * common/migrations): the batch consumer inserts a row per applied event
 * and a duplicate finds it there. A row only has to outlive every way the
 * same event can arrive again: the topic's retention (24 h in the local
 * stack), a group's committed offsets (7 days before Kafka forgets an idle
 * group's) and a dead letter's replay. Older rows are deleted a chunk at a
 * time so that the table stays the size of that window.
 */
#ifndef COMMON_INBOX_H
#define COMMON_INBOX_H

#include <libpq-fe.h>

#include "err.h"

/* Deletes up to limit of group's rows consumed more than hours ago, oldest
 * first; returns how many, or db_classify()'s code with errstr. */
int inbox_prune(PGconn *conn, const char *group, long hours, int limit, char *errstr,
                size_t errstr_size) WARN_UNUSED;

#endif
