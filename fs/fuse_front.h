/* SPDX-License-Identifier: MIT */
/* What fs/mount.c needs of the FUSE front end (fs/fuse_ops.c), without
 * FUSE's headers: run a session, invalidate a node's cached pages. */
#ifndef CMKFS_FS_FUSE_FRONT_H
#define CMKFS_FS_FUSE_FRONT_H

#include <stdbool.h>

struct fs_ctx;
struct cmk_node;

struct fs_fuse_hooks {
	void (*mounted)(void *ctx);  /* the mount is up */
	void (*stopping)(void *ctx); /* the session is about to unmount */
	void *ctx;
};

/* Mounts fs on mountpoint with options (libfuse's -o list) and serves
 * requests until it is unmounted or signalled (SIGTERM, SIGINT, SIGHUP:
 * a clean end). 0, -EINVAL when libfuse refuses the options (it said
 * why), -EIO when the mount fails, or the session's error. */
int fs_fuse_serve(struct fs_ctx *fs, const char *mountpoint,
		  const char *options, bool debug,
		  const struct fs_fuse_hooks *hooks);

/* Drops the kernel's cached pages and attributes of node (fs: the
 * struct fs_ctx); for cmk_fs_revoke(). */
void fs_fuse_invalidate(void *fs, struct cmk_node *node);

/* libfuse's version, for cmkfs --version. */
const char *fs_fuse_version(void);

/* Sets the readahead of the mount on mountpoint to kb KiB (best effort;
 * fs/mount.c). */
void fs_set_readahead(const char *mountpoint, long kb);

#endif
