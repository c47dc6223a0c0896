/* SPDX-License-Identifier: MIT */
/* The local keystore: create, rotate, disable and enable, fetch and list
 * through the kms layer, sealing under a passphrase, the file format itself
 * (keystores written by hand must read back), unsafe permissions, broken
 * files, and writers that run at the same time. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "crypto/crypto.h"
#include "kms/keystore.h"
#include "kms/keystore_internal.h"
#include "kms/kms.h"

/* base64 of the bytes 0, 1, ..., 31 (and of 0..30: one byte short). */
#define KEY_0_31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_0_30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="

/* The asker the CLI registers, as a test stands in for the terminal. */
static const char *prompt_answer = "correct horse";
static bool prompt_confirmed;

static int test_prompt(const char *keystore, bool confirm, uint8_t *pass,
		       size_t max, size_t *len, struct cmk_err *err)
{
	(void)keystore;
	(void)err;
	prompt_confirmed = confirm;
	*len = strlen(prompt_answer);
	if (*len > max)
		return -EINVAL;
	memcpy(pass, prompt_answer, *len);
	return 0;
}

static char dir[] = "/tmp/cmkfs-keystore-XXXXXX";

static char *path_in(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static void make_conf(struct cmk_conf *conf, const char *keystore,
		      const char *passfile)
{
	memset(conf, 0, sizeof(*conf));
	snprintf(conf->path, sizeof(conf->path), "%s/test.conf", dir);
	conf->provider = CMK_PROVIDER_FILE;
	snprintf(conf->file.keystore, sizeof(conf->file.keystore), "%s",
		 path_in(keystore));
	strcpy(conf->file.key_name, "cmk");
	if (passfile)
		snprintf(conf->file.passphrase_file,
			 sizeof(conf->file.passphrase_file), "%s",
			 path_in(passfile));
}

static void write_file(const char *path, const char *content, size_t len,
		       mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, content, len) == (ssize_t)len);
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

/* The whole file, NUL-terminated, malloc'ed. */
static char *read_file(const char *path)
{
	char *buf = calloc(1, 65536);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, 65535);

	if (fd >= 0)
		close(fd);
	CHECK(n >= 0);
	return buf;
}

/* Replaces the first from with to (same length or not) in a file. */
static void edit_file(const char *path, const char *from, const char *to)
{
	char *s = read_file(path), *hit = strstr(s, from);
	char out[65536];

	CHECK(hit != NULL);
	if (hit) {
		snprintf(out, sizeof(out), "%.*s%s%s", (int)(hit - s), s, to,
			 hit + strlen(from));
		write_file(path, out, strlen(out), 0600);
	}
	free(s);
}

static int open_kms(const struct cmk_conf *conf, struct cmk_kms **kms,
		    struct cmk_err *err)
{
	cmk_err_clear(err);
	return cmk_kms_open(conf, kms, err);
}

/* Fetches through a fresh kms handle; returns the error. */
static int fetch_once(const struct cmk_conf *conf, const char *version,
		      uint8_t *cmk, char *version_out, struct cmk_err *err)
{
	struct cmk_kms *kms = NULL;
	int ret = open_kms(conf, &kms, err);

	if (ret == 0)
		ret = cmk_kms_fetch(kms, version, cmk, version_out, err);
	cmk_kms_close(kms);
	return ret;
}

static bool no_temp_files(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	bool clean = true;

	while (d && (de = readdir(d)))
		if (strstr(de->d_name, ".tmp."))
			clean = false;
	if (d)
		closedir(d);
	return clean;
}

static void test_version_ids(void)
{
	char long_id[70];

	CHECK(cmk_kms_version_valid("1"));
	CHECK(cmk_kms_version_valid("a-Z_0.9"));
	memset(long_id, 'a', 64);
	long_id[64] = '\0';
	CHECK(cmk_kms_version_valid(long_id));
	long_id[64] = 'a';
	long_id[65] = '\0';
	CHECK(!cmk_kms_version_valid(long_id));
	CHECK(!cmk_kms_version_valid(""));
	CHECK(!cmk_kms_version_valid("a/b"));
	CHECK(!cmk_kms_version_valid("a b"));
	CHECK(!cmk_kms_version_valid(NULL));
}

