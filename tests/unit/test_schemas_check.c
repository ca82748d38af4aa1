/* Unit tests: the schemas-check tool accepts a compatible change and rejects each breaking one. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs schemas-check on a fixture directory; returns its exit code and output. */
static int run_check(const char *fixture, char *out, size_t size)
{
	char cmd[512];
	const char *dir = getenv("BUILD_DIR");
	FILE *p;
	size_t n;
	int status;

	snprintf(cmd, sizeof(cmd),
	         "%s/bin/schemas-check tests/schemas-check/%s "
	         "tests/schemas-check/released 2>&1",
	         dir ? dir : "build/asan", fixture);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(schemas_check, accepts_a_field_added_with_a_default)
{
	char out[2048];

	cr_expect_eq(run_check("compatible", out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "ok   Thing.avsc"), "%s", out);
}

Test(schemas_check, rejects_a_field_added_without_a_default)
{
	char out[2048];

	cr_expect_eq(run_check("no-default", out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "FAIL Thing.avsc: the new schema cannot read released data") &&
	                  strstr(out, "Thing.note"),
	          "%s", out);
}

Test(schemas_check, rejects_a_changed_type)
{
	char out[2048];

	cr_expect_eq(run_check("type-changed", out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "Thing.id: type changed from string to long"), "%s", out);
}

Test(schemas_check, rejects_a_field_removed_without_a_default)
{
	char out[2048];

	cr_expect_eq(run_check("field-removed", out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "released readers cannot read new data") && strstr(out, "Thing.n"),
	          "%s", out);
}

Test(schemas_check, the_project_schemas_are_compatible_with_their_released_versions)
{
	char cmd[512], out[8192];
	const char *dir = getenv("BUILD_DIR");
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "%s/bin/schemas-check 2>&1", dir ? dir : "build/asan");
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	cr_expect_eq(WEXITSTATUS(pclose(p)), 0, "%s", out);
	cr_expect(strstr(out, "21 checked, 0 incompatible"), "%s", out);
}
