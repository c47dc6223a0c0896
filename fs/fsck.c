/* SPDX-License-Identifier: MIT */
/* `cmkfs fsck [--repair] CIPHERDIR`: checks a volume in two passes. The
 * first walks the directories in order and checks what names depend on:
 * each directory's id, every encrypted name against it, long names and
 * their side files, symlink targets, and cmkfs's own leftovers. The
 * second reads every file's header in parallel (fs/walk.c): both key
 * slots, this volume's id, the active slot unwrapped. The descriptor's
 * two copies are checked first.
 *
 * --repair fixes only what cannot lose data: an orphaned side file (its
 * entry is gone), a damaged spare key slot (the active one is whole), a
 * missing, damaged or stale descriptor copy (rewritten from the one that
 * verifies), a missing id of a directory with no entries, a long symlink
 * target's side file that no symlink names, and the
 * leftovers of an interrupted mkdir or descriptor update. Everything else
 * is reported and left. Exit codes follow e2fsck(8). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "fs/admin.h"
#include "fs/backing_names.h"
#include "fs/cli.h"
#include "fs/mountinfo.h"
#include "fs/volume.h"
#include "fs/walk.h"

#define VOLUME_TMP_PREFIX CMK_VOLUME_FILE ".tmp."

struct fsck {
	struct cmk_volume *vol;
	bool repair;
	bool enc_names;
	pthread_mutex_t lock; /* the counters and output, from workers */
	size_t files, dirs, symlinks, others;
	size_t found, fixed, unchecked;
	/* The markers of symlinks with a long target, in the first pass,
	 * so that side files no symlink names can be told. */
	char (*markers)[CMK_SYMLINK_MARKER_LEN + 1];
	size_t n_markers, markers_cap;
};

/* One problem, by plaintext path where the names decrypt. fixed: what the
 * repair did, NULL when left. */
static void report(struct fsck *f, const char *rel, const char *problem,
		   const char *fixed)
{
	char raw[PATH_MAX], plain[PATH_MAX], backing[PATH_MAX];
	char why[CMK_ERR_MSG_MAX];

	cmk_volume_plain_path(f->vol, rel[0] ? rel : ".", raw, sizeof(raw));
	cmk_printable(raw, plain, sizeof(plain));
	cmk_printable(rel[0] ? rel : ".", backing, sizeof(backing));
	cmk_printable(problem, why, sizeof(why));
	pthread_mutex_lock(&f->lock);
	f->found++;
	if (fixed)
		f->fixed++;
	if (strcmp(plain, backing) == 0)
		printf("%s: %s", plain, why);
	else
		printf("%s (backing %s): %s", plain, backing, why);
	if (fixed)
		printf(" [FIXED: %s]\n", fixed);
	else
		printf(f->repair ? " [left as it is]\n" : "\n");
	fflush(stdout);
	pthread_mutex_unlock(&f->lock);
}

/* --- the descriptor
 * ----------------------------------------------------------- */

static void check_descriptor(struct fsck *f)
{
	struct cmk_volume *vol = f->vol;
	static const char *const names[CMK_VOLUME_COPIES] = {
		CMK_VOLUME_FILE, CMK_VOLUME_BACKUP
	};

	for (int which = 0; which < CMK_VOLUME_COPIES; which++) {
		const struct cmk_volume_copy *c = &vol->copies[which];
		char problem[CMK_ERR_MSG_MAX + 64];
		struct cmk_err err = { 0 };

		if (which == vol->used_copy)
			continue;
		if (c->state == -ENOENT)
			snprintf(problem, sizeof(problem),
				 "descriptor copy %s is missing", names[which]);
		else if (c->state)
			snprintf(problem, sizeof(problem),
				 "descriptor copy %s is damaged: %s",
				 names[which], c->problem);
		else if (c->verified)
			snprintf(problem, sizeof(problem),
				 "descriptor copy %s does not verify with the "
				 "key",
				 names[which]);
		else if (memcmp(c->bytes, vol->descriptor, CMK_VOLUME_SIZE) !=
			 0)
			snprintf(problem, sizeof(problem),
				 "descriptor copy %s is stale (an update was "
				 "interrupted)",
				 names[which]);
		else
			continue;
		if (f->repair && cmk_volume_write_copy(vol, which, &err) == 0) {
			report(f, names[which], problem,
			       "rewritten from the copy that verifies");
		} else {
			if (f->repair)
				snprintf(problem + strlen(problem),
					 sizeof(problem) - strlen(problem),
					 " (cannot rewrite it: %s)", err.msg);
			report(f, names[which], problem, NULL);
		}
	}
}