static void test_lifecycle(void)
{
	char version[CMK_KMS_VERSION_MAX + 1], got[CMK_KMS_VERSION_MAX + 1];
	struct cmk_kms_version *vs = NULL;
	struct cmk_err err = { 0 };
	struct cmk_kms *kms = NULL;
	uint8_t *key1 = cmk_secure_alloc(CMK_KEY_LEN);
	uint8_t *key2 = cmk_secure_alloc(CMK_KEY_LEN);
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	uint8_t zero[CMK_KEY_LEN] = { 0 };
	struct cmk_conf conf;
	struct stat st;
	size_t count = 0;

	make_conf(&conf, "ks.json", NULL);
	CHECK_EQ_INT(open_kms(&conf, &kms, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "key create");

	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), 0);
	CHECK(strcmp(version, "1") == 0);
	CHECK(stat(conf.file.keystore, &st) == 0 &&
	      (st.st_mode & 07777) == 0600);
	CHECK(stat(path_in("ks.json.lock"), &st) == 0 &&
	      (st.st_mode & 07777) == 0600);
	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), -EEXIST);
	CHECK_STR_CONTAINS(err.msg, "already exists");
	CHECK_STR_CONTAINS(err.msg, conf.file.keystore);

	CHECK_EQ_INT(open_kms(&conf, &kms, &err), 0);
	CHECK(strcmp(cmk_kms_key_name(kms), "cmk") == 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, NULL, key1, got, &err), 0);
	CHECK(strcmp(got, "1") == 0);
	CHECK(memcmp(key1, zero, CMK_KEY_LEN) != 0);

	/* The open handle sees what the administration commands change. */
	CHECK_EQ_INT(cmk_keystore_rotate(&conf, version, &err), 0);
	CHECK(strcmp(version, "2") == 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, NULL, key2, got, &err), 0);
	CHECK(strcmp(got, "2") == 0);
	CHECK(memcmp(key1, key2, CMK_KEY_LEN) != 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, "2", cmk, NULL, &err), 0);
	CHECK(memcmp(cmk, key2, CMK_KEY_LEN) == 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, "1", cmk, got, &err), 0);
	CHECK(memcmp(cmk, key1, CMK_KEY_LEN) == 0);
	CHECK(strcmp(got, "1") == 0);

	CHECK_EQ_INT(cmk_kms_list_versions(kms, &vs, &count, &err), 0);
	CHECK_EQ_INT(count, 2);
	if (count == 2) {
		CHECK(strcmp(vs[0].id, "2") == 0 && vs[0].enabled);
		CHECK(strcmp(vs[1].id, "1") == 0 && vs[1].enabled);
		CHECK(vs[1].created > time(NULL) - 600 &&
		      vs[1].created <= time(NULL));
	}
	free(vs);
	vs = NULL;

	/* Disable and enable. */
	CHECK_EQ_INT(cmk_keystore_set_enabled(&conf, "1", false, &err), 0);
	CHECK_EQ_INT(cmk_keystore_set_enabled(&conf, "1", false, &err), 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, "1", cmk, NULL, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "version 1 of key 'cmk' is disabled");
	CHECK(memcmp(cmk, zero, CMK_KEY_LEN) == 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, NULL, cmk, got, &err), 0);
	CHECK(strcmp(got, "2") == 0 && memcmp(cmk, key2, CMK_KEY_LEN) == 0);
	CHECK_EQ_INT(cmk_kms_list_versions(kms, &vs, &count, &err), 0);
	CHECK(count == 2 && vs[0].enabled && !vs[1].enabled);
	free(vs);
	vs = NULL;
	CHECK_EQ_INT(cmk_keystore_set_enabled(&conf, "2", false, &err), 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, NULL, cmk, got, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "no enabled version of key 'cmk'");
	CHECK_EQ_INT(cmk_keystore_set_enabled(&conf, "1", true, &err), 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, NULL, cmk, got, &err), 0);
	CHECK(strcmp(got, "1") == 0 && memcmp(cmk, key1, CMK_KEY_LEN) == 0);
	CHECK_EQ_INT(cmk_keystore_set_enabled(&conf, "2", true, &err), 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, NULL, cmk, got, &err), 0);
	CHECK(strcmp(got, "2") == 0);

	/* Versions that do not exist, or are not versions at all. */
	CHECK_EQ_INT(cmk_kms_fetch(kms, "9", cmk, NULL, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "has no version 9");
	CHECK_EQ_INT(cmk_kms_fetch(kms, "abc", cmk, NULL, &err), -ENOENT);
	CHECK_EQ_INT(cmk_kms_fetch(kms, "a/b", cmk, NULL, &err), -EINVAL);
	CHECK_EQ_INT(cmk_keystore_set_enabled(&conf, "9", false, &err),
		     -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "has no version 9");
	CHECK_EQ_INT(cmk_keystore_set_enabled(&conf, "", false, &err), -EINVAL);
	CHECK(no_temp_files());

	/* Unsafe permissions: every operation refuses, naming the file. */
	CHECK(chmod(conf.file.keystore, 0644) == 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, NULL, cmk, got, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, conf.file.keystore);
	CHECK_EQ_INT(cmk_kms_list_versions(kms, &vs, &count, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, conf.file.keystore);
	CHECK(vs == NULL);
	cmk_kms_close(kms);
	kms = NULL;
	CHECK_EQ_INT(open_kms(&conf, &kms, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, conf.file.keystore);
	CHECK(kms == NULL);
	CHECK_EQ_INT(cmk_keystore_rotate(&conf, version, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, conf.file.keystore);
	CHECK_EQ_INT(cmk_keystore_set_enabled(&conf, "1", false, &err),
		     -EACCES);
	CHECK_STR_CONTAINS(err.msg, conf.file.keystore);
	CHECK(stat(conf.file.keystore, &st) == 0 &&
	      (st.st_mode & 07777) == 0644); /* left as it was */
	CHECK(chmod(conf.file.keystore, 0600) == 0);

	/* Another key under another name is not this one. */
	strcpy(conf.file.key_name, "other");
	CHECK_EQ_INT(open_kms(&conf, &kms, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "holds key 'cmk', config names 'other'");
	CHECK_EQ_INT(cmk_keystore_rotate(&conf, version, &err), -EINVAL);

	cmk_secure_free(key1, CMK_KEY_LEN);
	cmk_secure_free(key2, CMK_KEY_LEN);
	cmk_secure_free(cmk, CMK_KEY_LEN);
}

/* A keystore written by hand by the rules of the format reads back. */
static void test_format_by_hand(void)
{
	static const char ks[] =
		"{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
		"\"key_name\":\"cmk\",\"seal\":null,\"versions\":["
		"{\"id\":\"7\",\"enabled\":true,\"created\":1764325000,"
		"\"key\":\"" KEY_0_31 "\"},"
		"{\"id\":\"10\",\"enabled\":false,\"created\":0,"
		"\"key\":\"" KEY_0_31 "\"}]}";
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	char got[CMK_KMS_VERSION_MAX + 1], version[CMK_KMS_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	uint8_t want[CMK_KEY_LEN];

	for (int i = 0; i < CMK_KEY_LEN; i++)
		want[i] = (uint8_t)i;
	make_conf(&conf, "hand.json", NULL);
	write_file(conf.file.keystore, ks, sizeof(ks) - 1, 0600);
	/* 10 is newer than 7 (numerically) but disabled. */
	CHECK_EQ_INT(fetch_once(&conf, NULL, cmk, got, &err), 0);
	CHECK(strcmp(got, "7") == 0);
	CHECK(memcmp(cmk, want, CMK_KEY_LEN) == 0);
	CHECK(cmk_secure_is_locked(cmk));
	CHECK_EQ_INT(cmk_keystore_rotate(&conf, version, &err), 0);
	CHECK(strcmp(version, "11") == 0);
	cmk_secure_free(cmk, CMK_KEY_LEN);
}

/* The sealed format, built here from its description in keystore.c. */
static void test_sealed_by_hand(void)
{
	static const uint8_t salt[16] = "0123456789abcdef";
	static const char aad[] = "cmkfs-keystore v1\0cmk\0"
				  "3";
	uint8_t *derived = cmk_secure_alloc(CMK_KEY_LEN);
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	uint8_t blob[60], want[CMK_KEY_LEN];
	char salt64[32], blob64[96], ks[1024];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	int len;

	for (int i = 0; i < CMK_KEY_LEN; i++)
		want[i] = (uint8_t)(100 + i);
	CHECK_EQ_INT(cmk_scrypt("hunter2", 7, salt, 16, 1u << 14, 8, 1, derived,
				CMK_KEY_LEN),
		     0);
	memset(blob, 0x42, 12);
	CHECK_EQ_INT(cmk_gcm_seal(derived, blob, aad, sizeof(aad) - 1, want,
				  CMK_KEY_LEN, blob + 12, blob + 44),
		     0);
	CHECK_EQ_INT(cmk_base64_encode(salt, 16, salt64, sizeof(salt64)), 0);
	CHECK_EQ_INT(cmk_base64_encode(blob, 60, blob64, sizeof(blob64)), 0);
	len = snprintf(ks, sizeof(ks),
		       "{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
		       "\"key_name\":\"cmk\",\"seal\":{\"kdf\":\"scrypt\","
		       "\"n\":16384,\"r\":8,\"p\":1,\"salt\":\"%s\"},"
		       "\"versions\":[{\"id\":\"3\",\"enabled\":true,"
		       "\"created\":1,\"key\":\"%s\"}]}",
		       salt64, blob64);
	make_conf(&conf, "hand-sealed.json", "hand.pass");
	write_file(conf.file.keystore, ks, (size_t)len, 0600);
	write_file(conf.file.passphrase_file, "hunter2\n", 8, 0600);
	CHECK_EQ_INT(fetch_once(&conf, "3", cmk, NULL, &err), 0);
	CHECK(memcmp(cmk, want, CMK_KEY_LEN) == 0);
	/* The id is bound: the same blob under id 4 does not open. */
	edit_file(conf.file.keystore, "\"id\":\"3\"", "\"id\":\"4\"");
	CHECK_EQ_INT(fetch_once(&conf, "4", cmk, NULL, &err), -EKEYREJECTED);
	cmk_secure_free(derived, CMK_KEY_LEN);
	cmk_secure_free(cmk, CMK_KEY_LEN);
}

static void test_sealed(void)
{
	char version[CMK_KMS_VERSION_MAX + 1], got[CMK_KMS_VERSION_MAX + 1];
	uint8_t *key1 = cmk_secure_alloc(CMK_KEY_LEN);
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	struct cmk_kms_version *vs = NULL;
	struct cmk_err err = { 0 };
	struct cmk_kms *kms = NULL;
	struct cmk_conf conf, plain;
	char b64[64], *content;
	size_t count = 0;

	make_conf(&conf, "sealed.json", "pass");
	write_file(conf.file.passphrase_file, "correct horse\n", 14, 0644);
	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, conf.file.passphrase_file);
	CHECK(access(conf.file.keystore, F_OK) != 0);
	write_file(conf.file.passphrase_file, "", 0, 0600);
	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "empty");
	write_file(conf.file.passphrase_file, "\n", 1, 0600);
	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), -EINVAL);
	write_file(conf.file.passphrase_file, "correct horse\n", 14, 0600);

	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), 0);
	CHECK(strcmp(version, "1") == 0);
	CHECK_EQ_INT(fetch_once(&conf, NULL, key1, got, &err), 0);
	CHECK(strcmp(got, "1") == 0);
	content = read_file(conf.file.keystore);
	CHECK_EQ_INT(cmk_base64_encode(key1, CMK_KEY_LEN, b64, sizeof(b64)), 0);
	CHECK(strstr(content, b64) == NULL);
	CHECK(strstr(content, "\"scrypt\"") != NULL);
	free(content);

	/* One trailing newline is not part of the passphrase. */
	write_file(conf.file.passphrase_file, "correct horse", 13, 0600);
	CHECK_EQ_INT(cmk_keystore_rotate(&conf, version, &err), 0);
	CHECK(strcmp(version, "2") == 0);
	CHECK_EQ_INT(fetch_once(&conf, "1", cmk, NULL, &err), 0);
	CHECK(memcmp(cmk, key1, CMK_KEY_LEN) == 0);
	CHECK_EQ_INT(fetch_once(&conf, NULL, cmk, got, &err), 0);
	CHECK(strcmp(got, "2") == 0 && memcmp(cmk, key1, CMK_KEY_LEN) != 0);

	/* A handle that read the passphrase keeps the derived key. */
	CHECK_EQ_INT(open_kms(&conf, &kms, &err), 0);
	CHECK_EQ_INT(cmk_kms_fetch(kms, "1", cmk, NULL, &err), 0);

	/* The wrong passphrase: no key, and no version added. */
	write_file(conf.file.passphrase_file, "wrong horse\n", 12, 0600);
	CHECK_EQ_INT(fetch_once(&conf, NULL, cmk, got, &err), -EKEYREJECTED);
	CHECK_STR_CONTAINS(err.msg,
			   "wrong passphrase (version 2 does not decrypt)");
	CHECK_EQ_INT(cmk_keystore_rotate(&conf, version, &err), -EKEYREJECTED);
	CHECK_EQ_INT(cmk_kms_fetch(kms, "2", cmk, NULL, &err), 0);
	/* Listing needs no passphrase. */
	CHECK_EQ_INT(cmk_kms_list_versions(kms, &vs, &count, &err), 0);
	CHECK_EQ_INT(count, 2);
	free(vs);
	cmk_kms_close(kms);

	/* Config and keystore must agree on sealing. */
	make_conf(&plain, "sealed.json", NULL);
	CHECK_EQ_INT(fetch_once(&plain, NULL, cmk, got, &err), -ENOKEY);
	CHECK_STR_CONTAINS(err.msg, "passphrase");
	make_conf(&plain, "ks.json", "pass");
	CHECK_EQ_INT(fetch_once(&plain, NULL, cmk, got, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "not sealed");

	/* A hostile file cannot ask for gigabytes of scrypt memory. */
	write_file(conf.file.passphrase_file, "correct horse\n", 14, 0600);
	edit_file(conf.file.keystore, "\"n\": 16384", "\"n\": 1073741824");
	CHECK_EQ_INT(fetch_once(&conf, NULL, cmk, got, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "scrypt parameters out of bounds");
	edit_file(conf.file.keystore, "\"n\": 1073741824", "\"n\": 4194304");
	edit_file(conf.file.keystore, "\"r\": 8", "\"r\": 32");
	CHECK_EQ_INT(fetch_once(&conf, NULL, cmk, got, &err), -EINVAL);
	edit_file(conf.file.keystore, "\"n\": 4194304", "\"n\": 16384");
	edit_file(conf.file.keystore, "\"r\": 32", "\"r\": 8");
	CHECK_EQ_INT(fetch_once(&conf, NULL, cmk, got, &err), 0);

	/* passphrase_prompt: the program's asker answers; without one the
	 * keystore says it cannot ask and writes nothing. */
	make_conf(&plain, "prompted.json", NULL);
	plain.file.passphrase_prompt = true;
	CHECK_EQ_INT(cmk_keystore_create(&plain, version, &err), -ENXIO);
	CHECK_STR_CONTAINS(err.msg,
			   "passphrase_prompt: this program cannot ask");
	CHECK(access(plain.file.keystore, F_OK) != 0);
	cmk_keystore_set_prompt(test_prompt);
	CHECK_EQ_INT(cmk_keystore_create(&plain, version, &err), 0);
	CHECK(prompt_confirmed); /* asked twice at create */
	CHECK_EQ_INT(fetch_once(&plain, "1", cmk, got, &err), 0);
	CHECK(!prompt_confirmed); /* once to open */
	prompt_answer = "wrong horse";
	CHECK_EQ_INT(fetch_once(&plain, "1", cmk, got, &err), -EKEYREJECTED);
	cmk_keystore_set_prompt(NULL);

	cmk_secure_free(key1, CMK_KEY_LEN);
	cmk_secure_free(cmk, CMK_KEY_LEN);
}

struct bad_case {
	const char *content;
	int code;
	const char *msg;
};

#define HEAD                                                   \
	"{\"format\":\"cmkfs-keystore\",\"format_version\":1," \
	"\"key_name\":\"cmk\",\"seal\":null,"
#define V(id, key)                                           \
	"{\"id\":\"" id "\",\"enabled\":true,\"created\":1," \
	"\"key\":\"" key "\"}"

static const struct bad_case bad_cases[] = {
	{ "", -EINVAL, "not valid JSON" },
	{ HEAD "\"versions\":[" V("1", KEY_0_31), -EINVAL,
	  "not valid JSON (unexpected end)" },
	/* A control character inside a key: the message must not quote
	 * the text around it. */
	{ HEAD "\"versions\":[{\"key\":\"SECRETSECRET\x01\"}]}", -EINVAL,
	  "line 1, column" },
	{ "[1,2]", -EINVAL, "not a cmkfs keystore" },
	{ "{\"format\":\"keepass\"}", -EINVAL, "not a cmkfs keystore" },
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":2}",
	  -EPROTONOSUPPORT, "format version 2" },
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":\"1\"}", -EINVAL,
	  "format_version" },
	{ HEAD "\"colour\":1,\"versions\":[" V("1", KEY_0_31) "]}", -EINVAL,
	  "unknown member \"colour\"" },
	{ HEAD "\"seal\":null,\"versions\":[" V("1", KEY_0_31) "]}", -EINVAL,
	  "duplicate member" },
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
	  "\"key_name\":\"cmk\",\"versions\":[" V("1", KEY_0_31) "]}",
	  -EINVAL, "missing member \"seal\"" },
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
	  "\"key_name\":\"vault\",\"seal\":null,\"versions\":[" V(
		  "1", KEY_0_31) "]}",
	  -EINVAL, "holds key 'vault', config names 'cmk'" },
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
	  "\"key_name\":7,\"seal\":null,\"versions\":[]}",
	  -EINVAL, "key_name is not a string" },
	{ HEAD "\"versions\":[]}", -EINVAL, "holds no versions" },
	{ HEAD "\"versions\":{}}", -EINVAL, "versions is not an array" },
	{ HEAD "\"versions\":[" V("1", KEY_0_31) "," V("2", KEY_0_31) "," V(
		  "3", KEY_0_30) "]}",
	  -EINVAL, "version 3: key is not 32 bytes of base64" },
	{ HEAD "\"versions\":[" V("1", KEY_0_31 "AAAA") "]}", -EINVAL,
	  "version 1: key is not 32 bytes of base64" },
	{ HEAD "\"versions\":[" V("1", "!!!!not base64!!!!") "]}", -EINVAL,
	  "version 1: key is not 32 bytes of base64" },
	{ HEAD "\"versions\":[" V("1", KEY_0_31) "," V("2", KEY_0_31) "," V(
		  "1", KEY_0_31) "]}",
	  -EINVAL, "version 1 appears twice" },
	{ HEAD "\"versions\":[" V("01", KEY_0_31) "]}", -EINVAL,
	  "versions[0]: id is not a version number" },
	{ HEAD "\"versions\":[" V("x", KEY_0_31) "]}", -EINVAL,
	  "versions[0]: id is not a version number" },
	{ HEAD "\"versions\":[{\"id\":1,\"enabled\":true,\"created\":1,"
	       "\"key\":\"" KEY_0_31 "\"}]}",
	  -EINVAL, "versions[0]: id is not a version number" },
	{ HEAD "\"versions\":[{\"id\":\"1\",\"enabled\":\"yes\","
	       "\"created\":1,\"key\":\"" KEY_0_31 "\"}]}",
	  -EINVAL, "version 1: enabled is not true or false" },
	{ HEAD "\"versions\":[{\"id\":\"1\",\"enabled\":true,"
	       "\"created\":-5,\"key\":\"" KEY_0_31 "\"}]}",
	  -EINVAL, "version 1: created" },
	{ HEAD "\"versions\":[{\"id\":\"1\",\"enabled\":true,"
	       "\"created\":1}]}",
	  -EINVAL, "versions[0]: missing member \"key\"" },
	{ HEAD "\"versions\":[7]}", -EINVAL, "versions[0]: not an object" },
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
	  "\"key_name\":\"cmk\",\"seal\":{\"kdf\":\"argon2id\",\"n\":16384,"
	  "\"r\":8,\"p\":1,\"salt\":\"MDEyMzQ1Njc4OWFiY2RlZg==\"},"
	  "\"versions\":[" V("1", KEY_0_31) "]}",
	  -EINVAL, "kdf is not \"scrypt\"" },
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
	  "\"key_name\":\"cmk\",\"seal\":{\"kdf\":\"scrypt\",\"n\":16383,"
	  "\"r\":8,\"p\":1,\"salt\":\"MDEyMzQ1Njc4OWFiY2RlZg==\"},"
	  "\"versions\":[" V("1", KEY_0_31) "]}",
	  -EINVAL, "scrypt parameters out of bounds" },
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
	  "\"key_name\":\"cmk\",\"seal\":{\"kdf\":\"scrypt\",\"n\":16384,"
	  "\"r\":8,\"p\":1,\"salt\":\"MDEyMzQ1Njc4OWFiY2Rl\"},"
	  "\"versions\":[" V("1", KEY_0_31) "]}",
	  -EINVAL, "salt is not 16 bytes of base64" },
	/* Sealed, a key is nonce, ciphertext and tag: 32 bytes is short. */
	{ "{\"format\":\"cmkfs-keystore\",\"format_version\":1,"
	  "\"key_name\":\"cmk\",\"seal\":{\"kdf\":\"scrypt\",\"n\":16384,"
	  "\"r\":8,\"p\":1,\"salt\":\"MDEyMzQ1Njc4OWFiY2RlZg==\"},"
	  "\"versions\":[" V("1", KEY_0_31) "]}",
	  -EINVAL, "version 1: key is not a sealed key" },
};

