/* SPDX-License-Identifier: MIT */
/* The cmkfs configuration file, read with inih.
 *
 * inih tells its handler neither the line nor the sections it sees, and
 * splits an over-long line in two. So inih reads through conf_getline(),
 * which counts lines, refuses over-long lines and unknown sections (even
 * ones without keys), and strips leading blanks so that an indented line is
 * never taken for the continuation of the previous value. The handler only
 * collects [kms] keys with their lines: a provider's keys may come before
 * "provider =", so they are checked once the whole file is read.
 *
 * A provider is a row in conf_providers[] with its table of keys; adding one
 * means a new enum cmk_provider value, a struct in struct cmk_conf, a key
 * table and a row. */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest line, plus its NUL. Ours rather than inih's INI_MAX_LINE, which
 * Debian's libinih can change at run time: a line never exceeds both. */
#define CONF_LINE_MAX 200
/* Room for every distinct [kms] key that some provider knows. */
#define CONF_ENTRIES_MAX 48
#define CONF_SECTION "kms"
#define CONF_PROVIDER_KEY "provider"

/* --- value types --------------------------------------------------------- */

struct conf_type {
	const char *expected; /* ends "bad value '...' for KEY (expected ...)"
			       */
	bool (*parse)(const char *value, void *field, size_t size);
	bool hide; /* a secret (a future token): never echo the value */
};

static bool parse_path(const char *value, void *field, size_t size)
{
	size_t len = strlen(value);

	/* Relative paths would depend on the directory cmkfs runs from. */
	if (value[0] != '/' || len >= size)
		return false;
	memcpy(field, value, len + 1);
	return true;
}

/* Key names end up in the keystore's AAD and, with other providers, in
 * URLs: a small alphabet keeps them unambiguous everywhere. */
static bool parse_key_name(const char *value, void *field, size_t size)
{
	size_t len = strlen(value);

	if (len == 0 || len > CMK_KEY_NAME_MAX || len >= size)
		return false;
	if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (!(isascii(c) && isalnum(c)) && c != '.' && c != '_' &&
		    c != '-')
			return false;
	}
	memcpy(field, value, len + 1);
	return true;
}

static bool parse_bool(const char *value, void *field, size_t size)
{
	static const char *const yes[] = { "yes", "true", "1" };
	static const char *const no[] = { "no", "false", "0" };

	(void)size;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*(bool *)field = true;
			return true;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*(bool *)field = false;
			return true;
		}
	}
	return false;
}

/* Names made of [0-9A-Za-z] and the characters in extra, 1 to max long. */
static bool parse_word(const char *value, void *field, size_t size, size_t max,
		       const char *extra)
{
	size_t len = strlen(value);

	if (len == 0 || len > max || len >= size)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (!(isascii(c) && isalnum(c)) && !strchr(extra, c))
			return false;
	}
	memcpy(field, value, len + 1);
	return true;
}

/* Key Vault object names: 1-127 of 0-9 A-Z a-z -. */
static bool parse_azure_name(const char *value, void *field, size_t size)
{
	return parse_word(value, field, size, CMK_AZURE_SECRET_MAX, "-");
}

/* Tenant (a GUID or a domain) and client ids: they go into URLs and
 * forms, so a small alphabet keeps them from changing their meaning. */
static bool parse_ident(const char *value, void *field, size_t size)
{
	return parse_word(value, field, size, CMK_CONF_ID_MAX - 1, ".-_");
}

static bool parse_api_version(const char *value, void *field, size_t size)
{
	return parse_word(value, field, size, size - 1, ".-");
}

static bool parse_uint(const char *value, unsigned int min, unsigned int max,
		       void *field)
{
	unsigned long n;
	char *end;

	if (!isdigit((unsigned char)value[0]))
		return false;
	errno = 0;
	n = strtoul(value, &end, 10);
	if (errno || *end || n < min || n > max)
		return false;
	*(unsigned int *)field = (unsigned int)n;
	return true;
}

static bool parse_timeout(const char *value, void *field, size_t size)
{
	(void)size;
	return parse_uint(value, 1, 300, field);
}

static bool parse_recheck(const char *value, void *field, size_t size)
{
	(void)size;
	return parse_uint(value, 0, CMK_CONF_RECHECK_MAX, field);
}

static bool parse_grace(const char *value, void *field, size_t size)
{
	(void)size;
	return parse_uint(value, 0, CMK_CONF_GRACE_MAX, field);
}

static bool parse_retries(const char *value, void *field, size_t size)
{
	(void)size;
	return parse_uint(value, 0, 10, field);
}

static bool parse_azure_auth(const char *value, void *field, size_t size)
{
	(void)size;
	if (strcmp(value, "managed-identity") == 0)
		*(enum cmk_azure_auth *)field = CMK_AZURE_AUTH_MANAGED_IDENTITY;
	else if (strcmp(value, "client-secret") == 0)
		*(enum cmk_azure_auth *)field = CMK_AZURE_AUTH_CLIENT_SECRET;
	else if (strcmp(value, "workload-identity") == 0)
		*(enum cmk_azure_auth *)field =
			CMK_AZURE_AUTH_WORKLOAD_IDENTITY;
	else if (strcmp(value, "client-certificate") == 0)
		*(enum cmk_azure_auth *)field =
			CMK_AZURE_AUTH_CLIENT_CERTIFICATE;
	else if (strcmp(value, "default") == 0)
		*(enum cmk_azure_auth *)field = CMK_AZURE_AUTH_DEFAULT;
	else
		return false;
	return true;
}

/* Plain http is for the instance metadata service only, which answers on
 * a link-local or loopback address: a token must not cross a network in
 * the clear. */
