#include "codec.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "schema.h"

#define CODEC_MAX_DEPTH 32
/* Poison with made-up ids must not grow the table without end: past this
 * many, an unknown id is asked for again each time instead. */
#define CODEC_MAX_POISON_IDS 4096

struct codec_entry {
	char *name;      /* short name, e.g. "OrderCreated" */
	char *topic;     /* x-topic, or NULL */
	char *key_field; /* x-key, or NULL */
	uint64_t fingerprint;
	bool is_reader;
	bool has_id;         /* registry_id is set: encoding uses the Confluent framing */
	int32_t registry_id; /* the schema's id in the schema registry */
	json_t *normal;      /* schema_normalize() of the schema */
	avro_schema_t avro;
	avro_value_iface_t *iface;
};

/* A registry id and its writer schema; NULL: the registry has no such id. */
struct codec_id {
	int32_t id;
	const struct codec_entry *entry;
};

/*
 * What the codec knows of the schema registry. Decoding (const, shared by
 * threads) learns ids as it meets them: the table and the schemas learned
 * at run time are the codec's only mutable state, behind the lock.
 */
struct codec_registry {
	pthread_mutex_t lock;
	codec_lookup_fn lookup; /* NULL: no registry; a Confluent-framed record is poison */
	void *arg;
	struct codec_id *ids;
	size_t nids, idcap;
	size_t npoison;               /* ids remembered as poison: at most CODEC_MAX_POISON_IDS */
	struct codec_entry **learned; /* writers learned from the registry */
	size_t nlearned, learnedcap;
};

struct codec {
	struct codec_entry *entries;
	size_t n, cap;
	struct codec_registry *reg;
};

int codec_new_empty(struct codec **out)
{
	struct codec *c = calloc(1, sizeof(*c));

	if (!c || !(c->reg = calloc(1, sizeof(*c->reg)))) {
		free(c);
		*out = NULL;
		return ERR_NOMEM;
	}
	pthread_mutex_init(&c->reg->lock, NULL);
	*out = c;
	return 0;
}

/* Room for one more of n elements of size in arr (capacity *cap, doubling
 * from first): arr itself or its new place, NULL when out of memory (arr
 * is then unchanged). */
static void *grow(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t want = *cap ? *cap * 2 : first;
	void *grown;

	if (n < *cap)
		return arr;
	grown = realloc(arr, want * size);
	if (grown)
		*cap = want;
	return grown;
}

static void entry_release(struct codec_entry *e)
{
	free(e->name);
	free(e->topic);
	free(e->key_field);
	json_decref(e->normal);
	if (e->iface)
		avro_value_iface_decref(e->iface);
	if (e->avro)
		avro_schema_decref(e->avro);
}

void codec_free(struct codec *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_release(&c->entries[i]);
	free(c->entries);
	for (size_t i = 0; i < c->reg->nlearned; i++) {
		entry_release(c->reg->learned[i]);
		free(c->reg->learned[i]);
	}
	free(c->reg->learned);
	free(c->reg->ids);
	pthread_mutex_destroy(&c->reg->lock);
	free(c->reg);
	free(c);
}

