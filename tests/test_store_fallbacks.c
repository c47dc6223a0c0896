/* SPDX-License-Identifier: MIT */
/* What cmkfs does on a backing store without renameat2's flags or
 * O_TMPFILE (GlusterFS's and NFS's clients), made to look like one with
 * CMKFS_FAULT: cmk_rename_noreplace() renames files and directories and
 * never replaces a name; a create goes through a temporary name, gives
 * EEXIST for a taken name and leaves no temporary entry behind; a mkdir
 * of an encrypted-names volume does the same. tests/gluster/ runs the
 * same operations on a real GlusterFS volume. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fs_volume.h"
#include "common/io.h"
#include "fs/backing_names.h"
#include "fs/fsops.h"
#include "kms/keystore.h"
#include "kms/keystore_internal.h"

static char dir[] = "/tmp/cmkfs-store-XXXXXX";
static const struct cmk_caller me = { 0, 0 };

static int write_text(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC,
			0600);
	int ret;

	if (fd < 0)
		return -errno;
	ret = cmk_write_full(fd, text, strlen(text), -1);
	close(fd);
	return ret;
}

static void read_text(int dfd, const char *name, const char *want)
{
	char buf[64] = "";
	size_t got = 0;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ_INT(cmk_read_full(fd, buf, sizeof(buf) - 1, 0, &got), 0);
	close(fd);
	CHECK(strcmp(buf, want) == 0);
}

static void rename_noreplace(void)
{
	char sub[600];
	struct stat st;
	int dfd;

	snprintf(sub, sizeof(sub), "%s/rename", dir);
	CHECK_EQ_INT(mkdir(sub, 0700), 0);
	dfd = open(sub, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	/* A file to a free name: linked, the old name gone. */
	CHECK_EQ_INT(write_text(dfd, "a", "A"), 0);
	CHECK_EQ_INT(cmk_rename_noreplace(dfd, "a", dfd, "b"), 0);
	read_text(dfd, "b", "A");
	CHECK(fstatat(dfd, "a", &st, 0) != 0 && errno == ENOENT);
	CHECK(fstatat(dfd, "b", &st, 0) == 0 && st.st_nlink == 1);
	/* A file to a taken name: EEXIST, both as they were. */
	CHECK_EQ_INT(write_text(dfd, "c", "C"), 0);
	CHECK_EQ_INT(cmk_rename_noreplace(dfd, "c", dfd, "b"), -EEXIST);
	read_text(dfd, "b", "A");
	read_text(dfd, "c", "C");
	/* A directory to a free name, then to a taken one (a file, and an
	 * empty directory, which rename(2) alone would replace). */
	CHECK_EQ_INT(mkdirat(dfd, "d", 0700), 0);
	CHECK_EQ_INT(cmk_rename_noreplace(dfd, "d", dfd, "e"), 0);
	CHECK(fstatat(dfd, "e", &st, 0) == 0 && S_ISDIR(st.st_mode));
	CHECK_EQ_INT(mkdirat(dfd, "f", 0700), 0);
	CHECK_EQ_INT(cmk_rename_noreplace(dfd, "f", dfd, "e"), -EEXIST);
	CHECK(fstatat(dfd, "f", &st, 0) == 0 && S_ISDIR(st.st_mode));
	CHECK_EQ_INT(cmk_rename_noreplace(dfd, "f", dfd, "c"), -EEXIST);
	CHECK_EQ_INT(cmk_rename_noreplace(dfd, "f", dfd, "g"), 0);
	close(dfd);
}

static int count_tmp(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strncmp(de->d_name, CMK_BN_TMP_PREFIX,
			     strlen(CMK_BN_TMP_PREFIX)) == 0;
	if (d)
		closedir(d);
	return n;
}

static void volume_ops(void)
{
	struct cmk_handle *h = NULL;
	struct test_volume t;
	struct cmk_entry e;
	char buf[16] = "";
	struct fs_ctx *fs = &t.fs;
	const char *cipher = t.cipher;

	if (test_volume_open(&t, dir, "cipher", true, 16) != 0)
		return;
	/* Created through a temporary name: readable, nothing left. */
	CHECK_EQ_INT(cmk_fs_create(fs, &me, &fs->nodes.root, "f", 0644,
				   O_RDWR | O_EXCL, &e, &h),
		     0);
	if (h) {
		CHECK_EQ_INT(cmk_fs_write(fs, h, "hello", 5, 0), 5);
		CHECK_EQ_INT(cmk_fs_read(fs, h, buf, sizeof(buf), 0), 5);
		CHECK(memcmp(buf, "hello", 5) == 0);
		cmk_fs_release(fs, h);
		cmk_fs_forget(fs, e.node, 1);
	}
	h = NULL;
	/* The name is taken: EEXIST, and the temporary file goes. */
	CHECK_EQ_INT(cmk_fs_create(fs, &me, &fs->nodes.root, "f", 0644,
				   O_RDWR | O_EXCL, &e, &h),
		     -EEXIST);
	CHECK_EQ_INT(count_tmp(cipher), 0);
	CHECK_EQ_INT(cmk_fs_mkdir(fs, &me, &fs->nodes.root, "d", 0755, &e), 0);
	cmk_fs_forget(fs, e.node, 1);
	CHECK_EQ_INT(cmk_fs_mkdir(fs, &me, &fs->nodes.root, "d", 0755, &e),
		     -EEXIST);
	CHECK_EQ_INT(count_tmp(cipher), 0);
	CHECK_EQ_INT(cmk_fs_lookup(fs, &fs->nodes.root, "f", &e), 0);
	if (e.node) {
		CHECK_EQ_INT(e.attr.st_size, 5);
		cmk_fs_forget(fs, e.node, 1);
	}
	test_volume_close(&t);
}

int main(void)
{
	char cmd[256];

	/* The store lacks both, throughout. */
	setenv("CMKFS_FAULT",
	       "store.noreplace:*:EINVAL,store.tmpfile:*:EOPNOTSUPP", 1);
	if (cmk_crypto_init(NULL) < 0 || !mkdtemp(dir))
		return 1;
	cmk_keystore_set_create_scrypt_n(1024);
	rename_noreplace();
	volume_ops();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	/* NOLINTNEXTLINE(cert-env33-c): the test's own command */
	CHECK(system(cmd) == 0);
	return check_exit();
}