static bool host_is_local(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN];
	size_t len = strlen(host);

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		uint32_t a = ntohl(a4.s_addr);

		return (a >> 24) == 127 || (a >> 16) == 0xa9fe;
	}
	if (host[0] == '[' && len > 2 && len - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) == 1)
			return IN6_IS_ADDR_LOOPBACK(&a6) ||
			       IN6_IS_ADDR_LINKLOCAL(&a6);
	}
	return false;
}

/* Checks a URL and writes its normal form: lower-case scheme and host, the
 * scheme's default port dropped, no trailing '/'. No user, query, fragment
 * or percent-escapes: a URL here names a service, nothing else. */
static bool parse_url(const char *value, char *out, size_t size,
		      bool allow_http, bool allow_path)
{
	char host[CMK_CONF_URL_MAX], port[8] = "";
	const char *scheme, *p, *host_end, *path;
	size_t host_len, path_len;
	struct in6_addr a6;
	unsigned long n;
	int len;

	if (strncasecmp(value, "https://", 8) == 0) {
		scheme = "https";
		p = value + 8;
	} else if (allow_http && strncasecmp(value, "http://", 7) == 0) {
		scheme = "http";
		p = value + 7;
	} else {
		return false;
	}
	path = p + strcspn(p, "/");
	if (*p == '[') {
		host_end = strchr(p, ']');
		if (!host_end || host_end > path)
			return false;
		host_end++;
		host_len = (size_t)(host_end - p);
		if (host_len < 4 || host_len - 2 >= INET6_ADDRSTRLEN)
			return false;
		memcpy(host, p + 1, host_len - 2);
		host[host_len - 2] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return false;
	} else {
		host_end = p + strspn(p, "abcdefghijklmnopqrstuvwxyz"
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789.-");
		host_len = (size_t)(host_end - p);
		if (host_len == 0 || p[0] == '.' || p[0] == '-')
			return false;
	}
	memcpy(host, p, host_len);
	host[host_len] = '\0';
	for (size_t i = 0; i < host_len; i++)
		host[i] = (char)tolower((unsigned char)host[i]);
	if (*host_end == ':') {
		const char *digits = host_end + 1;
		size_t nd = strspn(digits, "0123456789");

		if (nd == 0 || nd > 5 || digits + nd != path)
			return false;
		n = strtoul(digits, NULL, 10);
		if (n == 0 || n > 65535)
			return false;
		if (!((strcmp(scheme, "https") == 0 && n == 443) ||
		      (strcmp(scheme, "http") == 0 && n == 80)))
			snprintf(port, sizeof(port), ":%lu", n);
	} else if (host_end != path) {
		return false;
	}
	if (strcmp(scheme, "http") == 0 && !host_is_local(host))
		return false;
	path_len = strlen(path);
	while (path_len && path[path_len - 1] == '/')
		path_len--;
	if (path_len && !allow_path)
		return false;
	for (size_t i = 0; i < path_len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (!(isascii(c) && isalnum(c)) && !strchr("/._~-", c))
			return false;
		/* No empty, "." or ".." segments. */
		if (c == '/' &&
		    (path[i + 1] == '/' || strncmp(path + i, "/./", 3) == 0 ||
		     strncmp(path + i, "/../", 4) == 0 ||
		     (i + 2 == path_len && path[i + 1] == '.') ||
		     (i + 3 == path_len && strncmp(path + i, "/..", 3) == 0)))
			return false;
	}
	len = snprintf(out, size, "%s://%s%s%.*s", scheme, host, port,
		       (int)path_len, path);
	return len > 0 && (size_t)len < size;
}

static bool parse_vault_url(const char *value, void *field, size_t size)
{
	return parse_url(value, field, size, false, false);
}

static bool parse_authority_url(const char *value, void *field, size_t size)
{
	return parse_url(value, field, size, false, true);
}

static bool parse_imds_url(const char *value, void *field, size_t size)
{
	return parse_url(value, field, size, true, false);
}

/* Vault mount points, secret paths and namespaces: segments of
 * [0-9A-Za-z._-] joined by '/', none empty, "." or "..": they go into URL
 * paths unescaped, so they may not change a URL's meaning. */
static bool parse_vault_path(const char *value, void *field, size_t size)
{
	size_t len = strlen(value), seg = 0;

	if (len == 0 || len >= size)
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c == '/' || c == '\0') {
			if (seg == 0 || (seg == 1 && value[i - 1] == '.') ||
			    (seg == 2 && value[i - 1] == '.' &&
			     value[i - 2] == '.'))
				return false;
			seg = 0;
			continue;
		}
		if (!(isascii(c) && isalnum(c)) && !strchr("._-", c))
			return false;
		seg++;
	}
	memcpy(field, value, len + 1);
	return true;
}

static bool parse_vault_field(const char *value, void *field, size_t size)
{
	return parse_word(value, field, size, CMK_VAULT_FIELD_MAX, "._-");
}

static bool parse_vault_auth(const char *value, void *field, size_t size)
{
	(void)size;
	if (strcmp(value, "token") == 0)
		*(enum cmk_vault_auth *)field = CMK_VAULT_AUTH_TOKEN;
	else if (strcmp(value, "approle") == 0)
		*(enum cmk_vault_auth *)field = CMK_VAULT_AUTH_APPROLE;
	else if (strcmp(value, "kubernetes") == 0)
		*(enum cmk_vault_auth *)field = CMK_VAULT_AUTH_KUBERNETES;
	else
		return false;
	return true;
}

/* Barbican secret names: 1-127 of [0-9A-Za-z._-], a query value. */
static bool parse_barbican_name(const char *value, void *field, size_t size)
{
	return parse_word(value, field, size, CMK_BARBICAN_NAME_MAX, "._-");
}

