/*
 * schemas-check - fails when a schema changed in a way that an older reader
 * or writer cannot resolve.
 *
 *   schemas-check [CURRENT_DIR [RELEASED_DIR]]     (default: schemas schemas/released)
 *
 *   schemas-check --registry URL [CURRENT_DIR [RELEASED_DIR]]
 *
 * Every CURRENT_DIR/X.avsc with a released version RELEASED_DIR/X.avsc must
 * read data written with the released one (new readers, old data) and the
 * released one must read data written with it (old readers, new data). A
 * released schema whose current file is gone is an error too. Prints one
 * line per schema; exits 1 on any incompatibility.
 *
 * With --registry, a running schema registry (Confluent-compatible API,
 * user and password from SCHEMA_REGISTRY_USER and SCHEMA_REGISTRY_PASSWORD)
 * is asked too: each current schema must be acceptable as the next version
 * of its subject under the subject's rule (BACKWARD in the stack). A
 * registry that does not answer fails the check (exit 2).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry.h"
#include "schema.h"

static json_t *load_normal(const char *path, char *why, size_t size)
{
	json_error_t e;
	json_t *raw = json_load_file(path, 0, &e);
	json_t *n;

	if (!raw) {
		snprintf(why, size, "%s: not JSON: %s (line %d)", path, e.text, e.line);
		return NULL;
	}
	n = schema_normalize(raw, why, size);
	json_decref(raw);
	return n;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Checks one released schema against its current version; 0 when compatible. */
static int check_one(const char *current_dir, const char *released_dir, const char *file)
{
	char cur_path[1024], old_path[1024], why[512] = "";
	json_t *cur, *old;
	int rc = 1;

	snprintf(cur_path, sizeof(cur_path), "%s/%s", current_dir, file);
	snprintf(old_path, sizeof(old_path), "%s/%s", released_dir, file);
	old = load_normal(old_path, why, sizeof(why));
	cur = old ? load_normal(cur_path, why, sizeof(why)) : NULL;
	if (!old || !cur) {
		printf("FAIL %s: %s\n", file, why);
		goto out;
	}
	if (schema_compatible(cur, old, why, sizeof(why)) < 0) {
		printf("FAIL %s: the new schema cannot read released data: %s\n", file, why);
		goto out;
	}
	if (schema_compatible(old, cur, why, sizeof(why)) < 0) {
		printf("FAIL %s: released readers cannot read new data: %s\n", file, why);
		goto out;
	}
	printf("ok   %s\n", file);
	rc = 0;
out:
	json_decref(cur);
	json_decref(old);
	return rc;
}

/* Asks the registry about every CURRENT_DIR/X.avsc; the number refused, or -1. */
static int check_registry(const char *url, const char *current_dir)
{
	struct registry *r = NULL;
	char why[512] = "", path[1024], subject[400];
	DIR *d = opendir(current_dir);
	struct dirent *e;
	int refused = 0;

	if (!d || registry_new(&r, url, getenv("SCHEMA_REGISTRY_USER"),
	                       getenv("SCHEMA_REGISTRY_PASSWORD"), why, sizeof(why)) < 0) {
		fprintf(stderr, "schemas-check: %s\n", d ? why : current_dir);
		if (d)
			closedir(d);
		return -1;
	}
	while ((e = readdir(d)) && refused >= 0) {
		json_t *raw;
		char *text = NULL;
		bool ok = false;

		if (!ends_with(e->d_name, ".avsc"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", current_dir, e->d_name);
		raw = json_load_file(path, 0, NULL);
		text = raw ? json_dumps(raw, JSON_COMPACT) : NULL;
		if (!text ||
		    registry_subject(text, subject, sizeof(subject), why, sizeof(why)) < 0) {
			printf("FAIL %s: %s\n", e->d_name, text ? why : "not JSON");
			refused++;
		} else if (registry_check(r, subject, text, &ok, why, sizeof(why)) < 0) {
			fprintf(stderr, "schemas-check: %s\n", why);
			refused = -1;
		} else if (!ok) {
			printf("FAIL %s: the registry's rule for %s refuses it\n", e->d_name,
			       subject);
			refused++;
		} else {
			printf("ok   %s (registry, %s)\n", e->d_name, subject);
		}
		free(text);
		json_decref(raw);
	}
	closedir(d);
	registry_free(r);
	return refused;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	const char *current_dir, *released_dir;
	DIR *d;
	struct dirent *e;
	int failed = 0, checked = 0;

	if (argc > 2 && strcmp(argv[1], "--registry") == 0) {
		url = argv[2];
		argc -= 2;
		argv += 2;
	}
	current_dir = argc > 1 ? argv[1] : "schemas";
	released_dir = argc > 2 ? argv[2] : "schemas/released";
	d = opendir(released_dir);
	if (!d) {
		fprintf(stderr, "schemas-check: cannot open %s\n", released_dir);
		return 2;
	}
	while ((e = readdir(d))) {
		if (!ends_with(e->d_name, ".avsc"))
			continue;
		failed += check_one(current_dir, released_dir, e->d_name);
		checked++;
	}
	closedir(d);
	printf("schemas-check: %d checked, %d incompatible\n", checked, failed);
	if (url) {
		int refused = check_registry(url, current_dir);

		if (refused < 0)
			return 2;
		printf("schemas-check: the registry at %s refuses %d\n", url, refused);
		failed += refused;
	}
	return failed ? 1 : 0;
}
