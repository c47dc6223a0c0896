/* cmkfs configuration: an INI file read with inih.
 *
 * Sections and keys are documented in conf/cmkfs.conf.example. An unknown
 * section or key, a bad value, a line too long, or a file that others can
 * read or write while it holds or names a secret, is an error that names the
 * file and the line. */
#ifndef CMKFS_CONF_CONF_H
#define CMKFS_CONF_CONF_H

#include <limits.h>
#include <stdbool.h>

#include "common/err.h"

#define CMK_CONF_DEFAULT_PATH "/etc/cmkfs/cmkfs.conf"
#define CMK_KEY_NAME_MAX 255

enum cmk_provider {
	CMK_PROVIDER_NONE = 0,
	CMK_PROVIDER_FILE, /* local keystore, the built-in default */
};

struct cmk_conf_file {
	char keystore[PATH_MAX];	 /* required */
	char key_name[CMK_KEY_NAME_MAX + 1]; /* default "cmk" */
	char passphrase_file[PATH_MAX];	 /* "" when unset */
	bool passphrase_prompt;		 /* ask on the terminal */
};

struct cmk_conf {
	char path[PATH_MAX]; /* the file this was read from */
	enum cmk_provider provider;
	struct cmk_conf_file file;
};

/* Reads and checks path. On error returns -errno (-ENOENT, -EACCES for a
 * file with unsafe permissions, -EINVAL for bad content) with a message of
 * the form "PATH:LINE: what is wrong". */
int cmk_conf_load(const char *path, struct cmk_conf *conf,
		  struct cmk_err *err);

/* Checks that a file holding a secret (keystore, passphrase file) is a
 * regular file that nobody but its owner can read or write. */
int cmk_conf_check_secret_file(const char *path, const char *what,
			       struct cmk_err *err);

#endif