int codec_new(struct codec **out, char *errstr, size_t errstr_size)
{
	struct codec *c;
	int rc;

	rc = codec_new_empty(&c);
	if (rc < 0)
		return rc;
	/* Readers first, so each released writer is checked against its reader. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < codec_nbuiltin_schemas; i++) {
			const struct codec_source *s = &codec_builtin_schemas[i];
			bool reader = strstr(s->name, "/released/") == NULL;
			char why[512];

			if (reader != (pass == 0))
				continue;
			rc = codec_add_schema(c, s->text, reader, why, sizeof(why));
			if (rc < 0) {
				err_format(errstr, errstr_size, "%s: %s", s->name, why);
				codec_free(c);
				return rc;
			}
		}
	}
	*out = c;
	return 0;
}

static struct codec_entry *find_reader(const struct codec *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->entries[i].is_reader && strcmp(c->entries[i].name, name) == 0)
			return &c->entries[i];
	return NULL;
}

static struct codec_entry *find_writer(const struct codec *c, uint64_t fp)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->entries[i].fingerprint == fp)
			return &c->entries[i];
	return NULL;
}

static char *dup_attr(const json_t *schema, const char *attr)
{
	const char *v = json_string_value(json_object_get(schema, attr));

	return v ? strdup(v) : NULL;
}

/*
 * Parses a schema into e. *dup is set (and e left empty) when the codec has
 * a schema of the same fingerprint. A writer is checked against the reader
 * of its name, if there is one.
 */
static int entry_make(const struct codec *c, struct codec_entry *e, const char *json_text,
                      bool is_reader, bool *dup, char *errstr, size_t errstr_size)
{
	json_error_t jerr;
	json_t *raw = json_loads(json_text, 0, &jerr);
	char *pcf = NULL;
	const char *full, *dot;
	struct codec_entry *reader;
	int rc = ERR_INVALID;

	memset(e, 0, sizeof(*e));
	*dup = false;
	if (!raw) {
		err_format(errstr, errstr_size, "not JSON: %s (line %d)", jerr.text, jerr.line);
		return ERR_INVALID;
	}
	e->is_reader = is_reader;
	e->normal = schema_normalize(raw, errstr, errstr_size);
	if (!e->normal)
		goto out;
	full = json_string_value(json_object_get(e->normal, "name"));
	if (!full || strcmp(schema_type(e->normal), "record") != 0) {
		err_format(errstr, errstr_size, "an event schema must be a named record");
		goto out;
	}
	dot = strrchr(full, '.');
	e->name = strdup(dot ? dot + 1 : full);
	e->topic = dup_attr(raw, "x-topic");
	e->key_field = dup_attr(raw, "x-key");
	pcf = schema_canonical(raw, errstr, errstr_size);
	if (!pcf || !e->name)
		goto out;
	e->fingerprint = schema_crc64(pcf, strlen(pcf));
	if (find_writer(c, e->fingerprint)) {
		*dup = true;
		rc = 0;
		goto out;
	}
	if (is_reader && find_reader(c, e->name)) {
		err_format(errstr, errstr_size, "a second reader schema for %s", e->name);
		goto out;
	}
	reader = find_reader(c, e->name);
	if (!is_reader && reader) {
		char why[512];

		if (schema_compatible(reader->normal, e->normal, why, sizeof(why)) < 0) {
			err_format(errstr, errstr_size,
			           "the current %s cannot read this version: %s", e->name, why);
			goto out;
		}
	}
	if (avro_schema_from_json_length(json_text, strlen(json_text), &e->avro) != 0) {
		err_format(errstr, errstr_size, "avro: %s", avro_strerror());
		goto out;
	}
	e->iface = avro_generic_class_from_schema(e->avro);
	if (!e->iface) {
		err_format(errstr, errstr_size, "avro: %s", avro_strerror());
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 || *dup) {
		uint64_t fp = e->fingerprint;

		entry_release(e);
		memset(e, 0, sizeof(*e));
		e->fingerprint = fp;
	}
	free(pcf);
	json_decref(raw);
	return rc;
}

int codec_add_schema(struct codec *c, const char *json_text, bool is_reader, char *errstr,
                     size_t errstr_size)
{
	struct codec_entry e, *grown;
	bool dup;
	int rc = entry_make(c, &e, json_text, is_reader, &dup, errstr, errstr_size);

	if (rc < 0)
		return rc;
	if (dup) {
		/* The same schema twice (e.g. a released copy of an unchanged one). */
		struct codec_entry *same = find_writer(c, e.fingerprint);

		if (is_reader && !find_reader(c, same->name))
			same->is_reader = true;
		return 0;
	}
	grown = grow(c->entries, &c->cap, c->n, sizeof(*c->entries), 32);
	if (!grown) {
		entry_release(&e);
		return ERR_NOMEM;
	}
	c->entries = grown;
	c->entries[c->n++] = e;
	return 0;
}

const char *codec_topic(const struct codec *c, const char *type)
{
	const struct codec_entry *e = find_reader(c, type);

	return e ? e->topic : NULL;
}

const char *codec_key_field(const struct codec *c, const char *type)
{
	const struct codec_entry *e = find_reader(c, type);

	return e ? e->key_field : NULL;
}

uint64_t codec_fingerprint(const struct codec *c, const char *type)
{
	const struct codec_entry *e = find_reader(c, type);

	return e ? e->fingerprint : 0;
}

/* --- the schema registry's ids --------------------------------------------- */

void codec_use_registry(struct codec *c, codec_lookup_fn lookup, void *arg)
{
	c->reg->lookup = lookup;
	c->reg->arg = arg;
}

/* The entry of id, or NULL; *known says whether the id is in the table
 * (a NULL entry is then an id the registry does not have). Lock held. */
static const struct codec_entry *id_find(const struct codec_registry *r, int32_t id, bool *known)
{
	for (size_t i = 0; i < r->nids; i++) {
		if (r->ids[i].id == id) {
			*known = true;
			return r->ids[i].entry;
		}
	}
	*known = false;
	return NULL;
}

/* Adds id -> entry unless the id is there (another thread was first) or it
 * is one poison id too many. Lock held. */
static int id_put(struct codec_registry *r, int32_t id, const struct codec_entry *entry)
{
	struct codec_id *grown;
	bool known;

	id_find(r, id, &known);
	if (known || (!entry && r->npoison >= CODEC_MAX_POISON_IDS))
		return 0;
	grown = grow(r->ids, &r->idcap, r->nids, sizeof(*r->ids), 64);
	if (!grown)
		return ERR_NOMEM;
	r->ids = grown;
	r->ids[r->nids++] = (struct codec_id){id, entry};
	if (!entry)
		r->npoison++;
	return 0;
}

/* The fingerprint of a schema's Parsing Canonical Form. */
static int text_fingerprint(const char *json_text, uint64_t *fp, char *errstr, size_t errstr_size)
{
	json_error_t jerr;
	json_t *raw = json_loads(json_text, 0, &jerr);
	char *pcf = raw ? schema_canonical(raw, errstr, errstr_size) : NULL;

	if (!raw)
		err_format(errstr, errstr_size, "not JSON: %s (line %d)", jerr.text, jerr.line);
	if (pcf)
		*fp = schema_crc64(pcf, strlen(pcf));
	free(pcf);
	json_decref(raw);
	return pcf ? 0 : ERR_INVALID;
}

int codec_bind_id(struct codec *c, int32_t id, const char *json_text, char *errstr,
                  size_t errstr_size)
{
	struct codec_entry *bound;
	uint64_t fp;
	int rc = text_fingerprint(json_text, &fp, errstr, errstr_size);

	if (rc < 0)
		return rc;
	bound = find_writer(c, fp);
	if (!bound) {
		err_format(errstr, errstr_size, "schema id %d is not one of the codec's schemas",
		           (int)id);
		return ERR_INVALID;
	}
	if (bound->is_reader) {
		bound->has_id = true;
		bound->registry_id = id;
	}
	pthread_mutex_lock(&c->reg->lock);
	rc = id_put(c->reg, id, bound);
	pthread_mutex_unlock(&c->reg->lock);
	return rc;
}

/* Keeps a writer learned from the registry (or the entry it duplicates);
 * *out is the entry to decode with. */
static int learn(const struct codec *c, int32_t id, const char *text,
                 const struct codec_entry **out, char *errstr, size_t errstr_size)
{
	struct codec_registry *r = c->reg;
	struct codec_entry e, *kept = NULL;
	const struct codec_entry *entry = NULL;
	bool dup, known;
	int rc;

	rc = entry_make(c, &e, text, false, &dup, errstr, errstr_size);
	pthread_mutex_lock(&r->lock);
	if (rc == 0 && dup) {
		entry = find_writer(c, e.fingerprint);
	} else if (rc == 0) {
		for (size_t i = 0; i < r->nlearned && !entry; i++)
			if (r->learned[i]->fingerprint == e.fingerprint)
				entry = r->learned[i];
	}
	if (rc == 0 && !entry) {
		struct codec_entry **grown =
		        grow(r->learned, &r->learnedcap, r->nlearned, sizeof(*r->learned), 8);

		if (grown)
			r->learned = grown;
		if (grown && (kept = malloc(sizeof(*kept)))) {
			*kept = e;
			r->learned[r->nlearned++] = kept;
			entry = kept;
		} else {
			rc = ERR_NOMEM;
		}
	}
	if (rc != ERR_NOMEM) {
		/* An id whose schema the codec cannot use is remembered as poison. */
		if (id_put(r, id, entry) == 0)
			entry = id_find(r, id, &known);
	}
	pthread_mutex_unlock(&r->lock);
	if (!kept)
		entry_release(&e); /* empty unless it duplicated a learned one */
	*out = entry;
	return rc;
}

/* The writer schema of a registry id: from the table, else from the registry (once). */
static int writer_by_id(const struct codec *c, int32_t id, const struct codec_entry **out,
                        char *errstr, size_t errstr_size)
{
	struct codec_registry *r = c->reg;
	char *text = NULL, why[256] = "";
	bool known;
	int rc;

	pthread_mutex_lock(&r->lock);
	*out = id_find(r, id, &known);
	pthread_mutex_unlock(&r->lock);
	if (known) {
		if (!*out)
			err_format(errstr, errstr_size,
			           "schema id %d is not an event this codec reads", (int)id);
		return *out ? 0 : ERR_INVALID;
	}
	if (!r->lookup) {
		err_format(errstr, errstr_size,
		           "schema registry id %d, but no schema registry is configured", (int)id);
		return ERR_INVALID;
	}
	rc = r->lookup(r->arg, id, &text, why, sizeof(why));
	if (rc == ERR_NOTFOUND) {
		pthread_mutex_lock(&r->lock);
		rc = id_put(r, id, NULL);
		pthread_mutex_unlock(&r->lock);
		err_format(errstr, errstr_size, "the schema registry has no schema id %d", (int)id);
		return rc < 0 ? rc : ERR_INVALID;
	}
	if (rc < 0) {
		err_format(errstr, errstr_size, "could not look up schema id %d: %s", (int)id, why);
		return rc == ERR_NOMEM ? rc : ERR_RETRY;
	}
	rc = learn(c, id, text, out, why, sizeof(why));
	free(text);
	if (rc == 0 && !*out)
		rc = ERR_INVALID;
	if (rc < 0)
		err_format(errstr, errstr_size, "schema id %d: %s", (int)id, why);
	return rc;
}

/* --- JSON to Avro ---------------------------------------------------------- */

struct walk {
	char *errstr;
	size_t errstr_size;
	const json_t *rroot; /* reader schema, for decoding */
};

static int from_json(struct walk *w, avro_value_t *v, const json_t *j, const char *path, int depth);

/* The union branch for a JSON value: null for null, else the first branch whose
 * Avro type fits the JSON type. */
static int pick_branch(avro_schema_t u, const json_t *j)
{
	size_t n = avro_schema_union_size(u);

	for (size_t i = 0; i < n; i++) {
		avro_schema_t b = avro_schema_union_branch(u, (int)i);
		avro_type_t t = avro_typeof(b);
		bool fits = false;

		switch (t) {
		case AVRO_NULL: fits = json_is_null(j); break;
		case AVRO_BOOLEAN: fits = json_is_boolean(j); break;
		case AVRO_INT32:
		case AVRO_INT64: fits = json_is_integer(j); break;
		case AVRO_FLOAT:
		case AVRO_DOUBLE: fits = json_is_number(j); break;
		case AVRO_STRING:
		case AVRO_ENUM: fits = json_is_string(j); break;
		case AVRO_RECORD:
		case AVRO_MAP: fits = json_is_object(j); break;
		case AVRO_ARRAY: fits = json_is_array(j); break;
		default: break;
		}
		if (fits)
			return (int)i;
	}
	return -1;
}

static bool union_has_null(avro_schema_t s)
{
	if (!is_avro_union(s))
		return false;
	for (size_t i = 0; i < avro_schema_union_size(s); i++)
		if (is_avro_null(avro_schema_union_branch(s, (int)i)))
			return true;
	return false;
}

static int from_json_record(struct walk *w, avro_value_t *v, const json_t *j, const char *path,
                            int depth)
{
	size_t n = 0;

	if (!json_is_object(j)) {
		err_format(w->errstr, w->errstr_size, "%s: expected an object", path);
		return ERR_INVALID;
	}
	avro_value_get_size(v, &n);
	for (size_t i = 0; i < n; i++) {
		avro_value_t f;
		const char *name = NULL;
		const json_t *jf;
		char sub[256];

		avro_value_get_by_index(v, i, &f, &name);
		snprintf(sub, sizeof(sub), "%s.%s", path, name);
		jf = json_object_get(j, name);
		if (!jf) {
			if (union_has_null(avro_value_get_schema(&f))) {
				jf = json_null();
			} else {
				err_format(w->errstr, w->errstr_size, "%s: missing", sub);
				return ERR_INVALID;
			}
		}
		if (from_json(w, &f, jf, sub, depth + 1) < 0)
			return ERR_INVALID;
	}
	return 0;
}

static int from_json(struct walk *w, avro_value_t *v, const json_t *j, const char *path, int depth)
{
	avro_type_t t = avro_value_get_type(v);

	if (depth > CODEC_MAX_DEPTH) {
		err_format(w->errstr, w->errstr_size, "%s: nested too deep", path);
		return ERR_INVALID;
	}
	switch (t) {
	case AVRO_RECORD: return from_json_record(w, v, j, path, depth);
	case AVRO_UNION: {
		avro_value_t branch;
		int i = pick_branch(avro_value_get_schema(v), j);

		if (i < 0 || avro_value_set_branch(v, i, &branch) != 0)
			break;
		return from_json(w, &branch, j, path, depth + 1);
	}
	case AVRO_NULL:
		if (json_is_null(j))
			return avro_value_set_null(v) == 0 ? 0 : ERR_INVALID;
		break;
	case AVRO_BOOLEAN:
		if (json_is_boolean(j))
			return avro_value_set_boolean(v, json_is_true(j)) == 0 ? 0 : ERR_INVALID;
		break;
	case AVRO_INT32: {
		json_int_t n = json_integer_value(j);

		if (json_is_integer(j) && n >= INT32_MIN && n <= INT32_MAX)
			return avro_value_set_int(v, (int32_t)n) == 0 ? 0 : ERR_INVALID;
		break;
	}
	case AVRO_INT64:
		if (json_is_integer(j))
			return avro_value_set_long(v, (int64_t)json_integer_value(j)) == 0
			               ? 0
			               : ERR_INVALID;
		break;
	case AVRO_FLOAT:
		if (json_is_number(j))
			return avro_value_set_float(v, (float)json_number_value(j)) == 0
			               ? 0
			               : ERR_INVALID;
		break;
	case AVRO_DOUBLE:
		if (json_is_number(j))
			return avro_value_set_double(v, json_number_value(j)) == 0 ? 0
			                                                           : ERR_INVALID;
		break;
	case AVRO_STRING:
		if (json_is_string(j))
			return avro_value_set_string_len(v, json_string_value(j),
			                                 json_string_length(j) + 1) == 0
			               ? 0
			               : ERR_INVALID;
		break;
	case AVRO_ENUM:
		if (json_is_string(j)) {
			int idx = avro_schema_enum_get_by_name(avro_value_get_schema(v),
			                                       json_string_value(j));

			if (idx >= 0)
				return avro_value_set_enum(v, idx) == 0 ? 0 : ERR_INVALID;
		}
		break;
	case AVRO_ARRAY:
		if (json_is_array(j)) {
			size_t i;
			const json_t *item;

			json_array_foreach (j, i, item) {
				avro_value_t e;
				char sub[256];

				snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
				if (avro_value_append(v, &e, NULL) != 0 ||
				    from_json(w, &e, item, sub, depth + 1) < 0)
					return ERR_INVALID;
			}
			return 0;
		}
		break;
	case AVRO_MAP:
		if (json_is_object(j)) {
			const char *key;
			const json_t *item;

			json_object_foreach ((json_t *)j, key, item) {
				avro_value_t e;
				char sub[256];

				snprintf(sub, sizeof(sub), "%s.%s", path, key);
				if (avro_value_add(v, key, &e, NULL, NULL) != 0 ||
				    from_json(w, &e, item, sub, depth + 1) < 0)
					return ERR_INVALID;
			}
			return 0;
		}
		break;
	default:
		err_format(w->errstr, w->errstr_size, "%s: unsupported Avro type", path);
		return ERR_INVALID;
	}
	err_format(w->errstr, w->errstr_size, "%s: value does not fit the schema", path);
	return ERR_INVALID;
}

int codec_encode(const struct codec *c, const char *type, const json_t *value, unsigned char **out,
                 size_t *len, char *errstr, size_t errstr_size)
{
	const struct codec_entry *e = find_reader(c, type);
	struct walk w = {errstr, errstr_size, NULL};
	avro_value_t v;
	avro_writer_t writer = NULL;
	size_t size = 0, head;
	unsigned char *buf = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	if (!e) {
		err_format(errstr, errstr_size, "unknown event type \"%s\"", type);
		return ERR_INVALID;
	}
	if (avro_generic_value_new(e->iface, &v) != 0)
		return ERR_NOMEM;
	rc = from_json(&w, &v, value, type, 0);
	if (rc < 0)
		goto out;
	rc = ERR_FATAL;
	if (avro_value_sizeof(&v, &size) != 0)
		goto out;
	head = e->has_id ? CODEC_CONFLUENT_HEADER_SIZE : CODEC_HEADER_SIZE;
	buf = malloc(head + size);
	if (!buf) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (e->has_id) {
		buf[0] = 0x00;
		for (int i = 0; i < 4; i++)
			buf[1 + i] = (unsigned char)((uint32_t)e->registry_id >> (8 * (3 - i)));
	} else {
		buf[0] = 0xC3;
		buf[1] = 0x01;
		for (int i = 0; i < 8; i++)
			buf[2 + i] = (unsigned char)(e->fingerprint >> (8 * i));
	}
	writer = avro_writer_memory((char *)buf + head, (int64_t)size);
	if (!writer || avro_value_write(writer, &v) != 0) {
		err_format(errstr, errstr_size, "avro: %s", avro_strerror());
		goto out;
	}
	*out = buf;
	*len = head + size;
	buf = NULL;
	rc = 0;
out:
	if (writer)
		avro_writer_free(writer);
	free(buf);
	avro_value_decref(&v);
	return rc;
}

/* --- validation of untrusted bytes ------------------------------------------ */

struct cursor {
	const unsigned char *p, *end;
};

static int read_varint(struct cursor *cur, int64_t *out, int max_bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < max_bytes; i++) {
		if (cur->p >= cur->end)
			return -1;
		v |= (uint64_t)(*cur->p & 0x7F) << (7 * i);
		if (!(*cur->p++ & 0x80)) {
			*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
			return 0;
		}
	}
	return -1;
}

