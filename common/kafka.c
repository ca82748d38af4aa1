#include "kafka.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kafkastats.h"
#include "log.h"

static int set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
               size_t errstr_size)
{
	if (rd_kafka_conf_set(conf, name, value, errstr, errstr_size) != RD_KAFKA_CONF_OK)
		return ERR_INVALID;
	return 0;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 3)
		LOG(ERROR, "kafka %s: %s", fac, buf);
	else if (level <= 4)
		LOG(WARN, "kafka %s: %s", fac, buf);
	else
		LOG(DEBUG, "kafka %s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	/* All-brokers-down and transport errors are retried by librdkafka itself. */
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		LOG(ERROR, "kafka fatal error: %s", reason);
	else
		LOG(WARN, "kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static bool sasl(const char *protocol)
{
	return !strcmp(protocol, "SASL_PLAINTEXT") || !strcmp(protocol, "SASL_SSL");
}

static bool tls(const char *protocol)
{
	return !strcmp(protocol, "SSL") || !strcmp(protocol, "SASL_SSL");
}

static int set_security(rd_kafka_conf_t *conf, const struct kafka_endpoint *ep, char *errstr,
                        size_t errstr_size)
{
	const char *protocol = ep->security_protocol ? ep->security_protocol : "SASL_PLAINTEXT";

	if (strcmp(protocol, "PLAINTEXT") && !sasl(protocol) && !tls(protocol)) {
		err_format(
		        errstr, errstr_size,
		        "KAFKA_SECURITY_PROTOCOL \"%s\" is not PLAINTEXT, SASL_PLAINTEXT, SSL or "
		        "SASL_SSL",
		        protocol);
		return ERR_INVALID;
	}
	if (set(conf, "security.protocol", protocol, errstr, errstr_size) < 0)
		return ERR_INVALID;
	if (sasl(protocol)) {
		if (!ep->sasl_username || !*ep->sasl_username || !ep->sasl_password ||
		    !*ep->sasl_password) {
			err_format(errstr, errstr_size,
			           "KAFKA_SECURITY_PROTOCOL %s needs KAFKA_SASL_USERNAME and "
			           "KAFKA_SASL_PASSWORD",
			           protocol);
			return ERR_INVALID;
		}
		if (set(conf, "sasl.mechanism",
		        ep->sasl_mechanism && *ep->sasl_mechanism ? ep->sasl_mechanism
		                                                  : "SCRAM-SHA-512",
		        errstr, errstr_size) < 0 ||
		    set(conf, "sasl.username", ep->sasl_username, errstr, errstr_size) < 0 ||
		    set(conf, "sasl.password", ep->sasl_password, errstr, errstr_size) < 0)
			return ERR_INVALID;
	}
	if (tls(protocol) && ep->ssl_ca_location && *ep->ssl_ca_location &&
	    set(conf, "ssl.ca.location", ep->ssl_ca_location, errstr, errstr_size) < 0)
		return ERR_INVALID;
	return 0;
}

rd_kafka_conf_t *kafka_conf_new(const struct kafka_endpoint *ep, const char *client_id,
                                char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (set(conf, "bootstrap.servers", ep->bootstrap, errstr, errstr_size) < 0 ||
	    set(conf, "client.id", client_id ? client_id : "saga", errstr, errstr_size) < 0 ||
	    set_security(conf, ep, errstr, errstr_size) < 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_log_cb(conf, on_log);
	return conf;
}

static rd_kafka_conf_t *base_conf(const struct kafka_endpoint *ep, const char *client_id,
                                  char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = kafka_conf_new(ep, client_id, errstr, errstr_size);

	if (!conf)
		return NULL;
	/* Small requests (an order, an ack) go out at once: with Nagle's algorithm a
	 * TLS record could wait for the broker's delayed ACK, 40 ms a round. */
	if (set(conf, "socket.nagle.disable", "true", errstr, errstr_size) < 0 ||
	    set(conf, "socket.keepalive.enable", "true", errstr, errstr_size) < 0 ||
	    set(conf, "reconnect.backoff.max.ms", "2000", errstr, errstr_size) < 0 ||
	    kafka_stats_enable(conf, errstr, errstr_size) < 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_error_cb(conf, on_error);
	return conf;
}

int kafka_producer_new(rd_kafka_t **out, const struct kafka_producer_cfg *cfg, char *errstr,
                       size_t errstr_size)
{
	rd_kafka_conf_t *conf;
	char linger[16], timeout[16];

	*out = NULL;
	conf = base_conf(cfg->kafka, cfg->client_id, errstr, errstr_size);
	if (!conf)
		return ERR_INVALID;
	snprintf(linger, sizeof(linger), "%d", cfg->linger_ms);
	snprintf(timeout, sizeof(timeout), "%d", cfg->message_timeout_ms);
	if (set(conf, "enable.idempotence", "true", errstr, errstr_size) < 0 ||
	    set(conf, "acks", "all", errstr, errstr_size) < 0 ||
	    set(conf, "linger.ms", linger, errstr, errstr_size) < 0 ||
	    set(conf, "compression.codec", "lz4", errstr, errstr_size) < 0 ||
	    set(conf, "message.timeout.ms", timeout, errstr, errstr_size) < 0) {
		rd_kafka_conf_destroy(conf);
		return ERR_INVALID;
	}
	if (cfg->on_delivery)
		rd_kafka_conf_set_dr_msg_cb(conf, cfg->on_delivery);
	rd_kafka_conf_set_opaque(conf, cfg->opaque);
	*out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (!*out) {
		rd_kafka_conf_destroy(conf);
		return ERR_FATAL;
	}
	return 0;
}

int kafka_producer_renew_if_fatal(rd_kafka_t **rk, const struct kafka_producer_cfg *cfg,
                                  const char *who)
{
	char why[512], errstr[256];
	rd_kafka_resp_err_t err = rd_kafka_fatal_error(*rk, why, sizeof(why));
	rd_kafka_t *fresh = NULL;

	if (!err)
		return 0;
	LOG(ERROR, "%s: fatal producer error (%s: %s); starting a new producer", who,
	    rd_kafka_err2name(err), why);
	if (kafka_producer_new(&fresh, cfg, errstr, sizeof(errstr)) < 0) {
		LOG(ERROR, "%s: could not start a new producer: %s", who, errstr);
		return ERR_RETRY;
	}
	rd_kafka_purge(*rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_flush(*rk, 1000); /* reports of what was purged come now */
	rd_kafka_destroy(*rk);
	*rk = fresh;
	return 0;
}

int kafka_consumer_new(rd_kafka_t **out, const struct kafka_consumer_cfg *cfg, char *errstr,
                       size_t errstr_size)
{
	rd_kafka_conf_t *conf;
	char min_bytes[16], wait_ms[16];

	*out = NULL;
	conf = base_conf(cfg->kafka, cfg->client_id, errstr, errstr_size);
	if (!conf)
		return ERR_INVALID;
	snprintf(min_bytes, sizeof(min_bytes), "%d",
	         cfg->fetch_min_bytes > 0 ? cfg->fetch_min_bytes : 1);
	if (cfg->fetch_wait_ms > 0)
		snprintf(wait_ms, sizeof(wait_ms), "%d", cfg->fetch_wait_ms);
	else
		snprintf(wait_ms, sizeof(wait_ms), "%s", KAFKA_FETCH_WAIT_MS);
	if (set(conf, "group.id", cfg->group, errstr, errstr_size) < 0 ||
	    set(conf, "enable.auto.commit", "true", errstr, errstr_size) < 0 ||
	    set(conf, "auto.commit.interval.ms", KAFKA_COMMIT_INTERVAL_MS, errstr, errstr_size) <
	            0 ||
	    set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) < 0 ||
	    set(conf, "auto.offset.reset", cfg->start_at_end ? "latest" : "earliest", errstr,
	        errstr_size) < 0 ||
	    set(conf, "enable.partition.eof", "false", errstr, errstr_size) < 0 ||
	    set(conf, "session.timeout.ms", "10000", errstr, errstr_size) < 0 ||
	    set(conf, "queued.max.messages.kbytes", KAFKA_PREFETCH_KBYTES, errstr, errstr_size) <
	            0 ||
	    set(conf, "queued.min.messages", KAFKA_PREFETCH_MESSAGES, errstr, errstr_size) < 0 ||
	    set(conf, "fetch.min.bytes", min_bytes, errstr, errstr_size) < 0 ||
	    set(conf, "fetch.wait.max.ms", wait_ms, errstr, errstr_size) < 0) {
		rd_kafka_conf_destroy(conf);
		return ERR_INVALID;
	}
	if (cfg->on_rebalance)
		rd_kafka_conf_set_rebalance_cb(conf, cfg->on_rebalance);
	rd_kafka_conf_set_opaque(conf, cfg->opaque);
	*out = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
	if (!*out) {
		rd_kafka_conf_destroy(conf);
		return ERR_FATAL;
	}
	rd_kafka_poll_set_consumer(*out);
	return 0;
}

int kafka_subscribe(rd_kafka_t *rk, const char *const *topics, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
	rd_kafka_resp_err_t err;

	for (size_t i = 0; topics[i]; i++)
		rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (err) {
		snprintf(errstr, errstr_size, "could not subscribe: %s", rd_kafka_err2str(err));
		return ERR_FATAL;
	}
	return 0;
}

int kafka_ping(rd_kafka_t *rk, int timeout_ms, char *errstr, size_t errstr_size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);

	if (err) {
		snprintf(errstr, errstr_size, "broker did not answer: %s", rd_kafka_err2str(err));
		return ERR_RETRY;
	}
	rd_kafka_metadata_destroy(md);
	return 0;
}

int kafka_classify(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_NO_ERROR: return 0;
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__QUEUE_FULL:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
	case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_COORDINATOR: return ERR_RETRY;
	default: return ERR_FATAL;
	}
}

const char *kafka_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t size)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *value;
	size_t len;

	if (size == 0 || rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	if (rd_kafka_header_get_last(hdrs, name, &value, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    !value)
		return NULL;
	if (len >= size)
		len = size - 1;
	memcpy(buf, value, len);
	buf[len] = '\0';
	return buf;
}

rd_kafka_t *kafka_admin_new(const struct kafka_endpoint *ep, char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = kafka_conf_new(ep, "saga-admin", errstr, errstr_size);
	rd_kafka_t *rk;

	if (!conf)
		return NULL;
	/*
	 * A consumer handle that never subscribes: librdkafka 2.0.2 dereferences
	 * the client's own group when a committed-offsets request meets a
	 * coordinator that is still loading (a fresh broker), and a producer
	 * handle has none (segfault at 0x50 in its main thread).
	 */
	if (set(conf, "group.id", "saga-admin", errstr, errstr_size) < 0 ||
	    set(conf, "enable.auto.commit", "false", errstr, errstr_size) < 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
	if (!rk)
		rd_kafka_conf_destroy(conf);
	return rk;
}

rd_kafka_event_t *kafka_admin_wait(rd_kafka_queue_t *q, int timeout_ms, const char *what,
                                   char *errstr, size_t errstr_size)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);

	if (ev && !rd_kafka_event_error(ev))
		return ev;
	err_format(errstr, errstr_size, "could not %s: %s", what,
	           ev ? rd_kafka_event_error_string(ev) : "timed out");
	if (ev)
		rd_kafka_event_destroy(ev);
	return NULL;
}

int kafka_create_topics(const struct kafka_endpoint *ep, struct kafka_new_topic *topics, size_t n,
                        int timeout_ms, char *errstr, size_t errstr_size)
{
	rd_kafka_t *rk = kafka_admin_new(ep, errstr, errstr_size);
	rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof(*nt));
	rd_kafka_queue_t *q = NULL;
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_topic_result_t **results;
	size_t nres = 0;
	int rc = ERR_INVALID;

	if (!rk || !nt)
		goto out;
	q = rd_kafka_queue_new(rk);
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, errstr_size);
	rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, errstr_size);
	for (size_t i = 0; i < n; i++) {
		char why[256];

		nt[i] = rd_kafka_NewTopic_new(topics[i].name, topics[i].partitions,
		                              topics[i].replication, why, sizeof(why));
		if (!nt[i]) {
			err_format(errstr, errstr_size, "invalid topic \"%s\": %s", topics[i].name,
			           why);
			goto out;
		}
		for (size_t c = 0; topics[i].config && topics[i].config[c]; c += 2)
			rd_kafka_NewTopic_set_config(nt[i], topics[i].config[c],
			                             topics[i].config[c + 1]);
	}
	rd_kafka_CreateTopics(rk, nt, n, opts, q);
	ev = kafka_admin_wait(q, timeout_ms + 5000, "create topics", errstr, errstr_size);
	if (!ev) {
		rc = ERR_RETRY;
		goto out;
	}
	results =
	        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
	rc = 0;
	for (size_t i = 0; i < nres; i++) {
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
		const char *name = rd_kafka_topic_result_name(results[i]);

		for (size_t t = 0; t < n; t++)
			if (!strcmp(topics[t].name, name))
				topics[t].created = err == RD_KAFKA_RESP_ERR_NO_ERROR;
		if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && rc == 0) {
			err_format(errstr, errstr_size, "could not create topic \"%s\": %s", name,
			           rd_kafka_topic_result_error_string(results[i]));
			rc = kafka_classify(err);
		}
	}
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	for (size_t i = 0; nt && i < n; i++)
		if (nt[i])
			rd_kafka_NewTopic_destroy(nt[i]);
	free(nt);
	if (opts)
		rd_kafka_AdminOptions_destroy(opts);
	if (q)
		rd_kafka_queue_destroy(q);
	if (rk)
		rd_kafka_destroy(rk);
	return rc;
}

