/* SPDX-License-Identifier: MIT */
/* OpenStack Barbican (kms/barbican.c) on fuzzed answers (fuzz_kms.h):
 * Keystone tokens, pages of secrets, a secret's metadata and payload,
 * error bodies. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_kms.h"

static struct cmk_conf confs[FUZZ_KMS_CONFS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const secrets[] = { "barbican.secret=fuzz-app-cred",
					       NULL };
	static const char *const texts[] = {
		"[kms]\nprovider = barbican\n"
		"url = https://barbican.example:9311\nsecret_name = cmk\n"
		"project_id = 0123456789abcdef0123456789abcdef\n"
		"auth = keystone\nauth_url = https://keystone.example:5000/v3\n"
		"application_credential_id = fuzzcred\n"
		"application_credential_secret_file = @DIR@/barbican.secret\n",
		"[kms]\nprovider = barbican\n"
		"url = https://barbican.example:9311\nsecret_name = cmk\n"
		"project_id = 0123456789abcdef0123456789abcdef\nauth = none\n",
		NULL
	};

	(void)argc;
	(void)argv;
	fuzz_kms_init(secrets, texts, confs);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_kms_run(&cmk_barbican_provider, confs,
		     "6f1a9b3c-2d4e-4f5a-8b7c-9d0e1f2a3b4c", data, size, NULL);
	return 0;
}