static int skip_string(struct cursor *cur)
{
	int64_t n;

	if (read_varint(cur, &n, 10) < 0 || n < 0 || n > cur->end - cur->p)
		return -1;
	cur->p += n;
	return 0;
}

/*
 * Walks the datum against the writer schema without building anything, so
 * that avro-c only ever sees well-formed input: every length fits in what is
 * left, every union and enum index is in range, and nothing is left over.
 */
static int validate(const json_t *root, const json_t *s, struct cursor *cur, int depth)
{
	const char *t;
	int64_t n;

	if (depth > CODEC_MAX_DEPTH)
		return -1;
	s = schema_deref(root, s);
	t = schema_type(s);
	if (!t)
		return -1;
	if (!strcmp(t, "null"))
		return 0;
	if (!strcmp(t, "boolean")) {
		if (cur->p >= cur->end || *cur->p > 1)
			return -1;
		cur->p++;
		return 0;
	}
	if (!strcmp(t, "int"))
		return read_varint(cur, &n, 5) < 0 || n < INT32_MIN || n > INT32_MAX ? -1 : 0;
	if (!strcmp(t, "long"))
		return read_varint(cur, &n, 10);
	if (!strcmp(t, "float") || !strcmp(t, "double")) {
		size_t size = t[0] == 'f' ? 4 : 8;

		if ((size_t)(cur->end - cur->p) < size)
			return -1;
		cur->p += size;
		return 0;
	}
	if (!strcmp(t, "string") || !strcmp(t, "bytes"))
		return skip_string(cur);
	if (!strcmp(t, "fixed")) {
		n = json_integer_value(json_object_get(s, "size"));
		if (n < 0 || n > cur->end - cur->p)
			return -1;
		cur->p += n;
		return 0;
	}
	if (!strcmp(t, "enum")) {
		return read_varint(cur, &n, 10) < 0 || n < 0 ||
		                       (size_t)n >= json_array_size(json_object_get(s, "symbols"))
		               ? -1
		               : 0;
	}
	if (!strcmp(t, "union")) {
		if (read_varint(cur, &n, 10) < 0 || n < 0 || (size_t)n >= json_array_size(s))
			return -1;
		return validate(root, json_array_get(s, (size_t)n), cur, depth + 1);
	}
	if (!strcmp(t, "record")) {
		const json_t *f;
		size_t i;

		json_array_foreach (json_object_get(s, "fields"), i, f)
			if (validate(root, json_object_get(f, "type"), cur, depth + 1) < 0)
				return -1;
		return 0;
	}
	if (!strcmp(t, "array") || !strcmp(t, "map")) {
		const json_t *item = json_object_get(s, t[0] == 'a' ? "items" : "values");

		for (;;) {
			if (read_varint(cur, &n, 10) < 0)
				return -1;
			if (n == 0)
				return 0;
			if (n < 0) {
				int64_t block_size;

				if (n == INT64_MIN || read_varint(cur, &block_size, 10) < 0)
					return -1;
				n = -n;
			}
			/* Every item takes at least one byte in our schemas' types, so a
			 * count larger than what is left is a lie. */
			if (n > cur->end - cur->p)
				return -1;
			for (int64_t k = 0; k < n; k++) {
				if (t[0] == 'm' && skip_string(cur) < 0)
					return -1;
				if (validate(root, item, cur, depth + 1) < 0)
					return -1;
			}
		}
	}
	return -1;
}

