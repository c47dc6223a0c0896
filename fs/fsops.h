/* SPDX-License-Identifier: MIT */
/* The file system's operations, without FUSE: what each request does to
 * the backing store, on nodes (fs/node.h), with names on disk
 * (fs/backing_names.c) and file data (crypto/filedata.c). fs/fuse_ops.c
 * only translates FUSE requests into these calls and their results into
 * replies, so that tests can drive them without a mount.
 *
 * Every function returns 0 (or a count) or -errno. Attributes are the
 * ones applications see: a regular file's size is its plaintext size. */
#ifndef CMKFS_FS_FSOPS_H
#define CMKFS_FS_FSOPS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "fs/name_cache.h"
#include "fs/node.h"
#include "fs/volume.h"

/* Decrypted names kept for listing directories again, and encrypted ones
 * for lookups and the creates that follow them: together about 4 MiB with
 * names of usual lengths, 20 MiB at most (255-byte names both sides). */
#define NAME_CACHE_PLAIN_SLOTS 32768
#define NAME_CACHE_BACKING_SLOTS 4096

/* Who asks: new objects get these ids when the daemon runs as root. */
struct cmk_caller {
	uid_t uid;
	gid_t gid;
};

/* A regular file while open: its cipher, shared by its handles. */
struct cmk_open_file {
	struct cmk_open_file *prev, *next; /* fs->open_files, under open_lock */
	struct cmk_node *node;
	unsigned count; /* handles, under open_lock */
	/* Reads shared; writes, truncates and fallocate exclusive, so that
	 * read-modify-write of a unit is serialized per file. */
	pthread_rwlock_t data_lock;
	/* NULL while open: its CMK version was revoked (EACCES). Set and
	 * cleared under data_lock (written) and open_lock. */
	struct cmk_xts *xts;
	char version[CMK_VERSION_MAX + 1];
	/* Its handles, under open_lock: an unlinked file that is still open
	 * is reached through one of them. */
	struct cmk_handle *handles;
	/* -o shared: the backing file's size and times when this mount last
	 * looked under the store's lock, to tell when another host changed
	 * it. Under seen_lock. */
	pthread_mutex_t seen_lock;
	struct statx_timestamp seen_mtime, seen_ctime;
	uint64_t seen_size;
};

/* An open file handle. */
struct cmk_handle {
	int fd; /* backing file, O_RDWR or O_RDONLY */
	struct cmk_open_file *file;
	struct cmk_handle *prev, *next; /* file->handles, under open_lock */
	bool append;
	/* -o shared: reads in flight on fd, which hold its shared OFD lock
	 * together (the lock belongs to the descriptor, not the thread: the
	 * last reader lets it go). Under readers_lock. */
	pthread_mutex_t readers_lock;
	unsigned readers;
};

struct fs_ctx {
	struct cmk_volume *vol;
	struct cmk_nodes nodes;
	struct cmk_name_cache *plain_names;   /* encrypted names only */
	struct cmk_name_cache *backing_names; /* encrypted names only */
	pthread_mutex_t open_lock;
	struct cmk_open_file *open_files;
	size_t open_file_count;
	double timeout; /* entry and attribute cache, seconds */
	bool chown_new; /* running as root: new objects get the caller's ids */
	bool writeback; /* the kernel's writeback cache is on */
	/* -o shared: other hosts mount the volume too. Data operations take
	 * the store's byte-range lock on the backing file (shared_begin()). */
	bool shared;
	bool xattr; /* -o xattr: extended attributes passed through */
	bool debug;
	const char *mountpoint;
	long readahead_kb;     /* to set once INIT is done; 0: leave it */
	bool readahead_set;    /* atomic */
	int64_t emfile_logged; /* when running out of descriptors was logged */
	/* Lines about attributes that did not open: when the current
	 * window began, lines in it, lines not logged. */
	int64_t xattr_logged;
	uint64_t xattr_burst, xattr_quiet;
	/* The mount root's mode and owner (CMK_VOLUME_ROOT), under
	 * open_lock: the cipher directory itself stays 0700. */
	struct cmk_root_attr root_attr;
};

/* An entry found or made: its node (one kernel reference taken) and its
 * attributes. */
struct cmk_entry {
	struct cmk_node *node;
	struct stat attr;
};

/* Sets up the context's tables for vol, whose cipher directory root_fd
 * (O_PATH) is; dir_fd_max bounds the cached directory descriptors. */
int cmk_fs_init(struct fs_ctx *fs, struct cmk_volume *vol, int root_fd,
		size_t dir_fd_max);
void cmk_fs_destroy(struct fs_ctx *fs);

int cmk_fs_lookup(struct fs_ctx *fs, struct cmk_node *dir, const char *name,
		  struct cmk_entry *e);
void cmk_fs_forget(struct fs_ctx *fs, struct cmk_node *node, uint64_t n);
/* h: the handle of an fstat, or NULL. */
int cmk_fs_getattr(struct fs_ctx *fs, struct cmk_node *node,
		   struct cmk_handle *h, struct stat *st);

/* What setattr changes (FUSE's FUSE_SET_ATTR_* translated). */
enum {
	CMK_SET_MODE = 1 << 0,
	CMK_SET_UID = 1 << 1,
	CMK_SET_GID = 1 << 2,
	CMK_SET_SIZE = 1 << 3,
	CMK_SET_ATIME = 1 << 4,
	CMK_SET_MTIME = 1 << 5,
	CMK_SET_ATIME_NOW = 1 << 6,
	CMK_SET_MTIME_NOW = 1 << 7,
};
int cmk_fs_setattr(struct fs_ctx *fs, struct cmk_node *node,
		   struct cmk_handle *h, const struct stat *attr, int valid,
		   struct stat *out);