static bool parse_barbican_auth(const char *value, void *field, size_t size)
{
	(void)size;
	if (strcmp(value, "keystone") == 0)
		*(enum cmk_barbican_auth *)field = CMK_BARBICAN_AUTH_KEYSTONE;
	else if (strcmp(value, "none") == 0)
		*(enum cmk_barbican_auth *)field =
			CMK_BARBICAN_AUTH_UNAUTHENTICATED;
	else
		return false;
	return true;
}

static const struct conf_type conf_path = { "an absolute path", parse_path,
					    false };
static const struct conf_type conf_key_name = {
	"1-255 characters from A-Z a-z 0-9 . _ -", parse_key_name, false
};
static const struct conf_type conf_bool = { "yes or no", parse_bool, false };
static const struct conf_type conf_vault_url = {
	"an https:// URL without a path", parse_vault_url, false
};
static const struct conf_type conf_authority_url = { "an https:// URL",
						     parse_authority_url,
						     false };
static const struct conf_type conf_imds_url = {
	"an https:// URL, or http:// on a loopback or link-local address, "
	"without a path",
	parse_imds_url, false
};
static const struct conf_type conf_azure_name = {
	"1-127 characters from A-Z a-z 0-9 -", parse_azure_name, false
};
static const struct conf_type conf_ident = {
	"1-127 characters from A-Z a-z 0-9 . _ -", parse_ident, false
};
static const struct conf_type conf_api_version = {
	"a Key Vault API version such as 7.4", parse_api_version, false
};
static const struct conf_type conf_azure_auth = {
	"managed-identity, client-secret, workload-identity, "
	"client-certificate or default",
	parse_azure_auth, false
};
static const struct conf_type conf_vault_path = {
	"segments of A-Z a-z 0-9 . _ - joined by /", parse_vault_path, false
};
static const struct conf_type conf_vault_field = {
	"1-64 characters from A-Z a-z 0-9 . _ -", parse_vault_field, false
};
static const struct conf_type conf_vault_auth = {
	"token, approle or kubernetes", parse_vault_auth, false
};
static const struct conf_type conf_barbican_name = {
	"1-127 characters from A-Z a-z 0-9 . _ -", parse_barbican_name, false
};
static const struct conf_type conf_barbican_auth = { "keystone or none",
						     parse_barbican_auth,
						     false };
static const struct conf_type conf_timeout = { "seconds, 1 to 300",
					       parse_timeout, false };
static const struct conf_type conf_recheck = { "seconds, 0 (never) to 86400",
					       parse_recheck, false };
static const struct conf_type conf_grace = { "seconds, 0 to 604800",
					     parse_grace, false };
static const struct conf_type conf_retries = { "0 to 10", parse_retries,
					       false };

/* --- providers ----------------------------------------------------------- */

struct conf_key {
	const char *name;
	const struct conf_type *type;
	size_t offset; /* of the field in struct cmk_conf */
	size_t size;
	const char *def; /* parsed like a value from the file; NULL: none */
	bool required;
};

#define CONF_FIELD(m) \
	offsetof(struct cmk_conf, m), sizeof(((struct cmk_conf *)NULL)->m)

struct conf_parse;

struct conf_provider {
	const char *name; /* [kms] provider = NAME */
	enum cmk_provider id;
	const struct conf_key *keys; /* ends with a NULL name */
	/* Checks keys against each other; 0 or -errno through conf_fail(). */
	int (*check)(struct conf_parse *p, struct cmk_conf *conf);
	/* The secrets conf names, for the permission message; NULL: none. */
	const char *(*secrets)(const struct cmk_conf *conf);
};

/* Keys of every provider. */
static const struct conf_key conf_common_keys[] = {
	{ "recheck_interval", &conf_recheck, CONF_FIELD(recheck_interval),
	  "300", false },
	{ "unreachable_grace", &conf_grace, CONF_FIELD(unreachable_grace),
	  "3600", false },
	{ NULL, NULL, 0, 0, NULL, false },
};

/* The keys of struct cmk_conf_https, in every HTTPS provider's table.
 * prov is a member of struct cmk_conf, which cannot be parenthesized. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
/* clang-format off */
#define CONF_HTTPS_KEYS(prov)                                                 \
	{ "ca_file", &conf_path, CONF_FIELD(prov.https.ca_file), NULL, false }, \
	{ "timeout", &conf_timeout, CONF_FIELD(prov.https.timeout), "10",      \
	  false },                                                            \
	{ "retries", &conf_retries, CONF_FIELD(prov.https.retries), "3", false }
/* clang-format on */
/* NOLINTEND(bugprone-macro-parentheses) */

static const struct conf_key conf_file_keys[] = {
	{ "keystore", &conf_path, CONF_FIELD(file.keystore), NULL, true },
	{ "key_name", &conf_key_name, CONF_FIELD(file.key_name), "cmk", false },
	{ "passphrase_file", &conf_path, CONF_FIELD(file.passphrase_file), NULL,
	  false },
	{ "passphrase_prompt", &conf_bool, CONF_FIELD(file.passphrase_prompt),
	  "no", false },
	{ NULL, NULL, 0, 0, NULL, false },
};

static int conf_file_check(struct conf_parse *p, struct cmk_conf *conf);

static const char *conf_file_secrets(const struct cmk_conf *conf)
{
	/* The keystore holds the CMK, unsealed unless a passphrase is set. */
	return conf->file.passphrase_file[0] ? "keystore, passphrase_file"
					     : "keystore";
}

