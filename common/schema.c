#include "schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 64

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static bool is_primitive(const char *name)
{
	for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
		if (strcmp(name, primitives[i]) == 0)
			return true;
	return false;
}

/* Full name of a named type from its name, its namespace and the enclosing one. */
static void fullname(char *out, size_t size, const char *name, const char *ns,
                     const char *enclosing)
{
	if (strchr(name, '.'))
		snprintf(out, size, "%s", name);
	else if (ns && *ns)
		snprintf(out, size, "%s.%s", ns, name);
	else if (enclosing && *enclosing)
		snprintf(out, size, "%s.%s", enclosing, name);
	else
		snprintf(out, size, "%s", name);
}

struct norm {
	json_t *defined; /* full name -> true, for names already expanded */
	bool keep_defaults;
	char *errstr;
	size_t errstr_size;
};

static json_t *normalize(struct norm *n, const json_t *s, const char *ns, int depth);

static json_t *normalize_named(struct norm *n, const json_t *s, const char *type, const char *ns,
                               int depth)
{
	const char *name = json_string_value(json_object_get(s, "name"));
	const char *own_ns = json_string_value(json_object_get(s, "namespace"));
	char full[512], inner_ns[512];
	const char *dot;
	json_t *out;

	if (!name || !*name) {
		err_format(n->errstr, n->errstr_size, "a %s has no name", type);
		return NULL;
	}
	fullname(full, sizeof(full), name, own_ns, ns);
	if (json_object_get(n->defined, full))
		return json_string(full);
	json_object_set_new(n->defined, full, json_true());
	dot = strrchr(full, '.');
	snprintf(inner_ns, sizeof(inner_ns), "%.*s", dot ? (int)(dot - full) : 0, full);
	out = json_pack("{s:s, s:s}", "name", full, "type", type);
	if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
		const json_t *fields = json_object_get(s, "fields");
		json_t *nf = json_array();
		size_t i;
		const json_t *f;

		if (!json_is_array(fields)) {
			err_format(n->errstr, n->errstr_size, "record %s has no fields array",
			           full);
			goto bad;
		}
		json_array_foreach (fields, i, f) {
			const char *fname = json_string_value(json_object_get(f, "name"));
			json_t *ft, *nfield;

			if (!fname) {
				err_format(n->errstr, n->errstr_size,
				           "record %s: field %zu has no name", full, i);
				goto bad_nf;
			}
			ft = normalize(n, json_object_get(f, "type"), inner_ns, depth + 1);
			if (!ft)
				goto bad_nf;
			nfield = json_pack("{s:s, s:o}", "name", fname, "type", ft);
			if (n->keep_defaults && json_object_get(f, "default"))
				json_object_set(nfield, "default", json_object_get(f, "default"));
			json_array_append_new(nf, nfield);
		}
		json_object_set_new(out, "fields", nf);
		return out;
	bad_nf:
		json_decref(nf);
		goto bad;
	}
	if (strcmp(type, "enum") == 0) {
		const json_t *symbols = json_object_get(s, "symbols");

		if (!json_is_array(symbols)) {
			err_format(n->errstr, n->errstr_size, "enum %s has no symbols", full);
			goto bad;
		}
		json_object_set(out, "symbols", (json_t *)symbols);
		if (n->keep_defaults && json_object_get(s, "default"))
			json_object_set(out, "default", json_object_get(s, "default"));
		return out;
	}
	/* fixed */
	if (!json_is_integer(json_object_get(s, "size"))) {
		err_format(n->errstr, n->errstr_size, "fixed %s has no size", full);
		goto bad;
	}
	json_object_set(out, "size", json_object_get(s, "size"));
	return out;
bad:
	json_decref(out);
	return NULL;
}

static json_t *normalize(struct norm *n, const json_t *s, const char *ns, int depth)
{
	if (depth > SCHEMA_MAX_DEPTH) {
		err_format(n->errstr, n->errstr_size, "schema nested deeper than %d",
		           SCHEMA_MAX_DEPTH);
		return NULL;
	}
	if (json_is_string(s)) {
		const char *name = json_string_value(s);
		char full[512];

		if (is_primitive(name))
			return json_string(name);
		fullname(full, sizeof(full), name, NULL, ns);
		return json_string(full);
	}
	if (json_is_array(s)) {
		json_t *out = json_array();
		size_t i;
		const json_t *b;

		json_array_foreach (s, i, b) {
			json_t *nb = normalize(n, b, ns, depth + 1);

			if (!nb) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, nb);
		}
		return out;
	}
	if (json_is_object(s)) {
		const json_t *t = json_object_get(s, "type");
		const char *type = json_string_value(t);

		if (!type)
			return t ? normalize(n, t, ns, depth + 1) : NULL;
		if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 ||
		    strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0)
			return normalize_named(n, s, type, ns, depth);
		if (strcmp(type, "array") == 0) {
			json_t *items = normalize(n, json_object_get(s, "items"), ns, depth + 1);

			return items ? json_pack("{s:s, s:o}", "type", "array", "items", items)
			             : NULL;
		}
		if (strcmp(type, "map") == 0) {
			json_t *values = normalize(n, json_object_get(s, "values"), ns, depth + 1);

			return values ? json_pack("{s:s, s:o}", "type", "map", "values", values)
			              : NULL;
		}
		/* A primitive (or a reference) written as an object; logical types
		 * (uuid, timestamp-millis) reduce to their underlying type. */
		return normalize(n, t, ns, depth + 1);
	}
	err_format(n->errstr, n->errstr_size, "not a schema");
	return NULL;
}