/* --- Avro to JSON, resolved to the reader's schema -------------------------- */

static json_t *to_json(struct walk *w, avro_value_t *v, const json_t *r, const char *path,
                       int depth);

/* Whether an Avro value of type t can be read as reader node r (exactly or by promotion). */
static bool readable_as(avro_type_t t, const char *rt, bool exact)
{
	switch (t) {
	case AVRO_NULL: return !strcmp(rt, "null");
	case AVRO_BOOLEAN: return !strcmp(rt, "boolean");
	case AVRO_INT32:
		return !strcmp(rt, "int") ||
		       (!exact &&
		        (!strcmp(rt, "long") || !strcmp(rt, "float") || !strcmp(rt, "double")));
	case AVRO_INT64:
		return !strcmp(rt, "long") ||
		       (!exact && (!strcmp(rt, "float") || !strcmp(rt, "double")));
	case AVRO_FLOAT: return !strcmp(rt, "float") || (!exact && !strcmp(rt, "double"));
	case AVRO_DOUBLE: return !strcmp(rt, "double");
	case AVRO_STRING: return !strcmp(rt, "string");
	case AVRO_RECORD: return !strcmp(rt, "record");
	case AVRO_ENUM: return !strcmp(rt, "enum");
	case AVRO_ARRAY: return !strcmp(rt, "array");
	case AVRO_MAP: return !strcmp(rt, "map");
	default: return false;
	}
}