/* --- names
 * -------------------------------------------------------------------- */

struct entry {
	char *name;
	unsigned char type; /* DT_* */
	enum cmk_bn_kind kind;
	bool side_used; /* a side file whose long name exists */
};

static void free_entries(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

/* The entries of a directory, with their types (lstat where readdir does
 * not tell). -errno when it cannot be read. */
static int read_entries(int dir_fd, bool root, struct entry **out, size_t *n)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct entry *list = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int ret = -errno;

		if (fd >= 0)
			close(fd);
		return ret;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (count == cap) {
			struct entry *grown;

			cap = cap ? 2 * cap : 64;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				closedir(d);
				free_entries(list, count);
				return -ENOMEM;
			}
			list = grown;
		}
		list[count].name = strdup(de->d_name);
		if (!list[count].name) {
			closedir(d);
			free_entries(list, count);
			return -ENOMEM;
		}
		list[count].type = de->d_type;
		if (de->d_type == DT_UNKNOWN &&
		    fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			list[count].type = IFTODT(st.st_mode);
		list[count].kind = cmk_bn_kind(de->d_name, root);
		list[count].side_used = false;
		count++;
	}
	closedir(d);
	*out = list;
	*n = count;
	return 0;
}

static void join(const char *dir, const char *name, char *out, size_t size)
{
	cmk_walk_join(dir, name, out, size);
}

/* A directory left by a mkdir that was interrupted before its rename:
 * holds at most its id. Removed when repairing. */
static void check_mkdir_leftover(struct fsck *f, int dir_fd, const char *rel,
				 const char *name)
{
	struct entry *list = NULL;
	size_t n = 0;
	bool only_id = true;
	int sub;

	sub = openat(dir_fd, name,
		     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0 || read_entries(sub, false, &list, &n) != 0) {
		if (sub >= 0)
			close(sub);
		report(f, rel,
		       "an unfinished directory of an interrupted "
		       "mkdir, unreadable",
		       NULL);
		return;
	}
	for (size_t i = 0; i < n; i++)
		only_id &= list[i].kind == CMK_BN_DIRID;
	free_entries(list, n);
	if (!only_id) {
		close(sub);
		report(f, rel,
		       "an unfinished directory of an interrupted mkdir "
		       "that holds entries",
		       NULL);
		return;
	}
	if (f->repair &&
	    (unlinkat(sub, CMK_DIRID_FILE, 0) == 0 || errno == ENOENT) &&
	    unlinkat(dir_fd, name, AT_REMOVEDIR) == 0)
		report(f, rel,
		       "an empty directory left by an interrupted mkdir",
		       "removed");
	else
		report(f, rel,
		       "an empty directory left by an interrupted mkdir", NULL);
	close(sub);
}

/* A file left by a create interrupted before its rename, on a store
 * without O_TMPFILE: it never had a name of the volume. Removed when
 * repairing. */
static void check_create_leftover(struct fsck *f, int dir_fd, const char *rel,
				  const char *name)
{
	if (f->repair && unlinkat(dir_fd, name, 0) == 0)
		report(f, rel, "a file left by an interrupted create",
		       "removed");
	else
		report(f, rel, "a file left by an interrupted create", NULL);
}

static void remember_marker(struct fsck *f, const char *marker)
{
	if (f->n_markers == f->markers_cap) {
		size_t cap = f->markers_cap ? 2 * f->markers_cap : 16;
		void *grown = realloc(f->markers, cap * sizeof(*f->markers));

		if (!grown) {
			/* Without the list no side file can be called an
			 * orphan: none will be. */
			f->markers_cap = SIZE_MAX;
			return;
		}
		f->markers = grown;
		f->markers_cap = cap;
	}
	memcpy(f->markers[f->n_markers++], marker, CMK_SYMLINK_MARKER_LEN + 1);
}

