/* SPDX-License-Identifier: MIT */
/* The node table (see node.h): a hash of (dev, ino), parent links and
 * backing names, and a bounded cache of directory descriptors. */
#include "fs/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t bucket_of(const struct cmk_nodes *t, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * UINT64_C(0x9e3779b97f4a7c15) ^
		     (uint64_t)dev;

	return (size_t)(h >> 17) & (t->bucket_count - 1);
}

int cmk_nodes_init(struct cmk_nodes *t, int root_fd, const struct stat *st,
		   size_t dir_fd_max)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->lru_lock, NULL);
	t->bucket_count = 1 << 12;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	t->buckets = calloc(t->bucket_count, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->root_fd = root_fd;
	t->root.ino = st->st_ino;
	t->root.dev = st->st_dev;
	t->root.type = S_IFDIR;
	t->root.nlookup = 2;
	t->root.dir_fd = -1;
	t->dir_fd_max = dir_fd_max ? dir_fd_max : 1;
	return 0;
}

/* Under lru_lock. */
static void lru_unlink(struct cmk_nodes *t, struct cmk_node *n)
{
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else if (t->lru_head == n)
		t->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else if (t->lru_tail == n)
		t->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
}

static void lru_push_head(struct cmk_nodes *t, struct cmk_node *n)
{
	n->lru_prev = NULL;
	n->lru_next = t->lru_head;
	if (t->lru_head)
		t->lru_head->lru_prev = n;
	t->lru_head = n;
	if (!t->lru_tail)
		t->lru_tail = n;
}

/* Closes the least recently used idle descriptors while the cache holds
 * more than its bound. Under lru_lock. */
static void lru_trim(struct cmk_nodes *t)
{
	struct cmk_node *n = t->lru_tail;

	while (t->dir_fds > t->dir_fd_max && n) {
		struct cmk_node *prev = n->lru_prev;

		if (n->dir_users == 0) {
			lru_unlink(t, n);
			close(n->dir_fd);
			n->dir_fd = -1;
			t->dir_fds--;
		}
		n = prev;
	}
}

static void unhash(struct cmk_nodes *t, struct cmk_node *node)
{
	struct cmk_node **link;

	if (!node->hashed)
		return;
	link = &t->buckets[bucket_of(t, node->dev, node->ino)];
	while (*link && *link != node)
		link = &(*link)->hash_next;
	if (*link)
		*link = node->hash_next;
	node->hash_next = NULL;
	node->hashed = false;
	t->count--;
}

/* Frees node if nothing holds it, then its parent likewise. Under lock. */
static void maybe_free(struct cmk_nodes *t, struct cmk_node *node)
{
	while (node && node != &t->root && node->nlookup == 0 &&
	       node->refs == 0) {
		struct cmk_node *parent = node->parent;

		unhash(t, node);
		if (node->dir_fd >= 0) {
			pthread_mutex_lock(&t->lru_lock);
			lru_unlink(t, node);
			close(node->dir_fd);
			t->dir_fds--;
			pthread_mutex_unlock(&t->lru_lock);
		}
		free(node->name);
		while (node->more) {
			struct cmk_place *p = node->more;

			node->more = p->next;
			p->parent->refs--;
			/* Freed on a later pass when nothing else holds
			 * it: pending is short. */
			maybe_free(t, p->parent);
			free(p->name);
			free(p);
		}
		free(node);
		if (parent)
			parent->refs--;
		node = parent;
	}
}

