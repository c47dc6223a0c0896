/* SPDX-License-Identifier: MIT */
/* Exit codes of the cmkfs command (documented in README.md and cmkfs(8)),
 * and the one place that maps a -errno to them. */
#ifndef CMKFS_FS_CLI_H
#define CMKFS_FS_CLI_H

#include "common/err.h"

enum cmk_exit {
	CMK_EXIT_OK = 0,
	CMK_EXIT_FAILURE = 1, /* anything not listed below */
	CMK_EXIT_USAGE = 2,   /* bad command line */
	CMK_EXIT_CONFIG = 3,  /* configuration file missing, unsafe or bad */
	CMK_EXIT_KMS = 4, /* key service unreachable, key refused, disabled or
			     missing */
	CMK_EXIT_WRONG_KEY = 5, /* the volume or keystore belongs to another key
				   or passphrase */
	CMK_EXIT_VOLUME = 6, /* cipher directory or backing file: I/O error, not
				a volume, damaged */
	CMK_EXIT_MOUNTPOINT = 7, /* not a directory, not empty, mounted already
				  */
};

/* cmkfs fsck follows e2fsck(8). */
enum cmk_fsck_exit {
	CMK_FSCK_CLEAN = 0,
	CMK_FSCK_FIXED = 1,
	CMK_FSCK_UNCORRECTED = 4,
	CMK_FSCK_OPERATIONAL = 8,
	CMK_FSCK_USAGE = 16,
};

/* The exit code of an error: by its category (struct cmk_err), else by
 * its errno (ret). The one place that maps errors to exit codes. */
int cmk_exit_code(const struct cmk_err *err, int ret);
/* fsck's: an operational error (8), or the volume's damage (4). */
int cmk_fsck_exit_code(const struct cmk_err *err, int ret);

/* Prints err's message ("cmkfs: ..." or, with who, "cmkfs WHO: ..."),
 * control bytes escaped, and returns cmk_exit_code(err, ret). */
int cmk_fail(const char *who, const struct cmk_err *err, int ret);

/* By errno only (errors that carry no category). */
int cmk_exit_for(int err);
#endif