int kafka_delete_topic(const struct kafka_endpoint *ep, const char *name, int timeout_ms,
                       char *errstr, size_t errstr_size)
{
	rd_kafka_t *rk = kafka_admin_new(ep, errstr, errstr_size);
	rd_kafka_DeleteTopic_t *dt;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	char what[300];
	int rc = 0;

	if (!rk)
		return ERR_INVALID;
	dt = rd_kafka_DeleteTopic_new(name);
	q = rd_kafka_queue_new(rk);
	rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
	snprintf(what, sizeof(what), "delete topic \"%s\"", name);
	ev = kafka_admin_wait(q, timeout_ms, what, errstr, errstr_size);
	if (ev)
		rd_kafka_event_destroy(ev);
	else
		rc = ERR_RETRY;
	rd_kafka_queue_destroy(q);
	rd_kafka_DeleteTopic_destroy(dt);
	rd_kafka_destroy(rk);
	return rc;
}

/* The committed offsets of group: the result event (the caller destroys it)
 * with the partitions in *parts, or NULL with errstr set. */
static rd_kafka_event_t *committed(rd_kafka_t *rk, const char *group, int timeout_ms,
                                   const rd_kafka_topic_partition_list_t **parts, char *errstr,
                                   size_t errstr_size)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_ListConsumerGroupOffsets_t *req =
	        rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
	const rd_kafka_group_result_t **res;
	rd_kafka_event_t *ev;
	size_t n = 0;

	rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, NULL, q);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	ev = kafka_admin_wait(q, timeout_ms, "list committed offsets", errstr, errstr_size);
	rd_kafka_queue_destroy(q);
	if (!ev)
		return NULL;
	res = rd_kafka_ListConsumerGroupOffsets_result_groups(
	        rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
	if (n != 1 || rd_kafka_group_result_error(res[0])) {
		err_format(errstr, errstr_size, "could not list the offsets of group %s: %s", group,
		           n == 1 ? rd_kafka_error_string(rd_kafka_group_result_error(res[0]))
		                  : "no result");
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	*parts = rd_kafka_group_result_partitions(res[0]);
	return ev;
}

int kafka_group_lag(rd_kafka_t *rk, const char *group, int timeout_ms, long long *lag, char *errstr,
                    size_t errstr_size)
{
	const rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_event_t *ev = committed(rk, group, timeout_ms, &parts, errstr, errstr_size);
	int rc = 0;

	*lag = 0;
	if (!ev)
		return ERR_RETRY;
	for (int i = 0; parts && i < parts->cnt && rc == 0; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];
		int64_t lo, hi;
		rd_kafka_resp_err_t err;

		if (p->offset < 0)
			continue; /* nothing committed there */
		err = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi,
		                                       timeout_ms);
		if (err) {
			err_format(errstr, errstr_size, "could not read the end of %s [%d]: %s",
			           p->topic, (int)p->partition, rd_kafka_err2str(err));
			rc = kafka_classify(err);
		} else if (hi > p->offset) {
			*lag += hi - p->offset;
		}
	}
	rd_kafka_event_destroy(ev);
	return rc;
}

