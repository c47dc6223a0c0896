/* SPDX-License-Identifier: MIT */
/* The configuration file: good files with their values and defaults, and
 * every kind of bad file, each refused with the right errno and a message
 * that names the file and, where there is one, the line. */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "conf/conf.h"

static char dir[] = "/tmp/test_conf.XXXXXX";

/* Writes text to dir/name with mode; path gets the full name. */
static void write_file(char *path, const char *name, const char *text,
		       mode_t mode)
{
	FILE *f;

	snprintf(path, PATH_MAX, "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(fwrite(text, 1, strlen(text), f) == strlen(text));
	CHECK(fclose(f) == 0);
	CHECK(chmod(path, mode) == 0);
}

static int load(const char *name, const char *text, mode_t mode,
		struct cmk_conf *conf, struct cmk_err *err, char *path)
{
	write_file(path, name, text, mode);
	cmk_err_clear(err);
	return cmk_conf_load(path, conf, err);
}

static void good_minimal(void)
{
	char path[PATH_MAX];
	struct cmk_err err;
	struct cmk_conf conf;

	CHECK_EQ_INT(load("min.conf",
			  "[kms]\n"
			  "provider = file\n"
			  "keystore = /etc/cmkfs/keystore.json\n",
			  0600, &conf, &err, path),
		     0);
	CHECK_EQ_INT(err.code, 0);
	CHECK(strcmp(conf.path, path) == 0);
	CHECK_EQ_INT(conf.provider, CMK_PROVIDER_FILE);
	CHECK(strcmp(conf.file.keystore, "/etc/cmkfs/keystore.json") == 0);
	CHECK(strcmp(conf.file.key_name, "cmk") == 0);
	CHECK(strcmp(conf.file.passphrase_file, "") == 0);
	CHECK(!conf.file.passphrase_prompt);
}

/* Comments, indented keys, keys before provider, CRLF, an inline comment,
 * a ':' separator, an empty [kms] repeated, the longest line allowed. */
static void good_full(void)
{
	char path[PATH_MAX], text[1024], longpath[200];
	struct cmk_err err;
	struct cmk_conf conf;

	/* "keystore = " is 11 characters: 199 in all. */
	memset(longpath, 'a', sizeof(longpath));
	longpath[0] = '/';
	longpath[199 - 11] = '\0';
	snprintf(text, sizeof(text),
		 "\xEF\xBB\xBF# cmkfs\n"
		 "; another comment\n"
		 "\n"
		 "[kms]\r\n"
		 "    key_name = Prod.key-2_x   ; the CMK\n"
		 "\tpassphrase_prompt = Yes\n"
		 "  provider: file\n"
		 "[kms]\n"
		 "keystore = %s\n",
		 longpath);
	CHECK_EQ_INT(load("full.conf", text, 0640, &conf, &err, path), 0);
	if (err.code)
		fprintf(stderr, "  good_full: %s\n", err.msg);
	CHECK_EQ_INT(conf.provider, CMK_PROVIDER_FILE);
	CHECK(strcmp(conf.file.keystore, longpath) == 0);
	CHECK(strcmp(conf.file.key_name, "Prod.key-2_x") == 0);
	CHECK(conf.file.passphrase_prompt);
	CHECK(strcmp(conf.file.passphrase_file, "") == 0);

	CHECK_EQ_INT(load("pass.conf",
			  "[kms]\n"
			  "provider = file\n"
			  "keystore = /k.json\n"
			  "passphrase_file = /etc/cmkfs/keystore.pass\n"
			  "passphrase_prompt = false\n",
			  0600, &conf, &err, path),
		     0);
	CHECK(strcmp(conf.file.passphrase_file, "/etc/cmkfs/keystore.pass") ==
	      0);
	CHECK(!conf.file.passphrase_prompt);
}

/* conf/cmkfs.conf.example must stay a working config. ctest sets
 * CMKFS_SOURCE_DIR; run by hand from the top of the tree, it is found too. */
static void good_example(void)
{
	const char *src = getenv("CMKFS_SOURCE_DIR");
	char path[PATH_MAX], text[65536];
	struct cmk_err err;
	struct cmk_conf conf;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/conf/cmkfs.conf.example",
		 src ? src : ".");
	f = fopen(path, "r");
	if (!f) {
		CHECK(!src);
		fprintf(stderr, "%s not found: example not checked\n", path);
		return;
	}
	len = fread(text, 1, sizeof(text) - 1, f);
	CHECK(len > 0 && feof(f));
	fclose(f);
	text[len] = '\0';
	CHECK_EQ_INT(load("example.conf", text, 0600, &conf, &err, path), 0);
	if (err.code)
		fprintf(stderr, "  example: %s\n", err.msg);
	CHECK_EQ_INT(conf.provider, CMK_PROVIDER_FILE);
	CHECK(strcmp(conf.file.keystore, "/etc/cmkfs/keystore.json") == 0);
	CHECK(strcmp(conf.file.key_name, "cmk") == 0);
	CHECK(strcmp(conf.file.passphrase_file, "") == 0);
	CHECK(!conf.file.passphrase_prompt);
}

