/* SPDX-License-Identifier: MIT */
/* The file system's operations on the backing store (see fsops.h).
 * Metadata passes straight through to the backing objects, named relative
 * to their directories' descriptors (*at calls); regular files go through
 * crypto/filedata.c. Each operation captures errno once and leaves on one
 * path. Whatever an operation made before it fails is taken back, so that
 * an error to the application leaves nothing in the backing store. */
#include "fs/fsops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/io.h"
#include "common/log.h"
#include "crypto/secmem.h"
#include "fs/backing_names.h"

/* A temporary name: CMK_BN_TMP_PREFIX and 16 hex digits. */
#define TMP_NAME_SIZE 32

/* --- descriptors -----------------------------------------------------------
 */

/* Running out of descriptors is said once a minute, with what the daemon
 * holds, and the operation fails with the error: never a wrong answer. */
static int fd_error(struct fs_ctx *fs, int err, const char *what)
{
	struct timespec now;
	int64_t last;

	if (err != -EMFILE && err != -ENFILE)
		return err;
	clock_gettime(CLOCK_MONOTONIC, &now);
	last = __atomic_load_n(&fs->emfile_logged, __ATOMIC_RELAXED);
	if (last == 0 || now.tv_sec - last >= 60) {
		struct cmk_node_stats s;
		struct rlimit lim = { 0, 0 };

		__atomic_store_n(&fs->emfile_logged, (int64_t)now.tv_sec,
				 __ATOMIC_RELAXED);
		getrlimit(RLIMIT_NOFILE, &lim);
		cmk_nodes_stats(&fs->nodes, &s);
		cmk_log(LOG_ERR, CMK_MSG_LIMITS,
			"out of file descriptors (%s, limit %llu): %zu open "
			"files, %zu cached directories; %s fails with %s",
			err == -ENFILE ? "the system's table is full"
				       : "the process's limit",
			(unsigned long long)lim.rlim_cur, fs->open_file_count,
			s.dir_fds, what, strerror(-err));
	}
	return err;
}

static void proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* Where a node is, relative to the cipher directory, for log lines. */
static void where_of(struct fs_ctx *fs, struct cmk_node *node, char *out,
		     size_t len)
{
	char link[64], path[PATH_MAX];
	ssize_t n;
	int fd = cmk_node_open(&fs->nodes, node, O_PATH, NULL);

	if (fd < 0) {
		snprintf(out, len, "(inode %llu)",
			 (unsigned long long)node->ino);
		return;
	}
	proc_path(link, sizeof(link), fd);
	n = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (n < 0) {
		snprintf(out, len, "(inode %llu)",
			 (unsigned long long)node->ino);
		return;
	}
	path[n] = '\0';
	snprintf(out, len, "%s", path);
}

/* --- set-up ----------------------------------------------------------------
 */

/* The mount root's attributes: the record, else what the cipher
 * directory had (a volume made or mounted by an earlier version), which
 * then moves to the record while the directory goes back to 0700. A store
 * that cannot be written keeps them in memory (logged). */
static void root_attr_init(struct fs_ctx *fs, const struct stat *st)
{
	struct cmk_root_attr *a = &fs->root_attr;
	struct cmk_err err = { 0 };
	int ret;

	ret = cmk_volume_read_root(fs->vol, a);
	if (ret == 0 && (st->st_mode & 07777) == 0700)
		return;
	if (ret) {
		if (ret != -ENOENT)
			cmk_log(LOG_WARNING, CMK_MSG_GENERAL,
				"%s/%s is damaged: the mount root takes the "
				"cipher directory's mode and owner",
				fs->vol->path, CMK_VOLUME_ROOT);
		a->mode = st->st_mode & 07777;
		a->uid = st->st_uid;
		a->gid = st->st_gid;
	}
	if (cmk_volume_write_root(fs->vol, a, &err) != 0)
		cmk_log(LOG_WARNING, CMK_MSG_GENERAL,
			"cannot keep the cipher directory at 0700: %s",
			err.msg);
}

/* What applications see of the root: the record's mode and owner. */
static void root_view(struct fs_ctx *fs, struct cmk_node *node, struct stat *st)
{
	if (node != &fs->nodes.root)
		return;
	pthread_mutex_lock(&fs->open_lock);
	st->st_mode = S_IFDIR | fs->root_attr.mode;
	st->st_uid = fs->root_attr.uid;
	st->st_gid = fs->root_attr.gid;
	pthread_mutex_unlock(&fs->open_lock);
}

/* chmod and chown of the mount root change the record, never the cipher
 * directory. */
static int root_setattr(struct fs_ctx *fs, const struct stat *attr, int valid)
{
	struct cmk_root_attr a;
	struct cmk_err err = { 0 };
	int ret;

	pthread_mutex_lock(&fs->open_lock);
	a = fs->root_attr;
	if (valid & CMK_SET_MODE)
		a.mode = attr->st_mode & 07777;
	if (valid & CMK_SET_UID)
		a.uid = attr->st_uid;
	if (valid & CMK_SET_GID)
		a.gid = attr->st_gid;
	ret = cmk_volume_write_root(fs->vol, &a, &err);
	if (ret == 0)
		fs->root_attr = a;
	pthread_mutex_unlock(&fs->open_lock);
	if (ret)
		cmk_log(LOG_ERR, CMK_MSG_GENERAL, "%s", err.msg);
	return ret;
}

int cmk_fs_init(struct fs_ctx *fs, struct cmk_volume *vol, int root_fd,
		size_t dir_fd_max)
{
	struct stat st;
	int ret;

	fs->vol = vol;
	pthread_mutex_init(&fs->open_lock, NULL);
	if (fstat(root_fd, &st) != 0)
		return -errno;
	ret = cmk_nodes_init(&fs->nodes, root_fd, &st, dir_fd_max);
	if (ret)
		return ret;
	root_attr_init(fs, &st);
	if (vol->names &&
	    (cmk_name_cache_new(NAME_CACHE_PLAIN_SLOTS, &fs->plain_names) ||
	     cmk_name_cache_new(NAME_CACHE_BACKING_SLOTS, &fs->backing_names)))
		return -ENOMEM;
	return 0;
}

static void handle_free(struct fs_ctx *fs, struct cmk_handle *h);

void cmk_fs_destroy(struct fs_ctx *fs)
{
	/* Handles the kernel never released (the daemon stopped by a signal
	 * before a last RELEASE came): descriptors closed, keys wiped. */
	while (fs->open_files && fs->open_files->handles)
		handle_free(fs, fs->open_files->handles);
	cmk_nodes_destroy(&fs->nodes);
	cmk_name_cache_free(fs->plain_names);
	cmk_name_cache_free(fs->backing_names);
	fs->plain_names = fs->backing_names = NULL;
	pthread_mutex_destroy(&fs->open_lock);
}

/* --- names -----------------------------------------------------------------
 */

static bool is_dot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Names in the cipher directory's root that belong to cmkfs itself; with
 * encrypted names no plaintext name maps onto ours. */
static bool reserved_name(struct fs_ctx *fs, struct cmk_node *dir,
			  const char *name)
{
	return cmk_bn_reserved(fs->vol->names != NULL, dir == &fs->nodes.root,
			       name);
}

/* A name as its backing directory holds it. */
struct fs_name {
	const char *entry; /* for the *at() calls */
	bool is_long;	   /* bn.side names the side file */
	struct cmk_backing_name bn;
};

/* The directory id of a backing directory, read once per node. */
static int dir_id(struct fs_ctx *fs, struct cmk_node *dir, int dfd,
		  uint8_t dirid[CMK_DIRID_LEN])
{
	int ret = 0;

	pthread_mutex_lock(&fs->open_lock);
	if (dir->have_dirid) {
		memcpy(dirid, dir->dirid, CMK_DIRID_LEN);
		pthread_mutex_unlock(&fs->open_lock);
		return 0;
	}
	pthread_mutex_unlock(&fs->open_lock);
	ret = cmk_bn_read_dirid(dfd, dirid);
	if (ret == 0) {
		pthread_mutex_lock(&fs->open_lock);
		memcpy(dir->dirid, dirid, CMK_DIRID_LEN);
		dir->have_dirid = true;
		pthread_mutex_unlock(&fs->open_lock);
	}
	return ret;
}

/* Resolves name in dir (dfd: its descriptor): 0, -EIO for a backing
 * directory without a usable id (logged), -ENAMETOOLONG, -EINVAL. */
static int name_of(struct fs_ctx *fs, struct cmk_node *dir, int dfd,
		   const char *name, struct fs_name *out)
{
	uint8_t dirid[CMK_DIRID_LEN];
	char where[PATH_MAX];
	int ret;

	out->is_long = false;
	if (!fs->vol->names) {
		out->entry = name;
		return 0;
	}
	ret = dir_id(fs, dir, dfd, dirid);
	if (ret) {
		where_of(fs, dir, where, sizeof(where));
		cmk_log(LOG_ERR, CMK_MSG_DIRID,
			"%s: no usable %s (%s): its entries cannot be named",
			where, CMK_DIRID_FILE, strerror(-ret));
		return -EIO;
	}
	out->entry = out->bn.name;
	if (cmk_name_cache_get(fs->backing_names, dirid, name, out->bn.name))
		return 0;
	ret = cmk_name_to_backing(fs->vol->names, dirid, name, strlen(name),
				  &out->bn);
	if (ret)
		return ret;
	out->is_long = out->bn.is_long;
	if (!out->is_long)
		cmk_name_cache_put(fs->backing_names, dirid, name,
				   out->bn.name);
	return 0;
}

static int name_side_write(int dfd, const struct fs_name *n)
{
	return n->is_long ? cmk_bn_side_write(dfd, &n->bn) : 0;
}

static void name_side_drop(int dfd, const struct fs_name *n)
{
	if (n->is_long)
		cmk_bn_side_drop(dfd, &n->bn);
}

/* The plaintext name of a backing entry of dir into out: 1 for an entry
 * to list, 0 for one to skip (ours, or not a name of this volume:
 * logged). */
