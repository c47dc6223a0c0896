/* SPDX-License-Identifier: MIT */
/* The admin commands over a whole volume: `cmkfs rewrap` moves every
 * file's DEK to the newest CMK version through the header's inactive slot
 * (no data is read or rewritten); `cmkfs status` tells which versions the
 * key service has and how many files each one wraps. Both walk the
 * backing tree in parallel (fs/walk.c) and may run while it is mounted. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/log.h"
#include "fs/admin.h"
#include "fs/cli.h"
#include "fs/volume.h"
#include "fs/walk.h"

#define FAILURES_SHOWN 100

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens a backing file for a header read or a slot write: never through a
 * symbolic link, never blocking on a FIFO, without touching its atime. */
static int open_backing(int dir_fd, const char *name, int mode)
{
	int flags = mode | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
	int fd = openat(dir_fd, name, flags | O_NOATIME);

	if (fd < 0 && errno == EPERM) /* O_NOATIME: not the owner */
		fd = openat(dir_fd, name, flags);
	return fd;
}

/* --- what both commands share ------------------------------------------------
 */

struct admin {
	struct cmk_volume *vol;
	pthread_mutex_t lock;
	struct cmk_walk_progress progress;
	size_t handled; /* atomic */
	size_t failed;	/* under lock */
	struct {
		char *path; /* backing, relative to the cipher directory */
		char *why;
	} failures[FAILURES_SHOWN];
	/* rewrap */
	size_t rewrapped, current; /* atomic */
	char newest[CMK_VERSION_MAX + 1];
	/* status: per version, under lock */
	struct {
		char id[CMK_VERSION_MAX + 1];
		size_t files;
	} * counts;
	size_t n_counts;
	/* progress display */
	bool tty;
	bool progress_json; /* JSON lines on stdout instead */
	bool stop;
	pthread_cond_t cond;
	double start;
};

static void admin_fail(struct admin *a, const char *dir_path, const char *name,
		       const char *why)
{
	char path[PATH_MAX];

	cmk_walk_join(dir_path, name, path, sizeof(path));
	pthread_mutex_lock(&a->lock);
	if (a->failed < FAILURES_SHOWN) {
		a->failures[a->failed].path = strdup(path);
		a->failures[a->failed].why = strdup(why);
	}
	a->failed++;
	pthread_mutex_unlock(&a->lock);
}

static void on_dir_error(void *ctx, const char *path, int error)
{
	admin_fail(ctx, "", path, strerror(error));
}

static void progress_json_line(struct admin *a, size_t done, size_t found,
			       bool all, double t)
{
	printf("{\"version\": 1, \"event\": \"progress\", \"files_done\": "
	       "%zu, \"files_found\": %zu, \"walk_done\": %s, "
	       "\"elapsed_s\": %.3f}\n",
	       done, found, all ? "true" : "false", t);
	fflush(stdout);
	(void)a;
}

static void *progress_main(void *arg)
{
	struct admin *a = arg;
	struct timespec when;

	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		size_t done = __atomic_load_n(&a->handled, __ATOMIC_RELAXED);
		size_t found =
			__atomic_load_n(&a->progress.found, __ATOMIC_RELAXED);
		bool all = __atomic_load_n(&a->progress.walk_done,
					   __ATOMIC_ACQUIRE);
		double t = now_s() - a->start,
		       rate = t > 0 ? (double)done / t : 0;
		char left[32] = "";
		int width = 30, fill;

		if (a->progress_json) {
			progress_json_line(a, done, found, all, t);
		} else {
			fill = found ? (int)((double)width * (double)done /
					     (double)found)
				     : 0;
			if (all && rate > 0)
				snprintf(left, sizeof(left), ", %.0f s left",
					 (double)(found - done) / rate);
			fprintf(stderr,
				"\r[%.*s%*s] %zu/%s%zu files, %.0f/s%s   ",
				fill, "##############################",
				width - fill, "", done, all ? "" : ">=", found,
				rate, left);
			fflush(stderr);
		}
		clock_gettime(CLOCK_REALTIME, &when);
		when.tv_nsec += (a->progress_json ? 500 : 250) * 1000000L;
		if (when.tv_nsec >= 1000000000L) {
			when.tv_sec++;
			when.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->cond, &a->lock, &when);
	}
	pthread_mutex_unlock(&a->lock);
	if (!a->progress_json)
		fprintf(stderr, "\r%*s\r", 78, "");
	return NULL;
}

