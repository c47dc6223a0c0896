/* SPDX-License-Identifier: MIT */
/* Exit codes of the cmkfs command (documented in README.md and cmkfs(8)),
 * and the one place that maps a -errno to them. */
#ifndef CMKFS_FS_CLI_H
#define CMKFS_FS_CLI_H

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

/* An error of the key service or the volume layer. */
int cmk_exit_for(int err);
/* The same for commands on a whole volume, where a missing file is the
 * volume's descriptor (not a volume). */
int cmk_exit_for_volume(int err);
/* The same for `cmkfs key`: what is not the volume's is the key
 * service's. */
int cmk_exit_for_kms(int err);

#endif
