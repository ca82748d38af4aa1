/*
 * config.h - settings from environment variables, described by a table.
 *
 * A daemon declares every setting once, with its type, default and bounds:
 *
 *   static const struct config_var vars[] = {
 *       CONFIG_STR("DATABASE_URL", NULL, struct cfg, db_url, "libpq connection string"),
 *       CONFIG_INT("ADMIN_PORT", "9101", 1, 65535, struct cfg, admin_port, "admin HTTP port"),
 *   };
 *
 * config_load() reads them all and reports every bad value by name, not just
 * the first, so one start shows everything that needs fixing.
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum config_type {
	CONFIG_TYPE_STRING, /* char *, owned by the target (config_release frees) */
	CONFIG_TYPE_INT,    /* long, within [min, max] */
	CONFIG_TYPE_DOUBLE, /* double, within [min, max] */
	CONFIG_TYPE_BOOL,   /* bool: true/false, 1/0, yes/no, on/off */
};

struct config_var {
	const char *name; /* environment variable */
	enum config_type type;
	const char *def;  /* default as text; NULL makes the variable required */
	double min, max;  /* bounds for numbers */
	size_t offset;    /* where the value goes in the target struct */
	const char *help; /* one line for --help and the docs */
	bool secret;      /* never print the value */
};

#define CONFIG_STR(name, def, type, field, help)                                        \
	{                                                                               \
		name, CONFIG_TYPE_STRING, def, 0, 0, offsetof(type, field), help, false \
	}
#define CONFIG_SECRET(name, def, type, field, help)                                    \
	{                                                                              \
		name, CONFIG_TYPE_STRING, def, 0, 0, offsetof(type, field), help, true \
	}
#define CONFIG_INT(name, def, lo, hi, type, field, help)                               \
	{                                                                              \
		name, CONFIG_TYPE_INT, def, lo, hi, offsetof(type, field), help, false \
	}
#define CONFIG_DBL(name, def, lo, hi, type, field, help)                                  \
	{                                                                                 \
		name, CONFIG_TYPE_DOUBLE, def, lo, hi, offsetof(type, field), help, false \
	}
#define CONFIG_BOOL(name, def, type, field, help)                                     \
	{                                                                             \
		name, CONFIG_TYPE_BOOL, def, 0, 0, offsetof(type, field), help, false \
	}

/* Where values come from: getenv in daemons, a table in tests. */
typedef const char *(*config_lookup_fn)(const char *name, void *arg);

/*
 * Fills target from the variables. On error returns ERR_INVALID and writes
 * one "NAME: reason" line per bad variable into errstr; the target then holds
 * what could be parsed and must still be released.
 * lookup may be NULL for getenv.
 */
int config_load(void *target, const struct config_var *vars, size_t n, config_lookup_fn lookup,
                void *arg, char *errstr, size_t errstr_size) WARN_UNUSED;

/* Frees the strings config_load stored in target. */
void config_release(void *target, const struct config_var *vars, size_t n);

/* Splits a setting's "a,b" in place into a NULL-terminated list of at most
 * max - 1 names (empty ones dropped); returns how many. */
int config_split_list(char *list, const char **out, int max);

/* Prints the table (name, default, bounds, help) for --help. */
void config_print_help(const struct config_var *vars, size_t n);

/* config_load for a program's main: --help (or -h) prints the table and
 * exits 0; every bad value is logged by name and the process exits 2. */
void config_load_or_exit(void *target, const struct config_var *vars, size_t n, int argc,
                         char **argv);

#endif