/* Walks the volume with on_file, showing progress on a terminal. */
static int admin_walk(struct admin *a, unsigned int jobs,
		      cmk_walk_file_fn on_file, struct cmk_err *err)
{
	pthread_t progress;
	bool shown = false;
	int ret;

	a->start = now_s();
	if (a->tty || a->progress_json)
		shown = pthread_create(&progress, NULL, progress_main, a) == 0;
	ret = cmk_walk(a->vol->dir_fd,
		       (a->vol->info.flags & CMK_VOLUME_FLAG_ENC_NAMES) != 0,
		       jobs, on_file, on_dir_error, a, &a->progress, err);
	if (shown) {
		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->lock);
		pthread_join(progress, NULL);
	}
	return ret;
}

static void admin_init(struct admin *a, struct cmk_volume *vol)
{
	memset(a, 0, sizeof(*a));
	a->vol = vol;
	a->tty = isatty(STDERR_FILENO);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
}

/* Where a failed file is, as applications see it, and where it is in
 * the backing store. */
static void failure_paths(struct admin *a, size_t i, char *plain,
			  size_t plain_size, char *backing, size_t backing_size)
{
	char raw[PATH_MAX];
	const char *rel = a->failures[i].path ? a->failures[i].path : "?";

	cmk_volume_plain_path(a->vol, rel, raw, sizeof(raw));
	cmk_printable(raw, plain, plain_size);
	cmk_printable(rel, backing, backing_size);
}

static void admin_report_failures(struct admin *a, const char *cmd)
{
	char plain[PATH_MAX], backing[PATH_MAX], why[CMK_ERR_MSG_MAX];

	for (size_t i = 0; i < a->failed && i < FAILURES_SHOWN; i++) {
		failure_paths(a, i, plain, sizeof(plain), backing,
			      sizeof(backing));
		cmk_printable(a->failures[i].why ? a->failures[i].why
						 : "(out of memory)",
			      why, sizeof(why));
		if (strcmp(plain, backing) == 0)
			fprintf(stderr, "cmkfs %s: %s: %s\n", cmd, plain, why);
		else
			fprintf(stderr, "cmkfs %s: %s (backing file %s): %s\n",
				cmd, plain, backing, why);
	}
	if (a->failed > FAILURES_SHOWN)
		fprintf(stderr, "cmkfs %s: ... and %zu more failures\n", cmd,
			a->failed - FAILURES_SHOWN);
}

/* The same as a JSON array of {path, backing_path, error}. */
static json_t *admin_failures_json(struct admin *a)
{
	char plain[PATH_MAX], backing[PATH_MAX];
	json_t *list = json_array();

	for (size_t i = 0; i < a->failed && i < FAILURES_SHOWN; i++) {
		char raw[PATH_MAX];
		const char *rel = a->failures[i].path ? a->failures[i].path
						      : "?";

		(void)plain;
		(void)backing;
		cmk_volume_plain_path(a->vol, rel, raw, sizeof(raw));
		json_array_append_new(
			list,
			json_pack("{s:s%, s:s, s:s}", "path", raw, strlen(raw),
				  "backing_path", rel, "error",
				  a->failures[i].why ? a->failures[i].why
						     : "out of memory"));
	}
	return list;
}

static void admin_destroy(struct admin *a)
{
	for (size_t i = 0; i < a->failed && i < FAILURES_SHOWN; i++) {
		free(a->failures[i].path);
		free(a->failures[i].why);
	}
	free(a->counts);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
}

/* --- rewrap
 * -------------------------------------------------------------------- */

