/* SPDX-License-Identifier: MIT */
/* Volumes with the local keystore: init, open with the right and the wrong
 * key, new and existing backing files, and bad backing files that must be
 * reported and never written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fs/volume.h"
#include "kms/keystore.h"

static char dir[] = "/tmp/cmkfs-volume-XXXXXX";

static void make_conf(struct cmk_conf *conf, const char *keystore)
{
	memset(conf, 0, sizeof(*conf));
	snprintf(conf->path, sizeof(conf->path), "%s/test.conf", dir);
	conf->provider = CMK_PROVIDER_FILE;
	snprintf(conf->file.keystore, sizeof(conf->file.keystore), "%s/%s", dir,
		 keystore);
	strcpy(conf->file.key_name, "cmk");
}

static char *path_in(const char *name)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static int file_sha(const char *path, uint8_t sum[32])
{
	uint8_t buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	if (fd >= 0)
		close(fd);
	return n < 0 ? -1 : cmk_sha256(buf, (size_t)n, sum);
}

/* Opening a bad backing file fails with -EBADMSG and leaves it as it was. */
static void bad_file(struct cmk_volume *vol, const char *name,
		     const uint8_t *content, size_t len, const char *reason)
{
	uint8_t before[32], after[32];
	struct cmk_xts *xts = NULL;
	struct cmk_err err = { 0 };
	int fd = open(path_in(name), O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(write(fd, content, len) == (ssize_t)len);
	file_sha(path_in(name), before);
	CHECK_EQ_INT(cmk_volume_open_file(vol, fd, &xts, NULL, &err), -EBADMSG);
	CHECK_STR_CONTAINS(err.msg, reason);
	CHECK(xts == NULL);
	close(fd);
	file_sha(path_in(name), after);
	CHECK(memcmp(before, after, 32) == 0);
}

/* cmkfs.volume.root: "MODE UID GID\n" and nothing else; no signs, no
 * numbers out of range (sscanf read "-18446744073709551615" as 1). */
static void root_records(void)
{
	static const struct {
		const char *text;
		int ret;
		unsigned mode, uid, gid;
	} cases[] = {
		{ "0755 0 0\n", 0, 0755, 0, 0 },
		{ "1777 4294967295 100\n", 0, 01777, 4294967295u, 100 },
		{ " 700\t1000 1000 \n", 0, 0700, 1000, 1000 },
		{ "0755 0 0", 0, 0755, 0, 0 },
		{ "0755 -18446744073709551615 0\n", -EBADMSG, 0, 0, 0 },
		{ "-0 0 0\n", -EBADMSG, 0, 0, 0 },
		{ "0755 +5 0\n", -EBADMSG, 0, 0, 0 },
		{ "0755 99999999999999999999999 0\n", -EBADMSG, 0, 0, 0 },
		{ "0755 4294967296 0\n", -EBADMSG, 0, 0, 0 },
		{ "10000 0 0\n", -EBADMSG, 0, 0, 0 },
		{ "0755 0\n", -EBADMSG, 0, 0, 0 },
		{ "0755 0 0 0\n", -EBADMSG, 0, 0, 0 },
		{ "0755 0 0\nx", -EBADMSG, 0, 0, 0 },
		{ "", -EBADMSG, 0, 0, 0 },
	};
	struct cmk_root_attr a;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&a, 0, sizeof(a));
		CHECK_EQ_INT(cmk_volume_parse_root(cases[i].text,
						   strlen(cases[i].text), &a),
			     cases[i].ret);
		if (cases[i].ret == 0) {
			CHECK_EQ_INT(a.mode, cases[i].mode);
			CHECK_EQ_INT(a.uid, cases[i].uid);
			CHECK_EQ_INT(a.gid, cases[i].gid);
		}
	}
	/* A NUL inside is no end. */
	CHECK_EQ_INT(cmk_volume_parse_root("0755 0 0\0 1", 12, &a), -EBADMSG);
}

