/* SPDX-License-Identifier: MIT */
/* The FUSE low-level operations. Metadata passes straight through to the
 * backing objects; regular files go through crypto/filedata.c. Each
 * operation captures errno once and replies on one exit path. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "common/log.h"
#include "common/tbuf.h"
#include "fs/backing_names.h"
#include "fs/fs.h"

#define MAX_IO (1u << 20)

static struct fs_ctx *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct fs_inode *inode_of(fuse_req_t req, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs_of(req)->root;
	return (struct fs_inode *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(struct fs_ctx *fs, struct fs_inode *inode)
{
	return inode == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)inode;
}

static struct fs_handle *handle_of(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

static void proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* The backing path of an inode relative to the cipher directory, for log
 * lines only. */
static void backing_name(struct fs_inode *inode, char *out, size_t len)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	proc_path(link, sizeof(link), inode->fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0) {
		snprintf(out, len, "(inode %llu)",
			 (unsigned long long)inode->ino);
		return;
	}
	path[n] = '\0';
	snprintf(out, len, "%s", path);
}

/* Names in the cipher directory's root that belong to cmkfs itself. */
static bool reserved_name(struct fs_ctx *fs, fuse_ino_t parent,
			  const char *name)
{
	/* With encrypted names no plaintext name maps onto ours. */
	return !fs->vol->names && parent == FUSE_ROOT_ID &&
	       strncmp(name, CMK_VOLUME_FILE, strlen(CMK_VOLUME_FILE)) == 0;
}

/* --- names -------------------------------------------------------------------
 */

static bool is_dot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* A name as its backing directory holds it: the name itself with
 * plaintext names; its encryption (or long name) otherwise. */
struct fs_name {
	const char *entry; /* for the *at() calls */
	bool is_long;	   /* bn.side names the side file */
	struct cmk_backing_name bn;
};

/* The directory id of a backing directory, read once per inode. */
static int dir_id(struct fs_inode *dir, uint8_t dirid[CMK_DIRID_LEN])
{
	int ret = 0;

	pthread_mutex_lock(&dir->open_lock);
	if (!dir->have_dirid) {
		ret = cmk_bn_read_dirid(dir->fd, dir->dirid);
		dir->have_dirid = ret == 0;
	}
	if (ret == 0)
		memcpy(dirid, dir->dirid, CMK_DIRID_LEN);
	pthread_mutex_unlock(&dir->open_lock);
	return ret;
}

/* Resolves name in dir. Returns 0 or a positive errno: EIO for a backing
 * directory without a usable id (logged), ENAMETOOLONG, EINVAL. */
static int name_of(struct fs_ctx *fs, struct fs_inode *dir, const char *name,
		   struct fs_name *out)
{
	uint8_t dirid[CMK_DIRID_LEN];
	char where[PATH_MAX];
	int ret;

	out->is_long = false;
	if (!fs->vol->names) {
		out->entry = name;
		return 0;
	}
	ret = dir_id(dir, dirid);
	if (ret) {
		backing_name(dir, where, sizeof(where));
		cmk_log(LOG_ERR, CMK_MSG_DIRID,
			"%s: no usable %s (%s): its entries cannot "
			"be named",
			where, CMK_DIRID_FILE, strerror(-ret));
		return EIO;
	}
	out->entry = out->bn.name;
	if (cmk_name_cache_get(fs->backing_names, dirid, name, out->bn.name))
		return 0;
	ret = cmk_name_to_backing(fs->vol->names, dirid, name, strlen(name),
				  &out->bn);
	if (ret)
		return -ret;
	out->is_long = out->bn.is_long;
	if (!out->is_long)
		cmk_name_cache_put(fs->backing_names, dirid, name,
				   out->bn.name);
	return 0;
}

/* A long name's side file, written before its entry appears. */
static int name_side_write(struct fs_inode *dir, const struct fs_name *n)
{
	return n->is_long ? -cmk_bn_side_write(dir->fd, &n->bn) : 0;
}

/* Removes a long name's side file once its entry is gone. */
static void name_side_drop(struct fs_inode *dir, const struct fs_name *n)
{
	if (n->is_long)
		cmk_bn_side_drop(dir->fd, &n->bn);
}

/* The plaintext name of a backing entry of dir (dir_fd: an open
 * descriptor of it) into out: 1 for an entry to list, 0 for one to skip
 * (ours, or not a name of this volume: logged). */
