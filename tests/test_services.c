/* SPDX-License-Identifier: MIT */
/* The Vault and Barbican providers without a network: their [kms] keys
 * (defaults, what each auth needs, key names, permissions, the example
 * config), and the pure parts of their protocols and of what the HTTPS
 * providers share (times, tokens, base64 keys, error texts). */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "kms/barbican.h"
#include "kms/kms.h"
#include "kms/service.h"
#include "kms/vault.h"

static char dir[] = "/tmp/test_services.XXXXXX";

static int load(const char *text, mode_t mode, struct cmk_conf *conf,
		struct cmk_err *err)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.conf", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return -EIO;
	fputs(text, f);
	fclose(f);
	CHECK(chmod(path, mode) == 0);
	cmk_err_clear(err);
	return cmk_conf_load(path, conf, err);
}

static void bad(const char *text, const char *what)
{
	int before = check_failures;
	struct cmk_conf c;
	struct cmk_err err;

	CHECK_EQ_INT(load(text, 0600, &c, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, what);
	if (check_failures != before)
		fprintf(stderr, "  in case:\n%s\n", text);
}

#define VT                                                             \
	"[kms]\nprovider = vault\nurl = https://Vault.Example:8200/\n" \
	"path = cmkfs/cmk\n"
#define VT_TOKEN VT "auth = token\ntoken_file = /etc/cmkfs/vault.token\n"
#define VT_ROLE                                    \
	VT "auth = approle\nrole_id = 1111-2222\n" \
	   "secret_id_file = /etc/cmkfs/vault.secret-id\n"

static void vault_conf(void)
{
	struct cmk_conf c;
	struct cmk_err err;

	CHECK_EQ_INT(load(VT_TOKEN, 0600, &c, &err), 0);
	CHECK_EQ_INT(c.provider, CMK_PROVIDER_VAULT);
	CHECK_EQ_INT(c.vault.auth, CMK_VAULT_AUTH_TOKEN);
	CHECK(strcmp(c.vault.url, "https://vault.example:8200") == 0);
	CHECK(strcmp(c.vault.kv_mount, "secret") == 0);
	CHECK(strcmp(c.vault.field, "key") == 0);
	CHECK(c.vault.auth_mount[0] == 0); /* token auth logs in nowhere */
	CHECK_EQ_INT(c.vault.https.timeout, 10);
	CHECK_EQ_INT(c.vault.https.retries, 3);
	CHECK(strcmp(c.vault.key_name,
		     "https://vault.example:8200/v1/secret/data/cmkfs/cmk#key") ==
	      0);
	CHECK_EQ_INT(load(VT_ROLE "namespace = team1/sub\nkv_mount = kv/apps\n"
				  "field = cmk.v1\nauth_mount = ar\n",
			  0600, &c, &err),
		     0);
	CHECK_EQ_INT(c.vault.auth, CMK_VAULT_AUTH_APPROLE);
	CHECK(strcmp(c.vault.role_id, "1111-2222") == 0);
	CHECK(strcmp(c.vault.key_name,
		     "https://vault.example:8200/v1/team1/sub/kv/apps/data/"
		     "cmkfs/cmk#cmk.v1") == 0);

	bad(VT "auth = token\n", "missing [kms] token_file (auth = token");
	bad(VT "auth = approle\nrole_id = r\n",
	    "missing [kms] secret_id_file (auth = approle");
	bad(VT_TOKEN "role_id = r\n", "role_id does not apply to auth = token");
	bad(VT_TOKEN "auth_mount = x\n",
	    "auth_mount does not apply to auth = token");
	bad(VT_ROLE "token_file = /t\n",
	    "token_file does not apply to auth = approle");
	bad(VT_TOKEN "kv_mount = a//b\n", "bad value 'a//b' for kv_mount");
	bad(VT_TOKEN "kv_mount = a/../b\n", "bad value 'a/../b' for kv_mount");
	bad(VT_TOKEN "namespace = /ns\n", "bad value '/ns' for namespace");
	bad("[kms]\nprovider = vault\nurl = https://v\nauth = token\n"
	    "token_file = /t\npath = a?b\n",
	    "bad value 'a?b' for path");
	bad("[kms]\nprovider = vault\nurl = https://v\nauth = token\n"
	    "token_file = /t\npath = x/.\n",
	    "bad value 'x/.' for path");
	bad(VT_TOKEN "field = a b\n", "bad value 'a b' for field");
	bad("[kms]\nprovider = vault\nurl = http://v\npath = p\nauth = token\n"
	    "token_file = /t\n",
	    "bad value 'http://v' for url");
	bad("[kms]\nprovider = vault\nurl = https://v/x\npath = p\n"
	    "auth = token\ntoken_file = /t\n",
	    "bad value 'https://v/x' for url");
	bad(VT "auth = kerberos\n", "expected token, approle or kubernetes");
	bad("[kms]\nprovider = vault\nurl = https://v\nauth = token\n"
	    "token_file = /t\n",
	    "missing [kms] path or transit_key");
	bad(VT_TOKEN "secret = x\n",
	    "key 'secret' in section [kms] does not apply to provider vault");
	/* The token file is a secret: the config may not be world-readable. */
	CHECK_EQ_INT(load(VT_TOKEN, 0644, &c, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "token_file");
	CHECK_EQ_INT(load(VT_ROLE, 0604, &c, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "secret_id_file");
}

#define BB                                                             \
	"[kms]\nprovider = barbican\nurl = https://kms.example:9311\n" \
	"secret_name = cmkfs-cmk\nproject_id = p0123\n"
#define BB_KS                                                         \
	BB "auth = keystone\nauth_url = https://ks.example:5000/v3\n" \
	   "application_credential_id = ac1\n"                        \
	   "application_credential_secret_file = /etc/cmkfs/ac.secret\n"

static void barbican_conf(void)
{
	struct cmk_conf c;
	struct cmk_err err;

	CHECK_EQ_INT(load(BB "auth = none\n", 0644, &c, &err), 0);
	CHECK_EQ_INT(c.provider, CMK_PROVIDER_BARBICAN);
	CHECK_EQ_INT(c.barbican.auth, CMK_BARBICAN_AUTH_UNAUTHENTICATED);
	CHECK(strcmp(c.barbican.key_name,
		     "https://kms.example:9311/v1/secrets?project=p0123&"
		     "name=cmkfs-cmk") == 0);
	CHECK_EQ_INT(load(BB_KS, 0600, &c, &err), 0);
	CHECK_EQ_INT(c.barbican.auth, CMK_BARBICAN_AUTH_KEYSTONE);
	CHECK(strcmp(c.barbican.auth_url, "https://ks.example:5000/v3") == 0);
	CHECK(strcmp(c.barbican.app_cred_id, "ac1") == 0);
	/* A path in the endpoint (behind a shared gateway). */
	CHECK_EQ_INT(load("[kms]\nprovider = barbican\n"
			  "url = https://cloud.example/key-manager/\n"
			  "secret_name = s\nproject_id = p\nauth = none\n",
			  0600, &c, &err),
		     0);
	CHECK(strcmp(c.barbican.url, "https://cloud.example/key-manager") == 0);

	bad(BB "auth = keystone\n",
	    "missing [kms] auth_url (auth = keystone needs it)");
	bad(BB "auth = none\nauth_url = https://k\n",
	    "auth_url does not apply to auth = none");
	bad(BB "auth = password\n", "expected keystone or none");
	bad("[kms]\nprovider = barbican\nurl = https://k\nproject_id = p\n"
	    "auth = none\nsecret_name = a b\n",
	    "bad value 'a b' for secret_name");
	bad("[kms]\nprovider = barbican\nurl = https://k\nsecret_name = s\n"
	    "auth = none\n",
	    "missing [kms] project_id");
	CHECK_EQ_INT(load(BB_KS, 0644, &c, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "application_credential_secret_file");
}

/* The vault and barbican parts of conf/cmkfs.conf.example, uncommented,
 * must load; for each auth, the keys of the other auth are left out. */
static void example(const char *provider, const char *auth,
		    const char *const *skip)
{
	const char *src = getenv("CMKFS_SOURCE_DIR");
	char path[PATH_MAX], line[256], text[4096], key[64], marker[64];
	struct cmk_conf c;
	struct cmk_err err;
	bool in = false, seen = false;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/conf/cmkfs.conf.example",
		 src ? src : ".");
	f = fopen(path, "r");
	if (!f) {
		CHECK(!src);
		return;
	}
	snprintf(marker, sizeof(marker), "--- provider = %s ", provider);
	len = (size_t)snprintf(text, sizeof(text),
			       "[kms]\nprovider = %s\nauth = %s\n", provider,
			       auth);
	while (fgets(line, sizeof(line), f)) {
		bool skipped = false;

		if (strstr(line, "--- provider = ")) {
			in = strstr(line, marker) != NULL;
			seen |= in;
		}
		/* "# key = value" lines only, not indented text. */
		if (!in || line[1] != ' ' || line[2] == ' ' ||
		    sscanf(line, "# %63[a-z_] = ", key) != 1 ||
		    !strstr(line, " = ") || strcmp(key, "provider") == 0 ||
		    strcmp(key, "auth") == 0)
			continue;
		for (const char *const *s = skip; *s; s++)
			skipped |= strcmp(key, *s) == 0;
		if (!skipped)
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"%s", line + 2);
		CHECK(len < sizeof(text));
	}
	fclose(f);
	CHECK(seen);
	CHECK_EQ_INT(load(text, 0600, &c, &err), 0);
	if (err.code)
		fprintf(stderr, "  example %s/%s: %s\n", provider, auth,
			err.msg);
}

static void examples(void)
{
	example("vault", "approle",
		(const char *const[]){ "token_file", NULL });
	example("vault", "token",
		(const char *const[]){ "role_id", "secret_id_file",
				       "auth_mount", NULL });
	example("barbican", "keystone", (const char *const[]){ NULL });
	example("barbican", "none",
		(const char *const[]){ "auth_url", "application_credential_id",
				       "application_credential_secret_file",
				       NULL });
}

static void times(void)
{
	int64_t t;

	CHECK(cmk_svc_parse_time("1970-01-01T00:00:00Z", &t));
	CHECK_EQ_INT(t, 0);
	CHECK(cmk_svc_parse_time("2018-03-22T02:24:06.945319214Z", &t));
	CHECK_EQ_INT(t, 1521685446);
	CHECK(cmk_svc_parse_time("2015-11-09T01:42:57.527363", &t));
	CHECK_EQ_INT(t, 1447033377);
	CHECK(cmk_svc_parse_time("2018-03-22T04:24:06+02:00", &t));
	CHECK_EQ_INT(t, 1521685446);
	CHECK(cmk_svc_parse_time("2018-03-21T21:24:06-05:00", &t));
	CHECK_EQ_INT(t, 1521685446);
	CHECK(!cmk_svc_parse_time("", &t));
	CHECK(!cmk_svc_parse_time("2018-03-22", &t));
	CHECK(!cmk_svc_parse_time("2018-13-22T02:24:06Z", &t));
	CHECK(!cmk_svc_parse_time("2018-02-30T02:24:06Z", &t));
	CHECK(!cmk_svc_parse_time("2018-03-22T02:24:06.Z", &t));
	CHECK(!cmk_svc_parse_time("2018-03-22T02:24:06Zjunk", &t));
	CHECK(!cmk_svc_parse_time("2018-03-22T02:24:06+0200", &t));
}

static void tokens(void)
{
	CHECK(cmk_svc_token_chars_ok("hvs.CAESIJ-abc_123", 17));
	CHECK(!cmk_svc_token_chars_ok("", 0));
	CHECK(!cmk_svc_token_chars_ok("a b", 3));
	CHECK(!cmk_svc_token_chars_ok("a\"b", 3));
	CHECK(!cmk_svc_token_chars_ok("a\\b", 3));
	CHECK(!cmk_svc_token_chars_ok("a\nb", 3));
	CHECK(!cmk_svc_token_chars_ok("a\x80", 2));
	CHECK(cmk_svc_token_fresh(0, 0, 3599000));
	CHECK(!cmk_svc_token_fresh(3299000, 0, 3599000));
	CHECK(cmk_svc_token_fresh(1000, 0, INT64_MAX));
}

static void base64_keys(void)
{
	uint8_t *cmk = cmk_secure_alloc(CMK_KEY_LEN);
	struct cmk_err err;
	/* 32 bytes 0x00..0x1f */
	const char *good = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	char big[400];

	CHECK(cmk != NULL);
	if (!cmk)
		return;
	CHECK_EQ_INT(cmk_svc_base64_key(good, strlen(good), cmk, "v", &err), 0);
	CHECK_EQ_INT(cmk[31], 31);
	cmk_err_clear(&err);
	CHECK_EQ_INT(cmk_svc_base64_key("AAEC", 4, cmk, "v1", &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "v1: the secret's value must be the base64 "
				    "of a 32-byte key (it is 3 bytes)");
	CHECK_EQ_INT(cmk[0], 0);
	CHECK_EQ_INT(cmk_svc_base64_key("!!!!", 4, cmk, "v", &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "(it is not base64)");
	memset(big, 'A', sizeof(big));
	CHECK_EQ_INT(cmk_svc_base64_key(big, sizeof(big), cmk, "v", &err),
		     -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "(it is 400 characters long)");
	CHECK_EQ_INT(cmk_svc_base64_key(good, strlen(good) - 1, cmk, "v", &err),
		     -EINVAL);
	cmk_secure_free(cmk, CMK_KEY_LEN);
}

static void vault_pure(void)
{
	char id[CMK_KMS_VERSION_MAX + 1], text[400];
	const char *body;

	CHECK_EQ_INT(cmk_vault_version_usable("", false, 100), 1);
	CHECK_EQ_INT(cmk_vault_version_usable(NULL, false, 100), 1);
	CHECK_EQ_INT(cmk_vault_version_usable("", true, 100), 0);
	/* Deleted in the past, or scheduled (delete_version_after) ahead. */
	CHECK_EQ_INT(cmk_vault_version_usable("1970-01-01T00:01:00Z", false,
					      100),
		     0);
	CHECK_EQ_INT(
		cmk_vault_version_usable("1970-01-01T00:01:00Z", false, 59), 1);
	CHECK_EQ_INT(cmk_vault_version_usable("yesterday", false, 100), -1);

	CHECK(cmk_vault_version_id(1, id, sizeof(id)) && strcmp(id, "1") == 0);
	CHECK(cmk_vault_version_id(123456, id, sizeof(id)) &&
	      strcmp(id, "123456") == 0);
	CHECK(!cmk_vault_version_id(0, id, sizeof(id)));
	CHECK(!cmk_vault_version_id(-3, id, sizeof(id)));
	CHECK(!cmk_vault_version_id(INT64_MAX, id, sizeof(id)));

	body = "{\"errors\":[\"permission denied\"]}";
	cmk_vault_errors_text(body, strlen(body), 100, text, sizeof(text));
	CHECK(strcmp(text, "permission denied") == 0);
	body = "{\"errors\":[\"1 error occurred:\\n\\t* bad\\n\\n\",\"b\","
	       "\"c\"]}";
	cmk_vault_errors_text(body, strlen(body), 100, text, sizeof(text));
	CHECK(strcmp(text, "1 error occurred: * bad; b") == 0);
	body = "{\"errors\":[]}";
	cmk_vault_errors_text(body, strlen(body), 100, text, sizeof(text));
	CHECK(strcmp(text, "") == 0);
	cmk_vault_errors_text("<html>", 6, 100, text, sizeof(text));
	CHECK(strcmp(text, "") == 0);
}

static void barbican_pure(void)
{
	char id[CMK_KMS_VERSION_MAX + 1], url[256];

	CHECK_EQ_INT(cmk_barbican_uuid_from_ref(
			     "https://b.example:9311/v1/secrets/"
			     "0f5e1a40-0a1c-4b8e-9d5b-2d1c7d1e0a11",
			     id),
		     0);
	CHECK(strcmp(id, "0f5e1a40-0a1c-4b8e-9d5b-2d1c7d1e0a11") == 0);
	CHECK_EQ_INT(cmk_barbican_uuid_from_ref("http://x/v1/secrets/abc/", id),
		     0);
	CHECK(strcmp(id, "abc") == 0);
	CHECK_EQ_INT(cmk_barbican_uuid_from_ref("http://x/v1/orders/abc", id),
		     -EINVAL);
	CHECK_EQ_INT(cmk_barbican_uuid_from_ref("http://x/v1/secrets/", id),
		     -EINVAL);
	CHECK_EQ_INT(cmk_barbican_uuid_from_ref("http://x/v1/secrets/a/payload",
						id),
		     -EINVAL);
	CHECK_EQ_INT(cmk_barbican_uuid_from_ref("http://x/v1/secrets/a b", id),
		     -EINVAL);

	CHECK_EQ_INT(cmk_barbican_usable("ACTIVE", NULL, 100), 1);
	CHECK_EQ_INT(cmk_barbican_usable(NULL, "", 100), 1);
	CHECK_EQ_INT(cmk_barbican_usable("ERROR", NULL, 100), 0);
	CHECK_EQ_INT(cmk_barbican_usable("ACTIVE", "1970-01-01T00:01:40", 100),
		     0);
	CHECK_EQ_INT(cmk_barbican_usable("ACTIVE", "1970-01-01T00:01:41", 100),
		     1);
	CHECK_EQ_INT(cmk_barbican_usable("ACTIVE", "soon", 100), -1);

	CHECK_EQ_INT(cmk_barbican_token_url("https://k:5000/v3", url,
					    sizeof(url)),
		     0);
	CHECK(strcmp(url, "https://k:5000/v3/auth/tokens") == 0);
	CHECK_EQ_INT(cmk_barbican_token_url("https://k/identity", url,
					    sizeof(url)),
		     0);
	CHECK(strcmp(url, "https://k/identity/v3/auth/tokens") == 0);
	CHECK_EQ_INT(cmk_barbican_token_url("https://k", url, 10),
		     -ENAMETOOLONG);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	struct cmk_err err;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	if (cmk_crypto_init(&err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	cmk_kms_global_init();
	vault_conf();
	barbican_conf();
	examples();
	times();
	tokens();
	base64_keys();
	vault_pure();
	barbican_pure();
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return check_exit();
}
