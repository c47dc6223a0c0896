/* SPDX-License-Identifier: MIT */
/* The FUSE front end's state: the inode table and open files.
 * Modelled on libfuse's example/passthrough_ll.c: every inode we hand to the
 * kernel holds an O_PATH descriptor of its backing object, and operations
 * resolve names relative to directory descriptors (*at calls), never by
 * building backing paths. */
#ifndef CMKFS_FS_FS_H
#define CMKFS_FS_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/name_cache.h"
#include "fs/volume.h"

/* Decrypted names kept for listing directories again, and encrypted ones
 * for lookups and the creates that follow them: together about 4 MiB with
 * names of usual lengths, 20 MiB at most (255-byte names both sides). */
#define NAME_CACHE_PLAIN_SLOTS 32768
#define NAME_CACHE_BACKING_SLOTS 4096

struct fuse_session;

struct fs_inode {
	struct fs_inode *hash_next; /* table chain, under fs->table_lock */
	int fd; /* O_PATH descriptor of the backing object */
	ino_t ino;
	dev_t dev;
	mode_t type;	  /* S_IFMT bits */
	uint64_t nlookup; /* kernel references, under fs->table_lock */

	/* Regular files. data_lock: reads shared; writes, truncates and
	 * fallocate exclusive, so read-modify-write of a unit is serialized
	 * per file and never across files. */
	pthread_rwlock_t data_lock;
	pthread_mutex_t open_lock; /* open_count, xts and version */
	unsigned open_count;
	/* The file's cipher while it is open; set and cleared with data_lock
	 * held too. NULL while open: its CMK version was revoked (EACCES). */
	struct cmk_xts *xts;
	char version[CMK_VERSION_MAX + 1]; /* the CMK version of xts */

	/* Directories of a volume with encrypted names: the directory id,
	 * read once (under open_lock); it never changes, even on rename. */
	bool have_dirid;
	uint8_t dirid[CMK_DIRID_LEN];
};

struct fs_handle {
	int fd; /* backing file, O_RDWR or O_RDONLY */
	struct fs_inode *inode;
	bool append;
};

struct fs_ctx {
	struct cmk_volume *vol;
	pthread_mutex_t table_lock;
	struct fs_inode **buckets;
	size_t bucket_count;
	size_t inode_count;
	struct fs_inode root;
	/* Encrypted names only: backing entry -> plaintext name, and
	 * plaintext name -> backing entry (short names: long ones need their
	 * encoding for the side file). */
	struct cmk_name_cache *plain_names;
	struct cmk_name_cache *backing_names;
	double timeout; /* entry and attribute cache, seconds */
	bool chown_new; /* running as root: new objects get the caller's ids */
	bool writeback; /* ask for the kernel's writeback cache */
	bool xattr;	/* -o xattr: extended attributes passed through */
	struct fuse_session *session; /* for cache invalidations */
	const char *mountpoint;
	long readahead_kb;  /* to set once INIT is done; 0: leave it */
	bool readahead_set; /* atomic */
	bool debug;
};

/* inode.c: the table of inodes known to the kernel. */
int fs_table_init(struct fs_ctx *fs);
void fs_table_destroy(struct fs_ctx *fs);
/* Finds or adds the inode for (st_dev, st_ino), taking one reference;
 * adopts fd into a new inode or closes it when the inode exists. */
struct fs_inode *fs_inode_get(struct fs_ctx *fs, int fd, const struct stat *st);
void fs_inode_ref(struct fs_ctx *fs, struct fs_inode *inode);
void fs_inode_unref(struct fs_ctx *fs, struct fs_inode *inode, uint64_t n);

/* fuse_ops.c */
struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops cmk_fuse_ops;
/* Wipes the cipher of every open file whose CMK version the keyring no
 * longer holds; their reads and writes give EACCES from then on. Returns
 * how many. */
size_t fs_revoke_open_files(struct fs_ctx *fs);
/* libfuse's version, for cmkfs --version. */
const char *fs_fuse_version(void);

/* mount.c */
int cmk_mount_main(int argc, char **argv);
/* Sets the readahead of the mount on mountpoint to kb KiB (best effort). */
void fs_set_readahead(const char *mountpoint, long kb);

#endif