static json_t *to_json_record(struct walk *w, avro_value_t *v, const json_t *r, const char *path,
                              int depth)
{
	json_t *obj = json_object();
	const json_t *rf;
	size_t i;

	json_array_foreach (json_object_get(r, "fields"), i, rf) {
		const char *name = json_string_value(json_object_get(rf, "name"));
		avro_value_t f;
		json_t *jv;
		char sub[256];

		snprintf(sub, sizeof(sub), "%s.%s", path, name);
		if (avro_value_get_by_name(v, name, &f, NULL) == 0) {
			jv = to_json(w, &f, json_object_get(rf, "type"), sub, depth + 1);
		} else if (json_object_get(rf, "default")) {
			jv = json_deep_copy(json_object_get(rf, "default"));
		} else {
			err_format(w->errstr, w->errstr_size, "%s: not written and no default",
			           sub);
			jv = NULL;
		}
		if (!jv) {
			json_decref(obj);
			return NULL;
		}
		json_object_set_new(obj, name, jv);
	}
	return obj;
}

/* A reader union: the first branch that reads the value exactly, else by promotion. */
static json_t *to_json_union(struct walk *w, avro_value_t *v, avro_type_t t, const json_t *r,
                             const char *path, int depth)
{
	for (int exact = 1; exact >= 0; exact--) {
		const json_t *b;
		size_t i;

		json_array_foreach (r, i, b) {
			const char *bt = schema_type(schema_deref(w->rroot, b));

			if (bt && readable_as(t, bt, exact))
				return to_json(w, v, b, path, depth + 1);
		}
	}
	err_format(w->errstr, w->errstr_size, "%s: no branch of the reader's union fits", path);
	return NULL;
}

