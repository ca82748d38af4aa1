/*
 * acl.h - the Kafka rights of the services' principals (deploy/kafka-acls.conf).
 *
 * Each line of the file is "principal writes reads": comma-separated topic
 * lists ("-" for none). It grants User:<principal> WRITE on each written
 * topic and on dlq.<principal>, READ on each read topic, and READ on the
 * consumer group <principal>. acl_apply makes the cluster's ALLOW rules of
 * those principals exactly that, whatever they were before.
 */
#ifndef COMMON_ACL_H
#define COMMON_ACL_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "err.h"
#include "kafka.h"

#define ACL_NAME_MAX 250

struct acl_rule {
	rd_kafka_ResourceType_t type;      /* RD_KAFKA_RESOURCE_TOPIC or RD_KAFKA_RESOURCE_GROUP */
	char name[ACL_NAME_MAX];           /* a literal topic or group name */
	char principal[ACL_NAME_MAX];      /* "User:order" */
	rd_kafka_AclOperation_t operation; /* RD_KAFKA_ACL_OPERATION_READ or _WRITE */
};

/* The rules of a file. */
struct acl_set {
	struct acl_rule *rules;
	size_t n, cap;
	char (*principals)[ACL_NAME_MAX]; /* "User:<name>" per line, in file order */
	size_t nprincipals;
};

/* Parses one line (comments and blank lines add nothing) into set; ERR_INVALID
 * with the reason in errstr for a malformed line. */
int acl_parse_line(struct acl_set *set, const char *line, char *errstr,
                   size_t errstr_size) WARN_UNUSED;

/* Reads a whole file into set (empty first). */
int acl_read_file(struct acl_set *set, const char *path, char *errstr,
                  size_t errstr_size) WARN_UNUSED;

void acl_set_release(struct acl_set *set);

/*
 * Makes the cluster's ALLOW rules for set's principals exactly set's rules:
 * creates the missing ones, deletes the others (rules of other principals are
 * left alone). created and deleted (may be NULL) count what changed.
 */
int acl_apply(const struct kafka_endpoint *ep, const struct acl_set *set, int timeout_ms,
              size_t *created, size_t *deleted, char *errstr, size_t errstr_size) WARN_UNUSED;

#endif
