#include "acl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) >= ACL_NAME_MAX - 5)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int add_rule(struct acl_set *set, rd_kafka_ResourceType_t type, const char *name,
                    const char *principal, rd_kafka_AclOperation_t op)
{
	struct acl_rule *r;

	for (size_t i = 0; i < set->n; i++)
		if (set->rules[i].type == type && set->rules[i].operation == op &&
		    !strcmp(set->rules[i].name, name) &&
		    !strcmp(set->rules[i].principal, principal))
			return 0;
	if (set->n == set->cap) {
		size_t cap = set->cap ? 2 * set->cap : 32;
		struct acl_rule *more = realloc(set->rules, cap * sizeof(*more));

		if (!more)
			return ERR_NOMEM;
		set->rules = more;
		set->cap = cap;
	}
	r = &set->rules[set->n++];
	r->type = type;
	r->operation = op;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->principal, sizeof(r->principal), "%s", principal);
	return 0;
}

/* Adds a rule per topic of a (valid) comma-separated list ("-": none). */
static int add_topics(struct acl_set *set, char *list, const char *principal,
                      rd_kafka_AclOperation_t op)
{
	char *save = NULL;

	if (!strcmp(list, "-"))
		return 0;
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (add_rule(set, RD_KAFKA_RESOURCE_TOPIC, t, principal, op) < 0)
			return ERR_NOMEM;
	return 0;
}

/* True when each name of a comma-separated list ("-": none) is a topic name. */
static bool valid_list(const char *list, char *errstr, size_t errstr_size)
{
	char copy[4096], *save = NULL;

	if (!strcmp(list, "-"))
		return true;
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (!valid_name(t)) {
			err_format(errstr, errstr_size, "\"%s\" is not a topic name", t);
			return false;
		}
	return true;
}

int acl_parse_line(struct acl_set *set, const char *line, char *errstr, size_t errstr_size)
{
	char buf[4096], principal[ACL_NAME_MAX], dlq[ACL_NAME_MAX];
	char *save = NULL, *name, *writes, *reads;
	int rc;

	if (strlen(line) >= sizeof(buf)) {
		err_format(errstr, errstr_size, "line longer than %zu bytes", sizeof(buf) - 1);
		return ERR_INVALID;
	}
	memcpy(buf, line, strlen(line) + 1);
	name = strtok_r(buf, " \t\r\n", &save);
	if (!name || name[0] == '#')
		return 0;
	writes = strtok_r(NULL, " \t\r\n", &save);
	reads = strtok_r(NULL, " \t\r\n", &save);
	if (!writes || !reads || strtok_r(NULL, " \t\r\n", &save)) {
		err_format(errstr, errstr_size, "want \"principal writes reads\"");
		return ERR_INVALID;
	}
	if (!valid_name(name)) {
		err_format(errstr, errstr_size, "\"%s\" is not a principal name", name);
		return ERR_INVALID;
	}
	/* Everything is checked before the set changes: a bad line adds nothing. */
	if (!valid_list(writes, errstr, errstr_size) || !valid_list(reads, errstr, errstr_size))
		return ERR_INVALID;
	for (size_t i = 0; i < set->nprincipals; i++)
		if (!strcmp(set->principals[i] + 5, name)) {
			err_format(errstr, errstr_size, "principal %s has two lines", name);
			return ERR_INVALID;
		}
	{
		char(*more)[ACL_NAME_MAX] =
		        realloc(set->principals, (set->nprincipals + 1) * sizeof(*set->principals));

		if (!more)
			return ERR_NOMEM;
		set->principals = more;
	}
	snprintf(principal, sizeof(principal), "User:%s", name);
	snprintf(set->principals[set->nprincipals++], ACL_NAME_MAX, "%s", principal);
	snprintf(dlq, sizeof(dlq), "dlq.%s", name);
	if ((rc = add_topics(set, writes, principal, RD_KAFKA_ACL_OPERATION_WRITE)) < 0 ||
	    (rc = add_topics(set, reads, principal, RD_KAFKA_ACL_OPERATION_READ)) < 0)
		return rc;
	if (add_rule(set, RD_KAFKA_RESOURCE_TOPIC, dlq, principal, RD_KAFKA_ACL_OPERATION_WRITE) <
	            0 ||
	    add_rule(set, RD_KAFKA_RESOURCE_GROUP, name, principal, RD_KAFKA_ACL_OPERATION_READ) <
	            0)
		return ERR_NOMEM;
	return 0;
}