/* Loads text and expects want, with "PATH:LINE: " (or "PATH: " when line
 * is 0) and what in the message. */
static void bad(const char *name, const char *text, mode_t mode, int want,
		int line, const char *what)
{
	char path[PATH_MAX], where[PATH_MAX + 32];
	int before = check_failures;
	struct cmk_err err;
	struct cmk_conf conf;

	CHECK_EQ_INT(load(name, text, mode, &conf, &err, path), want);
	CHECK_EQ_INT(err.code, want);
	if (line)
		snprintf(where, sizeof(where), "%s:%d: ", path, line);
	else
		snprintf(where, sizeof(where), "%s: ", path);
	CHECK(strncmp(err.msg, where, strlen(where)) == 0);
	CHECK_STR_CONTAINS(err.msg, what);
	if (check_failures != before)
		fprintf(stderr, "  in case %s: \"%s\"\n", name, err.msg);
}

#define KMS_FILE "[kms]\nprovider = file\nkeystore = /k.json\n"

static void bad_content(void)
{
	char text[512];

	bad("section.conf", KMS_FILE "[foo]\n", 0600, -EINVAL, 4,
	    "unknown section [foo]");
	bad("section2.conf", "[kms]\nprovider = file\n[foo]\nx = 1\n", 0600,
	    -EINVAL, 3, "unknown section [foo]");
	bad("nosection.conf", "# c\nprovider = file\n", 0600, -EINVAL, 2,
	    "key 'provider' outside any section");
	bad("key.conf", "[kms]\nprovider = file\nkeystor = /k.json\n", 0600,
	    -EINVAL, 3, "unknown key 'keystor' in section [kms]");
	bad("bool.conf", KMS_FILE "\npassphrase_prompt = maybe\n", 0600,
	    -EINVAL, 5,
	    "bad value 'maybe' for passphrase_prompt (expected yes or no)");
	bad("dup.conf", KMS_FILE "key_name = a\nkeystore = /j.json\n", 0600,
	    -EINVAL, 5, "duplicate key 'keystore' in section [kms]");
	bad("dup2.conf", KMS_FILE "[kms]\nprovider = file\n", 0600, -EINVAL, 5,
	    "duplicate key 'provider'");
	bad("noprov.conf", "[kms]\nkeystore = /k.json\n", 0600, -EINVAL, 0,
	    "missing [kms] provider");
	bad("empty.conf", "", 0600, -EINVAL, 0, "missing [kms] provider");
	bad("prov.conf", "[kms]\nkeystore = /k.json\n# x\nprovider = ldap\n",
	    0600, -EINVAL, 4,
	    "unknown provider 'ldap' (expected file, azure, vault or barbican)");
	bad("nokeystore.conf", "[kms]\nprovider = file\n", 0600, -EINVAL, 0,
	    "missing [kms] keystore");
	bad("relative.conf",
	    "[kms]\nkeystore = keystore.json\nprovider = file\n", 0600, -EINVAL,
	    2,
	    "bad value 'keystore.json' for keystore (expected an absolute path)");
	bad("relpass.conf", KMS_FILE "passphrase_file = pass\n", 0600, -EINVAL,
	    4, "bad value 'pass' for passphrase_file");
	bad("keyname.conf", KMS_FILE "key_name = my key\n", 0600, -EINVAL, 4,
	    "bad value 'my key' for key_name");
	bad("keyname2.conf", KMS_FILE "key_name = a/b\n", 0600, -EINVAL, 4,
	    "bad value 'a/b' for key_name");
	bad("keyname3.conf", KMS_FILE "key_name =\n", 0600, -EINVAL, 4,
	    "bad value '' for key_name");
	bad("keyname4.conf", KMS_FILE "key_name = ..\n", 0600, -EINVAL, 4,
	    "bad value '..' for key_name");
	bad("both.conf",
	    "[kms]\npassphrase_prompt = yes\n" KMS_FILE
	    "passphrase_file = /p\n",
	    0600, -EINVAL, 6, "passphrase_file and passphrase_prompt");
	bad("syntax.conf", KMS_FILE "just words\n", 0600, -EINVAL, 4,
	    "syntax error");
	bad("syntax2.conf", "[kms\nprovider = file\n", 0600, -EINVAL, 1,
	    "syntax error");
	/* The first error wins, whoever finds it. */
	bad("first.conf", "[kms]\ngarbage\nprovider = file\nbogus = 1\n", 0600,
	    -EINVAL, 2, "syntax error");
	bad("first2.conf", "[kms]\nbogus = 1\ngarbage\n", 0600, -EINVAL, 2,
	    "unknown key 'bogus'");

	/* 200 characters: inih would have split it in two. */
	snprintf(text, sizeof(text), "%s#%0199d\n", KMS_FILE, 0);
	bad("long.conf", text, 0600, -EINVAL, 4, "line too long");
	snprintf(text, sizeof(text), "%skeystore = /%0188d\n",
		 "[kms]\nprovider = file\n", 0);
	bad("long2.conf", text, 0600, -EINVAL, 3, "line too long");
}

