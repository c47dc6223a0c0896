/* SPDX-License-Identifier: MIT */
#include "fs/mountinfo.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* mountinfo writes space, tab, newline and backslash as octal escapes. */
static void unescape(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (const char *c = in; *c && n + 1 < size; c++) {
		if (c[0] == '\\' && c[1] >= '0' && c[1] <= '3' && c[2] >= '0' &&
		    c[2] <= '7' && c[3] >= '0' && c[3] <= '7') {
			out[n++] = (char)((c[1] - '0') * 64 + (c[2] - '0') * 8 +
					  c[3] - '0');
			c += 3;
		} else {
			out[n++] = *c;
		}
	}
	out[n] = '\0';
}

int cmk_mountinfo_dev(const char *mountpoint, unsigned *major, unsigned *minor)
{
	char line[8192], field[PATH_MAX], where[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
		/* NOLINTNEXTLINE(cert-err34-c): the kernel's mountinfo */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min,
			   field) != 3)
			continue;
		unescape(field, where, sizeof(where));
		if (strcmp(where, mountpoint) == 0) {
			*major = maj;
			*minor = min;
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

bool cmk_mountinfo_has_source(const char *type, const char *source)
{
	char line[8192], t[64], field[PATH_MAX], src[PATH_MAX];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* ... - TYPE SOURCE SUPER_OPTIONS */
		char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep, " - %63s %4095s", t, field) != 2 ||
		    strcmp(t, type) != 0)
			continue;
		unescape(field, src, sizeof(src));
		found = strcmp(src, source) == 0;
	}
	fclose(f);
	return found;
}
