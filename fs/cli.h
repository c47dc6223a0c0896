/* Exit codes of the cmkfs command (documented in README.md). */
#ifndef CMKFS_FS_CLI_H
#define CMKFS_FS_CLI_H

enum cmk_exit {
	CMK_EXIT_OK = 0,
	CMK_EXIT_FAILURE = 1, /* anything not listed below */
	CMK_EXIT_USAGE = 2,   /* bad command line */
	CMK_EXIT_CONFIG = 3,  /* configuration file missing, unsafe or bad */
	CMK_EXIT_KMS = 4,     /* key service unreachable, key refused, disabled or missing */
	CMK_EXIT_WRONG_KEY = 5, /* the volume or keystore belongs to another key or passphrase */
	CMK_EXIT_VOLUME = 6,  /* cipher directory or backing file: I/O error, not a volume, damaged */
};

#endif