int main(void)
{
	char version[CMK_VERSION_MAX + 1];
	struct cmk_conf conf, other;
	struct cmk_volume *vol = NULL;
	struct cmk_xts *xts = NULL;
	struct cmk_err err = { 0 };
	uint8_t buf[8192], hdr[CMK_HEADER_SIZE];
	char cmd[600];
	int fd;

	if (cmk_crypto_init(NULL) < 0 || !mkdtemp(dir))
		return 1;
	root_records();
	cmk_kms_global_init();
	make_conf(&conf, "keystore.json");
	make_conf(&other, "other.json");
	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), 0);
	CHECK_EQ_INT(cmk_keystore_create(&other, version, &err), 0);

	/* Not a volume yet. */
	mkdir(path_in("cipher"), 0700);
	CHECK_EQ_INT(cmk_volume_open(&conf, path_in("cipher"), &vol, &err),
		     -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "not a cmkfs volume");
	CHECK_EQ_INT(cmk_volume_init(&conf, path_in("cipher"), false, version,
				     &err),
		     0);
	CHECK(strcmp(version, "1") == 0);

	/* The wrong key: same name, other bytes. Nothing is written. */
	CHECK_EQ_INT(cmk_volume_open(&other, path_in("cipher"), &vol, &err),
		     -EKEYREJECTED);
	CHECK_STR_CONTAINS(err.msg, "different key");
	CHECK(vol == NULL);
	/* Another key name. */
	strcpy(other.file.key_name, "cmk2");
	CHECK_EQ_INT(cmk_keystore_create(&other, version, &err), -EEXIST);

	/* The right key; a new file, written and read back. */
	CHECK_EQ_INT(cmk_volume_open(&conf, path_in("cipher"), &vol, &err), 0);
	if (!vol)
		return check_exit();
	fd = open(path_in("cipher/file"), O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK_EQ_INT(cmk_volume_new_file(vol, fd, &xts, NULL, &err), 0);
	CHECK_EQ_INT(cmk_data_write(fd, xts, "hello, world", 12, 0), 12);
	cmk_xts_free(xts);
	xts = NULL;
	CHECK_EQ_INT(cmk_volume_open_file(vol, fd, &xts, NULL, &err), 0);
	CHECK_EQ_INT(cmk_data_read(fd, xts, buf, sizeof(buf), 0), 12);
	CHECK(memcmp(buf, "hello, world", 12) == 0);
	cmk_xts_free(xts);
	xts = NULL;
	CHECK_EQ_INT(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	close(fd);

	/* Bad backing files. */
	memset(buf, 0x41, sizeof(buf));
	bad_file(vol, "short", hdr, 100, "shorter than a cmkfs header");
	bad_file(vol, "foreign", buf, sizeof(buf), "foreign magic");
	memcpy(buf, hdr, sizeof(hdr));
	buf[CMK_SLOT_OFF(0) + 90] ^= 1; /* the wrapped DEK */
	bad_file(vol, "tampered", buf, sizeof(hdr) + 10, "no valid key slot");
	memcpy(buf, hdr, sizeof(hdr));
	buf[40] ^= 1; /* the volume id */
	bad_file(vol, "moved", buf, sizeof(hdr), "another volume");

	/* A header wrapped with a version the keyring lacks: fetched on
	 * demand, refused by the key service (it has no version 7), and the
	 * refusal remembered. */
	uint8_t cmk_other[32];
	struct cmk_header_info info;
	memcpy(buf, hdr, sizeof(hdr));
	cmk_random(cmk_other, sizeof(cmk_other));
	CHECK_EQ_INT(cmk_header_parse(buf, sizeof(hdr), &info, NULL), 0);
	CHECK_EQ_INT(cmk_header_seal_slot(buf, 0, 1, "7", cmk_other, cmk_other,
					  NULL),
		     0);
	fd = open(path_in("v7"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(write(fd, buf, sizeof(hdr)) == (ssize_t)sizeof(hdr));
	CHECK_EQ_INT(cmk_volume_open_file(vol, fd, &xts, NULL, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "CMK version 7: ");
	CHECK_STR_CONTAINS(err.msg, "has no version 7");
	CHECK_EQ_INT(cmk_volume_open_file(vol, fd, &xts, NULL, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "CMK version 7 was refused by the key "
				    "service");
	close(fd);

	cmk_volume_close(vol);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	/* NOLINTNEXTLINE(cert-env33-c): the test's own command */
	CHECK(system(cmd) == 0);
	return check_exit();
}
