/* SPDX-License-Identifier: MIT */
/* The configuration file (conf/conf.c on inih): the whole of
 * cmk_conf_load(), from a file holding the input, through the line reader,
 * inih, the key tables, every value parser and each provider's checks. */
#include "tests/fuzz/fuzz.h"

#include <limits.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cmk_conf conf; /* large: not on the stack */
	char path[PATH_MAX];
	struct cmk_err err;
	int ret;

	if (size > 64 * 1024)
		return 0;
	if (fuzz_write_file("cmkfs.conf", data, size, path, sizeof(path)))
		abort();
	memset(&err, 0, sizeof(err));
	ret = cmk_conf_load(path, &conf, &err);
	if (ret) {
		FUZZ_CHECK(ret < 0 && err.code == ret && err.msg[0]);
		return 0;
	}
	/* What loads names a provider and the key's name. */
	FUZZ_CHECK(conf.provider != CMK_PROVIDER_NONE);
	FUZZ_CHECK(conf.recheck_interval <= CMK_CONF_RECHECK_MAX);
	switch (conf.provider) {
	case CMK_PROVIDER_FILE:
		FUZZ_CHECK(conf.file.keystore[0] && conf.file.key_name[0]);
		break;
	case CMK_PROVIDER_AZURE:
		FUZZ_CHECK(conf.azure.key_name[0]);
		break;
	case CMK_PROVIDER_VAULT:
		FUZZ_CHECK(conf.vault.key_name[0]);
		break;
	case CMK_PROVIDER_BARBICAN:
		FUZZ_CHECK(conf.barbican.key_name[0]);
		break;
	default:
		FUZZ_CHECK(!"unknown provider");
	}
	return 0;
}