int acl_read_file(struct acl_set *set, const char *path, char *errstr, size_t errstr_size)
{
	char line[4096], why[256];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	memset(set, 0, sizeof(*set));
	if (!f) {
		err_format(errstr, errstr_size, "could not open \"%s\"", path);
		return ERR_INVALID;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		rc = acl_parse_line(set, line, why, sizeof(why));
		if (rc < 0)
			err_format(errstr, errstr_size, "%s:%d: %s", path, lineno, why);
	}
	fclose(f);
	return rc;
}

void acl_set_release(struct acl_set *set)
{
	free(set->rules);
	free(set->principals);
	memset(set, 0, sizeof(*set));
}

static bool managed(const struct acl_set *set, const char *principal)
{
	for (size_t i = 0; i < set->nprincipals; i++)
		if (!strcmp(set->principals[i], principal))
			return true;
	return false;
}

/* True when the broker's binding b is exactly rule r: ALLOW, literal, any host. */
static bool matches(const struct acl_rule *r, const rd_kafka_AclBinding_t *b)
{
	return rd_kafka_AclBinding_permission_type(b) == RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW &&
	       rd_kafka_AclBinding_resource_pattern_type(b) == RD_KAFKA_RESOURCE_PATTERN_LITERAL &&
	       !strcmp(rd_kafka_AclBinding_host(b), "*") &&
	       rd_kafka_AclBinding_restype(b) == r->type &&
	       rd_kafka_AclBinding_operation(b) == r->operation &&
	       !strcmp(rd_kafka_AclBinding_name(b), r->name) &&
	       !strcmp(rd_kafka_AclBinding_principal(b), r->principal);
}

/* True when the broker's binding b is one of set's rules. */
static bool wanted(const struct acl_set *set, const rd_kafka_AclBinding_t *b)
{
	for (size_t i = 0; i < set->n; i++)
		if (matches(&set->rules[i], b))
			return true;
	return false;
}

/* True when rule r is among the broker's bindings. */
static bool present(const struct acl_rule *r, const rd_kafka_AclBinding_t *const *have,
                    size_t nhave)
{
	for (size_t i = 0; i < nhave; i++)
		if (matches(r, have[i]))
			return true;
	return false;
}

/* The first error among per-binding results, or 0. */
static int result_errors(const rd_kafka_acl_result_t **res, size_t n, const char *what,
                         char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_error_t *e = rd_kafka_acl_result_error(res[i]);

		if (e) {
			err_format(errstr, errstr_size, "could not %s: %s", what,
			           rd_kafka_error_string(e));
			return ERR_FATAL;
		}
	}
	return 0;
}

/* The cluster's ACLs (every one): the result event, whose bindings are in
 * *have until it is destroyed; NULL with errstr. */
static rd_kafka_event_t *describe_all(rd_kafka_t *rk, rd_kafka_queue_t *q, int timeout_ms,
                                      const rd_kafka_AclBinding_t ***have, size_t *nhave,
                                      char *errstr, size_t errstr_size)
{
	char why[256];
	rd_kafka_AclBindingFilter_t *all = rd_kafka_AclBindingFilter_new(
	        RD_KAFKA_RESOURCE_ANY, NULL, RD_KAFKA_RESOURCE_PATTERN_ANY, NULL, NULL,
	        RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, why, sizeof(why));
	rd_kafka_event_t *ev;

	if (!all) {
		err_format(errstr, errstr_size, "acl filter: %s", why);
		return NULL;
	}
	rd_kafka_DescribeAcls(rk, all, NULL, q);
	ev = kafka_admin_wait(q, timeout_ms, "describe the acls", errstr, errstr_size);
	rd_kafka_AclBinding_destroy(all);
	if (ev)
		*have = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev),
		                                          nhave);
	return ev;
}

/* True when the cluster's ACLs are set's for set's principals. */
static bool in_force(const struct acl_set *set, const rd_kafka_AclBinding_t **have, size_t nhave)
{
	for (size_t i = 0; i < set->n; i++)
		if (!present(&set->rules[i], have, nhave))
			return false;
	for (size_t i = 0; i < nhave; i++)
		if (managed(set, rd_kafka_AclBinding_principal(have[i])) && !wanted(set, have[i]))
			return false;
	return true;
}

/*
 * Waits until the broker's authorizer answers with the new rules: they reach
 * it through the metadata log, and a client started right after would be
 * refused otherwise.
 */