static void rewrap_file(void *ctx, int dir_fd, const char *dir_path,
			const char *name)
{
	struct admin *a = ctx;
	enum cmk_rewrap_outcome outcome;
	struct cmk_err err = { 0 };
	struct stat st;
	int fd, ret;

	fd = open_backing(dir_fd, name, O_RDWR);
	if (fd < 0) {
		/* A symbolic link, socket or FIFO: no header to re-wrap. */
		if (errno != ELOOP && errno != ENXIO && errno != EISDIR)
			admin_fail(a, dir_path, name, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	ret = cmk_volume_rewrap_fd(a->vol, fd, &outcome, &err);
	if (ret == 0 && outcome == CMK_REWRAP_DONE)
		ret = cmk_fault("rewrap.file"); /* tests: a kill right here */
	close(fd);
	__atomic_add_fetch(&a->handled, 1, __ATOMIC_RELAXED);
	if (ret)
		admin_fail(a, dir_path, name, err.msg);
	else if (outcome == CMK_REWRAP_DONE)
		__atomic_add_fetch(&a->rewrapped, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&a->current, 1, __ATOMIC_RELAXED);
}

/* While the walk runs, a thread syncs the file system again and again, so
 * that the disk writes the re-wrapped headers while later ones are being
 * made, rather than all of them in the final sync (which stays: success
 * is reported only after a sync that started once every slot was
 * written, and it reports the flusher's errors too, see below). Only a
 * head start: it changes nothing a kill may leave. */
struct flusher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;
	bool stop;
};

static void *flusher_main(void *arg)
{
	struct flusher *f = arg;
	struct timespec when;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		pthread_mutex_unlock(&f->lock);
		(void)syncfs(f->fd); /* the final sync reports errors */
		pthread_mutex_lock(&f->lock);
		clock_gettime(CLOCK_REALTIME, &when);
		when.tv_nsec += 200 * 1000000L;
		if (when.tv_nsec >= 1000000000L) {
			when.tv_sec++;
			when.tv_nsec -= 1000000000L;
		}
		if (!f->stop)
			pthread_cond_timedwait(&f->cond, &f->lock, &when);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Starts the flusher; false (and nothing to stop) when it cannot run. */
static bool flusher_start(struct flusher *f, int dir_fd)
{
	memset(f, 0, sizeof(*f));
	f->fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->fd < 0)
		return false;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	if (pthread_create(&f->thread, NULL, flusher_main, f) == 0)
		return true;
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	close(f->fd);
	return false;
}

static void flusher_stop(struct flusher *f)
{
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	close(f->fd);
}

/* One admin command at a time on a volume (rewrap, fsck --repair): an
 * exclusive flock on the cipher directory itself, which stays while the
 * descriptor is replaced. -EWOULDBLOCK when another holds it. */
int cmk_admin_lock(struct cmk_volume *vol, int *fd_out)
{
	int fd = openat(vol->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	*fd_out = fd;
	return 0;
}

static void rewrap_summary_json(struct admin *a, double took, int status)
{
	json_t *root = json_pack(
		"{s:i, s:s, s:I, s:I, s:I, s:I, s:s, s:f, s:o, s:i}", "version",
		1, "event", "done", "files",
		(json_int_t)a->rewrapped + (json_int_t)a->current +
			(json_int_t)a->failed,
		"rewrapped", (json_int_t)a->rewrapped, "current",
		(json_int_t)a->current, "failed", (json_int_t)a->failed,
		"cmk_version", a->newest, "elapsed_s", took, "failures",
		admin_failures_json(a), "exit_code", status);

	if (root && json_dumpf(root, stdout, JSON_COMPACT) == 0)
		putchar('\n');
	fflush(stdout);
	json_decref(root);
}

/* An envelope volume: the key service re-wraps the volume key with the
 * CMK's current version; no file is read or written. */
static int rewrap_envelope(struct cmk_volume *vol, const char *cipherdir,
			   struct admin *a, bool progress_json)
{
	enum cmk_rewrap_outcome outcome;
	struct cmk_err err = { 0 };
	double took;
	int ret;

	ret = cmk_volume_rewrap_envelope(vol, &outcome, a->newest, &err);
	if (ret)
		return cmk_fail(NULL, &err, ret);
	took = now_s() - a->start;
	if (progress_json) {
		json_t *o = json_pack("{s:i, s:s, s:s, s:b, s:f, s:i}",
				      "version", 1, "event", "done",
				      "cmk_version", a->newest, "rewrapped",
				      outcome == CMK_REWRAP_DONE, "elapsed_s",
				      took, "exit_code", CMK_EXIT_OK);
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(o);
	} else {
		printf("cmkfs rewrap: %s: the volume key %s CMK version %s "
		       "(%.1f s; no file needed re-wrapping)\n",
		       cipherdir,
		       outcome == CMK_REWRAP_DONE ? "is now wrapped with"
						  : "was already wrapped with",
		       a->newest, took);
	}
	return CMK_EXIT_OK;
}

/* Walks every file re-wrapping its header with the keyring's newest key,
 * then syncs the file system once: CMK_EXIT_OK only when every re-wrapped
 * header is on disk (a.failed counts files that failed). */
static int rewrap_walk_synced(struct admin *a, const char *cipherdir,
			      unsigned int jobs)
{
	struct cmk_err err = { 0 };
	struct flusher flusher;
	int root_fd, root_errno, ret, status = CMK_EXIT_OK;
	bool flushing;

	/* Opened before the first slot is written: syncfs reports a
	 * writeback error to every open description older than the error,
	 * so the final sync on this one also reports what failed in the
	 * writeback that the flusher's syncs (on another) started. */
	root_fd =
		openat(a->vol->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	root_errno = errno;
	flushing = root_fd >= 0 && flusher_start(&flusher, a->vol->dir_fd);
	ret = admin_walk(a, jobs, rewrap_file, &err);
	if (flushing)
		flusher_stop(&flusher);
	if (ret == 0)
		ret = cmk_fault("rewrap.walked");
	if (ret) {
		cmk_err_prefix(&err, "%s: ", cipherdir);
		status = cmk_fail(NULL, &err, ret);
		goto out;
	}
	/* Durable before it says so: one sync of the file system. It may
	 * take seconds after a large walk: the terminal says so meanwhile. */
	if (a->tty) {
		fprintf(stderr, "\rsyncing %zu re-wrapped headers to disk...",
			a->rewrapped);
		fflush(stderr);
	}
	if (root_fd < 0) {
		errno = root_errno;
		ret = -1;
	} else {
		ret = syncfs(root_fd);
	}
	if (a->tty) {
		int e = errno;

		fprintf(stderr, "\r%*s\r", 78, "");
		errno = e;
	}
	if (ret != 0) {
		fprintf(stderr, "cmkfs: %s: sync: %s\n", cipherdir,
			strerror(errno));
		status = CMK_EXIT_VOLUME;
	}
out:
	if (root_fd >= 0)
		close(root_fd);
	return status;
}

/* `rewrap --volume-key`: a new volume key, wrapped by the key service,
 * replaces the current one in every header; the descriptor keeps the
 * replaced one until the next replacement, for headers that a mount which
 * had not re-read the descriptor yet wrote with it. Each step is on disk
 * before the next begins, so that a rerun after a kill resumes. */
static int rewrap_volume_key(struct cmk_volume *vol, const char *cipherdir,
			     struct admin *a, unsigned int jobs)
{
	char vk_id[CMK_VERSION_MAX + 1], version[CMK_VERSION_MAX + 1] = "";
	enum cmk_vk_step step;
	struct cmk_err err = { 0 };
	size_t drained = 0;
	int ret, status;

	ret = cmk_volume_vk_state(vol, &step, vk_id, &err);
	if (ret == -EAGAIN) {
		fprintf(stderr, "cmkfs: %s\n", err.msg);
		return CMK_EXIT_FAILURE;
	}
	if (ret)
		return cmk_fail(NULL, &err, ret);
	if (step == CMK_VK_DRAIN) {
		/* The keyring's newest is the current key: the older one's
		 * headers move to it; the record goes only when none failed. */
		strcpy(a->newest, vol->info.mac_version);
		status = rewrap_walk_synced(a, cipherdir, jobs);
		if (status == CMK_EXIT_OK && a->failed) {
			fprintf(stderr,
				"cmkfs: %s: volume key %s is kept: %zu "
				"files could not be moved off it\n",
				cipherdir, vk_id, a->failed);
			status = CMK_EXIT_VOLUME;
		}
		if (status != CMK_EXIT_OK)
			return status;
		ret = cmk_volume_vk_drop(vol, vk_id, &err);
		if (ret)
			return cmk_fail(NULL, &err, ret);
		drained = a->rewrapped;
		a->rewrapped = a->current = a->handled = 0;
		memset(&a->progress, 0, sizeof(a->progress));
		step = CMK_VK_NEW;
	}
	if (step == CMK_VK_NEW) {
		ret = cmk_volume_vk_add(vol, vk_id, version, &err);
		if (ret)
			return cmk_fail(NULL, &err, ret);
	}
	strcpy(a->newest, vk_id);
	status = rewrap_walk_synced(a, cipherdir, jobs);
	if (status != CMK_EXIT_OK)
		return status;
	/* The MAC and the name key under the new key: from here mounts make
	 * new files with it (at their next re-check). */
	ret = cmk_volume_remac(vol, &err);
	if (ret) {
		cmk_err_prefix(&err, "%s: ", cipherdir);
		return cmk_fail(NULL, &err, ret);
	}
	if (drained)
		printf("cmkfs rewrap: %s: %zu files moved off the volume key "
		       "before the last one\n",
		       cipherdir, drained);
	if (version[0])
		printf("cmkfs rewrap: %s: new volume key %s, wrapped with CMK "
		       "version %s\n",
		       cipherdir, vk_id, version);
	return a->failed ? CMK_EXIT_VOLUME : CMK_EXIT_OK;
}

int cmk_cmd_rewrap(const struct cmk_conf *conf, const char *cipherdir,
		   unsigned int jobs, bool progress_json, bool volume_key)
{
	struct cmk_volume *vol = NULL;
	struct cmk_err err = { 0 };
	struct admin a;
	int lock_fd = -1, ret, status = CMK_EXIT_OK;
	double took;

	ret = cmk_volume_open(conf, cipherdir, &vol, &err);
	if (ret)
		return cmk_fail(NULL, &err, ret);
	admin_init(&a, vol);
	a.progress_json = progress_json;
	a.tty = a.tty && !progress_json;
	ret = cmk_admin_lock(vol, &lock_fd);
	if (ret) {
		fprintf(stderr, "cmkfs: %s: %s\n", cipherdir,
			ret == -EWOULDBLOCK ? "another rewrap or fsck --repair "
					      "is running"
					    : strerror(-ret));
		status = ret == -EWOULDBLOCK ? CMK_EXIT_FAILURE
					     : CMK_EXIT_VOLUME;
		goto out;
	}
	if (volume_key && !cmk_volume_is_envelope(vol)) {
		fprintf(stderr,
			"cmkfs: %s: --volume-key: this volume has no volume "
			"key (its CMK is a secret; rewrap alone re-wraps "
			"every file)\n",
			cipherdir);
		status = CMK_EXIT_USAGE;
		goto out;
	}
	if (cmk_volume_is_envelope(vol) && !volume_key) {
		status = rewrap_envelope(vol, cipherdir, &a, progress_json);
		goto out;
	}
	if (volume_key) {
		status = rewrap_volume_key(vol, cipherdir, &a, jobs);
		if (status != CMK_EXIT_OK && !a.failed)
			goto out;
		goto summary;
	}
	{
		uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);

		if (!cmk ||
		    cmk_keyring_get_newest(vol->keyring, a.newest, cmk) != 0) {
			cmk_secure_free(cmk, CMK_KEY_LEN);
			fprintf(stderr, "cmkfs: no enabled CMK version\n");
			status = CMK_EXIT_KMS;
			goto out;
		}
		cmk_secure_free(cmk, CMK_KEY_LEN);
	}
	status = rewrap_walk_synced(&a, cipherdir, jobs);
	if (status != CMK_EXIT_OK)
		goto out;
	ret = cmk_volume_remac(vol, &err);
	if (ret) {
		cmk_err_prefix(&err, "%s: ", cipherdir);
		status = cmk_fail(NULL, &err, ret);
		goto out;
	}
summary:
	took = now_s() - a.start;
	if (a.failed)
		status = CMK_EXIT_VOLUME;
	admin_report_failures(&a, "rewrap");
	if (progress_json)
		rewrap_summary_json(&a, took, status);
	else
		printf("cmkfs rewrap: %zu files in %.1f s (%.0f files/s): %zu "
		       "re-wrapped to %s %s, %zu already current, "
		       "%zu failed\n",
		       a.rewrapped + a.current + a.failed, took,
		       took > 0 ? a.handled / took : 0.0, a.rewrapped,
		       volume_key ? "volume key" : "CMK version", a.newest,
		       a.current, a.failed);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	admin_destroy(&a);
	cmk_volume_close(vol);
	return status;
}

/* --- status
 * -------------------------------------------------------------------- */

static void status_file(void *ctx, int dir_fd, const char *dir_path,
			const char *name)
{
	struct admin *a = ctx;
	char version[CMK_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	struct stat st;
	size_t i;
	int fd, ret;

	fd = open_backing(dir_fd, name, O_RDONLY);
	if (fd < 0) {
		if (errno != ELOOP && errno != ENXIO && errno != EISDIR)
			admin_fail(a, dir_path, name, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	ret = cmk_volume_file_version(a->vol, fd, version, &err);
	close(fd);
	__atomic_add_fetch(&a->handled, 1, __ATOMIC_RELAXED);
	if (ret) {
		admin_fail(a, dir_path, name, err.msg);
		return;
	}
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < a->n_counts; i++)
		if (strcmp(a->counts[i].id, version) == 0)
			break;
	if (i == a->n_counts) {
		void *grown = realloc(a->counts, (i + 1) * sizeof(*a->counts));

		if (!grown) {
			pthread_mutex_unlock(&a->lock);
			admin_fail(a, dir_path, name, "out of memory");
			return;
		}
		a->counts = grown;
		strcpy(a->counts[i].id, version);
		a->counts[i].files = 0;
		a->n_counts++;
	}
	a->counts[i].files++;
	pthread_mutex_unlock(&a->lock);
}

static size_t files_of(const struct admin *a, const char *id)
{
	for (size_t i = 0; i < a->n_counts; i++)
		if (strcmp(a->counts[i].id, id) == 0)
			return a->counts[i].files;
	return 0;
}

static const char *when_text(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) ||
	    !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "-");
	return buf;
}

/* An envelope volume in `cmkfs status`: headers name volume keys, and the
 * key service's versions wrap those. */
struct status_env {
	size_t vk_files[CMK_ENVELOPE_COUNT]; /* per record */
	size_t off_current;   /* files on another key than the MAC one */
	size_t unknown;	      /* files on a key with no record */
	const char *stale_vk; /* a record not wrapped with the newest */
	const char *stale_version;
};

/* Counts files per record and per CMK version: a.counts becomes per
 * version (the files whose volume key that version wraps), as the rest
 * of status reads it for a secret's volume. */
static int status_envelope(struct admin *a, const char *newest_enabled,
			   struct status_env *se)
{
	const struct cmk_volume_info *vi = &a->vol->info;
	size_t n = 0;
	void *by_version;

	memset(se, 0, sizeof(*se));
	by_version = calloc(CMK_ENVELOPE_COUNT, sizeof(*a->counts));
	if (!by_version)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_counts; i++) {
		const struct cmk_envelope *e =
			cmk_volume_envelope(vi, a->counts[i].id);

		if (strcmp(a->counts[i].id, vi->mac_version) != 0)
			se->off_current += a->counts[i].files;
		if (!e)
			se->unknown += a->counts[i].files;
		else
			se->vk_files[e - vi->envelopes] += a->counts[i].files;
	}
	free(a->counts);
	a->counts = by_version;
	for (int r = 0; r < CMK_ENVELOPE_COUNT; r++) {
		const struct cmk_envelope *e = &vi->envelopes[r];
		size_t k;

		if (!e->used)
			continue;
		if (newest_enabled &&
		    strcmp(e->cmk_version, newest_enabled) != 0 &&
		    !se->stale_vk) {
			se->stale_vk = e->vk_id;
			se->stale_version = e->cmk_version;
		}
		for (k = 0; k < n; k++)
			if (strcmp(a->counts[k].id, e->cmk_version) == 0)
				break;
		if (k == n) {
			strcpy(a->counts[k].id, e->cmk_version);
			n++;
		}
		a->counts[k].files += se->vk_files[r];
	}
	a->n_counts = n;
	return 0;
}

static json_t *status_env_json(const struct admin *a,
			       const struct status_env *se)
{
	const struct cmk_volume_info *vi = &a->vol->info;
	json_t *keys = json_array();

	for (int r = 0; keys && r < CMK_ENVELOPE_COUNT; r++) {
		const struct cmk_envelope *e = &vi->envelopes[r];

		if (!e->used)
			continue;
		json_array_append_new(
			keys, json_pack("{s:s, s:s, s:s, s:b, s:I}", "id",
					e->vk_id, "cmk_version", e->cmk_version,
					"alg", e->alg, "current",
					strcmp(e->vk_id, vi->mac_version) == 0,
					"files", (json_int_t)se->vk_files[r]));
	}
	return keys;
}

int cmk_cmd_status(const struct cmk_conf *conf, const char *cipherdir,
		   unsigned int jobs, bool json)
{
	struct cmk_kms_version *versions = NULL;
	struct cmk_volume *vol = NULL;
	struct cmk_err err = { 0 }, list_err = { 0 }, key_err = { 0 };
	const char *newest_enabled = NULL;
	size_t count = 0, old_files = 0, unlisted = 0;
	char summary[CMK_ERR_MSG_MAX + 64], when[32];
	struct status_env se = { 0 };
	struct admin a;
	int ret, list_ret, key_ret, status = CMK_EXIT_OK;
	bool envelope;

	ret = cmk_volume_peek(conf, cipherdir, &vol, &err);
	if (ret)
		return cmk_fail(NULL, &err, ret);
	/* The configured key must be the volume's, as for mount. When the
	 * key service cannot give a key (no version enabled, unreachable),
	 * status still reports what it can. */
	key_ret = cmk_volume_unlock(vol, &key_err);
	if (key_ret == -EKEYREJECTED) {
		cmk_volume_close(vol);
		return cmk_fail(NULL, &key_err, key_ret);
	}
	envelope = cmk_volume_is_envelope(vol);
	admin_init(&a, vol);
	a.tty = a.tty && !json;
	list_ret =
		cmk_kms_list_versions(vol->kms, &versions, &count, &list_err);
	ret = admin_walk(&a, jobs, status_file, &err);
	if (ret) {
		cmk_err_prefix(&err, "%s: ", cipherdir);
		status = cmk_fail(NULL, &err, ret);
		goto out;
	}
	for (size_t i = 0; list_ret == 0 && i < count; i++)
		if (versions[i].enabled && !newest_enabled)
			newest_enabled = versions[i].id;
	if (envelope && status_envelope(&a, newest_enabled, &se) != 0) {
		status = cmk_fail(NULL, &err,
				  cmk_err_set(&err, -ENOMEM, "out of memory"));
		goto out;
	}
	for (size_t i = 0; i < a.n_counts; i++) {
		bool listed = false;

		for (size_t k = 0; k < count; k++)
			listed |= strcmp(versions[k].id, a.counts[i].id) == 0;
		if (!listed)
			unlisted += a.counts[i].files;
		if (!newest_enabled ||
		    strcmp(a.counts[i].id, newest_enabled) != 0)
			old_files += a.counts[i].files;
	}
	if (list_ret)
		snprintf(summary, sizeof(summary),
			 "the key service cannot be asked: %s", list_err.msg);
	else if (!newest_enabled)
		snprintf(summary, sizeof(summary),
			 "no version of the key is enabled: the volume cannot "
			 "be mounted, and a mount gives EACCES on every open "
			 "and create");
	else if (a.failed)
		snprintf(summary, sizeof(summary),
			 "%zu file%s unreadable headers: run cmkfs fsck",
			 a.failed, a.failed == 1 ? " has" : "s have");
	else if (envelope && se.stale_vk)
		snprintf(summary, sizeof(summary),
			 "CMK version %s is newer than version %s, which "
			 "wraps volume key %s: a rewrap is due (cmkfs rewrap)",
			 newest_enabled, se.stale_version, se.stale_vk);
	else if (envelope && se.off_current)
		snprintf(summary, sizeof(summary),
			 "%zu file%s not on volume key %s yet: cmkfs rewrap "
			 "--volume-key finishes the replacement",
			 se.off_current, se.off_current == 1 ? " is" : "s are",
			 vol->info.mac_version);
	else if (envelope)
		snprintf(summary, sizeof(summary),
			 "the volume key is wrapped with the newest enabled "
			 "version %s: older versions may be disabled",
			 newest_enabled);
	else if (old_files)
		snprintf(summary, sizeof(summary),
			 "%zu file%s not yet wrapped with the newest enabled "
			 "version %s: run cmkfs rewrap before disabling "
			 "older versions",
			 old_files, old_files == 1 ? " is" : "s are",
			 newest_enabled);
	else
		snprintf(summary, sizeof(summary),
			 "every file is wrapped with the newest enabled "
			 "version %s: older versions may be disabled",
			 newest_enabled);
	if (list_ret)
		status = cmk_exit_code(&list_err, list_ret);
	else if (!newest_enabled)
		status = CMK_EXIT_KMS;
	else if (a.failed)
		status = CMK_EXIT_VOLUME;
	if (json) {
		json_t *root = json_object(), *vs = json_array(),
		       *un = json_object();

		json_object_set_new(root, "version", json_integer(1));
		json_object_set_new(root, "volume", json_string(cipherdir));
		json_object_set_new(root, "key",
				    json_string(vol->info.cmk_name));
		json_object_set_new(root, "descriptor_version",
				    json_string(vol->info.mac_version));
		json_object_set_new(root, "key_checked",
				    json_boolean(key_ret == 0));
		json_object_set_new(root, "key_check_error",
				    key_ret ? json_string(key_err.msg)
					    : json_null());
		json_object_set_new(root, "key_service_error",
				    list_ret ? json_string(list_err.msg)
					     : json_null());
		for (size_t i = 0; list_ret == 0 && i < count; i++) {
			json_t *v = json_object();

			json_object_set_new(v, "id",
					    json_string(versions[i].id));
			json_object_set_new(v, "enabled",
					    json_boolean(versions[i].enabled));
			json_object_set_new(
				v, "created",
				versions[i].created
					? json_string(
						  when_text(versions[i].created,
							    when, sizeof(when)))
					: json_null());
			json_object_set_new(v, "files",
					    json_integer((json_int_t)files_of(
						    &a, versions[i].id)));
			json_array_append_new(vs, v);
		}
		json_object_set_new(root, "versions", vs);
		for (size_t i = 0; i < a.n_counts && list_ret == 0; i++) {
			bool listed = false;

			for (size_t k = 0; k < count; k++)
				listed |= strcmp(versions[k].id,
						 a.counts[i].id) == 0;
			if (!listed)
				json_object_set_new(
					un, a.counts[i].id,
					json_integer(
						(json_int_t)a.counts[i].files));
		}
		json_object_set_new(root, "unlisted_versions", un);
		if (envelope) {
			json_object_set_new(root, "volume_keys",
					    status_env_json(&a, &se));
			json_object_set_new(root, "rewrap_due",
					    json_boolean(se.stale_vk != NULL));
			json_object_set_new(
				root, "files_off_volume_key",
				json_integer((json_int_t)se.off_current));
		}
		json_object_set_new(root, "newest_enabled",
				    newest_enabled ? json_string(newest_enabled)
						   : json_null());
		json_object_set_new(root, "files",
				    json_integer((json_int_t)a.handled));
		json_object_set_new(root, "files_not_newest",
				    json_integer((json_int_t)old_files));
		json_object_set_new(root, "unreadable",
				    json_integer((json_int_t)a.failed));
		json_object_set_new(root, "unreadable_files",
				    admin_failures_json(&a));
		json_object_set_new(root, "summary", json_string(summary));
		json_object_set_new(root, "exit_code", json_integer(status));
		if (json_dumpf(root, stdout, JSON_INDENT(2)) == 0)
			putchar('\n');
		json_decref(root);
	} else {
		printf("volume:     %s\n", cipherdir);
		printf("key:        %s\n", vol->info.cmk_name);
		if (key_ret == 0)
			printf("descriptor: sealed with version %s, verified "
			       "with the configured key\n",
			       vol->info.mac_version);
		else
			printf("descriptor: sealed with version %s, NOT "
			       "verified: %s\n",
			       vol->info.mac_version, key_err.msg);
		if (list_ret == 0) {
			printf("%-36s %-9s %-20s %s\n", "VERSION", "STATE",
			       "CREATED", "FILES");
			for (size_t i = 0; i < count; i++)
				printf("%-36s %-9s %-20s %zu\n", versions[i].id,
				       versions[i].enabled ? "enabled"
							   : "disabled",
				       when_text(versions[i].created, when,
						 sizeof(when)),
				       files_of(&a, versions[i].id));
		}
		if (envelope) {
			printf("%-12s %-36s %-13s %s\n", "VOLUME KEY",
			       "WRAPPED WITH CMK VERSION", "ALGORITHM",
			       "FILES");
			for (int r = 0; r < CMK_ENVELOPE_COUNT; r++) {
				const struct cmk_envelope *e =
					&vol->info.envelopes[r];

				if (e->used)
					printf("%-12s %-36s %-13s %zu%s\n",
					       e->vk_id, e->cmk_version, e->alg,
					       se.vk_files[r],
					       strcmp(e->vk_id,
						      vol->info.mac_version) ==
							       0
						       ? " (current)"
						       : "");
			}
			if (se.unknown)
				printf("%zu files name a volume key the "
				       "descriptor does not hold\n",
				       se.unknown);
		}
		if (unlisted)
			printf("%zu files are wrapped with versions the key "
			       "service does not list\n",
			       unlisted);
		printf("files:      %zu (%zu with unreadable headers)\n",
		       a.handled, a.failed);
		printf("%s\n", summary);
		admin_report_failures(&a, "status");
	}
out:
	free(versions);
	admin_destroy(&a);
	cmk_volume_close(vol);
	return status;
}
