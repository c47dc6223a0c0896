/* SPDX-License-Identifier: MIT */
/* A parallel walk of a cipher directory's backing files, for the admin
 * commands (rewrap, status): one thread reads directories, JOBS threads
 * handle files. Directories are held open and files named relative to
 * them (openat), never by one long path, so any depth works. */
#ifndef CMKFS_FS_WALK_H
#define CMKFS_FS_WALK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define CMK_WALK_JOBS_MAX 64

/* Called from a worker thread for each regular file (and each entry whose
 * type the directory does not tell): dir_fd is its directory, dir_path
 * that directory relative to the root ("" for the root), for messages. */
typedef void (*cmk_walk_file_fn)(void *ctx, int dir_fd, const char *dir_path,
				 const char *name);
/* Called (from any thread) for a directory that cannot be read. */
typedef void (*cmk_walk_error_fn)(void *ctx, const char *path, int error);

struct cmk_walk_progress {
	size_t found;	/* files handed to workers so far (atomic) */
	bool walk_done; /* every directory read (atomic) */
};

/* Walks the tree under root_fd (a directory descriptor), skipping the
 * volume descriptor and its temporary files in the root and, with
 * enc_names, every name of cmkfs's own (directory ids, long-name side
 * files, unfinished directories). Returns once every file was handled: 0,
 * or -errno when the walk could not run. */
int cmk_walk(int root_fd, bool enc_names, unsigned int jobs,
	     cmk_walk_file_fn on_file, cmk_walk_error_fn on_error, void *ctx,
	     struct cmk_walk_progress *progress, struct cmk_err *err);

/* Joins a directory path and a name for messages into out. */
void cmk_walk_join(const char *dir_path, const char *name, char *out,
		   size_t size);

#endif