static void check_symlink(struct fsck *f, int dir_fd, const char *rel,
			  const char *name)
{
	char enc[CMK_SYMLINK_ENC_MAX + 2], plain[CMK_SYMLINK_PLAIN_MAX + 1];
	char marker[CMK_SYMLINK_MARKER_LEN + 1];
	ssize_t n = readlinkat(dir_fd, name, enc, PATH_MAX);
	size_t enc_len;
	int ret;

	if (n < 0) {
		char why[128];

		snprintf(why, sizeof(why), "symlink unreadable: %s",
			 strerror(errno));
		report(f, rel, why, NULL);
		return;
	}
	enc_len = (size_t)n;
	if (cmk_symlink_marker_plain_len(enc, enc_len) > 0) {
		memcpy(marker, enc, CMK_SYMLINK_MARKER_LEN);
		marker[CMK_SYMLINK_MARKER_LEN] = '\0';
		remember_marker(f, marker);
		ret = cmk_bn_link_read(f->vol->dir_fd, marker, enc, &enc_len);
		if (ret) {
			report(f, rel,
			       ret == -ENOENT
				       ? "the side file of the symlink's long "
					 "target is missing: it reads as EIO"
				       : "the side file of the symlink's long "
					 "target is damaged or another's: it "
					 "reads as EIO",
			       NULL);
			return;
		}
	}
	if (cmk_symlink_decrypt(f->vol->names, enc, enc_len, plain,
				sizeof(plain)) < 0)
		report(f, rel,
		       "the symlink's target is not one of this "
		       "volume's (tampered or foreign): it reads as "
		       "EIO",
		       NULL);
}

static int marker_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Side files of long symlink targets that no symlink names (a crash
 * between the side file and its symlink, or a symlink removed behind
 * cmkfs's back). Removed when repairing: they hold only a target. */
static void check_link_orphans(struct fsck *f, int root_fd)
{
	struct entry *list = NULL;
	size_t n = 0;

	if (f->markers_cap == SIZE_MAX ||
	    read_entries(root_fd, true, &list, &n) != 0)
		return;
	if (f->n_markers)
		qsort(f->markers, f->n_markers, sizeof(*f->markers),
		      marker_cmp);
	for (size_t i = 0; i < n; i++) {
		static const char problem[] =
			"orphaned side file of a long symlink target (no "
			"symlink names it)";

		if (list[i].kind != CMK_BN_LINK ||
		    (f->n_markers &&
		     bsearch(list[i].name, f->markers, f->n_markers,
			     sizeof(*f->markers), marker_cmp)))
			continue;
		if (f->repair && unlinkat(root_fd, list[i].name, 0) == 0)
			report(f, list[i].name, problem, "removed");
		else
			report(f, list[i].name, problem, NULL);
	}
	free_entries(list, n);
}

static void check_dir(struct fsck *f, int dir_fd, const char *rel, bool root);

/* One directory of a volume with encrypted names. */
static void check_names(struct fsck *f, int dir_fd, const char *rel, bool root,
			struct entry *list, size_t n)
{
	uint8_t dirid[CMK_DIRID_LEN];
	char path[PATH_MAX], problem[CMK_ERR_MSG_MAX];
	size_t names = 0;
	int id_ret;

	for (size_t i = 0; i < n; i++)
		names += list[i].kind == CMK_BN_NAME;
	id_ret = cmk_bn_read_dirid(dir_fd, dirid);
	if (id_ret == -ENOENT && names == 0) {
		join(rel, CMK_DIRID_FILE, path, sizeof(path));
		if (f->repair && cmk_bn_new_dirid(dir_fd, dirid, true) == 0) {
			report(f, path,
			       "directory id missing in a directory "
			       "without entries",
			       "a new id written");
			id_ret = 0;
		} else {
			report(f, path,
			       "directory id missing in a directory "
			       "without entries",
			       NULL);
		}
	} else if (id_ret) {
		join(rel, CMK_DIRID_FILE, path, sizeof(path));
		snprintf(problem, sizeof(problem),
			 "directory id %s: the names of its %zu entries "
			 "cannot be decrypted (they give EIO)",
			 id_ret == -ENOENT ? "missing"
			 : id_ret == -EBADMSG
				 ? "damaged (not a regular file of 16 bytes)"
				 : strerror(-id_ret),
			 names);
		report(f, path, problem, NULL);
	}
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &list[i];
		char plain[CMK_NAME_PLAIN_MAX + 1];
		const char *why = "";

		join(rel, e->name, path, sizeof(path));
		switch (e->kind) {
		case CMK_BN_NAME:
			if (id_ret == 0 &&
			    cmk_bn_decode(f->vol->names, dir_fd, dirid, e->name,
					  plain, &why) != 0) {
				snprintf(problem, sizeof(problem),
					 "entry left out of listings: %s", why);
				report(f, path, problem, NULL);
			}
			if (cmk_name_is_long(e->name)) {
				char side[CMK_LONG_SIDE_LEN + 1];

				cmk_bn_side_name(e->name, side);
				for (size_t k = 0; k < n; k++)
					if (!strcmp(list[k].name, side))
						list[k].side_used = true;
			}
			break;
		case CMK_BN_OTHER:
			if (strncmp(e->name, CMK_BN_TMP_PREFIX,
				    strlen(CMK_BN_TMP_PREFIX)) == 0 &&
			    e->type == DT_DIR)
				check_mkdir_leftover(f, dir_fd, path, e->name);
			else if (strncmp(e->name, CMK_BN_TMP_PREFIX,
					 strlen(CMK_BN_TMP_PREFIX)) == 0 &&
				 e->type == DT_REG)
				check_create_leftover(f, dir_fd, path, e->name);
			else
				report(f, path,
				       "an unknown file named like "
				       "cmkfs's own",
				       NULL);
			break;
		default:
			break;
		}
	}
	/* Side files whose long name is gone: names only, no data. */
	for (size_t i = 0; i < n; i++) {
		if (list[i].kind != CMK_BN_SIDE || list[i].side_used)
			continue;
		join(rel, list[i].name, path, sizeof(path));
		if (f->repair && unlinkat(dir_fd, list[i].name, 0) == 0)
			report(f, path,
			       "orphaned long-name side file (its "
			       "entry is gone)",
			       "removed");
		else
			report(f, path,
			       "orphaned long-name side file (its "
			       "entry is gone)",
			       NULL);
	}
	(void)root;
}

