#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static const char *env_lookup(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

static void append(char *errstr, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void append(char *errstr, size_t size, const char *fmt, ...)
{
	size_t len;
	va_list ap;

	if (!errstr || size == 0)
		return;
	len = strnlen(errstr, size);
	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr + len, size - len, fmt, ap);
	va_end(ap);
}

static int parse_long(const char *text, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *text, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(text, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

/* Parses one variable into its field. Returns 0, or -1 with the reason appended. */
static int load_one(char *base, const struct config_var *v, const char *text, char *errstr,
                    size_t errstr_size)
{
	void *field = base + v->offset;

	switch (v->type) {
	case CONFIG_TYPE_STRING: {
		char *copy = strdup(text);

		if (!copy) {
			append(errstr, errstr_size, "%s: out of memory\n", v->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case CONFIG_TYPE_INT: {
		long n;

		if (parse_long(text, &n) < 0) {
			append(errstr, errstr_size, "%s: \"%s\" is not an integer\n", v->name,
			       text);
			return -1;
		}
		if ((double)n < v->min || (double)n > v->max) {
			append(errstr, errstr_size, "%s: %ld is out of range [%.0f, %.0f]\n",
			       v->name, n, v->min, v->max);
			return -1;
		}
		*(long *)field = n;
		return 0;
	}
	case CONFIG_TYPE_DOUBLE: {
		double d;

		if (parse_double(text, &d) < 0) {
			append(errstr, errstr_size, "%s: \"%s\" is not a number\n", v->name, text);
			return -1;
		}
		if (d < v->min || d > v->max) {
			append(errstr, errstr_size, "%s: %g is out of range [%g, %g]\n", v->name, d,
			       v->min, v->max);
			return -1;
		}
		*(double *)field = d;
		return 0;
	}
	case CONFIG_TYPE_BOOL:
		if (parse_bool(text, (bool *)field) < 0) {
			append(errstr, errstr_size, "%s: \"%s\" is not a boolean (true/false)\n",
			       v->name, text);
			return -1;
		}
		return 0;
	}
	append(errstr, errstr_size, "%s: unknown variable type\n", v->name);
	return -1;
}

int config_load(void *target, const struct config_var *vars, size_t n, config_lookup_fn lookup,
                void *arg, char *errstr, size_t errstr_size)
{
	int bad = 0;

	if (errstr && errstr_size)
		errstr[0] = '\0';
	if (!lookup)
		lookup = env_lookup;
	for (size_t i = 0; i < n; i++) {
		const struct config_var *v = &vars[i];
		const char *text = lookup(v->name, arg);

		if (!text || (text[0] == '\0' && v->type != CONFIG_TYPE_STRING))
			text = v->def;
		if (!text || (v->def == NULL && text[0] == '\0')) {
			append(errstr, errstr_size, "%s: required but not set\n", v->name);
			bad++;
			continue;
		}
		if (load_one(target, v, text, errstr, errstr_size) < 0)
			bad++;
	}
	return bad ? ERR_INVALID : 0;
}

void config_release(void *target, const struct config_var *vars, size_t n)
{
	if (!target)
		return;
	for (size_t i = 0; i < n; i++) {
		if (vars[i].type == CONFIG_TYPE_STRING) {
			char **field = (char **)((char *)target + vars[i].offset);

			free(*field);
			*field = NULL;
		}
	}
}

void config_print_help(const struct config_var *vars, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct config_var *v = &vars[i];

		printf("  %-28s %s", v->name, v->help ? v->help : "");
		if (v->def)
			printf(" (default: %s)",
			       v->secret ? "***" : (v->def[0] ? v->def : "empty"));
		else
			printf(" (required)");
		if (v->type == CONFIG_TYPE_INT || v->type == CONFIG_TYPE_DOUBLE)
			printf(" [%g..%g]", v->min, v->max);
		putchar('\n');
	}
}

int config_split_list(char *list, const char **out, int max)
{
	int n = 0;

	for (char *p = list; p && *p && n < max - 1;) {
		char *comma = strchr(p, ',');

		if (comma)
			*comma = '\0';
		if (*p)
			out[n++] = p;
		p = comma ? comma + 1 : NULL;
	}
	out[n] = NULL;
	return n;
}

void config_load_or_exit(void *target, const struct config_var *vars, size_t n, int argc,
                         char **argv)
{
	char errs[4096];
	char *line, *next;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: %s\nconfigured by environment variables:\n", argv[0]);
		config_print_help(vars, n);
		exit(0);
	}
	if (config_load(target, vars, n, NULL, NULL, errs, sizeof(errs)) == 0)
		return;
	for (line = errs; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		LOG(ERROR, "invalid configuration: %s", line);
	}
	config_release(target, vars, n);
	exit(2);
}
