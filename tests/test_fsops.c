/* SPDX-License-Identifier: MIT */
/* The file system's operations (fs/fsops.c) driven without FUSE, on both
 * kinds of volume: 5,000 files created, listed, read and removed with the
 * process's descriptors bounded (nothing is held per file); FORGET frees
 * the nodes; renames and hard links keep every node reachable; a create,
 * mknod, mkdir, symlink or link that fails after the entry was made leaves
 * nothing behind (CMKFS_FAULT injects the failure); extended attributes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "check.h"
#include "fs_volume.h"
#include "fs/fsops.h"
#include "kms/keystore.h"
#include "kms/keystore_internal.h"

#define FILES 5000
#define DIRS 10

static char dir[] = "/tmp/cmkfs-fsops-XXXXXX";
static const struct cmk_caller me = { 0, 0 };

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1; /* the one opendir holds */
}

/* Entries in a backing directory, recursively (what a rollback must leave
 * as it was). */
static int count_backing(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char sub[4096];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
			n += count_backing(sub);
	}
	if (d)
		closedir(d);
	return n;
}

static struct cmk_node *root_of(struct fs_ctx *fs)
{
	return &fs->nodes.root;
}

static size_t nodes_of(struct fs_ctx *fs)
{
	struct cmk_node_stats s;

	cmk_nodes_stats(&fs->nodes, &s);
	return s.nodes;
}

static void write_file(struct fs_ctx *fs, struct cmk_node *d, const char *name,
		       const char *text, struct cmk_node **out)
{
	struct cmk_handle *h = NULL;
	struct cmk_entry e;
	int ret;

	ret = cmk_fs_create(fs, &me, d, name, 0644, O_RDWR | O_EXCL, &e, &h);
	CHECK_EQ_INT(ret, 0);
	if (ret)
		return;
	CHECK_EQ_INT(cmk_fs_write(fs, h, text, strlen(text), 0),
		     (ssize_t)strlen(text));
	cmk_fs_release(fs, h);
	if (out)
		*out = e.node;
	else
		cmk_fs_forget(fs, e.node, 1);
}

static int read_node(struct fs_ctx *fs, struct cmk_node *node, char *buf,
		     size_t size)
{
	struct cmk_handle *h = NULL;
	ssize_t n;
	int ret = cmk_fs_open(fs, &me, node, O_RDONLY, &h);

	if (ret)
		return ret;
	n = cmk_fs_read(fs, h, buf, size - 1, 0);
	cmk_fs_release(fs, h);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return 0;
}

/* Many files: descriptors stay bounded, FORGET frees every node. */
static void many_files(struct fs_ctx *fs)
{
	struct cmk_node *dirs[DIRS];
	int fds_before = count_fds(), peak = 0;
	char name[64], buf[64];

	for (int d = 0; d < DIRS; d++) {
		struct cmk_entry e;

		snprintf(name, sizeof(name), "dir%d", d);
		CHECK_EQ_INT(cmk_fs_mkdir(fs, &me, root_of(fs), name, 0755, &e),
			     0);
		dirs[d] = e.node;
	}
	for (int i = 0; i < FILES; i++) {
		snprintf(name, sizeof(name), "file-%d", i);
		snprintf(buf, sizeof(buf), "content %d", i);
		write_file(fs, dirs[i % DIRS], name, buf, NULL);
		if (count_fds() > peak)
			peak = count_fds();
	}
	/* A listing with lookups (ls -l), then every file read. */
	for (int d = 0; d < DIRS; d++) {
		struct cmk_dir *dh;
		struct cmk_dirent ent;
		off_t off = 0;
		int seen = 0, ret;

		CHECK_EQ_INT(cmk_fs_opendir(fs, dirs[d], &dh), 0);
		while ((ret = cmk_fs_readdir(fs, dh, off, true, &ent)) > 0) {
			if (ent.node) {
				char want[64], got[64];
				int k;

				seen++;
				/* NOLINTNEXTLINE(cert-err34-c): names the test made */
				CHECK(sscanf(ent.name, "file-%d", &k) == 1);
				snprintf(want, sizeof(want), "content %d", k);
				CHECK_EQ_INT(read_node(fs, ent.node, got,
						       sizeof(got)),
					     0);
				CHECK(strcmp(got, want) == 0);
				cmk_fs_forget(fs, ent.node, 1);
			}
			cmk_fs_readdir_used(dh, &ent);
			off = ent.next;
			if (count_fds() > peak)
				peak = count_fds();
		}
		CHECK_EQ_INT(ret, 0);
		CHECK_EQ_INT(seen, FILES / DIRS);
		cmk_fs_releasedir(dh);
	}
	printf("5000 files: at most %d descriptors (%d before)\n", peak,
	       fds_before);
	/* The directories' cached descriptors and a few in use: never a
	 * descriptor per file. */
	CHECK(peak <= fds_before + DIRS + 4);
	/* Every lookup was forgotten: only the directories are left. */
	CHECK_EQ_INT(nodes_of(fs), DIRS);
	for (int i = 0; i < FILES; i++) {
		snprintf(name, sizeof(name), "file-%d", i);
		CHECK_EQ_INT(cmk_fs_unlink(fs, dirs[i % DIRS], name), 0);
	}
	for (int d = 0; d < DIRS; d++) {
		snprintf(name, sizeof(name), "dir%d", d);
		cmk_fs_forget(fs, dirs[d], 1);
		CHECK_EQ_INT(cmk_fs_rmdir(fs, root_of(fs), name), 0);
	}
	CHECK_EQ_INT(nodes_of(fs), 0);
	CHECK(count_fds() <= fds_before);
}