static json_t *normalize_with(const json_t *schema, bool keep_defaults, char *errstr,
                              size_t errstr_size)
{
	struct norm n = {json_object(), keep_defaults, errstr, errstr_size};
	json_t *out;

	if (errstr && errstr_size)
		errstr[0] = '\0';
	out = normalize(&n, schema, "", 0);
	if (!out && errstr && errstr_size && !errstr[0])
		err_format(errstr, errstr_size, "not a schema");
	json_decref(n.defined);
	return out;
}

json_t *schema_normalize(const json_t *schema, char *errstr, size_t errstr_size)
{
	return normalize_with(schema, true, errstr, errstr_size);
}

char *schema_canonical(const json_t *schema, char *errstr, size_t errstr_size)
{
	json_t *pcf = normalize_with(schema, false, errstr, errstr_size);
	char *text;

	if (!pcf)
		return NULL;
	text = json_dumps(pcf, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(pcf);
	return text;
}

uint64_t schema_crc64(const void *data, size_t len)
{
	static const uint64_t empty = 0xc15d213aa4d7a795ULL;
	static uint64_t table[256];
	static bool ready;
	const unsigned char *p = data;
	uint64_t fp = empty;

	if (!ready) { /* idempotent; a race computes the same table twice */
		for (int i = 0; i < 256; i++) {
			uint64_t v = (uint64_t)i;

			for (int j = 0; j < 8; j++)
				v = (v >> 1) ^ (empty & (0 - (v & 1)));
			table[i] = v;
		}
		ready = true;
	}
	for (size_t i = 0; i < len; i++)
		fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
	return fp;
}

const char *schema_type(const json_t *node)
{
	if (json_is_string(node))
		return json_string_value(node);
	if (json_is_array(node))
		return "union";
	return json_string_value(json_object_get(node, "type"));
}

/* Finds the definition of full name inside a normal schema tree. */
static const json_t *find_named(const json_t *node, const char *full, int depth)
{
	const json_t *v;
	size_t i;

	if (depth > SCHEMA_MAX_DEPTH || !node)
		return NULL;
	if (json_is_array(node)) {
		json_array_foreach (node, i, v) {
			const json_t *r = find_named(v, full, depth + 1);

			if (r)
				return r;
		}
		return NULL;
	}
	if (!json_is_object(node))
		return NULL;
	if (json_is_string(json_object_get(node, "name")) &&
	    strcmp(json_string_value(json_object_get(node, "name")), full) == 0)
		return node;
	json_array_foreach (json_object_get(node, "fields"), i, v) {
		const json_t *r = find_named(json_object_get(v, "type"), full, depth + 1);

		if (r)
			return r;
	}
	if ((v = find_named(json_object_get(node, "items"), full, depth + 1)))
		return v;
	return find_named(json_object_get(node, "values"), full, depth + 1);
}

const json_t *schema_deref(const json_t *root, const json_t *node)
{
	if (json_is_string(node) && !is_primitive(json_string_value(node))) {
		const json_t *def = find_named(root, json_string_value(node), 0);

		return def ? def : node;
	}
	return node;
}

struct compat {
	const json_t *rroot, *wroot;
	char *why;
	size_t why_size;
};

static bool promotable(const char *w, const char *r)
{
	if (strcmp(w, "int") == 0)
		return !strcmp(r, "long") || !strcmp(r, "float") || !strcmp(r, "double");
	if (strcmp(w, "long") == 0)
		return !strcmp(r, "float") || !strcmp(r, "double");
	if (strcmp(w, "float") == 0)
		return !strcmp(r, "double");
	if (strcmp(w, "string") == 0)
		return !strcmp(r, "bytes");
	if (strcmp(w, "bytes") == 0)
		return !strcmp(r, "string");
	return false;
}

/* Short name of a full name, for matching renamed namespaces. */
static const char *short_name(const char *full)
{
	const char *dot = strrchr(full, '.');

	return dot ? dot + 1 : full;
}

static int compat(struct compat *c, const json_t *r, const json_t *w, const char *path, int depth);

static int compat_record(struct compat *c, const json_t *r, const json_t *w, const char *path,
                         int depth)
{
	const json_t *rf, *wf;
	size_t i, j;

	json_array_foreach (json_object_get(r, "fields"), i, rf) {
		const char *name = json_string_value(json_object_get(rf, "name"));
		const json_t *match = NULL;
		char sub[512];

		json_array_foreach (json_object_get(w, "fields"), j, wf) {
			if (strcmp(json_string_value(json_object_get(wf, "name")), name) == 0) {
				match = wf;
				break;
			}
		}
		snprintf(sub, sizeof(sub), "%s.%s", path, name);
		if (!match) {
			if (!json_object_get(rf, "default")) {
				err_format(
				        c->why, c->why_size,
				        "%s: the reader's field has no default and the writer does "
				        "not "
				        "write it",
				        sub);
				return ERR_INVALID;
			}
			continue;
		}
		if (compat(c, json_object_get(rf, "type"), json_object_get(match, "type"), sub,
		           depth + 1) < 0)
			return ERR_INVALID;
	}
	return 0;
}

static int compat(struct compat *c, const json_t *r, const json_t *w, const char *path, int depth)
{
	const char *rt, *wt;

	if (depth > SCHEMA_MAX_DEPTH)
		return 0; /* a recursive type: the part above was already checked */
	r = schema_deref(c->rroot, r);
	w = schema_deref(c->wroot, w);
	rt = schema_type(r);
	wt = schema_type(w);
	if (!rt || !wt) {
		err_format(c->why, c->why_size, "%s: not a schema", path);
		return ERR_INVALID;
	}
	if (strcmp(wt, "union") == 0) {
		const json_t *b;
		size_t i;

		json_array_foreach (w, i, b)
			if (compat(c, r, b, path, depth + 1) < 0)
				return ERR_INVALID;
		return 0;
	}
	if (strcmp(rt, "union") == 0) {
		const json_t *b;
		size_t i;
		char ignored[8];
		struct compat quiet = {c->rroot, c->wroot, ignored, sizeof(ignored)};

		json_array_foreach (r, i, b)
			if (compat(&quiet, b, w, path, depth + 1) == 0)
				return 0;
		err_format(c->why, c->why_size,
		           "%s: the writer's %s matches no branch of the reader's union", path, wt);
		return ERR_INVALID;
	}
	if (strcmp(rt, wt) != 0) {
		if (promotable(wt, rt))
			return 0;
		err_format(c->why, c->why_size, "%s: type changed from %s to %s", path, wt, rt);
		return ERR_INVALID;
	}
	if (strcmp(rt, "record") == 0 || strcmp(rt, "enum") == 0 || strcmp(rt, "fixed") == 0) {
		const char *rn = json_string_value(json_object_get(r, "name"));
		const char *wn = json_string_value(json_object_get(w, "name"));

		if (strcmp(short_name(rn), short_name(wn)) != 0) {
			err_format(c->why, c->why_size, "%s: name changed from %s to %s", path, wn,
			           rn);
			return ERR_INVALID;
		}
	}
	if (strcmp(rt, "record") == 0)
		return compat_record(c, r, w, path, depth);
	if (strcmp(rt, "array") == 0)
		return compat(c, json_object_get(r, "items"), json_object_get(w, "items"), path,
		              depth + 1);
	if (strcmp(rt, "map") == 0)
		return compat(c, json_object_get(r, "values"), json_object_get(w, "values"), path,
		              depth + 1);
	if (strcmp(rt, "enum") == 0) {
		const json_t *ws, *rs;
		size_t i, j;

		if (json_object_get(r, "default"))
			return 0;
		json_array_foreach (json_object_get(w, "symbols"), i, ws) {
			bool found = false;

			json_array_foreach (json_object_get(r, "symbols"), j, rs)
				found = found || json_equal(ws, rs);
			if (!found) {
				err_format(c->why, c->why_size,
				           "%s: the reader's enum lacks symbol %s", path,
				           json_string_value(ws));
				return ERR_INVALID;
			}
		}
		return 0;
	}
	if (strcmp(rt, "fixed") == 0 &&
	    !json_equal(json_object_get(r, "size"), json_object_get(w, "size"))) {
		err_format(c->why, c->why_size, "%s: fixed size changed", path);
		return ERR_INVALID;
	}
	return 0;
}

int schema_compatible(const json_t *reader, const json_t *writer, char *why, size_t why_size)
{
	struct compat c = {reader, writer, why, why_size};
	const char *name = json_string_value(json_object_get(reader, "name"));

	if (why && why_size)
		why[0] = '\0';
	return compat(&c, reader, writer, name ? short_name(name) : "", 0);
}