static void check_dir(struct fsck *f, int dir_fd, const char *rel, bool root)
{
	struct entry *list = NULL;
	char path[PATH_MAX];
	size_t n = 0;
	int ret;

	ret = read_entries(dir_fd, root, &list, &n);
	if (ret) {
		char why[128];

		snprintf(why, sizeof(why), "directory unreadable: %s",
			 strerror(-ret));
		report(f, rel, why, NULL);
		return;
	}
	pthread_mutex_lock(&f->lock);
	f->dirs++;
	pthread_mutex_unlock(&f->lock);
	/* Leftovers of a descriptor update (write_copy's temporary). */
	for (size_t i = 0; root && i < n; i++) {
		if (list[i].kind != CMK_BN_VOLUME ||
		    !strcmp(list[i].name, CMK_VOLUME_FILE) ||
		    !strcmp(list[i].name, CMK_VOLUME_BACKUP) ||
		    !strcmp(list[i].name, CMK_VOLUME_ROOT))
			continue;
		if (strncmp(list[i].name, VOLUME_TMP_PREFIX,
			    strlen(VOLUME_TMP_PREFIX)) == 0 &&
		    list[i].type == DT_REG) {
			if (f->repair && unlinkat(dir_fd, list[i].name, 0) == 0)
				report(f, list[i].name,
				       "temporary file of an interrupted "
				       "descriptor update",
				       "removed");
			else
				report(f, list[i].name,
				       "temporary file of an interrupted "
				       "descriptor update",
				       NULL);
		} else {
			report(f, list[i].name,
			       "an unknown file named like the descriptor",
			       NULL);
		}
	}
	if (f->enc_names)
		check_names(f, dir_fd, rel, root, list, n);
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &list[i];

		if (e->kind != CMK_BN_NAME && f->enc_names)
			continue;
		if (e->kind == CMK_BN_VOLUME)
			continue;
		join(rel, e->name, path, sizeof(path));
		if (e->type == DT_DIR) {
			int sub = openat(dir_fd, e->name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (sub < 0) {
				char why[128];

				snprintf(why, sizeof(why),
					 "directory unreadable: %s",
					 strerror(errno));
				report(f, path, why, NULL);
				continue;
			}
			check_dir(f, sub, path, false);
			close(sub);
		} else if (e->type == DT_LNK) {
			f->symlinks++;
			if (f->enc_names)
				check_symlink(f, dir_fd, path, e->name);
		} else if (e->type != DT_REG) {
			f->others++;
		}
	}
	free_entries(list, n);
}

