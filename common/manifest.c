#include "manifest.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int manifest_names(const char *path, char (*names)[MANIFEST_NAME_MAX], int max, char *errstr,
                   size_t errstr_size)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0, lineno = 0;

	if (!f) {
		snprintf(errstr, errstr_size, "could not open the services manifest \"%s\"", path);
		return ERR_NOTFOUND;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[MANIFEST_NAME_MAX];
		bool seen = false;

		lineno++;
		if (sscanf(line, " %63[^# \t\n]", name) != 1)
			continue; /* a comment or a blank line */
		for (int i = 0; i < n && !seen; i++)
			seen = !strcmp(names[i], name);
		if (seen)
			continue;
		if (n == max) {
			snprintf(errstr, errstr_size, "%s:%d: more than %d services", path, lineno,
			         max);
			fclose(f);
			return ERR_INVALID;
		}
		snprintf(names[n++], MANIFEST_NAME_MAX, "%s", name);
	}
	fclose(f);
	return n;
}
