/* SPDX-License-Identifier: MIT */
/* The Azure Key Vault provider without a network: its [kms] keys (defaults,
 * URL checks and normal forms, what each auth needs, permissions), the key
 * name, the version id from a secret's id, the nbf/exp rules, token
 * renewal times and the sovereign clouds' token audiences. */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "kms/azure.h"
#include "kms/service.h"
#include "kms/kms.h"

static char dir[] = "/tmp/test_azure.XXXXXX";

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

#define CS                                                              \
	"[kms]\nprovider = azure\nsecret = cmk\nauth = client-secret\n" \
	"tenant = 11111111-2222-3333-4444-555555555555\n"               \
	"client_id = my-app\nclient_secret_file = /etc/cmkfs/client.secret\n"
#define MI "[kms]\nprovider = azure\nsecret = cmk\nauth = managed-identity\n"

static void conf_good(void)
{
	struct cmk_conf c;
	struct cmk_err err;

	CHECK_EQ_INT(load(CS "vault_url = https://myvault.vault.azure.net\n",
			  0600, &c, &err),
		     0);
	CHECK_EQ_INT(c.provider, CMK_PROVIDER_AZURE);
	CHECK_EQ_INT(c.azure.auth, CMK_AZURE_AUTH_CLIENT_SECRET);
	CHECK(strcmp(c.azure.vault_url, "https://myvault.vault.azure.net") ==
	      0);
	CHECK(strcmp(c.azure.authority_url,
		     "https://login.microsoftonline.com") == 0);
	CHECK(strcmp(c.azure.imds_url, "http://169.254.169.254") == 0);
	CHECK(strcmp(c.azure.api_version, "7.4") == 0);
	CHECK(strcmp(c.azure.https.ca_file, "") == 0);
	CHECK_EQ_INT(c.azure.https.timeout, 10);
	CHECK_EQ_INT(c.azure.https.retries, 3);
	CHECK(strcmp(c.azure.client_secret_file, "/etc/cmkfs/client.secret") ==
	      0);
	CHECK(strcmp(c.azure.key_name,
		     "https://myvault.vault.azure.net/secrets/cmk") == 0);

	/* Normal forms: case, default port, trailing '/'; one vault, one
	 * key name however it is written. */
	CHECK_EQ_INT(load(MI
			  "vault_url = HTTPS://MyVault.Vault.Azure.NET:443/\n"
			  "imds_url = http://127.0.0.1:8080/\n"
			  "api_version = 2025-07-01\n"
			  "ca_file = /etc/ssl/private-ca.pem\n"
			  "timeout = 3\nretries = 0\nclient_id = 0a-b_c.d\n",
			  0644, &c, &err),
		     0);
	CHECK(strcmp(c.azure.vault_url, "https://myvault.vault.azure.net") ==
	      0);
	CHECK(strcmp(c.azure.key_name,
		     "https://myvault.vault.azure.net/secrets/cmk") == 0);
	CHECK(strcmp(c.azure.imds_url, "http://127.0.0.1:8080") == 0);
	CHECK(strcmp(c.azure.api_version, "2025-07-01") == 0);
	CHECK(strcmp(c.azure.https.ca_file, "/etc/ssl/private-ca.pem") == 0);
	CHECK_EQ_INT(c.azure.https.timeout, 3);
	CHECK_EQ_INT(c.azure.https.retries, 0);
	CHECK(strcmp(c.azure.client_id, "0a-b_c.d") == 0);
	CHECK_EQ_INT(c.azure.auth, CMK_AZURE_AUTH_MANAGED_IDENTITY);

	/* A sovereign authority with a path; a port kept. */
	CHECK_EQ_INT(load(CS "vault_url = https://127.0.0.1:8443\n"
			     "authority_url = https://login.example/adfs/\n",
			  0600, &c, &err),
		     0);
	CHECK(strcmp(c.azure.vault_url, "https://127.0.0.1:8443") == 0);
	CHECK(strcmp(c.azure.authority_url, "https://login.example/adfs") == 0);
	CHECK(strcmp(c.azure.key_name, "https://127.0.0.1:8443/secrets/cmk") ==
	      0);
	/* IPv6 literals and link-local metadata services. */
	CHECK_EQ_INT(load(MI "vault_url = https://[::1]:8443\n"
			     "imds_url = http://[fe80::1]\n",
			  0600, &c, &err),
		     0);
	CHECK(strcmp(c.azure.vault_url, "https://[::1]:8443") == 0);
	CHECK_EQ_INT(load(MI "vault_url = https://v.vault.azure.net\n"
			     "imds_url = http://169.254.169.254:80\n",
			  0600, &c, &err),
		     0);
	CHECK(strcmp(c.azure.imds_url, "http://169.254.169.254") == 0);
	CHECK_EQ_INT(load(MI "vault_url = https://v.vault.azure.net\n"
			     "imds_url = https://imds.example\n",
			  0600, &c, &err),
		     0);
}

