/*
 * manifest.h - reads the services' manifest (deploy/services.conf): one line
 * per daemon, "name database admin-port [settings]", '#' comments. Tools
 * use it for what follows from the list of services: each one's consumer
 * group and dead-letter topic.
 */
#ifndef COMMON_MANIFEST_H
#define COMMON_MANIFEST_H

#include <stddef.h>

#include "err.h"

#define MANIFEST_NAME_MAX 64

/*
 * The services' names, once each ("order#2", one more instance, is
 * "order"), in the manifest's order: up to max into names. Returns how
 * many, or ERR_NOTFOUND / ERR_INVALID with errstr.
 */
int manifest_names(const char *path, char (*names)[MANIFEST_NAME_MAX], int max, char *errstr,
                   size_t errstr_size) WARN_UNUSED;

/* The same, and each one's database into databases (may be NULL): "-"
 * for a service without one. */
int manifest_services(const char *path, char (*names)[MANIFEST_NAME_MAX],
                      char (*databases)[MANIFEST_NAME_MAX], int max, char *errstr,
                      size_t errstr_size) WARN_UNUSED;

#endif