static int name_from_backing(struct fs_ctx *fs, struct cmk_node *dir,
			     int dir_fd, const char *entry,
			     char out[CMK_NAME_PLAIN_MAX + 1])
{
	const char *what = "";
	uint8_t dirid[CMK_DIRID_LEN];
	char where[PATH_MAX];

	if (cmk_name_is_special(entry))
		return 0;
	if (dir_id(fs, dir, dir_fd, dirid) != 0) {
		what = "its directory has no usable " CMK_DIRID_FILE;
		goto skip;
	}
	if (cmk_name_cache_get(fs->plain_names, dirid, entry, out))
		return 1;
	if (cmk_bn_decode(fs->vol->names, dir_fd, dirid, entry, out, &what) ==
	    0) {
		cmk_name_cache_put(fs->plain_names, dirid, entry, out);
		return 1;
	}
skip:
	where_of(fs, dir, where, sizeof(where));
	cmk_log(LOG_WARNING, CMK_MSG_NAME_SKIPPED,
		"%s: skipping entry '%.80s': %s", where, entry, what);
	return 0;
}

/* A regular file's plaintext size is its backing length less the header;
 * an encrypted symlink's is its target's, which a marker states (the
 * backing symlink is at dfd/entry, or entry "" of the O_PATH dfd). */
static void plain_attr(struct fs_ctx *fs, struct stat *st, int dfd,
		       const char *entry)
{
	char marker[CMK_SYMLINK_MARKER_LEN + 1];

	if (S_ISREG(st->st_mode)) {
		int64_t plain = cmk_plain_size((uint64_t)st->st_size);

		st->st_size = plain > 0 ? plain : 0; /* short: reads give EIO */
	} else if (S_ISLNK(st->st_mode) && fs->vol->names) {
		int len = cmk_symlink_plain_len((size_t)st->st_size);

		if (dfd >= 0 && cmk_bn_link_marker(dfd, entry, st, marker))
			len = cmk_symlink_marker_plain_len(
				marker, CMK_SYMLINK_MARKER_LEN);
		st->st_size = len > 0 ? len : 0;
	}
}

/* plain_attr for a node: a symlink with a marker is opened to read it. */
static void plain_attr_node(struct fs_ctx *fs, struct cmk_node *node,
			    struct stat *st)
{
	int fd = -1;

	if (S_ISLNK(st->st_mode) && st->st_size == CMK_SYMLINK_MARKER_LEN &&
	    fs->vol->names)
		fd = cmk_node_open(&fs->nodes, node, O_PATH, NULL);
	plain_attr(fs, st, fd, "");
	if (fd >= 0)
		close(fd);
}

/* Looks up a backing entry of dir (dfd) by its backing name. */
static int lookup_entry(struct fs_ctx *fs, struct cmk_node *dir, int dfd,
			const char *entry, struct cmk_entry *e)
{
	if (fstatat(dfd, entry, &e->attr, AT_SYMLINK_NOFOLLOW))
		return -errno;
	e->node = cmk_node_get(&fs->nodes, dir, entry, &e->attr);
	if (!e->node)
		return -ENOMEM;
	plain_attr(fs, &e->attr, dfd, entry);
	return 0;
}

int cmk_fs_lookup(struct fs_ctx *fs, struct cmk_node *dir, const char *name,
		  struct cmk_entry *e)
{
	struct fs_name n;
	int dfd, ret;

	memset(e, 0, sizeof(*e));
	if (reserved_name(fs, dir, name))
		return -ENOENT;
	dfd = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (dfd < 0)
		return fd_error(fs, dfd, "a lookup");
	ret = name_of(fs, dir, dfd, name, &n);
	if (ret == 0)
		ret = lookup_entry(fs, dir, dfd, n.entry, e);
	cmk_dir_fd_return(&fs->nodes, dir, dfd);
	return ret;
}

void cmk_fs_forget(struct fs_ctx *fs, struct cmk_node *node, uint64_t n)
{
	cmk_node_forget(&fs->nodes, node, n);
}

static int open_fd_of(struct fs_ctx *fs, struct cmk_node *node);

/* fstat, with the store asked afresh on a shared mount: another host may
 * have changed the file, and the store's client may cache attributes.
 * (Stats by name need not: the store's lookup brings fresh ones.) */
static int backing_fstat(struct fs_ctx *fs, int fd, struct stat *st)
{
	struct statx stx;

	if (fs->shared && statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC,
				STATX_BASIC_STATS, &stx) != 0)
		return -errno;
	return fstat(fd, st) ? -errno : 0;
}

int cmk_fs_getattr(struct fs_ctx *fs, struct cmk_node *node,
		   struct cmk_handle *h, struct stat *st)
{
	int ret = h ? backing_fstat(fs, h->fd, st)
		    : cmk_node_stat(&fs->nodes, node, st);

	if (ret == -ESTALE) {
		/* Unlinked, and still open? */
		int fd = open_fd_of(fs, node);

		if (fd >= 0) {
			ret = backing_fstat(fs, fd, st);
			close(fd);
		}
	}
	if (ret)
		return fd_error(fs, ret, "a stat");
	plain_attr_node(fs, node, st);
	root_view(fs, node, st);
	return 0;
}

/* --- open files ------------------------------------------------------------
 */

/* --- -o shared: the store's lock -----------------------------------------
 *
 * Several hosts mount the volume through a store that carries POSIX locks
 * between its clients. Each data operation holds an OFD lock on the whole
 * backing file, header included (shared for reads, exclusive for writes,
 * truncates and fallocate), taken after data_lock so that this mount's
 * threads queue here and hosts queue at the store. Under it, the size is
 * the store's (attributes fetched afresh, not the client's cache), and the
 * pages this host cached are dropped when the file changed since this
 * mount last looked: a unit's read-modify-write and the end's re-encoding
 * always start from the bytes another host wrote last. */

static bool stx_time_eq(const struct statx_timestamp *a,
			const struct statx_timestamp *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* fd's attributes from the store, and its cached pages dropped when f (NULL:
 * always) has seen it otherwise. */
static int shared_refresh(struct cmk_open_file *f, int fd)
{
	struct statx stx;
	bool changed = true;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC,
		  STATX_SIZE | STATX_MTIME | STATX_CTIME, &stx) != 0)
		return -errno;
	if (f) {
		pthread_mutex_lock(&f->seen_lock);
		changed = stx.stx_size != f->seen_size ||
			  !stx_time_eq(&stx.stx_mtime, &f->seen_mtime) ||
			  !stx_time_eq(&stx.stx_ctime, &f->seen_ctime);
		f->seen_size = stx.stx_size;
		f->seen_mtime = stx.stx_mtime;
		f->seen_ctime = stx.stx_ctime;
		pthread_mutex_unlock(&f->seen_lock);
	}
	/* Advice only: a store that keeps no pages has none to drop. */
	if (changed)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return 0;
}

/* type: F_RDLCK or F_WRLCK. Nothing without -o shared. */
static int shared_begin(struct fs_ctx *fs, struct cmk_open_file *f, int fd,
			short type)
{
	int ret;

	if (!fs->shared)
		return 0;
	ret = cmk_range_lock(fd, type, 0, 0);
	if (ret == 0) {
		ret = shared_refresh(f, fd);
		if (ret)
			(void)cmk_range_lock(fd, F_UNLCK, 0, 0);
	}
	return ret;
}

/* Ends what shared_begin() began; after a change, the store has the
 * bytes before another host can take the lock (some stores' clients hold
 * writes back past an unlock). ret: the operation's result, returned, or
 * the flush's error when the operation succeeded. */
static int shared_end(struct fs_ctx *fs, int fd, bool changed, int ret)
{
	if (!fs->shared)
		return ret;
	if (changed && ret >= 0 && fdatasync(fd) != 0)
		ret = -errno;
	(void)cmk_range_lock(fd, F_UNLCK, 0, 0);
	return ret;
}

/* A read's share of h's shared lock: the first reader on the descriptor
 * takes it (and refreshes), later ones find it held, which means no other
 * host changed the file since. */
static int shared_read_begin(struct fs_ctx *fs, struct cmk_handle *h)
{
	int ret = 0;

	if (!fs->shared)
		return 0;
	pthread_mutex_lock(&h->readers_lock);
	if (h->readers == 0)
		ret = shared_begin(fs, h->file, h->fd, F_RDLCK);
	if (ret == 0)
		h->readers++;
	pthread_mutex_unlock(&h->readers_lock);
	return ret;
}

static ssize_t shared_read_end(struct fs_ctx *fs, struct cmk_handle *h,
			       ssize_t n)
{
	if (!fs->shared)
		return n;
	pthread_mutex_lock(&h->readers_lock);
	if (--h->readers == 0)
		(void)shared_end(fs, h->fd, false, 0);
	pthread_mutex_unlock(&h->readers_lock);
	return n;
}

/* Reads the header of the backing file fd and sets up its cipher: 0,
 * -EACCES (its version refused: logged once by the volume) or -EIO
 * (anything else: logged here). */
static int read_cipher(struct fs_ctx *fs, struct cmk_node *node, int fd,
		       struct cmk_xts **xts, char version[CMK_VERSION_MAX + 1])
{
	char where[PATH_MAX];
	struct cmk_err err = { 0 };
	/* Reading our own header is not an access by the user: keep the
	 * backing file's atime as it was (best effort). */
	int flags = fcntl(fd, F_GETFL), ret;
	bool noatime = flags >= 0 && !(flags & O_NOATIME) &&
		       fcntl(fd, F_SETFL, flags | O_NOATIME) == 0;

	/* Shared: no other host is half-way through a truncate whose
	 * record this open would finish. */
	ret = shared_begin(fs, NULL, fd, F_RDLCK);
	if (ret == 0)
		ret = shared_end(fs, fd, false,
				 cmk_volume_open_file(fs->vol, fd, xts, version,
						      &err));
	else
		cmk_err_set(&err, ret, "cannot lock the file: %s",
			    strerror(-ret));
	if (noatime)
		fcntl(fd, F_SETFL, flags);
	if (ret == 0)
		return 0;
	if (ret != -EACCES) {
		where_of(fs, node, where, sizeof(where));
		cmk_log(LOG_ERR, CMK_MSG_FILE_UNREADABLE, "%s: %s", where,
			err.msg);
	}
	return ret == -EACCES ? -EACCES : -EIO;
}

/* Joins the open state of node (made on the first open), with the cipher
 * xts when the caller has one (a create), else read from fd's header
 * when the file has none. *out: the state, one count taken. */