/* null, boolean, the numbers (promoted to the reader's rt) and strings. */
static json_t *to_json_scalar(struct walk *w, avro_value_t *v, avro_type_t t, const char *rt,
                              const char *path)
{
	bool real = rt[0] == 'f' || rt[0] == 'd'; /* read as float or double */

	switch (t) {
	case AVRO_NULL: return json_null();
	case AVRO_BOOLEAN: {
		int b = 0;

		avro_value_get_boolean(v, &b);
		return json_boolean(b);
	}
	case AVRO_INT32: {
		int32_t n = 0;

		avro_value_get_int(v, &n);
		return real ? json_real(n) : json_integer(n);
	}
	case AVRO_INT64: {
		int64_t n = 0;

		avro_value_get_long(v, &n);
		return real ? json_real((double)n) : json_integer(n);
	}
	case AVRO_FLOAT: {
		float f = 0;

		avro_value_get_float(v, &f);
		return json_real(f);
	}
	case AVRO_DOUBLE: {
		double d = 0;

		avro_value_get_double(v, &d);
		return json_real(d);
	}
	case AVRO_STRING: {
		const char *str = NULL;
		size_t size = 0;
		json_t *js;

		avro_value_get_string(v, &str, &size);
		js = str && size > 0 ? json_stringn(str, size - 1) : json_string("");
		if (!js)
			err_format(w->errstr, w->errstr_size, "%s: not valid UTF-8", path);
		return js;
	}
	default: return NULL;
	}
}