/* --- headers
 * -------------------------------------------------------------------- */

static void check_file(void *ctx, int dir_fd, const char *dir_path,
		       const char *name)
{
	struct fsck *f = ctx;
	struct cmk_header_info info;
	struct cmk_err err = { 0 };
	char path[PATH_MAX], problem[CMK_ERR_MSG_MAX + 64];
	struct stat st;
	int fd, ret;

	join(dir_path, name, path, sizeof(path));
	fd = cmk_open_regular(dir_fd, name, f->repair ? O_RDWR : O_RDONLY, &st,
			      &err);
	if (fd == -ELOOP || fd == -EINVAL)
		return; /* symlinks, FIFOs...: checked in the first pass */
	if (fd < 0) {
		snprintf(problem, sizeof(problem), "cannot be opened: %s",
			 strerror(-fd));
		report(f, path, problem, NULL);
		return;
	}
	pthread_mutex_lock(&f->lock);
	f->files++;
	pthread_mutex_unlock(&f->lock);
	ret = cmk_volume_check_file(f->vol, fd, &info, &err);
	if (ret == -EACCES || ret == -EIO || ret == -ENOKEY) {
		/* No damage known: the key service would not say. */
		pthread_mutex_lock(&f->lock);
		f->unchecked++;
		pthread_mutex_unlock(&f->lock);
		cmk_log(LOG_WARNING, CMK_MSG_GENERAL, "%s: key not checked: %s",
			path, err.msg);
		close(fd);
		return;
	}
	if (ret) {
		snprintf(problem, sizeof(problem),
			 "header unreadable (the file "
			 "gives EIO): %s",
			 err.msg);
		report(f, path, problem, NULL);
		close(fd);
		return;
	}
	/* A truncate that a crash interrupted: the next open finishes it;
	 * --repair does now. */
	if (info.has_pending) {
		snprintf(problem, sizeof(problem),
			 "a truncate to %llu bytes was interrupted",
			 (unsigned long long)info.pending.new_size);
		if (f->repair &&
		    cmk_volume_finish_pending(fd, &info.pending, &err) == 0)
			report(f, path, problem, "finished");
		else
			report(f, path, problem, NULL);
	} else if (info.pending_damaged) {
		static const uint8_t none[CMK_PENDING_SIZE];

		snprintf(problem, sizeof(problem),
			 "a torn record of an interrupted truncate (its last "
			 "unit may read as garbage)");
		if (f->repair && cmk_write_full(fd, none, sizeof(none),
						CMK_PENDING_OFF) == 0)
			report(f, path, problem, "record cleared");
		else
			report(f, path, problem, NULL);
	}
	/* The active slot opens; a damaged spare is a rewrap that tore. */
	for (int slot = 0; slot < CMK_SLOT_COUNT; slot++) {
		static const uint8_t zero[CMK_SLOT_SIZE];

		if (slot == info.active ||
		    info.slots[slot].state != CMK_SLOT_DAMAGED)
			continue;
		snprintf(problem, sizeof(problem),
			 "header: spare key slot %d is damaged (%s); the "
			 "active slot %d is whole",
			 slot, info.slots[slot].problem, info.active);
		if (f->repair &&
		    cmk_write_full(fd, zero, sizeof(zero),
				   (off_t)CMK_SLOT_OFF(slot)) == 0 &&
		    fdatasync(fd) == 0)
			report(f, path, problem, "spare slot cleared");
		else
			report(f, path, problem, NULL);
	}
	close(fd);
}

