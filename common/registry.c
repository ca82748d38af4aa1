#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "httpc.h"
#include "log.h"

#define REGISTRY_TIMEOUT_MS 5000
#define REGISTRY_REPLY_MAX  (256 * 1024) /* the longest answer read (a schema) */

struct registry {
	struct httpc_target target;
	char auth[512]; /* "Authorization: Basic ...\r\n", or "" */
};

static void base64(const char *in, char *out, size_t size)
{
	static const char abc[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;

	for (size_t i = 0; i < n && o + 5 < size; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

int registry_new(struct registry **out, const char *url, const char *user, const char *password,
                 char *errstr, size_t errstr_size)
{
	struct registry *r = calloc(1, sizeof(*r));
	char cred[256], enc[384];

	*out = NULL;
	if (!r)
		return ERR_NOMEM;
	if (httpc_parse_url(&r->target, url, errstr, errstr_size) < 0) {
		free(r);
		return ERR_INVALID;
	}
	/* No trailing slash: paths are appended to it. */
	if (strcmp(r->target.path, "/") == 0)
		r->target.path[0] = '\0';
	if (user && *user) {
		if ((size_t)snprintf(cred, sizeof(cred), "%s:%s", user, password ? password : "") >=
		    sizeof(cred)) {
			err_format(errstr, errstr_size,
			           "the registry's user name or password is too long");
			free(r);
			return ERR_INVALID;
		}
		base64(cred, enc, sizeof(enc));
		snprintf(r->auth, sizeof(r->auth), "Authorization: Basic %s\r\n", enc);
		explicit_bzero(cred, sizeof(cred));
		explicit_bzero(enc, sizeof(enc));
	}
	*out = r;
	return 0;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	explicit_bzero(r->auth, sizeof(r->auth));
	free(r);
}

/* The registry's "message" from an error reply, or the start of the body. */
static const char *reason(const char *body, char *buf, size_t size)
{
	json_t *j = json_loads(body, 0, NULL);
	const char *m = json_string_value(json_object_get(j, "message"));

	snprintf(buf, size, "%.200s", m ? m : body);
	json_decref(j);
	return buf;
}

/*
 * One request; *reply is the parsed JSON body (new reference, NULL when
 * the body is not JSON). Returns the HTTP status, or ERR_RETRY when no
 * whole answer came.
 */
static int call(struct registry *r, const char *method, const char *path, const json_t *body,
                json_t **reply, char *errstr, size_t errstr_size)
{
	char full[512], *text = NULL, *resp = NULL, why[256];
	int fd = -1, status = ERR_RETRY;

	*reply = NULL;
	if ((size_t)snprintf(full, sizeof(full), "%s%s", r->target.path, path) >= sizeof(full)) {
		err_format(errstr, errstr_size, "registry path too long: %s", path);
		return ERR_INVALID;
	}
	if (body && !(text = json_dumps(body, JSON_COMPACT)))
		return ERR_NOMEM;
	if (!(resp = malloc(REGISTRY_REPLY_MAX))) {
		free(text);
		return ERR_NOMEM;
	}
	fd = httpc_connect(&r->target, REGISTRY_TIMEOUT_MS);
	if (fd < 0) {
		err_format(errstr, errstr_size, "the schema registry at %s does not answer",
		           r->target.hostport);
		goto out;
	}
	status = httpc_request(fd, &r->target, method, full, r->auth, text, resp,
	                       REGISTRY_REPLY_MAX);
	if (status < 0) {
		err_format(errstr, errstr_size, "no answer from the schema registry at %s to %s %s",
		           r->target.hostport, method, full);
		status = ERR_RETRY;
		goto out;
	}
	*reply = json_loads(resp, JSON_DECODE_ANY, NULL);
	if (status >= 400)
		err_format(errstr, errstr_size, "the schema registry answered %d to %s %s: %s",
		           status, method, full, reason(resp, why, sizeof(why)));
out:
	if (fd >= 0)
		close(fd);
	free(resp);
	free(text);
	return status;
}

/* A status as an error code: 5xx and 401/403 (a setting, not the request) retry. */
static int status_error(int status)
{
	if (status < 0)
		return status;
	if (status >= 500 || status == 401 || status == 403 || status == 429)
		return ERR_RETRY;
	if (status == 404)
		return ERR_NOTFOUND;
	if (status == 409)
		return ERR_CONFLICT;
	return ERR_INVALID;
}

static bool subject_ok(const char *subject)
{
	if (!*subject)
		return false;
	for (const char *p = subject; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
		            *p))
			return false;
	return true;
}

/* POST {prefix}{subject}{suffix} with the schema. */
static int schema_request(struct registry *r, const char *prefix, const char *subject,
                          const char *suffix, const char *schema, json_t **reply, char *errstr,
                          size_t errstr_size)
{
	char path[400];
	json_t *body;
	int status;

	if (!subject_ok(subject) || strlen(subject) > 300) {
		err_format(errstr, errstr_size, "not a subject name: \"%.100s\"", subject);
		return ERR_INVALID;
	}
	snprintf(path, sizeof(path), "%s%s%s", prefix, subject, suffix);
	body = json_pack("{s:s, s:s}", "schema", schema, "schemaType", "AVRO");
	if (!body)
		return ERR_NOMEM;
	status = call(r, "POST", path, body, reply, errstr, errstr_size);
	json_decref(body);
	return status;
}

int registry_register(struct registry *r, const char *subject, const char *schema, int32_t *id,
                      char *errstr, size_t errstr_size)
{
	json_t *reply = NULL;
	json_int_t v;
	int status = schema_request(r, "/subjects/", subject, "/versions", schema, &reply, errstr,
	                            errstr_size);
	int rc = status == 200 ? 0 : status_error(status);

	if (rc == 0) {
		v = json_integer_value(json_object_get(reply, "id"));
		if (!json_is_integer(json_object_get(reply, "id")) || v < 0 || v > INT32_MAX) {
			err_format(errstr, errstr_size, "the schema registry gave no id for %s",
			           subject);
			rc = ERR_RETRY;
		} else {
			*id = (int32_t)v;
		}
	}
	json_decref(reply);
	return rc;
}

int registry_check(struct registry *r, const char *subject, const char *schema, bool *ok,
                   char *errstr, size_t errstr_size)
{
	json_t *reply = NULL;
	int status = schema_request(r, "/compatibility/subjects/", subject, "/versions/latest",
	                            schema, &reply, errstr, errstr_size);
	int rc = 0;

	if (status == 200 && json_is_boolean(json_object_get(reply, "is_compatible"))) {
		*ok = json_is_true(json_object_get(reply, "is_compatible"));
	} else if (status == 404) {
		*ok = true; /* no version yet: the first may be anything */
	} else {
		rc = status == 200 ? ERR_INVALID : status_error(status);
		if (status == 200)
			err_format(errstr, errstr_size,
			           "the schema registry's answer for %s has no "
			           "is_compatible",
			           subject);
	}
	json_decref(reply);
	return rc;
}

int registry_schema(struct registry *r, int32_t id, char **text, char *errstr, size_t errstr_size)
{
	char path[64];
	json_t *reply = NULL;
	const char *s;
	int status, rc;

	*text = NULL;
	snprintf(path, sizeof(path), "/schemas/ids/%ld", (long)id);
	status = call(r, "GET", path, NULL, &reply, errstr, errstr_size);
	rc = status == 200 ? 0 : status_error(status);
	if (rc == 0) {
		s = json_string_value(json_object_get(reply, "schema"));
		if (!s) {
			err_format(errstr, errstr_size,
			           "the schema registry's answer for id %ld has "
			           "no schema",
			           (long)id);
			rc = ERR_RETRY;
		} else if (!(*text = strdup(s))) {
			rc = ERR_NOMEM;
		}
	}
	json_decref(reply);
	return rc;
}

int registry_subject(const char *schema, char *buf, size_t size, char *errstr, size_t errstr_size)
{
	json_t *j = json_loads(schema, 0, NULL);
	const char *topic = json_string_value(json_object_get(j, "x-topic"));
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *ns = json_string_value(json_object_get(j, "namespace"));
	int rc = 0, n;

	if (!topic || !name) {
		err_format(errstr, errstr_size, "an event schema needs a name and an x-topic");
		rc = ERR_INVALID;
	} else {
		/* A dotted name is already the full name. */
		if (strchr(name, '.') || !ns || !*ns)
			n = snprintf(buf, size, "%s-%s", topic, name);
		else
			n = snprintf(buf, size, "%s-%s.%s", topic, ns, name);
		if (n < 0 || (size_t)n >= size) {
			err_format(errstr, errstr_size, "subject name too long");
			rc = ERR_INVALID;
		}
	}
	json_decref(j);
	return rc;
}

static int lookup(void *arg, int32_t id, char **text, char *errstr, size_t errstr_size)
{
	int rc = registry_schema(arg, id, text, errstr, errstr_size);

	if (rc == 0)
		LOG(INFO, "learned schema id %ld from the schema registry", (long)id);
	return rc;
}

int registry_attach(struct registry *r, struct codec *c, char *errstr, size_t errstr_size)
{
	char subject[400], why[512];
	int32_t id;
	int rc;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < codec_nbuiltin_schemas; i++) {
			const struct codec_source *s = &codec_builtin_schemas[i];
			bool released = strstr(s->name, "/released/") != NULL;

			if (released != (pass == 0))
				continue;
			rc = registry_subject(s->text, subject, sizeof(subject), why, sizeof(why));
			if (rc == 0)
				rc = registry_register(r, subject, s->text, &id, why, sizeof(why));
			if (rc == 0)
				rc = codec_bind_id(c, id, s->text, why, sizeof(why));
			if (rc < 0) {
				err_format(errstr, errstr_size, "%s: %s", s->name, why);
				return rc;
			}
		}
	}
	codec_use_registry(c, lookup, r);
	return 0;
}

void registry_read_only(struct registry *r, struct codec *c)
{
	codec_use_registry(c, lookup, r);
}

int registry_from_env(struct codec *c, bool encode, struct registry **out, char *errstr,
                      size_t errstr_size)
{
	const char *url = getenv("SCHEMA_REGISTRY_URL");
	int rc;

	*out = NULL;
	if (!url || !*url)
		return 0;
	rc = registry_new(out, url, getenv("SCHEMA_REGISTRY_USER"),
	                  getenv("SCHEMA_REGISTRY_PASSWORD"), errstr, errstr_size);
	if (rc == 0 && encode)
		rc = registry_attach(*out, c, errstr, errstr_size);
	else if (rc == 0)
		registry_read_only(*out, c);
	if (rc < 0) {
		registry_free(*out);
		*out = NULL;
	}
	return rc;
}