/* An enum symbol the reader knows, or the reader's default. */
static json_t *to_json_enum(struct walk *w, avro_value_t *v, const json_t *r, const char *path)
{
	int idx = 0;
	const char *sym;
	const json_t *rs;
	size_t i;

	avro_value_get_enum(v, &idx);
	sym = avro_schema_enum_get(avro_value_get_schema(v), idx);
	json_array_foreach (json_object_get(r, "symbols"), i, rs)
		if (sym && !strcmp(json_string_value(rs), sym))
			return json_string(sym);
	if (json_object_get(r, "default"))
		return json_deep_copy(json_object_get(r, "default"));
	err_format(w->errstr, w->errstr_size, "%s: unknown symbol %s", path, sym ? sym : "?");
	return NULL;
}

/* An array or a map: each element read as the reader's items or values. */
static json_t *to_json_container(struct walk *w, avro_value_t *v, bool map, const json_t *r,
                                 const char *path, int depth)
{
	json_t *out = map ? json_object() : json_array();
	size_t n = 0;

	avro_value_get_size(v, &n);
	for (size_t i = 0; i < n; i++) {
		avro_value_t e;
		const char *key = NULL;
		json_t *je;

		avro_value_get_by_index(v, i, &e, map ? &key : NULL);
		je = to_json(w, &e, json_object_get(r, map ? "values" : "items"), path, depth + 1);
		if (!je || (map && !key)) {
			json_decref(je);
			json_decref(out);
			return NULL;
		}
		if (map)
			json_object_set_new(out, key, je);
		else
			json_array_append_new(out, je);
	}
	return out;
}

/* The writer's value v as JSON shaped by the reader's schema node r. */
static json_t *to_json(struct walk *w, avro_value_t *v, const json_t *r, const char *path,
                       int depth)
{
	avro_type_t t = avro_value_get_type(v);
	const char *rt;

	if (depth > CODEC_MAX_DEPTH)
		return NULL;
	if (t == AVRO_UNION) {
		avro_value_t branch;

		if (avro_value_get_current_branch(v, &branch) != 0)
			return NULL;
		return to_json(w, &branch, r, path, depth + 1);
	}
	r = schema_deref(w->rroot, r);
	if (!(rt = schema_type(r)))
		return NULL;
	if (!strcmp(rt, "union"))
		return to_json_union(w, v, t, r, path, depth);
	if (!readable_as(t, rt, false)) {
		err_format(w->errstr, w->errstr_size, "%s: the writer's type cannot be read as %s",
		           path, rt);
		return NULL;
	}
	switch (t) {
	case AVRO_RECORD: return to_json_record(w, v, r, path, depth);
	case AVRO_ENUM: return to_json_enum(w, v, r, path);
	case AVRO_ARRAY: return to_json_container(w, v, false, r, path, depth);
	case AVRO_MAP: return to_json_container(w, v, true, r, path, depth);
	default: return to_json_scalar(w, v, t, rt, path);
	}
}