void cmk_nodes_destroy(struct cmk_nodes *t)
{
	for (size_t i = 0; t->buckets && i < t->bucket_count; i++) {
		struct cmk_node *node = t->buckets[i];

		while (node) {
			struct cmk_node *next = node->hash_next;

			if (node->dir_fd >= 0)
				close(node->dir_fd);
			free(node->name);
			while (node->more) {
				struct cmk_place *p = node->more;

				node->more = p->next;
				free(p->name);
				free(p);
			}
			free(node);
			node = next;
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->lru_lock);
}

/* Doubles the table when it gets crowded; under lock. */
static void maybe_grow(struct cmk_nodes *t)
{
	size_t old_count = t->bucket_count;
	struct cmk_node **old = t->buckets, **fresh;

	if (t->count < 2 * old_count)
		return;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	fresh = calloc(2 * old_count, sizeof(*fresh));
	if (!fresh)
		return; /* longer chains, still correct */
	t->buckets = fresh;
	t->bucket_count = 2 * old_count;
	for (size_t i = 0; i < old_count; i++) {
		struct cmk_node *node = old[i];

		while (node) {
			struct cmk_node *next = node->hash_next;
			size_t b = bucket_of(t, node->dev, node->ino);

			node->hash_next = fresh[b];
			fresh[b] = node;
			node = next;
		}
	}
	free(old);
}

static struct cmk_node *lookup_locked(struct cmk_nodes *t, dev_t dev, ino_t ino)
{
	struct cmk_node *node = t->buckets[bucket_of(t, dev, ino)];

	while (node && !(node->ino == ino && node->dev == dev))
		node = node->hash_next;
	return node;
}

#define MORE_NAMES_MAX 8 /* names kept of an object with hard links */

static void drop_place(struct cmk_nodes *t, struct cmk_place *p)
{
	struct cmk_node *parent = p->parent;

	free(p->name);
	free(p);
	parent->refs--;
	maybe_free(t, parent);
}

static void drop_more(struct cmk_nodes *t, struct cmk_node *node)
{
	while (node->more) {
		struct cmk_place *p = node->more;

		node->more = p->next;
		drop_place(t, p);
	}
}

/* Removes (dir, name) from node's other names; true when it was one. */
static bool unlink_more(struct cmk_nodes *t, struct cmk_node *node,
			struct cmk_node *dir, const char *name)
{
	for (struct cmk_place **link = &node->more; *link;
	     link = &(*link)->next) {
		struct cmk_place *p = *link;

		if (p->parent == dir && strcmp(p->name, name) == 0) {
			*link = p->next;
			drop_place(t, p);
			return true;
		}
	}
	return false;
}

/* What happens to a node's first name when another takes its place. */
enum old_place {
	KEEP_OLD, /* it stays, among the other names (another link) */
	DROP_OLD, /* it is gone (renamed); the other names stay */
	ONLY,	  /* the object has one link: every other name is stale */
};

/* Makes name in dir node's first name. Under lock. 0 or -ENOMEM (the
 * place unchanged). */
static int set_place(struct cmk_nodes *t, struct cmk_node *node,
		     struct cmk_node *dir, const char *name, enum old_place how)
{
	struct cmk_node *old = node->parent;
	struct cmk_place *was = NULL;
	size_t more = 0;
	char *copy;

	if (old == dir && node->name && strcmp(node->name, name) == 0)
		return 0;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	unlink_more(t, node, dir, name);
	for (struct cmk_place *p = node->more; p; p = p->next)
		more++;
	if (how == KEEP_OLD && old && node->name && more < MORE_NAMES_MAX)
		was = malloc(sizeof(*was));
	if (was) {
		was->parent = old;
		was->name = node->name;
		was->next = node->more;
		node->more = was;
	} else {
		free(node->name);
	}
	if (how == ONLY)
		drop_more(t, node);
	node->name = copy;
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): dir is a directory, never NULL */
	dir->refs++;
	node->parent = dir;
	if (old && !was) {
		old->refs--;
		maybe_free(t, old);
	}
	return 0;
}

struct cmk_node *cmk_node_get(struct cmk_nodes *t, struct cmk_node *dir,
			      const char *name, const struct stat *st)
{
	struct cmk_node *node, *fresh;

	if (st->st_ino == t->root.ino && st->st_dev == t->root.dev) {
		pthread_mutex_lock(&t->lock);
		t->root.nlookup++;
		pthread_mutex_unlock(&t->lock);
		return &t->root;
	}
	/* Allocated outside the lock; freed again if the node exists. */
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return NULL;
	pthread_mutex_lock(&t->lock);
	node = lookup_locked(t, st->st_dev, st->st_ino);
	if (node && node->type != (st->st_mode & S_IFMT)) {
		/* The inode number went to an object of another type behind
		 * our back: the old node is gone. */
		unhash(t, node);
		node = NULL;
	}
	if (node) {
		/* A failed name update keeps the old name: worst case an
		 * ESTALE and a second lookup. */
		set_place(t, node, dir, name,
			  st->st_nlink > 1 && node->type != S_IFDIR ? KEEP_OLD
								    : ONLY);
		node->nlookup++;
		pthread_mutex_unlock(&t->lock);
		free(fresh);
		return node;
	}
	fresh->name = strdup(name);
	if (!fresh->name) {
		pthread_mutex_unlock(&t->lock);
		free(fresh);
		return NULL;
	}
	fresh->ino = st->st_ino;
	fresh->dev = st->st_dev;
	fresh->type = st->st_mode & S_IFMT;
	fresh->nlookup = 1;
	fresh->dir_fd = -1;
	fresh->parent = dir;
	dir->refs++;
	{
		size_t b = bucket_of(t, fresh->dev, fresh->ino);

		fresh->hash_next = t->buckets[b];
		t->buckets[b] = fresh;
	}
	fresh->hashed = true;
	t->count++;
	maybe_grow(t);
	pthread_mutex_unlock(&t->lock);
	return fresh;
}

