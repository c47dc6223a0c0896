/* SPDX-License-Identifier: MIT */
/* cmkfs configuration: an INI file read with inih.
 *
 * Sections and keys are documented in conf/cmkfs.conf.example. An unknown
 * section or key, a bad value, a line too long, or a file that others can
 * read or write while it holds or names a secret, is an error that names the
 * file and the line. */
#ifndef CMKFS_CONF_CONF_H
#define CMKFS_CONF_CONF_H

#include <limits.h>
#include <stdbool.h>

#include "common/err.h"

#define CMK_CONF_DEFAULT_PATH "/etc/cmkfs/cmkfs.conf"
#define CMK_KEY_NAME_MAX 255

enum cmk_provider {
	CMK_PROVIDER_NONE = 0,
	CMK_PROVIDER_FILE,     /* local keystore, the built-in default */
	CMK_PROVIDER_AZURE,    /* Azure Key Vault */
	CMK_PROVIDER_VAULT,    /* HashiCorp Vault / OpenBao, KV version 2 */
	CMK_PROVIDER_BARBICAN, /* OpenStack Key Manager (Barbican) */
};

struct cmk_conf_file {
	char keystore[PATH_MAX];	     /* required */
	char key_name[CMK_KEY_NAME_MAX + 1]; /* default "cmk" */
	char passphrase_file[PATH_MAX];	     /* "" when unset */
	bool passphrase_prompt;		     /* ask on the terminal */
};

/* URLs are checked and normalised: lower-case scheme and host, no
 * user, query or fragment, no trailing '/'. */
#define CMK_CONF_URL_MAX 200	 /* a URL fits on one config line */
#define CMK_CONF_ID_MAX 128	 /* tenant, client_id */
#define CMK_AZURE_SECRET_MAX 127 /* Key Vault's limit on names */

enum cmk_azure_auth {
	CMK_AZURE_AUTH_NONE = 0,
	CMK_AZURE_AUTH_MANAGED_IDENTITY,
	CMK_AZURE_AUTH_CLIENT_SECRET,
	CMK_AZURE_AUTH_WORKLOAD_IDENTITY, /* federated token (AKS, OIDC) */
	CMK_AZURE_AUTH_CLIENT_CERTIFICATE,
	CMK_AZURE_AUTH_DEFAULT, /* environment, workload, managed: the first
				 * that is configured, as the SDKs do */
};

/* How a key-service provider reaches its service: the same keys, with
 * the same defaults, for every HTTPS provider. */
struct cmk_conf_https {
	char ca_file[PATH_MAX]; /* "" when unset: the system's CAs */
	unsigned int timeout;	/* seconds per HTTP request (try) */
	unsigned int retries;	/* tries after the first */
};

struct cmk_conf_azure {
	char vault_url[CMK_CONF_URL_MAX]; /* required; https, no path */
	/* Exactly one of secret (the CMK's bytes are read) and key (a Key
	 * Vault or Managed HSM key that wraps the volume key; the CMK never
	 * leaves the service). [0-9A-Za-z-] */
	char secret[CMK_AZURE_SECRET_MAX + 1];
	char key[CMK_AZURE_SECRET_MAX + 1];
	enum cmk_azure_auth auth;		/* required */
	char tenant[CMK_CONF_ID_MAX];		/* "" when unset */
	char client_id[CMK_CONF_ID_MAX];	/* "" when unset */
	char client_secret_file[PATH_MAX];	/* client-secret only */
	char client_certificate_file[PATH_MAX]; /* PEM certificate and key */
	char federated_token_file[PATH_MAX];	/* workload identity */
	char authority_url[CMK_CONF_URL_MAX];	/* https; may have a path */
	char imds_url[CMK_CONF_URL_MAX];	/* http only on loopback or
						 * link-local addresses */
	char api_version[32];
	struct cmk_conf_https https;
	/* Derived: "VAULT_URL/secrets/SECRET", the CMK's name. */
	char key_name[CMK_KEY_NAME_MAX + 1];
};

#define CMK_VAULT_PATH_MAX 200 /* kv_mount, path, namespace, auth_mount */
#define CMK_VAULT_FIELD_MAX 64