static int file_attach(struct fs_ctx *fs, struct cmk_node *node, int fd,
		       struct cmk_xts *xts, const char *version,
		       struct cmk_open_file **out)
{
	char ver[CMK_VERSION_MAX + 1] = "";
	struct cmk_open_file *f;
	int ret = 0;

	pthread_mutex_lock(&fs->open_lock);
	f = node->open;
	if (f && f->xts) {
		f->count++;
		pthread_mutex_unlock(&fs->open_lock);
		cmk_xts_free(xts);
		*out = f;
		return 0;
	}
	pthread_mutex_unlock(&fs->open_lock);
	/* The header is read outside the lock: it is I/O. */
	if (!xts) {
		ret = read_cipher(fs, node, fd, &xts, ver);
		if (ret)
			return ret;
		version = ver;
	}
	pthread_mutex_lock(&fs->open_lock);
	f = node->open;
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f) {
			pthread_mutex_unlock(&fs->open_lock);
			cmk_xts_free(xts);
			return -ENOMEM;
		}
		pthread_rwlock_init(&f->data_lock, NULL);
		pthread_mutex_init(&f->seen_lock, NULL);
		f->node = node;
		node->open = f;
		cmk_node_hold(&fs->nodes, node);
		f->next = fs->open_files;
		if (f->next)
			f->next->prev = f;
		fs->open_files = f;
		fs->open_file_count++;
	}
	if (!f->xts) {
		/* A new file, or one whose version came back after a
		 * revocation while others had it open. */
		pthread_rwlock_wrlock(&f->data_lock);
		f->xts = xts;
		snprintf(f->version, sizeof(f->version), "%s", version);
		pthread_rwlock_unlock(&f->data_lock);
		xts = NULL;
	}
	f->count++;
	pthread_mutex_unlock(&fs->open_lock);
	cmk_xts_free(xts);
	*out = f;
	return 0;
}

static void file_detach(struct fs_ctx *fs, struct cmk_open_file *f)
{
	struct cmk_node *node = NULL;

	pthread_mutex_lock(&fs->open_lock);
	if (--f->count == 0) {
		/* The key schedule goes as soon as nobody has the file open. */
		node = f->node;
		node->open = NULL;
		if (f->prev)
			f->prev->next = f->next;
		else
			fs->open_files = f->next;
		if (f->next)
			f->next->prev = f->prev;
		fs->open_file_count--;
	} else {
		f = NULL;
	}
	pthread_mutex_unlock(&fs->open_lock);
	if (f) {
		cmk_xts_free(f->xts);
		pthread_rwlock_destroy(&f->data_lock);
		pthread_mutex_destroy(&f->seen_lock);
		free(f);
		cmk_node_put(&fs->nodes, node);
	}
}

/* Opens the backing file of node for data access. Write access always
 * opens read-write: read-modify-write of units needs to read. O_APPEND and
 * O_TRUNC are handled by cmkfs, never by the backing file, which holds a
 * header at offset 0. */
static int backing_open(struct fs_ctx *fs, struct cmk_node *node, int flags)
{
	int bflags = (flags & O_ACCMODE) == O_RDONLY ? O_RDONLY : O_RDWR;
	int fd;

	bflags |= flags & (O_SYNC | O_DSYNC | O_NOATIME);
	fd = cmk_node_open(&fs->nodes, node, bflags, NULL);
	return fd < 0 ? fd_error(fs, fd, "an open") : fd;
}

static int handle_new(struct fs_ctx *fs, struct cmk_node *node, int fd,
		      int flags, struct cmk_xts *xts, const char *version,
		      struct cmk_handle **out)
{
	struct cmk_handle *h = calloc(1, sizeof(*h));
	int ret;

	if (!h) {
		cmk_xts_free(xts);
		return -ENOMEM;
	}
	ret = file_attach(fs, node, fd, xts, version, &h->file);
	if (ret) {
		free(h);
		return ret;
	}
	h->fd = fd;
	pthread_mutex_init(&h->readers_lock, NULL);
	/* With the writeback cache the kernel puts appends at its own idea
	 * of the end, and sends cached pages with their offsets: moving them
	 * would misplace data. */
	h->append = (flags & O_APPEND) != 0 && !fs->writeback;
	pthread_mutex_lock(&fs->open_lock);
	h->next = h->file->handles;
	if (h->next)
		h->next->prev = h;
	h->file->handles = h;
	pthread_mutex_unlock(&fs->open_lock);
	*out = h;
	return 0;
}

static void handle_free(struct fs_ctx *fs, struct cmk_handle *h)
{
	pthread_mutex_lock(&fs->open_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		h->file->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->open_lock);
	close(h->fd);
	pthread_mutex_destroy(&h->readers_lock);
	file_detach(fs, h->file);
	free(h);
}

/* A descriptor of node through one of its open handles (a copy, to be
 * closed): how an unlinked file that is still open is reached. -ESTALE
 * when it has none. */