/* Loads text (mode 0600) and expects -EINVAL with what in the message. */
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

#define V "vault_url = https://v.vault.azure.net\n"

static void conf_bad(void)
{
	char text[512], name[200];

	bad(CS "vault_url = http://v.vault.azure.net\n",
	    "bad value 'http://v.vault.azure.net' for vault_url (expected an "
	    "https:// URL without a path)");
	bad(CS "vault_url = https://v.vault.azure.net/secrets\n", "vault_url");
	bad(CS "vault_url = https://v.vault.azure.net?x=1\n", "vault_url");
	bad(CS "vault_url = https://v.vault.azure.net#x\n", "vault_url");
	bad(CS "vault_url = https://user@v.vault.azure.net\n", "vault_url");
	bad(CS "vault_url = https://v.vault.azure.net:0\n", "vault_url");
	bad(CS "vault_url = https://v.vault.azure.net:65536\n", "vault_url");
	bad(CS "vault_url = https://v.vault.azure.net:\n", "vault_url");
	bad(CS "vault_url = https://\n", "vault_url");
	bad(CS "vault_url = https://v%2evault.azure.net\n", "vault_url");
	bad(CS "vault_url = https://[::1\n", "vault_url");
	bad(CS "vault_url = https://[nonsense]\n", "vault_url");
	bad(CS "vault_url = ftp://v\n", "vault_url");
	bad(CS V "authority_url = http://login.microsoftonline.com\n",
	    "authority_url");
	bad(CS V "authority_url = https://login.example/a/../b\n",
	    "authority_url");
	bad(CS V "authority_url = https://login.example/a//b\n",
	    "authority_url");
	bad(CS V "authority_url = https://login.example/a/.\n",
	    "authority_url");
	/* Plain http only to a local metadata service: a token must not
	 * cross a network in the clear. */
	bad(MI V "imds_url = http://192.0.2.1\n",
	    "bad value 'http://192.0.2.1' for imds_url");
	bad(MI V "imds_url = http://imds.example\n", "imds_url");
	bad(MI V "imds_url = http://[2001:db8::1]\n", "imds_url");
	bad(MI V "imds_url = http://169.254.169.254/metadata\n", "imds_url");
	bad(CS V "secret = my_key\n", "duplicate key 'secret'");
	bad("[kms]\nprovider = azure\n" V
	    "secret = my_key\nauth = managed-identity\n",
	    "bad value 'my_key' for secret (expected 1-127 characters from "
	    "A-Z a-z 0-9 -)");
	memset(name, 'a', 128);
	name[128] = '\0';
	snprintf(text, sizeof(text),
		 "[kms]\nprovider = azure\n" V "auth = managed-identity\n"
		 "secret = %s\n",
		 name);
	bad(text, "for secret");
	bad("[kms]\nprovider = azure\n" V "secret = s\nauth = password\n",
	    "bad value 'password' for auth (expected managed-identity, "
	    "client-secret, workload-identity, client-certificate or "
	    "default)");
	bad(MI V "timeout = 0\n", "bad value '0' for timeout");
	bad(MI V "timeout = 301\n", "timeout");
	bad(MI V "timeout = 5s\n", "timeout");
	bad(MI V "timeout = -1\n", "timeout");
	bad(MI V "retries = 11\n", "bad value '11' for retries");
	bad(MI V "api_version = 7.4/../x\n", "api_version");
	bad(MI V "client_id = a b\n", "client_id");
	bad(MI V "ca_file = ca.pem\n", "ca_file");
	/* What each auth needs, and what it does not take. */
	bad("[kms]\nprovider = azure\n" V "secret = s\nauth = client-secret\n"
	    "client_id = c\nclient_secret_file = /s\n",
	    "missing [kms] tenant (auth = client-secret needs it)");
	bad("[kms]\nprovider = azure\n" V "secret = s\nauth = client-secret\n"
	    "tenant = t\nclient_id = c\n",
	    "missing [kms] client_secret_file");
	bad("[kms]\nprovider = azure\n" V "secret = s\nauth = client-secret\n"
	    "tenant = t\nclient_secret_file = /s\n",
	    "missing [kms] client_id");
	bad(MI V "tenant = t\n",
	    ":6: tenant does not apply to auth = managed-identity");
	bad(MI V "client_secret_file = /s\n",
	    "client_secret_file does not apply to auth = managed-identity");
	bad(MI V "authority_url = https://login.example\n",
	    "authority_url does not apply to auth = managed-identity");
	bad(CS V "imds_url = http://169.254.169.254\n",
	    "imds_url does not apply to auth = client-secret");
	bad("[kms]\nprovider = azure\n" V "auth = managed-identity\n",
	    "missing [kms] secret or key");
	bad("[kms]\nprovider = azure\nsecret = s\nauth = managed-identity\n",
	    "missing [kms] vault_url");
	bad("[kms]\nprovider = azure\n" V "secret = s\n", "missing [kms] auth");
	/* Keys of the other provider. */
	bad(MI V "keystore = /k.json\n",
	    "key 'keystore' in section [kms] does not apply to provider azure");
	bad("[kms]\nprovider = file\nkeystore = /k\nvault_url = https://v\n",
	    "key 'vault_url' in section [kms] does not apply to provider file");
	bad("[kms]\nprovider = nope\n",
	    "(expected file, azure, vault or barbican)");
	/* The key's name has room for 255 characters. */
	memset(name, 'a', 150);
	name[150] = '\0';
	snprintf(text, sizeof(text),
		 "[kms]\nprovider = azure\nvault_url = https://%s.example\n"
		 "auth = managed-identity\nsecret = %.120s\n",
		 name, name);
	bad(text,
	    ":5: the key's name, VAULT_URL/secrets/SECRET, is longer than 255");
}

