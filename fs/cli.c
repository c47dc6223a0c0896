/* SPDX-License-Identifier: MIT */
#include "fs/cli.h"

#include <errno.h>
#include <stdio.h>

int cmk_exit_for(int err)
{
	switch (err) {
	case 0:
		return CMK_EXIT_OK;
	case -EKEYREJECTED:
		return CMK_EXIT_WRONG_KEY;
	case -EACCES:
	case -ENOKEY:
	case -EKEYREVOKED:
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
	case -ENXIO:
	case -EPROTO: /* a malformed or hostile answer from the service */
	case -EINVAL: /* a key value that is not 32 bytes */
		return CMK_EXIT_KMS;
	case -EBADMSG:
	case -EIO:
	case -ENOTEMPTY:
	case -ENOTDIR:
	case -EPROTONOSUPPORT:
		return CMK_EXIT_VOLUME;
	default:
		return CMK_EXIT_FAILURE;
	}
}

int cmk_exit_code(const struct cmk_err *err, int ret)
{
	switch (err ? err->cat : CMK_CAT_NONE) {
	case CMK_CAT_USAGE:
		return CMK_EXIT_USAGE;
	case CMK_CAT_CONFIG:
		return CMK_EXIT_CONFIG;
	case CMK_CAT_KMS:
		return CMK_EXIT_KMS;
	case CMK_CAT_WRONG_KEY:
		return CMK_EXIT_WRONG_KEY;
	case CMK_CAT_VOLUME:
		return CMK_EXIT_VOLUME;
	case CMK_CAT_MOUNTPOINT:
		return CMK_EXIT_MOUNTPOINT;
	default:
		return cmk_exit_for(ret);
	}
}

int cmk_fsck_exit_code(const struct cmk_err *err, int ret)
{
	/* Damage fsck cannot get past (both descriptor copies) is the
	 * volume's; anything else stops fsck before it could check. */
	return err && err->cat == CMK_CAT_VOLUME && ret == -EBADMSG
		       ? CMK_FSCK_UNCORRECTED
		       : CMK_FSCK_OPERATIONAL;
}

int cmk_fail(const char *who, const struct cmk_err *err, int ret)
{
	char shown[CMK_ERR_MSG_MAX];

	cmk_printable(err && err->msg[0] ? err->msg : "failed", shown,
		      sizeof(shown));
	fprintf(stderr, "cmkfs%s%s: %s\n", who ? " " : "", who ? who : "",
		shown);
	return cmk_exit_code(err, ret);
}
