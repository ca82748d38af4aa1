/*
 * Integration: Kafka authenticates every client and each service's principal
 * has only the rights deploy/kafka-acls.conf gives it.
 *
 * For every principal of the file, with its own password from stack.env:
 *   - producing to a topic it does not write, and to another service's
 *     dead-letter topic, fails with TOPIC_AUTHORIZATION_FAILED;
 *   - reading another service's dead-letter topic, or a topic it writes but
 *     does not read, fails with TOPIC_AUTHORIZATION_FAILED;
 *   - joining a consumer group that is not its own fails with
 *     GROUP_AUTHORIZATION_FAILED;
 *   - and, so that a refusal means the rule and not a typo, it can list the
 *     offsets of a topic it reads.
 * A client without SASL, one with a wrong password and one of an unknown
 * principal are refused. TLS (SASL_SSL) works with the stack's CA and fails
 * without it.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "support.h"

#define ACLS_FILE "deploy/kafka-acls.conf"

/* Every topic of the saga that some line writes or reads, and each dlq. */
static const char *const saga_topics[] = {
        "order-requests",  "order-events",        "payment-events", "inventory-events",
        "shipping-events", "notification-events", "product-catalog"};
#define NTOPICS (sizeof(saga_topics) / sizeof(saga_topics[0]))

static struct acl_set rights;

static void load_rights(void)
{
	char why[512];

	cr_assert_eq(acl_read_file(&rights, ACLS_FILE, why, sizeof(why)), 0, "%s", why);
	cr_assert_geq(rights.nprincipals, 5, "the file names %zu principals", rights.nprincipals);
}

static void free_rights(void)
{
	acl_set_release(&rights);
}

TestSuite(kafka_rights, .init = load_rights, .fini = free_rights);

static bool allowed(const char *principal, rd_kafka_ResourceType_t type, const char *name,
                    rd_kafka_AclOperation_t op)
{
	for (size_t i = 0; i < rights.n; i++)
		if (rights.rules[i].type == type && rights.rules[i].operation == op &&
		    !strcmp(rights.rules[i].principal, principal) &&
		    !strcmp(rights.rules[i].name, name))
			return true;
	return false;
}

/* The endpoint of a service's principal: the environment's with its name and password. */
static struct kafka_endpoint as_service(const char *name, char *user, size_t user_size,
                                        char *pw_buf, size_t pw_size)
{
	struct kafka_endpoint ep = *support_kafka();
	char var[128];
	size_t i;

	for (i = 0; name[i] && i < sizeof(var) - 32; i++)
		var[i] = (char)toupper((unsigned char)name[i]);
	snprintf(var + i, sizeof(var) - i, "_KAFKA_PASSWORD");
	snprintf(user, user_size, "%s", name);
	snprintf(pw_buf, pw_size, "%s", support_env(var));
	ep.sasl_username = user;
	ep.sasl_password = pw_buf;
	return ep;
}

static rd_kafka_resp_err_t delivery_err, client_err;

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	(void)reason;
	if (!client_err)
		client_err = (rd_kafka_resp_err_t)err;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	delivery_err = m->err;
}

/* Produces one message as ep; the delivery report's error. */
static rd_kafka_resp_err_t produce_as(const struct kafka_endpoint *ep, const char *topic)
{
	char why[512];
	rd_kafka_conf_t *conf = kafka_conf_new(ep, "it-rights", why, sizeof(why));
	rd_kafka_t *rk;
	rd_kafka_resp_err_t err;
	char value[] = "not allowed";

	cr_assert_not_null(conf, "%s", why);
	rd_kafka_conf_set(conf, "message.timeout.ms", "15000", why, sizeof(why));
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	cr_assert_not_null(rk, "%s", why);
	delivery_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("acl-probe", 9),
	                        RD_KAFKA_V_VALUE(value, strlen(value)),
	                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_flush(rk, 20000);
		err = delivery_err;
	}
	rd_kafka_destroy(rk);
	return err;
}

/*
 * Consumes as ep with group: subscribed to topic (join the group) or, with
 * assign, reading partition 0 from the beginning without joining. Returns the
 * first error the client reports within 15 s, or NO_ERROR.
 */