int kafka_group_rewind(rd_kafka_t *rk, const char *group, int timeout_ms, int *moved, char *errstr,
                       size_t errstr_size)
{
	const rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_event_t *ev = committed(rk, group, timeout_ms, &parts, errstr, errstr_size);
	rd_kafka_topic_partition_list_t *to;
	int rc = 0;

	*moved = 0;
	if (!ev)
		return ERR_RETRY;
	to = rd_kafka_topic_partition_list_new(parts ? parts->cnt : 0);
	for (int i = 0; parts && i < parts->cnt && rc == 0; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];
		int64_t lo, hi;
		rd_kafka_resp_err_t err;

		if (p->offset < 0)
			continue;
		err = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi,
		                                       timeout_ms);
		if (err) {
			err_format(errstr, errstr_size, "could not read the start of %s [%d]: %s",
			           p->topic, (int)p->partition, rd_kafka_err2str(err));
			rc = kafka_classify(err);
		} else {
			rd_kafka_topic_partition_list_add(to, p->topic, p->partition)->offset = lo;
		}
	}
	rd_kafka_event_destroy(ev);
	if (rc == 0 && to->cnt > 0) {
		rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
		rd_kafka_AlterConsumerGroupOffsets_t *req =
		        rd_kafka_AlterConsumerGroupOffsets_new(group, to);
		const rd_kafka_group_result_t **res;
		size_t n = 0;

		rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, NULL, q);
		rd_kafka_AlterConsumerGroupOffsets_destroy(req);
		ev = kafka_admin_wait(q, timeout_ms, "move committed offsets", errstr, errstr_size);
		rd_kafka_queue_destroy(q);
		if (!ev) {
			rc = ERR_RETRY;
		} else {
			res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
			        rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
			if (n != 1 || rd_kafka_group_result_error(res[0])) {
				err_format(errstr, errstr_size,
				           "could not move the offsets of group %s: %s", group,
				           n == 1 ? rd_kafka_error_string(
				                            rd_kafka_group_result_error(res[0]))
				                  : "no result");
				rc = ERR_RETRY;
			} else {
				const rd_kafka_topic_partition_list_t *done =
				        rd_kafka_group_result_partitions(res[0]);

				for (int i = 0; done && i < done->cnt && rc == 0; i++)
					if (done->elems[i].err) {
						err_format(errstr, errstr_size,
						           "could not move %s [%d] of group %s: %s",
						           done->elems[i].topic,
						           (int)done->elems[i].partition, group,
						           rd_kafka_err2str(done->elems[i].err));
						rc = kafka_classify(done->elems[i].err);
					}
				*moved = rc == 0 ? to->cnt : 0;
			}
			rd_kafka_event_destroy(ev);
		}
	}
	rd_kafka_topic_partition_list_destroy(to);
	return rc;
}

