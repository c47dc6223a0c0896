/* SPDX-License-Identifier: MIT */
/* HashiCorp Vault / OpenBao (kms/vault.c) on fuzzed answers
 * (fuzz_kms.h): AppRole logins, KV version 2 secrets and metadata, 404s
 * with a version's metadata, error bodies. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_kms.h"

static struct cmk_conf confs[FUZZ_KMS_CONFS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const secrets[] = { "vault.token=hvs.fuzztoken",
					       "vault.secret-id=fuzz-secret-id",
					       NULL };
	static const char *const texts[] = {
		"[kms]\nprovider = vault\nurl = https://vault.example:8200\n"
		"path = cmkfs/cmk\nauth = token\n"
		"token_file = @DIR@/vault.token\n",
		"[kms]\nprovider = vault\nurl = https://vault.example:8200\n"
		"path = cmkfs/cmk\nauth = approle\nrole_id = fuzz-role\n"
		"secret_id_file = @DIR@/vault.secret-id\nnamespace = team1\n",
		NULL
	};

	(void)argc;
	(void)argv;
	fuzz_kms_init(secrets, texts, confs);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_kms_run(&cmk_vault_provider, confs, "3", data, size, NULL);
	return 0;
}
