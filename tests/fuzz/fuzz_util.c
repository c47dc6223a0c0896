/* SPDX-License-Identifier: MIT */
/* Files for the targets that go through a path (configuration, keystore,
 * secret files): one private directory per process, removed at exit. */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX];

static void remove_dir(void)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (!dir[0])
		return;
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			int n = snprintf(path, sizeof(path), "%s/%s", dir,
					 e->d_name);

			if (n > 0 && (size_t)n < sizeof(path))
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
	dir[0] = '\0';
}

const char *fuzz_tmpdir(void)
{
	const char *base;

	if (dir[0])
		return dir;
	base = getenv("TMPDIR");
	if (!base || !base[0])
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/cmkfs-fuzz.XXXXXX", base);
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return NULL;
	}
	atexit(remove_dir);
	return dir;
}

int fuzz_write_file(const char *name, const void *data, size_t len, char *out,
		    size_t out_size)
{
	const char *d = fuzz_tmpdir();
	const char *p = data;
	int fd, n;

	if (!d)
		return -EIO;
	n = snprintf(out, out_size, "%s/%s", d, name);
	if (n < 0 || (size_t)n >= out_size)
		return -ENAMETOOLONG;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return close(fd) ? -errno : 0;
}