static void test_bad_files(void)
{
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	char version[CMK_KMS_VERSION_MAX + 1];
	struct cmk_err err = { 0 };
	struct cmk_conf conf;
	char *big;
	size_t i;

	make_conf(&conf, "bad.json", NULL);
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char *after;

		write_file(conf.file.keystore, c->content, strlen(c->content),
			   0600);
		CHECK_EQ_INT(fetch_once(&conf, NULL, cmk, NULL, &err), c->code);
		CHECK_STR_CONTAINS(err.msg, c->msg);
		CHECK_STR_CONTAINS(err.msg, conf.file.keystore);
		CHECK(strstr(err.msg, "SECRET") == NULL);
		CHECK(strstr(err.msg, KEY_0_31) == NULL);
		if (!strstr(err.msg, c->msg))
			fprintf(stderr, "  (bad case %zu)\n", i);
		/* Writers refuse it too, and leave it alone. */
		CHECK_EQ_INT(cmk_keystore_rotate(&conf, version, &err),
			     c->code);
		after = read_file(conf.file.keystore);
		CHECK(strcmp(after, c->content) == 0);
		free(after);
	}

	/* Oversize: refused before it is read. */
	big = malloc(CMK_KEYSTORE_MAX_SIZE + 1);
	memset(big, ' ', CMK_KEYSTORE_MAX_SIZE + 1);
	write_file(conf.file.keystore, big, CMK_KEYSTORE_MAX_SIZE + 1, 0600);
	free(big);
	CHECK_EQ_INT(fetch_once(&conf, NULL, cmk, NULL, &err), -EFBIG);
	CHECK_STR_CONTAINS(err.msg, "too big for a keystore");
	CHECK_STR_CONTAINS(err.msg, conf.file.keystore);

	/* Not a regular file. */
	make_conf(&conf, "", NULL);
	CHECK(fetch_once(&conf, NULL, cmk, NULL, &err) < 0);
	cmk_secure_free(cmk, CMK_KEY_LEN);
}

