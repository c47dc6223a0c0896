/* SPDX-License-Identifier: MIT */
/* Small I/O helpers every module shares: whole reads and writes, and
 * opening a file of the backing store or the configuration so that a
 * symbolic link, a FIFO, a device or a directory in its place can neither
 * hang nor fool the caller. */
#ifndef CMKFS_COMMON_IO_H
#define CMKFS_COMMON_IO_H

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

/* Opens name (relative to dir_fd, or AT_FDCWD) with flags (O_RDONLY,
 * O_RDWR...) plus O_NOFOLLOW, O_NONBLOCK, O_NOCTTY and O_CLOEXEC, and
 * checks that it is a regular file (*st gets its stat; may be NULL).
 * Returns the descriptor (O_NONBLOCK cleared again), or -errno with err
 * naming the file and what is there instead: -ELOOP a symbolic link,
 * -EINVAL anything else that is not a regular file. */
int cmk_open_regular(int dir_fd, const char *name, int flags, struct stat *st,
		     struct cmk_err *err);

#endif