struct cmk_node *cmk_node_find(struct cmk_nodes *t, dev_t dev, ino_t ino)
{
	struct cmk_node *node;

	pthread_mutex_lock(&t->lock);
	node = lookup_locked(t, dev, ino);
	if (node)
		node->refs++;
	pthread_mutex_unlock(&t->lock);
	return node;
}

void cmk_node_forget(struct cmk_nodes *t, struct cmk_node *node, uint64_t n)
{
	pthread_mutex_lock(&t->lock);
	node->nlookup = node->nlookup > n ? node->nlookup - n : 0;
	maybe_free(t, node);
	pthread_mutex_unlock(&t->lock);
}

void cmk_node_hold(struct cmk_nodes *t, struct cmk_node *node)
{
	pthread_mutex_lock(&t->lock);
	node->refs++;
	pthread_mutex_unlock(&t->lock);
}

void cmk_node_put(struct cmk_nodes *t, struct cmk_node *node)
{
	pthread_mutex_lock(&t->lock);
	node->refs--;
	maybe_free(t, node);
	pthread_mutex_unlock(&t->lock);
}

void cmk_node_moved(struct cmk_nodes *t, struct cmk_node *node,
		    struct cmk_node *from, const char *entry,
		    struct cmk_node *dir, const char *name, nlink_t nlink)
{
	pthread_mutex_lock(&t->lock);
	if (node->parent == from && node->name &&
	    strcmp(node->name, entry) == 0)
		set_place(t, node, dir, name, DROP_OLD);
	else if (unlink_more(t, node, from, entry))
		set_place(t, node, dir, name, KEEP_OLD);
	else
		set_place(t, node, dir, name,
			  nlink > 1 && node->type != S_IFDIR ? KEEP_OLD : ONLY);
	pthread_mutex_unlock(&t->lock);
}

void cmk_node_unlinked(struct cmk_nodes *t, struct cmk_node *node,
		       struct cmk_node *dir, const char *entry, bool last)
{
	struct cmk_node *parent = NULL;

	pthread_mutex_lock(&t->lock);
	if (last) {
		unhash(t, node);
		drop_more(t, node);
	} else if (unlink_more(t, node, dir, entry) ||
		   !(node->parent == dir && node->name &&
		     strcmp(node->name, entry) == 0)) {
		pthread_mutex_unlock(&t->lock);
		return; /* its first name stands */
	}
	/* Its first name went: another one, or none, takes its place. */
	free(node->name);
	node->name = NULL;
	parent = node->parent;
	node->parent = NULL;
	if (node->more) {
		struct cmk_place *p = node->more;

		node->more = p->next;
		node->parent = p->parent; /* the reference moves with it */
		node->name = p->name;
		free(p);
	}
	if (parent) {
		parent->refs--;
		maybe_free(t, parent);
	}
	pthread_mutex_unlock(&t->lock);
}