void kafka_position_add(rd_kafka_topic_partition_list_t *list, const rd_kafka_message_t *m,
                        bool after)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	rd_kafka_topic_partition_t *p =
	        rd_kafka_topic_partition_list_find(list, topic, m->partition);
	int64_t at = after ? m->offset + 1 : m->offset;

	if (!p) {
		p = rd_kafka_topic_partition_list_add(list, topic, m->partition);
		p->offset = at;
	} else if (after ? at > p->offset : at < p->offset) {
		p->offset = at;
	}
}

rd_kafka_headers_t *kafka_headers_parse(const char *block)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(4);

	while (block && *block) {
		const char *eol = strchr(block, '\n');
		const char *colon = memchr(block, ':', eol ? (size_t)(eol - block) : strlen(block));
		size_t line = eol ? (size_t)(eol - block) : strlen(block);

		if (colon) {
			const char *v = colon + 1;

			while (*v == ' ')
				v++;
			rd_kafka_header_add(h, block, colon - block, v,
			                    (ssize_t)(block + line - v));
		}
		block += line + (eol ? 1 : 0);
	}
	return h;
}

/* A message sent with kafka_publisher_send: whom to tell of its report. */
struct kafka_send {
	kafka_ack_fn on_ack;
	void *arg;
};

/*
 * rk is replaced when librdkafka raised a fatal error (an idempotent
 * producer refused its producer id, say). Senders count themselves in
 * `inflight` from before they hand a message to rk until its report was
 * served; once a fatal error set `renewing`, new senders wait, and the
 * report thread (the only one that polls rk) replaces it when none is in
 * flight any more, so no sender ever uses a destroyed handle.
 */