int cmk_fs_readlink(struct fs_ctx *fs, struct cmk_node *node, char *out,
		    size_t size);
int cmk_fs_mknod(struct fs_ctx *fs, const struct cmk_caller *who,
		 struct cmk_node *dir, const char *name, mode_t mode,
		 dev_t rdev, struct cmk_entry *e);
int cmk_fs_mkdir(struct fs_ctx *fs, const struct cmk_caller *who,
		 struct cmk_node *dir, const char *name, mode_t mode,
		 struct cmk_entry *e);
int cmk_fs_symlink(struct fs_ctx *fs, const struct cmk_caller *who,
		   const char *target, struct cmk_node *dir, const char *name,
		   struct cmk_entry *e);
int cmk_fs_link(struct fs_ctx *fs, struct cmk_node *node, struct cmk_node *dir,
		const char *name, struct cmk_entry *e);
int cmk_fs_unlink(struct fs_ctx *fs, struct cmk_node *dir, const char *name);
int cmk_fs_rmdir(struct fs_ctx *fs, struct cmk_node *dir, const char *name);
int cmk_fs_rename(struct fs_ctx *fs, struct cmk_node *dir, const char *name,
		  struct cmk_node *newdir, const char *newname,
		  unsigned int flags);

/* flags: open(2)'s. */
int cmk_fs_open(struct fs_ctx *fs, const struct cmk_caller *who,
		struct cmk_node *node, int flags, struct cmk_handle **out);
int cmk_fs_create(struct fs_ctx *fs, const struct cmk_caller *who,
		  struct cmk_node *dir, const char *name, mode_t mode,
		  int flags, struct cmk_entry *e, struct cmk_handle **out);
ssize_t cmk_fs_read(struct fs_ctx *fs, struct cmk_handle *h, void *buf,
		    size_t size, off_t off);
ssize_t cmk_fs_write(struct fs_ctx *fs, struct cmk_handle *h, const void *buf,
		     size_t size, off_t off);
int cmk_fs_fsync(struct cmk_handle *h, bool datasync);
int cmk_fs_fallocate(struct fs_ctx *fs, struct cmk_handle *h, int mode,
		     off_t off, off_t len);
void cmk_fs_release(struct fs_ctx *fs, struct cmk_handle *h);

/* Directory listings. */
struct cmk_dir;
struct cmk_dirent {
	const char *name;      /* as applications see it */
	off_t next;	       /* the offset after this entry */
	struct stat attr;      /* st_ino and the type; all of it with plus */
	struct cmk_node *node; /* plus: one kernel reference taken */
};
int cmk_fs_opendir(struct fs_ctx *fs, struct cmk_node *node,
		   struct cmk_dir **out);
/* The entry at offset (0 for the first): 1 and *out, 0 at the end, or
 * -errno. With plus, each entry is looked up (a node and a kernel
 * reference; cmk_fs_forget() it if it is not used). out->name is valid
 * until the next call. */
int cmk_fs_readdir(struct fs_ctx *fs, struct cmk_dir *d, off_t offset,
		   bool plus, struct cmk_dirent *out);
/* The entry last returned was used: the next call starts after it. */
void cmk_fs_readdir_used(struct cmk_dir *d, const struct cmk_dirent *ent);
int cmk_fs_fsyncdir(struct cmk_dir *d, bool datasync);
void cmk_fs_releasedir(struct cmk_dir *d);

int cmk_fs_statfs(struct fs_ctx *fs, struct cmk_node *node, struct statvfs *st);
int cmk_fs_access(struct fs_ctx *fs, struct cmk_node *node, int mask);

/* Extended attributes (only with -o xattr: -ENOSYS otherwise), of the user
 * namespace only: encrypted on volumes with encrypted names (names up to
 * CMK_XATTR_NAME_MAX bytes, else ERANGE; values up to CMK_XATTR_VALUE_MAX,
 * else E2BIG), as they are with plaintext names. Other namespaces: get
 * -ENODATA, set and remove -EOPNOTSUPP, without I/O. Symlinks and special
 * files hold none (set -EPERM). size 0: the length needed; a smaller
 * buffer: -ERANGE. A value or list entry that does not decrypt: -EIO, or
 * left out of the list (logged). */
ssize_t cmk_fs_getxattr(struct fs_ctx *fs, struct cmk_node *node,
			const char *name, void *value, size_t size);
ssize_t cmk_fs_listxattr(struct fs_ctx *fs, struct cmk_node *node, char *list,
			 size_t size);
int cmk_fs_setxattr(struct fs_ctx *fs, struct cmk_node *node, const char *name,
		    const void *value, size_t size, int flags);
int cmk_fs_removexattr(struct fs_ctx *fs, struct cmk_node *node,
		       const char *name);

/* Wipes the cipher of every open file whose CMK version the keyring no
 * longer holds; their reads and writes give EACCES from then on. Calls
 * invalidate (may be NULL) on each such node, outside the locks, so that
 * the kernel drops the pages it decrypted with the revoked key. Returns
 * how many. */
size_t cmk_fs_revoke(struct fs_ctx *fs,
		     void (*invalidate)(void *ctx, struct cmk_node *node),
		     void *ctx);

/* One log line with the daemon's counts (nodes, descriptors, open files). */
void cmk_fs_log_stats(struct fs_ctx *fs);

#endif
