/* SPDX-License-Identifier: MIT */
/* The local keystore (kms/keystore.c): a file holding the input read by
 * the provider as a mount does (open, list the versions, fetch the newest
 * enabled one and version "1", close), through its JSON parser and every
 * check of the document. The configuration names no passphrase, so a
 * sealed keystore is parsed whole and then refused before scrypt would
 * run (which would make each input take 50 ms). */
#include "tests/fuzz/fuzz.h"

#include <limits.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "kms/kms.h"
#include "kms/provider.h"

static struct cmk_conf conf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_crypto_init();
	cmk_kms_global_init();
	conf.provider = CMK_PROVIDER_FILE;
	strcpy(conf.path, "fuzz.conf");
	strcpy(conf.file.key_name, "cmk");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cmk_kms_provider *p = &cmk_keystore_provider;
	char version[CMK_KMS_VERSION_MAX + 1];
	struct cmk_kms_version *list = NULL;
	size_t count = 0;
	struct cmk_err err;
	uint8_t *cmk;
	void *state = NULL;
	int ret;

	if (size > 300 * 1024)
		return 0;
	if (fuzz_write_file("keystore.json", data, size, conf.file.keystore,
			    sizeof(conf.file.keystore)))
		abort();
	ret = p->open(&conf, &state, &err);
	if (ret) {
		FUZZ_CHECK(ret < 0 && err.msg[0]);
		return 0;
	}
	ret = p->list_versions(state, &list, &count, &err);
	if (ret == 0) {
		FUZZ_CHECK(count > 0);
		for (size_t i = 0; i < count; i++) {
			FUZZ_CHECK(cmk_kms_version_valid(list[i].id));
			/* Newest first, each once. */
			if (i)
				FUZZ_CHECK(strlen(list[i].id) <
						   strlen(list[i - 1].id) ||
					   (strlen(list[i].id) ==
						    strlen(list[i - 1].id) &&
					    strcmp(list[i].id, list[i - 1].id) <
						    0));
		}
		free(list);
	}
	cmk = cmk_secure_alloc(CMK_KEY_LEN);
	if (!cmk)
		abort();
	ret = p->fetch(state, NULL, cmk, version, &err);
	if (ret == 0)
		FUZZ_CHECK(cmk_kms_version_valid(version));
	p->fetch(state, "1", cmk, version, &err);
	cmk_secure_free(cmk, CMK_KEY_LEN);
	p->close(state);
	return 0;
}