struct kafka_publisher {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* inflight fell, or renewing ended */
	rd_kafka_t *rk;
	long inflight;
	bool renewing;
	bool closing;                  /* kafka_publisher_free began: no replacement any more */
	struct kafka_producer_cfg cfg; /* to make the next one (borrowed parts) */
	long long renewed_ms;          /* when rk was last replaced (once a second at most) */
	pthread_t poller;
	bool polling;
	atomic_bool stop;
};

/* After a failure of rk: a replacement once nothing is in flight, if rk has
 * a fatal error and was not replaced within the last second. */
static void renew_if_fatal(struct kafka_publisher *p, rd_kafka_t *rk)
{
	if (rd_kafka_fatal_error(rk, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR)
		return; /* an ordinary failure: the producer is fine */
	pthread_mutex_lock(&p->lock);
	if (p->rk == rk && clock_mono_ms() - p->renewed_ms >= 1000)
		p->renewing = true;
	pthread_mutex_unlock(&p->lock);
}

static void sent(struct kafka_publisher *p)
{
	pthread_mutex_lock(&p->lock);
	p->inflight--;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct kafka_send *m = msg->_private;

	if (!m)
		return;
	if (msg->err) {
		m->on_ack(m->arg, ERR_RETRY, rd_kafka_err2str(msg->err));
		renew_if_fatal(opaque, rk);
	} else {
		m->on_ack(m->arg, 0, NULL);
	}
	free(m);
	sent(opaque);
}

/* The report thread: serves reports, and replaces rk when asked to. */
static void *serve_reports(void *arg)
{
	struct kafka_publisher *p = arg;
	bool renew;

	while (!atomic_load(&p->stop)) {
		rd_kafka_poll(p->rk, 250); /* a report ends the wait at once */
		pthread_mutex_lock(&p->lock);
		renew = p->renewing && p->inflight == 0 && !p->closing;
		pthread_mutex_unlock(&p->lock);
		if (!renew)
			continue;
		/* Senders wait for renewing to end: rk is this thread's alone. */
		if (kafka_producer_renew_if_fatal(&p->rk, &p->cfg, "kafka producer") < 0)
			LOG(WARN, "kafka producer: keeping the failed one; the next failure tries "
			          "again");
		pthread_mutex_lock(&p->lock);
		p->renewed_ms = clock_mono_ms();
		p->renewing = false;
		pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

int kafka_publisher_new(struct kafka_publisher **out, const struct kafka_producer_cfg *cfg,
                        char *errstr, size_t errstr_size)
{
	struct kafka_publisher *p = calloc(1, sizeof(*p));
	struct kafka_producer_cfg pc = *cfg;
	int rc;

	*out = NULL;
	if (!p)
		return ERR_NOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	pc.message_timeout_ms = cfg->message_timeout_ms > 0 ? cfg->message_timeout_ms : 5000;
	pc.on_delivery = on_report;
	pc.opaque = p;
	p->cfg = pc;
	rc = kafka_producer_new(&p->rk, &pc, errstr, errstr_size);
	if (rc == 0 && pthread_create(&p->poller, NULL, serve_reports, p) != 0) {
		snprintf(errstr, errstr_size, "could not start the delivery-report thread");
		rc = ERR_FATAL;
	}
	p->polling = rc == 0;
	if (rc < 0) {
		kafka_publisher_free(p, 0);
		return rc;
	}
	*out = p;
	return 0;
}

int kafka_publisher_send(struct kafka_publisher *p, const char *topic, const char *key,
                         const void *value, size_t len, rd_kafka_headers_t *headers,
                         kafka_ack_fn on_ack, void *arg, char *errstr, size_t errstr_size)
{
	struct kafka_send *m = malloc(sizeof(*m));
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;

	if (!m) {
		if (headers)
			rd_kafka_headers_destroy(headers);
		snprintf(errstr, errstr_size, "out of memory");
		return ERR_NOMEM;
	}
	m->on_ack = on_ack;
	m->arg = arg;
	pthread_mutex_lock(&p->lock);
	while (p->renewing)
		pthread_cond_wait(&p->changed, &p->lock);
	rk = p->rk;
	p->inflight++;
	pthread_mutex_unlock(&p->lock);
	err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
	                        RD_KAFKA_V_VALUE((void *)value, len),
	                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
	if (err) {
		if (headers)
			rd_kafka_headers_destroy(headers); /* taken only on success */
		free(m);
		snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
		renew_if_fatal(p, rk);
		sent(p);
		return ERR_RETRY;
	}
	return 0;
}

void kafka_publisher_free(struct kafka_publisher *p, int flush_ms)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	while (p->renewing && p->polling)
		pthread_cond_wait(&p->changed, &p->lock);
	p->closing = true;
	pthread_mutex_unlock(&p->lock);
	if (p->rk && flush_ms > 0)
		rd_kafka_flush(p->rk, flush_ms);
	if (p->rk) /* what is left fails now: every sender hears of its message */
		rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	if (p->polling) {
		pthread_mutex_lock(&p->lock);
		while (p->inflight > 0)
			pthread_cond_wait(&p->changed, &p->lock);
		pthread_mutex_unlock(&p->lock);
		atomic_store(&p->stop, true);
		pthread_join(p->poller, NULL);
	}
	if (p->rk)
		rd_kafka_destroy(p->rk);
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