enum cmk_vault_auth {
	CMK_VAULT_AUTH_NONE = 0,
	CMK_VAULT_AUTH_TOKEN,
	CMK_VAULT_AUTH_APPROLE,
	CMK_VAULT_AUTH_KUBERNETES,
};

struct cmk_conf_vault {
	char url[CMK_CONF_URL_MAX];	   /* required; https, no path */
	char kv_mount[CMK_VAULT_PATH_MAX]; /* default "secret" */
	/* Exactly one of path (a KV secret holds the CMK) and transit_key
	 * (a Transit key wraps the volume key). */
	char path[CMK_VAULT_PATH_MAX];
	char transit_mount[CMK_VAULT_PATH_MAX]; /* default "transit" */
	char transit_key[CMK_VAULT_FIELD_MAX + 1];
	char field[CMK_VAULT_FIELD_MAX + 1];	 /* default "key" */
	char namespace_name[CMK_VAULT_PATH_MAX]; /* "" when unset */
	enum cmk_vault_auth auth;		 /* required */
	char token_file[PATH_MAX];		 /* token only */
	char role_id[CMK_CONF_ID_MAX];		 /* approle only */
	char secret_id_file[PATH_MAX];		 /* approle only */
	char auth_mount[CMK_VAULT_PATH_MAX]; /* default: approle, kubernetes */
	char role[CMK_CONF_ID_MAX];	     /* kubernetes only */
	char jwt_file[PATH_MAX];	     /* kubernetes only */
	struct cmk_conf_https https;
	/* Derived: "URL/v1/[NAMESPACE/]KV_MOUNT/data/PATH#FIELD", or
	 * "URL/v1/[NAMESPACE/]TRANSIT_MOUNT/keys/TRANSIT_KEY". */
	char key_name[CMK_KEY_NAME_MAX + 1];
};

#define CMK_BARBICAN_NAME_MAX 127

enum cmk_barbican_auth {
	CMK_BARBICAN_AUTH_NONE = 0, /* unset */
	CMK_BARBICAN_AUTH_KEYSTONE,
	CMK_BARBICAN_AUTH_UNAUTHENTICATED, /* auth = none: X-Project-Id */
};

struct cmk_conf_barbican {
	char url[CMK_CONF_URL_MAX]; /* required; https, may have a path */
	char secret_name[CMK_BARBICAN_NAME_MAX + 1]; /* required */
	char project_id[CMK_CONF_ID_MAX];	     /* required */
	enum cmk_barbican_auth auth;		     /* required */
	char auth_url[CMK_CONF_URL_MAX];     /* keystone only: Keystone v3 */
	char app_cred_id[CMK_CONF_ID_MAX];   /* keystone only */
	char app_cred_secret_file[PATH_MAX]; /* keystone only */
	struct cmk_conf_https https;
	/* Derived: "URL/v1/secrets?project=PROJECT&name=SECRET_NAME". */
	char key_name[CMK_KEY_NAME_MAX + 1];
};

#define CMK_CONF_RECHECK_MAX 86400
#define CMK_CONF_GRACE_MAX (7 * 86400)

struct cmk_conf {
	char path[PATH_MAX]; /* the file this was read from */
	enum cmk_provider provider;
	/* Seconds between a mount's re-reads of the key's versions (0:
	 * never); every provider. */
	unsigned int recheck_interval;
	/* Seconds a mount keeps its keys while the key service cannot be
	 * reached at all (a refusal revokes at once); then it revokes. */
	unsigned int unreachable_grace;
	struct cmk_conf_file file;
	struct cmk_conf_azure azure;
	struct cmk_conf_vault vault;
	struct cmk_conf_barbican barbican;
};

/* Reads and checks path. On error returns -errno (-ENOENT, -EACCES for a
 * file with unsafe permissions, -EINVAL for bad content) with a message of
 * the form "PATH:LINE: what is wrong". */
int cmk_conf_load(const char *path, struct cmk_conf *conf, struct cmk_err *err);

/* Checks that a file holding a secret (keystore, passphrase file) is a
 * regular file that nobody but its owner can read or write. */
int cmk_conf_check_secret_file(const char *path, const char *what,
			       struct cmk_err *err);

#endif