static int name_from_backing(struct fs_ctx *fs, struct fs_inode *dir,
			     int dir_fd, const char *entry,
			     char out[CMK_NAME_PLAIN_MAX + 1])
{
	const char *what = "";
	uint8_t dirid[CMK_DIRID_LEN];
	char where[PATH_MAX];

	if (cmk_name_is_special(entry))
		return 0;
	if (dir_id(dir, dirid) != 0) {
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
	backing_name(dir, where, sizeof(where));
	cmk_log(LOG_WARNING, CMK_MSG_NAME_SKIPPED,
		"%s: skipping entry '%.80s': %s", where, entry, what);
	return 0;
}

/* A regular file's plaintext size is its backing length less the header;
 * an encrypted symlink's is its target's. */
static void plain_attr(struct fs_ctx *fs, struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		st->st_size = st->st_size >= (off_t)CMK_HEADER_SIZE
				      ? st->st_size - (off_t)CMK_HEADER_SIZE
				      : 0;
	} else if (S_ISLNK(st->st_mode) && fs->vol->names) {
		int len = cmk_symlink_plain_len((size_t)st->st_size);

		st->st_size = len > 0 ? len : 0;
	}
}

/* Looks up a backing entry of parent by its backing name. */
static int lookup_entry(fuse_req_t req, fuse_ino_t parent, const char *entry,
			struct fuse_entry_param *e)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_inode *inode;
	int fd, err;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	fd = openat(inode_of(req, parent)->fd, entry,
		    O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		err = errno;
		close(fd);
		return err;
	}
	inode = fs_inode_get(fs, fd, &e->attr);
	if (!inode) {
		close(fd);
		return ENOMEM;
	}
	plain_attr(fs, &e->attr);
	e->ino = ino_of(fs, inode);
	return 0;
}

static int do_lookup(fuse_req_t req, fuse_ino_t parent, const char *name,
		     struct fuse_entry_param *e)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_name n;
	int err;

	memset(e, 0, sizeof(*e));
	if (reserved_name(fs, parent, name))
		return ENOENT;
	err = name_of(fs, inode_of(req, parent), name, &n);
	if (err)
		return err;
	return lookup_entry(req, parent, n.entry, e);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_ctx *fs = userdata;

	/* Large requests: one FUSE round trip per MiB instead of per 128 KiB.
	 */
	conn->max_write = MAX_IO;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* O_TRUNC arrives with open() so that it is one operation. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* The kernel's writeback cache: writes land in the page cache and
	 * come to us in large page-aligned runs, so that small or unaligned
	 * application writes do not each cost a round trip and a unit
	 * read-modify-write. The kernel then owns the file size and O_APPEND
	 * (see handle_new()). */
	if (fs->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		fs->writeback = false;
	/* The kernel must not bypass us with splice into the backing file. */
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_MOVE;
}

/* The first request after INIT: the kernel has taken our INIT answer,
 * which resets the mount's readahead, so it can be raised now. */
