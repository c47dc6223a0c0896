/* SPDX-License-Identifier: MIT */
/* The FUSE front end: the only file that includes FUSE's headers. It
 * translates each request of libfuse's low-level API into a call of
 * fs/fsops.c and the result into a reply, and runs the session (mount,
 * worker threads, signals, unmount) for fs/mount.c. */
#include "fs/fuse_front.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_lowlevel.h>

#include "common/log.h"
#include "common/tbuf.h"
#include "fs/fsops.h"

#define MAX_IO (1u << 20)
#define MAX_THREADS 16

static struct fs_ctx *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct cmk_node *node_of(fuse_req_t req, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs_of(req)->nodes.root;
	return (struct cmk_node *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(struct fs_ctx *fs, struct cmk_node *node)
{
	return node == &fs->nodes.root ? FUSE_ROOT_ID
				       : (fuse_ino_t)(uintptr_t)node;
}

static struct cmk_handle *handle_of(struct fuse_file_info *fi)
{
	return fi ? (struct cmk_handle *)(uintptr_t)fi->fh : NULL;
}

static struct cmk_caller caller_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cmk_caller who = { .uid = ctx->uid, .gid = ctx->gid };

	return who;
}

static void entry_param(struct fs_ctx *fs, const struct cmk_entry *e,
			struct fuse_entry_param *out)
{
	memset(out, 0, sizeof(*out));
	out->ino = ino_of(fs, e->node);
	out->attr = e->attr;
	out->attr_timeout = fs->timeout;
	out->entry_timeout = fs->timeout;
}

/* Errors come back as -errno; replies take the positive value. */
static void reply_err(fuse_req_t req, int ret)
{
	fuse_reply_err(req, ret < 0 ? -ret : ret);
}

static void reply_entry(fuse_req_t req, const struct cmk_entry *e, int ret)
{
	struct fuse_entry_param p;

	if (ret) {
		reply_err(req, ret);
		return;
	}
	entry_param(fs_of(req), e, &p);
	fuse_reply_entry(req, &p);
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

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_ctx *fs = userdata;

	/* Large requests: one round trip per MiB instead of per 128 KiB. */
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
	 * (see cmk_fs_open()). */
	if (fs->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		fs->writeback = false;
	/* Kept on in every mode (libfuse asks for it by default): without
	 * it, the kernel's write-through path (no writeback cache, as -o
	 * shared and -o no_writeback run) lost writes to a file that other
	 * threads kept opening and reading, with no cmkfs code involved:
	 * libfuse's passthrough_ll lost data that way in 9 and 12 of 100
	 * runs of test_fs_parallel under load, and in none of 400 with it on
	 * (Linux 6.18).
	 * It costs an attribute round trip before each read. */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* The kernel must not bypass us with splice into the backing file. */
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_MOVE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *fs = fs_of(req);
	struct cmk_entry e;
	int ret;

	after_init(fs);
	ret = cmk_fs_lookup(fs, node_of(req, parent), name, &e);
	if (ret == -ENOENT) {
		/* A negative entry, cached like a positive one. */
		struct fuse_entry_param p = { .entry_timeout = fs->timeout };

		fuse_reply_entry(req, &p);
		return;
	}
	reply_entry(req, &e, ret);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	cmk_fs_forget(fs_of(req), node_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		cmk_fs_forget(fs_of(req), node_of(req, forgets[i].ino),
			      forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_ctx *fs = fs_of(req);
	struct stat st;
	int ret;

	after_init(fs);
	ret = cmk_fs_getattr(fs, node_of(req, ino), handle_of(fi), &st);
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int valid, struct fuse_file_info *fi)
{
	static const struct {
		int fuse, ours;
	} bits[] = {
		{ FUSE_SET_ATTR_MODE, CMK_SET_MODE },
		{ FUSE_SET_ATTR_UID, CMK_SET_UID },
		{ FUSE_SET_ATTR_GID, CMK_SET_GID },
		{ FUSE_SET_ATTR_SIZE, CMK_SET_SIZE },
		{ FUSE_SET_ATTR_ATIME, CMK_SET_ATIME },
		{ FUSE_SET_ATTR_MTIME, CMK_SET_MTIME },
		{ FUSE_SET_ATTR_ATIME_NOW, CMK_SET_ATIME_NOW },
		{ FUSE_SET_ATTR_MTIME_NOW, CMK_SET_MTIME_NOW },
	};
	struct fs_ctx *fs = fs_of(req);
	struct stat out;
	int ours = 0, ret;

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (valid & bits[i].fuse)
			ours |= bits[i].ours;
	ret = cmk_fs_setattr(fs, node_of(req, ino), handle_of(fi), attr, ours,
			     &out);
	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_attr(req, &out, fs->timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[PATH_MAX + 1];
	int ret = cmk_fs_readlink(fs_of(req), node_of(req, ino), target,
				  sizeof(target));

	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_readlink(req, target);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct cmk_caller who = caller_of(req);
	struct cmk_entry e;

	reply_entry(req, &e,
		    cmk_fs_mknod(fs_of(req), &who, node_of(req, parent), name,
				 mode, rdev, &e));
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct cmk_caller who = caller_of(req);
	struct cmk_entry e;

	reply_entry(req, &e,
		    cmk_fs_mkdir(fs_of(req), &who, node_of(req, parent), name,
				 mode, &e));
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct cmk_caller who = caller_of(req);
	struct cmk_entry e;

	reply_entry(req, &e,
		    cmk_fs_symlink(fs_of(req), &who, link, node_of(req, parent),
				   name, &e));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		    const char *name)
{
	struct cmk_entry e;

	reply_entry(req, &e,
		    cmk_fs_link(fs_of(req), node_of(req, ino),
				node_of(req, parent), name, &e));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_err(req, cmk_fs_unlink(fs_of(req), node_of(req, parent), name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_err(req, cmk_fs_rmdir(fs_of(req), node_of(req, parent), name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	reply_err(req, cmk_fs_rename(fs_of(req), node_of(req, parent), name,
				     node_of(req, newparent), newname, flags));
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cmk_caller who = caller_of(req);
	struct cmk_handle *h;
	int ret;

	ret = cmk_fs_open(fs_of(req), &who, node_of(req, ino), fi->flags, &h);
	if (ret) {
		reply_err(req, ret);
		return;
	}
	fi->fh = (uintptr_t)h;
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs_ctx *fs = fs_of(req);
	struct cmk_caller who = caller_of(req);
	struct fuse_entry_param p;
	struct cmk_handle *h;
	struct cmk_entry e;
	int ret;

	ret = cmk_fs_create(fs, &who, node_of(req, parent), name, mode,
			    fi->flags, &e, &h);
	if (ret) {
		reply_err(req, ret);
		return;
	}
	fi->fh = (uintptr_t)h;
	entry_param(fs, &e, &p);
	fuse_reply_create(req, &p, fi);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	cmk_fs_release(fs_of(req), handle_of(fi));
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
	(void)ino;
	reply_err(req, cmk_fs_fsync(handle_of(fi), datasync != 0));
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
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
	n = cmk_fs_read(fs_of(req), handle_of(fi), buf, size, off);
	if (n < 0)
		reply_err(req, (int)n);
	else
		fuse_reply_buf(req, (const char *)buf, (size_t)n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	(void)ino;
	n = cmk_fs_write(fs_of(req), handle_of(fi), buf, size, off);
	if (n < 0)
		reply_err(req, (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			 off_t len, struct fuse_file_info *fi)
{
	(void)ino;
	reply_err(req,
		  cmk_fs_fallocate(fs_of(req), handle_of(fi), mode, off, len));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct cmk_dir *d;
	int ret = cmk_fs_opendir(fs_of(req), node_of(req, ino), &d);

	if (ret) {
		reply_err(req, ret);
		return;
	}
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, size_t size, off_t offset,
		       struct fuse_file_info *fi, bool plus)
{
	struct cmk_dir *d = (struct cmk_dir *)(uintptr_t)fi->fh;
	struct fs_ctx *fs = fs_of(req);
	size_t rem = size;
	char *buf, *p;
	int ret = 0;

	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	for (;;) {
		struct cmk_dirent ent;
		size_t entsize;

		ret = cmk_fs_readdir(fs, d, offset, plus, &ent);
		if (ret <= 0)
			break;
		if (plus) {
			struct fuse_entry_param e = {
				.attr = ent.attr,
				.attr_timeout = fs->timeout,
				.entry_timeout = fs->timeout,
			};

			/* "." and "..": no lookup, ino 0 tells the kernel. */
			if (ent.node)
				e.ino = ino_of(fs, ent.node);
			entsize = fuse_add_direntry_plus(req, p, rem, ent.name,
							 &e, ent.next);
		} else {
			entsize = fuse_add_direntry(req, p, rem, ent.name,
						    &ent.attr, ent.next);
		}
		if (entsize > rem) {
			/* Does not fit: the next call starts with it. */
			if (ent.node)
				cmk_fs_forget(fs, ent.node, 1);
			ret = 0;
			break;
		}
		cmk_fs_readdir_used(d, &ent);
		offset = ent.next;
		p += entsize;
		rem -= entsize;
	}
	/* Entries already in the buffer carry lookup counts: send them. */
	if (ret < 0 && rem == size)
		reply_err(req, ret);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t offset, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, offset, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t offset, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, offset, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	cmk_fs_releasedir((struct cmk_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)ino;
	reply_err(req, cmk_fs_fsyncdir((struct cmk_dir *)(uintptr_t)fi->fh,
				       datasync != 0));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int ret = cmk_fs_statfs(fs_of(req), node_of(req, ino), &st);

	if (ret)
		reply_err(req, ret);
	else
		fuse_reply_statfs(req, &st);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	reply_err(req, cmk_fs_access(fs_of(req), node_of(req, ino), mask));
}

/* --- extended attributes ---------------------------------------------------
 */

static void reply_xattr(fuse_req_t req, char *value, size_t size, ssize_t n)
{
	if (n < 0)
		reply_err(req, (int)n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, value, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char *value = NULL;

	if (size && !(value = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_xattr(req, value, size,
		    cmk_fs_getxattr(fs_of(req), node_of(req, ino), name, value,
				    size));
	free(value);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *value = NULL;

	if (size && !(value = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_xattr(req, value, size,
		    cmk_fs_listxattr(fs_of(req), node_of(req, ino), value,
				     size));
	free(value);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	reply_err(req, cmk_fs_setxattr(fs_of(req), node_of(req, ino), name,
				       value, size, flags));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	reply_err(req, cmk_fs_removexattr(fs_of(req), node_of(req, ino), name));
}

static const struct fuse_lowlevel_ops ops = {
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

/* --- the session ------------------------------------------------------------
 */

static struct fuse_session *session; /* for invalidations */

void fs_fuse_invalidate(void *ctx, struct cmk_node *node)
{
	struct fs_ctx *fs = ctx;
	struct fuse_session *se = __atomic_load_n(&session, __ATOMIC_ACQUIRE);

	if (se)
		fuse_lowlevel_notify_inval_inode(se, ino_of(fs, node), 0, 0);
}

int fs_fuse_serve(struct fs_ctx *fs, const char *mountpoint,
		  const char *options, bool debug,
		  const struct fs_fuse_hooks *hooks)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop_cfg = NULL;
	struct fuse_session *se = NULL;
	int ret = -ENOMEM;

	if (fuse_opt_add_arg(&args, "cmkfs") ||
	    (options[0] && (fuse_opt_add_arg(&args, "-o") ||
			    fuse_opt_add_arg(&args, options))) ||
	    (debug && fuse_opt_add_arg(&args, "-d")))
		goto out;
	se = fuse_session_new(&args, &ops, sizeof(ops), fs);
	if (!se) {
		ret = -EINVAL; /* libfuse said why */
		goto out;
	}
	/* A shell starts background jobs with SIGINT ignored, and libfuse
	 * only takes over signals left at their default: reset it, so that
	 * SIGINT unmounts cleanly like SIGTERM. */
	signal(SIGINT, SIG_DFL);
	if (fuse_set_signal_handlers(se) != 0) {
		ret = -EIO;
		goto out_session;
	}
	if (fuse_session_mount(se, mountpoint) != 0) {
		ret = -EIO;
		goto out_handlers;
	}
	__atomic_store_n(&session, se, __ATOMIC_RELEASE);
	if (hooks && hooks->mounted)
		hooks->mounted(hooks->ctx);
	loop_cfg = fuse_loop_cfg_create();
	if (!loop_cfg) {
		ret = -ENOMEM;
		goto out_unmount;
	}
	fuse_loop_cfg_set_max_threads(loop_cfg, MAX_THREADS);
	ret = fuse_session_loop_mt(se, loop_cfg);
	/* libfuse reports the signal that ended the loop as an error; an
	 * unmount or SIGTERM/SIGINT/SIGHUP is a clean end. */
	if (ret == -SIGTERM || ret == -SIGINT || ret == -SIGHUP ||
	    ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		ret = 0;
	if (ret)
		cmk_log(LOG_ERR, CMK_MSG_SESSION,
			"the FUSE session ended with error %d", ret);
	fuse_loop_cfg_destroy(loop_cfg);
out_unmount:
	if (hooks && hooks->stopping)
		hooks->stopping(hooks->ctx);
	__atomic_store_n(&session, NULL, __ATOMIC_RELEASE);
	fuse_session_unmount(se);
	cmk_log(LOG_INFO, CMK_MSG_UNMOUNTED, "unmounted %s", mountpoint);
out_handlers:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	return ret > 0 ? -ret : ret;
}

const char *fs_fuse_version(void)
{
	return fuse_pkgversion();
}
