/* SPDX-License-Identifier: MIT */
/* For the tests that drive fs/fsops.c without FUSE: a fresh volume under a
 * test's directory (a local keystore with a new key), opened, with an
 * fs_ctx on it; and its teardown. Include after check.h. */
#ifndef CMKFS_TESTS_FS_VOLUME_H
#define CMKFS_TESTS_FS_VOLUME_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/fsops.h"
#include "kms/keystore.h"

struct test_volume {
	char cipher[512];
	struct cmk_volume *vol;
	struct fs_ctx fs;
	int root_fd;
};

/* Makes dir/kind (its configuration and keystore beside it) and opens it
 * with dir_fd_max cached directory descriptors. 0, or -1 (a failed CHECK
 * says why). */
static int test_volume_open(struct test_volume *t, const char *dir,
			    const char *kind, bool enc_names, size_t dir_fd_max)
{
	char version[CMK_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;

	memset(t, 0, sizeof(*t));
	t->root_fd = -1;
	memset(&conf, 0, sizeof(conf));
	snprintf(conf.path, sizeof(conf.path), "%s/%s.conf", dir, kind);
	conf.provider = CMK_PROVIDER_FILE;
	snprintf(conf.file.keystore, sizeof(conf.file.keystore), "%s/%s.json",
		 dir, kind);
	strcpy(conf.file.key_name, "cmk");
	snprintf(t->cipher, sizeof(t->cipher), "%s/%s", dir, kind);
	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), 0);
	CHECK_EQ_INT(
		cmk_volume_init(&conf, t->cipher, enc_names, version, &err), 0);
	CHECK_EQ_INT(cmk_volume_open(&conf, t->cipher, &t->vol, &err), 0);
	if (!t->vol)
		return -1;
	t->root_fd = open(t->cipher, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK_EQ_INT(cmk_fs_init(&t->fs, t->vol, t->root_fd, dir_fd_max), 0);
	return 0;
}

static void test_volume_close(struct test_volume *t)
{
	cmk_fs_destroy(&t->fs);
	if (t->root_fd >= 0)
		close(t->root_fd);
	cmk_volume_close(t->vol);
}

#endif
