/* SPDX-License-Identifier: MIT */
/* Azure Key Vault (kms/azure.c) on fuzzed answers (fuzz_kms.h): tokens
 * from the managed identity endpoint and the identity platform, secrets,
 * pages of versions with their nextLink, error bodies. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_kms.h"

static struct cmk_conf confs[FUZZ_KMS_CONFS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const secrets[] = {
		"client.secret=fuzz-client-secret-value", NULL
	};
	static const char *const texts[] = {
		"[kms]\nprovider = azure\n"
		"vault_url = https://fuzz.vault.azure.net\nsecret = cmk\n"
		"auth = managed-identity\n",
		"[kms]\nprovider = azure\n"
		"vault_url = https://fuzz.vault.azure.net\nsecret = cmk\n"
		"auth = client-secret\n"
		"tenant = 11111111-2222-3333-4444-555555555555\n"
		"client_id = fuzz-app\nclient_secret_file = @DIR@/client.secret\n",
		NULL
	};

	(void)argc;
	(void)argv;
	fuzz_kms_init(secrets, texts, confs);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_kms_run(&cmk_azure_provider, confs,
		     "0123456789abcdef0123456789abcdef", data, size, NULL);
	return 0;
}