/* Writers queue on the lock, and none loses another's version. */
static void test_concurrent_writers(void)
{
	char version[CMK_KMS_VERSION_MAX + 1];
	struct cmk_kms_version *vs = NULL;
	struct cmk_err err = { 0 };
	struct cmk_kms *kms = NULL;
	struct cmk_conf conf;
	struct timespec pause = { 0, 300 * 1000 * 1000 };
	size_t count = 0;
	pid_t pids[4];
	int lock_fd, status, i;

	make_conf(&conf, "busy.json", NULL);
	CHECK_EQ_INT(cmk_keystore_create(&conf, version, &err), 0);

	/* Held here, the lock stops a rotation in a child. */
	lock_fd = open(path_in("busy.json.lock"), O_RDWR);
	CHECK(lock_fd >= 0 && flock(lock_fd, LOCK_EX) == 0);
	pids[0] = fork();
	if (pids[0] == 0) {
		/* The inherited fd shares the parent's lock: let it go. */
		close(lock_fd);
		_exit(cmk_keystore_rotate(&conf, version, &err) ? 1 : 0);
	}
	nanosleep(&pause, NULL);
	CHECK(waitpid(pids[0], &status, WNOHANG) == 0);
	close(lock_fd);
	CHECK(waitpid(pids[0], &status, 0) == pids[0] && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);

	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(cmk_keystore_rotate(&conf, version, &err) ? 1
									: 0);
	}
	for (i = 0; i < 4; i++)
		CHECK(waitpid(pids[i], &status, 0) == pids[i] &&
		      WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_INT(open_kms(&conf, &kms, &err), 0);
	CHECK_EQ_INT(cmk_kms_list_versions(kms, &vs, &count, &err), 0);
	CHECK_EQ_INT(count, 6);
	for (i = 0; i < (int)count; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%d", 6 - i);
		CHECK(strcmp(vs[i].id, want) == 0);
	}
	free(vs);
	cmk_kms_close(kms);
	CHECK(no_temp_files());
}

int main(void)
{
	char cmd[600];

	if (cmk_crypto_init(NULL) < 0 || !mkdtemp(dir))
		return 1;
	cmk_kms_global_init();
	cmk_kms_global_init(); /* idempotent */
	CHECK_EQ_INT(cmk_keystore_set_create_scrypt_n(1u << 14), 0);
	CHECK_EQ_INT(cmk_keystore_set_create_scrypt_n(1u << 30), -EINVAL);

	test_version_ids();
	test_lifecycle();
	test_format_by_hand();
	test_sealed_by_hand();
	test_sealed();
	test_bad_files();
	test_concurrent_writers();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	/* NOLINTNEXTLINE(cert-env33-c): the test's own command */
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return check_exit();
}