static const struct conf_key conf_azure_keys[] = {
	{ "vault_url", &conf_vault_url, CONF_FIELD(azure.vault_url), NULL,
	  true },
	{ "secret", &conf_azure_name, CONF_FIELD(azure.secret), NULL, false },
	{ "key", &conf_azure_name, CONF_FIELD(azure.key), NULL, false },
	{ "auth", &conf_azure_auth, CONF_FIELD(azure.auth), NULL, true },
	{ "tenant", &conf_ident, CONF_FIELD(azure.tenant), NULL, false },
	{ "client_id", &conf_ident, CONF_FIELD(azure.client_id), NULL, false },
	{ "client_secret_file", &conf_path,
	  CONF_FIELD(azure.client_secret_file), NULL, false },
	{ "client_certificate_file", &conf_path,
	  CONF_FIELD(azure.client_certificate_file), NULL, false },
	{ "federated_token_file", &conf_path,
	  CONF_FIELD(azure.federated_token_file), NULL, false },
	{ "authority_url", &conf_authority_url, CONF_FIELD(azure.authority_url),
	  "https://login.microsoftonline.com", false },
	{ "imds_url", &conf_imds_url, CONF_FIELD(azure.imds_url),
	  "http://169.254.169.254", false },
	{ "api_version", &conf_api_version, CONF_FIELD(azure.api_version),
	  "7.4", false },
	CONF_HTTPS_KEYS(azure),
	{ NULL, NULL, 0, 0, NULL, false },
};

static int conf_azure_check(struct conf_parse *p, struct cmk_conf *conf);

static const char *conf_azure_secrets(const struct cmk_conf *conf)
{
	/* With a managed identity the config names nothing secret; a
	 * federated token is short-lived and readable by its pod. */
	switch (conf->azure.auth) {
	case CMK_AZURE_AUTH_CLIENT_SECRET:
		return "client_secret_file";
	case CMK_AZURE_AUTH_CLIENT_CERTIFICATE:
		return "client_certificate_file";
	default:
		return NULL;
	}
}

static const struct conf_key conf_vault_keys[] = {
	{ "url", &conf_vault_url, CONF_FIELD(vault.url), NULL, true },
	{ "kv_mount", &conf_vault_path, CONF_FIELD(vault.kv_mount), "secret",
	  false },
	{ "path", &conf_vault_path, CONF_FIELD(vault.path), NULL, false },
	{ "transit_mount", &conf_vault_path, CONF_FIELD(vault.transit_mount),
	  "transit", false },
	{ "transit_key", &conf_vault_field, CONF_FIELD(vault.transit_key), NULL,
	  false },
	{ "field", &conf_vault_field, CONF_FIELD(vault.field), "key", false },
	{ "namespace", &conf_vault_path, CONF_FIELD(vault.namespace_name), NULL,
	  false },
	{ "auth", &conf_vault_auth, CONF_FIELD(vault.auth), NULL, true },
	{ "token_file", &conf_path, CONF_FIELD(vault.token_file), NULL, false },
	{ "role_id", &conf_ident, CONF_FIELD(vault.role_id), NULL, false },
	{ "secret_id_file", &conf_path, CONF_FIELD(vault.secret_id_file), NULL,
	  false },
	{ "auth_mount", &conf_vault_path, CONF_FIELD(vault.auth_mount), NULL,
	  false },
	{ "role", &conf_ident, CONF_FIELD(vault.role), NULL, false },
	{ "jwt_file", &conf_path, CONF_FIELD(vault.jwt_file),
	  "/var/run/secrets/kubernetes.io/serviceaccount/token", false },
	CONF_HTTPS_KEYS(vault),
	{ NULL, NULL, 0, 0, NULL, false },
};

static int conf_vault_check(struct conf_parse *p, struct cmk_conf *conf);

static const char *conf_vault_secrets(const struct cmk_conf *conf)
{
	switch (conf->vault.auth) {
	case CMK_VAULT_AUTH_APPROLE:
		return "secret_id_file";
	case CMK_VAULT_AUTH_KUBERNETES:
		return NULL; /* a service-account token, readable by its pod */
	default:
		return "token_file";
	}
}

static const struct conf_key conf_barbican_keys[] = {
	{ "url", &conf_authority_url, CONF_FIELD(barbican.url), NULL, true },
	{ "secret_name", &conf_barbican_name, CONF_FIELD(barbican.secret_name),
	  NULL, true },
	{ "project_id", &conf_ident, CONF_FIELD(barbican.project_id), NULL,
	  true },
	{ "auth", &conf_barbican_auth, CONF_FIELD(barbican.auth), NULL, true },
	{ "auth_url", &conf_authority_url, CONF_FIELD(barbican.auth_url), NULL,
	  false },
	{ "application_credential_id", &conf_ident,
	  CONF_FIELD(barbican.app_cred_id), NULL, false },
	{ "application_credential_secret_file", &conf_path,
	  CONF_FIELD(barbican.app_cred_secret_file), NULL, false },
	CONF_HTTPS_KEYS(barbican),
	{ NULL, NULL, 0, 0, NULL, false },
};

static int conf_barbican_check(struct conf_parse *p, struct cmk_conf *conf);

static const char *conf_barbican_secrets(const struct cmk_conf *conf)
{
	return conf->barbican.auth == CMK_BARBICAN_AUTH_KEYSTONE
		       ? "application_credential_secret_file"
		       : NULL;
}

static const struct conf_provider conf_providers[] = {
	{ "file", CMK_PROVIDER_FILE, conf_file_keys, conf_file_check,
	  conf_file_secrets },
	{ "azure", CMK_PROVIDER_AZURE, conf_azure_keys, conf_azure_check,
	  conf_azure_secrets },
	{ "vault", CMK_PROVIDER_VAULT, conf_vault_keys, conf_vault_check,
	  conf_vault_secrets },
	{ "barbican", CMK_PROVIDER_BARBICAN, conf_barbican_keys,
	  conf_barbican_check, conf_barbican_secrets },
};

