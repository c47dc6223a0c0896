/* The admin commands over a whole volume (fs/admin.c). Each returns an
 * exit code; exit_for maps a -errno to one. */
#ifndef CMKFS_FS_ADMIN_H
#define CMKFS_FS_ADMIN_H

#include <stdbool.h>

#include "conf/conf.h"

/* `cmkfs rewrap`: every file's DEK re-wrapped under the newest enabled
 * CMK version, then one sync, then the descriptor sealed anew. */
int cmk_cmd_rewrap(const struct cmk_conf *conf, const char *cipherdir,
		   unsigned int jobs, int (*exit_for)(int));

/* `cmkfs status`: the key's versions and how many files each wraps. */
int cmk_cmd_status(const struct cmk_conf *conf, const char *cipherdir,
		   unsigned int jobs, bool json, int (*exit_for)(int));

#endif
