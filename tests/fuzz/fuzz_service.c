/* SPDX-License-Identifier: MIT */
/* What the HTTPS providers share for reading answers (kms/service.c) and
 * their pure protocol helpers: JSON bodies, RFC 3339 times, base64 key
 * values, Vault's error lists, Azure's seconds and secret ids, Barbican's
 * secret refs and status, tokens' characters. The first byte picks the
 * function; the rest is its input (NUL-terminated where the code takes a
 * string, as jansson gives them). */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "kms/azure.h"
#include "kms/barbican.h"
#include "kms/http.h"
#include "kms/kms.h"
#include "kms/service.h"
#include "kms/vault.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_crypto_init();
	cmk_kms_global_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, out[CMK_ERR_MSG_MAX], id[CMK_KMS_VERSION_MAX + 1];
	struct cmk_http_resp resp = { 0 };
	struct cmk_err err;
	int64_t t;
	size_t len;
	uint8_t *cmk;
	json_t *root;
	int ret;

	if (size < 1 || size > 128 * 1024)
		return 0;
	len = size - 1;
	s = cmk_locked_malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, data + 1, len);
	s[len] = '\0';
	switch (data[0] % 8) {
	case 0:
		resp.body = s;
		resp.len = len;
		root = cmk_svc_json(&resp);
		FUZZ_CHECK(!root || json_is_object(root));
		json_decref(root);
		break;
	case 1:
		if (cmk_svc_parse_time(s, &t)) {
			/* Years 0000-9999 with a zone of at most a day. */
			FUZZ_CHECK(t >= -62167219200 - 86400 &&
				   t <= 253402300800 + 86400);
		}
		cmk_vault_version_usable(s, data[0] & 8, 1700000000);
		cmk_barbican_usable((data[0] & 8) ? "ACTIVE" : NULL, s,
				    1700000000);
		break;
	case 2:
		cmk = cmk_secure_alloc(CMK_KEY_LEN);
		if (!cmk)
			abort();
		ret = cmk_svc_base64_key(s, len, cmk, "fuzz", &err);
		FUZZ_CHECK(ret == 0 || (ret == -EINVAL && err.msg[0]));
		cmk_secure_free(cmk, CMK_KEY_LEN);
		break;
	case 3:
		cmk_vault_errors_text(s, len, CMK_KMS_MSG_MAX, out,
				      sizeof(out));
		FUZZ_CHECK(strlen(out) < sizeof(out));
		cmk_vault_errors_text(s, len, 5, out, 12);
		FUZZ_CHECK(strlen(out) < 12);
		break;
	case 4:
		if (cmk_azure_parse_seconds(s, &t))
			FUZZ_CHECK(t >= 0);
		if (cmk_azure_version_from_id(s, "cmk", id) == 0)
			FUZZ_CHECK(cmk_kms_version_valid(id));
		break;
	case 5:
		if (cmk_barbican_uuid_from_ref(s, id) == 0)
			FUZZ_CHECK(cmk_kms_version_valid(id));
		break;
	case 6:
		cmk_svc_token_chars_ok(s, len);
		cmk_http_printable(s, len, CMK_KMS_MSG_MAX, out, sizeof(out));
		FUZZ_CHECK(strlen(out) < sizeof(out));
		cmk_http_printable(s, len, 100, out, 4);
		FUZZ_CHECK(strlen(out) < 4);
		break;
	case 7:
		cmk_http_url_for_msg(s, out, 40);
		FUZZ_CHECK(strlen(out) < 40);
		if (cmk_http_escape(s, len, out, sizeof(out)) == 0)
			FUZZ_CHECK(strlen(out) >= len);
		break;
	}
	cmk_locked_free(s);
	return 0;
}
