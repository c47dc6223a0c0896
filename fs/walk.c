/* SPDX-License-Identifier: MIT */
/* A parallel walk of the backing tree (see walk.h). A bounded queue of
 * (directory, name) items between the reading thread and the workers; a
 * directory stays open while any of its items waits (reference count). */
#include "fs/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/backing_names.h"
#include "crypto/names.h"

#define WALK_QUEUE 1024

struct walk_dir {
	int fd;
	char *path;    /* relative to the root, for messages */
	unsigned refs; /* under the queue lock */
};

struct walk_item {
	struct walk_dir *dir;
	char name[256];
};

/* Items move between the threads in batches: one lock round per batch,
 * not per file, keeps the threads off each other's futexes. */
#define WALK_BATCH 32

struct walk_pending {
	struct walk_item items[WALK_BATCH];
	size_t count;
};

struct walk {
	pthread_mutex_t lock;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
	struct walk_item items[WALK_QUEUE];
	size_t head, count;
	bool done; /* no more items will come */
	cmk_walk_file_fn on_file;
	cmk_walk_error_fn on_error;
	void *ctx;
	struct cmk_walk_progress *progress;
	bool enc_names;
	unsigned int jobs;
	struct walk_pending pending; /* the reading thread's only */
};

void cmk_walk_join(const char *dir_path, const char *name, char *out,
		   size_t size)
{
	if (snprintf(out, size, "%s%s%s", dir_path, dir_path[0] ? "/" : "",
		     name) < 0)
		out[0] = '\0';
}

/* Under the lock. */
static void dir_unref(struct walk_dir *dir)
{
	if (--dir->refs == 0) {
		close(dir->fd);
		free(dir->path);
		free(dir);
	}
}

static void *worker(void *arg)
{
	struct walk *w = arg;
	struct walk_item batch[WALK_BATCH];
	size_t n = 0;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		size_t share;

		for (size_t i = 0; i < n; i++)
			dir_unref(batch[i].dir);
		while (w->count == 0 && !w->done)
			pthread_cond_wait(&w->not_empty, &w->lock);
		if (w->count == 0)
			break;
		/* A fair share of what waits, so that every worker has
		 * some while the queue is short. */
		share = w->count / w->jobs + 1;
		n = share < WALK_BATCH ? share : WALK_BATCH;
		if (n > w->count)
			n = w->count;
		for (size_t i = 0; i < n; i++) {
			batch[i] = w->items[w->head];
			w->head = (w->head + 1) % WALK_QUEUE;
		}
		w->count -= n;
		pthread_cond_signal(&w->not_full);
		if (w->count)
			pthread_cond_signal(&w->not_empty);
		pthread_mutex_unlock(&w->lock);
		for (size_t i = 0; i < n; i++)
			w->on_file(w->ctx, batch[i].dir->fd, batch[i].dir->path,
				   batch[i].name);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Queues the reading thread's pending items, taking a reference to each
 * one's directory. Called before walk_dir() returns: until then the
 * directories of pending items are held by the walk_dir() calls on the
 * stack. */
static void flush(struct walk *w)
{
	struct walk_pending *p = &w->pending;
	size_t i = 0;

	if (!p->count)
		return;
	pthread_mutex_lock(&w->lock);
	while (i < p->count) {
		while (w->count == WALK_QUEUE)
			pthread_cond_wait(&w->not_full, &w->lock);
		for (; i < p->count && w->count < WALK_QUEUE; i++) {
			p->items[i].dir->refs++;
			w->items[(w->head + w->count) % WALK_QUEUE] =
				p->items[i];
			w->count++;
		}
		pthread_cond_signal(&w->not_empty);
	}
	pthread_mutex_unlock(&w->lock);
	__atomic_add_fetch(&w->progress->found, p->count, __ATOMIC_RELAXED);
	p->count = 0;
}

static void enqueue(struct walk *w, struct walk_dir *dir, const char *name)
{
	struct walk_item *item = &w->pending.items[w->pending.count++];

	item->dir = dir;
	snprintf(item->name, sizeof(item->name), "%s", name);
	if (w->pending.count == WALK_BATCH)
		flush(w);
}

/* Reads one directory (dir holds a reference for us), queueing its files
 * and walking its subdirectories depth first. */
static void walk_dir(struct walk *w, struct walk_dir *dir, bool root)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		w->on_error(w->ctx, dir->path[0] ? dir->path : ".", e);
		return;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (cmk_bn_hidden(w->enc_names, root, name))
			continue;
		if (de->d_type == DT_DIR) {
			/* On the heap: the tree may be deep. */
			size_t len = strlen(dir->path) + strlen(name) + 2;
			struct walk_dir *sub = calloc(1, sizeof(*sub));

			if (sub && (sub->path = malloc(len)))
				cmk_walk_join(dir->path, name, sub->path, len);
			if (sub && sub->path)
				sub->fd =
					openat(dir->fd, name,
					       O_PATH | O_DIRECTORY |
						       O_NOFOLLOW | O_CLOEXEC);
			if (!sub || !sub->path || sub->fd < 0) {
				w->on_error(w->ctx,
					    sub && sub->path ? sub->path : name,
					    sub && sub->path ? errno : ENOMEM);
				if (sub)
					free(sub->path);
				free(sub);
				continue;
			}
			sub->refs = 1;
			walk_dir(w, sub, false);
			pthread_mutex_lock(&w->lock);
			dir_unref(sub);
			pthread_mutex_unlock(&w->lock);
		} else if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN) {
			enqueue(w, dir, name);
		}
	}
	flush(w);
	closedir(d);
}