static rd_kafka_resp_err_t consume_as(const struct kafka_endpoint *ep, const char *group,
                                      const char *topic, bool assign)
{
	char why[512];
	rd_kafka_conf_t *conf = kafka_conf_new(ep, "it-rights", why, sizeof(why));
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	long long deadline = support_now_ms() + 15000;
	rd_kafka_t *rk;

	cr_assert_not_null(conf, "%s", why);
	rd_kafka_conf_set(conf, "group.id", group, why, sizeof(why));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof(why));
	rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", why, sizeof(why));
	rd_kafka_conf_set_error_cb(conf, on_error);
	client_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	cr_assert_not_null(rk, "%s", why);
	rd_kafka_poll_set_consumer(rk);
	if (assign) {
		/* Without Describe (which READ and WRITE imply) the broker already
		 * refuses the topic's metadata, and librdkafka 2.0.2 then never
		 * fetches nor reports an error for the assigned partition. */
		rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
		const struct rd_kafka_metadata *md = NULL;

		if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    md->topic_cnt == 1)
			err = md->topics[0].err;
		if (md)
			rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(t);
		rd_kafka_topic_partition_list_add(parts, topic, 0)->offset =
		        RD_KAFKA_OFFSET_BEGINNING;
		rd_kafka_assign(rk, parts);
	} else {
		rd_kafka_topic_partition_list_add(parts, topic, RD_KAFKA_PARTITION_UA);
		rd_kafka_subscribe(rk, parts);
	}
	while (!err && support_now_ms() < deadline) { /* the fetch itself */
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (m) {
			err = m->err;
			rd_kafka_message_destroy(m);
		}
		if (!err)
			err = client_err;
	}
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return err;
}

/* The error a client connecting as ep is told, waiting up to 20 s for one:
 * a refusal is a report (an authentication error, the broker closing the
 * connection), never the mere absence of an answer. */
static rd_kafka_resp_err_t refusal_as(const struct kafka_endpoint *ep)
{
	char why[512];
	rd_kafka_conf_t *conf = kafka_conf_new(ep, "it-rights", why, sizeof(why));
	rd_kafka_t *rk;
	long long deadline = support_now_ms() + 20000;

	cr_assert_not_null(conf, "%s", why);
	rd_kafka_conf_set_error_cb(conf, on_error);
	client_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	cr_assert_not_null(rk, "%s", why);
	while (!client_err && support_now_ms() < deadline)
		rd_kafka_poll(rk, 100);
	rd_kafka_destroy(rk);
	return client_err;
}

/* Lists the offsets of partition 0 of topic as ep. */
static rd_kafka_resp_err_t describe_as(const struct kafka_endpoint *ep, const char *topic)
{
	char why[512];
	rd_kafka_conf_t *conf = kafka_conf_new(ep, "it-rights", why, sizeof(why));
	rd_kafka_t *rk;
	int64_t lo, hi;
	rd_kafka_resp_err_t err;

	cr_assert_not_null(conf, "%s", why);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	cr_assert_not_null(rk, "%s", why);
	err = rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 8000);
	rd_kafka_destroy(rk);
	return err;
}

/* The principal's name without "User:". */
static const char *name_of(size_t i)
{
	return rights.principals[i] + 5;
}

/* The next principal after i (another service, for its dlq and group). */
static const char *other(size_t i)
{
	return name_of((i + 1) % rights.nprincipals);
}

Test(kafka_rights, a_service_cannot_write_a_topic_it_does_not_own, .timeout = 600)
{
	int cases = 0;

	for (size_t p = 0; p < rights.nprincipals; p++) {
		char user[64], pw[128], dlq[128];
		struct kafka_endpoint ep =
		        as_service(name_of(p), user, sizeof(user), pw, sizeof(pw));

		for (size_t t = 0; t < NTOPICS; t++) {
			if (allowed(rights.principals[p], RD_KAFKA_RESOURCE_TOPIC, saga_topics[t],
			            RD_KAFKA_ACL_OPERATION_WRITE))
				continue;
			cr_expect_eq(produce_as(&ep, saga_topics[t]),
			             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "%s wrote %s",
			             user, saga_topics[t]);
			cases++;
		}
		snprintf(dlq, sizeof(dlq), "dlq.%s", other(p));
		cr_expect_eq(produce_as(&ep, dlq), RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
		             "%s wrote %s", user, dlq);
		cases++;
	}
	cr_expect_geq(cases, 20, "only %d refusals were tried", cases);
}