static int wait_in_force(rd_kafka_t *rk, rd_kafka_queue_t *q, const struct acl_set *set,
                         int timeout_ms, char *errstr, size_t errstr_size)
{
	long long deadline = clock_mono_ms() + timeout_ms;

	for (;;) {
		const rd_kafka_AclBinding_t **have = NULL;
		size_t nhave = 0;
		rd_kafka_event_t *ev =
		        describe_all(rk, q, timeout_ms, &have, &nhave, errstr, errstr_size);
		bool done = ev && in_force(set, have, nhave);

		if (ev)
			rd_kafka_event_destroy(ev);
		if (done)
			return 0;
		if (clock_mono_ms() > deadline) {
			if (ev)
				err_format(errstr, errstr_size,
				           "the broker did not apply the acls within %d ms",
				           timeout_ms);
			return ERR_RETRY;
		}
		clock_sleep_ms(200);
	}
}

int acl_apply(const struct kafka_endpoint *ep, const struct acl_set *set, int timeout_ms,
              size_t *created, size_t *deleted, char *errstr, size_t errstr_size)
{
	rd_kafka_t *rk = kafka_admin_new(ep, errstr, errstr_size);
	rd_kafka_queue_t *q = NULL;
	rd_kafka_AclBinding_t **add = NULL;
	rd_kafka_AclBindingFilter_t **del = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_AclBinding_t **have = NULL;
	size_t nhave = 0, nadd = 0, ndel = 0;
	char why[256];
	int rc = ERR_RETRY;

	if (created)
		*created = 0;
	if (deleted)
		*deleted = 0;
	if (!rk)
		return ERR_INVALID;
	q = rd_kafka_queue_new(rk);
	if (!(ev = describe_all(rk, q, timeout_ms, &have, &nhave, errstr, errstr_size)))
		goto out;
	add = calloc(set->n + 1, sizeof(*add));
	del = calloc(nhave + 1, sizeof(*del));
	if (!add || !del) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nhave; i++) {
		if (!managed(set, rd_kafka_AclBinding_principal(have[i])) || wanted(set, have[i]))
			continue;
		del[ndel] = rd_kafka_AclBindingFilter_new(
		        rd_kafka_AclBinding_restype(have[i]), rd_kafka_AclBinding_name(have[i]),
		        rd_kafka_AclBinding_resource_pattern_type(have[i]),
		        rd_kafka_AclBinding_principal(have[i]), rd_kafka_AclBinding_host(have[i]),
		        rd_kafka_AclBinding_operation(have[i]),
		        rd_kafka_AclBinding_permission_type(have[i]), why, sizeof(why));
		if (!del[ndel]) {
			err_format(errstr, errstr_size, "acl filter: %s", why);
			rc = ERR_INVALID;
			goto out;
		}
		ndel++;
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct acl_rule *r = &set->rules[i];

		if (present(r, have, nhave))
			continue;
		add[nadd] = rd_kafka_AclBinding_new(
		        r->type, r->name, RD_KAFKA_RESOURCE_PATTERN_LITERAL, r->principal, "*",
		        r->operation, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, why, sizeof(why));
		if (!add[nadd]) {
			err_format(errstr, errstr_size, "acl for %s on %s: %s", r->principal,
			           r->name, why);
			rc = ERR_INVALID;
			goto out;
		}
		nadd++;
	}
	rd_kafka_event_destroy(ev);
	ev = NULL;
	if (nadd) {
		const rd_kafka_acl_result_t **res;
		size_t nres = 0;

		rd_kafka_CreateAcls(rk, add, nadd, NULL, q);
		if (!(ev = kafka_admin_wait(q, timeout_ms, "create acls", errstr, errstr_size)))
			goto out;
		res = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &nres);
		if ((rc = result_errors(res, nres, "create an acl", errstr, errstr_size)) < 0)
			goto out;
		rd_kafka_event_destroy(ev);
		ev = NULL;
	}
	if (ndel) {
		const rd_kafka_DeleteAcls_result_response_t **res;
		size_t nres = 0;

		rd_kafka_DeleteAcls(rk, del, ndel, NULL, q);
		if (!(ev = kafka_admin_wait(q, timeout_ms, "delete acls", errstr, errstr_size)))
			goto out;
		res = rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev),
		                                           &nres);
		for (size_t i = 0; i < nres; i++) {
			const rd_kafka_error_t *e =
			        rd_kafka_DeleteAcls_result_response_error(res[i]);

			if (e) {
				err_format(errstr, errstr_size, "could not delete an acl: %s",
				           rd_kafka_error_string(e));
				rc = ERR_FATAL;
				goto out;
			}
		}
	}
	if ((rc = wait_in_force(rk, q, set, timeout_ms, errstr, errstr_size)) < 0)
		goto out;
	if (created)
		*created = nadd;
	if (deleted)
		*deleted = ndel;
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (add)
		rd_kafka_AclBinding_destroy_array(add, nadd);
	free(add);
	if (del)
		rd_kafka_AclBinding_destroy_array(del, ndel);
	free(del);
	if (q)
		rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}