static int open_fd_of(struct fs_ctx *fs, struct cmk_node *node)
{
	int fd = -ESTALE;

	pthread_mutex_lock(&fs->open_lock);
	if (node->open && node->open->handles) {
		fd = fcntl(node->open->handles->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			fd = -errno;
	}
	pthread_mutex_unlock(&fs->open_lock);
	return fd;
}

/* Opens an existing regular file: backing file, cipher, and O_TRUNC done
 * by cmkfs (never by the backing file, which holds the header). */
static int open_existing(struct fs_ctx *fs, const struct cmk_caller *who,
			 struct cmk_node *node, int flags,
			 struct cmk_handle **out)
{
	struct cmk_handle *h = NULL;
	struct cmk_open_file *f;
	struct stat st;
	int fd, ret;

	if (node->type != S_IFREG)
		return node->type == S_IFDIR ? -EISDIR : -EINVAL;
	fd = backing_open(fs, node, flags);
	if (fd < 0)
		return fd;
	/* Shared: close-to-open, as NFS; what this host cached of the
	 * file before may be another host's past. */
	if (fs->shared)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	ret = handle_new(fs, node, fd, flags, NULL, NULL, &h);
	if (ret) {
		close(fd);
		return ret;
	}
	if (flags & O_TRUNC) {
		f = h->file;
		pthread_rwlock_wrlock(&f->data_lock);
		ret = f->xts ? shared_begin(fs, f, fd, F_WRLCK) : -EACCES;
		if (ret == 0)
			ret = shared_end(fs, fd, true,
					 cmk_data_truncate(fd, f->xts, 0));
		pthread_rwlock_unlock(&f->data_lock);
		if (ret == -EBADMSG)
			ret = -EIO;
		/* The kernel leaves O_TRUNC to us (atomic O_TRUNC) and so does
		 * not clear set-id bits as a truncate by anyone but root
		 * does; we truncate as root, so clear them here. */
		if (ret == 0 && who->uid != 0 && fstat(fd, &st) == 0 &&
		    ((st.st_mode & S_ISUID) ||
		     (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)))
			fchmod(fd, st.st_mode & 07777 &
					   ~(mode_t)(S_ISUID |
						     ((st.st_mode & S_IXGRP)
							      ? S_ISGID
							      : 0)));
		if (ret) {
			handle_free(fs, h);
			return ret;
		}
	}
	*out = h;
	return 0;
}

int cmk_fs_open(struct fs_ctx *fs, const struct cmk_caller *who,
		struct cmk_node *node, int flags, struct cmk_handle **out)
{
	return open_existing(fs, who, node, flags, out);
}

/* Gives a new object the caller's uid and gid when the daemon runs as root
 * (the group of a setgid parent stays, as on a local file system). */
static int own_new(struct fs_ctx *fs, const struct cmk_caller *who,
		   int parent_fd, int fd, const char *name)
{
	struct stat parent;
	gid_t gid = who->gid;

	if (!fs->chown_new)
		return 0;
	if (fstat(parent_fd, &parent) == 0 && (parent.st_mode & S_ISGID))
		gid = parent.st_gid;
	if (fd >= 0)
		return fchown(fd, who->uid, gid) ? -errno : 0;
	return fchownat(parent_fd, name, who->uid, gid, AT_SYMLINK_NOFOLLOW)
		       ? -errno
		       : 0;
}

/* Removes entry from dfd, but only if it is still the object st
 * describes: the rollback of an operation that made it. */
static void take_back(int dfd, const char *entry, const struct stat *made,
		      bool dir)
{
	struct stat now;

	if (fstatat(dfd, entry, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    now.st_ino == made->st_ino && now.st_dev == made->st_dev)
		unlinkat(dfd, entry, dir ? AT_REMOVEDIR : 0);
}

/* Finishes a new entry: its node and attributes (e), or, when anything
 * fails, the entry removed again (and its side file) and the error. */
static int new_entry(struct fs_ctx *fs, struct cmk_node *dir, int dfd,
		     const struct fs_name *n, const char *fault_point,
		     struct cmk_entry *e)
{
	struct stat made;
	int ret;

	if (fstatat(dfd, n->entry, &made, AT_SYMLINK_NOFOLLOW))
		return -errno; /* nothing of ours to take back */
	ret = cmk_fault(fault_point);
	if (ret == 0)
		ret = lookup_entry(fs, dir, dfd, n->entry, e);
	if (ret) {
		take_back(dfd, n->entry, &made, S_ISDIR(made.st_mode));
		name_side_drop(dfd, n);
	}
	return ret;
}

/* A fresh temporary name (fs/backing_names.h). */
static void tmp_name(char out[TMP_NAME_SIZE])
{
	uint8_t rnd[8];

	cmk_random(rnd, sizeof(rnd));
	snprintf(out, TMP_NAME_SIZE,
		 CMK_BN_TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

/* Creates a backing file with its header in place before the name
 * appears: an O_TMPFILE file, header written, owned, then linked. Stores
 * without O_TMPFILE (GlusterFS, NFS) get the same under a temporary name,
 * renamed into place without replacing anything. A crash never leaves a
 * named file without a header (at most a temporary file, which fsck
 * removes). Returns the descriptor, -EEXIST (the name exists: the caller
 * may open it), or -errno. */
static int create_backing(struct fs_ctx *fs, const struct cmk_caller *who,
			  int dfd, const struct fs_name *n, mode_t mode,
			  struct cmk_xts **xts, char *version)
{
	struct cmk_err cerr = { 0 };
	const char *name = n->entry;
	char path[64], tmp[TMP_NAME_SIZE] = "";
	int fd, ret;

	ret = name_side_write(dfd, n);
	if (ret == 0)
		ret = cmk_fault("create.side");
	if (ret)
		return ret;
	fd = cmk_fault("store.tmpfile");
	if (fd == 0) {
		fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
			    mode & 07777);
		if (fd < 0)
			fd = -errno;
	}
	if (fd == -EOPNOTSUPP || fd == -EISDIR) {
		tmp_name(tmp);
		fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
			    mode & 07777);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0)
		return fd;
	ret = cmk_volume_new_file(fs->vol, fd, xts, version, &cerr);
	if (ret == 0)
		ret = own_new(fs, who, dfd, fd, NULL);
	/* chown clears set-id bits; put back what the caller asked for. */
	if (ret == 0 && (mode & (S_ISUID | S_ISGID)) && fs->chown_new)
		ret = fchmod(fd, mode & 07777) ? -errno : 0;
	if (ret == 0)
		ret = cmk_fault("create.header");
	if (ret == 0 && tmp[0]) {
		ret = cmk_rename_noreplace(dfd, tmp, dfd, name);
	} else if (ret == 0) {
		proc_path(path, sizeof(path), fd);
		if (linkat(AT_FDCWD, path, dfd, name, AT_SYMLINK_FOLLOW))
			ret = -errno;
	}
	if (ret) {
		if (tmp[0])
			unlinkat(dfd, tmp, 0);
		cmk_xts_free(*xts);
		*xts = NULL;
		close(fd);
		if (ret != -EEXIST)
			cmk_log(LOG_ERR, CMK_MSG_CREATE_FAILED,
				"cannot create '%s': %s", name,
				cerr.msg[0] ? cerr.msg : strerror(-ret));
		return ret;
	}
	return fd;
}

int cmk_fs_create(struct fs_ctx *fs, const struct cmk_caller *who,
		  struct cmk_node *dir, const char *name, mode_t mode,
		  int flags, struct cmk_entry *e, struct cmk_handle **out)
{
	char version[CMK_VERSION_MAX + 1] = "";
	struct cmk_xts *xts = NULL;
	struct fs_name n;
	int dfd, fd, ret;

	memset(e, 0, sizeof(*e));
	if (reserved_name(fs, dir, name))
		return -EPERM;
	dfd = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (dfd < 0)
		return fd_error(fs, dfd, "a create");
	ret = name_of(fs, dir, dfd, name, &n);
	if (ret)
		goto out;
	fd = create_backing(fs, who, dfd, &n, mode, &xts, version);
	if (fd == -EEXIST && !(flags & O_EXCL)) {
		/* Someone else created it first: open the existing file. */
		ret = lookup_entry(fs, dir, dfd, n.entry, e);
		if (ret)
			goto out;
		ret = open_existing(fs, who, e->node, flags, out);
		if (ret)
			cmk_node_forget(&fs->nodes, e->node, 1);
		goto out;
	}
	if (fd < 0) {
		ret = fd_error(fs, fd, "a create");
		goto out;
	}
	ret = new_entry(fs, dir, dfd, &n, "create.linked", e);
	if (ret == 0) {
		/* Hand our fresh cipher to the node, which has none yet. */
		ret = handle_new(fs, e->node, fd, flags, xts, version, out);
		xts = NULL;
		if (ret) {
			struct stat made = e->attr;

			cmk_node_forget(&fs->nodes, e->node, 1);
			if (fstat(fd, &made) == 0)
				take_back(dfd, n.entry, &made, false);
			name_side_drop(dfd, &n);
		}
	}
	if (ret) {
		cmk_xts_free(xts);
		close(fd);
	}
out:
	cmk_dir_fd_return(&fs->nodes, dir, dfd);
	return ret;
}

void cmk_fs_release(struct fs_ctx *fs, struct cmk_handle *h)
{
	handle_free(fs, h);
}

int cmk_fs_fsync(struct cmk_handle *h, bool datasync)
{
	return (datasync ? fdatasync(h->fd) : fsync(h->fd)) ? -errno : 0;
}

ssize_t cmk_fs_read(struct fs_ctx *fs, struct cmk_handle *h, void *buf,
		    size_t size, off_t off)
{
	struct cmk_open_file *f = h->file;
	ssize_t n;

	pthread_rwlock_rdlock(&f->data_lock);
	/* No cipher while open: its CMK version was revoked. */
	n = f->xts ? shared_read_begin(fs, h) : -EACCES;
	if (n == 0)
		n = shared_read_end(fs, h,
				    cmk_data_read(h->fd, f->xts, buf, size,
						  (uint64_t)off));
	pthread_rwlock_unlock(&f->data_lock);
	if (n == -EBADMSG) {
		char where[PATH_MAX];

		where_of(fs, f->node, where, sizeof(where));
		cmk_log(LOG_ERR, CMK_MSG_FILE_UNREADABLE,
			"%s: backing file is shorter than a header", where);
		n = -EIO;
	}
	return n;
}

ssize_t cmk_fs_write(struct fs_ctx *fs, struct cmk_handle *h, const void *buf,
		     size_t size, off_t off)
{
	struct cmk_open_file *f = h->file;
	uint64_t end;
	ssize_t n;

	pthread_rwlock_wrlock(&f->data_lock);
	n = f->xts ? shared_begin(fs, f, h->fd, F_WRLCK) : -EACCES;
	if (n == 0) {
		int flushed;

		/* O_APPEND: at the true end, under the locks, so appends
		 * from several handles (and hosts) never overlap. */
		if (h->append && cmk_data_size(h->fd, &end) == 0)
			off = (off_t)end;
		n = cmk_data_write(h->fd, f->xts, buf, size, (uint64_t)off);
		flushed = shared_end(fs, h->fd, true, n < 0 ? (int)n : 0);
		if (flushed < 0)
			n = flushed;
	}
	pthread_rwlock_unlock(&f->data_lock);
	return n == -EBADMSG ? -EIO : n;
}

int cmk_fs_fallocate(struct fs_ctx *fs, struct cmk_handle *h, int mode,
		     off_t off, off_t len)
{
	struct cmk_open_file *f = h->file;
	uint64_t size;
	int ret;

	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0 || off > INT64_MAX - len)
		return -EINVAL;
	pthread_rwlock_wrlock(&f->data_lock);
	ret = f->xts ? shared_begin(fs, f, h->fd, F_WRLCK) : -EACCES;
	if (ret)
		goto out;
	ret = cmk_data_size(h->fd, &size);
	/* Grow first (re-encoding the old last unit), then reserve blocks
	 * for the range; reserved zeros read as holes. */
	if (ret == 0 && !(mode & FALLOC_FL_KEEP_SIZE) &&
	    (uint64_t)(off + len) > size)
		ret = cmk_data_truncate(h->fd, f->xts, (uint64_t)(off + len));
	if (ret == 0 &&
	    fallocate(h->fd, mode, (off_t)cmk_backing_off((uint64_t)off),
		      len) != 0)
		ret = -errno;
	ret = shared_end(fs, h->fd, true, ret);
out:
	pthread_rwlock_unlock(&f->data_lock);
	return ret;
}

size_t cmk_fs_revoke(struct fs_ctx *fs,
		     void (*invalidate)(void *ctx, struct cmk_node *node),
		     void *ctx)
{
	struct cmk_node **cut = NULL;
	size_t revoked = 0, cap = 0;

	/* Lock order: open_lock, then data_lock (which waits for reads and
	 * writes in progress). */
	pthread_mutex_lock(&fs->open_lock);
	for (struct cmk_open_file *f = fs->open_files; f; f = f->next) {
		if (!f->xts || cmk_keyring_has(fs->vol->keyring, f->version))
			continue;
		pthread_rwlock_wrlock(&f->data_lock);
		cmk_xts_free(f->xts);
		f->xts = NULL;
		pthread_rwlock_unlock(&f->data_lock);
		if (revoked == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct cmk_node **grown =
				/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
				realloc(cut, ncap * sizeof(*cut));

			if (grown) {
				cut = grown;
				cap = ncap;
			}
		}
		if (revoked < cap) {
			cut[revoked] = f->node;
			cmk_node_hold(&fs->nodes, f->node);
		}
		revoked++;
	}
	pthread_mutex_unlock(&fs->open_lock);
	/* Pages the kernel cached were decrypted with the revoked key: they
	 * go too. Outside our locks: the kernel may wait for requests in
	 * flight. */
	for (size_t i = 0; i < revoked && i < cap; i++) {
		if (invalidate)
			invalidate(ctx, cut[i]);
		cmk_node_put(&fs->nodes, cut[i]);
	}
	free(cut);
	return revoked;
}

/* --- attributes ------------------------------------------------------------
 */

static int truncate_node(struct fs_ctx *fs, struct cmk_node *node,
			 struct cmk_handle *h, off_t size)
{
	struct cmk_handle *own = NULL;
	struct cmk_open_file *f;
	int ret;

	if (node->type != S_IFREG)
		return node->type == S_IFDIR ? -EISDIR : -EINVAL;
	if (size < 0)
		return -EINVAL;
	if (!h) {
		int fd = backing_open(fs, node, O_RDWR);

		if (fd < 0)
			return fd;
		ret = handle_new(fs, node, fd, O_RDWR, NULL, NULL, &own);
		if (ret) {
			close(fd);
			return ret;
		}
		h = own;
	}
	f = h->file;
	pthread_rwlock_wrlock(&f->data_lock);
	ret = f->xts ? shared_begin(fs, f, h->fd, F_WRLCK) : -EACCES;
	if (ret == 0)
		ret = shared_end(fs, h->fd, true,
				 cmk_data_truncate(h->fd, f->xts,
						   (uint64_t)size));
	pthread_rwlock_unlock(&f->data_lock);
	if (own)
		handle_free(fs, own);
	return ret == -EBADMSG ? -EIO : ret;
}

int cmk_fs_setattr(struct fs_ctx *fs, struct cmk_node *node,
		   struct cmk_handle *h, const struct stat *attr, int valid,
		   struct stat *out)
{
	char path[64];
	bool opath = false;
	int fd, ret = 0;

	/* A descriptor of the object: the handle's (an ftruncate, an
	 * fchmod, also of an unlinked file), else its own O_PATH one,
	 * checked to be it, else an open handle's (unlinked, still open). */
	if (h) {
		fd = fcntl(h->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			fd = -errno;
	} else {
		fd = cmk_node_open(&fs->nodes, node, O_PATH, NULL);
		opath = fd >= 0;
		if (fd == -ESTALE)
			fd = open_fd_of(fs, node);
	}
	/* The writeback cache flushes times of a file after its last name
	 * went and its last handle closed: nothing is left to change, and an
	 * error here would fail a later syncfs. */
	if (fd == -ESTALE &&
	    !(valid & ~(CMK_SET_ATIME | CMK_SET_MTIME | CMK_SET_ATIME_NOW |
			CMK_SET_MTIME_NOW)) &&
	    cmk_node_is_gone(&fs->nodes, node)) {
		memset(out, 0, sizeof(*out));
		out->st_ino = node->ino;
		out->st_mode = node->type;
		out->st_atim = attr->st_atim;
		out->st_mtim = attr->st_mtim;
		out->st_ctim = attr->st_mtim;
		return 0;
	}
	if (fd < 0)
		return fd_error(fs, fd, "a setattr");
	proc_path(path, sizeof(path), fd);
	if (node == &fs->nodes.root &&
	    (valid & (CMK_SET_MODE | CMK_SET_UID | CMK_SET_GID))) {
		ret = root_setattr(fs, attr, valid);
		valid &= ~(CMK_SET_MODE | CMK_SET_UID | CMK_SET_GID);
	}
	if (!ret && (valid & CMK_SET_MODE)) {
		if (opath ? chmod(path, attr->st_mode)
			  : fchmod(fd, attr->st_mode))
			ret = -errno;
	}
	if (!ret && (valid & (CMK_SET_UID | CMK_SET_GID))) {
		uid_t uid = (valid & CMK_SET_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & CMK_SET_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			ret = -errno;
	}
	if (!ret && (valid & CMK_SET_SIZE))
		ret = truncate_node(fs, node, h, attr->st_size);
	if (!ret && (valid & (CMK_SET_ATIME | CMK_SET_MTIME))) {
		struct timespec tv[2] = { { 0, UTIME_OMIT },
					  { 0, UTIME_OMIT } };

		if (valid & CMK_SET_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & CMK_SET_ATIME)
			tv[0] = attr->st_atim;
		if (valid & CMK_SET_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & CMK_SET_MTIME)
			tv[1] = attr->st_mtim;
		/* Symlinks: their own times, never their target's. */
		if (!opath ? futimens(fd, tv)
		    : node->type == S_IFLNK
			    ? utimensat(fd, "", tv,
					AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
			    : utimensat(AT_FDCWD, path, tv, 0))
			ret = -errno;
		/* Some stores (GlusterFS) refuse times on a file that is open
		 * but has no name left; nobody can see them there, and the
		 * writeback cache's flush of them must not fail a write. */
		if (ret == -ESTALE && !opath &&
		    cmk_node_is_gone(&fs->nodes, node))
			ret = 0;
	}
	if (!ret) {
		ret = fstat(fd, out) ? -errno : 0;
		if (!ret) {
			plain_attr(fs, out, node->type == S_IFLNK ? fd : -1,
				   "");
			root_view(fs, node, out);
		}
	}
	close(fd);
	return ret;
}

/* --- namespace -------------------------------------------------------------
 */

/* The backing entry for a new name in dir (dfd), its side file written:
 * 0, -EPERM for our own names, or -errno. */
static int new_name(struct fs_ctx *fs, struct cmk_node *dir, int dfd,
		    const char *name, struct fs_name *n)
{
	int ret;

	if (reserved_name(fs, dir, name))
		return -EPERM;
	ret = name_of(fs, dir, dfd, name, n);
	if (!ret)
		ret = name_side_write(dfd, n);
	return ret;
}

int cmk_fs_mknod(struct fs_ctx *fs, const struct cmk_caller *who,
		 struct cmk_node *dir, const char *name, mode_t mode,
		 dev_t rdev, struct cmk_entry *e)
{
	struct fs_name n;
	int dfd, ret;

	memset(e, 0, sizeof(*e));
	dfd = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (dfd < 0)
		return fd_error(fs, dfd, "a mknod");
	ret = new_name(fs, dir, dfd, name, &n);
	if (ret)
		goto out;
	if (S_ISREG(mode)) {
		/* A regular file needs a header: create and close it. */
		struct cmk_xts *xts = NULL;
		int fd = create_backing(fs, who, dfd, &n, mode, &xts, NULL);

		if (fd < 0) {
			ret = fd_error(fs, fd, "a mknod");
		} else {
			cmk_xts_free(xts);
			close(fd);
		}
	} else if (mknodat(dfd, n.entry, mode, rdev)) {
		ret = -errno;
	} else if ((ret = own_new(fs, who, dfd, -1, n.entry))) {
		unlinkat(dfd, n.entry, 0);
	}
	if (ret == 0)
		ret = new_entry(fs, dir, dfd, &n, "mknod.made", e);
	else
		name_side_drop(dfd, &n);
out:
	cmk_dir_fd_return(&fs->nodes, dir, dfd);
	return ret;
}

/* mkdir of an encrypted-names volume: under a temporary name of ours
 * first, with its directory id inside, then renamed into place, so that
 * no visible directory ever lacks an id. */
static int mkdir_with_id(struct fs_ctx *fs, const struct cmk_caller *who,
			 int dfd, const char *entry, mode_t mode)
{
	uint8_t dirid[CMK_DIRID_LEN];
	char tmp[TMP_NAME_SIZE];
	int sub, ret = 0;

	tmp_name(tmp);
	if (mkdirat(dfd, tmp, mode))
		return -errno;
	ret = cmk_fault("mkdir.tmp");
	sub = openat(dfd, tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		ret = -errno;
	else if (ret == 0)
		ret = cmk_bn_new_dirid(sub, dirid, false);
	if (ret == 0)
		ret = cmk_fault("mkdir.dirid");
	if (!ret)
		ret = own_new(fs, who, dfd, -1, tmp);
	/* chown cleared nothing on a directory; the mode is as asked. */
	if (!ret)
		ret = cmk_rename_noreplace(dfd, tmp, dfd, entry);
	if (ret) {
		if (sub >= 0)
			unlinkat(sub, CMK_DIRID_FILE, 0);
		unlinkat(dfd, tmp, AT_REMOVEDIR);
	}
	if (sub >= 0)
		close(sub);
	return ret;
}

int cmk_fs_mkdir(struct fs_ctx *fs, const struct cmk_caller *who,
		 struct cmk_node *dir, const char *name, mode_t mode,
		 struct cmk_entry *e)
{
	struct fs_name n;
	int dfd, ret;

	memset(e, 0, sizeof(*e));
	dfd = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (dfd < 0)
		return fd_error(fs, dfd, "a mkdir");
	ret = new_name(fs, dir, dfd, name, &n);
	if (ret)
		goto out;
	if (fs->vol->names)
		ret = mkdir_with_id(fs, who, dfd, n.entry, mode);
	else if (mkdirat(dfd, n.entry, mode))
		ret = -errno;
	else if ((ret = own_new(fs, who, dfd, -1, n.entry)))
		unlinkat(dfd, n.entry, AT_REMOVEDIR);
	if (ret == 0) {
		ret = new_entry(fs, dir, dfd, &n, "mkdir.made", e);
		if (ret && fs->vol->names) {
			/* The id went in with it; take both back. */
			int sub = openat(dfd, n.entry,
					 O_PATH | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (sub >= 0) {
				unlinkat(sub, CMK_DIRID_FILE, 0);
				close(sub);
				unlinkat(dfd, n.entry, AT_REMOVEDIR);
			}
		}
	} else {
		name_side_drop(dfd, &n);
	}
out:
	cmk_dir_fd_return(&fs->nodes, dir, dfd);
	return ret;
}

int cmk_fs_symlink(struct fs_ctx *fs, const struct cmk_caller *who,
		   const char *target, struct cmk_node *dir, const char *name,
		   struct cmk_entry *e)
{
	char enc[CMK_SYMLINK_ENC_MAX + 1], marker[CMK_SYMLINK_MARKER_LEN + 1];
	const char *stored = target;
	bool side = false;
	struct fs_name n;
	int dfd, ret;

	memset(e, 0, sizeof(*e));
	dfd = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (dfd < 0)
		return fd_error(fs, dfd, "a symlink");
	ret = new_name(fs, dir, dfd, name, &n);
	if (!ret && fs->vol->names) {
		int len = cmk_symlink_encrypt(fs->vol->names, target,
					      strlen(target), NULL, enc,
					      sizeof(enc));

		if (len < 0)
			ret = len;
		stored = enc;
		/* Too long for the backing symlink: the encoding goes to a
		 * side file first, the symlink holds its marker. */
		if (len > CMK_SYMLINK_INLINE_MAX) {
			ret = cmk_symlink_marker(enc, (size_t)len, marker);
			if (ret > 0)
				ret = cmk_bn_link_write(fs->vol->dir_fd, marker,
							enc, (size_t)len);
			if (ret == 0)
				ret = cmk_fault("symlink.side");
			side = ret == 0;
			stored = marker;
		}
	}
	if (ret)
		;
	else if (symlinkat(stored, dfd, n.entry))
		ret = -errno;
	else if ((ret = own_new(fs, who, dfd, -1, n.entry)))
		unlinkat(dfd, n.entry, 0);
	if (ret == 0)
		ret = new_entry(fs, dir, dfd, &n, "symlink.made", e);
	else if (ret != -EPERM)
		name_side_drop(dfd, &n);
	if (ret && side)
		cmk_bn_link_drop(fs->vol->dir_fd, marker);
	cmk_dir_fd_return(&fs->nodes, dir, dfd);
	return ret;
}

int cmk_fs_link(struct fs_ctx *fs, struct cmk_node *node, struct cmk_node *dir,
		const char *name, struct cmk_entry *e)
{
	char path[64];
	struct fs_name n;
	int dfd, fd, ret;

	memset(e, 0, sizeof(*e));
	dfd = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (dfd < 0)
		return fd_error(fs, dfd, "a link");
	ret = new_name(fs, dir, dfd, name, &n);
	if (ret)
		goto out;
	fd = cmk_node_open(&fs->nodes, node, O_PATH, NULL);
	if (fd < 0) {
		ret = fd_error(fs, fd, "a link");
		name_side_drop(dfd, &n);
		goto out;
	}
	proc_path(path, sizeof(path), fd);
	if (linkat(AT_FDCWD, path, dfd, n.entry, AT_SYMLINK_FOLLOW))
		ret = -errno;
	close(fd);
	if (ret == 0)
		ret = new_entry(fs, dir, dfd, &n, "link.made", e);
	else
		name_side_drop(dfd, &n);
out:
	cmk_dir_fd_return(&fs->nodes, dir, dfd);
	return ret;
}

/* After the entry entry of dir, which was st, went: the node forgets that
 * name, and leaves the table when it was the object's last. */
static void entry_removed(struct fs_ctx *fs, struct cmk_node *dir,
			  const char *entry, const struct stat *st)
{
	struct cmk_node *node;

	node = cmk_node_find(&fs->nodes, st->st_dev, st->st_ino);
	if (node) {
		cmk_node_unlinked(&fs->nodes, node, dir, entry,
				  S_ISDIR(st->st_mode) || st->st_nlink <= 1);
		cmk_node_put(&fs->nodes, node);
	}
}

int cmk_fs_unlink(struct fs_ctx *fs, struct cmk_node *dir, const char *name)
{
	char marker[CMK_SYMLINK_MARKER_LEN + 1];
	struct fs_name n;
	struct stat st;
	bool side;
	int dfd, ret;

	if (reserved_name(fs, dir, name))
		return -ENOENT;
	dfd = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (dfd < 0)
		return fd_error(fs, dfd, "an unlink");
	ret = name_of(fs, dir, dfd, name, &n);
	if (!ret && fstatat(dfd, n.entry, &st, AT_SYMLINK_NOFOLLOW))
		ret = -errno;
	/* A long target's side file goes with the symlink's last name. */
	side = !ret && fs->vol->names && st.st_nlink == 1 &&
	       cmk_bn_link_marker(dfd, n.entry, &st, marker);
	if (!ret && unlinkat(dfd, n.entry, 0))
		ret = -errno;
	if (!ret) {
		name_side_drop(dfd, &n);
		if (side)
			cmk_bn_link_drop(fs->vol->dir_fd, marker);
		entry_removed(fs, dir, n.entry, &st);
	}
	cmk_dir_fd_return(&fs->nodes, dir, dfd);
	return ret;
}

/* Empties the backing directory entry of dfd of our own files (its id,
 * stray side files) when, apart from them, it holds nothing: the step
 * before it is removed or renamed over. -ENOTEMPTY otherwise. *had_id and
 * dirid: its id, for restore_dirid() when the step after fails. */
static int clear_own_files(int dfd, const char *entry,
			   uint8_t dirid[CMK_DIRID_LEN], bool *had_id)
{
	struct dirent *de;
	int fd, sub, ret = 0;
	DIR *dp;

	*had_id = false;
	fd = openat(dfd, entry,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	sub = dup(fd);
	dp = sub >= 0 ? fdopendir(sub) : NULL;
	if (!dp) {
		ret = -errno;
		if (sub >= 0)
			close(sub);
		close(fd);
		return ret;
	}
	while (!ret && (de = readdir(dp)))
		if (!is_dot(de->d_name) && !cmk_name_is_special(de->d_name))
			ret = -ENOTEMPTY;
	if (!ret) {
		*had_id = cmk_bn_read_dirid(fd, dirid) == 0;
		rewinddir(dp);
		while ((de = readdir(dp)))
			if (!is_dot(de->d_name) &&
			    cmk_name_is_special(de->d_name))
				unlinkat(fd, de->d_name, 0);
	}
	closedir(dp);
	close(fd);
	return ret;
}

/* Puts a directory's id back after clear_own_files(), when the removal
 * or rename failed (someone got in first): it keeps its id. */
static int restore_dirid(int dfd, const char *entry,
			 const uint8_t dirid[CMK_DIRID_LEN])
{
	int fd, id_fd, ret = 0;

	fd = openat(dfd, entry, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	id_fd = openat(fd, CMK_DIRID_FILE,
		       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		       0444);
	if (id_fd >= 0) {
		ret = cmk_write_full(id_fd, dirid, CMK_DIRID_LEN, 0);
		close(id_fd);
	}
	close(fd);
	return ret;
}

/* Removes a backing directory that holds, apart from our own files,
 * nothing. */
static int rmdir_with_id(int dfd, const char *entry)
{
	uint8_t dirid[CMK_DIRID_LEN];
	bool had_id;
	int ret = clear_own_files(dfd, entry, dirid, &had_id);

	if (ret == 0 && unlinkat(dfd, entry, AT_REMOVEDIR)) {
		ret = -errno;
		if (had_id && restore_dirid(dfd, entry, dirid))
			ret = -EIO;
	}
	return ret;
}

int cmk_fs_rmdir(struct fs_ctx *fs, struct cmk_node *dir, const char *name)
{
	struct fs_name n;
	struct stat st;
	int dfd, ret;

	if (reserved_name(fs, dir, name))
		return -ENOENT;
	dfd = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (dfd < 0)
		return fd_error(fs, dfd, "an rmdir");
	ret = name_of(fs, dir, dfd, name, &n);
	if (!ret && fstatat(dfd, n.entry, &st, AT_SYMLINK_NOFOLLOW))
		ret = -errno;
	if (ret)
		;
	else if (fs->vol->names)
		ret = rmdir_with_id(dfd, n.entry);
	else if (unlinkat(dfd, n.entry, AT_REMOVEDIR))
		ret = -errno;
	if (!ret) {
		name_side_drop(dfd, &n);
		entry_removed(fs, dir, n.entry, &st);
	}
	cmk_dir_fd_return(&fs->nodes, dir, dfd);
	return ret;
}

int cmk_fs_rename(struct fs_ctx *fs, struct cmk_node *dir, const char *name,
		  struct cmk_node *newdir, const char *newname,
		  unsigned int flags)
{
	char dst_marker[CMK_SYMLINK_MARKER_LEN + 1];
	struct stat src, dst;
	struct fs_name a, b;
	struct cmk_node *moved, *other;
	uint8_t dst_id[CMK_DIRID_LEN];
	bool had_dst, cleared, dst_side, dst_had_id = false;
	int from, to, ret = 0;

	if (reserved_name(fs, dir, name) || reserved_name(fs, newdir, newname))
		return -EPERM;
	from = cmk_dir_fd_borrow(&fs->nodes, dir);
	if (from < 0)
		return fd_error(fs, from, "a rename");
	to = cmk_dir_fd_borrow(&fs->nodes, newdir);
	if (to < 0) {
		cmk_dir_fd_return(&fs->nodes, dir, from);
		return fd_error(fs, to, "a rename");
	}
	ret = name_of(fs, dir, from, name, &a);
	if (!ret)
		ret = name_of(fs, newdir, to, newname, &b);
	if (!ret && fstatat(from, a.entry, &src, AT_SYMLINK_NOFOLLOW))
		ret = -errno;
	had_dst = !ret && fstatat(to, b.entry, &dst, AT_SYMLINK_NOFOLLOW) == 0;
	/* A symlink replaced for good takes its long target's side file. */
	dst_side = had_dst && fs->vol->names && !(flags & RENAME_EXCHANGE) &&
		   dst.st_nlink == 1 &&
		   !(dst.st_ino == src.st_ino && dst.st_dev == src.st_dev) &&
		   cmk_bn_link_marker(to, b.entry, &dst, dst_marker);
	/* A directory renamed over an empty one: the target holds our own
	 * files (its id), which rename(2) would call "not empty". */
	cleared = !ret && fs->vol->names && had_dst && S_ISDIR(src.st_mode) &&
		  S_ISDIR(dst.st_mode) && !(flags & RENAME_EXCHANGE) &&
		  !(dst.st_ino == src.st_ino && dst.st_dev == src.st_dev);
	if (cleared)
		ret = clear_own_files(to, b.entry, dst_id, &dst_had_id);
	/* The new name's side file first; the old one's last, unless the
	 * old name still stands (an exchange) or is the same entry. */
	if (!ret)
		ret = name_side_write(to, &b);
	if (!ret)
		ret = cmk_fault("rename.side");
	/* RENAME_NOREPLACE also on stores without the flag (GlusterFS,
	 * NFS); RENAME_EXCHANGE cannot be had there (EINVAL). */
	if (!ret && flags == RENAME_NOREPLACE)
		ret = cmk_rename_noreplace(from, a.entry, to, b.entry);
	else if (!ret && renameat2(from, a.entry, to, b.entry, flags))
		ret = -errno;
	if (!ret)
		ret = cmk_fault("rename.renamed");
	if (ret && cleared && dst_had_id)
		restore_dirid(to, b.entry, dst_id);
	if (!ret && !(flags & RENAME_EXCHANGE) &&
	    !(dir == newdir && strcmp(a.entry, b.entry) == 0))
		name_side_drop(from, &a);
	if (!ret && dst_side)
		cmk_bn_link_drop(fs->vol->dir_fd, dst_marker);
	if (!ret && !(had_dst && dst.st_ino == src.st_ino &&
		      dst.st_dev == src.st_dev)) {
		/* The table follows: the moved object's new place; the one
		 * it replaced is gone, or, exchanged, at the old place. */
		if (had_dst && (flags & RENAME_EXCHANGE)) {
			other = cmk_node_find(&fs->nodes, dst.st_dev,
					      dst.st_ino);
			if (other) {
				cmk_node_moved(&fs->nodes, other, newdir,
					       b.entry, dir, a.entry,
					       dst.st_nlink);
				cmk_node_put(&fs->nodes, other);
			}
		} else if (had_dst) {
			entry_removed(fs, newdir, b.entry, &dst);
		}
		moved = cmk_node_find(&fs->nodes, src.st_dev, src.st_ino);
		if (moved) {
			cmk_node_moved(&fs->nodes, moved, dir, a.entry, newdir,
				       b.entry, src.st_nlink);
			cmk_node_put(&fs->nodes, moved);
		}
	}
	cmk_dir_fd_return(&fs->nodes, newdir, to);
	cmk_dir_fd_return(&fs->nodes, dir, from);
	return ret;
}

int cmk_fs_readlink(struct fs_ctx *fs, struct cmk_node *node, char *out,
		    size_t size)
{
	char buf[CMK_SYMLINK_ENC_MAX + 1], where[PATH_MAX];
	const char *what = "is not one of this volume's (tampered or foreign)";
	size_t enc_len;
	int fd, len;
	ssize_t n;

	fd = cmk_node_open(&fs->nodes, node, O_PATH, NULL);
	if (fd < 0)
		return fd_error(fs, fd, "a readlink");
	n = readlinkat(fd, "", buf, PATH_MAX);
	len = n < 0 ? -errno : 0;
	close(fd);
	if (len)
		return len;
	if (n == PATH_MAX)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	if (!fs->vol->names) {
		if ((size_t)n >= size)
			return -ENAMETOOLONG;
		memcpy(out, buf, (size_t)n + 1);
		return 0;
	}
	enc_len = (size_t)n;
	if (cmk_symlink_marker_plain_len(buf, enc_len) > 0) {
		char marker[CMK_SYMLINK_MARKER_LEN + 1];

		memcpy(marker, buf, sizeof(marker));
		len = cmk_bn_link_read(fs->vol->dir_fd, marker, buf, &enc_len);
		if (len == -ENOENT)
			what = "is stored in a side file that is missing";
		else if (len)
			what = "is stored in a side file that is damaged or "
			       "another's";
	}
	if (len == 0)
		len = cmk_symlink_decrypt(fs->vol->names, buf, enc_len, out,
					  size);
	if (len < 0) {
		where_of(fs, node, where, sizeof(where));
		cmk_log(LOG_ERR, CMK_MSG_FILE_UNREADABLE,
			"%s: the symlink's target %s", where, what);
		return -EIO;
	}
	return 0;
}

/* --- directories -----------------------------------------------------------
 */

struct cmk_dir {
	struct cmk_node *node;
	DIR *dp;
	struct dirent *entry; /* read, not yet used */
	off_t offset;	      /* of entry, or where the next read starts */
	char plain[CMK_NAME_PLAIN_MAX + 1];
};

int cmk_fs_opendir(struct fs_ctx *fs, struct cmk_node *node,
		   struct cmk_dir **out)
{
	struct cmk_dir *d = calloc(1, sizeof(*d));
	int fd, ret;

	if (!d)
		return -ENOMEM;
	fd = cmk_node_open(&fs->nodes, node, O_RDONLY | O_DIRECTORY, NULL);
	if (fd < 0) {
		free(d);
		return fd_error(fs, fd, "an opendir");
	}
	d->dp = fdopendir(fd);
	if (!d->dp) {
		ret = -errno;
		close(fd);
		free(d);
		return ret;
	}
	d->node = node;
	*out = d;
	return 0;
}

int cmk_fs_readdir(struct fs_ctx *fs, struct cmk_dir *d, off_t offset,
		   bool plus, struct cmk_dirent *out)
{
	int ret;

	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		const char *name;
		off_t next;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry)
				return errno ? -errno : 0;
		}
		next = d->entry->d_off;
		name = d->entry->d_name;
		if (reserved_name(fs, d->node, name) ||
		    (fs->vol->names && !is_dot(name) &&
		     !name_from_backing(fs, d->node, dirfd(d->dp), name,
					d->plain))) {
			d->entry = NULL;
			d->offset = next;
			continue;
		}
		memset(out, 0, sizeof(*out));
		out->name = fs->vol->names && !is_dot(name) ? d->plain : name;
		out->next = next;
		out->attr.st_ino = d->entry->d_ino;
		out->attr.st_mode = (mode_t)d->entry->d_type << 12;
		if (plus && !is_dot(name)) {
			struct cmk_entry e;

			ret = lookup_entry(fs, d->node, dirfd(d->dp), name, &e);
			if (ret == -ENOENT) { /* gone meanwhile */
				d->entry = NULL;
				d->offset = next;
				continue;
			}
			if (ret)
				return fd_error(fs, ret, "a readdir");
			out->attr = e.attr;
			out->node = e.node;
		}
		return 1;
	}
}

void cmk_fs_readdir_used(struct cmk_dir *d, const struct cmk_dirent *ent)
{
	d->entry = NULL;
	d->offset = ent->next;
}

int cmk_fs_fsyncdir(struct cmk_dir *d, bool datasync)
{
	int fd = dirfd(d->dp);

	return (datasync ? fdatasync(fd) : fsync(fd)) ? -errno : 0;
}

void cmk_fs_releasedir(struct cmk_dir *d)
{
	closedir(d->dp);
	free(d);
}

int cmk_fs_statfs(struct fs_ctx *fs, struct cmk_node *node, struct statvfs *st)
{
	(void)node;
	return fstatvfs(fs->nodes.root_fd, st) ? -errno : 0;
}

int cmk_fs_access(struct fs_ctx *fs, struct cmk_node *node, int mask)
{
	char path[64];
	int fd, ret;

	fd = cmk_node_open(&fs->nodes, node, O_PATH, NULL);
	if (fd < 0)
		return fd_error(fs, fd, "an access check");
	proc_path(path, sizeof(path), fd);
	ret = faccessat(AT_FDCWD, path, mask, 0) ? -errno : 0;
	close(fd);
	return ret;
}

/* --- extended attributes ---------------------------------------------------
 */

/* Only with -o xattr; without it, -ENOSYS tells the kernel once that there
 * are none, and it stops asking (ls -l asks for two per file, and every
 * write asks for security.capability). With it, only the user namespace
 * reaches the backing store: its names and values encrypted and bound to
 * their object on volumes with encrypted names (docs/FORMAT.md "Extended
 * attributes"), as they are with plaintext names. Other namespaces are
 * answered here, without I/O: the kernel asks for security.capability
 * before every write. */

/* An attribute that does not open is logged, at most XATTR_LOG_BURST
 * lines every XATTR_LOG_GAP seconds (a listing of many damaged ones must
 * not flood the journal), with how many went unsaid. */
#define XATTR_LOG_GAP 10
#define XATTR_LOG_BURST 5

static void xattr_warn(struct fs_ctx *fs, struct cmk_node *node,
		       const char *what)
{
	struct timespec now;
	char where[PATH_MAX];
	int64_t start;
	uint64_t quiet;

	clock_gettime(CLOCK_MONOTONIC, &now);
	start = __atomic_load_n(&fs->xattr_logged, __ATOMIC_RELAXED);
	if ((start == 0 || now.tv_sec - start >= XATTR_LOG_GAP) &&
	    __atomic_compare_exchange_n(&fs->xattr_logged, &start,
					(int64_t)now.tv_sec, false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		__atomic_store_n(&fs->xattr_burst, 0, __ATOMIC_RELAXED);
	if (__atomic_add_fetch(&fs->xattr_burst, 1, __ATOMIC_RELAXED) >
	    XATTR_LOG_BURST) {
		__atomic_add_fetch(&fs->xattr_quiet, 1, __ATOMIC_RELAXED);
		return;
	}
	quiet = __atomic_exchange_n(&fs->xattr_quiet, 0, __ATOMIC_RELAXED);
	where_of(fs, node, where, sizeof(where));
	if (quiet)
		cmk_log(LOG_WARNING, CMK_MSG_XATTR_SKIPPED,
			"%s: %s (and %llu more such lines not logged)", where,
			what, (unsigned long long)quiet);
	else
		cmk_log(LOG_WARNING, CMK_MSG_XATTR_SKIPPED, "%s: %s", where,
			what);
}

/* A node's attributes as the xattr calls reach them: path names the
 * backing object (/proc/self/fd/N: the *xattr calls have no *at form, and
 * an O_PATH descriptor cannot be given to f*xattr), through fd (to close)
 * or the borrowed descriptor of a directory; bind is what encrypted
 * attributes are bound to. */
struct xa {
	struct cmk_node *node;
	int fd, dfd;
	char path[64];
	uint8_t bind[CMK_XATTR_BIND_LEN];
};

/* The file id of a regular file, from its header (once per node: it never
 * changes), read through fd (any descriptor of it, O_PATH too). */
static int file_bind(struct fs_ctx *fs, struct cmk_node *node, int fd,
		     const char *path, uint8_t bind[CMK_XATTR_BIND_LEN])
{
	uint8_t hdr[CMK_HEADER_FIXED_LEN];
	int rfd, flags = fcntl(fd, F_GETFL), ret;
	ssize_t n;

	pthread_mutex_lock(&fs->open_lock);
	if (node->have_dirid) {
		memcpy(bind, node->dirid, CMK_XATTR_BIND_LEN);
		pthread_mutex_unlock(&fs->open_lock);
		return 0;
	}
	pthread_mutex_unlock(&fs->open_lock);
	if (flags >= 0 && !(flags & O_PATH) &&
	    (flags & O_ACCMODE) != O_WRONLY) {
		rfd = fd;
	} else {
		/* Opened again through /proc: the object fd is, already
		 * checked, never a name that could have changed. */
		rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
		if (rfd < 0 && errno == EPERM)
			rfd = open(path, O_RDONLY | O_CLOEXEC);
		if (rfd < 0)
			return -errno;
	}
	n = pread(rfd, hdr, sizeof(hdr), 0);
	ret = n < 0 ? -errno
		    : cmk_header_file_id(hdr, (size_t)n,
					 fs->vol->info.volume_id, bind);
	if (rfd != fd)
		close(rfd);
	if (ret == -EBADMSG) {
		xattr_warn(fs, node,
			   "no cmkfs header of this volume: its extended "
			   "attributes cannot be read");
		return -EIO;
	}
	if (ret == 0) {
		pthread_mutex_lock(&fs->open_lock);
		memcpy(node->dirid, bind, CMK_XATTR_BIND_LEN);
		node->have_dirid = true;
		pthread_mutex_unlock(&fs->open_lock);
	}
	return ret;
}

/* Sets up x for node: 0; -ENOSYS without -o xattr; -ENODATA for an object
 * that has no user attributes (symlinks and special files, as on Linux);
 * -EIO when its bind cannot be read (logged). */
static int xa_begin(struct fs_ctx *fs, struct cmk_node *node, struct xa *x)
{
	char where[PATH_MAX];
	int ret = 0;

	x->node = node;
	x->fd = x->dfd = -1;
	if (!fs->xattr)
		return -ENOSYS;
	if (node->type == S_IFDIR) {
		x->dfd = cmk_dir_fd_borrow(&fs->nodes, node);
		if (x->dfd < 0)
			return fd_error(fs, x->dfd, "an xattr call");
		proc_path(x->path, sizeof(x->path), x->dfd);
		if (fs->vol->names) {
			ret = dir_id(fs, node, x->dfd, x->bind);
			if (ret) {
				where_of(fs, node, where, sizeof(where));
				cmk_log(LOG_ERR, CMK_MSG_DIRID,
					"%s: no usable %s (%s): its extended "
					"attributes cannot be read",
					where, CMK_DIRID_FILE, strerror(-ret));
				ret = -EIO;
			}
		}
	} else if (node->type == S_IFREG) {
		x->fd = cmk_node_open(&fs->nodes, node, O_PATH, NULL);
		if (x->fd == -ESTALE) /* unlinked, and still open? */
			x->fd = open_fd_of(fs, node);
		if (x->fd < 0)
			return fd_error(fs, x->fd, "an xattr call");
		proc_path(x->path, sizeof(x->path), x->fd);
		if (fs->vol->names)
			ret = file_bind(fs, node, x->fd, x->path, x->bind);
	} else {
		return -ENODATA;
	}
	return ret;
}

static void xa_end(struct fs_ctx *fs, struct xa *x)
{
	if (x->fd >= 0)
		close(x->fd);
	if (x->dfd >= 0)
		cmk_dir_fd_return(&fs->nodes, x->node, x->dfd);
}

/* The backing name of name into out: the name itself with plaintext
 * names. */
static int xa_name(struct fs_ctx *fs, struct xa *x, const char *name,
		   char out[CMK_XATTR_NAME_ENC_MAX + 1])
{
	if (!fs->vol->names) {
		size_t len = strlen(name);

		if (len > CMK_XATTR_NAME_ENC_MAX)
			return -ERANGE;
		memcpy(out, name, len + 1);
		return 0;
	}
	return cmk_xattr_name_encrypt(fs->vol->names, x->bind, name, out,
				      CMK_XATTR_NAME_ENC_MAX + 1) < 0
		       ? -ERANGE
		       : 0;
}

ssize_t cmk_fs_getxattr(struct fs_ctx *fs, struct cmk_node *node,
			const char *name, void *value, size_t size)
{
	char bname[CMK_XATTR_NAME_ENC_MAX + 1];
	uint8_t *enc = NULL;
	struct xa x;
	ssize_t n = 0;
	int ret;

	if (!fs->xattr)
		return -ENOSYS;
	if (!cmk_xattr_is_user(name))
		return -ENODATA;
	ret = xa_begin(fs, node, &x);
	if (ret == 0)
		ret = xa_name(fs, &x, name, bname) ? -ENODATA : 0;
	if (ret)
		goto out;
	if (!fs->vol->names) {
		n = getxattr(x.path, bname, value, size);
		ret = n < 0 ? -errno : 0;
		goto out;
	}
	if (size == 0) {
		/* The length, from the backing value's: no decryption. */
		n = getxattr(x.path, bname, NULL, 0);
		ret = n < 0 ? -errno : 0;
		if (ret == 0) {
			n = cmk_xattr_value_plain_len((size_t)n);
			if (n < 0)
				goto bad;
		}
		goto out;
	}
	if (size > CMK_XATTR_VALUE_MAX)
		size = CMK_XATTR_VALUE_MAX;
	enc = malloc(size + CMK_XATTR_OVERHEAD);
	if (!enc) {
		ret = -ENOMEM;
		goto out;
	}
	/* A buffer that cannot hold the value cannot hold its backing
	 * value either: ERANGE from the backing store. */
	n = getxattr(x.path, bname, enc, size + CMK_XATTR_OVERHEAD);
	ret = n < 0 ? -errno : 0;
	if (ret)
		goto out;
	n = cmk_xattr_value_decrypt(fs->vol->names, x.bind, name, enc,
				    (size_t)n, value, size);
	if (n == -EBADMSG)
		goto bad;
	ret = n < 0 ? (int)n : 0;
	goto out;
bad:
	xattr_warn(fs, node,
		   "the value of an extended attribute does not decrypt "
		   "(damaged, or copied from another file): EIO");
	ret = -EIO;
out:
	free(enc);
	xa_end(fs, &x);
	return ret ? ret : n;
}

/* Reads the backing store's list of names into a new buffer: its length
 * (*out NULL for 0) or -errno. */
static ssize_t xa_list_backing(const char *path, char **out)
{
	ssize_t n;

	*out = NULL;
	for (int tries = 0; tries < 8; tries++) {
		char *buf;

		n = listxattr(path, NULL, 0);
		if (n <= 0)
			return n < 0 ? -errno : 0;
		buf = malloc((size_t)n);
		if (!buf)
			return -ENOMEM;
		n = listxattr(path, buf, (size_t)n);
		if (n >= 0) {
			*out = buf;
			return n;
		}
		free(buf);
		if (errno != ERANGE) /* ERANGE: it grew meanwhile */
			return -errno;
	}
	return -EAGAIN;
}

ssize_t cmk_fs_listxattr(struct fs_ctx *fs, struct cmk_node *node, char *list,
			 size_t size)
{
	char plain[CMK_XATTR_NAME_MAX + 1], *names = NULL;
	size_t total = 0, off, len;
	ssize_t n;
	struct xa x;
	int ret;

	if (!fs->xattr)
		return -ENOSYS;
	ret = xa_begin(fs, node, &x);
	if (ret == -ENODATA) { /* nothing that can hold one */
		xa_end(fs, &x);
		return 0;
	}
	if (ret == 0) {
		n = xa_list_backing(x.path, &names);
		ret = n < 0 ? (int)n : 0;
	}
	for (off = 0; ret == 0 && names && off < (size_t)n; off += len + 1) {
		const char *bname = names + off;
		const char *shown = bname;

		len = strnlen(bname, (size_t)n - off);
		if (len == (size_t)n - off) /* no NUL: not a list */
			break;
		/* Only the user namespace: what the host keeps on the
		 * backing files (an SELinux label) is not the volume's. */
		if (strncmp(bname, CMK_XATTR_PREFIX, CMK_XATTR_PREFIX_LEN) != 0)
			continue;
		if (fs->vol->names) {
			if (cmk_xattr_name_decrypt(fs->vol->names, x.bind,
						   bname, plain,
						   sizeof(plain)) < 0) {
				xattr_warn(fs, node,
					   "skipping an extended attribute "
					   "whose name does not decrypt "
					   "(damaged, or copied from another "
					   "file)");
				continue;
			}
			shown = plain;
		}
		if (size && total + strlen(shown) + 1 > size)
			ret = -ERANGE;
		else if (size)
			memcpy(list + total, shown, strlen(shown) + 1);
		total += strlen(shown) + 1;
	}
	free(names);
	xa_end(fs, &x);
	return ret ? ret : (ssize_t)total;
}

int cmk_fs_setxattr(struct fs_ctx *fs, struct cmk_node *node, const char *name,
		    const void *value, size_t size, int flags)
{
	char bname[CMK_XATTR_NAME_ENC_MAX + 1];
	uint8_t *enc = NULL;
	struct xa x;
	int ret;

	if (!fs->xattr)
		return -ENOSYS;
	if (!cmk_xattr_is_user(name))
		return strcmp(name, CMK_XATTR_PREFIX) ? -EOPNOTSUPP : -EINVAL;
	if (size > (fs->vol->names ? CMK_XATTR_VALUE_MAX : 65536))
		return -E2BIG;
	ret = xa_begin(fs, node, &x);
	if (ret == -ENODATA) /* a symlink or special file, as Linux says */
		ret = -EPERM;
	if (ret == 0)
		ret = xa_name(fs, &x, name, bname);
	if (ret)
		goto out;
	if (!fs->vol->names) {
		ret = setxattr(x.path, bname, value, size, flags) ? -errno : 0;
		goto out;
	}
	enc = malloc(size + CMK_XATTR_OVERHEAD);
	if (!enc) {
		ret = -ENOMEM;
		goto out;
	}
	ret = cmk_xattr_value_encrypt(fs->vol->names, x.bind, name, value, size,
				      NULL, enc, size + CMK_XATTR_OVERHEAD);
	if (ret >= 0)
		ret = setxattr(x.path, bname, enc, (size_t)ret, flags) ? -errno
								       : 0;
out:
	free(enc);
	xa_end(fs, &x);
	return ret;
}

int cmk_fs_removexattr(struct fs_ctx *fs, struct cmk_node *node,
		       const char *name)
{
	char bname[CMK_XATTR_NAME_ENC_MAX + 1];
	struct xa x;
	int ret;

	if (!fs->xattr)
		return -ENOSYS;
	if (!cmk_xattr_is_user(name))
		return -EOPNOTSUPP;
	ret = xa_begin(fs, node, &x);
	if (ret == -ENODATA)
		ret = -EPERM;
	if (ret == 0)
		ret = xa_name(fs, &x, name, bname) ? -ENODATA : 0;
	if (ret == 0)
		ret = removexattr(x.path, bname) ? -errno : 0;
	xa_end(fs, &x);
	return ret;
}

void cmk_fs_log_stats(struct fs_ctx *fs)
{
	struct cmk_node_stats s;
	size_t open_files, locked, in_use;

	cmk_nodes_stats(&fs->nodes, &s);
	pthread_mutex_lock(&fs->open_lock);
	open_files = fs->open_file_count;
	pthread_mutex_unlock(&fs->open_lock);
	cmk_locked_stats(&locked, &in_use);
	cmk_log(LOG_INFO, CMK_MSG_LIMITS,
		"nodes %zu, open files %zu, cached directory descriptors "
		"%zu of %zu, directories opened by name %zu, locked key "
		"memory %zu KiB (%zu KiB in use)",
		s.nodes, open_files, s.dir_fds, s.dir_fd_max, s.dir_opens,
		locked >> 10, in_use >> 10);
}
