/* SPDX-License-Identifier: MIT */
/* The inode table: a hash of (dev, ino) -> struct fs_inode, so that a
 * lookup costs the same with millions of files as with ten. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/fs.h"

static size_t bucket_of(const struct fs_ctx *fs, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * UINT64_C(0x9e3779b97f4a7c15) ^
		     (uint64_t)dev;

	return (size_t)(h >> 17) & (fs->bucket_count - 1);
}

int fs_table_init(struct fs_ctx *fs)
{
	pthread_mutex_init(&fs->table_lock, NULL);
	fs->bucket_count = 1 << 12;
	fs->buckets = calloc(fs->bucket_count, sizeof(*fs->buckets));
	return fs->buckets ? 0 : -ENOMEM;
}

static void inode_free(struct fs_inode *inode)
{
	close(inode->fd);
	cmk_xts_free(inode->xts);
	pthread_rwlock_destroy(&inode->data_lock);
	pthread_mutex_destroy(&inode->open_lock);
	free(inode);
}

void fs_table_destroy(struct fs_ctx *fs)
{
	for (size_t i = 0; i < fs->bucket_count; i++) {
		struct fs_inode *inode = fs->buckets[i];

		while (inode) {
			struct fs_inode *next = inode->hash_next;

			inode_free(inode);
			inode = next;
		}
	}
	free(fs->buckets);
	fs->buckets = NULL;
}

/* Doubles the table when it gets crowded; under table_lock. */
static void maybe_grow(struct fs_ctx *fs)
{
	size_t old_count = fs->bucket_count;
	struct fs_inode **old = fs->buckets, **fresh;

	if (fs->inode_count < 2 * old_count)
		return;
	fresh = calloc(2 * old_count, sizeof(*fresh));
	if (!fresh)
		return; /* longer chains, still correct */
	fs->buckets = fresh;
	fs->bucket_count = 2 * old_count;
	for (size_t i = 0; i < old_count; i++) {
		struct fs_inode *inode = old[i];

		while (inode) {
			struct fs_inode *next = inode->hash_next;
			size_t b = bucket_of(fs, inode->dev, inode->ino);

			inode->hash_next = fresh[b];
			fresh[b] = inode;
			inode = next;
		}
	}
	free(old);
}

struct fs_inode *fs_inode_get(struct fs_ctx *fs, int fd, const struct stat *st)
{
	struct fs_inode *inode, *fresh;
	size_t b;

	if (st->st_ino == fs->root.ino && st->st_dev == fs->root.dev) {
		close(fd);
		fs_inode_ref(fs, &fs->root);
		return &fs->root;
	}
	/* Allocated outside the lock; freed again if the inode exists. */
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return NULL;
	pthread_mutex_lock(&fs->table_lock);
	b = bucket_of(fs, st->st_dev, st->st_ino);
	for (inode = fs->buckets[b]; inode; inode = inode->hash_next)
		if (inode->ino == st->st_ino && inode->dev == st->st_dev)
			break;
	if (inode) {
		inode->nlookup++;
		pthread_mutex_unlock(&fs->table_lock);
		free(fresh);
		close(fd);
		return inode;
	}
	fresh->fd = fd;
	fresh->ino = st->st_ino;
	fresh->dev = st->st_dev;
	fresh->type = st->st_mode & S_IFMT;
	fresh->nlookup = 1;
	pthread_rwlock_init(&fresh->data_lock, NULL);
	pthread_mutex_init(&fresh->open_lock, NULL);
	fresh->hash_next = fs->buckets[b];
	fs->buckets[b] = fresh;
	fs->inode_count++;
	maybe_grow(fs);
	pthread_mutex_unlock(&fs->table_lock);
	return fresh;
}

void fs_inode_ref(struct fs_ctx *fs, struct fs_inode *inode)
{
	pthread_mutex_lock(&fs->table_lock);
	inode->nlookup++;
	pthread_mutex_unlock(&fs->table_lock);
}

void fs_inode_unref(struct fs_ctx *fs, struct fs_inode *inode, uint64_t n)
{
	struct fs_inode **link;

	pthread_mutex_lock(&fs->table_lock);
	inode->nlookup = inode->nlookup > n ? inode->nlookup - n : 0;
	if (inode->nlookup > 0 || inode == &fs->root) {
		pthread_mutex_unlock(&fs->table_lock);
		return;
	}
	link = &fs->buckets[bucket_of(fs, inode->dev, inode->ino)];
	while (*link && *link != inode)
		link = &(*link)->hash_next;
	if (*link)
		*link = inode->hash_next;
	fs->inode_count--;
	pthread_mutex_unlock(&fs->table_lock);
	inode_free(inode);
}