int codec_decode(const struct codec *c, const void *buf, size_t len, const char **type,
                 json_t **value, char *errstr, size_t errstr_size)
{
	const unsigned char *p = buf;
	const struct codec_entry *writer, *reader;
	struct cursor cur;
	struct walk w = {errstr, errstr_size, NULL};
	avro_reader_t rd = NULL;
	avro_value_t v;
	uint64_t fp = 0;
	size_t head;
	json_t *out = NULL;

	*type = NULL;
	*value = NULL;
	if (errstr && errstr_size)
		errstr[0] = '\0';
	if (len >= CODEC_CONFLUENT_HEADER_SIZE && p[0] == 0x00) {
		int32_t id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
		                       (uint32_t)p[3] << 8 | (uint32_t)p[4]);
		int rc = writer_by_id(c, id, &writer, errstr, errstr_size);

		if (rc < 0)
			return rc;
		head = CODEC_CONFLUENT_HEADER_SIZE;
	} else if (len >= CODEC_HEADER_SIZE && p[0] == 0xC3 && p[1] == 0x01) {
		for (int i = 0; i < 8; i++)
			fp |= (uint64_t)p[2 + i] << (8 * i);
		writer = find_writer(c, fp);
		if (!writer) {
			err_format(errstr, errstr_size, "unknown schema fingerprint %016llx",
			           (unsigned long long)fp);
			return ERR_INVALID;
		}
		head = CODEC_HEADER_SIZE;
	} else {
		err_format(
		        errstr, errstr_size,
		        "neither Avro single-object encoding nor the Confluent framing (%zu bytes)",
		        len);
		return ERR_INVALID;
	}
	reader = find_reader(c, writer->name);
	if (!reader) {
		err_format(errstr, errstr_size, "no reader schema for %s", writer->name);
		return ERR_INVALID;
	}
	cur.p = p + head;
	cur.end = p + len;
	if (validate(writer->normal, writer->normal, &cur, 0) < 0 || cur.p != cur.end) {
		err_format(errstr, errstr_size, "malformed %s datum", writer->name);
		return ERR_INVALID;
	}
	if (avro_generic_value_new(writer->iface, &v) != 0)
		return ERR_NOMEM;
	rd = avro_reader_memory((const char *)p + head, (int64_t)(len - head));
	if (!rd || avro_value_read(rd, &v) != 0) {
		err_format(errstr, errstr_size, "malformed %s datum: %s", writer->name,
		           avro_strerror());
		goto out;
	}
	w.rroot = reader->normal;
	out = to_json(&w, &v, reader->normal, reader->name, 0);
out:
	if (rd)
		avro_reader_free(rd);
	avro_value_decref(&v);
	if (!out) {
		if (errstr && errstr_size && !errstr[0])
			err_format(errstr, errstr_size, "could not decode %s", writer->name);
		return ERR_INVALID;
	}
	*type = reader->name;
	*value = out;
	return 0;
}

static json_t *empty_value(const json_t *root, const json_t *t)
{
	const char *name;

	t = schema_deref(root, t);
	name = schema_type(t);
	if (!name || !strcmp(name, "union") || !strcmp(name, "null"))
		return json_null();
	if (!strcmp(name, "string") || !strcmp(name, "bytes") || !strcmp(name, "enum"))
		return json_string("");
	if (!strcmp(name, "int") || !strcmp(name, "long"))
		return json_integer(0);
	if (!strcmp(name, "float") || !strcmp(name, "double"))
		return json_real(0);
	if (!strcmp(name, "boolean"))
		return json_false();
	if (!strcmp(name, "array"))
		return json_array();
	return json_object();
}

json_t *codec_record_from(const struct codec *c, const char *type, const json_t *from)
{
	const struct codec_entry *e = find_reader(c, type);
	json_t *out;
	const json_t *f;
	size_t i;

	if (!e)
		return NULL;
	out = json_object();
	json_array_foreach (json_object_get(e->normal, "fields"), i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		const json_t *v = json_object_get(from, name);

		if (!strcmp(name, "metadata"))
			continue;
		if (v)
			json_object_set(out, name, (json_t *)v);
		else if (json_object_get(f, "default"))
			json_object_set_new(out, name,
			                    json_deep_copy(json_object_get(f, "default")));
		else
			json_object_set_new(out, name,
			                    empty_value(e->normal, json_object_get(f, "type")));
	}
	return out;
}