#define CONF_N_PROVIDERS (sizeof(conf_providers) / sizeof(conf_providers[0]))

static const char *const conf_sections[] = { CONF_SECTION };

/* --- parsing ------------------------------------------------------------- */

struct conf_entry {
	const char *name; /* the key's name in a table */
	int line;
	char value[CONF_LINE_MAX];
};

struct conf_parse {
	FILE *f;
	int line; /* lines read so far: the line inih is on */
	char *buf;
	size_t cap;
	/* The first error: its line (0: none or no line), errno, text. */
	bool failed;
	int err_line;
	int err_code;
	char err_msg[CMK_ERR_MSG_MAX];
	struct conf_entry entries[CONF_ENTRIES_MAX];
	size_t n_entries;
};

/* Records the first error only: it is the one that names the right line. */
static int conf_fail(struct conf_parse *p, int line, int code, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

static int conf_fail(struct conf_parse *p, int line, int code, const char *fmt,
		     ...)
{
	va_list ap;

	if (p->failed)
		return p->err_code;
	p->failed = true;
	p->err_line = line;
	p->err_code = code;
	va_start(ap, fmt);
	vsnprintf(p->err_msg, sizeof(p->err_msg), fmt, ap);
	va_end(ap);
	return code;
}

static struct conf_entry *conf_find(struct conf_parse *p, const char *name)
{
	for (size_t i = 0; i < p->n_entries; i++)
		if (strcmp(p->entries[i].name, name) == 0)
			return &p->entries[i];
	return NULL;
}

static const struct conf_key *conf_key_in(const struct conf_key *keys,
					  const char *name)
{
	for (; keys->name; keys++)
		if (strcmp(keys->name, name) == 0)
			return keys;
	return NULL;
}

/* The table's own spelling of a [kms] key, or NULL when no provider has
 * it. */
static const char *conf_known_key(const char *name)
{
	const struct conf_key *key;

	if (strcmp(name, CONF_PROVIDER_KEY) == 0)
		return CONF_PROVIDER_KEY;
	key = conf_key_in(conf_common_keys, name);
	if (key)
		return key->name;
	for (size_t i = 0; i < CONF_N_PROVIDERS; i++) {
		key = conf_key_in(conf_providers[i].keys, name);
		if (key)
			return key->name;
	}
	return NULL;
}

static bool conf_known_section(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(conf_sections) / sizeof(conf_sections[0]);
	     i++)
		if (strlen(conf_sections[i]) == len &&
		    memcmp(conf_sections[i], name, len) == 0)
			return true;
	return false;
}

/* inih's fgets-like reader; returns NULL at the end or to stop at an
 * error. */
static char *conf_getline(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	size_t max = CONF_LINE_MAX - 1, len;
	const char *s, *end;
	ssize_t n;

	if (p->failed)
		return NULL;
	if (num > 0 && (size_t)num - 1 < max)
		max = (size_t)num - 1;
	errno = 0;
	n = getline(&p->buf, &p->cap, p->f);
	if (n < 0) {
		int e = errno;

		if (ferror(p->f))
			conf_fail(p, 0, e ? -e : -EIO, "read error: %s",
				  strerror(e ? e : EIO));
		return NULL;
	}
	p->line++;
	len = (size_t)n;
	if (len && p->buf[len - 1] == '\n')
		len--;
	if (len && p->buf[len - 1] == '\r') /* inih would strip it anyway */
		len--;
	if (memchr(p->buf, '\0', len)) {
		conf_fail(p, p->line, -EINVAL, "NUL byte in line");
		return NULL;
	}
	p->buf[len] = '\0';
	if (len > max) {
		conf_fail(p, p->line, -EINVAL,
			  "line too long (%zu characters, at most %zu)", len,
			  max);
		return NULL;
	}
	s = p->buf;
	/* inih skips a UTF-8 BOM itself, but the section check needs it
	 * gone too. */
	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	/* inih reports no sections, so an unknown one without keys would go
	 * unnoticed. A '[' without ']' is left to inih's syntax error. */
	if (*s == '[') {
		end = strchr(s + 1, ']');
		if (end && !conf_known_section(s + 1, (size_t)(end - s - 1))) {
			conf_fail(p, p->line, -EINVAL, "unknown section [%.*s]",
				  (int)(end - s - 1), s + 1);
			return NULL;
		}
	}
	memcpy(str, s, strlen(s) + 1);
	return str;
}

static int conf_handler(void *user, const char *section, const char *name,
			const char *value)
{
	struct conf_parse *p = user;
	struct conf_entry *e;
	const char *known;

	if (p->failed)
		return 0;
	if (!section[0]) {
		conf_fail(p, p->line, -EINVAL, "key '%s' outside any section",
			  name);
		return 0;
	}
	if (strcmp(section, CONF_SECTION) != 0) {
		/* conf_getline() stops at the section line; this is a
		 * backstop. */
		conf_fail(p, p->line, -EINVAL, "unknown section [%s]", section);
		return 0;
	}
	known = conf_known_key(name);
	if (!known) {
		conf_fail(p, p->line, -EINVAL,
			  "unknown key '%s' in section [%s]", name, section);
		return 0;
	}
	e = conf_find(p, known);
	if (e) {
		conf_fail(p, p->line, -EINVAL,
			  "duplicate key '%s' in section [%s] (first on line "
			  "%d)",
			  name, section, e->line);
		return 0;
	}
	/* Cannot happen while the tables hold fewer keys than entries[]. */
	if (p->n_entries == CONF_ENTRIES_MAX ||
	    strlen(value) >= sizeof(e->value)) {
		conf_fail(p, p->line, -EINVAL,
			  "too many keys or value too long");
		return 0;
	}
	e = &p->entries[p->n_entries++];
	e->name = known;
	e->line = p->line;
	strcpy(e->value, value);
	return 1;
}

