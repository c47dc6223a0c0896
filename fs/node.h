/* SPDX-License-Identifier: MIT */
/* The table of nodes: every backing object the kernel knows (has looked up
 * and not yet forgotten), keyed by (st_dev, st_ino). A node holds no open
 * descriptor: it knows its parent directory and its backing name there,
 * and opens itself by name when an operation needs it, checking that it
 * found the same object (st_dev, st_ino). Only directories keep an O_PATH
 * descriptor, in a cache of bounded size (least recently used first out),
 * so that the daemon's descriptors do not grow with the number of files.
 *
 * Renames and unlinks made through the mount update the table. A rename
 * made behind the mount's back leaves a stale name: opening it finds
 * another object or none, and the operation fails with ESTALE, which makes
 * the kernel look the path up again (and the lookup records the new name).
 * Hard links: a node with more than one link keeps every name it was
 * found or made under, so that unlinking one leaves it reachable. */
#ifndef CMKFS_FS_NODE_H
#define CMKFS_FS_NODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "crypto/names.h"

struct cmk_open_file;

/* Another name of a node with several hard links. */
struct cmk_place {
	struct cmk_place *next;
	struct cmk_node *parent; /* holds a reference */
	char *name;
};

struct cmk_node {
	struct cmk_node *hash_next; /* table chain; NULL when detached */
	struct cmk_node *parent;    /* holds a reference; NULL for the root */
	char *name;		    /* backing name in parent; NULL: gone */
	struct cmk_place *more;	    /* other names (hard links) */
	ino_t ino;
	dev_t dev;
	mode_t type;	  /* S_IFMT bits */
	bool hashed;	  /* in the table (a file unlinked for good is not) */
	uint64_t nlookup; /* the kernel's references */
	uint32_t refs;	  /* children and borrowed descriptors */

	/* Directories: the cached descriptor (-1: none), its place in the
	 * cache, and the directory id of a volume with encrypted names.
	 * Regular files use have_dirid and dirid for their header's file id,
	 * once read (what binds their extended attributes). */
	int dir_fd;
	uint32_t dir_users; /* borrowers of dir_fd */
	struct cmk_node *lru_prev, *lru_next;
	bool have_dirid;
	uint8_t dirid[CMK_DIRID_LEN];

	/* Regular files while open (fs/fsops.c): the cipher and its lock. */
	struct cmk_open_file *open;
};

/* Descriptor bookkeeping, for tests and the daemon's statistics. */
struct cmk_node_stats {
	size_t nodes;	   /* in the table */
	size_t dir_fds;	   /* cached directory descriptors */
	size_t dir_fd_max; /* the cache's bound */
	size_t dir_opens;  /* directories opened by name (cache misses) */
};

struct cmk_nodes {
	pthread_mutex_t lock; /* table, counts, parents and names */
	struct cmk_node **buckets;
	size_t bucket_count;
	size_t count;
	struct cmk_node root; /* the cipher directory; never in the table */
	int root_fd;	      /* O_PATH descriptor of the root */

	pthread_mutex_t lru_lock; /* the directory descriptor cache */
	struct cmk_node *lru_head, *lru_tail;
	size_t dir_fds, dir_fd_max, dir_opens;
};

/* Takes root_fd (O_PATH, the cipher directory) and its stat. dir_fd_max
 * bounds the cached directory descriptors. 0 or -ENOMEM. */
int cmk_nodes_init(struct cmk_nodes *t, int root_fd, const struct stat *st,
		   size_t dir_fd_max);
void cmk_nodes_destroy(struct cmk_nodes *t);

/* The node of the object st found as name in dir, one kernel reference
 * more: an existing one (this name now its first; its others kept when
 * st says it has several links) or a new one. NULL when out of memory. */
struct cmk_node *cmk_node_get(struct cmk_nodes *t, struct cmk_node *dir,
			      const char *name, const struct stat *st);
/* The node of (dev, ino) with one internal reference (release it with
 * cmk_node_put()), or NULL when the kernel knows none. */
struct cmk_node *cmk_node_find(struct cmk_nodes *t, dev_t dev, ino_t ino);
/* Drops n of the kernel's references; frees the node when none is left
 * and nothing else holds it. */
void cmk_node_forget(struct cmk_nodes *t, struct cmk_node *node, uint64_t n);
void cmk_node_hold(struct cmk_nodes *t, struct cmk_node *node);
void cmk_node_put(struct cmk_nodes *t, struct cmk_node *node);

/* A rename through the mount: node's name entry in from is now name in
 * dir. */
void cmk_node_moved(struct cmk_nodes *t, struct cmk_node *node,
		    struct cmk_node *from, const char *entry,
		    struct cmk_node *dir, const char *name, nlink_t nlink);
/* The name entry in dir of node is gone (unlinked, or replaced by a
 * rename). When it was its last (last), the node leaves the table, so that
 * an object that gets its inode number later is a new node. */
void cmk_node_unlinked(struct cmk_nodes *t, struct cmk_node *node,
		       struct cmk_node *dir, const char *entry, bool last);

/* A directory's descriptor, borrowed: valid until cmk_dir_fd_return().
 * From the cache, else opened by name through its parents and cached.
 * Returns the descriptor or -errno (-ESTALE: the directory is no longer
 * where the table says). */
int cmk_dir_fd_borrow(struct cmk_nodes *t, struct cmk_node *dir);
void cmk_dir_fd_return(struct cmk_nodes *t, struct cmk_node *dir, int fd);

/* Opens node by its name in its parent with flags (O_NOFOLLOW and
 * O_CLOEXEC added; O_NONBLOCK too unless O_PATH, and cleared again, so
 * that a FIFO put in its place cannot hang us), and checks that it is the
 * same object: the descriptor, or -errno (-ESTALE when it is not). *st
 * (may be NULL) gets its stat. */
int cmk_node_open(struct cmk_nodes *t, struct cmk_node *node, int flags,
		  struct stat *st);
/* fstatat of node by name, checked as cmk_node_open() checks. */
int cmk_node_stat(struct cmk_nodes *t, struct cmk_node *node, struct stat *st);
/* True when node's last name was removed through the mount: nothing in the
 * backing store is it any more (an open handle may still reach it). */
bool cmk_node_is_gone(struct cmk_nodes *t, struct cmk_node *node);

void cmk_nodes_stats(struct cmk_nodes *t, struct cmk_node_stats *out);
/* Calls fn on every node in the table, under the table's lock (fn must not
 * call back into the table). */
void cmk_nodes_each(struct cmk_nodes *t,
		    void (*fn)(struct cmk_node *node, void *ctx), void *ctx);

#endif
