/* SPDX-License-Identifier: MIT */
/* Inside the key-service layer: the interface every provider implements,
 * the providers kms.c dispatches to, and helpers they share. Not for use
 * outside kms/ (tests excepted). */
#ifndef CMKFS_KMS_PROVIDER_H
#define CMKFS_KMS_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "conf/conf.h"
#include "kms/kms.h"

/* One key service. Every provider fills this table; kms.c checks the
 * arguments, picks the table by conf->provider and calls through it.
 * fetch writes CMK_KEY_LEN bytes into cmk and, when version is NULL, the id
 * of the newest enabled version into version_out (never NULL here).
 * list_versions and fetch may be called from several threads at once. */
struct cmk_kms_provider {
	const char *name; /* as written in the config: "file" */
	/* The CMK's name, from the provider's section of conf. */
	const char *(*key_name)(const struct cmk_conf *conf);
	int (*open)(const struct cmk_conf *conf, void **state,
		    struct cmk_err *err);
	int (*list_versions)(void *state, struct cmk_kms_version **versions,
			     size_t *count, struct cmk_err *err);
	int (*fetch)(void *state, const char *version, uint8_t *cmk,
		     char version_out[CMK_KMS_VERSION_MAX + 1],
		     struct cmk_err *err);
	void (*close)(void *state);
	/* Envelope mode (NULL where the provider has none): envelope says
	 * whether conf asks for it; fetch is then never called. rewrap may
	 * be NULL: kms.c unwraps and wraps. */
	bool (*envelope)(const struct cmk_conf *conf);
	int (*wrap)(void *state, const uint8_t *key,
		    struct cmk_kms_wrapped *out, struct cmk_err *err);
	int (*unwrap)(void *state, const struct cmk_kms_wrapped *in,
		      uint8_t *key, struct cmk_err *err);
	int (*rewrap)(void *state, const struct cmk_kms_wrapped *in,
		      struct cmk_kms_wrapped *out, struct cmk_err *err);
};

extern const struct cmk_kms_provider cmk_keystore_provider;
extern const struct cmk_kms_provider cmk_azure_provider;
extern const struct cmk_kms_provider cmk_vault_provider;
extern const struct cmk_kms_provider cmk_barbican_provider;

/* Reads a file that holds a secret (a client secret, a token) into locked
 * memory, after checking with cmk_conf_check_secret_file() that only its
 * owner can get at it, and once more on what was opened. Trailing blanks
 * and line ends are dropped; an empty file is -EINVAL. *out holds *len
 * bytes and a NUL (no NUL inside: -EINVAL); free it with
 * cmk_secure_free(*out, *cap). At most max bytes (-EFBIG). */
int cmk_kms_read_secret_file(const char *path, const char *what, size_t max,
			     char **out, size_t *cap, size_t *len,
			     struct cmk_err *err);

/* The same, the bytes as they are (no trimming, NULs allowed): the
 * keystore and its passphrase file. */
int cmk_kms_read_secret_bytes(const char *path, const char *what, size_t max,
			      uint8_t **out, size_t *cap, size_t *len,
			      struct cmk_err *err);

/* The same for a short-lived token that its orchestrator makes readable
 * to others (a Kubernetes service-account token, a federated token): no
 * permission rule, but a regular file, size-capped, read through links
 * (Kubernetes projects tokens as links it swaps on refresh). */
int cmk_kms_read_token_file(const char *path, const char *what, size_t max,
			    char **out, size_t *cap, size_t *len,
			    struct cmk_err *err);

#endif