/* The name and parent of node, the parent held. -ESTALE without them. */
static int place_of(struct cmk_nodes *t, struct cmk_node *node,
		    struct cmk_node **parent,
		    char name[CMK_NAME_BACKING_MAX + 1])
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (!node->parent || !node->name ||
	    strlen(node->name) > CMK_NAME_BACKING_MAX) {
		ret = -ESTALE;
	} else {
		strcpy(name, node->name);
		*parent = node->parent;
		node->parent->refs++;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static bool same_object(const struct cmk_node *node, const struct stat *st)
{
	return st->st_ino == node->ino && st->st_dev == node->dev &&
	       (st->st_mode & S_IFMT) == node->type;
}

int cmk_node_open(struct cmk_nodes *t, struct cmk_node *node, int flags,
		  struct stat *st)
{
	char name[CMK_NAME_BACKING_MAX + 1];
	struct cmk_node *parent;
	struct stat own;
	bool nonblock = !(flags & (O_PATH | O_NONBLOCK));
	int pfd, fd, ret;

	if (!st)
		st = &own;
	if (node == &t->root) {
		fd = openat(t->root_fd, ".", flags | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstat(fd, st) != 0) {
			ret = -errno;
			close(fd);
			return ret;
		}
		return fd;
	}
	ret = place_of(t, node, &parent, name);
	if (ret)
		return ret;
	pfd = cmk_dir_fd_borrow(t, parent);
	if (pfd < 0) {
		cmk_node_put(t, parent);
		return pfd;
	}
	fd = openat(pfd, name,
		    flags | O_NOFOLLOW | O_CLOEXEC |
			    (nonblock ? O_NONBLOCK : 0));
	ret = fd < 0 ? -errno : 0;
	cmk_dir_fd_return(t, parent, pfd);
	cmk_node_put(t, parent);
	/* Gone, or a symlink now: not where the table says. */
	if (ret == -ENOENT || ret == -ELOOP || ret == -ENOTDIR)
		return -ESTALE;
	if (ret)
		return ret;
	if (fstat(fd, st) != 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (!same_object(node, st)) {
		close(fd);
		return -ESTALE;
	}
	if (nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

bool cmk_node_is_gone(struct cmk_nodes *t, struct cmk_node *node)
{
	bool gone;

	if (node == &t->root)
		return false;
	pthread_mutex_lock(&t->lock);
	gone = !node->name;
	pthread_mutex_unlock(&t->lock);
	return gone;
}

int cmk_node_stat(struct cmk_nodes *t, struct cmk_node *node, struct stat *st)
{
	char name[CMK_NAME_BACKING_MAX + 1];
	struct cmk_node *parent;
	int pfd, ret;

	if (node == &t->root)
		return fstat(t->root_fd, st) ? -errno : 0;
	ret = place_of(t, node, &parent, name);
	if (ret)
		return ret;
	pfd = cmk_dir_fd_borrow(t, parent);
	if (pfd < 0) {
		cmk_node_put(t, parent);
		return pfd;
	}
	ret = fstatat(pfd, name, st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	cmk_dir_fd_return(t, parent, pfd);
	cmk_node_put(t, parent);
	if (ret == -ENOENT || ret == -ENOTDIR ||
	    (!ret && !same_object(node, st)))
		return -ESTALE;
	return ret;
}

int cmk_dir_fd_borrow(struct cmk_nodes *t, struct cmk_node *dir)
{
	int fd;

	if (dir == &t->root)
		return t->root_fd;
	pthread_mutex_lock(&t->lru_lock);
	if (dir->dir_fd >= 0) {
		dir->dir_users++;
		lru_unlink(t, dir);
		lru_push_head(t, dir);
		fd = dir->dir_fd;
		pthread_mutex_unlock(&t->lru_lock);
		return fd;
	}
	pthread_mutex_unlock(&t->lru_lock);
	fd = cmk_node_open(t, dir, O_PATH | O_DIRECTORY, NULL);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&t->lru_lock);
	t->dir_opens++;
	if (dir->dir_fd >= 0) {
		/* Another thread cached it meanwhile: use that one. */
		int mine = fd;

		fd = dir->dir_fd;
		dir->dir_users++;
		pthread_mutex_unlock(&t->lru_lock);
		close(mine);
		return fd;
	}
	dir->dir_fd = fd;
	dir->dir_users = 1;
	lru_push_head(t, dir);
	t->dir_fds++;
	lru_trim(t);
	pthread_mutex_unlock(&t->lru_lock);
	return fd;
}

void cmk_dir_fd_return(struct cmk_nodes *t, struct cmk_node *dir, int fd)
{
	(void)fd;
	if (dir == &t->root)
		return;
	pthread_mutex_lock(&t->lru_lock);
	dir->dir_users--;
	if (t->dir_fds > t->dir_fd_max)
		lru_trim(t);
	pthread_mutex_unlock(&t->lru_lock);
}

void cmk_nodes_stats(struct cmk_nodes *t, struct cmk_node_stats *out)
{
	pthread_mutex_lock(&t->lock);
	out->nodes = t->count;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&t->lru_lock);
	out->dir_fds = t->dir_fds;
	out->dir_fd_max = t->dir_fd_max;
	out->dir_opens = t->dir_opens;
	pthread_mutex_unlock(&t->lru_lock);
}

void cmk_nodes_each(struct cmk_nodes *t,
		    void (*fn)(struct cmk_node *node, void *ctx), void *ctx)
{
	pthread_mutex_lock(&t->lock);
	for (size_t b = 0; b < t->bucket_count; b++)
		for (struct cmk_node *n = t->buckets[b]; n; n = n->hash_next)
			fn(n, ctx);
	pthread_mutex_unlock(&t->lock);
}
