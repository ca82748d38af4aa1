/*
 * ui.c - the page's files, kept in memory (ui.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ui.h"

#define UI_MAX_FILES 32
#define UI_MAX_BYTES (1024 * 1024)

static const struct {
	const char *suffix, *type;
} types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
};

/* Nothing but this origin's files and API: no inline script or style, no
 * other origin, no framing. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'";

struct ui_file {
	char name[64];
	const char *type;
	char *body;
	size_t len;
};

struct ui {
	struct ui_file files[UI_MAX_FILES];
	int n;
};

/* The media type of a file name we serve, or NULL. */
static const char *type_of(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-");

	if (n == 0 || name[n] != '.')
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(name + n, types[i].suffix))
			return types[i].type;
	return NULL;
}

static int read_file(struct ui_file *f, const char *dir, char *errstr, size_t errstr_size)
{
	char path[4096];
	FILE *fp;
	long size;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	fp = fopen(path, "rb");
	if (!fp || fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || size > UI_MAX_BYTES ||
	    fseek(fp, 0, SEEK_SET) != 0 || !(f->body = malloc((size_t)size + 1)) ||
	    fread(f->body, 1, (size_t)size, fp) != (size_t)size) {
		snprintf(errstr, errstr_size, "could not read %s (at most %d bytes)", path,
		         UI_MAX_BYTES);
		if (fp)
			fclose(fp);
		return ERR_INVALID;
	}
	fclose(fp);
	f->len = (size_t)size;
	return 0;
}

int ui_load(struct ui **out, const char *dir, char *errstr, size_t errstr_size)
{
	struct ui *u = calloc(1, sizeof(*u));
	struct dirent *e;
	DIR *d = NULL;
	int rc = 0;

	*out = NULL;
	if (!u)
		return ERR_NOMEM;
	if (dir && *dir) {
		d = opendir(dir);
		if (!d) {
			snprintf(errstr, errstr_size, "could not open UI_DIR %s", dir);
			rc = ERR_INVALID;
		}
	}
	while (rc == 0 && d && (e = readdir(d))) {
		const char *type = type_of(e->d_name);
		struct ui_file *f = &u->files[u->n];

		if (!type || strlen(e->d_name) >= sizeof(f->name))
			continue;
		if (u->n == UI_MAX_FILES) {
			snprintf(errstr, errstr_size, "more than %d files in %s", UI_MAX_FILES,
			         dir);
			rc = ERR_INVALID;
			break;
		}
		memcpy(f->name, e->d_name, strlen(e->d_name) + 1); /* fits: checked above */
		f->type = type;
		if ((rc = read_file(f, dir, errstr, errstr_size)) == 0)
			u->n++;
	}
	if (d)
		closedir(d);
	if (rc == 0 && dir && *dir && u->n == 0) {
		snprintf(errstr, errstr_size, "UI_DIR %s has no page", dir);
		rc = ERR_INVALID;
	}
	if (rc < 0) {
		ui_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

void ui_free(struct ui *u)
{
	if (!u)
		return;
	for (int i = 0; i < u->n; i++)
		free(u->files[i].body);
	free(u);
}

void ui_serve(const struct ui *u, const struct http_request *req, struct http_response *res)
{
	const char *name = req->path + strlen("/ui/");

	if (!*name)
		name = "index.html";
	for (int i = 0; u && i < u->n; i++) {
		const struct ui_file *f = &u->files[i];
		char *copy;

		if (strcmp(f->name, name) != 0)
			continue;
		copy = malloc(f->len ? f->len : 1);
		if (!copy) {
			http_reply_problem(res, 503, NULL, "out of memory");
			return;
		}
		memcpy(copy, f->body, f->len);
		http_reply_take(res, 200, f->type, copy, f->len);
		http_reply_header(res, "Content-Security-Policy", csp);
		http_reply_header(res, "X-Content-Type-Options", "nosniff");
		http_reply_header(res, "Referrer-Policy", "no-referrer");
		http_reply_header(res, "X-Frame-Options", "DENY");
		http_reply_header(res, "Cache-Control", "no-cache");
		return;
	}
	http_reply_problem(
	        res, 404, NULL,
	        u && u->n ? "no file %s in the page" : "%s: no page is installed (UI_DIR)", name);
}