static void conf_perms(void)
{
	struct cmk_conf c;
	struct cmk_err err;

	/* Client credentials: the config names a secret. */
	CHECK_EQ_INT(load(CS V, 0604, &c, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "names a secret (client_secret_file)");
	/* A managed identity needs no secret: readable is fine. */
	CHECK_EQ_INT(load(MI V, 0644, &c, &err), 0);
}

/* Opening reads the client secret file, checked like every secret. */
static void open_secret_file(void)
{
	char text[PATH_MAX + 512], path[PATH_MAX];
	struct cmk_kms *kms = NULL;
	struct cmk_conf c;
	struct cmk_err err;
	FILE *f;

	snprintf(path, sizeof(path), "%s/client.secret", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("s3cret\n", f);
	fclose(f);
	snprintf(text, sizeof(text),
		 "[kms]\nprovider = azure\n" V "secret = cmk\n"
		 "auth = client-secret\ntenant = t\nclient_id = c\n"
		 "client_secret_file = %s\n",
		 path);
	CHECK(chmod(path, 0640) == 0);
	CHECK_EQ_INT(load(text, 0600, &c, &err), 0);
	CHECK_EQ_INT(cmk_kms_open(&c, &kms, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "client_secret_file is readable by others");
	CHECK(chmod(path, 0600) == 0);
	CHECK_EQ_INT(cmk_kms_open(&c, &kms, &err), 0);
	if (kms)
		CHECK(strcmp(cmk_kms_key_name(kms),
			     "https://v.vault.azure.net/secrets/cmk") == 0);
	cmk_kms_close(kms);
	kms = NULL;
	/* Empty, and a link. */
	f = fopen(path, "w");
	if (f)
		fclose(f);
	CHECK_EQ_INT(cmk_kms_open(&c, &kms, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "is empty");
	snprintf(text, sizeof(text), "%s/link", dir);
	CHECK(symlink(path, text) == 0);
	snprintf(text, sizeof(text),
		 "[kms]\nprovider = azure\n" V "secret = cmk\n"
		 "auth = client-secret\ntenant = t\nclient_id = c\n"
		 "client_secret_file = %s/link\n",
		 dir);
	CHECK_EQ_INT(load(text, 0600, &c, &err), 0);
	CHECK_EQ_INT(cmk_kms_open(&c, &kms, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "symbolic link");
	/* A CA file that is not there is said at once. */
	CHECK_EQ_INT(load(MI V "ca_file = /nonexistent/ca.pem\n", 0600, &c,
			  &err),
		     0);
	CHECK_EQ_INT(cmk_kms_open(&c, &kms, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "ca_file /nonexistent/ca.pem");
}

/* The azure part of conf/cmkfs.conf.example, its "# key = value" lines
 * uncommented, must be a working config for each auth (each taking the
 * keys that apply to it). */
static void example(void)
{
	static const char *const mi_skip[] = { "tenant", "client_secret_file",
					       "authority_url", NULL };
	static const char *const cs_skip[] = { "imds_url", NULL };
	const char *src = getenv("CMKFS_SOURCE_DIR");
	char path[PATH_MAX], line[256], text[2][4096], key[64];
	struct cmk_conf c;
	struct cmk_err err;
	bool in_azure = false, seen = false;
	size_t len[2] = { 0, 0 };
	FILE *f;

	snprintf(path, sizeof(path), "%s/conf/cmkfs.conf.example",
		 src ? src : ".");
	f = fopen(path, "r");
	if (!f) {
		CHECK(!src);
		fprintf(stderr, "%s not found: example not checked\n", path);
		return;
	}
	for (int i = 0; i < 2; i++)
		len[i] = (size_t)snprintf(text[i], sizeof(text[i]),
					  "[kms]\nprovider = azure\n");
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "--- provider = "))
			in_azure = strstr(line, "--- provider = azure") != NULL;
		seen |= in_azure;
		if (!in_azure || sscanf(line, "# %63[a-z_] = ", key) != 1 ||
		    !strstr(line, " = ") || strcmp(key, "provider") == 0)
			continue;
		for (int i = 0; i < 2; i++) {
			const char *const *skip = i ? cs_skip : mi_skip;
			bool skipped = false;

			for (; *skip; skip++)
				skipped |= strcmp(key, *skip) == 0;
			if (skipped)
				continue;
			if (i == 1 && strcmp(key, "auth") == 0)
				len[i] += (size_t)snprintf(
					text[i] + len[i],
					sizeof(text[i]) - len[i],
					"auth = client-secret\n");
			else
				len[i] += (size_t)snprintf(text[i] + len[i],
							   sizeof(text[i]) -
								   len[i],
							   "%s", line + 2);
			CHECK(len[i] < sizeof(text[i]));
		}
	}
	fclose(f);
	CHECK(seen);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ_INT(load(text[i], 0600, &c, &err), 0);
		if (err.code)
			fprintf(stderr, "  example: %s\n", err.msg);
		CHECK_EQ_INT(c.azure.auth, i ? CMK_AZURE_AUTH_CLIENT_SECRET
					     : CMK_AZURE_AUTH_MANAGED_IDENTITY);
		CHECK(c.azure.vault_url[0] && c.azure.secret[0]);
		/* The values shown are the defaults. */
		CHECK_EQ_INT(c.azure.https.timeout, 10);
		CHECK_EQ_INT(c.azure.https.retries, 3);
		CHECK(strcmp(c.azure.api_version, "7.4") == 0);
		CHECK(strcmp(c.azure.authority_url,
			     "https://login.microsoftonline.com") == 0);
		CHECK(strcmp(c.azure.imds_url, "http://169.254.169.254") == 0);
	}
}

static void version_ids(void)
{
	char v[CMK_KMS_VERSION_MAX + 1];

	CHECK_EQ_INT(cmk_azure_version_from_id(
			     "https://myvault.vault.azure.net/secrets/cmk/"
			     "4387e9f3d6e14c459867679a90fd0f79",
			     "cmk", v),
		     0);
	CHECK(strcmp(v, "4387e9f3d6e14c459867679a90fd0f79") == 0);
	/* Names are case-insensitive in Key Vault; ports appear in ids. */
	CHECK_EQ_INT(cmk_azure_version_from_id(
			     "https://127.0.0.1:8443/secrets/CMK/abc", "cmk",
			     v),
		     0);
	CHECK(strcmp(v, "abc") == 0);
	CHECK_EQ_INT(cmk_azure_version_from_id("https://h/secrets/cmk", "cmk",
					       v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("https://h/secrets/cmk/", "cmk",
					       v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("https://h/secrets/cmk2/abc",
					       "cmk", v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("https://h/secrets/cm/abc",
					       "cmk", v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("https://h/keys/cmk/abc", "cmk",
					       v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("https://h/secrets/cmk/abc/def",
					       "cmk", v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("https://h/secrets/cmk/abc?x",
					       "cmk", v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("https://h/secrets/cmk/a%2fb",
					       "cmk", v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("http://h/secrets/cmk/abc",
					       "cmk", v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id("/secrets/cmk/abc", "cmk", v),
		     -EINVAL);
	CHECK_EQ_INT(cmk_azure_version_from_id(
			     "https://h/secrets/cmk/"
			     "0123456789012345678901234567890123456789"
			     "01234567890123456789012345",
			     "cmk", v),
		     -EINVAL); /* 66 characters */
}

static void usable(void)
{
	const int64_t now = 1800000000;

	CHECK_EQ_INT(cmk_azure_usable(true, false, 0, false, 0, now),
		     CMK_AZURE_USABLE);
	CHECK_EQ_INT(cmk_azure_usable(false, false, 0, false, 0, now),
		     CMK_AZURE_DISABLED);
	/* Disabled wins over the dates. */
	CHECK_EQ_INT(cmk_azure_usable(false, true, now + 1, true, now - 1, now),
		     CMK_AZURE_DISABLED);
	CHECK_EQ_INT(cmk_azure_usable(true, true, now + 1, false, 0, now),
		     CMK_AZURE_NOT_YET);
	CHECK_EQ_INT(cmk_azure_usable(true, true, now, false, 0, now),
		     CMK_AZURE_USABLE);
	CHECK_EQ_INT(cmk_azure_usable(true, false, 0, true, now, now),
		     CMK_AZURE_EXPIRED);
	CHECK_EQ_INT(cmk_azure_usable(true, false, 0, true, now + 1, now),
		     CMK_AZURE_USABLE);
	CHECK_EQ_INT(cmk_azure_usable(true, true, now - 10, true, now + 10,
				      now),
		     CMK_AZURE_USABLE);
	/* A zero date is a date (1970), not "none". */
	CHECK_EQ_INT(cmk_azure_usable(true, false, 0, true, 0, now),
		     CMK_AZURE_EXPIRED);
}

static void tokens(void)
{
	int64_t s;

	/* An hour's token: renewed 5 minutes before it expires. */
	CHECK(cmk_svc_token_fresh(0, 0, 3599000));
	CHECK(cmk_svc_token_fresh(3298999, 0, 3599000));
	CHECK(!cmk_svc_token_fresh(3299000, 0, 3599000));
	/* A short one: at half its life. */
	CHECK(cmk_svc_token_fresh(4999, 0, 10000));
	CHECK(!cmk_svc_token_fresh(5000, 0, 10000));
	CHECK(!cmk_svc_token_fresh(10000, 0, 10000));
	CHECK(!cmk_svc_token_fresh(100, 0, 0));
	/* Lifetimes come as numbers or as strings of digits. */
	CHECK(cmk_azure_parse_seconds("86399", &s) && s == 86399);
	CHECK(cmk_azure_parse_seconds("0", &s) && s == 0);
	CHECK(!cmk_azure_parse_seconds("", &s));
	CHECK(!cmk_azure_parse_seconds("-1", &s));
	CHECK(!cmk_azure_parse_seconds("12a", &s));
	CHECK(!cmk_azure_parse_seconds(" 12", &s));
	CHECK(!cmk_azure_parse_seconds("99999999999999999999999", &s));
}

static void resources(void)
{
	CHECK(strcmp(cmk_azure_resource("https://v.vault.azure.net"),
		     "https://vault.azure.net") == 0);
	CHECK(strcmp(cmk_azure_resource("https://v.vault.usgovcloudapi.net"),
		     "https://vault.usgovcloudapi.net") == 0);
	CHECK(strcmp(cmk_azure_resource("https://v.vault.azure.cn:443"),
		     "https://vault.azure.cn") == 0);
	CHECK(strcmp(cmk_azure_resource("https://vault.azure.cn.evil.example"),
		     "https://vault.azure.net") == 0);
	CHECK(strcmp(cmk_azure_resource("https://xvault.azure.cn"),
		     "https://vault.azure.net") == 0);
	CHECK(strcmp(cmk_azure_resource("https://127.0.0.1:8443"),
		     "https://vault.azure.net") == 0);
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
	conf_good();
	conf_bad();
	conf_perms();
	open_secret_file();
	example();
	version_ids();
	usable();
	tokens();
	resources();
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return check_exit();
}
