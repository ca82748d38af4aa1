/* Unit tests: configuration tables (defaults, bounds, every bad value named). */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"

struct cfg {
	char *url;
	char *name;
	long port;
	double rate;
	bool flag;
};

static const struct config_var vars[] = {
        CONFIG_STR("URL", NULL, struct cfg, url, "required string"),
        CONFIG_STR("NAME", "svc", struct cfg, name, "string with a default"),
        CONFIG_INT("PORT", "8080", 1, 65535, struct cfg, port, "a port"),
        CONFIG_DBL("RATE", "0.5", 0, 1, struct cfg, rate, "a probability"),
        CONFIG_BOOL("FLAG", "false", struct cfg, flag, "a switch"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* A fake environment: NULL-terminated name/value pairs. */
static const char *lookup(const char *name, void *arg)
{
	const char *const *env = arg;

	for (size_t i = 0; env[i]; i += 2)
		if (strcmp(env[i], name) == 0)
			return env[i + 1];
	return NULL;
}

Test(config, defaults_apply_when_unset)
{
	const char *env[] = {"URL", "postgresql://x", NULL};
	struct cfg c = {0};
	char err[512];

	cr_assert_eq(config_load(&c, vars, NVARS, lookup, env, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(c.url, "postgresql://x");
	cr_expect_str_eq(c.name, "svc");
	cr_expect_eq(c.port, 8080);
	cr_expect_float_eq(c.rate, 0.5, 1e-9);
	cr_expect_eq(c.flag, false);
	config_release(&c, vars, NVARS);
	cr_expect_null(c.url);
}

Test(config, values_override_defaults)
{
	const char *env[] = {"URL",  "u", "NAME", "other", "PORT", "1",
	                     "RATE", "1", "FLAG", "yes",   NULL};
	struct cfg c = {0};
	char err[512];

	cr_assert_eq(config_load(&c, vars, NVARS, lookup, env, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(c.name, "other");
	cr_expect_eq(c.port, 1);
	cr_expect_float_eq(c.rate, 1.0, 1e-9);
	cr_expect_eq(c.flag, true);
	config_release(&c, vars, NVARS);
}

Test(config, bounds_are_inclusive_and_enforced)
{
	const char *ok[] = {"URL", "u", "PORT", "65535", NULL};
	const char *high[] = {"URL", "u", "PORT", "65536", NULL};
	const char *low[] = {"URL", "u", "PORT", "0", NULL};
	struct cfg c = {0};
	char err[512];

	cr_expect_eq(config_load(&c, vars, NVARS, lookup, ok, err, sizeof(err)), 0);
	cr_expect_eq(c.port, 65535);
	cr_expect_eq(config_load(&c, vars, NVARS, lookup, high, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "PORT: 65536 is out of range [1, 65535]"), "got: %s", err);
	cr_expect_eq(config_load(&c, vars, NVARS, lookup, low, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "PORT: 0 is out of range"), "got: %s", err);
	config_release(&c, vars, NVARS);
}

Test(config, every_bad_value_is_named)
{
	const char *env[] = {"PORT", "80x", "RATE", "2.5", "FLAG", "maybe", NULL};
	struct cfg c = {0};
	char err[1024];

	cr_assert_eq(config_load(&c, vars, NVARS, lookup, env, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "URL: required but not set"), "got: %s", err);
	cr_expect(strstr(err, "PORT: \"80x\" is not an integer"), "got: %s", err);
	cr_expect(strstr(err, "RATE: 2.5 is out of range [0, 1]"), "got: %s", err);
	cr_expect(strstr(err, "FLAG: \"maybe\" is not a boolean"), "got: %s", err);
	/* One line per bad variable, nothing about the good one. */
	int lines = 0;
	for (const char *p = err; *p; p++)
		lines += *p == '\n';
	cr_expect_eq(lines, 4, "got: %s", err);
	cr_expect_null(strstr(err, "NAME"));
	config_release(&c, vars, NVARS);
}

Test(config, rejects_overflow_and_trailing_garbage)
{
	const char *big[] = {"URL", "u", "PORT", "99999999999999999999999", NULL};
	const char *space[] = {"URL", "u", "PORT", "80 ", NULL};
	const char *nan[] = {"URL", "u", "RATE", "nan", NULL};
	struct cfg c = {0};
	char err[512];

	cr_expect_eq(config_load(&c, vars, NVARS, lookup, big, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "PORT:"), "got: %s", err);
	cr_expect_eq(config_load(&c, vars, NVARS, lookup, space, err, sizeof(err)), ERR_INVALID);
	cr_expect_eq(config_load(&c, vars, NVARS, lookup, nan, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "RATE: \"nan\" is not a number"), "got: %s", err);
	config_release(&c, vars, NVARS);
}

Test(config, empty_required_string_is_missing)
{
	const char *env[] = {"URL", "", NULL};
	struct cfg c = {0};
	char err[512];

	cr_expect_eq(config_load(&c, vars, NVARS, lookup, env, err, sizeof(err)), ERR_INVALID);
	cr_expect(strstr(err, "URL: required but not set"), "got: %s", err);
	config_release(&c, vars, NVARS);
}
