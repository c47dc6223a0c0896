/* SPDX-License-Identifier: MIT */
#include "fs/cli.h"

#include <errno.h>

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

int cmk_exit_for_volume(int err)
{
	return err == -ENOENT ? CMK_EXIT_VOLUME : cmk_exit_for(err);
}

int cmk_exit_for_kms(int err)
{
	int code = cmk_exit_for(err);

	if (err == -EEXIST || err == -ENOENT || code == CMK_EXIT_FAILURE)
		return CMK_EXIT_KMS;
	return code;
}
