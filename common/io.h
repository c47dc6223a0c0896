/* SPDX-License-Identifier: MIT */
/* Small I/O helpers every module shares: whole reads and writes, and
 * opening a file of the backing store or the configuration so that a
 * symbolic link, a FIFO, a device or a directory in its place can neither
 * hang nor fool the caller. */
#ifndef CMKFS_COMMON_IO_H
#define CMKFS_COMMON_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"

/* pread() until len bytes or end of file; *got says how many. 0 or
 * -errno (EINTR retried). */
int cmk_read_full(int fd, void *buf, size_t len, off_t off, size_t *got);
/* pwrite() all len bytes at off (off < 0: write() at the file offset).
 * 0 or -errno; a write that makes no progress is -EIO. */
int cmk_write_full(int fd, const void *buf, size_t len, off_t off);

/* A byte-range lock on the open file description of fd (an OFD lock:
 * POSIX semantics per descriptor, not per process, and carried to other
 * hosts by stores that support POSIX locks: GlusterFS, NFS, CephFS).
 * type is F_RDLCK, F_WRLCK or F_UNLCK; len 0 means to the end of the
 * file, however long it grows. Waits for a conflicting lock. 0 or
 * -errno (EINTR retried). */
int cmk_range_lock(int fd, short type, off_t start, off_t len);

/* Opens name (relative to dir_fd, or AT_FDCWD) with flags (O_RDONLY,
 * O_RDWR...) plus O_NOFOLLOW, O_NONBLOCK, O_NOCTTY and O_CLOEXEC, and
 * checks that it is a regular file (*st gets its stat; may be NULL).
 * Returns the descriptor (O_NONBLOCK cleared again), or -errno with err
 * naming the file and what is there instead: -ELOOP a symbolic link,
 * -EINVAL anything else that is not a regular file. */
int cmk_open_regular(int dir_fd, const char *name, int flags, struct stat *st,
		     struct cmk_err *err);

/* Renames old_name (in old_dir) to new_name (in new_dir) only if
 * new_name does not exist: renameat2(RENAME_NOREPLACE). Stores whose
 * kernel client lacks the flag (GlusterFS's FUSE client and NFS say
 * EINVAL) get what they do guarantee instead: anything but a directory is
 * hard-linked to the new name (link(2) never replaces) and its old name
 * removed (should that fail, it stays as a second link); a directory is
 * renamed once the name is found free, and since
 * rename(2) never puts a directory over a file or a non-empty directory,
 * only an empty directory made at that instant could be replaced.
 * Returns 0, -EEXIST when the name is taken, or -errno. */
int cmk_rename_noreplace(int old_dir, const char *old_name, int new_dir,
			 const char *new_name);

/* Replaces name (in directory dir_fd, a descriptor that fsync accepts;
 * AT_FDCWD: name is a path and its directory is synced) with len bytes of
 * buf, so that a crash leaves the old content or the new one, never a
 * part: a temporary "NAME.tmp." plus 16 random hex digits (mode, O_EXCL;
 * random so that hosts sharing a store never collide), write, fsync,
 * rename (noreplace: cmk_rename_noreplace(), -EEXIST when name exists),
 * fsync of the directory. The temporary file goes on any failure. 0 or
 * -errno, err naming dir_path/name (dir_path may be NULL). */
int cmk_replace_file(int dir_fd, const char *dir_path, const char *name,
		     const void *buf, size_t len, mode_t mode, bool noreplace,
		     struct cmk_err *err);

#endif