static void bad_file(void)
{
	char path[PATH_MAX], where[PATH_MAX + 64];
	struct cmk_err err;
	struct cmk_conf conf;
	FILE *f;

	bad("perm.conf", KMS_FILE, 0644, -EACCES, 0,
	    "readable by others (mode 0644) while it names a secret "
	    "(keystore); chmod o-rw ");
	bad("perm2.conf", KMS_FILE, 0602, -EACCES, 0,
	    "writable by others (mode 0602)");
	bad("perm3.conf", KMS_FILE "passphrase_file = /p\n", 0604, -EACCES, 0,
	    "(keystore, passphrase_file)");

	/* A NUL byte would cut the line short in inih. */
	snprintf(path, sizeof(path), "%s/nul2.conf", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		CHECK(fwrite(KMS_FILE "key_name = a\0b\n", 1,
			     sizeof(KMS_FILE "key_name = a\0b\n") - 1, f) > 0);
		CHECK(fclose(f) == 0);
	}
	CHECK(chmod(path, 0600) == 0);
	CHECK_EQ_INT(cmk_conf_load(path, &conf, &err), -EINVAL);
	snprintf(where, sizeof(where), "%s:4: NUL byte", path);
	CHECK_STR_CONTAINS(err.msg, where);

	snprintf(path, sizeof(path), "%s/nope.conf", dir);
	CHECK_EQ_INT(cmk_conf_load(path, &conf, &err), -ENOENT);
	CHECK_EQ_INT(err.code, -ENOENT);
	snprintf(where, sizeof(where),
		 "%s: cannot open: No such file or directory", path);
	CHECK(strcmp(err.msg, where) == 0);
	CHECK(strcmp(conf.path, path) == 0);

	CHECK_EQ_INT(cmk_conf_load(dir, &conf, &err), -EINVAL);
	snprintf(where, sizeof(where), "%s: not a regular file", dir);
	CHECK_STR_CONTAINS(err.msg, where);
}

static void secret(const char *name, mode_t mode, int want, const char *what)
{
	char path[PATH_MAX];
	int before = check_failures;
	struct cmk_err err = { 0 };

	write_file(path, name, "secret\n", mode);
	CHECK_EQ_INT(cmk_conf_check_secret_file(path, "keystore", &err), want);
	CHECK_EQ_INT(err.code, want);
	if (want) {
		CHECK(strncmp(err.msg, path, strlen(path)) == 0);
		CHECK_STR_CONTAINS(err.msg, what);
	}
	if (check_failures != before)
		fprintf(stderr, "  in case %s: \"%s\"\n", name, err.msg);
}

static void secret_files(void)
{
	char path[PATH_MAX], target[PATH_MAX], want[2 * PATH_MAX + 128];
	struct cmk_err err = { 0 };

	secret("s600", 0600, 0, NULL);
	secret("s400", 0400, 0, NULL);
	secret("s640", 0640, -EACCES,
	       "keystore is readable by others "
	       "(mode 0640); chmod 600 ");
	secret("s604", 0604, -EACCES, "readable by others (mode 0604)");
	secret("s620", 0620, -EACCES, "writable by others (mode 0620)");

	snprintf(path, sizeof(path), "%s/s640", dir);
	snprintf(want, sizeof(want),
		 "%s: keystore is readable by others (mode 0640); chmod 600 %s",
		 path, path);
	CHECK_EQ_INT(cmk_conf_check_secret_file(path, "keystore", &err),
		     -EACCES);
	CHECK(strcmp(err.msg, want) == 0);

	snprintf(path, sizeof(path), "%s/sdir", dir);
	CHECK(mkdir(path, 0700) == 0);
	CHECK_EQ_INT(cmk_conf_check_secret_file(path, "keystore", &err),
		     -EACCES);
	CHECK_STR_CONTAINS(err.msg, "not a regular file");

	snprintf(target, sizeof(target), "%s/s600", dir);
	snprintf(path, sizeof(path), "%s/slink", dir);
	CHECK(symlink(target, path) == 0);
	CHECK_EQ_INT(cmk_conf_check_secret_file(path, "keystore", &err),
		     -EACCES);
	CHECK_STR_CONTAINS(err.msg, path);
	CHECK_STR_CONTAINS(err.msg, "symbolic link");

	snprintf(path, sizeof(path), "%s/snope", dir);
	snprintf(want, sizeof(want), "%s: keystore: No such file or directory",
		 path);
	CHECK_EQ_INT(cmk_conf_check_secret_file(path, "keystore", &err),
		     -ENOENT);
	CHECK(strcmp(err.msg, want) == 0);
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	good_minimal();
	good_full();
	good_example();
	bad_content();
	bad_file();
	secret_files();
	CHECK(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
	return check_exit();
}