static void after_init(struct fs_ctx *fs)
{
	/* A load first: an exchange on every request would bounce the
	 * cache line between the worker threads. */
	if (fs->readahead_kb &&
	    !__atomic_load_n(&fs->readahead_set, __ATOMIC_RELAXED) &&
	    !__atomic_exchange_n(&fs->readahead_set, true, __ATOMIC_RELAXED))
		fs_set_readahead(fs->mountpoint, fs->readahead_kb);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err;

	after_init(fs_of(req));
	err = do_lookup(req, parent, name, &e);

	if (err == ENOENT) {
		/* A negative entry, cached like a positive one. */
		e.ino = 0;
		e.entry_timeout = fs_of(req)->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inode_unref(fs_of(req), inode_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_inode_unref(fs_of(req), inode_of(req, forgets[i].ino),
			       forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	after_init(fs_of(req));
	if (fstatat(inode_of(req, ino)->fd, "", &st,
		    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		fuse_reply_err(req, errno);
		return;
	}
	plain_attr(fs_of(req), &st);
	fuse_reply_attr(req, &st, fs_of(req)->timeout);
}

/* --- open files ---------------------------------------------------------- */

/* Makes sure the inode's cipher is set up, reading the header on the first
 * open only. Returns 0 or a positive errno; logs one line for a bad file. */
static int data_attach(struct fs_ctx *fs, struct fs_inode *inode, int fd)
{
	char name[PATH_MAX], version[CMK_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	int ret = 0;

	pthread_mutex_lock(&inode->open_lock);
	if (!inode->xts) {
		/* Reading our own header is not an access by the user: keep
		 * the backing file's atime as it was (best effort). */
		int flags = fcntl(fd, F_GETFL);
		bool noatime = flags >= 0 && !(flags & O_NOATIME) &&
			       fcntl(fd, F_SETFL, flags | O_NOATIME) == 0;
		struct cmk_xts *xts = NULL;

		ret = cmk_volume_open_file(fs->vol, fd, &xts, version, &err);
		if (noatime)
			fcntl(fd, F_SETFL, flags);
		if (ret) {
			/* A refused version was logged once by the volume;
			 * anything else wrong with the file is EIO. */
			if (ret != -EACCES) {
				backing_name(inode, name, sizeof(name));
				cmk_log(LOG_ERR, CMK_MSG_FILE_UNREADABLE,
					"%s: %s", name, err.msg);
			}
			ret = ret == -EACCES ? EACCES : EIO;
		} else {
			/* Others may have the file open (its cipher was
			 * revoked and its version is back). */
			pthread_rwlock_wrlock(&inode->data_lock);
			inode->xts = xts;
			strcpy(inode->version, version);
			pthread_rwlock_unlock(&inode->data_lock);
		}
	}
	if (ret == 0)
		inode->open_count++;
	pthread_mutex_unlock(&inode->open_lock);
	return ret;
}

static void data_detach(struct fs_inode *inode)
{
	pthread_mutex_lock(&inode->open_lock);
	if (--inode->open_count == 0) {
		/* The key schedule goes as soon as nobody has the file open. */
		pthread_rwlock_wrlock(&inode->data_lock);
		cmk_xts_free(inode->xts);
		inode->xts = NULL;
		pthread_rwlock_unlock(&inode->data_lock);
	}
	pthread_mutex_unlock(&inode->open_lock);
}

/* Opens the backing file of inode for data access. Write access always
 * opens read-write: read-modify-write of units needs to read. O_APPEND and
 * O_TRUNC are handled by cmkfs, never by the backing file, which holds a
 * header at offset 0. */
static int backing_open(struct fs_inode *inode, int flags)
{
	char path[64];
	int bflags = O_CLOEXEC | O_NOFOLLOW;

	bflags |= (flags & O_ACCMODE) == O_RDONLY ? O_RDONLY : O_RDWR;
	bflags |= flags & (O_SYNC | O_DSYNC | O_NOATIME);
	proc_path(path, sizeof(path), inode->fd);
	/* O_NOFOLLOW would refuse the /proc magic link itself. */
	bflags &= ~O_NOFOLLOW;
	return open(path, bflags);
}

static int handle_new(struct fs_ctx *fs, struct fs_inode *inode, int fd,
		      int flags, struct fuse_file_info *fi)
{
	struct fs_handle *h;
	int err;

	err = data_attach(fs, inode, fd);
	if (err)
		return err;
	h = calloc(1, sizeof(*h));
	if (!h) {
		data_detach(inode);
		return ENOMEM;
	}
	h->fd = fd;
	h->inode = inode;
	/* With the writeback cache the kernel puts appends at its own idea
	 * of the end, and sends cached pages with their offsets: moving them
	 * would misplace data. */
	h->append = (flags & O_APPEND) != 0 && !fs->writeback;
	fi->fh = (uintptr_t)h;
	return 0;
}

/* Opens an existing regular file for a handle: backing file, cipher, and
 * O_TRUNC done by cmkfs (never by the backing file, which holds the
 * header). Returns 0 or a positive errno. */
static int open_existing(fuse_req_t req, struct fs_inode *inode,
			 struct fuse_file_info *fi)
{
	struct fs_ctx *fs = fs_of(req);
	struct stat st;
	int fd, err;

	fd = backing_open(inode, fi->flags);
	if (fd < 0)
		return errno;
	err = handle_new(fs, inode, fd, fi->flags, fi);
	if (err == 0 && (fi->flags & O_TRUNC)) {
		pthread_rwlock_wrlock(&inode->data_lock);
		err = inode->xts ? -cmk_data_truncate(fd, inode->xts, 0)
				 : EACCES;
		pthread_rwlock_unlock(&inode->data_lock);
		if (err == EBADMSG)
			err = EIO;
		/* The kernel leaves O_TRUNC to us (atomic O_TRUNC) and so does
		 * not clear set-id bits as a truncate by anyone but root
		 * does; we truncate as root, so clear them here. */
		if (err == 0 && fuse_req_ctx(req)->uid != 0 &&
		    fstat(fd, &st) == 0 &&
		    ((st.st_mode & S_ISUID) ||
		     (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)))
			fchmod(fd, st.st_mode & 07777 &
					   ~(mode_t)(S_ISUID |
						     ((st.st_mode & S_IXGRP)
							      ? S_ISGID
							      : 0)));
		if (err) {
			data_detach(inode);
			free(handle_of(fi));
		}
	}
	if (err)
		close(fd);
	return err;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_inode *inode = inode_of(req, ino);
	int err;

	if (inode->type != S_IFREG) {
		fuse_reply_err(req, inode->type == S_IFDIR ? EISDIR : EINVAL);
		return;
	}
	err = open_existing(req, inode, fi);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

/* Gives a new object the caller's uid and gid when the daemon runs as root
 * (the group of a setgid parent stays, as on a local file system). */
static int own_new(fuse_req_t req, int parent_fd, int fd, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_ctx *fs = fs_of(req);
	struct stat parent;
	gid_t gid = ctx->gid;

	if (!fs->chown_new)
		return 0;
	if (fstatat(parent_fd, "", &parent, AT_EMPTY_PATH) == 0 &&
	    (parent.st_mode & S_ISGID))
		gid = parent.st_gid;
	if (fd >= 0)
		return fchown(fd, ctx->uid, gid) ? errno : 0;
	return fchownat(parent_fd, name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW)
		       ? errno
		       : 0;
}

/* Creates a backing file with its header in place before the name
 * appears: an O_TMPFILE file, header written, owned, then linked. A crash
 * never leaves a named file without a header. */
static int create_backing(fuse_req_t req, struct fs_inode *parent,
			  const struct fs_name *n, mode_t mode, int flags,
			  struct cmk_xts **xts, char *version, bool *created)
{
	struct fs_ctx *fs = fs_of(req);
	struct cmk_err cerr = { 0 };
	const char *name = n->entry;
	char path[64];
	int fd, err;

	*created = false;
	err = name_side_write(parent, n);
	if (err)
		return -err;
	fd = openat(parent->fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
		    mode & 07777);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		/* No O_TMPFILE on this file system: create in place. */
		fd = openat(parent->fd, name,
			    O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
			    mode & 07777);
		if (fd < 0)
			return -errno;
		err = -cmk_volume_new_file(fs->vol, fd, xts, version, &cerr);
		if (err == 0)
			err = own_new(req, parent->fd, fd, NULL);
		if (err) {
			unlinkat(parent->fd, name, 0);
			close(fd);
			return -err;
		}
		*created = true;
		return fd;
	}
	if (fd < 0)
		return -errno;
	err = -cmk_volume_new_file(fs->vol, fd, xts, version, &cerr);
	if (err == 0)
		err = own_new(req, parent->fd, fd, NULL);
	/* chown clears set-id bits; put back what the caller asked for. */
	if (err == 0 && (mode & (S_ISUID | S_ISGID)) && fs->chown_new)
		err = fchmod(fd, mode & 07777) ? errno : 0;
	if (err == 0) {
		proc_path(path, sizeof(path), fd);
		if (linkat(AT_FDCWD, path, parent->fd, name, AT_SYMLINK_FOLLOW))
			err = errno;
	}
	if (err) {
		cmk_xts_free(*xts);
		*xts = NULL;
		close(fd);
		if (err == EEXIST && !(flags & O_EXCL))
			return -EEXIST; /* caller opens the existing file */
		if (err != EEXIST)
			cmk_log(LOG_ERR, CMK_MSG_CREATE_FAILED,
				"cannot create '%s': %s", name,
				cerr.msg[0] ? cerr.msg : strerror(err));
		return -err;
	}
	*created = true;
	return fd;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_inode *dir = inode_of(req, parent), *inode;
	struct fuse_entry_param e;
	char version[CMK_VERSION_MAX + 1] = "";
	struct cmk_xts *xts = NULL;
	bool created = false;
	struct fs_name n;
	int fd, err;

	if (reserved_name(fs, parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	err = name_of(fs, dir, name, &n);
	if (err)
		goto fail;
	fd = create_backing(req, dir, &n, mode, fi->flags, &xts, version,
			    &created);
	if (fd == -EEXIST && !(fi->flags & O_EXCL)) {
		/* Someone else created it first: open the existing file. */
		err = lookup_entry(req, parent, n.entry, &e);
		if (err)
			goto fail;
		inode = inode_of(req, e.ino);
		if (inode->type != S_IFREG) {
			fs_inode_unref(fs, inode, 1);
			err = EISDIR;
			goto fail;
		}
		err = open_existing(req, inode, fi);
		if (err) {
			fs_inode_unref(fs, inode, 1);
			goto fail;
		}
		fuse_reply_create(req, &e, fi);
		return;
	}
	if (fd < 0) {
		err = -fd;
		goto fail;
	}
	err = lookup_entry(req, parent, n.entry, &e);
	if (err) {
		cmk_xts_free(xts);
		close(fd);
		goto fail;
	}
	inode = inode_of(req, e.ino);
	/* Hand our fresh cipher to the inode, which has none yet. */
	pthread_mutex_lock(&inode->open_lock);
	if (!inode->xts) {
		pthread_rwlock_wrlock(&inode->data_lock);
		inode->xts = xts;
		strcpy(inode->version, version);
		pthread_rwlock_unlock(&inode->data_lock);
		xts = NULL;
	}
	pthread_mutex_unlock(&inode->open_lock);
	cmk_xts_free(xts);
	err = handle_new(fs, inode, fd, fi->flags, fi);
	if (err) {
		close(fd);
		fs_inode_unref(fs, inode, 1);
		goto fail;
	}
	fuse_reply_create(req, &e, fi);
	return;
fail:
	fuse_reply_err(req, err);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);

	(void)ino;
	close(h->fd);
	data_detach(h->inode);
	free(h);
	fuse_reply_err(req, 0);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int fd = handle_of(fi)->fd;

	(void)ino;
	fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) ? errno : 0);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	ssize_t n;
	uint8_t *buf;

	(void)ino;
	if (size > MAX_IO)
		size = MAX_IO;
	/* This worker's own buffer, reused from read to read. */
	buf = cmk_tbuf(CMK_TBUF_REPLY, size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_rdlock(&h->inode->data_lock);
	/* No cipher while open: its CMK version was revoked. */
	n = h->inode->xts ? cmk_data_read(h->fd, h->inode->xts, buf, size,
					  (uint64_t)off)
			  : -EACCES;
	pthread_rwlock_unlock(&h->inode->data_lock);
	if (n == -EBADMSG) {
		char name[PATH_MAX];

		backing_name(h->inode, name, sizeof(name));
		cmk_log(LOG_ERR, CMK_MSG_FILE_UNREADABLE,
			"%s: backing file is shorter than a header", name);
		n = -EIO;
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, (const char *)buf, (size_t)n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	uint64_t end;
	ssize_t n;

	(void)ino;
	pthread_rwlock_wrlock(&h->inode->data_lock);
	/* O_APPEND: at the true end, under the lock, so appends from
	 * several handles never overlap. */
	if (h->append && cmk_data_size(h->fd, &end) == 0)
		off = (off_t)end;
	n = h->inode->xts ? cmk_data_write(h->fd, h->inode->xts, buf, size,
					   (uint64_t)off)
			  : -EACCES;
	pthread_rwlock_unlock(&h->inode->data_lock);
	if (n == -EBADMSG)
		n = -EIO;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			 off_t len, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	uint64_t size;
	int err;

	(void)ino;
	if (mode & ~FALLOC_FL_KEEP_SIZE) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (off < 0 || len <= 0 || off > INT64_MAX - len) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_rwlock_wrlock(&h->inode->data_lock);
	err = h->inode->xts ? -cmk_data_size(h->fd, &size) : EACCES;
	/* Grow first (re-encoding the old last unit), then reserve blocks
	 * for the range; reserved zeros read as holes. */
	if (err == 0 && !(mode & FALLOC_FL_KEEP_SIZE) &&
	    (uint64_t)(off + len) > size)
		err = -cmk_data_truncate(h->fd, h->inode->xts,
					 (uint64_t)(off + len));
	if (err == 0 &&
	    fallocate(h->fd, mode, off + (off_t)CMK_HEADER_SIZE, len) != 0)
		err = errno;
	pthread_rwlock_unlock(&h->inode->data_lock);
	fuse_reply_err(req, err);
}

size_t fs_revoke_open_files(struct fs_ctx *fs)
{
	fuse_ino_t *cut = NULL;
	size_t revoked = 0, cap = 0;

	/* Lock order: table, then open_lock, then data_lock (which waits for
	 * reads and writes in progress). */
	pthread_mutex_lock(&fs->table_lock);
	for (size_t b = 0; b < fs->bucket_count; b++) {
		for (struct fs_inode *inode = fs->buckets[b]; inode;
		     inode = inode->hash_next) {
			if (inode->type != S_IFREG)
				continue;
			pthread_mutex_lock(&inode->open_lock);
			if (inode->xts && !cmk_keyring_has(fs->vol->keyring,
							   inode->version)) {
				pthread_rwlock_wrlock(&inode->data_lock);
				cmk_xts_free(inode->xts);
				inode->xts = NULL;
				pthread_rwlock_unlock(&inode->data_lock);
				if (revoked == cap) {
					size_t ncap = cap ? 2 * cap : 64;
					fuse_ino_t *grown = realloc(
						cut, ncap * sizeof(*cut));

					if (grown) {
						cut = grown;
						cap = ncap;
					}
				}
				if (revoked < cap)
					cut[revoked] =
						(fuse_ino_t)(uintptr_t)inode;
				revoked++;
			}
			pthread_mutex_unlock(&inode->open_lock);
		}
	}
	pthread_mutex_unlock(&fs->table_lock);
	/* Pages the kernel cached were decrypted with the revoked key: they
	 * go too, so that reads come to us (and fail). Outside our locks: the
	 * kernel may wait for requests in flight. */
	for (size_t i = 0; i < revoked && i < cap && fs->session; i++)
		fuse_lowlevel_notify_inval_inode(fs->session, cut[i], 0, 0);
	free(cut);
	return revoked;
}

/* --- attributes --------------------------------------------------------------
 */
static int truncate_inode(struct fs_ctx *fs, struct fs_inode *inode,
			  struct fuse_file_info *fi, off_t size)
{
	struct fs_handle *h = fi ? handle_of(fi) : NULL;
	int fd, err;

	if (inode->type != S_IFREG)
		return inode->type == S_IFDIR ? EISDIR : EINVAL;
	if (size < 0)
		return EINVAL;
	fd = h ? h->fd : backing_open(inode, O_RDWR);
	if (fd < 0)
		return errno;
	err = h ? 0 : data_attach(fs, inode, fd);
	if (err == 0) {
		pthread_rwlock_wrlock(&inode->data_lock);
		err = inode->xts ? -cmk_data_truncate(fd, inode->xts,
						      (uint64_t)size)
				 : EACCES;
		pthread_rwlock_unlock(&inode->data_lock);
		if (err == EBADMSG)
			err = EIO;
		if (!h)
			data_detach(inode);
	}
	if (!h)
		close(fd);
	return err;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int valid, struct fuse_file_info *fi)
{
	struct fs_inode *inode = inode_of(req, ino);
	char path[64];
	int err = 0;

	proc_path(path, sizeof(path), inode->fd);
	if (valid & FUSE_SET_ATTR_MODE) {
		if (fi ? fchmod(handle_of(fi)->fd, attr->st_mode)
		       : chmod(path, attr->st_mode))
			err = errno;
	}
	if (!err && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid
							: (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid
							: (gid_t)-1;

		if (fchownat(inode->fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			err = errno;
	}
	if (!err && (valid & FUSE_SET_ATTR_SIZE))
		err = truncate_inode(fs_of(req), inode, fi, attr->st_size);
	if (!err && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec tv[2] = { { 0, UTIME_OMIT },
					  { 0, UTIME_OMIT } };

		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		/* Symlinks: their own times, never their target's. */
		if (inode->type == S_IFLNK
			    ? utimensat(inode->fd, "", tv,
					AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
			    : utimensat(AT_FDCWD, path, tv, 0))
			err = errno;
	}
	if (err)
		fuse_reply_err(req, err);
	else
		op_getattr(req, ino, fi);
}

/* --- namespace
 * ----------------------------------------------------------------- */
static void reply_new_entry(fuse_req_t req, fuse_ino_t parent,
			    const struct fs_name *n, int err)
{
	struct fuse_entry_param e;

	if (!err)
		err = lookup_entry(req, parent, n->entry, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

/* The backing entry for a new name in parent, its side file written:
 * 0 or a positive errno (EPERM for our own names). */
static int new_name(fuse_req_t req, fuse_ino_t parent, const char *name,
		    struct fs_name *n)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_inode *dir = inode_of(req, parent);
	int err;

	if (reserved_name(fs, parent, name))
		return EPERM;
	err = name_of(fs, dir, name, n);
	if (!err)
		err = name_side_write(dir, n);
	return err;
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct fs_inode *dir = inode_of(req, parent);
	struct fs_name n;
	int err;

	err = new_name(req, parent, name, &n);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (S_ISREG(mode)) {
		/* A regular file needs a header: create and close it. */
		struct cmk_xts *xts = NULL;
		bool created;
		int fd = create_backing(req, dir, &n, mode, O_EXCL, &xts, NULL,
					&created);

		if (fd < 0) {
			err = -fd;
		} else {
			cmk_xts_free(xts);
			close(fd);
		}
	} else if (mknodat(dir->fd, n.entry, mode, rdev)) {
		err = errno;
	} else if ((err = own_new(req, dir->fd, -1, n.entry))) {
		unlinkat(dir->fd, n.entry, 0);
	}
	reply_new_entry(req, parent, &n, err);
}

/* mkdir of an encrypted-names volume: under a temporary name of ours
 * first, with its directory id inside, then renamed into place, so that
 * no visible directory ever lacks an id. */
static int mkdir_with_id(fuse_req_t req, struct fs_inode *dir,
			 const char *entry, mode_t mode)
{
	uint8_t dirid[CMK_DIRID_LEN], rnd[8];
	char tmp[64];
	int sub, err = 0;

	cmk_random(rnd, sizeof(rnd));
	snprintf(tmp, sizeof(tmp), "cmkfs.tmp.%02x%02x%02x%02x%02x%02x%02x%02x",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
		 rnd[7]);
	if (mkdirat(dir->fd, tmp, mode))
		return errno;
	sub = openat(dir->fd, tmp,
		     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		err = errno;
	else
		err = -cmk_bn_new_dirid(sub, dirid, false);
	if (!err)
		err = own_new(req, dir->fd, -1, tmp);
	/* chown cleared nothing on a directory; the mode is as asked. */
	if (!err && renameat2(dir->fd, tmp, dir->fd, entry, RENAME_NOREPLACE))
		err = errno;
	if (err) {
		if (sub >= 0)
			unlinkat(sub, CMK_DIRID_FILE, 0);
		unlinkat(dir->fd, tmp, AT_REMOVEDIR);
	}
	if (sub >= 0)
		close(sub);
	return err;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fs_inode *dir = inode_of(req, parent);
	struct fs_name n;
	int err;

	err = new_name(req, parent, name, &n);
	if (err)
		;
	else if (fs_of(req)->vol->names)
		err = mkdir_with_id(req, dir, n.entry, mode);
	else if (mkdirat(dir->fd, n.entry, mode))
		err = errno;
	else if ((err = own_new(req, dir->fd, -1, n.entry)))
		unlinkat(dir->fd, n.entry, AT_REMOVEDIR);
	reply_new_entry(req, parent, &n, err);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_inode *dir = inode_of(req, parent);
	char enc[CMK_SYMLINK_ENC_MAX + 1];
	const char *target = link;
	struct fs_name n;
	int err;

	err = new_name(req, parent, name, &n);
	if (!err && fs->vol->names) {
		/* Longer targets would not fit the backing file system's
		 * PATH_MAX once encrypted. */
		int len = cmk_symlink_encrypt(fs->vol->names, link,
					      strlen(link), NULL, enc,
					      sizeof(enc));

		if (len < 0)
			err = -len;
		target = enc;
	}
	if (err)
		;
	else if (symlinkat(target, dir->fd, n.entry))
		err = errno;
	else if ((err = own_new(req, dir->fd, -1, n.entry)))
		unlinkat(dir->fd, n.entry, 0);
	reply_new_entry(req, parent, &n, err);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		    const char *name)
{
	struct fs_inode *inode = inode_of(req, ino);
	char path[64];
	struct fs_name n;
	int err;

	err = new_name(req, parent, name, &n);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	proc_path(path, sizeof(path), inode->fd);
	if (linkat(AT_FDCWD, path, inode_of(req, parent)->fd, n.entry,
		   AT_SYMLINK_FOLLOW))
		err = errno;
	reply_new_entry(req, parent, &n, err);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_inode *dir = inode_of(req, parent);
	struct fs_name n;
	int err = reserved_name(fs, parent, name) ? ENOENT : 0;

	if (!err)
		err = name_of(fs, dir, name, &n);
	if (!err && unlinkat(dir->fd, n.entry, 0))
		err = errno;
	if (!err)
		name_side_drop(dir, &n);
	fuse_reply_err(req, err);
}

/* Removes a backing directory that holds, apart from our own files (its
 * id, stray side files), nothing: those go first, and the id comes back
 * if the directory turns out not to be empty after all. */
static int rmdir_with_id(struct fs_inode *dir, const char *entry)
{
	uint8_t dirid[CMK_DIRID_LEN];
	bool have_id = false;
	struct dirent *de;
	int fd, sub, err = 0;
	DIR *dp;

	fd = openat(dir->fd, entry,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	sub = dup(fd);
	dp = sub >= 0 ? fdopendir(sub) : NULL;
	if (!dp) {
		err = errno;
		if (sub >= 0)
			close(sub);
		close(fd);
		return err;
	}
	while (!err && (de = readdir(dp)))
		if (!is_dot(de->d_name) && !cmk_name_is_special(de->d_name))
			err = ENOTEMPTY;
	if (!err) {
		have_id = cmk_bn_read_dirid(fd, dirid) == 0;
		rewinddir(dp);
		while ((de = readdir(dp)))
			if (!is_dot(de->d_name) &&
			    cmk_name_is_special(de->d_name))
				unlinkat(fd, de->d_name, 0);
		if (unlinkat(dir->fd, entry, AT_REMOVEDIR)) {
			err = errno;
			/* Someone got in first: the directory keeps its id. */
			if (have_id) {
				int id_fd = openat(fd, CMK_DIRID_FILE,
						   O_WRONLY | O_CREAT | O_EXCL |
							   O_CLOEXEC,
						   0444);

				if (id_fd >= 0) {
					if (write(id_fd, dirid,
						  sizeof(dirid)) !=
					    (ssize_t)sizeof(dirid))
						err = EIO;
					close(id_fd);
				}
			}
		}
	}
	closedir(dp);
	close(fd);
	return err;
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_inode *dir = inode_of(req, parent);
	struct fs_name n;
	int err = reserved_name(fs, parent, name) ? ENOENT : 0;

	if (!err)
		err = name_of(fs, dir, name, &n);
	if (err)
		;
	else if (fs->vol->names)
		err = rmdir_with_id(dir, n.entry);
	else if (unlinkat(dir->fd, n.entry, AT_REMOVEDIR))
		err = errno;
	if (!err)
		name_side_drop(dir, &n);
	fuse_reply_err(req, err);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_inode *from = inode_of(req, parent);
	struct fs_inode *to = inode_of(req, newparent);
	struct fs_name a, b;
	int err = 0;

	if (reserved_name(fs, parent, name) ||
	    reserved_name(fs, newparent, newname))
		err = EPERM;
	if (!err)
		err = name_of(fs, from, name, &a);
	if (!err)
		err = name_of(fs, to, newname, &b);
	/* The new name's side file first; the old one's last, unless the
	 * old name still stands (an exchange) or is the same entry. */
	if (!err)
		err = name_side_write(to, &b);
	if (!err && renameat2(from->fd, a.entry, to->fd, b.entry, flags))
		err = errno;
	if (!err && !(flags & RENAME_EXCHANGE) &&
	    !(from == to && strcmp(a.entry, b.entry) == 0))
		name_side_drop(from, &a);
	fuse_reply_err(req, err);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_ctx *fs = fs_of(req);
	char buf[PATH_MAX + 1], plain[CMK_SYMLINK_PLAIN_MAX + 1];
	ssize_t n = readlinkat(inode_of(req, ino)->fd, "", buf, sizeof(buf));
	int len;

	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (n == sizeof(buf)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[n] = '\0';
	if (!fs->vol->names) {
		fuse_reply_readlink(req, buf);
		return;
	}
	len = cmk_symlink_decrypt(fs->vol->names, buf, (size_t)n, plain,
				  sizeof(plain));
	if (len < 0) {
		char where[PATH_MAX];

		backing_name(inode_of(req, ino), where, sizeof(where));
		cmk_log(LOG_ERR, CMK_MSG_FILE_UNREADABLE,
			"%s: the symlink's target is not one of this "
			"volume's (tampered or foreign)",
			where);
		fuse_reply_err(req, EIO);
		return;
	}
	fuse_reply_readlink(req, plain);
}

/* --- directories -------------------------------------------------------------
 */
struct fs_dir {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
};

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_dir *d = calloc(1, sizeof(*d));
	int fd, err;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(inode_of(req, ino)->fd, ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		err = errno;
		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t offset, struct fuse_file_info *fi, bool plus)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	struct fs_ctx *fs = fs_of(req);
	size_t rem = size;
	char *buf, *p;
	int err = 0;

	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		char plain[CMK_NAME_PLAIN_MAX + 1];
		fuse_ino_t entry_ino = 0;
		const char *name, *entry;
		size_t entsize;
		off_t next;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		next = d->entry->d_off;
		name = d->entry->d_name;
		if (reserved_name(fs, ino, name) ||
		    (fs->vol->names && !is_dot(name) &&
		     !name_from_backing(fs, inode_of(req, ino), dirfd(d->dp),
					name, plain))) {
			d->entry = NULL;
			d->offset = next;
			continue;
		}
		entry = name;
		if (fs->vol->names && !is_dot(name))
			name = plain;
		if (plus) {
			struct fuse_entry_param e;

			if (is_dot(name)) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = d->entry->d_ino;
				e.attr.st_mode = (mode_t)d->entry->d_type << 12;
			} else {
				err = lookup_entry(req, ino, entry, &e);
				if (err == ENOENT) { /* gone meanwhile */
					err = 0;
					d->entry = NULL;
					d->offset = next;
					continue;
				}
				if (err)
					break;
				entry_ino = e.ino;
			}
			entsize = fuse_add_direntry_plus(req, p, rem, name, &e,
							 next);
		} else {
			struct stat st = {
				.st_ino = d->entry->d_ino,
				.st_mode = (mode_t)d->entry->d_type << 12,
			};

			entsize =
				fuse_add_direntry(req, p, rem, name, &st, next);
		}
		if (entsize > rem) {
			if (entry_ino)
				fs_inode_unref(fs, inode_of(req, entry_ino), 1);
			break;
		}
		p += entsize;
		rem -= entsize;
		d->entry = NULL;
		d->offset = next;
	}
	/* Entries already in the buffer carry lookup counts: send them. */
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t offset, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, offset, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t offset, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, offset, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = dirfd(((struct fs_dir *)(uintptr_t)fi->fh)->dp);

	(void)ino;
	fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) ? errno : 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	if (fstatvfs(inode_of(req, ino)->fd, &st))
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &st);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	char path[64];

	proc_path(path, sizeof(path), inode_of(req, ino)->fd);
	fuse_reply_err(req, faccessat(AT_FDCWD, path, mask, 0) ? errno : 0);
}

/* --- extended attributes
 * ------------------------------------------------------ */
/* Only with -o xattr: names and values are kept, unencrypted, as the
 * backing file's own extended attributes. Without it, ENOSYS tells the
 * kernel once that there are none, and it stops asking (ls -l asks for two
 * per file, and every write asks for security.capability). */
static void reply_xattr(fuse_req_t req, char *value, size_t size, ssize_t n)
{
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, value, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char path[64], *value = NULL;
	ssize_t n;
	if (!fs_of(req)->xattr) {
		fuse_reply_err(req, ENOSYS);
		return;
	}

	proc_path(path, sizeof(path), inode_of(req, ino)->fd);
	if (size && !(value = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = getxattr(path, name, value, size);
	reply_xattr(req, value, size, n);
	free(value);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[64], *value = NULL;
	ssize_t n;
	if (!fs_of(req)->xattr) {
		fuse_reply_err(req, ENOSYS);
		return;
	}

	proc_path(path, sizeof(path), inode_of(req, ino)->fd);
	if (size && !(value = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = listxattr(path, value, size);
	reply_xattr(req, value, size, n);
	free(value);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	char path[64];
	if (!fs_of(req)->xattr) {
		fuse_reply_err(req, ENOSYS);
		return;
	}

	proc_path(path, sizeof(path), inode_of(req, ino)->fd);
	fuse_reply_err(req,
		       setxattr(path, name, value, size, flags) ? errno : 0);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	char path[64];
	if (!fs_of(req)->xattr) {
		fuse_reply_err(req, ENOSYS);
		return;
	}

	proc_path(path, sizeof(path), inode_of(req, ino)->fd);
	fuse_reply_err(req, removexattr(path, name) ? errno : 0);
}

const struct fuse_lowlevel_ops cmk_fuse_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.access = op_access,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

const char *fs_fuse_version(void)
{
	return fuse_pkgversion();
}