/* Renames and hard links through the operations keep nodes reachable. */
static void renames_and_links(struct fs_ctx *fs)
{
	struct cmk_node *f, *a, *b;
	struct cmk_entry e;
	char buf[64];

	CHECK_EQ_INT(cmk_fs_mkdir(fs, &me, root_of(fs), "a", 0755, &e), 0);
	a = e.node;
	CHECK_EQ_INT(cmk_fs_mkdir(fs, &me, a, "b", 0755, &e), 0);
	b = e.node;
	write_file(fs, b, "f", "hello", &f);
	/* The file's directory moves: the file still opens. */
	CHECK_EQ_INT(cmk_fs_rename(fs, a, "b", root_of(fs), "b2", 0), 0);
	CHECK_EQ_INT(read_node(fs, f, buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, "hello") == 0);
	/* The file moves. */
	CHECK_EQ_INT(cmk_fs_rename(fs, b, "f", a, "g", 0), 0);
	CHECK_EQ_INT(read_node(fs, f, buf, sizeof(buf)), 0);
	/* A hard link, then the first name unlinked: reachable. */
	CHECK_EQ_INT(cmk_fs_link(fs, f, root_of(fs), "h", &e), 0);
	CHECK(e.node == f);
	cmk_fs_forget(fs, e.node, 1);
	CHECK_EQ_INT(cmk_fs_unlink(fs, a, "g"), 0);
	CHECK_EQ_INT(read_node(fs, f, buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, "hello") == 0);
	{
		struct stat st, attr = { .st_mode = 0600 };

		CHECK_EQ_INT(cmk_fs_setattr(fs, f, NULL, &attr, CMK_SET_MODE,
					    &st),
			     0);
		CHECK_EQ_INT(st.st_mode & 07777, 0600);
	}
	/* Renamed over by another file: the old node is gone. */
	write_file(fs, root_of(fs), "other", "other", NULL);
	CHECK_EQ_INT(cmk_fs_rename(fs, root_of(fs), "other", root_of(fs), "h",
				   0),
		     0);
	CHECK_EQ_INT(read_node(fs, f, buf, sizeof(buf)), -ESTALE);
	CHECK_EQ_INT(cmk_fs_lookup(fs, root_of(fs), "h", &e), 0);
	CHECK(e.node != f);
	CHECK_EQ_INT(read_node(fs, e.node, buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, "other") == 0);
	cmk_fs_forget(fs, e.node, 1);
	cmk_fs_forget(fs, f, 1);
	cmk_fs_forget(fs, a, 1);
	cmk_fs_forget(fs, b, 1);
	CHECK_EQ_INT(cmk_fs_unlink(fs, root_of(fs), "h"), 0);
	CHECK_EQ_INT(cmk_fs_rmdir(fs, root_of(fs), "b2"), 0);
	CHECK_EQ_INT(cmk_fs_rmdir(fs, root_of(fs), "a"), 0);
	CHECK_EQ_INT(nodes_of(fs), 0);
}

/* Extended attributes without FUSE: off without -o xattr; other
 * namespaces answered without the backing store; sizes and ERANGE;
 * symlinks; a file unlinked while open; renames keep them. */