/* "file", "file or azure", "file, azure or vault". */
static void conf_provider_names(char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < CONF_N_PROVIDERS && off < size; i++) {
		const char *sep = i == 0		      ? ""
				  : i + 1 == CONF_N_PROVIDERS ? " or "
							      : ", ";
		int n = snprintf(buf + off, size - off, "%s%s", sep,
				 conf_providers[i].name);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static int conf_set(struct conf_parse *p, struct cmk_conf *conf,
		    const struct conf_key *key, const char *value, int line)
{
	if (key->type->parse(value, (char *)conf + key->offset, key->size))
		return 0;
	if (key->type->hide)
		return conf_fail(p, line, -EINVAL,
				 "bad value for %s (expected %s)", key->name,
				 key->type->expected);
	return conf_fail(p, line, -EINVAL,
			 "bad value '%s' for %s (expected %s)", value,
			 key->name, key->type->expected);
}

/* Fills conf from the collected entries, in file order so that the first
 * bad one is reported. */
static int conf_apply(struct conf_parse *p, struct cmk_conf *conf,
		      const struct conf_provider **provp)
{
	const struct conf_provider *prov = NULL;
	const struct conf_key *key;
	struct conf_entry *e;
	char names[128];
	int ret;

	e = conf_find(p, CONF_PROVIDER_KEY);
	if (!e)
		return conf_fail(p, 0, -EINVAL, "missing [%s] %s", CONF_SECTION,
				 CONF_PROVIDER_KEY);
	for (size_t i = 0; i < CONF_N_PROVIDERS; i++)
		if (strcmp(conf_providers[i].name, e->value) == 0)
			prov = &conf_providers[i];
	if (!prov) {
		conf_provider_names(names, sizeof(names));
		return conf_fail(p, e->line, -EINVAL,
				 "unknown provider '%s' (expected %s)",
				 e->value, names);
	}
	conf->provider = prov->id;
	for (int t = 0; t < 2; t++) {
		for (key = t ? prov->keys : conf_common_keys; key->name;
		     key++) {
			if (!key->def)
				continue;
			/* A default that does not parse is a bug in the
			 * table. */
			ret = conf_set(p, conf, key, key->def, 0);
			if (ret)
				return ret;
		}
	}
	for (size_t i = 0; i < p->n_entries; i++) {
		e = &p->entries[i];
		if (strcmp(e->name, CONF_PROVIDER_KEY) == 0)
			continue;
		key = conf_key_in(prov->keys, e->name);
		if (!key)
			key = conf_key_in(conf_common_keys, e->name);
		if (!key)
			return conf_fail(p, e->line, -EINVAL,
					 "key '%s' in section [%s] does not "
					 "apply to provider %s",
					 e->name, CONF_SECTION, prov->name);
		ret = conf_set(p, conf, key, e->value, e->line);
		if (ret)
			return ret;
	}
	for (key = prov->keys; key->name; key++)
		if (key->required && !conf_find(p, key->name))
			return conf_fail(p, 0, -EINVAL,
					 "missing [%s] %s (provider %s needs "
					 "it)",
					 CONF_SECTION, key->name, prov->name);
	if (prov->check) {
		ret = prov->check(p, conf);
		if (ret)
			return ret;
	}
	*provp = prov;
	return 0;
}

static int conf_file_check(struct conf_parse *p, struct cmk_conf *conf)
{
	const struct conf_entry *pf, *pp;

	if (conf->file.passphrase_file[0] && conf->file.passphrase_prompt) {
		/* Both exist: they are what set the two fields. */
		pf = conf_find(p, "passphrase_file");
		pp = conf_find(p, "passphrase_prompt");
		return conf_fail(p, pf->line > pp->line ? pf->line : pp->line,
				 -EINVAL,
				 "passphrase_file and passphrase_prompt = yes "
				 "are both set; keep one");
	}
	return 0;
}

/* Keys that one kind of auth needs. */
static int conf_needs(struct conf_parse *p, const char *const *keys, size_t n,
		      const char *auth)
{
	for (size_t i = 0; i < n; i++)
		if (!conf_find(p, keys[i]))
			return conf_fail(p, 0, -EINVAL,
					 "missing [%s] %s (auth = %s needs it)",
					 CONF_SECTION, keys[i], auth);
	return 0;
}

static int conf_key_name_fits(struct conf_parse *p, int len, size_t size,
			      const char *key, const char *form)
{
	if (len >= 0 && (size_t)len < size)
		return 0;
	return conf_fail(p, conf_find(p, key)->line, -EINVAL,
			 "the key's name, %s, is longer than %d characters",
			 form, CMK_KEY_NAME_MAX);
}

/* Keys that only one kind of auth uses: given with the other, they would
 * be silently ignored, so they are refused. */
static int conf_unused(struct conf_parse *p, const char *key, const char *auth)
{
	const struct conf_entry *e = conf_find(p, key);

	if (!e)
		return 0;
	return conf_fail(p, e->line, -EINVAL, "%s does not apply to auth = %s",
			 key, auth);
}

/* Exactly one of two keys that say what the CMK is. */
static int conf_one_of(struct conf_parse *p, const char *a, const char *b)
{
	const struct conf_entry *ea = conf_find(p, a), *eb = conf_find(p, b);

	if (ea && eb)
		return conf_fail(p, ea->line > eb->line ? ea->line : eb->line,
				 -EINVAL, "%s and %s are both set; keep one", a,
				 b);
	if (!ea && !eb)
		return conf_fail(p, 0, -EINVAL, "missing [%s] %s or %s",
				 CONF_SECTION, a, b);
	return 0;
}

static int conf_azure_check(struct conf_parse *p, struct cmk_conf *conf)
{
	static const char *const for_secret[] = { "tenant", "client_id",
						  "client_secret_file" };
	static const char *const for_cert[] = { "tenant", "client_id",
						"client_certificate_file" };
	static const char *const not_cert[] = { "client_secret_file",
						"federated_token_file",
						"imds_url" };
	static const char *const not_secret[] = { "client_certificate_file",
						  "federated_token_file",
						  "imds_url" };
	static const char *const not_workload[] = { "client_secret_file",
						    "client_certificate_file",
						    "imds_url" };
	static const char *const not_managed[] = {
		"tenant", "client_secret_file", "client_certificate_file",
		"federated_token_file", "authority_url"
	};
	struct cmk_conf_azure *az = &conf->azure;
	const char *const *unused = NULL;
	size_t n_unused = 0;
	const char *auth;
	int ret = conf_one_of(p, "secret", "key");
	int len;

	if (ret)
		return ret;
	switch (az->auth) {
	case CMK_AZURE_AUTH_CLIENT_SECRET:
		auth = "client-secret";
		ret = conf_needs(p, for_secret, 3, auth);
		unused = not_secret;
		n_unused = 3;
		break;
	case CMK_AZURE_AUTH_CLIENT_CERTIFICATE:
		auth = "client-certificate";
		ret = conf_needs(p, for_cert, 3, auth);
		unused = not_cert;
		n_unused = 3;
		break;
	case CMK_AZURE_AUTH_WORKLOAD_IDENTITY:
		/* tenant, client_id and the token file may come from the
		 * environment AKS sets (AZURE_TENANT_ID, ...). */
		auth = "workload-identity";
		unused = not_workload;
		n_unused = 3;
		break;
	case CMK_AZURE_AUTH_DEFAULT:
		auth = "default";
		break;
	default:
		/* client_id stays: it picks a user-assigned identity. */
		auth = "managed-identity";
		unused = not_managed;
		n_unused = 5;
		break;
	}
	for (size_t i = 0; !ret && i < n_unused; i++)
		ret = conf_unused(p, unused[i], auth);
	if (ret)
		return ret;
	/* The CMK's name, recorded in each volume: vault and secret or key. */
	if (az->key[0]) {
		len = snprintf(az->key_name, sizeof(az->key_name), "%s/keys/%s",
			       az->vault_url, az->key);
		return conf_key_name_fits(p, len, sizeof(az->key_name), "key",
					  "VAULT_URL/keys/KEY");
	}
	len = snprintf(az->key_name, sizeof(az->key_name), "%s/secrets/%s",
		       az->vault_url, az->secret);
	return conf_key_name_fits(p, len, sizeof(az->key_name), "secret",
				  "VAULT_URL/secrets/SECRET");
}

static int conf_vault_check(struct conf_parse *p, struct cmk_conf *conf)
{
	static const char *const for_approle[] = { "role_id",
						   "secret_id_file" };
	static const char *const for_token[] = { "token_file" };
	static const char *const for_k8s[] = { "role" };
	static const char *const not_token[] = { "role_id", "secret_id_file",
						 "auth_mount", "role",
						 "jwt_file" };
	static const char *const not_approle[] = { "token_file", "role",
						   "jwt_file" };
	static const char *const not_k8s[] = { "token_file", "role_id",
					       "secret_id_file" };
	static const char *const not_transit[] = { "kv_mount", "field" };
	struct cmk_conf_vault *v = &conf->vault;
	const char *const *unused;
	const char *auth;
	size_t n_unused;
	int ret = conf_one_of(p, "path", "transit_key"), len;

	if (ret)
		return ret;
	switch (v->auth) {
	case CMK_VAULT_AUTH_APPROLE:
		auth = "approle";
		ret = conf_needs(p, for_approle, 2, auth);
		unused = not_approle;
		n_unused = 3;
		if (!v->auth_mount[0])
			strcpy(v->auth_mount, "approle");
		break;
	case CMK_VAULT_AUTH_KUBERNETES:
		auth = "kubernetes";
		ret = conf_needs(p, for_k8s, 1, auth);
		unused = not_k8s;
		n_unused = 3;
		if (!v->auth_mount[0])
			strcpy(v->auth_mount, "kubernetes");
		break;
	default:
		auth = "token";
		ret = conf_needs(p, for_token, 1, auth);
		unused = not_token;
		n_unused = 5;
		break;
	}
	for (size_t i = 0; !ret && i < n_unused; i++)
		ret = conf_unused(p, unused[i], auth);
	for (size_t i = 0; !ret && v->transit_key[0] && i < 2; i++) {
		const struct conf_entry *e = conf_find(p, not_transit[i]);

		if (e)
			ret = conf_fail(p, e->line, -EINVAL,
					"%s is for a KV secret (path), not a "
					"Transit key (transit_key)",
					not_transit[i]);
	}
	if (ret)
		return ret;
	if (v->transit_key[0]) {
		len = snprintf(v->key_name, sizeof(v->key_name),
			       "%s/v1/%s%s%s/keys/%s", v->url,
			       v->namespace_name,
			       v->namespace_name[0] ? "/" : "",
			       v->transit_mount, v->transit_key);
		return conf_key_name_fits(
			p, len, sizeof(v->key_name), "transit_key",
			"URL/v1/[NAMESPACE/]TRANSIT_MOUNT/keys/TRANSIT_KEY");
	}
	len = snprintf(v->key_name, sizeof(v->key_name),
		       "%s/v1/%s%s%s/data/%s#%s", v->url, v->namespace_name,
		       v->namespace_name[0] ? "/" : "", v->kv_mount, v->path,
		       v->field);
	return conf_key_name_fits(
		p, len, sizeof(v->key_name), "path",
		"URL/v1/[NAMESPACE/]KV_MOUNT/data/PATH#FIELD");
}

static int conf_barbican_check(struct conf_parse *p, struct cmk_conf *conf)
{
	static const char *const for_keystone[] = {
		"auth_url", "application_credential_id",
		"application_credential_secret_file"
	};
	struct cmk_conf_barbican *b = &conf->barbican;
	int ret = 0, len;

	if (b->auth == CMK_BARBICAN_AUTH_KEYSTONE)
		ret = conf_needs(p, for_keystone, 3, "keystone");
	else
		for (size_t i = 0; !ret && i < 3; i++)
			ret = conf_unused(p, for_keystone[i], "none");
	if (ret)
		return ret;
	len = snprintf(b->key_name, sizeof(b->key_name),
		       "%s/v1/secrets?project=%s&name=%s", b->url,
		       b->project_id, b->secret_name);
	return conf_key_name_fits(p, len, sizeof(b->key_name), "secret_name",
				  "URL/v1/secrets?project=PROJECT&name=NAME");
}

/* --- the file ------------------------------------------------------------ */

/* How a mode lets in those that rmask and wmask describe. */
static const char *conf_access(mode_t mode, mode_t rmask, mode_t wmask)
{
	if (mode & rmask)
		return "readable";
	if (mode & wmask)
		return "writable";
	return "accessible";
}

int cmk_conf_load(const char *path, struct cmk_conf *conf, struct cmk_err *err)
{
	const struct conf_provider *prov = NULL;
	struct conf_parse p = { 0 };
	const char *secrets;
	struct stat st;
	FILE *f = NULL;
	int fd = -1;
	int ret;

	memset(conf, 0, sizeof(*conf));
	if (strlen(path) >= sizeof(conf->path))
		return cmk_err_set(err, -ENAMETOOLONG,
				   "%.64s...: path too long", path);
	strcpy(conf->path, path);
	/* O_NONBLOCK: a FIFO given as the config must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		cmk_err_set(err, ret, "%s: cannot open: %s", path,
			    strerror(-ret));
		goto out;
	}
	/* Checks below are on what was opened, not on the name. */
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		cmk_err_set(err, ret, "%s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = cmk_err_set(err, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	f = fdopen(fd, "r");
	if (!f) {
		ret = -errno;
		cmk_err_set(err, ret, "%s: %s", path, strerror(-ret));
		goto out;
	}
	fd = -1;
	p.f = f;

	ret = ini_parse_stream(conf_getline, &p, conf_handler, &p);
	/* inih returns the line of its first error: a syntax error when it
	 * comes before the first one we recorded. */
	if (ret > 0 && (!p.failed || !p.err_line || ret < p.err_line)) {
		p.failed = true;
		p.err_line = ret;
		p.err_code = -EINVAL;
		snprintf(p.err_msg, sizeof(p.err_msg),
			 "syntax error (expected [section] or key = value)");
	} else if (ret < 0 && !p.failed) {
		conf_fail(&p, 0, ret == -2 ? -ENOMEM : -EIO, "cannot parse");
	}
	if (!p.failed)
		conf_apply(&p, conf, &prov);
	if (p.failed) {
		if (p.err_line)
			ret = cmk_err_set(err, p.err_code, "%s:%d: %s", path,
					  p.err_line, p.err_msg);
		else
			ret = cmk_err_set(err, p.err_code, "%s: %s", path,
					  p.err_msg);
		goto out;
	}

	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): conf_apply sets prov or p.failed */
	secrets = prov->secrets ? prov->secrets(conf) : NULL;
	if (secrets && (st.st_mode & (S_IROTH | S_IWOTH))) {
		ret = cmk_err_set(err, -EACCES,
				  "%s: %s by others (mode %04o) while it names "
				  "a secret (%s); chmod o-rw %s",
				  path,
				  conf_access(st.st_mode, S_IROTH, S_IWOTH),
				  (unsigned int)(st.st_mode & 07777), secrets,
				  path);
		goto out;
	}
	ret = 0;
out:
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	free(p.buf);
	return cmk_err_cat(err, CMK_CAT_CONFIG, ret);
}

int cmk_conf_check_secret_file(const char *path, const char *what,
			       struct cmk_err *err)
{
	struct stat st;
	int fd = -1;
	int ret;

	/* O_NOFOLLOW: a link can be repointed by whoever owns it, and its
	 * own mode says nothing. */
	fd = open(path,
		  O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			return cmk_err_set(err, -EACCES,
					   "%s: %s is a symbolic link; name "
					   "the file itself",
					   path, what);
		return cmk_err_set(err, ret, "%s: %s: %s", path, what,
				   strerror(-ret));
	}
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		cmk_err_set(err, ret, "%s: %s: %s", path, what, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = cmk_err_set(err, -EACCES, "%s: %s is not a regular file",
				  path, what);
		goto out;
	}
	if (st.st_mode & 077) {
		ret = cmk_err_set(err, -EACCES,
				  "%s: %s is %s by others (mode %04o); chmod "
				  "600 %s",
				  path, what,
				  conf_access(st.st_mode, S_IRGRP | S_IROTH,
					      S_IWGRP | S_IWOTH),
				  (unsigned int)(st.st_mode & 07777), path);
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}