int cmk_walk(int root_fd, bool enc_names, unsigned int jobs,
	     cmk_walk_file_fn on_file, cmk_walk_error_fn on_error, void *ctx,
	     struct cmk_walk_progress *progress, struct cmk_err *err)
{
	pthread_t threads[CMK_WALK_JOBS_MAX];
	struct walk *w = calloc(1, sizeof(*w));
	struct walk_dir *root = calloc(1, sizeof(*root));
	unsigned int started = 0;
	int ret = 0;

	if (!w || !root) {
		free(w);
		free(root);
		return cmk_err_set(err, -ENOMEM, "out of memory");
	}
	if (jobs < 1)
		jobs = 1;
	if (jobs > CMK_WALK_JOBS_MAX)
		jobs = CMK_WALK_JOBS_MAX;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->not_empty, NULL);
	pthread_cond_init(&w->not_full, NULL);
	w->on_file = on_file;
	w->on_error = on_error;
	w->ctx = ctx;
	w->progress = progress;
	w->enc_names = enc_names;
	w->jobs = jobs;
	root->fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
	root->path = strdup("");
	root->refs = 1;
	if (root->fd < 0 || !root->path) {
		ret = cmk_err_set(err, root->fd < 0 ? -errno : -ENOMEM,
				  "cannot start the walk");
		if (root->fd >= 0)
			close(root->fd);
		free(root->path);
		free(root);
		goto out;
	}
	for (; started < jobs; started++)
		if (pthread_create(&threads[started], NULL, worker, w) != 0)
			break;
	if (started == 0) {
		ret = cmk_err_set(err, -EAGAIN, "cannot start threads");
		pthread_mutex_lock(&w->lock);
		dir_unref(root);
		pthread_mutex_unlock(&w->lock);
		goto out;
	}
	walk_dir(w, root, true);
	pthread_mutex_lock(&w->lock);
	dir_unref(root);
	w->done = true;
	pthread_cond_broadcast(&w->not_empty);
	pthread_mutex_unlock(&w->lock);
	__atomic_store_n(&progress->walk_done, true, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
out:
	pthread_cond_destroy(&w->not_full);
	pthread_cond_destroy(&w->not_empty);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return ret;
}