static void on_dir_error(void *ctx, const char *path, int error)
{
	char why[128];

	snprintf(why, sizeof(why), "directory unreadable: %s", strerror(error));
	report(ctx, path, why, NULL);
}

/* --- the command
 * -------------------------------------------------------------- */

/* True when a mount on this host serves cipherdir (its source, as cmkfs
 * mounts name it). */
static bool mounted_here(const char *cipherdir)
{
	char real[PATH_MAX];

	return realpath(cipherdir, real) &&
	       cmk_mountinfo_has_source("fuse.cmkfs", real);
}

int cmk_cmd_fsck(const struct cmk_conf *conf, const char *cipherdir,
		 unsigned int jobs, bool repair)
{
	struct cmk_walk_progress progress = { 0 };
	struct cmk_volume *vol = NULL;
	struct cmk_err err = { 0 };
	struct fsck f;
	int root_fd = -1, lock_fd = -1, ret, status;

	if (repair && mounted_here(cipherdir)) {
		fprintf(stderr,
			"cmkfs fsck: %s is mounted on this host: "
			"unmount it before --repair\n",
			cipherdir);
		return CMK_FSCK_OPERATIONAL;
	}
	ret = cmk_volume_peek(conf, cipherdir, &vol, &err);
	if (ret) {
		cmk_fail("fsck", &err, ret);
		/* Both descriptor copies damaged: that is the volume's
		 * damage, and nothing can fix it here. */
		return cmk_fsck_exit_code(&err, ret);
	}
	ret = cmk_volume_unlock(vol, &err);
	if (ret) {
		cmk_fail("fsck", &err, ret);
		cmk_volume_close(vol);
		return CMK_FSCK_OPERATIONAL;
	}
	if (repair) {
		ret = cmk_admin_lock(vol, &lock_fd);
		if (ret) {
			fprintf(stderr, "cmkfs fsck: %s: %s\n", cipherdir,
				ret == -EWOULDBLOCK
					? "a rewrap or another fsck --repair "
					  "is running"
					: strerror(-ret));
			cmk_volume_close(vol);
			return CMK_FSCK_OPERATIONAL;
		}
	}
	memset(&f, 0, sizeof(f));
	f.vol = vol;
	f.repair = repair;
	f.enc_names = vol->names != NULL;
	pthread_mutex_init(&f.lock, NULL);
	printf("cmkfs fsck: %s (key '%s', %s names)%s\n", cipherdir,
	       vol->info.cmk_name, f.enc_names ? "encrypted" : "plaintext",
	       repair ? ", repairing what is safe" : "");
	check_descriptor(&f);
	root_fd = openat(vol->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		fprintf(stderr, "cmkfs fsck: %s: %s\n", cipherdir,
			strerror(errno));
		status = CMK_FSCK_OPERATIONAL;
		goto out;
	}
	check_dir(&f, root_fd, "", true);
	if (f.enc_names)
		check_link_orphans(&f, root_fd);
	ret = cmk_walk(root_fd, f.enc_names, jobs, check_file, on_dir_error, &f,
		       &progress, &err);
	if (ret) {
		cmk_err_prefix(&err, "%s: ", cipherdir);
		cmk_fail("fsck", &err, ret);
		status = CMK_FSCK_OPERATIONAL;
		goto out;
	}
	printf("cmkfs fsck: %zu files, %zu directories, %zu symlinks, %zu "
	       "others checked; %zu problem%s, %zu fixed, %zu left",
	       f.files, f.dirs, f.symlinks, f.others, f.found,
	       f.found == 1 ? "" : "s", f.fixed, f.found - f.fixed);
	if (f.unchecked)
		printf("; %zu file%s whose key the key service would not give "
		       "(not checked)",
		       f.unchecked, f.unchecked == 1 ? "" : "s");
	printf("\n");
	if (f.found > f.fixed)
		status = CMK_FSCK_UNCORRECTED;
	else if (f.fixed)
		status = CMK_FSCK_FIXED;
	else
		status = CMK_FSCK_CLEAN;
out:
	if (root_fd >= 0)
		close(root_fd);
	if (lock_fd >= 0)
		close(lock_fd);
	free(f.markers);
	pthread_mutex_destroy(&f.lock);
	cmk_volume_close(vol);
	return status;
}
