#include "manifest.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int manifest_names(const char *path, char (*names)[MANIFEST_NAME_MAX], int max, char *errstr,
                   size_t errstr_size)
{
	return manifest_services(path, names, NULL, max, errstr, errstr_size);
}

int manifest_services(const char *path, char (*names)[MANIFEST_NAME_MAX],
                      char (*databases)[MANIFEST_NAME_MAX], int max, char *errstr,
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
		char name[MANIFEST_NAME_MAX], db[MANIFEST_NAME_MAX] = "-";
		bool seen = false;

		lineno++;
		if (sscanf(line, " %63s %63s", name, db) < 1 || name[0] == '#')
			continue;                /* a comment or a blank line */
		name[strcspn(name, "#")] = '\0'; /* "order#2" is one more "order" */
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
		if (databases)
			snprintf(databases[n], MANIFEST_NAME_MAX, "%s", db);
		snprintf(names[n++], MANIFEST_NAME_MAX, "%s", name);
	}
	fclose(f);
	return n;
}
