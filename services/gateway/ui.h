/*
 * ui.h - the page at /ui/ (services/gateway/ui/): plain HTML, CSS and
 * JavaScript that call the public API like any client. The files are read
 * once, at startup, from UI_DIR (only names of [a-z0-9_-] with .html, .js,
 * .css or .svg), and served with a Content-Security-Policy that allows
 * nothing but them and the API of this origin.
 */
#ifndef GATEWAY_UI_H
#define GATEWAY_UI_H

#include "err.h"
#include "http.h"

struct ui;

/* Reads dir's files ("" or NULL: no page; /ui/ then answers 404). */
int ui_load(struct ui **out, const char *dir, char *errstr, size_t errstr_size) WARN_UNUSED;
void ui_free(struct ui *u); /* NULL-safe */

/* Answers GET /ui/ (index.html) and /ui/<file>. */
void ui_serve(const struct ui *u, const struct http_request *req, struct http_response *res);

#endif
