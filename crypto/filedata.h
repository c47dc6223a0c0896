/* SPDX-License-Identifier: MIT */
/* The data path: reads, writes and truncates the plaintext of one backing
 * file through its XTS key, following crypto/layout.h. The plaintext size
 * always comes from the backing file's length (fstat), never from the
 * header.
 *
 * These functions do no locking of their own: callers must not run a write
 * or truncate concurrently with any other call on the same file (reads may
 * run concurrently with each other). They return a byte count or 0, or
 * -errno; -EFBIG past CMK_PLAIN_MAX. A unit whose backing bytes are all zero
 * reads as zeros (a hole). */
#ifndef CMKFS_CRYPTO_FILEDATA_H
#define CMKFS_CRYPTO_FILEDATA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/crypto.h"

/* The plaintext size of the backing file fd; -EBADMSG when it is shorter
 * than a header. */
int cmk_data_size(int fd, uint64_t *plain_size);

ssize_t cmk_data_read(int fd, struct cmk_xts *xts, void *buf, size_t len,
		      uint64_t off);
ssize_t cmk_data_write(int fd, struct cmk_xts *xts, const void *buf, size_t len,
		       uint64_t off);
int cmk_data_truncate(int fd, struct cmk_xts *xts, uint64_t new_size);

struct cmk_pending;
/* Finishes a truncate that a crash interrupted, from the header's record
 * (cmk_header_parse() found it): puts its bytes in place when the backing
 * file was cut already, then clears the record. fd must be writable. */
int cmk_data_finish_pending(int fd, const struct cmk_pending *p);

#endif
