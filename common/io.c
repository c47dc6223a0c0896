/* SPDX-License-Identifier: MIT */
#include "common/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fault.h"

int cmk_read_full(int fd, void *buf, size_t len, off_t off, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + *got, len - *got,
				  off + (off_t)*got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

int cmk_range_lock(int fd, short type, off_t start, off_t len)
{
	struct flock lk = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = start,
		.l_len = len,
	};

	while (fcntl(fd, F_OFD_SETLKW, &lk) != 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int cmk_write_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = off < 0 ? write(fd, (const uint8_t *)buf + done,
					    len - done)
				    : pwrite(fd, (const uint8_t *)buf + done,
					     len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static const char *type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFLNK:
		return "a symbolic link";
	default:
		return "not a regular file";
	}
}

int cmk_open_regular(int dir_fd, const char *name, int flags, struct stat *st,
		     struct cmk_err *err)
{
	struct stat own;
	int fd, ret;

	if (!st)
		st = &own;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = openat(dir_fd, name,
		    flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			return cmk_err_set(err, ret,
					   "%s: a symbolic link, where a "
					   "regular file should be",
					   name);
		if (ret == -EISDIR)
			return cmk_err_set(err, -EINVAL,
					   "%s: a directory, where a regular "
					   "file should be",
					   name);
		return cmk_err_set(err, ret, "%s: %s", name, strerror(-ret));
	}
	if (fstat(fd, st) != 0) {
		ret = -errno;
		close(fd);
		return cmk_err_set(err, ret, "%s: %s", name, strerror(-ret));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return cmk_err_set(err, -EINVAL,
				   "%s: %s, where a regular file should be",
				   name, type_name(st->st_mode));
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		ret = -errno;
		close(fd);
		return cmk_err_set(err, ret, "%s: %s", name, strerror(-ret));
	}
	return fd;
}

/* Whether err from renameat2 says the store does not know the flag (or
 * the call at all), rather than that the rename itself failed. */
static bool noreplace_unsupported(int err)
{
	return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP;
}

int cmk_rename_noreplace(int old_dir, const char *old_name, int new_dir,
			 const char *new_name)
{
	struct stat st;
	int ret = cmk_fault("store.noreplace");

	if (ret == 0)
		ret = renameat2(old_dir, old_name, new_dir, new_name,
				RENAME_NOREPLACE)
			      ? -errno
			      : 0;
	if (!noreplace_unsupported(-ret))
		return ret;
	if (fstatat(old_dir, old_name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		if (linkat(old_dir, old_name, new_dir, new_name, 0))
			return -errno;
		/* The new name stands: the rename is done. Should the old
		 * name fail to go, it stays a second link to the same file. */
		unlinkat(old_dir, old_name, 0);
		return 0;
	}
	if (fstatat(new_dir, new_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	if (errno != ENOENT)
		return -errno;
	if (renameat(old_dir, old_name, new_dir, new_name) == 0)
		return 0;
	/* What appeared meanwhile: a file, or a directory with entries. */
	ret = -errno;
	return ret == -ENOTDIR || ret == -ENOTEMPTY || ret == -EISDIR ? -EEXIST
								      : ret;
}

/* The directory of path, opened for fsync. */
static int open_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else if ((size_t)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
				  path) >= sizeof(dir))
		return -ENAMETOOLONG;
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int cmk_replace_file(int dir_fd, const char *dir_path, const char *name,
		     const void *buf, size_t len, mode_t mode, bool noreplace,
		     struct cmk_err *err)
{
	char tmp[PATH_MAX];
	const char *where = dir_path ? dir_path : "";
	const char *sep = dir_path ? "/" : "";
	uint64_t rnd = 0;
	int fd, sync_fd = -1, ret;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return cmk_err_set(err, -EIO, "%s%s%s: no random bytes", where,
				   sep, name);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%016llx", name,
			     (unsigned long long)rnd) >= sizeof(tmp))
		return cmk_err_set(err, -ENAMETOOLONG, "%s%s%s: name too long",
				   where, sep, name);
	fd = openat(dir_fd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		ret = -errno;
		return cmk_err_set(err, ret, "%s%s%s: %s", where, sep, tmp,
				   strerror(-ret));
	}
	ret = cmk_write_full(fd, buf, len, 0);
	/* Durable before it replaces the old content. */
	if (ret == 0 && fsync(fd) != 0)
		ret = -errno;
	if (close(fd) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0)
		ret = noreplace
			      ? cmk_rename_noreplace(dir_fd, tmp, dir_fd, name)
		      : renameat(dir_fd, tmp, dir_fd, name) != 0 ? -errno
								 : 0;
	if (ret) {
		unlinkat(dir_fd, tmp, 0);
		if (ret == -EEXIST && noreplace)
			return cmk_err_set(err, ret, "%s%s%s: already exists",
					   where, sep, name);
		return cmk_err_set(err, ret, "%s%s%s: %s", where, sep, name,
				   strerror(-ret));
	}
	sync_fd = dir_fd == AT_FDCWD ? open_dir_of(name) : dir_fd;
	ret = sync_fd < 0 ? (sync_fd == -ENAMETOOLONG ? sync_fd : -errno)
	      : fsync(sync_fd) != 0 ? -errno
				    : 0;
	if (dir_fd == AT_FDCWD && sync_fd >= 0)
		close(sync_fd);
	if (ret)
		return cmk_err_set(err, ret,
				   "%s%s%s: fsync of the directory: %s", where,
				   sep, name, strerror(-ret));
	return 0;
}