static void xattrs(struct fs_ctx *fs, bool enc_names)
{
	struct cmk_node *f, *d, *l;
	struct cmk_handle *h = NULL;
	struct cmk_entry e;
	char buf[256], name[200];

	write_file(fs, root_of(fs), "xf", "x", &f);
	CHECK_EQ_INT(cmk_fs_mkdir(fs, &me, root_of(fs), "xd", 0755, &e), 0);
	d = e.node;
	CHECK_EQ_INT(cmk_fs_symlink(fs, &me, "xf", root_of(fs), "xl", &e), 0);
	l = e.node;
	fs->xattr = false;
	CHECK_EQ_INT(cmk_fs_setxattr(fs, f, "user.a", "1", 1, 0), -ENOSYS);
	CHECK_EQ_INT(cmk_fs_getxattr(fs, f, "user.a", buf, sizeof(buf)),
		     -ENOSYS);
	fs->xattr = true;
	for (int i = 0; i < 2; i++) {
		struct cmk_node *n = i ? d : f;

		CHECK_EQ_INT(cmk_fs_setxattr(fs, n, "user.a", "value", 5, 0),
			     0);
		CHECK_EQ_INT(cmk_fs_setxattr(fs, n, "user.bb", "", 0, 0), 0);
		CHECK_EQ_INT(cmk_fs_getxattr(fs, n, "user.a", NULL, 0), 5);
		CHECK_EQ_INT(cmk_fs_getxattr(fs, n, "user.a", buf, 4), -ERANGE);
		CHECK_EQ_INT(cmk_fs_getxattr(fs, n, "user.a", buf, 5), 5);
		CHECK(memcmp(buf, "value", 5) == 0);
		CHECK_EQ_INT(cmk_fs_getxattr(fs, n, "user.bb", buf, 5), 0);
		CHECK_EQ_INT(cmk_fs_getxattr(fs, n, "user.c", buf, 5),
			     -ENODATA);
		CHECK_EQ_INT(cmk_fs_listxattr(fs, n, NULL, 0), 15);
		CHECK_EQ_INT(cmk_fs_listxattr(fs, n, buf, 14), -ERANGE);
		CHECK_EQ_INT(cmk_fs_listxattr(fs, n, buf, 15), 15);
		CHECK((memcmp(buf, "user.a\0user.bb", 15) == 0) ||
		      (memcmp(buf, "user.bb\0user.a", 15) == 0));
		CHECK_EQ_INT(cmk_fs_setxattr(fs, n, "user.a", "x", 1,
					     XATTR_CREATE),
			     -EEXIST);
		CHECK_EQ_INT(cmk_fs_removexattr(fs, n, "user.bb"), 0);
		CHECK_EQ_INT(cmk_fs_removexattr(fs, n, "user.bb"), -ENODATA);
		/* Other namespaces: nothing stored, nothing read. */
		CHECK_EQ_INT(cmk_fs_getxattr(fs, n, "security.capability", buf,
					     sizeof(buf)),
			     -ENODATA);
		CHECK_EQ_INT(cmk_fs_setxattr(fs, n, "security.x", "1", 1, 0),
			     -EOPNOTSUPP);
		CHECK_EQ_INT(cmk_fs_setxattr(fs, n, "system.posix_acl_access",
					     "1", 1, 0),
			     -EOPNOTSUPP);
		CHECK_EQ_INT(cmk_fs_setxattr(fs, n, "trusted.x", "1", 1, 0),
			     -EOPNOTSUPP);
		CHECK_EQ_INT(cmk_fs_removexattr(fs, n, "security.x"),
			     -EOPNOTSUPP);
		CHECK_EQ_INT(cmk_fs_listxattr(fs, n, NULL, 0), 7);
	}
	/* Limits of encrypted names. */
	memcpy(name, "user.", 5);
	memset(name + 5, 'n', 172);
	name[177] = '\0';
	if (enc_names) {
		CHECK_EQ_INT(cmk_fs_setxattr(fs, f, name, "1", 1, 0), -ERANGE);
		CHECK_EQ_INT(cmk_fs_getxattr(fs, f, name, buf, 5), -ENODATA);
		CHECK_EQ_INT(cmk_fs_setxattr(fs, f, "user.big", buf,
					     CMK_XATTR_VALUE_MAX + 1, 0),
			     -E2BIG);
	}
	name[176] = '\0';
	CHECK_EQ_INT(cmk_fs_setxattr(fs, f, name, "1", 1, 0), 0);
	CHECK_EQ_INT(cmk_fs_removexattr(fs, f, name), 0);
	/* Symlinks hold none. */
	CHECK_EQ_INT(cmk_fs_setxattr(fs, l, "user.a", "1", 1, 0), -EPERM);
	CHECK_EQ_INT(cmk_fs_getxattr(fs, l, "user.a", buf, 5), -ENODATA);
	CHECK_EQ_INT(cmk_fs_listxattr(fs, l, buf, sizeof(buf)), 0);
	/* Renames keep them: the file, and the directory. */
	CHECK_EQ_INT(cmk_fs_rename(fs, root_of(fs), "xf", d, "moved", 0), 0);
	CHECK_EQ_INT(
		cmk_fs_rename(fs, root_of(fs), "xd", root_of(fs), "xd2", 0), 0);
	CHECK_EQ_INT(cmk_fs_getxattr(fs, f, "user.a", buf, 5), 5);
	CHECK_EQ_INT(cmk_fs_getxattr(fs, d, "user.a", buf, 5), 5);
	/* Unlinked while open: reached through the handle. */
	CHECK_EQ_INT(cmk_fs_open(fs, &me, f, O_RDONLY, &h), 0);
	CHECK_EQ_INT(cmk_fs_unlink(fs, d, "moved"), 0);
	CHECK_EQ_INT(cmk_fs_setxattr(fs, f, "user.after", "z", 1, 0), 0);
	CHECK_EQ_INT(cmk_fs_getxattr(fs, f, "user.a", buf, 5), 5);
	CHECK_EQ_INT(cmk_fs_getxattr(fs, f, "user.after", buf, 5), 1);
	CHECK_EQ_INT(cmk_fs_listxattr(fs, f, NULL, 0), 18);
	if (h)
		cmk_fs_release(fs, h);
	fs->xattr = false;
	cmk_fs_forget(fs, f, 1);
	cmk_fs_forget(fs, d, 1);
	cmk_fs_forget(fs, l, 1);
	CHECK_EQ_INT(cmk_fs_unlink(fs, root_of(fs), "xl"), 0);
	CHECK_EQ_INT(cmk_fs_rmdir(fs, root_of(fs), "xd2"), 0);
	CHECK_EQ_INT(nodes_of(fs), 0);
}

