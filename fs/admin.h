/* SPDX-License-Identifier: MIT */
/* The admin commands over a whole volume (fs/admin.c, fs/fsck.c). Each
 * returns an exit code (fs/cli.h). */
#ifndef CMKFS_FS_ADMIN_H
#define CMKFS_FS_ADMIN_H

#include <stdbool.h>

#include "conf/conf.h"

/* `cmkfs rewrap`: every file's DEK re-wrapped under the newest enabled
 * CMK version, then one sync, then the descriptor sealed anew. On an
 * envelope volume the key service re-wraps the volume key instead, and
 * with volume_key a new volume key replaces it in every header. */
int cmk_cmd_rewrap(const struct cmk_conf *conf, const char *cipherdir,
		   unsigned int jobs, bool progress_json, bool volume_key);

/* `cmkfs status`: the key's versions and how many files each wraps. */
int cmk_cmd_status(const struct cmk_conf *conf, const char *cipherdir,
		   unsigned int jobs, bool json);

/* `cmkfs fsck [--repair]`: exit codes as e2fsck's (enum cmk_fsck_exit). */
int cmk_cmd_fsck(const struct cmk_conf *conf, const char *cipherdir,
		 unsigned int jobs, bool repair);

struct cmk_volume;
/* The lock rewrap and fsck --repair hold: 0 and *fd_out (close it to
 * release), -EWOULDBLOCK when another command holds it, else -errno. */
int cmk_admin_lock(struct cmk_volume *vol, int *fd_out);

#endif