Test(kafka_rights, a_service_cannot_read_a_topic_or_use_a_group_it_does_not_own, .timeout = 600)
{
	int cases = 0;

	for (size_t p = 0; p < rights.nprincipals; p++) {
		const char *who = rights.principals[p];
		char user[64], pw[128], dlq[128], group[128];
		struct kafka_endpoint ep =
		        as_service(name_of(p), user, sizeof(user), pw, sizeof(pw));
		const char *readable = NULL;

		for (size_t t = 0; t < NTOPICS && !readable; t++)
			if (allowed(who, RD_KAFKA_RESOURCE_TOPIC, saga_topics[t],
			            RD_KAFKA_ACL_OPERATION_READ))
				readable = saga_topics[t];
		cr_assert_not_null(readable, "%s reads nothing", user);
		/* What it may do works: a refusal below is the rule, not a bad login. */
		cr_expect_eq(describe_as(&ep, readable), RD_KAFKA_RESP_ERR_NO_ERROR,
		             "%s could not see %s, which it reads", user, readable);
		snprintf(group, sizeof(group), "%s", user);
		/* Every topic it does not read, those it writes included. */
		for (size_t t = 0; t < NTOPICS; t++) {
			if (allowed(who, RD_KAFKA_RESOURCE_TOPIC, saga_topics[t],
			            RD_KAFKA_ACL_OPERATION_READ))
				continue;
			cr_expect_eq(consume_as(&ep, group, saga_topics[t], true),
			             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "%s read %s",
			             user, saga_topics[t]);
			cases++;
		}
		/* Nobody reads another service's dead letters but the admin's tools. */
		snprintf(dlq, sizeof(dlq), "dlq.%s", other(p));
		cr_expect_eq(consume_as(&ep, group, dlq, true),
		             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "%s read %s", user, dlq);
		cases++;
		snprintf(group, sizeof(group), "%s", other(p));
		cr_expect_eq(consume_as(&ep, group, readable, false),
		             RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, "%s used group %s", user,
		             group);
		cases++;
	}
	cr_expect_geq(cases, 20, "only %d refusals were tried", cases);
}

Test(kafka_rights, a_client_that_does_not_authenticate_is_refused, .timeout = 120)
{
	struct kafka_endpoint ep = *support_kafka();
	char plaintext[] = "PLAINTEXT", wrong[] = "not-the-password", nobody[] = "nobody";

	rd_kafka_resp_err_t err;

	/* Without SASL the broker closes the connection at the first request
	 * that is not part of the handshake. */
	ep.security_protocol = plaintext;
	err = refusal_as(&ep);
	cr_expect(err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
	          "a client without SASL was told %s, not that the broker closed the connection",
	          rd_kafka_err2name(err));
	ep = *support_kafka();
	ep.sasl_password = wrong;
	err = refusal_as(&ep);
	cr_expect_eq(err, RD_KAFKA_RESP_ERR__AUTHENTICATION,
	             "the admin with a wrong password was told %s", rd_kafka_err2name(err));
	ep.sasl_username = nobody;
	err = refusal_as(&ep);
	cr_expect_eq(err, RD_KAFKA_RESP_ERR__AUTHENTICATION, "an unknown principal was told %s",
	             rd_kafka_err2name(err));
	ep = *support_kafka();
	cr_expect_eq(describe_as(&ep, "order-events"), RD_KAFKA_RESP_ERR_NO_ERROR,
	             "the admin itself could not");
}

Test(kafka_rights, tls_works_with_the_stacks_ca_and_not_without_it, .timeout = 120)
{
	struct kafka_endpoint ep = *support_kafka();
	char sasl_ssl[] = "SASL_SSL", bootstrap[128], topic[128];
	char other_ca[] = ".run/logs/it-other-ca.pem";

	snprintf(bootstrap, sizeof(bootstrap), "%s", support_env("KAFKA_TLS_BOOTSTRAP"));
	support_unique(topic, sizeof(topic), "it-tls");
	support_create_topic(topic, 1);
	ep.bootstrap = bootstrap;
	ep.security_protocol = sasl_ssl;
	cr_expect_eq(describe_as(&ep, topic), RD_KAFKA_RESP_ERR_NO_ERROR,
	             "SASL_SSL with KAFKA_SSL_CA_LOCATION failed");
	cr_expect_eq(produce_as(&ep, topic), RD_KAFKA_RESP_ERR_NO_ERROR,
	             "could not produce over TLS");
	/* A CA that never signed the stack's broker. */
	cr_assert_eq(support_sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other "
	                        "-keyout .run/logs/it-other-ca.key -out .run/logs/it-other-ca.pem "
	                        ">/dev/null 2>&1"),
	             0);
	ep.ssl_ca_location = other_ca;
	cr_expect_neq(describe_as(&ep, topic), RD_KAFKA_RESP_ERR_NO_ERROR,
	              "a broker certificate the given CA did not sign was accepted");
}
