/* SPDX-License-Identifier: MIT */
/* Key services: where the customer-managed key (CMK) comes from.
 *
 * A provider lists the CMK's versions and fetches a version's 32-byte key
 * into a buffer from cmk_secure_alloc(). Version ids are strings of 1 to 64
 * characters from [0-9A-Za-z._-]: integers for the local keystore, Azure's
 * 32-hex ids, UUIDs. */
#ifndef CMKFS_KMS_KMS_H
#define CMKFS_KMS_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "conf/conf.h"

/* The longest version id. The volume format records ids of up to
 * CMK_VERSION_MAX bytes (crypto/format.h); fs/ checks that the two agree,
 * so that kms/ does not depend on the format. */
#define CMK_KMS_VERSION_MAX 64

struct cmk_kms_version {
	char id[CMK_KMS_VERSION_MAX + 1];
	bool enabled;
	int64_t created; /* seconds since the epoch; 0 when unknown */
};

struct cmk_kms;

/* Once per program, after cmk_crypto_init() and before any other kms call:
 * points the JSON and HTTP libraries at cmk_locked_malloc(). */
void cmk_kms_global_init(void);

int cmk_kms_open(const struct cmk_conf *conf, struct cmk_kms **out,
		 struct cmk_err *err);
void cmk_kms_close(struct cmk_kms *kms);

/* The CMK's name, as recorded in a volume descriptor. */
const char *cmk_kms_key_name(const struct cmk_kms *kms);

/* All versions, newest first. *versions is malloc'ed; free() it. */
int cmk_kms_list_versions(struct cmk_kms *kms,
			  struct cmk_kms_version **versions, size_t *count,
			  struct cmk_err *err);

/* Fetches a version's key into cmk (32 bytes, caller's secure buffer).
 * version NULL means the newest enabled version; its id is stored in
 * version_out (which may be NULL otherwise). Errors: -ENOENT (no such
 * version or key), -EACCES (version disabled or refused), -EKEYREJECTED
 * (wrong passphrase), -EIO and network errors for an unreachable service. */
int cmk_kms_fetch(struct cmk_kms *kms, const char *version, uint8_t *cmk,
		  char version_out[CMK_KMS_VERSION_MAX + 1],
		  struct cmk_err *err);

/* --- envelope mode -----------------------------------------------------
 * The CMK never leaves the key service (a Key Vault key, a Transit key):
 * the service wraps and unwraps a 32-byte volume key instead. */

#define CMK_KMS_WRAPPED_MAX 1024 /* bytes of a wrapped key (RSA 4096: 512) */
#define CMK_KMS_ALG_MAX 23	 /* "RSA-OAEP-256", "vault-transit" */

struct cmk_kms_wrapped {
	char alg[CMK_KMS_ALG_MAX + 1];	       /* how it was wrapped */
	char version[CMK_KMS_VERSION_MAX + 1]; /* the CMK version that did it */
	size_t len;
	uint8_t blob[CMK_KMS_WRAPPED_MAX]; /* as the service returned it */
};

/* True when the configured CMK wraps (envelope mode) rather than being
 * read (a secret). Known from the config, before any request. */
bool cmk_kms_envelope(const struct cmk_kms *kms);

/* Wraps key (CMK_KEY_LEN bytes) with the CMK's current version. */
int cmk_kms_wrap(struct cmk_kms *kms, const uint8_t *key,
		 struct cmk_kms_wrapped *out, struct cmk_err *err);
/* Unwraps into key (CMK_KEY_LEN bytes, the caller's secure buffer; wiped
 * on failure). -EACCES for a refusal (version disabled, too old, permission
 * removed), -ENOENT (key or version gone), -EBADMSG (the blob does not
 * unwrap), network errors as cmk_kms_fetch(). */
int cmk_kms_unwrap(struct cmk_kms *kms, const struct cmk_kms_wrapped *in,
		   uint8_t *key, struct cmk_err *err);
/* Wraps the key in `in` with the CMK's current version: the service's own
 * rewrap where it has one (the key never leaves it), else an unwrap and a
 * wrap. */
int cmk_kms_rewrap(struct cmk_kms *kms, const struct cmk_kms_wrapped *in,
		   struct cmk_kms_wrapped *out, struct cmk_err *err);

/* True when s is a valid version id: 1 to CMK_KMS_VERSION_MAX characters
 * of [0-9A-Za-z._-], the rule of the volume format. */
bool cmk_kms_version_valid(const char *s);

/* Marks err as the key service's (a wrong passphrase: the wrong key's);
 * for the keystore's administration, which does not go through a handle.
 * Returns ret. */
int cmk_kms_cat(struct cmk_err *err, int ret);

#endif