/* A failure after the entry was made leaves nothing: CMKFS_FAULT makes
 * the Nth pass of each point fail with EIO. */
static void rollbacks(struct fs_ctx *fs, const char *cipher)
{
	char long_name[201];
	struct cmk_handle *h = NULL;
	struct cmk_node *target;
	struct cmk_entry e;
	int before;

	memset(long_name, 'x', 200);
	long_name[200] = '\0';
	write_file(fs, root_of(fs), "target", "t", &target);
	before = count_backing(cipher);
	CHECK_EQ_INT(cmk_fs_create(fs, &me, root_of(fs), "c", 0644,
				   O_RDWR | O_EXCL, &e, &h),
		     -EIO);
	CHECK_EQ_INT(cmk_fs_create(fs, &me, root_of(fs), long_name, 0644,
				   O_RDWR | O_EXCL, &e, &h),
		     -EIO);
	CHECK_EQ_INT(cmk_fs_mknod(fs, &me, root_of(fs), "n", S_IFIFO | 0644, 0,
				  &e),
		     -EIO);
	CHECK_EQ_INT(cmk_fs_mkdir(fs, &me, root_of(fs), "d", 0755, &e), -EIO);
	CHECK_EQ_INT(cmk_fs_symlink(fs, &me, "target", root_of(fs), "s", &e),
		     -EIO);
	CHECK_EQ_INT(cmk_fs_link(fs, target, root_of(fs), "l", &e), -EIO);
	CHECK_EQ_INT(count_backing(cipher), before);
	CHECK_EQ_INT(cmk_fs_lookup(fs, root_of(fs), long_name, &e), -ENOENT);
	/* The points fail once: the same operations work now. */
	CHECK_EQ_INT(cmk_fs_mkdir(fs, &me, root_of(fs), "d", 0755, &e), 0);
	cmk_fs_forget(fs, e.node, 1);
	CHECK_EQ_INT(cmk_fs_rmdir(fs, root_of(fs), "d"), 0);
	cmk_fs_forget(fs, target, 1);
	CHECK_EQ_INT(cmk_fs_unlink(fs, root_of(fs), "target"), 0);
	CHECK_EQ_INT(nodes_of(fs), 0);
}

static void run(const char *kind, bool enc_names, bool with_rollbacks)
{
	struct test_volume t;

	if (test_volume_open(&t, dir, kind, enc_names, 64) != 0)
		return;
	/* First: the fault points count their passes from the start. */
	if (with_rollbacks)
		rollbacks(&t.fs, t.cipher);
	many_files(&t.fs);
	renames_and_links(&t.fs);
	xattrs(&t.fs, enc_names);
	test_volume_close(&t);
}

int main(void)
{
	char cmd[256];

	/* The passes of rollbacks() that must fail (the first create makes
	 * the link target); each point works again after. */
	setenv("CMKFS_FAULT",
	       "create.linked:2:EIO,create.linked:3:EIO,mknod.made:1:EIO,"
	       "mkdir.made:1:EIO,symlink.made:1:EIO,link.made:1:EIO",
	       1);
	if (cmk_crypto_init(NULL) < 0 || !mkdtemp(dir))
		return 1;
	cmk_keystore_set_create_scrypt_n(1024);
	run("encrypted", true, true);
	run("plaintext", false, false);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	/* NOLINTNEXTLINE(cert-env33-c): the test's own command */
	CHECK(system(cmd) == 0);
	return check_exit();
}
